"""A run that starts after a stored day (a fan-out worker's first task) reads only that day's tail
and still computes what a run through that day computes, bit for bit, whatever the partitions'
row groups."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.ticks.day_buffers import DayBuffers
from aurora.ticks.feature_table import iter_feature_days
from aurora.ticks.store import PART_FILE, TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

DAY1 = date(2024, 1, 1)


EDGE_ROWS = 140  # rows at each end of a partition written in row groups of 7


@pytest.fixture(scope="module", params=[True, False], ids=["statistics", "no-statistics"])
def small_groups(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                 ) -> TickStore:
    """A slow market from 23:54 on day 1 to day 4, every partition rewritten with row groups of
    7 rows (~25 s of quotes) at both ends (one group between: thousands of tiny groups make each
    read slow), so the context of a day spans several groups and starts inside one; with the row
    groups' column statistics (the tail is found from them) and without (from the whole sort
    column)."""
    store = TickStore(tmp_path_factory.mktemp("groups"))
    params = SynthParams.for_symbol("BTCUSDT", bbo_rate_hz=0.3, trade_rate_hz=0.1,
                                    depth_interval_s=30.0)
    synthesize_to_store(store, "binance", "BTCUSDT", hours=48.2, seed=5, params=params,
                        start=datetime(2024, 1, 1, 23, 54, tzinfo=UTC))
    for path in store.root.rglob(PART_FILE):
        table = pq.read_table(path)
        head, tail = min(EDGE_ROWS, len(table)), max(len(table) - EDGE_ROWS, 0)
        with pq.ParquetWriter(path, table.schema, write_statistics=request.param) as out:
            out.write_table(table.slice(0, head), row_group_size=7)
            if tail > head:
                out.write_table(table.slice(head, tail - head), row_group_size=tail - head)
            if len(table) > max(head, tail):
                out.write_table(table.slice(max(head, tail)), row_group_size=7)
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups > 1 or len(table) <= 7
        assert meta.row_group(0).column(0).is_stats_set == request.param
    return store


@pytest.mark.parametrize(
    ("start", "params"),
    [
        (date(2024, 1, 3), FeatureParams(tick_size=0.01)),
        # a context (15 min) longer than the previous day (6 min): the whole day is the tail
        (date(2024, 1, 2), FeatureParams(tick_size=0.01, impact_window_s=900.0)),
    ],
)
def test_a_run_starting_after_a_stored_day_equals_a_run_through_it(small_groups, start, params):
    labels = LabelParams(horizon_s=30.0)
    through = dict(iter_feature_days(small_groups, "binance", "BTCUSDT", DAY1, date(2024, 1, 4),
                                     params, labels, keep_frames=True))
    after = dict(iter_feature_days(small_groups, "binance", "BTCUSDT", start, date(2024, 1, 4),
                                   params, labels, keep_frames=True))
    assert sorted(after) == [d for d in sorted(through) if d >= start]
    for day, frame in after.items():
        pd.testing.assert_frame_equal(frame, through[day], check_exact=True)
    first = after[start]
    assert first["tfi_5s"].iloc[:3].notna().all() and first["book_ok"].all()


def test_a_pool_of_arrays_kept_between_runs_changes_nothing(small_groups):
    """A fan-out worker's next run of days reuses the arrays of its last (released memory
    poisoned: a stale read shows as NaN / −1)."""
    params, labels, last = FeatureParams(tick_size=0.01), LabelParams(horizon_s=30.0), date(2024, 1, 4)
    pool = DayBuffers(poison=True)
    for _ in iter_feature_days(small_groups, "binance", "BTCUSDT", DAY1, date(2024, 1, 2), params,
                               labels, buffers=pool):
        pass
    assert pool.held_bytes > 0
    again = {day: frame.copy() for day, frame in iter_feature_days(
        small_groups, "binance", "BTCUSDT", date(2024, 1, 3), last, params, labels, buffers=pool)}
    alone = dict(iter_feature_days(small_groups, "binance", "BTCUSDT", date(2024, 1, 3), last, params,
                                   labels, keep_frames=True))
    assert sorted(again) == sorted(alone) == [date(2024, 1, 3), last]
    for day, frame in alone.items():
        pd.testing.assert_frame_equal(again[day], frame, check_exact=True)
