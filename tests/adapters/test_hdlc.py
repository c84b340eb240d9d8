"""HDLC framing (IEC 62056-46): CRC-16/X-25, frame vectors from amshan, round trips, and
rejection of corrupt, truncated and malformed frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters import hdlc
from meter_adapters.errors import AdapterError, ChecksumError, TruncatedFrame, UnsupportedFrame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dlms" / "han_push_frames.json"
HDLC_VECTORS = {
    f["name"]: bytes.fromhex(f["hex"])
    for f in json.loads(FIXTURES.read_text())["frames"]
    if f["meter"] == "hdlc"
}
EMPTY_INFO = bytes.fromhex("a00801020110378d")  # amshan FRAME_EMPTY_INFO


def test_crc16_x25_check_value() -> None:
    # The catalogue check value of CRC-16/X-25 (a.k.a. CRC-16/IBM-SDLC).
    assert hdlc.crc16_x25(b"123456789") == 0x906E


@pytest.mark.parametrize(
    ("name", "information"),
    [
        ("FRAME_SHORT_INFO", "0201"),
        (
            "FRAME_WITH_ESCAPE_CHARACTER_IN_INFO",
            "e6e7000f40000000000101020309060100010700ff060000067d02020f00161b",
        ),
        (
            "FRAME_WITH_FLAG_SEQUENCE_CHARACTER_IN_INFO",
            "e6e7000f40000000090c07e4020f06011922ff8000000201060000157e",
        ),
    ],
)
def test_basic_amshan_frames(name: str, information: str) -> None:
    raw = HDLC_VECTORS[name]
    frame = hdlc.parse_frame(raw)
    assert frame.information == bytes.fromhex(information)
    # The same bytes come back when we build the frame again.
    assert hdlc.build_frame(frame) == b"\x7e" + raw + b"\x7e"
    assert hdlc.parse_frame(b"\x7e" + raw + b"\x7e") == frame


def test_basic_addresses_and_control() -> None:
    frame = hdlc.parse_frame(HDLC_VECTORS["FRAME_WITH_ESCAPE_CHARACTER_IN_INFO"])
    assert frame.destination == b"\x41"
    assert frame.source == b"\x08\x83"
    assert frame.control == 0x13
    assert not frame.segmented


def test_basic_empty_information_has_no_hcs() -> None:
    frame = hdlc.parse_frame(EMPTY_INFO)
    assert frame.information == b""
    assert hdlc.build_frame(frame)[1:-1] == EMPTY_INFO


def test_basic_stuffed_frame() -> None:
    raw = HDLC_VECTORS["STUFFED_FRAME_SHORT_INFO"]
    assert hdlc.parse_frame(raw, stuffed=True).information == bytes.fromhex("7e7d03")
    # information_of notices the stuffing by itself.
    assert hdlc.information_of(raw) == bytes.fromhex("7e7d03")
    assert hdlc.information_of(b"\x7e" + raw + b"\x7e") == bytes.fromhex("7e7d03")


def test_basic_stream_with_partial_frame_and_repeated_flags() -> None:
    short = HDLC_VECTORS["FRAME_SHORT_INFO"]
    stream = (
        bytes.fromhex("0600001fc7cec3") + b"\x7e" + short + b"\x7e\x7e\x7e" + EMPTY_INFO + b"\x7e"
    )
    assert hdlc.split_frames(stream) == [short, EMPTY_INFO]
    assert hdlc.information_of(stream) == bytes.fromhex("0201")


def test_basic_segmented_push_is_joined() -> None:
    first = hdlc.build_frame(hdlc.HdlcFrame(b"\x41", b"\x08\x83", 0x13, b"part one,", True))
    second = hdlc.build_frame(hdlc.HdlcFrame(b"\x41", b"\x08\x83", 0x13, b" part two"))
    assert hdlc.information_of(first + second) == b"part one, part two"


@pytest.mark.parametrize("name", sorted(HDLC_VECTORS))
def test_invalid_every_single_byte_change_is_rejected(name: str) -> None:
    raw = HDLC_VECTORS[name]
    stuffed = name.startswith("STUFFED")
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        with pytest.raises(AdapterError):
            hdlc.parse_frame(bytes(tampered), stuffed=stuffed)


def test_invalid_bad_fcs_message() -> None:
    raw = bytearray(HDLC_VECTORS["FRAME_SHORT_INFO"])
    raw[-3] ^= 0xFF  # last information byte: the FCS no longer matches
    with pytest.raises(ChecksumError, match=r"HDLC FCS 0x[0-9a-f]{4} expected, found 0xdee7"):
        hdlc.parse_frame(bytes(raw))


def test_invalid_bad_hcs() -> None:
    frame = hdlc.HdlcFrame(b"\x03", b"\x21", 0x13, b"payload")
    raw = bytearray(hdlc.build_frame(frame))
    raw[7] ^= 0x10  # first HCS byte
    # Recompute the FCS so that only the HCS is wrong.
    body = bytes(raw[1:-3])
    raw[-3:-1] = hdlc.crc16_x25(body).to_bytes(2, "little")
    with pytest.raises(ChecksumError, match="HCS"):
        hdlc.parse_frame(bytes(raw))


def test_invalid_truncated_frame() -> None:
    raw = HDLC_VECTORS["FRAME_WITH_ESCAPE_CHARACTER_IN_INFO"]
    with pytest.raises(TruncatedFrame, match="HDLC frame of 42 bytes expected, found 30"):
        hdlc.parse_frame(raw[:30])
    with pytest.raises(TruncatedFrame):
        hdlc.information_of(b"\x7e" + raw[:30])


def test_invalid_frame_format_type() -> None:
    raw = bytearray(HDLC_VECTORS["FRAME_SHORT_INFO"])
    raw[0] = 0x80 | (raw[0] & 0x0F)
    with pytest.raises(UnsupportedFrame, match="format type 0xA expected, found 0x8"):
        hdlc.parse_frame(bytes(raw))


def test_invalid_three_byte_address_is_refused_when_building() -> None:
    with pytest.raises(UnsupportedFrame, match="address"):
        hdlc.build_frame(hdlc.HdlcFrame(b"\x02\x02\x03", b"\x21", 0x13, b""))


_ADDRESS = st.one_of(
    st.integers(0, 127).map(lambda a: bytes((a << 1 | 1,))),
    st.tuples(st.integers(0, 127), st.integers(0, 127)).map(
        lambda t: bytes((t[0] << 1, t[1] << 1 | 1))
    ),
    st.lists(st.integers(0, 127), min_size=4, max_size=4).map(
        lambda xs: bytes(x << 1 for x in xs[:3]) + bytes((xs[3] << 1 | 1,))
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    destination=_ADDRESS,
    source=_ADDRESS,
    control=st.integers(0, 255),
    information=st.binary(max_size=300),
    segmented=st.booleans(),
    stuffed=st.booleans(),
)
def test_property_build_parse_round_trip(
    destination: bytes,
    source: bytes,
    control: int,
    information: bytes,
    segmented: bool,
    stuffed: bool,
) -> None:
    frame = hdlc.HdlcFrame(destination, source, control, information, segmented)
    wire = hdlc.build_frame(frame, stuffed=stuffed)
    assert hdlc.parse_frame(wire, stuffed=stuffed) == frame
    if stuffed:
        # A stuffed frame never shows a flag or escape except as escape sequences.
        assert hdlc.FLAG not in wire[1:-1]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_property_random_bytes_raise_only_adapter_errors(data: bytes) -> None:
    for call in (hdlc.parse_frame, hdlc.information_of, hdlc.split_frames):
        try:
            call(data)
        except AdapterError:
            pass
