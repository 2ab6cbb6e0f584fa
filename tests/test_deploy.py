"""Deployment files: docker-compose validates (healthchecks, start order), Prometheus configs and
alert rules pass promtool (and the alerts' unit tests), the Grafana provisioning and dashboard
are well formed, and the dashboard only queries metrics the real API exposes."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dask.config
import httpx
import yaml
from conftest import REPO

from aurora.api.process import ServerProcess
from aurora.testing import write_artifact
from aurora.ticks.fanout import CLUSTER_SETTINGS

DEPLOY = REPO / "deploy"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (.ci/run apt-installs it): this test must run, not skip"
    return path


def _cluster_settings(role: str) -> dict[str, Any]:
    """The LocalCluster's settings a hand-started scheduler or worker process needs."""
    own = ("distributed.scheduler.",) if role == "scheduler" else ("distributed.worker.",
                                                                   "distributed.nanny.")
    return {k: v for k, v in CLUSTER_SETTINGS.items() if k.startswith((*own, "distributed.admin."))}


def _dask_settings(environ: dict[str, str], role: str) -> dict[str, Any]:
    """Those settings as Dask reads them from ``environ``'s DASK_* variables."""
    config = dask.config.collect_env(environ)
    return {k: dask.config.get(k, None, config=config) for k in _cluster_settings(role)}


def test_readme_starts_dask_by_hand_with_the_local_cluster_s_settings() -> None:
    text = (REPO / "README.md").read_text()
    for role, command in (("scheduler", "dask scheduler"), ("worker", "dask worker")):
        block = re.search(r"((?:DASK_\w+=(?:\"[^\"]*\"|\S+)\s*\\?\s*)+)" + command, text)
        assert block, f"no `{command}` preceded by its DASK_* variables in the README"
        environ = dict(word.split("=", 1) for word in shlex.split(block.group(1).replace("\\\n", " ")))
        assert _dask_settings(environ, role) == _cluster_settings(role), role


