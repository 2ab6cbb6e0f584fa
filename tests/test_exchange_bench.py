"""``auroractl bench exchange --json`` runs end to end (tiny counts) and reports every figure.

No timing is asserted here: the target (gateway_vs_ccxt_ratio ≤ 1.2) is read from the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KEYS = {"gateway_order_p50_us", "ccxt_order_p50_us", "gateway_order_p99_us", "ccxt_order_p99_us",
        "gateway_vs_ccxt_ratio", "orders", "fill_orders_per_s", "load_avg_1m"}


@pytest.mark.slow
def test_bench_exchange_reports_all_figures(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
    cmd = [sys.executable, "-m", "aurora", "--home", str(tmp_path), "bench", "exchange", "--json",
           "--orders", "10", "--warmup", "2", "--fill-orders", "500"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(figures) == KEYS
    assert figures["orders"] == 10 and figures["gateway_vs_ccxt_ratio"] > 0
    assert figures["fill_orders_per_s"] > 0
