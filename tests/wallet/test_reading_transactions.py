"""Readings -> reading transactions: the agreed payload, the sender's signature and the
meter's signature both verify; what the contract cannot accept is refused here first."""

from __future__ import annotations

import pytest

from chain import codec
from chain.hashing import Domain
from chain.signatures import check_transaction_signature, keypair_from_seed, verify
from chain.types import Height, Nonce, Timestamp, Transaction
from meter_adapters.dsmr import parse_dsmr
from meter_adapters.reading import Reading
from meter_adapters.signed_reading import encode_signed_reading, parse_signed_reading, sign_reading
from tests.adapters.conftest import dsmr_fixture, one
from wallet.reading_transactions import TxParams, reading_transaction

SENDER = bytes([7]) * 32
METER = bytes([9]) * 32
PARAMS = TxParams(
    chain_id="meterchain-test", sender_seed=SENDER, nonce=Nonce(5), expiry_height=Height(1000)
)


def consumer_tx(r: Reading, params: TxParams = PARAMS, trust: str = "consumer") -> Transaction:
    assert r.timestamp is not None
    return reading_transaction(params, r.meter, r.register, r.timestamp, r.value, r.raw_hash, trust)


def meter_signed_tx(r: Reading, params: TxParams = PARAMS) -> Transaction:
    assert r.timestamp is not None
    signed = sign_reading(METER, r.meter, r.register, r.value, r.unit, r.timestamp)
    return reading_transaction(
        params, r.meter, r.register, r.timestamp, r.value, r.raw_hash, "meter", signed.signature
    )


def test_basic_consumer_reading_transaction() -> None:
    r = one(parse_dsmr(dsmr_fixture("v5")), "1-0:1.8.1")
    tx = consumer_tx(r)
    check_transaction_signature(tx)
    assert (tx.chain_id, tx.sender, tx.nonce, tx.expiry_height, tx.kind) == (
        "meterchain-test",
        keypair_from_seed(SENDER)[1],
        5,
        1000,
        "call",
    )
    assert tx.payload == [
        "billing",
        "submit_reading",
        ["K8EG004046395507", "1-0:1.8.1", 1483381202, 4426, "consumer", r.raw_hash, b""],
    ]
    # The transaction survives its canonical encoding unchanged.
    assert Transaction.decode(tx.encode()) == tx


def test_basic_meter_signed_transaction() -> None:
    gas = one(parse_dsmr(dsmr_fixture("v5")), "0-1:24.2.1")
    tx = meter_signed_tx(gas)
    meter, register, when, index, trust, raw, signature = tx.payload[2]
    assert (meter, register, when, index, trust) == (
        "2222ABCD123456789",
        "0-1:24.2.1",
        1483369805,
        107,
        "meter",
    )
    assert raw == gas.raw_hash
    # Exactly what the contract checks with the meter's registered key.
    signed = codec.encode([meter, register, index, "dm3", when])
    assert verify(keypair_from_seed(METER)[1], Domain.METER_READING, signed, signature)
    check_transaction_signature(tx)


def test_basic_nfc_reading_to_transaction() -> None:
    signed = sign_reading(METER, "SN42", "volume", 123456, "dm3", 1_700_000_000)
    message = encode_signed_reading(signed)
    signed_back, reading = parse_signed_reading(message, keypair_from_seed(METER)[1])
    tx = reading_transaction(
        PARAMS,
        reading.meter,
        reading.register,
        Timestamp(signed_back.timestamp),
        reading.value,
        reading.raw_hash,
        "meter",
        signed_back.signature,
    )
    assert tx.payload[2] == [
        "SN42",
        "volume",
        1_700_000_000,
        123456,
        "meter",
        reading.raw_hash,
        signed.signature,
    ]


def test_basic_only_registers_become_transactions() -> None:
    readings = parse_dsmr(dsmr_fixture("v5"))
    registers = [r.register for r in readings if r.is_register]
    assert registers == ["1-0:1.8.1", "1-0:1.8.2", "1-0:2.8.1", "1-0:2.8.2", "0-1:24.2.1"]


def test_invalid_trust_and_meter_signature() -> None:
    r = one(parse_dsmr(dsmr_fixture("v5")), "1-0:1.8.1")
    with pytest.raises(
        ValueError, match="trust one of meter, consumer, collector expected, found 'me'"
    ):
        consumer_tx(r, trust="me")
    with pytest.raises(ValueError, match="trust 'meter' needs a 64-byte meter signature"):
        consumer_tx(r, trust="meter")
    with pytest.raises(ValueError, match="a meter signature comes with trust 'meter'"):
        reading_transaction(
            PARAMS, r.meter, r.register, Timestamp(1), r.value, r.raw_hash, "consumer", bytes(64)
        )


def test_basic_simulated_meter_to_verified_transactions() -> None:
    # The network demo's path: a meter on a socket -> one telegram -> readings ->
    # transactions the meter and the sender both signed.
    from meter_adapters.serial_io import read_port
    from meter_adapters.simulator import TcpMeter

    with TcpMeter("dsmr", interval=0.1) as meter:
        telegram = read_port(meter.url, "dsmr", timeout=5)
    txs = [meter_signed_tx(r) for r in parse_dsmr(telegram) if r.is_register]
    assert [tx.payload[2][1] for tx in txs] == [
        "1-0:1.8.1",
        "1-0:1.8.2",
        "1-0:2.8.1",
        "1-0:2.8.2",
        "0-1:24.2.1",
    ]
    for tx in txs:
        check_transaction_signature(tx)
        meter_id, register, when, index, trust, _, signature = tx.payload[2]
        unit = "dm3" if register == "0-1:24.2.1" else "Wh"
        assert trust == "meter"
        assert verify(
            keypair_from_seed(METER)[1],
            Domain.METER_READING,
            codec.encode([meter_id, register, index, unit, when]),
            signature,
        )
