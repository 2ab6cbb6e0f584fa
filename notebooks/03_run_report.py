# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Aurora (Python 3)
#     language: python
#     name: aurora
# ---

# %% [markdown]
# # 03 — Run report
#
# One run of the WiseScalp runner, from its logs: what ran (mode, symbol, model version), the
# equity curve and drawdown of realised P&L, the P&L distribution, the gate's decisions by reason
# over time, realised win rate against the predicted p, latency and slippage realised against
# their estimates, and orders by outcome and error class. `auroractl report RUN_DIR` runs this
# notebook with papermill and exports it as one HTML file; run it here on any run directory.

# %% tags=["parameters"]
run_dir = "../logs"              # a logging dir (logging.dir) or a one-click run dir
run_id = None                    # None: the directory's last runner run
summary_json = None              # None: report.json in run_dir
# None: from the settings (configs/*.yaml under AURORA_HOME)
reliability_bins = None          # bins of predicted p (calibration.ece_bins)
reliability_strategy = None      # uniform | quantile (calibration.ece_strategy)
time_buckets = None              # at most about this many time buckets (report.time_buckets)

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from aurora.events import encode
from aurora.report import ReportParams, figures, read_run
from aurora.report import frames as F  # noqa: N812

P = ReportParams.resolve(run_dir=run_dir, run_id=run_id, summary_json=summary_json,
                         reliability_bins=reliability_bins, reliability_strategy=reliability_strategy,
                         time_buckets=time_buckets)
logs = read_run(P.run_dir, P.run_id)
orders = logs.orders
trades = F.trades(orders)
version, version_notes = F.model_version(logs)
notes = logs.notes + version_notes + F.crosscheck(logs, trades)
pnl = F.pnl_summary(trades)
display(Markdown(f"**Run {logs.run_id}** — model version **{version or 'unknown'}**; "
                 f"{len(orders)} order intents, {pnl['trades']} closed trades"
                 + ("" if len(trades) else " — **this run made no trades**")))

# %% [markdown]
# ## What ran
#
# Read from `run.json` (written by `auroractl one-click`) and the runner's `runner.start` /
# `runner.finish` events; an item neither records is shown as unknown.

# %%
F.run_info(logs)

# %% [markdown]
# ## Read with care
#
# Lines skipped, records not understood, fields ignored, other runs in the directory, and any
# disagreement between the logs and the runner's own summary.

# %%
display(Markdown("\n".join(f"- {n}" for n in notes) if notes else "Nothing: every line was read and "
                 "every record understood, and the logs agree with the runner's summary."))

# %% [markdown]
# ## Equity curve and drawdown
#
# Cumulative realised P&L after fees (quote currency) at each exit fill, on market time, and its
# drawdown from the running peak.

# %%
curve = F.equity_curve(orders, logs.start_ns, logs.end_ns)
figures.equity(curve)
plt.show()
pd.Series({**pnl, "max_drawdown_quote": float(curve["drawdown"].min()) if len(curve) else 0.0},
          name="closed trades").to_frame()

# %% [markdown]
# ## P&L distribution

# %%
figures.pnl_distribution(trades)
plt.show()
trades

# %% [markdown]
# ## Gate decisions by reason over time

# %%
span_s = (orders["market_ts_ns"].max() - orders["market_ts_ns"].min()) / 1e9 if len(orders) else 0.0
bucket_s = F.bucket_seconds(span_s, P.time_buckets)
figures.decisions(F.decisions_by_reason(orders, bucket_s), bucket_s)
plt.show()
F.reason_totals(orders)

# %% [markdown]
# ## Realised win rate vs predicted p
#
# Closed trades with the p their entry was decided on; a win is a trade with positive net P&L.
# With few trades the bins are noisy: compare the ECE with the ECE of sampling noise alone.

# %%
table = F.reliability(trades, P.reliability_bins, P.reliability_strategy)
figures.reliability(table)
plt.show()
calibration = F.calibration_summary(trades, P.reliability_bins, P.reliability_strategy)
display(pd.Series(calibration, name="closed trades with p").to_frame())
table

# %% [markdown]
# ## Latency and slippage, realised vs estimated

# %%
execs = F.executions(orders, logs.decisions)
figures.executions(execs)
plt.show()
F.execution_summary(execs)

# %% [markdown]
# ## Orders by outcome and error class

# %%
by_outcome, errors = F.orders_by_outcome(orders), F.errors_by_class(orders)
figures.outcomes(by_outcome, errors)
plt.show()
display(by_outcome)
errors

# %%
summary = {"run_id": logs.run_id, "runs_in_dir": logs.runs, "model_version": version, "orders": len(orders),
           "pnl": pnl, "max_drawdown_quote": float(curve["drawdown"].min()) if len(curve) else 0.0,
           "calibration": calibration, "notes": notes}
Path(P.summary_json).write_bytes(encode(summary))  # one JSON line; NaN written as null
P.summary_json
