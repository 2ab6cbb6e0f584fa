"""One calibration run at a time: an OS file lock (``filelock``) under the runs directory.

The lock is an ``flock`` on ``{runs_dir}/.calibrate.lock``: the kernel releases it when the
holding process exits, even on ``kill -9``, so a crashed run never leaves a stale lock. A sidecar
``.calibrate.lock.json`` names the holder (run id, pid, start time) for the refusal message.
A second run waits up to ``wait_s`` seconds (``calibration.lock_wait_s``; 0 refuses at once) and
is then refused with :class:`PipelineLockedError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from aurora.fileio import atomic_write_bytes

LOCK_NAME = ".calibrate.lock"


class PipelineLockedError(RuntimeError):
    """Another calibration run holds the lock."""


def _holder(info_path: Path) -> str:
    try:
        info = json.loads(info_path.read_text())
        return f"run {info['run_id']} (pid {info['pid']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def run_lock(runs_dir: Path, run_id: str, wait_s: float) -> Iterator[Path]:
    """Hold the calibration lock for the duration of the block; yields the lock path."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = runs_dir / LOCK_NAME
    info_path = runs_dir / (LOCK_NAME + ".json")
    lock = FileLock(str(path), timeout=wait_s, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise PipelineLockedError(f"a calibration is already running: {_holder(info_path)} holds {path}; "
                             f"waited {wait_s:g} s (calibration.lock_wait_s)") from None
    try:
        # readers never see a half-written holder record
        atomic_write_bytes(json.dumps({"run_id": run_id, "pid": os.getpid(),
                                       "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode(),
                           info_path)
        yield path
    finally:
        info_path.unlink(missing_ok=True)
        lock.release()
