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
# # 01 — Feature study
#
# For one symbol and date range: the distribution of each feature, its relation to forward mid
# returns (information coefficient over horizons) and to triple-barrier outcomes (take-profit / stop
# rates by feature quantile), and how that holds up across volatility and spread regimes.
# Figures are saved as PNG in `output_dir`. Run it interactively in JupyterLab (kernel *aurora*) or
# unattended through `auroractl calibrate` (papermill injects the parameters below).

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
features = None                  # feature columns to study
horizons_s = None                # forward-return horizons, seconds
quantiles = None                 # feature buckets for barrier hit rates
tp_bps = None                    # take-profit barrier, bps of the entry price
sl_bps = None                    # stop-loss barrier, bps
horizon_s = None                 # vertical barrier, seconds

# %%
P = _params.FeatureStudyParams.from_namespace(globals(), _before)

import json

import matplotlib.pyplot as plt

from aurora.pipeline import dataset, figures, rundir, study

out = P.output_path()
P

# %% [markdown]
# ## Data: features, forward returns and barrier outcomes (long entries)

# %%
samples = dataset.load_samples(P, progress=print)
frame = samples.frame
print(samples.describe())

# %% [markdown]
# ## Distributions

# %%
summary = study.feature_summary(frame, P.features)
fig = figures.distributions(frame, P.features)
figures.save(fig, out, "study_distributions")
summary

# %% [markdown]
# ## Information coefficient over horizons

# %%
ic = study.information_coefficients(frame, P.features, P.horizons_s)
fig = figures.ic_heatmap(ic)
figures.save(fig, out, "study_ic")
ic

# %% [markdown]
# ## Barrier outcomes by feature quantile

# %%
hits = {f: study.hit_rates_by_quantile(frame, f, P.quantiles) for f in P.features}
fig = figures.hit_rates(hits)
figures.save(fig, out, "study_hit_rates")
hits[P.features[0]]

# %% [markdown]
# ## Regimes: volatility and spread

# %%
regimes = study.regime_table(study.add_regimes(frame), P.features, P.horizons_s[-1])
fig = figures.regimes(regimes, P.features)
figures.save(fig, out, "study_regimes")
regimes

# %% [markdown]
# ## Results

# %%
result = {"rows": len(frame), "ic": ic.to_dict(), "summary": summary.to_dict(),
          "regimes": regimes.to_dict(orient="records"),
          "hit_rates": {f: t.to_dict(orient="list") for f, t in hits.items()}}
(out / rundir.FEATURE_STUDY).write_text(json.dumps(result, indent=2, default=float))
plt.close("all")
sorted(p.name for p in out.glob("study_*.png"))
