"""Day-by-day feature tables: recycled day arrays never change a frame the caller still holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
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
