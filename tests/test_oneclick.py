"""``auroractl one-click`` as a user runs it: a subprocess that starts the venue, Aurora and the
runner as its own children, shows progress, stops them on the deadline or a signal, and writes
``run.json`` — and leaves no process and no open order behind, even when it is killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from test_exchange_venue import gateway_settings
from test_runner import PLATT, _artifact, _order_records, _settings
from venue_support import running_venue, static_tape, venue_settings

from aurora.config import Settings, load_settings
from aurora.core.features import NS
from aurora.core.orders import OrderIntent, client_order_id
from aurora.events import event_log, read_events
from aurora.exchange import Gateway
from aurora.ops.progress import Progress, samples
from aurora.runner.live import cancel_open_orders
from aurora.runner.metrics import RunnerMetrics
from aurora.runner.replay import run_replay
from aurora.runner.source import last_quote_ns
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

REPO = Path(__file__).resolve().parent.parent
SYM = "BTCUSDT"
#: Free ports everywhere (tests never use fixed ones).
PORTS = {"api": {"port": 0}, "runner": {"metrics_port": 0, "intent_interval_s": 0.2}, "venue": {"port": 0}}


def _workspace(home: Path, layers: dict) -> None:
    (home / "configs").mkdir(parents=True, exist_ok=True)
    (home / "configs" / "local.yaml").write_text(yaml.safe_dump(layers))


def _live_workspace(home: Path) -> Settings:
    """An artifact and a few stored minutes for the venue to replay at 5x."""
    _workspace(home, {**PORTS, "venue": {"port": 0, "speed": 5.0}})
    settings = load_settings(home=home, env={})
    _artifact(settings.path(settings.api.artifact_path), PLATT, created_at=datetime.now(UTC).isoformat())
    synthesize_to_store(TickStore(settings.path(settings.storage.ticks_dir)), "binance", SYM, 0.05, 5)
    return settings


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen([sys.executable, "-m", "aurora", "--home", str(home), "one-click", *args],
                            cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _run_dir(home: Path) -> Path:
    (d,) = (home / "logs" / "runs").iterdir()
    return d


def _wait_running(home: Path, proc: subprocess.Popen[str], timeout_s: float = 240) -> dict:
    """run.json once the runner serves its metrics (the run is under way)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        runs = home / "logs" / "runs"
        if runs.is_dir() and any(runs.iterdir()):
            d = _run_dir(home)
            events = d / "aurora_events.jsonl"
            if events.exists() and any(e["event"] == "runner.metrics_listening" for e in read_events(events)):
                return json.loads((d / "run.json").read_text())
        time.sleep(0.2)
    raise AssertionError("the run did not start")


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _journal_unresolved(settings: Settings) -> list[str]:
    """Client ids journalled as sent with no outcome recorded."""
    recs = [json.loads(x) for f in settings.path(settings.runner.journal_dir).glob("*.jsonl")
            for x in f.read_text().splitlines()]
    done = {r["cid"] for r in recs if r["op"] == "done"}
    return sorted({r["cid"] for r in recs if r["op"] == "sent"} - done)


@pytest.mark.slow
def test_replay_in_a_fresh_workspace_prepares_data_and_artifact_then_runs(home: Path) -> None:
    # small: 8 synthetic hours with 3 bps barriers label enough hold-out rows for a lowered sample gate
    _workspace(home, {**PORTS, "ops": {"prepare_hours": 8.0}, "calibration": {"min_samples": 100},
                      "labels": {"tp_bps": 3.0, "sl_bps": 3.0},
                      "costs": {"fee_bps": 0.0, "maker_fee_bps": 0.0, "slippage_bps": 0.1}})
    proc = _start(home, "--minutes", "20", "--preflight")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "preparing a synthetic market" in out and "calibrating now" in out and "candidate promoted" in out
    assert "market data" in out and "FAIL" not in out  # the preflight table, after the preparation
    d = _run_dir(home)
    assert d.name.endswith("-replay-BTCUSDT")
    run = json.loads((d / "run.json").read_text())
    cal = json.loads((home / "data" / "artifacts" / "current.json").read_text())
    assert run["mode"] == "replay" and run["symbol"] == SYM and run["minutes"] == 20
    assert run["model_version"] == cal["model_version"] and run["stopped_by"] == "deadline"
    assert run["exit"] == {"api": 0, "runner": 0, "venue": None} and run["finished"] >= run["started"]
    s = run["summary"]
    assert s["events"] > 10_000 and s["evaluations"] > 0 and not s["stopped"]
    # the runner was gated by this Aurora over HTTP, and its logs landed in the run directory
    decided = {e["decision_id"] for e in read_events(d / "aurora_events.jsonl")
               if e["event"] == "api.decision"}
    logged = [r for name in ("success", "denied") if (d / f"orders_{name}.jsonl").exists()
              for r in read_events(d / f"orders_{name}.jsonl") if r["leg"] == "entry"]
    assert logged and all(r["decision_id"] in decided for r in logged)
    assert sum(s["orders"].values()) == sum(1 for n in ("success", "failed", "denied")
                                            if (d / f"orders_{n}.jsonl").exists()
                                            for _ in read_events(d / f"orders_{n}.jsonl"))
    assert "runner:" in out and f"run: {d / 'run.json'}" in out


