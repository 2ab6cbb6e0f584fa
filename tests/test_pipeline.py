"""The papermill calibration pipeline end to end on synthetic data with a known injected signal.

One synthetic store (3 h) is shared by the module. Runs go through ``auroractl calibrate`` in
process (papermill starts the ``aurora`` kernel for each notebook), so they exercise the real
notebooks, gates, promotion, rollback, events and run directories.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from aurora.artifact import load_artifact
from aurora.cli import main
from aurora.core.metrics import ece_noise_floor
from aurora.events import read_events
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

SMALL = ["--set", "tp_bps=0.5", "--set", "sl_bps=0.5", "--set", "horizon_s=5", "--set", "embargo_s=5"]
DAY = ["--start", "2024-01-01", "--end", "2024-01-01"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("calhome")
    (root / "configs").mkdir()
    (root / "configs" / "local.yaml").write_text("calibration:\n  min_samples: 200\n")
    synthesize_to_store(TickStore(root / "data" / "ticks"), "binance", "BTCUSDT", 3.0, 21)
    return root


def calibrate(home: Path, *args: str) -> int:
    return main(["--home", str(home), "calibrate", *args])


def events(home: Path) -> list[dict]:
    log = home / "logs" / "aurora_events.jsonl"
    return [e for e in read_events(log) if e["event"].startswith("calibrate.")]


def latest_run(home: Path) -> Path:
    return sorted(p for p in (home / "data" / "runs").iterdir() if p.is_dir())[-1]


@pytest.mark.slow
def test_pipeline_recovers_the_injected_signal_then_promotes_and_rolls_back(home: Path, capsys) -> None:
    arts = home / "data" / "artifacts"
    assert calibrate(home, *DAY, *SMALL) == 0
    out = capsys.readouterr().out
    assert "[1/2] 01_feature_study" in out and "[2/2] 02_calibrate_predict_p" in out
    assert "promoted to" in out

    run = latest_run(home)
    # the feature table is computed once, before the notebooks, and both read it
    assert "feature table" in out
    for nb in ("01_feature_study.ipynb", "02_calibrate_predict_p.ipynb"):
        assert "samples from the run's feature table" in (run / nb).read_text(), nb
    for name in ("features.parquet", "01_feature_study.ipynb", "02_calibrate_predict_p.ipynb",
                 "metrics.json", "candidate.json", "holdout.parquet", "promotion.json", "run.json",
                 "feature_study.json", "reliability.png",
                 "epi_curve.png", "calibration_map.png", "microprice.png", "study_ic.png",
                 "study_hit_rates.png", "study_regimes.png", "study_distributions.png"):
        assert (run / name).is_file(), name

    cal = load_artifact(arts / "current.json")
    assert cal.body.model_version == run.name
    m = cal.body.metrics
    n = m.n_test
    assert n >= 200
    assert m.ece <= 1.5 * ece_noise_floor(10, n)
    assert m.brier < m.brier_base - 0.02
    assert m.auc > 0.65
    # the synthetic market injects P(up) = sigmoid(1.5·obi_l1 + 1.0·tfi_1s): both signs recovered
    w = cal.body.score_model.weights
    assert w["obi_l1"] > 0.3 and w["tfi_1s"] > 0.1
    assert SynthParams().alpha_obi > 0 and SynthParams().alpha_tfi > 0
    scores = np.linspace(-6, 6, 601)
    p = [cal.predict_p(float(s)) for s in scores]
    assert all(0.0 <= v <= 1.0 for v in p) and all(b >= a for a, b in itertools.pairwise(p))
    assert p[-1] - p[0] > 0.4
    assert cal.body.microprice is not None and cal.body.microprice["n_obs"] > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["sha256"] == cal.sha256 and metrics["test"]["n"] == n

    # a second (scheduled) run on the same data, its sample table's days on a LocalCluster of 2
    # workers, is as good as current: promoted, previous kept
    assert calibrate(home, *DAY, *SMALL, "--scheduled", "--notebooks", "02_calibrate_predict_p",
                     "--workers", "2") == 0
    second = latest_run(home)
    assert "samples from the run's feature table" in (second / "02_calibrate_predict_p.ipynb").read_text()
    assert not (second / "01_feature_study.ipynb").exists()
    assert load_artifact(arts / "current.json").model_version == second.name
    assert load_artifact(arts / "previous.json").model_version == run.name
    assert len(list((arts / "history").glob("*.json"))) == 2

    # rollback restores the first artifact
    assert calibrate(home, "--rollback") == 0
    assert load_artifact(arts / "current.json").model_version == run.name

    assert calibrate(home, *DAY, "--workers", "0") == 2
    assert "--workers 0: give at least 1" in capsys.readouterr().err

    # a run that fails a gate is not promoted (exit 1) and leaves current untouched
    strict = home / "strict.yaml"
    strict.write_text("calibration:\n  min_samples: 1000000\n")
    before = (arts / "current.json").read_bytes()
    assert main(["--home", str(home), "--config", str(strict), "calibrate", *DAY, *SMALL,
                 "--notebooks", "02_calibrate_predict_p"]) == 1
    assert (arts / "current.json").read_bytes() == before
    verdict = json.loads((latest_run(home) / "promotion.json").read_text())
    assert verdict["promoted"] is False and verdict["failed"] == ["min_samples"]

    evs = events(home)
    kinds = [e["event"] for e in evs]
    for kind in ("calibrate.start", "calibrate.notebook", "calibrate.promotion", "calibrate.finish",
                 "calibrate.rollback"):
        assert kind in kinds
    assert any(e["event"] == "calibrate.finish" and e.get("trigger") == "schedule" for e in evs)
    assert all(e["service"] == "calibrate" for e in evs)


def test_crashed_notebook_fails_naming_cell_and_error(home: Path, capsys) -> None:
    arts = home / "data" / "artifacts"
    before = (arts / "current.json").read_bytes() if (arts / "current.json").exists() else None
    # a date range without data: the run's feature table step fails before any notebook
    assert calibrate(home, "--start", "2023-05-01", "--end", "2023-05-02", "--scheduled", *SMALL) == 2
    err = capsys.readouterr().err
    assert "feature table: FeatureTableError" in err and "no bbo data" in err
    after = (arts / "current.json").read_bytes() if (arts / "current.json").exists() else None
    assert after == before
    fail = [e for e in events(home) if e["event"] == "calibrate.failure"][-1]
    assert fail["trigger"] == "schedule" and "FeatureTableError" in fail["error"]


def test_bad_parameters_are_refused_before_running(home: Path, capsys) -> None:
    assert calibrate(home, *DAY, "--set", "tp_bps=abc") == 2
    assert "parameter 'tp_bps'" in capsys.readouterr().err
    assert calibrate(home, *DAY, "--set", "bogus=1") == 2
    assert "bogus" in capsys.readouterr().err
    assert calibrate(home, *DAY, "--notebooks", "03_nope") == 2
    assert "unknown notebook" in capsys.readouterr().err
    bad = home / "bad_params.yaml"
    bad.write_text("notebooks:\n  02_calibrate_predict_p:\n    fractions: [0.5, 0.5, 0.5]\n")
    assert calibrate(home, *DAY, "--params", str(bad)) == 2
    assert "parameter 'fractions'" in capsys.readouterr().err


def test_rollback_without_previous_is_an_error(tmp_path: Path, capsys) -> None:
    assert calibrate(tmp_path, "--rollback") == 2
    assert "no previous artifact" in capsys.readouterr().err


def test_schedule_check_validates_crontab_kernel_and_plan(home: Path, tmp_path: Path, capsys) -> None:
    # the shipped crontab names /srv/aurora; this one names paths that exist here
    (tmp_path / "logs").mkdir()
    crontab = tmp_path / "crontab"
    crontab.write_text(
        f"CRON_TZ=UTC\nAURORA_HOME={tmp_path}\nPATH={Path(sys.executable).parent}:/usr/bin:/bin\n"
        f"20 0 * * * cd {tmp_path} && auroractl calibrate --scheduled >> logs/cron.log 2>&1\n")
    assert calibrate(home, "--schedule-check", "--crontab", str(crontab)) == 0
    out = capsys.readouterr().out
    assert "auroractl calibrate --scheduled" in out and "kernel 'aurora'" in out
    assert "2024-01-01" in out


@pytest.mark.slow
def test_two_concurrent_runs_never_overlap(home: Path, capsys) -> None:
    """A second invocation while a real run holds the lock is refused (exit 75), not queued."""
    import subprocess
    import sys
    import time

    info = home / "data" / "runs" / ".calibrate.lock.json"
    first = subprocess.Popen([sys.executable, "-m", "aurora", "--home", str(home), "calibrate", *DAY, *SMALL,
                              "--notebooks", "02_calibrate_predict_p", "--no-promote"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert info.exists(), "the first run never took the lock"
        holder = json.loads(info.read_text())["run_id"]
        assert calibrate(home, *DAY, *SMALL, "--scheduled") == 75
        assert holder in capsys.readouterr().err
    finally:
        out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out
    assert not info.exists()
    skipped = [e for e in events(home) if e["event"] == "calibrate.skipped"]
    assert skipped and holder in skipped[-1]["reason"]
