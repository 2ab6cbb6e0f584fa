"""Fill model: hand-worked cases for each rule, then properties over random books, orders and trades."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from aurora.core.fills import (
    Accepted,
    Fees,
    FillModel,
    OrderRequest,
    Reject,
    Rejected,
    SymbolSpec,
    check_filters,
)

SPEC = SymbolSpec("BTCUSDT", "BTC", "USDT", tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
FEES = Fees(maker_bps=2.0, taker_bps=10.0)
BIDS = [(100.0, 1.0), (99.0, 2.0), (98.0, 5.0)]
ASKS = [(101.0, 1.0), (102.0, 2.0), (103.0, 5.0)]


def model(usdt: float = 10_000.0, btc: float = 10.0) -> FillModel:
    m = FillModel(SPEC, FEES, {"USDT": usdt, "BTC": btc})
    m.on_book(0, BIDS, ASKS)
    return m


def req(cid: str, side: str, type_: str, qty: float, price: float | None = None, tif: str = "GTC"
        ) -> OrderRequest:
    return OrderRequest(cid, "BTCUSDT", side, type_, qty, price, tif)  # type: ignore[arg-type]


def test_market_buy_walks_the_book_and_pays_taker_fee_in_base() -> None:
    m = model()
    res = m.submit(1, req("a", "BUY", "MARKET", 2.5))
    assert isinstance(res, Accepted)
    assert [(f.price, f.qty) for f in res.fills] == [(101.0, 1.0), (102.0, 1.5)]
    assert res.order.status == "FILLED" and res.order.cum_quote == pytest.approx(101 + 153)
    assert all(f.liquidity == "taker" and f.fee_asset == "BTC" for f in res.fills)
    assert res.fills[1].fee == pytest.approx(1.5 * 10 / 1e4)
    b = m.balances()
    assert b["USDT"].free == pytest.approx(10_000 - 254)
    assert b["BTC"].free == pytest.approx(10 + 2.5 * (1 - 10 / 1e4))
    # our own taking depletes the displayed book until the next snapshot
    assert m.book()[1][0] == (102.0, 0.5)


def test_market_order_beyond_the_book_expires_the_rest() -> None:
    m = model()
    res = m.submit(1, req("a", "SELL", "MARKET", 9.0))
    assert isinstance(res, Accepted)
    assert res.order.status == "EXPIRED" and res.order.executed_qty == pytest.approx(8.0)
    assert res.fills[-1].fee_asset == "USDT"
    assert res.fills[0].fee == pytest.approx(100.0 * 1.0 * 10 / 1e4)


def test_limit_maker_that_would_cross_is_rejected() -> None:
    m = model()
    res = m.submit(1, req("a", "BUY", "LIMIT_MAKER", 0.1, 101.0))
    assert isinstance(res, Rejected) and res.reason is Reject.WOULD_TAKE
    assert isinstance(m.submit(1, req("b", "BUY", "LIMIT_MAKER", 0.1, 100.5)), Accepted)


def test_resting_order_waits_for_the_queue_ahead_then_fills_partially() -> None:
    m = model()
    res = m.submit(1, req("a", "BUY", "LIMIT", 0.5, 100.0))
    assert isinstance(res, Accepted) and res.order.status == "NEW" and not res.fills
    assert m.balances()["USDT"].locked == pytest.approx(50.0)
    assert m.on_trade(2, 100.0, 0.8, -1) == []            # 1.0 displayed ahead of us: 0.2 left
    up = m.on_trade(3, 100.0, 0.5, -1)                     # 0.2 queue, then 0.3 to us
    assert len(up) == 1 and up[0].fill is not None
    assert up[0].fill.qty == pytest.approx(0.3) and up[0].fill.liquidity == "maker"
    assert up[0].order.status == "PARTIALLY_FILLED"
    assert m.on_trade(4, 100.0, 5.0, +1) == []             # a taker buy never fills a bid
    up = m.on_trade(5, 99.5, 0.01, -1)                     # traded through our price: all of it
    assert up[0].fill is not None and up[0].fill.qty == pytest.approx(0.2) and up[0].fill.price == 100.0
    assert up[0].order.status == "FILLED" and m.open_orders() == []
    b = m.balances()
    assert b["USDT"].locked == pytest.approx(0.0) and b["USDT"].free == pytest.approx(10_000 - 50)
    assert b["BTC"].free == pytest.approx(10 + 0.5 * (1 - 2 / 1e4))


def test_cancellations_ahead_shrink_the_queue_and_a_crossing_book_fills() -> None:
    m = model()
    m.submit(1, req("a", "SELL", "LIMIT", 0.4, 101.0))
    m.on_book(2, BIDS, [(101.0, 0.1), (102.0, 2.0)])       # 0.9 canceled ahead of us
    up = m.on_trade(3, 101.0, 0.3, +1)
    assert up[0].fill is not None and up[0].fill.qty == pytest.approx(0.2)
    up = m.on_book(4, [(101.5, 1.0)], [(102.0, 1.0)])      # bid above our ask: the level was taken
    assert up[0].order.status == "FILLED" and up[0].fill is not None and up[0].fill.price == 101.0


def test_new_price_level_is_front_of_queue() -> None:
    m = model()
    m.submit(1, req("a", "BUY", "LIMIT", 0.1, 100.5))
    up = m.on_trade(2, 100.5, 0.05, -1)
    assert up[0].fill is not None and up[0].fill.qty == pytest.approx(0.05)


def test_marketable_limit_takes_then_rests_and_ioc_fok_do_not_rest() -> None:
    m = model()
    res = m.submit(1, req("a", "BUY", "LIMIT", 2.0, 101.0))
    assert isinstance(res, Accepted) and res.order.status == "PARTIALLY_FILLED"
    assert [o.client_order_id for o in m.open_orders()] == ["a"]
    assert m.balances()["USDT"].locked == pytest.approx(101.0)
    m = model()
    res = m.submit(1, req("b", "BUY", "LIMIT", 2.0, 101.0, "IOC"))
    assert isinstance(res, Accepted) and res.order.status == "EXPIRED" and m.open_orders() == []
    res = m.submit(1, req("c", "BUY", "LIMIT", 3.0, 102.0, "FOK"))
    assert isinstance(res, Accepted) and res.order.status == "EXPIRED" and not res.fills
    res = m.submit(1, req("d", "BUY", "LIMIT", 2.0, 102.0, "FOK"))
    assert isinstance(res, Accepted) and res.order.status == "FILLED"


def test_balances_duplicates_filters_and_cancel() -> None:
    m = model(usdt=100.0, btc=0.0)
    r = m.submit(1, req("a", "BUY", "LIMIT", 1.0, 100.5))
    assert isinstance(r, Rejected) and r.reason is Reject.INSUFFICIENT_BALANCE
    r = m.submit(1, req("a", "SELL", "MARKET", 0.1))
    assert isinstance(r, Rejected) and r.reason is Reject.INSUFFICIENT_BALANCE
    assert isinstance(m.submit(1, req("a", "BUY", "LIMIT", 0.5, 100.0)), Accepted)
    r = m.submit(2, req("a", "BUY", "LIMIT", 0.1, 99.0))
    assert isinstance(r, Rejected) and r.reason is Reject.DUPLICATE
    canceled = m.cancel(3, "a")
    assert canceled is not None and canceled.status == "CANCELED"
    assert m.cancel(4, "a") is None
    assert m.balances()["USDT"].free == pytest.approx(100.0)
    assert m.order("a") == canceled and m.order(order_id=canceled.order_id) == canceled
    assert check_filters(SPEC, req("x", "BUY", "LIMIT", 0.0015, 100.0), None) is Reject.LOT_SIZE
    assert check_filters(SPEC, req("x", "BUY", "LIMIT", 0.1, 100.001), None) is Reject.PRICE_FILTER
    assert check_filters(SPEC, req("x", "BUY", "LIMIT", 0.01, 100.0), None) is Reject.NOTIONAL
    assert check_filters(SPEC, req("x", "BUY", "MARKET", 0.01, None), 600.0) is None


def test_a_filled_id_may_be_reused() -> None:
    m = model()
    assert isinstance(m.submit(1, req("a", "BUY", "MARKET", 0.1)), Accepted)
    assert isinstance(m.submit(2, req("a", "BUY", "MARKET", 0.1)), Accepted)


# ---- properties -------------------------------------------------------------------------------

qty_lots = st.integers(min_value=1, max_value=3000)  # × step 0.001


@st.composite
def books(draw: st.DrawFn) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    mid_ticks = draw(st.integers(9_000, 11_000))
    gap = draw(st.integers(1, 5))
    n_b, n_a = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    bids = [((mid_ticks - i) / 100, draw(qty_lots) / 1000) for i in range(n_b)]
    asks = [((mid_ticks + gap + i) / 100, draw(qty_lots) / 1000) for i in range(n_a)]
    return bids, asks


orders = st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(["MARKET", "LIMIT", "LIMIT_MAKER"]),
                   st.sampled_from(["GTC", "IOC", "FOK"]), qty_lots, st.integers(-8, 8))
trades = st.tuples(st.integers(-6, 6), qty_lots, st.sampled_from([-1, 1]))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(books(), st.lists(orders, min_size=1, max_size=6), st.lists(trades, max_size=12))
def test_fills_never_beat_the_book_and_conserve_quantity_and_value(book, order_list, trade_list) -> None:
    bids, asks = book
    m = FillModel(SPEC, FEES, {"USDT": 1e6, "BTC": 100.0})
    m.on_book(0, bids, asks)
    start = m.balances()
    best_bid = bids[0][0] if bids else 0.0
    best_ask = asks[0][0] if asks else 0.0
    ref = (best_bid + best_ask) / 2 if bids and asks else 100.0
    fills = []
    traded_at: dict[float, float] = {}
    for i, (side, type_, tif, lots, off) in enumerate(order_list):
        price = None if type_ == "MARKET" else round(ref + off / 100, 2)
        res = m.submit(1, req(f"o{i}", side, type_, lots / 1000, price, tif))
        if isinstance(res, Accepted):
            for f in res.fills:
                fills.append(f)
                assert f.liquidity == "taker"
                # a taker fill is at a displayed level, never better than the touch nor the limit
                level_book = asks if side == "BUY" else bids
                assert any(f.price == p for p, _ in level_book)
                if price is not None:
                    assert f.price <= price if side == "BUY" else f.price >= price
    queue0 = {o.client_order_id: _shown(bids if o.side == "BUY" else asks, o.price) for o in m.open_orders()}
    for j, (off, lots, tside) in enumerate(trade_list):
        tpx = round(ref + off / 100, 2)
        traded_at[tpx] = traded_at.get(tpx, 0.0) + lots / 1000
        for u in m.on_trade(10 + j, tpx, lots / 1000, tside):
            assert u.fill is not None and u.fill.liquidity == "maker"
            assert u.fill.price == u.order.price  # a maker fill is at its own limit, never better
            fills.append(u.fill)
    for o in m.open_orders():
        assert o.executed_qty <= o.qty + 1e-9
    # no maker fill beyond the queue: at each price, our fills there ≤ volume traded there − queue
    for cid, q0 in queue0.items():
        o = m.order(cid)
        assert o is not None
        makers = sum(f.qty for f in fills if f.client_order_id == cid and f.liquidity == "maker")
        through = any((o.side == "BUY" and p < (o.price or 0)) or (o.side == "SELL" and p > (o.price or 0))
                      for p in traded_at)
        if not through:
            assert makers <= max(0.0, traded_at.get(o.price or 0.0, 0.0) - q0) + 1e-9
    # quantity and value conservation, fees signed like the rates (both positive here)
    end = m.balances()
    for o_id in {f.client_order_id for f in fills}:
        o = m.order(o_id)
        assert o is not None
        own = [f for f in fills if f.client_order_id == o_id]
        assert sum(f.qty for f in own) == pytest.approx(o.executed_qty, abs=1e-9)
        assert sum(f.quote_qty for f in own) == pytest.approx(o.cum_quote, rel=1e-9)
    event(f"fills: {bool(fills)}, maker: {any(f.liquidity == 'maker' for f in fills)}")
    assert all(f.fee > 0 for f in fills)
    d_btc = sum((f.qty if f.side == "BUY" else -f.qty) - (f.fee if f.fee_asset == "BTC" else 0)
                for f in fills)
    d_usdt = sum((-f.quote_qty if f.side == "BUY" else f.quote_qty) - (f.fee if f.fee_asset == "USDT" else 0)
                 for f in fills)
    total = {a: end[a].free + end[a].locked for a in end}
    assert total["BTC"] - (start["BTC"].free) == pytest.approx(d_btc, abs=1e-6)
    assert total["USDT"] - (start["USDT"].free) == pytest.approx(d_usdt, abs=1e-4)
    assert all(b.free >= -1e-6 and b.locked >= -1e-6 for b in end.values())
    for o in m.open_orders():
        m.cancel(99, o.client_order_id)
    assert all(abs(b.locked) < 1e-6 for b in m.balances().values())


def _shown(levels: list[tuple[float, float]], price: float | None) -> float:
    return next((q for p, q in levels if p == price), 0.0)
