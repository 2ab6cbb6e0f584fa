"""Calibration artifact (contract: DESIGN.md §5): JSON schema, sha256, load and save.

Promotion (gates, current / previous, rollback) is :mod:`aurora.pipeline.promotion`.

The artifact is plain JSON, never pickle. Its ``sha256`` is the hex SHA-256 of the canonical
body: the document without the ``sha256`` key, serialised with sorted keys, no whitespace,
UTF-8 and no NaN/inf. :func:`load_artifact` refuses a file whose schema, version or digest
does not check out, naming the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aurora import signing
from aurora.config import FeatureSettings
from aurora.core.economics import e_pi_bps, round_trip_cost_bps
from aurora.core.features import FeatureParams
from aurora.core.predict import IsotonicMap, LinearScore, PlattMap
from aurora.core.problems import one_line
from aurora.fileio import atomic_write_bytes

SCHEMA = "aurora.calibration/1"


class ArtifactError(ValueError):
    """The artifact is missing, unreadable, tampered with, or not of a supported schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Wire models (the JSON document); the estimators that produce them live in aurora.core.calibration
# and the fast maps that evaluate them in aurora.core.predict.


class LinearScoreDoc(_Model):
    kind: Literal["linear"]
    weights: dict[str, float] = Field(min_length=1)
    intercept: float


class IsotonicDoc(_Model):
    kind: Literal["isotonic"]
    x: list[float] = Field(min_length=1)
    y: list[float] = Field(min_length=1)


class PlattDoc(_Model):
    kind: Literal["platt"]
    a: float
    b: float


class Barriers(_Model):
    tp_bps: float = Field(gt=0)
    sl_bps: float = Field(gt=0)
    horizon_s: float = Field(gt=0)


class FeatureParamsDoc(FeatureSettings):
    """The complete feature parameters the model was fitted on: the ``features.*`` settings of the
    calibration and the tick size (price units) its features were computed with."""

    tick_size: float = Field(gt=0)


def feature_params_document(params: FeatureParams) -> dict[str, Any]:
    """The ``feature_params`` object of an artifact (JSON types) for ``params``; an artifact needs
    the tick size the features were computed with, so ``tick_size=None`` fails its validation."""
    return {f.name: (list(getattr(params, f.name)) if f.name == "windows_s" else getattr(params, f.name))
            for f in fields(params) if f.init}


class Costs(_Model):
    fee_bps: float = Field(ge=0)
    slippage_bps: float = Field(ge=0)


class Metrics(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    ece: float = Field(ge=0)
    brier: float = Field(ge=0)
    brier_base: float = Field(ge=0)
    auc: float = Field(ge=0, le=1)
    n_train: int = Field(ge=0)
    n_test: int = Field(ge=0)


class DataInfo(_Model):
    rows: int = Field(ge=0)
    start: str
    end: str
    sha256: str


class ArtifactBody(_Model):
    """Everything in the artifact except its own digest."""

    schema_: Literal["aurora.calibration/1"] = Field(alias="schema")
    created_at: datetime
    model_version: str = Field(min_length=1)
    symbols: list[str] = Field(min_length=1)
    features: list[str] = Field(min_length=1)
    score_model: LinearScoreDoc
    calibrator: Annotated[IsotonicDoc | PlattDoc, Field(discriminator="kind")]
    feature_params: FeatureParamsDoc
    microprice: dict[str, Any] | None = None
    barriers: Barriers
    costs: Costs
    metrics: Metrics
    data: DataInfo
    params: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("created_at must carry a timezone (UTC)")
        return v.astimezone(UTC)


def canonical_json(body: Mapping[str, Any]) -> bytes:
    """The canonical serialisation the digest is taken over."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


class Calibration:
    """A loaded, verified artifact with fast inference: ``score → p → E[Π]``.

    :attr:`feature_params` are the features' parameters every consumer (features CLI, notebooks,
    demo, runner) must compute the model's inputs with, never the local configuration's.
    """

    def __init__(self, body: ArtifactBody, sha256: str, path: Path | None = None) -> None:
        self.body = body
        self.sha256 = sha256
        self.path = path
        try:
            self.feature_params = FeatureParams(**body.feature_params.model_dump())
        except ValueError as exc:
            raise ArtifactError(f"feature_params are invalid: {exc}") from None
        unknown = sorted(set(body.score_model.weights) - set(self.feature_params.names))
        if unknown:
            raise ArtifactError(f"score_model uses {unknown}, which its feature_params do not compute "
                                f"({', '.join(self.feature_params.names)})")
        self.score_fn = LinearScore(dict(body.score_model.weights), body.score_model.intercept)
        cal = body.calibrator
        try:
            self.calibrate_fn: IsotonicMap | PlattMap = (
                IsotonicMap(tuple(cal.x), tuple(cal.y)) if isinstance(cal, IsotonicDoc)
                else PlattMap(cal.a, cal.b)
            )
        except ValueError as exc:
            raise ArtifactError(f"calibrator is invalid: {exc}") from exc
        self.costs_bps = round_trip_cost_bps(body.costs.fee_bps, body.costs.slippage_bps)

    @property
    def model_version(self) -> str:
        return self.body.model_version

    @property
    def created_at(self) -> datetime:
        return self.body.created_at

    def score(self, features: Mapping[str, float]) -> float:
        return self.score_fn(features)

    def predict_p(self, score: float) -> float:
        """Calibrated probability that the take-profit barrier is hit first, in [0, 1]."""
        return self.calibrate_fn(score)

    def e_pi_bps(self, p: float) -> float:
        """Expected return (bps, after round-trip costs) at probability ``p`` with these barriers."""
        b = self.body.barriers
        return e_pi_bps(p, b.tp_bps, b.sl_bps, self.costs_bps)

    def to_document(self) -> dict[str, Any]:
        doc = self.body.model_dump(mode="json", by_alias=True)
        doc["sha256"] = self.sha256
        return doc


def build_document(body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``body`` (without ``sha256``) and return the full document with its digest."""
    try:
        model = ArtifactBody.model_validate(dict(body))
    except ValidationError as exc:
        raise ArtifactError(_explain(exc)) from None
    clean = model.model_dump(mode="json", by_alias=True)
    return {**clean, "sha256": digest(clean)}


