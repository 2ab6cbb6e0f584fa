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
loss) is closed off with a newline before the next record, and :func:`read_events` skips
and counts such a line instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import uuid
from collections.abc import Iterator
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


def encode(record: dict[str, Any]) -> bytes:
    """Serialise one record to a newline-terminated JSON line (NaN/inf become null)."""
    return orjson.dumps(record, default=_default, option=_DUMPS_OPTS) + b"\n"


class JsonlSink:
    """An append-only, size-rotated JSONL file shared safely by threads and processes."""

    def __init__(self, path: Path, rotate_bytes: int, rotate_backups: int) -> None:
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes
        self.rotate_backups = rotate_backups
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._fd, self._ino = fd, os.fstat(fd).st_ino
        return fd

    def _current_fd(self) -> int:
        """Our descriptor, reopened if another process rotated the file away from under us."""
        fd = self._fd if self._fd is not None else self._open()
        try:
            if os.stat(self.path).st_ino != self._ino:
                os.close(fd)
                fd = self._open()
        except FileNotFoundError:
            os.close(fd)
            fd = self._open()
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
        os.close(fd)
        return self._open()

    def write(self, line: bytes) -> None:
        """Append one encoded line, rotating first if it would overflow the file."""
        with self._lock:
            fd = self._current_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                fd2 = self._current_fd()
                if fd2 != fd:
                    fcntl.flock(fd2, fcntl.LOCK_EX)
                    fd = fd2
                size = os.fstat(fd).st_size
                if size and size + len(line) > self.rotate_bytes:
                    new_fd = self._rotate(fd)
                    fcntl.flock(new_fd, fcntl.LOCK_EX)
                    fd, size = new_fd, os.fstat(new_fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line
                os.write(fd, line)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


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
        record: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "event": event,
            "service": self.service,
            "run_id": self.run_id,
        }
        clash = record.keys() & fields.keys()
        if clash:
            raise ValueError(f"event fields may not override envelope keys: {sorted(clash)}")
        record.update(fields)
        line = encode(record)
        self._sink(stream).write(line)
        if self.echo:
            sys.stderr.write(line.decode())
        return record

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
