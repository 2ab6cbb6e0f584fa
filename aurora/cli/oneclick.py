"""``auroractl one-click``: a whole session in one command.

1. replay in a workspace without market data or artifact: a synthetic market and a calibration
   first (:mod:`aurora.ops.prepare`), saying so;
2. ``--preflight``: the checks of ``auroractl preflight`` (the exchange ones once the local venue
   is up); any failure stops here, exit 1;
3. the local venue (live-data modes with ``exchange.target: venue``), Aurora (``auroractl
   serve``) and the runner (``auroractl run --metrics --json``, gated by that Aurora) as child
   processes (:mod:`aurora.ops.supervise`), each logging into the run directory
   ``<logging.dir>/runs/<YYYYmmddTHHMMSSZ>-<mode>-<symbol>/``;
4. a live progress line from the runner's and Aurora's ``/metrics`` until the runner ends (replay:
   ``--minutes`` of market time; otherwise wall time), or SIGTERM / Ctrl-C;
5. the runner, Aurora and the venue stopped in that order (SIGTERM; the runner closes its
   position, cancels its open orders and prints its summary), ``run.json`` written, the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aurora.cli.context import CliError, Context

MODES = ("replay", "shadow", "paper", "testnet")

DESCRIPTION = """\
A whole session in one command: (replay in an empty workspace: a synthetic market and a
calibration first), the preflight checks with --preflight, then the local venue (when the mode
reads live data from it: exchange.target venue), the Aurora API and the WiseScalp runner as child
processes, a live progress line (market time, events, decisions, orders, P&L, equity, drawdown),
and a clean stop of all of them at the deadline, on Ctrl-C or on SIGTERM: the runner closes its
position and cancels its open orders, nothing is left running. --minutes counts market time in
replay and wall time otherwise.

Everything of the run lands in logs/runs/<time>-<mode>-<symbol>/: the order logs, the event log,
each process's output and run.json (mode, symbol, times, model, exit codes, the runner's summary,
what stopped it); then the report is written beside them (auroractl report).

Examples:
  auroractl one-click                                   # replay, 15 market minutes, offline
  auroractl one-click --mode paper --minutes 5
  auroractl one-click --mode testnet --minutes 15 --preflight
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("one-click", help="a session: preflight, venue, Aurora, runner, clean stop, report",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=MODES, default="replay",
                   help="replay (offline, tick store, the default), shadow, paper or testnet")
    p.add_argument("--minutes", type=float, default=15.0,
                   help="session length: market minutes in replay, wall minutes otherwise (default 15)")
    p.add_argument("--symbol", help="symbol to trade (default: the first under symbols: in the config)")
    p.add_argument("--preflight", action="store_true",
                   help="run the preflight checks first; stop on a failure")
    p.add_argument("--calibrate", action="store_true",
                   help="calibrate first when the artifact is missing, stale or refused")
    p.set_defaults(handler=_handle)


