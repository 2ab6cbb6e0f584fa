"""Arrow schemas of the tick tables (contract: DESIGN.md §3).

Clock: ``ts_ns`` is the local receive time, int64 ns UTC; ``exch_ns`` is the exchange's own
time (nullable; spot ``@bookTicker`` has none). ``seq`` is an arrival counter shared by all
tables of one recording, so merging trades and bbo back into one stream is exact even when
receive times tie. Rows are stored in arrival order.

Partition keys ``exchange``, ``symbol`` and ``date`` live in the hive path
(``{table}/exchange={ex}/symbol={SYM}/date={YYYY-MM-DD}/``), not in the files.
"""

from __future__ import annotations

import re

import pyarrow as pa

EXCHANGES = ("binance", "binance-usdm", "binance-coinm")
#: USD-M and COIN-M futures: their depth diffs chain by ``pu`` (``prev_update_id``), not ``U``.
FUTURES_EXCHANGES = ("binance-usdm", "binance-coinm")
PARTITION_KEYS = ("exchange", "symbol", "date")
#: COIN-M contracts are quoted in USD and margined in the base coin: ``BTCUSD_PERP``, ``BTCUSD_240927``
_COINM_SYMBOL = re.compile(r"^[A-Z0-9]+USD_(PERP|\d{6})$")


def futures_exchange_of(symbol: str) -> str:
    """The futures exchange a symbol trades on: ``binance-coinm`` for COIN-M contract names
    (``…USD_PERP``, ``…USD_YYMMDD``), else ``binance-usdm``."""
    return "binance-coinm" if _COINM_SYMBOL.match(symbol.upper()) else "binance-usdm"

TRADES = pa.schema(
    [
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("exch_ns", pa.int64()),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("trade_id", pa.int64(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("qty", pa.float64(), nullable=False),
        # +1 taker bought, -1 taker sold (Binance m=True => buyer is maker => taker sold => -1)
        pa.field("side", pa.int8(), nullable=False),
    ]
)

BBO = pa.schema(
    [
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("exch_ns", pa.int64()),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("update_id", pa.int64(), nullable=False),
        pa.field("bid_px", pa.float64(), nullable=False),
        pa.field("bid_qty", pa.float64(), nullable=False),
        pa.field("ask_px", pa.float64(), nullable=False),
        pa.field("ask_qty", pa.float64(), nullable=False),
    ]
)

DEPTH = pa.schema(
    [
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("exch_ns", pa.int64()),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("first_update_id", pa.int64(), nullable=False),
        pa.field("last_update_id", pa.int64(), nullable=False),
        # futures diffs' ``pu`` (the previous message's ``u``); null for spot and for snapshots
        pa.field("prev_update_id", pa.int64()),
        pa.field("side", pa.int8(), nullable=False),  # +1 bid, -1 ask
        pa.field("price", pa.float64(), nullable=False),
        pa.field("qty", pa.float64(), nullable=False),  # 0 deletes the level
        pa.field("is_snapshot", pa.bool_(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"trades": TRADES, "bbo": BBO, "depth": DEPTH}
