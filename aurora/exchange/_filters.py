"""Exchange filters: read from ccxt's markets, checked against Aurora's ``symbols:`` config,
and the order rounding rule the gateway applies before anything is sent.

ccxt parses Binance's exchangeInfo into ``market['precision']`` (``price`` = PRICE_FILTER
tickSize, ``amount`` = LOT_SIZE stepSize, TICK_SIZE mode) and ``market['limits']`` (``amount.min``
= minQty, ``cost.min`` = NOTIONAL/MIN_NOTIONAL minNotional).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aurora.core.orders import FilterError, RoundedOrder, SymbolFilters, round_to_filters
from aurora.exchange._errors import BadRequestError, FilterRejectedError

_FIELDS = ("tick_size", "step_size", "min_qty", "min_notional")


def filters_from_market(market: Mapping[str, Any]) -> SymbolFilters:
    """A symbol's filters from a ccxt market (Binance spot); names what is missing."""
    values = (market["precision"].get("price"), market["precision"].get("amount"),
              market["limits"]["amount"].get("min"), market["limits"]["cost"].get("min") or 0.0)
    if any(v is None for v in values):
        missing = [f for f, v in zip(_FIELDS, values, strict=True) if v is None]
        raise BadRequestError(f"exchange market {market.get('id')} has no {', '.join(missing)} "
                              "(exchangeInfo needs PRICE_FILTER, LOT_SIZE and NOTIONAL filters)")
    return SymbolFilters(*(float(v) for v in values))


def filters_from_settings(settings: Any) -> dict[str, SymbolFilters]:
    """The ``symbols:`` filters of the config, for work without a connection (replay)."""
    return {sym: SymbolFilters(f.tick_size, f.step_size, f.min_qty, f.min_notional)
            for sym, f in settings.symbols.items()}


def check_configured(configured: Mapping[str, SymbolFilters], exchange: Mapping[str, SymbolFilters]) -> None:
    """Raise :class:`BadRequestError` naming every configured symbol missing on the exchange or
    whose filters differ from the exchange's (both values, so the config can be fixed)."""
    problems = []
    for sym, mine in configured.items():
        theirs = exchange.get(sym)
        if theirs is None:
            problems.append(f"symbols.{sym}: not traded on the exchange")
            continue
        for field in _FIELDS:
            a, b = getattr(mine, field), getattr(theirs, field)
            if not math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0):
                problems.append(f"symbols.{sym}.{field}: config says {a:g}, the exchange says {b:g}")
    if problems:
        raise BadRequestError("Aurora's symbols config disagrees with the exchange (fix configs/*.yaml):\n  "
                              + "\n  ".join(problems))


def round_order(qty: float, price: float | None, filt: SymbolFilters, *, max_qty: float | None = None,
                ref_price: float | None = None) -> RoundedOrder:
    """:func:`aurora.core.orders.round_to_filters`, raising the gateway's
    :class:`FilterRejectedError`: the same rule with or without a connection (replay uses it with
    :func:`filters_from_settings`)."""
    try:
        return round_to_filters(qty, price, filt, max_qty=max_qty, ref_price=ref_price)
    except FilterError as exc:
        raise FilterRejectedError(str(exc), violations=exc.violations, op="create") from None
