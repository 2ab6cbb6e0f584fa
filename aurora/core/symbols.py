"""The one rule for instrument symbols, and what a COIN-M quantity means.

Symbols are Binance's, upper case: spot and USD-M ``BTCUSDT``, ``1000PEPEUSDT``; USD-M quarterlies
``BTCUSDT_240927``; COIN-M ``BTCUSD_PERP``, ``ETHUSD_240927``. Every edge that takes a symbol —
importers and the tick store, the CLI, config ``symbols:`` keys, the API schema — checks it with
:func:`validate_symbol` (or :data:`SYMBOL_PATTERN`, the same rule as a regular expression), so a
symbol one part accepts is never refused by the next. Edges that accept lower case (the CLI)
upper-case first.

COIN-M quantities are **contracts** of a fixed USD face value (:func:`coinm_contract_usd`: 100 USD
for BTC, 10 USD for every other coin), not coins: a trade of ``q`` contracts at price ``p``
(USD per coin) is ``q · face / p`` coins. The tick store keeps the exchange's quantities as they
are and records the unit and face value per symbol (``TickStore.instrument``).
"""

from __future__ import annotations

import re

#: the symbol rule as a regular expression (for schemas that want a pattern)
SYMBOL_PATTERN = r"^[A-Z0-9]{2,30}(_(PERP|[0-9]{6}))?$"
_SYMBOL = re.compile(SYMBOL_PATTERN)
_COINM = re.compile(r"^([A-Z0-9]+)USD_(PERP|[0-9]{6})$")


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` if it follows the rule (see the module doc), else raise ``ValueError``
    naming it and the rule."""
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise ValueError(f"bad symbol {symbol!r}: use Binance's upper-case name, letters and digits "
                         "like BTCUSDT, optionally _PERP or _YYMMDD like BTCUSD_PERP")
    return symbol


def is_coinm(symbol: str) -> bool:
    """True for COIN-M contract names (``…USD_PERP``, ``…USD_YYMMDD``)."""
    return bool(_COINM.match(symbol))


def coinm_contract_usd(symbol: str) -> float:
    """Face value of one COIN-M contract in USD: 100 for BTC, 10 for every other coin."""
    m = _COINM.match(symbol)
    if not m:
        raise ValueError(f"{symbol!r} is not a COIN-M contract (…USD_PERP or …USD_YYMMDD)")
    return 100.0 if m.group(1) == "BTC" else 10.0

