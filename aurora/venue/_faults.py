"""Fault injection at the venue's edge, from a YAML file (``auroractl venue --faults FILE``).

Every fault fires either with a ``rate`` (probability per eligible event: an HTTP request, a signed
request, an outgoing websocket message, a depth diff, a depth snapshot) or on a ``schedule``
(``at_s``: seconds after the venue started; ``every_s``: period in seconds), each fault with its own
random stream derived from ``seed``, so a run is reproducible request for request. Example::

    seed: 7
    faults:
      latency:           {rate: 1.0, dist: lognormal, median_ms: 2.0, sigma: 0.5}  # or uniform/fixed
      drop_after_accept: {rate: 0.02}            # POST /api/v3/order accepted, then the connection is cut
      http_5xx:          {rate: 0.01, status: 503}
      http_429:          {rate: 0.01, retry_after_s: 1}
      http_418:          {every_s: 60, retry_after_s: 2}   # an IP ban: every request until then gets 418
      clock_skew:        {at_s: [10], skew_ms: 5000}       # the venue's clock jumps (toggles back next time)
      ws_disconnect:     {rate: 0.001}           # per outgoing websocket message
      depth_gap:         {rate: 0.01}            # per @depth diff: U skips one id
      stale_snapshot:    {rate: 0.2, age_diffs: 5}  # per REST depth: a snapshot that many diffs old

``routes`` (HTTP faults) limits a fault to some requests, e.g. ``["POST /api/v3/order"]``; by default
HTTP faults apply to every ``/api/v3`` request. Counts of every injected fault are kept in
:attr:`FaultInjector.counts` (served at ``/venue/stats``).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aurora.core.problems import one_line

KINDS = ("latency", "drop_after_accept", "http_5xx", "http_429", "http_418", "clock_skew",
         "ws_disconnect", "depth_gap", "stale_snapshot")


class FaultError(ValueError):
    """The faults file is unreadable or wrong; the message names the key and the fix."""


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float | None = Field(default=None, ge=0, le=1)
    at_s: tuple[float, ...] = ()
    every_s: float | None = Field(default=None, gt=0)
    routes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_trigger(self) -> _Trigger:
        if self.rate is None and not self.at_s and self.every_s is None:
            raise ValueError("give a rate (0..1) or a schedule (at_s: [seconds], every_s: seconds)")
        return self


class Latency(_Trigger):
    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: float = Field(default=0.0, ge=0)          # fixed
    low_ms: float = Field(default=0.0, ge=0)      # uniform
    high_ms: float = Field(default=0.0, ge=0)
    median_ms: float = Field(default=1.0, gt=0)   # lognormal
    sigma: float = Field(default=0.5, ge=0)


class Http5xx(_Trigger):
    status: int = Field(default=503, ge=500, le=599)


class RetryAfter(_Trigger):
    retry_after_s: int = Field(default=1, ge=1)


class ClockSkew(_Trigger):
    skew_ms: int = 5000


class StaleSnapshot(_Trigger):
    age_diffs: int = Field(default=5, ge=1)


class FaultsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    seed: int = 0
    faults: dict[str, dict] = Field(default_factory=dict)


_MODELS: dict[str, type[_Trigger]] = {
    "latency": Latency, "drop_after_accept": _Trigger, "http_5xx": Http5xx, "http_429": RetryAfter,
    "http_418": RetryAfter, "clock_skew": ClockSkew, "ws_disconnect": _Trigger, "depth_gap": _Trigger,
    "stale_snapshot": StaleSnapshot,
}


class FaultInjector:
    """Decides, event by event, whether each configured fault fires. ``now_s`` = seconds since start."""

    def __init__(self, faults: dict[str, _Trigger], seed: int) -> None:
        self.faults = faults
        self.counts: dict[str, int] = dict.fromkeys(faults, 0)
        self._rng = {k: random.Random(hashlib.sha256(f"{seed}:{k}".encode()).digest()) for k in faults}
        self._next_due: dict[str, int] = dict.fromkeys(faults, 0)  # index into the schedule

    @classmethod
    def none(cls) -> FaultInjector:
        return cls({}, 0)

    def get(self, kind: str) -> _Trigger | None:
        return self.faults.get(kind)

    def fires(self, kind: str, now_s: float, route: str | None = None) -> bool:
        """Whether ``kind`` fires for this event (a scheduled fault fires once per due time)."""
        f = self.faults.get(kind)
        if f is None or (route is not None and f.routes and route not in f.routes):
            return False
        hit = False
        if f.at_s or f.every_s is not None:
            due = self._due_time(f, self._next_due[kind])
            if due is not None and now_s >= due:
                self._next_due[kind] += 1
                hit = True
        if not hit and f.rate is not None:
            hit = self._rng[kind].random() < f.rate
        if hit:
            self.counts[kind] += 1
        return hit

    @staticmethod
    def _due_time(f: _Trigger, i: int) -> float | None:
        if f.at_s:
            return f.at_s[i] if i < len(f.at_s) else None
        assert f.every_s is not None
        return (i + 1) * f.every_s

    def latency_s(self, now_s: float, route: str) -> float:
        """Added latency for this request (0 when the fault does not fire)."""
        f = self.faults.get("latency")
        if not isinstance(f, Latency) or not self.fires("latency", now_s, route):
            return 0.0
        rng = self._rng["latency"]
        if f.dist == "fixed":
            return f.ms / 1e3
        if f.dist == "uniform":
            return rng.uniform(f.low_ms, f.high_ms) / 1e3
        return rng.lognormvariate(0.0, f.sigma) * f.median_ms / 1e3


def load_faults(path: Path | str | None) -> FaultInjector:
    """Parse a faults YAML file (see the module docstring); None means no faults."""
    if path is None:
        return FaultInjector.none()
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise FaultError(f"cannot read faults file {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise FaultError(f"faults file {p} is not valid YAML: {exc}") from None
    try:
        spec = FaultsFile.model_validate(raw)
    except ValidationError as exc:
        raise FaultError(f"faults file {p}: {_describe(exc)} (top-level keys: seed, faults)") from None
    faults: dict[str, _Trigger] = {}
    for kind, body in spec.faults.items():
        model = _MODELS.get(kind)
        if model is None:
            raise FaultError(f"faults file {p}: unknown fault {kind!r}; kinds are {', '.join(KINDS)}")
        try:
            faults[kind] = model.model_validate(body or {})
        except ValidationError as exc:
            raise FaultError(f"faults file {p}: faults.{kind}: {_describe(exc)}") from None
    return FaultInjector(faults, spec.seed)


def _describe(exc: ValidationError) -> str:
    return one_line(exc.errors(), whole="(value)")
