"""Signed artifacts: an edited artifact with a recomputed sha256 is refused when a key is configured,
and the API serves only signed artifacts in live mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from aurora import signing
from aurora.api.process import ServerProcess
from aurora.artifact import ArtifactError, digest, load_artifact
from aurora.testing import write_artifact
from tests.test_api import TOKEN

KEY = "k" * 32


def _forge(path: Path, tp_bps: float) -> None:
    """Edit the artifact as an attacker without the key would: change a field, recompute sha256."""
    doc = json.loads(path.read_text())
    doc["barriers"]["tp_bps"] = tp_bps
    doc["sha256"] = digest({k: v for k, v in doc.items() if k not in ("sha256", "signature")})
    path.write_text(json.dumps(doc))


def test_a_signed_artifact_loads_and_a_forged_one_is_refused(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.ENV_KEY, KEY)
    path = write_artifact(tmp_path / "a.json", "v1")  # exported with the configured key
    doc = json.loads(path.read_text())
    assert doc["signature"] == signing.signature(doc["sha256"], KEY.encode())
    assert load_artifact(path).model_version == "v1"
    _forge(path, 50.0)
    with pytest.raises(ArtifactError, match="signature does not match AURORA_ARTIFACT_KEY"):
        load_artifact(path)
    monkeypatch.delenv(signing.ENV_KEY)
    assert load_artifact(path).body.barriers.tp_bps == 50.0  # without a key: a checksum only
    with pytest.raises(ArtifactError, match="signed artifact is required"):
        load_artifact(path, require_signature=True)


def test_unsigned_artifacts_are_refused_once_a_key_is_set(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(signing.ENV_KEY, raising=False)
    path = write_artifact(tmp_path / "a.json", "v1")
    assert "signature" not in json.loads(path.read_text())
    with pytest.raises(ArtifactError, match="not signed"):
        load_artifact(path, key=KEY.encode())
    monkeypatch.setenv(signing.ENV_KEY, "another key, 16+ bytes")
    other = write_artifact(tmp_path / "b.json", "v1")
    monkeypatch.delenv(signing.ENV_KEY)
    with pytest.raises(ArtifactError, match="does not match"):
        load_artifact(other, key=KEY.encode())
    path.write_text(json.dumps({**json.loads(path.read_text()), "signature": 7}))
    with pytest.raises(ArtifactError, match="does not match"):  # a signature that is not even a string
        load_artifact(path, key=KEY.encode())


def test_the_key_comes_from_the_environment_then_dotenv_and_must_be_long_enough(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"{signing.ENV_KEY}={KEY}\n")
    assert signing.configured_key({}, tmp_path) == KEY.encode()
    assert signing.configured_key({signing.ENV_KEY: "e" * 20}, tmp_path) == b"e" * 20
    assert signing.configured_key({}, tmp_path / "nowhere") is None
    with pytest.raises(signing.SignatureError, match="at least 16"):
        signing.configured_key({signing.ENV_KEY: "short"}, tmp_path)


def test_the_api_refuses_unsigned_artifacts_with_a_key_and_in_live_mode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(signing.ENV_KEY, raising=False)
    home = tmp_path / "home"
    write_artifact(home / "data" / "artifacts" / "current.json", "unsigned")
    env = {"AURORA_API_TOKEN": TOKEN, signing.ENV_KEY: KEY}
    with ServerProcess(home, env) as srv, httpx.Client(base_url=srv.url) as c:
        model = c.get("/health").json()["model"]
        assert model["loaded"] is False and "not signed" in model["error"]
        monkeypatch.setenv(signing.ENV_KEY, KEY)
        write_artifact(home / "data" / "artifacts" / "current.json", "signed")
        assert c.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}).json()["reloaded"]
    live = {k: v for k, v in os.environ.items() if not k.startswith("AURORA_")}
    live |= {"AURORA_API_TOKEN": TOKEN, "AURORA_API__MODE": "live", "AURORA_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "aurora", "serve", "--port", "0"], capture_output=True,
                         text=True, timeout=120, env=live)
    assert out.returncode == 2 and signing.ENV_KEY in out.stderr
    with ServerProcess(home, {**env, "AURORA_API__MODE": "live"}) as srv, \
            httpx.Client(base_url=srv.url) as c:
        assert c.get("/health").json()["model"]["version"] == "signed"
