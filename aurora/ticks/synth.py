"""A deterministic synthetic Binance-like market with a known injected alpha.

The market (all vectorised numpy; ~10 M bbo+trade events per simulated day):

* **Arrivals** — one merged stream of ``bbo`` updates and trades. Time is cut into buckets of
  ``intensity_bucket_s``; the log intensity follows an AR(1) over buckets (regime-like clustering),
  trades get an extra AR(1) burst factor. Counts per bucket are Poisson, times uniform in the bucket.
* **L1 queues** — log ``bid_qty`` / ``ask_qty`` are AR(1) in bbo-event time (heavy-tailed,
  lognormal), giving a persistent order-book imbalance ``obi_l1 = (bid_qty − ask_qty)/(bid_qty + ask_qty)``.
* **Trades** — side from a persistent latent order flow (AR(1), logistic), size lognormal
  (heavy-tailed), price = the prevailing ask for a taker buy (``side = +1``) and the bid for a sell.
* **Price** — the "center" (the bid when the spread is one tick) moves at a bbo event with
  probability ``move_prob`` (divided by the bucket's activity factor, so busy spells bring more
  updates but not more moves per second) by a lognormal number of ticks. A move keeps the previous move's
  direction with probability ``move_persist`` when it is positive (trends), or reverses it with
  probability ``−move_persist`` when negative (bounces); otherwise its direction is drawn fresh.
  **Injected relationship**, for a fresh direction::

      P(up move at bbo event n) = sigmoid(alpha_obi · obi_l1[n−1] + alpha_tfi · tfi[n])

  where ``obi_l1[n−1]`` is the imbalance shown by the previous bbo update and ``tfi[n]`` is
  ``Σ side·qty / Σ qty`` over trades in the ``tfi_window_s`` seconds before event n (0 if none).
  A long entered when ``obi_l1`` is high therefore hits a take-profit before a stop-loss more
  often than one entered when it is low.
* **Spread** — one tick most of the time; a clustered fraction ``wide_spread_frac`` of updates
  widens it by a geometric number of ticks on one side.
* **Depth** — every ``depth_interval_s`` a diff message rewrites the top ``depth_levels`` levels
  per side around the prevailing bbo (new levels + deletions of levels that left the top), and each
  generated chunk (one UTC day in :func:`synthesize_to_store`) starts with a snapshot, so every day
  partition bootstraps an order book on its own. Deeper levels are not modelled.

Clocks: ``ts_ns`` is the simulated receive time; ``exch_ns`` is an exchange time ``latency_ms``
earlier, floored to the millisecond (null for bbo, as in Binance spot ``@bookTicker``).

Determinism: output depends only on ``(symbol preset, params, seed, start, hours)``. The market is
generated in chunks that end at UTC midnight; each chunk draws from
``numpy.random.default_rng([seed, chunk_index])`` and carries the state (price, AR states, ids) to
the next, so :func:`generate` over two days equals :func:`synthesize_to_store` day by day.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.signal import lfilter
from scipy.special import expit, ndtri

from aurora.ticks.schema import BBO, DEPTH, TRADES
from aurora.ticks.store import TickStore

NS = 1_000_000_000
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SynthParams:
    """Coefficients of the synthetic market (rates in events/s, sizes in base currency).

    The defaults are Binance spot BTCUSDT as fitted by :mod:`aurora.ticks.synth_fit` to the real
    recording of 2024-08-08/09 (``auroractl data synth --like binance/BTCUSDT/2024-08-08..2024-08-09``),
    with the injected signal ``alpha_*`` on top; the ``ETH*`` preset is the same fit to ETHUSDT.
    """

    start_price: float = 60_000.0
    tick_size: float = 0.01
    lot_size: float = 1e-5
    bbo_rate_hz: float = 112.5           # mean bbo updates per second
    trade_rate_hz: float = 30.6          # mean trades per second
    intensity_bucket_s: float = 0.1      # intensity is piecewise constant over these buckets
    intensity_phi: float = 0.995         # AR(1) coefficient of log intensity per bucket
    intensity_sd: float = 0.43           # stationary sd of log intensity
    trade_burst_phi: float = 0.98        # AR(1) of the extra log intensity of trades
    trade_burst_sd: float = 0.5
    queue_phi: float = 0.995             # AR(1) per bbo event of log L1 queue sizes
    queue_median: float = 1.14           # median L1 queue size
    queue_log_sd: float = 0.82           # stationary sd of log L1 queue size
    flow_phi: float = 0.99               # AR(1) per trade of the latent order flow
    flow_beta: float = 1.5               # P(buy) = sigmoid(flow_beta * flow), flow ~ N(0, 1)
    trade_qty_median: float = 6.7e-4
    trade_qty_log_sd: float = 2.6        # heavy tail: p99/median ≈ 420
    move_prob: float = 0.075             # probability that a bbo update moves the price
    move_ticks_median: float = 38.5      # median price move, ticks (lognormal, ≥ 1)
    move_ticks_log_sd: float = 1.06
    move_persist: float = 0.72           # > 0: P(a move keeps the last direction); < 0: −P(it reverses)
    alpha_obi: float = 3.0               # injected: logit P(up) per unit obi_l1
    alpha_tfi: float = 2.0               # injected: logit P(up) per unit tfi over tfi_window_s
    tfi_window_s: float = 1.0
    wide_spread_frac: float = 0.107      # fraction of bbo updates with spread > 1 tick
    wide_spread_phi: float = 0.9         # AR(1) clustering of wide-spread episodes
    wide_extra_ticks_mean: float = 124.0  # mean extra ticks when wide (geometric)
    depth_interval_s: float = 1.0        # one depth diff message per interval
    depth_levels: int = 10               # levels per side in depth messages
    depth_gap_ticks_mean: float = 5.0    # mean distance between consecutive depth levels, ticks
    latency_ms: float = 20.0             # exch_ns = ts_ns − latency, floored to ms

    @classmethod
    def for_symbol(cls, symbol: str, **overrides: Any) -> SynthParams:
        """Preset by base asset: ETHUSDT-like for ``ETH*``, else BTCUSDT-like (both fitted to real days)."""
        base = cls()
        if symbol.upper().startswith("ETH"):
            base = replace(base, start_price=2_700.0, lot_size=1e-4, bbo_rate_hz=90.3, trade_rate_hz=22.3,
                           intensity_sd=0.38, queue_median=6.38, queue_log_sd=0.91, trade_qty_median=7.8e-3,
                           trade_qty_log_sd=2.53, move_prob=0.074, move_ticks_median=3.0,
                           move_ticks_log_sd=0.82, move_persist=-0.19, wide_spread_frac=0.118,
                           wide_extra_ticks_mean=7.2)
        return replace(base, **overrides)


@dataclass
class _State:
    """What one chunk hands to the next."""

    center: int                       # ticks
    x_int: float = 0.0
    w_trade: float = 0.0
    lbq: float = 0.0
    laq: float = 0.0
    flow: float = 0.0
    z_wide: float = -5.0
    last_obi: float = 0.0
    last_up: bool = True
    bbo: tuple[int, int, float, float] | None = None   # bid ticks, ask ticks, bid qty, ask qty
    update_id: int = 1_000_000_000
    trade_id: int = 100_000_000
    seq: int = 0
    depth_u: int = 0
    levels: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    chunk: int = 0


@dataclass
class SynthReport:
    symbol: str
    exchange: str
    seed: int
    hours: float
    rows: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    days: list[str] = field(default_factory=list)


def _ar1(eps: np.ndarray, phi: float, sd: float, prev: float) -> np.ndarray:
    """y[n] = phi·y[n−1] + sd·sqrt(1−phi²)·eps[n] with y[−1] = prev (stationary sd = ``sd``)."""
    if not len(eps):
        return eps
    b = sd * math.sqrt(1.0 - phi * phi)
    out, _ = lfilter([b], [1.0, -phi], eps, zi=[phi * prev])
    return out


def _persistent(fresh_up: np.ndarray, moved: np.ndarray, persist: float, u: np.ndarray,
                st: _State) -> np.ndarray:
    """Direction of each bbo event's price move (True = up), with the carried ``st.last_up``.

    A move keeps the previous move's direction with probability ``persist`` (> 0: trends) or
    reverses it with probability ``−persist`` (< 0: bounces); otherwise its direction is the fresh
    draw ``fresh_up``. ``u`` are uniforms, one per event. Non-moves only carry the direction.
    """
    fresh = moved & (u >= abs(persist))
    flip = moved & ~fresh if persist < 0 else np.zeros_like(moved)
    n = len(fresh)
    last = np.maximum.accumulate(np.where(fresh, np.arange(n), -1)) if n else np.zeros(0, np.int64)
    flips = np.cumsum(flip)
    base = np.where(last >= 0, fresh_up[np.maximum(last, 0)], st.last_up)
    since = flips - np.where(last >= 0, flips[np.maximum(last, 0)], 0)  # flips after the last fresh draw
    up = base ^ (since % 2 == 1)
    if n:
        st.last_up = bool(up[-1])
    return up


def _decimals(tick: float) -> int:
    return max(0, -math.floor(math.log10(tick) + 1e-9))


def _lots(x: np.ndarray, lot: float) -> np.ndarray:
    return np.maximum(np.round(x / lot), 1.0) * lot


def _chunk(p: SynthParams, st: _State, t0: int, t1: int, rng: np.random.Generator
           ) -> dict[str, dict[str, np.ndarray]]:
    """Generate ``[t0, t1)`` (ns) from state ``st`` (updated in place); returns column dicts."""
    dec = _decimals(p.tick_size)
    # ---- arrivals -------------------------------------------------------------------------
    bucket = int(p.intensity_bucket_s * NS)
    starts = np.arange(t0, t1, bucket, dtype=np.int64)
    lens = np.minimum(starts + bucket, t1) - starts
    nb = len(starts)
    x = _ar1(rng.standard_normal(nb), p.intensity_phi, p.intensity_sd, st.x_int)
    w = _ar1(rng.standard_normal(nb), p.trade_burst_phi, p.trade_burst_sd, st.w_trade)
    st.x_int, st.w_trade = float(x[-1]), float(w[-1])
    activity = np.exp(x - p.intensity_sd**2 / 2)  # mean 1 over buckets
    mult = activity * (lens / NS)
    lam_b = p.bbo_rate_hz * mult
    lam_t = p.trade_rate_hz * mult * np.exp(w - p.trade_burst_sd**2 / 2)
    counts = rng.poisson(lam_b + lam_t)
    n = int(counts.sum())
    owner = np.repeat(np.arange(nb), counts)
    times = np.sort(starts[owner] + (rng.random(n) * lens[owner]).astype(np.int64))
    is_trade = rng.random(n) < (lam_t / (lam_b + lam_t))[owner]
    bpos = np.flatnonzero(~is_trade)
    tpos = np.flatnonzero(is_trade)
    nB, nT = len(bpos), len(tpos)
    tb, tt = times[bpos], times[tpos]

    # ---- L1 queues and imbalance ---------------------------------------------------------------
    lbq = _ar1(rng.standard_normal(nB), p.queue_phi, p.queue_log_sd, st.lbq)
    laq = _ar1(rng.standard_normal(nB), p.queue_phi, p.queue_log_sd, st.laq)
    if nB:
        st.lbq, st.laq = float(lbq[-1]), float(laq[-1])
    bq = _lots(p.queue_median * np.exp(lbq), p.lot_size)
    aq = _lots(p.queue_median * np.exp(laq), p.lot_size)
    obi = (bq - aq) / (bq + aq)

    # ---- trades: side and size ---------------------------------------------------------------
    flow = _ar1(rng.standard_normal(nT), p.flow_phi, 1.0, st.flow)
    if nT:
        st.flow = float(flow[-1])
    side = np.where(rng.random(nT) < expit(p.flow_beta * flow), 1, -1).astype(np.int8)
    tq = _lots(np.exp(math.log(p.trade_qty_median) + p.trade_qty_log_sd * rng.standard_normal(nT)),
               p.lot_size)

    # ---- tfi seen before each bbo update (trades strictly before it in arrival order) ----------
    cs_sq = np.concatenate([[0.0], np.cumsum(side * tq)])
    cs_q = np.concatenate([[0.0], np.cumsum(tq)])
    hi = bpos - np.arange(nB)
    lo = np.minimum(np.searchsorted(tt, tb - int(p.tfi_window_s * NS), side="right"), hi)
    vol = cs_q[hi] - cs_q[lo]
    tfi = np.divide(cs_sq[hi] - cs_sq[lo], vol, out=np.zeros(nB), where=vol > 0)

    # ---- price moves with the injected relationship --------------------------------------------
    obi_prev = np.concatenate([[st.last_obi], obi[:-1]]) if nB else obi
    p_up = expit(p.alpha_obi * obi_prev + p.alpha_tfi * tfi)
    # busy spells bring more updates, not more price moves: most updates change a queue size only
    moved = rng.random(nB) < p.move_prob / activity[owner[bpos]]
    up = _persistent(rng.random(nB) < p_up, moved, p.move_persist, rng.random(nB), st)
    size = np.maximum(np.round(np.exp(math.log(p.move_ticks_median)
                                      + p.move_ticks_log_sd * rng.standard_normal(nB))), 1).astype(np.int64)
    center = st.center + np.cumsum(np.where(moved, np.where(up, size, -size), 0))
    if nB:
        st.center, st.last_obi = int(center[-1]), float(obi[-1])

    # ---- spread excursions ---------------------------------------------------------------------
    z = _ar1(rng.standard_normal(nB), p.wide_spread_phi, 1.0, st.z_wide)
    if nB:
        st.z_wide = float(z[-1])
    wide = z > ndtri(1.0 - p.wide_spread_frac)
    extra = np.where(wide, rng.geometric(1.0 / p.wide_extra_ticks_mean, nB), 0)
    on_ask = rng.random(nB) < 0.5
    bid_t = center - np.where(on_ask, 0, extra)
    ask_t = center + 1 + np.where(on_ask, extra, 0)
    uid_prev = st.update_id
    uid = uid_prev + np.cumsum(1 + rng.poisson(2.0, nB))
    if nB:
        st.update_id = int(uid[-1])

    # ---- trade prices from the prevailing bbo ----------------------------------------------------
    prev_b = tpos - np.arange(nT) - 1
    if st.bbo is None:
        st.bbo = (st.center, st.center + 1, p.queue_median, p.queue_median)
    first_bid, first_ask = st.bbo[0], st.bbo[1]
    safe = np.maximum(prev_b, 0)
    t_bid = np.where(prev_b >= 0, bid_t[safe] if nB else first_bid, first_bid)
    t_ask = np.where(prev_b >= 0, ask_t[safe] if nB else first_ask, first_ask)
    t_px = np.round(np.where(side > 0, t_ask, t_bid) * p.tick_size, dec)
    trade_ids = st.trade_id + 1 + np.arange(nT, dtype=np.int64)
    if nT:
        st.trade_id = int(trade_ids[-1])

    # ---- depth: snapshot at chunk start, then one diff per interval -----------------------------
    depth, d_kpos = _depth(p, st, t0=t0, t1=t1, times=times, tb=tb, book=(bid_t, ask_t, bq, aq),
                            uid=uid, uid_prev=uid_prev, rng=rng)
    if nB:
        st.bbo = (int(bid_t[-1]), int(ask_t[-1]), float(bq[-1]), float(aq[-1]))

    # ---- one arrival counter over the merged stream ------------------------------------------------
    ev_seq = st.seq + np.arange(n, dtype=np.int64) + np.searchsorted(d_kpos, np.arange(n), side="right")
    d_seq = st.seq + d_kpos + np.arange(len(d_kpos), dtype=np.int64)
    st.seq += n + len(d_kpos)
    depth["seq"] = d_seq[depth.pop("_msg")]
    lat = int(p.latency_ms * 1_000_000)
    return {
        "trades": {"ts_ns": tt, "exch_ns": (tt - lat) // 1_000_000 * 1_000_000, "seq": ev_seq[tpos],
                   "trade_id": trade_ids, "price": t_px, "qty": tq, "side": side},
        "bbo": {"ts_ns": tb, "exch_ns": None, "seq": ev_seq[bpos], "update_id": uid,
                "bid_px": np.round(bid_t * p.tick_size, dec), "bid_qty": bq,
                "ask_px": np.round(ask_t * p.tick_size, dec), "ask_qty": aq},
        "depth": depth | {"exch_ns": (depth["ts_ns"] - lat) // 1_000_000 * 1_000_000,
                          "prev_update_id": None},  # a spot-like feed: no ``pu``
    }


def _depth(p: SynthParams, st: _State, *, t0: int, t1: int, times: np.ndarray, tb: np.ndarray,
           book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], uid: np.ndarray, uid_prev: int,
           rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Depth rows (``_msg`` = message index) and each message's position in the merged stream.

    ``book`` = (bid ticks, ask ticks, bid qty, ask qty) per bbo update; ``st.bbo`` is the bbo
    before the chunk. Updates ``st.levels`` and ``st.depth_u``.
    """
    L = p.depth_levels
    step = int(p.depth_interval_s * NS)
    d_times = np.arange((t0 // step + 1) * step, t1, step, dtype=np.int64)
    M = len(d_times)
    if st.levels is None and not M:
        empty = {name: np.zeros(0, DEPTH.field(name).type.to_pandas_dtype()) for name in DEPTH.names
                 if name not in ("exch_ns", "seq", "prev_update_id")}
        return empty | {"_msg": np.zeros(0, np.int64)}, np.zeros(0, np.int64)
    assert st.bbo is not None
    at = np.searchsorted(tb, d_times, side="right")  # index + 1 into the bbo with the pre-chunk one first
    top_b, top_a, q_b, q_a = (np.concatenate([[st.bbo[k]], book[k]])[at] for k in range(4))
    last_u = np.concatenate([[uid_prev], uid])[at]

    def levels(top: np.ndarray, sign: int) -> np.ndarray:
        gaps = rng.geometric(1.0 / p.depth_gap_ticks_mean, (M, L - 1))
        return top[:, None].astype(np.int64) + sign * np.concatenate(
            [np.zeros((M, 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)

    new_b, new_a = levels(top_b, -1), levels(top_a, +1)
    nq = _lots(np.exp(math.log(p.queue_median) + p.queue_log_sd * rng.standard_normal((2, M, L))), p.lot_size)
    nqb, nqa = nq[0], nq[1]
    nqb[:, 0], nqa[:, 0] = q_b, q_a
    first_u = np.empty(M, np.int64)
    last_out = np.empty(M, np.int64)
    prev_u = st.depth_u if st.levels is not None else uid_prev
    for m in range(M):  # ~86 k messages per day: a scalar loop costs a few ms
        first_u[m] = prev_u + 1
        prev_u = last_out[m] = max(int(last_u[m]), prev_u + 1)

    if st.levels is None:   # very first message of the market: a snapshot instead of a diff
        snap = (new_b[0], nqb[0], new_a[0], nqa[0])
        snap_id, snap_time = int(last_out[0]), int(d_times[0])
        snap_k = int(np.searchsorted(times, d_times[0], "right"))
        m0 = 1
    else:
        snap = st.levels
        snap_id, snap_time, snap_k = st.depth_u, t0, 0
        m0 = 0
    prev_b = np.concatenate([snap[0][None], new_b[m0:-1]]) if m0 < M else new_b[:0]
    prev_a = np.concatenate([snap[2][None], new_a[m0:-1]]) if m0 < M else new_a[:0]
    nb_, na_ = new_b[m0:], new_a[m0:]
    K = M - m0
    gone_b = ~(prev_b[:, :, None] == nb_[:, None, :]).any(-1)   # old levels that left the top: delete
    gone_a = ~(prev_a[:, :, None] == na_[:, None, :]).any(-1)
    keep = np.concatenate([gone_b, np.ones((K, L), bool), gone_a, np.ones((K, L), bool)], axis=1).ravel()
    px = np.concatenate([prev_b, nb_, prev_a, na_], axis=1).ravel()[keep]
    qty = np.concatenate([np.zeros((K, L)), nqb[m0:], np.zeros((K, L)), nqa[m0:]], axis=1).ravel()[keep]
    side = np.repeat(np.array([1, -1], np.int8), 2 * L)
    msg = np.repeat(np.arange(1, K + 1), 4 * L)[keep]          # message 0 is the snapshot
    dec = _decimals(p.tick_size)
    ones = np.ones(L, np.int8)
    out = {
        "first_update_id": np.concatenate([np.full(2 * L, snap_id), first_u[m0:][msg - 1]]).astype(np.int64),
        "last_update_id": np.concatenate([np.full(2 * L, snap_id), last_out[m0:][msg - 1]]).astype(np.int64),
        "side": np.concatenate([ones, -ones, np.tile(side, K)[keep]]),
        "price": np.round(np.concatenate([snap[0], snap[2], px]) * p.tick_size, dec),
        "qty": np.concatenate([snap[1], snap[3], qty]),
        "is_snapshot": np.concatenate([np.ones(2 * L, bool), np.zeros(len(msg), bool)]),
        "_msg": np.concatenate([np.zeros(2 * L, np.int64), msg]),
    }
    msg_times = np.concatenate([[snap_time], d_times[m0:]]).astype(np.int64)
    msg_k = np.concatenate([[snap_k], np.searchsorted(times, d_times[m0:], side="right")]).astype(np.int64)
    out["ts_ns"] = msg_times[out["_msg"]]
    if M:
        st.levels = (new_b[-1], nqb[-1], new_a[-1], nqa[-1])
        st.depth_u = int(last_out[-1])
    return out, msg_k


def _tables(cols: dict[str, dict[str, Any]]) -> dict[str, pa.Table]:
    out = {}
    for name, schema in (("trades", TRADES), ("bbo", BBO), ("depth", DEPTH)):
        c = cols[name]
        n = len(c["ts_ns"])
        arrays = [pa.nulls(n, pa.int64()) if c[f.name] is None else pa.array(c[f.name], type=f.type)
                  for f in schema]
        out[name] = pa.Table.from_arrays(arrays, schema=schema)
    return out


def _chunks(symbol: str, hours: float, seed: int, start: datetime, params: SynthParams
            ) -> Iterator[tuple[datetime, dict[str, pa.Table]]]:
    """Generate ``hours`` from ``start`` in chunks that end at UTC midnight (bounded memory)."""
    if hours <= 0:
        raise ValueError(f"hours must be positive, got {hours}")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    t0 = int(start.timestamp()) * NS + start.microsecond * 1000
    end = t0 + round(hours * 3600 * NS)
    st = _State(center=round(params.start_price / params.tick_size))
    while t0 < end:
        day = datetime.fromtimestamp(t0 // NS, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        t1 = min(end, int((day + timedelta(days=1)).timestamp()) * NS)
        rng = np.random.default_rng([seed, st.chunk])
        cols = _chunk(params, st, t0, t1, rng)
        st.chunk += 1
        yield day, _tables(cols)
        t0 = t1


def generate(  # noqa: PLR0917 (the documented positional API)
        symbol: str, hours: float, seed: int, start: datetime = DEFAULT_START,
             tick_size: float | None = None, params: SynthParams | None = None) -> dict[str, pa.Table]:
    """The synthetic market for ``symbol`` over ``hours`` from ``start``: trades, bbo and depth tables.

    ``params`` defaults to :meth:`SynthParams.for_symbol`; ``tick_size`` overrides its tick.
    Same arguments ⇒ bitwise identical tables.
    """
    p = params or SynthParams.for_symbol(symbol)
    if tick_size is not None:
        p = replace(p, tick_size=tick_size)
    parts = [tables for _, tables in _chunks(symbol, hours, seed, start, p)]
    return {name: pa.concat_tables([t[name] for t in parts]) for name in ("trades", "bbo", "depth")}


def synthesize_to_store(store: TickStore, exchange: str, symbol: str, hours: float, seed: int,  # noqa: PLR0917
                        start: datetime = DEFAULT_START, params: SynthParams | None = None,
                        on_day: Any = None) -> SynthReport:
    """Generate day by day and write each day's tables to ``store`` before generating the next.

    ``on_day(day, rows)`` (optional) is called after each day is written, for progress events.
    """
    p = params or SynthParams.for_symbol(symbol)
    report = SynthReport(symbol=symbol, exchange=exchange, seed=seed, hours=hours)
    for day, tables in _chunks(symbol, hours, seed, start, p):
        rows = {}
        for name, data in tables.items():
            wr = store.write(name, data, exchange, symbol)
            rows[name] = len(data)
            report.rows[name] = report.rows.get(name, 0) + len(data)
            report.written[name] = report.written.get(name, 0) + wr.rows_written
        report.days.append(day.date().isoformat())
        if on_day is not None:
            on_day(day.date(), rows)
    return report
