"""Incremental (streaming) form of the features in :mod:`aurora.core.features` — same definitions.

The live runner feeds events in arrival order: :meth:`StreamFeatures.on_trade` for each trade,
:meth:`StreamFeatures.on_book_top` after each depth message (the rebuilt book's top levels), and
:meth:`StreamFeatures.on_bbo` for each best-bid/offer update, which returns the feature row.

Why hand-written numba kernels: ≥ 1 M events/s per call rules out pure Python, and a jitted
kernel over state held in a few numpy arrays costs one dispatch per event. Each windowed sum is
the difference between the running total now and the running total just before the window's
oldest event (kept beside it in a ring buffer); running totals are double-double
(:func:`~aurora.core.features.dd_add`), so a day of events costs no precision and the result is
the batch form's number.

Receive times must not decrease (a live clock in arrival order), as in the batch form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba as nb
import numpy as np
import pandas as pd

from aurora.core.features import BBO_COLUMNS, NS, TRADE_COLUMNS, BookTops, FeatureParams, dd_add

if TYPE_CHECKING:
    from aurora.core.microprice import MicropriceModel

# ---- int64 state layout (si)
_HAS_PREV, _NW, _CAP, _BHEAD, _THEAD, _HEADER_I = 0, 1, 2, 3, 4, 5
# then: bbo tails [nw + 1] (last = impact window), trade tails [nw], window ns [nw + 1]

# ---- float64 state layout (sf)
_PBP, _PBQ, _PAP, _PAQ, _PMID, _PEND, _OBIW, _TICK, _MP_ON, _MP_NI, _MP_NS = range(11)
# running double-double totals (hi, lo): ofi terms, x·y, x², side·qty, qty
_E, _XY, _XX, _SV, _Q = 11, 13, 15, 17, 19
_HEADER_F = 21
# then base mid per window [nw]; then the output row [n_features]; then the micro-price table
# [spread_buckets * imbalance_buckets] (ticks)

# ring value columns (rv): totals before the entry — bbo: e (hi, lo), xy (hi, lo), xx (hi, lo),
# then its mid; trade: side·qty (hi, lo), qty (hi, lo)
_RV_B, _RV_MID, _RV_T, _RV_COLS = 0, 6, 7, 11


@nb.njit(cache=True, inline="always")
def _since(sf: np.ndarray, k: int, rv: np.ndarray, p: int, c: int) -> float:
    """Running total sf[k:k+2] minus the total stored in rv[p, c:c+2]."""
    return (sf[k] - rv[p, c]) + (sf[k + 1] - rv[p, c + 1])


@nb.njit(cache=True, error_model="numpy")
def _on_trade(  # noqa: PLR0917 (numba kernel: positional only)
    si: np.ndarray, sf: np.ndarray, rts: np.ndarray, rv: np.ndarray, ts: int,
              qty: float, side: float) -> int:
    """Push a trade; returns 0, or −1 when the ring is full (nothing pushed; grow and retry)."""
    nw = si[_NW]
    cap = si[_CAP]
    tt0 = _HEADER_I + nw + 1
    wn0 = tt0 + nw
    head = si[_THEAD]
    oldest = head
    for w in range(nw):
        tail = si[tt0 + w]
        lim = ts - si[wn0 + w]
        while tail < head and rts[1, tail % cap] <= lim:
            tail += 1
        si[tt0 + w] = tail
        oldest = min(oldest, tail)
    if head - oldest >= cap:
        return -1
    sv = side * qty
    p = head % cap
    rts[1, p] = ts
    for c in range(4):
        rv[p, _RV_T + c] = sf[_SV + c]
    si[_THEAD] = head + 1
    sf[_PEND] += sv
    dd_add(sf, _SV, sv)
    dd_add(sf, _Q, qty)
    return 0


@nb.njit(cache=True, error_model="numpy")
def _on_book_top(sf: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray, decay: float,
                 in_sync: bool) -> None:
    """obi_w from the top levels (level 1 first; NaN qty counts as 0)."""
    if not in_sync:
        sf[_OBIW] = np.nan
        return
    num = 0.0
    den = 0.0
    n = min(bid_qty.shape[0], ask_qty.shape[0])
    for i in range(n):
        wi = np.exp(-decay * i)
        b = 0.0 if np.isnan(bid_qty[i]) else bid_qty[i]
        a = 0.0 if np.isnan(ask_qty[i]) else ask_qty[i]
        num += wi * (b - a)
        den += wi * (b + a)
    sf[_OBIW] = num / den if den > 0 else np.nan


@nb.njit(cache=True, error_model="numpy")
def _on_bbo(  # noqa: PLR0917 (numba kernel: positional only)
    si: np.ndarray, sf: np.ndarray, rts: np.ndarray, rv: np.ndarray, ts: int,
            bp: float, bq: float, ap: float, aq: float) -> int:
    """Push a quote and write the feature row; 0, or −1 when the ring is full (grow, retry)."""
    nw = si[_NW]
    cap = si[_CAP]
    bt0 = _HEADER_I
    tt0 = bt0 + nw + 1
    wn0 = tt0 + nw
    out = _HEADER_F + nw
    tick = sf[_TICK]
    head = si[_BHEAD]
    mid = (bp + ap) * 0.5
    # evict what left the bbo windows (feature windows, then the impact window)
    oldest = head
    for w in range(nw + 1):
        tail = si[bt0 + w]
        lim = ts - si[wn0 + w]
        while tail < head and rts[0, tail % cap] <= lim:
            if w < nw:
                sf[_HEADER_F + w] = rv[tail % cap, _RV_MID]
            tail += 1
        si[bt0 + w] = tail
        oldest = min(oldest, tail)
    if head - oldest >= cap:
        return -1
    # CKS order flow and the impact regression inputs
    if si[_HAS_PREV] == 1:
        pbp = sf[_PBP]
        pap = sf[_PAP]
        e = 0.0
        if bp >= pbp:
            e += bq
        if bp <= pbp:
            e -= sf[_PBQ]
        if ap <= pap:
            e -= aq
        if ap >= pap:
            e += sf[_PAQ]
        y = abs(mid - sf[_PMID]) / tick
    else:
        e = 0.0
        y = 0.0
        for w in range(nw):
            sf[_HEADER_F + w] = mid
        si[_HAS_PREV] = 1
    x = abs(sf[_PEND])
    sf[_PEND] = 0.0
    p = head % cap
    rts[0, p] = ts
    for c in range(6):
        rv[p, _RV_B + c] = sf[_E + c]
    rv[p, _RV_MID] = mid
    si[_BHEAD] = head + 1
    dd_add(sf, _E, e)
    dd_add(sf, _XY, x * y)
    dd_add(sf, _XX, x * x)
    sf[_PBP] = bp
    sf[_PBQ] = bq
    sf[_PAP] = ap
    sf[_PAQ] = aq
    sf[_PMID] = mid
    # feature row, in FeatureParams.names order
    p = si[bt0 + nw] % cap
    sxx = _since(sf, _XX, rv, p, _RV_B + 4)
    slope = _since(sf, _XY, rv, p, _RV_B + 2) / sxx if sxx > 0 else 0.0
    depth = bq + aq
    sf[out] = mid
    sf[out + 1] = (ap - bp) / mid * 1e4
    sf[out + 2] = (bq - aq) / depth
    sf[out + 3] = sf[_OBIW]
    t_head = si[_THEAD]
    for w in range(nw):
        sf[out + 4 + w] = _since(sf, _E, rv, si[bt0 + w] % cap, _RV_B)
        tail = si[tt0 + w]
        lim = ts - si[wn0 + w]
        while tail < t_head and rts[1, tail % cap] <= lim:
            tail += 1
        si[tt0 + w] = tail
        if tail < t_head:
            num = _since(sf, _SV, rv, tail % cap, _RV_T)
            den = _since(sf, _Q, rv, tail % cap, _RV_T + 2)
        else:
            num = 0.0
            den = 0.0
        sf[out + 4 + nw + w] = num / den if den > 0 else 0.0
        moved = abs(mid - sf[_HEADER_F + w]) / tick
        sf[out + 6 + 2 * nw + w] = -num * slope / (moved + 1.0) + 0.0
    sf[out + 4 + 2 * nw] = (bp * aq + ap * bq) / depth
    sf[out + 5 + 2 * nw] = np.nan
    if sf[_MP_ON] > 0:
        ni = int(sf[_MP_NI])
        ns = int(sf[_MP_NS])
        mp_tick = sf[_MP_ON]
        imb = bq / depth
        if not np.isnan(imb):
            ib = min(int(np.floor(min(max(imb, 0.0), 1.0) * ni)), ni - 1)
            sb = min(max(int(np.rint((ap - bp) / mp_tick)), 1), ns) - 1
            sf[out + 5 + 2 * nw] = mid + sf[out + 6 + 3 * nw + sb * ni + ib] * mp_tick
    return 0


@nb.njit(cache=True)
def _grow(si: np.ndarray, rts: np.ndarray, rv: np.ndarray, new_cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the rings at ``new_cap`` with every live entry at its new slot."""
    nw = si[_NW]
    cap = si[_CAP]
    nts = np.zeros((2, new_cap), dtype=np.int64)
    nrv = np.zeros((new_cap, _RV_COLS))
    lo = si[_BHEAD]
    for w in range(nw + 1):
        lo = min(lo, si[_HEADER_I + w])
    for k in range(lo, si[_BHEAD]):
        nts[0, k % new_cap] = rts[0, k % cap]
        for c in range(_RV_T):
            nrv[k % new_cap, c] = rv[k % cap, c]
    lo = si[_THEAD]
    for w in range(nw):
        lo = min(lo, si[_HEADER_I + nw + 1 + w])
    for k in range(lo, si[_THEAD]):
        nts[1, k % new_cap] = rts[1, k % cap]
        for c in range(_RV_T, _RV_COLS):
            nrv[k % new_cap, c] = rv[k % cap, c]
    si[_CAP] = new_cap
    return nts, nrv


