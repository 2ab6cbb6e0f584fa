"""Fan-out on a real Dask LocalCluster of 2 worker processes equals the serial path bit for bit
(real recordings and a synthetic market over several midnights); failed days are named and the
others finish; ``auroractl features`` runs on a scheduler by address."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_WS

from aurora.cli import main
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.fanout import (
    dask_client,
    partition_path,
    plan_days,
    run_days,
    workers_peak_rss_mb,
    write_partition,
)
from aurora.ticks.feature_table import iter_feature_days
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

DAY1 = date(2024, 1, 1)
LABELS = LabelParams(horizon_s=30.0)


@pytest.fixture(scope="module")
def client():
    with dask_client(2, None) as c:
        yield c


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory: pytest.TempPathFactory) -> TickStore:
    """A slow market over three midnights: the end of day 1, days 2 and 3, the start of day 4."""
    store = TickStore(tmp_path_factory.mktemp("synth"))
    params = SynthParams.for_symbol("BTCUSDT", bbo_rate_hz=0.3, trade_rate_hz=0.1,
                                    depth_interval_s=30.0)
    synthesize_to_store(store, "binance", "BTCUSDT", hours=48.2, seed=11, params=params,
                        start=datetime(2024, 1, 1, 23, 54, tzinfo=UTC))
    return store


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> TickStore:
    if not SHARED_WS.is_dir():
        pytest.skip(f"shared recordings not found at {SHARED_WS}")
    store = TickStore(tmp_path_factory.mktemp("real"))
    for symbol in ("BTCUSDT", "ETHUSDT"):
        files = sorted(SHARED_WS.glob(f"{symbol.lower()}_2024080[89].gz"))
        import_recordings(files, store, "binance", symbol)
    return store


def _serial_frames(store: TickStore, symbol: str, first: date, last: date) -> dict[date, pd.DataFrame]:
    """Today's serial path: one stream over the range, tick inferred from its first day (frames
    kept: they own their memory)."""
    return dict(iter_feature_days(store, "binance", symbol, first, last, FeatureParams(), LABELS,
                                  keep_frames=True))


def _fan_out(store: TickStore, symbols: list[str], first: date, last: date, out: Path, client) -> list:
    tasks = plan_days(store, "binance", symbols, [(first, last)],
                      dict.fromkeys(symbols, FeatureParams()), LABELS)
    outcomes = list(run_days(tasks, write_partition, str(out), "snappy", client=client))
    assert [o.error for o in outcomes] == [None] * len(tasks)
    return tasks


def _assert_identical(store, tasks, symbols, first, last, parallel: Path, serial: Path) -> None:
    for symbol in symbols:
        want = _serial_frames(store, symbol, first, last)
        got = {t.day: t for t in tasks if t.stream.symbol == symbol}
        assert sorted(got) == sorted(want)
        for day, frame in want.items():
            path = partition_path(parallel, got[day])
            pd.testing.assert_frame_equal(pq.read_table(path).to_pandas(), frame, check_exact=True)
            assert path.read_bytes() == partition_path(serial, got[day]).read_bytes()


def _settings_seen_by_a_worker() -> tuple[str | None, str | None, bool, str]:
    import dask

    return (os.environ.get("MIMALLOC_PURGE_DELAY"), os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            dask.config.get("distributed.worker.profile.enabled"),
            dask.config.get("distributed.admin.tick.interval"))


def test_workers_start_with_the_cluster_s_settings(client):
    """Arrow keeps freed memory; no Dask profiler, trim threshold or 20 ms tick
    (fanout.CLUSTER_SETTINGS)."""
    assert set(client.run(_settings_seen_by_a_worker).values()) == {("-1", None, False, "1s")}


def test_real_recordings_on_two_workers_equal_the_serial_path(client, real_store, tmp_path):
    symbols = ["BTCUSDT", "ETHUSDT"]
    first, last = date(2024, 8, 8), date(2024, 8, 9)
    tasks = _fan_out(real_store, symbols, first, last, tmp_path / "dask", client)
    _fan_out(real_store, symbols, first, last, tmp_path / "serial", None)
    _assert_identical(real_store, tasks, symbols, first, last, tmp_path / "dask", tmp_path / "serial")
    rss = workers_peak_rss_mb(client)
    assert len(rss) == 2 and all(v > 50 for v in rss.values())


def test_synthetic_days_with_context_and_labels_across_midnight(client, synth_store, tmp_path):
    first, last = DAY1, DAY1 + timedelta(days=3)
    tasks = _fan_out(synth_store, ["BTCUSDT"], first, last, tmp_path / "dask", client)
    _fan_out(synth_store, ["BTCUSDT"], first, last, tmp_path / "serial", None)
    assert len(tasks) == 4  # two runs of two days: the second worker starts from a warm start
    _assert_identical(synth_store, tasks, ["BTCUSDT"], first, last, tmp_path / "dask",
                      tmp_path / "serial")
    day2 = pq.read_table(partition_path(tmp_path / "dask", tasks[1])).to_pandas()
    midnight = int(pd.Timestamp(DAY1 + timedelta(days=2)).value)
    assert (day2["exit_long_ns"] >= midnight).any()  # a label that ends the next day
    assert (day2["label_complete"] & (day2["ts_ns"] > midnight - 30 * 10**9)).any()
    assert day2["tfi_5s"].iloc[:3].notna().all()


def test_a_failed_day_is_named_and_the_others_finish(client, synth_store, tmp_path):
    out = tmp_path / "out"
    tasks = plan_days(synth_store, "binance", ["BTCUSDT"], [(DAY1, DAY1 + timedelta(days=3))],
                      {"BTCUSDT": FeatureParams(tick_size=0.01)}, LABELS)
    blocked = partition_path(out, tasks[2]).parent
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the day's partition directory goes")
    outcomes = {o.task.day: o for o in run_days(tasks, write_partition, str(out), "snappy",
                                                client=client)}
    failed = outcomes.pop(tasks[2].day)
    assert "FileExistsError" in failed.error and str(failed.task) == "BTCUSDT 2024-01-03 (binance)"
    assert all(o.error is None and o.result > 0 for o in outcomes.values())
    assert all(partition_path(out, t).is_file() for t in tasks if t is not tasks[2])


def test_cli_on_a_scheduler_by_address_writes_the_serial_file(client, synth_store, home, tmp_path,
                                                               capsys, monkeypatch):
    base = ["--home", str(home), "features", "--store", str(synth_store.root), "--symbol", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-02", "--start", "2024-01-03",
            "--end", "2024-01-04", "--labels"]
    assert main([*base, "--out", str(tmp_path / "serial.parquet")]) == 0
    monkeypatch.setenv("AURORA_DASK__SCHEDULER", client.scheduler.address)
    assert main([*base, "--out", str(tmp_path / "dask.parquet")]) == 0
    err = capsys.readouterr().err
    assert "features: 4/4 tasks done" in err and "ETA" in err and "peak RSS per worker" in err
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "serial.parquet").read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temporary parts left


def test_cli_failed_day_exits_non_zero_naming_it(synth_store, home, tmp_path, capsys):
    out = tmp_path / "parts"
    blocked = out / "exchange=binance" / "symbol=BTCUSDT" / "date=2024-01-02"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a directory")
    argv = ["--home", str(home), "features", "--store", str(synth_store.root), "--symbol", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-03", "--out-dir", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "failed BTCUSDT 2024-01-02 (binance)" in err and "1 of 3 day(s) failed" in err
    assert len(list(out.rglob("part-0.parquet"))) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "f.parquet", "--symbol", "ETHUSDT"], "holds one symbol"),
        (["--out-dir", "d", "--start", "2024-01-02", "--end", "2024-01-03"], "overlap"),
        (["--out-dir", "d", "--start", "2024-01-05"], "in pairs"),
        (["--out-dir", "d", "--workers", "0"], "--workers 0"),
    ],
)
def test_cli_bad_fanout_requests(synth_store, home, tmp_path, capsys, extra, message):
    argv = ["--home", str(home), "features", "--store", str(synth_store.root), "--symbol", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-02",
            *[str(tmp_path / a) if a in ("f.parquet", "d") else a for a in extra]]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_calibration_samples_on_the_cluster_equal_the_serial_ones(client, synth_store, settings, tmp_path):
    from aurora.pipeline.dataset import (
        SampleTable,
        compute_table,
        first_day_tick,
        notebook_request,
        write_run_table,
    )
    from aurora.pipeline.plan import plan_run
    from aurora.pipeline.rundir import TABLE

    plan = plan_run(settings, "fanout", overrides={
        "store": str(synth_store.root), "symbol": "BTCUSDT", "exchange": "binance",
        "start": "2024-01-01", "end": "2024-01-04", "sample_s": 0})
    _, spec = notebook_request(plan.params["02_calibrate_predict_p"])
    # tick_size None: both paths infer it from the range's first day
    spec = {**spec, "horizons_s": [1.0, 5.0], "feature_params": {**spec["feature_params"], "tick_size": None}}
    assert spec["microprice"]
    serial = compute_table(spec)
    fanned = compute_table(spec, scheduler=client.scheduler.address)
    assert serial.days == fanned.days and len(serial.days) == 4
    pd.testing.assert_frame_equal(fanned.frame, serial.frame, check_exact=True)
    assert (fanned.events, fanned.censored, fanned.feature_params) == (serial.events, serial.censored,
                                                                       serial.feature_params)
    assert fanned.microprice == serial.microprice and len(serial.frame) > 1000
    assert serial.feature_params.tick_size == first_day_tick(synth_store, "binance", "BTCUSDT", DAY1,
                                                             DAY1 + timedelta(days=3))
    # the calibration run's table step takes the same fan-out
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_run_table(list(plan.params.values()), run_dir, scheduler=client.scheduler.address)
    written = SampleTable.read(run_dir / TABLE)
    assert written is not None and written.days == serial.days
    here = compute_table(written.spec)
    pd.testing.assert_frame_equal(written.frame, here.frame, check_exact=True)
    assert (written.microprice, written.feature_params) == (here.microprice, here.feature_params)


def test_a_day_removed_after_planning_fails_by_name(synth_store, tmp_path):
    import shutil

    store = TickStore(tmp_path / "ticks")
    shutil.copytree(synth_store.root, store.root)
    tasks = plan_days(store, "binance", ["BTCUSDT"], [(DAY1, DAY1 + timedelta(days=3))],
                      {"BTCUSDT": FeatureParams(tick_size=0.01)}, LABELS)
    shutil.rmtree(store.partition_dir("bbo", "binance", "BTCUSDT", tasks[2].day))
    outcomes = list(run_days(tasks, write_partition, str(tmp_path / "out"), "snappy"))
    assert [o.error is None for o in outcomes] == [True, True, False, True]
    assert "BTCUSDT 2024-01-03 (binance)" in outcomes[2].error
    assert "was the store changed" in outcomes[2].error


def test_cli_unsynced_book_report_on_a_scheduler_equals_the_serial_one(client, synth_store, home,
                                                                        tmp_path, capsys):
    """No depth stored: book_ok False on every row of the four days, one range over them all,
    whether the days ran here or on the workers (each returns its sync changes)."""
    import json
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(synth_store.root, bare)
    shutil.rmtree(bare / "depth")
    base = ["--home", str(home), "features", "--store", str(bare), "--symbol", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-04"]
    assert main([*base, "--out-dir", str(tmp_path / "serial")]) == 0
    assert main([*base, "--out-dir", str(tmp_path / "dask"), "--scheduler", client.scheduler.address]) == 0
    err = capsys.readouterr().err
    assert err.count("BTCUSDT depth book was not in sync in 1 time range(s)") == 2
    logged = [json.loads(line) for line in (home / "logs" / "aurora_events.jsonl").read_text().splitlines()]
    serial, fanned = [{k: e[k] for k in ("symbol", "ranges", "first_ts_ns", "last_ts_ns", "total_s")}
                      for e in logged if e["event"] == "features.book_unsynced"]
    ts = pd.concat(pq.read_table(p, columns=["ts_ns"]).to_pandas()
                   for p in sorted((tmp_path / "dask").rglob("part-0.parquet")))["ts_ns"]
    assert fanned == serial == {"symbol": "BTCUSDT", "ranges": 1, "first_ts_ns": int(ts.iloc[0]),
                                "last_ts_ns": int(ts.iloc[-1]),
                                "total_s": round((ts.iloc[-1] - ts.iloc[0]) / 1e9, 3)}
