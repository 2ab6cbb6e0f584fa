"""The CLI starts fast: only the command being run is imported, and every command is listed."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import aurora.cli
from aurora.cli import COMMANDS, build_parser

HEAVY = ("numba", "sklearn", "fastapi", "papermill", "pyarrow", "pandas", "uvicorn", "ccxt", "dask")


def _loaded_after(args: list[str], home) -> set[str]:
    """Heavy modules present in ``sys.modules`` after running ``auroractl ARGS`` in a fresh process."""
    code = (
        "import sys, json\n"
        "from aurora.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=home, env={"PATH": "/usr/bin:/bin", "AURORA_HOME": str(home),
                                        "PYTHONPATH": ":".join(sys.path)})
    return set(json.loads(out.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["config"], ["data", "--help"]])
def test_light_commands_import_no_heavy_framework(args, home) -> None:
    loaded = _loaded_after(args, home)
    if args[0] == "data":  # its handlers need pyarrow, but never the API, numba kernels or notebooks
        loaded -= {"pyarrow", "pandas", "numba"}
    assert loaded == set(), f"auroractl {' '.join(args)} imported {sorted(loaded)}"


def test_every_command_module_is_in_the_table() -> None:
    modules = {m.name for m in pkgutil.iter_modules(aurora.cli.__path__)} - {"context"}
    assert modules == {module for module, _ in COMMANDS.values()}


def _parsers(parser: argparse.ArgumentParser):
    """``parser`` and every parser below it (subcommands of subcommands)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_registers_itself_with_a_plain_description(name) -> None:
    parser = build_parser([name])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in _parsers(sub.choices[name]):
        assert command.description, f"{command.prog} has no description"
        text = command.description + " ".join(a.help or "" for a in command._actions)
        assert "``" not in text and ":mod:" not in text, f"{command.prog}: help text uses reST markup"
    module = importlib.import_module(f"aurora.cli.{COMMANDS[name][0]}")
    assert hasattr(module, "register")


def test_global_options_before_the_command_are_skipped() -> None:
    parser = build_parser(["--home", "config", "--config", "x.yaml", "config"])
    args = parser.parse_args(["--home", "config", "--config", "x.yaml", "config"])
    assert args.command == "config" and args.home == "config" and args.config == ["x.yaml"]


def test_unknown_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        aurora.cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
