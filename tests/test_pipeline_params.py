"""Calibration parameters do what they say: ``--set`` is the highest layer for every notebook that
takes the key, the artifact records the settings' complete feature parameters, and data that cannot
be calibrated is a verdict (exit 1), not an error.

One small synthetic store; one run of both notebooks checks every key at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from aurora.artifact import load_artifact
from aurora.cli import main
from aurora.pipeline.params import NOTEBOOKS
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

DAY = ["--start", "2024-01-01", "--end", "2024-01-01"]
#: A value for every parameter a user sets, each different from settings and calibrate.yaml.
SETS: dict[str, object] = {
    "side": "short", "calibrator": "platt", "C": 0.5, "timeouts": "loss", "fractions": [0.4, 0.3, 0.3],
    "embargo_s": 7.0, "fee_bps": 0.25, "slippage_bps": 0.125, "features": ["obi_l1", "tfi_1s", "ofi_5s"],
    "tp_bps": 0.5, "sl_bps": 0.75, "horizon_s": 5.0, "stride": 2, "sample_s": 4.0, "quantiles": 4,
    "horizons_s": [2.0, 4.0], "ece_bins": 8, "ece_strategy": "quantile", "calibrator_holdout_fraction": 0.4,
    "windows_s": [1.0, 5.0, 10.0], "impact_window_s": 45.0, "microprice_horizon_s": 2.0,
}
#: Feature settings of the home's configs/local.yaml (the artifact must record them).
LOCAL_FEATURES = {"obi_levels": 4, "obi_decay": 0.75, "microprice_imbalance_buckets": 6}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paramhome")
    (root / "configs").mkdir()
    (root / "configs" / "local.yaml").write_text(yaml.safe_dump(
        {"calibration": {"min_samples": 50}, "features": LOCAL_FEATURES}))
    synthesize_to_store(TickStore(root / "data" / "ticks"), "binance", "BTCUSDT", 2.0, 5)
    return root


def latest_run(home: Path) -> Path:
    return sorted(p for p in (home / "data" / "runs").iterdir() if p.is_dir())[-1]


def validated(notebook: Path) -> str:
    """The repr of the parameters the executed notebook validated (its ``P`` cell's output)."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("P = "))
    return "".join(o["data"]["text/plain"] for o in cell.outputs if "data" in o)


@pytest.mark.slow
def test_set_is_the_highest_layer_for_every_notebook(home: Path, capsys) -> None:
    sets = [a for k, v in SETS.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    assert main(["--home", str(home), "calibrate", *DAY, *sets, "--no-promote"]) == 0, capsys.readouterr()
    run = latest_run(home)
    for name, model in NOTEBOOKS.items():
        seen = validated(run / f"{name}.ipynb")
        taken = [k for k in SETS if k in model.model_fields]
        assert taken, name
        for key in taken:
            assert f"{key}={SETS[key]!r}" in seen, (name, key, seen)
        for key, value in LOCAL_FEATURES.items():
            assert f"{key}={value!r}" in seen, (name, key, seen)
    cal = load_artifact(run / "candidate.json")
    assert cal.body.params["side"] == "short" and cal.body.metrics.model_extra["calibrator"] == "platt"
    assert cal.body.costs.fee_bps == 0.25 and cal.body.costs.slippage_bps == 0.125
    assert cal.body.barriers.tp_bps == 0.5 and cal.body.barriers.sl_bps == 0.75
    assert cal.body.features == SETS["features"]
    fp = cal.feature_params
    assert fp.windows_s == (1.0, 5.0, 10.0) and fp.impact_window_s == 45.0 and fp.microprice_horizon_s == 2.0
    assert (fp.obi_levels, fp.obi_decay, fp.microprice_imbalance_buckets) == (4, 0.75, 6)
    assert fp.tick_size == 0.01  # BTCUSDT's configured tick


@pytest.mark.slow
def test_too_few_samples_is_a_verdict_not_an_error(home: Path, capsys) -> None:
    """Barriers this market never reaches in the horizon: not promoted (exit 1), the reason named."""
    arts = home / "data" / "artifacts"
    before = sorted(arts.rglob("*")) if arts.exists() else []
    rc = main(["--home", str(home), "calibrate", *DAY, "--set", "tp_bps=200", "--set", "sl_bps=200",
               "--set", "horizon_s=2", "--notebooks", "02_calibrate_predict_p"])
    out = capsys.readouterr()
    assert rc == 1, out
    assert "not promoted" in out.out and "labelled samples" in out.out
    verdict = json.loads((latest_run(home) / "promotion.json").read_text())
    assert verdict["promoted"] is False and verdict["failed"] == ["data"]
    assert "labelled samples" in verdict["reason"]
    assert (sorted(arts.rglob("*")) if arts.exists() else []) == before


def test_one_outcome_class_in_a_block_is_insufficient_data() -> None:
    import numpy as np
    import pandas as pd

    from aurora.pipeline.calibrate import InsufficientDataError, split_blocks

    n = 300
    ts = np.arange(n, dtype=np.int64) * 10**9
    y = np.r_[np.zeros(150, np.int8), np.tile(np.int8([0, 1]), 75)]  # the fit block only losses
    frame = pd.DataFrame({"ts_ns": ts, "end_ns": ts + 10**9, "y": y})
    with pytest.raises(InsufficientDataError, match=r"fit block has \d+ rows and 1 outcome class"):
        split_blocks(frame, [0.5, 0.25, 0.25], 0.0)
