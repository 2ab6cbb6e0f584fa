"""Preparing a workspace for a replay: a synthetic market in the tick store, and a calibrated,
promoted artifact. ``auroractl demo`` and ``auroractl one-click`` (and ``preflight --calibrate``)
share these steps; each reports what it does through ``say`` (one line per call).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from aurora.config import Settings
from aurora.events import EventLog
from aurora.pipeline.execute import PipelineError, run_pipeline
from aurora.pipeline.lock import PipelineLockedError
from aurora.pipeline.params import ParameterError
from aurora.pipeline.plan import plan_run
from aurora.ticks.location import rooted
from aurora.ticks.store import TickStore
from aurora.ticks.synth import DEFAULT_START, synthesize_to_store

Say = Callable[[str], None]


class PrepareError(Exception):
    """A preparation step failed; the message says why and what to do."""


def synth_window(hours: float) -> tuple[date, date]:
    """The UTC days a synthetic market of ``hours`` from the default start covers."""
    start = DEFAULT_START.date()
    end = (DEFAULT_START + timedelta(hours=hours) - timedelta(microseconds=1)).date()
    return start, end


def synthesize(settings: Settings, exchange: str, symbol: str, *, hours: float, seed: int, events: EventLog,
               say: Say) -> tuple[date, date]:
    """A deterministic synthetic market of ``hours`` in the workspace's tick store (skipped when its
    days are already there); returns its first and last UTC day."""
    if not (0 < hours <= 24 * 31):
        raise PrepareError(f"synthetic hours must be in (0, 744], got {hours}")
    store = TickStore(rooted(settings.storage.ticks_dir, settings.path), settings.storage.parquet_codec)
    start, end = synth_window(hours)
    have = set(store.dates("bbo", exchange, symbol))
    wanted = {start + timedelta(days=i) for i in range((end - start).days + 1)}
    if wanted <= have:
        say(f"synthetic market already in {store.root} ({start} → {end})")
        return start, end
    say(f"synthesising {hours:g} h of {symbol} (seed {seed}) into {store.root} …")
    rep = synthesize_to_store(store, exchange, symbol, hours, seed)
    events.emit("prepare.synth", symbol=symbol, hours=hours, seed=seed, rows=rep.rows)
    say(f"rows: {', '.join(f'{k} {v:,}' for k, v in rep.rows.items())}")
    return start, end


def calibrate(settings: Settings, events: EventLog, say: Say, overrides: Mapping[str, Any]) -> None:
    """Run the calibration notebooks with papermill (``overrides``: symbol, exchange, start, end;
    without a window, the latest ``calibration.schedule_lookback_days`` in the store) and promote
    the candidate if it passes the quality gates; a run that is not promoted is an error."""
    say("calibrating with papermill (notebooks 01, 02) …")
    try:
        plan = plan_run(settings, events.run_id, overrides=dict(overrides))
        result = run_pipeline(settings, plan, events, say)
    except (ParameterError, PipelineError, PipelineLockedError) as exc:
        raise PrepareError(str(exc)) from None
    if result.rejected:
        raise PrepareError(f"calibration not promoted: {result.rejected}")
    test = result.metrics.get("test", {})
    verdict = "promoted" if result.promotion and result.promotion.promoted else "not promoted"
    say(f"hold-out: ECE {test.get('ece', math.nan):.4f}, Brier {test.get('brier', math.nan):.5f} "
        f"(base {test.get('brier_base', math.nan):.5f}), AUC {test.get('auc', math.nan):.3f}; "
        f"candidate {verdict}")
    if result.promotion and not result.promotion.promoted:
        say(f"failed gates: {', '.join(result.promotion.failed)}")
