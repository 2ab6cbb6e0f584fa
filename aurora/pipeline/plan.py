"""Resolve the parameters of one calibration run: settings → params file → overrides.

The params file (``pipelines/calibrate.yaml``) has a ``common`` section given to every notebook
that accepts the key, and a ``notebooks`` section per notebook. A ``null`` value means "not set
here" and falls through to the lower layer; the lowest layer is derived from the settings
(barriers from ``labels.*``, costs from ``costs.*``, every feature parameter from ``features.*``
and the symbol's tick from ``symbols.*``, ECE bins from ``calibration.*``). The overrides
(``--symbol``, ``--set`` …) are the highest layer, for every notebook that takes the key. When
neither ``start`` nor ``end`` is given the run covers the latest
``calibration.schedule_lookback_days`` dates the store holds. Interactive notebook runs fill their
``None`` parameters from the same layers (:func:`notebook_defaults`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from aurora.artifact import feature_params_document
from aurora.config import PACKAGED_DEFAULTS, Settings, load_settings
from aurora.core.features import FeatureParams
from aurora.pipeline.dataset import first_day_tick
from aurora.pipeline.params import NOTEBOOKS, NotebookParams, ParameterError
from aurora.ticks.location import rooted
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


def feature_params_from_settings(settings: Settings, symbol: str) -> FeatureParams:
    """Feature parameters for a *new* calibration: ``features.*`` and the symbol's tick from
    ``symbols.*`` (``None`` when the symbol is not configured: inferred from the data). Every
    other consumer builds them from an artifact (:attr:`aurora.artifact.Calibration.feature_params`)."""
    filt = settings.symbols.get(symbol)
    return FeatureParams.from_settings(settings.features, tick_size=filt.tick_size if filt else None)


def settings_defaults(settings: Settings) -> dict[str, Any]:
    """The lowest parameter layer, taken from the typed settings (``tick_size`` is added per
    symbol by :func:`plan_run`)."""
    lab, c, cal = settings.labels, settings.costs, settings.calibration
    features = feature_params_document(FeatureParams.from_settings(settings.features))
    del features["tick_size"]
    return {
        "store": str(rooted(settings.storage.ticks_dir, settings.path)),
        **features,
        "tp_bps": lab.tp_bps, "sl_bps": lab.sl_bps, "horizon_s": lab.horizon_s,
        "embargo_s": lab.embargo_s, "fee_bps": c.fee_bps, "slippage_bps": c.slippage_bps,
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


def _layers(settings: Settings, files: Sequence[Path]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The settings layer with each params file's ``common`` section on top, and each notebook's
    own section (later files win)."""
    common: dict[str, Any] = settings_defaults(settings)
    per_nb: dict[str, dict[str, Any]] = {name: {} for name in NOTEBOOKS}
    for f in files:
        doc = read_params_file(f)
        _layer(common, doc.get("common"))
        for name, values in (doc.get("notebooks") or {}).items():
            _layer(per_nb[name], values)
    return common, per_nb


def _notebook_values(settings: Settings, name: str, common: Mapping[str, Any],
                     per_nb: Mapping[str, Mapping[str, Any]], top: Mapping[str, Any]) -> dict[str, Any]:
    """One notebook's values: common, then its own section, then ``top`` (``--symbol``/``--set``…,
    the highest layer), each restricted to the keys the notebook takes; then the derived defaults
    (``sample_s`` = ``horizon_s``; ``tick_size`` = the symbol's configured tick)."""
    fields = NOTEBOOKS[name].model_fields
    values = {k: v for k, v in common.items() if k in fields}
    _layer(values, per_nb.get(name))
    _layer(values, {k: v for k, v in top.items() if k in fields})
    if values.get("sample_s") is None and "horizon_s" in values:
        values["sample_s"] = values["horizon_s"]
    if values.get("tick_size") is None:
        values["tick_size"] = feature_params_from_settings(settings, str(values.get("symbol", ""))).tick_size
    return values


def notebook_defaults(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The values an interactive notebook run gets: what it set (``given``, the highest layer) over
    the same settings and ``calibration.params_file`` layers as ``auroractl calibrate``
    (settings from ``AURORA_HOME``, else the current directory)."""
    settings = load_settings()
    common, per_nb = _layers(settings, [resolve_shipped(settings, settings.calibration.params_file)])
    return _notebook_values(settings, name, common, per_nb, given)


def plan_run(settings: Settings, run_id: str, *, params_file: Path | None = None,
             extra_files: tuple[Path, ...] = (), overrides: Mapping[str, Any] | None = None,
             notebooks: Sequence[str] | None = None) -> RunPlan:
    """Merge the layers, fill the date window and validate the parameters of ``notebooks`` (all
    of them, in order, by default). ``overrides`` are the highest layer, for every notebook that
    takes the key."""
    chosen = list(NOTEBOOKS) if not notebooks else list(notebooks)
    unknown_nb = [n for n in chosen if n not in NOTEBOOKS]
    if unknown_nb:
        raise ParameterError(f"unknown notebook(s) {unknown_nb}; notebooks are {list(NOTEBOOKS)}")
    files = [params_file or resolve_shipped(settings, settings.calibration.params_file), *extra_files]
    common, per_nb = _layers(settings, files)
    known = set().union(*(m.model_fields for m in NOTEBOOKS.values()))
    unknown = sorted(set(overrides or {}) - known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; no notebook takes them "
                             f"(known: {', '.join(sorted(known))})")
    top: dict[str, Any] = {}
    _layer(top, overrides)
    run_dir = settings.path(settings.calibration.runs_dir) / run_id
    top["output_dir"] = str(run_dir)
    top.setdefault("model_version", run_id)
    where = {**common, **top}
    if "start" not in where and "end" not in where:
        if "exchange" not in where or "symbol" not in where:
            raise ParameterError("exchange and symbol must be set (params file or --exchange/--symbol)")
        start, end = default_window(TickStore(where["store"]), where["exchange"], where["symbol"],
                                    settings.calibration.schedule_lookback_days)
        top["start"], top["end"] = start.isoformat(), end.isoformat()
    elif "start" not in where or "end" not in where:
        top.setdefault("start", where.get("end"))
        top.setdefault("end", where.get("start"))
    unknown = sorted(set(common) - known)
    if unknown:
        raise ParameterError(f"unknown common parameter(s) {unknown}; no notebook takes them")
    params: dict[str, NotebookParams] = {}
    for name in sorted(chosen, key=list(NOTEBOOKS).index):
        values = _notebook_values(settings, name, common, per_nb, top)
        if values["tick_size"] is None:  # a symbol without configured filters: the data's tick
            values["tick_size"] = top["tick_size"] = _data_tick(values)
        params[name] = NOTEBOOKS[name].parse(values)
    return RunPlan(run_id, run_dir, params)


def _data_tick(values: Mapping[str, Any]) -> float:
    try:
        start, end = (date.fromisoformat(str(values[k])) for k in ("start", "end"))
        return first_day_tick(TickStore(values["store"]), values["exchange"], values["symbol"], start, end)
    except (KeyError, ValueError) as exc:
        raise ParameterError(f"tick_size: the symbol has no configured filters (symbols.*) and the tick "
                             f"cannot be inferred from the store: {exc}") from None