def parse_artifact(doc: Any, path: Path | None = None, key: bytes | None = None,
                   require_signature: bool = False) -> Calibration:
    """Verify a parsed JSON document and return the :class:`Calibration` it describes.
    ``key``/``require_signature``: its signature's check (:func:`aurora.signing.verify`)."""
    where = f" in {path}" if path else ""
    if not isinstance(doc, dict):
        raise ArtifactError(f"artifact{where} must be a JSON object")
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise ArtifactError(f"artifact{where} has schema {schema!r}; this version reads {SCHEMA!r}")
    claimed = doc.get("sha256")
    if not isinstance(claimed, str):
        raise ArtifactError(f"artifact{where} has no sha256")
    body = {k: v for k, v in doc.items() if k not in ("sha256", signing.FIELD)}
    try:
        actual = digest(body)
    except ValueError as exc:
        raise ArtifactError(f"artifact{where} holds a non-finite number: {exc}") from None
    if actual != claimed:
        raise ArtifactError(f"artifact{where} fails its sha256 check (tampered or corrupted): "
                            f"claims {claimed[:12]}…, body hashes to {actual[:12]}…")
    try:
        signing.verify(doc, key, require_signature)
    except signing.SignatureError as exc:
        raise ArtifactError(f"artifact{where} is refused: {exc}") from None
    try:
        model = ArtifactBody.model_validate(body)
    except ValidationError as exc:
        raise ArtifactError(f"artifact{where}: {_explain(exc)}") from None
    return Calibration(model, claimed, path)


def load_artifact(path: str | Path, key: bytes | None = None, require_signature: bool = False) -> Calibration:
    """Read and verify an artifact file (schema, version, sha256, signature, field types). ``key``:
    default the configured ``AURORA_ARTIFACT_KEY`` (:func:`aurora.signing.configured_key`)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {p}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"artifact {p} is not valid JSON (truncated?): {exc}") from None
    return parse_artifact(doc, p, key or _configured_key(), require_signature)


def _configured_key() -> bytes | None:
    try:
        return signing.configured_key()
    except signing.SignatureError as exc:
        raise ArtifactError(str(exc)) from None


def save_artifact(document: Mapping[str, Any], path: str | Path, key: bytes | None = None) -> Path:
    """Atomically write a document produced by :func:`build_document` (verified first), signed with
    ``key`` (default: the configured ``AURORA_ARTIFACT_KEY``; unsigned without one)."""
    key = key or _configured_key()
    document = signing.sign(document, key) if key else document
    parse_artifact(dict(document), key=key)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(json.dumps(document, indent=2, sort_keys=True, allow_nan=False).encode(), p)
    return p


def _explain(exc: ValidationError) -> str:
    return one_line(exc.errors())
