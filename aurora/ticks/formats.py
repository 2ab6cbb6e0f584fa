"""What kind of market-data file is this? Sniffed from a file's name and first line.

* ``ws`` — websocket recordings, ``<recv_ts> <json>`` lines (gzip or plain);
* ``vision`` — data.binance.vision dumps (``SYMBOL-aggTrades-DATE.zip`` …, CSV or zip, or a URL);
* ``tardis`` — tardis.dev CSV exports, recognised by their header (``exchange,symbol,timestamp,
  local_timestamp,…``).

A Parquet file is none of these (the tick store's own files need no import): :func:`parquet_error`
gives the message every importer uses to refuse one.
"""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path
from typing import IO

PARQUET_MAGIC = b"PAR1"
_WS_LINE = re.compile(rb"^\s*\d{10,20} [\[{]")
_TARDIS_HEADER = re.compile(rb"^exchange,symbol,timestamp,local_timestamp,")
#: data.binance.vision file names: ``BTCUSDT-aggTrades-2024-08-08.zip``
VISION_KIND_RE = re.compile(r"-(aggTrades|trades|bookTicker)-", re.IGNORECASE)


class FormatError(ValueError):
    """The file's format cannot be told or is not importable; names the file and what to do."""


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == PARQUET_MAGIC


def parquet_error(label: str) -> str:
    return (f"{label}: is a Parquet file, not a raw recording, a data.binance.vision dump or a "
            "tardis.dev CSV; the tick store's own files are read in place, not imported")


def first_line(path: Path, limit: int = 65536) -> bytes:
    """The first line of a plain, gzip or single-member zip file (at most ``limit`` bytes)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if len(names) != 1:
                return b""
            with zf.open(names[0]) as fh:
                return fh.readline(limit)
    with open_plain_or_gzip(path) as fh:
        return fh.readline(limit)


def open_plain_or_gzip(path: Path) -> IO[bytes]:
    """``path`` opened for binary reading, decompressed when its first bytes are gzip's magic."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # type: ignore[return-value]


def detect_format(src: str) -> str:
    """``ws``, ``vision`` or ``tardis`` for a file path or URL (see the module doc)."""
    name = Path(src).name
    if src.startswith(("http://", "https://")):
        return "vision"
    path = Path(src)
    if not path.is_file():
        raise FormatError(f"{src}: no such file")
    if is_parquet(path):
        raise FormatError(parquet_error(src))
    try:
        head = first_line(path)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FormatError(f"{src}: cannot read: {exc}") from None
    if _TARDIS_HEADER.match(head):
        return "tardis"
    if VISION_KIND_RE.search(name) or name.lower().endswith((".zip", ".csv")):
        return "vision"
    if _WS_LINE.match(head):
        return "ws"
    raise FormatError(f"{src}: not a websocket recording (<recv_ts> <json> lines), a data.binance.vision "
                      "dump nor a tardis.dev CSV export; pass --format")
