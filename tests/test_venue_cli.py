"""``auroractl venue`` as a user runs it: a subprocess on an ephemeral port, a readiness line, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aurora.cli import main
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

REPO = Path(__file__).resolve().parent.parent


def _readline(proc: subprocess.Popen[str], deadline_s: float) -> str:
    """The first stdout line, waiting at most ``deadline_s`` (the process prints it once it listens)."""
    import selectors

    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if sel.select(timeout=0.2):
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    raise AssertionError(f"no readiness line; exit code {proc.poll()}, stderr: "
                         f"{proc.stderr.read() if proc.stderr and proc.poll() is not None else ''}")


def test_venue_replays_a_stored_day_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = home / "data" / "ticks"
    # a calm market: the synthetic depth is redrawn around the quotes once a second, and real-sized
    # moves would leave the venue's book with fewer levels than the query asks for in between
    calm = SynthParams.for_symbol("BTCUSDT", move_prob=0.005, wide_spread_frac=0.0)
    synthesize_to_store(TickStore(store), "binance", "BTCUSDT", 0.02, 5, datetime(2024, 3, 1, tzinfo=UTC),
                        params=calm)
    env = {**os.environ, "AURORA_HOME": str(home), "AURORA_BINANCE_API_KEY": "cli-key",
           "AURORA_BINANCE_API_SECRET": "cli-secret", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "aurora", "venue", "--symbol", "BTCUSDT", "--port", "0",
                             "--date", "2024-03-01", "--speed", "5"],
                            cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _readline(proc, 120)
        assert line.startswith("venue ready: rest http://127.0.0.1:") and "2024-03-01" in line
        rest = line.split()[3]
        with urllib.request.urlopen(f"{rest}/depth?symbol=BTCUSDT&limit=5", timeout=10) as r:
            depth = json.load(r)
        assert depth["lastUpdateId"] > 0 and len(depth["bids"]) == 5
        assert float(depth["bids"][0][0]) < float(depth["asks"][0][0])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "venue stopped" in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [json.loads(x) for x in (home / "logs" / "aurora_events.jsonl").read_text().splitlines()]
    venue_events = [e["event"] for e in events if e["event"].startswith("venue.")]
    assert venue_events == ["venue.listening", "venue.stopped"]


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["--symbol", "DOGEUSDT"], {"AURORA_BINANCE_API_KEY": "k", "AURORA_BINANCE_API_SECRET": "s"},
     "not in the symbols: config"),
    (["--symbol", "BTCUSDT"], {}, "AURORA_BINANCE_API_KEY"),
    (["--symbol", "BTCUSDT", "--date", "2020-01-01"],
     {"AURORA_BINANCE_API_KEY": "k", "AURORA_BINANCE_API_SECRET": "s"}, "stored days: 2024-03-01"),
    (["--symbol", "BTCUSDT", "--faults", "missing.yaml"],
     {"AURORA_BINANCE_API_KEY": "k", "AURORA_BINANCE_API_SECRET": "s"}, "cannot read faults file"),
])
def test_venue_refuses_bad_arguments_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], argv: list[str],
                                                 env: dict[str, str], message: str) -> None:
    home = tmp_path / "home"
    synthesize_to_store(TickStore(home / "data" / "ticks"), "binance", "BTCUSDT", 0.01, 5,
                        datetime(2024, 3, 1, tzinfo=UTC))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["--home", str(home), "venue", "--port", "0", *argv]) == 2
    assert message in capsys.readouterr().err
