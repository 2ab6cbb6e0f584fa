"""Pure transforms of one run's order records (:func:`aurora.report.records.order_frame`) into
the tidy frames the report plots.

Units and signs: money in the quote currency (USDT); P&L positive = profit, net of both legs'
fees; bps of the entry notional; slippage in bps, positive = worse than the touch; latency in ms
from the order's submission to its fill; times are ns since the epoch (market time in replay,
receive time live), shown as UTC.

A trade is one entry (``seq_no``) with its exits. A win is a closed trade whose net P&L is
positive, the outcome the runner's SPRT scores p against.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aurora.core.features import NS
from aurora.core.metrics import BinStrategy, ece_noise_floor, ece_score, reliability_table

if TYPE_CHECKING:
    from aurora.report.logs import RunLogs

#: Round time-bucket sizes, seconds (:func:`bucket_seconds` picks one).
ROUND_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)
TRADE_COLUMNS = ["seq_no", "entry_logged", "decision_id", "p_tp", "e_pi_bps", "entry_ns", "entry_px",
                 "entry_qty", "entry_fee_quote", "exit_ns", "exit_px", "exit_qty", "exit_fee_quote",
                 "exit_fills", "exit_reason", "gross_pnl_quote", "net_pnl_quote", "pnl_bps", "hold_s",
                 "status", "win"]


def utc(ts_ns: Any) -> Any:
    """ns since the epoch as UTC timestamps (a scalar, array or Series)."""
    return pd.to_datetime(ts_ns, unit="ns", utc=True)


def _last(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """The last row of each ``by`` group in time order (market time, then writing order)."""
    return frame.sort_values(["market_ts_ns", "ts"], kind="stable").groupby(by).tail(1).set_index(by)


def trades(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per trade (:data:`TRADE_COLUMNS`), in entry order.

    ``status``: ``closed`` (sold: the last exit filled, or what was left was below the lot minimum),
    ``open`` (no exit filled yet, or the last exit attempt failed at the exchange), ``unsellable``
    (the whole position was below the lot minimum: no exit could be sent). ``entry_logged`` is
    False for exits of a position taken over from before a restart (no entry in this run).
    ``pnl_bps`` = net P&L / (exit qty · entry price) · 1e4.
    """
    entries = orders[(orders["leg"] == "entry") & (orders["outcome"] == "success")].set_index("seq_no")
    exits = orders[orders["leg"] == "exit"]
    fills = exits[exits["outcome"] == "success"].assign(
        notional=lambda f: f["fill_qty"] * f["fill_px"],
        weighted_bps=lambda f: f["pnl_bps"] * f["fill_qty"])
    g = fills.groupby("seq_no")
    out = pd.DataFrame({
        "exit_qty": g["fill_qty"].sum(), "exit_fee_quote": g["fill_fee_quote"].sum(),
        "exit_fills": g.size(), "exit_ns": g["fill_ts_ns"].max(),
        "gross_pnl_quote": g["realized_pnl"].sum(min_count=1), "net_pnl_quote": g["net_pnl_quote"].sum(),
        "exit_px": g["notional"].sum() / g["fill_qty"].sum(),
        "pnl_bps": g["weighted_bps"].sum(min_count=1) / g["fill_qty"].sum(),
    })
    seqs = entries.index.union(exits["seq_no"].unique())
    out = out.reindex(seqs)
    out["entry_logged"] = seqs.isin(entries.index)
    ent = entries.reindex(seqs)
    last = _last(exits, "seq_no").reindex(seqs)
    out["decision_id"] = ent["decision_id"].fillna(last["decision_id"])
    renamed = {"fill_ts_ns": "entry_ns", "fill_px": "entry_px", "fill_qty": "entry_qty",
               "fill_fee_quote": "entry_fee_quote"}
    out = out.join(ent[["p_tp", "e_pi_bps", *renamed]].rename(columns=renamed))
    sold = out["exit_fills"].fillna(0) > 0
    dust = (last["outcome"] == "failed") & (last["error_class"] == "filter")
    done = sold & ((last["outcome"] == "success") | dust)
    out["status"] = np.where(done, "closed", np.where(dust & ~sold, "unsellable", "open"))
    out["exit_reason"] = _last(fills, "seq_no")["exit_reason"].reindex(seqs)
    out["exit_fills"] = out["exit_fills"].fillna(0).astype(np.int64)
    out["hold_s"] = (out["exit_ns"].astype(float) - out["entry_ns"].astype(float)) / NS
    out["win"] = (out["status"] == "closed") & (out["net_pnl_quote"] > 0)
    out = out.rename_axis("seq_no").reset_index()
    order = out["entry_ns"].fillna(out["exit_ns"]).astype(float)
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")][TRADE_COLUMNS].reset_index(drop=True)


