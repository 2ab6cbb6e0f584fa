"""Expected slippage of a market order walking the visible book (price units in, bps out).

Sign convention: slippage is a cost, positive when the average fill is worse than the touch
(above the best ask for a buy, below the best bid for a sell), in bps of the touch price.
"""

from __future__ import annotations

import math

import numpy as np


def slippage_bps(side: int, avg_px: float, touch_px: float) -> float:
    """Cost of filling at ``avg_px`` rather than the touch, bps of the touch (side +1 buy, −1 sell)."""
    return side * (avg_px - touch_px) / touch_px * 1e4


def estimate_bps(side: int, qty: float, px: np.ndarray, size: np.ndarray, touch_px: float) -> float:
    """Expected slippage of a market order of ``qty`` base units taking the levels ``px``/``size``
    (best first; a NaN level ends the visible book): their volume-weighted price against the
    touch, with what lies beyond the visible levels priced at the last one (so a lower bound for
    an order larger than the visible book). 0 when no level is visible; never negative."""
    left = qty
    cost = 0.0
    last = math.nan
    for p, q in zip(px.tolist(), size.tolist(), strict=False):
        if math.isnan(p) or math.isnan(q) or left <= 0.0:
            break
        take = q if q < left else left
        cost += take * p
        left -= take
        last = p
    if math.isnan(last):
        return 0.0
    avg = (cost + left * last) / qty
    return max(0.0, slippage_bps(side, avg, touch_px))
