"""The gateway: the one object through which the project talks to an exchange.

Symbols are Binance ids (``BTCUSDT``). Every REST call goes through :meth:`Gateway._call`:
classified errors are counted (``error_counts[(op, kind)]``) and logged (``exchange.error``
events), reads and cancels are retried with backoff, -1021 resyncs the clock offset from
``/api/v3/time`` before the retry, 429/418 hold every request until ``Retry-After``. Placing an
order is idempotent (:meth:`Gateway.create_order`): after an unknown outcome the order is looked up
by its client order id before it is sent again, with the same id.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from aurora.core.orders import OrderIntent, RoundedOrder, SymbolFilters, filter_violations
from aurora.events import EventLog
from aurora.exchange._errors import (
    BadRequestError,
    ClockSkewError,
    DuplicateOrderError,
    FilterRejectedError,
    GatewayError,
    Op,
    OrderNotFoundError,
    RateLimitedError,
    RetryableError,
    UnknownStateError,
    classify,
)
from aurora.exchange._exchange import DepthTap, make_exchange
from aurora.exchange._filters import check_configured, filters_from_market, filters_from_settings
from aurora.exchange._retry import Backoff, Clock, RequestBarrier, Sleeper
from aurora.exchange._streams import OrderFeed
from aurora.exchange._wire import (
    Balance,
    Bbo,
    Book,
    OrderReport,
    Trade,
    balances,
    bbo,
    book,
    order_report,
    trade,
)

T = TypeVar("T")
_CCXT_TYPE = {"market": "market", "limit": "limit", "limit_maker": "LIMIT_MAKER"}


class Gateway:
    """Async gateway over ``ccxt.pro.binance`` for ``settings.exchange.target`` (live | testnet |
    venue). Use as ``async with Gateway(settings) as gw:`` (loads markets, checks the ``symbols:``
    config against the exchange's filters, syncs the clock) or call :meth:`start`/:meth:`close`.

    ``symbols`` (Binance ids) are the ones this session trades, checked against the exchange at
    start (default: every symbol of the config). ``clock`` (monotonic seconds) and ``sleep`` are
    injectable so retry timing can be tested.
    """

    def __init__(self, settings: Any, *, symbols: Iterable[str] | None = None, events: EventLog | None = None,
                 clock: Clock = time.monotonic, sleep: Sleeper = asyncio.sleep) -> None:
        self.settings = settings
        configured = filters_from_settings(settings)
        unknown = sorted(set(symbols or ()) - set(configured))
        if unknown:
            raise BadRequestError(f"symbols {', '.join(unknown)} have no filters in the symbols: config "
                                  f"(configured: {', '.join(sorted(configured))}); add them there")
        self.traded = {s: configured[s] for s in (symbols or configured)}
        self.events = events
        self.clock = clock
        self.sleep = sleep
        self.backoff = Backoff.from_settings(settings.http)
        self.barrier = RequestBarrier(clock, sleep)
        key, secret = settings.binance_api_key, settings.binance_api_secret
        self.exchange = make_exchange(settings,
                                      api_key=key.get_secret_value() if key else None,
                                      api_secret=secret.get_secret_value() if secret else None,
                                      barrier=self.barrier, on_rate_limit=self._on_rate_limit)
        self.error_counts: Counter[tuple[str, str]] = Counter()
        self.clock_resyncs = 0
        self.clock_offset_ms = 0.0
        self._filters: dict[str, SymbolFilters] = {}
        self._symbols: dict[str, str] = {}  # Binance id -> ccxt symbol
        self._markets_lock = asyncio.Lock()
        self._orders = OrderFeed(self, settings.exchange.poll_interval_s, settings.exchange.stream_retry_s)

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        await self.load_markets()
        await self.sync_clock()

    async def close(self) -> None:
        self._orders.close()
        await self.exchange.close()

    # --- markets and filters -----------------------------------------------------------------

    async def load_markets(self) -> dict[str, SymbolFilters]:
        """Load the exchange's spot markets once; check the traded symbols' ``symbols:`` config against
        their filters (a mismatch raises :class:`BadRequestError` naming both values)."""
        async with self._markets_lock:
            if not self._filters:
                self.use_markets(await self._call("read", self.exchange.load_markets))
        return self._filters

    def use_markets(self, markets: Mapping[str, Mapping[str, Any]]) -> None:
        """Index ccxt's loaded spot markets by Binance id and check the ``symbols:`` config."""
        filters, symbols = {}, {}
        for m in markets.values():
            if m.get("spot") and m.get("active", True) is not False:
                filters[m["id"]] = filters_from_market(m)
                symbols[m["id"]] = m["symbol"]
        check_configured(self.traded, filters)
        self._filters, self._symbols = filters, symbols

    def filters(self, symbol: str) -> SymbolFilters:
        """The exchange's filters of ``symbol`` (after :meth:`load_markets`)."""
        self._sym(symbol)
        return self._filters[symbol]

    def _sym(self, symbol: str) -> str:
        """ccxt's symbol (``BTC/USDT``) for a Binance id (``BTCUSDT``)."""
        if symbol not in self._symbols:
            raise BadRequestError(f"unknown symbol {symbol}: the exchange does not trade it"
                                  if self._symbols else f"{symbol}: call load_markets() first")
        return self._symbols[symbol]

    def round(self, intent: OrderIntent, *, max_qty: float | None = None,
              ref_price: float | None = None) -> RoundedOrder:
        """Quantity and price of ``intent`` rounded with ccxt's precision functions (qty capped at
        ``max_qty`` and truncated, price rounded to the tick), then checked against every filter.
        Raises :class:`FilterRejectedError` instead of rounding up; nothing is sent."""
        sym, filt = self._sym(intent.symbol), self.filters(intent.symbol)
        qty = intent.qty if max_qty is None else min(intent.qty, max_qty)
        px = intent.price if intent.price is not None else ref_price
        if px is None:
            raise FilterRejectedError(f"{intent.client_order_id}: a market order needs ref_price (the price "
                                      "it is expected to fill at) for the min-notional check",
                                      violations=("NOTIONAL.minNotional",), op="create")
        try:
            q = self.exchange.amount_to_precision(sym, qty)
            p = self.exchange.price_to_precision(sym, px)
        except Exception as exc:  # ccxt raises InvalidOrder when either rounds to 0
            raise FilterRejectedError(f"{intent.client_order_id}: {exc}", violations=("LOT_SIZE.minQty",),
                                      op="create") from None
        bad = filter_violations(q, p, filt)
        if bad:
            raise FilterRejectedError(
                f"{intent.client_order_id}: qty {intent.qty!r} (max {max_qty!r}) at {px!r} rounds to "
                f"{q} at {p}, which breaks {', '.join(bad)}; not sent", violations=bad, op="create")
        return RoundedOrder(qty=q, price=p if intent.price is not None else None, ref_price=p)

    # --- orders ------------------------------------------------------------------------------

    async def create_order(self, intent: OrderIntent, *, max_qty: float | None = None,
                           ref_price: float | None = None) -> OrderReport:
        """Place ``intent`` exactly once (see :meth:`round` for ``max_qty`` and ``ref_price``).

        After a timeout, network error, 5xx or other unknown outcome the order is looked up by
        its client order id; only when the exchange says it does not exist is it sent again,
        with the same id. "Duplicate order sent." (-2010) proves it exists: it is looked up.
        Raises :class:`UnknownStateError` only if the lookups themselves keep failing (reconcile
        later by client order id), a :class:`FatalError` on a rejection, or
        :class:`RetryableError` when the retries ran out and the order is known not to exist.
        """
        r = self.round(intent, max_qty=max_qty, ref_price=ref_price)
        sym, cid = self._sym(intent.symbol), intent.client_order_id
        params: dict[str, Any] = {"newClientOrderId": cid}
        if intent.time_in_force is not None:
            params["timeInForce"] = intent.time_in_force
        price = float(r.price) if r.price is not None else None
        attempt = 0
        while True:
            try:
                order = await self.exchange.create_order(sym, _CCXT_TYPE[intent.type], intent.side,
                                                         float(r.qty), price, params)
                report = order_report(order)
                self._orders.track(report)
                return report
            except Exception as exc:
                err = self._note(classify(exc, "create"))
            if isinstance(err, DuplicateOrderError):
                found = await self._lookup(intent.symbol, cid)
                if found is not None:
                    return found
                err = UnknownStateError(f"{cid}: duplicate order reported but not found", op="create")
            elif err.kind == "fatal":
                raise err
            if isinstance(err, UnknownStateError):
                # the backoff first, so that a request still in flight lands before the lookup
                await self._pause(err, attempt)
                found = await self._lookup(intent.symbol, cid)
                if found is not None:
                    return found
                if attempt >= self.backoff.retries:
                    raise RetryableError(f"{cid}: not placed after {attempt + 1} attempts (looked up by "
                                         f"client id: it does not exist); last error: {err}", op="create")
            else:
                if attempt >= self.backoff.retries:
                    raise err
                await self._pause(err, attempt)
            attempt += 1

    async def _lookup(self, symbol: str, cid: str) -> OrderReport | None:
        """The order with client id ``cid``, or ``None`` when the exchange says it does not exist;
        :class:`UnknownStateError` when it cannot be asked."""
        try:
            return await self.fetch_order(cid, symbol)
        except GatewayError as exc:
            raise UnknownStateError(f"order {cid} on {symbol}: state unknown, lookups failed ({exc}); "
                                    "reconcile by client order id", op="read") from exc

    async def fetch_order(self, client_id: str, symbol: str) -> OrderReport | None:
        """The order with this client order id, or ``None`` if the exchange has no such order."""
        try:
            order = await self._call("read", self.exchange.fetch_order, None, self._sym(symbol),
                                     {"origClientOrderId": client_id}, answers=(OrderNotFoundError,))
        except OrderNotFoundError:
            return None
        report = order_report(order)
        self._orders.track(report)
        return report

    async def cancel_order(self, client_id: str, symbol: str) -> OrderReport:
        """Cancel by client order id; an order already final (-2011) is returned as it ended."""
        try:
            order = await self._call("cancel", self.exchange.cancel_order, None, self._sym(symbol),
                                     {"origClientOrderId": client_id}, answers=(OrderNotFoundError,))
            report = order_report(order)
        except OrderNotFoundError:
            found = await self.fetch_order(client_id, symbol)
            if found is None:
                raise
            return found
        self._orders.track(report)
        return report

    async def order_fee(self, order_id: str, symbol: str) -> tuple[float, str | None]:
        """The commission the fills of one order paid, and its asset, from ``myTrades`` by
        ``orderId`` (Binance's order query carries no fee; a maker fill's fee is known only here)."""
        trades = await self._call("read", self.exchange.fetch_my_trades, self._sym(symbol), None, None,
                                  {"orderId": order_id})
        total, asset = 0.0, None
        for t in trades:
            info = t.get("info") or {}
            total += float(info.get("commission") or 0.0)
            asset = info.get("commissionAsset") or asset
        return total, asset

    async def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        orders = await self._call("read", self.exchange.fetch_open_orders,
                                  self._sym(symbol) if symbol else None)
        return [order_report(o) for o in orders]

    async def balances(self) -> dict[str, Balance]:
        return balances(await self._call("read", self.exchange.fetch_balance))

    async def server_time(self) -> int:
        """The exchange's time, ms since the epoch (``GET /api/v3/time``)."""
        return int(await self._call("read", self.exchange.fetch_time))

    async def sync_clock(self) -> float:
        """Set the offset ccxt signs requests with (local − server, ms, taken at the midpoint of
        the round trip) from ``/api/v3/time``; returns it."""
        before = self.exchange.milliseconds()
        server = await self.server_time()
        after = self.exchange.milliseconds()
        self.clock_offset_ms = (before + after) / 2.0 - server
        self.exchange.options["timeDifference"] = round(self.clock_offset_ms)
        self.clock_resyncs += 1
        self._emit("exchange.clock_sync", offset_ms=self.clock_offset_ms, rtt_ms=after - before)
        return self.clock_offset_ms

    # --- market data streams -----------------------------------------------------------------

    async def watch_trades(self, symbol: str) -> list[Trade]:
        """The next public trades of ``symbol`` (``@trade``), oldest first."""
        trades = await self._stream(self.exchange.watch_trades, self._sym(symbol))
        return [trade(t) for t in trades]

    async def watch_bbo(self, symbol: str) -> Bbo:
        """The next best bid/offer of ``symbol`` (``@bookTicker``)."""
        sym = self._sym(symbol)
        tickers = await self._stream(self.exchange.watch_bids_asks, [sym])
        return bbo(tickers[sym])

    async def watch_order_book(self, symbol: str, depth: int | None = None) -> Book:
        """The order book after the next diff (``@depth@100ms`` chained on a REST snapshot; ccxt.pro
        resyncs on a sequence gap); the best ``depth`` levels a side (all when ``None``)."""
        return book(await self._stream(self.exchange.watch_order_book, self._sym(symbol)), depth)

    def tap_depth(self, tap: DepthTap | None) -> None:
        """Hand every raw ``@depth`` diff and REST depth snapshot ccxt builds order books from to
        ``tap`` as it arrives (see :data:`~aurora.exchange._exchange.DepthTap`); None stops it."""
        self.exchange.aurora_depth_tap = tap

    async def watch_orders(self, symbol: str | None = None) -> list[OrderReport]:
        """The next order updates (fills included) from the private stream, or, while it is
        down, from REST polling of open orders (see :class:`~aurora.exchange._streams.OrderFeed`)."""
        return await self._orders.next(symbol)

    async def _stream(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        try:
            return await fn(*args)
        except Exception as exc:
            raise self._note(classify(exc, "stream")) from exc

    # --- the retry loop ----------------------------------------------------------------------

    async def _call(self, op: Op, fn: Callable[..., Awaitable[T]], *args: Any,
                    answers: tuple[type[GatewayError], ...] = ()) -> T:
        """``fn(*args)`` with the taxonomy: fatal errors raise at once, the others are retried
        ``http.backoff_retries`` times (reads and cancels are safe to repeat). ``answers`` are
        errors that are an expected reply (an order that does not exist), raised uncounted."""
        attempt = 0
        while True:
            try:
                return await fn(*args)
            except Exception as exc:
                err = classify(exc, op)
                if isinstance(err, answers):
                    raise err from exc
                self._note(err)
                if err.kind == "fatal" or attempt >= self.backoff.retries:
                    raise err from exc
            await self._pause(err, attempt)
            attempt += 1

    async def _pause(self, err: GatewayError, attempt: int) -> None:
        if isinstance(err, ClockSkewError):
            await self.sync_clock()
            return
        delay = self.backoff.wait_s(err, attempt)
        if isinstance(err, RateLimitedError):
            self.barrier.block_for(delay)
            await self.barrier.wait()
        else:
            await self.sleep(delay)

    def _on_rate_limit(self, status: int, retry_after_s: float | None) -> None:
        """Called by the exchange as a 429/418 arrives, before any other request can leave."""
        self.barrier.block_for(retry_after_s if retry_after_s is not None else self.backoff.delay(0))

    def _note(self, err: GatewayError) -> GatewayError:
        self.error_counts[(err.op or "?", err.kind)] += 1
        self._emit("exchange.error", **err.fields())
        return err

    def _emit(self, event: str, **fields: Any) -> None:
        if self.events is not None:
            self.events.emit(event, target=self.settings.exchange.target, **fields)
