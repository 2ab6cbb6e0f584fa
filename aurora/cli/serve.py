"""``auroractl serve [--host H] [--port P]``: run the Aurora API on one uvicorn worker.

uvloop + httptools, one process: the risk state lives in that process (and in its SQLite
file), so more workers would each hold their own view of it. Refuses to start in live mode
without ``AURORA_API_TOKEN``. uvicorn's own log records become ``uvicorn.<level>`` events
(:mod:`aurora.api.logs`; ``api.log_level``, ``api.access_log``). Slow and idle clients are
reaped (:mod:`aurora.api.protocol`: ``api.header_timeout_s``, ``api.body_timeout_s``,
``api.keep_alive_s``) and at most ``api.max_concurrency`` connections are served at once (503
beyond). On start it prints where it listens, the model it serves (or how to get one) and
whether a token protects the mutating routes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket

import uvicorn

from aurora.api import create_app
from aurora.api.logs import uvicorn_log_config
from aurora.api.protocol import protocol_class
from aurora.api.service import GateService
from aurora.cli.context import CliError, Context

DESCRIPTION = """\
Run Aurora, the pre-trade risk gate: GET /health, GET /metrics, POST /pretrade/check and
POST /posttrade/log (bearer token AURORA_API_TOKEN). It serves the artifact at api.artifact_path
and reloads it when the file changes. On start it says where it listens, which model it serves
and whether a token is set. Stop it with Ctrl-C or SIGTERM.

Examples:
  AURORA_API_TOKEN=secret auroractl serve
  auroractl serve --host 0.0.0.0 --port 8000
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the Aurora risk gate API (FastAPI on uvicorn)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help="bind address (default: api.host)")
    p.add_argument("--port", type=int, help="TCP port (default: api.port; 0 picks a free one)")
    p.set_defaults(handler=_serve)


def _serve(ctx: Context) -> int:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler it found: this one,
    # so a clean stop exits 0 (as the runner and the venue do) rather than dying by the signal
    signal.signal(signal.SIGTERM, _stopped)
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
    api = settings.api
    config = uvicorn.Config(app, loop="uvloop", http=protocol_class(api.header_timeout_s, api.body_timeout_s),
                            workers=1, lifespan="on", log_config=uvicorn_log_config(ctx.events("aurora-api")),
                            log_level=api.log_level, access_log=api.access_log,
                            timeout_keep_alive=api.keep_alive_s, limit_concurrency=api.max_concurrency,
                            server_header=False, date_header=False)
    sock.listen(config.backlog)  # connections queue from here on, so the announcement below is safe
    bound = sock.getsockname()[1]
    ctx.events("aurora-api").emit("api.listening", host=host, port=bound, pid=os.getpid())
    print("\n".join(startup_summary(app.state.service, host, bound)), flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _stopped(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def startup_summary(service: GateService, host: str, port: int) -> list[str]:
    """What an operator needs to know at start: address, model, authentication."""
    s = service.settings
    lines = [f"Aurora API listening on http://{host}:{port} (mode {s.api.mode}; "
             f"docs at /docs, health at /health, metrics at /metrics)"]
    cal = service.calibration
    if cal is not None:
        lines.append(f"model: {cal.model_version} (sha256 {cal.sha256[:12]}, created "
                     f"{cal.created_at.isoformat()}) from {service.artifact_path}")
        if service.costs_mismatch:
            lines.append(f"warning: {service.costs_mismatch}")
    else:
        lines.append(f"model: none loaded ({service.model_error}); every check is denied with "
                     "MODEL_MISSING until one is: run `auroractl calibrate` (or `auroractl demo`) to make "
                     f"{s.api.artifact_path}; it is picked up without a restart")
    if s.api_token is not None:
        lines.append("auth: bearer token set (AURORA_API_TOKEN): mutating routes need it")
    elif s.api.allow_unauthenticated:
        lines.append("auth: NO token, api.allow_unauthenticated is true: mutating routes are open "
                     "(local replay only)")
    else:
        lines.append("auth: no token set: mutating routes answer 503 until AURORA_API_TOKEN is set "
                     "(environment or .env)")
    return lines
