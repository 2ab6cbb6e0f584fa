"""Deployment files: docker-compose validates, Prometheus configs pass promtool, and the Grafana
dashboard only queries metrics the real API exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml
from conftest import REPO

from aurora.api.process import ServerProcess, write_artifact

DEPLOY = REPO / "deploy"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (.ci/run apt-installs it): this test must run, not skip"
    return path


def test_docker_compose_config_is_valid_and_keeps_the_port_contract() -> None:
    out = subprocess.run([tool("docker-compose"), "-f", str(REPO / "docker-compose.yml"), "config"],
                         cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    services = doc["services"]
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == {"api", "calibrate", "prometheus", "grafana"}
    dask = {name for name, svc in services.items() if svc.get("profiles") == ["dask"]}
    assert dask == {"dask-scheduler", "dask-worker-1", "dask-worker-2"}
    for name in ("dask-worker-1", "dask-worker-2"):
        assert services[name]["command"][:3] == ["dask", "worker", "tcp://dask-scheduler:8786"]
        assert services[name]["volumes"] == services["api"]["volumes"]  # the same store path
    ports = {name: [str(p) for p in svc.get("ports", [])] for name, svc in services.items()}
    assert any("8000" in p for p in ports["api"])
    assert any("9090" in p for p in ports["prometheus"])
    assert any("3000" in p for p in ports["grafana"])
    assert "calibrate" in " ".join(services["calibrate"]["command"])
    for name in ("api", "calibrate"):
        assert services[name]["environment"]["AURORA_HOME"] == "/workspace"
    mounted = [v if isinstance(v, str) else v.get("source", "") for v in services["prometheus"]["volumes"]]
    assert any("deploy/prometheus/prometheus.yml" in m for m in mounted)


def test_prometheus_configs_pass_promtool() -> None:
    for name in ("prometheus.yml", "prometheus.local.yml"):
        out = subprocess.run([tool("promtool"), "check", "config", str(DEPLOY / "prometheus" / name)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_grafana_dashboard_queries_only_exposed_metrics(home: Path) -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "aurora.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    wanted = {m for e in exprs for m in re.findall(r"\baurora_[a-z_]+", e)}
    assert wanted, "dashboard has no aurora_ queries"
    write_artifact(home / "data" / "artifacts" / "current.json", "deploy-test")
    with ServerProcess(home, env={"AURORA_API_TOKEN": "t"}) as server:
        httpx.post(f"{server.url}/pretrade/check", headers={"Authorization": "Bearer t"}, json={
            "symbol": "BTCUSDT", "side": "buy", "qty": 0.01, "price": 50000.0, "latency_ms": 1.0,
            "slippage_est_bps": 0.5, "spread_bps": 1.0, "p_tp": 0.7, "e_pi_bps": 1.0,
            "regime": "normal", "sprt_llr": 0.0}, timeout=5).raise_for_status()
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
    exposed = set(re.findall(r"^(aurora_[a-z_]+)", text, flags=re.M))
    assert wanted <= exposed, f"dashboard queries metrics the API does not expose: {sorted(wanted - exposed)}"
    for name in ("datasources/prometheus.yml", "dashboards/aurora.yml"):
        assert yaml.safe_load((DEPLOY / "grafana" / "provisioning" / name).read_text())["apiVersion"] == 1
