"""The trading day rolls at ``account.day_roll_utc_hour`` even without trades: /health, /metrics
and the next check all see the rolled state. The app runs in process with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from aurora.api import create_app
from aurora.api.store import StateStore
from aurora.config import load_settings
from aurora.events import read_events
from aurora.testing import write_artifact

TOKEN = "dayroll-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PRETRADE = {"symbol": "BTCUSDT", "side": "buy", "qty": 1.0, "price": 50000.0, "latency_ms": 10.0,
            "slippage_est_bps": 0.5, "spread_bps": 1.0, "p_tp": 0.7, "e_pi_bps": 1.0, "regime": "normal",
            "sprt_llr": 0.0}
LOSS = {"client_order_id": "loss-1", "symbol": "BTCUSDT", "side": "sell", "qty": 0.04, "price": 50000.0,
        "fee": 0.0, "realized_pnl": -1100.0, "pnl_bps": -30.0, "status": "closed",
        "ts": "2026-03-02T05:00:00Z"}
#: 05:00 UTC on a day that rolls at 06:00 UTC.
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC).timestamp()


class Clock:
    """A settable clock: epoch seconds."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def _metric(text: str, name: str) -> float:
    return float(text.split(f"\n{name} ")[1].split("\n", maxsplit=1)[0])


def run_app(home: Path, clock: Clock, poll_s: float,
            scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    write_artifact(home / "data" / "artifacts" / "current.json", "v1",
                   created_at=datetime.fromtimestamp(START - 60, UTC))
    env = {"AURORA_API_TOKEN": TOKEN, "AURORA_ACCOUNT__DAY_ROLL_UTC_HOUR": "6",
           "AURORA_API__ARTIFACT_POLL_S": str(poll_s)}
    app = create_app(load_settings(home=home, env=env), clock=clock)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                       base_url="http://aurora") as client:
            await scenario(client)

    asyncio.run(main())


def test_health_metrics_and_checks_show_the_rolled_day_without_a_trade(home: Path) -> None:
    clock = Clock(START)

    async def scenario(c: httpx.AsyncClient) -> None:
        # an 11 % loss breaches the 10 % daily drawdown and starts the 1 h breach cool-off
        assert (await c.post("/posttrade/log", json=LOSS, headers=AUTH)).json()["drawdown_pct"] == 11.0
        clock.now_s = START + 3599.0  # 05:59:59: the same trading day
        h = (await c.get("/health")).json()
        assert h["drawdown_pct"] == pytest.approx(11.0) and h["cooloff_s"] == pytest.approx(1.0)
        assert _metric((await c.get("/metrics")).text, "aurora_daily_drawdown_ratio") == pytest.approx(0.11)
        check = (await c.post("/pretrade/check", json=PRETRADE, headers=AUTH)).json()
        assert set(check["reasons"]) == {"COOLOFF", "DAILY_DD"}

        clock.now_s = START + 3601.0  # 06:00:01: a new day, and nothing else has happened
        h = (await c.get("/health")).json()
        assert h["drawdown_pct"] == 0.0 and h["cooloff_s"] == 0.0 and h["ready"] is True
        m = (await c.get("/metrics")).text
        assert _metric(m, "aurora_daily_drawdown_ratio") == 0.0 and _metric(m, "aurora_daily_pnl") == 0.0
        assert _metric(m, "aurora_equity") == pytest.approx(8900.0)
        check = (await c.post("/pretrade/check", json=PRETRADE, headers=AUTH)).json()
        assert check["allow"] is True and check["reasons"] == []

    run_app(home, clock, 3600.0, scenario)
    rolled = [r for r in read_events(home / "logs" / "aurora_events.jsonl") if r["event"] == "api.day.rolled"]
    assert [r["day_start_s"] for r in rolled] == [START + 3600.0]
    state = StateStore(home / "data" / "state" / "aurora.sqlite").load()
    assert state is not None and state.day_start_s == START + 3600.0 and not state.dd_breached


def test_the_day_rolls_on_time_with_no_request_at_all(home: Path) -> None:
    clock = Clock(START)

    async def scenario(c: httpx.AsyncClient) -> None:
        await c.post("/posttrade/log", json=LOSS, headers=AUTH)
        clock.now_s = START + 3601.0
        store = StateStore(home / "data" / "state" / "aurora.sqlite")
        for _ in range(200):  # the maintenance loop runs every 0.02 s
            state = store.load()
            if state is not None and state.day_start_s == START + 3600.0:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the day did not roll without a request")
        assert state.daily_pnl == 0.0 and state.day_peak_equity == pytest.approx(8900.0)
        store.close()

    run_app(home, clock, 0.02, scenario)
