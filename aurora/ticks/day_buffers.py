"""Day-sized arrays under an explicit lifetime: valid until released, then reused.

A producer that streams days (:func:`aurora.ticks.feature_table.iter_feature_days`) takes every
day-sized array from :meth:`DayBuffers.empty`; an array stays valid until the producer calls
:meth:`DayBuffers.give_back` on it (an intermediate it is done with) or :meth:`DayBuffers.release`
(the whole day: the producer does so when the consumer asks for the next day). Released memory
serves the next requests, so a month streams in about one day's memory, faulted in once.

With ``poison=True`` (debugging, tests) released memory is filled with 0xFF bytes — NaN in float
arrays, −1 in integers, True in booleans — so a consumer that holds arrays past their day reads
obvious garbage instead of silently reading the next day's numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Extra room for a new buffer, so a slightly longer next day still fits it.
HEADROOM = 1.05
_ROUND = 64  # bytes: buffer sizes are rounded up to this
POISON_BYTE = 0xFF


# Reuse, not numpy's free-then-allocate: a 10 M-event day then faults in no new memory (~0.4 M page
# faults, 1–3 s of system time a day on a VM, as much as the computation; bench features).
class DayBuffers:
    """``empty(shape, dtype)`` like :func:`numpy.empty`, from buffers reused after release.

    ``reuse=False`` hands out plain :func:`numpy.empty` arrays that are never reused (for a
    consumer that keeps what it is given); release is then a no-op. Not thread-safe; one
    instance per producer.
    """

    def __init__(self, reuse: bool = True, poison: bool = False) -> None:
        self.reuse = reuse
        self.poison = poison
        self._free: list[np.ndarray] = []
        self._used: dict[int, np.ndarray] = {}  # data address → buffer

    def empty(self, shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised array, valid until released: the smallest free buffer that fits,
        else a new one with :data:`HEADROOM`."""
        dt = np.dtype(dtype)
        dims = tuple(int(d) for d in (shape if isinstance(shape, tuple) else (shape,)))
        if not self.reuse:
            return np.empty(dims, dt)
        nbytes = math.prod(dims) * dt.itemsize
        fits = [k for k, buf in enumerate(self._free) if buf.nbytes >= nbytes]
        if fits:
            buf = self._free.pop(min(fits, key=lambda k: self._free[k].nbytes))
        else:
            buf = np.empty(max(math.ceil(nbytes * HEADROOM / _ROUND) * _ROUND, _ROUND), np.uint8)
        self._used[buf.ctypes.data] = buf
        return buf[:nbytes].view(dt).reshape(dims)

    def give_back(self, *arrays: np.ndarray) -> None:
        """Release these arrays (as returned by :meth:`empty`) before the end of the day."""
        if not self.reuse:
            return
        for arr in arrays:
            buf = self._used.pop(arr.ctypes.data, None)
            if buf is None:
                raise ValueError("give_back: not an array handed out (and not yet released) by "
                                 "these buffers")
            self._retire(buf)

    def release(self) -> None:
        """Release every array handed out: their memory serves the next requests."""
        for buf in self._used.values():
            self._retire(buf)
        self._used.clear()

    def _retire(self, buf: np.ndarray) -> None:
        if self.poison:
            buf.fill(POISON_BYTE)
        self._free.append(buf)

    @property
    def held_bytes(self) -> int:
        """Bytes of every buffer kept (in use or free)."""
        return sum(b.nbytes for b in (*self._free, *self._used.values()))

    def clear(self) -> None:
        """Keep nothing more (arrays still referenced stay valid as plain memory)."""
        self._free.clear()
        self._used.clear()
