"""The main job (`make run` → `auroractl demo`) end to end, on a smaller synthetic market."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aurora.cli import main
from aurora.events import read_events


def _finish(ws: Path) -> list[dict]:
    return [e for e in read_events(ws / "logs" / "aurora_events.jsonl") if e["event"] == "demo.finish"]


@pytest.mark.slow
def test_demo_synthesises_calibrates_promotes_and_replays_through_the_runner(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = home / "data" / "demo"
    (ws / "configs").mkdir(parents=True)
    # This small case only: 8 synthetic hours with 3 bps barriers (and low costs, so some entries
    # clear E[Π]) label enough hold-out samples for a lowered sample gate. The demo itself runs the
    # shipped configuration on 72 hours.
    (ws / "configs" / "local.yaml").write_text(yaml.safe_dump({
        "calibration": {"min_samples": 100}, "labels": {"tp_bps": 3.0, "sl_bps": 3.0},
        "costs": {"fee_bps": 0.0, "maker_fee_bps": 0.0, "slippage_bps": 0.1}}))
    args = ["--home", str(home), "demo", "--hours", "8", "--replay-hours", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "candidate promoted" in out and "replaying the last 2 h through the WiseScalp runner" in out
    assert "from a fresh risk state" in out and "what to look at next" in out
    assert (ws / "data" / "artifacts" / "current.json").is_file()
    first = _finish(ws)
    assert len(first) == 1 and first[0]["decisions"] > 100 and first[0]["events"] > 100_000
    # every order intent is in exactly one order log, with its decision
    logs = {name: list(read_events(ws / "logs" / f"orders_{name}.jsonl"))
            for name in ("success", "failed", "denied") if (ws / "logs" / f"orders_{name}.jsonl").exists()}
    assert sum(len(v) for v in logs.values()) == sum(first[0]["orders"].values())
    # Re-running reuses the stored market, starts from a fresh state and gives the same result.
    assert main(args) == 0
    assert "already in" in capsys.readouterr().out
    again = _finish(ws)[-1]
    # (the second run calibrates again: a new artifact version, so a new replay run id, same decisions)
    keys = ("events", "decisions", "signals", "orders", "trades", "wins", "pnl_quote")
    assert {k: again[k] for k in keys} == {k: first[0][k] for k in keys}
