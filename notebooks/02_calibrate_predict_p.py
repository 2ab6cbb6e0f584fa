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
# # 02 — Calibrate `predict_p`
#
# Label every sampled bbo event with a triple barrier; fit the linear score model (logistic
# regression on standardised features) on the first time block, the calibrator (isotonic or Platt,
# chosen by hold-out Brier) on the next, and evaluate on the last — purged and embargoed. Then the
# reliability diagram, ECE, Brier against the base rate, AUC, the E[Π] curve over p with fees and
# slippage and the break-even p; fit the Stoikov micro-price table; export the candidate artifact,
# `metrics.json` and the hold-out block the promotion gates re-score.

# %%
# Names defined after this cell are the notebook's parameters (validated below).
from aurora.pipeline import params as _params

_param_names = None
_before = set(globals())

# %% tags=["parameters"]
store = "../data/ticks"          # tick store root (relative to this notebook)
exchange = None
symbol = None
start = "2024-01-01"             # first UTC date (YYYY-MM-DD)
end = "2024-01-01"               # last UTC date, inclusive
output_dir = "../data/runs/notebook"   # figures and results are written here
# None: filled at validation exactly as `auroractl calibrate` fills it, from the settings
# (configs/*.yaml under AURORA_HOME: features.*, labels.*, costs.*, calibration.*, symbols.*)
# and pipelines/calibrate.yaml. papermill injects the pipeline's values after this cell.
windows_s = None                 # feature windows, seconds
obi_levels = None
obi_decay = None
impact_window_s = None           # seconds
microprice_imbalance_buckets = None
microprice_spread_buckets = None
microprice_horizon_s = None      # seconds
tick_size = None                 # price tick; None also when the symbol is not configured: inferred
stride = None                    # keep every n-th bbo event as a sample
sample_s = None                  # at most one sample per this many seconds (0: no time thinning)
features = None                  # score model inputs
side = None                      # long | short
tp_bps = None                    # take-profit barrier, bps of the entry price
sl_bps = None                    # stop-loss barrier, bps
horizon_s = None                 # vertical barrier, seconds
embargo_s = None                 # embargo between blocks, seconds
timeouts = None                  # drop | loss
fractions = None                 # fit / calibrate / test shares, in time order
C = None                         # inverse L2 strength of the score model
calibrator = None                # auto | isotonic | platt
calibrator_holdout_fraction = None
ece_bins = None
ece_strategy = None              # uniform (equal-width) | quantile (equal-mass)
fee_bps = None                   # taker fee per leg, bps
slippage_bps = None              # slippage per leg, bps
model_version = "notebook"

# %%
P = _params.CalibrateParams.from_namespace(globals(), _before)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from aurora.pipeline import calibrate, dataset, figures

out = P.output_path()
P

# %% [markdown]
# ## Data: features and triple-barrier labels, micro-price table

# %%
samples = dataset.load_samples(P, progress=print)
print(samples.describe())

# %% [markdown]
# ## Score model, calibrator and evaluation on the test block

# %%
run = calibrate.run_calibration(samples.frame, P)
pd.DataFrame({k: run.metrics[k] for k in ("fit", "calibrate", "test")})

# %%
print("calibrator:", run.calibrator_kind, "hold-out Brier:", run.calibrator_holdout_brier)
pd.Series(run.metrics["score_model"]["weights"], name="raw weight")

# %% [markdown]
# ## Reliability diagram

# %%
fig = figures.reliability(run.reliability)
figures.save(fig, out, "reliability")
run.reliability

# %% [markdown]
# ## Calibration maps: isotonic and Platt over the score

# %%
s = run.score_model.decision_function(run.blocks["calibrate"])
grid = np.linspace(np.quantile(s, 0.001), np.quantile(s, 0.999), 200)
fig = figures.calibration_map(grid, {k: c.predict(grid) for k, c in run.alternatives.items()})
figures.save(fig, out, "calibration_map")

# %% [markdown]
# ## E[Π] over p with fees and slippage; break-even p

# %%
p_grid, epi = calibrate.epi_grid(run)
fig = figures.epi_curve(p_grid, epi, run.epi, run.breakeven_p)
figures.save(fig, out, "epi_curve")
run.metrics["economics"]

# %% [markdown]
# ## Stoikov micro-price table

# %%
if samples.microprice is not None:
    fig = figures.microprice_table(samples.microprice.table)
    figures.save(fig, out, "microprice")
samples.microprice

# %% [markdown]
# ## Export the candidate artifact

# %%
paths = calibrate.export(run, samples, out)
plt.close("all")
{k: str(v) for k, v in paths.items()}
