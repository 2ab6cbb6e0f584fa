"""Read one run's logs from a run directory (the edge: files in, :class:`RunLogs` out).

A run directory is a logging dir (``logging.dir``, ``logs/`` by default: the runner of
``auroractl run`` or ``auroractl demo`` wrote there) or a one-click run dir, which also holds
``run.json``. It holds the JSONL streams of DESIGN.md §8, each maybe rotated into ``.1`` … ``.N``
backups (read oldest first). A logging dir may hold several runs (each invocation has its own
``run_id``): one is reported, the last by default, and the report says which and what else is
there. Lines that are not one JSON object (a torn last line after a crash) are skipped and
counted; records that do not validate are left out and counted (:mod:`aurora.report.records`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aurora.events import ReadStats, read_events
from aurora.report.records import order_frame

ORDER_STREAMS = ("orders_success", "orders_failed", "orders_denied")
EVENTS_STREAM = "aurora_events"
RUN_FILE = "run.json"
_MAKE_ONE = "make one with `auroractl run --mode replay --symbol BTCUSDT --minutes 60` (it logs to logs/)"


class ReportError(ValueError):
    """A directory cannot be reported on; the message says why and what to do."""


@dataclass
class RunLogs:
    """One run's records. ``notes`` says what the reader must know: lines and records skipped,
    fields ignored, other runs in the directory, disagreements between sources."""

    run_dir: Path
    run_id: str
    runs: list[str]                      # every runner run in the directory, oldest first
    orders: pd.DataFrame                 # this run's order records (aurora.report.records.COLUMNS)
    start: dict[str, Any] | None         # this run's runner.start event
    finish: dict[str, Any] | None        # and its runner.finish event (None: it did not finish)
    decisions: pd.DataFrame              # Aurora's api.decision events for this run's orders
    run_json: dict[str, Any] | None      # the one-click summary, when there is one
    notes: list[str] = field(default_factory=list)
    start_ns: int | None = None          # the market window runner.start names (replay), ns
    end_ns: int | None = None


def stream_files(run_dir: Path, stream: str) -> list[Path]:
    """The files of ``stream``, oldest first: rotated backups ``.N`` … ``.1``, then the live file."""
    base = run_dir / f"{stream}.jsonl"
    backups = sorted((p for p in run_dir.glob(f"{stream}.jsonl.*") if p.suffix[1:].isdigit()),
                     key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*backups, *([base] if base.is_file() else [])]


def _records(files: list[Path], notes: list[str]) -> Iterator[dict[str, Any]]:
    for path in files:
        stats = ReadStats()
        yield from read_events(path, stats)
        if stats.bad_lines:
            notes.append(f"{path.name}: {stats.bad_lines} line(s) that are not one JSON object skipped "
                         "(a torn last line from a crash, or corruption)")


def _run_json(run_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{RUN_FILE} cannot be read ({exc}): what it would say is unknown here")
        return None
    if not isinstance(doc, dict):
        notes.append(f"{RUN_FILE} is not a JSON object: what it would say is unknown here")
        return None
    return doc


def _decisions(events: list[dict[str, Any]], ids: set[str]) -> pd.DataFrame:
    rows = []
    for ev in events:
        inputs = ev.get("inputs") if isinstance(ev.get("inputs"), dict) else {}
        if ev.get("decision_id") in ids:
            rows.append({"decision_id": ev["decision_id"], "allow": ev.get("allow"),
                         "model_version": ev.get("model_version"), "latency_ms": inputs.get("latency_ms"),
                         "slippage_est_bps": inputs.get("slippage_est_bps")})
    frame = pd.DataFrame(rows, columns=["decision_id", "allow", "model_version", "latency_ms",
                                        "slippage_est_bps"])
    frame[["latency_ms", "slippage_est_bps"]] = frame[["latency_ms", "slippage_est_bps"]].astype(float)
    return frame.drop_duplicates("decision_id", keep="last")


def read_run(run_dir: str | Path, run_id: str | None = None) -> RunLogs:
    """Read ``run_dir`` and keep run ``run_id`` (default: the last runner run in it)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory: give a run directory (the logging dir of a run, "
                          "logs/ by default, or a one-click run dir)")
    files = {s: stream_files(run_dir, s) for s in (*ORDER_STREAMS, EVENTS_STREAM)}
    if not any(files.values()):
        raise ReportError(f"{run_dir} is not a run directory: it holds none of "
                          f"{', '.join(f'{s}.jsonl' for s in (*ORDER_STREAMS, EVENTS_STREAM))}; {_MAKE_ONE}")
    notes: list[str] = []
    run_json = _run_json(run_dir, notes)
    parsed = order_frame({s: _records(files[s], notes) for s in ORDER_STREAMS})
    notes += parsed.problems()
    events = list(_records(files[EVENTS_STREAM], notes))
    runner = [e for e in events if e.get("event") in ("runner.start", "runner.finish")]
    first_seen: dict[str, str] = {}
    for run, ts in [*((e.get("run_id"), e.get("ts")) for e in runner),
                    *parsed.orders.groupby("run_id")["ts"].min().items()]:
        if isinstance(run, str) and isinstance(ts, str):
            first_seen[run] = min(first_seen.get(run, ts), ts)
    runs = sorted(first_seen, key=lambda r: (first_seen[r], r))
    if not runs:
        raise ReportError(f"{run_dir} holds logs but no runner run (no runner.start event, no order "
                          f"record{'; ' + '; '.join(notes) if notes else ''}); {_MAKE_ONE}")
    if run_id is None:
        run_id = runs[-1]
    elif run_id not in runs:
        raise ReportError(f"run {run_id!r} is not in {run_dir}; its runs are {', '.join(runs)}")
    if len(runs) > 1:
        notes.append(f"{run_dir} holds {len(runs)} runner runs: this report is of {run_id}; "
                     f"the others ({', '.join(r for r in runs if r != run_id)}) are left out "
                     "(choose one with --run-id)")
    mine = Counter(e["event"] for e in runner if e.get("run_id") == run_id)
    if any(n > 1 for n in mine.values()):
        notes.append(f"run {run_id} has {dict(mine)} events; the first of each is used")
    start = next((e for e in runner if e["event"] == "runner.start" and e.get("run_id") == run_id), None)
    finish = next((e for e in runner if e["event"] == "runner.finish" and e.get("run_id") == run_id), None)
    orders = parsed.orders[parsed.orders["run_id"] == run_id].reset_index(drop=True)
    ids = set(orders["decision_id"].dropna())
    decisions = _decisions([e for e in events if e.get("event") == "api.decision"], ids)
    window = [(start or {}).get(k) for k in ("start_ns", "end_ns")]
    if any(w is not None and type(w) is not int for w in window):
        notes.append(f"runner.start names the market window {window}, not as ns integers: ignored")
        window = [None, None]
    return RunLogs(run_dir, run_id, runs, orders, start, finish, decisions, run_json, notes, *window)
