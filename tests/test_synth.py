"""Synthetic market: determinism, stylised facts, the injected signal, depth consistency, store writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from aurora.core.book import replay_depth
from aurora.core.labels import triple_barrier
from aurora.ticks.schema import SCHEMAS
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, generate, synthesize_to_store


@pytest.fixture(scope="module")
def market() -> dict:
    return generate("BTCUSDT", 0.5, seed=11)


def next_move_by_tercile(bbo, x: np.ndarray) -> list[tuple[float, float]]:
    """Mean and standard error of the next mid change (ticks) per tercile of ``x``."""
    mid = (bbo.column("bid_px").to_numpy() + bbo.column("ask_px").to_numpy()) / 2 / 0.01
    d = np.diff(mid)
    x = x[:-1]
    edges = np.quantile(x, [1 / 3, 2 / 3])
    groups = [x <= edges[0], (x > edges[0]) & (x <= edges[1]), x > edges[1]]
    return [(d[g].mean(), d[g].std() / np.sqrt(g.sum())) for g in groups]


def obi(bbo) -> np.ndarray:
    b, a = bbo.column("bid_qty").to_numpy(), bbo.column("ask_qty").to_numpy()
    return (b - a) / (b + a)


def test_same_seed_is_bitwise_identical_and_other_seed_differs() -> None:
    a = generate("BTCUSDT", 0.05, seed=3)
    b = generate("BTCUSDT", 0.05, seed=3)
    c = generate("BTCUSDT", 0.05, seed=4)
    for name in ("trades", "bbo", "depth"):
        assert a[name].schema == SCHEMAS[name]
        assert a[name].equals(b[name])
        assert not a[name].equals(c[name])


def test_stylised_facts(market) -> None:
    bbo, trades = market["bbo"], market["trades"]
    hours = 0.5
    assert 60 * 3600 * hours < bbo.num_rows < 140 * 3600 * hours
    assert 15 * 3600 * hours < trades.num_rows < 50 * 3600 * hours
    spread = np.round((bbo.column("ask_px").to_numpy() - bbo.column("bid_px").to_numpy()) / 0.01)
    assert spread.min() >= 1 and 0.8 < (spread == 1).mean() < 0.97
    qty = trades.column("qty").to_numpy()
    assert np.percentile(qty, 99) / np.median(qty) > 50                       # heavy-tailed sizes
    per_s = np.bincount((bbo.column("ts_ns").to_numpy() - bbo.column("ts_ns").to_numpy()[0]) // 10**9)
    assert per_s.var() / per_s.mean() > 3                                      # clustered arrivals
    px = trades.column("price").to_numpy()
    assert np.allclose(np.round(px / 0.01) * 0.01, px, rtol=0, atol=1e-9)     # on the tick grid
    ts = bbo.column("ts_ns").to_numpy()
    assert (np.diff(ts) >= 0).all() and trades.column("side").to_numpy().tolist().count(1) > 0


def test_injected_obi_and_flow_signal_is_present(market) -> None:
    lo, _, hi = next_move_by_tercile(market["bbo"], obi(market["bbo"]))
    assert hi[0] > 0 > lo[0]
    assert (hi[0] - lo[0]) / np.hypot(hi[1], lo[1]) > 10

    # trade-flow imbalance over the last second (trades before each bbo update) also predicts
    trades, bbo = market["trades"], market["bbo"]
    qty = trades.column("qty").to_numpy()
    signed = np.concatenate([[0.0], np.cumsum(trades.column("side").to_numpy() * qty)])
    vol = np.concatenate([[0.0], np.cumsum(qty)])
    hi_i = np.searchsorted(trades.column("seq").to_numpy(), bbo.column("seq").to_numpy())
    lo_i = np.minimum(np.searchsorted(trades.column("ts_ns").to_numpy(),
                                      bbo.column("ts_ns").to_numpy() - 10**9, side="right"), hi_i)
    v = vol[hi_i] - vol[lo_i]
    tfi = np.divide(signed[hi_i] - signed[lo_i], v, out=np.zeros(len(v)), where=v > 0)
    lo, _, hi = next_move_by_tercile(bbo, np.r_[tfi[1:], 0.0])   # tfi seen by the *next* update
    assert hi[0] > 0 > lo[0] and (hi[0] - lo[0]) / np.hypot(hi[1], lo[1]) > 5

    quiet = generate("BTCUSDT", 0.5, seed=11, params=replace(SynthParams(), alpha_obi=0.0, alpha_tfi=0.0))
    lo, _, hi = next_move_by_tercile(quiet["bbo"], obi(quiet["bbo"]))
    assert abs(hi[0] - lo[0]) / np.hypot(hi[1], lo[1]) < 4                    # the control has none


def long_win_rates(bbo) -> tuple[float, float]:
    """Share of longs hitting +1 bps before −1 bps within 30 s, for the top and bottom obi tercile."""
    res = triple_barrier(bbo.column("ts_ns").to_numpy(), bbo.column("bid_px").to_numpy(),
                         bbo.column("ask_px").to_numpy(), 1.0, 1.0, 30.0, 1)
    x = obi(bbo)
    lo_edge, hi_edge = np.quantile(x, [1 / 3, 2 / 3])
    win = res.outcome == 1
    return win[x > hi_edge].mean(), win[x < lo_edge].mean()


def test_long_entered_at_high_imbalance_wins_more_often(market) -> None:
    hi, lo = long_win_rates(market["bbo"])
    assert hi > lo + 0.1
    quiet = generate("BTCUSDT", 0.5, seed=11, params=replace(SynthParams(), alpha_obi=0.0))
    hi, lo = long_win_rates(quiet["bbo"])
    assert abs(hi - lo) < 0.05


def test_depth_bootstraps_and_matches_bbo(market) -> None:
    depth = market["depth"].to_pandas()
    out = replay_depth(depth, 10)
    assert out["in_sync"].all() and depth.is_snapshot.iloc[0]
    bbo = market["bbo"]
    # every depth message is built from the latest bbo before it
    j = np.searchsorted(bbo.column("ts_ns").to_numpy(), out["ts_ns"], side="right") - 1
    ok = j >= 0
    assert (out["bid_px"][ok, 0] == bbo.column("bid_px").to_numpy()[j[ok]]).all()
    assert (out["ask_qty"][ok, 0] == bbo.column("ask_qty").to_numpy()[j[ok]]).all()
    assert not np.isnan(out["bid_px"]).any()


def test_days_are_written_separately_and_equal_one_generation(tmp_path: Path) -> None:
    start = datetime(2024, 3, 1, 23, 45, tzinfo=UTC)
    store = TickStore(tmp_path)
    rep = synthesize_to_store(store, "binance", "BTCUSDT", hours=0.5, seed=5, start=start)
    assert rep.days == ["2024-03-01", "2024-03-02"]
    whole = generate("BTCUSDT", 0.5, seed=5, start=start)
    for name in ("trades", "bbo", "depth"):
        assert store.dates(name, "binance", "BTCUSDT") == [date(2024, 3, 1), date(2024, 3, 2)]
        got = store.read(name, "binance", "BTCUSDT", date(2024, 3, 1), date(2024, 3, 2))
        assert got.equals(whole[name])
    # each day starts with a depth snapshot, so a day replays on its own
    for _, day in store.iter_days("depth", "binance", "BTCUSDT", date(2024, 3, 1), date(2024, 3, 2)):
        assert replay_depth(day.to_pandas(), 5)["in_sync"].all()
    again = synthesize_to_store(store, "binance", "BTCUSDT", hours=0.5, seed=5, start=start)
    assert sum(again.written.values()) == 0


def test_eth_preset_and_bad_arguments() -> None:
    eth = generate("ETHUSDT", 0.02, seed=1)
    assert 2500 < eth["bbo"].column("bid_px").to_numpy()[0] < 3500
    with pytest.raises(ValueError, match="hours must be positive"):
        generate("BTCUSDT", 0, seed=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate("BTCUSDT", 0.1, seed=1, start=datetime(2024, 1, 1))
