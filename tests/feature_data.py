"""Random tick frames for the feature tests (a merged bbo/trade/depth stream in seq order)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aurora.core.features import BookTops

TICK = 0.01


def random_market(n: int, seed: int, levels: int = 5, mean_gap_ns: int = 50_000_000,
                  depth_frac: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame, BookTops]:
    """``n`` events: bbo, ~30 % trades, ``depth_frac`` book tops; receive-time ties included."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=[0.7 - depth_frac, 0.3, depth_frac])
    gaps = rng.exponential(mean_gap_ns, n).astype(np.int64) * (rng.random(n) > 0.2)
    ts = 1_700_000_000_000_000_000 + np.cumsum(gaps)
    seq = np.arange(n, dtype=np.int64) + 1
    steps = rng.choice([-1, 0, 0, 0, 1], size=n)
    bid = 30000.0 + np.cumsum(steps) * TICK
    spread = rng.choice([1, 1, 1, 2, 3], size=n) * TICK
    b = kind == 0
    bbo = pd.DataFrame({
        "ts_ns": ts[b], "seq": seq[b], "update_id": seq[b] * 10,
        "bid_px": np.round(bid[b], 2), "bid_qty": np.round(rng.lognormal(0, 1, b.sum()), 5),
        "ask_px": np.round(bid[b] + spread[b], 2), "ask_qty": np.round(rng.lognormal(0, 1, b.sum()), 5),
    })
    t = kind == 1
    side = rng.choice(np.array([-1, 1], dtype=np.int8), size=t.sum())
    trades = pd.DataFrame({
        "ts_ns": ts[t], "seq": seq[t], "price": np.round(bid[t], 2),
        "qty": np.round(rng.lognormal(-1, 1.5, t.sum()), 5), "side": side,
    })
    d = kind == 2
    m = int(d.sum())
    tops = BookTops(seq=seq[d], bid_qty=np.round(rng.lognormal(0, 1, (m, levels)), 4),
                    ask_qty=np.round(rng.lognormal(0, 1, (m, levels)), 4),
                    in_sync=rng.random(m) > 0.1)
    return bbo, trades, tops
