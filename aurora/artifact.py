"""Calibration artifact (contract: DESIGN.md §5): JSON schema, sha256, load and save.

The artifact is plain JSON, never pickle. Its ``sha256`` is the hex SHA-256 of the canonical
body: the document without the ``sha256`` key, serialised with sorted keys, no whitespace,
UTF-8 and no NaN/inf. :func:`load_artifact` refuses a file whose schema, version or digest
does not check out, naming the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aurora import signing
from aurora.core.economics import e_pi_bps, round_trip_cost_bps
from aurora.core.metrics import ece_noise_floor, evaluate
from aurora.core.predict import IsotonicMap, LinearScore, PlattMap

SCHEMA = "aurora.calibration/1"


class ArtifactError(ValueError):
    """The artifact is missing, unreadable, tampered with, or not of a supported schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinearScoreModel(_Model):
    kind: Literal["linear"]
    weights: dict[str, float] = Field(min_length=1)
    intercept: float


class IsotonicCalibrator(_Model):
    kind: Literal["isotonic"]
    x: list[float] = Field(min_length=1)
    y: list[float] = Field(min_length=1)


class PlattCalibrator(_Model):
    kind: Literal["platt"]
    a: float
    b: float


class Barriers(_Model):
    tp_bps: float = Field(gt=0)
    sl_bps: float = Field(gt=0)
    horizon_s: float = Field(gt=0)


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
    score_model: LinearScoreModel
    calibrator: Annotated[IsotonicCalibrator | PlattCalibrator, Field(discriminator="kind")]
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
    """A loaded, verified artifact with fast inference: ``score → p → E[Π]``."""

    def __init__(self, body: ArtifactBody, sha256: str, path: Path | None = None) -> None:
        self.body = body
        self.sha256 = sha256
        self.path = path
        self.score_fn = LinearScore(dict(body.score_model.weights), body.score_model.intercept)
        cal = body.calibrator
        try:
            self.calibrate_fn: IsotonicMap | PlattMap = (
                IsotonicMap(tuple(cal.x), tuple(cal.y)) if isinstance(cal, IsotonicCalibrator)
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
    _atomic_write_bytes(json.dumps(document, indent=2, sort_keys=True, allow_nan=False).encode(), p)
    return p


def _explain(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())


# --- Promotion: quality gates, current/previous/history, rollback -------------------------------

CURRENT = "current.json"
PREVIOUS = "previous.json"
HISTORY = "history"


@dataclass(frozen=True)
class Gates:
    """Quality gates a candidate must pass to become current (values from ``calibration.*``).

    ``min_samples`` rows in the hold-out; ECE at most ``ece_noise_multiple·0.4·√(ece_bins/N)``;
    Brier below the base-rate Brier; and, when a current artifact exists and can be scored on
    the same hold-out, a Brier no worse than the current one and an ECE no worse than
    ``max(current ECE, the ECE limit)`` (so noise below the floor never blocks a promotion).
    """

    min_samples: int
    ece_bins: int
    ece_noise_multiple: float
    ece_strategy: Literal["uniform", "quantile"] = "uniform"


@dataclass(frozen=True)
class Holdout:
    """The candidate's final (test) block: feature columns by name and 0/1 outcomes."""

    columns: Mapping[str, np.ndarray]
    y: np.ndarray


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str


@dataclass(frozen=True)
class PromotionResult:
    """Verdict of :func:`promote`: every gate checked, and where things now are."""

    promoted: bool
    checks: tuple[GateCheck, ...]
    candidate: dict[str, float]
    current: dict[str, float] | None
    current_path: Path
    previous_path: Path | None

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": self.promoted, "failed": self.failed,
            "checks": [c.__dict__ for c in self.checks], "candidate": self.candidate,
            "current": self.current, "current_path": str(self.current_path),
            "previous_path": str(self.previous_path) if self.previous_path else None,
        }


def score_holdout(cal: Calibration, holdout: Holdout, bins: int,
                  strategy: Literal["uniform", "quantile"] = "uniform") -> dict[str, float]:
    """Re-score an artifact on a hold-out block: ECE, Brier, base-rate Brier, AUC, n."""
    missing = sorted(cal.score_fn.weights.keys() - holdout.columns.keys())
    if missing:
        raise KeyError(f"hold-out lacks features {missing}")
    p = cal.calibrate_fn.predict(cal.score_fn.predict(holdout.columns))
    return evaluate(p, holdout.y, bins, strategy)


