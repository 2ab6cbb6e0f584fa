"""Binance websocket recordings → ``trades`` / ``bbo`` / ``depth`` tables (DESIGN.md §3).

Input: one message per line, ``<recv_ts> <json>``, gzip or plain text. The receive time is in ns,
µs or ms: ``ts_unit="auto"`` decides per file from the messages' own exchange times and the
plausible epoch range (:mod:`aurora.ticks.clock`); ``ts_ns`` is always stored in ns. Payloads are
combined-stream envelopes ``{"stream": "btcusdt@trade", "data": {...}}`` (``@trade``,
``@aggTrade``, ``@bookTicker``, ``@depth`` / ``@depth@100ms`` diffs), raw single-stream payloads
(``{"e": "trade", ...}``), or a REST depth snapshot ``{"lastUpdateId": ..., "bids": ..., "asks": ...}``
(in real recordings it arrives a few lines *after* the first diffs; its rows get
``is_snapshot=True`` and ``first_update_id = last_update_id = lastUpdateId``).

Spot and USD-M / COIN-M futures variants are handled: futures ``bookTicker`` carries ``E``/``T``
(``exch_ns`` = ``T``), futures depth carries ``pu`` (continuity is ``pu == previous u`` instead of
``U == previous u + 1``). Spot ``bookTicker`` has no time: ``exch_ns`` is null and the receive time
is the clock. Trades: ``exch_ns`` = trade time ``T``; ``m = true`` (buyer is maker) ⇒ ``side = -1``.
``@aggTrade`` rows go to ``trades`` with ``trade_id`` = aggregate id ``a``; when a recording holds
both ``@trade`` and ``@aggTrade`` only ``@trade`` is kept (the same fills would count twice).
Futures trades whose execution type ``X`` is not ``MARKET`` (``INSURANCE_FUND`` liquidations,
``ADL``, ``NA``) are not taker flow: they are not stored, and are counted per ``X``
(:attr:`ParseStats.non_market`) — they are valid messages, not bad input.

``seq`` counts accepted messages from ``seq_start``; all rows of one message share its ``seq``.

Bad input — an unparsable line, an unknown stream, another symbol, an out-of-order message
(update or trade id not above the previous one), a depth sequence gap, a truncated gzip:

* ``on_bad_input="skip"``: the line is dropped and counted with its reason (:class:`Skip`), and
  parsing continues. A depth *gap* (the next diff does not continue the chain) is not dropped —
  the diff is real data and the order book re-synchronises on it — but it is reported
  (:class:`DepthGap`) and counted. A truncated gzip keeps every line read before the break.
* ``on_bad_input="error"``: :class:`RecordingError` naming ``file:line`` and the reason.

:func:`import_recordings` parses a whole file before writing anything, so an error leaves the store
exactly as it was; writes are idempotent (see :mod:`aurora.ticks.store`).
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aurora.core.book import replay_depth
from aurora.events import EventLog
from aurora.ticks import ws_fastpath as fp
from aurora.ticks.clock import NS_PER_UNIT, TS_UNITS, ClockUnitError, TsUnit, detect_unit
from aurora.ticks.formats import is_parquet, open_plain_or_gzip, parquet_error
from aurora.ticks.schema import (
    BBO,
    DEPTH,
    EXCHANGES,
    FUTURES_EXCHANGES,
    TRADES,
    futures_exchange_of,
    instrument_problem,
)
from aurora.ticks.store import TickStore, WriteReport

OnBadInput = Literal["skip", "error"]
_DEPTH_STREAM = re.compile(r"^depth(@\d+ms)?$")
_PARTIAL_DEPTH = re.compile(r"^depth\d+(@\d+ms)?$")
MS = 1_000_000
CHUNK_MESSAGES = 200_000  # Python row buffers become Arrow tables this often
CLOCK_SAMPLES = fp.CLOCK_SAMPLES  # messages whose receive and exchange times decide the clock's unit
FAST_BLOCK_BYTES = 8 << 20  # decompressed bytes the fast path parses per call


class RecordingError(ValueError):
    """A recording could not be imported under ``on_bad_input="error"``; names file:line and why."""


@dataclass(frozen=True)
class Skip:
    """One dropped line: 1-based ``line`` number in ``source`` and the ``reason``."""

    source: str
    line: int
    reason: str


@dataclass(frozen=True)
class DepthGap:
    """A depth diff that does not continue the chain: ``prev_u`` then ``[first_u, last_u]``."""

    source: str
    line: int
    prev_u: int
    first_u: int
    last_u: int
    prev_field: int | None = None  # futures ``pu`` when present


@dataclass
class ParseStats:
    lines: int = 0
    messages: int = 0
    per_stream: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    truncated: bool = False
    aggtrades_dropped: int = 0
    non_market: Counter[str] = field(default_factory=Counter)  # futures trades by X, not stored

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "messages": self.messages, "per_stream": dict(self.per_stream),
                "skipped": self.skipped, "skip_reasons": dict(self.skip_reasons),
                "truncated": self.truncated, "aggtrades_dropped": self.aggtrades_dropped,
                "non_market": dict(self.non_market)}


@dataclass
class ParsedRecording:
    source: str
    symbol: str
    exchange: str
    tables: dict[str, pa.Table]
    stats: ParseStats
    skips: list[Skip]
    gaps: list[DepthGap]
    seq_end: int  # next free seq value
    ts_unit: str = "ns"  # unit the receive clock was read in
    lines: array = field(default_factory=lambda: array("q"))  # input line of each message (by seq)
    seq_start: int = 0

    def origin(self, seq: int) -> str:
        """``"file:line"`` of the message numbered ``seq``."""
        i = seq - self.seq_start
        return f"{self.source}:{self.lines[i]}" if 0 <= i < len(self.lines) else f"{self.source} (seq {seq})"


@dataclass
class FileImport:
    source: str
    messages: int
    rows: dict[str, int]
    written: dict[str, int]
    skipped: int
    gaps: int
    truncated: bool
    ts_unit: str = "ns"
    non_market: dict[str, int] = field(default_factory=dict)  # futures trades not stored, by X
    book_warning: str | None = None  # why this file's depth cannot give a book, if it cannot
    seq_end: int = 0  # next free arrival counter after this file


@dataclass
class ImportReport:
    """What an import did: one :class:`FileImport` per file and the store writes."""

    files: list[FileImport] = field(default_factory=list)
    writes: list[WriteReport] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(f.messages for f in self.files)

    def rows(self, table: str) -> int:
        return sum(f.rows.get(table, 0) for f in self.files)

    def written(self, table: str) -> int:
        return sum(f.written.get(table, 0) for f in self.files)


class _BadLineError(Exception):
    """Internal: the current line is bad for ``reason``."""


def _ms(v: Any) -> int:
    return int(v) * MS


def _num(v: Any) -> float:
    """A price or quantity; NaN and ±inf (which ``float`` accepts from "NaN", "inf", "1e999")
    make the line bad: no exchange sends them, and one NaN quote would poison every window and
    label around it."""
    x = float(v)
    if not math.isfinite(x):
        raise _BadLineError(f"malformed number: {v!r} is not finite")
    return x


class _Columns:
    """Row buffers: one tuple per trade/bbo row (a single append is the cheapest per-message step),
    column lists for depth (whole price levels are appended per message). Every
    :data:`CHUNK_MESSAGES` messages the buffers are converted to Arrow tables, so a day-long
    recording is held as compact columns rather than Python objects until it is written."""

    def __init__(self) -> None:
        self.trades: list[tuple[Any, ...]] = []
        self.aggtrades: list[tuple[Any, ...]] = []
        self.bbo: list[tuple[Any, ...]] = []
        self.depth: dict[str, list[Any]] = {n: [] for n in DEPTH.names}
        self.done: dict[str, list[pa.Table]] = {"trades": [], "aggtrades": [], "bbo": [], "depth": []}

    def flush(self) -> None:
        for name, rows, schema in (("trades", self.trades, TRADES), ("aggtrades", self.aggtrades, TRADES),
                                   ("bbo", self.bbo, BBO)):
            if rows:
                self.done[name].append(_table(_transpose(rows, schema), schema))
                rows.clear()
        if self.depth["seq"]:
            self.done["depth"].append(_table(self.depth, DEPTH))
            self.depth = {n: [] for n in DEPTH.names}

    def result(self, name: str, schema: pa.Schema) -> pa.Table:
        return pa.concat_tables(self.done[name]) if self.done[name] else schema.empty_table()


def _depth_rows(cols: dict[str, list[Any]], *, ts: int, exch: int | None, seq: int, first: int, last: int,
                prev: int | None, bids: list[Any], asks: list[Any], snapshot: bool) -> None:
    n = len(bids) + len(asks)
    px = [_num(p) for p, _ in bids] + [_num(p) for p, _ in asks]
    qty = [_num(q) for _, q in bids] + [_num(q) for _, q in asks]
    cols["ts_ns"] += [ts] * n
    cols["exch_ns"] += [exch] * n
    cols["seq"] += [seq] * n
    cols["first_update_id"] += [first] * n
    cols["last_update_id"] += [last] * n
    cols["prev_update_id"] += [prev] * n
    cols["side"] += [1] * len(bids) + [-1] * len(asks)
    cols["price"] += px
    cols["qty"] += qty
    cols["is_snapshot"] += [snapshot] * n


class _Parser:
    def __init__(self, source: str, symbol: str, exchange: str, on_bad_input: OnBadInput, seq: int,  # noqa: PLR0917
                 ts_unit: TsUnit = "auto") -> None:
        if ts_unit not in TS_UNITS:
            raise ValueError(f"ts_unit must be one of {', '.join(TS_UNITS)}, not {ts_unit!r}")
        if exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}; exchanges are {', '.join(EXCHANGES)}")
        if on_bad_input not in ("skip", "error"):
            raise ValueError(f"on_bad_input must be 'skip' or 'error', not {on_bad_input!r}")
        self.source = source
        self.symbol = symbol.upper()
        self.stream_prefix = symbol.lower() + "@"
        self.futures = exchange in FUTURES_EXCHANGES
        self.mode = on_bad_input
        self.seq = seq
        self.ts_unit = ts_unit
        self.lines = array("q")
        self.clock_recv: list[int] = []
        self.clock_exch: list[int] = []
        self.other_symbols: Counter[str] = Counter()   # messages naming another symbol
        self.snapshots: list[tuple[int, int, int]] = []  # (line, seq, lastUpdateId)
        self.cols = _Columns()
        self.stats = ParseStats()
        self.skips: list[Skip] = []
        self.gaps: list[DepthGap] = []
        self.last_trade: int | None = None
        self.last_agg: int | None = None
        self.last_bbo: int | None = None
        self.last_depth: int | None = None

    # -- bookkeeping ----------------------------------------------------------------------------
    def bad(self, lineno: int, reason: str) -> None:
        if self.mode == "error":
            raise RecordingError(f"{self.source}:{lineno}: {reason}")
        self.stats.skipped += 1
        self.stats.skip_reasons[reason.split(":", maxsplit=1)[0]] += 1
        self.skips.append(Skip(self.source, lineno, reason))

    def line(self, lineno: int, raw: bytes) -> None:
        raw = raw.strip()
        if not raw:
            return
        self.stats.lines += 1
        ts_txt, _, payload = raw.partition(b" ")
        try:
            ts = int(ts_txt)
        except ValueError:
            self.bad(lineno, "malformed line: no integer receive timestamp before the JSON")
            return
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self.bad(lineno, f"malformed JSON: {exc}")
            return
        try:
            self.message(ts, msg)
        except RecordingError:
            raise
        except _BadLineError as exc:
            self.bad(lineno, str(exc))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            self.bad(lineno, f"malformed message: {type(exc).__name__} {exc}")

    # -- dispatch -------------------------------------------------------------------------------
    def message(self, ts: int, msg: Any) -> None:
        if not isinstance(msg, dict):
            raise _BadLineError("malformed message: not a JSON object")
        if "stream" in msg:
            stream = str(msg["stream"])
            name, _, kind = stream.partition("@")
            data = msg["data"]
            if name.upper() != self.symbol:
                self.other_symbols[name.upper()] += 1
                raise _BadLineError(f"wrong symbol: stream {stream} is not {self.symbol}")
        elif "lastUpdateId" in msg:
            kind, data = "snapshot", msg
        elif "e" in msg:
            data = msg
            kind = {"trade": "trade", "aggTrade": "aggTrade", "depthUpdate": "depth",
                    "bookTicker": "bookTicker"}.get(str(msg["e"]), f"event {msg['e']}")
        elif {"u", "b", "B", "a", "A"} <= msg.keys():
            kind, data = "bookTicker", msg
        else:
            raise _BadLineError("unknown message: neither a stream envelope, an event nor a depth snapshot")
        if not isinstance(data, dict):
            raise _BadLineError("malformed message: data is not a JSON object")
        if len(self.clock_recv) < CLOCK_SAMPLES:
            self.clock_recv.append(ts)
            exch = data.get("E", data.get("T"))
            self.clock_exch.append(int(exch) * MS if isinstance(exch, int) else -1)
        sym = data.get("s")
        if sym is not None and str(sym).upper() != self.symbol:
            self.other_symbols[str(sym).upper()] += 1
            raise _BadLineError(f"wrong symbol: {sym} is not {self.symbol}")
        if kind == "trade":
            self.trade(ts, data)
        elif kind == "aggTrade":
            self.aggtrade(ts, data)
        elif kind == "bookTicker":
            self.book_ticker(ts, data)
        elif _DEPTH_STREAM.match(kind):
            self.depth(ts, data)
            kind = "depth"
        elif kind == "snapshot":
            self.snapshot(ts, data)
        elif _PARTIAL_DEPTH.match(kind):
            raise _BadLineError(f"unknown stream: partial-depth @{kind} is not supported (use @depth diffs)")
        else:
            raise _BadLineError(f"unknown stream: @{kind}")
        self.stats.messages += 1
        self.stats.per_stream[kind] += 1
        self.lines.append(self._lineno)
        self.seq += 1
        if self.stats.messages % CHUNK_MESSAGES == 0:
            self.cols.flush()

    def futures_only(self, evidence: str) -> None:
        """A futures feature seen in a file imported as spot: refuse the file, naming the exchange."""
        if not self.futures:
            raise RecordingError(
                f"{self.source}:{self._lineno}: a Binance futures recording ({evidence}), imported as spot "
                f"--exchange binance; use --exchange {futures_exchange_of(self.symbol)}")

    # -- streams ----------------------------------------------------------------------------------
    def trade(self, ts: int, d: dict[str, Any]) -> None:
        tid = int(d["t"])
        if self.last_trade is not None and tid <= self.last_trade:
            raise _BadLineError(f"out-of-order: trade id {tid} after {self.last_trade}")
        if "X" in d:
            self.futures_only("trades carry an execution type X")
        kind = d.get("X", "MARKET")
        if kind != "MARKET":
            self.stats.non_market[str(kind)] += 1
            self.last_trade = tid
            return
        self.cols.trades.append((ts, _ms(d["T"]), self.seq, tid, _num(d["p"]), _num(d["q"]),
                                 -1 if d["m"] else 1))
        self.last_trade = tid

    def aggtrade(self, ts: int, d: dict[str, Any]) -> None:
        aid = int(d["a"])
        if self.last_agg is not None and aid <= self.last_agg:
            raise _BadLineError(f"out-of-order: aggTrade id {aid} after {self.last_agg}")
        self.cols.aggtrades.append((ts, _ms(d["T"]), self.seq, aid, _num(d["p"]), _num(d["q"]),
                                    -1 if d["m"] else 1))
        self.last_agg = aid

    def book_ticker(self, ts: int, d: dict[str, Any]) -> None:
        uid = int(d["u"])
        if "T" in d or "E" in d:
            self.futures_only("bookTicker carries T/E times")
        if self.last_bbo is not None and uid < self.last_bbo:
            raise _BadLineError(f"out-of-order: bookTicker update id {uid} after {self.last_bbo}")
        exch = _ms(d["T"]) if "T" in d else (_ms(d["E"]) if "E" in d else None)
        self.cols.bbo.append((ts, exch, self.seq, uid, _num(d["b"]), _num(d["B"]), _num(d["a"]),
                              _num(d["A"])))
        self.last_bbo = uid

    def depth(self, ts: int, d: dict[str, Any]) -> None:
        first, last = int(d["U"]), int(d["u"])
        pu = int(d["pu"]) if "pu" in d else None
        if pu is not None:
            self.futures_only("depth diffs carry pu")
        if last < first:
            raise _BadLineError(f"malformed message: depth u {last} < U {first}")
        prev = self.last_depth
        if prev is not None and last <= prev:
            raise _BadLineError(f"out-of-order: depth u {last} not above previous u {prev}")
        _depth_rows(self.cols.depth, ts=ts, exch=_ms(d["E"]) if "E" in d else None, seq=self.seq,
                    first=first, last=last, prev=pu, bids=d["b"], asks=d["a"], snapshot=False)
        if prev is not None:
            continuous = (pu == prev) if pu is not None else (first == prev + 1)
            if not continuous:
                gap = DepthGap(self.source, self._lineno, prev, first, last, pu)
                if self.mode == "error":
                    raise RecordingError(
                        f"{self.source}:{self._lineno}: depth sequence gap: previous u {prev}, "
                        f"then U {first}" + (f" pu {pu}" if pu is not None else ""))
                self.gaps.append(gap)
        self.last_depth = last

    def snapshot(self, ts: int, d: dict[str, Any]) -> None:
        lid = int(d["lastUpdateId"])
        self.snapshots.append((self._lineno, self.seq, lid))
        exch = _ms(d["E"]) if "E" in d else None
        _depth_rows(self.cols.depth, ts=ts, exch=exch, seq=self.seq, first=lid, last=lid, prev=None,
                    bids=d["bids"], asks=d["asks"], snapshot=True)

    # -- driver -----------------------------------------------------------------------------------
    _lineno = 0

    def run(self, lines: Iterable[tuple[int, bytes]]) -> None:
        for lineno, raw in lines:
            self._lineno = lineno
            self.line(lineno, raw)

    def run_file(self, path: Path) -> None:
        """Every line of a gzip or plain file: the common ones through :mod:`ws_fastpath`, the
        others through :meth:`line`, in file order. A truncated or corrupt gzip keeps every whole
        line read before the break, as :func:`_read_lines` does."""
        pending: list[bytes] = []
        size = lineno = 0

        def whole_lines() -> int:
            """Parse the whole lines pending, keep the partial last one; the last line number."""
            nonlocal pending, size
            data = b"".join(pending)
            cut = data.rfind(b"\n") + 1
            pending, size = [data[cut:]], len(data) - cut
            return self._fast_block(data[:cut], lineno) if cut else lineno

        with open_plain_or_gzip(path) as fh:
            try:
                # read1: what was decompressed before a truncation is in hand when it raises
                while chunk := fh.read1(1 << 20):
                    pending.append(chunk)
                    size += len(chunk)
                    if size >= FAST_BLOCK_BYTES:
                        lineno = whole_lines()
            except TRUNCATED as exc:
                _truncated(self, whole_lines() + 1, exc)
                return
        if size:
            self._fast_block(b"".join(pending), lineno)

    def _fast_block(self, data: bytes, lineno: int) -> int:
        """Parse the lines of ``data`` (the first is line ``lineno + 1``); the last line number."""
        buf = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(buf == 10)
        if not len(ends) or ends[-1] != len(buf) - 1:
            ends = np.append(ends, len(buf))
        starts = np.concatenate([[0], ends[:-1] + 1])
        n = len(starts)
        linenos = np.arange(lineno + 1, lineno + 1 + n, dtype=np.int64)
        out = _FastOut(n, len(buf))
        state = np.zeros(fp.STATE_SIZE, np.int64)
        symbol = np.frombuffer(self.symbol.encode(), np.uint8)
        clock_recv = np.zeros(CLOCK_SAMPLES, np.int64)
        clock_exch = np.zeros(CLOCK_SAMPLES, np.int64)
        k = 0
        while k < n:
            self._put_state(state)
            nclock = state[fp.S_NCLOCK]
            taken, nt, nb, nd, nm = fp.parse_lines(
                buf, starts[k:], ends[k:], linenos[k:], symbol, self.futures, state, clock_recv, clock_exch,
                out.trades_i, out.trades_f, out.bbo_i, out.bbo_f, out.depth_i, out.depth_f, out.depth_side,
                out.kinds, out.lines, out.nt, out.nb, out.nd, out.nm)
            self._take_state(state, out, nm, clock_recv[nclock:state[fp.S_NCLOCK]],
                             clock_exch[nclock:state[fp.S_NCLOCK]])
            out.nt, out.nb, out.nd, out.nm = nt, nb, nd, nm
            k += taken
            if k < n:
                self._lineno = int(linenos[k])
                self.line(self._lineno, data[starts[k]:ends[k]])
                c = self.cols
                if c.trades or c.aggtrades or c.bbo or c.depth["seq"]:
                    out.emit(c)  # rows parsed before this line come first
                    c.flush()
                k += 1
        out.emit(self.cols)
        return lineno + n

    def _put_state(self, state: np.ndarray) -> None:
        state[fp.S_SEQ] = self.seq
        for has, last, value in ((fp.S_HAS_TRADE, fp.S_LAST_TRADE, self.last_trade),
                                 (fp.S_HAS_AGG, fp.S_LAST_AGG, self.last_agg),
                                 (fp.S_HAS_BBO, fp.S_LAST_BBO, self.last_bbo),
                                 (fp.S_HAS_DEPTH, fp.S_LAST_DEPTH, self.last_depth)):
            state[has] = value is not None
            state[last] = value if value is not None else 0
        state[fp.S_NCLOCK] = len(self.clock_recv)
        state[fp.S_LINES] = self.stats.lines

    def _take_state(self, state: np.ndarray, out: _FastOut, nm: int, recv: np.ndarray,
                    exch: np.ndarray) -> None:
        taken = nm - out.nm
        self.seq = int(state[fp.S_SEQ])
        self.last_trade = int(state[fp.S_LAST_TRADE]) if state[fp.S_HAS_TRADE] else None
        self.last_agg = int(state[fp.S_LAST_AGG]) if state[fp.S_HAS_AGG] else None
        self.last_bbo = int(state[fp.S_LAST_BBO]) if state[fp.S_HAS_BBO] else None
        self.last_depth = int(state[fp.S_LAST_DEPTH]) if state[fp.S_HAS_DEPTH] else None
        self.clock_recv += recv.tolist()
        self.clock_exch += exch.tolist()
        self.stats.lines = int(state[fp.S_LINES])
        self.stats.messages += taken
        if taken:
            counts = np.bincount(out.kinds[out.nm:nm], minlength=len(fp.KIND_NAMES))
            for name, c in zip(fp.KIND_NAMES, counts.tolist(), strict=True):
                if c:
                    self.stats.per_stream[name] += c
            self.lines.extend(out.lines[out.nm:nm].tolist())

    def check_symbol(self) -> None:
        """Refuse a file whose streams all name another symbol; drop (as bad input) a REST snapshot
        of a file mixing symbols unless this symbol's diffs straddle its ``lastUpdateId``."""
        if not self.other_symbols:
            return
        if self.own_messages() == 0:
            named = ", ".join(f"{s} ({n} messages)" for s, n in self.other_symbols.most_common(3))
            raise RecordingError(f"{self.source}: its streams are for {named}, not {self.symbol}; nothing "
                                 f"imported. Use --symbol {self.other_symbols.most_common(1)[0][0]}")
        if not self.snapshots:
            return
        self.cols.flush()
        depth = pa.concat_tables(self.cols.done["depth"]) if self.cols.done["depth"] else DEPTH.empty_table()
        diffs = depth.filter(pc.invert(depth.column("is_snapshot")))
        lo = pc.min(diffs.column("first_update_id")).as_py() if len(diffs) else None
        hi = pc.max(diffs.column("last_update_id")).as_py() if len(diffs) else None
        foreign = [(ln, seq, lid) for ln, seq, lid in self.snapshots
                   if lo is None or not lo - 1 <= lid <= hi]
        for ln, _, lid in foreign:
            self.bad(ln, f"wrong symbol: REST snapshot lastUpdateId {lid} is outside {self.symbol}'s depth "
                     f"update ids {lo}..{hi} in this file mixing symbols")
        if foreign:
            drop = pa.array([seq for _, seq, _ in foreign], pa.int64())
            keep = pc.invert(pc.and_(depth.column("is_snapshot"), pc.is_in(depth.column("seq"), drop)))
            self.cols.done["depth"] = [depth.filter(keep)]

    def own_messages(self) -> int:
        """Messages accepted that are not REST snapshots (those name no symbol)."""
        return self.stats.messages - self.stats.per_stream["snapshot"]

    def clock_unit(self) -> str:
        """The receive clock's unit: as given, or detected from this file's messages."""
        if self.ts_unit != "auto":
            return self.ts_unit
        try:
            return detect_unit(np.array(self.clock_recv, np.int64), np.array(self.clock_exch, np.int64),
                               datetime.now(UTC).date())
        except ClockUnitError as exc:
            raise RecordingError(f"{self.source}: {exc}") from None

    def tables(self) -> dict[str, pa.Table]:
        self.check_symbol()
        c = self.cols
        c.flush()
        trades = c.result("trades", TRADES)
        aggtrades = c.result("aggtrades", TRADES)
        if len(aggtrades) and len(trades):
            self.stats.aggtrades_dropped = len(aggtrades)
        elif len(aggtrades):
            trades = aggtrades
        out = {"trades": trades, "bbo": c.result("bbo", BBO), "depth": c.result("depth", DEPTH)}
        self.unit = self.clock_unit()
        mult = NS_PER_UNIT[self.unit]
        if mult != 1:
            for name, t in out.items():
                ts = pa.array(t.column("ts_ns").to_numpy() * np.int64(mult))
                out[name] = t.set_column(t.schema.get_field_index("ts_ns"), "ts_ns", ts)
        return out


