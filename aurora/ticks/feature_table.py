"""Tick store → feature table, one UTC day (partition) at a time, memory bounded by ~two days.

Each day is computed from its own partitions plus:

- trailing context from the previous stored day (the last ``params.context_s`` seconds, one
  extra quote before it for the first order-flow term and mid change, and every trade after
  that quote), so windows at the start of a day see exactly what a continuous run would;
- the order book carried over from the previous day's depth replay (a day whose depth does not
  start with a snapshot, at the start of a run, is warmed up by replaying the previous day);
- with labels, the head of the next day (its first ``horizon_s`` seconds of quotes), so labels
  near midnight are not cut short. Labels are censored (``label_complete`` False) only where
  the stored data itself ends inside the horizon.

The tick size is ``params.tick_size`` or, when ``None``, inferred once from the first day's
quotes and kept for the whole run.

Label columns (see :mod:`aurora.core.labels`): ``label_long``/``label_short`` (int8: +1 tp,
−1 sl, 0 timeout), ``ret_long_bps``/``ret_short_bps``, ``exit_long_ns``/``exit_short_ns``,
``label_end_ns`` (when both outcomes are known, for purging) and ``label_complete``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from aurora.core.book import OrderBook, replay_depth
from aurora.core.features import NS, BookTops, FeatureParams, compute_features, infer_tick_size
from aurora.core.labels import LabelParams, triple_barrier
from aurora.core.microprice import MicropriceModel
from aurora.ticks.store import TickStore

BBO_READ = ["ts_ns", "seq", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty"]
TRADE_READ = ["ts_ns", "seq", "qty", "side"]
LABEL_COLUMNS = ("label_long", "ret_long_bps", "exit_long_ns", "label_short", "ret_short_bps",
                 "exit_short_ns", "label_end_ns", "label_complete")


class FeatureTableError(ValueError):
    """No data, or a bad request, for a feature table; the message says which."""


@dataclass
class _Day:
    day: date
    bbo: pd.DataFrame
    trades: pd.DataFrame
    depth: pd.DataFrame | None


def _read_day(store: TickStore, exchange: str, symbol: str, day: date, with_depth: bool) -> _Day:
    bbo = store.read("bbo", exchange, symbol, day, day, BBO_READ).to_pandas()
    trades = store.read("trades", exchange, symbol, day, day, TRADE_READ).to_pandas()
    depth = None
    if with_depth:
        d = store.read("depth", exchange, symbol, day, day)
        depth = d.to_pandas() if len(d) else None
    return _Day(day, bbo, trades, depth)


def _tops(depth: pd.DataFrame | None, book: OrderBook, levels: int) -> BookTops | None:
    if depth is None or depth.empty:
        return None
    out = replay_depth(depth, levels, book=book)
    return BookTops(seq=out["seq"], bid_qty=out["bid_qty"], ask_qty=out["ask_qty"],
                    in_sync=out["in_sync"])


def _last_top(tops: BookTops | None) -> BookTops | None:
    if tops is None or tops.seq.size == 0:
        return None
    return BookTops(tops.seq[-1:], tops.bid_qty[-1:], tops.ask_qty[-1:], tops.in_sync[-1:])


def _join_tops(a: BookTops | None, b: BookTops | None) -> BookTops | None:
    if a is None:
        return b
    if b is None:
        return a
    return BookTops(np.concatenate([a.seq, b.seq]), np.vstack([a.bid_qty, b.bid_qty]),
                    np.vstack([a.ask_qty, b.ask_qty]), np.concatenate([a.in_sync, b.in_sync]))


def _tail(day: _Day, since_ns: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Context from a previous day: quotes after ``since_ns`` plus the one before, and every
    trade after that quote."""
    ts = day.bbo["ts_ns"].to_numpy()
    i = max(int(np.searchsorted(ts, since_ns, side="right")) - 1, 0)
    bbo = day.bbo.iloc[i:]
    if bbo.empty:
        return bbo, day.trades.iloc[0:0]
    first_seq = int(bbo["seq"].iloc[0])
    trades = day.trades.loc[day.trades["seq"].to_numpy() > first_seq]
    return bbo, trades


def _rebase(bbo: pd.DataFrame, trades: pd.DataFrame, top: BookTops | None, cur: _Day,
            cur_tops: BookTops | None) -> tuple[pd.DataFrame, pd.DataFrame, BookTops | None]:
    """Shift the context's ``seq`` below the day's first ``seq`` when the two days came from
    separate imports (each import numbers its messages from its own start); order within the
    context is kept."""
    firsts = [int(f["seq"].min()) for f in (cur.bbo, cur.trades) if len(f)]
    if cur_tops is not None and cur_tops.seq.size:
        firsts.append(int(cur_tops.seq.min()))
    lasts = [int(f["seq"].max()) for f in (bbo, trades) if len(f)]
    if top is not None:
        lasts.append(int(top.seq.max()))
    if not firsts or not lasts or max(lasts) < min(firsts):
        return bbo, trades, top
    shift = max(lasts) - min(firsts) + 1
    bbo = bbo.assign(seq=bbo["seq"] - shift)
    trades = trades.assign(seq=trades["seq"] - shift)
    if top is not None:
        top = BookTops(top.seq - shift, top.bid_qty, top.ask_qty, top.in_sync)
    return bbo, trades, top