@nb.njit(cache=True)
def _drive(  # noqa: PLR0917 (numba kernel: positional only)
    si: np.ndarray, sf: np.ndarray, rts: np.ndarray, rv: np.ndarray, kind: np.ndarray,
           row: np.ndarray, b_ts: np.ndarray, b_px: np.ndarray, t_ts: np.ndarray,
           t_val: np.ndarray, bid_top: np.ndarray, ask_top: np.ndarray, top_sync: np.ndarray,
           decay: float, start: int, out: np.ndarray) -> int:
    """Feed merged events kind[i] (0 bbo, 1 trade, 2 book top) with row[i] into the kernels
    from ``start``; returns the next index (len(kind) when done, earlier when a ring is full)."""
    n = kind.shape[0]
    nw = si[_NW]
    o0 = _HEADER_F + nw
    nf = out.shape[1]
    for i in range(start, n):
        r = row[i]
        k = kind[i]
        if k == 0:
            if _on_bbo(si, sf, rts, rv, b_ts[r], b_px[r, 0], b_px[r, 1], b_px[r, 2], b_px[r, 3]) < 0:
                return i
            for c in range(nf):
                out[r, c] = sf[o0 + c]
        elif k == 1:
            if _on_trade(si, sf, rts, rv, t_ts[r], t_val[r, 0], t_val[r, 1]) < 0:
                return i
        else:
            _on_book_top(sf, bid_top[r], ask_top[r], decay, top_sync[r])
    return n