class _FastOut:
    """Output rows of :func:`ws_fastpath.parse_lines` for one block, emitted as Arrow tables."""

    def __init__(self, lines: int, nbytes: int) -> None:
        # a depth level is at least ``["p","q"],`` (9 bytes with its comma): rows ≤ bytes / 9
        levels = nbytes // 9 + 1
        self.trades_i = np.empty((lines, 6), np.int64)
        self.trades_f = np.empty((lines, 2), np.float64)
        self.bbo_i = np.empty((lines, 5), np.int64)
        self.bbo_f = np.empty((lines, 4), np.float64)
        self.depth_i = np.empty((levels, 8), np.int64)
        self.depth_f = np.empty((levels, 2), np.float64)
        self.depth_side = np.empty(levels, np.int8)
        self.kinds = np.empty(lines, np.int64)
        self.lines = np.empty(lines, np.int64)
        self.nt = self.nb = self.nd = self.nm = 0
        self.emitted = (0, 0, 0)

    def emit(self, cols: _Columns) -> None:
        """Append the rows not yet emitted to ``cols.done``."""
        t0, b0, d0 = self.emitted
        if self.nt > t0:
            ti, tf = self.trades_i[t0:self.nt], self.trades_f[t0:self.nt]
            agg = ti[:, 5].astype(bool)
            for name, rows in (("trades", ~agg), ("aggtrades", agg)):
                if rows.any():
                    r = ti[rows]
                    f = tf[rows]
                    cols.done[name].append(pa.Table.from_arrays(
                        [pa.array(r[:, 0]), pa.array(r[:, 1]), pa.array(r[:, 2]), pa.array(r[:, 3]),
                         pa.array(f[:, 0]), pa.array(f[:, 1]), pa.array(r[:, 4].astype(np.int8))],
                        schema=TRADES))
        if self.nb > b0:
            bi, bf = self.bbo_i[b0:self.nb], self.bbo_f[b0:self.nb]
            cols.done["bbo"].append(pa.Table.from_arrays(
                [pa.array(bi[:, 0].copy()), _nullable(bi[:, 1], bi[:, 2]), pa.array(bi[:, 3].copy()),
                 pa.array(bi[:, 4].copy()), *(pa.array(bf[:, j].copy()) for j in range(4))], schema=BBO))
        if self.nd > d0:
            di, df = self.depth_i[d0:self.nd], self.depth_f[d0:self.nd]
            cols.done["depth"].append(pa.Table.from_arrays(
                [pa.array(di[:, 0].copy()), _nullable(di[:, 1], di[:, 2]), pa.array(di[:, 3].copy()),
                 pa.array(di[:, 4].copy()), pa.array(di[:, 5].copy()), _nullable(di[:, 6], di[:, 7]),
                 pa.array(self.depth_side[d0:self.nd].copy()), pa.array(df[:, 0].copy()),
                 pa.array(df[:, 1].copy()), pa.array(np.zeros(self.nd - d0, bool))], schema=DEPTH))
        self.emitted = (self.nt, self.nb, self.nd)


