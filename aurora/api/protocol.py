"""uvicorn's httptools protocol with request read deadlines, so a slow or silent client cannot
hold a connection (and a file descriptor and a concurrency slot) forever.

uvicorn bounds only the idle time between two requests of a keep-alive connection
(``timeout_keep_alive``): a client that connects and sends nothing, sends half its headers, or
announces a body of 100 bytes and sends two, is waited for indefinitely. Here a request's
headers must be complete within ``header_timeout_s`` of its first byte (or of the connection
opening, for a client that sends nothing), and its body within ``body_timeout_s`` of the end
of its headers. When a deadline passes before any response started, the client gets ``408``
and the connection is closed; the app's pending ``receive()`` then sees a disconnect. Each
timeout is a ``uvicorn.warning`` event (:mod:`aurora.api.logs`), not an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s")


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` closing requests that do not arrive in time (see module doc).

    The deadlines are class attributes: :func:`protocol_class` makes a subclass carrying them,
    since uvicorn instantiates the protocol class itself.
    """

    header_timeout_s: float = 0.0
    body_timeout_s: float = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._begun = False  # a request's first byte arrived and its headers are not complete

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        # 408 only to a request that has begun and has no response yet (never a second response,
        # e.g. after a 401 that was sent before its body arrived; nothing to a silent connection)
        if (phase == "body" and cycle is not None and not cycle.response_started) or self._begun:
            body = b'{"detail":"request %s not received within %g s"}' % (phase.encode(), self._limit(phase))
            self.transport.write(_408 % (len(body), body))
        self.logger.warning("Closed a connection whose request %s did not arrive within %s s (client %s)",
                            phase, self._limit(phase), self.client)
        self.transport.close()

    def _limit(self, phase: str) -> float:
        return self.body_timeout_s if phase == "body" else self.header_timeout_s

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._deadline is None:  # the first byte of a request after an idle keep-alive wait
            self._arm(self.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._begun = False
        self._arm(self.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()


def protocol_class(header_timeout_s: float, body_timeout_s: float) -> type[DeadlineHttpToolsProtocol]:
    """The protocol class to hand to ``uvicorn.Config(http=...)`` with these deadlines (s)."""
    return type("AuroraHttpProtocol", (DeadlineHttpToolsProtocol,),
                {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s})
