"""Reading transactions for the billing contract: plain values in, a signed transaction out.

The agreed entry point (with the contracts engineers) is a ``call`` transaction::

    ["billing", "submit_reading",
     [meter, register, timestamp, index, trust, raw_hash, meter_signature]]

``trust`` says who vouches for the number: ``"meter"`` (the meter signed it with its own
Ed25519 key; ``meter_signature`` is 64 bytes over ``[meter, register, index, unit,
timestamp]`` in the METER_READING domain), ``"consumer"`` (read by the consumer's wallet,
no meter signature: ``b""``) or ``"collector"`` (a data collector's reading). The sender's
own signature over the transaction is what ``chain.signatures.sign_transaction`` adds.

The builder takes plain values, not a ``meter_adapters`` reading: the wallet sits below the
meter adapters in the layers (an adapter turns a meter's bytes into these values; a
wallet reading a number typed by its user has no adapter at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from chain.hashing import Hash32
from chain.signatures import keypair_from_seed, sign_transaction
from chain.types import (
    KIND_CALL,
    Gas,
    Height,
    Nonce,
    PublicKey,
    Signature,
    Timestamp,
    Transaction,
)

CONTRACT: Final = "billing"
FUNCTION: Final = "submit_reading"
TRUST_LEVELS: Final = ("meter", "consumer", "collector")
DEFAULT_GAS_LIMIT: Final = Gas(200_000)


@dataclass(frozen=True, slots=True)
class TxParams:
    """Everything a reading transaction needs besides the reading: the chain and the
    sender's account (whose 32-byte seed signs), the nonce and the expiry height."""

    chain_id: str
    sender_seed: bytes = field(repr=False)  # a secret: never printed in logs
    nonce: Nonce
    expiry_height: Height
    gas_limit: Gas = DEFAULT_GAS_LIMIT
    sender: PublicKey = field(init=False)  # derived from the seed once (costs a signature's time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender", keypair_from_seed(self.sender_seed)[1])


def reading_payload(
    meter: str,
    register: str,
    timestamp: Timestamp,
    index: int,
    raw_hash: Hash32,
    trust: str = "consumer",
    meter_signature: bytes = b"",
) -> list[object]:
    """The ``call`` payload for one register reading (``index`` in the register's base
    unit: Wh, dm3, J ...); refuses what the contract would refuse for its form."""
    if trust not in TRUST_LEVELS:
        raise ValueError(f"trust one of {', '.join(TRUST_LEVELS)} expected, found {trust!r}")
    if trust == "meter" and len(meter_signature) != 64:
        raise ValueError(
            f"trust 'meter' needs a 64-byte meter signature, found {len(meter_signature)} bytes"
        )
    if trust != "meter" and meter_signature:
        raise ValueError(f"a meter signature comes with trust 'meter', found trust {trust!r}")
    args = [meter, register, timestamp, index, trust, raw_hash, meter_signature]
    return [CONTRACT, FUNCTION, args]


def reading_transaction(
    params: TxParams,
    meter: str,
    register: str,
    timestamp: Timestamp,
    index: int,
    raw_hash: Hash32,
    trust: str = "consumer",
    meter_signature: bytes = b"",
) -> Transaction:
    """One signed reading transaction, from ``params.sender``."""
    payload = reading_payload(meter, register, timestamp, index, raw_hash, trust, meter_signature)
    unsigned = Transaction(
        params.chain_id,
        params.sender,
        params.nonce,
        params.expiry_height,
        params.gas_limit,
        KIND_CALL,
        payload,
        Signature(bytes(64)),
    )
    return sign_transaction(unsigned, params.sender_seed)


def meter_alarm_payload(meter: str, fault_type: str, started_at: Timestamp, detail: str) -> list[object]:
    """The ``call`` payload by which a reader records a fault the meter reported about
    itself (``meter_adapters.alarms``): ``billing.record_meter_fault`` with source
    ``meter_alarm``, open (end 0) until the meter clears it. Only the meter's reader (its
    collector or the utility's staff) may send it (docs/contracts/exceptions.md)."""
    return [CONTRACT, "record_meter_fault", [meter, fault_type, "meter_alarm", started_at, 0, detail]]
