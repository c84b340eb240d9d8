"""Readings -> reading transactions: the agreed payload, the sender's signature and the
meter's signature both verify; what the contract cannot accept is refused here first."""

from __future__ import annotations

import pytest

from chain import codec
from chain.hashing import Domain
from chain.signatures import check_transaction_signature, keypair_from_seed, verify
from chain.types import Transaction
from meter_adapters.dsmr import parse_dsmr
from meter_adapters.signed_reading import encode_signed_reading, parse_signed_reading, sign_reading
from meter_adapters.transactions import (
    TxParams,
    reading_transaction,
    readings_to_transactions,
    signed_reading_transaction,
)
from tests.adapters.conftest import dsmr_fixture, one

SENDER = bytes([7]) * 32
METER = bytes([9]) * 32
PARAMS = TxParams(chain_id="meterchain-test", sender_seed=SENDER, nonce=5, expiry_height=1000)


def test_basic_consumer_reading_transaction() -> None:
    readings = parse_dsmr(dsmr_fixture("v5"))
    r = one(readings, "1-0:1.8.1")
    tx = reading_transaction(r, PARAMS)
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
    tx = reading_transaction(gas, PARAMS, meter_seed=METER)
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
    tx = signed_reading_transaction(signed_back, reading, PARAMS)
    assert tx.payload[2] == [
        "SN42",
        "volume",
        1_700_000_000,
        123456,
        "meter",
        reading.raw_hash,
        signed.signature,
    ]


def test_basic_batch_only_registers_with_consecutive_nonces() -> None:
    readings = parse_dsmr(dsmr_fixture("v5"))
    txs = readings_to_transactions(readings, PARAMS)
    registers = [tx.payload[2][1] for tx in txs]
    assert registers == ["1-0:1.8.1", "1-0:1.8.2", "1-0:2.8.1", "1-0:2.8.2", "0-1:24.2.1"]
    assert [tx.nonce for tx in txs] == [5, 6, 7, 8, 9]
    for tx in txs:
        check_transaction_signature(tx)


def test_invalid_missing_timestamp_and_bad_trust() -> None:
    q3d = one(parse_dsmr(dsmr_fixture("esy5q3da1004_v304")), "1-0:1.8.0")  # no clock
    with pytest.raises(
        ValueError, match="a timestamp for reading 1ESY1336001560 1-0:1.8.0 expected"
    ):
        reading_transaction(q3d, PARAMS)
    tx = reading_transaction(q3d, PARAMS, timestamp=1_700_000_000)
    assert tx.payload[2][2] == 1_700_000_000
    with pytest.raises(
        ValueError, match="trust one of meter, consumer, collector expected, found 'me'"
    ):
        reading_transaction(q3d, PARAMS, trust="me", timestamp=1)
    with pytest.raises(ValueError, match="trust 'meter' needs a 64-byte meter signature"):
        reading_transaction(q3d, PARAMS, trust="meter", timestamp=1)


def test_basic_simulated_meter_to_verified_transactions() -> None:
    # The network demo's path: a meter on a socket -> one telegram -> readings ->
    # transactions the meter and the sender both signed.
    from meter_adapters.serial_io import read_port
    from meter_adapters.simulator import TcpMeter

    with TcpMeter("dsmr", interval=0.1) as meter:
        telegram = read_port(meter.url, "dsmr", timeout=5)
    txs = readings_to_transactions(parse_dsmr(telegram), PARAMS, meter_seed=METER)
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
