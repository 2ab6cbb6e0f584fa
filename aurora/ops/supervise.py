"""Child processes of a one-click run: started in their own process group (a Ctrl-C at the terminal
reaches only the supervisor, which stops them in order), told by the kernel to stop when the
supervisor dies (Linux ``PR_SET_PDEATHSIG``: SIGTERM, so even a ``kill -9`` of the supervisor
leaves no orphan), ready when they announce it in the run's event log, stopped with SIGTERM to
the whole group and SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aurora.events import read_events

_PR_SET_PDEATHSIG = 1
#: Seconds between looks at the event log while waiting for a readiness event.
_POLL_S = 0.05


class ChildError(RuntimeError):
    """A child process failed to start or to announce readiness; the message quotes its stderr."""


def _die_with(parent: int) -> Callable[[], None]:
    """``preexec_fn`` of a child: SIGTERM when ``parent`` dies (Linux), at once if it already has."""
    def pre() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
    return pre


class Child:
    """One ``python -m aurora ...`` child. Its stdout and stderr go to ``<name>.stdout`` and
    ``<name>.stderr`` in ``out_dir``; its readiness is an event in ``events_path``."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], *, cwd: Path, out_dir: Path,
                 events_path: Path) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", "aurora", *argv]
        self.env = dict(env)
        self.cwd = cwd
        self.stdout_path = out_dir / f"{name}.stdout"
        self.stderr_path = out_dir / f"{name}.stderr"
        self.events_path = events_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> Child:
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True,
                                         preexec_fn=_die_with(os.getpid()))  # noqa: PLW1509 (no threads yet)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_event(self, event: str, timeout_s: float, interrupted: Callable[[], bool] = lambda: False,
                   **match: Any) -> dict[str, Any]:
        """The first ``event`` in the event log whose fields include ``match`` (written once the child
        is ready); raises :class:`ChildError` if the child exits or ``timeout_s`` passes first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not interrupted():
            if self.events_path.exists():
                for rec in read_events(self.events_path):
                    if rec.get("event") == event and all(rec.get(k) == v for k, v in match.items()):
                        return rec
            if not self.alive():
                raise ChildError(f"{self.name} exited with {self.exit_code()} before it was ready:\n"
                                 f"{self.stderr_tail()}")
            time.sleep(_POLL_S)
        if interrupted():
            raise ChildError(f"{self.name}: start interrupted")
        raise ChildError(f"{self.name} did not announce {event} within {timeout_s:g} s (ops.ready_timeout_s)"
                         + ("" if not self.alive() else f"; its stderr so far:\n{self.stderr_tail()}"))

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stderr_tail(self, chars: int = 3000) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return text[-chars:].rstrip() or "(nothing on stderr)"

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM to the child's process group, then SIGKILL after ``timeout_s``; its exit code
        (negative: the signal that ended it)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        _signal_group(self.proc.pid, signal.SIGKILL)  # anything the child left behind in its group
        return self.proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
