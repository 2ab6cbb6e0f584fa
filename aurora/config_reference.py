"""The configuration reference (docs/configuration.md), generated from the typed settings.

Every key of :class:`aurora.config.Settings` with its type and constraints (from the pydantic
models), its default (from ``configs/default.yaml``), its description (the comment beside or
above the key in that file) and the environment variable that overrides it. Nothing is restated
by hand, so the reference cannot drift: ``auroractl config --reference --out docs/configuration.md``
regenerates it and a test fails when the committed file is not current.
"""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

import annotated_types as at
import yaml
from pydantic import BaseModel

from aurora.config import DIRECT_ENV, ENV_PREFIX, PACKAGED_DEFAULTS, Settings

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")
_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", ">="), (at.Lt, "lt", "<"), (at.Le, "le", "<="))
_DIRECT = {
    "AURORA_HOME": "working root: configs/, data/ and logs/ resolve under it (default: the current "
                   "directory)",
    "AURORA_CONFIG": "extra YAML overlays, separated by the OS path separator (later wins)",
    "AURORA_API_TOKEN": "Bearer token of the API's mutating routes (required in live mode)",
    "AURORA_ARTIFACT_KEY": "key that signs and verifies calibration artifacts (aurora.signing)",
    "AURORA_BINANCE_API_KEY": "Binance API key (testnet and live modes; the local venue accepts it)",
    "AURORA_BINANCE_API_SECRET": "Binance API secret",
}


def yaml_comments(text: str) -> dict[str, str]:
    """Dotted key → its comment in a YAML file: the ``# ...`` after the value, or, for a key with
    none, the comment lines directly above it."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        m = _KEY.match(line)
        if not m:
            above = []
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [m["key"]])
        stack.append((indent, m["key"]))
        _, hash_, comment = _split_comment(m["rest"])
        text_ = comment.strip() if hash_ else " ".join(above)
        if text_:
            out[dotted] = text_
        above = []
    return out


def _split_comment(rest: str) -> tuple[str, str, str]:
    """``value  # comment`` → value, '#', comment (a ``#`` inside quotes is part of the value)."""
    quote = None
    for i, ch in enumerate(rest):
        if ch in "'\"":
            quote = None if quote == ch else (quote or ch)
        elif ch == "#" and quote is None and (i == 0 or rest[i - 1].isspace()):
            return rest[:i], "#", rest[i + 1:]
    return rest, "", ""


def type_name(tp: Any) -> str:
    """A readable type: ``float``, ``str | null``, ``list[float]``, ``snappy | zstd``, ..."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin is tuple:
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"map[{type_name(args[0])} → {type_name(args[1])}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "{" + ", ".join(f"{k}: {type_name(f.annotation)}" for k, f in tp.model_fields.items()) + "}"
    if tp is Path:
        return "path"
    if tp is datetime:
        return "ISO-8601 time"
    return getattr(tp, "__name__", str(tp))


def constraints(metadata: list[Any]) -> str:
    parts = []
    for m in metadata:
        for cls, attr, sym in _BOUNDS:
            if isinstance(m, cls):
                parts.append(f"{sym} {getattr(m, attr)}")
        if isinstance(m, at.MinLen):
            parts.append(f"length >= {m.min_length}")
        pattern = getattr(m, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def env_name(dotted: str) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in dotted.split("."))


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return "`" + value.isoformat().replace("+00:00", "Z") + "`"
    text = "null" if value is None else yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("\n...").strip()
    return "`" + text.replace("|", "\\|") + "`"


def rows(defaults_text: str) -> list[tuple[str, list[tuple[str, str, str, str, str]]]]:
    """Per section: (section comment, [(key, type, default, env var, description)])."""
    comments = yaml_comments(defaults_text)
    defaults = yaml.safe_load(defaults_text)
    out = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if section not in defaults:
            continue  # home and the secrets: not YAML settings (see the environment table)
        if isinstance(model, type) and issubclass(model, BaseModel):
            items = [(f"{section}.{k}", f.annotation, f.metadata, defaults[section].get(k))
                     for k, f in model.model_fields.items()]
        else:
            items = [(section, model, field.metadata, defaults[section])]
        table = []
        for dotted, tp, meta, default in items:
            kind = type_name(tp)
            bound = constraints(meta)
            table.append((f"`{dotted}`", kind + (f" ({bound})" if bound else ""), _cell(default),
                          f"`{env_name(dotted)}`", comments.get(dotted, "").replace("|", "\\|")))
        out.append((section, comments.get(section, ""), table))
    return out


def render(defaults_path: Path = PACKAGED_DEFAULTS) -> str:
    """The whole reference as Markdown."""
    text = defaults_path.read_text(encoding="utf-8")
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `auroractl config --reference --out docs/configuration.md` from",
        "     aurora/config.py and configs/default.yaml; do not edit by hand. -->",
        "",
        "Every setting, its type and allowed range, its default (`configs/default.yaml`), and the",
        "environment variable that overrides it. Precedence, lowest first: `configs/default.yaml`,",
        "`configs/local.yaml` under `AURORA_HOME`, files in `AURORA_CONFIG` and `--config FILE`,",
        "`$AURORA_HOME/.env`, then the process environment. An environment value is parsed as YAML,",
        "so `5`, `true`, `null` and `[1.0, 5.0]` get their types; a map takes a YAML mapping, e.g.",
        "`AURORA_VENUE__BALANCES='{USDT: 5000}'`. `auroractl config` prints the effective settings.",
        "Units are in the key's suffix: `_s` seconds, `_ms` milliseconds, `_bps` basis points,",
        "`_pct` percent; money is in the quote currency (USDT).",
        "",
        "## Environment variables read directly",
        "",
        "| variable | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {_DIRECT[name]} |" for name in sorted(DIRECT_ENV)]
    for section, comment, table in rows(text):
        lines += ["", f"## `{section}`", ""]
        if comment:
            lines += [comment, ""]
        lines += ["| key | type | default | environment variable | description |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in table]
    return "\n".join(lines) + "\n"
