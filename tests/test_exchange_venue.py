"""The gateway with real ccxt against the real venue on loopback: markets and filters, order
round trips, fills on the private stream (and by polling when it is down), -1021 clock resync,
and a run under ≥ 1000 injected faults of every kind: 0 duplicates, 0 orders lost in an unknown
state, 0 filter violations, 0 requests during a Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from pydantic import SecretStr
from venue_support import KEY, SECRET, running_venue, static_tape, venue_settings

from aurora.config import Settings
from aurora.core.orders import OrderIntent, OrderStatus, client_order_id
from aurora.exchange import (
    AuthenticationError,
    FilterRejectedError,
    Gateway,
    GatewayError,
    OrderRejectedError,
    UnknownStateError,
)
from aurora.venue import FaultInjector
from aurora.venue._faults import _MODELS
from aurora.venue._market import synthetic_tape

SYM = "BTCUSDT"


def gateway_settings(settings: Settings, hostport: str, **http) -> Settings:
    """``settings`` pointed at the venue on ``hostport``, fast backoff for tests."""
    host, port = hostport.rsplit(":", 1)
    s = venue_settings(settings)
    return s.model_copy(update={
        "binance_api_key": SecretStr(KEY), "binance_api_secret": SecretStr(SECRET),
        "exchange": s.exchange.model_copy(update={"target": "venue", "rate_limit": False,
                                                  "poll_interval_s": 0.05, "stream_retry_s": 0.2}),
        "venue": s.venue.model_copy(update={"host": host, "port": int(port)}),
        "http": s.http.model_copy(update={"backoff_initial_s": 0.01, "backoff_max_s": 0.1,
                                          "backoff_retries": 8, "timeout_s": 2.0, **http}),
    })


@contextlib.asynccontextmanager
async def venue_and_gateway(settings: Settings, tape=None, *, venue_config: Settings | None = None,
                            gateway_config=None, **venue_kw):
    """A venue on an ephemeral loopback port and a started gateway pointed at it."""
    async with running_venue(venue_config or venue_settings(settings), tape or static_tape(),
                             **venue_kw) as (venue, hostport):
        gs = gateway_settings(settings, hostport)
        async with Gateway(gateway_config(gs) if gateway_config else gs, symbols=[SYM]) as gw:
            yield venue, gw


def intent(seq: int, side: str, kind: str, qty: float, price: float | None, run: str = "t") -> OrderIntent:
    return OrderIntent(SYM, side, kind, qty, price, "GTC" if kind == "limit" else None,  # type: ignore[arg-type]
                       client_order_id(run, SYM, seq, "entry"), "entry")


def test_markets_orders_and_filters_round_trip(settings):
    async def go():
        async with venue_and_gateway(settings, static_tape()) as (venue, gw):
            f = gw.filters(SYM)
            assert (f.tick_size, f.step_size, f.min_qty, f.min_notional) == (0.1, 0.001, 0.001, 5.0)
            assert abs(gw.clock_offset_ms) < 1000 and gw.clock_resyncs == 1

            rest = await gw.create_order(intent(1, "buy", "limit", 0.0609, 95.04))
            assert (rest.status, rest.qty, rest.price) == (OrderStatus.NEW, 0.06, 95.0)
            assert rest.client_order_id == intent(1, "buy", "limit", 1, 1).client_order_id
            assert (await gw.fetch_order(rest.client_order_id, SYM)).status is OrderStatus.NEW
            # sent again with the same id: "Duplicate order sent." proves it exists; it is looked up
            same = await gw.create_order(intent(1, "buy", "limit", 0.0609, 95.04))
            assert (same.order_id, same.status) == (rest.order_id, OrderStatus.NEW)
            assert venue.stats["duplicate_rejects"] == 1 and venue.stats["orders_accepted"] == 1
            assert [o.client_order_id for o in await gw.open_orders(SYM)] == [rest.client_order_id]
            done = await gw.cancel_order(rest.client_order_id, SYM)
            assert done.status is OrderStatus.CANCELED
            again = await gw.cancel_order(rest.client_order_id, SYM)  # -2011: returned as it ended
            assert again.status is OrderStatus.CANCELED
            assert await gw.fetch_order("ws-nothing-here", SYM) is None

            taken = await gw.create_order(intent(2, "sell", "market", 0.1, None), ref_price=100.0)
            assert taken.status is OrderStatus.FILLED and taken.filled_qty == 0.1
            assert taken.fee > 0 and taken.fee_asset == "USDT"
            bal = await gw.balances()
            assert bal["BTC"].free == pytest.approx(0.9)

            with pytest.raises(FilterRejectedError, match="NOTIONAL"):  # never sent
                await gw.create_order(intent(3, "buy", "limit", 0.01, 99.0))
            with pytest.raises(OrderRejectedError, match="would immediately match"):
                await gw.create_order(intent(4, "buy", "limit_maker", 0.1, 100.1))
            with pytest.raises(OrderRejectedError, match="insufficient balance"):
                await gw.create_order(intent(5, "buy", "limit", 50.0, 99.0))
            assert venue.reject_codes.get(-1013, 0) == 0 and venue.stats["orders_accepted"] == 2
    asyncio.run(go())


async def place_watching(venue, gw: Gateway, it: OrderIntent):
    """Subscribe to order updates, wait until the venue has the subscriber, place ``it``; returns
    the placed report and the first batch of updates."""
    first = asyncio.ensure_future(gw.watch_orders(SYM))
    async with asyncio.timeout(10):
        while venue.user_subscribers == 0:
            await asyncio.sleep(0.01)
    placed = await gw.create_order(it)
    return placed, await first


def test_fills_arrive_on_the_private_stream(settings):
    async def go():
        async with venue_and_gateway(settings, static_tape(), speed=20.0) as (venue, gw):
            placed, reports = await place_watching(venue, gw, intent(1, "buy", "limit", 0.1, 100.0))
            async with asyncio.timeout(10):
                while not any(r.status is OrderStatus.FILLED for r in reports):
                    reports += await gw.watch_orders(SYM)
            fills = [r for r in reports if r.last_fill_qty > 0]
            assert max(r.filled_qty for r in reports) == pytest.approx(0.1)  # fills come in lots of 0.05
            assert fills and all(r.last_fill_price == 100.0 and r.trade_id for r in fills)
            assert 0.05 <= sum(r.last_fill_qty for r in fills) <= 0.1 + 1e-9
            assert all(r.client_order_id == placed.client_order_id for r in reports)
            assert gw._orders.polls == 0
    asyncio.run(go())


def test_fills_arrive_by_polling_while_the_stream_keeps_dropping(settings):
    faults = FaultInjector({"ws_disconnect": _MODELS["ws_disconnect"](rate=1.0)}, 1)

    async def go():
        async with venue_and_gateway(settings, static_tape(), speed=20.0, faults=faults) as (venue, gw):
            placed, seen = await place_watching(venue, gw, intent(1, "buy", "limit", 0.1, 100.0))
            async with asyncio.timeout(20):
                while not seen or seen[-1].status is not OrderStatus.FILLED:
                    seen += await gw.watch_orders(SYM)
            assert seen[-1].client_order_id == placed.client_order_id
            assert seen[-1].filled_qty == pytest.approx(0.1)
            assert gw._orders.polls > 0 and faults.counts["ws_disconnect"] > 0
            assert gw.error_counts[("stream", "retryable")] > 0
    asyncio.run(go())


def test_a_rejected_private_stream_subscribe_is_an_authentication_error(settings):
    def wrong_secret(gs: Settings) -> Settings:
        return gs.model_copy(update={"binance_api_secret": SecretStr("not-the-secret")})

    async def go():
        async with venue_and_gateway(settings, gateway_config=wrong_secret) as (_, gw):
            with pytest.raises(AuthenticationError, match="refused the subscription"):
                async with asyncio.timeout(10):
                    await gw.watch_orders(SYM)
            with pytest.raises(AuthenticationError):
                await gw.balances()
    asyncio.run(go())


def test_a_timestamp_outside_recv_window_resyncs_the_clock_then_retries(settings):
    # the skew starts when the venue does and ends 2 s later: room for a loaded machine's start-up
    faults = FaultInjector({"clock_skew": _MODELS["clock_skew"](at_s=(0.0, 2.0), skew_ms=20000,
                                                               routes=("POST /api/v3/order",))}, 1)

    async def go():
        async with venue_and_gateway(settings, faults=faults) as (venue, gw):
            assert gw.clock_resyncs == 1
            placed = await gw.create_order(intent(1, "buy", "limit", 0.06, 95.0))  # venue jumps 20 s
            assert placed.status is OrderStatus.NEW
            assert gw.clock_resyncs == 2 and gw.clock_offset_ms == pytest.approx(-20000, abs=500)
            assert gw.error_counts[("create", "retryable")] == 1
            assert venue.reject_codes[-1021] == 1
            await asyncio.sleep(2.05)  # time passes to the fault's second scheduled jump
            back = await gw.create_order(intent(2, "buy", "limit", 0.06, 95.0))  # and back
            assert back.status is OrderStatus.NEW and gw.clock_resyncs == 3
            assert abs(gw.clock_offset_ms) < 500
            assert venue.stats["orders_accepted"] == 2
    asyncio.run(go())


def test_nothing_is_sent_after_a_418_or_429_before_its_retry_after(settings):
    faults = FaultInjector({"http_418": _MODELS["http_418"](at_s=(0.0,), retry_after_s=1,
                                                          routes=("GET /api/v3/openOrders",)),
                            "http_429": _MODELS["http_429"](at_s=(0.0,), retry_after_s=1,
                                                          routes=("GET /api/v3/account",))}, 1)

    async def go():
        async with venue_and_gateway(settings, static_tape(), faults=faults) as (venue, gw):
            t0 = gw.clock()
            assert await gw.open_orders(SYM) == []  # 418, wait 1 s, then served
            assert gw.clock() - t0 >= 1.0
            t1 = gw.clock()
            assert "USDT" in await gw.balances()  # 429, wait 1 s, then served
            assert gw.clock() - t1 >= 1.0
            assert gw.error_counts[("read", "rate_limited")] == 2
            assert faults.counts == {"http_418": 1, "http_429": 1}
            assert venue.stats["requests_during_ban"] == 0
            assert venue.stats["requests_during_retry_after"] == 0
    asyncio.run(go())


FAULTS = {
    "latency": {"rate": 1.0, "dist": "uniform", "low_ms": 0.0, "high_ms": 3.0},
    "drop_after_accept": {"rate": 0.15},
    "http_5xx": {"rate": 0.15, "status": 503},
    "http_429": {"at_s": [1.0, 4.0], "retry_after_s": 1},
    "http_418": {"at_s": [2.5], "retry_after_s": 1},
    "clock_skew": {"at_s": [0.5, 1.5, 3.0, 3.5], "skew_ms": 20000},
    "ws_disconnect": {"rate": 0.02},
    "depth_gap": {"rate": 0.1},
    "stale_snapshot": {"rate": 0.5, "age_diffs": 3},
}


@pytest.mark.slow
def test_under_a_thousand_faults_nothing_is_duplicated_lost_or_filter_violating(settings):
    injector = FaultInjector({k: _MODELS[k].model_validate(v) for k, v in FAULTS.items()}, 11)
    rng = random.Random(5)
    vs = venue_settings(settings, balances={"USDT": 1e6, "BTC": 10.0})
    tape = synthetic_tape(SYM, 0.05, 7, vs.symbols[SYM].tick_size)  # a moving market: 3 min of ticks

    async def go():
        async with venue_and_gateway(settings, tape, venue_config=vs, speed=5.0,
                                     faults=injector) as (venue, gw):
            outcomes: dict[str, object] = {}
            top = {"bid": 60000.0, "ask": 60000.1}

            async def market_data(watch):  # exercises ws_disconnect, depth_gap, stale_snapshot
                while True:
                    try:
                        got = await watch(SYM)
                        if watch == gw.watch_bbo:
                            top.update(bid=got.bid_px, ask=got.ask_px)
                    except GatewayError:
                        await asyncio.sleep(0.01)

            async def trader(worker: int, n: int):
                for k in range(n):
                    seq = worker * 10_000 + k
                    qty = rng.uniform(0.0005, 0.004)  # some round below min qty / notional: refused
                    if rng.random() < 0.25:
                        side = "buy" if k % 2 else "sell"
                        it = intent(seq, side, "market", qty, None)
                        ref = top["ask"] if side == "buy" else top["bid"]
                    else:
                        it = intent(seq, "buy", "limit", qty, top["bid"] * rng.uniform(0.95, 0.999))
                        ref = None
                    try:
                        rep = await gw.create_order(it, max_qty=0.0025, ref_price=ref)
                        outcomes[it.client_order_id] = rep
                        if rep.status is OrderStatus.NEW:
                            outcomes[it.client_order_id] = await gw.cancel_order(it.client_order_id, SYM)
                    except GatewayError as exc:
                        outcomes[it.client_order_id] = exc

            md = [asyncio.ensure_future(market_data(w))
                  for w in (gw.watch_order_book, gw.watch_trades, gw.watch_bbo)]
            await asyncio.gather(*(trader(w, 120) for w in range(6)))
            for t in md:
                t.cancel()
            counts = dict(injector.counts)
            assert sum(counts.values()) >= 1000, counts
            assert all(v > 0 for v in counts.values()), str(sorted(counts.items()))
            # 0 orders lost in an unknown state; each outcome agrees with the venue
            assert [c for c, o in outcomes.items() if isinstance(o, UnknownStateError)] == []
            for cid, o in outcomes.items():
                at_venue = venue.fill.order(cid)
                if isinstance(o, GatewayError):
                    assert at_venue is None, (cid, o)
                else:
                    assert at_venue is not None and at_venue.status == o.status.value, (cid, o)
                    assert o.qty <= 0.0025
            # 0 duplicates: one accepted order per client id the venue knows; resends happened
            known = sum(venue.fill.order(c) is not None for c in outcomes)
            assert venue.stats["orders_accepted"] == known > 300
            assert sum(isinstance(o, FilterRejectedError) for o in outcomes.values()) > 0
            # 0 filter violations at the venue, 0 requests inside a ban or a Retry-After
            assert not {-1013, -1111} & set(venue.reject_codes)
            # requests already on the wire when a 418/429 left the venue arrive inside its window:
            # at most one per concurrent caller (6 traders, 3 streams); none is sent after it
            in_flight = 6 + 3
            assert venue.stats["requests_during_ban"] <= in_flight
            assert venue.stats["requests_during_retry_after"] <= 2 * in_flight
            # every clock jump was answered by a resync
            assert venue.reject_codes[-1021] > 0 and gw.clock_resyncs >= 1 + venue.reject_codes[-1021]
            assert gw.error_counts[("create", "unknown_state")] > 0
    asyncio.run(go())
