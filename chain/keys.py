"""Where things live in the state: the one definition of the state's key layout.

Keys are byte strings with a short ASCII prefix per kind of record, so that a prefix scan
lists one kind and every kind is provable like any other key.
"""

from __future__ import annotations

import re
from typing import Final

from chain.errors import InvalidContractName

NONCE_PREFIX: Final = b"n/"  # n/<32-byte public key> -> next nonce
CODE_PREFIX: Final = b"k/"  # k/<contract name> -> [bytecode, source_hash, version, deployer]
STORAGE_PREFIX: Final = b"s/"  # s/<contract name>/<contract key> -> canonical value
META_PREFIX: Final = b"m/"  # m/<name> -> chain parameters (chain id, governance key, ...)
MAX_CONTRACT_NAME: Final = 64
MAX_CONTRACT_KEY: Final = 512
# A contract name is an identifier: ASCII letters, digits and ``_``, not starting with a
# digit. It holds no ``/``, so ``s/<name>/`` namespaces are disjoint by construction: no name
# can be a prefix of another's namespace (``billing/ms`` would write ``billing``'s ``ms/...``).
CONTRACT_NAME: Final = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_CONTRACT_NAME - 1}}}")


def check_contract_name(name: object) -> str:
    """Return ``name`` if it is a contract name (``CONTRACT_NAME``), else raise
    ``InvalidContractName`` saying what was expected and found."""
    if type(name) is not str or CONTRACT_NAME.fullmatch(name) is None:
        raise InvalidContractName(
            f"contract name of 1 to {MAX_CONTRACT_NAME} ASCII letters, digits and _ (not starting with a digit) "
            f"expected, found {name!r:.80}"
        )
    return name


def nonce_key(account: bytes) -> bytes:
    return NONCE_PREFIX + account


def code_key(contract: str) -> bytes:
    """Where contract ``contract``'s code record lives (installed only under a name that
    passed ``check_contract_name``: at deploy and at genesis)."""
    return CODE_PREFIX + contract.encode()


def storage_prefix(contract: str) -> bytes:
    """The namespace of one contract's storage; the ``/`` after the name keeps contract
    ``bill`` from ever reading the keys of contract ``billing``."""
    return STORAGE_PREFIX + contract.encode() + b"/"


def storage_key(contract: str, key: str) -> bytes:
    return storage_prefix(contract) + key.encode()


def meta_key(name: str) -> bytes:
    return META_PREFIX + name.encode()


# --- the governance contract's records the chain itself reads ------------------------------
# (contracts/governance.py: its storage layout; chain.transition and node.validator_sets)

GOVERNANCE_CONTRACT: Final = "governance"
HEIGHT_DIGITS: Final = 20  # the contract's zero-padded heights (contracts/governance/sets.py)


def contract_approval_key(name: str, kind: str, code_hash: bytes) -> bytes:
    """Where governance records an approved deploy or upgrade until the chain uses it."""
    return storage_key(GOVERNANCE_CONTRACT, f"ap/{name}/{kind}/{code_hash.hex()}")


def validator_changes_key(height: int) -> bytes:
    """Where governance records the validator-set changes taking effect at ``height``."""
    return storage_key(GOVERNANCE_CONTRACT, f"ch/{height:0{HEIGHT_DIGITS}d}")


def chain_parameters_key() -> bytes:
    """Where governance keeps the chain parameters (contracts/governance/parameters.py)."""
    return storage_key(GOVERNANCE_CONTRACT, "params")
