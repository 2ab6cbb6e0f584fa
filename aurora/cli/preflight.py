"""``auroractl preflight``: is this workspace ready to run a mode? A table of checks, each ok or
FAIL with its fix (:mod:`aurora.ops.checks`); exit 1 when any fails."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from aurora.cli.context import CliError, Context

if TYPE_CHECKING:
    from aurora.config import Settings

MODES = ("replay", "shadow", "paper", "testnet", "live")

DESCRIPTION = """\
Check that this workspace is ready to run a mode, and say how to fix what is not. One line per
check, ok or FAIL, and under each failure the fix; the exit code is 1 when any check fails.

  config       the configuration loads (configs/*.yaml, .env, AURORA_* variables)
  artifact     the calibration artifact is present, untampered (sha256, signature when
               AURORA_ARTIFACT_KEY is set), fresh (risk.model_max_age_s), for the symbol and tick
  market data  replay: the symbol's quotes are in the tick store
  ports        api.port, runner.metrics_port (and venue.port when the local venue is used) are free
  API keys     testnet and live: AURORA_BINANCE_API_KEY and AURORA_BINANCE_API_SECRET
  exchange     shadow, paper, testnet, live: exchange.target answers, its clock is within
               http.recv_window_ms of ours, its filters equal symbols:
  disk, dirs   ops.min_free_disk_mb free; log and data directories writable

With --calibrate, a missing, stale or refused artifact is replaced by a calibration run now
(papermill, on the latest calibration.schedule_lookback_days of the store) before the checks.

Examples:
  auroractl preflight
  auroractl preflight --mode testnet --symbol BTCUSDT
  auroractl preflight --calibrate
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preflight", help="check a workspace is ready to run a mode; each failure's fix",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=MODES, default="replay", help="the mode to check for (default replay)")
    p.add_argument("--symbol", help="symbol to check (default: the first under symbols: in the config)")
    p.add_argument("--calibrate", action="store_true",
                   help="calibrate now when the artifact is missing, stale or refused")
    p.set_defaults(handler=_handle)


def _handle(ctx: Context) -> int:
    from aurora.ops import checks

    args = ctx.args
    config, settings = checks.config_check(args.home, args.config)
    if settings is None:
        print(checks.table([config]))
        return 1
    symbol = args.symbol or next(iter(settings.symbols))
    if args.calibrate and not checks.artifact_check(settings, symbol).ok:
        recalibrate(ctx, settings, symbol)
    found = [config, *checks.static_checks(settings, args.mode, symbol)]
    if args.mode in checks.LIVE_DATA:
        found += asyncio.run(checks.exchange_checks(settings, symbol))
    print(f"preflight of {args.mode} mode, {symbol}:")
    print(checks.table(found))
    bad = checks.failed(found)
    print(f"{len(bad)} of {len(found)} checks failed" if bad else f"all {len(found)} checks passed")
    return 1 if bad else 0


def recalibrate(ctx: Context, settings: Settings, symbol: str) -> None:
    """Calibrate ``symbol`` on the latest days of the store and promote the artifact, saying so."""
    from aurora.ops.prepare import PrepareError, calibrate

    print(f"the artifact is missing, stale or refused: calibrating {symbol} now …", flush=True)
    try:
        calibrate(settings, ctx.events("preflight"), lambda line: print(f"  {line}", flush=True),
                  {"symbol": symbol, "exchange": settings.runner.exchange})
    except PrepareError as exc:
        raise CliError(f"calibration failed: {exc}") from None
