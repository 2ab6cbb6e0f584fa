"""WiseScalp runner in replay mode: decisions equal research, replays are deterministic, the fast
path equals every event through ``Runner.step``, no allow means no order, and every intent is
logged exactly once."""

from __future__ import annotations

import functools
import json
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_WS
from pydantic import SecretStr

from aurora.api.process import ServerProcess
from aurora.artifact import (
    SCHEMA,
    Calibration,
    build_document,
    feature_params_document,
    load_artifact,
    save_artifact,
)
from aurora.cli import main
from aurora.config import Settings, load_settings
from aurora.core.economics import costs_from_settings, e_pi_bps
from aurora.core.features import FeatureParams
from aurora.core.regime import RealizedVol
from aurora.core.stream import StreamFeatures
from aurora.events import event_log, read_events
from aurora.runner import loop as loop_module
from aurora.runner import replay as replay_module
from aurora.runner.features import feature_params
from aurora.runner.gate import GATE_UNAVAILABLE
from aurora.runner.metrics import RunnerMetrics
from aurora.runner.replay import ReplayResult, run_replay
from aurora.runner.source import StoreReplay, last_quote_ns
from aurora.runner.strategy import Evaluation
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.feature_table import feature_table
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

SYMBOL = "BTCUSDT"
REAL = sorted(SHARED_WS.glob("btcusdt_*.gz")) if SHARED_WS.is_dir() else []
FEATURES = ["obi_l1", "obi_w", "ofi_1s", "tfi_5s", "absorption_5s"]
NS = 1_000_000_000


WEIGHTS = {"obi_l1": 1.3, "obi_w": 0.7, "ofi_1s": 0.05, "tfi_5s": 0.8, "absorption_5s": 0.01}


def _artifact(path: Path, calibrator: dict, *, tp_bps: float = 10.0, sl_bps: float = 10.0, tick: float = 0.01,
              created_at: str = "2024-01-01T00:00:00+00:00", weights: dict | None = None,
              intercept: float = 0.1) -> Calibration:
    """A small calibrated artifact: a linear score over several features (depth ones included)."""
    weights = weights or WEIGHTS
    body = {
        "schema": SCHEMA, "created_at": created_at, "model_version": "runner-test",
        "symbols": [SYMBOL], "features": list(weights),
        "score_model": {"kind": "linear", "intercept": intercept, "weights": weights},
        "calibrator": calibrator,
        "feature_params": feature_params_document(FeatureParams(windows_s=(1.0, 5.0), tick_size=tick)),
        "barriers": {"tp_bps": tp_bps, "sl_bps": sl_bps, "horizon_s": 30.0},
        "costs": {"fee_bps": 1.0, "slippage_bps": 0.5},
        "metrics": {"ece": 0.01, "brier": 0.2, "brier_base": 0.25, "auc": 0.6, "n_train": 1000,
                    "n_test": 500},
        "data": {"rows": 1500, "start": "2024-01-01", "end": "2024-01-01", "sha256": "0" * 64},
        "params": {"windows_s": [1.0, 5.0], "side": "long"},
    }
    return load_artifact(save_artifact(build_document(body), path))


ISOTONIC = {"kind": "isotonic", "x": [-2.0, -0.5, 0.0, 0.5, 2.0], "y": [0.2, 0.4, 0.55, 0.7, 0.9]}
PLATT = {"kind": "platt", "a": 2.0, "b": 0.3}


def _settings(home: Path, **runner: object) -> Settings:
    overrides = {"intent_interval_s": 0.5, **runner}
    (home / "configs").mkdir(parents=True, exist_ok=True)
    (home / "configs" / "local.yaml").write_text(json.dumps({"runner": overrides}))
    return load_settings(home=home, env={})


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory: pytest.TempPathFactory) -> TickStore:
    store = TickStore(tmp_path_factory.mktemp("synth") / "ticks")
    synthesize_to_store(store, "binance", SYMBOL, 0.25, 11)
    return store


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> TickStore:
    if not REAL:
        pytest.skip("shared recordings not present on this machine")
    store = TickStore(tmp_path_factory.mktemp("real") / "ticks")
    import_recordings(REAL, store, "binance", SYMBOL)
    return store


