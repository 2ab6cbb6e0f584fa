from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import orjson
import pytest

from aurora.events import EventLog, ReadStats, event_log, read_events


def test_envelope_and_fields(tmp_path: Path) -> None:
    log = EventLog(service="test", log_dir=tmp_path, run_id="r1")
    rec = log.emit("data.import.skip", line=3, reason="bad json", value=float("nan"))
    rows = list(read_events(tmp_path / "aurora_events.jsonl"))
    assert rows == [orjson.loads(orjson.dumps({**rec, "value": None}))]
    row = rows[0]
    assert row["ts"].endswith("Z") and "T" in row["ts"]
    assert (row["event"], row["service"], row["run_id"], row["line"]) == ("data.import.skip", "test", "r1", 3)


def test_order_streams_and_unknown_stream(tmp_path: Path) -> None:
    log = EventLog(service="runner", log_dir=tmp_path)
    log.emit("order.denied", stream="orders_denied", reasons=["SPREAD"])
    assert [r["reasons"] for r in read_events(tmp_path / "orders_denied.jsonl")] == [["SPREAD"]]
    with pytest.raises(ValueError, match="unknown event stream"):
        log.emit("x", stream="nope")
    with pytest.raises(ValueError, match="envelope"):
        log.emit("x", service="other")


def test_rotation_keeps_backups_and_loses_nothing(tmp_path: Path) -> None:
    log = EventLog(service="t", log_dir=tmp_path, rotate_bytes=2000, rotate_backups=3)
    for i in range(60):
        log.emit("tick", i=i, pad="x" * 40)
    files = sorted(tmp_path.glob("aurora_events.jsonl*"))
    assert [f.name for f in files] == ["aurora_events.jsonl", "aurora_events.jsonl.1",
                                       "aurora_events.jsonl.2", "aurora_events.jsonl.3"]
    assert all(f.stat().st_size <= 2000 for f in files)
    kept = sorted(r["i"] for f in files for r in read_events(f))
    assert kept == list(range(60 - len(kept), 60))  # the newest records, none torn or lost


def test_torn_tail_is_closed_off_and_skipped_by_readers(tmp_path: Path) -> None:
    path = tmp_path / "aurora_events.jsonl"
    path.write_bytes(b'{"event":"a"}\n{"event":"tor')
    EventLog(service="t", log_dir=tmp_path).emit("b")
    stats = ReadStats()
    assert [r["event"] for r in read_events(path, stats)] == ["a", "b"]
    assert stats.bad_lines == 1


def _writer(log_dir: str, n: int, who: int) -> None:
    log = EventLog(service=f"w{who}", log_dir=Path(log_dir), rotate_bytes=20_000, rotate_backups=50)
    for i in range(n):
        log.emit("tick", who=who, i=i, pad="y" * 30)


def test_concurrent_processes_never_interleave_or_lose_records(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 400, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stats = ReadStats()
    rows = [r for f in tmp_path.glob("aurora_events.jsonl*") for r in read_events(f, stats)]
    assert stats.bad_lines == 0
    assert sorted((r["who"], r["i"]) for r in rows) == [(w, i) for w in range(3) for i in range(400)]


def test_event_log_from_settings(settings) -> None:
    log = event_log(settings, "svc")
    log.emit("hello")
    assert (settings.home / "logs" / "aurora_events.jsonl").exists()
