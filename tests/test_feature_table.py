"""Day-by-day feature tables: recycled day arrays never change a frame the caller still holds;
futures depth replays by ``pu``; partitions from before ``prev_update_id`` still read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from aurora.core.book import DiffResult, replay_depth
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.feature_table import iter_feature_days
from aurora.ticks.recycler import Recycler
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

DAY1 = date(2024, 1, 1)


def test_recycler_reuses_only_arrays_nobody_holds():
    r = Recycler()
    a = r.empty(1000, np.float64)
    a[:] = 1.0
    b = r.empty((2, 400), np.int64)  # a is held: new memory
    assert not np.shares_memory(a, b)
    view = a[10:20]
    del a
    c = r.empty(500, np.float64)  # a view of the first array still holds it
    assert not np.shares_memory(view, c)
    del view
    d = r.empty(900, np.int8)  # now free and the smallest that fits
    assert d.shape == (900,) and d.dtype == np.int8
    assert r.held_bytes >= 1000 * 8 + 800 * 8 + 500 * 8
    frame = pd.DataFrame({"x": r.empty(100, np.float64)}, copy=False)
    e = r.empty(100, np.float64)
    assert not np.shares_memory(frame["x"].to_numpy(), e)  # a pandas column holds it too
    r.clear()
    assert r.held_bytes == 0


def test_recycler_shapes_and_alignment():
    r = Recycler()
    x = r.empty((3, 5), "float64")
    assert x.shape == (3, 5) and x.flags.c_contiguous and x.flags.aligned
    assert r.empty(0, np.bool_).shape == (0,)
    assert r.empty(np.int64(4), np.int32).shape == (4,)


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory) -> TickStore:
    """A slow market over two midnights: the end of day 1, all of day 2, the start of day 3."""
    store = TickStore(tmp_path_factory.mktemp("ticks"))
    params = SynthParams.for_symbol("BTCUSDT", bbo_rate_hz=0.3, trade_rate_hz=0.1,
                                    depth_interval_s=30.0)
    synthesize_to_store(store, "binance", "BTCUSDT", hours=24.2, seed=3, params=params,
                        start=datetime(2024, 1, 1, 23, 54, tzinfo=UTC))
    return store


def _days(store: TickStore, first: date, last: date) -> dict[date, pd.DataFrame]:
    return dict(iter_feature_days(store, "binance", "BTCUSDT", first, last,
                                  FeatureParams(tick_size=0.01), LabelParams(horizon_s=5.0)))


def test_frames_held_across_days_equal_days_computed_alone(three_days):
    held = _days(three_days, DAY1, DAY1 + timedelta(days=2))  # every frame kept while streaming
    assert list(held) == [DAY1 + timedelta(days=k) for k in range(3)]
    for day, frame in held.items():
        alone = _days(three_days, day, day)[day]  # with the same context and lookahead
        pd.testing.assert_frame_equal(frame, alone)


def test_frames_dropped_while_streaming_are_the_frames_held(three_days):
    held = _days(three_days, DAY1, DAY1 + timedelta(days=2))
    sums = {}
    for day, frame in iter_feature_days(three_days, "binance", "BTCUSDT", DAY1,
                                        DAY1 + timedelta(days=2), FeatureParams(tick_size=0.01),
                                        LabelParams(horizon_s=5.0)):
        sums[day] = pd.util.hash_pandas_object(frame, index=False).sum()
        del frame  # its arrays are reused for the next day
    assert sums == {d: pd.util.hash_pandas_object(f, index=False).sum() for d, f in held.items()}


def _futures_recording(path: Path) -> None:
    """A USD-M recording: snapshot (lastUpdateId 100), diffs chained by ``pu``, one diff lost
    (u 111..120) — its successor still has U above the previous u, so only ``pu`` shows the gap."""
    t0 = 1_704_153_600_000_000_000  # 2024-01-02T00:00:00Z
    msgs = [{"lastUpdateId": 100, "bids": [["60000.0", "2"]], "asks": [["60000.5", "1"]]}]
    diffs = [(95, 105, 90), (106, 110, 105), (121, 130, 120), (131, 140, 130)]
    for k, (first, last, pu) in enumerate(diffs):
        msgs.append({"stream": "btcusdt@depth@100ms", "data": {
            "e": "depthUpdate", "E": 1_704_153_600_000 + k, "s": "BTCUSDT", "U": first, "u": last,
            "pu": pu, "b": [["60000.0", str(3 + k)]], "a": []}})
        msgs.append({"stream": "btcusdt@bookTicker", "data": {
            "e": "bookTicker", "u": last, "s": "BTCUSDT", "b": "60000.0", "B": str(3 + k),
            "a": "60000.5", "A": "1", "T": 1_704_153_600_000 + k, "E": 1_704_153_600_000 + k}})
    path.write_text("".join(f"{t0 + i * 1_000_000} {json.dumps(m)}\n" for i, m in enumerate(msgs)))


def test_futures_depth_keeps_pu_and_the_replay_finds_a_gap_only_pu_shows(tmp_path: Path) -> None:
    rec_path = tmp_path / "usdm.txt"
    _futures_recording(rec_path)
    store = TickStore(tmp_path / "ticks")
    import_recordings([rec_path], store, "binance-usdm", "BTCUSDT", "skip")
    day = date(2024, 1, 2)
    depth = store.read("depth", "binance-usdm", "BTCUSDT", day, day)
    assert depth.column("prev_update_id").to_pylist() == [None, None, 90, 105, 120, 130]
    results = replay_depth(depth, 5, futures=True)["result"]
    assert list(results) == [DiffResult.APPLIED, DiffResult.APPLIED, DiffResult.APPLIED,
                             DiffResult.GAP, DiffResult.BUFFERED]
    frame = _days_of(store, "binance-usdm", day)[day]
    # in sync after the first two diffs, out of sync (no obi_w) from the gap on
    assert frame["obi_w"].notna().tolist() == [True, True, False, False]


def test_depth_partitions_written_before_prev_update_id_still_read(tmp_path: Path) -> None:
    store = TickStore(tmp_path / "ticks")
    synthesize_to_store(store, "binance", "BTCUSDT", hours=0.05, seed=1,
                        start=datetime(2024, 1, 1, 12, tzinfo=UTC))
    before = _days_of(store, "binance", DAY1)[DAY1]
    part = next(store.partition_dir("depth", "binance", "BTCUSDT", DAY1).glob("*.parquet"))
    old = pq.read_table(part)
    pq.write_table(old.drop_columns(["prev_update_id"]), part)  # the earlier depth schema
    assert store.read("depth", "binance", "BTCUSDT", DAY1, DAY1).column("prev_update_id").null_count \
        == old.num_rows
    pd.testing.assert_frame_equal(_days_of(store, "binance", DAY1)[DAY1], before)


def _days_of(store: TickStore, exchange: str, day: date) -> dict[date, pd.DataFrame]:
    return dict(iter_feature_days(store, exchange, "BTCUSDT", day, day, FeatureParams(tick_size=0.01)))
