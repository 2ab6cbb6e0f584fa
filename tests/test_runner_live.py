"""Live modes against the local venue on loopback (real ccxt through the gateway): paper fills in
process, testnet orders at the venue — every logged fill is an order the venue has, once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from test_exchange_venue import gateway_settings
from test_runner import FEATURES, PLATT, _artifact, _order_records
from venue_support import running_venue, venue_settings

from aurora.config import Settings
from aurora.core.orders import OrderIntent, client_order_id
from aurora.events import event_log
from aurora.exchange import Gateway
from aurora.runner.journal import Journal
from aurora.runner.live import SHADOW, LiveResult, run_live
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.store import TickStore
from aurora.venue._market import synthetic_tape

SYM = "BTCUSDT"


def _run(settings: Settings, tmp_path: Path, mode: str, seconds: float,
         **runner: object) -> tuple[LiveResult, dict, list]:
    vs = venue_settings(settings)
    tape = synthetic_tape(SYM, 0.1, 5, vs.symbols[SYM].tick_size)
    cal = _artifact(tmp_path / "a.json", PLATT, tick=vs.symbols[SYM].tick_size,
                    created_at=datetime.now(UTC).isoformat())

    async def go() -> tuple[LiveResult, list]:
        async with running_venue(vs, tape, speed=10.0) as (venue, hostport):
            gs = gateway_settings(settings, hostport)
            gs = gs.model_copy(update={"runner": gs.runner.model_copy(update={"intent_interval_s": 0.2,
                                                                              **runner})})
            events = event_log(gs, "runner")
            async with Gateway(gs, symbols=[SYM]) as gw:
                res = await run_live(gs, cal, gw, SYM, mode=mode, seconds=seconds, events=events)
            events.close()
            return res, [venue.fill.order(r["client_order_id"]) for r in
                         _order_records(gs.path(gs.logging.dir))["orders_success"]]

    res, at_venue = asyncio.run(go())
    return res, _order_records(settings.path(settings.logging.dir)), at_venue


def test_paper_mode_decides_on_the_venue_feed(settings: Settings, tmp_path: Path) -> None:
    res, logs, at_venue = _run(settings, tmp_path, "paper", 6.0)
    s = res.summary
    assert s.quotes > 20 and s.evaluations > 0
    assert all(o is None for o in at_venue)  # paper: nothing reached the venue
    # the session was recorded in the raw format, and imports as research data
    files = sorted(settings.path(settings.runner.record_dir).glob("btcusdt_*.jsonl"))
    assert files
    store = TickStore(tmp_path / "imported")
    import_recordings(files, store, "binance", SYM)
    days = store.dates("bbo", "binance", SYM)
    n_bbo = sum(store.read("bbo", "binance", SYM, d, d).num_rows for d in days)
    n_trades = sum(store.read("trades", "binance", SYM, d, d).num_rows for d in days)
    assert n_bbo >= s.quotes and n_trades > 0
    for r in logs["orders_success"]:
        assert r["fill"]["qty"] > 0
        if r["leg"] == "entry":
            assert r["gate"]["allow"] and set(FEATURES) <= r["features"].keys()


def test_testnet_mode_places_orders_at_the_venue_once(settings: Settings, tmp_path: Path) -> None:
    # market entries: a post-only one may rest unfilled past these seconds (tests/test_post_only_venue.py)
    res, logs, at_venue = _run(settings, tmp_path, "testnet", 8.0, entry_order="market")
    assert res.summary.quotes > 20
    success = logs["orders_success"]
    assert success, json.dumps(res.orders)
    for r, order in zip(success, at_venue, strict=True):
        # a post-only entry cancelled at its timeout after a partial fill is a success of what filled
        assert order is not None and order.status == ("CANCELED" if r["fill"]["expired"] else "FILLED")
        assert abs(order.executed_qty - r["fill"]["qty"]) < 1e-12
    ids = [r["client_order_id"] for stream in logs.values() for r in stream]
    assert len(ids) == len(set(ids))  # every intent logged once


def test_shadow_mode_sends_nothing(settings: Settings, tmp_path: Path) -> None:
    res, logs, _ = _run(settings, tmp_path, "shadow", 5.0)
    assert res.summary.quotes > 20 and not logs["orders_success"]
    assert all(r["error"] == SHADOW for r in logs["orders_failed"])
    assert res.summary.trades == 0


def test_cli_live_mode_errors(tmp_path: Path, capsys) -> None:
    from aurora.cli import main

    home = tmp_path / "home"
    _artifact(home / "data" / "artifacts" / "current.json", PLATT)
    code = main(["--home", str(home), "run", "--mode", "paper", "--symbol", SYM, "--start", "2024-01-01"])
    assert code == 2 and "--mode paper runs from now" in capsys.readouterr().err
    # nothing listens on the configured venue port: a clear gateway error, exit 2
    code = main(["--home", str(home), "--config", str(_no_venue(tmp_path)), "run", "--mode", "paper",
                 "--symbol", SYM, "--minutes", "0.01"])
    assert code == 2 and "exchange gateway (venue)" in capsys.readouterr().err


def _no_venue(tmp_path: Path) -> Path:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "no_venue.yaml"
    path.write_text(json.dumps({"venue": {"port": port}, "http": {"backoff_retries": 0, "timeout_s": 1.0}}))
    return path


def test_testnet_restart_reconciles_the_journal(settings: Settings, tmp_path: Path) -> None:
    """A crash after an order was sent (journalled, outcome unknown): at start the runner looks it
    up by client order id, takes over the position it opened and closes it; an intent that never
    reached the exchange is resolved as nothing filled. Nothing is sent twice."""
    vs = venue_settings(settings)
    tape = synthetic_tape(SYM, 0.1, 5, vs.symbols[SYM].tick_size)
    cal = _artifact(tmp_path / "a.json", PLATT, tick=vs.symbols[SYM].tick_size,
                    created_at=datetime.now(UTC).isoformat())

    async def go() -> tuple[list[dict], float, list[str]]:
        async with running_venue(vs, tape, speed=10.0) as (venue, hostport):
            gs = gateway_settings(settings, hostport)
            journal = Journal(gs.path(gs.runner.journal_dir) / f"venue-{SYM}.jsonl")
            async with Gateway(gs, symbols=[SYM]) as gw:
                ask = (await gw.watch_bbo(SYM)).ask_px
                placed = client_order_id("crashed-run", SYM, 0, "entry")
                lost = client_order_id("crashed-run", SYM, 1, "entry")
                for cid in (placed, lost):
                    journal.write({"op": "sent", "cid": cid, "symbol": SYM, "side": "buy", "qty": 0.01,
                                   "leg": "entry", "p": 0.6, "decision_id": None, "ts_ns": 1})
                await gw.create_order(OrderIntent(SYM, "buy", "market", 0.01, None, None, placed, "entry"),
                                      ref_price=ask)
                journal.close()
                events = event_log(gs, "runner")
                await run_live(gs, cal, gw, SYM, mode="testnet", seconds=3.0, events=events)
                events.close()
            records = Journal(journal.path).records()
            ids = [o.client_order_id for o in venue.fill._orders.values()]
            return records, venue.fill.balances()["BTC"].free, ids

    records, btc, ids = asyncio.run(go())
    vs = venue_settings(settings)
    done = {r["cid"]: r for r in records if r["op"] == "done"}
    placed, lost = (client_order_id("crashed-run", SYM, i, "entry") for i in (0, 1))
    assert done[placed]["reconciled"] and done[placed]["filled_qty"] == 0.01
    assert done[lost]["filled_qty"] == 0.0 and lost not in ids
    exits = [r for r in records if r["op"] == "sent" and r["leg"] == "exit"]
    assert exits and done[exits[-1]["cid"]]["filled_qty"] > 0  # the restored position was closed
    # the venue's base balance is back where it started, but for dust below one lot step per entry
    # (the fee was paid in base, so what each entry bought is not a whole number of lots)
    entry_cids = {r["cid"] for r in records if r["op"] == "sent" and r["leg"] == "entry"}
    entries = sum(1 for cid in entry_cids if cid in done and done[cid]["filled_qty"] > 0)
    assert 0.0 <= btc - 1.0 < entries * vs.symbols[SYM].step_size
    assert len(ids) == len(set(ids))


def test_live_mode_refuses_until_everything_is_set(tmp_path: Path, capsys) -> None:
    from aurora.cli import main
    from aurora.runner.live import LIVE_PHRASE

    home = tmp_path / "home"
    _artifact(home / "data" / "artifacts" / "current.json", PLATT)
    code = main(["--home", str(home), "run", "--mode", "live", "--symbol", SYM, "--minutes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "live mode refused" in err
    for need in ("AURORA_BINANCE_API_KEY", "runner.aurora_url", "exchange.target: live", LIVE_PHRASE):
        assert need in err


def test_testnet_under_injected_faults_sends_nothing_unallowed_or_twice(settings: Settings,
                                                                        tmp_path: Path) -> None:
    """Faults at the venue (dropped responses, 5xx, 429/418, clock skew, websocket disconnects,
    depth gaps, stale snapshots): every order the venue holds was journalled after a gate allow
    (entries) or by an exit, none twice, and every intent is logged exactly once."""
    from test_exchange_venue import FAULTS

    from aurora.venue import FaultInjector
    from aurora.venue._faults import _MODELS

    injector = FaultInjector({k: _MODELS[k].model_validate(v) for k, v in FAULTS.items()}, 3)
    vs = venue_settings(settings, balances={"USDT": 1e6, "BTC": 10.0})
    tape = synthetic_tape(SYM, 0.1, 5, vs.symbols[SYM].tick_size)
    # no depth features (the faults break the book stream on purpose) and a model keen to trade
    cal = _artifact(tmp_path / "a.json", PLATT, tick=vs.symbols[SYM].tick_size,
                    created_at=datetime.now(UTC).isoformat(),
                    weights={"obi_l1": 1.0, "tfi_5s": 0.5}, intercept=0.8)

    async def go() -> tuple[list, list]:
        async with running_venue(vs, tape, speed=10.0, faults=injector) as (venue, hostport):
            gs = gateway_settings(settings, hostport)
            gs = gs.model_copy(update={"runner": gs.runner.model_copy(update={"intent_interval_s": 0.1})})
            events = event_log(gs, "runner")
            async with Gateway(gs, symbols=[SYM]) as gw:
                await run_live(gs, cal, gw, SYM, mode="testnet", seconds=10.0, events=events)
            events.close()
            journal = Journal(gs.path(gs.runner.journal_dir) / f"venue-{SYM}.jsonl")
            return [o.client_order_id for o in venue.fill._orders.values()], journal.records()

    at_venue, journal = asyncio.run(go())
    assert sum(injector.counts.values()) > 10, injector.counts
    logs = _order_records(settings.path(settings.logging.dir))
    logged = {r["client_order_id"]: r for stream in logs.values() for r in stream}
    assert len(logged) == sum(len(v) for v in logs.values())  # every intent once
    sent = {r["cid"]: r for r in journal if r["op"] == "sent"}
    assert at_venue and len(at_venue) == len(set(at_venue))
    for cid in at_venue:
        assert cid in sent  # nothing reached the venue that the runner did not journal first
        if sent[cid]["leg"] == "entry" and cid in logged:
            assert logged[cid]["gate"]["allow"]
