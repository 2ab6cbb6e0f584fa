"""Run ``auroractl serve`` in a child process on an ephemeral loopback port (tests, benchmarks),
with a small valid artifact to serve (:func:`write_artifact`).

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aurora.artifact import SCHEMA, build_document, feature_params_document, save_artifact
from aurora.config import PACKAGED_DEFAULTS, load_settings
from aurora.core.features import FeatureParams
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

    def start(self, timeout_s: float = 30.0) -> ServerProcess:
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aurora", "serve", "--host", "127.0.0.1", "--port", "0"],
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


def write_artifact(path: Path, version: str, *, created_at: datetime | None = None, tp_bps: float = 10.0,
                   sl_bps: float = 10.0, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
                   feature_params: FeatureParams | None = None,
                   microprice: dict[str, Any] | None = None) -> Path:
    """Save a small valid calibration artifact (one linear feature, Platt map) for a scratch home;
    its feature parameters are ``feature_params``, by default the shipped ones with a 0.01 tick."""
    if feature_params is None:
        shipped = load_settings(home=PACKAGED_DEFAULTS.parent.parent, env={})
        feature_params = FeatureParams.from_settings(shipped.features, 0.01)
    body = {
        "schema": SCHEMA, "created_at": (created_at or datetime.now(UTC)).isoformat(),
        "model_version": version,
        "symbols": list(symbols), "features": ["obi_l1"],
        "score_model": {"kind": "linear", "weights": {"obi_l1": 1.0}, "intercept": 0.0},
        "calibrator": {"kind": "platt", "a": 1.0, "b": 0.0},
        "feature_params": feature_params_document(feature_params), "microprice": microprice,
        "barriers": {"tp_bps": tp_bps, "sl_bps": sl_bps, "horizon_s": 30.0},
        "costs": {"fee_bps": 1.0, "slippage_bps": 0.5},
        "metrics": {"ece": 0.01, "brier": 0.2, "brier_base": 0.25, "auc": 0.6, "n_train": 1000,
                    "n_test": 500},
        "data": {"rows": 1500, "start": "2026-01-01", "end": "2026-01-02", "sha256": "0" * 64},
    }
    return save_artifact(build_document(body), path)
