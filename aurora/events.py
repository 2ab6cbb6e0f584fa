"""Structured JSON events: the only way anything in the project logs.

Every record is one JSON object on one line with at least ``ts`` (ISO-8601 UTC, microseconds),
``event`` (dotted type such as ``data.import.skip``), ``service`` and ``run_id``.

Records go to named streams, one JSONL file each under the log directory
(DESIGN.md §8): ``aurora_events`` (everything by default), ``orders_success``,
``orders_failed`` and ``orders_denied``. Files rotate at ``rotate_bytes`` keeping
``rotate_backups`` numbered backups (``.1`` newest).

Crash safety: a record is written with a single ``write(2)`` on an ``O_APPEND`` descriptor
while holding an exclusive ``flock``, so concurrent writers (threads or processes) never
interleave and rotation never loses a record. A file left ending in a partial line (power
loss) is closed off with a newline when the file is next opened, and :func:`read_events` skips
and counts such a line instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from aurora.config import Settings

STREAMS = ("aurora_events", "orders_success", "orders_failed", "orders_denied")
_DUMPS_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus 8 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def _default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _now() -> str:
    """The current time as the envelope's ``ts``: ISO-8601 UTC with microseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode(record: dict[str, Any]) -> bytes:
    """Serialise one record to a newline-terminated JSON line (NaN/inf become null)."""
    return orjson.dumps(record, default=_default, option=_DUMPS_OPTS) + b"\n"


class JsonlSink:
    """An append-only, size-rotated JSONL file shared safely by threads and processes.

    A write costs four syscalls (flock, fstat, write, unlock). Whether another process has
    rotated the file away from under our descriptor is checked with a ``stat`` of the path at
    most every ``recheck_s`` seconds and always before rotating, so a writer that kept an old
    descriptor for that moment appends to the freshly made ``.1`` backup — never lost, never torn.
    """

    def __init__(self, path: Path, rotate_bytes: int, rotate_backups: int, recheck_s: float = 0.5) -> None:
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes
        self.rotate_backups = rotate_backups
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self._checked_at = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        st = os.fstat(fd)
        self._fd, self._ino, self._checked_at = fd, st.st_ino, time.monotonic()
        if st.st_size and os.pread(fd, 1, st.st_size - 1) != b"\n":
            # A previous writer died mid-line (power loss): close that line off so the next
            # record starts on a line of its own. Readers skip the torn one.
            os.write(fd, b"\n")
        return fd

    def _close(self, fd: int) -> None:
        """Close our descriptor and forget it, so a failed reopen never leaves a closed (and
        maybe reused) descriptor number to write to."""
        self._fd = None
        os.close(fd)

    def _moved(self) -> bool:
        """True when the path no longer names the file our descriptor writes to."""
        self._checked_at = time.monotonic()
        try:
            return os.stat(self.path).st_ino != self._ino
        except FileNotFoundError:
            return True

    def _locked_fd(self) -> int:
        """Our descriptor, exclusively locked, reopened first if the file was rotated elsewhere."""
        fd = self._fd if self._fd is not None else self._open()
        if time.monotonic() - self._checked_at > self.recheck_s and self._moved():
            self._close(fd)
            fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _rotate(self, fd: int) -> int:
        for i in range(self.rotate_backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.rotate_backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            os.truncate(self.path, 0)
        self._close(fd)
        return self._open()

    def write(self, line: bytes) -> None:
        """Append one or more encoded lines, rotating first if they would overflow the file."""
        with self._lock:
            fd = self._locked_fd()
            try:
                size = os.fstat(fd).st_size
                if size and size + len(line) > self.rotate_bytes:
                    if self._moved():
                        # Another process rotated already: write to the new file instead.
                        self._close(fd)
                        fd = self._open()
                    else:
                        fd = self._rotate(fd)
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    size = os.fstat(fd).st_size
                    if size and size + len(line) > self.rotate_bytes:
                        fd = self._rotate(fd)
                        fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)
            finally:
                if self._fd is not None:  # None: a reopen failed; nothing of ours is locked
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._close(self._fd)


@dataclass
class EventLog:
    """Emits structured events for one service and run into the JSONL streams under ``log_dir``."""

    service: str
    log_dir: Path
    run_id: str = field(default_factory=new_run_id)
    rotate_bytes: int = 50 * 1024 * 1024
    rotate_backups: int = 5
    echo: bool = False
    _sinks: dict[str, JsonlSink] = field(default_factory=dict, init=False, repr=False)

    def _sink(self, stream: str) -> JsonlSink:
        sink = self._sinks.get(stream)
        if sink is None:
            if stream not in STREAMS:
                raise ValueError(f"unknown event stream {stream!r}; streams are {', '.join(STREAMS)}")
            sink = JsonlSink(self.log_dir / f"{stream}.jsonl", self.rotate_bytes, self.rotate_backups)
            self._sinks[stream] = sink
        return sink

    def emit(self, event: str, /, *, stream: str = "aurora_events", **fields: Any) -> dict[str, Any]:
        """Write one event and return the record. ``fields`` must not reuse the envelope keys."""
        record = self._record(_now(), event, fields)
        self._write(stream, encode(record))
        return record

    def emit_many(self, events: Iterable[tuple[str, Mapping[str, Any]]], /, *,
                  stream: str = "aurora_events") -> int:
        """Write several ``(event, fields)`` with one append (one lock, one ``write(2)``) and return
        how many. They share one ``ts``, the time of writing; each line is a complete record."""
        ts = _now()
        lines = [encode(self._record(ts, event, fields)) for event, fields in events]
        if lines:
            self._write(stream, b"".join(lines))
        return len(lines)

    def _record(self, ts: str, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"ts": ts, "event": event, "service": self.service, "run_id": self.run_id}
        clash = record.keys() & fields.keys()
        if clash:
            raise ValueError(f"event fields may not override envelope keys: {sorted(clash)}")
        record.update(fields)
        return record

    def _write(self, stream: str, data: bytes) -> None:
        self._sink(stream).write(data)
        if self.echo:
            sys.stderr.write(data.decode())

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()


def event_log(settings: Settings, service: str, run_id: str | None = None) -> EventLog:
    """An :class:`EventLog` configured from ``settings.logging``."""
    return EventLog(
        service=service,
        log_dir=settings.path(settings.logging.dir),
        run_id=run_id or new_run_id(),
        rotate_bytes=settings.logging.rotate_bytes,
        rotate_backups=settings.logging.rotate_backups,
        echo=settings.logging.echo,
    )


@dataclass
class ReadStats:
    """What :func:`read_events` skipped: lines that were not one complete JSON object."""

    bad_lines: int = 0


def read_events(path: str | Path, stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records of one JSONL file, skipping (and counting) torn or corrupt lines."""
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                if stats is not None:
                    stats.bad_lines += 1
                continue
            if isinstance(obj, dict):
                yield obj
            elif stats is not None:
                stats.bad_lines += 1
