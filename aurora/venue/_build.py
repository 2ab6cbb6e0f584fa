"""Assemble a :class:`~aurora.venue._server.Venue` from settings: filters, fees, balances, keys, market."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from aurora.config import Settings
from aurora.core.fills import Fees, SymbolSpec
from aurora.ticks.location import rooted
from aurora.venue._faults import FaultInjector
from aurora.venue._market import Tape, load_store_day, synthetic_tape
from aurora.venue._server import Venue
from aurora.venue._wire import split_symbol


class VenueSetupError(ValueError):
    """The venue cannot start as asked; the message names the setting or argument and the fix."""


def symbol_spec(settings: Settings, symbol: str) -> SymbolSpec:
    """The symbol's filters from the ``symbols:`` config and its assets from its name."""
    f = settings.symbols.get(symbol)
    if f is None:
        raise VenueSetupError(f"symbol {symbol!r} is not in the symbols: config (known: "
                              f"{', '.join(sorted(settings.symbols))}); add its filters there")
    try:
        base, quote = split_symbol(symbol)
    except ValueError as exc:
        raise VenueSetupError(str(exc)) from None
    return SymbolSpec(symbol, base, quote, f.tick_size, f.step_size, f.min_qty, f.min_notional)


def market_tape(settings: Settings, spec: SymbolSpec, store: Path | None, exchange: str | None,
                day: date | None) -> Tape:
    """A stored day (``day``, default the latest) or, when the store holds none, a synthetic market."""
    root = store or rooted(settings.storage.ticks_dir, settings.path)
    try:
        tape = load_store_day(root, exchange or settings.venue.exchange, spec.symbol, day)
    except ValueError as exc:
        raise VenueSetupError(str(exc)) from None
    if tape is None:
        tape = synthetic_tape(spec.symbol, settings.venue.synth_hours, settings.venue.synth_seed,
                              spec.tick_size, day)
    return tape


def build_venue(settings: Settings, symbol: str, *, tape: Tape, speed: float | None = None,
                faults: FaultInjector | None = None, loop_tape: bool = True) -> Venue:
    """A venue for ``symbol`` trading on ``tape``; keys from AURORA_BINANCE_API_KEY/_SECRET."""
    if settings.binance_api_key is None or settings.binance_api_secret is None:
        raise VenueSetupError("the venue needs the keys it accepts: set AURORA_BINANCE_API_KEY and "
                              "AURORA_BINANCE_API_SECRET (environment or .env)")
    spec = symbol_spec(settings, symbol)
    v = settings.venue
    return Venue(spec=spec, fees=Fees(settings.costs.maker_fee_bps, settings.costs.fee_bps),
                 balances=dict(v.balances), tape=tape, speed=speed or v.speed,
                 api_key=settings.binance_api_key.get_secret_value(),
                 api_secret=settings.binance_api_secret.get_secret_value(),
                 depth_levels=v.depth_levels, depth_interval_ms=v.depth_interval_ms,
                 faults=faults, loop_tape=loop_tape)
