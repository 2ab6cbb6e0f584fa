"""The run report: transforms on hand-built logs with hand-computed figures, damaged logs counted
and said, directories that are no run refused with the fix, and the notebook executed by
papermill and exported by nbconvert on a real replay's logs (and on a run without trades)."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aurora.cli import main
from aurora.config import load_settings
from aurora.events import EventLog
from aurora.report import ReportError, read_run, write_report
from aurora.report import frames as F  # noqa: N812
from aurora.testing import write_artifact
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

NS = 1_000_000_000
T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z
MS = 1_000_000
SYMBOL = "BTCUSDT"
VERSION = "report-test-v1"


def replay_logs(home: Path, store: Path, minutes: float, **config: Any) -> Path:
    """A real replay run (``auroractl run --mode replay``) in ``home`` with a test artifact; its
    logging dir. ``config`` overlays configs/local.yaml by section."""
    (home / "configs").mkdir(parents=True, exist_ok=True)
    layers = {"runner": {"intent_interval_s": 0.5}, **config}
    (home / "configs" / "local.yaml").write_text(json.dumps(layers))
    write_artifact(home / "data" / "artifacts" / "current.json", VERSION)
    code = main(["--home", str(home), "run", "--mode", "replay", "--symbol", SYMBOL,
                 "--minutes", str(minutes), "--store", str(store)])
    assert code == 0
    return home / "logs"


# ---- hand-built logs --------------------------------------------------------------------------
def _intent(seq: int, leg: str, at_s: float, **extra: Any) -> dict[str, Any]:
    cid = f"ws-test-{seq}-{leg[0]}"
    side = "buy" if leg == "entry" else "sell"
    return {"symbol": SYMBOL, "leg": leg, "client_order_id": cid, "side": side, "qty_intent": 0.01,
            "price_intent": 100.0, "market_ts_ns": T0 + round(at_s * NS), "seq_no": seq, **extra}


def _entry(seq: int, at_s: float, p: float, *, allow: bool = True, reasons: tuple[str, ...] = (),
           slip_est: float = 0.5) -> dict[str, Any]:
    gate = {"allow": allow, "max_qty": 0.01 if allow else 0.0, "reasons": list(reasons), "cooloff_s": 0.0,
            "decision_id": f"d-{seq}", "error": None}
    return _intent(seq, "entry", at_s, features={"obi_l1": 0.5}, score=0.1, p_tp=p, e_pi_bps=2.0,
                   slippage_est_bps=slip_est, spread_bps=0.2, vol_bps=5.0, regime="normal", sprt_llr=0.0,
                   update_id=seq, gate=gate, decision_id=f"d-{seq}")


def _fill(at_s: float, px: float, fee: float, slip: float, latency_ms: float,
          slip_est: float | None) -> dict[str, Any]:
    return {"fill": {"qty": 0.01, "avg_px": px, "fee_quote": fee, "slippage_bps": slip,
                     "slippage_est_bps": slip_est, "latency_ms": latency_ms,
                     "ts_ns": T0 + round(at_s * NS) + round(latency_ms * MS)}}


def _exit_fill(seq: int, at_s: float, px: float, fee: float, entry_fee: float, reason: str,
               latency_ms: float = 3.0) -> tuple[dict[str, Any], dict[str, Any]]:
    gross = 0.01 * (px - 100.0)
    net = gross - entry_fee - fee
    return (_intent(seq, "exit", at_s, exit_reason=reason, decision_id=f"d-{seq}"),
            {**_fill(at_s, px, fee, -0.5, latency_ms, None), "realized_pnl": gross,
             "pnl_bps": net / (0.01 * 100.0) * 1e4, "net_pnl_quote": net})


def build_logs(log_dir: Path, run_id: str = "run-a", *, finish: bool = True,
               finish_pnl: float = -0.001005) -> Path:
    """Three trades (won 79.9 bps, lost −119.9 bps after a failed exit, won 29.95 bps), three
    denied entries, one entry refused by the filters; Aurora's decision event for trade 0."""
    ev = EventLog("runner", log_dir, run_id=run_id)
    ev.emit("runner.start", mode="replay", symbol=SYMBOL, start_ns=T0, end_ns=T0 + 180 * NS,
            model_version="m-7", gate="in_process")
    out = [
        ("denied", _entry(3, 5, 0.55, allow=False, reasons=("SPREAD",)), {}),
        ("success", _entry(0, 10, 0.62, slip_est=0.5), _fill(10, 100.0, 0.001, 1.0, 2.0, 0.5)),
        ("success", *_exit_fill(0, 40, 101.0, 0.00101, 0.001, "take_profit")),
        ("denied", _entry(4, 65, 0.70, allow=False, reasons=("COOLOFF", "SPRT")), {}),
        ("success", _entry(1, 70, 0.80, slip_est=0.25), _fill(70, 100.0, 0.001, 0.0, 4.0, 0.25)),
        ("failed", _intent(1, "exit", 100, exit_reason="stop", decision_id="d-1"),
         {"error_class": "exchange", "error": "timeout"}),
        ("success", *_exit_fill(1, 101, 99.0, 0.00099, 0.001, "stop")),
        ("denied", _entry(5, 125, 0.75, allow=False, reasons=("EPI_BELOW_MIN",)), {}),
        ("success", _entry(2, 130, 0.65, slip_est=0.25), _fill(130, 100.0, 0.001, 0.5, 6.0, 0.25)),
        ("success", *_exit_fill(2, 160, 100.5, 0.001005, 0.001, "time")),
        ("failed", _entry(6, 170, 0.9), {"error_class": "filter", "error": "qty below min_qty"}),
    ]
    for outcome, intent, fields in out:
        ev.emit(f"order.{outcome}", stream=f"orders_{outcome}", **intent, **fields)
    EventLog("aurora", log_dir, run_id="api-run").emit(
        "api.decision", decision_id="d-0", decided_at_s=1.0, allow=True, max_qty=0.01, reasons=[],
        cooloff_s=0.0, model_version="m-7", epi_bps_aurora=2.0, inputs={"latency_ms": 1.5})
    if finish:
        ev.emit("runner.finish", mode="replay", orders={"success": 6, "failed": 2, "denied": 3}, trades=3,
                wins=2, pnl_quote=finish_pnl, equity=None)
    ev.close()
    return log_dir


