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

from collections.abc import Callable
from typing import Any, Final

import msgpack

from chain import fast
from chain.errors import DecodeError

# Limits on what a decoder will accept. A message larger than this is refused before
# msgpack allocates anything for it.
MAX_ENCODED_SIZE: Final = 4 * 1024 * 1024
MAX_CONTAINER_LEN: Final = 65_536
MAX_DEPTH: Final = 32
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**64 - 1  # msgpack's own range; contract ints beyond it are stored as bytes

Value = Any  # int | bool | str | bytes | None | list[Value] | tuple[Value, ...] | dict[Value, Value]


_PASS_THROUGH: Final = frozenset({bool, str, bytes, type(None)})
_KEY_TYPES: Final = frozenset({int, str, bytes})


def _prepare(value: Value, depth: int) -> Value:
    """Check that ``value`` has a canonical encoding and return it ready for msgpack:
    tuples as lists, every map's entries in canonical order (ascending encoded key).

    One pass with exact type dispatch: this runs for every transaction, receipt and stored
    value, so it is on the chain's hot path.
    """
    kind = type(value)
    if kind in _PASS_THROUGH:
        return value
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        raise DecodeError(f"integer in [{INT_MIN}, {INT_MAX}] expected, found {value}")
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise DecodeError(f"nesting of at most {MAX_DEPTH} levels expected, found nesting deeper")
        if len(value) > MAX_CONTAINER_LEN:
            raise DecodeError(f"array of at most {MAX_CONTAINER_LEN} items expected, found {len(value)}")
        # Scalars inline (no call per item): most arrays are records of ints, str and bytes.
        # An array with nothing to change is packed as it is (msgpack writes a tuple and a
        # list alike); a copy is made only from the first item that changes.
        out: list[Value] | None = None
        for i, item in enumerate(value):
            item_kind = type(item)
            if item_kind in _PASS_THROUGH or (item_kind is int and INT_MIN <= item <= INT_MAX):
                if out is not None:
                    out.append(item)
                continue
            prepared = _prepare(item, depth + 1)
            if out is None:
                if prepared is item:
                    continue
                out = list(value[:i])
            out.append(prepared)
        return value if out is None else out
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise DecodeError(f"nesting of at most {MAX_DEPTH} levels expected, found nesting deeper")
        if len(value) > MAX_CONTAINER_LEN:
            raise DecodeError(f"map of at most {MAX_CONTAINER_LEN} entries expected, found {len(value)}")
        keys = tuple(value) if len(value) <= _ORDERED_MAP_MAX else None
        order = _str_key_orders.get(keys) if keys is not None else None
        if order is not None:
            # A map with the same str keys as one seen before (event fields, records): its
            # canonical order is known, as positions in the insertion order. Exact str keys
            # only (a str subclass compares equal): anything else takes the walk below.
            out_map: dict[Value, Value] = {}
            for i in order:
                key = keys[i]  # type: ignore[index]
                if type(key) is not str:
                    break
                item = value[key]
                item_kind = type(item)
                if not (item_kind in _PASS_THROUGH or (item_kind is int and INT_MIN <= item <= INT_MAX)):
                    item = _prepare(item, depth + 1)
                out_map[key] = item
            else:
                return out_map
        entries = []
        for key, item in value.items():
            key_kind = type(key)
            if key_kind not in _KEY_TYPES:
                raise DecodeError(f"map key of type int, str or bytes expected, found {key_kind.__name__}")
            if key_kind is str:
                packed_key = _str_keys.get(key) or _str_sort_key(key)
            else:
                packed_key = _pack(_prepare(key, depth + 1))
            item_kind = type(item)
            if not (item_kind in _PASS_THROUGH or (item_kind is int and INT_MIN <= item <= INT_MAX)):
                item = _prepare(item, depth + 1)
            entries.append((packed_key, key, item))
        # Distinct keys have distinct encodings, so the tuples are ordered by their first
        # element alone and a plain sort (no key function call per entry) is the same order.
        entries.sort()
        if keys is not None and all(type(key) is str for key in keys):
            if len(_str_key_orders) >= _STR_KEY_ORDERS_MAX:
                _str_key_orders.clear()
            position = {key: i for i, key in enumerate(keys)}
            _str_key_orders[keys] = tuple(position[key] for _, key, _ in entries)
        return {key: item for _, key, item in entries}
    if kind is float:
        raise DecodeError("no floats expected, found a float")
    # Subclasses (an IntEnum, a bytes subclass): encode as the base value they stand for.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _prepare(int(value), depth)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return str(value)
    raise DecodeError(
        f"int, bool, str, bytes, None, list, tuple or dict expected, found {kind.__name__}"
    )


