"""The venue's server: Binance spot REST, market streams and the websocket API on one aiohttp app.

Why aiohttp: it is already installed as ccxt's own transport, it serves HTTP and websockets from
one route table on one port without an ASGI layer, and ``AppRunner`` + ``TCPSite`` start it inside
any running event loop on an ephemeral port, so tests run the real server in process.

Routes (``/api/v3`` as Binance): ping, time, exchangeInfo, depth, trades, aggTrades,
ticker/bookTicker; SIGNED: account, order (POST/GET/DELETE), openOrders, myTrades.
Market streams: ``/ws``, ``/ws/<n or stream>`` and ``/stream[?streams=a/b]`` with ``@trade``,
``@bookTicker``, ``@depth``/``@depth@100ms`` (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS).
Websocket API: ``/ws-api/v3``, ``userDataStream.subscribe.signature`` → ``executionReport`` and
``outboundAccountPosition`` events. ``GET /venue/stats`` (not Binance) reports orders, rejections
and injected faults for tests and benchmarks.

Clocks: the venue's clock is the wall clock (plus any injected skew); replayed events are stamped
with it when they are emitted, and the fill model runs on it, so every time it serves is one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
from aiohttp import WSMsgType, web

from aurora.core.fills import Accepted, Fees, FillModel, Order, OrderUpdate, SymbolSpec
from aurora.venue import _auth as auth
from aurora.venue import _wire as wire
from aurora.venue._faults import FaultInjector, StaleSnapshot
from aurora.venue._market import BBO, DEPTH, TRADE, Tape, VenueBook

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SEND_QUEUE = 10_000  # messages buffered per websocket client before it is cut off as too slow
_BATCH = 256          # replayed events processed before yielding: bounds what a request waits at high speed


class _Conn:
    """One websocket client with its own send queue (a slow client never blocks the others)."""

    def __init__(self, ws: web.WebSocketResponse, combined: bool) -> None:
        self.ws = ws
        self.combined = combined
        self.streams: set[str] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(_SEND_QUEUE)
        self.task = asyncio.create_task(self._write())
        self.closing: asyncio.Future[bool] | None = None

    def send(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        self.drop()

    def drop(self) -> None:
        """Cut the connection at once (a disconnect the client did not ask for)."""
        if not self.ws.closed:
            self.task.cancel()
            self.closing = asyncio.ensure_future(self.ws.close())

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class Venue:
    """A local Binance spot venue for one symbol around :class:`~aurora.core.fills.FillModel`."""

    def __init__(self, *, spec: SymbolSpec, fees: Fees, balances: dict[str, float], tape: Tape,
                 speed: float, api_key: str, api_secret: str, depth_levels: int, depth_interval_ms: int,
                 faults: FaultInjector | None = None, loop_tape: bool = True) -> None:
        self.spec = spec
        self.fees = fees
        self.tape = tape
        self.speed = speed
        self.loop_tape = loop_tape
        self.api_key = api_key
        self.api_secret = api_secret
        self.depth_levels = depth_levels
        self.depth_interval_s = depth_interval_ms / 1e3
        self.faults = faults or FaultInjector.none()
        self.fill = FillModel(spec, fees, balances)
        stale = self.faults.get("stale_snapshot")
        self.book = VenueBook(depth_levels, keep_snapshots=stale.age_diffs + 1
                              if isinstance(stale, StaleSnapshot) else 0)
        self.stats: Counter[str] = Counter()
        self.reject_codes: Counter[int] = Counter()
        self._book_dirty = False
        self._fills: list[Any] = []
        self._trades: deque[dict[str, Any]] = deque(maxlen=1000)
        self._trade_id = 0
        self._bbo: dict[str, Any] | None = None
        self._subs: dict[str, set[_Conn]] = {}
        self._user: dict[_Conn, int] = {}
        self._conns: set[_Conn] = set()
        self._sub_id = 0
        self._auto_id = 0
        self._skew_ms = 0
        self._ban_until = 0.0
        self._retry_after_until = 0.0
        self._t0 = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._start = 0
        self.market_done = asyncio.Event()
        self.app = self._build_app()
        sym = spec.symbol.lower()
        self._streams = {f"{sym}@trade", f"{sym}@bookTicker", f"{sym}@depth", f"{sym}@depth@100ms"}

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Serve on ``host:port`` (0 = an ephemeral port) and start the market; returns the bound address."""
        self._start = self._warm_up()
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self._t0 = time.monotonic()
        self._tasks = [asyncio.create_task(self._replay()), asyncio.create_task(self._publish_depth())]
        return bound[0], bound[1]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for c in list(self._conns):
            with contextlib.suppress(Exception):
                await c.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def user_subscribers(self) -> int:
        """Websocket-API connections subscribed to the user data stream."""
        return len(self._user)

    def server_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._skew_ms

    def _now_s(self) -> float:
        return time.monotonic() - self._t0

    # ---- market -------------------------------------------------------------------------------------
    def _warm_up(self) -> int:
        """Apply the tape up to its first depth message at once (nobody listens yet), so the book is
        whole from the first request; returns where the timed replay starts."""
        kinds = self.tape.kind
        first_depth = int(np.argmax(kinds == DEPTH)) if (kinds == DEPTH).any() else -1
        for i in range(first_depth + 1):
            self._process(i)
        return first_depth + 1

    async def _replay(self) -> None:
        tape = self.tape
        n = len(tape)
        start = self._start
        if start >= n:
            self.market_done.set()
            return
        ts0 = int(tape.ts_ns[start])
        while True:
            wall0 = time.monotonic_ns()
            i = start
            while i < n:
                due = wall0 + (int(tape.ts_ns[i]) - ts0) / self.speed
                now = time.monotonic_ns()
                if due > now:
                    await asyncio.sleep((due - now) / 1e9)
                now = time.monotonic_ns()
                end = i
                horizon = ts0 + (now - wall0) * self.speed  # the market time due by now
                while end < n and end - i < _BATCH and tape.ts_ns[end] <= horizon:
                    end += 1
                for j in range(i, max(end, i + 1)):
                    self._process(j)
                i = max(end, i + 1)
                self._sync_fill_book()
                await asyncio.sleep(0)
            self.market_done.set()
            if not self.loop_tape:
                return
            start, ts0 = 0, int(tape.ts_ns[0])

    def _process(self, i: int) -> None:
        t = self.tape
        kind, r, r_end = int(t.kind[i]), int(t.row[i]), int(t.row_end[i])
        now_ms = self.server_ms()
        if kind == TRADE:
            px, qty, side = float(t.trades["price"][r]), float(t.trades["qty"][r]), int(t.trades["side"][r])
            self._trade_id += 1
            self._trades.append({"id": self._trade_id, "price": wire.fmt(px), "qty": wire.fmt(qty),
                                 "quoteQty": wire.fmt(px * qty), "time": now_ms, "isBuyerMaker": side < 0,
                                 "isBestMatch": True})
            self._publish("@trade", {"e": "trade", "E": now_ms, "s": self.spec.symbol, "t": self._trade_id,
                                     "p": wire.fmt(px), "q": wire.fmt(qty), "T": now_ms, "m": side < 0,
                                     "M": True})
            self._user_updates(self.fill.on_trade(time.time_ns(), px, qty, side))
        elif kind == BBO:
            b = t.bbo
            bid, bq, ask, aq = (float(b[k][r]) for k in ("bid_px", "bid_qty", "ask_px", "ask_qty"))
            self.book.apply_bbo(bid, bq, ask, aq)
            self._book_dirty = True
            self._bbo = {"u": self.book.update_id, "s": self.spec.symbol, "b": wire.fmt(bid),
                         "B": wire.fmt(bq), "a": wire.fmt(ask), "A": wire.fmt(aq)}
            self._publish("@bookTicker", self._bbo)
        elif kind == DEPTH:
            d = t.depth
            self.book.apply_depth(d["side"][r:r_end], d["price"][r:r_end], d["qty"][r:r_end],
                                  bool(d["is_snapshot"][r]))
            self._book_dirty = True

    def _sync_fill_book(self, force: bool = False) -> None:
        """Give the fill model the current book when it changed and an order can use it."""
        if self._book_dirty and (force or self.fill.open_orders()):
            bids, asks = self.book.top(self.depth_levels)
            self._user_updates(self.fill.on_book(time.time_ns(), bids, asks))
            self._book_dirty = False

    async def _publish_depth(self) -> None:
        while True:
            await asyncio.sleep(self.depth_interval_s)
            diff = self.book.take_diff(skip_id=self.faults.fires("depth_gap", self._now_s()))
            if diff is None:
                continue
            first, last, b, a = diff
            msg = {"e": "depthUpdate", "E": self.server_ms(), "s": self.spec.symbol, "U": first, "u": last,
                   "b": b, "a": a}
            self._publish("@depth", msg)
            self._publish("@depth@100ms", msg)

    def _publish(self, suffix: str, payload: dict[str, Any]) -> None:
        stream = self.spec.symbol.lower() + suffix
        conns = self._subs.get(stream)
        if not conns:
            return
        raw = orjson.dumps(payload).decode()
        combined = None
        for c in list(conns):
            if c.combined and combined is None:
                combined = orjson.dumps({"stream": stream, "data": payload}).decode()
            self._send(c, combined if c.combined else raw)  # type: ignore[arg-type]

    def _send(self, c: _Conn, text: str) -> None:
        if self.faults.fires("ws_disconnect", self._now_s()):
            c.drop()
            return
        c.send(text)

    # ---- user data ---------------------------------------------------------------------------------
    def _user_updates(self, updates: list[OrderUpdate] | tuple[OrderUpdate, ...],
                      cancel_of: Order | None = None, cancel_id: str = "") -> None:
        if not updates and cancel_of is None:
            return
        now_ms = self.server_ms()
        events = []
        for u in updates:
            if u.fill is not None:
                self._fills.append(u.fill)
                exec_type = "TRADE"
            else:
                exec_type = "EXPIRED" if u.order.status == "EXPIRED" else "NEW"
            events.append(wire.execution_report(u.order, u.fill, exec_type, now_ms))
        if cancel_of is not None:
            report = wire.execution_report(cancel_of, None, "CANCELED", now_ms, cancel_of.client_order_id)
            report["c"] = cancel_id
            events.append(report)
        events.append(wire.account_position(self.fill.balances(), [self.spec.base, self.spec.quote], now_ms))
        for conn, sub_id in list(self._user.items()):
            for e in events:
                self._send(conn, orjson.dumps({"subscriptionId": sub_id, "event": e}).decode())

    # ---- HTTP ---------------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._edge])
        get, post, delete = "GET", "POST", "DELETE"
        routes: list[tuple[str, str, _Handler]] = [
            (get, "/api/v3/ping", self._ping), (get, "/api/v3/time", self._time),
            (get, "/api/v3/exchangeInfo", self._exchange_info), (get, "/api/v3/depth", self._depth),
            (get, "/api/v3/trades", self._recent_trades), (get, "/api/v3/aggTrades", self._agg_trades),
            (get, "/api/v3/ticker/bookTicker", self._book_ticker),
            (get, "/api/v3/account", self._account), (post, "/api/v3/order", self._new_order),
            (get, "/api/v3/order", self._get_order), (delete, "/api/v3/order", self._cancel_order),
            (get, "/api/v3/openOrders", self._open_orders), (get, "/api/v3/myTrades", self._my_trades),
            (get, "/venue/stats", self._stats),
            (get, "/ws", self._market_ws), (get, "/ws/{name}", self._market_ws),
            (get, "/stream", self._market_ws), (get, "/ws-api/v3", self._ws_api),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _edge(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Faults at the edge (ban, 429, 5xx, latency, clock skew), then Binance-shaped errors."""
        if not request.path.startswith("/api/v3"):
            return await handler(request)
        route = f"{request.method} {request.path}"
        now = self._now_s()
        self.stats["requests"] += 1
        ip = request.remote or "127.0.0.1"
        if now < self._ban_until:
            self.stats["requests_during_ban"] += 1
            return self._error(wire.banned(ip, self._ban_ms()), retry_after=self._ban_until - now)
        if now < self._retry_after_until:
            self.stats["requests_during_retry_after"] += 1
        f418 = self.faults.get("http_418")
        if f418 is not None and self.faults.fires("http_418", now, route):
            self._ban_until = now + f418.retry_after_s  # type: ignore[attr-defined]
            return self._error(wire.banned(ip, self._ban_ms()), retry_after=f418.retry_after_s)  # type: ignore[attr-defined]
        f429 = self.faults.get("http_429")
        if f429 is not None and self.faults.fires("http_429", now, route):
            self._retry_after_until = now + f429.retry_after_s  # type: ignore[attr-defined]
            return self._error(wire.too_many_requests(ip), retry_after=f429.retry_after_s)  # type: ignore[attr-defined]
        f5xx = self.faults.get("http_5xx")
        if f5xx is not None and self.faults.fires("http_5xx", now, route):
            # as Binance's edge answers: a bare status, not a JSON error code (ccxt: ExchangeNotAvailable)
            return web.Response(status=f5xx.status, text="Service Unavailable")  # type: ignore[attr-defined]
        skew = self.faults.get("clock_skew")
        if skew is not None and self.faults.fires("clock_skew", now, route):
            self._skew_ms = 0 if self._skew_ms else skew.skew_ms  # type: ignore[attr-defined]
        if route == "POST /api/v3/order":  # counted on arrival: a held or dropped one too
            self.stats["order_requests"] += 1
        delay = self.faults.latency_s(now, route)
        if delay > 0:
            if request.body_exists:  # the request is whole at the venue before it waits, as at an
                await request.read()  # exchange: a client gone meanwhile does not unmake it
            await asyncio.sleep(delay)
        try:
            return await handler(request)
        except wire.BinanceError as exc:
            self.reject_codes[exc.code] += 1
            return self._error(exc)

    def _ban_ms(self) -> int:
        return self.server_ms() + int((self._ban_until - self._now_s()) * 1000)

    @staticmethod
    def _error(exc: wire.BinanceError, retry_after: float | None = None) -> web.Response:
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
        return web.Response(body=orjson.dumps(exc.body()), status=exc.status, headers=headers,
                            content_type="application/json")

    @staticmethod
    def _json(payload: Any) -> web.Response:
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def _params(self, request: web.Request) -> tuple[dict[str, str], str]:
        body = await request.text() if request.body_exists else ""  # (read already, or not yet)
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        return params, body

    async def _signed(self, request: web.Request) -> dict[str, str]:
        params, body = await self._params(request)
        auth.verify_rest(request.query_string, body, params, key=request.headers.get("X-MBX-APIKEY"),
                         api_key=self.api_key, secret=self.api_secret, server_ms=self.server_ms())
        return params

    def _check_symbol(self, params: dict[str, str], required: bool = True) -> None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise wire.mandatory("symbol")
            return
        if symbol != self.spec.symbol:
            raise wire.invalid_symbol()

    async def _ping(self, request: web.Request) -> web.Response:
        return self._json({})

    async def _time(self, request: web.Request) -> web.Response:
        return self._json({"serverTime": self.server_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        params, _ = await self._params(request)
        wanted = params.get("symbol") or params.get("symbols")
        if wanted and self.spec.symbol not in wanted:
            raise wire.invalid_symbol()
        return self._json(wire.exchange_info([self.spec], self.server_ms()))

    async def _depth(self, request: web.Request) -> web.Response:
        params, _ = await self._params(request)
        self._check_symbol(params)
        limit = wire.int_param(params, "limit", 100, 5000)
        stale = self.faults.get("stale_snapshot")
        if isinstance(stale, StaleSnapshot) and self.faults.fires("stale_snapshot", self._now_s()):
            old = self.book.stale_snapshot(stale.age_diffs, limit)
            if old is not None:
                return self._json({"lastUpdateId": old[0], "bids": old[1], "asks": old[2]})
        bids, asks = self.book.snapshot_levels(limit)
        return self._json({"lastUpdateId": self.book.update_id, "bids": bids, "asks": asks})

    async def _recent_trades(self, request: web.Request) -> web.Response:
        params, _ = await self._params(request)
        self._check_symbol(params)
        limit = wire.int_param(params, "limit", 500, 1000)
        return self._json(list(self._trades)[-limit:])

    async def _agg_trades(self, request: web.Request) -> web.Response:
        """Each replayed trade is its own aggregate (the tape's trades are already per taker order)."""
        params, _ = await self._params(request)
        self._check_symbol(params)
        limit = wire.int_param(params, "limit", 500, 1000)
        return self._json([{"a": t["id"], "p": t["price"], "q": t["qty"], "f": t["id"], "l": t["id"],
                            "T": t["time"], "m": t["isBuyerMaker"], "M": True}
                           for t in list(self._trades)[-limit:]])

    async def _book_ticker(self, request: web.Request) -> web.Response:
        params, _ = await self._params(request)
        self._check_symbol(params, required=False)
        b = self._bbo or {"b": wire.fmt(0), "B": wire.fmt(0), "a": wire.fmt(0), "A": wire.fmt(0)}
        one = {"symbol": self.spec.symbol, "bidPrice": b["b"], "bidQty": b["B"], "askPrice": b["a"],
               "askQty": b["A"]}
        return self._json(one if params.get("symbol") else [one])

    async def _account(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return self._json(wire.account(self.fill.balances(), self.fees, self.server_ms()))

    async def _new_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        self._auto_id += 1
        req, resp_type = wire.parse_new_order(params, self.spec, f"venue-{self._auto_id}")
        self._sync_fill_book(force=True)
        res = self.fill.submit(time.time_ns(), req)
        if not isinstance(res, Accepted):
            self.stats["orders_rejected"] += 1
            if res.reason.name == "DUPLICATE":
                self.stats["duplicate_rejects"] += 1
            raise wire.reject_error(res.reason)
        self.stats["orders_accepted"] += 1
        self._user_updates(res.updates)
        if self.faults.fires("drop_after_accept", self._now_s(), "POST /api/v3/order"):
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        return self._json(wire.order_result(res.order, list(res.fills), resp_type))

    async def _get_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        cid, oid = wire.order_ref(params, self.spec)
        o = self.fill.order(cid, oid)
        if o is None or (cid is not None and oid is not None and o.order_id != oid):
            raise wire.order_missing()
        return self._json(wire.order_status(o))

    async def _cancel_order(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        cid, oid = wire.order_ref(params, self.spec)
        o = self.fill.order(cid, oid)
        if o is None or not o.is_open:
            raise wire.unknown_order_cancel()
        canceled = self.fill.cancel(time.time_ns(), o.client_order_id)
        assert canceled is not None
        self._auto_id += 1
        cancel_id = params.get("newClientOrderId") or f"venue-{self._auto_id}"
        self._user_updates((), cancel_of=canceled, cancel_id=cancel_id)
        return self._json(wire.cancel_result(canceled, cancel_id))

    async def _open_orders(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        self._check_symbol(params, required=False)
        return self._json([wire.order_status(o) for o in self.fill.open_orders()])

    async def _my_trades(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        self._check_symbol(params)
        fills = self._fills
        if params.get("orderId"):
            fills = [f for f in fills if str(f.order_id) == params["orderId"]]
        if params.get("fromId"):
            from_id = wire.int_param(params, "fromId", 0, 2**62, least=0)
            fills = [f for f in fills if f.trade_id >= from_id]
        limit = wire.int_param(params, "limit", 500, 1000)
        return self._json([wire.my_trade(f, self.spec.symbol) for f in fills[:limit]])

    async def _stats(self, request: web.Request) -> web.Response:
        return self._json({**self.stats, "reject_codes": {str(k): v for k, v in self.reject_codes.items()},
                           "faults": self.faults.counts, "open_orders": len(self.fill.open_orders()),
                           "fills": len(self._fills)})

    # ---- websockets ---------------------------------------------------------------------------------
    async def _market_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, combined=request.path.startswith("/stream"))
        self._conns.add(conn)
        initial = request.match_info.get("name", "")
        names = [initial] if "@" in initial else []
        names += [s for s in request.query.get("streams", "").split("/") if s]
        for name in names:
            if name in self._streams:
                self._subscribe(conn, name)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self._market_request(conn, msg.data)
        finally:
            self._disconnect(conn)
        return ws

    def _subscribe(self, conn: _Conn, name: str) -> None:
        conn.streams.add(name)
        self._subs.setdefault(name, set()).add(conn)

    def _market_request(self, conn: _Conn, text: str) -> None:
        try:
            req = orjson.loads(text)
            method, rid = req.get("method"), req.get("id")
        except (orjson.JSONDecodeError, AttributeError):
            conn.send(orjson.dumps({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}})
                      .decode())
            return
        params = req.get("params") or []
        if method in {"SUBSCRIBE", "UNSUBSCRIBE"}:
            bad = [p for p in params if p not in self._streams]
            if bad:
                err = {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]}"}
                conn.send(orjson.dumps({"error": err, "id": rid}).decode())
                return
            conn.send(orjson.dumps({"result": None, "id": rid}).decode())  # the ack precedes any data
            for p in params:
                if method == "SUBSCRIBE":
                    self._subscribe(conn, p)
                else:
                    conn.streams.discard(p)
                    self._subs.get(p, set()).discard(conn)
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send(orjson.dumps({"result": sorted(conn.streams), "id": rid}).decode())
        else:
            conn.send(orjson.dumps({"error": {"code": 1, "msg": "Invalid request: unknown method"},
                                    "id": rid}).decode())

    def _disconnect(self, conn: _Conn) -> None:
        for name in conn.streams:
            self._subs.get(name, set()).discard(conn)
        self._user.pop(conn, None)
        self._conns.discard(conn)
        conn.close()

    async def _ws_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, combined=False)
        self._conns.add(conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    conn.send(orjson.dumps(self._ws_api_request(conn, msg.data)).decode())
        finally:
            self._disconnect(conn)
        return ws

    def _ws_api_request(self, conn: _Conn, text: str) -> dict[str, Any]:
        try:
            req = orjson.loads(text)
            rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
        except (orjson.JSONDecodeError, AttributeError):
            return {"id": None, "status": 400, "error": {"code": -1100, "msg": "Malformed request."}}
        try:
            if method == "userDataStream.subscribe.signature":
                auth.verify_ws(params, self.api_key, self.api_secret, self.server_ms())
                self._sub_id += 1
                self._user[conn] = self._sub_id - 1
                result: Any = {"subscriptionId": self._sub_id - 1}
            elif method == "userDataStream.unsubscribe":
                self._user.pop(conn, None)
                result = {}
            elif method == "ping":
                result = {}
            elif method == "time":
                result = {"serverTime": self.server_ms()}
            else:
                raise wire.BinanceError(-1100, f"Illegal characters found in parameter 'method'; "
                                               f"unsupported method {method!r}.")
        except wire.BinanceError as exc:
            self.reject_codes[exc.code] += 1
            return {"id": rid, "status": exc.status, "error": exc.body(), "rateLimits": []}
        return {"id": rid, "status": 200, "result": result, "rateLimits": []}
