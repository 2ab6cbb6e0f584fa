"""A real Prometheus scrapes a real Aurora API on loopback; promtool checks config and metrics.

Prometheus is a hard requirement of this test (Debian package ``prometheus``): when the binary
is missing the test FAILS rather than skips, so CI cannot pass without having run it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO

from aurora.api.process import ServerProcess
from aurora.testing import write_artifact

TOKEN = "prom-token"
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
        r = httpx.post(f"{api.url}/pretrade/check", json=PRETRADE,
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        metrics = httpx.get(f"{api.url}/metrics").text
        lint = subprocess.run([tool("promtool"), "check", "metrics"], input=metrics, capture_output=True,
                              text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
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
        finally:
            prom.terminate()
            prom.wait(20)
            log.close()
