"""The synthetic market moves like the real one: defaults vs the shared BTCUSDT spot recording,
``--like`` fits, and the direction-persistence rule."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import SHARED_WS

from aurora.cli import main
from aurora.core.marketstats import market_stats, mid_changes_bps
from aurora.ticks import synth_fit
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, _persistent, _State, generate
from aurora.ticks.synth_fit import LikeSource, SynthFitError, fit_from_store, moment_params

BTC = sorted(SHARED_WS.glob("btcusdt_2024080*.gz")) if SHARED_WS.is_dir() else []
shared = pytest.mark.skipif(len(BTC) != 2, reason="shared recordings not present on this machine")


def _cols(table: pa.Table) -> dict[str, np.ndarray]:
    return {name: table.column(name).to_numpy() for name in table.column_names}


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> TickStore:
    store = TickStore(tmp_path_factory.mktemp("real") / "ticks")
    import_recordings(BTC, store, "binance", "BTCUSDT")
    return store


@shared
def test_default_market_moves_like_the_real_btcusdt_recording(real_store: TickStore) -> None:
    days = date(2024, 8, 8), date(2024, 8, 9)
    real = market_stats(_cols(real_store.read("bbo", "binance", "BTCUSDT", *days)),
                        _cols(real_store.read("trades", "binance", "BTCUSDT", *days)), 0.01)
    g = generate("BTCUSDT", 1.0, seed=7)
    sim = market_stats(_cols(g["bbo"]), _cols(g["trades"]), 0.01)
    # the bounds: median |Δmid over 30 s| within ±25 %, P(|Δmid| ≥ 10 bps) within a factor 1.5
    assert abs(sim.median_abs_dmid_bps / real.median_abs_dmid_bps - 1) <= 0.25, (sim, real)
    assert 1 / 1.5 <= sim.p_abs_dmid_ge_10bps / real.p_abs_dmid_ge_10bps <= 1.5, (sim, real)
    assert sim.spread_ticks_q[:2] == real.spread_ticks_q[:2] == (1.0, 1.0)  # one tick most of the time
    assert 0.5 <= sim.spread_ticks_q[3] / real.spread_ticks_q[3] <= 2  # and the wide tail
    for key in ("trade_qty_q", "queue_qty_q"):  # medians and 99 % points
        for i in (1, 3):
            assert 0.75 <= getattr(sim, key)[i] / getattr(real, key)[i] <= 1.35, (key, i, sim, real)
    for key in ("bbo_rate_hz", "trade_rate_hz"):
        assert abs(getattr(sim, key) / getattr(real, key) - 1) <= 0.2, key


@shared
def test_the_defaults_are_the_fit_to_that_recording(real_store: TickStore) -> None:
    fit = fit_from_store(real_store, LikeSource.parse("binance/BTCUSDT/2024-08-08..2024-08-09"),
                         SynthParams.for_symbol("BTCUSDT"))
    defaults = SynthParams()
    for name in ("bbo_rate_hz", "trade_rate_hz", "intensity_sd", "queue_median", "queue_log_sd",
                 "trade_qty_median", "trade_qty_log_sd", "move_prob", "move_ticks_median",
                 "move_ticks_log_sd", "wide_spread_frac", "wide_extra_ticks_mean"):
        assert getattr(fit.params, name) == pytest.approx(getattr(defaults, name), rel=0.02), name
    assert fit.params.move_persist == pytest.approx(defaults.move_persist, abs=0.03)
    assert abs(fit.simulated.median_abs_dmid_bps / fit.real.median_abs_dmid_bps - 1) <= 0.25
    assert (fit.params.alpha_obi, fit.params.alpha_tfi) == (defaults.alpha_obi, defaults.alpha_tfi)


def test_moment_fit_recovers_a_synthetic_markets_own_parameters() -> None:
    truth = replace(SynthParams(), bbo_rate_hz=60.0, trade_rate_hz=12.0, move_prob=0.05,
                    move_ticks_median=9.0, move_ticks_log_sd=0.7, trade_qty_median=2e-3, move_persist=0.0,
                    wide_spread_frac=0.01, wide_extra_ticks_mean=6.0)
    g = generate("BTCUSDT", 0.5, seed=3, params=truth)
    fit = moment_params(_cols(g["bbo"]), _cols(g["trades"]), SynthParams())
    assert fit.bbo_rate_hz == pytest.approx(60.0, rel=0.15)
    assert fit.trade_rate_hz == pytest.approx(12.0, rel=0.15)
    assert fit.trade_qty_median == pytest.approx(2e-3, rel=0.1)
    assert fit.move_ticks_median == pytest.approx(9.0, rel=0.15)
    assert fit.move_ticks_log_sd == pytest.approx(0.7, rel=0.2)
    # spread excursions move the mid too, so the fitted move rate is at least the true one
    assert 0.05 <= fit.move_prob <= 0.05 + 2 * 0.01
    assert fit.wide_spread_frac == pytest.approx(0.01, rel=0.5)


def test_persistent_directions_keep_the_last_fresh_draw() -> None:
    st = _State(center=0, last_up=False)
    fresh_up = np.array([True, False, False, True, True, False])
    moved = np.array([True, True, False, True, True, True])
    u = np.array([0.1, 0.9, 0.5, 0.2, 0.8, 0.3])  # fresh where u >= 0.5 (and moved)
    # before the first fresh draw the carried direction (down) holds; non-moves carry it on
    assert _persistent(fresh_up, moved, 0.5, u, st).tolist() == [False, False, False, False, True, True]
    assert st.last_up is True


def test_negative_persistence_reverses_the_last_direction() -> None:
    st = _State(center=0, last_up=True)
    fresh_up = np.array([True, True, False, True, False])
    moved = np.array([True, True, True, False, True])
    u = np.array([0.1, 0.9, 0.2, 0.0, 0.3])  # |persist| = 0.5: reversals at 0, 2, 4; fresh at 1
    # up -> reversed: down; fresh: up; reversed: down; no move: down; reversed: up
    assert _persistent(fresh_up, moved, -0.5, u, st).tolist() == [False, True, False, False, True]
    assert st.last_up is True


def test_persistence_orders_30s_moves() -> None:
    """Bounces (< 0) make the 30 s moves smaller, trends (> 0) larger: the knob the fit turns."""
    base = replace(SynthParams(), move_persist=0.0)

    def median_move(p: SynthParams) -> float:
        bbo = generate("BTCUSDT", 0.5, seed=5, params=p)["bbo"]
        mid = (bbo.column("bid_px").to_numpy() + bbo.column("ask_px").to_numpy()) / 2
        return float(np.median(np.abs(mid_changes_bps(bbo.column("ts_ns").to_numpy(), mid, 30.0))))

    bounce, free, trend = (median_move(replace(base, move_persist=x)) for x in (-0.8, 0.0, 0.9))
    assert bounce < free < trend


@pytest.mark.parametrize(("text", "needle"), [
    ("binance/BTCUSDT", "is not EXCHANGE/SYMBOL/DATE"),
    ("kraken/BTCUSDT/2024-08-08", "unknown exchange 'kraken'"),
    ("binance/BTCUSDT/08-08-2024", "is not YYYY-MM-DD"),
    ("binance/BTCUSDT/2024-08-09..2024-08-08", "is after"),
])
def test_like_source_errors_say_the_form(text: str, needle: str) -> None:
    with pytest.raises(SynthFitError, match=needle):
        LikeSource.parse(text)


def test_like_source_parses_a_day_and_a_range() -> None:
    one = LikeSource.parse("binance-usdm/btcusdt/2024-08-08")
    assert (one.exchange, one.symbol, one.start, one.end) == ("binance-usdm", "BTCUSDT", date(2024, 8, 8),
                                                               date(2024, 8, 8))
    assert str(LikeSource.parse("binance/BTCUSDT/2024-08-08..2024-08-09")) == \
        "binance/BTCUSDT/2024-08-08..2024-08-09"


def test_cli_like_fits_saves_and_generates(home: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # a coarse search keeps this CLI test fast; the full search is exercised on the real recording
    monkeypatch.setattr(synth_fit, "_MIN_SIM_HOURS", 0.1)
    monkeypatch.setattr(synth_fit, "_PERSIST_STEPS", 3)
    # a "real" day: one synthetic hour with known parameters, stored as the source symbol
    truth = replace(SynthParams(), bbo_rate_hz=40.0, trade_rate_hz=8.0)
    src = TickStore(home / "data" / "ticks")
    for name, table in generate("BTCUSDT", 1.0, seed=1, params=truth).items():
        src.write(name, table, "binance", "BTCUSDT")
    args = ["--home", str(home), "data", "synth", "--store", str(home / "synth"), "--symbol", "BTCUSDT",
            "--hours", "0.1", "--seed", "2", "--like", "binance/BTCUSDT/2024-01-01"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "median_abs_dmid_bps" in out and "fitted parameters saved to" in out
    saved = json.loads((home / "data" / "synth" / "binance_BTCUSDT_2024-01-01.json").read_text())
    assert saved["params"]["bbo_rate_hz"] == pytest.approx(40.0, rel=0.15)
    assert {f.name for f in fields(SynthParams)} == set(saved["params"])
    written = TickStore(home / "synth").read("bbo", "binance", "BTCUSDT", date(2024, 1, 1), date(2024, 1, 1))
    rate = len(written) / 360.0
    assert rate == pytest.approx(40.0, rel=0.3)  # the generated market has the fitted rates


def test_cli_like_refuses_to_mix_synthetic_and_real_days(home: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = TickStore(home / "data" / "ticks")
    for name, table in generate("BTCUSDT", 0.2, seed=1).items():
        src.write(name, table, "binance", "BTCUSDT")
    assert main(["--home", str(home), "data", "synth", "--symbol", "BTCUSDT", "--hours", "0.1", "--seed", "2",
                 "--like", "binance/BTCUSDT/2024-01-01"]) == 2
    assert "would write synthetic data beside the real BTCUSDT days" in capsys.readouterr().err
    assert main(["--home", str(home), "data", "synth", "--store", str(home / "s"), "--symbol", "BTCUSDT",
                 "--hours", "0.1", "--seed", "2", "--like", "binance/BTCUSDT/2023-01-01"]) == 2
    assert "no bbo stored for binance/BTCUSDT/2023-01-01" in capsys.readouterr().err
