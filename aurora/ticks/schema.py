"""Arrow schemas of the tick tables (contract: DESIGN.md §3).

Clock: ``ts_ns`` is the local receive time, int64 ns UTC; ``exch_ns`` is the exchange's own
time (nullable; spot ``@bookTicker`` has none). ``seq`` is an arrival counter shared by all
tables of one recording, so merging trades and bbo back into one stream is exact even when
receive times tie. Rows are stored in arrival order.

Partition keys ``exchange``, ``symbol`` and ``date`` live in the hive path
(``{table}/exchange={ex}/symbol={SYM}/date={YYYY-MM-DD}/``), not in the files.
"""

from __future__ import annotations

import pyarrow as pa

from aurora.core.symbols import coinm_contract_usd, is_coinm, validate_symbol

EXCHANGES = ("binance", "binance-usdm", "binance-coinm")
#: USD-M and COIN-M futures: their depth diffs chain by ``pu`` (``prev_update_id``), not ``U``.
FUTURES_EXCHANGES = ("binance-usdm", "binance-coinm")
PARTITION_KEYS = ("exchange", "symbol", "date")


def futures_exchange_of(symbol: str) -> str:
    """The futures exchange a symbol trades on: ``binance-coinm`` for COIN-M contract names
    (``…USD_PERP``, ``…USD_YYMMDD``), else ``binance-usdm``."""
    return "binance-coinm" if is_coinm(symbol.upper()) else "binance-usdm"


def instrument_problem(exchange: str, symbol: str) -> str | None:
    """Why ``symbol`` cannot trade on ``exchange`` (None if it can): the symbol rule of
    :mod:`aurora.core.symbols`, COIN-M names only on ``binance-coinm`` and only they, no
    ``_`` suffix on spot."""
    try:
        validate_symbol(symbol)
    except ValueError as exc:
        return str(exc)
    if exchange == "binance-coinm" and not is_coinm(symbol):
        return (f"{symbol} is not a COIN-M contract (…USD_PERP, …USD_YYMMDD); "
                "use --exchange binance-usdm or binance")
    if exchange != "binance-coinm" and is_coinm(symbol):
        return f"{symbol} is a COIN-M contract; use --exchange binance-coinm"
    if exchange == "binance" and "_" in symbol:
        return (f"{symbol} is a futures contract, not a spot symbol; "
                f"use --exchange {futures_exchange_of(symbol)}")
    return None


def instrument(exchange: str, symbol: str) -> dict[str, object]:
    """What a stored quantity means: ``qty_unit`` ``contracts`` (COIN-M, with ``contract_usd``, the
    face value of one contract) or ``base`` (spot and USD-M: coins)."""
    if exchange == "binance-coinm":
        return {"exchange": exchange, "symbol": symbol, "qty_unit": "contracts",
                "contract_usd": coinm_contract_usd(symbol)}
    return {"exchange": exchange, "symbol": symbol, "qty_unit": "base", "contract_usd": None}

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
