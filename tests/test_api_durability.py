"""Risk state survives SIGKILL: a real server is killed right after answering, then restarted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aurora.api.process import ServerProcess
from aurora.testing import write_artifact

TOKEN = "durable-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PRETRADE = {"symbol": "ETHUSDT", "side": "sell", "qty": 1.0, "price": 3000.0, "latency_ms": 5.0,
            "slippage_est_bps": 0.5, "spread_bps": 1.0, "p_tp": 0.7, "e_pi_bps": 1.0, "regime": "normal",
            "sprt_llr": 0.0}


def check(srv: ServerProcess, **kw: object) -> dict:
    r = httpx.post(f"{srv.url}/pretrade/check", json={**PRETRADE, **kw}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow
def test_sigkill_forgets_no_cooloff_breach_or_kill_switch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_artifact(home / "data" / "artifacts" / "current.json", "v1")
    env = {"AURORA_API_TOKEN": TOKEN}

    # 1. the runner's SPRT says the edge is gone: deny and a 900 s cool-off; then SIGKILL
    srv = ServerProcess(home, env).start()
    assert check(srv)["allow"] is True
    d = check(srv, sprt_llr=-3.0)
    assert d["reasons"] == ["SPRT"] and d["cooloff_s"] == 900.0
    srv.kill()
    srv = ServerProcess(home, env).start()
    d = check(srv)
    assert d["reasons"] == ["COOLOFF"] and 600.0 < d["cooloff_s"] <= 900.0  # still running after the restart

    # 2. an 11 % loss breaches the 10 % daily drawdown; the kill switch is engaged; SIGKILL
    loss = {"client_order_id": "dd-1", "symbol": "ETHUSDT", "side": "buy", "qty": 1.0, "price": 3000.0,
            "fee": 0.0, "realized_pnl": -1100.0, "pnl_bps": -30.0, "status": "closed",
            "ts": "2026-01-01T00:00:00Z"}
    r = httpx.post(f"{srv.url}/posttrade/log", json=loss, headers=AUTH).json()
    assert r["applied"] and r["drawdown_pct"] == pytest.approx(11.0) and r["cooloff_s"] > 3599.0
    r = httpx.post(f"{srv.url}/admin/kill-switch", json={"engaged": True, "reason": "ops"}, headers=AUTH)
    assert r.json()["kill_switch"] is True
    srv.kill()

    srv = ServerProcess(home, env).start()
    try:
        h = httpx.get(f"{srv.url}/health").json()
        assert h["kill_switch"] is True and h["drawdown_pct"] == pytest.approx(11.0)
        assert h["cooloff_s"] > 3500.0
        assert set(check(srv)["reasons"]) == {"KILL_SWITCH", "COOLOFF", "DAILY_DD"}
        # the report is still known: sending it again changes nothing
        again = httpx.post(f"{srv.url}/posttrade/log", json=loss, headers=AUTH).json()
        assert again["applied"] is False and again["equity"] == pytest.approx(8900.0)
        httpx.post(f"{srv.url}/admin/kill-switch", json={"engaged": False}, headers=AUTH)
        assert set(check(srv)["reasons"]) == {"COOLOFF", "DAILY_DD"}
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert "aurora_equity 8900.0" in metrics and "aurora_daily_drawdown_ratio 0.11" in metrics
    finally:
        srv.stop()