# The canonical key order of small maps whose keys are all str (positions in the insertion
# order), by the keys in insertion order. Bounded (cleared when full, small maps only) so that contracts cannot grow it.
# Small means up to 32 keys: a meter's billing state (ms/, 23 keys), written by every
# reading, and the registry's meter and subscription records (about 20) are among them.
_str_key_orders: dict[tuple[str, ...], tuple[int, ...]] = {}
_STR_KEY_ORDERS_MAX: Final = 4096
_ORDERED_MAP_MAX: Final = 32

# Encoded str keys by key: records and events use a few field names over and over. Bounded
# (cleared when full) so that keys from contracts cannot grow it without limit.
_str_keys: dict[str, bytes] = {}
_STR_KEYS_MAX: Final = 4096


def _str_sort_key(key: str) -> bytes:
    """The msgpack encoding of a str key, built without calling msgpack (maps are sorted
    by encoded key and most keys are short str: this is the hot path of every record)."""
    packed = _str_keys.get(key)
    if packed is None:
        packed = _encode_str_key(key)
        if len(_str_keys) >= _STR_KEYS_MAX:
            _str_keys.clear()
        _str_keys[key] = packed
    return packed


def _encode_str_key(key: str) -> bytes:
    data = key.encode()
    size = len(data)
    if size < 32:
        return bytes((0xA0 | size,)) + data
    if size < 256:
        return b"\xd9" + bytes((size,)) + data
    if size < 65_536:
        return b"\xda" + size.to_bytes(2, "big") + data
    return b"\xdb" + size.to_bytes(4, "big") + data


# One packer for the process: ``msgpack.packb`` builds a new ``Packer`` per call, which costs
# more than packing a small record. Without a ``default`` hook ``pack`` runs no Python code
# and holds the GIL throughout, so sharing it between threads cannot interleave two values.
_packer: Final = msgpack.Packer(use_bin_type=True)


# The packer's own method, not a function calling it: every encoding ends here, several
# per transaction, and a Python frame around it costs more than packing a small value.
_pack: Final[Callable[[Value], bytes]] = _packer.pack

