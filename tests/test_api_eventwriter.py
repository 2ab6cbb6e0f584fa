"""The decision-event writer: batches written with one append, in order, drained on close."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aurora.api.eventwriter import EventWriter
from aurora.events import EventLog, read_events


def test_queued_events_are_written_in_order_as_one_batch_and_drained_on_close(tmp_path: Path) -> None:
    events = EventLog("svc", tmp_path)
    writer = EventWriter(events, flush_s=1.0)  # nothing is flushed before close
    for i in range(2500):
        writer.emit("api.decision", decision_id=f"d-{i}", inputs={"qty": float(i)})
    writer.close()
    records = list(read_events(tmp_path / "aurora_events.jsonl"))
    assert [r["decision_id"] for r in records] == [f"d-{i}" for i in range(2500)]
    assert all(r["service"] == "svc" and r["run_id"] == events.run_id and r["event"] == "api.decision"
               for r in records)
    assert records[-1]["inputs"] == {"qty": 2499.0}
    # drained in batches of at most 1024 events, each written at one time
    assert len({r["ts"] for r in records}) <= 3


def test_writer_flushes_while_running(tmp_path: Path) -> None:
    events = EventLog("svc", tmp_path)
    writer = EventWriter(events, flush_s=0.01)
    try:
        writer.emit("api.decision", decision_id="live")
        path = tmp_path / "aurora_events.jsonl"
        for _ in range(500):
            if path.exists() and any(r.get("decision_id") == "live" for r in read_events(path)):
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the event was not written while the writer runs")
    finally:
        writer.close()


def test_emit_many_checks_every_envelope_and_writes_nothing_for_nothing(tmp_path: Path) -> None:
    events = EventLog("svc", tmp_path)
    assert events.emit_many([]) == 0
    assert not (tmp_path / "aurora_events.jsonl").exists()
    with pytest.raises(ValueError, match="envelope"):
        events.emit_many([("a", {"x": 1}), ("b", {"run_id": "other"})])
    assert not (tmp_path / "aurora_events.jsonl").exists()  # a bad record writes none of its batch
    assert events.emit_many([("a", {"x": 1}), ("b", {"y": 2})], stream="orders_denied") == 2
    assert [r["event"] for r in read_events(tmp_path / "orders_denied.jsonl")] == ["a", "b"]
