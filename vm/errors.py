"""The VM's error tree. Messages are built by the VM itself (never copied from a Python
exception), so that every node writes byte-identical error strings into receipts."""

from __future__ import annotations


class VMError(Exception):
    """A contract execution that fails: the transaction reverts, its receipt says why."""


class Revert(VMError):
    """``require`` failed or ``revert`` was called by the contract."""


class OutOfGas(VMError):
    """The execution needed more gas than its limit."""


class IntegerOverflow(VMError):
    """An int left the range ``[-2**255, 2**255)``."""


class ReadOnlyViolation(VMError):
    """A storage write or an event in a read-only (``@view`` or query) execution."""
