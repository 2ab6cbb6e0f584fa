"""The pipeline end to end on the shared real Binance recordings (about 11 minutes of BTCUSDT).

The recordings are short, so the barriers are small (1 bps, 10 s horizon, one sample a second).
The candidate may legitimately fail the promotion gates on so little data; what must hold is that
both notebooks run, the exported artifact is valid, and the gate verdict is reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_WS

from aurora.artifact import load_artifact
from aurora.cli import main
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.store import TickStore

DATA = SHARED_WS
FILES = sorted(DATA.glob("btcusdt_*.gz")) if DATA.is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(not FILES, reason="shared recordings not present on this machine")
def test_pipeline_on_real_recordings_exports_a_valid_artifact(tmp_path: Path, capsys) -> None:
    import_recordings(FILES, TickStore(tmp_path / "data" / "ticks"), "binance", "BTCUSDT")
    code = main(["--home", str(tmp_path), "calibrate", "--symbol", "BTCUSDT", "--exchange", "binance",
                 "--start", "2024-08-08", "--end", "2024-08-09", "--set", "tp_bps=1", "--set", "sl_bps=1",
                 "--set", "horizon_s=10", "--set", "embargo_s=10", "--set", "sample_s=1"])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    run = sorted(p for p in (tmp_path / "data" / "runs").iterdir() if p.is_dir())[-1]
    cal = load_artifact(run / "candidate.json")
    assert cal.body.symbols == ["BTCUSDT"]
    assert cal.body.barriers.tp_bps == 1 and cal.body.barriers.horizon_s == 10
    assert cal.body.data.start.startswith("2024-08-08") and cal.body.data.end.startswith("2024-08-09")
    assert cal.body.metrics.n_test > 50 and 0 <= cal.predict_p(0.0) <= 1
    assert cal.body.microprice is not None
    verdict = json.loads((run / "promotion.json").read_text())
    assert [c["name"] for c in verdict["checks"]] == ["min_samples", "ece", "brier_vs_base", "vs_current"]
    assert verdict["promoted"] == (code == 0)
    assert ("promoted to" in out) == (code == 0)
    for c in verdict["checks"]:
        assert f"gate {c['name']}" in out
    assert (tmp_path / "data" / "artifacts" / "current.json").exists() == (code == 0)
