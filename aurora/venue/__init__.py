"""Local Binance-compatible spot venue on loopback (``auroractl venue``), around ``core.fills``.

Public surface: :class:`Venue` (start/stop in a running event loop), :func:`build_venue` and
:func:`market_tape` (from settings), :func:`load_faults` (the ``--faults`` YAML). Never imported by
``aurora.exchange`` or ``aurora.runner``: they reach the venue by URL, as they reach Binance.
"""

from aurora.venue._build import VenueSetupError, build_venue, market_tape, symbol_spec
from aurora.venue._faults import FaultError, FaultInjector, load_faults
from aurora.venue._market import Tape, tape_from_tables
from aurora.venue._server import Venue

__all__ = ["FaultError", "FaultInjector", "Tape", "Venue", "VenueSetupError", "build_venue", "load_faults",
           "market_tape", "symbol_spec", "tape_from_tables"]
