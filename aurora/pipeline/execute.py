"""The calibration pipeline: run the notebooks in order with papermill, then gate and promote.

A run lives in ``{runs_dir}/{run_id}/``: the sample table ``features.parquet`` (computed once,
before the notebooks, which both read it: :mod:`aurora.pipeline.dataset`), the executed notebooks,
their PNG figures, ``feature_study.json``, ``metrics.json``, the candidate artifact
``candidate.json``, the hold-out block ``holdout.parquet`` the gates re-score, ``promotion.json``
and ``run.json`` (a summary).
Only one run at a time holds the lock (:mod:`aurora.pipeline.lock`). A crashed notebook fails
the run with the notebook, cell and error named, and nothing is promoted; the current artifact
changes only through :func:`aurora.pipeline.promotion.promote`, which applies the quality gates. Data that
cannot be calibrated (:class:`aurora.pipeline.calibrate.InsufficientDataError`) is a verdict, not a
crash: the run finishes unpromoted with the reason in ``promotion.json`` (``failed: ["data"]``).

Events (service ``calibrate``): ``calibrate.start``, ``calibrate.features``, ``calibrate.notebook``,
``calibrate.promotion``, ``calibrate.finish``, ``calibrate.failure`` and ``calibrate.skipped``
(lock held by another run).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import papermill as pm
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager
from traitlets import CaselessStrEnum

from aurora.artifact import load_artifact
from aurora.config import Settings
from aurora.events import EventLog
from aurora.pipeline.calibrate import InsufficientDataError
from aurora.pipeline.dataset import write_run_table
from aurora.pipeline.lock import PipelineLockedError, run_lock
from aurora.pipeline.plan import RunPlan, resolve_shipped
from aurora.pipeline.promotion import Gates, Holdout, PromotionResult, promote
from aurora.pipeline.rundir import CANDIDATE, HOLDOUT, METRICS, PROMOTION, SUMMARY, TABLE
from aurora.ticks.fanout import DaysFailedError, FanoutError

Progress = Callable[[str], None]


class PipelineError(RuntimeError):
    """A run failed; the message names the notebook, cell and error where there is one."""


class DataVerdictError(PipelineError):
    """A notebook found the data unfit to calibrate (too few samples, one outcome class): the run
    is not promoted, and this is not an error of the pipeline."""


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    candidate: Path
    metrics: dict[str, Any]
    promotion: PromotionResult | None
    timings_s: dict[str, float] = field(default_factory=dict)
    rejected: str | None = None  # why the data could not be calibrated (not promoted)


def check_kernel(name: str) -> Path:
    """The kernel's spec directory; a clear error when the named kernel is not installed."""
    try:
        return Path(KernelSpecManager().get_kernel_spec(name).resource_dir)
    except NoSuchKernel:
        raise PipelineError(f"Jupyter kernel {name!r} is not installed: run "
                            f"`python -m ipykernel install --sys-prefix --name {name}` "
                            "(make setup does this)") from None


def gates_from(settings: Settings) -> Gates:
    c = settings.calibration
    return Gates(min_samples=c.min_samples, ece_bins=c.ece_bins, ece_noise_multiple=c.ece_noise_multiple,
                 ece_strategy=c.ece_strategy)


def load_holdout(path: Path) -> Holdout:
    """The hold-out block a notebook saved: feature columns plus the 0/1 column ``y``."""
    frame = pd.read_parquet(path)
    if "y" not in frame:
        raise PipelineError(f"{path} has no outcome column 'y'")
    cols = {c: frame[c].to_numpy(np.float64) for c in frame.columns if c != "y"}
    return Holdout(cols, frame["y"].to_numpy(np.float64))


def _first_line(source: str) -> str:
    line = next((s for s in source.splitlines() if s.strip() and not s.startswith("#")), "")
    return line if len(line) <= 80 else line[:77] + "..."


class IpcKernelManager(KernelManager):
    """Kernels talk over Unix sockets in the Jupyter runtime dir instead of loopback TCP ports.

    Picking free TCP ports races when several kernels start at once (parallel runs, tests); IPC
    socket paths are unique per kernel, and no port is exposed on the machine.
    """

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)


