"""nbval over every notebook on small data.

Each notebook gets its small-case parameters injected by papermill (``prepare_only``: the
parameters cell is added, nothing runs; the run report reads a real replay's logs), then
``pytest --nbval-lax --nbval-kernel-name aurora`` executes every cell of the prepared copies in the
named kernel; any cell that raises fails. The notebook metadata must name the ``aurora`` kernel that
papermill and JupyterLab use too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from test_report import replay_logs

from aurora.pipeline.params import NOTEBOOKS
from aurora.pipeline.plan import REPO_ROOT
from aurora.report import ReportParams
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

NB_DIR = REPO_ROOT / "notebooks"
#: every notebook's parameter model: the calibration pipeline's, and the run report's
PARAMS = {**NOTEBOOKS, ReportParams.notebook: ReportParams}


def small_params(store: Path, out: Path) -> dict:
    return {"store": str(store), "exchange": "binance", "symbol": "BTCUSDT", "start": "2024-01-01",
            "end": "2024-01-01", "output_dir": str(out), "stride": 1, "sample_s": 2.0,
            "tp_bps": 0.5, "sl_bps": 0.5, "horizon_s": 2.0}


def test_every_notebook_is_covered_and_uses_the_aurora_kernel() -> None:
    found = sorted(p.stem for p in NB_DIR.glob("*.ipynb"))
    assert found == sorted(PARAMS)
    for name in found:
        nb = nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)
        assert nb.metadata.kernelspec.name == "aurora"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name} needs exactly one parameters-tagged cell"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} has outputs"
        # the parameters cell defines exactly the fields of the notebook's pydantic model
        names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines()
                 if "=" in line and not line.startswith("#")}
        assert names == set(PARAMS[name].model_fields), name


@pytest.mark.slow
def test_nbval_executes_every_cell_on_small_data(tmp_path: Path) -> None:
    store = tmp_path / "ticks"
    synthesize_to_store(TickStore(store), "binance", "BTCUSDT", 1.0, 5)
    prepared = []
    logs = replay_logs(tmp_path / "replay", store, minutes=3)
    for name in PARAMS:
        out = tmp_path / f"{name}.ipynb"
        params = (small_params(store, tmp_path / "out") if name in NOTEBOOKS
                  else {"run_dir": str(logs), "summary_json": str(tmp_path / "report.json")})
        pm.execute_notebook(str(NB_DIR / f"{name}.ipynb"), str(out), kernel_name="aurora",
                            parameters=params, prepare_only=True)
        prepared.append(str(out))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"),
         "--rootdir", str(tmp_path), "--nbval-lax", "--nbval-kernel-name", "aurora", *prepared],
        cwd=tmp_path, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    n_code = sum(sum(c.cell_type == "code" for c in nbformat.read(p, as_version=4).cells) for p in prepared)
    assert f"{n_code} passed" in proc.stdout, proc.stdout[-2000:]
    out = tmp_path / "out"
    assert (out / "candidate.json").is_file() and (out / "feature_study.json").is_file()
    assert json.loads((tmp_path / "report.json").read_text())["orders"] > 0
    assert len(list(out.glob("*.png"))) >= 8


@pytest.mark.slow
def test_ill_typed_parameter_stops_the_notebook_naming_it(tmp_path: Path) -> None:
    """Validation inside the notebook (for JupyterLab / direct papermill use)."""
    from aurora.pipeline.execute import PipelineError, execute

    params = {**small_params(tmp_path / "none", tmp_path / "out"), "tp_bps": "abc", "bogus": 1}
    with pytest.raises(PipelineError) as info:
        execute(NB_DIR / "02_calibrate_predict_p.ipynb", tmp_path / "x.ipynb", params, kernel="aurora",
                cell_timeout_s=60, progress_bar=False)
    msg = str(info.value)
    assert "02_calibrate_predict_p failed in cell" in msg and "ParameterError" in msg
    assert "'tp_bps'" in msg and "'bogus'" in msg
    assert (tmp_path / "x.ipynb").is_file()
