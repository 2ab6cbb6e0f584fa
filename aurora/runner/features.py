"""The runner's feature parameters, taken from the calibration artifact (DESIGN.md §5: research
and live build features from the artifact, never from local config)."""

from __future__ import annotations

from dataclasses import fields

from aurora.artifact import ArtifactError, Calibration
from aurora.core.features import FeatureParams
from aurora.core.microprice import MicropriceModel


def feature_params(cal: Calibration, tick_size: float) -> FeatureParams:
    """The artifact's feature parameters (its notebook ``params``: ``windows_s`` and any other
    :class:`FeatureParams` field it records; the rest are the definitions' own) with the
    exchange's price ``tick_size``."""
    known = {f.name for f in fields(FeatureParams) if f.init and f.name != "tick_size"}
    given = {k: v for k, v in cal.body.params.items() if k in known and v is not None}
    if "windows_s" in given:
        given["windows_s"] = tuple(given["windows_s"])
    try:
        params = FeatureParams(**given, tick_size=tick_size)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"artifact feature parameters are invalid: {exc}") from None
    missing = sorted(set(cal.body.features) - set(params.names))
    if missing:
        raise ArtifactError(f"artifact needs features {missing} that its parameters do not define "
                            f"(they define {list(params.names)})")
    return params


def microprice_model(cal: Calibration) -> MicropriceModel | None:
    """The artifact's micro-price model, when it ships one."""
    doc = cal.body.microprice
    if doc is None:
        return None
    try:
        return MicropriceModel.from_dict(doc)
    except ValueError as exc:
        raise ArtifactError(f"artifact micro-price model: {exc}") from None
