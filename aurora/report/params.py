"""The report notebook's parameters (``notebooks/03_run_report.ipynb``), validated by pydantic.

``auroractl report`` passes every value; run interactively, a ``None`` is filled from the settings
(``configs/*.yaml`` under ``AURORA_HOME``): the reliability bins as the calibration's ECE bins,
so the run's reliability diagram reads like the calibration's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aurora.config import Settings, load_settings
from aurora.pipeline.params import describe
from aurora.report.logs import ReportError

NOTEBOOK = "03_run_report"
SUMMARY = "report.json"   # beside the run's logs when the notebook runs on its own


class ReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    notebook: ClassVar[str] = NOTEBOOK

    run_dir: str = Field(min_length=1, description="the run directory: a logging dir or a one-click run dir")
    run_id: str | None = Field(description="the run to report; None: the directory's last runner run")
    summary_json: str = Field(min_length=1, description="where the report's figures go as JSON")
    reliability_bins: int = Field(ge=2, description="bins of predicted p (calibration.ece_bins)")
    reliability_strategy: Literal["uniform", "quantile"] = Field(description="calibration.ece_strategy")
    time_buckets: int = Field(ge=1, description="at most about this many time buckets (report.time_buckets)")

    @classmethod
    def from_settings(cls, settings: Settings | None, **values: Any) -> Self:
        """``values`` over the settings' defaults (``None`` settings: :func:`load_settings`, read
        only when a value is missing); a :class:`ReportError` naming any bad value."""
        run_dir = values.get("run_dir")
        missing = [k for k in _FROM_SETTINGS if values.get(k) is None]
        if missing and settings is None:
            settings = load_settings()
        defaults = {"summary_json": str(Path(run_dir) / SUMMARY) if run_dir else None,
                    **({k: _FROM_SETTINGS[k](settings) for k in missing} if settings is not None else {})}
        merged = {**values, **{k: v for k, v in defaults.items() if values.get(k) is None}}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ReportError(describe(exc, cls)) from None

    @classmethod
    def resolve(cls, **values: Any) -> Self:
        """The notebook's parameters; ``None`` ones from the settings under ``AURORA_HOME``."""
        return cls.from_settings(None, **values)


#: parameters whose ``None`` means "as the settings say"
_FROM_SETTINGS: dict[str, Callable[[Settings], Any]] = {
    "reliability_bins": lambda s: s.calibration.ece_bins,
    "reliability_strategy": lambda s: s.calibration.ece_strategy,
    "time_buckets": lambda s: s.report.time_buckets,
}
