"""``auroractl bench calibrate`` at a tiny size produces its figures, per-step timings included."""

from __future__ import annotations

import json
import math

import pytest

from aurora.cli import main


@pytest.mark.slow
def test_bench_calibrate_smoke(home, capsys):
    rc = main(["--home", str(home), "bench", "calibrate", "--days", "1", "--hours", "0.2",
               "--horizon-s", "5", "--sample-s", "1", "--calls", "2000", "--json"])
    assert rc == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["pipeline_1d_exit_code"] in (0, 1)
    steps = {"features", "01_feature_study", "02_calibrate_predict_p"}
    assert {f"pipeline_1d_{s}_s" for s in steps} <= set(figures)
    assert figures["pipeline_1d_each_builds_wall_s"] > 0 and figures["table_once_vs_each_wall_ratio"] > 0
    assert all(math.isfinite(v) and v > 0 for k, v in figures.items() if k.endswith(("_s", "_us")))
