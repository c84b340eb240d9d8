"""Where things live in the state: the one definition of the state's key layout.

Keys are byte strings with a short ASCII prefix per kind of record, so that a prefix scan
lists one kind and every kind is provable like any other key.
"""

from __future__ import annotations

from typing import Final

NONCE_PREFIX: Final = b"n/"  # n/<32-byte public key> -> next nonce
CODE_PREFIX: Final = b"k/"  # k/<contract name> -> [bytecode, source_hash, version, deployer]
STORAGE_PREFIX: Final = b"s/"  # s/<contract name>/<contract key> -> canonical value
META_PREFIX: Final = b"m/"  # m/<name> -> chain parameters (chain id, governance key, ...)
MAX_CONTRACT_NAME: Final = 64
MAX_CONTRACT_KEY: Final = 512


def nonce_key(account: bytes) -> bytes:
    return NONCE_PREFIX + account


def code_key(contract: str) -> bytes:
    return CODE_PREFIX + contract.encode()


def storage_prefix(contract: str) -> bytes:
    """The namespace of one contract's storage; the ``/`` after the name keeps contract
    ``bill`` from ever reading the keys of contract ``billing``."""
    return STORAGE_PREFIX + contract.encode() + b"/"


def storage_key(contract: str, key: str) -> bytes:
    return storage_prefix(contract) + key.encode()


def meta_key(name: str) -> bytes:
    return META_PREFIX + name.encode()
