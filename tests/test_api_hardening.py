"""The API under hostile or careless clients, over real HTTP (``auroractl serve`` child processes):
slow and idle connections, the concurrency limit, money bounds and the operator's correction,
conflicting and duplicate-key reports, 401 before parsing, no paths in open answers, quiet
client disconnects, Aurora's own E[Π] in every answer, costs mismatches and the start summary."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aurora.api.process import ServerProcess
from aurora.events import read_events
from tests.test_api import AUTH, PRETRADE, TOKEN, make_home, posttrade

TIMEOUTS = {"AURORA_API__HEADER_TIMEOUT_S": "1", "AURORA_API__BODY_TIMEOUT_S": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = make_home(tmp_path_factory.mktemp("hardening") / "home")
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN, **TIMEOUTS}) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


def _equity(client: httpx.Client) -> float:
    return float(client.get("/metrics").text.split("\naurora_equity ")[1].split("\n")[0])


def _read_until_closed(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``timeout_s``)."""
    sock.settimeout(timeout_s)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _events(server: ServerProcess, name: str) -> list[dict]:
    return [r for r in read_events(server.events_path) if r["event"] == name]


def test_a_client_that_announces_a_body_and_sends_two_bytes_gets_408_and_is_closed(
        server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /pretrade/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"")
        t0 = time.monotonic()
        answer = _read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 408") and b"body not received within 1 s" in answer
    assert time.monotonic() - t0 < 9  # reaped by the 1 s deadline, not by the test's own timeout