# ``pack_ready(value)``: the msgpack bytes of a value ``encode`` would not change before
# packing (no maps, no tuples, no subclasses, nothing out of range): its canonical encoding,
# without the walk.
pack_ready: Final[Callable[[Value], bytes]] = _packer.pack


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically; raise ``DecodeError`` for a value with no encoding."""
    if type(value) is int and INT_MIN <= value <= INT_MAX:
        return _pack(value)  # nonces, totals, return values: nothing to prepare
    return _pack(_prepare(value, 0))


# The same packer writing floats as float32: see ``decode``.
_single_float_packer: Final = msgpack.Packer(use_bin_type=True, use_single_float=True)


def _reject_ext(code: int, data: bytes) -> None:
    raise DecodeError(f"no msgpack extension types expected, found type {code}")


class _MapFound(Exception):
    """Raised by the first map an unpack meets: the value needs the full canonical check."""


def _no_maps(pairs: Any) -> Any:
    raise _MapFound


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
    data = data if type(data) is bytes else bytes(data)
    try:
        try:
            value = _unpack(data, max_size, _no_maps)
            has_maps = False
        except _MapFound:
            value = _unpack(data, max_size, None)
            has_maps = True
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
    if has_maps:
        canonical = encode(value) == data
    else:
        # Without maps, only two things can differ from the canonical form: a header or an
        # integer longer than it needs to be, which packing again shortens, and a float,
        # which canonical values never hold. msgpack unpacks float32 and float64 alike, so a
        # float makes one of the two packings (floats as float64, as float32) longer or
        # shorter than the input. Two packs in C instead of ``encode``'s walk in Python: this
        # is the decode of every transaction.
        canonical = _packer.pack(value) == data
        # FAST PATH (chain/fast.py): no float header byte and few container headers prove
        # the two checks below for the common value.
        if canonical and not fast.surely_no_float_and_nesting_within(data, MAX_DEPTH):
            try:
                canonical = _single_float_packer.pack(value) == data
            except OverflowError:  # a float64 beyond float32's range: a float, so not canonical
                canonical = False
            # Nesting: ``encode`` refuses more than MAX_DEPTH levels, so decode does too (the
            # walk above is in C and does not count levels).
            if canonical:
                check_nesting(value, MAX_DEPTH, data)
    if not canonical:
        raise DecodeError(
            "canonical encoding expected (shortest integers, sorted unique map keys, "
            f"bin for bytes, no floats), found a non-canonical form of {len(data)} bytes"
        )
    return value


def check_nesting(value: Value, max_depth: int = MAX_DEPTH, data: bytes | None = None) -> None:
    """Raise ``DecodeError`` unless ``value`` (encoded as ``data``, if given) nests arrays and
    maps at most ``max_depth`` levels deep, counted as ``encode`` counts them (the top
    container is level 0), so that it can be put ``MAX_DEPTH - max_depth`` levels down
    inside another value (a transaction inside a block) and still encode."""
    if data is not None and fast.nesting_surely_within(data, max_depth):
        return
    if not _nesting_within(value, 0, max_depth):
        raise DecodeError(f"nesting of at most {max_depth} levels expected, found nesting deeper")


def nesting_levels(value: Value, limit: int = MAX_DEPTH + 1) -> int:
    """How many levels of arrays and maps ``value`` nests (a scalar 0, ``[1]`` 1, ``[[1]]``
    2), as ``check_nesting`` counts them; the walk stops at ``limit`` levels."""
    kind = type(value)
    if kind is list or kind is tuple:
        items = value
    elif kind is dict:
        items = value.values()
    else:
        return 0
    if limit <= 1:
        return 1
    deepest = 0
    for item in items:
        deepest = max(deepest, nesting_levels(item, limit - 1))
        if deepest == limit - 1:
            break
    return 1 + deepest


def _nesting_within(value: Value, depth: int, max_depth: int) -> bool:
    kind = type(value)
    if kind is list or kind is tuple:
        items = value
    elif kind is dict:
        items = value.values()
    else:
        return True
    if depth >= max_depth:
        return False
    return all(_nesting_within(item, depth + 1, max_depth) for item in items)


def _unpack(data: bytes, max_size: int, pairs_hook: Any) -> Value:
    return msgpack.unpackb(
        data,
        raw=False,
        strict_map_key=False,
        use_list=True,
        ext_hook=_reject_ext,
        object_pairs_hook=pairs_hook,
        max_str_len=MAX_CONTAINER_LEN * 16,
        max_bin_len=max_size,
        max_array_len=MAX_CONTAINER_LEN,
        max_map_len=MAX_CONTAINER_LEN,
    )


def decode_stored(data: bytes) -> Value:
    """Decode a value read back from this node's own state.

    Every stored value was written by ``encode`` and its bytes are what the state root
    commits to, so the canonical re-encoding check of ``decode`` would only repeat work on
    the hottest path of contract execution. Never use this for bytes from outside (the
    network, files, transactions): those go through ``decode``.
    """
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=False, use_list=True, ext_hook=_reject_ext
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"a stored canonical value expected: {exc}") from None
