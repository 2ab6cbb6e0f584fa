"""A real Prometheus scrapes a real Aurora API and a real WiseScalp runner on loopback with the
shipped alert rules; promtool checks config and metrics; every PromQL expression of both Grafana
dashboards and of the recording rules returns data, and every alert rule evaluates without error.

The runner replays a synthetic quarter hour through the API's gate over HTTP (so the API's
counters come from real runner traffic too), then lingers with its final metrics (``--linger``)
until Prometheus has scraped them.

Prometheus is a hard requirement of this test (Debian package ``prometheus``): when the binary
is missing the test FAILS rather than skips, so CI cannot pass without having run it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import REPO

from aurora.api.process import ServerProcess
from aurora.testing import write_artifact
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

TOKEN = "prom-token"
DEPLOY = REPO / "deploy"
PRETRADE = {"symbol": "BTCUSDT", "side": "buy", "qty": 1.0, "price": 50000.0, "latency_ms": 10.0,
            "slippage_est_bps": 0.5, "spread_bps": 1.0, "p_tp": 0.7, "e_pi_bps": 1.0, "regime": "normal",
            "sprt_llr": 0.0}


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    assert path, f"{name} is not installed (apt-get install -y prometheus): this test must run, not skip"
    return path


def free_port() -> int:
    # Prometheus binds its own listen address, so the port is picked here; the tiny window
    # between close and Prometheus's bind is harmless on loopback with distinct test workers.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_promtool_accepts_the_shipped_scrape_config() -> None:
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    out = subprocess.run([tool("promtool"), "check", "config", str(config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_real_prometheus_scrapes_the_api_and_the_runner(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_artifact(home / "data" / "artifacts" / "current.json", "v-prom")
    store = TickStore(home / "data" / "ticks")
    synthesize_to_store(store, "binance", "BTCUSDT", 0.25, 5)
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as api:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(f"{api.url}/pretrade/check", json=PRETRADE, headers=auth)
        assert r.status_code == 200
        metrics = httpx.get(f"{api.url}/metrics").text
        lint = subprocess.run([tool("promtool"), "check", "metrics"], input=metrics, capture_output=True,
                              text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        runner_port = free_port()
        runner_out = tmp_path / "runner.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
        env.update({"AURORA_HOME": str(home), "AURORA_API_TOKEN": TOKEN,
                    "AURORA_RUNNER__AURORA_URL": api.url, "AURORA_RUNNER__METRICS_PORT": str(runner_port)})
        with runner_out.open("wb") as out, (tmp_path / "runner.err").open("wb") as err:
            runner = subprocess.Popen(
                [sys.executable, "-m", "aurora", "run", "--mode", "replay", "--symbol", "BTCUSDT",
                 "--minutes", "4", "--metrics", "--linger", "inf", "--json"],
                env=env, cwd=home, stdout=out, stderr=err)
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{DEPLOY / 'prometheus' / 'alerts.yml'}']\n"
            "scrape_configs:\n"
            f"  - job_name: aurora-api\n    static_configs: [{{targets: ['127.0.0.1:{api.port}']}}]\n"
            f"  - job_name: wisescalp-runner\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{runner_port}']}}]\n")
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            summary = _runner_summary(runner, runner_out, tmp_path / "runner.err", time.monotonic() + 180)
            runner_metrics = httpx.get(f"http://127.0.0.1:{runner_port}/metrics").text
            lint = subprocess.run([tool("promtool"), "check", "metrics"], input=runner_metrics,
                                  capture_output=True, text=True)
            assert lint.returncode == 0, lint.stdout + lint.stderr
            assert summary["events"] > 1000 and summary["evaluations"] > 0

            deadline = time.monotonic() + 60
            query = _query(port, prom, tmp_path / "prometheus.log")
            # the runner asked the API's gate over HTTP once per entry intent: the API counted each
            logs = [home / "logs" / f"orders_{name}.jsonl" for name in summary["orders"]]
            entries = [r for log in logs for r in map(json.loads, log.open()) if r["leg"] == "entry"]
            assert entries, "the replay made no entry intent: nothing reached the API's gate"
            want = {"sum(aurora_decisions_total)": 1.0 + len(entries),
                    "sum(wisescalp_orders_total)": float(sum(summary["orders"].values()))}
            while time.monotonic() < deadline and any(query(q) != [v] for q, v in want.items()):
                time.sleep(0.5)
            assert {q: query(q) for q in want} == {q: [v] for q, v in want.items()}
            info = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "aurora_model_info"})
            assert info.json()["data"]["result"][0]["metric"]["version"] == "v-prom"
            targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets").json()["data"]["activeTargets"]
            assert sorted((t["labels"]["job"], t["health"]) for t in targets) == [
                ("aurora-api", "up"), ("wisescalp-runner", "up")]
            # more decisions and reports, so that every rate() has two different samples
            httpx.post(f"{api.url}/pretrade/check", json={**PRETRADE, "e_pi_bps": 9.0}, headers=auth)
            httpx.post(f"{api.url}/posttrade/log", headers=auth, json={
                "client_order_id": "prom-1", "symbol": "BTCUSDT", "side": "sell", "qty": 0.01,
                "price": 50000.0, "fee": 0.1, "realized_pnl": 1.0, "pnl_bps": 2.0, "status": "closed",
                "ts": "2026-01-01T00:00:00Z"}).raise_for_status()
            _assert_every_expression_returns_data(port, deadline=time.monotonic() + 60)
        finally:
            prom.terminate()
            runner.terminate()
            prom.wait(20)
            runner.wait(20)
            log.close()


def _runner_summary(runner: subprocess.Popen, out: Path, err: Path, deadline: float) -> dict:
    """The runner's one-line JSON summary, printed when its replay ends (it then lingers)."""
    while time.monotonic() < deadline:
        assert runner.poll() is None, f"runner exited with {runner.returncode}: {err.read_text()[-3000:]}"
        text = out.read_text()
        if text.endswith("\n"):
            return json.loads(text)
        time.sleep(0.2)
    raise AssertionError(f"the runner's replay did not finish: {err.read_text()[-3000:]}")


def _query(port: int, prom: subprocess.Popen, log: Path) -> Callable[[str], list[float]]:
    """A function: PromQL expression → the values of its instant vector (``[]`` for none yet)."""
    def values(expr: str) -> list[float]:
        assert prom.poll() is None, log.read_text()[-3000:]
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=2)
        except httpx.TransportError:
            return []
        return [float(x["value"][1]) for x in r.json()["data"]["result"]] if r.status_code == 200 else []
    return values


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of every shipped dashboard and every recording rule."""
    exprs = [t["expr"] for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
             for p in json.loads(path.read_text())["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return exprs + [r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r]


def _assert_every_expression_returns_data(port: int, deadline: float) -> None:
    base = f"http://127.0.0.1:{port}/api/v1"
    missing = dashboard_expressions()
    assert len(missing) >= 30 and any("wisescalp_" in e for e in missing)
    while missing and time.monotonic() < deadline:
        missing = [e for e in missing
                   if not httpx.get(f"{base}/query", params={"query": e}).json()["data"]["result"]]
        if missing:
            time.sleep(0.5)
    assert not missing, f"no data from: {missing}"
    groups = httpx.get(f"{base}/rules").json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 13 and all(r["health"] == "ok" for r in rules), [
        (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