def test_transforms_give_the_hand_computed_figures(tmp_path: Path) -> None:
    logs = read_run(build_logs(tmp_path))
    assert logs.run_id == "run-a" and logs.notes == [] and len(logs.orders) == 11
    trades = F.trades(logs.orders)
    assert list(trades["seq_no"]) == [0, 1, 2] and (trades["status"] == "closed").all()
    # net = gross − entry fee − exit fee: 0.01 − 0.001 − 0.00101; −0.01 − 0.001 − 0.00099; 0.005 − …
    np.testing.assert_allclose(trades["net_pnl_quote"], [0.00799, -0.01199, 0.002995], atol=1e-12)
    np.testing.assert_allclose(trades["pnl_bps"], [79.9, -119.9, 29.95], atol=1e-9)
    assert list(trades["win"]) == [True, False, True]
    assert list(trades["exit_reason"]) == ["take_profit", "stop", "time"]
    assert trades["entry_ns"][0] == T0 + 10 * NS + 2 * MS  # ns kept exactly (no float round trip)
    pnl = F.pnl_summary(trades)
    assert pnl["trades"] == 3 and pnl["wins"] == 2 and math.isclose(pnl["net_pnl_quote"], -0.001005)
    assert math.isclose(pnl["fees_quote"], 0.003 + 0.00101 + 0.00099 + 0.001005)

    curve = F.equity_curve(logs.orders, T0, T0 + 180 * NS)
    assert list(curve["ts_ns"]) == [T0, T0 + 40 * NS + 3 * MS, T0 + 101 * NS + 3 * MS, T0 + 160 * NS + 3 * MS,
                                    T0 + 180 * NS]
    np.testing.assert_allclose(curve["equity"], [0, 0.00799, -0.004, -0.001005, -0.001005], atol=1e-12)
    np.testing.assert_allclose(curve["drawdown"], [0, 0, -0.01199, -0.008995, -0.008995], atol=1e-12)
    assert curve["kind"].tolist() == ["start", "fill", "fill", "fill", "end"]

    assert F.bucket_seconds(180, 40) == 5 and F.bucket_seconds(180, 3) == 60
    assert F.bucket_seconds(10 * 86400, 4) == 3 * 86400
    by = F.decisions_by_reason(logs.orders, 60)
    assert list(by.index) == list(pd.to_datetime([T0, T0 + 60 * NS, T0 + 120 * NS], utc=True))
    assert by["decisions"].tolist() == [2, 2, 3] and by["allowed"].tolist() == [1, 1, 2]
    assert by["denied"].tolist() == [1, 1, 1] and by["SPREAD"].tolist() == [1, 0, 0]
    assert by["COOLOFF"].tolist() == [0, 1, 0] and by["SPRT"].tolist() == [0, 1, 0]
    assert by["EPI_BELOW_MIN"].tolist() == [0, 0, 1]
    assert F.decisions_by_reason(logs.orders, 30)["decisions"].tolist() == [2, 0, 2, 0, 2, 1]
    assert F.reason_totals(logs.orders)["count"].to_dict() == {  # the filter-refused entry was allowed
        "ALLOW": 4, "SPREAD": 1, "COOLOFF": 1, "SPRT": 1, "EPI_BELOW_MIN": 1}

    table = F.reliability(trades, 10, "uniform")  # p 0.62 won, 0.8 lost, 0.65 won
    assert table["bin"].tolist() == [6, 8] and table["count"].tolist() == [2, 1]
    np.testing.assert_allclose(table["mean_p"], [0.635, 0.8])
    np.testing.assert_allclose(table["freq"], [1.0, 0.0])
    cal = F.calibration_summary(trades, 10, "uniform")
    assert math.isclose(cal["ece"], (2 * (1 - 0.635) + 0.8) / 3) and math.isclose(cal["win_rate"], 2 / 3)

    execs = F.executions(logs.orders, logs.decisions)
    summary = F.execution_summary(execs)
    lat = summary.loc[("latency_ms", "entry")]
    assert lat["fills"] == 3 and math.isclose(lat["mean"], 4.0) and lat["estimated_fills"] == 1
    assert math.isclose(lat["estimated_mean"], 1.5)  # what Aurora was told for trade 0
    assert math.isclose(lat["gap_mean"], 2.0 - 1.5)
    slip = summary.loc[("slippage_bps", "entry")]
    assert math.isclose(slip["estimated_mean"], 1 / 3)
    assert math.isclose(slip["gap_mean"], ((1.0 - 0.5) + (0.0 - 0.25) + (0.5 - 0.25)) / 3)
    assert summary.loc[("slippage_bps", "exit")]["estimated_fills"] == 0

    outcome = F.orders_by_outcome(logs.orders)
    assert outcome.loc["entry"].to_dict() == {"success": 3, "failed": 1, "denied": 3, "total": 7}
    assert outcome.loc["exit"].to_dict() == {"success": 3, "failed": 1, "denied": 0, "total": 4}
    errors = F.errors_by_class(logs.orders)
    assert errors[["error_class", "leg", "count"]].values.tolist() == [["exchange", "exit", 1],
                                                                       ["filter", "entry", 1]]
    assert F.model_version(logs) == ("m-7", [])
    info = F.run_info(logs)
    assert info.loc["model version", "value"] == "m-7" and info.loc["artifact", "value"] == "unknown"
    assert "no run.json" in info.loc["artifact", "source"]
    assert F.crosscheck(logs, trades) == []


