"""Day-sized arrays handed out again once nobody holds them: one day's memory, faulted in once.

Streaming a month through the feature kernels makes ~1.5 GB of arrays per 10 M-event day. Freed,
numpy gives such arrays back to the OS (glibc ``mmap``/``munmap``), so every day faults all of it
in again: ~0.4 M page faults, 1–3 s of system time per day on a VM, as much as the computation
itself (measured with ``auroractl bench features``). A :class:`Recycler` keeps the arrays it made
and reuses one as soon as every array the caller was given from it is gone, which CPython's
reference count tells exactly: a view (and a pandas column built on it) holds a reference to
the array that owns the memory.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

# Extra room for a new array, so a slightly longer next day still fits it.
HEADROOM = 1.05
_ROUND = 64  # bytes: sizes of new arrays are rounded up to this


class Recycler:
    """``empty(shape, dtype)`` like :func:`numpy.empty`, reusing memory no longer referenced.

    Not thread-safe; one recycler per producer. :meth:`clear` forgets every array (memory still
    in use is freed when its last user lets go).
    """

    def __init__(self) -> None:
        self._owners: list[np.ndarray] = []
        self._idle = self._refs_when_idle()

    def _refs_when_idle(self) -> int:
        """The reference count of an array held by nothing but ``_owners`` (as counted below)."""
        self._owners.append(np.empty(0, dtype=np.uint8))
        refs = sys.getrefcount(self._owners[-1])
        self._owners.pop()
        return refs

    def empty(self, shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised array: a free kept one when one is large enough (the smallest such),
        else a new one with :data:`HEADROOM`."""
        dt = np.dtype(dtype)
        dims = tuple(int(d) for d in (shape if isinstance(shape, tuple) else (shape,)))
        nbytes = math.prod(dims) * dt.itemsize
        best = -1
        for k in range(len(self._owners)):
            size = self._owners[k].nbytes
            if (size >= nbytes and sys.getrefcount(self._owners[k]) == self._idle
                    and (best < 0 or size < self._owners[best].nbytes)):
                best = k
        if best < 0:
            self._owners.append(np.empty(max(math.ceil(nbytes * HEADROOM / _ROUND) * _ROUND,
                                             _ROUND), dtype=np.uint8))
            best = len(self._owners) - 1
        return self._owners[best][:nbytes].view(dt).reshape(dims)

    @property
    def held_bytes(self) -> int:
        """Bytes of every array kept (in use or free)."""
        return sum(a.nbytes for a in self._owners)

    def clear(self) -> None:
        """Keep nothing more."""
        self._owners.clear()
