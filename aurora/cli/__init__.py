"""``auroractl``: the one command line for data, features, calibration, the API and benchmarks.

Commands are listed in :data:`COMMANDS`, a static table of name, module and one-line help.
Only the module of the command being run is imported (it registers its full parser with
``register(subparsers)``), so ``auroractl --help`` and ``auroractl config`` start without
loading numba, scikit-learn, FastAPI or papermill. A handler receives a
:class:`~aurora.cli.context.Context` and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from aurora import __version__
from aurora.allocator import keep_freed_memory

#: name -> (module under aurora.cli, one-line help). A new command adds one row here.
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("bench", "run a benchmark and print its figures (ratios measured side by side)"),
    "calibrate": ("calibrate", "run the calibration notebooks with papermill and promote predict_p"),
    "config": ("config", "print the effective configuration (secrets masked) as JSON"),
    "data": ("data", "import market data into the tick store, or synthesise a market"),
    "demo": ("demo", "the main job, offline: synthetic market, calibration, gate replay"),
    "features": ("features", "compute the feature table (and labels) from the tick store"),
    "report": ("report", "an HTML report of a run from its logs: equity, P&L, gate decisions, fills"),
    "one-click": ("oneclick", "a whole session: preflight, venue, Aurora, runner, progress, stop, report"),
    "preflight": ("preflight", "check a workspace is ready to run a mode; each failure with its fix"),
    "run": ("run", "the WiseScalp runner: replay, shadow, paper, testnet or live trading"),
    "serve": ("serve", "run the Aurora risk gate API"),
    "venue": ("venue", "run a local Binance-compatible venue on loopback (REST + websockets)"),
}
#: Global options that take a value (the command is the first word that is not one of these).
_VALUED_OPTIONS = ("--home", "--config")
_EPILOG = "Run 'auroractl COMMAND --help' for a command's options and an example."


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (skipping global options and their values), if any."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUED_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: every command listed, only the one named in ``argv`` loaded."""
    parser = argparse.ArgumentParser(
        prog="auroractl",
        description="Aurora x WiseScalp: tick data, features, calibration, risk gate and trading.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"auroractl {__version__}")
    parser.add_argument("--home", help="working root holding configs/, data/ and logs/ "
                        "(default: $AURORA_HOME or the current directory)")
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="extra YAML config overlay (repeatable, later wins)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _command_in(argv)
    for name, (module, help_) in COMMANDS.items():
        if name == chosen:
            importlib.import_module(f"{__name__}.{module}").register(sub)
        else:
            sub.add_parser(name, help=help_, description=help_)
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    """Exception types printed as one line with exit 2, among the modules this run loaded."""
    from aurora.cli.context import CliError
    from aurora.config import ConfigError

    loaded = sys.modules.get("aurora.artifact")
    return (CliError, ConfigError) + ((loaded.ArtifactError,) if loaded else ())


def main(argv: Sequence[str] | None = None) -> int:
    keep_freed_memory()  # before a command loads pyarrow: a feature day reuses the last one's pages
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    from aurora.cli.context import Context

    ctx = Context(args)
    try:
        return int(args.handler(ctx) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print(f"auroractl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            print(f"auroractl {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