def equity_curve(orders: pd.DataFrame, start_ns: int | None = None,
                 end_ns: int | None = None) -> pd.DataFrame:
    """Cumulative realised net P&L (``equity``, quote, from 0) at each exit fill, its running peak
    (never below 0) and ``drawdown`` = equity − peak (≤ 0). Starts with a 0 row at ``start_ns``
    (default: the run's first decision) and ends with a flat row at ``end_ns`` when later;
    ``kind`` says which row is which (``start``, ``fill``, ``end``)."""
    fills = orders[(orders["leg"] == "exit") & (orders["outcome"] == "success")]
    fills = fills.sort_values(["fill_ts_ns", "ts"], kind="stable")
    ts = fills["fill_ts_ns"].astype(np.int64).to_numpy()
    pnl = fills["net_pnl_quote"].to_numpy(np.float64)
    kind = np.full(ts.size, "fill", dtype=object)
    if start_ns is None and len(orders):
        start_ns = int(orders["market_ts_ns"].min())
    if start_ns is not None and (not ts.size or start_ns <= ts[0]):
        ts, pnl, kind = np.r_[start_ns, ts], np.r_[0.0, pnl], np.r_[["start"], kind]
    if end_ns is not None and ts.size and end_ns > ts[-1]:
        ts, pnl, kind = np.r_[ts, end_ns], np.r_[pnl, 0.0], np.r_[kind, ["end"]]
    equity = np.cumsum(pnl)
    peak = np.maximum.accumulate(np.maximum(equity, 0.0)) if equity.size else equity
    return pd.DataFrame({"ts_ns": ts, "time": utc(ts), "kind": kind, "pnl": pnl, "equity": equity,
                         "peak": peak, "drawdown": equity - peak})


def bucket_seconds(span_s: float, target: int) -> int:
    """The smallest round bucket (:data:`ROUND_BUCKETS_S`, then whole days) giving at most
    ``target`` buckets over ``span_s`` seconds."""
    for b in ROUND_BUCKETS_S:
        if math.ceil(span_s / b) <= target:
            return b
    return 86400 * math.ceil(span_s / 86400 / target)


def decisions_by_reason(orders: pd.DataFrame, bucket_s: int) -> pd.DataFrame:
    """Gate decisions on entries per time bucket (UTC start; empty buckets 0): ``decisions``,
    ``allowed``, ``denied`` and one column per deny reason (a deny counts under each of its
    reasons, so the reason columns can sum to more than ``denied``)."""
    entries = orders[orders["leg"] == "entry"]
    if entries.empty:
        return pd.DataFrame(columns=["decisions", "allowed", "denied"], index=pd.DatetimeIndex([], tz="UTC"))
    step = bucket_s * NS
    bucket = entries["market_ts_ns"].to_numpy(np.int64) // step * step
    allowed = entries["gate_allow"].astype(bool).to_numpy()
    base = pd.DataFrame({"bucket": bucket, "decisions": 1, "allowed": allowed.astype(int),
                         "denied": (~allowed).astype(int)}).groupby("bucket").sum()
    reasons = pd.DataFrame({"bucket": bucket, "reason": entries["gate_reasons"].to_numpy()}).explode("reason")
    wide = pd.crosstab(reasons["bucket"], reasons["reason"]) if reasons["reason"].notna().any() else None
    frame = base.join(wide) if wide is not None else base
    full = np.arange(bucket.min(), bucket.max() + step, step)
    frame = frame.reindex(full, fill_value=0).fillna(0).astype(np.int64)
    frame.index = utc(frame.index)
    frame.index.name = "bucket"
    return frame


def reason_totals(orders: pd.DataFrame) -> pd.DataFrame:
    """Entry decisions by gate answer: ``ALLOW`` and each deny reason, with the share of decisions."""
    entries = orders[orders["leg"] == "entry"]
    counts = entries["gate_reasons"].explode().dropna().value_counts()
    counts = pd.concat([pd.Series({"ALLOW": int(entries["gate_allow"].astype(bool).sum())}), counts])
    return pd.DataFrame({"count": counts, "share_of_decisions": counts / max(len(entries), 1)})


def reliability(trades: pd.DataFrame, bins: int, strategy: BinStrategy) -> pd.DataFrame:
    """Realised win frequency against predicted p per bin of closed trades with a p (empty bins
    left out): ``bin, lo, hi, count, mean_p, freq``."""
    closed = trades[(trades["status"] == "closed") & trades["p_tp"].notna()]
    return reliability_table(closed["p_tp"].to_numpy(), closed["win"].to_numpy(np.float64), bins, strategy)


