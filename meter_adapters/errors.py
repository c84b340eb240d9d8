"""The error tree of the meter adapters.

Every adapter rejects bad meter bytes by raising a subclass of ``AdapterError``; callers (the
``meterchain read`` command, the wallet) catch ``AdapterError`` alone. Messages say what was
expected and what was found, e.g. ``"FCS 0x1234 expected, found 0xABCD"``.

``AdapterError`` subclasses ``ValueError`` because every case is a bad input value: code that
already handles ``ValueError`` keeps working.
"""

from __future__ import annotations


class AdapterError(ValueError):
    """Base of every error an adapter raises for bytes it cannot turn into readings."""


class ChecksumError(AdapterError):
    """A CRC, FCS/HCS, BCC or checksum byte that does not match the frame's content."""


class TruncatedFrame(AdapterError):
    """The frame ends before its own length fields say it should."""


class WrongKey(AdapterError):
    """Decryption with the given key fails its check (OMS 2F 2F bytes, GCM tag), or a key is
    missing for an encrypted frame."""


class UnsupportedFrame(AdapterError):
    """A well-formed frame of a kind, version or encoding this adapter does not decode."""
