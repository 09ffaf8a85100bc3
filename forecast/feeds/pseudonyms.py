"""The episode key: a visit number hashed with a secret of this installation, so that stored stays, logs and
MLflow never carry the hospital's own identifiers, and the key cannot be recomputed from a visit number without
the secret (a plain hash of a short number can).

The secret is 32 random bytes in a file made on first use, readable by its owner only. Keep it with the
database: the same visit must get the same key when its next message arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from forecast.store import data_folder

__all__ = ["Pseudonyms", "default_secret_file", "load_secret"]

PREFIX = "v:"


def default_secret_file() -> Path:
    """Beside the service's default database, in the user's data folder."""
    return data_folder() / "episode-key.secret"


def load_secret(path: str | Path | None = None) -> bytes:
    """The installation's secret, made (32 random bytes, mode 0600) if the file does not exist yet.

    Raises:
        ValueError: the file exists but holds fewer than 16 bytes.
    """
    path = Path(path) if path is not None else default_secret_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(32))
    secret = path.read_bytes()
    if len(secret) < 16:
        raise ValueError(f"{path}: the episode-key secret must hold at least 16 bytes")
    return secret


class Pseudonyms:
    """`key(visit)`: the episode_id a visit's stays are stored under."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def key(self, visit: str) -> str:
        digest = hmac.new(self._secret, visit.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:40]
