"""The NFC signed reading: NDEF bytes laid out as the NFC Forum defines them, signatures
the chain verifies, and every malformed or forged message rejected."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.hashing import Domain
from chain.signatures import verify
from meter_adapters.errors import TruncatedFrame, UnsupportedFrame
from meter_adapters.signed_reading import (
    RECORD_TYPE,
    TNF_EXTERNAL,
    InvalidMeterSignature,
    NdefRecord,
    SignedReading,
    encode_message,
    encode_signed_reading,
    meter_public_key,
    parse_message,
    parse_signed_reading,
    sign_reading,
)

METER_SEED = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
)  # RFC 8032 test 1
OTHER_SEED = bytes(range(32))


def make() -> SignedReading:
    return sign_reading(METER_SEED, "K8EG004046395507", "1-0:1.8.1", 4426, "Wh", 1483381202)


def test_basic_ndef_layout_is_a_short_external_record() -> None:
    reading = make()
    message = encode_signed_reading(reading)
    payload = codec.encode(
        ["K8EG004046395507", "1-0:1.8.1", 4426, "Wh", 1483381202, reading.signature]
    )
    # MB | ME | SR | TNF=4 = 0xD4, type length 22, 1-byte payload length, type, payload.
    assert message == bytes([0xD4, 22, len(payload)]) + b"meterchain.org:reading" + payload
    assert len(RECORD_TYPE) == 22


def test_basic_signature_is_what_the_contract_verifies() -> None:
    reading = make()
    message = codec.encode(["K8EG004046395507", "1-0:1.8.1", 4426, "Wh", 1483381202])
    assert verify(meter_public_key(METER_SEED), Domain.METER_READING, message, reading.signature)
    signed, normalized = parse_signed_reading(
        encode_signed_reading(reading), meter_public_key(METER_SEED)
    )
    assert signed == reading
    assert (
        normalized.meter,
        normalized.obis,
        normalized.quantity,
        normalized.value,
        normalized.unit,
    ) == ("K8EG004046395507", "1-0:1.8.1", "energy_import", 4426, "Wh")
    assert (normalized.timestamp, normalized.source) == (1483381202, "nfc")
    assert normalized.to_json()["timestamp"] == "2017-01-02T18:20:02Z"


def test_basic_message_with_an_android_application_record() -> None:
    aar = NdefRecord(TNF_EXTERNAL, b"android.com:pkg", b"", b"org.meterchain.wallet")
    ours = NdefRecord(TNF_EXTERNAL, RECORD_TYPE, b"r1", make().encode())
    message = encode_message([aar, ours])
    assert message[0] & 0xC0 == 0x80 and message[len(encode_message([aar])) - 1 + 1] & 0x40
    assert parse_message(message) == [aar, ours]
    signed, _ = parse_signed_reading(message, meter_public_key(METER_SEED))
    assert signed.index == 4426


def test_basic_long_record_uses_four_byte_length() -> None:
    record = NdefRecord(TNF_EXTERNAL, b"example.com:x", b"", bytes(300))
    data = encode_message([record])
    assert data[0] == 0xC4  # MB | ME, SR clear
    assert struct.unpack(">I", data[2:6])[0] == 300
    assert parse_message(data) == [record]


def test_invalid_wrong_key_and_forged_index() -> None:
    reading = make()
    with pytest.raises(
        InvalidMeterSignature,
        match="a signature by meter key .* expected, found one that does not verify",
    ):
        parse_signed_reading(encode_signed_reading(reading), meter_public_key(OTHER_SEED))
    forged = SignedReading(
        reading.meter, reading.register, 4000, reading.unit, reading.timestamp, reading.signature
    )
    with pytest.raises(InvalidMeterSignature):
        parse_signed_reading(encode_signed_reading(forged), meter_public_key(METER_SEED))


def test_invalid_ndef_framing() -> None:
    good = encode_signed_reading(make())
    with pytest.raises(TruncatedFrame, match="bytes of type, id and payload expected"):
        parse_message(good[:-1])
    with pytest.raises(UnsupportedFrame, match="MB set expected, found it clear"):
        parse_message(bytes([good[0] & ~0x80]) + good[1:])
    with pytest.raises(TruncatedFrame, match="no record had ME set"):
        parse_message(bytes([good[0] & ~0x40]) + good[1:])
    with pytest.raises(UnsupportedFrame, match="found CF set"):
        parse_message(bytes([good[0] | 0x20]) + good[1:])
    with pytest.raises(UnsupportedFrame, match="found 1 bytes after it"):
        parse_message(good + b"\0")
    other = encode_message([NdefRecord(TNF_EXTERNAL, b"example.com:x", b"", b"1")])
    with pytest.raises(
        UnsupportedFrame,
        match="exactly one NDEF external record of type meterchain.org:reading expected, found 0",
    ):
        parse_signed_reading(other)


def test_invalid_payload_fields() -> None:
    def message(fields: list) -> bytes:
        return encode_message([NdefRecord(TNF_EXTERNAL, RECORD_TYPE, b"", codec.encode(fields))])

    sig = bytes(64)
    with pytest.raises(UnsupportedFrame, match="expected, found 5 fields"):
        parse_signed_reading(message(["m", "1-0:1.8.0", 1, "Wh", 1]))
    with pytest.raises(UnsupportedFrame, match="index: a non-negative integer expected, found -1"):
        parse_signed_reading(message(["m", "1-0:1.8.0", -1, "Wh", 1, sig]))
    with pytest.raises(UnsupportedFrame, match="unit: one of .* expected, found 'kWh'"):
        parse_signed_reading(message(["m", "1-0:1.8.0", 1, "kWh", 1, sig]))
    with pytest.raises(UnsupportedFrame, match="signature: 64 bytes expected, found 63 bytes"):
        parse_signed_reading(message(["m", "1-0:1.8.0", 1, "Wh", 1, bytes(63)]))
    with pytest.raises(UnsupportedFrame, match="reading payload: canonical encoding expected"):
        parse_signed_reading(
            encode_message([NdefRecord(TNF_EXTERNAL, RECORD_TYPE, b"", b"\x91\xcd\x00\x01")])
        )


@settings(max_examples=40, deadline=None)
@given(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
    st.integers(0, 2**40),
    st.sampled_from(["Wh", "dm3", "J"]),
    st.integers(0, 2**32),
    st.integers(0, 10_000),
)
def test_basic_round_trip_and_bit_flips(
    meter: str, index: int, unit: str, when: int, where: int
) -> None:
    signed = sign_reading(METER_SEED, meter, "volume", index, unit, when)
    data = encode_signed_reading(signed)
    assert parse_signed_reading(data, meter_public_key(METER_SEED))[0] == signed
    pos = where % len(data)
    flipped = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]
    with pytest.raises(ValueError):  # AdapterError is a ValueError
        parse_signed_reading(flipped, meter_public_key(METER_SEED))