def calibration_summary(trades: pd.DataFrame, bins: int, strategy: BinStrategy) -> dict[str, float]:
    """Closed trades with a p: count, mean p, win rate, ECE and the ECE of sampling noise alone."""
    closed = trades[(trades["status"] == "closed") & trades["p_tp"].notna()]
    n = len(closed)
    if not n:
        return {"trades": 0, "mean_p": math.nan, "win_rate": math.nan, "ece": math.nan,
                "ece_noise_floor": math.nan}
    p, y = closed["p_tp"].to_numpy(), closed["win"].to_numpy(np.float64)
    return {"trades": n, "mean_p": float(p.mean()), "win_rate": float(y.mean()),
            "ece": ece_score(p, y, bins, strategy), "ece_noise_floor": ece_noise_floor(bins, n)}


def executions(orders: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per fill: realised latency and slippage beside their estimates. The slippage
    estimate is the one the entry was decided on (exits have none); the latency estimate is the
    one Aurora was told, known only from its decision events (NaN without them)."""
    fills = orders[orders["outcome"] == "success"]
    told = decisions.set_index("decision_id")["latency_ms"] if len(decisions) else pd.Series(dtype=float)
    entry = (fills["leg"] == "entry").to_numpy()
    est_latency = fills["decision_id"].map(told).astype(float).where(entry)
    return pd.DataFrame({
        "leg": fills["leg"].to_numpy(), "client_order_id": fills["client_order_id"].to_numpy(),
        "ts_ns": fills["fill_ts_ns"].astype(np.int64).to_numpy(),
        "latency_ms": fills["fill_latency_ms"].to_numpy(), "latency_est_ms": est_latency.to_numpy(),
        "slippage_bps": fills["fill_slippage_bps"].to_numpy(),
        "slippage_est_bps": fills["slippage_est_bps"].where(entry).to_numpy(),
    })


def execution_summary(execs: pd.DataFrame) -> pd.DataFrame:
    """Per measure (latency ms, slippage bps) and leg: fills, realised mean / median / p95 / max,
    the mean estimate over the fills that have one, and the mean gap realised − estimate there."""
    rows = []
    for measure in ("latency", "slippage"):
        real, est = f"{measure}_{'ms' if measure == 'latency' else 'bps'}", None
        est = real.replace("_ms", "_est_ms").replace("_bps", "_est_bps")
        for leg, g in execs.groupby("leg", sort=True):
            r, e = g[real].astype(float), g[est].astype(float)
            both = r.notna() & e.notna()
            rows.append({"measure": real, "leg": leg, "fills": int(r.notna().sum()), "mean": r.mean(),
                         "median": r.median(), "p95": r.quantile(0.95), "max": r.max(),
                         "estimated_fills": int(both.sum()),
                         "estimated_mean": e[both].mean() if both.any() else math.nan,
                         "gap_mean": (r - e)[both].mean() if both.any() else math.nan})
    cols = ["measure", "leg", "fills", "mean", "median", "p95", "max", "estimated_fills", "estimated_mean",
            "gap_mean"]
    return pd.DataFrame(rows, columns=cols).set_index(["measure", "leg"])


def orders_by_outcome(orders: pd.DataFrame) -> pd.DataFrame:
    """Order intents by leg (rows) and outcome (columns), with totals."""
    table = pd.crosstab(orders["leg"], orders["outcome"], margins=True, margins_name="total")
    return table.reindex(columns=[c for c in ("success", "failed", "denied", "total") if c in table.columns],
                         fill_value=0)


def errors_by_class(orders: pd.DataFrame) -> pd.DataFrame:
    """Failed intents by error class and leg, with the first error message of each class."""
    failed = orders[orders["outcome"] == "failed"]
    cols = ["error_class", "leg", "count", "first_error"]
    if failed.empty:
        return pd.DataFrame(columns=cols)
    g = failed.groupby(["error_class", "leg"])
    return pd.DataFrame({"count": g.size(), "first_error": g["error"].first()}).reset_index()[cols]


def pnl_summary(trades: pd.DataFrame) -> dict[str, float]:
    """Closed trades: count, wins, win rate, net and gross P&L and fees (quote), mean / median /
    best / worst net bps; and how many trades are still open or unsellable."""
    closed = trades[trades["status"] == "closed"]
    bps = closed["pnl_bps"]
    fees = closed["entry_fee_quote"].fillna(0).sum() + closed["exit_fee_quote"].sum()
    n = len(closed)
    return {"trades": n, "wins": int(closed["win"].sum()),
            "win_rate": float(closed["win"].mean()) if n else math.nan,
            "net_pnl_quote": float(closed["net_pnl_quote"].sum()),
            "gross_pnl_quote": float(closed["gross_pnl_quote"].sum()), "fees_quote": float(fees),
            "mean_bps": float(bps.mean()) if n else math.nan,
            "median_bps": float(bps.median()) if n else math.nan,
            "best_bps": float(bps.max()) if n else math.nan, "worst_bps": float(bps.min()) if n else math.nan,
            "open": int((trades["status"] == "open").sum()),
            "unsellable": int((trades["status"] == "unsellable").sum())}


def model_version(logs: RunLogs) -> tuple[str | None, list[str]]:
    """The run's model version and where it came from: ``run.json``, the runner.start event,
    Aurora's decisions; disagreeing sources are named. None when no source says."""
    seen: dict[str, set[str]] = {}
    if logs.run_json and logs.run_json.get("model_version"):
        seen.setdefault(str(logs.run_json["model_version"]), set()).add("run.json")
    if logs.start and logs.start.get("model_version"):
        seen.setdefault(str(logs.start["model_version"]), set()).add("runner.start")
    for v in logs.decisions["model_version"].dropna().unique():
        seen.setdefault(str(v), set()).add("Aurora's decisions")
    notes = [] if len(seen) <= 1 else [
        "the sources disagree on the model version: " + "; ".join(
            f"{v} ({', '.join(sorted(s))})" for v, s in seen.items())]
    return (next(iter(seen)) if seen else None), notes


def run_info(logs: RunLogs) -> pd.DataFrame:
    """What the run was: one row per item with its value and source; ``unknown`` says which
    record would have told."""
    rj, st, fin = logs.run_json or {}, logs.start or {}, logs.finish or {}
    rows: list[tuple[str, Any, str]] = [("run id", logs.run_id, "event log"),
                                        ("run directory", str(logs.run_dir), "")]

    def pick(item: str, *sources: tuple[str, dict[str, Any], str]) -> None:
        for src, doc, key in sources:
            if doc.get(key) is not None:
                rows.append((item, doc[key], src))
                return
        names = " or ".join(src for src, _, _ in sources)
        rows.append((item, "unknown", f"not in {names}" + ("" if logs.run_json else " (no run.json)")))

    version, _ = model_version(logs)
    sources = [s for s, ok in (("run.json", rj.get("model_version")),
                               ("runner.start", st.get("model_version")),
                               ("Aurora's decisions", logs.decisions["model_version"].notna().any())) if ok]
    rows.append(("model version", version or "unknown", sources[0] if sources else
                 "not in run.json, runner.start or Aurora's decisions"))
    pick("mode", ("run.json", rj, "mode"), ("runner.start", st, "mode"))
    pick("symbol", ("run.json", rj, "symbol"), ("runner.start", st, "symbol"))
    pick("gate", ("run.json", rj, "aurora_url"), ("runner.start", st, "gate"))
    pick("artifact", ("run.json", rj, "artifact"))
    if logs.start_ns is not None and logs.end_ns is not None:
        rows.append(("market window", f"{utc(logs.start_ns):%Y-%m-%d %H:%M:%S} → "
                     f"{utc(logs.end_ns):%Y-%m-%d %H:%M:%S} UTC", "runner.start"))
    pick("started", ("run.json", rj, "started"), ("runner.start", st, "ts"))
    pick("finished", ("run.json", rj, "finished"), ("runner.finish", fin, "ts"))
    pick("minutes", ("run.json", rj, "minutes"))
    pick("stopped by", ("run.json", rj, "stopped_by"))
    pick("exit", ("run.json", rj, "exit"))
    pick("end equity (in-process gate)", ("runner.finish", fin, "equity"))
    frame = pd.DataFrame(rows, columns=["item", "value", "source"])
    frame["value"] = frame["value"].astype(str)
    return frame.set_index("item")


def crosscheck(logs: RunLogs, trades: pd.DataFrame) -> list[str]:
    """Where the order records and the runner's own summary (runner.finish) disagree: records
    lost or added, or a P&L that does not add up. An unfinished run is said too."""
    fin = logs.finish
    if fin is None:
        return [f"run {logs.run_id} has no runner.finish event: it crashed, was killed or is still running; "
                "the figures cover what it logged"]
    notes = []
    logged = logs.orders["outcome"].value_counts().to_dict()
    counts, said_pnl = fin.get("orders"), fin.get("pnl_quote")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        notes.append(f"runner.finish's order counts {counts!r} are not counts: not checked against the logs")
    elif {k: v for k, v in counts.items() if v} != logged:
        notes.append(f"the runner counted orders {counts} but the logs hold {logged}: records are missing, "
                     "unreadable or extra")
    pnl = float(trades["net_pnl_quote"].sum())
    if not isinstance(said_pnl, int | float):
        notes.append(f"runner.finish's P&L {said_pnl!r} is not a number: not checked against the logs")
    elif not math.isclose(pnl, said_pnl, rel_tol=1e-9, abs_tol=1e-9):
        notes.append(f"the runner's realised P&L is {said_pnl:+.6f} but the logged exits add up to "
                     f"{pnl:+.6f}: exit records are missing or unreadable")
    return notes
