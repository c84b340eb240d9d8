"""Errors of the STS token code; every message says what was expected and what was found."""

from __future__ import annotations


class StsError(ValueError):
    """Base of every STS error: bad input to the token builder, decoder or vending side."""


class InvalidStsInput(StsError):
    """A key, PAN, amount, token text or field value outside what the standard allows."""


class CrcMismatch(StsError):
    """A token whose CRC does not verify under the given decoder key."""


class TidOutOfRange(StsError):
    """An issue time that does not fit the 24-bit token identifier of the meter's base date."""


class DuplicateTid(StsError):
    """A token identifier already issued to the same meter (the meter would reject the token)."""
