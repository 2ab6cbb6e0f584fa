"""Purged, embargoed splits: hand-worked indices and properties that must hold for any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.core.splits import three_blocks, walk_forward


def test_walk_forward_purges_overlapping_labels():
    ts = np.arange(12, dtype=np.int64) * 10
    end = ts + 15  # each label reaches 1.5 samples ahead
    splits = walk_forward(ts, end, n_splits=2)
    # blocks of 4: [0..3] [4..7] [8..11]
    train, test = splits[0]
    np.testing.assert_array_equal(test, [4, 5, 6, 7])
    # sample 3 (ts 30, label to 45) overlaps test start ts 40 -> purged
    np.testing.assert_array_equal(train, [0, 1, 2])
    train, test = splits[1]
    np.testing.assert_array_equal(test, [8, 9, 10, 11])
    np.testing.assert_array_equal(train, [0, 1, 2, 3, 4, 5, 6])


def test_walk_forward_rolling_and_embargo_after_test():
    ts = np.arange(12, dtype=np.int64) * 10
    end = ts.copy()
    (train, test), _ = walk_forward(ts, end, n_splits=2, expanding=True, train_after=True, embargo_ns=25)
    np.testing.assert_array_equal(test, [4, 5, 6, 7])
    # test ends at ts 70: samples at 80 and 90 (<= 95) are embargoed
    np.testing.assert_array_equal(train, [0, 1, 2, 3, 10, 11])
    _, (train, _test) = walk_forward(ts, end, n_splits=2, expanding=False)
    np.testing.assert_array_equal(train, [4, 5, 6, 7])


def test_three_blocks_purge_and_embargo():
    ts = np.arange(8, dtype=np.int64) * 10
    end = ts + 10
    fit, cal, test = three_blocks(ts, end, (0.5, 0.25, 0.25))
    # fit [0..3]: sample 3 (label to 40) reaches the cal block start ts 40 -> purged
    np.testing.assert_array_equal(fit, [0, 1, 2])
    np.testing.assert_array_equal(cal, [4])
    np.testing.assert_array_equal(test, [6, 7])
    fit, cal, test = three_blocks(ts, ts, (0.5, 0.25, 0.25), embargo_ns=10)
    np.testing.assert_array_equal(fit, [0, 1, 2, 3])
    np.testing.assert_array_equal(cal, [5])  # 40 <= 30 + 10 embargoed
    np.testing.assert_array_equal(test, [7])


def test_bad_input():
    ts = np.arange(5, dtype=np.int64)
    with pytest.raises(ValueError, match="precede"):
        walk_forward(ts, ts - 1, 2)
    with pytest.raises(ValueError, match="non-decreasing"):
        walk_forward(ts[::-1].copy(), ts[::-1].copy(), 2)
    with pytest.raises(ValueError, match="fractions"):
        three_blocks(ts, ts, (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="blocks"):
        walk_forward(ts, ts, 10)


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(0, 5), min_size=12, max_size=60), reach=st.integers(0, 20),
       n_splits=st.integers(1, 4), embargo=st.integers(0, 10), after=st.booleans())
def test_no_train_label_overlaps_its_test_block(gaps, reach, n_splits, embargo, after):
    ts = np.cumsum(np.asarray(gaps, np.int64))
    end = ts + reach
    for train, test in walk_forward(ts, end, n_splits, embargo_ns=embargo, train_after=after):
        assert not np.intersect1d(train, test).size
        t0, t1 = ts[test[0]], max(end[test].max(), ts[test[-1]])
        assert not np.any((ts[train] <= t1) & (end[train] >= t0))
        assert not np.any((ts[train] > ts[test[-1]]) & (ts[train] <= ts[test[-1]] + embargo))
    fit, cal, test = three_blocks(ts, end, embargo_ns=embargo)
    for early, late in ((fit, cal), (fit, test), (cal, test)):
        if early.size and late.size:
            assert end[early].max() < ts[late].min()
