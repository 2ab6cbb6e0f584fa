"""core.orders: client order ids, intents, order states, and the filter rounding rule (= ccxt's)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ccxt.base.decimal_to_precision import ROUND, TICK_SIZE, TRUNCATE, decimal_to_precision
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.orders import (
    CLIENT_ORDER_ID_PATTERN,
    LOT_MIN,
    NOTIONAL_MIN,
    FilterError,
    OrderIntent,
    OrderState,
    OrderStatus,
    OrderTransitionError,
    SymbolFilters,
    accept,
    apply_report,
    cancel,
    client_order_id,
    expire,
    fill,
    filter_violations,
    parse_client_order_id,
    reject,
    round_price,
    round_qty,
    round_to_filters,
)

BTC = SymbolFilters(tick_size=0.01, step_size=0.00001, min_qty=0.00001, min_notional=5.0)

run_ids = st.text(min_size=1, max_size=60)
symbols = st.sampled_from(["BTCUSDT", "ETHUSDT", "BTC/USDT", "1000SATSUSDT"])
seqs = st.integers(min_value=0, max_value=36**12)
legs = st.sampled_from(["entry", "exit"])
attempts = st.integers(min_value=0, max_value=36**3)


# --- client order ids ------------------------------------------------------------------------

@settings(deadline=None)  # a loaded CI machine must not fail a pure check on time
@given(run_ids, symbols, seqs, legs, attempts)
def test_client_order_id_matches_binance_pattern_and_parses_back(run_id, symbol, seq, leg, attempt):
    cid = client_order_id(run_id, symbol, seq, leg, attempt)
    assert CLIENT_ORDER_ID_PATTERN.match(cid)
    assert cid == client_order_id(run_id, symbol, seq, leg, attempt)
    parts = parse_client_order_id(cid)
    assert (parts.seq, parts.leg, parts.attempt) == (seq, leg, attempt)
    assert parts.belongs_to(run_id, symbol)


@settings(deadline=None)  # a loaded CI machine must not fail a pure check on time
@given(st.lists(st.tuples(seqs, legs, attempts), min_size=2, max_size=50, unique=True))
def test_client_order_ids_never_collide_within_a_run(keys):
    ids = [client_order_id("run-1", "BTCUSDT", *k) for k in keys]
    assert len(set(ids)) == len(ids)


def test_client_order_ids_differ_between_runs_and_symbols():
    a = client_order_id("run-1", "BTCUSDT", 7, "entry")
    assert a != client_order_id("run-2", "BTCUSDT", 7, "entry")
    assert a != client_order_id("run-1", "ETHUSDT", 7, "entry")
    assert not parse_client_order_id(a).belongs_to("run-2", "BTCUSDT")
    assert parse_client_order_id("x-AKMN1234") is None


def test_client_order_id_refuses_bad_arguments():
    with pytest.raises(ValueError, match="leg"):
        client_order_id("r", "BTCUSDT", 1, "stop")
    with pytest.raises(ValueError, match="non-negative"):
        client_order_id("r", "BTCUSDT", -1, "entry")
    with pytest.raises(ValueError, match="too large"):
        client_order_id("r", "BTCUSDT", 36**20, "entry")
    with pytest.raises(ValueError, match="non-empty"):
        client_order_id("", "BTCUSDT", 1, "entry")


# --- intents ---------------------------------------------------------------------------------

def _intent(**kw):
    base = dict(symbol="BTCUSDT", side="buy", type="limit", qty=0.01, price=65000.0, time_in_force="GTC",
                client_order_id=client_order_id("r", "BTCUSDT", 1, "entry"), purpose="entry")
    base.update(kw)
    return OrderIntent(**base)


def test_intent_accepts_the_three_order_types():
    assert _intent().type == "limit"
    assert _intent(type="market", price=None, time_in_force=None).price is None
    assert _intent(type="limit_maker", time_in_force=None).time_in_force is None


@pytest.mark.parametrize("kw, msg", [
    (dict(side="long"), "side"),
    (dict(type="stop"), "type"),
    (dict(qty=0.0), "qty"),
    (dict(qty=float("nan")), "qty"),
    (dict(type="market", time_in_force=None), "no price"),
    (dict(price=None), "positive finite price"),
    (dict(price=float("inf")), "positive finite price"),
    (dict(time_in_force="GTX"), "time_in_force"),
    (dict(type="limit_maker"), "no time_in_force"),
    (dict(client_order_id="has space"), "does not match"),
    (dict(client_order_id="x" * 37), "does not match"),
    (dict(purpose="hedge"), "purpose"),
])
def test_intent_refuses_bad_fields(kw, msg):
    with pytest.raises(ValueError, match=msg):
        _intent(**kw)


# --- order states ----------------------------------------------------------------------------

def test_named_transitions_walk_an_order_to_filled():
    o = OrderState("cid", qty=1.0)
    assert o.status is OrderStatus.UNKNOWN
    o = accept(o)
    o = fill(o, 0.4)
    assert (o.status, o.filled_qty, o.remaining_qty) == (OrderStatus.PARTIALLY_FILLED, 0.4, 0.6)
    o = fill(o, 0.6)
    assert (o.status, o.filled_qty) == (OrderStatus.FILLED, 1.0)
    assert o.status.is_final
    for step in (accept, cancel, reject, expire):
        with pytest.raises(OrderTransitionError, match="FILLED"):
            step(o)


def test_impossible_transitions_are_refused():
    new = accept(OrderState("cid", qty=1.0))
    with pytest.raises(OrderTransitionError, match="cannot become REJECTED"):
        reject(new)
    part = fill(new, 0.5)
    with pytest.raises(OrderTransitionError, match="shrink"):
        apply_report(part, "PARTIALLY_FILLED", 0.2)
    with pytest.raises(OrderTransitionError, match="only"):
        apply_report(part, "FILLED", 0.7)
    with pytest.raises(OrderTransitionError, match="exceeds"):
        apply_report(part, "PARTIALLY_FILLED", 1.5)
    with pytest.raises(OrderTransitionError, match="UNKNOWN"):
        apply_report(part, "UNKNOWN", 0.5)
    with pytest.raises(OrderTransitionError, match="NEW with"):
        apply_report(OrderState("cid", qty=1.0), "NEW", 0.5)
    with pytest.raises(ValueError, match="unknown order status"):
        apply_report(part, "HALF_DONE", 0.5)


def test_unknown_resolves_to_any_exchange_status_and_repeats_are_noops():
    o = OrderState("cid", qty=2.0)
    assert apply_report(o, "REJECTED", 0.0).status is OrderStatus.REJECTED
    assert apply_report(o, "EXPIRED_IN_MATCH", 0.0).status is OrderStatus.EXPIRED
    filled = apply_report(o, "FILLED", 2.0)
    assert apply_report(filled, "FILLED", 2.0) is filled
    canceled = apply_report(apply_report(o, "PARTIALLY_FILLED", 0.5), "CANCELED", 0.5)
    assert (canceled.status, canceled.filled_qty) == (OrderStatus.CANCELED, 0.5)


@settings(deadline=None)  # a loaded CI machine must not fail a pure check on time
@given(st.lists(st.tuples(st.sampled_from(list(OrderStatus)), st.floats(0, 1.2)), max_size=12))
def test_any_report_sequence_keeps_state_consistent(reports):
    o = OrderState("cid", qty=1.0)
    for status, filled in reports:
        try:
            nxt = apply_report(o, status, filled)
        except OrderTransitionError:
            continue
        assert nxt.filled_qty >= o.filled_qty
        assert 0.0 <= nxt.filled_qty <= 1.0 + 1e-9
        assert not o.status.is_final or nxt == o
        o = nxt


# --- filter rounding -------------------------------------------------------------------------

# Binance filter values are decimal strings like 0.00001000 or 0.5: a mantissa 1|2|5 x 10^e.
ticks = st.builds(lambda m, e: float(Decimal(m).scaleb(e)), st.sampled_from(["1", "2", "5", "25"]),
                  st.integers(-8, 2))
filters = st.builds(
    lambda tick, step, min_mult, notional: SymbolFilters(
        tick, step, float(Decimal(str(step)) * min_mult), notional),
    ticks, ticks, st.integers(1, 20), st.sampled_from([0.0, 1.0, 5.0, 10.0, 100.0]))
prices = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
quantities = st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(deadline=None)  # a loaded CI machine must not fail a pure check on time
@given(quantities, ticks)
def test_round_qty_is_ccxt_amount_to_precision(qty, step):
    mine = round_qty(qty, step)
    theirs = decimal_to_precision(qty, TRUNCATE, step, TICK_SIZE)
    assert Decimal(mine) == Decimal(theirs)


@settings(deadline=None)  # a loaded CI machine must not fail a pure check on time
@given(prices, ticks)
def test_round_price_is_ccxt_price_to_precision(price, tick):
    mine = round_price(price, tick)
    theirs = decimal_to_precision(price, ROUND, tick, TICK_SIZE)
    assert Decimal(mine) == Decimal(theirs)


@settings(deadline=None)  # a loaded CI machine must not fail a pure check on time
@given(filters, quantities, prices, st.one_of(st.none(), quantities), st.booleans())
def test_rounded_orders_pass_every_filter_and_never_exceed_max_qty(filt, qty, price, max_qty, market):
    try:
        r = round_to_filters(qty, None if market else price, filt, max_qty=max_qty,
                             ref_price=price if market else None)
    except FilterError as exc:
        assert exc.violations
        return
    assert filter_violations(r.qty, r.ref_price, filt) == ()
    assert r.qty_f <= qty
    assert max_qty is None or r.qty_f <= max_qty
    assert Decimal(r.qty) <= Decimal(str(min(qty, max_qty if max_qty is not None else qty)))
    assert (r.price is None) == market


def test_round_to_filters_hand_worked():
    r = round_to_filters(0.123456789, 65000.005, BTC, max_qty=0.1)
    assert (r.qty, r.price) == ("0.10000", "65000.01")
    r = round_to_filters(0.000159, None, BTC, ref_price=65000.0)
    assert (r.qty, r.price, r.ref_price) == ("0.00015", None, "65000.00")
    assert round_qty(0.1 + 0.2, 0.1) == "0.3"


def test_round_to_filters_refuses_rather_than_rounding_up():
    with pytest.raises(FilterError, match="never rounded up") as exc:
        round_to_filters(0.00007, 65000.0, BTC)  # 4.55 USDT < 5
    assert exc.value.violations == (NOTIONAL_MIN,)
    with pytest.raises(FilterError) as exc:
        round_to_filters(0.000009, 1e7, BTC)  # truncates to 0
    assert LOT_MIN in exc.value.violations
    with pytest.raises(FilterError, match="not positive"):
        round_to_filters(0.01, 65000.0, BTC, max_qty=0.0)
    with pytest.raises(FilterError, match="no positive price"):
        round_to_filters(0.01, None, BTC)


def test_filter_violations_names_each_broken_filter():
    assert filter_violations("0.000155", "65000.001", BTC) == (
        "LOT_SIZE.stepSize", "PRICE_FILTER.tickSize")
    assert filter_violations("0.00001", "100", BTC) == ("NOTIONAL.minNotional",)
    assert filter_violations("0.001", "0", SymbolFilters(0.01, 0.001, 0.001, 0.0)) == (
        "PRICE_FILTER.minPrice",)