def _replay(settings: Settings, cal: Calibration, store: TickStore, start_ns: int, end_ns: int,
            on_evaluation: Callable[[Evaluation], None] | None = None,
            metrics: RunnerMetrics | None = None) -> ReplayResult:
    events = event_log(settings, "runner")
    try:
        return run_replay(settings, cal, store, SYMBOL, start_ns=start_ns, end_ns=end_ns, events=events,
                          on_evaluation=on_evaluation, metrics=metrics)
    finally:
        events.close()


def _assert_parity(settings: Settings, cal: Calibration, store: TickStore, start_ns: int, end_ns: int,
                   days: tuple[date, date]) -> list[Evaluation]:
    seen: list[Evaluation] = []
    _replay(settings, cal, store, start_ns, end_ns, seen.append)
    assert len(seen) > 50
    params = feature_params(cal, settings.symbols[SYMBOL].tick_size)
    table = feature_table(store, "binance", SYMBOL, days[0], days[1], params)
    table = table.set_index(["ts_ns", "update_id"])
    assert table.index.is_unique
    keys = pd.MultiIndex.from_tuples([(e.ts_ns, e.update_id) for e in seen])
    rows = table.loc[keys]
    for name in params.names:  # every feature the stream computed, not only the model's
        got = np.array([e.features[name] for e in seen])
        np.testing.assert_allclose(got, rows[name].to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True,
                                   err_msg=name)
    cols = {f: rows[f].to_numpy() for f in cal.body.features}
    p_research = cal.calibrate_fn.predict(cal.score_fn.predict(cols))
    np.testing.assert_allclose([e.p for e in seen], p_research, rtol=0, atol=1e-9)
    b = cal.body.barriers
    costs = costs_from_settings(settings)  # the fee of each configured leg, slippage on taker legs
    epi_research = [e_pi_bps(p, b.tp_bps, b.sl_bps, costs.round_trip_bps(e.slippage_est_bps))
                    for p, e in zip(p_research, seen, strict=True)]
    np.testing.assert_allclose([e.e_pi_bps for e in seen], epi_research, rtol=0, atol=1e-9)
    assert all(np.isfinite(e.features["obi_w"]) for e in seen[len(seen) // 2:])  # the book is used
    return seen


def test_replay_decisions_equal_research_on_a_synthetic_day(tmp_path: Path, synth_store: TickStore) -> None:
    settings = _settings(tmp_path / "home")
    cal = _artifact(tmp_path / "a.json", ISOTONIC)
    end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
    day = date(2024, 1, 1)
    _assert_parity(settings, cal, synth_store, end - 8 * 60 * NS, end, (day, day))


def test_replay_decisions_equal_research_on_real_recordings(tmp_path: Path, real_store: TickStore) -> None:
    settings = _settings(tmp_path / "home")
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(real_store, "binance", SYMBOL) + 1
    first = real_store.read("bbo", "binance", SYMBOL, date(2024, 8, 8), date(2024, 8, 8), ["ts_ns"])
    start = int(first.column("ts_ns")[0].as_py()) + 90 * NS  # past the first minute of context
    seen = _assert_parity(settings, cal, real_store, start, end, (date(2024, 8, 8), date(2024, 8, 9)))
    assert {pd.Timestamp(e.ts_ns).date() for e in seen} == {date(2024, 8, 8), date(2024, 8, 9)}


def _order_records(logs: Path) -> dict[str, list[dict]]:
    out = {}
    for stream in ("orders_success", "orders_failed", "orders_denied"):
        path = logs / f"{stream}.jsonl"
        recs = list(read_events(path)) if path.exists() else []
        out[stream] = [{k: v for k, v in r.items() if k not in ("ts", "run_id")} for r in recs]
    return out


def test_replaying_twice_gives_identical_order_logs(tmp_path: Path, synth_store: TickStore) -> None:
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
    logs = []
    for run in ("one", "two"):
        # post-only entries and limit exits: resting orders, queues, timeouts replay identically too
        settings = _settings(tmp_path / run, latency_ms=2.0, entry_order="post_only", exit_order="limit")
        metrics = RunnerMetrics()
        res = _replay(settings, cal, synth_store, end - 6 * 60 * NS, end, metrics=metrics)
        assert res.orders.get("success", 0) >= 2  # something was traded
        logs.append(_order_records(settings.path(settings.logging.dir)))
        sample = metrics.registry.get_sample_value
        for outcome, n in res.orders.items():
            assert sample("wisescalp_orders_total", {"outcome": outcome}) == n
        assert sample("wisescalp_tick_to_decision_seconds_count") >= res.summary.evaluations > 0
        assert abs(sample("wisescalp_heartbeat_timestamp_seconds") - time.time()) < 60
        assert sample("wisescalp_feed_lag_seconds") > 0  # market time is long past
        assert sample("wisescalp_position_base") == 0.0  # flat at the end
    assert logs[0] == logs[1]
    recs = [r for stream in logs[0].values() for r in stream]
    ids = [r["client_order_id"] for r in recs if r["leg"] == "entry"]
    assert len(ids) == len(set(ids))  # every entry intent logged exactly once
    for r in logs[0]["orders_success"]:
        if r["leg"] == "entry":
            assert r["gate"]["allow"] and r["fill"]["qty"] <= r["gate"]["max_qty"] + 1e-12
            assert r["decision_id"] and r["features"].keys() >= set(FEATURES)
    for r in logs[0]["orders_denied"]:
        assert not r["gate"]["allow"] and r["gate"]["reasons"]
    for r in logs[0]["orders_success"] + logs[0]["orders_failed"]:
        assert r["order_type"] == ("post_only" if r["leg"] == "entry" else r["order_type"])
        if r["leg"] == "entry":  # a maker at the bid it was decided at, never above it
            assert r.get("fill") is None or r["fill"]["avg_px"] <= r["limit_px"] * (1 + 1e-12)
    assert all(r["error_class"] == "timeout" for r in logs[0]["orders_failed"] if r["leg"] == "entry"
               and r["error"].startswith("CANCELED"))
    exits: dict[int, list[dict]] = {}
    for r in logs[0]["orders_success"] + logs[0]["orders_failed"]:
        if r["leg"] == "exit":
            exits.setdefault(r["seq_no"], []).append(r)
    for legs in exits.values():  # a limit exit that expired unsold (or part sold) is followed by a market one
        if any(r.get("error_class") == "timeout" or r.get("fill", {}).get("expired") for r in legs):
            assert any(r["order_type"] == "market" for r in legs)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_gate_means_no_order(tmp_path: Path, synth_store: TickStore) -> None:
    settings = _settings(tmp_path / "home", aurora_url=f"http://127.0.0.1:{_closed_port()}", gate_retries=0)
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
    res = _replay(settings, cal, synth_store, end - 2 * 60 * NS, end)
    recs = _order_records(settings.path(settings.logging.dir))
    assert res.orders.get("denied", 0) > 0 and not recs["orders_success"] and not recs["orders_failed"]
    assert all(r["gate"]["reasons"] == [GATE_UNAVAILABLE] and r["gate"]["error"]
               for r in recs["orders_denied"])


def test_replay_through_aurora_over_http(tmp_path: Path, synth_store: TickStore) -> None:
    """The HTTP gate against a real Aurora on loopback: allowed entries carry Aurora's decision id,
    and every fill is in Aurora's post-trade log (Aurora decides on its own clock here)."""
    now = datetime.now(UTC).isoformat()
    aurora_home = tmp_path / "aurora"
    (aurora_home / "configs").mkdir(parents=True)
    _artifact(aurora_home / "data" / "artifacts" / "current.json", PLATT, created_at=now)
    with ServerProcess(aurora_home, {"AURORA_API_TOKEN": "runner-test-token"}) as server:
        settings = _settings(tmp_path / "home", aurora_url=server.url)
        settings = settings.model_copy(update={"api_token": SecretStr("runner-test-token")})
        cal = _artifact(tmp_path / "a.json", PLATT, created_at=now)
        end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
        res = _replay(settings, cal, synth_store, end - 3 * 60 * NS, end)
    # read once Aurora has stopped: its event writer batches (``flush_s``) and drains on shutdown
    aurora_events = list(read_events(server.events_path))
    recs = _order_records(settings.path(settings.logging.dir))
    entries = [r for r in recs["orders_success"] if r["leg"] == "entry"]
    assert entries and res.equity is None
    decided = {e["decision_id"] for e in aurora_events if e["event"] == "api.decision"}
    assert all(r["decision_id"] in decided for r in entries + recs["orders_denied"])
    logged = {(e["inputs"]["client_order_id"], e["inputs"]["status"]) for e in aurora_events
              if e["event"] == "api.posttrade"}
    last_exit = {r["seq_no"]: r["client_order_id"] for r in recs["orders_success"] if r["leg"] == "exit"}
    for r in entries:
        assert (r["client_order_id"], "filled") in logged
    for cid in last_exit.values():  # a trade is reported closed once, under its last exit's id
        assert (cid, "closed") in logged


def test_cli_run_replay(tmp_path: Path, synth_store: TickStore, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    _settings(home)
    _artifact(home / "data" / "artifacts" / "current.json", PLATT)
    code = main(["--home", str(home), "run", "--mode", "replay", "--symbol", SYMBOL, "--minutes", "3",
                 "--store", str(synth_store.root), "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["events"] > 1000 and out["end"].startswith("2024-01-01T00:1")
    assert sum(out["orders"].values()) > 0
    code = main(["--home", str(home), "run", "--symbol", SYMBOL, "--minutes", "-1", "--store",
                 str(synth_store.root)])
    assert code == 2 and "--minutes must be a positive number" in capsys.readouterr().err
    code = main(["--home", str(home), "run", "--symbol", SYMBOL, "--start", "2030-01-01T00:00:00Z",
                 "--minutes", "1", "--store", str(synth_store.root)])
    assert code == 2 and "no quotes of BTCUSDT" in capsys.readouterr().err


# ---- the replay's fast path (aurora/runner/fastpath.py) against every event through Runner.step ----
#: Exits that fire often (trailing, breakeven, take-profit, stop), an order latency spanning
#: several events, no long cool-offs: many positions open across many quotes, many pending orders.
ACTIVE = {"runner": {"intent_interval_s": 0.5, "latency_ms": 50.0},
          "reward": {"trail_bps": 3.0, "breakeven_after_R": 0.5, "tp_pct": 0.05, "max_R": 2.5},
          "risk": {"loss_streak": 1000, "sprt_cooloff_s": 5.0}}
#: The defaults' exits (30 s time stops: each position open over thousands of quotes).
QUIET = {"runner": {"intent_interval_s": 0.5, "latency_ms": 2.0}}


def _envelope_free(path: Path) -> bytes:
    """A log's bytes without each line's wall-clock ``ts`` (the envelope's first field)."""
    return re.sub(rb'^\{"ts":"[^"]*",', b"{", path.read_bytes(), flags=re.MULTILINE) if path.exists() else b""


def _fast_equals_per_event(tmp_path: Path, store: TickStore, cal: Calibration, start_ns: int, end_ns: int,
                           overrides: dict) -> tuple[ReplayResult, list[float | None]]:
    """Replay the window both ways; the order logs are byte-identical (but for the wall-clock ``ts``),
    the summaries, decisions and counters equal. Returns the fast path's result and counters
    (orders success, denied, failed; book re-syncs; position; decisions)."""
    out = []
    for path in ("fast", "per_event"):
        home = tmp_path / path
        (home / "configs").mkdir(parents=True)
        (home / "configs" / "local.yaml").write_text(json.dumps(overrides))
        settings = load_settings(home=home, env={})
        seen: list[Evaluation] = []
        metrics = RunnerMetrics()
        events = event_log(settings, "runner", run_id="fastpath-parity")
        try:
            res = run_replay(settings, cal, store, SYMBOL, start_ns=start_ns, end_ns=end_ns, events=events,
                             on_evaluation=seen.append, metrics=metrics, per_event=path == "per_event")
        finally:
            events.close()
        logs = settings.path(settings.logging.dir)
        sample = metrics.registry.get_sample_value
        counters = [sample("wisescalp_orders_total", {"outcome": o}) for o in ("success", "denied", "failed")]
        counters += [sample(name) for name in ("wisescalp_book_resyncs_total", "wisescalp_position_base",
                                               "wisescalp_tick_to_decision_seconds_count")]
        assert abs(sample("wisescalp_heartbeat_timestamp_seconds") - time.time()) < 60
        out.append((res, {s: _envelope_free(logs / f"{s}.jsonl")
                          for s in ("orders_success", "orders_failed", "orders_denied")},
                    repr(seen), counters))
    (fast, fast_logs, fast_seen, fast_counters), (step, step_logs, step_seen, step_counters) = out
    assert fast_logs == step_logs
    assert fast == step  # the summary (and run id, order and error counts, equity)
    assert fast_seen == step_seen
    assert fast_counters == step_counters
    return fast, fast_counters


@pytest.mark.parametrize("overrides", [ACTIVE, QUIET], ids=["active", "quiet"])
def test_fast_path_equals_per_event_on_a_synthetic_day(tmp_path: Path, synth_store: TickStore,
                                                       overrides: dict) -> None:
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
    res, _ = _fast_equals_per_event(tmp_path, synth_store, cal, end - 14 * 60 * NS, end, overrides)
    assert res.summary.trades >= 3 and res.orders.get("denied", 0) > 0
    if overrides is ACTIVE:
        assert len(res.summary.exit_reasons) >= 3 and res.summary.trades >= 20
    else:
        assert res.summary.exit_reasons["time"] >= 2


def test_fast_path_equals_per_event_on_real_recordings(tmp_path: Path, real_store: TickStore) -> None:
    cal = _artifact(tmp_path / "a.json", PLATT, created_at="2024-08-08T00:00:00+00:00")  # fresh then
    end = last_quote_ns(real_store, "binance", SYMBOL) + 1
    first = real_store.read("bbo", "binance", SYMBOL, date(2024, 8, 8), date(2024, 8, 8), ["ts_ns"])
    start = int(first.column("ts_ns")[0].as_py()) + 90 * NS
    res, _ = _fast_equals_per_event(tmp_path, real_store, cal, start, end, ACTIVE)
    assert res.summary.trades >= 3


def test_fast_path_grows_its_buffers_as_the_per_event_path_does(tmp_path: Path, synth_store: TickStore,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny feature rings and volatility buffer: both paths grow them mid-run, with the same outcome
    as the default sizes (the fast path's kernel stops at a full buffer and resumes)."""
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
    start = end - 3 * 60 * NS
    default, _ = _fast_equals_per_event(tmp_path / "default", synth_store, cal, start, end, ACTIVE)
    monkeypatch.setattr(replay_module, "StreamFeatures", functools.partial(StreamFeatures, capacity=16))
    monkeypatch.setattr(loop_module, "RealizedVol", functools.partial(RealizedVol, capacity=16))
    small, _ = _fast_equals_per_event(tmp_path / "small", synth_store, cal, start, end, ACTIVE)
    assert small == default and small.summary.trades >= 3


def test_fast_path_follows_the_book_out_of_sync_and_back(tmp_path: Path, synth_store: TickStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Stretches of the depth replay marked out of sync (no levels, as after a gap): features,
    slippage estimates, fills and the re-sync counter agree between the paths."""
    read_book = StoreReplay._book

    def gappy(self: StoreReplay, after_seq: int) -> dict[str, np.ndarray] | None:
        book = read_book(self, after_seq)
        assert book is not None
        n = book["in_sync"].size
        for lo in range(n // 10, n, n // 4):  # a few stretches of a tenth of the messages
            book["in_sync"][lo:lo + n // 10] = False
            for side in ("bid_px", "bid_qty", "ask_px", "ask_qty"):
                book[side][lo:lo + n // 10] = np.nan
        return book

    monkeypatch.setattr(StoreReplay, "_book", gappy)
    cal = _artifact(tmp_path / "a.json", PLATT)
    end = last_quote_ns(synth_store, "binance", SYMBOL) + 1
    res, counters = _fast_equals_per_event(tmp_path, synth_store, cal, end - 6 * 60 * NS, end, ACTIVE)
    assert counters[3] is not None and counters[3] >= 3 and res.summary.trades >= 3
