"""The error tree of the chain. Every message says what was expected and what was found."""

from __future__ import annotations


class ChainError(Exception):
    """Base of every error the chain raises for bad input."""


class DecodeError(ChainError):
    """Bytes that are not the canonical encoding of the expected object."""


class InvalidContractName(DecodeError):
    """A contract name that is not an identifier (see ``chain.keys.CONTRACT_NAME``)."""


class InvalidSignature(ChainError):
    """A signature that does not verify for the stated key, chain and kind."""


class InvalidAddress(ChainError):
    """An account's text form that is malformed or fails its checksum."""


class InvalidBlock(ChainError):
    """A block that no honest node may accept; the whole block is rejected."""


class InvalidTransaction(ChainError):
    """A transaction that may not appear in a block at all (bad signature, wrong chain...)."""


class WrongChain(InvalidTransaction):
    pass


class Expired(InvalidTransaction):
    pass


class NonceMismatch(InvalidTransaction):
    pass


class ProofError(ChainError):
    """A Merkle proof that does not check against the stated root."""
