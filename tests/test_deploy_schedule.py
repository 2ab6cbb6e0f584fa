"""``auroractl calibrate --schedule-check`` names what cron would not find: the directories a job
``cd``s into, AURORA_HOME, the directory of its log file, and the ``auroractl`` on cron's own PATH
(not the shell's)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aurora.cli import main
from aurora.pipeline.schedule import (
    CrontabError,
    crontab_env,
    next_run,
    parse_line,
    path_problems,
    read_crontab,
)

BIN = Path(sys.executable).parent  # holds this environment's auroractl


def _check(tmp_path: Path, text: str) -> list[str]:
    crontab = tmp_path / "crontab"
    crontab.write_text(text)
    return path_problems(read_crontab(crontab), crontab_env(crontab))


def test_a_crontab_whose_paths_exist_passes(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    assert _check(tmp_path, f"AURORA_HOME={tmp_path}\nPATH={BIN}:/usr/bin:/bin\n"
                            f"20 0 * * * cd {tmp_path} && auroractl calibrate --scheduled >> logs/c 2>&1\n"
                            f"0 1 * * * {BIN / 'python'} -m aurora calibrate --scheduled\n") == []


@pytest.mark.parametrize(("line", "needle"), [
    ("20 0 * * * auroractl calibrate --scheduled", "'auroractl' is not found on cron's PATH /usr/bin:/bin"),
    ("20 0 * * * cd /no/such/dir && {bin}/auroractl calibrate --scheduled",
     "cd /no/such/dir: no such directory"),
    ("20 0 * * * {bin}/auroractl calibrate --scheduled > {tmp}/nolog/x.log", "output {tmp}/nolog/x.log"),
    ("20 0 * * * /no/bin/auroractl calibrate --scheduled", "'/no/bin/auroractl' is not found"),
])
def test_each_missing_path_is_named(tmp_path: Path, line: str, needle: str) -> None:
    problems = _check(tmp_path, line.format(bin=BIN, tmp=tmp_path) + "\n")
    assert len(problems) == 1 and needle.format(tmp=tmp_path) in problems[0], problems


def test_the_fix_for_a_program_off_cron_path_names_its_directory(tmp_path: Path) -> None:
    [problem] = _check(tmp_path, "20 0 * * * auroractl calibrate --scheduled\n")
    assert f"PATH={BIN}:/usr/bin:/bin" in problem


def test_missing_aurora_home_is_named(tmp_path: Path) -> None:
    problems = _check(tmp_path, f"AURORA_HOME=/no/such/home\n"
                                f"20 0 * * * {BIN}/auroractl calibrate --scheduled\n")
    assert problems == ["AURORA_HOME=/no/such/home: no such directory (create it or fix the crontab's "
                        "AURORA_HOME line)"]


def test_schedule_check_fails_on_the_shipped_crontab_where_srv_aurora_is_absent(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if Path("/srv/aurora").exists():
        pytest.skip("/srv/aurora exists on this machine")
    assert main(["--home", str(home), "calibrate", "--schedule-check"]) == 2
    err = capsys.readouterr().err
    assert "would fail under cron" in err and "cd /srv/aurora: no such directory" in err
    # --crontab none checks the rest (docker-compose's scheduler does not use the crontab): the
    # kernel passes, and then this empty home has nothing to calibrate
    assert main(["--home", str(home), "calibrate", "--schedule-check", "--crontab", "none"]) == 2
    out, err = capsys.readouterr()
    assert "kernel 'aurora'" in out and "crontab" not in out and "holds no bbo data" in err


def _entries(*lines: str) -> list:
    return [e for i, line in enumerate(lines, 1) if (e := parse_line(line, i))]


@pytest.mark.parametrize(("fields", "after", "expected"), [
    ("20 0 * * *", "2026-12-02T11:00", "2026-12-03T00:20"),
    ("20 0 * * *", "2026-12-02T00:19:59", "2026-12-02T00:20"),
    ("20 0 * * *", "2026-12-02T00:20", "2026-12-03T00:20"),          # strictly after
    ("*/15 * * * *", "2026-12-02T11:07", "2026-12-02T11:15"),
    ("0 9-17/4 * * *", "2026-12-02T13:00", "2026-12-02T17:00"),
    ("30 2 * * 0", "2026-12-02T00:00", "2026-12-06T02:30"),          # Sunday (2026-12-06)
    ("30 2 * * 7", "2026-12-02T00:00", "2026-12-06T02:30"),          # 7 is Sunday too
    ("0 0 1 * 1", "2026-12-02T00:00", "2026-12-07T00:00"),           # dom or dow: Monday first
    ("0 0 29 2 *", "2026-12-02T00:00", "2028-02-29T00:00"),          # leap day
    ("59 23 31 12 *", "2026-12-31T23:59", "2027-12-31T23:59"),
])
def test_next_run_follows_cron(fields: str, after: str, expected: str) -> None:
    entries = _entries(f"{fields} auroractl calibrate --scheduled")
    got = next_run(entries, datetime.fromisoformat(after).replace(tzinfo=UTC))
    assert got == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_next_run_takes_the_earliest_job_and_refuses_one_that_never_runs() -> None:
    two = _entries("0 3 * * * auroractl calibrate --scheduled", "45 1 * * * auroractl calibrate --scheduled")
    assert next_run(two, datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 1, 1, 45, tzinfo=UTC)
    with pytest.raises(CrontabError, match="no job of the crontab ever runs"):
        next_run(_entries("0 0 30 2 * auroractl calibrate --scheduled"), datetime(2026, 1, 1, tzinfo=UTC))


def test_schedule_next_prints_the_shipped_crontabs_next_run(home: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home), "calibrate", "--schedule-next"]) == 0
    when = datetime.fromisoformat(capsys.readouterr().out.strip().replace("Z", "+00:00"))
    assert (when.hour, when.minute) == (0, 20) and when > datetime.now(UTC)
    (home / "pipelines").mkdir()
    (home / "pipelines" / "crontab").write_text("20 0 * * * auroractl calibrate --scheduled\n")
    assert main(["--home", str(home), "calibrate", "--schedule-next"]) == 2
    assert "add the line CRON_TZ=UTC" in capsys.readouterr().err
