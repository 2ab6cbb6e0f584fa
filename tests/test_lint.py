"""Lint and layering run as tests so that CI enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_ruff_is_clean() -> None:
    # the interpreter's own ruff: a different one on PATH may know other rules
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "aurora", "tests", "pipelines", "notebooks"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_layering_contracts_hold() -> None:
    # beside the interpreter first: `make test` runs .venv/bin/python without .venv/bin on PATH
    beside = Path(sys.executable).parent / "lint-imports"
    exe = str(beside) if beside.is_file() else shutil.which("lint-imports")
    assert exe, "import-linter is not installed (pip install -e '.[dev]')"
    out = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
