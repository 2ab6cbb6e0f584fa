"""Fit the synthetic market's parameters to a stored real day (``auroractl data synth --like``).

Every parameter but one is a moment of the real data. The direction persistence of price moves
(``move_persist``) is not pinned down by any single moment: the injected signal already makes
moves drift together, so what it takes depends on everything else. It is chosen by simulation —
a bisection that matches the real median |Δmid| over 30 s (:mod:`aurora.core.marketstats`) on a
simulated stretch as long as the real one and at least an hour, with a fixed seed, so a fit is
deterministic.

What is measured (real day ⇒ :class:`~aurora.ticks.synth.SynthParams` field):

* updates and trades per second ⇒ ``bbo_rate_hz``, ``trade_rate_hz``; the dispersion of bbo
  counts per 10 s ⇒ ``intensity_sd`` (a lognormal intensity mixed into Poisson counts has
  ``var = m + m²(e^{sd²} − 1)``; busy spells bring updates, not price moves);
* the fraction of bbo updates that move the mid by a tick or more and the size of those moves in
  ticks (median, and a log-sd from the 90/99 % quantiles) ⇒ ``move_prob``, ``move_ticks_*``;
* the fraction of updates wider than one tick and their median extra width ⇒ ``wide_spread_frac``,
  ``wide_extra_ticks_mean`` (geometric: mean = median / ln 2);
* trade sizes (median, log-sd from the 10/90/99 % quantiles) and L1 queue sizes (from the 90/99 %
  quantiles) ⇒ ``trade_qty_*``, ``queue_*``;
* the first mid ⇒ ``start_price``; the tick and lot sizes are given (exchange filters).

The injected signal (``alpha_*``) is kept from ``base``: it is what research is meant to find.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aurora.core.marketstats import QUANTILES, MarketStats, market_stats
from aurora.fileio import atomic_write_bytes
from aurora.ticks.schema import EXCHANGES, instrument_problem
from aurora.ticks.store import TickStore
from aurora.ticks.synth import NS, SynthParams, generate

#: The quantiles a log-sd is fitted on, and their standard normal scores.
_LEVELS = (0.1, 0.9, 0.99)
_Z = np.array([-1.2815516, 1.2815516, 2.3263479])
_FIT_SEED = 20240808
_MIN_SIM_HOURS = 1.0
_PERSIST_STEPS = 7
_MAX_PERSIST = 0.97
#: Window of the bbo counts whose dispersion gives ``intensity_sd`` (the scale of the 30 s moves).
_COUNT_WINDOW_S = 10

class SynthFitError(ValueError):
    """The stored data cannot be fitted (missing, too short); the message says what to do."""


def _log_sd(x: np.ndarray, upper_only: bool = False) -> tuple[float, float]:
    """(median, log-sd) of a lognormal matched to ``x``'s quantiles by least squares.

    ``upper_only`` fits the 90 and 99 % points alone, for a quantity whose small values are
    another mechanism (half-tick mid steps from the spread, nearly empty queues) and whose large
    ones carry the risk.
    """
    x = x[x > 0]
    q = np.quantile(x, (0.5, *_LEVELS))
    dev, z = np.log(q[1:] / q[0]), _Z
    if upper_only:
        dev, z = dev[1:], z[1:]
    return float(q[0]), float(max(dev @ z / (z @ z), 1e-3))


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {name: table.column(name).to_numpy() for name in table.column_names}


def moment_params(bbo: dict[str, np.ndarray], trades: dict[str, np.ndarray],
                  base: SynthParams) -> SynthParams:
    """``base`` with every parameter that a moment of the real columns determines (module docstring)."""
    ts = bbo["ts_ns"]
    tick = base.tick_size
    seconds = (ts[-1] - ts[0]) / NS
    bid, ask = bbo["bid_px"], bbo["ask_px"]
    mid_ticks = (bid + ask) / 2 / tick
    steps = np.abs(np.diff(mid_ticks))
    moves = steps[steps >= 1 - 1e-6]  # half-tick steps are the spread opening/closing on one side
    counts = np.bincount(((ts - ts[0]) // (_COUNT_WINDOW_S * NS)).astype(np.int64))
    m, v = counts.mean(), counts.var()
    spread = np.round((ask - bid) / tick)
    wide = spread[spread > 1]
    move_median, move_sd = _log_sd(moves, upper_only=True)
    qty_median, qty_sd = _log_sd(trades["qty"])
    queue_median, queue_sd = _log_sd(np.concatenate([bbo["bid_qty"], bbo["ask_qty"]]), upper_only=True)
    return replace(
        base,
        start_price=float(mid_ticks[0] * tick),
        bbo_rate_hz=len(ts) / seconds,
        intensity_sd=math.sqrt(math.log1p(max(v - m, 0.0) / (m * m))),
        trade_rate_hz=len(trades["ts_ns"]) / seconds,
        move_prob=len(moves) / max(len(steps), 1),
        move_ticks_median=max(move_median, 1.0),
        move_ticks_log_sd=move_sd,
        wide_spread_frac=len(wide) / len(spread),
        # geometric extra width: its median is mean·ln 2
        wide_extra_ticks_mean=max(float(np.median(wide - 1)) / math.log(2), 1.0) if len(wide)
        else base.wide_extra_ticks_mean,
        trade_qty_median=qty_median,
        trade_qty_log_sd=qty_sd,
        queue_median=queue_median,
        queue_log_sd=queue_sd,
    )


def _simulated(params: SynthParams, symbol: str, hours: float) -> MarketStats:
    g = generate(symbol, hours, _FIT_SEED, params=params)
    return market_stats(_columns(g["bbo"]), _columns(g["trades"]), params.tick_size)


@dataclass(frozen=True)
class LikeSource:
    """The stored real days a fit reads: ``EXCHANGE/SYMBOL/DATE`` or ``EXCHANGE/SYMBOL/DATE..DATE``."""

    exchange: str
    symbol: str
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> LikeSource:
        parts = text.split("/")
        if len(parts) != 3 or not all(parts):
            raise SynthFitError(f"--like {text!r} is not EXCHANGE/SYMBOL/DATE (e.g. binance/BTCUSDT/"
                                "2024-08-09, or a range binance/BTCUSDT/2024-08-08..2024-08-09)")
        exchange, symbol, dates = parts
        if exchange not in EXCHANGES:
            raise SynthFitError(f"--like {text!r}: unknown exchange {exchange!r}; "
                                f"use one of {', '.join(EXCHANGES)}")
        problem = instrument_problem(exchange, symbol.upper())
        if problem:
            raise SynthFitError(f"--like {text!r}: {problem}")
        first, _, last = dates.partition("..")
        try:
            start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        except ValueError:
            raise SynthFitError(f"--like {text!r}: {dates!r} is not YYYY-MM-DD "
                                "or YYYY-MM-DD..YYYY-MM-DD") from None
        if start > end:
            raise SynthFitError(f"--like {text!r}: {start} is after {end}")
        return cls(exchange, symbol.upper(), start, end)

    def __str__(self) -> str:
        days = str(self.start) if self.start == self.end else f"{self.start}..{self.end}"
        return f"{self.exchange}/{self.symbol}/{days}"


@dataclass(frozen=True)
class SynthFit:
    """Fitted parameters, the real day's statistics and the fitted market's on a simulated stretch."""

    source: str
    params: SynthParams
    real: MarketStats
    simulated: MarketStats

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "params": asdict(self.params), "real": self.real.to_dict(),
                "simulated": self.simulated.to_dict()}

    def describe(self) -> str:
        """A table of the fitted parameters and of real vs simulated statistics."""
        rows = [f"fitted to {self.source}:"]
        rows += [f"  {k:<24} {v:.6g}" if isinstance(v, float) else f"  {k:<24} {v}"
                 for k, v in asdict(self.params).items()]
        rows.append(f"  {'statistic':<24} {'real':>12} {'simulated':>12}")
        for key in ("bbo_rate_hz", "trade_rate_hz", "median_abs_dmid_bps", "p_abs_dmid_ge_10bps"):
            rows.append(f"  {key:<24} {getattr(self.real, key):>12.4g} {getattr(self.simulated, key):>12.4g}")
        for key in ("spread_ticks_q", "trade_qty_q", "queue_qty_q"):
            pairs = zip(getattr(self.real, key), getattr(self.simulated, key), strict=True)
            for level, (r, m) in zip(QUANTILES, pairs, strict=True):
                rows.append(f"  {key + f'[{level:g}]':<24} {r:>12.4g} {m:>12.4g}")
        return "\n".join(rows)


def _match_median(params: SynthParams, real: MarketStats, symbol: str, hours: float) -> SynthParams:
    """``params`` with the ``move_persist`` whose simulated median |Δmid| matches ``real``'s (bisection)."""
    lo, hi = -_MAX_PERSIST, _MAX_PERSIST
    for _ in range(_PERSIST_STEPS):
        mid = (lo + hi) / 2
        sim = _simulated(replace(params, move_persist=mid), symbol, hours)
        lo, hi = (mid, hi) if sim.median_abs_dmid_bps < real.median_abs_dmid_bps else (lo, mid)
    return replace(params, move_persist=round((lo + hi) / 2, 2))


