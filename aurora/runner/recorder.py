"""The live source's recording: what the streams deliver, in the raw recording format of the shared
Binance captures (DESIGN.md §3: ``<recv_ts_ns> <json>``, combined-stream envelopes), so
``auroractl data import`` turns a live session into research data.

One file per symbol and UTC day of the receive clock (``<symbol>_<YYYYMMDD>.jsonl`` under the
directory), appended line by line and flushed per line (a crash loses at most the line being
written, which the importer skips). The gateway hands over the exchange's own ``@trade`` and
``@bookTicker`` payloads; depth diffs are consumed inside ccxt's order book and are not recorded.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

#: Diffs held at most while a snapshot is awaited (oldest dropped beyond: ~100 s of @depth@100ms).
_HELD = 1000


class Recorder:
    def __init__(self, directory: Path, symbol: str) -> None:
        self.directory = directory
        self.symbol = symbol
        self._day = ""
        self._fh: IO[bytes] | None = None
        self._held: deque[dict[str, Any]] = deque(maxlen=_HELD)
        self.lines = 0
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, day: str) -> Path:
        return self.directory / f"{self.symbol.lower()}_{day}.jsonl"

    def write(self, recv_ts_ns: int, stream: str, data: Any) -> None:
        """One message of ``stream`` (e.g. ``trade``, ``bookTicker``) received at ``recv_ts_ns``."""
        self._line(recv_ts_ns, {"stream": f"{self.symbol.lower()}@{stream}", "data": data})

    def depth(self, recv_ts_ns: int, diff: dict[str, Any], state: str) -> None:
        """A ``@depth`` diff in ccxt's ``state`` (``applied``, ``held``, ``dropped``: see
        :data:`aurora.exchange.DepthTap`)."""
        if state == "applied":
            self.write(recv_ts_ns, "depth@100ms", diff)
        elif state == "held":
            self._held.append(diff)

    def snapshot(self, recv_ts_ns: int, snap: dict[str, Any]) -> None:
        """A REST depth snapshot, then the held diffs newer than it (spot: ``u`` > ``lastUpdateId``)."""
        self._line(recv_ts_ns, snap)
        last = int(snap["lastUpdateId"])
        for diff in self._held:
            if int(diff["u"]) > last:
                self.write(recv_ts_ns, "depth@100ms", diff)
        self._held.clear()

    def _line(self, recv_ts_ns: int, payload: dict[str, Any]) -> None:
        day = datetime.fromtimestamp(recv_ts_ns / 1e9, UTC).strftime("%Y%m%d")
        if day != self._day or self._fh is None:
            self.close()
            self._fh = open(self.path_for(day), "ab", buffering=0)  # noqa: SIM115 (kept open across calls)
            self._day = day
        self._fh.write(b"%d %s\n" % (recv_ts_ns, orjson.dumps(payload)))
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
