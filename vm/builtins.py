"""Builtins, host functions and methods: their ids (part of the bytecode format), their
signatures (the compiler resolves keywords and defaults with them) and the pure builtins'
implementations. Host functions need the execution's state and live in the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any, Final, Protocol

from vm import gas as g
from vm.errors import Revert, VMError
from vm.values import (
    MAX_LEN,
    check_int,
    check_key,
    check_len,
    compare,
    div_ceil,
    div_floor,
    div_round_half_up,
    parse_int,
    short,
    to_text,
    type_name,
    values_equal,
    weight,
)


class Meter(Protocol):
    """What a builtin needs from the execution: a way to charge gas for the work it does."""

    gas: int  # gas left: walks over values stop once they have cost more than this

    def charge(self, amount: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Signature:
    """``params`` names the parameters; the last ``len(defaults)`` have literal defaults.
    ``variadic`` builtins (min, max) take one or more positional arguments."""

    name: str
    id: int
    params: tuple[str, ...]
    defaults: tuple[Any, ...] = ()
    variadic: bool = False
    host: bool = False


_NONE: Final[tuple[Any, ...]] = (None,)

BUILTINS: Final[dict[str, Signature]] = {
    s.name: s
    for s in [
        Signature("len", 0, ("x",)),
        Signature("min", 1, ("a",), variadic=True),
        Signature("max", 2, ("a",), variadic=True),
        Signature("abs", 3, ("x",)),
        Signature("str", 4, ("x",)),
        Signature("int", 5, ("s",)),
        Signature("bytes_hex", 6, ("b",)),
        Signature("hex_bytes", 7, ("s",)),
        Signature("div_floor", 8, ("a", "b")),
        Signature("div_ceil", 9, ("a", "b")),
        Signature("div_round_half_up", 10, ("a", "b")),
        Signature("mul_div", 11, ("a", "b", "c")),
        Signature("require", 12, ("cond", "message"), ("requirement failed",)),
        Signature("revert", 13, ("message",), ("reverted",)),
        Signature("sorted", 14, ("x",)),
        Signature("list", 15, ("x",)),
        Signature("storage_get", 32, ("key", "default"), _NONE, host=True),
        Signature("storage_set", 33, ("key", "value"), host=True),
        Signature("storage_delete", 34, ("key",), host=True),
        Signature("storage_has", 35, ("key",), host=True),
        Signature("storage_keys", 36, ("prefix", "start_after", "limit"), ("", 100), host=True),
        Signature("emit", 37, ("name", "fields"), host=True),
        Signature("caller", 38, (), host=True),
        Signature("tx_signer", 39, (), host=True),
        Signature("tx_hash", 40, (), host=True),
        Signature("block_height", 41, (), host=True),
        Signature("block_time", 42, (), host=True),
        Signature("call", 43, ("contract", "function", "args"), host=True),
        Signature("ed25519_verify", 44, ("public_key", "message", "signature"), host=True),
        Signature("canonical_bytes", 45, ("value",), host=True),
        Signature("sha256", 46, ("data",), host=True),
    ]
}
BUILTIN_NAMES: Final = {s.id: s.name for s in BUILTINS.values()}
CALL_ID: Final = BUILTINS["call"].id

# name -> (id, min args, max args); the receiver's type is checked when the method runs.
METHODS: Final[dict[str, tuple[int, int, int]]] = {
    "append": (0, 1, 1),
    "pop": (1, 0, 2),
    "insert": (2, 2, 2),
    "index": (3, 1, 1),
    "get": (4, 1, 2),
    "keys": (5, 0, 0),
    "values": (6, 0, 0),
    "items": (7, 0, 0),
    "setdefault": (8, 1, 2),
    "startswith": (9, 1, 1),
    "endswith": (10, 1, 1),
    "split": (11, 0, 1),
    "join": (12, 1, 1),
    "upper": (13, 0, 0),
    "lower": (14, 0, 0),
}
METHOD_NAMES: Final = {v[0]: k for k, v in METHODS.items()}


# --- pure builtins -----------------------------------------------------------------------


def _int_arg(value: Any, fn: str) -> int:
    if type(value) is not int:
        raise VMError(f"int expected in {fn}(), found {type_name(value)}")
    return int(value)


def _str_arg(value: Any, fn: str) -> str:
    if type(value) is not str:
        raise VMError(f"str expected in {fn}, found {type_name(value)}")
    return str(value)


def _len(m: Meter, a: list[Any]) -> Any:
    x = a[0]
    if type(x) in (str, bytes, list, tuple, dict):
        return len(x)
    raise VMError(f"str, bytes, list, tuple or dict expected in len(), found {type_name(x)}")


def _min_max(m: Meter, a: list[Any], fn: str) -> int:
    items = a
    if len(a) == 1:
        if type(a[0]) not in (list, tuple):
            raise VMError(f"several ints or one list of ints expected in {fn}(), found {type_name(a[0])}")
        items = list(a[0])
        m.charge(len(items) * g.PER_ITEM)
    if not items:
        raise VMError(f"at least one int expected in {fn}(), found none")
    ints = [_int_arg(x, fn) for x in items]
    return min(ints) if fn == "min" else max(ints)


def _min(m: Meter, a: list[Any]) -> int:
    # Fast path: two ints, the common case (tiers, caps); the same result as _min_max.
    if len(a) == 2 and type(a[0]) is int and type(a[1]) is int:
        return a[0] if a[0] <= a[1] else a[1]
    return _min_max(m, a, "min")


def _max(m: Meter, a: list[Any]) -> int:
    if len(a) == 2 and type(a[0]) is int and type(a[1]) is int:
        return a[0] if a[0] >= a[1] else a[1]
    return _min_max(m, a, "max")


def _abs(m: Meter, a: list[Any]) -> Any:
    return check_int(abs(_int_arg(a[0], "abs")))


def _str(m: Meter, a: list[Any]) -> Any:
    text = to_text(a[0])
    m.charge(g.size_gas(len(text)))
    return text


def _int(m: Meter, a: list[Any]) -> Any:
    if type(a[0]) is str:
        m.charge(g.size_gas(len(a[0])))
    return parse_int(a[0])


def _bytes_hex(m: Meter, a: list[Any]) -> Any:
    if type(a[0]) is not bytes:
        raise VMError(f"bytes expected in bytes_hex(), found {type_name(a[0])}")
    m.charge(g.size_gas(2 * len(a[0])))
    text = a[0].hex()
    check_len(len(text), "str")
    return text


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def _hex_bytes(m: Meter, a: list[Any]) -> Any:
    s = _str_arg(a[0], "hex_bytes()")
    m.charge(g.size_gas(len(s)))
    if len(s) % 2 or not all(c in _HEX_DIGITS for c in s):
        raise VMError(f"an even number of hex digits expected in hex_bytes(), found {short(s)}")
    return bytes.fromhex(s)


def _div_floor(m: Meter, a: list[Any]) -> Any:
    return check_int(div_floor(_int_arg(a[0], "div_floor"), _int_arg(a[1], "div_floor")))


def _div_ceil(m: Meter, a: list[Any]) -> Any:
    return check_int(div_ceil(_int_arg(a[0], "div_ceil"), _int_arg(a[1], "div_ceil")))


def _div_round_half_up(m: Meter, a: list[Any]) -> Any:
    x = _int_arg(a[0], "div_round_half_up")
    y = _int_arg(a[1], "div_round_half_up")
    return check_int(div_round_half_up(x, y))


def _mul_div(m: Meter, a: list[Any]) -> Any:
    x = _int_arg(a[0], "mul_div")
    y = _int_arg(a[1], "mul_div")
    z = _int_arg(a[2], "mul_div")
    # The product may exceed the int range; only the quotient must fit.
    return check_int(div_round_half_up(x * y, z))


def message(value: Any, fn: str) -> str:
    """The message argument of ``require`` and ``revert``."""
    if type(value) is not str:
        raise VMError(f"str message expected in {fn}(), found {type_name(value)}")
    return str(value)


def _require(m: Meter, a: list[Any]) -> Any:
    # Truthiness as in Python: require(meter, "...") fails for None, 0, "", [] and {}.
    if not a[0]:
        raise Revert(message(a[1], "require"))
    return None


def _revert(m: Meter, a: list[Any]) -> Any:
    raise Revert(message(a[0], "revert"))


def _sorted(m: Meter, a: list[Any]) -> Any:
    x = a[0]
    if type(x) not in (list, tuple):
        raise VMError(f"list or tuple expected in sorted(), found {type_name(x)}")
    n = len(x)
    m.charge(n * max(1, n.bit_length()) * g.PER_ITEM)
    if n and type(x[0]) in (list, tuple, dict):
        # Comparing containers walks them: pay for the walk once per level of the sort.
        m.charge(weight(x, m.gas + 1) * max(1, n.bit_length()) * g.PER_ITEM)
    if n == 0:
        return []
    t = type(x[0])
    if t in (int, str, bytes):
        for item in x:
            if type(item) is not t:
                raise VMError(
                    f"elements of one type expected in sorted(), found {type_name(x[0])} and {type_name(item)}"
                )
        return sorted(x)
    return sorted(x, key=cmp_to_key(compare))


def _list(m: Meter, a: list[Any]) -> Any:
    x = a[0]
    t = type(x)
    if t is list or t is tuple:
        m.charge(len(x) * g.PER_ITEM)
        return list(x)
    if t is dict:
        m.charge(len(x) * g.PER_ITEM)
        return list(x)
    raise VMError(f"list, tuple or dict expected in list(), found {type_name(x)}")


PURE: Final[dict[int, Callable[[Meter, list[Any]], Any]]] = {
    0: _len,
    1: _min,
    2: _max,
    3: _abs,
    4: _str,
    5: _int,
    6: _bytes_hex,
    7: _hex_bytes,
    8: _div_floor,
    9: _div_ceil,
    10: _div_round_half_up,
    11: _mul_div,
    12: _require,
    13: _revert,
    14: _sorted,
    15: _list,
}


# --- methods ---------------------------------------------------------------------------


def _index_arg(value: Any) -> int:
    if type(value) is not int:
        raise VMError(f"int index expected, found {type_name(value)}")
    return int(value)


def call_method(m: Meter, mid: int, recv: Any, a: list[Any]) -> Any:
    """Run method ``mid`` on ``recv``; the compiler has checked the argument count range."""
    t = type(recv)
    if t is list:
        if mid == 0:  # append
            if len(recv) >= MAX_LEN:
                check_len(len(recv) + 1, "list")
            recv.append(a[0])
            return None
        if mid == 1:  # pop
            if len(a) > 1:
                raise VMError(f"at most 1 argument expected in list.pop(), found {len(a)}")
            if not recv:
                raise VMError("non-empty list expected in pop(), found an empty list")
            i = _index_arg(a[0]) if a else -1
            if not -len(recv) <= i < len(recv):
                raise VMError(f"index in [-{len(recv)}, {len(recv)}) expected in pop(), found {i}")
            m.charge(len(recv) // 8)
            return recv.pop(i)
        if mid == 2:  # insert
            check_len(len(recv) + 1, "list")
            m.charge(len(recv) // 8)
            recv.insert(_index_arg(a[0]), a[1])
            return None
        if mid == 3:  # index
            m.charge(weight(recv, m.gas + 1) * g.PER_ITEM)
            for i, item in enumerate(recv):
                if values_equal(item, a[0]):
                    return i
            raise VMError("a value present in the list expected in index(), found it absent")
    elif t is dict:
        if mid == 4:  # get
            k = check_key(a[0])
            return recv.get(k, a[1] if len(a) > 1 else None)
        if mid in (5, 6, 7):  # keys / values / items: a new list (no live views)
            m.charge(len(recv) * g.PER_ITEM)
            if mid == 5:
                return list(recv)
            if mid == 6:
                return list(recv.values())
            return list(recv.items())
        if mid == 1:  # pop
            if not a:
                raise VMError("a key expected in dict.pop(), found none")
            k = check_key(a[0])
            if k in recv:
                return recv.pop(k)
            if len(a) > 1:
                return a[1]
            raise VMError(f"a present key expected in dict.pop(), found {short(k)} absent")
        if mid == 8:  # setdefault
            k = check_key(a[0])
            if k not in recv:
                check_len(len(recv) + 1, "dict")
                recv[k] = a[1] if len(a) > 1 else None
            return recv[k]
    elif t is str:
        if mid in (9, 10):  # startswith / endswith
            s = _str_arg(a[0], f"str.{METHOD_NAMES[mid]}()")
            m.charge(g.size_gas(len(s)))
            return recv.startswith(s) if mid == 9 else recv.endswith(s)
        if mid == 11:  # split
            m.charge(g.size_gas(len(recv)) + 1)
            if not a or a[0] is None:
                parts = recv.split()
            else:
                sep = _str_arg(a[0], "str.split()")
                if not sep:
                    raise VMError("non-empty separator expected in split(), found ''")
                parts = recv.split(sep)
            m.charge(len(parts) * g.PER_ITEM)
            check_len(len(parts), "list")
            return parts
        if mid == 12:  # join
            items = a[0]
            if type(items) not in (list, tuple):
                raise VMError(f"list of str expected in str.join(), found {type_name(items)}")
            total = 0
            for item in items:
                if type(item) is not str:
                    raise VMError(f"list of str expected in str.join(), found a {type_name(item)} in it")
                total += len(item) + len(recv)
            check_len(total, "str")
            m.charge(g.size_gas(total) + len(items) * g.PER_ITEM)
            return recv.join(items)
        if mid in (13, 14):  # upper / lower (ASCII only: Unicode case tables change)
            m.charge(g.size_gas(len(recv)))
            table = _UPPER if mid == 13 else _LOWER
            return recv.translate(table)
    raise VMError(f"method {METHOD_NAMES.get(mid, '?')}() does not exist on {type_name(recv)}")


# Unicode case mappings differ between Python versions; nodes must agree byte for byte, so
# upper() and lower() change only ASCII letters.
_UPPER: Final = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}
_LOWER: Final = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
