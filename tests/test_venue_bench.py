"""``auroractl bench venue --json`` runs end to end on tiny counts and reports every figure (no timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KEYS = {"fill_orders_per_s", "rest_orders_per_s", "rest_vs_inproc_ratio", "fanout_1_msgs_per_s",
        "fanout_3_msgs_per_s", "fanout_clients", "fanout_n_vs_1_ratio", "load_avg_1m"}


@pytest.mark.slow
def test_bench_venue_reports_all_figures(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")} | {"PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "aurora", "--home", str(tmp_path), "bench", "venue", "--json",
           "--orders", "2000", "--rest-orders", "50", "--clients", "3", "--fanout-seconds", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures.keys() == KEYS
    assert figures["fill_orders_per_s"] > 0 and figures["rest_orders_per_s"] > 0
    assert figures["fanout_1_msgs_per_s"] > 0 and figures["fanout_3_msgs_per_s"] > 0
    assert "REST POST /api/v3/order" in out.stderr
