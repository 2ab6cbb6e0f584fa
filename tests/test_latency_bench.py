"""`auroractl bench latency` runs the live loop against a venue process and reports its figures."""

from __future__ import annotations

import json
from pathlib import Path

from aurora.cli import main


def test_bench_latency_runs(tmp_path: Path, capsys) -> None:
    code = main(["--home", str(tmp_path), "bench", "latency", "--seconds", "4", "--speed", "5", "--json"])
    assert code == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["decisions"] > 10 and figures["events"] >= figures["decisions"]
    assert 0 < figures["p50_us"] <= figures["p99_us"] <= figures["max_us"]
    assert 0 < figures["compute_p50_us"] <= figures["p50_us"]
    assert abs(figures["p99_vs_target_ratio"] - figures["p99_us"] / 1000.0) < 1e-3