def test_half_sent_headers_get_408_and_a_silent_connection_is_closed(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert _read_until_closed(s).startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        assert _read_until_closed(s) == b""  # closed without a word
    warnings = [r["message"] for r in _events(server, "uvicorn.warning")]
    assert any("did not arrive within 1" in m for m in warnings), warnings


def test_a_client_leaving_mid_body_is_not_a_server_error(server: ServerProcess, client: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /posttrade/log HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 300\r\n\r\n{\"cl")
    assert client.post("/pretrade/check", json=PRETRADE, headers=AUTH).status_code == 200
    assert client.get("/health").status_code == 200
    assert not _events(server, "uvicorn.error")
    assert "Traceback" not in server.stderr() and "ClientDisconnect" not in server.stderr()


def test_concurrency_limit_answers_503_beyond_it(tmp_path: Path) -> None:
    env = {"AURORA_API_TOKEN": TOKEN, "AURORA_API__MAX_CONCURRENCY": "4",
           "AURORA_API__HEADER_TIMEOUT_S": "60"}
    with ServerProcess(make_home(tmp_path / "home"), env) as srv:
        with httpx.Client(base_url=srv.url) as c:
            assert c.get("/health/live").status_code == 200
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
        try:
            with httpx.Client(base_url=srv.url) as c:
                assert c.get("/health/live").status_code == 503
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 10
        while True:  # the server notices the closed connections on its next loop iterations
            with httpx.Client(base_url=srv.url) as c:
                if c.get("/health/live").status_code == 200:
                    break
            assert time.monotonic() < deadline, "the slots were not freed"


def test_money_fields_are_bounded_by_equity_and_notional(client: httpx.Client) -> None:
    before = _equity(client)
    for bad, field, bound in [
            (posttrade("m-1", realized_pnl=-1e12), "realized_pnl", "max_pnl_equity_ratio"),
            (posttrade("m-2", realized_pnl=-2600.0), "realized_pnl", "max_pnl_notional_ratio"),  # 0.05 BTC
            (posttrade("m-3", fee=30.0), "fee", "max_fee_notional_ratio"),
            (posttrade("m-4", "canceled", qty=0.0, realized_pnl=5.0), "realized_pnl", "qty*price 0")]:
        r = client.post("/posttrade/log", json=bad, headers=AUTH)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail[0]["field"] == field and bound in detail[0]["msg"], detail
    assert _equity(client) == before
    # the refused reports were not logged: sent again within bounds, they apply
    assert client.post("/posttrade/log", json=posttrade("m-1", realized_pnl=-1.0),
                       headers=AUTH).json()["applied"] is True
    assert 'aurora_posttrade_total{result="refused",status="closed"} 3.0' in client.get("/metrics").text


def test_an_operator_corrects_a_bad_report_and_it_is_audited(tmp_path: Path) -> None:
    with ServerProcess(make_home(tmp_path / "home"), {"AURORA_API_TOKEN": TOKEN}) as srv, \
            httpx.Client(base_url=srv.url) as c:
        # within bounds (0.1 BTC at 50000: notional 5000; half of equity 10000) but wrong: a breach
        bad = posttrade("bad-1", qty=0.1, realized_pnl=-4000.0)
        assert c.post("/posttrade/log", json=bad, headers=AUTH).json()["drawdown_pct"] == pytest.approx(40.0)
        assert "DAILY_DD" in c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["reasons"]
        fix = {"equity": 10000.0, "reason": "bad-1 was reported in cents", "client_order_id": "bad-1"}
        assert c.post("/admin/equity", json=fix).status_code == 401
        r = c.post("/admin/equity", json=fix, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json() == {"equity": 10000.0, "daily_pnl": 0.0, "drawdown_pct": 0.0, "dd_breached": False,
                            "cooloff_s": 0.0}
        assert c.post("/pretrade/check", json=PRETRADE, headers=AUTH).json()["allow"] is True
        audit = _events(srv, "api.admin.equity_corrected")
        assert len(audit) == 1 and audit[0]["reason"] == fix["reason"]
        assert audit[0]["client_order_id"] == "bad-1"
        assert audit[0]["equity_before"] == 6000.0 and audit[0]["equity_after"] == 10000.0
        assert audit[0]["dd_breached_before"] is True and audit[0]["dd_breached_after"] is False
    with ServerProcess(srv.home, {"AURORA_API_TOKEN": TOKEN}) as srv2, httpx.Client(base_url=srv2.url) as c:
        assert _equity(c) == 10000.0  # durable


def test_same_key_with_another_payload_is_409_naming_the_difference(
        client: httpx.Client, server: ServerProcess) -> None:
    first = posttrade("conf-1", realized_pnl=2.0)
    assert client.post("/posttrade/log", json=first, headers=AUTH).json()["applied"] is True
    # the same report again (a retry, ts spelled differently) is a duplicate, not a conflict
    retry = {**first, "ts": "2026-01-01T00:00:00+00:00"}
    assert client.post("/posttrade/log", json=retry, headers=AUTH).json()["applied"] is False
    equity = _equity(client)
    r = client.post("/posttrade/log", json={**first, "realized_pnl": 20.0, "price": 50001.0}, headers=AUTH)
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail["differences"] == {"price": {"logged": 50000.0, "received": 50001.0},
                                     "realized_pnl": {"logged": 2.0, "received": 20.0}}
    assert "conf-1" in detail["msg"] and _equity(client) == equity
    logged = _events(server, "api.posttrade.conflict")
    assert logged and logged[-1]["differences"] == detail["differences"]


@pytest.mark.parametrize(("path", "raw"), [
    ("/pretrade/check", json.dumps(PRETRADE)[:-1] + ', "qty": 100.0}'),
    ("/posttrade/log", json.dumps(posttrade("dup-1"))[:-1] + ',\n  "realized_pnl" : -5.0}'),
    ("/admin/kill-switch", '{"engaged": false, "engaged": true}'),
    ("/pretrade/check", json.dumps(PRETRADE)[:-1] + ', "\\u0071ty": 100.0}'),  # "qty", escaped
])
def test_duplicate_json_keys_are_422(client: httpx.Client, path: str, raw: str) -> None:
    r = client.post(path, content=raw.encode(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] == "duplicate_key"
    assert client.get("/health").json()["kill_switch"] is False


def test_admin_checks_the_token_before_parsing_the_body(client: httpx.Client) -> None:
    for path in ("/admin/kill-switch", "/admin/equity", "/admin/reload"):
        r = client.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 401, (path, r.text)


def test_deny_answers_carry_both_expected_returns(client: httpx.Client) -> None:
    r = client.post("/pretrade/check", json={**PRETRADE, "e_pi_bps": 9.0}, headers=AUTH).json()
    assert r["allow"] is False and r["reasons"] == ["EPI_MISMATCH"]
    # p 0.7, TP = SL = 10 bps, round trip (configs/default.yaml) post-only entry 0.9 + market exit 1.8
    # + slippage 0.5 = 3.2 bps: 7 - 3 - 3.2 = 0.8 bps
    assert r["e_pi_bps"] == 9.0 and r["e_pi_bps_aurora"] == pytest.approx(0.8)


def test_health_shows_no_absolute_path_after_a_failed_reload(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    with ServerProcess(home, {"AURORA_API_TOKEN": TOKEN}) as srv, httpx.Client(base_url=srv.url) as c:
        (home / "data" / "artifacts" / "current.json").write_text("{not json")
        assert c.post("/admin/reload", headers=AUTH).json()["reloaded"] is False
        h = c.get("/health")
        error = h.json()["model"]["error"]
        assert "data/artifacts/current.json" in error and "not valid JSON" in error
        assert str(tmp_path) not in h.text and '"/' not in h.text and " /" not in h.text
        assert h.json()["ready"] is True  # the previous model is still served


def _serve_summary(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start ``auroractl serve`` and return it with the three lines it prints on start."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}, "AURORA_HOME": str(home),
           **env}
    proc = subprocess.Popen([sys.executable, "-m", "aurora", "serve", "--port", "0"], env=env, cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + 60
    while out.count(b"\n") < 3 and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            out += os.read(proc.stdout.fileno(), 4096)
    return proc, out.decode().splitlines()


def test_serve_says_where_it_listens_what_it_serves_and_whether_a_token_is_set(tmp_path: Path) -> None:
    home = make_home(tmp_path / "a")
    proc, lines = _serve_summary(home, {"AURORA_API_TOKEN": TOKEN, "AURORA_COSTS__FEE_BPS": "2.5"})
    try:
        assert lines[0].startswith("Aurora API listening on http://127.0.0.1:"), lines
        assert lines[1].startswith("model: v1 (sha256 ") and "current.json" in lines[1], lines
        assert "fee_bps 1.0 vs 2.5" in lines[2], lines  # the costs mismatch, said at once
        url = lines[0].split(" on ")[1].split(" ")[0]
        with httpx.Client(base_url=url) as c:
            model = c.get("/health").json()["model"]
            assert model["costs_match"] is False and "fee_bps 1.0 vs 2.5" in model["costs_mismatch"]
            assert "aurora_artifact_costs_mismatch 1.0" in c.get("/metrics").text
    finally:
        proc.terminate()
        proc.wait(10)
    events = list(read_events(home / "logs" / "aurora_events.jsonl"))
    mismatch = [r for r in events if r["event"] == "api.artifact.costs_mismatch"]
    assert mismatch and mismatch[0]["costs"] == {"fee_bps": {"artifact": 1.0, "configured": 2.5}}
    proc, lines = _serve_summary(make_home(tmp_path / "b", artifact=False), {})
    try:
        assert "model: none loaded" in lines[1] and "auroractl calibrate" in lines[1], lines
        assert lines[2].startswith("auth: no token set") and "AURORA_API_TOKEN" in lines[2], lines
    finally:
        proc.terminate()
        proc.wait(10)
