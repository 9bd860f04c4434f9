"""Files only their owner may read: key files (council, audit, PDF certificate key) and the code-letter
mail-merge files. Created with mode 0600 from the start, so they are never readable by others, not even
between the write and a later chmod."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization


def write_secret(path: Path, data: bytes, *, exclusive: bool = False, mode: int = 0o600) -> None:
    """Write `data` to `path` with `mode` from the first byte. `exclusive`: refuse to replace a file that
    exists (FileExistsError), e.g. a key someone else configured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # an existing file keeps its old mode through O_TRUNC


def private_key_pem(key) -> bytes:
    """An unencrypted PKCS#8 PEM of a private key (Ed25519, ECDSA or RSA)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
