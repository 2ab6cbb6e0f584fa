"""``auroractl``: the one command line for data, features, calibration, the API and benchmarks.

Each subcommand group lives in its own module in this package and exposes
``register(subparsers)``; modules are discovered automatically. A handler receives a
:class:`~aurora.cli.context.Context` and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from aurora import __version__
from aurora.artifact import ArtifactError
from aurora.cli.context import CliError, Context
from aurora.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auroractl",
        description="Aurora x WiseScalp: tick data, features, calibration, risk gate and trading.",
    )
    parser.add_argument("--version", action="version", version=f"auroractl {__version__}")
    parser.add_argument("--home", help="working root holding configs/, data/ and logs/ "
                        "(default: $AURORA_HOME or the current directory)")
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="extra YAML config overlay (repeatable, later wins)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "context":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args)
    try:
        return int(args.handler(ctx) or 0)
    except (CliError, ConfigError, ArtifactError) as exc:
        print(f"auroractl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print(f"auroractl {args.command}: interrupted", file=sys.stderr)
        return 130
