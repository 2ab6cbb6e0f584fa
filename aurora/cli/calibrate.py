"""``auroractl calibrate``: run the notebooks with papermill, gate, promote; roll back; check schedule.

Exit codes: 0 the candidate was promoted (or ``--rollback`` / ``--schedule-check`` succeeded, or
``--no-promote`` finished); 1 the run finished but the candidate failed a quality gate, or the
data could not be calibrated (too few labelled samples, one outcome class in a block; the
reason is printed and the current artifact is unchanged); 2 an error (bad parameter, missing
data, crashed notebook: the message names the notebook, cell and error); 75 another calibration
run holds the lock.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from aurora.cli.context import CliError, Context
from aurora.events import new_run_id
from aurora.pipeline.execute import PipelineError, check_kernel, run_pipeline
from aurora.pipeline.lock import PipelineLockedError
from aurora.pipeline.params import ParameterError
from aurora.pipeline.plan import plan_run, resolve_shipped
from aurora.pipeline.promotion import rollback
from aurora.pipeline.schedule import (
    CrontabError,
    crontab_env,
    next_run,
    path_problems,
    read_crontab,
    require_utc,
)

EX_TEMPFAIL = 75
CRONTAB = Path("pipelines/crontab")


DESCRIPTION = """\
Run the calibration notebooks (01_feature_study, 02_calibrate_predict_p) with papermill into
data/runs/<run_id>/, then promote the candidate artifact to data/artifacts/current.json if it
passes the quality gates (enough samples, ECE, Brier, not worse than the current one).

Exit codes: 0 promoted (or --rollback / --schedule-check / --no-promote succeeded); 1 a gate
failed or the data could not be calibrated (the reason is printed, the current artifact is
unchanged); 2 an error (it names the notebook, cell and error); 75 another run holds the lock.

Examples:
  auroractl calibrate --symbol BTCUSDT --start 2024-01-01 --end 2024-01-03
  auroractl calibrate --set side=short --set calibrator=platt
  auroractl calibrate --rollback
  auroractl calibrate --schedule-check --crontab /etc/cron.d/aurora
  auroractl calibrate --schedule-next      (when pipelines/crontab runs it next, UTC)
  auroractl calibrate --workers 2    (the sample table's days on a local Dask cluster)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="run the calibration notebooks and promote predict_p",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=Path, metavar="FILE", action="append", default=[],
                   help="params overlay on top of calibration.params_file (same layout as "
                        "pipelines/calibrate.yaml; repeatable, later wins)")
    p.add_argument("--symbol")
    p.add_argument("--exchange")
    p.add_argument("--start", help="first UTC date, YYYY-MM-DD (default: latest days in the store)")
    p.add_argument("--end", help="last UTC date, YYYY-MM-DD (inclusive)")
    p.add_argument("--store", help="tick store root (default: storage.ticks_dir)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override one common notebook parameter (value parsed as YAML; repeatable)")
    p.add_argument("--notebooks", metavar="NAME[,NAME]",
                   help="run only these notebooks (default: all, in order); promotion needs "
                        "02_calibrate_predict_p")
    p.add_argument("--workers", type=int, default=1,
                   help="compute the sample table's days on a Dask LocalCluster of N processes "
                        "(default 1: serial, Dask not started)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="compute the sample table's days on the Dask scheduler at ADDRESS, e.g. "
                        "tcp://10.0.0.5:8786 (default: dask.scheduler, AURORA_DASK__SCHEDULER)")
    p.add_argument("--no-promote", action="store_true", help="run and evaluate, but never promote")
    p.add_argument("--scheduled", action="store_true",
                   help="unattended run (cron / compose scheduler): trigger=schedule in the events")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--rollback", action="store_true",
                       help="swap current.json and previous.json in the artifacts directory")
    group.add_argument("--schedule-check", action="store_true",
                       help="validate the crontab (its syntax, the directories and output files it "
                            "names, the auroractl on its PATH), params and kernel without running")
    group.add_argument("--schedule-next", action="store_true",
                       help="print when the crontab runs calibration next (ISO-8601 UTC), and exit "
                            "(docker-compose's scheduler sleeps until then)")
    p.add_argument("--crontab", metavar="FILE", default=str(CRONTAB),
                   help="crontab --schedule-check validates (default: pipelines/crontab under "
                        "AURORA_HOME, else the shipped one; none: skip it, e.g. under docker-compose's "
                        "scheduler)")
    p.set_defaults(handler=_handle)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(args, k) for k in ("symbol", "exchange", "start", "end", "store")
                           if getattr(args, k)}
    for item in args.sets:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise CliError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise CliError(f"--set {item!r}: value is not valid YAML: {exc}") from None
    return out