def fit_like(bbo: pa.Table, trades: pa.Table, symbol: str, base: SynthParams,
             source: str = "") -> SynthFit:
    """Parameters that make the synthetic market move like ``bbo``/``trades`` (columns of one stretch)."""
    if len(bbo) < 1000 or len(trades) < 100:
        raise SynthFitError(f"too little data to fit: {len(bbo)} bbo updates and {len(trades)} trades "
                            "(need at least 1000 and 100: import a longer recording)")
    b, t = _columns(bbo), _columns(trades)
    real = market_stats(b, t, base.tick_size)
    params = moment_params(b, t, base)
    hours = max(real.seconds / 3600, _MIN_SIM_HOURS)
    params = _match_median(params, real, symbol, hours)
    return SynthFit(source or symbol, params, real, _simulated(params, symbol, hours))


def fit_from_store(store: TickStore, source: LikeSource, base: SynthParams) -> SynthFit:
    """:func:`fit_like` over the stored days of ``source``."""
    bbo = store.read("bbo", source.exchange, source.symbol, source.start, source.end,
                     ["ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"])
    trades = store.read("trades", source.exchange, source.symbol, source.start, source.end, ["ts_ns", "qty"])
    if not len(bbo):
        have = store.dates("bbo", source.exchange, source.symbol)
        raise SynthFitError(f"no bbo stored for {source} in {store.root} "
                            f"(stored dates: {', '.join(map(str, have)) or 'none'}; import the day first "
                            "with 'auroractl data import')")
    return fit_like(bbo, trades, source.symbol, base, str(source))


def save_fit(fit: SynthFit, directory: Path) -> Path:
    """Write ``fit`` as JSON to ``directory/<exchange>_<SYMBOL>_<dates>.json`` (atomically); its path."""
    name = fit.source.replace("/", "_").replace("..", "_to_")
    path = directory / f"{name}.json"
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(json.dumps(fit.summary(), indent=2, sort_keys=True, default=float).encode(), path)
    return path
