"""The Aurora API over real HTTP: ``auroractl serve`` in a child process on an ephemeral port."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aurora.api.process import ServerProcess
from aurora.events import read_events
from aurora.testing import write_artifact

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PRETRADE = {"symbol": "BTCUSDT", "side": "buy", "qty": 1.0, "price": 50000.0, "latency_ms": 10.0,
            "slippage_est_bps": 0.5, "spread_bps": 1.0, "p_tp": 0.7, "e_pi_bps": 1.0, "regime": "normal",
            "sprt_llr": 0.0}


def posttrade(coid: str, status: str = "closed", **kw: object) -> dict:
    return {"client_order_id": coid, "symbol": "BTCUSDT", "side": "sell", "qty": 0.05, "price": 50000.0,
            "fee": 0.0, "realized_pnl": 0.0, "pnl_bps": 0.0, "status": status,
            "ts": "2026-01-01T00:00:00Z", **kw}


def make_home(root: Path, artifact: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if artifact:
        write_artifact(root / "data" / "artifacts" / "current.json", "v1")
    return root


def decision_event(server: ServerProcess, decision_id: str) -> dict:
    """The decision's event (written by a background thread, so it may take a moment)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for r in read_events(server.events_path):
            if r["event"] == "api.decision" and r["decision_id"] == decision_id:
                return r
        time.sleep(0.02)
    raise AssertionError(f"no api.decision event for {decision_id}")


