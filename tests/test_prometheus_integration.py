"""A real Prometheus scrapes a real Aurora API on loopback with the shipped alert rules; promtool
checks config and metrics; every PromQL expression of the Aurora dashboard and of the recording
rules that reads aurora_* metrics returns data, and every alert rule evaluates without error.

Prometheus is a hard requirement of this test (Debian package ``prometheus``): when the binary
is missing the test FAILS rather than skips, so CI cannot pass without having run it.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import REPO

from aurora.api.process import ServerProcess
from aurora.testing import write_artifact

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
def test_real_prometheus_scrapes_the_api(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_artifact(home / "data" / "artifacts" / "current.json", "v-prom")
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as api:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(f"{api.url}/pretrade/check", json=PRETRADE, headers=auth)
        assert r.status_code == 200
        metrics = httpx.get(f"{api.url}/metrics").text
        lint = subprocess.run([tool("promtool"), "check", "metrics"], input=metrics, capture_output=True,
                              text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{DEPLOY / 'prometheus' / 'alerts.yml'}']\n"
            "scrape_configs:\n"
            f"  - job_name: aurora-api\n    static_configs: [{{targets: ['127.0.0.1:{api.port}']}}]\n")
        port = free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            found: list = []
            while time.monotonic() < deadline and not found:
                time.sleep(0.5)
                assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
                try:
                    q = httpx.get(f"http://127.0.0.1:{port}/api/v1/query",
                                  params={"query": 'aurora_decisions_total{outcome="allow"}'}, timeout=2)
                except httpx.TransportError:
                    continue
                found = q.json()["data"]["result"] if q.status_code == 200 else []
            assert found, "Prometheus never scraped aurora_decisions_total"
            assert found[0]["metric"]["job"] == "aurora-api" and float(found[0]["value"][1]) == 1.0
            info = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "aurora_model_info"})
            assert info.json()["data"]["result"][0]["metric"]["version"] == "v-prom"
            targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets").json()["data"]["activeTargets"]
            assert [t["health"] for t in targets] == ["up"]
            # more decisions and reports, so that every rate() has two different samples
            httpx.post(f"{api.url}/pretrade/check", json={**PRETRADE, "e_pi_bps": 9.0}, headers=auth)
            httpx.post(f"{api.url}/posttrade/log", headers=auth, json={
                "client_order_id": "prom-1", "symbol": "BTCUSDT", "side": "sell", "qty": 0.01,
                "price": 50000.0, "fee": 0.1, "realized_pnl": 1.0, "pnl_bps": 2.0, "status": "closed",
                "ts": "2026-01-01T00:00:00Z"}).raise_for_status()
            _assert_every_expression_returns_data(port, deadline=time.monotonic() + 60)
        finally:
            prom.terminate()
            prom.wait(20)
            log.close()


def aurora_expressions() -> list[str]:
    """The dashboard's and the recording rules' PromQL expressions that read aurora_* metrics."""
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "aurora.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r]
    return [e for e in exprs if re.search(r"\baurora[_:]", e)]


def _assert_every_expression_returns_data(port: int, deadline: float) -> None:
    base = f"http://127.0.0.1:{port}/api/v1"
    missing = aurora_expressions()
    assert len(missing) >= 15
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
