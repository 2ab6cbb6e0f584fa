"""``auroractl bench <name> [--json]``: run one benchmark and print what it measured.

With ``--json`` the last line printed is one JSON object of the figures (DESIGN.md §9).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

import aurora.bench
from aurora.cli.context import Context

DESCRIPTION = """\
Run one benchmark and print the figures it measured. Targets are ratios measured side by side
in the same run (named *_ratio), so they hold on a loaded or slow machine; run benchmarks on an
otherwise idle machine all the same. With --json the last line is one JSON object of the figures.

Examples:
  auroractl bench features --json
  auroractl bench gate
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its figures", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub_ = p.add_subparsers(dest="bench_name", metavar="NAME", required=True)
    for info in sorted(pkgutil.iter_modules(aurora.bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"aurora.bench.{info.name}")
        bp = sub_.add_parser(info.name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        bp.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
        module.add_arguments(bp)
        bp.set_defaults(handler=_run, bench_module=module)


def _run(ctx: Context) -> int:
    def report(line: str) -> None:
        print(line, file=sys.stderr if ctx.args.json else sys.stdout, flush=True)

    figures = ctx.args.bench_module.run(ctx.args, ctx.settings, report)
    ctx.events().emit("bench.finished", bench=ctx.args.bench_name, figures=figures)
    if ctx.args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        width = max((len(k) for k in figures), default=0)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 0
