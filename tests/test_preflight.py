"""``auroractl preflight``: each check passes on a ready workspace and fails, with its fix, on the
problem it looks for — real ports, a real venue on loopback, a tampered artifact on disk."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from test_exchange_venue import gateway_settings
from test_runner import PLATT, _artifact
from venue_support import running_venue, static_tape, venue_settings

from aurora.cli import main
from aurora.config import Settings, load_settings
from aurora.ops import checks
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store
from aurora.venue import load_faults

SYM = "BTCUSDT"


def _ready(home: Path, **config: object) -> Settings:
    """A workspace ready for replay: a fresh artifact, a few stored minutes, free ports (0)."""
    (home / "configs").mkdir(parents=True, exist_ok=True)
    layers = {"api": {"port": 0}, "runner": {"metrics_port": 0}, "venue": {"port": 0}, **config}
    (home / "configs" / "local.yaml").write_text(yaml.safe_dump(layers))
    settings = load_settings(home=home, env={})
    _artifact(settings.path(settings.api.artifact_path), PLATT, created_at=datetime.now(UTC).isoformat())
    synthesize_to_store(TickStore(settings.path(settings.storage.ticks_dir)), "binance", SYM, 0.02, 5)
    return settings


def _by_name(found: list[checks.Check]) -> dict[str, checks.Check]:
    return {c.name: c for c in found}


def test_a_ready_workspace_passes_every_replay_check(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ready(home)
    assert main(["--home", str(home), "preflight"]) == 0
    out = capsys.readouterr().out
    for name in ("config", "artifact", "market data", "port api.port", "port runner.metrics_port", "API keys",
                 "disk space", "writable logging.dir"):
        assert any(line.startswith(name) and " ok " in line for line in out.splitlines()), (name, out)
    assert "FAIL" not in out and "checks passed" in out


def test_artifact_missing_tampered_stale_or_for_another_symbol(home: Path) -> None:
    settings = _ready(home)
    path = settings.path(settings.api.artifact_path)
    doc = json.loads(path.read_text())
    doc["barriers"]["tp_bps"] = 99.0  # an edit that keeps the JSON valid
    path.write_text(json.dumps(doc))
    bad = checks.artifact_check(settings, SYM)
    assert not bad.ok and "sha256" in bad.detail and "auroractl calibrate --rollback" in bad.fix
    _artifact(path, PLATT, created_at=(datetime.now(UTC) - timedelta(days=30)).isoformat())
    stale = checks.artifact_check(settings, SYM)
    assert not stale.ok and "days old" in stale.detail and "preflight --calibrate" in stale.fix
    _artifact(path, PLATT, created_at=datetime.now(UTC).isoformat())
    other = checks.artifact_check(settings, "ETHUSDT")
    assert not other.ok and "not ETHUSDT" in other.detail and "--symbol ETHUSDT" in other.fix
    coarse_tick = settings.model_copy(update={"symbols": venue_settings(settings).symbols})
    coarse = checks.artifact_check(coarse_tick, SYM)
    assert not coarse.ok and "price tick" in coarse.detail
    path.unlink()
    missing = checks.artifact_check(settings, SYM)
    assert not missing.ok and "no artifact" in missing.detail and "auroractl calibrate" in missing.fix


def test_no_market_data_taken_port_missing_keys_full_disk_unwritable_dir(home: Path) -> None:
    settings = _ready(home)
    nodata = checks.data_check(settings, "ETHUSDT")
    assert not nodata.ok and "auroractl data synth --symbol ETHUSDT" in nodata.fix
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = checks.port_check("Aurora API", "api.port", "127.0.0.1", port)
    assert not taken.ok and f"127.0.0.1:{port} is taken" in taken.detail and "api.port" in taken.fix
    assert checks.port_check("Aurora API", "api.port", "127.0.0.1", port).ok  # free again
    keys = checks.keys_check(settings, "testnet")
    assert not keys.ok and "AURORA_BINANCE_API_KEY" in keys.detail and "local venue" in keys.fix
    assert checks.keys_check(settings, "testnet", local_keys=True).ok
    assert checks.keys_check(settings, "paper").ok
    full = checks.disk_check(settings.model_copy(update={"ops": settings.ops.model_copy(
        update={"min_free_disk_mb": 1e12})}))
    assert not full.ok and "ops.min_free_disk_mb" in full.detail
    blocker = home / "not-a-dir"
    blocker.write_text("")
    logs = settings.model_copy(update={"logging": settings.logging.model_copy(
        update={"dir": blocker / "logs"})})
    unwritable = _by_name(checks.writable_checks(logs, "replay"))["writable logging.dir"]
    assert not unwritable.ok and "point logging.dir elsewhere" in unwritable.fix
    live = checks.live_check(settings)
    assert not live.ok and "runner.live_confirm" in live.fix


def test_cli_exits_1_with_the_table_on_any_failure(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "configs").mkdir()
    (home / "configs" / "local.yaml").write_text("risk: {daily_dd_limit_pct: 500}\n")
    assert main(["--home", str(home), "preflight"]) == 1
    out = capsys.readouterr().out
    assert "config  FAIL" in out and "risk.daily_dd_limit_pct" in out and "fix:" in out
    (home / "configs" / "local.yaml").write_text("api: {port: 0}\nrunner: {metrics_port: 0}\n")
    assert main(["--home", str(home), "preflight", "--mode", "replay"]) == 1
    out = capsys.readouterr().out
    assert "artifact" in out and "market data" in out and "checks failed" in out


def _exchange(settings: Settings, faults: str | None = None, tmp: Path | None = None,
              **venue_config: object) -> dict[str, checks.Check]:
    vs = venue_settings(settings)
    fault_file = None
    if faults is not None and tmp is not None:
        fault_file = tmp / "faults.yaml"
        fault_file.write_text(faults)

    async def go() -> list[checks.Check]:
        async with running_venue(vs, static_tape(), faults=load_faults(fault_file)) as (_, hostport):
            gs = gateway_settings(settings, hostport)
            if venue_config:
                gs = gs.model_copy(update=venue_config)
            return await checks.exchange_checks(gs, SYM)
    return _by_name(asyncio.run(go()))


def test_exchange_reachable_clock_and_filters_against_the_venue(settings: Settings, tmp_path: Path) -> None:
    good = _exchange(settings)
    assert all(c.ok for c in good.values()), good
    assert "offset" in good["exchange clock"].detail and "tick 0.1" in good["exchange filters"].detail
    # the config's filters differ from the venue's: both values named, and where to fix them
    wrong = _exchange(settings, symbols=settings.symbols)
    f = wrong["exchange filters"]
    assert not f.ok and "config says 0.01, the exchange says 0.1" in f.detail and "symbols.BTCUSDT" in f.fix
    # the venue's clock 8 s ahead: over the 5 s recvWindow
    skewed = _exchange(settings, "faults:\n  clock_skew: {at_s: [0], skew_ms: 8000}\n", tmp_path)
    c = skewed["exchange clock"]
    assert not c.ok and "recvWindow 5000 ms" in c.detail and "NTP" in c.fix


def test_exchange_unreachable_says_to_start_the_venue(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gs = gateway_settings(settings, f"127.0.0.1:{port}")
    found = asyncio.run(checks.exchange_checks(gs, SYM))
    assert [c.name for c in found] == ["exchange reachable"]
    assert not found[0].ok and "auroractl venue --symbol BTCUSDT" in found[0].fix
