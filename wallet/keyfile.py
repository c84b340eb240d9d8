"""A wallet's key file: the account's 32-byte Ed25519 seed as hex, readable by its owner only.

The file is created once and never overwritten (a wallet that lost its key loses its
account, so ``create`` refuses an existing file rather than replace it), with mode 0600
from the first byte written: the seed is never readable by others, even briefly.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from chain.signatures import keypair_from_seed
from chain.types import PublicKey

SEED_SIZE = 32


class KeyFileError(Exception):
    pass


def create(path: Path) -> tuple[bytes, PublicKey]:
    """A fresh key written to ``path`` (which must not exist); the seed and the account."""
    seed = secrets.token_bytes(SEED_SIZE)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"no key file at {path} expected (a key is never overwritten), found one") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(seed.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return keypair_from_seed(seed)


def load(path: Path) -> tuple[bytes, PublicKey]:
    """The seed and account of the key file at ``path``."""
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"a key file at {path} expected (meterchain wallet new), found: {exc.strerror}") from None
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFileError(f"{SEED_SIZE * 2} hex digits expected in {path}, found bytes that are not text") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"a key file readable by its owner only (mode 600) expected at {path}, found mode {mode & 0o777:o}")
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{SEED_SIZE * 2} hex digits expected in {path}, found text that is not hex") from None
    if len(seed) != SEED_SIZE:
        raise KeyFileError(f"{SEED_SIZE * 2} hex digits expected in {path}, found {len(text)}")
    return keypair_from_seed(seed)
