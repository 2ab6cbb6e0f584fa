"""Typed settings: ``configs/default.yaml`` + overlays + ``.env`` + ``AURORA_*`` environment.

Precedence, lowest first:

1. ``configs/default.yaml`` — the single source of every default (under ``AURORA_HOME`` when it
   has one, else the copy shipped beside the package).
2. ``configs/local.yaml`` under ``AURORA_HOME``, if present.
3. Files named by ``AURORA_CONFIG`` (``os.pathsep``-separated) and by ``extra_files``.
4. ``$AURORA_HOME/.env`` and then the process environment: ``AURORA_<SECTION>__<KEY>=value``
   (``__`` separates nesting levels; the value is parsed as YAML so ``5``, ``true`` and
   ``[1, 5]`` get their types). Only names of that shape are settings; other ``AURORA_*``
   names are not read (a near miss of a direct variable like ``AURORA_API_TOKEN`` is refused).

Every section forbids unknown keys and every problem is reported as a :class:`ConfigError`
that names the dotted key, the offending value, where it came from (file, ``.env`` or the
environment) and, for an unknown key, the closest known one.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from aurora.core.problems import problems
from aurora.core.symbols import validate_symbol

ENV_PREFIX = "AURORA_"
#: Environment variables read directly rather than as section overrides.
#: Secrets live here and never in YAML (see ``.env.example``).
DIRECT_ENV = frozenset(
    {
        "AURORA_HOME",
        "AURORA_CONFIG",
        "AURORA_API_TOKEN",
        "AURORA_ARTIFACT_KEY",  # read by aurora.signing
        "AURORA_BINANCE_API_KEY",
        "AURORA_BINANCE_API_SECRET",
    }
)
PACKAGED_DEFAULTS = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class ConfigError(ValueError):
    """A configuration value, key or file is wrong; the message names which and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(_Section):
    timeout_s: float = Field(gt=0)
    backoff_initial_s: float = Field(gt=0)
    backoff_max_s: float = Field(gt=0)
    backoff_retries: int = Field(ge=0)
    recv_window_ms: int = Field(gt=0, le=60000)


class LoggingSettings(_Section):
    dir: Path
    rotate_bytes: int = Field(gt=0)
    rotate_backups: int = Field(ge=0)
    echo: bool


class StorageSettings(_Section):
    ticks_dir: str  # a path under AURORA_HOME, or a URI (s3://, gs://, file://): aurora.ticks.location
    parquet_codec: Literal["snappy", "zstd", "gzip", "lz4", "none"]
    on_bad_input: Literal["skip", "error"]
    max_skip_events: int = Field(ge=0)


class SynthSettings(_Section):
    start: datetime
    params: dict[str, float]
    fits_dir: Path


class FeatureSettings(_Section):
    windows_s: tuple[float, ...] = Field(min_length=1)
    obi_levels: int = Field(ge=1, le=1000)
    obi_decay: float = Field(ge=0)
    impact_window_s: float = Field(gt=0)
    microprice_imbalance_buckets: int = Field(ge=2)
    microprice_spread_buckets: int = Field(ge=1)
    microprice_horizon_s: float = Field(gt=0)


class LabelSettings(_Section):
    tp_bps: float = Field(gt=0)
    sl_bps: float = Field(gt=0)
    horizon_s: float = Field(gt=0)
    embargo_s: float = Field(ge=0)


class CostSettings(_Section):
    fee_bps: float = Field(ge=0)
    slippage_bps: float = Field(ge=0)
    maker_fee_bps: float = Field(ge=-100, le=100)


class AccountSettings(_Section):
    equity: float = Field(gt=0)
    day_roll_utc_hour: int = Field(ge=0, le=23)


class RegimeRule(_Section):
    allow: bool
    size_mult: float = Field(ge=0, le=1)


class RiskSettings(_Section):
    daily_dd_limit_pct: float = Field(gt=0, le=100)
    cvar_alpha: float = Field(gt=0, lt=1)
    cvar_limit_bps: float = Field(gt=0)
    cvar_window: int = Field(ge=1)
    cvar_min_trades: int = Field(ge=1)
    spread_bps_limit: float = Field(gt=0)
    latency_ms_limit: float = Field(gt=0)
    slippage_bps_limit: float = Field(gt=0)
    pi_min_bps: float
    epi_tolerance_bps: float = Field(ge=0)
    sprt_alpha: float = Field(gt=0, lt=1)
    sprt_beta: float = Field(gt=0, lt=1)
    sprt_cooloff_s: float = Field(ge=0)
    loss_streak: int = Field(ge=1)
    loss_streak_cooloff_s: float = Field(ge=0)
    dd_breach_cooloff_s: float = Field(ge=0)
    kelly_fraction: float = Field(gt=0, le=1)
    kelly_cap: float = Field(gt=0, le=1)
    risk_per_trade_pct: float = Field(gt=0, le=100)
    max_position_notional: float = Field(gt=0)
    model_max_age_s: float = Field(gt=0)
    regimes: dict[str, RegimeRule] = Field(min_length=1)
    sprt_default_edge_p: float = Field(gt=0, lt=1)
    sprt_undecided_size_mult: float = Field(ge=0, le=1)


