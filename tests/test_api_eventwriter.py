"""The decision-event writer: batches written with one append, in order, drained on close, and
kept (bounded) while the log cannot be written."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from aurora.api.eventwriter import EventWriter
from aurora.events import EventLog, read_events


def _writer(events: EventLog, flush_s: float, max_backlog: int = 100_000
            ) -> tuple[EventWriter, CollectorRegistry]:
    registry = CollectorRegistry()
    writer = EventWriter(events, flush_s, max_backlog, Counter("errors", "", registry=registry),
                         Counter("dropped", "", registry=registry))
    return writer, registry


def _wait(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting: {what}")


def test_queued_events_are_written_in_order_as_one_batch_and_drained_on_close(tmp_path: Path) -> None:
    events = EventLog("svc", tmp_path)
    writer, _ = _writer(events, flush_s=1.0)  # nothing is flushed before close
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
    writer, _ = _writer(events, flush_s=0.01)
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


def test_unwritable_log_keeps_the_newest_events_reports_and_recovers(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "aurora_events.jsonl"
    blocker.mkdir()  # the log file cannot be opened: every append fails
    events = EventLog("svc", tmp_path)
    writer, registry = _writer(events, flush_s=0.01, max_backlog=5)
    try:
        for i in range(8):
            writer.emit("api.decision", decision_id=f"d-{i}")
        _wait(lambda: (registry.get_sample_value("errors_total") or 0) >= 2, "two failed appends")
        assert writer.failing
        assert registry.get_sample_value("dropped_total") == 3  # 8 events, room for 5
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert [r["event"] for r in lines] == ["events.write_failed"]  # once per failure streak
        assert lines[0]["service"] == "svc" and "IsADirectoryError" in lines[0]["error"]
        blocker.rmdir()
        _wait(lambda: not writer.failing, "the writer to recover")
    finally:
        writer.close()
    records = list(read_events(tmp_path / "aurora_events.jsonl"))
    assert [r["decision_id"] for r in records if r["event"] == "api.decision"] == [
        f"d-{i}" for i in range(3, 8)]
    assert [r["event"] for r in records][-1] == "events.write_recovered"


def test_health_reports_unwritable_decision_events(settings) -> None:
    from aurora.api.service import GateService
    from aurora.events import event_log

    service = GateService(settings, event_log(settings, "aurora-api"))
    log = settings.path(settings.logging.dir) / "aurora_events.jsonl"
    try:
        assert service.health()["events_writable"] is True
        log.unlink()
        log.mkdir()  # the sink notices the file is gone and cannot open it again
        time.sleep(0.6)  # past the sink's check for a file replaced under it
        service.decision_events.emit("api.decision", decision_id="lost-for-now")
        _wait(lambda: service.decision_events.failing, "the writer to fail")
        health = service.health()
        assert health["events_writable"] is False and health["ready"] is False
        log.rmdir()
        _wait(lambda: service.health()["events_writable"], "the writer to recover")
    finally:
        service.close()
    assert "lost-for-now" in [r.get("decision_id") for r in read_events(log)]
