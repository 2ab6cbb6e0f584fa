"""``auroractl config``: show the effective settings and where they come from."""

from __future__ import annotations

import argparse
import json

from aurora.cli.context import Context

DESCRIPTION = """\
Print the settings every command uses, as JSON, secrets masked: configs/default.yaml, then
configs/local.yaml, --config files, .env and AURORA_<SECTION>__<KEY> variables, later wins.

Examples:
  auroractl config
  AURORA_RISK__DAILY_DD_LIMIT_PCT=5 auroractl config | grep daily_dd
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print the effective configuration (secrets masked) as JSON",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=_show)


def _show(ctx: Context) -> int:
    doc = ctx.settings.model_dump(mode="json")
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0
