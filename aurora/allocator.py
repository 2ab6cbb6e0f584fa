"""Arrow's allocator keeps the memory it frees, in the processes that compute day after day.

Arrow's default pool in the pyarrow wheels is mimalloc, which hands pages it frees back to the
kernel 10 ms later. A feature day decodes ~1 GB of Parquet columns into that pool and frees them
by the end of the day, so every day faults the same amount back in, and the kernel zeroes each page
(huge pages: 2 MB at a time) before handing it over. One process pays ~0.2 s of system time a day
for it; two busy processes on this 2-vCPU VM paid up to 1 s a day each (perf: ``clear_page_erms``
5 % of one process's time, 12–19 % of each of two): the largest part of what kept 2 workers from
twice the speed of one (``auroractl bench scale``).

With :data:`KEEP_FREED_MEMORY` in its environment, mimalloc keeps freed pages for reuse: a process
holds its peak Arrow memory (about one day's columns) instead of returning it between days, as its
day buffers already do (:mod:`aurora.ticks.day_buffers`). The cost is a higher peak RSS, since
pages Arrow keeps no longer serve numpy's allocations: bench scale 3.2–3.3 → 3.4–3.5 GB per worker,
bench features 3.9 → 4.2 GB. mimalloc reads the variable when libarrow
loads, so it must be set before pyarrow is first imported: in the environment of a process about
to start (Dask workers: :func:`aurora.ticks.fanout.worker_environ`; workers started by hand: the
README), or by :func:`keep_freed_memory` first thing in ``auroractl``. Importing :mod:`aurora` sets
nothing (a notebook's process is left as it was).
"""

from __future__ import annotations

import os
import sys

#: Environment variables that make Arrow's allocator keep the memory it frees (-1: never purge).
KEEP_FREED_MEMORY: dict[str, str] = {"MIMALLOC_PURGE_DELAY": "-1"}


def keep_freed_memory() -> bool:
    """Set :data:`KEEP_FREED_MEMORY` in this process's environment (a value already set, e.g. by
    the user, is kept) if pyarrow is not loaded yet; whether it was (True: it takes effect here and
    in the processes this one starts; False: nothing was changed)."""
    if "pyarrow" in sys.modules:
        return False
    for name, value in KEEP_FREED_MEMORY.items():
        os.environ.setdefault(name, value)
    return True
