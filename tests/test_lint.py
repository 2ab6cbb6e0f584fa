"""Lint and layering run as tests so that CI enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import REPO


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or f"{sys.executable} -m ruff"
    out = subprocess.run([*ruff.split(), "check", "aurora", "tests", "pipelines", "notebooks"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_layering_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is not installed (pip install -e '.[dev]')"
    out = subprocess.run([exe, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
