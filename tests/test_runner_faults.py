"""The runner under fire: ``run_live`` in testnet mode through the real gateway against the venue
on loopback with every fault on (dropped responses, 5xx, 429/418, clock skew, websocket
disconnects, depth gaps, stale snapshots, latency) — over a thousand of them — gated by a real
Aurora (``auroractl serve``) that is killed mid-run and started again.

Checked from the venue's own books and Aurora's own decision log: no order without an allow, no
order twice, no order that breaks a filter, every intent logged exactly once, and no entry
decided while Aurora was down."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from test_exchange_venue import gateway_settings
from test_runner import PLATT, _artifact, _order_records
from test_runner_gate import TOKEN, aurora_home
from venue_support import running_venue, venue_settings

from aurora.api.process import ServerProcess
from aurora.config import Settings
from aurora.core.orders import SymbolFilter, filter_violations
from aurora.events import event_log, read_events
from aurora.exchange import Gateway
from aurora.runner.gate import GATE_UNAVAILABLE
from aurora.runner.live import run_live
from aurora.venue import FaultInjector
from aurora.venue._faults import _MODELS
from aurora.venue._market import synthetic_tape

SYM = "BTCUSDT"
MIN_FAULTS = 1000  # injected faults (besides the latency on every request) before the run stops
MAX_SECONDS = 240.0  # the run's own deadline, far beyond what 1000 faults take on an idle machine
FAULTS = {
    "latency": {"rate": 1.0, "dist": "uniform", "low_ms": 0.0, "high_ms": 3.0},
    "drop_after_accept": {"rate": 0.3},
    "http_5xx": {"rate": 0.1, "status": 503},
    "http_429": {"every_s": 7.0, "retry_after_s": 1},
    "http_418": {"at_s": [11.0], "retry_after_s": 1},
    "clock_skew": {"every_s": 4.0, "skew_ms": 20000},
    "ws_disconnect": {"rate": 0.05},
    "depth_gap": {"rate": 0.2},
    "stale_snapshot": {"rate": 0.5, "age_diffs": 3},
}


async def _until(check, timeout_s: float, what: str) -> None:
    """Wait (without blocking the loop) until ``check()`` holds: a readiness signal, not a sleep."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


def _records(path: Path) -> list[dict]:
    return list(read_events(path)) if path.exists() else []