def test_docker_compose_config_is_valid_and_keeps_the_port_contract() -> None:
    out = subprocess.run([tool("docker-compose"), "-f", str(REPO / "docker-compose.yml"), "config"],
                         cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    services = doc["services"]
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == {"api", "calibrate", "runner", "prometheus", "grafana"}
    assert {name for name, svc in services.items() if svc.get("profiles") == ["offline"]} == {"venue"}
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
    assert any("deploy/prometheus/alerts.yml" in m for m in mounted)
    for name, svc in services.items():
        assert svc["healthcheck"]["test"], name
    healthy = {"condition": "service_healthy"}
    for name in ("runner", "calibrate", "prometheus"):
        assert services[name]["depends_on"] == {"api": healthy}, name
    assert services["grafana"]["depends_on"] == {"prometheus": healthy}
    assert services["dask-worker-1"]["depends_on"] == {"dask-scheduler": healthy}
    for name, role in (("dask-scheduler", "scheduler"), ("dask-worker-1", "worker"),
                       ("dask-worker-2", "worker")):
        assert _dask_settings(services[name]["environment"], role) == _cluster_settings(role), name
    # the runner: through the API's gate, /metrics reachable by Prometheus, the venue as its target
    runner = services["runner"]
    assert runner["command"][:2] == ["sh", "-c"] and "auroractl run" in runner["command"][2]
    assert "--metrics" in runner["command"][2]
    assert runner["environment"]["AURORA_RUNNER__AURORA_URL"] == "http://api:8000"
    assert runner["environment"]["AURORA_RUNNER__METRICS_HOST"] == "0.0.0.0"
    assert any("9101" in p for p in ports["runner"]) and "9101/metrics" in str(runner["healthcheck"]["test"])
    assert runner["environment"]["AURORA_VENUE__HOST"] == "venue"
    assert "auroractl venue --host 0.0.0.0 --port 8765" in services["venue"]["command"][2]
    assert services["calibrate"]["healthcheck"]["test"][1:] == [
        "auroractl", "calibrate", "--schedule-check", "--crontab", "none"]
    # the scheduler sleeps until the crontab's next run (one definition of the schedule); its
    # shell script parses
    script = services["calibrate"]["command"][2].replace("$$", "$")
    assert "auroractl calibrate --schedule-next" in script and "auroractl calibrate --scheduled" in script
    syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    # the scrape configs reach the runner where each setup runs it
    for config, target in (("prometheus.yml", "runner:9101"), ("prometheus.local.yml", "127.0.0.1:9101")):
        jobs = yaml.safe_load((DEPLOY / "prometheus" / config).read_text())["scrape_configs"]
        assert [j["static_configs"][0]["targets"] for j in jobs if j["job_name"] == "wisescalp-runner"] == [
            [target]], config


def test_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    rules = DEPLOY / "prometheus"
    out = subprocess.run([tool("promtool"), "check", "rules", str(rules / "alerts.yml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([tool("promtool"), "test", "rules", "alerts.test.yml"], cwd=rules,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = yaml.safe_load((rules / "alerts.yml").read_text())
    alerts = {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {"AuroraDrawdownNearLimit", "AuroraDenyRateSpike", "AuroraGateLatencyHigh",
                      "AuroraModelStale", "AuroraEventLogWriteErrors", "WiseScalpHeartbeatMissing",
                      "WiseScalpFeedLag"}
    tested = yaml.safe_load((rules / "alerts.test.yml").read_text())["tests"]
    fired = {a["alertname"] for t in tested for a in t["alert_rule_test"] if a["exp_alerts"]}
    quiet = {a["alertname"] for t in tested for a in t["alert_rule_test"] if not a["exp_alerts"]}
    assert fired == alerts and quiet == alerts, "each alert needs a firing and a quiet case"


def test_prometheus_configs_pass_promtool() -> None:
    for name in ("prometheus.yml", "prometheus.local.yml"):
        out = subprocess.run([tool("promtool"), "check", "config", str(DEPLOY / "prometheus" / name)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def _dashboards() -> dict[str, dict]:
    paths = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    return {p.name: json.loads(p.read_text()) for p in paths}


def test_runner_dashboard_and_alerts_query_only_metrics_the_runner_exposes() -> None:
    from prometheus_client import generate_latest

    from aurora.runner.metrics import RunnerMetrics

    text = generate_latest(RunnerMetrics().registry).decode()
    exposed = set(re.findall(r"^(wisescalp_[a-z_]+)", text, flags=re.M))
    dash = _dashboards()["wisescalp.json"]
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    wanted = {m for e in exprs for m in re.findall(r"\bwisescalp_[a-z_]+", e)}
    assert wanted <= exposed, f"queries of metrics the runner does not expose: {sorted(wanted - exposed)}"
    # every runner metric is on the dashboard (the _created series are client bookkeeping)
    families = {re.sub(r"_(bucket|count|sum|created|total)$", "", m) for m in exposed}
    shown = {re.sub(r"_(bucket|count|sum|total)$", "", m) for m in wanted}
    assert families <= shown, f"runner metrics missing from wisescalp.json: {sorted(families - shown)}"


def test_grafana_dashboard_queries_only_exposed_metrics(home: Path) -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "aurora.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    wanted = {m for e in exprs for m in re.findall(r"\baurora_[a-z_]+", e)}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
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


def test_grafana_provisioning_and_dashboard_are_well_formed() -> None:
    """Grafana's server cannot run here: check what its provisioning loader and dashboard model
    require (provisioning apiVersion 1; a datasource uid the panels name; a file provider; unique
    panel ids on a 24-column grid; each target a refId and an expr)."""
    prov = DEPLOY / "grafana" / "provisioning"
    sources = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())
    assert sources["apiVersion"] == 1
    uids = {d["uid"] for d in sources["datasources"] if d["type"] == "prometheus" and d["access"] == "proxy"}
    providers = yaml.safe_load((prov / "dashboards" / "aurora.yml").read_text())
    assert providers["apiVersion"] == 1
    assert all(p["type"] == "file" and p["options"]["path"] for p in providers["providers"])
    dashboards = _dashboards()
    assert set(dashboards) == {"aurora.json", "wisescalp.json"}
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)
    for dash in dashboards.values():
        _check_dashboard(dash, uids)


def _check_dashboard(dash: dict, uids: set[str]) -> None:
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36 and "id" not in dash
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        g = p["gridPos"]
        assert p["type"] in {"timeseries", "stat", "gauge", "table"} and p["title"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
        assert p["datasource"]["uid"] in uids, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)) and all(t["expr"].strip() for t in p["targets"])
