"""Preflight checks: is this workspace ready to run a mode? Each check is a :class:`Check` that
says what it found and, when it fails, the fix.

Which checks apply to a mode (:func:`static_checks`, :func:`exchange_checks`):

- every mode: the artifact (present, untampered, signed when a key is set, fresh, covering the
  symbol at its tick), the ports one-click will listen on, free disk, writable log and data dirs;
- replay: market data of the symbol in the tick store;
- shadow, paper, testnet, live: the exchange (``exchange.target``) answers, its clock is within
  ``http.recv_window_ms`` of ours, its filters equal ``symbols:``; testnet and live: API keys;
  live: everything :func:`aurora.runner.live.live_refusals` asks for.

The configuration itself is checked first by loading it (:func:`config_check`).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aurora.artifact import ArtifactError, load_artifact
from aurora.config import ConfigError, Settings, load_settings
from aurora.exchange import BadRequestError, Gateway, GatewayError
from aurora.runner.features import feature_params
from aurora.runner.live import live_refusals
from aurora.runner.source import SourceError, last_quote_ns
from aurora.ticks.location import is_uri, rooted
from aurora.ticks.store import TickStore

MODES = ("replay", "shadow", "paper", "testnet", "live")
LIVE_DATA = ("shadow", "paper", "testnet", "live")
KEY_VARS = "AURORA_BINANCE_API_KEY and AURORA_BINANCE_API_SECRET"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def needs_venue(settings: Settings, mode: str) -> bool:
    """True when ``mode`` reads live data from the local venue (``exchange.target: venue``)."""
    return mode in LIVE_DATA and mode != "live" and settings.exchange.target == "venue"


def config_check(home: str | Path | None,
                 extra_files: Sequence[str | Path] = ()) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(home=home, extra_files=extra_files)
    except ConfigError as exc:
        return Check("config", False, str(exc), "correct the setting named above (configs/*.yaml, .env "
                     "or the AURORA_* variable it came from)"), None
    return Check("config", True, f"valid ({settings.home})"), settings


def artifact_check(settings: Settings, symbol: str, now_s: float | None = None) -> Check:
    path = settings.path(settings.api.artifact_path)
    recalibrate = "recalibrate: auroractl preflight --calibrate (or auroractl calibrate)"
    if not path.exists():
        return Check("artifact", False, f"no artifact at {path}", recalibrate)
    try:
        cal = load_artifact(path)
    except ArtifactError as exc:
        return Check("artifact", False, str(exc),
                     "restore the previous one (auroractl calibrate --rollback) or " + recalibrate)
    age_s = (time.time() if now_s is None else now_s) - cal.created_at.timestamp()
    limit = settings.risk.model_max_age_s
    if age_s > limit:
        return Check("artifact", False, f"{cal.model_version} is {age_s / 86400:.1f} days old, over "
                     f"risk.model_max_age_s ({limit / 86400:.1f} days): Aurora would deny every order",
                     recalibrate)
    if symbol not in cal.body.symbols:
        return Check("artifact", False,
                     f"{cal.model_version} covers {', '.join(cal.body.symbols)}, not {symbol}",
                     f"calibrate on {symbol}: auroractl calibrate --symbol {symbol}")
    filt = settings.symbols.get(symbol)
    if filt is None:
        return Check("artifact", False, f"{symbol} has no filters under symbols:",
                     f"add {symbol} with its exchange filters to symbols: in configs/local.yaml")
    try:
        feature_params(cal, filt.tick_size)
    except ArtifactError as exc:
        return Check("artifact", False, str(exc), recalibrate)
    return Check("artifact", True, f"{cal.model_version}, sha256 verified, {age_s / 3600:.1f} h old")


def data_check(settings: Settings, symbol: str) -> Check:
    store = TickStore(rooted(settings.storage.ticks_dir, settings.path))
    exchange = settings.runner.exchange
    try:
        last = last_quote_ns(store, exchange, symbol)
    except SourceError as exc:
        return Check("market data", False, str(exc),
                     f"import recordings (auroractl data import --symbol {symbol} FILE...) or synthesise a "
                     f"market (auroractl data synth --symbol {symbol} --hours 24 --seed 7); one-click "
                     "--mode replay synthesises one itself")
    days = store.dates("bbo", exchange, symbol)
    return Check("market data", True, f"{symbol} on {exchange}: {len(days)} day(s), {days[0]} → {days[-1]} "
                 f"(last quote {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(last / 1e9))} UTC)")


def ports(settings: Settings, mode: str) -> list[tuple[str, str, str, int]]:
    """(what, setting, host, port) of every port a one-click run of ``mode`` listens on."""
    out = [("Aurora API", "api.port", settings.api.host, settings.api.port),
           ("runner metrics", "runner.metrics_port", "127.0.0.1", settings.runner.metrics_port)]
    if needs_venue(settings, mode):
        out.append(("local venue", "venue.port", settings.venue.host, settings.venue.port))
    return out


def port_check(what: str, setting: str, host: str, port: int) -> Check:
    name = f"port {setting}"
    if port == 0:
        return Check(name, True, f"{what}: 0, a free port is picked at start")
    with socket.socket() as s:
        # as the servers bind (connections of an earlier run in TIME_WAIT do not make a port taken)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return Check(name, False, f"{what}: {host}:{port} is taken ({exc.strerror or exc})",
                         f"stop what listens there, or set {setting} to a free port (0: any free one)")
    return Check(name, True, f"{what}: {host}:{port} free")


def keys_check(settings: Settings, mode: str, *, local_keys: bool = False) -> Check:
    """API keys for ``mode`` (testnet and live send orders). ``local_keys``: one-click generates
    this run's keys for the local venue it starts."""
    if mode not in ("testnet", "live"):
        return Check("API keys", True, f"not needed in {mode} mode")
    if settings.binance_api_key is not None and settings.binance_api_secret is not None:
        return Check("API keys", True, f"{KEY_VARS} set")
    if local_keys:
        return Check("API keys", True, "keys generated for this run's local venue")
    where = "the local venue accepts any pair you set" if settings.exchange.target == "venue" else \
        f"the {settings.exchange.target} keys of your account"
    return Check("API keys", False, f"{KEY_VARS} not set", f"set both in the environment or .env ({where})")