def _plan(ctx: Context) -> Any:
    params = ctx.args.params
    missing = [str(f) for f in params if not f.is_file()]
    if missing:
        raise CliError(f"params file(s) not found: {', '.join(missing)}")
    try:
        return plan_run(ctx.settings, new_run_id(), extra_files=tuple(params), overrides=_overrides(ctx.args),
                        notebooks=[n.strip() for n in ctx.args.notebooks.split(",")]
                        if ctx.args.notebooks else None)
    except ParameterError as exc:
        raise CliError(str(exc)) from None


def _handle(ctx: Context) -> int:
    events = ctx.events("calibrate")
    cal = ctx.settings.calibration
    if ctx.args.rollback:
        restored = rollback(ctx.settings.path(cal.artifacts_dir))
        events.emit("calibrate.rollback", model_version=restored.model_version, sha256=restored.sha256)
        print(f"rolled back: current is now {restored.model_version} ({restored.sha256[:12]})")
        return 0
    if ctx.args.schedule_check:
        return _schedule_check(ctx)
    if ctx.args.schedule_next:
        return _schedule_next(ctx)
    if ctx.args.workers < 1:
        raise CliError(f"--workers {ctx.args.workers}: give at least 1 (1 = serial, no Dask)")
    plan = _plan(ctx)
    try:
        result = run_pipeline(ctx.settings, plan, events, lambda line: print(line, flush=True),
                              do_promote=not ctx.args.no_promote,
                              trigger="schedule" if ctx.args.scheduled else "manual",
                              workers=ctx.args.workers,
                              scheduler=ctx.args.scheduler or ctx.settings.dask.scheduler)
    except PipelineLockedError as exc:
        print(f"auroractl calibrate: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    if result.rejected:
        print(f"run {result.run_id}: not promoted: {result.rejected}")
        return 1
    test = result.metrics.get("test", {})
    print(f"run {result.run_id}: ECE {test.get('ece', float('nan')):.4f}, Brier "
          f"{test.get('brier', float('nan')):.5f} (base {test.get('brier_base', float('nan')):.5f}), "
          f"AUC {test.get('auc', float('nan')):.3f}, n_test {test.get('n', 0)}; candidate {result.candidate}")
    if result.promotion is None:
        return 0
    return 0 if result.promotion.promoted else 1


def _schedule_next(ctx: Context) -> int:
    if ctx.args.crontab == "none":
        raise CliError("--schedule-next reads the schedule from a crontab: give --crontab FILE")
    crontab = resolve_shipped(ctx.settings, Path(ctx.args.crontab))
    try:
        entries = read_crontab(crontab)
        require_utc(crontab_env(crontab), crontab)
        when = next_run(entries, datetime.now(UTC))
    except CrontabError as exc:
        raise CliError(str(exc)) from None
    print(when.isoformat().replace("+00:00", "Z"))
    return 0


def _schedule_check(ctx: Context) -> int:
    cal = ctx.settings.calibration
    if ctx.args.crontab != "none":
        crontab = resolve_shipped(ctx.settings, Path(ctx.args.crontab))
        try:
            entries = read_crontab(crontab)
        except CrontabError as exc:
            raise CliError(str(exc)) from None
        for e in entries:
            print(f"crontab {crontab}:{e.line}: {' '.join(e.fields)}  {e.command}")
        env = crontab_env(crontab)
        try:
            require_utc(env, crontab)
        except CrontabError as exc:
            raise CliError(str(exc)) from None
        problems = path_problems(entries, env)
        if problems:
            raise CliError(f"crontab {crontab} would fail under cron: " + "; ".join(problems))
    try:
        kernel_dir = check_kernel(cal.kernel)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    print(f"kernel {cal.kernel!r}: {kernel_dir}")
    plan = _plan(ctx)
    p = plan.first
    print(f"next run would calibrate {p.symbol} on {p.exchange}, {p.start} → {p.end} "
          f"(store {p.store}); lock {ctx.settings.path(cal.runs_dir) / '.calibrate.lock'}")
    return 0
