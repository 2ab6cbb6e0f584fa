"""``auroractl bench scale`` at tiny sizes produces every figure (values are not asserted)."""

from __future__ import annotations

import json
import math

import pytest

from aurora.cli import main

FIGURES = {
    "days", "workers", "serial_s", "serial_s_per_day", "dask_1_worker_s", "dask_2_workers_s",
    "speedup_ratio", "speedup_vs_1_worker_ratio", "dask_overhead_ms_per_task", "noop_task_ms",
    "peak_rss_mb_1_worker", "peak_rss_mb_per_worker", "rss_worker_vs_1_worker_ratio",
    "loadavg_1m_before", "loadavg_1m_after", "serial_cpu_s", "dask_2_workers_cpu_s",
    "cpu_bound_speedup_ratio", "serial_all_cores_s", "speedup_vs_serial_all_cores_ratio",
    "plain_2_processes_s", "plain_processes_speedup_ratio", "dask_vs_plain_processes_ratio",
    "serial_page_faults_per_day", "dask_2_workers_page_faults_per_day",
}


@pytest.mark.slow
def test_bench_scale_smoke(home, tmp_path, capsys):
    rc = main(["--home", str(home), "bench", "scale", "--hours", "0.02", "--days", "4",
               "--workdir", str(tmp_path / "w"), "--json"])
    assert rc == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures) == FIGURES
    assert figures["days"] == 4 and len(figures["peak_rss_mb_per_worker"]) == 2
    scalars = [v for k, v in figures.items() if k != "peak_rss_mb_per_worker"]
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in scalars)
    assert all(figures[k] > 0 for k in ("serial_s", "dask_1_worker_s", "dask_2_workers_s",
                                        "speedup_ratio", "peak_rss_mb_1_worker"))
    assert all(isinstance(figures[k], int) and figures[k] >= 0
               for k in ("serial_page_faults_per_day", "dask_2_workers_page_faults_per_day"))