class RewardSettings(_Section):
    tp_pct: float = Field(gt=0)
    trail_bps: float = Field(gt=0)
    breakeven_after_R: float = Field(gt=0)
    max_R: float = Field(gt=0)


class RunnerSettings(_Section):
    aurora_url: str | None
    gate_retries: int = Field(ge=0, le=10)
    exchange: str = Field(min_length=1)
    order_qty: float = Field(gt=0)
    intent_interval_s: float = Field(ge=0)
    latency_ms: float = Field(ge=0)
    entry_order: Literal["market", "post_only"]
    entry_timeout_s: float = Field(gt=0)
    exit_order: Literal["market", "limit"]
    exit_timeout_s: float = Field(gt=0)
    book_levels: int = Field(ge=1, le=1000)
    regime_vol_window_s: float = Field(gt=0)
    regime_high_vol_bps: float = Field(gt=0)
    regime_wide_spread_bps: float = Field(gt=0)
    metrics_port: int = Field(ge=0, le=65535)
    metrics_host: str = Field(min_length=1)
    journal_dir: Path
    record_dir: Path | None
    live_confirm: str | None
    cancel_on_stop: bool


class ApiSettings(_Section):
    host: str
    port: int = Field(ge=0, le=65535)
    max_body_bytes: int = Field(ge=1024)
    artifact_path: Path
    state_db: Path
    mode: Literal["replay", "shadow", "paper", "testnet", "live"]
    clock: Literal["wall", "request"]
    allow_unauthenticated: bool
    artifact_poll_s: float = Field(gt=0)
    decision_memory: int = Field(ge=1)
    decision_event_flush_s: float = Field(gt=0, le=1)
    decision_event_backlog: int = Field(ge=1)
    log_level: Literal["critical", "error", "warning", "info", "debug"]
    access_log: bool
    header_timeout_s: float = Field(gt=0)
    body_timeout_s: float = Field(gt=0)
    keep_alive_s: float = Field(gt=0)
    max_concurrency: int = Field(ge=1)
    max_pnl_equity_ratio: float = Field(gt=0)
    max_pnl_notional_ratio: float = Field(gt=0)
    max_fee_notional_ratio: float = Field(gt=0)


class ExchangeSettings(_Section):
    target: Literal["live", "testnet", "venue"]
    rate_limit: bool
    poll_interval_s: float = Field(gt=0)
    stream_retry_s: float = Field(gt=0)


class SymbolFilter(_Section):
    """Exchange filters of one symbol (Binance PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL)."""

    tick_size: float = Field(gt=0)
    step_size: float = Field(gt=0)
    min_qty: float = Field(gt=0)
    min_notional: float = Field(ge=0)


class VenueSettings(_Section):
    host: str
    port: int = Field(ge=0, le=65535)
    exchange: str = Field(min_length=1)
    speed: float = Field(gt=0)
    balances: dict[str, float]
    depth_levels: int = Field(ge=5, le=5000)
    depth_interval_ms: int = Field(ge=1)
    synth_hours: float = Field(gt=0)
    synth_seed: int


class CalibrationSettings(_Section):
    min_samples: int = Field(ge=1)
    ece_bins: int = Field(ge=2)
    ece_noise_multiple: float = Field(gt=0)
    artifacts_dir: Path
    runs_dir: Path
    notebooks_dir: Path
    params_file: Path
    kernel: str = Field(min_length=1)
    cell_timeout_s: float = Field(gt=0)
    lock_wait_s: float = Field(ge=0)
    calibrator_holdout_fraction: float = Field(gt=0, lt=1)
    ece_strategy: Literal["uniform", "quantile"]
    schedule_lookback_days: int = Field(ge=1)


class ReportSettings(_Section):
    time_buckets: int = Field(ge=1)


class DaskSettings(_Section):
    scheduler: str | None = Field(pattern=r"^(tcp|tls|ucx|inproc)://\S+$")
    memory_limit: str = Field(min_length=1)


class OpsSettings(_Section):
    prepare_hours: float = Field(gt=0, le=744)
    prepare_seed: int
    min_free_disk_mb: float = Field(ge=0)
    ready_timeout_s: float = Field(gt=0)
    stop_timeout_s: float = Field(gt=0)
    deadline_grace_s: float = Field(ge=0)
    progress_interval_s: float = Field(gt=0)


class Settings(_Section):
    """All settings. Relative paths are relative to :attr:`home`; use :meth:`path`."""

    home: Path
    api_token: SecretStr | None = None
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None
    http: HttpSettings
    logging: LoggingSettings
    storage: StorageSettings
    synth: SynthSettings
    features: FeatureSettings
    labels: LabelSettings
    costs: CostSettings
    account: AccountSettings
    risk: RiskSettings
    reward: RewardSettings
    runner: RunnerSettings
    api: ApiSettings
    exchange: ExchangeSettings
    symbols: dict[Annotated[str, AfterValidator(validate_symbol)], SymbolFilter] = Field(min_length=1)
    calibration: CalibrationSettings
    venue: VenueSettings
    dask: DaskSettings
    report: ReportSettings
    ops: OpsSettings

    def path(self, relative: str | Path) -> Path:
        """Resolve ``relative`` under ``AURORA_HOME`` (absolute paths pass through)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.home / p


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top, not {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], sources: dict[str, str], origin: str,
           prefix: str = "") -> None:
    """Deep-merge ``overlay`` into ``base`` in place, recording each leaf's origin in ``sources``."""
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, sources, origin, dotted + ".")
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            sources[dotted] = origin


