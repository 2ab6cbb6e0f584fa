"""Scheduled calibration: validate the crontab entries that run ``auroractl calibrate --scheduled``.

A crontab line is five time fields (minute, hour, day of month, month, day of week) and a
command; each field is ``*``, a number, a range ``a-b``, a list ``a,b`` or any of those with a
step ``/n``. Environment lines (``NAME=value``) and comments are allowed in the file. Every job
line must invoke ``auroractl calibrate --scheduled`` (or ``python -m aurora calibrate
--scheduled``) so that runs take the lock and emit their events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
_COMMAND = re.compile(r"(auroractl|python3?\s+-m\s+aurora)\s+(.*\s)?calibrate\s+(.*\s)?--scheduled\b")


class CrontabError(ValueError):
    """A crontab line is malformed; the message names the line and field."""


@dataclass(frozen=True)
class CronEntry:
    fields: tuple[str, str, str, str, str]
    command: str
    line: int


def _check_field(value: str, name: str, lo: int, hi: int) -> None:
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"{name}: bad step {step!r}")
        if base == "*":
            continue
        lo_s, dash, hi_s = base.partition("-")
        nums = [lo_s, hi_s] if dash else [lo_s]
        if not all(n.isdigit() for n in nums):
            raise ValueError(f"{name}: {part!r} is not *, a number, a range or a list")
        vals = [int(n) for n in nums]
        if any(v < lo or v > hi for v in vals):
            raise ValueError(f"{name}: {part!r} is outside {lo}-{hi}")
        if dash and vals[0] > vals[1]:
            raise ValueError(f"{name}: range {part!r} runs backwards")


def parse_line(text: str, line: int = 1) -> CronEntry | None:
    """Parse one crontab line; ``None`` for blank, comment and environment lines."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#") or _ENV.match(stripped):
        return None
    parts = stripped.split(None, 5)
    if len(parts) < 6:
        raise CrontabError(f"line {line}: expected five time fields and a command, got {stripped!r}")
    for (name, lo, hi), value in zip(FIELDS, parts[:5], strict=False):
        try:
            _check_field(value, name, lo, hi)
        except ValueError as exc:
            raise CrontabError(f"line {line}: {exc}") from None
    command = parts[5]
    if not _COMMAND.search(command):
        raise CrontabError(f"line {line}: the command must run `auroractl calibrate --scheduled`, "
                           f"got {command!r}")
    return CronEntry((parts[0], parts[1], parts[2], parts[3], parts[4]), command, line)


def read_crontab(path: Path) -> list[CronEntry]:
    """Every job of a crontab file (at least one), validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CrontabError(f"cannot read {path}: {exc.strerror or exc}") from None
    entries = [e for i, raw in enumerate(text.splitlines(), 1) if (e := parse_line(raw, i))]
    if not entries:
        raise CrontabError(f"{path} holds no job line")
    return entries
