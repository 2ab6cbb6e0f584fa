"""docs/configuration.md is generated from the typed settings and configs/default.yaml: it is
current, names every key with a description, and every environment variable it names really
overrides its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO
from pydantic import BaseModel

from aurora.cli import main
from aurora.config import PACKAGED_DEFAULTS, Settings, load_settings
from aurora.config_reference import env_name, render, rows, yaml_comments

DOC = REPO / "docs" / "configuration.md"


def _keys() -> list[str]:
    out = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if section in ("home", "api_token", "binance_api_key", "binance_api_secret"):
            continue
        if isinstance(model, type) and issubclass(model, BaseModel):
            out += [f"{section}.{k}" for k in model.model_fields]
        else:
            out.append(section)
    return out


def test_the_committed_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run `auroractl config --reference --out docs/configuration.md`")


def test_every_key_is_listed_with_a_type_default_and_description() -> None:
    listed = {r[0].strip("`"): r for _, _, table in rows(PACKAGED_DEFAULTS.read_text()) for r in table}
    assert sorted(listed) == sorted(_keys())
    undocumented = [k for k, r in listed.items() if not r[4]]
    assert not undocumented, f"add a comment beside these keys in configs/default.yaml: {undocumented}"
    assert all(r[1] and r[2] for r in listed.values())


def test_every_environment_variable_named_overrides_its_key() -> None:
    defaults = yaml.safe_load(PACKAGED_DEFAULTS.read_text())
    shipped = load_settings(home=PACKAGED_DEFAULTS.parent.parent, env={}).model_dump()
    for dotted in _keys():
        section, _, key = dotted.partition(".")
        value = defaults[section][key] if key else defaults[section]
        env = {env_name(dotted): yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n")}
        got = load_settings(home=PACKAGED_DEFAULTS.parent.parent, env=env).model_dump()
        assert got == shipped, dotted


def test_comments_beside_and_above_keys_are_read() -> None:
    text = "# the section\nsec:               # beside\n  # above a\n  a: 1\n  b: 'x # y'  # real\n  c: 2\n"
    assert yaml_comments(text) == {"sec": "beside", "sec.a": "above a", "sec.b": "real"}


def test_cli_writes_markdown_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ref.md"
    assert main(["config", "--reference", "--out", str(out)]) == 0
    assert out.read_text() == render()
    assert main(["config", "--reference", "--out", str(tmp_path / "ref.txt")]) == 2
    assert "name a .md file" in capsys.readouterr().err
    assert main(["config", "--out", str(out)]) == 2
    assert "add --reference" in capsys.readouterr().err