def decision_count(client: httpx.Client) -> float:
    m = client.get("/metrics").text
    return sum(float(m.split(f'aurora_decisions_total{{outcome="{o}"}} ')[1].split()[0])
               for o in ("allow", "deny"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = make_home(tmp_path_factory.mktemp("api") / "home")
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


def test_health_live_and_metrics_are_open(client: httpx.Client) -> None:
    h = client.get("/health")
    assert h.status_code == 200
    body = h.json()
    assert body["ready"] and body["model"]["version"] == "v1" and body["model"]["fresh"]
    assert body["state_store_writable"] and body["kill_switch"] is False
    assert client.get("/health/live").json() == {"live": True}
    m = client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'aurora_decisions_total{outcome="allow"}' in m.text
    assert 'aurora_model_info{created_at=' in m.text and 'version="v1"' in m.text
    assert "aurora_decision_latency_seconds_bucket{le=\"5e-06\"}" in m.text


def test_allowed_check_is_sized_by_hand(client: httpx.Client, server: ServerProcess) -> None:
    # costs (configs/default.yaml): post-only entry 0.9 + market exit 1.8 + slippage 0.5 = 3.2 bps;
    # quarter Kelly 0.0347 and 1 % per-trade risk: 100 USDT at risk / 66 USDT per BTC = 1.515 BTC;
    # max_position_notional 5000 caps at 0.1 BTC; an undecided SPRT halves: 0.05 BTC.
    r = client.post("/pretrade/check", json=PRETRADE, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["allow"] is True and body["reasons"] == [] and body["model_version"] == "v1"
    assert body["max_qty"] == pytest.approx(0.05) and body["cooloff_s"] == 0.0
    event = decision_event(server, body["decision_id"])
    assert event["allow"] is True and event["model_version"] == "v1" and event["reasons"] == []
    assert event["inputs"]["p_tp"] == 0.7 and event["epi_bps_aurora"] == pytest.approx(0.8)  # 7 − 3 − 3.2


def test_denied_check_names_every_failing_gate(client: httpx.Client, server: ServerProcess) -> None:
    body = {**PRETRADE, "latency_ms": 900.0, "spread_bps": 95.0, "e_pi_bps": 9.0, "regime": "wide_spread"}
    r = client.post("/pretrade/check", json=body, headers=AUTH)
    out = r.json()
    assert r.status_code == 200 and out["allow"] is False and out["max_qty"] == 0.0
    assert set(out["reasons"]) == {"LATENCY", "SPREAD", "EPI_MISMATCH", "REGIME"}
    event = decision_event(server, out["decision_id"])
    assert set(event["reasons"]) == set(out["reasons"])
    m = client.get("/metrics").text
    assert 'aurora_decision_reasons_total{reason="REGIME"} 1.0' in m


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": TOKEN}, 401),
    ({"Authorization": f"Basic {TOKEN}"}, 401), (AUTH, 200)])
def test_mutating_routes_need_the_bearer_token(client: httpx.Client, headers: dict, status: int) -> None:
    assert client.post("/pretrade/check", json=PRETRADE, headers=headers).status_code == status
    r = client.post("/posttrade/log", json=posttrade("auth-x", "canceled"), headers=headers)
    assert r.status_code == status
    assert client.post("/admin/reload", headers=headers).status_code == status


BAD = [
    ('{"symbol": "BTCUSDT", "qty": NaN}', "qty"),
    (json.dumps({**PRETRADE, "qty": -1.0}), "qty"),
    (json.dumps({**PRETRADE, "qty": 0}), "qty"),
    (json.dumps({**PRETRADE, "qty": "1.0"}), "qty"),
    (json.dumps({**PRETRADE, "price": True}), "price"),
    (json.dumps({**PRETRADE, "side": "long"}), "side"),
    (json.dumps({**PRETRADE, "regime": "moon"}), "regime"),
    (json.dumps({**PRETRADE, "symbol": "DOGEUSDT"}), "symbol"),
    (json.dumps({**PRETRADE, "p_tp": 1.5}), "p_tp"),
    (json.dumps({**PRETRADE, "p_tp": -0.1}), "p_tp"),
    (json.dumps({**PRETRADE, "extra": 1}), "extra"),
    (json.dumps({**PRETRADE, "ts": "3"}), "ts"),
    (json.dumps({**PRETRADE, "ts": 1767225600}), "ts"),
    (json.dumps({**PRETRADE, "ts": "2026-01-01T00:00:00"}), "ts"),
    (json.dumps({k: v for k, v in PRETRADE.items() if k != "sprt_llr"}), "sprt_llr"),
    (json.dumps(PRETRADE).replace("1.0,", "Infinity,", 1), "qty"),
    (json.dumps(PRETRADE).replace('"sprt_llr": 0.0', '"sprt_llr": -Infinity'), "sprt_llr"),
    ('{"symbol": "BTCUSDT", "side": ', "body"),
    ("[1, 2, 3]", "body"),
    ("", "body"),
]


@pytest.mark.parametrize(("raw", "field"), BAD)
def test_bad_pretrade_input_is_422_naming_the_field_and_changes_nothing(
        client: httpx.Client, raw: str, field: str) -> None:
    before = decision_count(client)
    r = client.post("/pretrade/check", content=raw.encode(),
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d["field"] == field or d["field"].startswith(field) for d in detail), detail
    assert all(set(d) == {"loc", "field", "msg", "type"} for d in detail)  # the input is never echoed
    assert decision_count(client) == before


def test_bad_posttrade_input_is_422_and_changes_nothing(client: httpx.Client) -> None:
    equity = client.get("/metrics").text.split("\naurora_equity ")[1].split("\n")[0]
    for bad, field in [(posttrade("b1", "exploded"), "status"), (posttrade("b2", qty=-1.0), "qty"),
                       (posttrade("", "closed"), "client_order_id"), (posttrade("b3", ts="yesterday"), "ts"),
                       (posttrade("b4", realized_pnl=1e300), "realized_pnl")]:
        r = client.post("/posttrade/log", json=bad, headers=AUTH)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
    raw = json.dumps(posttrade("b5", realized_pnl=1.0)).replace("1.0", "NaN").encode()
    r = client.post("/posttrade/log", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "realized_pnl"
    assert client.get("/metrics").text.split("\naurora_equity ")[1].split("\n")[0] == equity


def test_gate_routes_take_only_post(client: httpx.Client) -> None:
    for path in ("/pretrade/check", "/posttrade/log"):
        r = client.get(path, headers=AUTH)
        assert r.status_code == 405 and r.headers["allow"] == "POST", r.text


def test_oversized_bodies_get_413(client: httpx.Client, server: ServerProcess) -> None:
    big = json.dumps({**PRETRADE, "client_order_id": "x", "pad": "y" * 70000}).encode()
    r = client.post("/pretrade/check", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    # chunked (no Content-Length): counted while reading
    r = client.post("/pretrade/check", content=iter([big[:40000], big[40000:]]),
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    # a lying Content-Length is refused too, on a raw socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /pretrade/check HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n{}")
        assert s.recv(100).startswith(b"HTTP/1.1 413")


def test_posttrade_is_idempotent_by_order_id_and_status(client: httpx.Client) -> None:
    fill = posttrade("idem-1", "filled", fee=0.5, side="buy")
    first = client.post("/posttrade/log", json=fill, headers=AUTH).json()
    again = client.post("/posttrade/log", json=fill, headers=AUTH).json()
    assert first["applied"] is True and again["applied"] is False
    assert again["equity"] == first["equity"]
    close = client.post("/posttrade/log", json=posttrade("idem-1", "closed", realized_pnl=3.0, fee=0.5,
                                                         pnl_bps=12.0), headers=AUTH).json()
    assert close["applied"] and close["equity"] == pytest.approx(first["equity"] + 2.5)
    m = client.get("/metrics").text
    assert 'aurora_posttrade_total{result="duplicate",status="filled"} 1.0' in m


def test_posttrade_joins_its_decision_for_slippage_and_sprt(client: httpx.Client) -> None:
    d = client.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()
    r = client.post("/posttrade/log", json=posttrade("join-1", decision_id=d["decision_id"], pnl_bps=10.0,
                                                      slippage_bps=0.9, latency_ms=20.0), headers=AUTH)
    assert r.status_code == 200
    m = client.get("/metrics").text
    assert 'aurora_slippage_bps_count{kind="estimated"}' in m
    assert 'aurora_slippage_bps_count{kind="realized"}' in m
    assert 'aurora_order_latency_seconds_count{kind="realized"}' in m


def test_openapi_is_complete_with_examples(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path in ("/health", "/health/live", "/metrics", "/pretrade/check", "/posttrade/log",
                 "/admin/kill-switch", "/admin/reload"):
        assert path in paths
    schemas = doc["components"]["schemas"]
    assert schemas["PretradeRequest"]["properties"]["symbol"]["enum"] == ["BTCUSDT", "ETHUSDT"]
    assert set(schemas["PretradeRequest"]["properties"]["regime"]["enum"]) == {"normal", "high_vol",
                                                                                "wide_spread"}
    for name in ("PretradeRequest", "PretradeResponse", "PosttradeRequest", "Health"):
        assert schemas[name].get("examples"), name
    assert set(schemas["PretradeRequest"]["required"]) == {
        "symbol", "side", "qty", "price", "latency_ms", "slippage_est_bps", "spread_bps", "p_tp", "e_pi_bps",
        "regime", "sprt_llr"}
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert paths["/pretrade/check"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/health"]["get"]
    assert "422" in paths["/pretrade/check"]["post"]["responses"]
    reasons = schemas["PretradeResponse"]["properties"]["reasons"]
    assert "SYMBOL_UNKNOWN" in reasons["items"]["enum"] and "`SYMBOL_UNKNOWN`" in reasons["description"]


def test_kill_switch_route_denies_until_released(tmp_path: Path) -> None:
    with ServerProcess(make_home(tmp_path / "home"), {"AURORA_API_TOKEN": TOKEN}) as srv, \
            httpx.Client(base_url=srv.url) as c:
        r = c.post("/admin/kill-switch", json={"engaged": True, "reason": "test"}, headers=AUTH)
        assert r.json() == {"kill_switch": True, "reason": "test"}
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["reasons"] == ["KILL_SWITCH"]
        h = c.get("/health")  # denying on purpose is not a fault: still ready (see Health.ready)
        assert h.status_code == 200 and h.json()["ready"] is True and h.json()["kill_switch"] is True
        assert c.post("/admin/kill-switch", json={"engaged": "no"}, headers=AUTH).status_code == 422
        c.post("/admin/kill-switch", json={"engaged": False}, headers=AUTH)
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["allow"] is True


def test_no_token_refuses_mutations_unless_explicitly_allowed(tmp_path: Path) -> None:
    with ServerProcess(make_home(tmp_path / "a")) as srv, httpx.Client(base_url=srv.url) as c:
        r = c.post("/pretrade/check", json=PRETRADE)
        assert r.status_code == 503 and "AURORA_API_TOKEN" in r.json()["detail"]
        assert c.get("/health").status_code == 200 and c.get("/metrics").status_code == 200
    env = {"AURORA_API__ALLOW_UNAUTHENTICATED": "true"}
    with ServerProcess(make_home(tmp_path / "b"), env) as srv, httpx.Client(base_url=srv.url) as c:
        assert c.post("/pretrade/check", json=PRETRADE).status_code == 200


def test_symbol_the_artifact_does_not_cover_is_denied_with_symbol_unknown(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", artifact=False)
    write_artifact(home / "data" / "artifacts" / "current.json", "btc-only", symbols=("BTCUSDT",))
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as srv, httpx.Client(base_url=srv.url) as c:
        eth = {**PRETRADE, "symbol": "ETHUSDT", "price": 3000.0}
        r = c.post("/pretrade/check", json=eth, headers=AUTH)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["allow"] is False and out["max_qty"] == 0.0 and out["reasons"] == ["SYMBOL_UNKNOWN"]
        assert decision_event(srv, out["decision_id"])["reasons"] == ["SYMBOL_UNKNOWN"]
        # with every other failing gate too
        r = c.post("/pretrade/check", json={**eth, "latency_ms": 900.0}, headers=AUTH)
        assert set(r.json()["reasons"]) == {"SYMBOL_UNKNOWN", "LATENCY"}
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["allow"] is True
        assert 'aurora_decision_reasons_total{reason="SYMBOL_UNKNOWN"} 2.0' in c.get("/metrics").text
        # a symbol without configured exchange filters is bad input, named in a 422
        r = c.post("/pretrade/check", json={**PRETRADE, "symbol": "DOGEUSDT"}, headers=AUTH)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "symbol"


def test_live_mode_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AURORA_")}
    env.update(AURORA_HOME=str(home), AURORA_API__MODE="live")
    out = subprocess.run([sys.executable, "-m", "aurora", "serve", "--port", "0"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "AURORA_API_TOKEN" in out.stderr
    env["AURORA_API__ALLOW_UNAUTHENTICATED"] = "true"
    env["AURORA_API_TOKEN"] = TOKEN
    out = subprocess.run([sys.executable, "-m", "aurora", "serve", "--port", "0"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "allow_unauthenticated" in out.stderr


def test_missing_then_stale_model(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", artifact=False)
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN, "AURORA_API__ARTIFACT_POLL_S": "0.1"}) as srv, \
            httpx.Client(base_url=srv.url) as c:
        h = c.get("/health")
        assert h.status_code == 503 and h.json()["model"]["loaded"] is False
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["reasons"] == ["MODEL_MISSING"]
        old = datetime.now(UTC) - timedelta(days=8)
        write_artifact(home / "data" / "artifacts" / "current.json", "old", created_at=old)
        _wait(lambda: c.get("/health").json()["model"]["version"] == "old")
        h = c.get("/health")
        assert h.status_code == 503 and h.json()["model"]["fresh"] is False
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["reasons"] == ["MODEL_STALE"]


def _wait(cond, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_artifact_hot_reload_without_dropping_requests(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    path = home / "data" / "artifacts" / "current.json"
    env = {"AURORA_API_TOKEN": TOKEN, "AURORA_API__ARTIFACT_POLL_S": "0.05"}
    with ServerProcess(home, env) as srv, httpx.Client(base_url=srv.url) as c:
        statuses: list[int] = []
        versions: set[str] = set()
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=srv.url) as hc:
                while not stop.is_set():
                    r = hc.post("/pretrade/check", json=PRETRADE, headers=AUTH)
                    statuses.append(r.status_code)
                    versions.add(r.json()["model_version"])

        t = threading.Thread(target=hammer)
        t.start()
        try:
            _wait(lambda: len(statuses) > 0)
            for i in range(2, 7):
                write_artifact(path, f"v{i}")
                _wait(lambda i=i: c.get("/health").json()["model"]["version"] == f"v{i}")
        finally:
            stop.set()
            t.join()
        assert statuses and set(statuses) == {200}
        assert {"v1", "v6"} <= versions
        # a broken artifact is refused and the current one stays
        path.write_text('{"schema": "aurora.calibration/1", "sha256": "x"')
        _wait(lambda: c.get("/health").json()["model"]["error"] is not None)
        h = c.get("/health").json()
        assert h["model"]["version"] == "v6" and "not valid JSON" in h["model"]["error"]
        assert 'aurora_artifact_reloads_total{result="error"} 1.0' in c.get("/metrics").text


def test_sighup_and_admin_route_reload(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    path = home / "data" / "artifacts" / "current.json"
    env = {"AURORA_API_TOKEN": TOKEN, "AURORA_API__ARTIFACT_POLL_S": "3600"}
    with ServerProcess(home, env) as srv, httpx.Client(base_url=srv.url) as c:
        write_artifact(path, "by-sighup")
        srv.signal(signal.SIGHUP)
        _wait(lambda: c.get("/health").json()["model"]["version"] == "by-sighup")
        write_artifact(path, "by-admin")
        r = c.post("/admin/reload", headers=AUTH).json()
        assert r == {"reloaded": True, "model_version": "by-admin", "sha256": r["sha256"], "error": None}
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["model_version"] == "by-admin"


def test_a_locked_state_store_fails_closed_with_503_and_applies_nothing(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as srv, \
            httpx.Client(base_url=srv.url, timeout=10.0) as c:
        holder = sqlite3.connect(home / "data" / "state" / "aurora.sqlite", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database past the busy timeout
        try:
            r = c.post("/posttrade/log", json=posttrade("locked-1", realized_pnl=-5.0), headers=AUTH)
            assert r.status_code == 503 and "risk state store unavailable" in r.json()["detail"]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert c.get("/health").json()["drawdown_pct"] == 0.0  # the report was not applied
        r = c.post("/posttrade/log", json=posttrade("locked-1", realized_pnl=-5.0), headers=AUTH)
        assert r.status_code == 200 and r.json()["applied"] is True  # the retry applies it once
