"""Normalized readings -> signed reading transactions for the billing contract.

The agreed entry point (with the contracts engineers) is a ``call`` transaction::

    ["billing", "submit_reading",
     [meter, register, timestamp, index, trust, raw_hash, meter_signature]]

``trust`` says who vouches for the number: ``"meter"`` (the meter signed it with its own
Ed25519 key; ``meter_signature`` is 64 bytes over ``[meter, register, index, unit,
timestamp]`` in the METER_READING domain), ``"consumer"`` (read by the consumer's wallet,
no meter signature: ``b""``) or ``"collector"`` (a data collector's reading). The sender's
own signature over the transaction is what ``chain.signatures.sign_transaction`` adds.

Only cumulative registers (energy, volume, heat: what a bill is computed from) become
transactions by default; instantaneous values (W, V, A) are for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final

from chain.signatures import keypair_from_seed, sign_transaction
from chain.types import KIND_CALL, Gas, Height, Nonce, PublicKey, Signature, Transaction
from meter_adapters.reading import Reading
from meter_adapters.signed_reading import SignedReading, sign_reading

CONTRACT: Final = "billing"
FUNCTION: Final = "submit_reading"
TRUST_LEVELS: Final = ("meter", "consumer", "collector")
REGISTER_UNITS: Final = frozenset({"Wh", "varh", "VAh", "J", "dm3"})
DEFAULT_GAS_LIMIT: Final = 200_000


@dataclass(frozen=True, slots=True)
class TxParams:
    """Everything a reading transaction needs besides the reading: the chain and the
    sender's account (whose 32-byte seed signs), the first nonce and the expiry height."""

    chain_id: str
    sender_seed: bytes = field(repr=False)  # a secret: never printed in logs
    nonce: int
    expiry_height: int
    gas_limit: int = DEFAULT_GAS_LIMIT
    sender: bytes = b""  # derived from the seed once (a key derivation costs a signature)

    def __post_init__(self) -> None:
        if not self.sender:
            object.__setattr__(self, "sender", bytes(keypair_from_seed(self.sender_seed)[1]))


def is_register(reading: Reading) -> bool:
    """A cumulative register a bill is computed from (not an instantaneous value)."""
    return reading.unit in REGISTER_UNITS


def register_of(reading: Reading) -> str:
    """The contract's register name: the OBIS code, else the quantity ("volume")."""
    return reading.obis if reading.obis is not None else reading.quantity


def reading_payload(
    reading: Reading, trust: str, timestamp: int | None = None, meter_signature: bytes = b""
) -> list[object]:
    """The ``call`` payload for one reading. ``timestamp`` replaces a missing meter time
    (the wallet's clock when the consumer read it); a meter time is never overridden."""
    if trust not in TRUST_LEVELS:
        raise ValueError(f"trust one of {', '.join(TRUST_LEVELS)} expected, found {trust!r}")
    when = reading.timestamp if reading.timestamp is not None else timestamp
    if when is None:
        raise ValueError(
            f"a timestamp for reading {reading.meter} {register_of(reading)} expected (the meter "
            "gave none; pass the time it was read), found None"
        )
    if trust == "meter" and len(meter_signature) != 64:
        raise ValueError(
            f"trust 'meter' needs a 64-byte meter signature, found {len(meter_signature)} bytes"
        )
    if trust != "meter" and meter_signature:
        raise ValueError(f"a meter signature comes with trust 'meter', found trust {trust!r}")
    args = [
        reading.meter,
        register_of(reading),
        when,
        reading.value,
        trust,
        reading.raw_hash,
        meter_signature,
    ]
    return [CONTRACT, FUNCTION, args]


def reading_transaction(
    reading: Reading,
    params: TxParams,
    trust: str = "consumer",
    timestamp: int | None = None,
    meter_seed: bytes | None = None,
    meter_signature: bytes = b"",
) -> Transaction:
    """One signed reading transaction. With ``meter_seed`` (a meter holding its own key,
    e.g. the simulator) the meter signature is made here and trust is "meter"."""
    when = reading.timestamp if reading.timestamp is not None else timestamp
    if meter_seed is not None:
        if when is None:
            raise ValueError(
                "a meter signature covers the timestamp: a timestamp expected, found None"
            )
        signed = sign_reading(
            meter_seed, reading.meter, register_of(reading), reading.value, reading.unit, when
        )
        meter_signature, trust = signed.signature, "meter"
    payload = reading_payload(reading, trust, timestamp, meter_signature)
    tx = Transaction(
        params.chain_id,
        PublicKey(params.sender),
        Nonce(params.nonce),
        Height(params.expiry_height),
        Gas(params.gas_limit),
        KIND_CALL,
        payload,
        Signature(b"\0" * 64),
    )
    return sign_transaction(tx, params.sender_seed)


def signed_reading_transaction(
    signed: SignedReading, reading: Reading, params: TxParams
) -> Transaction:
    """The transaction for a reading a meter signed itself (read over NFC)."""
    return reading_transaction(reading, params, trust="meter", meter_signature=signed.signature)


def readings_to_transactions(
    readings: Iterable[Reading],
    params: TxParams,
    trust: str = "consumer",
    timestamp: int | None = None,
    meter_seed: bytes | None = None,
    registers_only: bool = True,
) -> list[Transaction]:
    """One transaction per reading, with consecutive nonces from ``params.nonce``."""
    chosen = [r for r in readings if is_register(r) or not registers_only]
    return [
        reading_transaction(
            r,
            replace(params, nonce=params.nonce + i),
            trust,
            timestamp,
            meter_seed,
        )
        for i, r in enumerate(chosen)
    ]
