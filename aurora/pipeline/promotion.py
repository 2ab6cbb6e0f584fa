"""Promotion of a calibration artifact: quality gates, current / previous / history, rollback.

A candidate becomes ``current.json`` in the artifacts directory only if it passes every gate of
:class:`Gates` on its own hold-out block (and is no worse than the current artifact there); the old
current is kept as ``previous.json`` and every promoted artifact under ``history/``. Every file
is replaced atomically under a lock, so readers (the API's hot reload) see the old or the new
artifact, never a partial one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from filelock import FileLock

from aurora.artifact import ArtifactError, Calibration, load_artifact, parse_artifact
from aurora.core.metrics import ece_noise_floor, evaluate
from aurora.fileio import atomic_write_bytes

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
    ece_strategy: Literal["uniform", "quantile"]


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
            atomic_write_bytes(raw, history / f"{stamp}-{candidate.sha256[:12]}.json")
            if current_path.exists():
                atomic_write_bytes(current_path.read_bytes(), root / PREVIOUS)
                previous_path = root / PREVIOUS
            atomic_write_bytes(raw, current_path)
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
            atomic_write_bytes(cur_path.read_bytes(), prev_path)
        atomic_write_bytes(prev_raw, cur_path)
        return load_artifact(cur_path)
