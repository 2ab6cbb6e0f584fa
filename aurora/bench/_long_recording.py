"""A long websocket recording made from a short one, repeated end to end with its clock and ids
shifted so it reads as one continuous session (for ``auroractl bench features --recording``).

Repetition ``k`` (0-based) shifts:

- receive times by ``k × span`` (``span`` = the recording's receive-time span plus 1 ms, rounded
  up to whole ms) and exchange times ``E``/``T`` (ms) by the same amount;
- order book update ids — depth ``U``/``u``/``pu``, snapshot ``lastUpdateId``, bookTicker ``u`` —
  by ``k × id_step`` where ``id_step`` makes the diff chain whole across the seam: futures (diffs
  carry ``pu``) ``last u − first pu`` (the next repetition's first ``pu`` is the previous last
  ``u``), spot ``last u − first U + 1`` (its first ``U`` is the previous last ``u`` + 1);
  bookTicker ids by at least their own range + 1, so they keep rising where the quotes run
  ahead of the last diff;
- trade ids ``t`` and aggregate ids ``a`` by ``k ×`` (their range + 1), so they keep rising.

The output is a gzip text recording of ``<recv_ts> <json>`` lines like the input.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aurora.ticks.clock import NS_PER_UNIT, detect_unit

MS = 1_000_000
_DEPTH_IDS = ("U", "u", "pu")


@dataclass(frozen=True)
class LongRecording:
    path: Path
    messages: int      # lines written (messages of the input × repeats)
    level_rows: int    # depth price levels written (diffs and snapshots)


def _payload(msg: dict[str, Any]) -> dict[str, Any]:
    return msg["data"] if "stream" in msg and isinstance(msg.get("data"), dict) else msg


def _kind(data: dict[str, Any]) -> str:
    if "lastUpdateId" in data:
        return "snapshot"
    if data.get("e") == "depthUpdate" or ("U" in data and "b" in data and "a" in data):
        return "depth"
    if data.get("e") == "aggTrade":
        return "agg"
    if data.get("e") == "trade":
        return "trade"
    return "bbo" if "u" in data else "other"


def _span(lo: int | None, hi: int | None) -> int:
    return 0 if lo is None or hi is None else hi - lo + 1


def build_long_recording(source: Path, repeats: int, out: Path) -> LongRecording:
    """Write ``source`` repeated ``repeats`` times, shifted as in the module doc, to ``out``."""
    if repeats < 1:
        raise SystemExit(f"--recording-repeats must be >= 1, got {repeats}")
    lines: list[tuple[int, dict[str, Any]]] = []
    with source.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    with gzip.open(source, "rb") if gz else source.open("rb") as fh:
        for raw in fh:
            ts_txt, _, payload = raw.strip().partition(b" ")
            if not payload:
                continue
            try:
                lines.append((int(ts_txt), orjson.loads(payload)))
            except (ValueError, orjson.JSONDecodeError):
                continue  # left out: the importer would skip it anyway
    if not lines:
        raise SystemExit(f"--recording {source}: no '<recv_ts> <json>' lines in it")
    datas = [_payload(m) for _, m in lines]
    kinds = [_kind(d) for d in datas]
    diffs = [d for d, k in zip(datas, kinds, strict=True) if k == "depth"]
    if not diffs:
        raise SystemExit(f"--recording {source}: no depth diffs in it; the bench replays the book")
    futures = "pu" in diffs[0]
    id_step = (int(diffs[-1]["u"]) - int(diffs[0]["pu"]) if futures
               else int(diffs[-1]["u"]) - int(diffs[0]["U"]) + 1)
    trade_ids = [int(d["t"]) for d, k in zip(datas, kinds, strict=True) if k == "trade"]
    agg_ids = [int(d["a"]) for d, k in zip(datas, kinds, strict=True) if k == "agg"]
    trade_step = _span(min(trade_ids, default=None), max(trade_ids, default=None))
    agg_step = _span(min(agg_ids, default=None), max(agg_ids, default=None))
    bbo_ids = [int(d["u"]) for d, k in zip(datas, kinds, strict=True) if k == "bbo"]
    bbo_step = max(id_step, _span(min(bbo_ids, default=None), max(bbo_ids, default=None)))
    recv = np.array([ts for ts, _ in lines], np.int64)
    exch = [d.get("E", d.get("T")) for d in datas]
    unit = detect_unit(recv[:256], np.array([int(e) * MS if isinstance(e, int) else -1
                                             for e in exch[:256]], np.int64), datetime.now(UTC).date())
    per_ns = NS_PER_UNIT[unit]
    span_ms = -(-int(recv.max() - recv.min()) * per_ns // MS) + 1
    level_rows = sum(len(d.get("b", d.get("bids", ()))) + len(d.get("a", d.get("asks", ())))
                     for d, k in zip(datas, kinds, strict=True) if k in ("depth", "snapshot"))
    with gzip.open(out, "wb", compresslevel=1) as fh:
        for k in range(repeats):
            shift_recv = k * span_ms * MS // per_ns
            others = (k * bbo_step, k * trade_step, k * agg_step)
            undo = (-others[0], -others[1], -others[2])
            for (ts, msg), data, kind in zip(lines, datas, kinds, strict=True):
                if k:
                    _shift(data, kind, k * span_ms, k * id_step, others)
                fh.write(b"%d %s\n" % (ts + shift_recv, orjson.dumps(msg)))
                if k:
                    _shift(data, kind, -k * span_ms, -k * id_step, undo)
    return LongRecording(out, len(lines) * repeats, level_rows * repeats)


def _shift(d: dict[str, Any], kind: str, ms: int, ids: int, others: tuple[int, int, int]) -> None:
    """Shift one payload in place (undone by the negated shift): times by ``ms``, depth ids by
    ``ids``, bookTicker, trade and aggregate ids by ``others``."""
    bbos, trades, aggs = others
    for key in ("E", "T"):
        if isinstance(d.get(key), int):
            d[key] += ms
    if kind == "depth":
        for key in _DEPTH_IDS:
            if key in d:
                d[key] += ids
    elif kind == "snapshot":
        d["lastUpdateId"] += ids
    elif kind == "bbo":
        d["u"] += bbos
    elif kind == "trade":
        d["t"] += trades
    elif kind == "agg":
        d["a"] += aggs
