"""The one canonical encoding of every hashed or signed object.

Values are msgpack with a single permitted byte form: integers in their shortest form,
``bytes`` as msgpack bin, ``str`` as msgpack str (valid UTF-8), arrays for lists and tuples,
maps only with keys in ascending order of their own encoding and no duplicates, no floats,
no extension types. Decoding is strict: it re-encodes what it read and rejects the input
unless the bytes are identical, so one value has exactly one byte string and hashes and
signatures cannot be malleated.

Records (transactions, headers, ...) are encoded as arrays in a fixed field order by their
own modules; this module knows only values.
"""

from __future__ import annotations

from typing import Any, Final

import msgpack

from chain.errors import DecodeError

# Limits on what a decoder will accept. A message larger than this is refused before
# msgpack allocates anything for it.
MAX_ENCODED_SIZE: Final = 4 * 1024 * 1024
MAX_CONTAINER_LEN: Final = 65_536
MAX_DEPTH: Final = 32
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**64 - 1  # msgpack's own range; contract ints beyond it are stored as bytes

Value = Any  # int | bool | str | bytes | None | list[Value] | tuple[Value, ...] | dict[Value, Value]


def _check(value: Value, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, bool | str | bytes):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise DecodeError(f"integer in [{INT_MIN}, {INT_MAX}] expected, found {value}")
        return
    if isinstance(value, list | tuple):
        if len(value) > MAX_CONTAINER_LEN:
            raise DecodeError(f"array of at most {MAX_CONTAINER_LEN} items expected, found {len(value)}")
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        if len(value) > MAX_CONTAINER_LEN:
            raise DecodeError(f"map of at most {MAX_CONTAINER_LEN} entries expected, found {len(value)}")
        for key, item in value.items():
            if not isinstance(key, int | str | bytes) or isinstance(key, bool):
                raise DecodeError(f"map key of type int, str or bytes expected, found {type(key).__name__}")
            _check(key, depth + 1)
            _check(item, depth + 1)
        return
    raise DecodeError(
        f"int, bool, str, bytes, None, list, tuple or dict expected, found {type(value).__name__}"
    )


def _sort_maps(value: Value) -> Value:
    """Return ``value`` with every map's entries in canonical order (by encoded key)."""
    if isinstance(value, dict):
        items = [(_pack(k), k, _sort_maps(v)) for k, v in value.items()]
        items.sort(key=lambda entry: entry[0])
        return {k: v for _, k, v in items}
    if isinstance(value, list | tuple):
        return [_sort_maps(v) for v in value]
    return value


def _pack(value: Value) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True, strict_types=False)
    return packed


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically; raise ``DecodeError`` for a value with no encoding."""
    _check(value, 0)
    return _pack(_sort_maps(value))


def _reject_ext(code: int, data: bytes) -> None:
    raise DecodeError(f"no msgpack extension types expected, found type {code}")


def decode(data: bytes, max_size: int = MAX_ENCODED_SIZE) -> Value:
    """Decode canonical bytes; reject anything that is not the one canonical form.

    Arrays decode as lists, maps as dicts.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"bytes expected, found {type(data).__name__}")
    if len(data) > max_size:
        raise DecodeError(f"at most {max_size} bytes expected, found {len(data)}")
    if len(data) == 0:
        raise DecodeError("a msgpack value expected, found empty input")
    try:
        value = msgpack.unpackb(
            bytes(data),
            raw=False,
            strict_map_key=False,
            use_list=True,
            ext_hook=_reject_ext,
            max_str_len=MAX_CONTAINER_LEN * 16,
            max_bin_len=max_size,
            max_array_len=MAX_CONTAINER_LEN,
            max_map_len=MAX_CONTAINER_LEN,
        )
    except msgpack.ExtraData as exc:
        raise DecodeError(
            f"exactly one msgpack value expected, found {len(exc.extra)} trailing bytes"
        ) from None
    except DecodeError:
        raise
    except UnicodeDecodeError as exc:
        raise DecodeError(f"valid UTF-8 in str expected: {exc.reason}") from None
    except TypeError as exc:
        if "unhashable" in str(exc):
            raise DecodeError("map keys of type int, str or bytes expected, found an array or map") from None
        raise DecodeError(f"well-formed msgpack expected: {exc}") from None
    except (ValueError, msgpack.UnpackException) as exc:
        raise DecodeError(f"well-formed msgpack expected: {exc}") from None
    if _has_float(value):
        raise DecodeError("no floats expected, found a float")
    canonical = encode(value)
    if canonical != bytes(data):
        raise DecodeError(
            "canonical encoding expected (shortest integers, sorted unique map keys, "
            f"bin for bytes), found a non-canonical form of {len(data)} bytes"
        )
    return value


def _has_float(value: Value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(k) or _has_float(v) for k, v in value.items())
    return False
