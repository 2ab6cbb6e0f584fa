"""Stoikov micro-price: estimation on data with a known imbalance effect, symmetry, round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aurora.core.microprice import MicropriceModel, imbalance_bucket, spread_bucket


def _market(n=40_000, seed=3):
    """One-tick market where the next mid move is up with probability = imbalance."""
    rng = np.random.default_rng(seed)
    tick = 0.5
    bid = np.empty(n)
    bq = rng.uniform(0.1, 10, n)
    aq = rng.uniform(0.1, 10, n)
    bid[0] = 100.0
    for i in range(1, n):
        imb = bq[i - 1] / (bq[i - 1] + aq[i - 1])
        move = rng.random() < 0.3
        up = rng.random() < imb
        bid[i] = bid[i - 1] + (tick if up else -tick) * move
    ts = np.arange(n, dtype=np.int64) * 100_000_000
    return ts, bid, bq, bid + tick, aq, tick


@pytest.mark.parametrize("kind", ["stoikov", "horizon"])
def test_fit_finds_the_imbalance_effect_and_is_antisymmetric(kind):
    ts, bp, bq, ap, aq, tick = _market()
    m = MicropriceModel.fit(ts, bp, bq, ap, aq, tick, imbalance_buckets=6, spread_buckets=2,
                            horizon_s=1.0, kind=kind)
    g = m.table[0]
    assert np.all(np.diff(g) > 0), g  # more bid queue -> higher fair price
    np.testing.assert_allclose(g, -g[::-1], atol=1e-9)
    assert np.all(m.table[1] == 0)  # two-tick spreads never seen
    adj = m.adjustment(np.array([0.0, 1.0, np.nan]), np.array([tick, tick, tick]))
    assert adj[0] < 0 < adj[1] and np.isnan(adj[2])
    assert abs(adj[1]) < tick  # a fair price stays inside the spread


def test_horizon_kind_hand_worked():
    ts = np.array([0, 1, 2], dtype=np.int64) * 1_000_000_000
    bp = np.array([10.0, 11.0, 11.0])
    ap = bp + 1.0
    bq = np.array([3.0, 1.0, 1.0])
    aq = np.array([1.0, 1.0, 1.0])
    m = MicropriceModel.fit(ts, bp, bq, ap, aq, 1.0, imbalance_buckets=2, spread_buckets=1,
                            horizon_s=1.0, kind="horizon")
    # obs: I=.75 (bucket 1) d=+1; I=.5 (bucket 1) d=0; I=.5 d=0; mirrors: bucket 0 with -1, 0, 0
    assert m.table[0, 1] == pytest.approx(1 / 3)
    assert m.table[0, 0] == pytest.approx(-1 / 3)


def test_dict_round_trip_and_errors():
    ts, bp, bq, ap, aq, tick = _market(5000)
    m = MicropriceModel.fit(ts, bp, bq, ap, aq, tick, 4, 2)
    doc = json.loads(json.dumps(m.to_dict()))
    assert MicropriceModel.from_dict(doc) == m
    with pytest.raises(ValueError, match="lacks"):
        MicropriceModel.from_dict({"kind": "stoikov"})
    bad = dict(doc, g_ticks=[[0.0]])
    with pytest.raises(ValueError, match="g_ticks"):
        MicropriceModel.from_dict(bad)
    with pytest.raises(ValueError, match="kind"):
        MicropriceModel.from_dict(dict(doc, kind="magic"))


def test_buckets():
    np.testing.assert_array_equal(imbalance_bucket(np.array([0.0, 0.249, 0.25, 1.0, np.nan]), 4),
                                  [0, 0, 1, 3, -1])
    np.testing.assert_array_equal(spread_bucket(np.array([0.01, 0.02, 0.05, 0.0]), 0.01, 2),
                                  [0, 1, 1, 0])
