"""Resolve the parameters of one calibration run: settings → params file → overrides.

The params file (``pipelines/calibrate.yaml``) has a ``common`` section given to every notebook
that accepts the key, and a ``notebooks`` section per notebook. A ``null`` value means "not set
here" and falls through to the lower layer; the lowest layer is derived from the settings
(barriers from ``labels.*``, costs from ``costs.*``, feature windows and micro-price buckets from
``features.*``, ECE bins from ``calibration.*``). When neither ``start`` nor ``end`` is given the
run covers the latest ``calibration.schedule_lookback_days`` dates the store holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from aurora.config import PACKAGED_DEFAULTS, Settings
from aurora.pipeline.params import NOTEBOOKS, NotebookParams, ParameterError
from aurora.ticks.store import TickStore

REPO_ROOT = PACKAGED_DEFAULTS.parent.parent
CALIBRATE_NOTEBOOK = "02_calibrate_predict_p"


def resolve_shipped(settings: Settings, relative: Path) -> Path:
    """``relative`` under AURORA_HOME if it exists there, else the copy shipped with aurora."""
    here = settings.path(relative)
    return here if here.exists() or relative.is_absolute() else REPO_ROOT / relative


def read_params_file(path: Path) -> dict[str, Any]:
    """Read a params file; refuse anything but the ``common``/``notebooks`` mapping layout."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ParameterError(f"cannot read params file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"params file {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ParameterError(f"params file {path} must hold a mapping")
    unknown = set(doc) - {"common", "notebooks"}
    if unknown:
        raise ParameterError(f"params file {path}: unknown section(s) {sorted(unknown)}; "
                             "use 'common' and 'notebooks'")
    for name in doc.get("notebooks") or {}:
        if name not in NOTEBOOKS:
            raise ParameterError(f"params file {path}: unknown notebook {name!r}; "
                                 f"notebooks are {sorted(NOTEBOOKS)}")
    return doc


def settings_defaults(settings: Settings) -> dict[str, Any]:
    """The lowest parameter layer, taken from the typed settings."""
    f, lab, c, cal = settings.features, settings.labels, settings.costs, settings.calibration
    return {
        "store": str(settings.path(settings.storage.ticks_dir)),
        "windows_s": list(f.windows_s),
        "tp_bps": lab.tp_bps, "sl_bps": lab.sl_bps, "horizon_s": lab.horizon_s,
        "embargo_s": lab.embargo_s, "fee_bps": c.fee_bps, "slippage_bps": c.slippage_bps,
        "microprice_imbalance_buckets": f.microprice_imbalance_buckets,
        "microprice_spread_buckets": f.microprice_spread_buckets,
        "microprice_horizon_s": f.microprice_horizon_s,
        "ece_bins": cal.ece_bins, "ece_strategy": cal.ece_strategy,
        "calibrator_holdout_fraction": cal.calibrator_holdout_fraction,
    }


def _layer(base: dict[str, Any], over: Mapping[str, Any] | None) -> None:
    for k, v in (over or {}).items():
        if v is not None:
            base[k] = v.isoformat() if isinstance(v, date) else v


@dataclass(frozen=True)
class RunPlan:
    """Validated parameters for each notebook, in execution order."""

    run_id: str
    run_dir: Path
    params: dict[str, NotebookParams]

    @property
    def first(self) -> NotebookParams:
        return next(iter(self.params.values()))

    @property
    def exports_candidate(self) -> bool:
        return CALIBRATE_NOTEBOOK in self.params


def default_window(store: TickStore, exchange: str, symbol: str, days: int) -> tuple[date, date]:
    """The latest ``days`` dates holding bbo data for the symbol."""
    dates = store.dates("bbo", exchange, symbol)
    if not dates:
        raise ParameterError(f"the store {store.root} holds no bbo data for {symbol} on {exchange}; "
                             "import recordings (auroractl data import) or synthesize some first")
    chosen = dates[-days:]
    return chosen[0], chosen[-1]


def plan_run(settings: Settings, run_id: str, *, params_file: Path | None = None,
             extra_files: tuple[Path, ...] = (), overrides: Mapping[str, Any] | None = None,
             notebooks: Sequence[str] | None = None) -> RunPlan:
    """Merge the layers, fill the date window and validate the parameters of ``notebooks`` (all
    of them, in order, by default)."""
    chosen = list(NOTEBOOKS) if not notebooks else list(notebooks)
    unknown_nb = [n for n in chosen if n not in NOTEBOOKS]
    if unknown_nb:
        raise ParameterError(f"unknown notebook(s) {unknown_nb}; notebooks are {list(NOTEBOOKS)}")
    files = [params_file or resolve_shipped(settings, settings.calibration.params_file), *extra_files]
    common: dict[str, Any] = settings_defaults(settings)
    per_nb: dict[str, dict[str, Any]] = {name: {} for name in NOTEBOOKS}
    for f in files:
        doc = read_params_file(f)
        _layer(common, doc.get("common"))
        for name, values in (doc.get("notebooks") or {}).items():
            _layer(per_nb[name], values)
    _layer(common, overrides)
    run_dir = settings.path(settings.calibration.runs_dir) / run_id
    common["output_dir"] = str(run_dir)
    common.setdefault("model_version", run_id)
    if "start" not in common and "end" not in common:
        if "exchange" not in common or "symbol" not in common:
            raise ParameterError("exchange and symbol must be set (params file or --exchange/--symbol)")
        store = TickStore(common["store"])
        start, end = default_window(store, common["exchange"], common["symbol"],
                                    settings.calibration.schedule_lookback_days)
        common["start"], common["end"] = start.isoformat(), end.isoformat()
    elif "start" not in common or "end" not in common:
        common.setdefault("start", common.get("end"))
        common.setdefault("end", common.get("start"))
    known = set().union(*(m.model_fields for m in NOTEBOOKS.values()))
    unknown = sorted(set(common) - known)
    if unknown:
        raise ParameterError(f"unknown common parameter(s) {unknown}; no notebook takes them")
    params: dict[str, NotebookParams] = {}
    for name in sorted(chosen, key=list(NOTEBOOKS).index):
        model = NOTEBOOKS[name]
        values = {k: v for k, v in common.items() if k in model.model_fields}
        values.update(per_nb[name])
        if values.get("sample_s") is None and "horizon_s" in values:
            values["sample_s"] = values["horizon_s"]
        params[name] = model.parse(values)
    return RunPlan(run_id, run_dir, params)
