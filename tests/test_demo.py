"""The main job (`make run` → `auroractl demo`) end to end, on a smaller synthetic market."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aurora.cli import main
from aurora.cli.demo import DEMO_CONFIG
from aurora.events import read_events


@pytest.mark.slow
def test_demo_synthesises_calibrates_promotes_and_replays_through_aurora(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = home / "data" / "demo"
    (ws / "configs").mkdir(parents=True)
    # 4 synthetic hours give ~120 hold-out samples: lower the sample gate for this small case only.
    (ws / "configs" / "local.yaml").write_text(
        yaml.safe_dump({**DEMO_CONFIG, "calibration": {"min_samples": 100}}))
    assert main(["--home", str(home), "demo", "--hours", "4", "--replay-hours", "1"]) == 0
    out = capsys.readouterr().out
    assert "candidate promoted" in out and "replaying the last 1 h" in out
    assert (ws / "data" / "artifacts" / "current.json").is_file()
    finish = [e for e in read_events(ws / "logs" / "aurora_events.jsonl") if e["event"] == "demo.finish"]
    assert len(finish) == 1
    f = finish[0]
    assert f["candidates"] > 50 and f["allowed"] > 0 and f["trades"] == f["allowed"]
    decisions = [e for e in read_events(ws / "logs" / "aurora_events.jsonl")
                 if e["event"] == "api.decision"]
    assert len(decisions) == f["allowed"] + f["denied"]
    # Re-running reuses the stored market (idempotent) and still finishes.
    assert main(["--home", str(home), "demo", "--hours", "4", "--replay-hours", "1"]) == 0
    assert "already in" in capsys.readouterr().out
