"""``node.p2p.decode_frame`` reads a frame by its headers; it must accept exactly what the
generic canonical decode accepts as ``[kind (str of at most MAX_KIND_LEN), payload (bytes)]``
and return the same, whatever the bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import codec
from chain.errors import DecodeError
from node.p2p import MAX_KIND_LEN, decode_frame, encode_frame

MAX_FRAME = 1 << 20


def reference(data: bytes, max_frame: int) -> tuple[str, bytes]:
    """The frame as the generic canonical decoder reads it (what decode_frame replaced)."""
    value = codec.decode(data, max_size=max_frame)
    if not (
        isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
        and len(value[0]) <= MAX_KIND_LEN and isinstance(value[1], bytes)
    ):  # fmt: skip
        raise DecodeError("not a frame")
    return value[0], value[1]


def outcome(decode: object, data: bytes) -> object:
    try:
        return decode(data, MAX_FRAME)  # type: ignore[operator]
    except DecodeError:
        return DecodeError


kinds = st.text(max_size=MAX_KIND_LEN + 3)
payloads = st.one_of(st.binary(max_size=300), st.integers(0, 70_000).map(lambda n: bytes(n % 251 for n in range(n))))


@given(kinds, payloads)
def test_an_encoded_frame_decodes_to_its_kind_and_payload(kind: str, payload: bytes) -> None:
    data = encode_frame(kind, payload)
    assert outcome(decode_frame, data) == outcome(reference, data)
    if len(kind) <= MAX_KIND_LEN:
        assert decode_frame(data, MAX_FRAME) == (kind, payload)


def non_canonical_forms(kind: str, payload: bytes) -> list[bytes]:
    """The same value with a longer header than needed, or other types in its place."""
    raw_kind = kind.encode()
    return [
        b"\xdc\x00\x02" + encode_frame(kind, payload)[1:],  # array16 of 2
        b"\x92\xd9" + bytes([len(raw_kind)]) + raw_kind + msgpack.packb(payload, use_bin_type=True),  # str8 < 32
        b"\x92" + msgpack.packb(kind) + b"\xc5" + len(payload).to_bytes(2, "big") + payload,  # bin16 < 256
        b"\x92" + msgpack.packb(kind) + b"\xc6" + len(payload).to_bytes(4, "big") + payload,  # bin32
        b"\x92" + msgpack.packb(raw_kind, use_bin_type=True) + msgpack.packb(payload, use_bin_type=True),  # kind as bin
        b"\x92" + msgpack.packb(kind) + msgpack.packb(list(payload[:3])),  # payload as array
        b"\x93" + msgpack.packb(kind) + msgpack.packb(payload, use_bin_type=True) + b"\xc0",  # three items
    ]


@given(st.text(max_size=8), st.binary(max_size=40))
def test_invalid_non_canonical_and_other_shapes_are_refused_as_the_generic_decoder_refuses_them(
    kind: str, payload: bytes
) -> None:
    for data in non_canonical_forms(kind, payload):
        assert outcome(decode_frame, data) == outcome(reference, data)


@given(st.binary(max_size=64))
def test_invalid_arbitrary_bytes_are_read_as_the_generic_decoder_reads_them(data: bytes) -> None:
    assert outcome(decode_frame, data) == outcome(reference, data)


@given(kinds, st.binary(max_size=64), st.data())
def test_invalid_a_truncated_or_extended_frame_is_refused(kind: str, payload: bytes, data: st.DataObject) -> None:
    frame = encode_frame(kind, payload)
    cut = data.draw(st.integers(0, len(frame) - 1))
    for damaged in (frame[:cut], frame + data.draw(st.binary(min_size=1, max_size=4))):
        assert outcome(decode_frame, damaged) == outcome(reference, damaged) == DecodeError


def test_invalid_a_frame_over_the_limit_says_so() -> None:
    with pytest.raises(DecodeError, match="at most 10 bytes expected, found 14"):
        decode_frame(encode_frame("vote", b"123456"), 10)


def test_invalid_a_kind_that_is_not_utf8_says_so() -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        decode_frame(b"\x92\xa2\xff\xfe\xc4\x00", MAX_FRAME)