def test_an_open_trade_and_a_restored_position(tmp_path: Path) -> None:
    ev = EventLog("runner", tmp_path, run_id="run-r")
    # an exit of a position taken over from before a restart (no entry in this run), then an open entry
    intent, fields = _exit_fill(7, 20, 101.0, 0.00101, 0.001, "take_profit")
    ev.emit("order.success", stream="orders_success", **intent, **fields)
    ev.emit("order.success", stream="orders_success", **_entry(8, 30, 0.7),
            **_fill(30, 100.0, 0.001, 0, 1, 0.5))
    trades = F.trades(read_run(tmp_path).orders)
    assert trades[["seq_no", "entry_logged", "status"]].values.tolist() == [[7, False, "closed"],
                                                                            [8, True, "open"]]
    assert math.isclose(trades["pnl_bps"][0], 79.9) and math.isnan(trades["p_tp"][0])
    assert F.pnl_summary(trades)["open"] == 1 and F.reliability(trades, 10, "uniform").empty


def test_torn_lines_bad_records_and_unknown_fields_are_counted_and_said(tmp_path: Path) -> None:
    log_dir = build_logs(tmp_path)
    clean = F.trades(read_run(log_dir).orders)
    with open(log_dir / "orders_success.jsonl", "ab") as fh:
        fh.write(b'{"ts": "2024-01-01T00:00:00Z", "event": "order.succ')  # a crash mid-line
    bad = {**_entry(9, 175, 0.6), **_fill(175, 100.0, 0.001, 0.0, 1.0, 0.5)}
    bad["fill"]["qty"] = "0.01"  # a number written as text is not a number
    ev = EventLog("runner", log_dir, run_id="run-a")
    ev.emit("order.success", stream="orders_success", **bad)
    ev.emit("order.denied", stream="orders_denied", **_entry(10, 176, 0.6, allow=False, reasons=("SPREAD",)),
            venue_hint="x")
    logs = read_run(log_dir)
    notes = "\n".join(logs.notes)
    assert "orders_success.jsonl: 1 line(s) that are not one JSON object skipped" in notes
    assert "orders_success.jsonl: 1 record(s) not understood" in notes and "ws-test-9-e" in notes
    assert "fill.qty" in notes and "venue_hint (1)" in notes
    pd.testing.assert_frame_equal(F.trades(logs.orders), clean)  # the damage changed no figure
    assert len(logs.orders) == 12  # the record with an unknown field is read, the field ignored
    said = F.crosscheck(logs, F.trades(logs.orders))
    assert len(said) == 1 and "the runner counted orders" in said[0]