class _Signals:
    """SIGTERM and SIGINT set :attr:`stop` (and are remembered) instead of ending the process."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.received: list[str] = []
        self.before = {sig: signal.signal(sig, self._on) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _on(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)
        self.stop.set()

    def restore(self) -> None:
        for sig, handler in self.before.items():
            signal.signal(sig, handler)


def _say(line: str) -> None:
    print(line, flush=True)


def _prepare_replay(ctx: Context, symbol: str) -> None:
    """Synthesise a market when the store has none of ``symbol``; calibrate when there is no artifact."""
    from aurora.ops.prepare import PrepareError, calibrate, synth_window, synthesize
    from aurora.ticks.location import rooted
    from aurora.ticks.store import TickStore

    settings = ctx.settings
    exchange = settings.runner.exchange
    store = TickStore(rooted(settings.storage.ticks_dir, settings.path), settings.storage.parquet_codec)
    window: dict[str, str] = {}
    events = ctx.events("one-click")
    try:
        if not store.dates("bbo", exchange, symbol):
            hours = settings.ops.prepare_hours
            _say(f"no market data of {symbol} in {store.root}: preparing a synthetic market "
                 f"({hours:g} h, ops.prepare_hours) …")
            synthesize(settings, exchange, symbol, hours=hours, seed=settings.ops.prepare_seed, events=events,
                       say=lambda line: _say(f"  {line}"))
            start, end = synth_window(hours)
            window = {"start": start.isoformat(), "end": end.isoformat()}
        if not settings.path(settings.api.artifact_path).exists():
            _say(f"no calibration artifact at {settings.path(settings.api.artifact_path)}: calibrating now …")
            calibrate(settings, events, lambda line: _say(f"  {line}"),
                      {"symbol": symbol, "exchange": exchange, **window})
    except PrepareError as exc:
        raise CliError(f"preparing the workspace failed: {exc}") from None


def _run_dir(logs: Path, mode: str, symbol: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        d = logs / "runs" / (f"{stamp}-{mode}-{symbol}" + (f"-{n}" if n else ""))
        try:
            d.mkdir(parents=True)
            return d
        except FileExistsError:
            continue
    raise CliError(f"cannot create a run directory under {logs / 'runs'}")


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _handle(ctx: Context) -> int:
    from aurora.ops import checks

    args = ctx.args
    settings = ctx.settings
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise CliError(f"--minutes must be a positive number, got {args.minutes}")
    symbol = args.symbol or next(iter(settings.symbols))
    if symbol not in settings.symbols:
        raise CliError(f"{symbol} has no exchange filters under symbols: "
                       f"(configured: {', '.join(settings.symbols)}); add it in configs/local.yaml")
    # (until processes start, Ctrl-C interrupts as anywhere else: a calibration is not left to finish)
    if args.mode == "replay":
        _prepare_replay(ctx, symbol)
    if args.calibrate and not checks.artifact_check(settings, symbol).ok:
        from aurora.cli.preflight import recalibrate
        recalibrate(ctx, settings, symbol)
    venue = checks.needs_venue(settings, args.mode)
    local_keys = venue and (settings.binance_api_key is None or settings.binance_api_secret is None)
    if args.preflight:
        found = checks.static_checks(settings, args.mode, symbol, local_keys=local_keys)
        _say(f"preflight of {args.mode} mode, {symbol}:\n{checks.table(found)}")
        if checks.failed(found):
            _say("preflight failed: nothing started")
            return 1
    sigs = _Signals()
    try:
        session = _Session(ctx, args.mode, symbol, args.minutes, sigs, local_keys=local_keys)
        return session.run(venue=venue, preflight=args.preflight)
    finally:
        sigs.restore()


class _Session:
    """The child processes of one run, their environment, and the run directory."""

    def __init__(self, ctx: Context, mode: str, symbol: str, minutes: float, sigs: _Signals, *,
                 local_keys: bool) -> None:
        from aurora.artifact import ArtifactError, load_artifact

        self.ctx, self.mode, self.symbol, self.minutes, self.sigs = ctx, mode, symbol, minutes, sigs
        s = self.settings = ctx.settings
        self.dir = _run_dir(s.path(s.logging.dir), mode, symbol)
        self.events_path = self.dir / "aurora_events.jsonl"
        self.globals = ["--home", str(s.home)]
        for f in ctx.args.config:
            self.globals += ["--config", str(Path(f).resolve())]
        env = {**os.environ, "AURORA_HOME": str(s.home), "AURORA_LOGGING__DIR": str(self.dir)}
        # Aurora and the runner share a token: the user's, else one made for this run
        env["AURORA_API_TOKEN"] = s.api_token.get_secret_value() if s.api_token else secrets.token_urlsafe(24)
        if local_keys:  # the local venue accepts the keys in its environment: this run's
            env["AURORA_BINANCE_API_KEY"] = "one-click-" + secrets.token_hex(24)
            env["AURORA_BINANCE_API_SECRET"] = secrets.token_hex(32)
        self.env = env
        self.children: dict[str, Any] = {}
        self.told = False  # a child's failure (with its stderr) was already shown
        artifact = s.path(s.api.artifact_path)
        try:
            version: str | None = load_artifact(artifact).model_version
        except ArtifactError:
            version = None  # the runner says why when it refuses it
        self.record: dict[str, Any] = {
            "mode": mode, "symbol": symbol, "minutes": minutes, "started": _iso_now(), "finished": None,
            "model_version": version, "artifact": str(artifact), "aurora_url": None,
            "exit": {"api": None, "runner": None, "venue": None}, "summary": None, "stopped_by": None,
            "pids": {}}

    # ---- processes ---------------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], env: dict[str, str], event: str,
               **match: Any) -> dict[str, Any]:
        from aurora.ops.supervise import Child

        child = Child(name, [*self.globals, *argv], env, cwd=self.settings.home, out_dir=self.dir,
                      events_path=self.events_path).start()
        self.children[name] = child
        self.record["pids"][name] = child.pid
        self._write()
        if name != "venue":
            match.setdefault("pid", child.pid)
        return child.wait_event(event, self.settings.ops.ready_timeout_s, self.sigs.stop.is_set, **match)

    def _start_venue(self) -> int:
        v = self.settings.venue
        _say(f"starting the local venue ({v.host}:{v.port or 'a free port'}) …")
        argv = ["venue", "--symbol", self.symbol, "--host", v.host, "--port", str(v.port)]
        rec = self._start("venue", argv, self.env, "venue.listening")
        self.env["AURORA_VENUE__PORT"] = str(rec["port"])  # the runner and the exchange checks go there
        _say(f"  venue ready at {rec['host']}:{rec['port']} ({rec.get('market')})")
        return int(rec["port"])

    def _start_aurora(self) -> str:
        a = self.settings.api
        env = {**self.env, "AURORA_API__MODE": self.mode}
        if self.mode == "replay":  # a replay starts from a fresh risk state, kept with the run
            env["AURORA_API__STATE_DB"] = str(self.dir / "aurora_state.sqlite")
            # and decides on the requests' market time: cool-offs and day rolls as on the day replayed
            # (api.clock: request is refused wherever something live could be gated)
            if self.settings.exchange.target != "live":
                env["AURORA_API__CLOCK"] = "request"
            else:
                _say("  Aurora decides on the wall clock (exchange.target is live, so api.clock: request "
                     "is refused): cool-offs run on wall time in this replay")
        _say(f"starting Aurora ({a.host}:{a.port or 'a free port'}, mode {self.mode}) …")
        rec = self._start("api", ["serve", "--host", a.host, "--port", str(a.port)], env, "api.listening")
        url = f"http://{rec['host']}:{rec['port']}"
        self.record["aurora_url"] = url
        _say(f"  Aurora ready at {url}")
        return url

    def _start_runner(self, url: str) -> str:
        env = {**self.env, "AURORA_RUNNER__AURORA_URL": url}
        unit = "market" if self.mode == "replay" else "wall"
        _say(f"starting the runner: {self.mode} {self.symbol}, {self.minutes:g} {unit} minutes …")
        argv = ["run", "--mode", self.mode, "--symbol", self.symbol, "--minutes", repr(self.minutes),
                "--metrics", "--json"]
        rec = self._start("runner", argv, env, "runner.metrics_listening")
        return f"http://127.0.0.1:{rec['port']}/metrics"

    def _exchange_preflight(self) -> bool:
        from aurora.config import load_settings
        from aurora.ops import checks

        there = load_settings(home=self.settings.home, extra_files=self.ctx.args.config, env=self.env)
        found = asyncio.run(checks.exchange_checks(there, self.symbol))
        _say(checks.table(found))
        return not checks.failed(found)

    # ---- the run -----------------------------------------------------------------------------------
    def run(self, *, venue: bool, preflight: bool) -> int:
        from aurora.ops.supervise import ChildError

        _say(f"run directory: {self.dir}")
        stopped_by = "error"
        try:
            if venue:
                self._start_venue()
            if preflight and self.mode != "replay" and not self._exchange_preflight():
                _say("preflight failed: stopping")
            elif not self.sigs.stop.is_set():
                metrics = self._start_runner(self._start_aurora())
                stopped_by = self._watch(metrics)
        except ChildError as exc:
            if not self.sigs.stop.is_set():
                _say(f"error: {exc}\n  what to fix: auroractl preflight --mode {self.mode} "
                     f"--symbol {self.symbol}")
                self.told = True
        if self.sigs.stop.is_set():  # (also while a child was still starting)
            stopped_by = "signal"
            _say(f"{' and '.join(self.sigs.received)} received: stopping the runner, Aurora and the venue …")
        self._stop_all()
        self.record.update(finished=_iso_now(), stopped_by=stopped_by, summary=self._summary())
        self._write()
        self._finish_message()
        code = self.record["exit"]
        ok = stopped_by != "error" and code["runner"] == 0 and code["api"] == 0 and code["venue"] in (0, None)
        return 0 if ok else 1

    def _watch(self, runner_metrics: str) -> str:
        """Progress until the runner ends, a signal, or a child dies; what stopped the run."""
        import httpx

        from aurora.ops.progress import LiveLine, Progress, scrape

        ops = self.settings.ops
        runner = self.children["runner"]
        aurora_metrics = f"{self.record['aurora_url']}/metrics"
        wall_end = (None if self.mode == "replay"
                    else time.monotonic() + self.minutes * 60 + ops.deadline_grace_s)
        line, t0 = LiveLine(), time.monotonic()
        last, seen = None, dict[str, float]()
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.sigs.stop.is_set():
                    why = "signal"
                    break
                if not runner.alive():
                    why = "deadline" if runner.exit_code() == 0 else "error"
                    break
                dead = [n for n, c in self.children.items() if n != "runner" and not c.alive()]
                if dead:
                    _say(f"\n{', '.join(dead)} exited unexpectedly:\n{self.children[dead[0]].stderr_tail()}")
                    why = "error"
                    break
                if wall_end is not None and time.monotonic() > wall_end:
                    why = "deadline"
                    break
                seen = scrape(client, runner_metrics) or seen  # (the runner may have just ended)
                last = Progress.read(seen, scrape(client, aurora_metrics)).line(time.monotonic() - t0)
                line.show(last)
                self.sigs.stop.wait(ops.progress_interval_s)
        if last is not None:
            line.end(last)
        return why

    def _stop_all(self) -> None:
        timeout = self.settings.ops.stop_timeout_s
        for name in ("runner", "api", "venue"):  # the runner first: it still reports to Aurora and the venue
            child = self.children.get(name)
            if child is not None:
                self.record["exit"][name] = child.stop(timeout)

    def _summary(self) -> dict[str, Any] | None:
        runner = self.children.get("runner")
        lines = runner.stdout_text().strip().splitlines() if runner is not None else []
        try:
            out = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            return None
        return out if isinstance(out, dict) else None

    def _write(self) -> None:
        from aurora.fileio import atomic_write_bytes

        atomic_write_bytes((json.dumps(self.record, indent=2) + "\n").encode(), self.dir / "run.json")

    def _finish_message(self) -> None:
        r, s = self.record, self.record["summary"]
        codes = ", ".join(f"{k} {v}" for k, v in r["exit"].items() if v is not None)
        _say(f"stopped by {r['stopped_by']}; exit codes: {codes or 'nothing started'}")
        if s is not None:
            _say(f"runner: {s.get('events', 0):,} events, {s.get('evaluations', 0):,} decisions, orders "
                 f"{s.get('orders') or 'none'}, trades {s.get('trades', 0)}, "
                 f"P&L {s.get('pnl_quote', 0.0):+.4f}")
        elif "runner" in self.children and not self.told:
            _say(f"the runner printed no summary; its stderr:\n{self.children['runner'].stderr_tail()}")
        _say(f"run: {self.dir / 'run.json'}")
        self._report()

    def _report(self) -> None:
        from aurora.cli import COMMANDS

        if "report" not in COMMANDS:
            _say(f"report: this version has no 'auroractl report' yet; the run's logs are in {self.dir}")
            return
        proc = subprocess.run([sys.executable, "-m", "aurora", *self.globals, "report", str(self.dir)],
                              env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            _say(f"report failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}\n"
                 f"  try again: auroractl report {self.dir}")
            return
        out = proc.stdout.strip().splitlines()
        _say(f"report: {out[-1] if out else self.dir}")
