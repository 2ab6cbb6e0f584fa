"""``auroractl config``: show the effective settings, or write the configuration reference."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aurora.cli.context import CliError, Context

DESCRIPTION = """\
Print the settings every command uses, as JSON, secrets masked: configs/default.yaml, then
configs/local.yaml, --config files, .env and AURORA_<SECTION>__<KEY> variables, later wins.

--reference prints the configuration reference instead (every key, its type, range, default,
environment variable and description, generated from aurora/config.py and configs/default.yaml);
with --out FILE it writes it there (docs/configuration.md is that file, kept current by a test).

Examples:
  auroractl config
  AURORA_RISK__DAILY_DD_LIMIT_PCT=5 auroractl config | grep daily_dd
  auroractl config --reference --out docs/configuration.md
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print the effective configuration (secrets masked) as JSON",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", action="store_true",
                   help="print the configuration reference (Markdown) instead of the settings")
    p.add_argument("--out", type=Path, metavar="FILE", help="with --reference: write it to FILE")
    p.set_defaults(handler=_show)


def _show(ctx: Context) -> int:
    if ctx.args.out and not ctx.args.reference:
        raise CliError("--out writes the reference: add --reference")
    if ctx.args.reference:
        from aurora.config_reference import render

        text = render()
        if ctx.args.out is None:
            print(text, end="")
            return 0
        if ctx.args.out.suffix.lower() != ".md":
            raise CliError(f"--out {ctx.args.out}: the reference is Markdown; name a .md file")
        ctx.args.out.parent.mkdir(parents=True, exist_ok=True)
        ctx.args.out.write_text(text, encoding="utf-8")
        print(f"wrote {ctx.args.out}")
        return 0
    doc = ctx.settings.model_dump(mode="json")
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0