def live_check(settings: Settings) -> Check:
    refusals = live_refusals(settings)
    if refusals:
        return Check("live mode", False, "live mode would refuse to start", "; ".join(refusals))
    return Check("live mode", True, "keys, Aurora URL and token, target and confirmation set")


def disk_check(settings: Settings) -> Check:
    need_mb = settings.ops.min_free_disk_mb
    # object storage has no local disk to fill: then the logs' disk is the one checked
    data = settings.logging.dir if is_uri(settings.storage.ticks_dir) else settings.storage.ticks_dir
    where = _existing(settings.path(data))
    free_mb = shutil.disk_usage(where).free / 2**20
    if free_mb < need_mb:
        return Check("disk space", False, f"{free_mb:,.0f} MB free at {where}, under ops.min_free_disk_mb "
                     f"({need_mb:,.0f} MB)", "free some space (old data/runs, logs/runs) or lower "
                     "ops.min_free_disk_mb")
    return Check("disk space", True, f"{free_mb:,.0f} MB free at {where}")


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def writable_checks(settings: Settings, mode: str) -> list[Check]:
    r = settings.runner
    dirs = [("logging.dir", settings.logging.dir),
            ("api.state_db (its dir)", Path(settings.api.state_db).parent)]
    if not is_uri(settings.storage.ticks_dir):  # object storage is written by its own upload rules
        dirs.insert(1, ("storage.ticks_dir", settings.storage.ticks_dir))
    if mode in ("testnet", "live"):
        dirs.append(("runner.journal_dir", r.journal_dir))
    if mode in LIVE_DATA and r.record_dir is not None:
        dirs.append(("runner.record_dir", r.record_dir))
    return [_writable(setting, settings.path(d)) for setting, d in dirs]


def _writable(setting: str, path: Path) -> Check:
    name = f"writable {setting}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".preflight-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return Check(name, False, f"{path}: {exc.strerror or exc}",
                     f"make {path} writable for this user, or point {setting} elsewhere")
    return Check(name, True, str(path))


def static_checks(settings: Settings, mode: str, symbol: str, *, local_keys: bool = False,
                  check_ports: bool = True) -> list[Check]:
    """Every check of ``mode`` that needs no exchange connection."""
    out = [artifact_check(settings, symbol)]
    if mode == "replay":
        out.append(data_check(settings, symbol))
    if check_ports:
        out += [port_check(*p) for p in ports(settings, mode)]
    out.append(keys_check(settings, mode, local_keys=local_keys))
    if mode == "live":
        out.append(live_check(settings))
    out.append(disk_check(settings))
    out += writable_checks(settings, mode)
    return out


async def exchange_checks(settings: Settings, symbol: str) -> list[Check]:
    """The exchange at ``exchange.target`` answers, its clock is within ``http.recv_window_ms`` of
    ours, and its filters of ``symbol`` equal ``symbols:`` (no retries: a preflight answers fast)."""
    target = settings.exchange.target
    where = f"{settings.venue.host}:{settings.venue.port}" if target == "venue" else target
    quick = settings.model_copy(update={"http": settings.http.model_copy(update={"backoff_retries": 0})})
    try:
        gw = Gateway(quick, symbols=[symbol])
    except BadRequestError as exc:
        return [Check("exchange filters", False, str(exc), f"add {symbol} to symbols: in configs/local.yaml")]
    start_venue = f"start it (auroractl venue --symbol {symbol}; one-click starts it itself)" \
        if target == "venue" else "check the network and exchange.target"
    try:
        try:
            offset = await gw.sync_clock()
        except GatewayError as exc:
            return [Check("exchange reachable", False, f"{target} at {where}: {exc}", start_venue)]
        out = [Check("exchange reachable", True, f"{target} at {where}")]
        window = settings.http.recv_window_ms
        out.append(Check("exchange clock", abs(offset) < window,
                         f"offset {offset:+.0f} ms (local − exchange), recvWindow {window} ms",
                         "" if abs(offset) < window else "sync this machine's clock (NTP: timedatectl "
                         "set-ntp true)"))
        try:
            f = (await gw.load_markets())[symbol]
            out.append(Check("exchange filters", True, f"{symbol}: tick {f.tick_size:g}, step "
                             f"{f.step_size:g}, min qty {f.min_qty:g}, min notional {f.min_notional:g}, "
                             "as in symbols:"))
        except BadRequestError as exc:
            out.append(Check("exchange filters", False, str(exc),
                             f"set symbols.{symbol} in configs/local.yaml to the exchange's values"))
        except GatewayError as exc:
            out.append(Check("exchange filters", False, f"markets not loaded: {exc}", start_venue))
        return out
    finally:
        await gw.close()


def failed(checks: Iterable[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def table(checks: Sequence[Check]) -> str:
    """The checks as a plain-text table: check, ok/FAIL, what was found, then the fix of a failure."""
    width = max((len(c.name) for c in checks), default=5)
    lines = []
    for c in checks:
        lines.append(f"{c.name:<{width}}  {'ok  ' if c.ok else 'FAIL'}  {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"{'':<{width}}        fix: {c.fix}")
    return "\n".join(lines)
