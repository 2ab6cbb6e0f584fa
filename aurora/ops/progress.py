"""The live progress line of a one-click run, read from the runner's and Aurora's ``/metrics``.

``market time · events · decisions · orders ok/failed/denied · P&L · equity · drawdown``. Equity
and drawdown are the runner's gauges (the gate's view) and, before the runner knows them (no
post-trade report yet), Aurora's own ``aurora_equity`` / ``aurora_daily_drawdown_ratio``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: Without a terminal, one plain line every this many refreshes (a log file wants fewer lines).
PLAIN_EVERY = 10


def samples(text: str) -> dict[str, float]:
    """``name{label="v"}`` → value of every sample in a Prometheus text exposition (labels sorted;
    a sample without labels is keyed by its bare name)."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = float(s.value)
    return out


def scrape(client: httpx.Client, url: str | None) -> dict[str, float]:
    """The samples at ``url`` (``{}`` when unset or unreachable: the line shows what it has)."""
    if url is None:
        return {}
    try:
        resp = client.get(url)
        resp.raise_for_status()
    except httpx.HTTPError:
        return {}
    return samples(resp.text)


@dataclass(frozen=True)
class Progress:
    market_ts_s: float
    events: float
    decisions: float
    orders: dict[str, float]
    pnl_quote: float
    equity: float
    drawdown_pct: float

    @classmethod
    def read(cls, runner: dict[str, float], aurora: dict[str, float]) -> Progress:
        nan = math.nan

        def pick(mine: str, theirs: str, scale: float) -> float:
            v = runner.get(mine, nan)
            return v if math.isfinite(v) else aurora.get(theirs, nan) * scale
        return cls(runner.get("wisescalp_market_time_seconds", nan),
                   runner.get("wisescalp_events_total", 0.0), runner.get("wisescalp_decisions_total", 0.0),
                   {o: runner.get(f'wisescalp_orders_total{{outcome="{o}"}}', 0.0)
                    for o in ("success", "failed", "denied")},
                   runner.get("wisescalp_realized_pnl_quote", 0.0),
                   pick("wisescalp_equity_quote", "aurora_equity", 1.0),
                   pick("wisescalp_drawdown_pct", "aurora_daily_drawdown_ratio", 100.0))

    def line(self, elapsed_s: float) -> str:
        t = (datetime.fromtimestamp(self.market_ts_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
             if math.isfinite(self.market_ts_s) and self.market_ts_s > 0 else "--")
        o = self.orders
        eq = f"{self.equity:,.2f}" if math.isfinite(self.equity) else "--"
        dd = f"{self.drawdown_pct:.2f}%" if math.isfinite(self.drawdown_pct) else "--"
        return (f"[{elapsed_s:5.0f} s] market {t}  events {self.events:,.0f}  "
                f"decisions {self.decisions:,.0f}  "
                f"orders {o['success']:.0f} ok/{o['failed']:.0f} failed/{o['denied']:.0f} denied  "
                f"P&L {self.pnl_quote:+.4f}  equity {eq}  drawdown {dd}")


class LiveLine:
    """A line refreshed in place on a terminal; plain lines every :data:`PLAIN_EVERY` refreshes
    otherwise."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.tty = out.isatty()
        self.n = 0

    def show(self, text: str) -> None:
        if self.tty:
            self.out.write(f"\r{text}\x1b[K")
        elif self.n % PLAIN_EVERY == 0:
            self.out.write(text + "\n")
        self.n += 1
        self.out.flush()

    def end(self, text: str) -> None:
        """The final reading, on a line of its own."""
        self.out.write((f"\r{text}\x1b[K" if self.tty else text) + "\n")
        self.out.flush()
