"""Typed settings: ``configs/default.yaml`` + overlays + ``.env`` + ``AURORA_*`` environment.

Precedence, lowest first:

1. ``configs/default.yaml`` — the single source of every default (under ``AURORA_HOME`` when it
   has one, else the copy shipped beside the package).
2. ``configs/local.yaml`` under ``AURORA_HOME``, if present.
3. Files named by ``AURORA_CONFIG`` (``os.pathsep``-separated) and by ``extra_files``.
4. ``$AURORA_HOME/.env`` and then the process environment: ``AURORA_<SECTION>__<KEY>=value``
   (``__`` separates nesting levels; the value is parsed as YAML so ``5``, ``true`` and
   ``[1, 5]`` get their types).

Every section forbids unknown keys and every problem is reported as a :class:`ConfigError`
that names the dotted key, the offending value and where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

ENV_PREFIX = "AURORA_"
#: Environment variables read directly rather than as section overrides.
#: Secrets live here and never in YAML (see ``.env.example``).
DIRECT_ENV = frozenset(
    {
        "AURORA_HOME",
        "AURORA_CONFIG",
        "AURORA_API_TOKEN",
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
    ticks_dir: Path
    parquet_codec: Literal["snappy", "zstd", "gzip", "lz4", "none"]
    fallback_format: Literal["jsonl"]
    on_bad_input: Literal["skip", "error"]
    max_skip_events: int = Field(ge=0)


class SynthSettings(_Section):
    start: datetime
    params: dict[str, float]


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


class ApiSettings(_Section):
    host: str
    port: int = Field(ge=1, le=65535)
    max_body_bytes: int = Field(ge=1024)
    artifact_path: Path
    state_db: Path
    mode: Literal["replay", "shadow", "paper", "testnet", "live"]
    allow_unauthenticated: bool
    artifact_poll_s: float = Field(gt=0)
    decision_memory: int = Field(ge=1)
    decision_event_flush_s: float = Field(gt=0, le=1)
    decision_event_backlog: int = Field(ge=1)
    log_level: Literal["critical", "error", "warning", "info", "debug"]
    access_log: bool


class SymbolFilter(_Section):
    """Exchange filters of one symbol (Binance PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL)."""

    tick_size: float = Field(gt=0)
    step_size: float = Field(gt=0)
    min_qty: float = Field(gt=0)
    min_notional: float = Field(ge=0)


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


class DaskSettings(_Section):
    scheduler: str | None = Field(pattern=r"^(tcp|tls|ucx|inproc)://\S+$")
    memory_limit: str = Field(min_length=1)


class PortSettings(_Section):
    api: int = Field(ge=1, le=65535)
    prometheus: int = Field(ge=1, le=65535)
    grafana: int = Field(ge=1, le=65535)


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
    api: ApiSettings
    symbols: dict[str, SymbolFilter] = Field(min_length=1)
    calibration: CalibrationSettings
    dask: DaskSettings
    ports: PortSettings

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


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn ``AURORA_A__B=v`` entries into a nested mapping; refuse unknown ``AURORA_*`` names."""
    nested: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in DIRECT_ENV:
            continue
        if "__" not in name:
            raise ConfigError(
                f"unknown environment variable {name}: section overrides look like "
                f"AURORA_<SECTION>__<KEY>, and the direct ones are {', '.join(sorted(DIRECT_ENV))}"
            )
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if any(not p for p in parts):
            raise ConfigError(f"malformed environment variable name {name}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError as exc:
            raise ConfigError(f"{name}={raw!r} is not a valid value: {exc}") from exc
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name} conflicts with another AURORA_ variable")
        node[parts[-1]] = value
        origins[".".join(parts)] = f"environment variable {name}"
    return nested, origins


def _describe(exc: ValidationError, data: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        origin = next((sources[k] for k in (loc, *_parents(loc)) if k in sources), "defaults")
        if err["type"] == "extra_forbidden":
            lines.append(f"{loc}: unknown setting (from {origin})")
        elif err["type"] == "missing":
            lines.append(f"{loc}: required setting is missing (add it to configs/default.yaml)")
        else:
            lines.append(f"{loc}: {err['msg']} (got {err.get('input')!r}, from {origin})")
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
    merged_env = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None} \
        if dotenv_path.is_file() else {}
    merged_env.update(process_env)

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
    overrides, origins = _env_overrides(merged_env)
    _merge(data, overrides, sources, "environment")
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
