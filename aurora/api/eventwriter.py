"""Decision events written off the request path by one background thread, in batches.

Writing an event costs ~8 µs in a tight loop and more per request in the server (ISO
timestamp, JSON, and the flock/fstat/write/unlock of :class:`aurora.events.JsonlSink`), and
an append can stall for milliseconds while the filesystem journal commits other processes'
writes. An A/B on one uvicorn worker (same machine, same
run; see ``auroractl bench gate``) at concurrency 1 gave, for the pre-trade check:
inline p50 ~156 µs / p99 2.4–5.3 ms; a thread woken per event p50 ~182 µs / p99 ~0.4 ms
(GIL hand-offs on every request); this batching thread p50 ~129 µs / p99 ~0.7 ms; no events
at all p50 ~125 µs. So the request path only puts the fields on a queue (well under a
microsecond, and no thread wake-up), and this thread wakes every ``flush_s`` seconds to hand
whatever is queued to :meth:`EventLog.emit_many`: one lock and one ``write(2)`` per batch
instead of four syscalls per event, and so far fewer GIL hand-offs with the event loop (each
syscall releases the GIL). Server CPU per pre-trade check, server and load generator pinned to
one core each: ~147 µs writing event by event, ~136 µs in one append per batch, ~136 µs with
no events at all. The log's format, rotation and crash safety are those of every event. Each
record carries ``decided_at_s`` (epoch seconds of the decision), since its ``ts`` is when its
batch was written (at most ~``flush_s`` later).
The price: a ``kill -9`` loses the decisions of the last ``flush_s`` (the durable risk state
is committed synchronously and is not affected); a clean shutdown drains the queue.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from aurora.events import EventLog, encode

#: Most events written by one append (bounds the size of one write).
_BATCH_MAX = 1024


class EventWriter:
    """Queue decision events; a thread appends them every ``flush_s`` seconds.

    An append that fails (disk full, log directory gone) does not stop the thread and loses
    nothing at first: the events are written first when an append works again. While appends
    fail, :attr:`failing` is True (Aurora reports itself not ready) and at most ``max_backlog``
    events are kept: the oldest beyond it are dropped and counted. Each failure increments
    ``errors``, each dropped event ``dropped`` (Prometheus counters); the first failure of a
    streak is reported on stderr as a JSON line, the recovery as an event.
    """

    def __init__(self, events: EventLog, flush_s: float, max_backlog: int, errors: Counter,
                 dropped: Counter) -> None:
        self.events = events
        self.flush_s = flush_s
        self.max_backlog = max_backlog
        self.failing = False
        self._errors = errors
        self._dropped = dropped
        self._streak = 0  # failed appends since the last one that worked
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._backlog: deque[tuple[str, dict[str, Any]]] = deque()  # what failed appends left
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aurora-event-writer", daemon=True)
        self._thread.start()

    def emit(self, event: str, /, **fields: Any) -> None:
        """Queue one event for the next batch (returns at once)."""
        self._queue.put((event, fields))

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        """The next batch: the backlog first, then the queue, oldest first."""
        batch = [self._backlog.popleft() for _ in range(min(len(self._backlog), _BATCH_MAX))]
        with contextlib.suppress(queue.Empty):
            while len(batch) < _BATCH_MAX:
                batch.append(self._queue.get_nowait())
        return batch

    def _keep(self, batch: list[tuple[str, dict[str, Any]]], exc: Exception) -> None:
        """A failed batch goes back in front of the backlog, with everything queued behind it;
        beyond ``max_backlog`` the oldest are dropped."""
        self._backlog.extendleft(reversed(batch))
        with contextlib.suppress(queue.Empty):
            while True:
                self._backlog.append(self._queue.get_nowait())
        excess = len(self._backlog) - self.max_backlog
        for _ in range(max(excess, 0)):
            self._backlog.popleft()
        if excess > 0:
            self._dropped.inc(excess)
        self._errors.inc()
        if not self._streak:
            sys.stderr.write(encode({
                "ts": datetime.now(UTC).isoformat(), "event": "events.write_failed",
                "service": self.events.service, "run_id": self.events.run_id,
                "error": f"{type(exc).__name__}: {exc}", "backlog": len(self._backlog)}).decode())
        self._streak += 1
        self.failing = True

    def _drain(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self.events.emit_many(batch)
            except Exception as exc:  # any failed append: keep the events, retry later
                self._keep(batch, exc)
                return
            if self._streak:
                self.events.emit("events.write_recovered", failed_appends=self._streak)
                self._streak = 0
            self.failing = False

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self._drain()
        self._drain()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued (if the log can be written), then stop the thread."""
        self._stop.set()
        self._thread.join(timeout_s)
