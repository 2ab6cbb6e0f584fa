"""Day-by-day feature tables: the day-buffer contract (a frame is valid until the next day is
requested; poisoned after); futures depth replays by ``pu``; partitions from before
``prev_update_id`` still read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_WS

from aurora.core.book import DiffResult, replay_depth
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams, label_columns
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.day_buffers import DayBuffers
from aurora.ticks.feature_table import LABEL_COLUMNS, UnsyncedBook, iter_feature_days
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

DAY1 = date(2024, 1, 1)


def test_day_buffers_reuse_released_memory_only():
    b = DayBuffers()
    x = b.empty(1000, np.float64)
    y = b.empty((2, 400), np.int64)  # x is in use: new memory
    assert not np.shares_memory(x, y)
    b.give_back(x)
    z = b.empty(900, np.int8)  # x's buffer, the smallest free one that fits
    assert np.shares_memory(x, z) and z.shape == (900,) and z.dtype == np.int8
    assert not np.shares_memory(y, b.empty(10, np.int64))
    b.release()
    assert np.shares_memory(y, b.empty((2, 400), np.int64))
    with pytest.raises(ValueError, match="not an array handed out"):
        b.give_back(np.zeros(3))
    assert b.held_bytes >= 1000 * 8 + 800 * 8
    b.clear()
    assert b.held_bytes == 0


def test_day_buffers_poison_released_memory_and_shapes():
    b = DayBuffers(poison=True)
    f, i, ok = b.empty((3, 5), "float64"), b.empty(4, np.int64), b.empty(2, np.bool_)
    assert f.flags.c_contiguous and f.flags.aligned and b.empty(0, np.bool_).shape == (0,)
    f[:] = 1.0
    i[:] = 7
    ok[:] = False
    b.release()
    assert np.isnan(f).all() and (i == -1).all() and ok.all()


def test_day_buffers_without_reuse_are_plain_arrays():
    b = DayBuffers(reuse=False, poison=True)
    x = b.empty(10, np.float64)
    x[:] = 2.0
    b.give_back(x)
    b.release()
    assert (x == 2.0).all() and not np.shares_memory(x, b.empty(10, np.float64))


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
                                  FeatureParams(tick_size=0.01), LabelParams(horizon_s=5.0),
                                  keep_frames=True))


def test_frames_kept_across_days_equal_days_computed_alone(three_days):
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
                                        LabelParams(horizon_s=5.0), poison_released=True):
        sums[day] = pd.util.hash_pandas_object(frame, index=False).sum()
        del frame  # its arrays are reused for the next day
    assert sums == {d: pd.util.hash_pandas_object(f, index=False).sum() for d, f in held.items()}


def test_a_frame_held_past_its_day_is_poisoned(three_days):
    days = iter_feature_days(three_days, "binance", "BTCUSDT", DAY1, DAY1 + timedelta(days=1),
                             FeatureParams(tick_size=0.01), LabelParams(horizon_s=5.0),
                             poison_released=True)
    _, first = next(days)
    kept = first.copy()
    assert kept["mid"].notna().all() and (kept["ts_ns"] > 0).all()
    next(days)  # the contract: day 1's arrays are released (poisoned, or holding day 2)
    for name in ("ts_ns", "mid", "obi_l1", "ofi_1s", "label_long"):
        assert not np.array_equal(first[name], kept[name]), name
    assert first["mid"].isna().any() or (first["ts_ns"] == -1).any()


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


def _continuous_labels(store: TickStore, first: date, last: date, params: LabelParams) -> dict:
    """Labels of every stored quote computed in one piece, as if the days were one file."""
    quotes = store.read("bbo", "binance", "BTCUSDT", first, last, ["ts_ns", "bid_px", "ask_px"])
    return label_columns(*(quotes.column(c).to_numpy() for c in ("ts_ns", "bid_px", "ask_px")),
                         params)


def _assert_labels_continue(store: TickStore, first: date, last: date, horizon_s: float) -> None:
    params = LabelParams(horizon_s=horizon_s)
    frames = dict(iter_feature_days(store, "binance", "BTCUSDT", first, last,
                                    FeatureParams(tick_size=0.01), params, keep_frames=True))
    whole = _continuous_labels(store, first, last, params)
    joined = pd.concat(frames.values(), ignore_index=True)
    for name in LABEL_COLUMNS:
        np.testing.assert_array_equal(joined[name].to_numpy(), whole[name], err_msg=name)
    for day in list(frames)[:-1]:  # the next stored day covers every horizon of the day
        assert frames[day]["label_complete"].all(), day


def test_labels_near_midnight_use_the_next_day(three_days):
    day1 = three_days.read("bbo", "binance", "BTCUSDT", DAY1, DAY1, ["ts_ns"]).column("ts_ns")
    midnight = int(pd.Timestamp(DAY1 + timedelta(days=1)).value)
    assert midnight - day1[-1].as_py() < 5 * 1_000_000_000  # the last horizons cross midnight
    _assert_labels_continue(three_days, DAY1, DAY1 + timedelta(days=2), horizon_s=5.0)


@pytest.mark.skipif(not (SHARED_WS / "btcusdt_20240809.gz").exists(),
                    reason="shared recordings not present on this machine")
def test_labels_of_the_shared_recordings_continue_across_midnight(tmp_path: Path) -> None:
    """20240808 and 20240809 are one connection: the 30 s labels of 23:59:3x need 20240809."""
    store = TickStore(tmp_path / "ticks")
    import_recordings([SHARED_WS / "btcusdt_20240808.gz", SHARED_WS / "btcusdt_20240809.gz"], store,
                      "binance", "BTCUSDT", "skip")
    _assert_labels_continue(store, date(2024, 8, 8), date(2024, 8, 9), horizon_s=30.0)


def test_unsynced_book_ranges_join_across_days():
    book = UnsyncedBook()
    book.add(np.array([1, 2, 3, 4]), np.array([True, False, False, True]))  # 2..4 (back at 4)
    book.add(np.array([5, 6]), np.array([True, False]))  # 6.. still out at the day's end
    book.add(np.array([7, 8, 9]), np.array([False, True, False]))  # ..8 (across midnight); 9..9
    book.add(np.array([], dtype=np.int64), np.array([], dtype=bool))
    assert book.ranges == [(2, 4), (6, 8), (9, 9)] and book.open
    assert book.total_s == 4 / 1e9
    fresh = UnsyncedBook()
    fresh.add(np.array([1, 2]), np.array([True, True]))
    assert fresh.ranges == [] and fresh.total_s == 0.0


def test_importing_aurora_changes_no_process_setting():
    """No allocator environment is set on import (a notebook's process is left as it was)."""
    code = ("import os, aurora, aurora.ticks.feature_table, pyarrow as pa; "
            "print(sorted(k for k in os.environ if k.startswith(('MIMALLOC', 'JE_', 'ARROW'))), "
            "pa.default_memory_pool().backend_name)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIMALLOC", "JE_", "ARROW"))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "[]" and out[1] == pa.default_memory_pool().backend_name
