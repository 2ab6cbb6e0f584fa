"""Post-only entries through the real gateway at the local venue (real ccxt on loopback): a
LIMIT_MAKER rests in the venue's queue, is cancelled by client order id at its expiry with what
filled before, a fill that wins the race with the cancel is taken as filled, one that would take is
refused (-2010), and no client order id is ever placed twice. The fee of a resting fill is the
venue's (``myTrades``)."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest
from test_exchange_venue import venue_and_gateway
from venue_support import static_tape

from aurora.config import Settings
from aurora.exchange import Gateway
from aurora.runner.execution import Execution, Market, Order
from aurora.runner.journal import Journal
from aurora.runner.live import GatewayExecution, settle_order
from aurora.runner.replay import symbol_spec
from aurora.venue import Venue

SYM = "BTCUSDT"
S = 1_000_000_000


def _tape():  # the book of venue_support.BIDS/ASKS, and no market trade for ten minutes
    return static_tape(trade_every_ms=600_000)


async def _resting(venue: Venue, cid: str) -> None:
    """Wait until the venue holds ``cid`` open (the readiness signal: its own order table)."""
    for _ in range(500):
        o = venue.fill.order(cid)
        if o is not None and o.is_open:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{cid} never rested at the venue")


def _sell_into_bid(venue: Venue, qty: float) -> None:
    """A market participant sells ``qty`` at the best bid (100.0) now: the venue's own trade path."""
    venue._user_updates(venue.fill.on_trade(time.time_ns(), 100.0, qty, -1))


def _post_only(cid: str, qty: float, price: float, timeout_s: float) -> Order:
    now = time.time_ns()
    return Order(cid, 1, qty, now, now, 100.1, {}, kind="post_only", price=price,
                 expires_ns=now + round(timeout_s * S))


async def _outcome(ex: GatewayExecution) -> Execution:
    await ex.drain()
    (e,) = ex.on_market(time.time_ns(), Market())
    return e


def _executor(gw: Gateway, settings: Settings, path: Path, poll_s: float) -> GatewayExecution:
    return GatewayExecution(gw, symbol_spec(gw.settings, SYM), Journal(path), poll_s=poll_s)


def test_post_only_partly_filled_is_cancelled_at_expiry_once(settings: Settings, tmp_path: Path) -> None:
    maker = settings.costs.maker_fee_bps

    async def go() -> None:
        async with venue_and_gateway(settings, _tape()) as (venue, gw):
            ex = _executor(gw, settings, tmp_path / "j.jsonl", poll_s=0.05)
            ex.submit(_post_only("po-1", 0.5, 100.0, timeout_s=1.5))
            await _resting(venue, "po-1")
            _sell_into_bid(venue, 1.2)  # 1.0 displayed ahead of us, then 0.2 to us
            e = await _outcome(ex)
            assert e.timed_out and e.error is None
            assert e.qty == pytest.approx(0.2) and e.avg_px == pytest.approx(100.0)
            # the maker fee, in BTC, as the venue charged it (myTrades), valued in USDT
            assert e.fee_quote == pytest.approx(0.2 * maker / 1e4 * 100.0)
            assert e.base_received == pytest.approx(0.2 * (1 - maker / 1e4))
            at_venue = venue.fill.order("po-1")
            assert at_venue.status == "CANCELED" and at_venue.executed_qty == pytest.approx(0.2)
            assert venue.stats["orders_accepted"] == 1 and not venue.fill.open_orders()
            # a restart's reconcile finds it final: nothing to cancel, nothing resent
            assert (await settle_order(gw, "po-1", SYM)).status.value == "CANCELED"
            assert venue.stats["orders_accepted"] == 1
            ex.journal.close()
            ops = [r["op"] for r in Journal(tmp_path / "j.jsonl").records()]
            assert ops == ["sent", "done"]

    asyncio.run(go())


def test_fill_that_wins_the_race_with_the_cancel_is_a_fill(settings: Settings, tmp_path: Path) -> None:
    async def go() -> None:
        async with venue_and_gateway(settings, _tape()) as (venue, gw):
            # no look-up before the expiry: the cancel at expiry is the first thing to learn of the fill
            ex = _executor(gw, settings, tmp_path / "j.jsonl", poll_s=60.0)
            ex.submit(_post_only("po-2", 0.5, 100.0, timeout_s=1.0))
            await _resting(venue, "po-2")
            _sell_into_bid(venue, 2.0)
            assert venue.fill.order("po-2").status == "FILLED"
            e = await _outcome(ex)  # the cancel answered -2011: looked up, filled
            assert not e.timed_out and e.error is None and e.qty == pytest.approx(0.5)
            assert venue.stats["orders_accepted"] == 1
            ex.journal.close()

    asyncio.run(go())


def test_post_only_that_would_take_is_refused_and_a_resting_one_is_settled_on_restart(
        settings: Settings, tmp_path: Path) -> None:
    async def go() -> None:
        async with venue_and_gateway(settings, _tape()) as (venue, gw):
            ex = _executor(gw, settings, tmp_path / "j.jsonl", poll_s=0.05)
            ex.submit(_post_only("po-3", 0.5, 100.1, timeout_s=1.0))  # at the ask: it would take
            e = await _outcome(ex)
            assert e.qty == 0.0 and math.isnan(e.avg_px) and not e.timed_out
            assert e.error is not None and "would immediately match and take" in e.error.lower()
            assert venue.fill.order("po-3") is None
            # an order left resting by a crashed runner is cancelled when the restart settles it
            gw2 = _executor(gw, settings, tmp_path / "k.jsonl", poll_s=60.0)
            gw2.submit(_post_only("po-4", 0.5, 100.0, timeout_s=600.0))
            await _resting(venue, "po-4")
            rep = await settle_order(gw, "po-4", SYM)
            assert rep is not None and rep.status.value == "CANCELED" and not venue.fill.open_orders()
            for task in gw2._tasks.values():
                task.cancel()
            ex.journal.close()
            gw2.journal.close()

    asyncio.run(go())