class _CellLines:
    """A file for papermill's tqdm bar that turns each of its redraws into one progress line (a
    log, a pipe or docker's output has no terminal to redraw in)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.last = ""

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        cells = line.rpartition(" (")[0]  # the bar's final redraw repeats the count, later elapsed
        if line and cells != self.last:
            self.last = cells
            self.progress(line)

    def flush(self) -> None:
        pass


def cell_lines(progress: Progress, desc: str) -> dict[str, Any]:
    """papermill ``progress_bar`` options: one line per executed cell, e.g. ``02_calibrate: cell 7/31
    (00:12)``."""
    return {"file": _CellLines(progress), "desc": desc, "mininterval": 0, "ascii": True,
            "bar_format": "  {desc}: cell {n_fmt}/{total_fmt} ({elapsed})"}


def execute(notebook: Path, output: Path, parameters: dict[str, Any], *, kernel: str,
            cell_timeout_s: float, progress_bar: bool | dict[str, Any]) -> None:
    """Execute one notebook with papermill; a failing cell raises :class:`PipelineError` naming it.
    ``progress_bar``: papermill's (a tqdm bar on a terminal, or :func:`cell_lines` options)."""
    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=kernel,
                            progress_bar=progress_bar, cwd=str(output.parent),
                            execution_timeout=cell_timeout_s, kernel_manager_class=IpcKernelManager)
    except pm.PapermillExecutionError as exc:
        if exc.ename == InsufficientDataError.__name__:
            raise DataVerdictError(f"{notebook.stem}: {exc.evalue}") from None
        raise PipelineError(
            f"{notebook.stem} failed in cell {exc.cell_index} ({_first_line(exc.source)!r}): "
            f"{exc.ename}: {exc.evalue} — executed notebook kept at {output}") from None


def run_pipeline(settings: Settings, plan: RunPlan, events: EventLog, progress: Progress, *,
                 do_promote: bool = True, trigger: str = "manual", workers: int = 1,
                 scheduler: str | None = None) -> RunResult:
    """Run every notebook of ``plan`` under the lock, then apply the gates and promote.

    The sample table's days run on Dask with ``workers`` > 1 (a LocalCluster of that many
    processes, ``dask.memory_limit`` each) or on the scheduler at ``scheduler``; serially by
    default (:func:`aurora.pipeline.dataset.compute_table`)."""
    cal = settings.calibration
    runs_dir = settings.path(cal.runs_dir)
    base = {"trigger": trigger, "calibrate_run": plan.run_id}
    try:
        with run_lock(runs_dir, plan.run_id, cal.lock_wait_s):
            try:
                return _run_locked(settings, plan, events, progress, do_promote=do_promote, base=base,
                                   fanout={"workers": workers, "scheduler": scheduler,
                                           "memory_limit": settings.dask.memory_limit})
            except Exception as exc:
                events.emit("calibrate.failure", error=str(exc), error_type=type(exc).__name__,
                            run_dir=str(plan.run_dir), **base)
                raise
    except PipelineLockedError as exc:
        events.emit("calibrate.skipped", reason=str(exc), **base)
        raise


