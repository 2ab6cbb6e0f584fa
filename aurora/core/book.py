"""L2 order book from a depth snapshot plus diffs, with Binance's bootstrap rule and gap detection.

Bootstrap (Binance "how to manage a local order book"):

1. Diffs that arrive before a snapshot are buffered (the book is *out of sync*).
2. On a snapshot with ``lastUpdateId = L``: load it and drop the diffs it already contains —
   spot ``u ≤ L``, futures ``u < L`` —; the first diff applied must straddle the snapshot — spot
   ``U ≤ L+1 ≤ u``, futures ``U ≤ L ≤ u`` (so a futures diff with ``u == L`` is applied, and the
   next one chains on it by ``pu == L``).
3. Afterwards every diff must continue the chain — spot ``U == previous u + 1``, futures
   ``pu == previous u``. (A futures diff without ``pu`` — e.g. from a store written before the
   depth table kept ``prev_update_id`` — can only be checked for ``U > previous u``.)

A diff that breaks the chain is a **gap**: it is counted and reported (:attr:`DiffResult.GAP`), the
book is cleared and marked out of sync, and it re-synchronises from the next snapshot (the gapped
diff and later ones are buffered for that). Nothing is ever patched over: while out of sync the
book shows no levels. Diffs with ``u`` at or below the last applied id are stale and ignored. A
snapshot no newer than a book already in sync is ignored (STALE). The buffer keeps at most
``max_buffer`` diffs; when full, its older half is dropped (a later snapshot only ever needs the
newest diffs).

Implementation: one numba kernel (:func:`_process`) runs the protocol over a batch of messages;
:meth:`OrderBook.apply_diff` / :meth:`OrderBook.apply_snapshot` call it with one message and
:func:`replay_depth` with a whole depth table, so both paths share one definition. Per side the
levels are a sorted key array with the best level *last* (bids key = price, asks key = −price), so
the frequent updates near the touch shift few elements; a deleted level stays as a tombstone
(quantity 0, skipped by the top-of-book read) so deep-book deletes and re-inserts shift nothing.
Replaying the shared BTCUSDT recording with a Python dict plus a sort per message was ~13× slower
than the first numba version, and the per-message Python loop it kept was most of the remaining
cost on synthetic days.

Prices and quantities are in the instrument's units; ``qty == 0`` deletes a level.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


class DiffResult(IntEnum):
    APPLIED = 0
    BUFFERED = 1  # out of sync: kept for the next snapshot
    STALE = 2     # already contained in the book (u ≤ last applied id; futures first diff: u < L)
    GAP = 3       # the chain broke: book cleared, out of sync until the next snapshot


# indices into the int64 state vector
# (_BN/_AN: entries per side, tombstones included; _BLIVE/_ALIVE: live levels)
(_BN, _AN, _SYNCED, _AWAIT, _LAST, _SNAP, _GAPS, _STALE, _PMSG, _PROW, _MAXBUF, _FUT,
 _BLIVE, _ALIVE) = range(14)
_NSTATE = 14
# columns of the pending-diff table
_PF, _PL, _PPU, _PS, _PE = range(5)


@njit(cache=True)
def _grow(keys: np.ndarray, qtys: np.ndarray, n: int, need: int
          ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    if need <= keys.shape[0]:
        return keys, qtys
    cap = max(need, 2 * keys.shape[0])
    k2 = np.empty(cap)
    q2 = np.empty(cap)
    k2[:n] = keys[:n]
    q2[:n] = qtys[:n]
    return k2, q2


@intrinsic
def _move(typingctx, arr, dst, src, count):  # pragma: no cover
    """``arr[dst:dst + count] = arr[src:src + count]`` (overlap allowed) as one ``memmove``."""
    # a new price shifts ~1.4 k entries on average (it lands deep in a ~5 k-level book; usdm
    # BTCUSDT ×22: 775 M entries): numba's element loop moved them ~8x slower than memmove
    # (0.94 → 0.11 s alone; the whole replay 0.82 → 0.78 s CPU)
    def codegen(context, builder, signature, args):
        ary, d, s, c = args
        data = context.make_array(signature.args[0])(context, builder, ary).data
        itemsize = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        cgutils.raw_memmove(builder, cgutils.gep(builder, data, d), cgutils.gep(builder, data, s),
                            c, itemsize)
        return context.get_dummy_value()

    return types.void(arr, types.intp, types.intp, types.intp), codegen


@njit(cache=True, inline="always")
def _lower_bound(keys: np.ndarray, n: int, k: float) -> int:  # pragma: no cover - compiled
    """First position in the sorted ``keys[:n]`` whose key is not below ``k`` (``n`` if none):
    ``np.searchsorted(keys[:n], k)``, without branches on the data (a select per halving)."""
    # branch-free halving: updates land anywhere in a ~5 k-level book (median ~400 levels from
    # the touch), so np.searchsorted's ~13 data-dependent branches often mispredict (level
    # updates of usdm BTCUSDT ×22: 0.85 → 0.77 s CPU)
    if n == 0:
        return 0
    base = 0
    size = n
    while size > 1:
        half = size >> 1
        base = base + half if keys[base + half - 1] < k else base
        size -= half
    return base + 1 if keys[base] < k else base


@njit(cache=True)
def _upsert(keys: np.ndarray, qtys: np.ndarray, n: int, k: float, q: float
            ) -> tuple[int, int]:  # pragma: no cover - compiled
    """Set level ``k`` to ``q`` (0 deletes) in the sorted ``keys[:n]``; capacity is ensured.
    Returns the new length and the change in live levels (−1, 0, +1).

    A deleted level stays as a tombstone (``qty == 0``) so that neither a delete nor a later
    re-insert at that price shifts the array; a new price takes a neighbouring tombstone's slot
    when there is one. The last entry (the best level) is always live: tombstones at that end
    are dropped at once."""
    # tombstones: depth replay of usdm BTCUSDT ×22 2.3 → 9.9 M level rows/s (no ~5 k-level shifts)
    pos = _lower_bound(keys, n, k)
    if pos < n and keys[pos] == k:
        old = qtys[pos]
        qtys[pos] = q
        if q != 0.0:
            return n, 1 if old == 0.0 else 0
        if old == 0.0:
            return n, 0
        while n > 0 and qtys[n - 1] == 0.0:
            n -= 1
        return n, -1
    if q == 0.0:
        return n, 0
    if pos < n and qtys[pos] == 0.0:  # keys[pos-1] < k < keys[pos]: order holds either way
        keys[pos] = k
        qtys[pos] = q
        return n, 1
    if pos > 0 and qtys[pos - 1] == 0.0:
        keys[pos - 1] = k
        qtys[pos - 1] = q
        return n, 1
    _move(keys, pos + 1, pos, n - pos)
    _move(qtys, pos + 1, pos, n - pos)
    keys[pos] = k
    qtys[pos] = q
    return n + 1, 1


@njit(cache=True)
def _compact(keys: np.ndarray, qtys: np.ndarray, n: int) -> int:  # pragma: no cover - compiled
    """Drop the tombstones of ``keys[:n]``; returns the new length."""
    j = 0
    for i in range(n):
        if qtys[i] != 0.0:
            keys[j] = keys[i]
            qtys[j] = qtys[i]
            j += 1
    return j


@njit(cache=True)
def _top(keys: np.ndarray, qtys: np.ndarray, n: int, sign: float, px: np.ndarray,  # noqa: PLR0917
         qty: np.ndarray) -> None:  # pragma: no cover - compiled
    m = 0
    i = n - 1
    while m < px.shape[0] and i >= 0:
        if qtys[i] != 0.0:
            px[m] = sign * keys[i]
            qty[m] = qtys[i]
            m += 1
        i -= 1


@njit(cache=True)
def _clear(st: np.ndarray) -> None:  # pragma: no cover - compiled
    st[_BN] = 0
    st[_AN] = 0
    st[_BLIVE] = 0
    st[_ALIVE] = 0


@njit(cache=True)
def _apply_rows(st, bk, bq, ak, aq, a, b, side, px, qty, snapshot):  # noqa: PLR0917  # pragma: no cover
    """Apply level rows ``a:b`` to both sides (growing them as needed); counts live in ``st``.
    A snapshot loads only its levels with ``qty > 0``."""
    nb = st[_BN]
    na = st[_AN]
    bk, bq = _grow(bk, bq, nb, nb + b - a)
    ak, aq = _grow(ak, aq, na, na + b - a)
    for r in range(a, b):
        if snapshot and qty[r] <= 0.0:
            continue
        if side[r] > 0:
            nb, d = _upsert(bk, bq, nb, px[r], qty[r])
            st[_BLIVE] += d
        else:
            na, d = _upsert(ak, aq, na, -px[r], qty[r])
            st[_ALIVE] += d
    # tombstones are at most as many as live levels (plus slack): a scan of the top stays short
    if nb > 2 * st[_BLIVE] + 64:
        nb = _compact(bk, bq, nb)
    if na > 2 * st[_ALIVE] + 64:
        na = _compact(ak, aq, na)
    st[_BN] = nb
    st[_AN] = na
    return bk, bq, ak, aq


@njit(cache=True)
def _process(st, bk, bq, ak, aq, pmeta, pside, ppx, pqty,  # noqa: PLR0917 (numba kernel)
             snap, first, last, pu, start, end, side, px, qty,
             obp, obq, oap, oaq, osync, ores):  # pragma: no cover - compiled
    """Run the protocol over messages ``m`` (rows ``start[m]:end[m]``); see the module doc.

    Returns the (possibly reallocated) book and buffer arrays; writes per-message results and,
    when the output arrays have columns, the top levels after each message.
    """
    nlev = obp.shape[1]
    for m in range(snap.shape[0]):
        a, b = start[m], end[m]
        if snap[m]:
            if st[_SYNCED] == 1 and last[m] <= st[_LAST]:
                res = 2
            else:
                # load the snapshot into an empty book
                _clear(st)
                bk, bq, ak, aq = _apply_rows(st, bk, bq, ak, aq, a, b, side, px, qty, True)
                st[_LAST] = last[m]
                st[_SNAP] = last[m]
                st[_SYNCED] = 1
                st[_AWAIT] = 1
                res = 0
                # drain the buffer in arrival order
                j = 0
                while j < st[_PMSG]:
                    r2 = _apply_synced(st, bk, bq, ak, aq, pmeta[j, _PF], pmeta[j, _PL], pmeta[j, _PPU],
                                       pmeta[j, _PS], pmeta[j, _PE], pside, ppx, pqty)
                    bk, bq, ak, aq = r2[1], r2[2], r2[3], r2[4]
                    if r2[0] == 3:
                        res = 3
                        break
                    j += 1
                # keep pending[j:] (from the gapped diff on), or nothing if all were consumed
                pmeta, pside, ppx, pqty = _drop_pending(st, pmeta, pside, ppx, pqty, j)
        elif st[_SYNCED] == 0:
            pmeta, pside, ppx, pqty = _buffer(st, pmeta, pside, ppx, pqty, first[m], last[m], pu[m],
                                              side[a:b], px[a:b], qty[a:b])
            res = 1
        else:
            r2 = _apply_synced(st, bk, bq, ak, aq, first[m], last[m], pu[m], a, b, side, px, qty)
            bk, bq, ak, aq = r2[1], r2[2], r2[3], r2[4]
            res = r2[0]
            if res == 3:
                st[_PMSG] = 0
                st[_PROW] = 0
                pmeta, pside, ppx, pqty = _buffer(st, pmeta, pside, ppx, pqty, first[m], last[m], pu[m],
                                                  side[a:b], px[a:b], qty[a:b])
        ores[m] = res
        osync[m] = st[_SYNCED] == 1
        if nlev and st[_SYNCED] == 1:
            _top(bk, bq, st[_BN], 1.0, obp[m], obq[m])
            _top(ak, aq, st[_AN], -1.0, oap[m], oaq[m])
    return bk, bq, ak, aq, pmeta, pside, ppx, pqty


@njit(cache=True)
def _apply_synced(st, bk, bq, ak, aq, f, u, pu, a, b, side, px, qty):  # noqa: PLR0917  # pragma: no cover
    """Apply one diff to a book in sync: (result, bk, bq, ak, aq)."""
    prev = st[_LAST]
    # awaiting the first diff after a futures snapshot, u == lastUpdateId is that first diff
    stale = u < prev if st[_AWAIT] == 1 and st[_FUT] == 1 else u <= prev
    if stale:
        st[_STALE] += 1
        return 2, bk, bq, ak, aq
    if st[_AWAIT] == 1:
        ok = (f <= prev <= u) if st[_FUT] == 1 else (f <= prev + 1 <= u)
    elif st[_FUT] == 1 and pu >= 0:
        ok = pu == prev
    elif st[_FUT] == 1:
        ok = f > prev
    else:
        ok = f == prev + 1
    if not ok:
        st[_GAPS] += 1
        st[_SYNCED] = 0
        st[_AWAIT] = 0
        _clear(st)
        return 3, bk, bq, ak, aq
    bk, bq, ak, aq = _apply_rows(st, bk, bq, ak, aq, a, b, side, px, qty, False)
    st[_LAST] = u
    st[_AWAIT] = 0
    return 0, bk, bq, ak, aq


@njit(cache=True)
def _drop_pending(st, pmeta, pside, ppx, pqty, j):  # noqa: PLR0917  # pragma: no cover - compiled
    """Remove the first ``j`` pending diffs, shifting the rest (and their rows) to the front."""
    n = st[_PMSG]
    if j == 0:
        return pmeta, pside, ppx, pqty
    if j >= n:
        st[_PMSG] = 0
        st[_PROW] = 0
        return pmeta, pside, ppx, pqty
    r0 = pmeta[j, _PS]
    rows = st[_PROW] - r0
    pside[:rows] = pside[r0:r0 + rows].copy()
    ppx[:rows] = ppx[r0:r0 + rows].copy()
    pqty[:rows] = pqty[r0:r0 + rows].copy()
    keep = n - j
    pmeta[:keep] = pmeta[j:n].copy()
    pmeta[:keep, _PS] -= r0
    pmeta[:keep, _PE] -= r0
    st[_PMSG] = keep
    st[_PROW] = rows
    return pmeta, pside, ppx, pqty


@njit(cache=True)
def _buffer(st, pmeta, pside, ppx, pqty, f, u, pu, side, px, qty):  # noqa: PLR0917  # pragma: no cover
    """Append one diff to the pending buffer (dropping the older half when it is full)."""
    if st[_PMSG] >= st[_MAXBUF]:
        pmeta, pside, ppx, pqty = _drop_pending(st, pmeta, pside, ppx, pqty, st[_PMSG] - st[_MAXBUF] // 2)
    n = st[_PMSG]
    rows = st[_PROW]
    k = side.shape[0]
    if n >= pmeta.shape[0]:
        m2 = np.empty((max(2 * pmeta.shape[0], n + 1), 5), np.int64)
        m2[:n] = pmeta[:n]
        pmeta = m2
    if rows + k > pside.shape[0]:
        cap = max(2 * pside.shape[0], rows + k)
        s2 = np.empty(cap, np.int8)
        x2 = np.empty(cap)
        q2 = np.empty(cap)
        s2[:rows] = pside[:rows]
        x2[:rows] = ppx[:rows]
        q2[:rows] = pqty[:rows]
        pside, ppx, pqty = s2, x2, q2
    pside[rows:rows + k] = side
    ppx[rows:rows + k] = px
    pqty[rows:rows + k] = qty
    pmeta[n, _PF] = f
    pmeta[n, _PL] = u
    pmeta[n, _PPU] = pu
    pmeta[n, _PS] = rows
    pmeta[n, _PE] = rows + k
    st[_PMSG] = n + 1
    st[_PROW] = rows + k
    return pmeta, pside, ppx, pqty



class OrderBook:
    """A local L2 book following Binance's snapshot + diff protocol (see the module doc)."""

    def __init__(self, futures: bool = False, max_buffer: int = 10_000) -> None:
        if max_buffer < 2:
            raise ValueError(f"max_buffer must be at least 2, got {max_buffer}")
        self.futures = futures
        self._st = np.zeros(_NSTATE, np.int64)
        self._st[_LAST] = self._st[_SNAP] = -1
        self._st[_MAXBUF] = max_buffer
        self._st[_FUT] = int(futures)
        self._bk, self._bq = np.empty(1024), np.empty(1024)
        self._ak, self._aq = np.empty(1024), np.empty(1024)
        self._pmeta = np.empty((64, 5), np.int64)
        self._pside, self._ppx, self._pqty = np.empty(1024, np.int8), np.empty(1024), np.empty(1024)

    # ---- state ----------------------------------------------------------------------------------
    @property
    def in_sync(self) -> bool:
        return bool(self._st[_SYNCED])

    @property
    def last_update_id(self) -> int | None:
        return int(self._st[_LAST]) if self._st[_LAST] >= 0 else None

    @property
    def snapshot_id(self) -> int | None:
        return int(self._st[_SNAP]) if self._st[_SNAP] >= 0 else None

    @property
    def gaps(self) -> int:
        return int(self._st[_GAPS])

    @property
    def stale(self) -> int:
        return int(self._st[_STALE])

    @property
    def buffered(self) -> int:
        """Diffs waiting for a snapshot."""
        return int(self._st[_PMSG])

    # ---- input ----------------------------------------------------------------------------------
    def run(self, messages: dict[str, np.ndarray], rows: dict[str, np.ndarray],
            n_levels: int = 0) -> dict[str, np.ndarray]:
        """Process a batch: ``messages`` (per message: ``is_snapshot``, ``first``, ``last``, ``pu``
        (−1 = none), ``start``, ``end`` row bounds) over ``rows`` (``side``, ``price``, ``qty``).
        Returns per message ``result``, ``in_sync`` and, if ``n_levels``, the top levels."""
        m = len(messages["first"])
        shape = (m, n_levels) if n_levels else (m, 0)
        out = {"bid_px": np.full(shape, np.nan), "bid_qty": np.full(shape, np.nan),
               "ask_px": np.full(shape, np.nan), "ask_qty": np.full(shape, np.nan),
               "in_sync": np.zeros(m, bool), "result": np.zeros(m, np.int8)}
        (self._bk, self._bq, self._ak, self._aq, self._pmeta, self._pside, self._ppx, self._pqty) = _process(
            self._st, self._bk, self._bq, self._ak, self._aq, self._pmeta, self._pside, self._ppx,
            self._pqty, messages["is_snapshot"], messages["first"], messages["last"], messages["pu"],
            messages["start"], messages["end"], rows["side"], rows["price"], rows["qty"],
            out["bid_px"], out["bid_qty"], out["ask_px"], out["ask_qty"], out["in_sync"], out["result"])
        return out

    def _one(self, snapshot: bool, first: int, last: int, pu: int | None, *, bid_px: Any, bid_qty: Any,
             ask_px: Any, ask_qty: Any) -> DiffResult:
        bp, bq = np.asarray(bid_px, float).ravel(), np.asarray(bid_qty, float).ravel()
        ap, aq = np.asarray(ask_px, float).ravel(), np.asarray(ask_qty, float).ravel()
        if len(bp) != len(bq) or len(ap) != len(aq):
            raise ValueError("each side needs as many quantities as prices")
        n = len(bp) + len(ap)
        msg = {"is_snapshot": np.array([snapshot]), "first": np.array([first], np.int64),
               "last": np.array([last], np.int64), "pu": np.array([-1 if pu is None else pu], np.int64),
               "start": np.zeros(1, np.int64), "end": np.array([n], np.int64)}
        rows = {"side": np.r_[np.ones(len(bp), np.int8), -np.ones(len(ap), np.int8)],
                "price": np.r_[bp, ap], "qty": np.r_[bq, aq]}
        return DiffResult(int(self.run(msg, rows)["result"][0]))

    def apply_snapshot(self, last_update_id: int, bid_px: Any, bid_qty: Any, ask_px: Any,
                       ask_qty: Any) -> DiffResult:
        """Load a snapshot, then replay buffered diffs. Returns STALE for a snapshot no newer than a
        book already in sync (ignored), GAP if the buffered diffs do not connect, else APPLIED."""
        return self._one(True, int(last_update_id), int(last_update_id), None, bid_px=bid_px,
                         bid_qty=bid_qty, ask_px=ask_px, ask_qty=ask_qty)

    def apply_diff(self, first_id: int, last_id: int, bid_px: Any, bid_qty: Any,  # noqa: PLR0917
                   ask_px: Any, ask_qty: Any, prev_id: int | None = None) -> DiffResult:
        """Apply one diff message ``[U=first_id, u=last_id]`` (futures: ``pu=prev_id``)."""
        return self._one(False, int(first_id), int(last_id), prev_id, bid_px=bid_px, bid_qty=bid_qty,
                         ask_px=ask_px, ask_qty=ask_qty)

    # ---- queries --------------------------------------------------------------------------------
    def top_levels(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(bid_px, bid_qty, ask_px, ask_qty)``, best first, each of length ``n`` padded with NaN
        (all NaN while out of sync)."""
        out = [np.full(n, np.nan) for _ in range(4)]
        if self.in_sync:
            _top(self._bk, self._bq, self._st[_BN], 1.0, out[0], out[1])
            _top(self._ak, self._aq, self._st[_AN], -1.0, out[2], out[3])
        return out[0], out[1], out[2], out[3]

    def best_bid(self) -> tuple[float, float]:
        bp, bq, _, _ = self.top_levels(1)
        return float(bp[0]), float(bq[0])

    def best_ask(self) -> tuple[float, float]:
        _, _, ap, aq = self.top_levels(1)
        return float(ap[0]), float(aq[0])

    def levels(self) -> tuple[int, int]:
        """Number of bid and ask levels held."""
        return int(self._st[_BLIVE]), int(self._st[_ALIVE])


def _at(depth: Any, name: str, starts: np.ndarray, dtype: Any) -> np.ndarray:
    """Column ``name`` at rows ``starts``. A column with ``take`` (numpy, pandas, pyarrow) is
    taken at those rows before it is converted, so a pyarrow table is not copied whole for its
    per-message columns."""
    column = depth[name]
    if hasattr(column, "take"):
        return np.asarray(column.take(starts), dtype=dtype)
    return np.asarray(column, dtype=dtype)[starts]


def _prev_ids(depth: Any, starts: np.ndarray) -> np.ndarray:
    """``prev_update_id`` (futures ``pu``) of each message, −1 where there is none (null, NaN or
    −1: spot, snapshots, or a table without the column)."""
    try:
        depth["prev_update_id"]
    except KeyError:
        return np.full(len(starts), -1, np.int64)
    # float64 holds update ids exactly (< 2**53) and turns nulls into NaN whatever the input type
    pu = _at(depth, "prev_update_id", starts, np.float64)
    return np.where(np.isnan(pu), -1, pu).astype(np.int64)


def replay_depth(depth: Any, n_levels: int, book: OrderBook | None = None,
                 futures: bool = False) -> dict[str, np.ndarray]:
    """Replay a depth table (DEPTH schema columns, rows in arrival order) message by message.

    ``depth`` is anything indexable by column name (pandas DataFrame, pyarrow Table, dict of
    arrays, which may mix numpy and pyarrow columns: the per-message columns — update ids,
    ``ts_ns`` — are converted only at each message's first row). Rows sharing a ``seq`` form one
    message. Pass ``book`` to continue from an earlier replay (e.g. the previous day). Returns,
    per message (index ``i``): ``seq``, ``ts_ns``, ``bid_px``/``bid_qty``/``ask_px``/``ask_qty``
    of shape ``(messages, n_levels)`` (best first, NaN-padded, all NaN while out of sync),
    ``in_sync`` (bool) and ``result`` (:class:`DiffResult` of that message).
    """
    bk = book if book is not None else OrderBook(futures=futures)
    seq = np.asarray(depth["seq"], dtype=np.int64)
    snap = np.asarray(depth["is_snapshot"], dtype=bool)
    if len(seq):
        starts = np.flatnonzero(np.r_[True, (seq[1:] != seq[:-1]) | (snap[1:] != snap[:-1])])
    else:
        starts = np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(seq)].astype(np.int64)
    messages = {"is_snapshot": snap[starts], "first": _at(depth, "first_update_id", starts, np.int64),
                "last": _at(depth, "last_update_id", starts, np.int64),
                "pu": _prev_ids(depth, starts), "start": starts.astype(np.int64), "end": ends}
    rows = {"side": np.asarray(depth["side"], dtype=np.int8),
            "price": np.asarray(depth["price"], dtype=np.float64),
            "qty": np.asarray(depth["qty"], dtype=np.float64)}
    out = bk.run(messages, rows, n_levels)
    out["seq"] = seq[starts]
    out["ts_ns"] = _at(depth, "ts_ns", starts, np.int64)
    return out
