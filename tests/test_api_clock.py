"""``api.clock: request``: Aurora decides on the requests' ``ts`` (market time of a replay):
cool-offs expire, days roll and models age on that clock; it is refused where anything is live."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from test_api_dayroll import AUTH, PRETRADE, START, TOKEN, Clock, run_app
from test_runner import PLATT, SYMBOL, _artifact, _order_records, _replay, _settings

from aurora.api import create_app
from aurora.api.process import ServerProcess
from aurora.api.store import StateStore
from aurora.config import ConfigError, load_settings
from aurora.core import risk
from aurora.events import read_events
from aurora.runner.source import last_quote_ns
from aurora.testing import write_artifact
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

NS = 1_000_000_000
#: Market time of the requests (the artifact of ``run_app`` was made a minute before).
MARKET = START


def _iso(ts_s: float) -> str:
    return datetime.fromtimestamp(ts_s, UTC).isoformat().replace("+00:00", "Z")


def _run(home: Path, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """The app in process with ``api.clock: request``, its wall clock ten days past market time
    (where the model would be stale and every cool-off long over)."""
    (home / "configs").mkdir(exist_ok=True)
    (home / "configs" / "local.yaml").write_text(json.dumps({
        "api": {"clock": "request"}, "risk": {"loss_streak": 1, "loss_streak_cooloff_s": 30.0}}))
    run_app(home, Clock(MARKET + 10 * 86400), 3600.0, scenario)


@pytest.mark.parametrize("env", [{"AURORA_API__MODE": "live"}, {"AURORA_EXCHANGE__TARGET": "live"}])
def test_request_clock_is_refused_when_live(home: Path, env: dict[str, str]) -> None:
    write_artifact(home / "data" / "artifacts" / "current.json", "v1")
    env = {"AURORA_API_TOKEN": TOKEN, "AURORA_API__CLOCK": "request", **env}
    settings = load_settings(home=home, env=env)
    with pytest.raises(ConfigError, match=r"api.clock: request .* use api.clock: wall"):
        create_app(settings)


def test_request_clock_decides_at_the_requests_time(home: Path) -> None:

    async def scenario(c: httpx.AsyncClient) -> None:
        missing = await c.post("/pretrade/check", json=PRETRADE, headers=AUTH)
        assert missing.status_code == 422 and "api.clock is request" in missing.text
        first = (await c.post("/pretrade/check", json={**PRETRADE, "ts": _iso(MARKET)}, headers=AUTH)).json()
        assert first["allow"], first  # the model, made a minute before market time, is fresh on it
        loss = {"client_order_id": "c-1", "symbol": SYMBOL, "side": "sell", "qty": 0.01, "price": 50000.0,
                "fee": 0.0, "realized_pnl": -1.0, "pnl_bps": -20.0, "status": "closed",
                "ts": _iso(MARKET + 1)}
        assert (await c.post("/posttrade/log", json=loss, headers=AUTH)).json()["cooloff_s"] == 30.0
        cooling = (await c.post("/pretrade/check", json={**PRETRADE, "ts": _iso(MARKET + 29)},
                                headers=AUTH)).json()
        assert not cooling["allow"] and "COOLOFF" in cooling["reasons"] and cooling["cooloff_s"] == 2.0
        # a request older than the latest is decided at the latest time: the clock never goes back
        late = (await c.post("/pretrade/check", json={**PRETRADE, "ts": _iso(MARKET + 2)},
                             headers=AUTH)).json()
        assert late["cooloff_s"] == 2.0
        after = (await c.post("/pretrade/check", json={**PRETRADE, "ts": _iso(MARKET + 31.5)},
                              headers=AUTH)).json()
        assert after["allow"], after
        health = (await c.get("/health")).json()
        assert health["cooloff_s"] == 0.0 and health["model"]["fresh"]

    _run(home, scenario)
    events = list(read_events(home / "logs" / "aurora_events.jsonl"))
    decided = [e["decided_at_s"] for e in events if e["event"] == "api.decision"]
    assert decided == [MARKET, MARKET + 29, MARKET + 29, MARKET + 31.5]
    # the fresh risk state began on the market's day, not the server's (the day rolls at 06:00)
    settings = load_settings(home=home, env={})
    store = StateStore(settings.path(settings.api.state_db))
    assert store.load().day_start_s == risk.day_start(MARKET, 6)
    store.close()

    # a restart on that stored state, asked about an earlier day: a clear 422, not a silent no-roll
    async def earlier(c: httpx.AsyncClient) -> None:
        r = await c.post("/pretrade/check", json={**PRETRADE, "ts": _iso(MARKET - 2 * 86400)}, headers=AUTH)
        assert r.status_code == 422 and "api.state_db of its own" in r.text
        ok = await c.post("/pretrade/check", json={**PRETRADE, "ts": _iso(MARKET + 60)}, headers=AUTH)
        assert ok.json()["allow"]

    _run(home, earlier)


def test_replay_through_aurora_on_market_time_sees_a_cooloff_expire(tmp_path: Path) -> None:
    """A replay through a real Aurora (``auroractl serve``, ``api.clock: request``): a losing trade
    (or the SPRT) starts a 20 s cool-off at market time, entries are denied ``COOLOFF`` until market time has
    passed it, then allowed again — minutes of market time replayed in seconds of wall time, so
    on the wall clock the cool-off could not have ended (and the 2024 model would be stale)."""
    store = TickStore(tmp_path / "ticks")
    synthesize_to_store(store, "binance", SYMBOL, 0.25, 11)
    end = last_quote_ns(store, "binance", SYMBOL) + 1
    created = "2024-01-01T00:00:00+00:00"
    aurora = tmp_path / "aurora"
    (aurora / "configs").mkdir(parents=True)
    (aurora / "configs" / "local.yaml").write_text(json.dumps({
        "api": {"clock": "request"}, "risk": {"loss_streak": 1, "loss_streak_cooloff_s": 20.0,
                                               "sprt_cooloff_s": 20.0}}))
    _artifact(aurora / "data" / "artifacts" / "current.json", PLATT, created_at=created)
    with ServerProcess(aurora, {"AURORA_API_TOKEN": "clock-token"}) as server:
        settings = _settings(tmp_path / "home", aurora_url=server.url, intent_interval_s=0.5)
        settings = settings.model_copy(update={"api_token": SecretStr("clock-token")})
        cal = _artifact(tmp_path / "a.json", PLATT, created_at=created)
        _replay(settings, cal, store, end - 8 * 60 * NS, end)
        server.stop()
        aurora_events = list(read_events(server.events_path))
    recs = _order_records(settings.path(settings.logging.dir))
    entries = sorted((r for stream in recs.values() for r in stream if r["leg"] == "entry"),
                     key=lambda r: r["market_ts_ns"])
    decisions = {e["decision_id"]: e for e in aurora_events if e["event"] == "api.decision"}
    # every decision was taken at the market time the runner asked at
    for r in entries:
        if r["decision_id"] in decisions:
            at = decisions[r["decision_id"]]["decided_at_s"]
            assert at == pytest.approx(r["market_ts_ns"] / NS, abs=1e-6)
    starts = [e for e in aurora_events if e["event"] == "api.cooloff.started"]
    assert starts, "no losing trade started a cool-off"
    denied = [r for r in entries if "COOLOFF" in r["gate"]["reasons"]]
    assert denied
    first = denied[0]["market_ts_ns"] / NS
    ends = first + denied[0]["gate"]["cooloff_s"]
    allowed_after = [r for r in entries if r["gate"]["allow"] and r["market_ts_ns"] / NS >= ends]
    assert allowed_after, "no entry was allowed once the cool-off had ended on market time"
    # and wall time could not have ended it: the allow came sooner after the cool-off's start
    wall = {e["decision_id"]: _wall(e) for e in aurora_events if e["event"] == "api.decision"}
    started = max(_wall(e) for e in starts if _wall(e) <= wall[denied[0]["decision_id"]])
    assert wall[allowed_after[0]["decision_id"]] - started < 20.0


def _wall(event: dict) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