def _run_locked(settings: Settings, plan: RunPlan, events: EventLog, progress: Progress, *,
                do_promote: bool, base: dict[str, Any], fanout: dict[str, Any]) -> RunResult:
    cal = settings.calibration
    check_kernel(cal.kernel)
    nb_dir = resolve_shipped(settings, cal.notebooks_dir)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    p = plan.first
    events.emit("calibrate.start", run_dir=str(plan.run_dir), symbol=p.symbol, exchange=p.exchange,
                start=str(p.start), end=str(p.end), **base)
    progress(f"calibrate {plan.run_id}: {p.symbol} on {p.exchange}, {p.start} → {p.end}; "
             f"run dir {plan.run_dir}")
    timings: dict[str, float] = {}
    sources = {name: nb_dir / f"{name}.ipynb" for name in plan.params}
    for source in sources.values():
        if not source.is_file():
            raise PipelineError(f"notebook {source} not found (calibration.notebooks_dir)")
    progress(f"feature table {plan.run_dir / TABLE} …")
    t0 = time.perf_counter()
    try:
        write_run_table(list(plan.params.values()), plan.run_dir, lambda line: progress(f"  {line}"),
                        **fanout)
    except (ValueError, KeyError, OSError, DaysFailedError, FanoutError) as exc:
        raise PipelineError(f"feature table: {type(exc).__name__}: {exc}") from None
    timings["features"] = round(time.perf_counter() - t0, 3)
    events.emit("calibrate.features", seconds=timings["features"], **base)
    progress(f"feature table done in {timings['features']:.1f} s")
    total = len(plan.params)
    for i, (name, params) in enumerate(plan.params.items(), 1):
        source = sources[name]
        progress(f"[{i}/{total}] {name} …")
        t0 = time.perf_counter()
        try:
            execute(source, plan.run_dir / source.name, params.for_papermill(), kernel=cal.kernel,
                    cell_timeout_s=cal.cell_timeout_s,
                    progress_bar=sys.stderr.isatty() or cell_lines(progress, f"[{i}/{total}] {name}"))
        except DataVerdictError as verdict:
            return _rejected(plan, events, progress, str(verdict), timings=timings, base=base)
        timings[name] = round(time.perf_counter() - t0, 3)
        events.emit("calibrate.notebook", notebook=name, seconds=timings[name], **base)
        progress(f"[{i}/{total}] {name} done in {timings[name]:.1f} s")
    candidate = plan.run_dir / CANDIDATE
    metrics_path = plan.run_dir / METRICS
    if not plan.exports_candidate:
        events.emit("calibrate.finish", run_dir=str(plan.run_dir), timings_s=timings, promoted=None, **base)
        return RunResult(plan.run_id, plan.run_dir, candidate, {}, None, timings)
    for needed in (candidate, metrics_path, plan.run_dir / HOLDOUT):
        if not needed.is_file():
            raise PipelineError(f"the calibration notebook did not write {needed}")
    metrics = json.loads(metrics_path.read_text())
    load_artifact(candidate)
    promotion: PromotionResult | None = None
    if do_promote:
        promotion = promote(candidate, settings.path(cal.artifacts_dir), gates_from(settings),
                            load_holdout(plan.run_dir / HOLDOUT))
        verdict = promotion.to_dict()
        (plan.run_dir / PROMOTION).write_text(json.dumps(verdict, indent=2, default=str))
        events.emit("calibrate.promotion", promoted=promotion.promoted, failed=promotion.failed,
                    checks=verdict["checks"], **base)
        for c in promotion.checks:
            progress(f"  gate {c.name:<14} {'pass' if c.passed else 'FAIL'}  {c.detail}")
        progress("promoted to " + str(promotion.current_path) if promotion.promoted
                 else f"not promoted (failed: {', '.join(promotion.failed)}); current artifact unchanged")
    summary = {"run_id": plan.run_id, "timings_s": timings, "metrics": metrics,
               "promoted": promotion.promoted if promotion else None,
               "params": {k: v.for_papermill() for k, v in plan.params.items()}}
    (plan.run_dir / SUMMARY).write_text(json.dumps(summary, indent=2, default=str))
    events.emit("calibrate.finish", run_dir=str(plan.run_dir), timings_s=timings,
                promoted=summary["promoted"], metrics=metrics.get("test", metrics), **base)
    return RunResult(plan.run_id, plan.run_dir, candidate, metrics, promotion, timings)


def _rejected(plan: RunPlan, events: EventLog, progress: Progress, reason: str, *,
              timings: dict[str, float], base: dict[str, Any]) -> RunResult:
    """Finish a run whose data could not be calibrated: nothing promoted, the reason recorded."""
    verdict = {"promoted": False, "failed": ["data"], "reason": reason, "checks": []}
    (plan.run_dir / PROMOTION).write_text(json.dumps(verdict, indent=2))
    events.emit("calibrate.promotion", promoted=False, failed=["data"], reason=reason, checks=[], **base)
    progress(f"not promoted: {reason}; current artifact unchanged")
    events.emit("calibrate.finish", run_dir=str(plan.run_dir), timings_s=timings, promoted=False, **base)
    return RunResult(plan.run_id, plan.run_dir, plan.run_dir / CANDIDATE, {}, None, timings, reason)
