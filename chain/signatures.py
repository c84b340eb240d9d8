"""Ed25519 signatures (libsodium through PyNaCl).

Every signed payload starts with a domain tag naming the object kind, and every payload
that travels between chains carries the chain id; a signature therefore never verifies on
another chain or as another kind of object.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import nacl.signing
from nacl._sodium import ffi, lib

from chain import fast
from chain.errors import InvalidSignature
from chain.hashing import Domain
from chain.types import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, PublicKey, Signature, Transaction

_crypto_sign_open: Final = lib.crypto_sign_open
_NULL: Final = ffi.NULL


def keypair_from_seed(seed: bytes) -> tuple[bytes, PublicKey]:
    """A (secret seed, public key) pair from a 32-byte seed."""
    if len(seed) != 32:
        raise ValueError(f"32-byte seed expected, found {len(seed)} bytes")
    key = nacl.signing.SigningKey(seed)
    return seed, PublicKey(bytes(key.verify_key))


def sign(seed: bytes, domain: Domain, message: bytes) -> Signature:
    """Sign ``message`` as an object of kind ``domain`` with the key derived from ``seed``."""
    signed = nacl.signing.SigningKey(seed).sign(domain.tag + message)
    return Signature(signed.signature)


def verify(public_key: bytes, domain: Domain, message: bytes, signature: bytes) -> bool:
    return verify_raw(public_key, domain.tag + message, signature)


def verify_raw(public_key: bytes, signed_bytes: bytes, signature: bytes) -> bool:
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    # libsodium's ``crypto_sign_open`` itself (PyNaCl's ``nacl.bindings.crypto_sign_open``
    # without its wrapper): given no message buffer and no length pointer it only verifies,
    # so nothing is allocated or copied back. Every transaction is verified once; the
    # wrapper's two buffers and copy were about 10k instructions of it.
    try:
        signed = b"".join((signature, signed_bytes))
        return bool(_crypto_sign_open(_NULL, _NULL, signed, len(signed), bytes(public_key)) == 0)
    except TypeError:  # not bytes-like
        return False


def sign_transaction(tx: Transaction, seed: bytes) -> Transaction:
    """Return ``tx`` signed by ``seed``; the sender field must match the seed's key."""
    key = nacl.signing.SigningKey(seed)
    if bytes(key.verify_key) != tx.sender:
        raise ValueError("the signing key does not match the transaction's sender")
    signature = Signature(key.sign(tx.signing_bytes()).signature)
    signed = replace(tx, signature=signature)
    # FAST PATH: the signed encoding is the one just made with the new signature in place
    # (chain/fast.py), kept as ``Transaction.decode`` keeps the bytes it decoded.
    encoded = fast.encoding_with_signature(tx.encode(), tx.signature, signature)
    if encoded is not None:
        signed.__dict__["_encoded"] = encoded
        signed.__dict__["nesting"] = tx.nesting  # the signature is no container: the same
    return signed


def check_transaction_signature(tx: Transaction) -> None:
    if not verify_raw(tx.sender, tx.signing_bytes(), tx.signature):
        raise InvalidSignature(
            f"a signature by {tx.sender.hex()} over this transaction on chain {tx.chain_id!r} "
            "expected, found one that does not verify"
        )
