"""Artifact signatures: HMAC-SHA256 with a key kept outside the artifact directory.

An artifact's ``sha256`` is a checksum: anyone who edits the file can recompute it. The
``signature`` field authenticates it: ``HMAC-SHA256(key, "aurora.calibration/1:" + sha256)``
as lowercase hex, where ``sha256`` is the verified digest of the body (DESIGN.md §5), so the
signature covers every field. The key is ``AURORA_ARTIFACT_KEY`` (the environment first, then
the workspace's ``.env``, like every secret; at least 16 bytes), written at export by
:func:`aurora.artifact.save_artifact` when one is configured.

Policy (:func:`verify`): with a key configured, an unsigned or wrongly signed artifact is
refused; where a signature is required (the API in live mode) it is refused without a key too.
Without a key and not required, artifacts load as before, signed or not.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from hashlib import sha256
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

ENV_KEY = "AURORA_ARTIFACT_KEY"
FIELD = "signature"
MIN_KEY_BYTES = 16
_DOMAIN = b"aurora.calibration/1:"


class SignatureError(ValueError):
    """An artifact's signature is missing, wrong, or cannot be checked; the message says which."""


def configured_key(env: Mapping[str, str] | None = None, home: str | Path | None = None) -> bytes | None:
    """The signing key: ``AURORA_ARTIFACT_KEY`` from ``env`` (default ``os.environ``), else from the
    ``.env`` of ``home`` (default ``$AURORA_HOME`` or the current directory); None when unset."""
    env = os.environ if env is None else env
    value = env.get(ENV_KEY)
    if not value:
        dotenv = Path(home or env.get("AURORA_HOME") or Path.cwd()) / ".env"
        value = dotenv_values(dotenv).get(ENV_KEY) if dotenv.is_file() else None
    if not value:
        return None
    key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise SignatureError(f"{ENV_KEY} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
                             "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
    return key


def signature(digest_hex: str, key: bytes) -> str:
    """The signature of an artifact whose body hashes to ``digest_hex``."""
    return hmac.new(key, _DOMAIN + digest_hex.encode(), sha256).hexdigest()


def sign(document: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """``document`` (with its ``sha256``) plus its ``signature``."""
    return {**document, FIELD: signature(str(document["sha256"]), key)}


def verify(document: Mapping[str, Any], key: bytes | None, required: bool = False) -> None:
    """Check the signature of a document whose ``sha256`` was already verified (see the policy)."""
    claimed = document.get(FIELD)
    if key is None:
        if required:
            raise SignatureError(f"a signed artifact is required here but {ENV_KEY} is not set: "
                                 f"set it (environment or .env) to the key the artifact was exported with")
        return
    if claimed is None:
        raise SignatureError(f"it is not signed but {ENV_KEY} is set: export it again with the key "
                             "(auroractl calibrate signs what it writes)")
    expected = signature(str(document["sha256"]), key)
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed, expected):
        raise SignatureError(f"its signature does not match {ENV_KEY} (tampered with, or signed with "
                             "another key)")
