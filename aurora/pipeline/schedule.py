"""Scheduled calibration: validate the crontab entries that run ``auroractl calibrate --scheduled``.

A crontab line is five time fields (minute, hour, day of month, month, day of week) and a
command; each field is ``*``, a number, a range ``a-b``, a list ``a,b`` or any of those with a
step ``/n``. Environment lines (``NAME=value``) and comments are allowed in the file. Every job
line must invoke ``auroractl calibrate --scheduled`` (or ``python -m aurora calibrate
--scheduled``) so that runs take the lock and emit their events.

:func:`path_problems` checks what cron will meet when the line runs: the directories it ``cd``s
into and ``AURORA_HOME`` exist, and the ``auroractl`` (or ``python``) it names is found on the
crontab's own ``PATH`` — cron's default is ``/usr/bin:/bin``, where a virtualenv's ``auroractl``
never is, so a crontab that works from a shell can fail every night under cron.

:func:`next_run` reads the time fields as cron does (in UTC: the crontab must say
``CRON_TZ=UTC``), so that docker-compose's scheduler runs on the crontab's schedule instead of
restating it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
#: cron's PATH when the crontab sets none (Debian/Ubuntu cron, cronie)
CRON_DEFAULT_PATH = "/usr/bin:/bin"
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


def crontab_env(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of a crontab (quotes stripped), as cron passes them to jobs."""
    env = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if _ENV.match(stripped):
            name, _, value = stripped.partition("=")
            env[name.strip()] = value.strip().strip("'\"")
    return env


def path_problems(entries: list[CronEntry], env: dict[str, str]) -> list[str]:
    """What would fail when cron runs the jobs: missing directories, a program not on cron's PATH."""
    problems = []
    search = env.get("PATH", CRON_DEFAULT_PATH)
    home = env.get("AURORA_HOME")
    if home and not Path(home).is_dir():
        problems.append(f"AURORA_HOME={home}: no such directory (create it or fix the crontab's "
                        f"AURORA_HOME line)")
    for e in entries:
        cwd = Path(home) if home else Path.home()
        for step in re.split(r"&&|;|\|\|", e.command):
            try:
                words = shlex.split(step)
            except ValueError as exc:
                problems.append(f"line {e.line}: cannot split {step.strip()!r}: {exc}")
                continue
            if not words:
                continue
            for target in _redirects(words):
                parent = (cwd / target).parent
                if not parent.is_dir():
                    problems.append(f"line {e.line}: output {target}: no such directory {parent}")
            if words[0] == "cd" and len(words) > 1:
                cwd = cwd / os.path.expanduser(words[1])
                if not cwd.is_dir():
                    problems.append(f"line {e.line}: cd {words[1]}: no such directory")
            elif words[0] in ("auroractl", "python", "python3") or words[0].endswith(
                    ("/auroractl", "/python", "/python3")):
                found = words[0] if "/" in words[0] and os.access(words[0], os.X_OK) else (
                    None if "/" in words[0] else shutil.which(words[0], path=search))
                if found is None:
                    problems.append(f"line {e.line}: {words[0]!r} is not found on cron's PATH {search} "
                                    f"(add a PATH= line naming its directory, e.g. "
                                    f"PATH={Path(_installed(words[0]) or '/path/to/venv/bin/x').parent}"
                                    f":/usr/bin:/bin, or give its absolute path)")
    return problems


def _installed(program: str) -> str | None:
    """Where ``program`` is installed: beside this interpreter (a virtualenv not on PATH, as under
    ``make test``), else on PATH."""
    beside = Path(sys.executable).parent / program
    return str(beside) if beside.is_file() else shutil.which(program)


def _redirects(words: list[str]) -> list[str]:
    """Files a command's ``>``/``>>`` redirections write (not ``2>&1``)."""
    out = []
    for i, w in enumerate(words):
        op = re.fullmatch(r"\d?>>?(.*)", w)
        if op and "&" not in w:
            target = op.group(1) or (words[i + 1] if i + 1 < len(words) else "")
            if target:
                out.append(target)
    return out


def _expand(value: str, lo: int, hi: int) -> frozenset[int]:
    """The values a (validated) time field matches."""
    out: set[int] = set()
    for part in value.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = lo, hi
        else:
            a, _, b = base.partition("-")
            first, last = int(a), int(b or (hi if step else a))
        out.update(range(first, last + 1, int(step or 1)))
    return frozenset(out)


def next_run(entries: list[CronEntry], after: datetime) -> datetime:
    """The first minute strictly after ``after`` (UTC) at which any entry fires. Day of month and
    day of week both restricted: either matches (cron's rule); day of week 7 is Sunday, as 0."""
    after = after.astimezone(UTC)
    best: datetime | None = None
    for e in entries:
        minute, hour, dom, month, dow = (_expand(v, lo, hi) for v, (_, lo, hi) in zip(e.fields, FIELDS,
                                                                                        strict=True))
        dow = frozenset(d % 7 for d in dow)
        either = not e.fields[2].startswith("*") and not e.fields[4].startswith("*")
        day = after.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(366 * 8):  # every calendar pattern repeats within 8 years (leap days)
            cron_dow = (day.weekday() + 1) % 7  # cron: 0 Sunday; Python: 0 Monday
            days_ok = (day.day in dom or cron_dow in dow) if either else (day.day in dom and cron_dow in dow)
            if day.month in month and days_ok:
                hit = next((day.replace(hour=h, minute=m) for h in sorted(hour) for m in sorted(minute)
                            if day.replace(hour=h, minute=m) > after), None)
                if hit is not None:
                    best = hit if best is None else min(best, hit)
                    break
            day += timedelta(days=1)
    if best is None:
        raise CrontabError("no job of the crontab ever runs (e.g. 30 February)")
    return best


def require_utc(env: dict[str, str], path: Path) -> None:
    """The schedule is read in UTC: refuse a crontab that says another zone (or none)."""
    tz = env.get("CRON_TZ", env.get("TZ"))
    if tz not in ("UTC", "Etc/UTC"):
        raise CrontabError(f"{path}: the schedule is read in UTC; add the line CRON_TZ=UTC "
                           f"(it says {tz or 'no CRON_TZ, i.e. the host local time'})")