def test_an_unfinished_run_and_a_pnl_that_does_not_add_up_are_said(tmp_path: Path) -> None:
    logs = read_run(build_logs(tmp_path / "a", finish=False))
    assert "no runner.finish event" in F.crosscheck(logs, F.trades(logs.orders))[0]
    logs = read_run(build_logs(tmp_path / "b", finish_pnl=0.5))
    said = F.crosscheck(logs, F.trades(logs.orders))
    assert len(said) == 1 and "+0.500000" in said[0] and "-0.001005" in said[0]


def test_a_malformed_runner_summary_is_said_not_used(tmp_path: Path) -> None:
    ev = EventLog("runner", tmp_path, run_id="run-m")
    ev.emit("runner.start", mode="replay", symbol=SYMBOL, start_ns="yesterday", end_ns=None)
    ev.emit("order.success", stream="orders_success", **_entry(0, 10, 0.7),
            **_fill(10, 100.0, 0.001, 0, 1, 0.5))
    ev.emit("runner.finish", mode="replay", orders=["success"], pnl_quote="0")
    logs = read_run(tmp_path)
    assert (logs.start_ns, logs.end_ns) == (None, None)
    assert any("not as ns integers" in n for n in logs.notes)
    trades = F.trades(logs.orders)
    said = F.crosscheck(logs, trades)
    assert "order counts ['success'] are not counts" in said[0] and "P&L '0' is not a number" in said[1]
    assert "market window" not in F.run_info(logs).index
    assert F.equity_curve(logs.orders, logs.start_ns, logs.end_ns)["kind"].tolist() == ["start"]
    assert trades["status"].tolist() == ["open"]


def test_several_runs_report_the_last_unless_one_is_chosen(tmp_path: Path) -> None:
    build_logs(tmp_path, "run-a")
    ev = EventLog("runner", tmp_path, run_id="run-b")
    ev.emit("runner.start", mode="replay", symbol=SYMBOL, model_version="m-8")
    ev.emit("runner.finish", mode="replay", orders={}, pnl_quote=0.0)
    logs = read_run(tmp_path)
    assert logs.run_id == "run-b" and logs.runs == ["run-a", "run-b"] and logs.orders.empty
    assert any("2 runner runs" in n and "run-a" in n and "--run-id" in n for n in logs.notes)
    trades = F.trades(logs.orders)
    assert trades.empty and F.pnl_summary(trades)["trades"] == 0
    assert F.equity_curve(logs.orders).empty and F.decisions_by_reason(logs.orders, 60).empty
    assert F.equity_curve(logs.orders, T0, T0 + NS)["kind"].tolist() == ["start", "end"]
    assert F.orders_by_outcome(logs.orders).empty and F.errors_by_class(logs.orders).empty
    assert F.reliability(trades, 10, "uniform").empty
    assert F.calibration_summary(trades, 10, "uniform")["trades"] == 0
    assert F.execution_summary(F.executions(logs.orders, logs.decisions)).empty
    assert F.crosscheck(logs, trades) == []
    assert len(read_run(tmp_path, "run-a").orders) == 11
    with pytest.raises(ReportError, match=r"run 'run-c' is not in .*its runs are run-a, run-b"):
        read_run(tmp_path, "run-c")


def test_a_rotated_log_is_read_oldest_first(tmp_path: Path) -> None:
    log_dir = build_logs(tmp_path)
    lines = (log_dir / "orders_denied.jsonl").read_bytes().splitlines(keepends=True)
    (log_dir / "orders_denied.jsonl.2").write_bytes(lines[0])
    (log_dir / "orders_denied.jsonl.1").write_bytes(lines[1])
    (log_dir / "orders_denied.jsonl").write_bytes(lines[2])
    logs = read_run(log_dir)
    denied = logs.orders[logs.orders["outcome"] == "denied"]
    assert denied["seq_no"].tolist() == [3, 4, 5] and logs.notes == []


