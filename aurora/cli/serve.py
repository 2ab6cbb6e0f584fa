"""``auroractl serve [--host H] [--port P]``: run the Aurora API on one uvicorn worker.

uvloop + httptools, one process: the risk state lives in that process (and in its SQLite
file), so more workers would each hold their own view of it. Refuses to start in live mode
without ``AURORA_API_TOKEN``.
"""

from __future__ import annotations

import argparse

import uvicorn

from aurora.api import create_app
from aurora.cli.context import Context


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
    config = uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools", workers=1,
                            access_log=False, log_level="warning", lifespan="on",
                            server_header=False, date_header=False)
    uvicorn.Server(config).run()
    return 0
