"""Aurora's clock (``api.clock``): the wall clock, or the requests' own time for replays.

``wall`` (the default): decisions, cool-offs, model age and the day roll run on the server's
clock. ``request``: they run on the ``ts`` the requests carry — the runner's market time in a
replay — so a cool-off started at market time 10:00:00 for 60 s ends at market 10:01:00 however
fast the replay runs. The clock never goes back (a request older than one already seen is
decided at the latest time seen); before the first request it reads the wall clock (``/health``).
Refused when anything live could be gated by it (``api.mode: live`` or ``exchange.target: live``):
a client could then move Aurora's time past its own cool-offs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aurora.config import ConfigError, Settings

CLOCKS = ("wall", "request")


def check_clock_config(settings: Settings) -> None:
    """ConfigError when ``api.clock: request`` is set where something live is gated."""
    if settings.api.clock != "request":
        return
    live = [f"{key} is live" for key, value in (("api.mode", settings.api.mode),
                                                 ("exchange.target", settings.exchange.target))
            if value == "live"]
    if live:
        raise ConfigError("api.clock: request lets the requests set Aurora's time, and "
                          f"{' and '.join(live)}: use api.clock: wall for anything live (request is for "
                          "replays)")


class RequestClock:
    """Epoch seconds of the latest request's ``ts`` (:meth:`advance`); the wall clock before any."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.now: float | None = None

    def __call__(self) -> float:
        return self._wall() if self.now is None else self.now

    def advance(self, ts_s: float) -> float:
        """Move to ``ts_s`` unless that is behind the time already reached; returns the time."""
        self.now = ts_s if self.now is None else max(self.now, ts_s)
        return self.now
