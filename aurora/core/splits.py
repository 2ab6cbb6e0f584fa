"""Purged, embargoed splits for time-ordered labelled samples (López de Prado, AFML ch. 7).

Sample i is observed at ``ts_ns[i]`` and its label is known at ``label_end_ns[i]`` (≥ ts); its
label interval is [ts_ns[i], label_end_ns[i]]. Samples must be in time order. Blocks are
contiguous runs of samples by index.

- Purging: a training sample whose label interval overlaps a test block's time span
  [ts of the block's first sample, label end of its last sample] is dropped, so no training
  label peeks into the test period.
- Embargo: training samples observed within ``embargo_ns`` after a test block's last
  observation are dropped too (serial correlation of the features leaks across the boundary).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _validate(ts_ns: np.ndarray, label_end_ns: np.ndarray, embargo_ns: int) -> tuple[np.ndarray, np.ndarray]:
    ts = np.asarray(ts_ns, dtype=np.int64)
    end = np.asarray(label_end_ns, dtype=np.int64)
    if ts.ndim != 1 or ts.shape != end.shape:
        raise ValueError("ts_ns and label_end_ns must be 1-D arrays of one length")
    if ts.size > 1 and np.any(np.diff(ts) < 0):
        raise ValueError("ts_ns must be non-decreasing (samples in time order)")
    if np.any(end < ts):
        raise ValueError("label_end_ns must not precede ts_ns")
    if embargo_ns < 0:
        raise ValueError(f"embargo_ns must be >= 0, got {embargo_ns}")
    return ts, end


def _clean(train: np.ndarray, ts: np.ndarray, end: np.ndarray, lo: int, hi: int, *,
           embargo_ns: int) -> np.ndarray:
    """Drop from ``train`` the samples purged or embargoed by the test block [lo, hi)."""
    if hi <= lo:
        return train
    t0 = ts[lo]
    t1 = max(int(end[lo:hi].max()), int(ts[hi - 1]))
    overlaps = (ts[train] <= t1) & (end[train] >= t0)
    embargoed = (ts[train] > ts[hi - 1]) & (ts[train] <= ts[hi - 1] + embargo_ns)
    return train[~(overlaps | embargoed)]


def _bounds(n: int, n_blocks: int) -> np.ndarray:
    if n_blocks < 1:
        raise ValueError(f"need at least one block, got {n_blocks}")
    if n < n_blocks:
        raise ValueError(f"{n} samples cannot fill {n_blocks} blocks")
    return np.linspace(0, n, n_blocks + 1).round().astype(np.int64)


def walk_forward(ts_ns: np.ndarray, label_end_ns: np.ndarray, n_splits: int = 5, *,
                 embargo_ns: int = 0, expanding: bool = True,
                 train_after: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Walk-forward splits: the samples fall into ``n_splits + 1`` equal blocks; split k tests on
    block k (k = 1..n_splits) and trains on the blocks before it (all of them when
    ``expanding``, else only the previous one), purged and embargoed. With ``train_after`` the
    blocks after the test block train too (purged k-fold; the embargo then matters).

    Returns a list of (train_idx, test_idx) int64 index arrays.
    """
    ts, end = _validate(ts_ns, label_end_ns, embargo_ns)
    bounds = _bounds(ts.size, n_splits + 1)
    out = []
    for k in range(1, n_splits + 1):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        first = 0 if expanding else int(bounds[k - 1])
        parts = [np.arange(first, lo)]
        if train_after:
            parts.append(np.arange(hi, ts.size))
        train = _clean(np.concatenate(parts).astype(np.int64), ts, end, lo, hi, embargo_ns=embargo_ns)
        out.append((train, np.arange(lo, hi, dtype=np.int64)))
    return out


def three_blocks(ts_ns: np.ndarray, label_end_ns: np.ndarray,
                 fractions: Sequence[float] = (0.5, 0.25, 0.25), *,
                 embargo_ns: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fit, calibrate, test) index arrays: consecutive blocks in time by ``fractions`` of the
    samples. Each earlier block is purged against every later one (its samples whose label
    interval reaches into a later block are dropped), and each later block starts only after
    ``embargo_ns`` past the previous block's last observation.
    """
    ts, end = _validate(ts_ns, label_end_ns, embargo_ns)
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    n = ts.size
    if n < 3:
        raise ValueError(f"{n} samples cannot fill three blocks")
    cuts = np.round(np.cumsum(fr) * n).astype(np.int64)
    edges = [0, int(cuts[0]), int(cuts[1]), n]
    blocks = [np.arange(edges[i], edges[i + 1], dtype=np.int64) for i in range(3)]
    for i in range(3):
        for j in range(i + 1, 3):
            lo, hi = edges[j], edges[j + 1]
            if hi > lo:
                blocks[i] = blocks[i][end[blocks[i]] < ts[lo]]
        if i > 0 and blocks[i].size and edges[i] > 0:
            prev_last = ts[edges[i] - 1]
            blocks[i] = blocks[i][ts[blocks[i]] > prev_last + embargo_ns]
    return blocks[0], blocks[1], blocks[2]
