"""Replay/paper execution (``runner/execution.py``) over the fill model: post-only entries rest in
the queue, fill partly or wholly from the market's trades, are cancelled at their expiry, and are
rejected when they would take; limit exits rest at the ask. Market time only, no clock."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aurora.core.fills import Fees, SymbolSpec
from aurora.runner.execution import Market, Order, SimExecution

SPEC = SymbolSpec("BTCUSDT", "BTC", "USDT", tick_size=0.1, step_size=0.001, min_qty=0.001, min_notional=5.0)
FEES = Fees(maker_bps=0.9, taker_bps=1.8)  # Binance spot VIP 9 with the BNB discount
MS = 1_000_000


def market(bid: float = 100.0, bid_qty: float = 1.0, ask: float = 100.1, ask_qty: float = 2.0,
           depth: tuple[list[tuple[float, float]], list[tuple[float, float]]] | None = None) -> Market:
    m = Market()
    m.quote = (bid, bid_qty, ask, ask_qty)
    if depth is not None:
        (bids, asks) = depth
        m.bid_px, m.bid_qty = np.array([p for p, _ in bids]), np.array([q for _, q in bids])
        m.ask_px, m.ask_qty = np.array([p for p, _ in asks]), np.array([q for _, q in asks])
        m.in_sync = True
    return m


def post_only_buy(qty: float = 0.5, price: float = 100.0, timeout_ms: int = 5000) -> Order:
    return Order("e1", 1, qty, 0, MS, 100.1, {}, kind="post_only", price=price,
                 expires_ns=MS + timeout_ms * MS)


def sim() -> SimExecution:
    return SimExecution(SPEC, FEES, 10_000.0, MS)


def test_post_only_waits_behind_the_queue_fills_partly_and_is_cancelled_at_expiry() -> None:
    ex = sim()
    ex.submit(post_only_buy())
    m = market()
    assert ex.on_market(MS, m) == []  # reached the book: rests behind the 1.0 displayed at 100.0
    assert ex.pending and ex.model.open_orders()[0].price == 100.0
    ex.on_trade(2 * MS, 100.0, 0.8, -1)  # taker sells eat the queue ahead first
    ex.on_trade(3 * MS, 100.0, 0.5, -1)  # 0.2 of the queue left, then 0.3 to us
    assert ex.on_market(4 * MS, m) == []  # still open: 0.2 of 0.5 to go
    ex.on_trade(5 * MS, 100.0, 0.1, -1)
    done = ex.on_market(MS + 5000 * MS, m)  # the expiry: cancelled, what filled is the execution
    assert len(done) == 1
    e = done[0]
    assert e.timed_out and e.error is None
    assert e.qty == pytest.approx(0.4) and e.avg_px == 100.0
    assert e.fee_quote == pytest.approx(0.4 * 0.9 / 1e4 * 100.0)  # maker fee, paid in BTC
    assert e.base_received == pytest.approx(0.4 * (1 - 0.9 / 1e4))
    assert not ex.pending and ex.model.open_orders() == []
    assert ex.model.order("e1").status == "CANCELED"
    assert ex.model.balances()["USDT"].locked == pytest.approx(0.0)


def test_post_only_filled_by_a_trade_through_its_price_completes_at_the_trade() -> None:
    ex = sim()
    ex.submit(post_only_buy(qty=0.5))
    ex.on_market(MS, market())
    ex.on_trade(7 * MS, 99.9, 0.01, -1)  # a taker sold below our bid: the whole level went
    (e,) = ex.on_market(8 * MS, market(bid=99.9, ask=100.0))
    assert not e.timed_out and e.error is None and e.qty == pytest.approx(0.5)
    assert e.ts_ns == 7 * MS  # the fill's time, not the quote's that reported it
    assert e.fee_quote == pytest.approx(0.5 * 100.0 * 0.9 / 1e4)


def test_post_only_that_would_take_is_rejected() -> None:
    ex = sim()
    ex.submit(post_only_buy(price=100.1))  # the ask came down to our price before it arrived
    (e,) = ex.on_market(MS, market(bid=100.0, ask=100.1))
    assert e.error is not None and e.error.startswith("WOULD_TAKE") and not e.timed_out
    assert e.qty == 0.0 and math.isnan(e.avg_px)
    assert not ex.pending and ex.model.open_orders() == []


def test_unfilled_post_only_expires_with_nothing() -> None:
    ex = sim()
    ex.submit(post_only_buy(timeout_ms=100))
    assert ex.on_market(MS, market()) == []
    ex.on_trade(2 * MS, 100.1, 3.0, 1)  # buyers lift the ask: nothing for a resting bid
    assert ex.on_market(100 * MS, market()) == []
    (e,) = ex.on_market(101 * MS, market())
    assert e.timed_out and e.qty == 0.0 and e.error is not None and e.error.startswith("CANCELED")
    assert ex.model.balances()["USDT"].free == pytest.approx(10_000.0)


def test_queue_beyond_a_one_level_book_is_not_forgotten() -> None:
    """Shown only the best level, a book whose bid moved above ours says nothing about the queue at
    our price: the queue ahead stays, so later trades at our price go to it first."""
    ex = sim()
    ex.submit(post_only_buy(qty=0.5))
    ex.on_market(MS, market(bid_qty=1.0))
    ex.on_market(2 * MS, market(bid=100.1, ask=100.2))  # the bid moved up, away from us
    ex.on_trade(3 * MS, 100.0, 0.6, -1)
    ex.on_market(4 * MS, market())
    assert ex.model.order("e1").executed_qty == 0.0  # 0.6 of the 1.0 ahead: nothing for us yet
    # with depth shown, a level that emptied means the queue ahead left: front of the queue
    ex.on_market(5 * MS, market(bid=100.1, ask=100.2, depth=([(100.1, 1.0), (99.9, 1.0)], [(100.2, 1.0)])))
    ex.on_trade(6 * MS, 100.0, 0.2, -1)
    ex.on_market(7 * MS, market())
    assert ex.model.order("e1").executed_qty == pytest.approx(0.2)


def test_the_quote_is_fresher_than_the_depth_book() -> None:
    """The best bid/offer leads the L2 levels behind it; depth levels at or through it are stale."""
    m = market(bid=100.0, bid_qty=0.7, ask=100.1, ask_qty=0.3,
               depth=([(100.1, 5.0), (100.0, 2.0), (99.9, 1.0)], [(100.0, 4.0), (100.2, 1.0)]))
    px, qty = m.levels(1)
    assert px.tolist() == [100.0, 99.9] and qty.tolist() == [0.7, 1.0]
    px, qty = m.levels(-1)
    assert px.tolist() == [100.1, 100.2] and qty.tolist() == [0.3, 1.0]
    one = market()  # no book in sync: the quote alone
    assert one.book() == ([(100.0, 1.0)], [(100.1, 2.0)])


def test_limit_exit_rests_at_the_ask_and_flush_cancels_what_rests() -> None:
    ex = SimExecution(SPEC, FEES, 10_000.0, MS)
    ex.submit(Order("b", 1, 1.0, 0, 0, 100.1))  # buy 1.0 at market first
    (buy,) = ex.on_market(0, market())
    assert buy.qty == pytest.approx(1.0) and buy.fee_quote == pytest.approx(1.0 * 100.1 * 1.8 / 1e4)
    held = ex.base_free()
    ex.submit(Order("x", -1, 0.5, 0, MS, 100.0, {}, kind="limit", price=100.1, expires_ns=10 * MS))
    assert ex.on_market(MS, market()) == []  # rests at 100.1 behind the 2.0 displayed
    ex.on_trade(2 * MS, 100.2, 0.1, 1)  # a buyer paid above our ask: the level went, we filled
    (x,) = ex.on_market(3 * MS, market())
    assert x.qty == pytest.approx(0.5) and x.avg_px == 100.1 and not x.timed_out
    assert x.fee_quote == pytest.approx(0.5 * 100.1 * 0.9 / 1e4)  # maker, paid in USDT
    ex.submit(Order("y", -1, 0.3, 3 * MS, 4 * MS, 100.0, {}, kind="limit", price=100.1, expires_ns=99 * MS))
    (y,) = ex.flush(5 * MS, market())  # the end: placed, then cancelled at once
    assert y.timed_out and y.qty == 0.0
    assert ex.base_free() == pytest.approx(held - 0.5)
