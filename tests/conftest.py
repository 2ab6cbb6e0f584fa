"""Shared fixtures: an isolated AURORA_HOME per test and the shared real recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from aurora.config import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: The shared real Binance recordings (``shared/`` lies beside the repository's checkout).
SHARED_WS = REPO.parent / "shared" / "data" / "binance-ws" / "spot"

# Property tests are deterministic by default (the same examples on every machine and run);
# HYPOTHESIS_PROFILE=explore draws fresh random examples, more of them, to hunt for new failures.
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", max_examples=1000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's AURORA_* variables."""
    for name in list(os.environ):
        if name.startswith("AURORA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty working root; settings fall back to the repository's configs/default.yaml."""
    root = tmp_path / "home"
    root.mkdir()
    return root


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home, env={})
