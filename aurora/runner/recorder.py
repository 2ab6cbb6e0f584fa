"""The live source's recording: what the streams deliver, in the raw recording format of the shared
Binance captures (DESIGN.md §3: ``<recv_ts_ns> <json>``, combined-stream envelopes), so
``auroractl data import`` turns a live session into research data.

One file per symbol and UTC day of the receive clock (``<symbol>_<YYYYMMDD>.jsonl`` under the
directory), appended line by line and flushed per line (a crash loses at most the line being
written, which the importer skips). The gateway hands over the exchange's own ``@trade`` and
``@bookTicker`` payloads; depth diffs are consumed inside ccxt's order book and are not recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson


class Recorder:
    def __init__(self, directory: Path, symbol: str) -> None:
        self.directory = directory
        self.symbol = symbol
        self._day = ""
        self._fh: IO[bytes] | None = None
        self.lines = 0
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, day: str) -> Path:
        return self.directory / f"{self.symbol.lower()}_{day}.jsonl"

    def write(self, recv_ts_ns: int, stream: str, data: Any) -> None:
        """One message of ``stream`` (e.g. ``trade``, ``bookTicker``) received at ``recv_ts_ns``."""
        day = datetime.fromtimestamp(recv_ts_ns / 1e9, UTC).strftime("%Y%m%d")
        if day != self._day or self._fh is None:
            self.close()
            self._fh = open(self.path_for(day), "ab", buffering=0)  # noqa: SIM115 (kept open across calls)
            self._day = day
        envelope = {"stream": f"{self.symbol.lower()}@{stream}", "data": data}
        self._fh.write(b"%d %s\n" % (recv_ts_ns, orjson.dumps(envelope)))
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