def _labels(bbo: pd.DataFrame, head: pd.DataFrame | None, n: int, lp: LabelParams) -> pd.DataFrame:
    if head is not None and not head.empty:
        bbo = pd.concat([bbo[["ts_ns", "bid_px", "ask_px"]], head[["ts_ns", "bid_px", "ask_px"]]],
                        ignore_index=True)
    ts = bbo["ts_ns"].to_numpy(np.int64)
    bid = bbo["bid_px"].to_numpy(np.float64)
    ask = bbo["ask_px"].to_numpy(np.float64)
    long = triple_barrier(ts, bid, ask, lp.tp_bps, lp.sl_bps, lp.horizon_s, side=1)
    short = triple_barrier(ts, bid, ask, lp.tp_bps, lp.sl_bps, lp.horizon_s, side=-1)
    return pd.DataFrame({
        "label_long": long.outcome[:n], "ret_long_bps": long.ret_bps[:n],
        "exit_long_ns": long.exit_ts_ns[:n],
        "label_short": short.outcome[:n], "ret_short_bps": short.ret_bps[:n],
        "exit_short_ns": short.exit_ts_ns[:n],
        "label_end_ns": np.maximum(long.end_ns[:n], short.end_ns[:n]),
        "label_complete": long.complete[:n] & short.complete[:n],
    })


def iter_feature_days(  # noqa: PLR0917 (the documented positional API)
    store: TickStore,
    exchange: str,
    symbol: str,
    start: date,
    end: date,
    params: FeatureParams,
    labels: LabelParams | None = None,
    microprice: MicropriceModel | None = None,
    with_depth: bool = True,
) -> Iterator[tuple[date, pd.DataFrame]]:
    """Yield ``(day, feature frame)`` for every stored day of quotes in ``[start, end]``."""
    if start > end:
        raise FeatureTableError(f"start {start} is after end {end}")
    stored = store.dates("bbo", exchange, symbol)
    days = [d for d in stored if start <= d <= end]
    if not days:
        raise FeatureTableError(f"no bbo data for {symbol} on {exchange} between {start} and {end}"
                                f" (stored days: {', '.join(map(str, stored)) or 'none'})")
    stored_set = set(stored)
    context_ns = round(params.context_s * NS)
    horizon_ns = round(labels.horizon_s * NS) if labels is not None else 0
    book = OrderBook()
    prev: _Day | None = None
    prev_top: BookTops | None = None
    before = days[0] - timedelta(days=1)
    if before in stored_set:
        prev = _read_day(store, exchange, symbol, before, with_depth)
        prev_top = _last_top(_tops(prev.depth, book, params.obi_levels)) if with_depth else None
    upcoming: _Day | None = None
    for k, day in enumerate(days):
        cur = upcoming if upcoming is not None and upcoming.day == day else \
            _read_day(store, exchange, symbol, day, with_depth)
        if params.tick_size is None:
            params = params.with_tick(infer_tick_size(cur.bbo["bid_px"].to_numpy(),
                                                      cur.bbo["ask_px"].to_numpy()))
        day_start = int(pd.Timestamp(day).value)
        if prev is not None and prev.day == day - timedelta(days=1):
            ctx_bbo, ctx_trades = _tail(prev, day_start - context_ns)
        else:
            ctx_bbo, ctx_trades, prev_top, book = cur.bbo.iloc[0:0], cur.trades.iloc[0:0], None, OrderBook()
        day_tops = _tops(cur.depth, book, params.obi_levels) if with_depth else None
        ctx_bbo, ctx_trades, prev_top = _rebase(ctx_bbo, ctx_trades, prev_top, cur, day_tops)
        tops = _join_tops(prev_top, day_tops)
        bbo = pd.concat([ctx_bbo, cur.bbo], ignore_index=True) if len(ctx_bbo) else cur.bbo
        trades = pd.concat([ctx_trades, cur.trades], ignore_index=True) if len(ctx_trades) else cur.trades
        frame = compute_features(bbo, trades, tops, params, microprice=microprice,
                                 context_start_ns=day_start)
        nxt = day + timedelta(days=1)
        upcoming = None
        if nxt in stored_set and (labels is not None or (k + 1 < len(days) and days[k + 1] == nxt)):
            upcoming = _read_day(store, exchange, symbol, nxt, with_depth)
        if labels is not None:
            head = None
            if upcoming is not None:
                hts = upcoming.bbo["ts_ns"].to_numpy()
                last_ts = int(cur.bbo["ts_ns"].iloc[-1]) if len(cur.bbo) else day_start
                head = upcoming.bbo.iloc[: int(np.searchsorted(hts, last_ts + horizon_ns, side="right"))]
            lab = _labels(cur.bbo, head, len(cur.bbo), labels)
            frame = pd.concat([frame, lab], axis=1)
        prev_top = _last_top(tops)
        prev = cur
        yield day, frame


def feature_table(  # noqa: PLR0917 (the documented positional API)
    store: TickStore,
    exchange: str,
    symbol: str,
    start: date,
    end: date,
    params: FeatureParams,
    labels: LabelParams | None = None,
    microprice: MicropriceModel | None = None,
    with_depth: bool = True,
) -> pd.DataFrame:
    """All days of :func:`iter_feature_days` in one frame (for ranges that fit in memory)."""
    parts = [f for _, f in iter_feature_days(store, exchange, symbol, start, end, params, labels,
                                             microprice, with_depth)]
    return pd.concat(parts, ignore_index=True)