def _nullable(values: np.ndarray, present: np.ndarray) -> pa.Array:
    """An int64 column, null where ``present`` is 0 (all-valid columns carry no null mask)."""
    if present.all():
        return pa.array(values.copy())
    return pa.array(values.copy(), mask=present == 0)


def _transpose(rows: list[tuple[Any, ...]], schema: pa.Schema) -> dict[str, Any]:
    if not rows:
        return {n: [] for n in schema.names}
    return dict(zip(schema.names, zip(*rows, strict=True), strict=True))


def _table(cols: dict[str, Any], schema: pa.Schema) -> pa.Table:
    arrays = []
    for f in schema:
        values = cols[f.name]
        if f.nullable and any(v is None for v in values):
            arrays.append(pa.array(values, type=f.type))
        elif pa.types.is_boolean(f.type):
            arrays.append(pa.array(np.asarray(values, dtype=bool)))
        else:
            arrays.append(pa.array(np.asarray(values, dtype=f.type.to_pandas_dtype())))
    return pa.Table.from_arrays(arrays, schema=schema)


def _read_lines(path: Path, parser: _Parser) -> Iterator[tuple[int, bytes]]:
    """Numbered lines of a gzip or plain file; a truncated/corrupt gzip ends the iteration."""
    lineno = 0
    try:
        with open_plain_or_gzip(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                yield lineno, raw
    except TRUNCATED as exc:
        _truncated(parser, lineno + 1, exc)


#: What reading a cut or corrupt gzip raises.
TRUNCATED = (EOFError, gzip.BadGzipFile, zlib.error)


def _truncated(parser: _Parser, lineno: int, exc: Exception) -> None:
    """The input broke off at ``lineno``: the lines before it stand, the break is bad input."""
    parser.stats.truncated = True
    parser.bad(lineno, f"truncated input: {type(exc).__name__}: {exc}")


def parse_recording(path_or_lines: str | Path | Iterable[str | bytes], symbol: str,  # noqa: PLR0917
                    exchange: str = "binance", on_bad_input: OnBadInput = "skip",
                    seq_start: int = 0, ts_unit: TsUnit = "auto", *, fast: bool = True) -> ParsedRecording:
    """Parse one recording (a file path, or an iterable of lines) into the three tick tables;
    ``ts_unit`` is the receive clock's unit (``auto``: detected, see :mod:`aurora.ticks.clock`).
    ``fast=False`` parses a file line by line in Python only (the reference the fast path is
    tested against; the result is the same)."""
    if isinstance(path_or_lines, str | Path):
        path = Path(path_or_lines)
        source = str(path)
        parser = _Parser(source, symbol, exchange, on_bad_input, seq_start, ts_unit)
        if not path.is_file():
            raise RecordingError(f"{source}: no such file")
        if is_parquet(path):
            raise RecordingError(parquet_error(source))
        if fast:
            parser.run_file(path)
        else:
            parser.run(_read_lines(path, parser))
    else:
        source = "<lines>"
        parser = _Parser(source, symbol, exchange, on_bad_input, seq_start, ts_unit)
        parser.run((i, ln.encode() if isinstance(ln, str) else ln)
                   for i, ln in enumerate(path_or_lines, start=1))
    tables = parser.tables()
    return ParsedRecording(source=source, symbol=symbol.upper(), exchange=exchange, tables=tables,
                           stats=parser.stats, skips=parser.skips, gaps=parser.gaps, seq_end=parser.seq,
                           ts_unit=parser.unit, lines=parser.lines, seq_start=seq_start)


def book_warning(depth: pa.Table, futures: bool) -> str | None:
    """Why the depth of one file can never give an order book on its own (None when it syncs, or
    when the file holds no depth): no REST snapshot, or the diffs never connect to one."""
    if not len(depth):
        return None
    snaps = depth.column("is_snapshot").to_numpy(zero_copy_only=False)
    if not snaps.any():
        return ("depth diffs but no REST depth snapshot: the order book cannot bootstrap from this file "
                "(obi_w and other book features stay NaN unless another file of the day has a snapshot)")
    synced = replay_depth(depth, 0, futures=futures)["in_sync"]
    if not synced.any():
        return ("the depth never syncs: no diff connects to the REST snapshot (book features stay NaN); "
                "was the snapshot taken long after the diffs started, or for another stream?")
    return None


def emit_parse_events(events: EventLog, parsed: ParsedRecording, max_skip_events: int) -> None:
    """One ``data.import.skip`` per skipped line (up to ``max_skip_events``) and one per gap."""
    for skip in parsed.skips[:max_skip_events]:
        events.emit("data.import.skip", source=skip.source, line=skip.line, reason=skip.reason,
                    symbol=parsed.symbol, exchange=parsed.exchange)
    if len(parsed.skips) > max_skip_events:
        events.emit("data.import.skip_suppressed", source=parsed.source,
                    suppressed=len(parsed.skips) - max_skip_events)
    for gap in parsed.gaps:
        events.emit("data.import.gap", source=gap.source, line=gap.line, prev_u=gap.prev_u,
                    first_u=gap.first_u, last_u=gap.last_u, pu=gap.prev_field, symbol=parsed.symbol)


def import_recordings(  # noqa: PLR0917 (the documented positional API)
        paths: Iterable[str | Path], store: TickStore, exchange: str, symbol: str,
                      on_bad_input: OnBadInput = "skip", events: EventLog | None = None,
                      seq_start: int = 0, max_skip_events: int = 1000,
                      ts_unit: TsUnit = "auto") -> ImportReport:
    """Parse each file fully, then write its tables to ``store`` (idempotent); ``ts_unit`` is the
    receive clock's unit (``auto``: detected per file).

    ``seq`` continues from one file to the next in the order given. A file that fails under
    ``on_bad_input="error"`` raises before anything of *that* file is written; files before it
    in the same call are already stored. A file that yields no row at all is an error, as is one
    whose streams all name another symbol, or a futures recording imported as spot. A file whose
depth can never give a book (:func:`book_warning`) is imported with a ``data.import.no_book``
event and :attr:`FileImport.book_warning` set.
    """
    problem = instrument_problem(exchange, symbol.upper())
    if problem:
        raise RecordingError(problem)
    report = ImportReport()
    seq = seq_start
    for path in paths:
        parsed = parse_recording(path, symbol, exchange, on_bad_input, seq, ts_unit)
        if not any(len(t) for t in parsed.tables.values()):
            reasons = ", ".join(f"{r} {n}" for r, n in parsed.stats.skip_reasons.most_common(3))
            raise RecordingError(f"{parsed.source}: nothing imported: {parsed.stats.lines} line(s), "
                                 f"{parsed.stats.skipped} skipped ({reasons or 'no messages'}); is it a "
                                 "websocket recording of <recv_ts> <json> lines for this symbol?")
        seq = parsed.seq_end
        writes = store.write_tables(parsed.tables, exchange, symbol.upper(), parsed.origin)
        report.writes.extend(writes.values())
        written = {t: wr.rows_written for t, wr in writes.items()}
        warning = book_warning(parsed.tables["depth"], exchange in FUTURES_EXCHANGES)
        fi = FileImport(source=parsed.source, messages=parsed.stats.messages,
                        rows={t: len(v) for t, v in parsed.tables.items()}, written=written,
                        skipped=parsed.stats.skipped, gaps=len(parsed.gaps),
                        truncated=parsed.stats.truncated, ts_unit=parsed.ts_unit,
                        non_market=dict(parsed.stats.non_market), book_warning=warning,
                        seq_end=parsed.seq_end)
        report.files.append(fi)
        if events is not None:
            emit_parse_events(events, parsed, max_skip_events)
            if warning:
                events.emit("data.import.no_book", source=fi.source, exchange=exchange, symbol=symbol.upper(),
                            reason=warning)
            events.emit("data.import.file", source=fi.source, format="ws", exchange=exchange,
                        symbol=symbol.upper(), messages=fi.messages, rows=fi.rows, written=written,
                        skipped=fi.skipped, gaps=fi.gaps, truncated=fi.truncated, ts_unit=fi.ts_unit,
                        non_market=fi.non_market,
                        per_stream=dict(parsed.stats.per_stream))
    return report
