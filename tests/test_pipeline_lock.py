"""Calibration lock, scheduled entry point events, crontab validation and parameter models."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aurora.cli import main
from aurora.events import read_events
from aurora.pipeline.lock import PipelineLockedError, run_lock
from aurora.pipeline.params import CalibrateParams, FeatureStudyParams, ParameterError
from aurora.pipeline.plan import REPO_ROOT
from aurora.pipeline.schedule import CrontabError, parse_line, read_crontab


def test_second_lock_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    with (run_lock(tmp_path, "run-a", wait_s=0), pytest.raises(PipelineLockedError, match="run-a"),
          run_lock(tmp_path, "run-b", wait_s=0)):
        pass
    with run_lock(tmp_path, "run-c", wait_s=0):
        pass


def test_waiting_lock_gets_it_when_the_holder_finishes(tmp_path: Path) -> None:
    """A waiting run gets the lock only after the holder lets go (events, not sleeps: the order
    of what each thread saw is checked, whatever the scheduling)."""
    held, attempting, release, waiter_in = (threading.Event() for _ in range(4))
    order: list[str] = []

    def hold() -> None:
        with run_lock(tmp_path, "holder", wait_s=0):
            held.set()
            release.wait(30)
            order.append("holder out")

    def wait() -> None:
        attempting.set()
        with run_lock(tmp_path, "waiter", wait_s=30):
            order.append("waiter in")
            waiter_in.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    waiter = threading.Thread(target=wait)
    waiter.start()
    assert attempting.wait(30)
    # while the holder has it, the waiter must not get in (a broken lock lets it in at once)
    assert not waiter_in.wait(0.3)
    release.set()
    holder.join(30)
    waiter.join(30)
    assert order == ["holder out", "waiter in"]


def test_concurrent_scheduled_run_exits_75_with_a_skipped_event(tmp_path: Path, capsys) -> None:
    """A run in another process holds the lock: the scheduled invocation is refused at once."""
    runs = tmp_path / "data" / "runs"
    runs.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path;"
         "from aurora.pipeline.lock import run_lock\n"
         "with run_lock(Path(sys.argv[1]), 'other-run', 0):\n"
         "    print('held', flush=True); sys.stdin.read()", str(runs)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(["--home", str(tmp_path), "calibrate", "--scheduled", "--symbol", "BTCUSDT",
                     "--start", "2024-01-01", "--end", "2024-01-01"]) == 75
        assert "other-run" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    log = tmp_path / "logs" / "aurora_events.jsonl"
    evs = [e for e in read_events(log) if e["event"] == "calibrate.skipped"]
    assert len(evs) == 1 and evs[0]["trigger"] == "schedule" and "other-run" in evs[0]["reason"]
    # the kernel released the dead holder's lock: nothing stale remains
    with run_lock(runs, "after", wait_s=0):
        pass


def test_shipped_crontab_is_valid() -> None:
    entries = read_crontab(REPO_ROOT / "pipelines" / "crontab")
    assert len(entries) == 1
    assert entries[0].fields == ("20", "0", "*", "*", "*")
    assert "auroractl calibrate --scheduled" in entries[0].command


@pytest.mark.parametrize(("line", "needle"), [
    ("20 0 * * *", "five time fields"),
    ("20 0 * * auroractl calibrate --scheduled", "day of week"),
    ("61 0 * * * auroractl calibrate --scheduled", "minute"),
    ("0 24 * * * auroractl calibrate --scheduled", "hour"),
    ("0 0 0 * * auroractl calibrate --scheduled", "day of month"),
    ("0 0 * 13 * auroractl calibrate --scheduled", "month"),
    ("0 0 * * 8 auroractl calibrate --scheduled", "day of week"),
    ("0 5-2 * * * auroractl calibrate --scheduled", "backwards"),
    ("*/0 0 * * * auroractl calibrate --scheduled", "step"),
    ("0 0 * * * auroractl calibrate", "--scheduled"),
    ("x 0 * * * auroractl calibrate --scheduled", "minute"),
])
def test_bad_crontab_lines_are_named(line: str, needle: str) -> None:
    with pytest.raises(CrontabError, match=needle):
        parse_line(line, 3)


def test_crontab_syntax_forms_are_accepted() -> None:
    assert parse_line("# comment") is None and parse_line("CRON_TZ=UTC") is None and parse_line("") is None
    e = parse_line("*/15 1-5,7 * 1,6 1-5 cd /srv && python -m aurora --home /srv calibrate --scheduled")
    assert e is not None and e.fields[0] == "*/15"


def _calibrate_values(**over) -> dict:
    values = dict(store="s", exchange="binance", symbol="BTCUSDT", start="2024-01-01", end="2024-01-02",
                  output_dir="o", windows_s=[1.0, 5.0], obi_levels=10, obi_decay=0.5, impact_window_s=60.0,
                  tick_size=0.01, stride=1, sample_s=5.0,
                  features=["obi_l1"], side="long", tp_bps=1.0, sl_bps=1.0, horizon_s=5.0, embargo_s=5.0,
                  timeouts="drop", fractions=[0.5, 0.25, 0.25], C=1.0, calibrator="auto",
                  calibrator_holdout_fraction=0.3, ece_bins=10, ece_strategy="uniform", fee_bps=1.0,
                  slippage_bps=0.5, microprice_imbalance_buckets=10, microprice_spread_buckets=2,
                  microprice_horizon_s=1.0, model_version="m")
    values.update(over)
    return values


def test_parameter_models_name_unknown_and_ill_typed_parameters() -> None:
    p = CalibrateParams.parse(_calibrate_values())
    assert p.for_papermill()["start"] == "2024-01-01"
    with pytest.raises(ParameterError, match=r"unknown parameter 'tp' for 02_calibrate_predict_p"):
        CalibrateParams.parse(_calibrate_values(tp=3))
    with pytest.raises(ParameterError, match=r"parameter 'tp_bps'.*'abc'"):
        CalibrateParams.parse(_calibrate_values(tp_bps="abc"))
    with pytest.raises(ParameterError, match=r"parameter 'start'.*YYYY-MM-DD"):
        CalibrateParams.parse(_calibrate_values(start="01/02/2024"))
    with pytest.raises(ParameterError, match="after end"):
        CalibrateParams.parse(_calibrate_values(start="2024-02-01"))
    with pytest.raises(ParameterError, match="'side'"):
        CalibrateParams.parse(_calibrate_values(side="up"))
    with pytest.raises(ParameterError, match="'horizons_s' for 01_feature_study is required"):
        FeatureStudyParams.parse({})


def test_from_namespace_takes_only_names_defined_after_the_snapshot() -> None:
    ns = {"In": [], "get_ipython": object()}
    before = set(ns)
    ns.update(_calibrate_values())
    ns["_private"] = 1
    assert CalibrateParams.from_namespace(ns, before).symbol == "BTCUSDT"
    # re-running the validation cell later (more names defined by then) checks only the parameters
    ns["P"] = object()
    assert CalibrateParams.from_namespace(ns, before).symbol == "BTCUSDT"
    ns["_param_names"] = None
    ns["typo_param"] = 2
    with pytest.raises(ParameterError, match="typo_param"):
        CalibrateParams.from_namespace(ns, before | {"P"})


@pytest.mark.parametrize("model", [FeatureStudyParams, CalibrateParams])
def test_none_parameters_are_filled_exactly_as_auroractl_calibrate_fills_them(
        model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interactive notebook run (parameter cells of None) gets the pipeline's values."""
    from aurora.config import load_settings
    from aurora.pipeline.plan import plan_run

    monkeypatch.chdir(tmp_path)  # settings of an interactive run: AURORA_HOME, else the cwd
    given = {"store": "s", "start": "2024-01-01", "end": "2024-01-02", "output_dir": "o",
             "model_version": "m"}
    ns: dict = {}
    before = set(ns)
    ns.update(dict.fromkeys(model.model_fields))
    ns.update({k: v for k, v in given.items() if k in model.model_fields})
    interactive = model.from_namespace(ns, before).for_papermill()
    plan = plan_run(load_settings(home=tmp_path, env={}), "m", overrides={
        k: v for k, v in given.items() if k != "output_dir"})
    piped = plan.params[model.notebook].for_papermill()
    assert interactive == {**piped, "output_dir": "o"}
    assert interactive["tick_size"] == 0.01 and interactive["windows_s"] == [1.0, 5.0]
