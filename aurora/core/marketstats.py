"""Statistics that say how a market moves: the yardstick between a real day and the synthetic one.

Pure numpy over tick-store columns. Used to fit the synthetic market to a stored real day
(:mod:`aurora.ticks.synth_fit`) and by the test that holds the synthetic defaults to the shared
real BTCUSDT spot recording.

Definitions (``mid = (bid_px + ask_px) / 2``, ``ts`` the receive clock in ns):

* ``dmid_{H}`` — on a grid of one sample per ``grid_s`` seconds from the first bbo, the mid
  ``H`` seconds later minus the mid now (the last bbo at or before each instant), in bps of
  the mid now; ``median_abs_dmid_bps`` and ``p_abs_dmid_ge_10bps`` summarise it.
* ``spread_ticks_q`` — quantiles of ``(ask_px − bid_px) / tick`` over bbo updates.
* ``trade_qty_q`` — quantiles of trade quantities (base units); ``queue_qty_q`` of the L1
  queue sizes ``bid_qty`` and ``ask_qty`` pooled.
* ``bbo_rate_hz`` / ``trade_rate_hz`` — updates per second of receive time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

NS = 1_000_000_000
QUANTILES = (0.1, 0.5, 0.9, 0.99)


@dataclass(frozen=True)
class MarketStats:
    """How a market moved over one stretch of time (see the module docstring for definitions)."""

    seconds: float
    bbo_rate_hz: float
    trade_rate_hz: float
    horizon_s: float
    median_abs_dmid_bps: float
    p_abs_dmid_ge_10bps: float
    spread_ticks_q: tuple[float, ...]
    trade_qty_q: tuple[float, ...]
    queue_qty_q: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mid_changes_bps(ts_ns: np.ndarray, mid: np.ndarray, horizon_s: float, grid_s: float = 1.0) -> np.ndarray:
    """Mid change over ``horizon_s`` sampled every ``grid_s`` seconds, bps of the starting mid."""
    if len(ts_ns) < 2:
        return np.zeros(0)
    h = round(horizon_s * NS)
    grid = np.arange(ts_ns[0], ts_ns[-1] - h + 1, round(grid_s * NS), dtype=np.int64)
    i0 = np.searchsorted(ts_ns, grid, side="right") - 1
    i1 = np.searchsorted(ts_ns, grid + h, side="right") - 1
    return (mid[i1] - mid[i0]) / mid[i0] * 1e4


def market_stats(bbo: dict[str, np.ndarray], trades: dict[str, np.ndarray], tick_size: float,
                 horizon_s: float = 30.0) -> MarketStats:
    """:class:`MarketStats` of one stretch of bbo and trade columns (numpy arrays by column name)."""
    ts = np.asarray(bbo["ts_ns"], dtype=np.int64)
    if len(ts) < 2:
        raise ValueError("market_stats needs at least two bbo updates")
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    bid, ask = np.asarray(bbo["bid_px"])[order], np.asarray(bbo["ask_px"])[order]
    seconds = (ts[-1] - ts[0]) / NS
    d = np.abs(mid_changes_bps(ts, (bid + ask) / 2, horizon_s))
    if not len(d):
        raise ValueError(f"market_stats needs more than {horizon_s} s of bbo updates, got {seconds:.1f} s")
    qty = np.asarray(trades["qty"], dtype=float)
    queues = np.concatenate([np.asarray(bbo["bid_qty"], float), np.asarray(bbo["ask_qty"], float)])

    def q(x: np.ndarray) -> tuple[float, ...]:
        return tuple(float(v) for v in np.quantile(x, QUANTILES)) if len(x) else (np.nan,) * len(QUANTILES)

    return MarketStats(
        seconds=float(seconds),
        bbo_rate_hz=len(ts) / seconds,
        trade_rate_hz=len(qty) / seconds,
        horizon_s=horizon_s,
        median_abs_dmid_bps=float(np.median(d)),
        p_abs_dmid_ge_10bps=float(np.mean(d >= 10.0)),
        spread_ticks_q=q(np.round((ask - bid) / tick_size, 6)),
        trade_qty_q=q(qty),
        queue_qty_q=q(queues),
    )
