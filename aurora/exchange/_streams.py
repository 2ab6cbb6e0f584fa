"""Order updates: ccxt.pro's private stream, REST polling while it is down.

On Binance spot ``watch_orders`` subscribes on the websocket API (``/ws-api/v3``,
``userDataStream.subscribe.signature``) and yields one update per ``executionReport``. When the
stream fails the feed polls ``openOrders`` every ``exchange.poll_interval_s`` and looks up each
tracked order that left the open list, reporting only what changed (status or cumulative
filled quantity: a polled report has no ``last_fill_qty``, so consumers take fills as deltas of
``filled_qty``), and tries the stream again after ``exchange.stream_retry_s``. A subscribe the
server rejects surfaces in ccxt as ``KeyError('spot')``; it is an :class:`AuthenticationError`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aurora.exchange._errors import AuthenticationError, classify
from aurora.exchange._wire import OrderReport, order_report

if TYPE_CHECKING:
    from aurora.exchange._gateway import Gateway


class OrderFeed:
    """The order updates of one symbol (or all), stream first, polling while the stream is down.

    The stream's pending ``watch_orders`` call is kept across calls, so an update is never lost by
    a caller that times out. When the stream comes back after an outage, one catch-up poll runs
    once it has been given ``poll_interval_s`` to subscribe, so nothing that happened while it was
    down is missed (an update seen both ways is reported twice; cumulative ``filled_qty`` makes
    that harmless).
    """

    def __init__(self, gateway: Gateway, poll_interval_s: float, stream_retry_s: float) -> None:
        self.gateway = gateway
        self.poll_interval_s = poll_interval_s
        self.stream_retry_s = stream_retry_s
        self.stream_retry_at = 0.0  # monotonic s; the stream is tried when the clock passes it
        self.polls = 0
        self.down = False
        self._pending: asyncio.Future[list[Any]] | None = None
        self._seen: dict[str, OrderReport] = {}  # client order id -> latest report

    def track(self, report: OrderReport) -> bool:
        """Remember ``report``; ``True`` when it says something new about the order."""
        old = self._seen.get(report.client_order_id)
        self._seen[report.client_order_id] = report
        return old is None or (old.status, old.filled_qty) != (report.status, report.filled_qty)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    async def next(self, symbol: str | None) -> list[OrderReport]:
        gw = self.gateway
        catch_up = False
        if self._pending is None and gw.clock() >= self.stream_retry_at:
            sym = gw._sym(symbol) if symbol else None
            self._pending = asyncio.ensure_future(gw.exchange.watch_orders(sym))
            catch_up = self.down
        if self._pending is not None:
            if catch_up:
                done, _ = await asyncio.wait({self._pending}, timeout=self.poll_interval_s)
                if not done:
                    self.down = False
                    return await self._poll(symbol, wait=False)
            pending = self._pending
            try:
                orders = await asyncio.shield(pending)  # a caller's timeout leaves it pending
            except asyncio.CancelledError:
                if pending.cancelled():
                    self._pending = None
                raise
            except KeyError as exc:
                self._pending = None
                raise gw._note(AuthenticationError(
                    f"the private order stream refused the subscription ({exc!r}): check "
                    "AURORA_BINANCE_API_KEY / AURORA_BINANCE_API_SECRET", op="stream")) from exc
            except Exception as exc:
                self._pending = None
                err = gw._note(classify(exc, "stream"))
                if err.kind == "fatal":
                    raise err from exc
                self.down = True
                self.stream_retry_at = gw.clock() + self.stream_retry_s
                gw._emit("exchange.order_stream_down", retry_in_s=self.stream_retry_s, **err.fields())
            else:
                self._pending = None
                self.down = False
                reports = [order_report(o) for o in orders]
                for r in reports:
                    self.track(r)
                return reports
        return await self._poll(symbol)

    async def _poll(self, symbol: str | None, wait: bool = True) -> list[OrderReport]:
        gw = self.gateway
        if wait:
            await gw.sleep(self.poll_interval_s)
        self.polls += 1
        opened = await gw.open_orders(symbol)
        listed = {r.client_order_id for r in opened}
        changed = [r for r in opened if self.track(r)]
        for cid, last in list(self._seen.items()):
            if cid in listed or last.status.is_final or (symbol and last.symbol != symbol):
                continue
            report = await gw.fetch_order(cid, last.symbol)  # tracks it
            if report is not None and (report.status, report.filled_qty) != (last.status, last.filled_qty):
                changed.append(report)
        return changed
