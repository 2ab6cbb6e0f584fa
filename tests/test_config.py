from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aurora.config import PACKAGED_DEFAULTS, ConfigError, load_settings


def test_defaults_carry_the_issue_values(settings) -> None:
    assert settings.http.timeout_s == 3.0
    assert (settings.http.backoff_initial_s, settings.http.backoff_max_s, settings.http.backoff_retries) == (
        0.4, 6.4, 5)
    assert settings.http.recv_window_ms == 5000
    assert settings.logging.rotate_bytes == 50 * 1024 * 1024 and settings.logging.rotate_backups == 5
    assert settings.storage.parquet_codec == "snappy"
    r = settings.risk
    assert (r.daily_dd_limit_pct, r.cvar_alpha, r.spread_bps_limit, r.latency_ms_limit) == (10, 0.1, 80, 500)
    w = settings.reward
    assert (w.tp_pct, w.trail_bps, w.breakeven_after_R, w.max_R) == (0.5, 20, 0.8, 3.0)


def test_every_field_is_defined_in_default_yaml() -> None:
    """default.yaml is the single source: the models have no defaults of their own."""
    from aurora.config import Settings

    def walk(model, doc, prefix=""):
        for name, field in model.model_fields.items():
            if name in {"home", "api_token", "binance_api_key", "binance_api_secret"}:
                continue
            assert name in doc, f"{prefix}{name} missing from configs/default.yaml"
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann, doc[name], f"{prefix}{name}.")

    walk(Settings, yaml.safe_load(PACKAGED_DEFAULTS.read_text()))


def test_env_overrides_nested_keys_with_yaml_types(home: Path) -> None:
    s = load_settings(home=home, env={"AURORA_RISK__DAILY_DD_LIMIT_PCT": "5",
                                      "AURORA_FEATURES__WINDOWS_S": "[1, 5, 30]"})
    assert s.risk.daily_dd_limit_pct == 5.0
    assert s.features.windows_s == (1.0, 5.0, 30.0)


def test_dotenv_is_read_but_process_env_wins(home: Path) -> None:
    (home / ".env").write_text("AURORA_API_TOKEN=from-dotenv\nAURORA_ACCOUNT__EQUITY=500\n")
    s = load_settings(home=home, env={"AURORA_ACCOUNT__EQUITY": "700"})
    assert s.api_token is not None and s.api_token.get_secret_value() == "from-dotenv"
    assert s.account.equity == 700.0
    assert "from-dotenv" not in repr(s)


def test_local_yaml_and_extra_files_layer_in_order(home: Path, tmp_path: Path) -> None:
    (home / "configs").mkdir()
    (home / "configs" / "local.yaml").write_text("risk: {spread_bps_limit: 40}\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("risk: {spread_bps_limit: 30}\naccount: {equity: 123}\n")
    s = load_settings(home=home, env={}, extra_files=[extra])
    assert s.risk.spread_bps_limit == 30 and s.account.equity == 123
    assert s.risk.latency_ms_limit == 500


def test_paths_resolve_under_home(settings, home: Path) -> None:
    assert settings.path(settings.storage.ticks_dir) == home / "data" / "ticks"
    assert settings.path("/abs/x") == Path("/abs/x")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"AURORA_RISK__DAILY_DD_LIMIT_PCT": "abc"}, "risk.daily_dd_limit_pct"),
        ({"AURORA_RISK__DAILY_DD_LIMIT_PCT": "-1"}, "risk.daily_dd_limit_pct"),
        ({"AURORA_RISK__NO_SUCH_KEY": "1"}, "risk.no_such_key: unknown setting"),
        ({"AURORA_STORAGE__ON_BAD_INPUT": "ignore"}, "storage.on_bad_input"),
        ({"AURORA_API_TOKN": "1"}, "AURORA_API_TOKN (did you mean AURORA_API_TOKEN?)"),
        ({"AURORA_RISK__CVAR_ALPA": "0.2"}, "risk.cvar_alpa: unknown setting (from environment variable "
                                            "AURORA_RISK__CVAR_ALPA) (did you mean cvar_alpha?)"),
        ({"AURORA_RISKK__X": "1"}, "riskk: unknown setting (from environment variable AURORA_RISKK__X) "
                                   "(did you mean risk?)"),
    ],
)
def test_bad_values_name_the_key_and_source(home: Path, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(home=home, env=env)
    assert needle in str(info.value)


def test_bad_yaml_file_is_named(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        load_settings(home=home, env={}, extra_files=[bad])
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(home=home, env={}, extra_files=[tmp_path / "missing.yaml"])


def test_secrets_cannot_come_from_yaml(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("api_token: hunter2\n")
    with pytest.raises(ConfigError, match="AURORA_API_TOKEN"):
        load_settings(home=home, env={}, extra_files=[f])


def test_aurora_variables_outside_the_settings_shape_are_not_settings(home: Path) -> None:
    """Deploy files and other tools may use AURORA_* names without ``__``: they are not read."""
    s = load_settings(home=home, env={"AURORA_PROMETHEUS_URL": "http://x", "AURORA_SOMETHING": "1"})
    assert s.account.equity > 0


def test_dotenv_values_are_reported_as_coming_from_dotenv(home: Path) -> None:
    (home / ".env").write_text("AURORA_RISK__CVAR_ALPHA=7\n")
    with pytest.raises(ConfigError, match=r"from \.env AURORA_RISK__CVAR_ALPHA"):
        load_settings(home=home, env={})
    with pytest.raises(ConfigError, match="from environment variable AURORA_RISK__CVAR_ALPHA"):
        load_settings(home=home, env={"AURORA_RISK__CVAR_ALPHA": "8"})


def test_unknown_yaml_key_suggests_the_closest(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "typo.yaml"
    f.write_text("risk: {daily_dd_limit_pc: 5}\n")
    with pytest.raises(ConfigError, match=r"did you mean daily_dd_limit_pct\?"):
        load_settings(home=home, env={}, extra_files=[f])


def _setting_paths(model, prefix: str = ""):
    """Dotted paths of every leaf setting (a dict-valued setting is one leaf: its keys are data)."""
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            yield from _setting_paths(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_every_setting_is_read_by_some_code() -> None:
    """No dead config: each key of configs/default.yaml is read somewhere outside aurora/config.py.

    A key counts as read when its name appears in the package's code as an attribute
    (``settings.risk.cvar_alpha``, ``limits.cvar_alpha``) or a quoted key (``"cvar_alpha"``).
    """
    import re

    from aurora.config import Settings

    package = Path(__file__).resolve().parent.parent / "aurora"
    code = "\n".join(p.read_text() for p in package.rglob("*.py") if p.name != "config.py")
    unread = []
    for dotted in _setting_paths(Settings):
        if dotted in {"home", "api_token", "binance_api_key", "binance_api_secret"}:
            continue
        name = dotted.rsplit(".", 1)[-1]
        if not re.search(rf"\.{name}\b|[\"']{name}[\"']", code):
            unread.append(dotted)
    assert unread == [], f"settings nothing reads (wire them up or delete them): {unread}"