def evaluate_gates(candidate: Calibration, holdout: Holdout, gates: Gates,
                   current: Calibration | None, current_note: str = "") -> tuple[
                       list[GateCheck], dict[str, float], dict[str, float] | None]:
    """Check every gate for ``candidate`` (and against ``current``) on ``holdout``."""
    n = int(np.asarray(holdout.y).size)
    checks = [GateCheck("min_samples", n >= gates.min_samples, n, gates.min_samples,
                        f"{n} hold-out rows, need {gates.min_samples}")]
    if n == 0:
        return checks, {}, None
    cand = score_holdout(candidate, holdout, gates.ece_bins, gates.ece_strategy)
    ece_limit = gates.ece_noise_multiple * ece_noise_floor(gates.ece_bins, n)
    checks.append(GateCheck("ece", cand["ece"] <= ece_limit, cand["ece"], ece_limit,
                            f"ECE {cand['ece']:.4f} vs limit {ece_limit:.4f} "
                            f"({gates.ece_noise_multiple}×0.4·√({gates.ece_bins}/{n}))"))
    checks.append(GateCheck("brier_vs_base", cand["brier"] < cand["brier_base"], cand["brier"],
                            cand["brier_base"],
                            f"Brier {cand['brier']:.5f} vs base rate {cand['brier_base']:.5f}"))
    cur: dict[str, float] | None = None
    if current is None:
        checks.append(GateCheck("vs_current", True, None, None,
                                current_note or "no current artifact: nothing to compare with"))
    else:
        try:
            cur = score_holdout(current, holdout, gates.ece_bins, gates.ece_strategy)
        except KeyError as exc:
            checks.append(GateCheck("vs_current", True, None, None,
                                    f"current not comparable on this hold-out ({exc.args[0]})"))
        else:
            ok_brier = cand["brier"] <= cur["brier"]
            ok_ece = cand["ece"] <= max(cur["ece"], ece_limit)
            checks.append(GateCheck(
                "vs_current", ok_brier and ok_ece, cand["brier"], cur["brier"],
                f"Brier {cand['brier']:.5f} vs current {cur['brier']:.5f}; "
                f"ECE {cand['ece']:.4f} vs max(current {cur['ece']:.4f}, limit {ece_limit:.4f})"))
    return checks, cand, cur


def _atomic_write_bytes(data: bytes, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _promotion_lock(artifacts_dir: Path) -> FileLock:
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(artifacts_dir / ".promote.lock"), timeout=60)


def promote(candidate_path: str | Path, artifacts_dir: str | Path, gates: Gates,
            holdout: Holdout) -> PromotionResult:
    """Make the candidate ``current.json`` if it passes every gate; otherwise change nothing.

    The candidate is verified first (a tampered or truncated file raises :class:`ArtifactError`).
    On promotion the old current becomes ``previous.json`` and the candidate is also kept under
    ``history/``; each file is replaced atomically, so a reader sees the old or the new artifact,
    never a partial one. An unreadable current artifact is reported and does not block the
    candidate (it is the thing a good candidate should replace).
    """
    root = Path(artifacts_dir)
    src = Path(candidate_path)
    load_artifact(src)
    raw = src.read_bytes()
    # verify the very bytes that will be installed (the file could change after the first check)
    try:
        candidate = parse_artifact(json.loads(raw), src)
    except ValueError as exc:
        raise ArtifactError(f"candidate {src} changed while being promoted: {exc}") from None
    with _promotion_lock(root):
        current_path = root / CURRENT
        current: Calibration | None = None
        note = ""
        if current_path.exists():
            try:
                current = load_artifact(current_path)
            except ArtifactError as exc:
                note = f"current artifact is unusable and will be replaced: {exc}"
        checks, cand, cur = evaluate_gates(candidate, holdout, gates, current, note)
        passed = all(c.passed for c in checks)
        previous_path: Path | None = root / PREVIOUS if (root / PREVIOUS).exists() else None
        if passed:
            history = root / HISTORY
            history.mkdir(parents=True, exist_ok=True)
            stamp = candidate.created_at.strftime("%Y%m%dT%H%M%SZ")
            _atomic_write_bytes(raw, history / f"{stamp}-{candidate.sha256[:12]}.json")
            if current_path.exists():
                _atomic_write_bytes(current_path.read_bytes(), root / PREVIOUS)
                previous_path = root / PREVIOUS
            _atomic_write_bytes(raw, current_path)
        return PromotionResult(passed, tuple(checks), cand, cur, current_path, previous_path)


def rollback(artifacts_dir: str | Path) -> Calibration:
    """Swap ``previous.json`` and ``current.json`` (so a second rollback undoes the first).

    Refuses, changing nothing, when there is no valid previous artifact.
    """
    root = Path(artifacts_dir)
    with _promotion_lock(root):
        prev_path, cur_path = root / PREVIOUS, root / CURRENT
        if not prev_path.exists():
            raise ArtifactError(f"no previous artifact in {root} to roll back to")
        load_artifact(prev_path)
        prev_raw = prev_path.read_bytes()
        if cur_path.exists():
            _atomic_write_bytes(cur_path.read_bytes(), prev_path)
        _atomic_write_bytes(prev_raw, cur_path)
        return load_artifact(cur_path)
