"""Crash-safety journal of the runner's orders (live modes that send orders).

One JSON object a line, appended and fsync'd before an order is sent and after its outcome is
known, so a ``kill -9`` at any point leaves either an intent without an outcome (the order may
or may not exist at the exchange) or a complete record:

- ``{"op": "sent", "cid", "symbol", "side", "qty", "leg", "p", "decision_id", "ts_ns"}``
- ``{"op": "done", "cid", "filled_qty", "avg_px", "base", "fee_quote", "ts_ns"}`` (``base``: base
  asset the fill added, negative for a sell; 0 when nothing filled)

At start, :func:`reconcile` looks every intent without an outcome up at the exchange by its
client order id (the gateway's ``fetch_order``) and journals what it finds, then the open
position is what the journal's fills add up to. A torn last line (power loss) is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class OpenPosition:
    """What the journal says is held: ``qty`` base bought at ``entry_px`` (quote per base)."""

    qty: float
    entry_px: float
    entry_ns: int
    entry_fee_quote: float
    p: float
    decision_id: str | None
    seq_cid: str  # client order id of the entry


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps(record, sort_keys=True) + "\n").encode())
        os.fsync(self._fd)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a crash mid-write: its order is looked up as unknown
        return out

    def close(self) -> None:
        os.close(self._fd)


def unresolved(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``sent`` records with no ``done`` after them."""
    done = {r["cid"] for r in records if r.get("op") == "done"}
    return [r for r in records if r.get("op") == "sent" and r["cid"] not in done]


async def reconcile(journal: Journal, lookup: Callable[[str, str], Awaitable[Any]], now_ns: int, *,
                    taker_fee_bps: float) -> int:
    """Resolve every intent without an outcome by looking it up (``lookup(cid, symbol)`` → an
    order report with ``filled_qty``/``avg_price``/``fee``/``fee_asset``, or None when the
    exchange has no such order); returns how many were resolved. A buy whose fee the lookup does
    not report (the live lookup asks the order's trades for it) is taken to have paid
    ``taker_fee_bps`` of it in base, so the position is never overstated."""
    n = 0
    for r in unresolved(journal.records()):
        rep = await lookup(r["cid"], r["symbol"])
        filled = float(rep.filled_qty) if rep is not None else 0.0
        avg = float(rep.avg_price) if rep is not None and rep.avg_price is not None else None
        base = filled if r["side"] == "buy" else -filled
        fee_quote = 0.0
        if rep is not None and not rep.fee and filled > 0 and avg is not None and r["side"] == "buy":
            fee = filled * taker_fee_bps / 1e4
            base -= fee
            fee_quote = fee * avg
        elif rep is not None and rep.fee and avg is not None:
            in_base = rep.fee_asset is not None and r["symbol"].startswith(rep.fee_asset)
            fee_quote = rep.fee * avg if in_base else rep.fee
            if in_base and r["side"] == "buy":
                base -= rep.fee
        journal.write({"op": "done", "cid": r["cid"], "filled_qty": filled, "avg_px": avg, "base": base,
                       "fee_quote": fee_quote, "ts_ns": now_ns, "reconciled": True})
        n += 1
    return n


def open_position(records: list[dict[str, Any]], symbol: str) -> OpenPosition | None:
    """The position the journal's fills add up to for ``symbol`` (None when flat): base held, at
    the average price of the entries since it was last flat."""
    sent = {r["cid"]: r for r in records if r.get("op") == "sent" and r.get("symbol") == symbol}
    held = 0.0
    entry: OpenPosition | None = None
    for r in records:
        if r.get("op") != "done" or r["cid"] not in sent or not r.get("filled_qty"):
            continue
        s = sent[r["cid"]]
        held += r["base"]
        if s["side"] == "buy":
            entry = OpenPosition(held, r["avg_px"], r["ts_ns"], r["fee_quote"], s.get("p") or 0.0,
                                 s.get("decision_id"), r["cid"])
        elif held <= 1e-12:
            entry = None
    if entry is None or held <= 1e-12:
        return None
    return OpenPosition(held, entry.entry_px, entry.entry_ns, entry.entry_fee_quote, entry.p,
                        entry.decision_id, entry.seq_cid)
