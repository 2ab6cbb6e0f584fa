"""``auroractl serve [--host H] [--port P]``: run the Aurora API on one uvicorn worker.

uvloop + httptools, one process: the risk state lives in that process (and in its SQLite
file), so more workers would each hold their own view of it. Refuses to start in live mode
without ``AURORA_API_TOKEN``. uvicorn's own log records become ``uvicorn.<level>`` events
(:mod:`aurora.api.logs`; ``api.log_level``, ``api.access_log``).
"""

from __future__ import annotations

import argparse
import os
import socket

import uvicorn

from aurora.api import create_app
from aurora.api.logs import uvicorn_log_config
from aurora.cli.context import CliError, Context


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the Aurora risk gate API (FastAPI on uvicorn)")
    p.add_argument("--host", help="bind address (default: api.host)")
    p.add_argument("--port", type=int, help="TCP port (default: api.port; 0 picks a free one)")
    p.set_defaults(handler=_serve)


def _serve(ctx: Context) -> int:
    settings = ctx.settings
    app = create_app(settings, ctx.events("aurora-api"))
    host = ctx.args.host or settings.api.host
    port = settings.api.port if ctx.args.port is None else ctx.args.port
    # Bind here rather than in uvicorn so that port 0 works: the chosen port is announced in the
    # ``api.listening`` event, which is how tests and benchmarks find a server on an ephemeral port.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    config = uvicorn.Config(app, loop="uvloop", http="httptools", workers=1, lifespan="on",
                            log_config=uvicorn_log_config(ctx.events("aurora-api")),
                            log_level=settings.api.log_level, access_log=settings.api.access_log,
                            server_header=False, date_header=False)
    sock.listen(config.backlog)  # connections queue from here on, so the announcement below is safe
    ctx.events("aurora-api").emit("api.listening", host=host, port=sock.getsockname()[1], pid=os.getpid())
    uvicorn.Server(config).run(sockets=[sock])
    return 0
