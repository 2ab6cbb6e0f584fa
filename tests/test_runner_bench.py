"""`auroractl bench replay` runs on a tiny synthetic market and reports its ratio."""

from __future__ import annotations

import json
from pathlib import Path

from aurora.cli import main


def test_bench_replay_runs(tmp_path: Path, capsys) -> None:
    code = main(["--home", str(tmp_path), "bench", "replay", "--hours", "0.05", "--repeat", "1", "--json",
                 "--workdir", str(tmp_path / "work")])
    assert code == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["events"] > 1000 and figures["replay_events_per_s"] > 0
    assert figures["replay_cpu_events_per_s"] > 0
    assert 0 < figures["replay_vs_scan_ratio"] < 10
    assert figures["decisions"] > 0
