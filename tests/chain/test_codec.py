"""The canonical encoding: vectors, rejections, and round-trip properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.errors import DecodeError

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "codec.json").read_text())


def from_tagged(tagged: dict[str, Any]) -> Any:
    (tag, value), = tagged.items()
    if tag == "int":
        return value
    if tag == "bytes":
        return bytes.fromhex(value)
    if tag in ("str", "bool"):
        return value
    if tag == "nil":
        return None
    if tag == "list":
        return [from_tagged(v) for v in value]
    if tag == "map":
        return {from_tagged(k): from_tagged(v) for k, v in value}
    raise AssertionError(tag)


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_vector_encodes_and_decodes(vector: dict[str, Any]) -> None:
    value = from_tagged(vector["value"])
    assert codec.encode(value).hex() == vector["hex"]
    assert codec.decode(bytes.fromhex(vector["hex"])) == value


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vector_is_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(DecodeError, match=vector["reason"]):
        codec.decode(bytes.fromhex(vector["hex"]))


def test_invalid_float_cannot_be_encoded() -> None:
    with pytest.raises(DecodeError, match="no floats expected, found a float"):
        codec.encode([1, 2.5])


def test_invalid_integer_out_of_range() -> None:
    with pytest.raises(DecodeError, match="integer in"):
        codec.encode(2**64)


def test_invalid_oversized_input_rejected_before_parsing() -> None:
    with pytest.raises(DecodeError, match="at most 10 bytes expected, found 11"):
        codec.decode(bytes(11), max_size=10)


def test_invalid_nesting_too_deep() -> None:
    value: Any = 0
    for _ in range(codec.MAX_DEPTH + 2):
        value = [value]
    with pytest.raises(DecodeError, match="nesting of at most"):
        codec.encode(value)


def test_tuples_encode_as_lists() -> None:
    assert codec.encode((1, "a")) == codec.encode([1, "a"])


scalars = (
    st.integers(min_value=codec.INT_MIN, max_value=codec.INT_MAX)
    | st.booleans()
    | st.none()
    | st.binary(max_size=40)
    | st.text(max_size=20)
)
keys = st.integers(min_value=codec.INT_MIN, max_value=codec.INT_MAX) | st.binary(max_size=8) | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip_is_identity(value: Any) -> None:
    data = codec.encode(value)
    assert codec.decode(data) == value
    assert codec.encode(codec.decode(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        value = codec.decode(data)
    except DecodeError:
        return
    # Whatever decodes is canonical: it re-encodes to the same bytes.
    assert codec.encode(value) == data


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, st.integers(0, 10), min_size=2, max_size=6))
def test_map_encoding_is_independent_of_insertion_order(mapping: dict[Any, int]) -> None:
    reordered = dict(reversed(list(mapping.items())))
    assert codec.encode(mapping) == codec.encode(reordered)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_str_sort_key_is_the_msgpack_encoding(key: str) -> None:
    assert codec._str_sort_key(key) == codec._pack(key)


@pytest.mark.parametrize("size", [31, 32, 255, 256, 65_535, 65_536])
def test_str_sort_key_at_every_header_boundary(size: int) -> None:
    key = "k" * size
    assert codec._str_sort_key(key) == codec._pack(key)


def _reference_encoding(value: Any) -> bytes:
    """The canonical form by its definition: maps sorted by encoded key, tuples as arrays."""
    packer = msgpack.Packer(use_bin_type=True)

    def canonical(v: Any) -> Any:
        if isinstance(v, list | tuple):
            return [canonical(x) for x in v]
        if isinstance(v, dict):
            return {k: canonical(v[k]) for k in sorted(v, key=lambda k: packer.pack(k))}
        return v

    return bytes(packer.pack(canonical(value)))


@settings(max_examples=300, deadline=None)
@given(values)
def test_encoding_is_the_reference_encoding_twice(value: Any) -> None:
    # The second encode of a map meets its key order in the cache: same bytes.
    assert codec.encode(value) == _reference_encoding(value)
    assert codec.encode(value) == _reference_encoding(value)


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from([False, True]))
def test_a_float_anywhere_is_rejected_by_decode(value: Any, single: bool) -> None:
    # Map-free values are checked by packing again; a float (float32 or float64) must not
    # slip through that path.
    holder = [value, 1.5]
    with pytest.raises(DecodeError, match="canonical encoding expected|no floats expected"):
        codec.decode(msgpack.packb(holder, use_bin_type=True, use_single_float=single))


@pytest.mark.parametrize("value", [1e300, [1, -1e300], 3.4e38 * 10])
def test_invalid_float_beyond_float32_range_is_rejected(value: Any) -> None:
    # Packing such a float as float32 overflows: still a DecodeError, never an OverflowError.
    with pytest.raises(DecodeError, match="canonical encoding expected"):
        codec.decode(msgpack.packb(value))


def test_invalid_str_subclass_key_is_rejected_even_after_a_cached_order() -> None:
    class Key(str):
        pass

    codec.encode({"b": 1, "a": 2})  # the order of ("b", "a") is now cached
    with pytest.raises(DecodeError, match="map key of type int, str or bytes expected"):
        codec.encode({Key("b"): 1, "a": 2})


# --- decode refuses whatever encode refuses (issue 9, item 2) ------------------------------


def _nested(depth: int, with_map: bool) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = {"k": value} if with_map and level == depth // 2 else [value]
    return value


@pytest.mark.parametrize("with_map", [False, True], ids=["arrays", "with-a-map"])
@pytest.mark.parametrize("depth", [31, 32, 33, 40, 100])
def test_decode_refuses_the_nesting_encode_refuses(depth: int, with_map: bool) -> None:
    value = _nested(depth, with_map)
    raw = msgpack.packb(value, use_bin_type=True)  # what a sender can put on the wire
    try:
        encoded = codec.encode(value)
    except DecodeError:
        with pytest.raises(DecodeError, match="nesting of at most 32 levels expected"):
            codec.decode(raw)
    else:
        assert encoded == raw and codec.decode(raw) == value


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.integers(0, 300) | st.binary(max_size=4), lambda inner: st.lists(inner, max_size=2), max_leaves=60))
def test_nesting_fast_test_never_passes_what_the_walk_refuses(value: Any) -> None:
    from chain import fast

    data = msgpack.packb(value, use_bin_type=True)
    if fast.nesting_surely_within(data, codec.MAX_DEPTH):
        assert codec._nesting_within(value, 0, codec.MAX_DEPTH)