@pytest.mark.slow
def test_testnet_against_the_local_venue_until_the_deadline(home: Path) -> None:
    settings = _live_workspace(home)
    proc = _start(home, "--mode", "testnet", "--minutes", "0.5", "--preflight")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "exchange clock" in out and "keys generated for this run's local venue" in out
    run = json.loads((_run_dir(home) / "run.json").read_text())
    assert run["exit"] == {"api": 0, "runner": 0, "venue": 0} and run["stopped_by"] == "deadline"
    assert run["summary"]["events"] > 0 and not run["summary"]["stopped"]
    assert all(_gone(pid) for pid in run["pids"].values())
    assert _journal_unresolved(settings) == []


@pytest.mark.slow
def test_sigterm_mid_run_stops_everything_cleanly(home: Path) -> None:
    settings = _live_workspace(home)
    proc = _start(home, "--mode", "testnet", "--minutes", "10")
    pids = _wait_running(home, proc)["pids"]
    assert set(pids) == {"venue", "api", "runner"}
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "SIGTERM received" in out
    d = _run_dir(home)
    run = json.loads((d / "run.json").read_text())
    assert run["stopped_by"] == "signal" and run["exit"] == {"api": 0, "runner": 0, "venue": 0}
    assert run["summary"]["stopped"] is True
    assert all(_gone(pid) for pid in pids.values())
    canceled = [e for e in read_events(d / "aurora_events.jsonl") if e["event"] == "runner.orders_canceled"]
    assert len(canceled) == 1 and _journal_unresolved(settings) == []


@pytest.mark.slow
def test_a_killed_one_click_leaves_no_orphan(home: Path) -> None:
    _live_workspace(home)
    proc = _start(home, "--mode", "shadow", "--minutes", "10")
    pids = _wait_running(home, proc)["pids"]
    proc.kill()
    proc.wait(30)
    end = time.monotonic() + 60  # each child got SIGTERM from the kernel and stops cleanly
    while time.monotonic() < end and not all(_gone(p) for p in pids.values()):
        time.sleep(0.2)
    assert [n for n, p in pids.items() if not _gone(p)] == []


def test_cancel_open_orders_cancels_this_runs_orders_only(settings: Settings) -> None:
    vs = venue_settings(settings)

    async def go() -> tuple[int, list[str]]:
        async with running_venue(vs, static_tape()) as (_, hostport):
            gs = gateway_settings(settings, hostport)
            events = event_log(gs, "runner")
            async with Gateway(gs, symbols=[SYM]) as gw:
                mine = client_order_id("testnet-run-a", SYM, 0, "entry")
                theirs = client_order_id("testnet-run-b", SYM, 0, "entry")
                for cid in (mine, theirs):  # resting bids below the market
                    await gw.create_order(OrderIntent(SYM, "buy", "limit", 0.1, 90.0, "GTC", cid, "entry"))
                n = await cancel_open_orders(gw, SYM, "testnet-run-a", events)
                left = [o.client_order_id for o in await gw.open_orders(SYM)]
            return n, left

    n, left = asyncio.run(go())
    assert n == 1 and left == [client_order_id("testnet-run-b", SYM, 0, "entry")]


def test_bad_arguments_name_the_fix(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aurora.cli import main

    assert main(["--home", str(home), "one-click", "--minutes", "0"]) == 2
    assert "--minutes must be a positive number, got 0.0" in capsys.readouterr().err
    assert main(["--home", str(home), "one-click", "--symbol", "DOGEUSDT"]) == 2
    assert "add it in configs/local.yaml" in capsys.readouterr().err
    assert not (home / "logs" / "runs").exists()  # nothing started


def test_a_stopped_replay_finishes_cleanly_and_its_progress_is_in_the_metrics(tmp_path: Path) -> None:
    """The stop a signal sets ends the replay at the next heartbeat: the position is closed, every
    intent is logged once, and the progress gauges agree with the summary."""
    settings = _settings(tmp_path / "home")
    store = TickStore(tmp_path / "ticks")
    synthesize_to_store(store, "binance", SYM, 0.25, 11)
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(store, "binance", SYM) + 1
    stop, metrics = threading.Event(), RunnerMetrics()
    evaluations = []

    def on_evaluation(ev: object) -> None:  # a "signal" after the 40th decision
        evaluations.append(ev)
        if len(evaluations) == 40:
            stop.set()

    events = event_log(settings, "runner")
    res = run_replay(settings, cal, store, SYM, start_ns=end - 10 * 60 * NS, end_ns=end, events=events,
                     on_evaluation=on_evaluation, metrics=metrics, stop=stop)
    events.close()
    s = res.summary
    assert res.stopped and 40 <= s.evaluations < 60  # stopped within one heartbeat (256 events)
    recs = _order_records(settings.path(settings.logging.dir))
    assert sum(len(v) for v in recs.values()) == sum(res.orders.values())
    entries = sum(1 for r in recs["orders_success"] if r["leg"] == "entry")
    assert entries == sum(1 for r in recs["orders_success"] if r["leg"] == "exit")  # nothing left open
    reading = samples(generate_latest(metrics.registry).decode())
    assert reading["wisescalp_events_total"] == s.events
    assert reading["wisescalp_decisions_total"] == s.evaluations
    assert reading["wisescalp_realized_pnl_quote"] == s.pnl_quote
    assert reading["wisescalp_equity_quote"] == res.equity
    progress = Progress.read(reading, {})
    assert progress.orders["success"] == len(recs["orders_success"]) and progress.drawdown_pct >= 0
    assert f"events {s.events:,}" in progress.line(1.0)
