"""Batch and stream forms agree on every row of the shared real Binance recordings (DESIGN §4).

Tolerance: a windowed sum within 1e-9 × the window's Σ|terms|; a ratio in [−1, 1] within 1e-9
absolute; price-valued features within 1e-12 relative; absorption within 1e-9 of its scale
|Σ|side·qty|| · slope / (moves + 1) (computed with the same window bounds).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_WS

from aurora.core.book import replay_depth
from aurora.core.features import NS, BookTops, FeatureParams, compute_features, ofi_terms, window_sums
from aurora.core.stream import stream_features
from aurora.ticks.binance_ws import parse_recording

DATA = SHARED_WS
FILES = sorted(DATA.glob("*.gz")) if DATA.is_dir() else []
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "binance_ws"
shared = pytest.mark.skipif(not FILES, reason="shared recordings not present on this machine")


def _load(paths: list[Path], max_lines: int | None) -> tuple[pd.DataFrame, pd.DataFrame, BookTops]:
    """Parse recordings of one connection in order (seq continues across files)."""
    symbol = paths[0].name.split("_")[0].upper()
    seq = 0
    tables: dict[str, list[pd.DataFrame]] = {"bbo": [], "trades": [], "depth": []}
    for path in paths:
        if max_lines is None:
            rec = parse_recording(path, symbol, seq_start=seq)
        else:
            with gzip.open(path, "rt") as fh:
                lines = [ln for _, ln in zip(range(max_lines), fh, strict=False)]
            rec = parse_recording(lines, symbol, seq_start=seq)
        seq = rec.seq_end
        for name, frames in tables.items():
            frames.append(rec.tables[name].to_pandas())
    bbo, trades, depth = (pd.concat(tables[n], ignore_index=True) for n in ("bbo", "trades", "depth"))
    rep = replay_depth(depth, 10)
    return bbo, trades, BookTops(rep["seq"], rep["bid_qty"], rep["ask_qty"], rep["in_sync"])


def _check(bbo: pd.DataFrame, trades: pd.DataFrame, tops: BookTops, synced: bool = True) -> None:
    params = FeatureParams(tick_size=0.01)
    batch = compute_features(bbo, trades, tops, params)
    stream = stream_features(bbo, trades, tops, params)
    assert len(batch) == len(bbo) == len(stream)
    np.testing.assert_array_equal(batch["ts_ns"], stream["ts_ns"])
    np.testing.assert_array_equal(batch["update_id"], stream["update_id"])
    for name in ("mid", "microprice_w", "spread_bps"):
        np.testing.assert_allclose(stream[name], batch[name], rtol=1e-12, atol=0, err_msg=name)
    for name in ("obi_l1", "obi_w", *(f for f in params.names if f.startswith("tfi_"))):
        np.testing.assert_allclose(stream[name], batch[name], rtol=0, atol=1e-9, err_msg=name)
    # the book syncs from a recording's leading snapshot; a continuation file has none
    assert (batch["obi_w"].notna().mean() > 0.5) == synced
    # scales of the windowed sums
    b_ts = bbo["ts_ns"].to_numpy()
    t_ts, t_seq = trades["ts_ns"].to_numpy(), trades["seq"].to_numpy()
    e = ofi_terms(*(bbo[c].to_numpy() for c in ("bid_px", "bid_qty", "ask_px", "ask_qty")))
    stop = np.arange(1, len(bbo) + 1)
    t_end = np.searchsorted(t_seq, bbo["seq"].to_numpy())
    abs_sv = trades["qty"].to_numpy()
    for w in params.windows_s:
        lab = f"{w:g}s"
        b_start = np.searchsorted(b_ts, b_ts - round(w * NS), side="right")
        scale = window_sums(np.abs(e), b_start, stop)
        diff = np.abs(stream[f"ofi_{lab}"] - batch[f"ofi_{lab}"])
        assert np.all(diff <= 1e-9 * scale), f"ofi_{lab}"
        t_start = np.searchsorted(t_ts, b_ts - round(w * NS), side="right")
        vol = window_sums(abs_sv, t_start, t_end)
        a, s = batch[f"absorption_{lab}"].to_numpy(), stream[f"absorption_{lab}"].to_numpy()
        num = window_sums(trades["side"].to_numpy() * abs_sv, t_start, t_end)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(num != 0, np.abs(a / num), 0.0)  # slope / (moves + 1)
        assert np.all(np.abs(a - s) <= 1e-9 * vol * unit + 1e-15), f"absorption_{lab}"


def test_parity_on_the_committed_fixture_slices():
    """Always runs: the trimmed real slices kept in tests/fixtures (snapshot, then continuation)."""
    _check(*_load([FIXTURE / "btcusdt_20240808_head.gz", FIXTURE / "btcusdt_20240809_head.gz"], None))


@shared
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_parity_on_a_slice_of_every_recording(path):
    _check(*_load([path], 6000), synced="20240808" in path.name)


@shared
@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["btcusdt", "ethusdt"])
def test_parity_on_full_recordings(symbol):
    """Both files of one connection back to back (~11 min, 60-73 k quotes)."""
    _check(*_load([DATA / f"{symbol}_20240808.gz", DATA / f"{symbol}_20240809.gz"], None))
