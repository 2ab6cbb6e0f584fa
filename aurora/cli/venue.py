"""``auroractl venue``: a local Binance-compatible spot venue on loopback (see :mod:`aurora.venue`).

``auroractl venue [--host 127.0.0.1] [--port PORT] --symbol S [--store DIR] [--exchange EX] [--date D]
[--speed X] [--faults FILE]``. It replays a stored day of ``S`` (default: the latest in the store) at
``--speed`` × real time, or a synthetic market when the store holds none; accepts the keys in
``AURORA_BINANCE_API_KEY`` / ``AURORA_BINANCE_API_SECRET``; prints one ``venue ready`` line with its
URLs once it accepts connections, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import date
from pathlib import Path

from aurora.cli.context import CliError, Context

DESCRIPTION = """\
Run a local Binance-compatible spot venue on loopback, to rehearse a live session offline: REST
under /api/v3, market streams at /ws and /stream, the websocket API at /ws-api/v3, with Binance's
signatures, filters and error codes. It replays a stored day of the symbol (the latest by default)
at --speed times real time, or a synthetic market when the store has none, matches orders against
it (market orders walk the book, limit orders queue), and injects the faults listed in --faults.
It prints one "venue ready" line with its URLs and stops cleanly on SIGTERM or Ctrl-C. The API
key and secret it accepts are AURORA_BINANCE_API_KEY and AURORA_BINANCE_API_SECRET.

Examples:
  auroractl venue --symbol BTCUSDT --port 8765
  auroractl venue --symbol BTCUSDT --date 2024-08-09 --speed 10 --faults faults.yaml
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("venue", help="run a local Binance-compatible venue (REST + websockets) on loopback",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help="bind address (default: venue.host)")
    p.add_argument("--port", type=int, help="TCP port (default: venue.port; 0 picks a free one)")
    p.add_argument("--symbol", required=True, help="symbol to trade, e.g. BTCUSDT (filters from symbols:)")
    p.add_argument("--store", type=Path, help="tick store root (default: storage.ticks_dir)")
    p.add_argument("--exchange", help="tick-store exchange to replay (default: venue.exchange)")
    p.add_argument("--date", type=date.fromisoformat, help="UTC day to replay, YYYY-MM-DD (default: latest)")
    p.add_argument("--speed", type=float, help="replay speed factor, 1 = real time (default: venue.speed)")
    p.add_argument("--faults", type=Path, help="YAML file of faults to inject (see aurora.venue._faults)")
    p.set_defaults(handler=_venue)


def _venue(ctx: Context) -> int:
    from aurora.venue import FaultError, VenueSetupError, build_venue, load_faults, market_tape, symbol_spec

    args, settings = ctx.args, ctx.settings
    if args.speed is not None and args.speed <= 0:
        raise CliError(f"--speed must be positive, got {args.speed}")
    try:
        faults = load_faults(args.faults)
        spec = symbol_spec(settings, args.symbol)
        tape = market_tape(settings, spec, args.store, args.exchange, args.date)
        venue = build_venue(settings, args.symbol, tape=tape, speed=args.speed, faults=faults)
    except (FaultError, VenueSetupError) as exc:
        raise CliError(str(exc)) from None
    host = args.host or settings.venue.host
    port = settings.venue.port if args.port is None else args.port
    events = ctx.events("aurora-venue")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            bound_host, bound_port = await venue.start(host, port)
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        base = f"{bound_host}:{bound_port}"
        events.emit("venue.listening", host=bound_host, port=bound_port, symbol=spec.symbol,
                    market=tape.source, speed=venue.speed, faults=sorted(faults.faults))
        print(f"venue ready: rest http://{base}/api/v3 ws://{base}/ws ws://{base}/stream "
              f"ws-api ws://{base}/ws-api/v3 symbol {spec.symbol} market {tape.source}", flush=True)
        await stop.wait()
        await venue.stop()
        events.emit("venue.stopped", stats=dict(venue.stats), faults=faults.counts)

    asyncio.run(serve())
    print("venue stopped", file=sys.stderr, flush=True)
    return 0
