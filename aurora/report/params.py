"""The report notebook's parameters (``notebooks/03_run_report.ipynb``), validated by pydantic.

``auroractl report`` passes every value; run interactively, a ``None`` is filled from the settings
(``configs/*.yaml`` under ``AURORA_HOME``): the reliability bins as the calibration's ECE bins,
so the run's reliability diagram reads like the calibration's.
"""

from __future__ import annotations

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
    def from_settings(cls, settings: Settings, **values: Any) -> Self:
        """``values`` over the settings' defaults; a clear :class:`ReportError` naming any bad one."""
        run_dir = values.get("run_dir")
        defaults = {"summary_json": str(Path(run_dir) / SUMMARY) if run_dir else None,
                    "reliability_bins": settings.calibration.ece_bins,
                    "reliability_strategy": settings.calibration.ece_strategy,
                    "time_buckets": settings.report.time_buckets}
        merged = {**defaults, **{k: v for k, v in values.items() if v is not None or k not in defaults}}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise ReportError(describe(exc, cls)) from None

    @classmethod
    def resolve(cls, **values: Any) -> Self:
        """The notebook's parameters, ``None`` ones from :func:`aurora.config.load_settings`."""
        return cls.from_settings(load_settings(), **values)
