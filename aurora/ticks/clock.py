"""Units of receive clocks in raw recordings: detect ns / µs / ms per file, convert to ns.

Collectors write ``<recv_ts> <json>`` lines with the receive time in nanoseconds (this project, the
runner's recorder), microseconds (older versions of popular open-source collectors) or
milliseconds. Read as ns, a µs clock lands in January 1970 and every window is 1000× too long, so
the unit is decided per file:

* with exchange times (``E`` / ``T`` of the messages, in ms): the unit in which the receive clock
  lies within :data:`MAX_CLOCK_OFFSET_NS` of them (real offsets are about a second; the units are
  1000× apart, so exactly one fits);
* without: the unit in which the receive clock is a plausible date (2009 … today): the three
  ranges do not overlap.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np

TsUnit = Literal["auto", "ns", "us", "ms"]
TS_UNITS: tuple[TsUnit, ...] = ("auto", "ns", "us", "ms")
#: nanoseconds per unit
NS_PER_UNIT: dict[str, int] = {"ns": 1, "us": 1_000, "ms": 1_000_000}
#: the most a receive clock may differ from the exchange's and still be "the same clock"
MAX_CLOCK_OFFSET_NS = 86_400 * 1_000_000_000
_EARLIEST_NS = int(np.datetime64("2009-01-01", "ns").astype(np.int64))


class ClockUnitError(ValueError):
    """The receive clock's unit cannot be decided; the message says what was seen."""


def detect_unit(recv: np.ndarray, exch_ns: np.ndarray, today: date) -> str:
    """Unit (``ns``/``us``/``ms``) of the raw receive times ``recv`` of some messages;
    ``exch_ns[i]`` is message i's exchange time in ns, or negative where it has none."""
    recv = np.asarray(recv, dtype=np.int64)
    exch_ns = np.asarray(exch_ns, dtype=np.int64)
    has = exch_ns >= 0
    if has.any():
        r, e = recv[has].astype(np.float64), exch_ns[has].astype(np.float64)
        offsets = {u: float(np.median(r * m - e)) for u, m in NS_PER_UNIT.items()}
        fits = [u for u, off in offsets.items() if abs(off) <= MAX_CLOCK_OFFSET_NS]
        if len(fits) == 1:
            return fits[0]
        seen = ", ".join(f"as {u}: {off / 1e9:+.3g} s" for u, off in offsets.items())
        raise ClockUnitError(f"the receive clock matches the messages' exchange times (E/T) in no unit "
                             f"(receive − exchange {seen}); pass --ts-unit")
    if not recv.size:
        return "ns"
    latest_ns = int(np.datetime64(today, "ns").astype(np.int64)) + 2 * 86_400 * 1_000_000_000
    mid = float(np.median(recv))
    fits = [u for u, m in NS_PER_UNIT.items() if _EARLIEST_NS <= mid * m <= latest_ns]
    if len(fits) == 1:
        return fits[0]
    raise ClockUnitError(f"receive time {int(mid)} is no date between 2009 and today in ns, µs or ms; "
                         "pass --ts-unit")
