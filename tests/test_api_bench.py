"""``auroractl bench gate --json`` runs end to end (tiny counts) and reports every figure.

No timing is asserted here: targets are read from the benchmark's own figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KEYS = {"inproc_decide_p50_us", "inproc_decide_p99_us", "inproc_event_emit_p99_us",
        "inproc_service_check_p99_us", "http_pretrade_c1_rps", "http_pretrade_c1_p99_ms",
        "http_trivial_c1_rps",
        "http_pretrade_c64_rps", "http_trivial_c64_rps", "pretrade_vs_trivial_rps_ratio_c1",
        "pretrade_vs_trivial_rps_ratio_c64", "targets_met"}


@pytest.mark.slow
def test_bench_gate_reports_all_figures(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
    cmd = [sys.executable, "-m", "aurora", "--home", str(tmp_path), "bench", "gate", "--json",
           "--decisions", "2000", "--requests-c1", "300", "--requests-c64", "1000", "--rounds", "1",
           "--max-seconds", "60"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS
    assert figures["inproc_decide_p50_us"] > 0 and figures["http_pretrade_c64_rps"] > 0
    assert 0 < figures["pretrade_vs_trivial_rps_ratio_c1"] < 10
    assert "HTTP pretrade c=64" in out.stderr
