"""The user's first hour: conda and pip install the same dependencies, the Makefile installs into a
project virtualenv (never the system Python, which PEP 668 refuses), and CI runs exactly the
README's test command."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import yaml
from conftest import REPO

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[([a-z,]+)\])?\s*(.*?)\s*$")


def _normalised(requirement: str) -> tuple[str, str]:
    """``uvicorn[standard]>=0.30`` -> (``uvicorn-standard``, ``>=0.30``): conda-forge names an extra
    as a package of its own and spells ``_`` / ``-`` either way."""
    match = _REQUIREMENT.match(requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    name, extra, spec = match.groups()
    name = name.lower().replace("_", "-") + (f"-{extra}" if extra else "")
    return name, spec.replace(" ", "")


def test_environment_yml_lists_exactly_the_pip_dependencies_and_extras() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    pip = [*project["dependencies"], *(r for extra in extras for r in extra)]
    conda = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    listed = [d for d in conda if isinstance(d, str) and _normalised(d)[0] not in ("python", "pip")]
    listed += [d for d in next(d["pip"] for d in conda if isinstance(d, dict)) if d != "-e ."]
    want, have = dict(map(_normalised, pip)), dict(map(_normalised, listed))
    assert len(have) == len(listed), "environment.yml lists a package twice"
    assert have == want, {"only in pyproject.toml": sorted(want.keys() - have.keys()),
                          "only in environment.yml": sorted(have.keys() - want.keys()),
                          "other versions": sorted(k for k in want.keys() & have.keys()
                                                   if want[k] != have[k])}
    assert "jupyterlab" in want and "nbconvert" in want  # the lab extra `make run` installs


def test_make_installs_into_the_project_virtualenv_and_run_installs_the_lab() -> None:
    make = shutil.which("make")
    assert make, "make is not installed"
    for target in ("run", "test"):
        out = subprocess.run([make, "-n", "-B", target], cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        lines = [line for line in out.stdout.splitlines() if "pip" in line and "install" in line]
        assert lines and all(line.startswith(".venv/bin/python -m pip") for line in lines), lines
        assert "--quiet" not in out.stdout and "--progress-bar on" in out.stdout
        assert "python3 -m venv .venv" in out.stdout
    run = subprocess.run([make, "-n", "-B", "run"], cwd=REPO, capture_output=True, text=True).stdout
    assert '-e ".[dev,lab]"' in run and "ipykernel install --sys-prefix --name aurora" in run
    assert ".venv/bin/python -m aurora demo" in run


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    test_command = next(line.split("#")[0].strip() for line in block.splitlines() if "test" in line)
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert test_command == "make test" and ci[-1] == test_command
