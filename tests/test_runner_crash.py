"""A real ``kill -9`` of the runner (``auroractl run --mode testnet`` in a child process) while an
order is in flight at the venue, then a restart: the journal's open intent is looked up by its
client order id, nothing is sent twice, no order at the venue is unknown to the journal, and
the position the journal adds up to is the one the venue's balances show.

The venue holds every ``POST /api/v3/order`` for 3 s (a latency fault on that route), so the
runner can be killed between journalling an order and hearing its outcome; the order still lands
at the venue after its client is gone. Every wait is on a readiness signal: the journal's lines,
the venue's own counters, the child's exit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from test_runner import PLATT, _artifact
from test_runner_faults import _records_journal
from venue_support import KEY, SECRET, venue_settings

from aurora.config import Settings
from aurora.runner.journal import open_position
from aurora.venue import FaultInjector, Venue, build_venue
from aurora.venue._faults import _MODELS
from aurora.venue._market import synthetic_tape

SYM = "BTCUSDT"
HOLD_S = 3.0  # how long the venue holds each new order before handling it


class VenueThread:
    """The venue serving from its own event loop in a thread, so the test can block on processes."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> tuple[Venue, int]:
        self.thread.start()
        _, port = asyncio.run_coroutine_threadsafe(self.venue.start("127.0.0.1", 0), self.loop).result(30)
        return self.venue, port

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.venue.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def call(self, fn: Callable[[], object]) -> object:
        """``fn()`` on the venue's loop (its state is only ever touched there)."""
        async def run() -> object:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)


def _wait(check: Callable[[], bool], timeout_s: float, what: str,
          proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the runner exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def _runner_home(root: Path, port: int, settings: Settings) -> Path:
    (root / "configs").mkdir(parents=True)
    f = venue_settings(settings).symbols[SYM]
    (root / "configs" / "local.yaml").write_text(json.dumps({
        "exchange": {"target": "venue", "rate_limit": False, "poll_interval_s": 0.2, "stream_retry_s": 0.5},
        "venue": {"host": "127.0.0.1", "port": port},
        "symbols": {SYM: {"tick_size": f.tick_size, "step_size": f.step_size, "min_qty": f.min_qty,
                          "min_notional": f.min_notional}},
        "runner": {"intent_interval_s": 0.2, "record_dir": None},
        "http": {"timeout_s": 2 * HOLD_S + 5, "backoff_initial_s": 0.05, "backoff_max_s": 0.5},
    }))
    _artifact(root / "data" / "artifacts" / "current.json", PLATT, tick=f.tick_size,
              created_at=datetime.now(UTC).isoformat(), weights={"obi_l1": 1.0, "tfi_5s": 0.5}, intercept=0.8)
    return root


def _run(home: Path, minutes: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
    env.update(AURORA_BINANCE_API_KEY=KEY, AURORA_BINANCE_API_SECRET=SECRET)
    return subprocess.Popen([sys.executable, "-m", "aurora", "--home", str(home), "run", "--mode", "testnet",
                             "--symbol", SYM, "--minutes", str(minutes), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_9_mid_order_then_restart_reconciles_with_the_venue(settings: Settings, tmp_path: Path) -> None:
    vs = venue_settings(settings, balances={"USDT": 1e6, "BTC": 10.0})
    vs = vs.model_copy(update={"binance_api_key": SecretStr(KEY), "binance_api_secret": SecretStr(SECRET)})
    hold = FaultInjector({"latency": _MODELS["latency"].model_validate(
        {"rate": 1.0, "dist": "fixed", "ms": HOLD_S * 1e3, "routes": ["POST /api/v3/order"]})}, 1)
    venue = build_venue(vs, SYM, tape=synthetic_tape(SYM, 0.2, 5, 0.1), speed=10.0, faults=hold,
                        loop_tape=True)
    vt = VenueThread(venue)
    with vt as (_, port):
        home = _runner_home(tmp_path / "runner", port, settings)
        journal = home / "data" / "runner" / f"venue-{SYM}.jsonl"

        def unresolved() -> list[str]:
            recs = _records_journal(journal)
            done = {r["cid"] for r in recs if r["op"] == "done"}
            return [r["cid"] for r in recs if r["op"] == "sent" and r["cid"] not in done]

        def sent() -> int:
            return sum(r["op"] == "sent" for r in _records_journal(journal))

        first = _run(home, 5.0)
        try:
            # mid-order: journalled as sent, its request at the venue (held there), no outcome yet
            _wait(lambda: bool(unresolved()) and vt.call(lambda: venue.stats["order_requests"]) >= sent(),
                  180, "an order in flight at the venue", first)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        assert first.returncode == -signal.SIGKILL
        crashed = unresolved()
        assert len(crashed) == 1
        cid = crashed[0]
        # the order its dead client never heard about lands at the venue all the same
        _wait(lambda: vt.call(lambda: venue.fill.order(cid)) is not None, 30, "the held order to land")

        second = _run(home, 0.3)
        out, err = second.communicate(timeout=240)
        assert second.returncode == 0, err.decode()[-3000:]
        orders = vt.call(lambda: list(venue.fill._orders.values()))
        still_open = vt.call(venue.fill.open_orders)
        btc = vt.call(lambda: venue.fill.balances()["BTC"].free)  # market orders lock nothing once done
        stats = vt.call(lambda: dict(venue.stats))

    recs = _records_journal(journal)
    sent_cids = [r["cid"] for r in recs if r["op"] == "sent"]
    done = {}
    for r in recs:
        if r["op"] == "done":
            assert r["cid"] not in done, f"{r['cid']} resolved twice"
            done[r["cid"]] = r
    at_venue = {o.client_order_id: o for o in orders}
    # the crashed order was looked up by its client order id and taken as the venue has it
    assert done[cid]["reconciled"] and done[cid]["filled_qty"] == at_venue[cid].executed_qty > 0
    # nothing sent twice: each intent journalled once, each order at the venue once, no duplicate refused
    assert len(sent_cids) == len(set(sent_cids)) and stats.get("duplicate_rejects", 0) == 0
    assert stats["orders_accepted"] == len(orders)
    # no orphan: every order at the venue is one the journal sent and resolved; none left open
    assert set(at_venue) <= set(sent_cids) and set(sent_cids) <= set(done)
    assert not still_open
    for c, o in at_venue.items():
        assert abs(done[c]["filled_qty"] - o.executed_qty) < 1e-12, c
    # the position the journal adds up to is the venue's: base bought and sold, fees in base included
    held = sum(r["base"] for r in done.values())
    assert abs(held - (btc - 10.0)) < 1e-9, (held, btc)
    position = open_position(recs, SYM)
    assert (position.qty if position is not None else 0.0) == pytest.approx(max(held, 0.0), abs=1e-9) \
        or held < vs.symbols[SYM].step_size  # dust below a lot step is no position
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["mode"] == "testnet"