class StreamFeatures:
    """Incremental features; ``on_bbo`` returns the row for ``names`` (a reused buffer: copy it
    to keep it). ``params.tick_size`` is required (the exchange's tick)."""

    __slots__ = ("_decay", "_out", "_rts", "_rv", "_sf", "_si", "names", "params")

    def __init__(self, params: FeatureParams, microprice: MicropriceModel | None = None,
                 capacity: int = 4096) -> None:
        if params.tick_size is None:
            raise ValueError("StreamFeatures needs params.tick_size (the symbol's price tick)")
        self.params = params
        self.names = params.names
        nw = len(params.windows_s)
        self._si = np.zeros(_HEADER_I + 3 * nw + 2, dtype=np.int64)
        self._si[_NW] = nw
        self._si[_CAP] = max(int(capacity), 16)
        wn0 = _HEADER_I + 2 * nw + 1
        for w, secs in enumerate(params.windows_s):
            self._si[wn0 + w] = round(secs * NS)
        self._si[wn0 + nw] = round(params.impact_window_s * NS)
        mp = microprice.table.ravel() if microprice is not None else np.zeros(0)
        n_out = len(params.names)
        self._sf = np.zeros(_HEADER_F + nw + n_out + mp.size)
        self._sf[_TICK] = params.tick_size
        self._sf[_OBIW] = np.nan
        if microprice is not None:
            self._sf[_MP_ON] = microprice.tick_size
            self._sf[_MP_NI] = microprice.imbalance_buckets
            self._sf[_MP_NS] = microprice.spread_buckets
            self._sf[_HEADER_F + nw + n_out:] = mp
        o0 = _HEADER_F + nw
        self._out = self._sf[o0: o0 + n_out]
        cap = int(self._si[_CAP])
        self._rts = np.zeros((2, cap), dtype=np.int64)
        self._rv = np.zeros((cap, _RV_COLS))
        self._decay = float(params.obi_decay)

    def _grow(self) -> None:
        self._rts, self._rv = _grow(self._si, self._rts, self._rv, int(self._si[_CAP]) * 2)

    def on_trade(self, ts_ns: int, price: float, qty: float, side: int) -> None:
        """A trade: ``side`` +1 taker buy, −1 taker sell; ``price`` is not used by any feature."""
        while _on_trade(self._si, self._sf, self._rts, self._rv, ts_ns, qty, float(side)) < 0:
            self._grow()

    def on_book_top(self, bid_qty: np.ndarray, ask_qty: np.ndarray, in_sync: bool = True) -> None:
        """The rebuilt book's top level quantities (level 1 first) after a depth message."""
        _on_book_top(self._sf, np.asarray(bid_qty, dtype=np.float64)[: self.params.obi_levels],
                     np.asarray(ask_qty, dtype=np.float64)[: self.params.obi_levels],
                     self._decay, bool(in_sync))

    def on_bbo(  # noqa: PLR0917 (the documented positional API)
        self, ts_ns: int, update_id: int, bid_px: float, bid_qty: float, ask_px: float,
               ask_qty: float) -> np.ndarray:
        """A best bid/offer update; returns the feature row (values in ``names`` order)."""
        while _on_bbo(self._si, self._sf, self._rts, self._rv, ts_ns, bid_px, bid_qty, ask_px,
                      ask_qty) < 0:
            self._grow()
        return self._out

    def feed(self, bbo: pd.DataFrame, trades: pd.DataFrame, tops: BookTops | None = None) -> pd.DataFrame:
        """Push whole frames through the stream kernels in ``seq`` order (replay, parity tests);
        returns the same table as :func:`~aurora.core.features.compute_features`."""
        b_seq = bbo["seq"].to_numpy(np.int64)
        t_seq = trades["seq"].to_numpy(np.int64)
        levels = self.params.obi_levels
        if tops is not None and tops.seq.size:
            d_seq = np.asarray(tops.seq, dtype=np.int64)
            bid_top = np.ascontiguousarray(np.asarray(tops.bid_qty, dtype=np.float64)[:, :levels])
            ask_top = np.ascontiguousarray(np.asarray(tops.ask_qty, dtype=np.float64)[:, :levels])
            top_sync = np.asarray(tops.in_sync, dtype=np.bool_)
        else:
            d_seq = np.zeros(0, dtype=np.int64)
            bid_top = ask_top = np.zeros((0, levels))
            top_sync = np.zeros(0, dtype=np.bool_)
        seqs = np.concatenate([b_seq, t_seq, d_seq])
        kinds = np.concatenate([np.zeros(b_seq.size, np.int8), np.ones(t_seq.size, np.int8),
                                np.full(d_seq.size, 2, np.int8)])
        rows = np.concatenate([np.arange(b_seq.size), np.arange(t_seq.size), np.arange(d_seq.size)])
        order = np.argsort(seqs, kind="stable")
        kind, row = kinds[order], rows[order].astype(np.int64)
        b_ts = bbo["ts_ns"].to_numpy(np.int64)
        b_px = np.ascontiguousarray(bbo[["bid_px", "bid_qty", "ask_px", "ask_qty"]].to_numpy(np.float64))
        t_ts = trades["ts_ns"].to_numpy(np.int64)
        t_val = np.ascontiguousarray(np.column_stack([trades["qty"].to_numpy(np.float64),
                                                      trades["side"].to_numpy(np.float64)]))
        out = np.empty((b_seq.size, len(self.names)))
        i = 0
        while True:
            i = _drive(self._si, self._sf, self._rts, self._rv, kind, row, b_ts, b_px, t_ts, t_val,
                       bid_top, ask_top, top_sync, self._decay, i, out)
            if i >= kind.size:
                break
            self._grow()
        frame = pd.DataFrame({"ts_ns": b_ts, "update_id": bbo["update_id"].to_numpy(np.int64)})
        for c, name in enumerate(self.names):
            frame[name] = out[:, c]
        return frame


def stream_features(bbo: pd.DataFrame, trades: pd.DataFrame, tops: BookTops | None,
                    params: FeatureParams, microprice: MicropriceModel | None = None) -> pd.DataFrame:
    """One-shot: a fresh :class:`StreamFeatures` fed with whole frames (see ``feed``)."""
    for name, frame, cols in (("bbo", bbo, BBO_COLUMNS), ("trades", trades, TRADE_COLUMNS)):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} frame lacks columns {missing}")
    return StreamFeatures(params, microprice).feed(bbo, trades, tops)
