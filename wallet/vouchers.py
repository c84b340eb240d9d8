"""Prepaid vouchers (scratch cards) on the wallet side: the key pair a printed code stands for.

A voucher's printed code is the seed of an Ed25519 key pair. The utility registers only the
public key on chain (``payments.issue_vouchers``); the consumer proves possession of the code
by signing the redemption with the private key, and the signature names the meter and the
redeeming account. The code itself never travels, so a node operator or anyone watching the
mempool cannot redeem it first, and a copied signature cannot be redirected to another meter
or another account (docs/contracts/payments.md, "Vouchers").

Derivation (fixed; changing it orphans every voucher already printed):

- normalised code: the printed code with spaces and hyphens removed, ASCII letters upper-cased;
  only ASCII letters and digits remain (``"1234 5678-90ab"`` -> ``"1234567890AB"``);
- seed = SHA-256(``SEED_TAG`` || UTF-8 of the normalised code), ``SEED_TAG`` = ``b"mc/voucher-seed"``
  padded with zero bytes to 16;
- key pair = Ed25519 from that 32-byte seed (libsodium's ``crypto_sign_seed_keypair``);
- redemption message = ``REDEEM_TAG`` || canonical encoding of ``[meter id, account]``,
  ``REDEEM_TAG`` = ``b"mc/voucher"`` padded with zero bytes to 16; account = the 32-byte key of
  the account that submits ``redeem_voucher``.

Anyone holding the public key can test guesses of the code offline, so codes must carry
enough entropy: ``new_code`` prints 20 random decimal digits (about 66 bits), the length of
an STS token, and ``MIN_CODE_DIGITS`` refuses shorter codes.

Everything here is pure except ``new_code``, which draws from the operating system's
random source (for the utility's card printing).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

import nacl.signing

from chain import codec
from chain.hashing import TAG_SIZE

SEED_TAG: Final = b"mc/voucher-seed".ljust(TAG_SIZE, b"\x00")
REDEEM_TAG: Final = b"mc/voucher".ljust(TAG_SIZE, b"\x00")
CODE_DIGITS: Final = 20
MIN_CODE_DIGITS: Final = 16  # ~53 bits for a code of digits only: the least we accept
_SEPARATORS: Final = frozenset(" -")


@dataclass(frozen=True, slots=True)
class VoucherKey:
    """The key pair of one voucher: ``seed`` is secret, ``public_key`` goes on chain."""

    code: str  # normalised
    seed: bytes
    public_key: bytes


def normalise_code(code: str) -> str:
    """The printed code as the derivation reads it (separators dropped, letters upper-case).

    Raises ValueError when anything other than ASCII letters, digits, spaces and hyphens is
    found, or when fewer than ``MIN_CODE_DIGITS`` characters remain."""
    kept = []
    for ch in code:
        if ch in _SEPARATORS:
            continue
        if not (ch.isascii() and ch.isalnum()):
            raise ValueError(f"voucher code of ASCII letters, digits, spaces and hyphens expected, found {ch!r}")
        kept.append(ch.upper())
    text = "".join(kept)
    if len(text) < MIN_CODE_DIGITS:
        raise ValueError(f"voucher code of at least {MIN_CODE_DIGITS} characters expected, found {len(text)}")
    return text


def voucher_key(code: str) -> VoucherKey:
    """The key pair a printed code stands for."""
    text = normalise_code(code)
    seed = hashlib.sha256(SEED_TAG + text.encode("ascii")).digest()
    public_key = bytes(nacl.signing.SigningKey(seed).verify_key)
    return VoucherKey(text, seed, public_key)


def redemption_message(meter: str, account: bytes) -> bytes:
    """The bytes the voucher key signs to redeem on ``meter`` for ``account``: exactly what
    ``payments.redeem_voucher`` rebuilds with ``canonical_bytes([meter, caller()])``."""
    if len(account) != 32:
        raise ValueError(f"32-byte account key expected, found {len(account)} bytes")
    return REDEEM_TAG + codec.encode([meter, bytes(account)])


def sign_redemption(code: str, meter: str, account: bytes) -> tuple[bytes, bytes]:
    """``(voucher public key, signature)``: the last two arguments of ``redeem_voucher``."""
    key = voucher_key(code)
    signature = nacl.signing.SigningKey(key.seed).sign(redemption_message(meter, account)).signature
    return key.public_key, bytes(signature)


def new_code(digits: int = CODE_DIGITS) -> str:
    """A fresh printable code of ``digits`` random decimal digits, grouped by four."""
    if digits < MIN_CODE_DIGITS:
        raise ValueError(f"at least {MIN_CODE_DIGITS} digits expected, found {digits}")
    raw = "".join(str(secrets.randbelow(10)) for _ in range(digits))
    return "-".join(raw[i:i + 4] for i in range(0, digits, 4))
