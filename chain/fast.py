"""Fast paths of the chain's hot path, each beside the plain definition it must equal.

The specification is the plain code in ``chain.types`` and ``chain.codec``; what is here
exists only because bench/bench_core.py (the core path: decode, verify, apply a contract
call) measured it, and tests/chain/test_fast.py checks each one against the definition it
shortens. Anything here may be deleted without changing a single result.
"""

from __future__ import annotations

from typing import Any, Final

from chain.hashing import Domain

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
MAX_CHAIN_ID_LEN: Final = 64
MAX_CALL_NAME_LEN: Final = 64
U64_MAX: Final = 2**64 - 1
KIND_CALL: Final = "call"
TX_KINDS: Final = ("call", "deploy", "upgrade")

# ``Domain.X.tag`` is an attribute lookup through the enum on every use; the tag is constant.
TX_SIGNING_TAG: Final = Domain.TX_SIGNING.tag

# msgpack headers: an 8-array, a 7-array, and the bin8 header of a 64-byte signature.
_ARRAY_8: Final = 0x98
_ARRAY_7: Final = b"\x97"


def signing_bytes_from_encoding(encoded: bytes, signature: bytes) -> bytes | None:
    """``Transaction.signing_bytes`` cut from the signed encoding, or None if it cannot be.

    Saves an encode per verified transaction (~10% of the core path). The signed
    transaction is the 8-array ``[body..., signature]``; its body is the same bytes as the
    7-array of the body fields once the array header says 7 and the trailing bin8
    signature (0xC4 0x40 + 64 bytes) is cut.
    """
    if type(signature) is not bytes or len(signature) != SIGNATURE_SIZE or encoded[0] != _ARRAY_8:
        return None
    return TX_SIGNING_TAG + _ARRAY_7 + encoded[1 : -(SIGNATURE_SIZE + 2)]


def is_common_transaction(
    chain_id: Any, sender: Any, nonce: Any, expiry: Any, gas_limit: Any, kind: Any, payload: Any, signature: Any
) -> bool:
    """True when the eight transaction fields are a well-formed contract call, tested as one
    chain of exact type tests (the common case of every decoded and validated transaction).

    False means only "not proven here": the caller then runs the named checks of
    ``chain.types.check_transaction_fields``, which say what was expected and what was found.
    """
    return (
        type(chain_id) is str and len(chain_id) <= MAX_CHAIN_ID_LEN
        and type(sender) is bytes and len(sender) == PUBLIC_KEY_SIZE
        and type(nonce) is int and 0 <= nonce <= U64_MAX
        and type(expiry) is int and 0 <= expiry <= U64_MAX
        and type(gas_limit) is int and 0 <= gas_limit <= U64_MAX
        and kind == KIND_CALL and type(kind) is str
        and type(signature) is bytes and len(signature) == SIGNATURE_SIZE
        and type(payload) is list and len(payload) == 3
        and type(payload[0]) is str and len(payload[0]) <= MAX_CALL_NAME_LEN
        and type(payload[1]) is str and len(payload[1]) <= MAX_CALL_NAME_LEN
        and type(payload[2]) is list
    )  # fmt: skip


def new_checked_transaction(cls: Any, fields: list[Any]) -> Any:
    """``cls(*fields)`` for decoded fields (``cls`` is ``chain.types.Transaction``).

    The generated ``__init__`` of a frozen dataclass calls ``object.__setattr__`` once per
    field and then the field checks; for the common well-formed call the checks are this
    module's one chain of type tests and the eight attributes go into the instance dict in
    one update. Anything else takes the plain constructor and its named checks.
    """
    if not is_common_transaction(*fields):
        return cls(*fields)
    tx = object.__new__(cls)
    chain_id, sender, nonce, expiry, gas_limit, kind, payload, signature = fields
    tx.__dict__.update(
        chain_id=chain_id,
        sender=sender,
        nonce=nonce,
        expiry_height=expiry,
        gas_limit=gas_limit,
        kind=kind,
        payload=payload,
        signature=signature,
    )
    return tx


# Every byte that is not the header of a msgpack array or map (fixmap 0x80-0x8f, fixarray
# 0x90-0x9f, array16/32 0xdc/0xdd, map16/32 0xde/0xdf).
_NOT_CONTAINER_HEADER: Final = bytes(b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF))


def nesting_surely_within(data: bytes, max_depth: int) -> bool:
    """True when the msgpack ``data`` cannot nest containers deeper than ``max_depth`` levels
    (``chain.codec`` counts the top container as level 0), counted in C.

    Each container starts with one header byte, so a value nested ``max_depth + 1`` deep
    has at least that many header-valued bytes; fewer such bytes in all (headers, or the
    same values inside strings, integers and binaries) prove the nesting is within the limit.
    A transaction has about ten. False means only "not proven": the caller walks the value.
    """
    return len(data.translate(None, _NOT_CONTAINER_HEADER)) <= max_depth  # the header-valued bytes
