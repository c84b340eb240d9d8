"""Errors of consensus objects; each message says what was expected and what was found."""

from __future__ import annotations

from chain.errors import ChainError


class ConsensusError(ChainError):
    """Base of every error consensus raises for bad input."""


class InvalidValidatorSet(ConsensusError):
    """A validator set that breaks a rule (no validators, zero power, duplicates, too much power)."""


class InvalidCommit(ConsensusError):
    """A commit certificate that does not prove the block final for the given validator set."""


class InvalidEvidence(ConsensusError):
    """Evidence that does not prove a validator signed two conflicting votes."""
