"""Decision events written off the request path, in batches, with a bound on what a crash loses.

Writing each event as it happens costs the request path its ISO timestamp, JSON and four
syscalls (flock, fstat, write, unlock), and an append can stall for milliseconds while the
filesystem journal commits other processes' writes; so ``emit`` only queues the fields (with
their monotonic time) and the events are appended in batches by :meth:`EventLog.emit_many`:
one lock and one ``write(2)`` per batch. Each record carries ``decided_at_s`` (epoch seconds of
the decision), since its ``ts`` is when its batch was written.

The bound (contract: what a ``kill -9`` may lose): no request is acknowledged while an event
queued ``flush_s`` or more before it is still unwritten. Two writers share one lock:

- under load, ``emit`` itself (on the event loop, before the response is sent) writes the
  queue when its oldest event, or the batch the thread is writing, is ``flush_s`` old;
- when requests stop, a background thread writes what is queued every ``flush_s``.

So a ``kill -9`` loses at most the events of the last ``flush_s`` before the last acknowledged
request (written by ``write(2)``, an event survives the process). A thread alone could not hold
that bound: under ~4 k req/s it waited for the GIL at each of its syscalls (up to the 5 ms
switch interval each) and a ``kill -9`` lost 27 ms of acknowledged decisions at ``flush_s`` =
5 ms. The durable risk state is committed synchronously and is not affected; a clean shutdown
drains the queue.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from aurora.events import EventLog, encode

#: Most events written by one append (bounds the size of one write).
_BATCH_MAX = 1024


class EventWriter:
    """Queue decision events; they are appended within ``flush_s`` seconds (see the module doc).

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
        # (monotonic s, event, fields); deque append/popleft are atomic, so emit takes no lock
        self._queue: deque[tuple[float, str, dict[str, Any]]] = deque()
        self._backlog: deque[tuple[str, dict[str, Any]]] = deque()  # what failed appends left
        self._lock = threading.Lock()  # one writer at a time: the event loop or the thread
        self._inflight_since: float | None = None  # queue time of the oldest event being written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aurora-event-writer", daemon=True)
        self._thread.start()

    def emit(self, event: str, /, **fields: Any) -> None:
        """Queue one event; write the queue first if an unwritten event is ``flush_s`` old."""
        now = time.monotonic()
        queue = self._queue
        queue.append((now, event, fields))
        try:  # the queue first: the thread marks its batch in flight before taking it
            oldest = queue[0][0]
        except IndexError:  # the thread took everything in between
            oldest = now
        inflight = self._inflight_since
        if inflight is not None and inflight < oldest:
            oldest = inflight
        if now - oldest >= self.flush_s and not self.failing:
            self._drain()

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        """The next batch: the backlog first, then the queue, oldest first."""
        batch = [self._backlog.popleft() for _ in range(min(len(self._backlog), _BATCH_MAX))]
        queue = self._queue
        if queue:
            self._inflight_since = queue[0][0]  # before taking, so emit never misses its age
        while queue and len(batch) < _BATCH_MAX:
            _, event, fields = queue.popleft()
            batch.append((event, fields))
        return batch

    def _keep(self, batch: list[tuple[str, dict[str, Any]]], exc: Exception) -> None:
        """A failed batch goes back in front of the backlog, with everything queued behind it;
        beyond ``max_backlog`` the oldest are dropped."""
        self._backlog.extendleft(reversed(batch))
        while self._queue:
            self._backlog.append(self._queue.popleft()[1:])
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
        with self._lock:
            try:
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
            finally:
                self._inflight_since = None

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self._drain()
        self._drain()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write everything queued (if the log can be written), then stop the thread."""
        self._stop.set()
        self._thread.join(timeout_s)
