"""Aurora x WiseScalp: research-to-production workbench for crypto scalping on Binance."""

import os

__version__ = "0.1.0"

# Arrow's allocator (mimalloc) returns freed memory to the OS after 1 s by default, so a feature
# run streaming day partitions faults every day's Parquet buffers back in (0.2–0.5 s of system
# time per 10 M-event day; ``auroractl bench features``). Keeping freed memory 10 s lets the next
# day reuse it. Read once when pyarrow loads, so it is set here, before anything imports pyarrow;
# a value already in the environment wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "10000")