def _env_overrides(env: Mapping[str, str],
                   from_dotenv: frozenset[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn ``AURORA_<SECTION>__<KEY>=v`` entries into a nested mapping.

    Only names of that shape (with ``__``) are settings; other ``AURORA_*`` names are left alone
    (deploy files use none: their variables live outside this space), except a near miss of a
    direct variable such as ``AURORA_API_TOKN``, which is refused. ``from_dotenv`` names the entries
    that came from ``.env`` (not overridden by the process), so errors say where a value came from.
    """
    nested: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in DIRECT_ENV:
            continue
        origin = ".env" if name in from_dotenv else "environment variable"
        if "__" not in name:
            near = _did_you_mean(name, DIRECT_ENV)
            if near:
                raise ConfigError(f"unknown {origin} {name}{near}")
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if any(not p for p in parts):
            raise ConfigError(f"malformed {origin} name {name}: settings look like AURORA_<SECTION>__<KEY>")
        parts = _field_case(parts)
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError as exc:
            raise ConfigError(f"{name}={raw!r} ({origin}) is not a valid value: {exc}") from exc
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name} ({origin}) conflicts with another AURORA_ variable")
        node[parts[-1]] = value
        origins[".".join(parts)] = f"{origin} {name}"
    return nested, origins


def _field_case(parts: list[str]) -> list[str]:
    """Each lower-cased name part in the settings' own spelling, so that the upper-case variable
    AURORA_REWARD__MAX_R reaches ``reward.max_R``."""
    model: Any = Settings
    out = []
    for part in parts:
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        name = next((k for k in fields if k.lower() == part), part)
        out.append(name)
        model = fields[name].annotation if name in fields else None
    return out


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean X?)"`` for the closest candidate, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The setting names allowed beside the unknown key at ``loc`` (for "did you mean")."""
    model: Any = Settings
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _describe(exc: ValidationError, data: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    lines = []
    for p in problems(exc.errors()):
        loc = p.where
        origin = next((sources[k] for k in (loc, *_parents(loc)) if k in sources), "defaults")
        if p.kind == "unknown":
            parts = tuple(loc.split("."))
            near = _did_you_mean(parts[-1], _known_keys(parts))
            lines.append(f"{loc}: unknown setting (from {origin}){near}")
        elif p.kind == "missing":
            lines.append(f"{loc}: required setting is missing (add it to configs/default.yaml)")
        else:
            lines.append(f"{loc}: {p.message} (got {p.value!r}, from {origin})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _parents(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def load_settings(
    home: str | Path | None = None,
    extra_files: Iterable[str | Path] = (),
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate settings.

    ``home`` defaults to ``$AURORA_HOME`` or the current directory; ``env`` defaults to
    ``os.environ`` (pass a mapping in tests). ``.env`` under home never overrides a variable
    already present in ``env``.
    """
    process_env = dict(os.environ if env is None else env)
    root = Path(home or process_env.get("AURORA_HOME") or Path.cwd()).expanduser().resolve()
    dotenv_path = root / ".env"
    dotenv = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None} \
        if dotenv_path.is_file() else {}
    merged_env = {**dotenv, **process_env}

    defaults = root / "configs" / "default.yaml"
    if not defaults.is_file():
        defaults = PACKAGED_DEFAULTS
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    _merge(data, _read_yaml(defaults), sources, str(defaults))
    files: list[Path] = []
    local = root / "configs" / "local.yaml"
    if local.is_file():
        files.append(local)
    files += [Path(p) for p in merged_env.get("AURORA_CONFIG", "").split(os.pathsep) if p]
    files += [Path(p) for p in extra_files]
    for f in files:
        _merge(data, _read_yaml(f if f.is_absolute() else root / f), sources, str(f))
    overrides, origins = _env_overrides(merged_env, frozenset(dotenv.keys() - process_env.keys()))
    _merge(data, overrides, sources, "environment")
    for dotted, origin in origins.items():  # a whole new section from one variable: name it
        for parent in _parents(dotted):
            if sources.get(parent) == "environment":
                sources[parent] = origin
    sources.update(origins)

    for forbidden in ("home", "api_token", "binance_api_key", "binance_api_secret"):
        if forbidden in data:
            raise ConfigError(f"{forbidden} cannot be set in a config file; use AURORA_{forbidden.upper()}")
    data["home"] = root
    for key in ("api_token", "binance_api_key", "binance_api_secret"):
        value = merged_env.get(f"AURORA_{key.upper()}")
        if value:
            data[key] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data, sources)) from None
