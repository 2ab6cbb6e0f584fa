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
import threading
from typing import Any

from aurora.events import EventLog

#: Most events written by one append (bounds the size of one write).
_BATCH_MAX = 1024


class EventWriter:
    def __init__(self, events: EventLog, flush_s: float) -> None:
        self.events = events
        self.flush_s = flush_s
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aurora-event-writer", daemon=True)
        self._thread.start()

    def emit(self, event: str, /, **fields: Any) -> None:
        """Queue one event for the next batch (returns at once)."""
        self._queue.put((event, fields))

    def _drain(self) -> None:
        while True:
            batch = []
            with contextlib.suppress(queue.Empty):
                while len(batch) < _BATCH_MAX:
                    batch.append(self._queue.get_nowait())
            if not batch:
                return
            self.events.emit_many(batch)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self._drain()
        self._drain()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued, then stop the thread."""
        self._stop.set()
        self._thread.join(timeout_s)
