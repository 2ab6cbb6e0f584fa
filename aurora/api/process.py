"""Run ``auroractl serve`` in a child process on an ephemeral loopback port (demo, tests,
benchmarks).

The child binds port 0 and announces the port in its ``api.listening`` event; this module
waits for that event (matching the child's pid) in the events file of the child's home.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from aurora.config import load_settings
from aurora.events import read_events


class ServerProcess:
    """One API server child process; a context manager that stops it on exit."""

    def __init__(self, home: Path, env: Mapping[str, str] | None = None) -> None:
        self.home = Path(home)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
        self.env.update(env or {})
        self.env["AURORA_HOME"] = str(self.home)
        settings = load_settings(home=self.home, env=self.env)
        self.events_path = settings.path(settings.logging.dir) / "aurora_events.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.stderr_path = self.home / "serve.stderr"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0, port: int = 0) -> ServerProcess:
        """Start the child on ``port`` (0: an ephemeral one; a restart passes the old :attr:`port`)."""
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aurora", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=self.env, cwd=self.home, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.stderr()}")
            port = self._announced_port()
            if port:
                self.port = port
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not announce a port within {timeout_s} s: {self.stderr()}")

    def _announced_port(self) -> int:
        if not self.events_path.exists() or self.proc is None:
            return 0
        for rec in read_events(self.events_path):
            if rec.get("event") == "api.listening" and rec.get("pid") == self.proc.pid:
                return int(rec["port"])
        return 0

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:] if self.stderr_path.exists() else ""

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (the durability tests' crash)."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
