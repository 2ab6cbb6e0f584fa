"""``auroractl config``: show the effective settings and where they come from."""

from __future__ import annotations

import argparse
import json

from aurora.cli.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print the effective configuration (secrets masked) as JSON")
    p.set_defaults(handler=_show)


def _show(ctx: Context) -> int:
    doc = ctx.settings.model_dump(mode="json")
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0