@pytest.mark.slow
def test_runner_under_a_thousand_faults_and_an_aurora_kill(settings: Settings, tmp_path: Path) -> None:
    home = aurora_home(tmp_path / "aurora")
    # a gate that keeps allowing through a long run of small losses (the faults are the point here)
    (home / "configs" / "local.yaml").write_text(json.dumps({"risk": {
        "loss_streak": 100000, "sprt_cooloff_s": 0.5, "cvar_min_trades": 100000}}))
    cal = _artifact(home / "data" / "artifacts" / "current.json", PLATT, tick=0.1,
                    created_at=_now_iso(), weights={"obi_l1": 1.0, "tfi_5s": 0.5}, intercept=0.8)
    injector = FaultInjector({k: _MODELS[k].model_validate(v) for k, v in FAULTS.items()}, 17)
    vs = venue_settings(settings, balances={"USDT": 1e6, "BTC": 10.0})
    tape = synthetic_tape(SYM, 0.2, 5, vs.symbols[SYM].tick_size)
    server = ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}).start()
    window: dict[str, float] = {}
    try:
        async def go() -> tuple[list, dict, Settings]:
            async with running_venue(vs, tape, speed=10.0, faults=injector) as (venue, hostport):
                gs = gateway_settings(settings, hostport)
                gs = gs.model_copy(update={
                    "api_token": SecretStr(TOKEN),
                    "runner": gs.runner.model_copy(update={"intent_interval_s": 0.1, "aurora_url": server.url,
                                                           "gate_retries": 1})})
                logs = gs.path(gs.logging.dir)
                journal = gs.path(gs.runner.journal_dir) / f"venue-{SYM}.jsonl"

                async def chaos() -> None:
                    # Aurora dies once the runner trades through it, and comes back once the runner has
                    # been refused for want of it
                    await _until(lambda: sum(r["op"] == "sent" and r["leg"] == "entry"
                                             for r in _records_journal(journal)) >= 3, 20, "3 entries")
                    await asyncio.to_thread(server.kill)
                    window["dead"] = time.time()
                    await _until(lambda: sum(r["gate"]["reasons"] == [GATE_UNAVAILABLE]
                                             for r in _records(logs / "orders_denied.jsonl")) >= 3,
                                 20, "3 denials for want of Aurora")
                    window["spawn"] = time.time()
                    await asyncio.to_thread(server.start, 90.0, int(server.url.rsplit(":", 1)[1]))
                    window["ready"] = time.time()

                events = event_log(gs, "runner")
                async with Gateway(gs, symbols=[SYM]) as gw:
                    chaos_task = asyncio.create_task(chaos())
                    stop = asyncio.Event()

                    async def enough() -> None:
                        # the run ends on a count, not a clock: a loaded machine takes longer,
                        # not fewer faults
                        await chaos_task
                        await _until(lambda: sum(v for k, v in injector.counts.items() if k != "latency")
                                     >= MIN_FAULTS and all(injector.counts.get(k) for k in FAULTS),
                                     MAX_SECONDS, f"{MIN_FAULTS} faults of every kind")
                        stop.set()

                    watcher = asyncio.create_task(enough())
                    await run_live(gs, cal, gw, SYM, mode="testnet", seconds=MAX_SECONDS + 60, events=events,
                                   stop=stop)
                    await watcher
                events.close()
                stats = {"duplicate_rejects": venue.stats["duplicate_rejects"],
                         "reject_codes": dict(venue.reject_codes)}
                return list(venue.fill._orders.values()), stats, gs

        orders, stats, gs = asyncio.run(go())
    finally:
        server.stop()
    aurora = list(read_events(server.events_path))

    # over a thousand faults, every kind of them, besides the latency added to every request
    counts = dict(injector.counts)
    assert sum(v for k, v in counts.items() if k != "latency") >= MIN_FAULTS, counts
    assert all(counts[k] > 0 for k in FAULTS), counts

    logs = _order_records(gs.path(gs.logging.dir))
    journal = _records_journal(gs.path(gs.runner.journal_dir) / f"venue-{SYM}.jsonl")
    sent = {r["cid"]: r for r in journal if r["op"] == "sent"}
    logged = [r for stream in logs.values() for r in stream]
    by_cid = {r["client_order_id"]: r for r in logged}
    decisions = {e["decision_id"]: e for e in aurora if e["event"] == "api.decision"}

    # every intent logged exactly once; everything sent was logged
    assert len(by_cid) == len(logged)
    assert set(sent) <= set(by_cid)
    # nothing twice at the venue: one order per client order id, each journalled once before it left
    ids = [o.client_order_id for o in orders]
    assert orders and len(ids) == len(set(ids))
    assert sum(r["op"] == "sent" for r in journal) == len(sent)
    filt = SymbolFilter(vs.symbols[SYM].tick_size, vs.symbols[SYM].step_size, vs.symbols[SYM].min_qty,
                        vs.symbols[SYM].min_notional)
    entries_at_venue = 0
    for o in orders:
        assert o.client_order_id in sent  # nothing reached the venue that the runner did not journal
        rec = by_cid[o.client_order_id]
        # no filter violation: it passes every filter at the price it was decided at
        assert not filter_violations(o.qty, rec["price_intent"], filt), (o, rec["price_intent"])
        if rec["leg"] != "entry":
            continue
        entries_at_venue += 1
        # no order without an allow, and that allow is in Aurora's own decision log
        assert rec["gate"]["allow"] and decisions[rec["decision_id"]]["allow"], rec
        # none decided while Aurora was down: an entry the venue took during the outage was allowed before
        if window["dead"] <= o.created_ns / 1e9 <= window["spawn"]:
            assert _wall(decisions[rec["decision_id"]]) < window["dead"]
    assert entries_at_venue >= 3
    assert -1013 not in stats["reject_codes"]  # the venue saw no filter failure either
    # while Aurora was down every entry was denied for want of it, and it traded again once back
    down = [r for r in logs["orders_denied"] if window["dead"] <= r["market_ts_ns"] / 1e9 <= window["spawn"]]
    assert down and all(r["gate"]["reasons"] == [GATE_UNAVAILABLE] for r in down)
    assert not [r for r in logs["orders_success"] + logs["orders_failed"]
                if r["leg"] == "entry" and window["dead"] <= r["market_ts_ns"] / 1e9 <= window["spawn"]]
    assert any(r["gate"]["allow"] and r["market_ts_ns"] / 1e9 > window["ready"]
               for r in logged if r["leg"] == "entry")
    print(f"faults {counts}; venue orders {len(orders)} ({entries_at_venue} entries); duplicate sends "
          f"refused by the venue {stats['duplicate_rejects']}; Aurora down "
          f"{window['spawn'] - window['dead']:.1f} s, back after {window['ready'] - window['spawn']:.1f} s")


def _records_journal(path: Path) -> list[dict]:
    """The journal's complete lines (read as the runner writes it, so a line may be half there)."""
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _wall(event: dict) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