def test_run_json_is_read_and_disagreement_on_the_model_is_said(tmp_path: Path) -> None:
    build_logs(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"mode": "paper", "symbol": SYMBOL, "minutes": 3,
                                                   "model_version": "m-9", "artifact": "a.json"}))
    logs = read_run(tmp_path)
    info = F.run_info(logs)
    assert info.loc["mode", "value"] == "paper" and info.loc["mode", "source"] == "run.json"
    assert info.loc["artifact", "value"] == "a.json" and info.loc["model version", "value"] == "m-9"
    version, notes = F.model_version(logs)
    assert version == "m-9" and "m-7 (Aurora's decisions, runner.start)" in notes[0]
    (tmp_path / "run.json").write_text("{not json")
    logs = read_run(tmp_path)
    assert logs.run_json is None and any("run.json cannot be read" in n for n in logs.notes)


def test_a_directory_that_is_no_run_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="is not a directory"):
        read_run(tmp_path / "missing")
    with pytest.raises(ReportError, match=r"is not a run directory.*auroractl run --mode replay"):
        read_run(tmp_path)
    EventLog("api", tmp_path, run_id="x").emit("api.started", mode="replay")
    with pytest.raises(ReportError, match="holds logs but no runner run"):
        read_run(tmp_path)


def test_cli_report_errors_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(tmp_path), "report", str(tmp_path / "nothing")])
    assert code == 2 and "is not a directory" in capsys.readouterr().err
    (tmp_path / "logs").mkdir()
    code = main(["--home", str(tmp_path), "report"])  # the logging dir by default
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'logs'} is not a run directory" in err and "auroractl run" in err


def test_nbconvert_missing_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             settings) -> None:
    monkeypatch.setitem(sys.modules, "nbconvert", None)  # what `import nbconvert` sees when not installed
    with pytest.raises(ReportError, match=r"nbconvert is not installed.*pip install"):
        write_report(build_logs(tmp_path), settings)
    assert not (tmp_path / "report.ipynb").exists()  # refused before the notebook ran


# ---- the notebook on real runs ----------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "ticks"
    synthesize_to_store(TickStore(root), "binance", SYMBOL, 0.25, 11)
    return root


def _embedded_images(html: str) -> int:
    return html.count("data:image/png;base64,")


@pytest.mark.slow
def test_report_of_a_real_replay(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = replay_logs(tmp_path / "home", store, minutes=4)
    capsys.readouterr()
    assert main(["--home", str(tmp_path / "home"), "report", str(logs)]) == 0
    html_path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert html_path == logs / "report.html" and (logs / "report.ipynb").is_file()
    html = html_path.read_text()
    assert _embedded_images(html) >= 6 and VERSION in html
    assert not re.search(r"<script[^>]+src=", html) and not re.search(r"<img[^>]+src=\"(?!data:)", html)
    summary = json.loads((logs / "report.json").read_text())
    finish = next(e for e in map(json.loads, (logs / "aurora_events.jsonl").read_text().splitlines())
                  if e["event"] == "runner.finish")
    assert summary["model_version"] == VERSION and summary["notes"] == []
    assert summary["pnl"]["trades"] == finish["trades"] > 0
    assert math.isclose(summary["pnl"]["net_pnl_quote"], finish["pnl_quote"], rel_tol=1e-9, abs_tol=1e-12)
    assert summary["orders"] == sum(finish["orders"].values())


@pytest.mark.slow
def test_report_of_a_run_without_trades_says_so(tmp_path: Path, store: Path, settings) -> None:
    logs = replay_logs(tmp_path / "home", store, minutes=1, risk={"pi_min_bps": 1000.0})
    out = tmp_path / "elsewhere" / "empty.html"
    assert write_report(logs, settings, out=out) == out
    html = out.read_text()
    assert "this run made no trades" in html
    assert _embedded_images(html) >= 6 and VERSION in html
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["pnl"]["trades"] == 0 and summary["orders"] == 0 and summary["notes"] == []


def test_notebook_parameters_fill_from_the_settings_and_name_a_bad_one(tmp_path: Path) -> None:
    from aurora.report import ReportParams

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "local.yaml").write_text(json.dumps({"calibration": {"ece_bins": 7},
                                                                 "report": {"time_buckets": 12}}))
    names = ("run_id", "summary_json", "reliability_bins", "reliability_strategy", "time_buckets")
    p = ReportParams.from_settings(load_settings(home=tmp_path, env={}), run_dir="/r", **dict.fromkeys(names))
    assert (p.reliability_bins, p.time_buckets, p.summary_json) == (7, 12, "/r/report.json")
    with pytest.raises(ReportError, match=r"parameter 'reliability_bins' for 03_run_report.*got 1"):
        ReportParams.from_settings(None, run_dir="/r", run_id=None, reliability_bins=1,
                                   reliability_strategy="uniform", time_buckets=3)
