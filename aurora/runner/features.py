"""The runner's feature parameters, taken from the calibration artifact (DESIGN.md §5: research
and live build features from the artifact, never from local config)."""

from __future__ import annotations

import math

from aurora.artifact import ArtifactError, Calibration
from aurora.core.features import FeatureParams
from aurora.core.microprice import MicropriceModel


def feature_params(cal: Calibration, tick_size: float) -> FeatureParams:
    """The artifact's feature parameters, the ones its model was fitted on, for a symbol whose
    exchange price tick is ``tick_size``; a different tick would change tick-based features
    (micro-price buckets, absorption), so it is refused."""
    params = cal.feature_params
    if params.tick_size is not None and not math.isclose(params.tick_size, tick_size, rel_tol=1e-9):
        raise ArtifactError(f"the artifact's features were computed with a price tick of "
                            f"{params.tick_size:g}, but the exchange's tick is {tick_size:g}: recalibrate "
                            "on data with the current tick (or fix symbols: in the config)")
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
