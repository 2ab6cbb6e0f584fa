"""``auroractl report RUN_DIR``: the HTML report of one runner run, from its logs.

The report notebook (``notebooks/03_run_report.ipynb``) runs with papermill on the run directory
and nbconvert exports it as one self-contained HTML file beside the run's logs; the path is
printed. See :mod:`aurora.report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aurora.cli.context import CliError, Context

DESCRIPTION = """\
The HTML report of one WiseScalp run, from the logs in RUN_DIR: what ran (mode, symbol, model
version), the equity curve and drawdown of realised P&L, the P&L distribution, the gate's
decisions by reason over time, realised win rate against the predicted p, latency and slippage
realised against their estimates, and orders by outcome and error class.

RUN_DIR is a logging dir or a one-click run dir (with run.json); by default the logging dir
(logging.dir: logs/ under AURORA_HOME). A directory holding several runs is reported on its last
one unless --run-id picks another. Torn lines and records the report cannot read are counted and
named in the report.

The report notebook runs with papermill (kernel calibration.kernel) and is exported with
nbconvert, every figure embedded: RUN_DIR/report.html, beside it report.ipynb (the executed
notebook) and report.json (the headline figures).

Examples:
  auroractl report
  auroractl report data/demo/logs --out /tmp/demo-report.html
  auroractl report logs --run-id 20240101T000000Z-1a2b3c4d
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML report of a run: equity, P&L, gate decisions, calibration, fills",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", nargs="?",
                   help="the run's logging dir or one-click run dir (default: logging.dir)")
    p.add_argument("--out", type=Path, metavar="FILE", help="the HTML file (default: RUN_DIR/report.html)")
    p.add_argument("--run-id", help="the run to report when RUN_DIR holds several (default: the last)")
    p.set_defaults(handler=_handle)


def _handle(ctx: Context) -> int:
    from aurora.report import ReportError, write_report

    args = ctx.args
    try:
        settings = ctx.settings
        run_dir = args.run_dir or settings.path(settings.logging.dir)
        html = write_report(run_dir, settings, out=args.out, run_id=args.run_id)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    print(html)
    return 0
