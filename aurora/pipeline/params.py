"""Notebook parameters, validated by pydantic at the top of each notebook and by the pipeline.

Each notebook has a ``parameters``-tagged cell naming its parameters, most of them ``None``;
papermill injects the run's values after it. The cell after that calls
:meth:`NotebookParams.from_namespace`, which collects every name defined since the snapshot taken
before the parameters cell, fills the ``None`` ones from the same layers ``auroractl calibrate``
uses (settings, then ``calibration.params_file``: :func:`aurora.pipeline.plan.notebook_defaults`),
so an interactive run and a pipeline run agree, and validates them: an unknown name or an
ill-typed value stops the run with a :class:`ParameterError` naming it.

Units: barriers in bps of the entry price, horizons and embargo in seconds, costs in bps per leg.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aurora.core.features import FeatureParams
from aurora.core.problems import problems


class ParameterError(ValueError):
    """A notebook parameter is unknown or has a bad value; the message names it."""


class NotebookParams(BaseModel):
    """Parameters shared by every notebook: which data to read and where to write results."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    notebook: ClassVar[str] = ""

    store: str = Field(min_length=1, description="tick store root (hive-partitioned Parquet)")
    exchange: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    start: date
    end: date
    output_dir: str = Field(min_length=1, description="run directory: figures and results go here")
    windows_s: list[float] = Field(min_length=1, description="feature windows, seconds")
    obi_levels: int = Field(ge=1, description="depth levels used by obi_w")
    obi_decay: float = Field(ge=0, description="lambda of the obi_w level weights exp(-lambda (i-1))")
    impact_window_s: float = Field(gt=0, description="trailing price-impact window of absorption, s")
    microprice_imbalance_buckets: int = Field(ge=2)
    microprice_spread_buckets: int = Field(ge=1)
    microprice_horizon_s: float = Field(gt=0)
    tick_size: float | None = Field(gt=0, description="price tick; None: inferred from the first "
                                    "day's quotes (the symbol's tick from settings.symbols when known)")
    stride: int = Field(ge=1, description="keep every n-th bbo event (labels overlap heavily)")
    sample_s: float = Field(ge=0, description="keep at most one sample per this many seconds "
                            "(the first kept event of each interval); 0 = no time thinning")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"expected a date YYYY-MM-DD, got {v!r}") from None
        return v

    @field_validator("windows_s")
    @classmethod
    def _positive_windows(cls, v: list[float]) -> list[float]:
        if any(w <= 0 for w in v):
            raise ValueError("windows must be positive seconds")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> Self:
        """Validate a mapping of parameters, raising :class:`ParameterError` naming each problem."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ParameterError(describe(exc, cls)) from None

    @classmethod
    def from_namespace(cls, namespace: MutableMapping[str, Any], before: Iterable[str]) -> Self:
        """Validate the names a notebook defined since ``before`` (its parameters and the
        papermill-injected values); names starting with ``_`` are ignored.

        The parameter names found are remembered in ``namespace["_param_names"]`` (the snapshot
        cell resets it to ``None``), so re-running the validation cell in JupyterLab after later
        cells defined more names still validates only the parameters.
        """
        names = namespace.get("_param_names")
        if names is None:
            seen = set(before)
            names = {k for k in namespace if k not in seen and not k.startswith("_")}
            namespace["_param_names"] = names
        values = {k: namespace[k] for k in names if k in namespace}
        if any(v is None for v in values.values()):
            from aurora.pipeline.plan import notebook_defaults  # plan imports this module

            filled = notebook_defaults(cls.notebook, values)
            values = {**{k: v for k, v in values.items() if k not in cls.model_fields}, **filled}
        return cls.parse(values)

    def feature_params(self) -> FeatureParams:
        """The feature parameters of a new calibration (exported into its artifact)."""
        return FeatureParams.from_settings(self, tick_size=self.tick_size)

    def output_path(self) -> Path:
        out = Path(self.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        return out

    def for_papermill(self) -> dict[str, Any]:
        """JSON-friendly values (dates as ISO strings) to inject with papermill."""
        return self.model_dump(mode="json")


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line per problem, naming the parameter (and the notebook)."""
    where = f" for {model.notebook}" if getattr(model, "notebook", "") else ""
    lines = []
    for p in problems(exc.errors()):
        name = p.where or "<parameters>"
        if p.kind == "unknown":
            known = ", ".join(sorted(model.model_fields))
            lines.append(f"unknown parameter {name!r}{where} (known: {known})")
        elif p.kind == "missing":
            lines.append(f"parameter {name!r}{where} is required")
        else:
            lines.append(f"parameter {name!r}{where}: {p.message} (got {p.value!r})")
    return "; ".join(lines)


class FeatureStudyParams(NotebookParams):
    """``01_feature_study``: feature distributions, forward returns, barrier hit rates, regimes."""

    notebook: ClassVar[str] = "01_feature_study"

    features: list[str] = Field(min_length=1, description="feature columns to study")
    horizons_s: list[float] = Field(min_length=1, description="forward-return horizons, seconds")
    quantiles: int = Field(ge=2, le=100, description="feature quantile buckets for hit rates")
    tp_bps: float = Field(gt=0)
    sl_bps: float = Field(gt=0)
    horizon_s: float = Field(gt=0)


class CalibrateParams(NotebookParams):
    """``02_calibrate_predict_p``: score model, calibrator, evaluation, micro-price, artifact."""

    notebook: ClassVar[str] = "02_calibrate_predict_p"

    features: list[str] = Field(min_length=1, description="score model inputs")
    side: Literal["long", "short"]
    tp_bps: float = Field(gt=0)
    sl_bps: float = Field(gt=0)
    horizon_s: float = Field(gt=0)
    embargo_s: float = Field(ge=0)
    timeouts: Literal["drop", "loss"] = Field(
        description="barrier timeouts: drop them (p = P(TP before SL)) or count them as losses")
    fractions: list[float] = Field(min_length=3, max_length=3,
                                   description="time shares of the fit / calibrate / test blocks")
    C: float = Field(gt=0, description="inverse L2 strength of the logistic score model")
    calibrator: Literal["auto", "isotonic", "platt"]
    calibrator_holdout_fraction: float = Field(gt=0, lt=1)
    ece_bins: int = Field(ge=2)
    ece_strategy: Literal["uniform", "quantile"]
    fee_bps: float = Field(ge=0)
    slippage_bps: float = Field(ge=0)
    model_version: str = Field(min_length=1)

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(f <= 0 for f in v) or abs(sum(v) - 1.0) > 1e-9:
            raise ValueError("fractions must be three positive shares summing to 1")
        return v


NOTEBOOKS: dict[str, type[NotebookParams]] = {
    FeatureStudyParams.notebook: FeatureStudyParams,
    CalibrateParams.notebook: CalibrateParams,
}
