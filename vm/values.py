"""Contract values and the operations on them that need more than Python's own semantics.

A contract value is a plain Python ``int``, ``bool``, ``str``, ``bytes``, ``None``,
``list``, ``tuple`` or ``dict``. Python's own operators are almost right; what differs is
made explicit here: ``bool`` is not an ``int`` (``1 == True`` is a type error, ``True + 1``
too), comparing different types with ``<`` is an error, dict keys are only ``int``, ``str``
or ``bytes``, and nesting is bounded so that no operation can recurse without limit.
"""

from __future__ import annotations

from typing import Any, Final

from vm.errors import IntegerOverflow, VMError
from vm.gas import BYTES_PER_GAS

INT_MIN: Final = -(2**255)
INT_LIMIT: Final = 2**255  # exclusive upper bound
MAX_LEN: Final = 65_536  # str / bytes / list / dict length
MAX_NESTING: Final = 32

_SCALARS: Final = (int, str, bytes, bool, type(None))
_KEY_TYPES: Final = (int, str, bytes)

TYPE_NAMES: Final[dict[type, str]] = {
    int: "int",
    bool: "bool",
    str: "str",
    bytes: "bytes",
    type(None): "None",
    list: "list",
    tuple: "tuple",
    dict: "dict",
}


def type_name(value: Any) -> str:
    return TYPE_NAMES.get(type(value), "internal")


def short(value: Any) -> str:
    """A value in an error message, in at most about 90 characters whatever its size: the
    text is built from a bounded part of the value (never a whole ``repr`` cut afterwards,
    which would cost work and memory growing with the value and paid by no gas)."""
    t = type(value)
    if t is str or t is bytes:
        text = repr(value[:80])
        return text if len(value) <= 80 else f"{text[:77]}... ({len(value)} {'characters' if t is str else 'bytes'})"
    if t is int:
        return str(value) if value.bit_length() <= 256 else f"an int of {value.bit_length()} bits"
    if t is bool or value is None:
        return repr(value)
    if t is list or t is tuple or t is dict:
        return f"a {t.__name__} of {len(value)} items"
    return type(value).__name__


def check_int(value: int) -> int:
    if value >= INT_LIMIT or value < INT_MIN:
        raise IntegerOverflow(f"int in [-2**255, 2**255) expected, found one of {value.bit_length()} bits")
    return value


def check_key(key: Any) -> Any:
    """A dict key must be an int (not a bool), a str or bytes."""
    if type(key) not in _KEY_TYPES:
        raise VMError(f"dict key of type int, str or bytes expected, found {type_name(key)}")
    return key


def check_len(n: int, what: str) -> None:
    if n > MAX_LEN:
        raise VMError(f"{what} of at most {MAX_LEN} items expected, found {n}")


def values_equal(a: Any, b: Any, depth: int = 0) -> bool:
    """``==`` of the language: different types are unequal, but int against bool is an error."""
    ta = type(a)
    tb = type(b)
    if ta is not tb:
        if (ta is bool and tb is int) or (ta is int and tb is bool):
            raise VMError("comparison of int with bool: bool is not int")
        return False
    if ta in _SCALARS:
        return bool(a == b)
    if depth >= MAX_NESTING:
        raise VMError(f"nesting of at most {MAX_NESTING} expected in comparison")
    if ta is list or ta is tuple:
        if len(a) != len(b):
            return False
        return all(values_equal(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if ta is dict:
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b:
                return False
            if not values_equal(v, b[k], depth + 1):
                return False
        return True
    raise VMError(f"comparable value expected, found {type_name(a)}")


def compare(a: Any, b: Any, depth: int = 0) -> int:
    """Three-way ordering (-1, 0, 1) of two values of one orderable type."""
    ta = type(a)
    if ta is not type(b):
        raise VMError(f"ordering of values of one type expected, found {type_name(a)} and {type_name(b)}")
    if ta is int or ta is str or ta is bytes or ta is bool:
        return -1 if a < b else (1 if a > b else 0)
    if ta is list or ta is tuple:
        if depth >= MAX_NESTING:
            raise VMError(f"nesting of at most {MAX_NESTING} expected in comparison")
        for x, y in zip(a, b, strict=False):
            c = compare(x, y, depth + 1)
            if c:
                return c
        return -1 if len(a) < len(b) else (1 if len(a) > len(b) else 0)
    raise VMError(f"orderable values (int, str, bytes, bool, list, tuple) expected, found {type_name(a)}")


def contains(container: Any, item: Any) -> bool:
    """``item in container``."""
    tc = type(container)
    if tc is dict:
        return check_key(item) in container
    if tc is list or tc is tuple:
        for x in container:
            if values_equal(x, item):
                return True
        return False
    if tc is str:
        if type(item) is not str:
            raise VMError(f"str expected on the left of 'in' a str, found {type_name(item)}")
        return item in container
    if tc is bytes:
        if type(item) is not bytes:
            raise VMError(f"bytes expected on the left of 'in' bytes, found {type_name(item)}")
        return item in container
    raise VMError(f"list, tuple, dict, str or bytes expected after 'in', found {type_name(container)}")


def deep_copy(value: Any, depth: int = 0) -> Any:
    """An independent copy (values crossing a contract boundary must not alias)."""
    t = type(value)
    if t in _SCALARS:
        return value
    if depth >= MAX_NESTING:
        raise VMError(f"nesting of at most {MAX_NESTING} expected")
    if t is list:
        # A list or dict of scalars (records read from storage, the common value crossing a
        # contract boundary) is copied in C: the same copy, without a call per item.
        for v in value:
            if type(v) not in _SCALARS:
                return [deep_copy(v, depth + 1) for v in value]
        return value.copy()
    if t is tuple:
        return tuple(deep_copy(v, depth + 1) for v in value)
    if t is dict:
        for v in value.values():
            if type(v) not in _SCALARS:
                return {k: deep_copy(v, depth + 1) for k, v in value.items()}
        return value.copy()
    raise VMError(f"contract value expected, found {type_name(value)}")


def weight(value: Any, limit: int) -> int:
    """Number of values inside ``value`` (itself included; str and bytes count one more per
    8 bytes), counting a shared sub-list once per reference, and stopping once past
    ``limit``.

    Walks over values (comparison, copying, encoding) cost gas by this count: one list
    appended a thousand times to another is a thousand lists to compare or copy, even
    though it was cheap to build. Counting stops past ``limit`` (the gas left), so the count
    itself never costs more work than the gas that pays for it.
    """
    t = type(value)
    if t is str or t is bytes:
        return 1 + len(value) // BYTES_PER_GAS
    if t is dict:
        return _weight_of_flat_dict(value, limit)
    if t is not list and t is not tuple:
        return 1
    return _weight_of_list(value, limit)


def weight_walk(value: Any, limit: int) -> int:
    """``weight``'s definition: a walk over every value inside ``value``."""
    n = 0
    todo = [value]
    while todo:
        v = todo.pop()
        n += 1
        t = type(v)
        if t is list or t is tuple:
            todo.extend(v)
        elif t is dict:
            for k in v:  # keys are scalars: count them here
                n += 1 + (len(k) // BYTES_PER_GAS if type(k) is not int else 0)
            todo.extend(v.values())
        elif t is str or t is bytes:
            # A shared 64 KiB string appended many times is many times 64 KiB to encode.
            n += len(v) // BYTES_PER_GAS
        if n > limit:
            return n
    return n


def _weight_of_list(value: list[Any] | tuple[Any, ...], limit: int) -> int:
    """Fast path of ``weight_walk`` for a list or tuple (records returned together, a
    transaction's arguments): one pass over its items, records by the dict's fast path, the
    walk only for nested lists; the same count (tests/vm/test_fast_paths.py)."""
    n = 1
    for v in value:
        tv = type(v)
        if tv is dict:
            n += _weight_of_flat_dict(v, limit - n)
        elif tv is list or tv is tuple:
            n += weight_walk(v, limit - n)
        else:
            n += 1 + len(v) // BYTES_PER_GAS if tv is str or tv is bytes else 1
        if n > limit:
            return n
    return n


def _weight_of_flat_dict(value: dict[Any, Any], limit: int) -> int:
    """Fast path of ``weight_walk`` for a dict (event fields, records): one pass over its
    items without the work list, the walk only for nested values; the same count
    (tests/vm/test_fast_paths.py compares the two)."""
    n = 1
    for k, v in value.items():
        n += 1 if type(k) is int else 1 + len(k) // BYTES_PER_GAS
        tv = type(v)
        if tv is list or tv is tuple or tv is dict:
            # A nested value (a record's map of accumulators): the walk counts it, and adds
            # what it counts to the rest (the walk's count is a sum over the values).
            n += weight_walk(v, limit - n)
        else:
            n += 1 + len(v) // BYTES_PER_GAS if tv is str or tv is bytes else 1
        if n > limit:
            return n
    return n


def check_value(value: Any, depth: int = 0) -> Any:
    """Check that a value coming from outside (transaction args) is a contract value."""
    t = type(value)
    if t is int:
        return check_int(value)
    if t is str or t is bytes:
        check_len(len(value), t.__name__)
        return value
    if t in _SCALARS:
        return value
    if depth >= MAX_NESTING:
        raise VMError(f"nesting of at most {MAX_NESTING} expected")
    if t is list or t is tuple:
        check_len(len(value), t.__name__)
        for v in value:
            check_value(v, depth + 1)
        return value
    if t is dict:
        check_len(len(value), "dict")
        for k, v in value.items():
            check_key(k)
            check_value(v, depth + 1)
        return value
    raise VMError(f"contract value expected, found {type(value).__name__}")


def to_text(value: Any) -> str:
    """``str(x)`` and f-string formatting: decimal ints, str unchanged, bool and None by name."""
    t = type(value)
    if t is str:
        return str(value)
    if t is int:
        return str(value)
    if t is bool:
        return "True" if value else "False"
    if value is None:
        return "None"
    raise VMError(f"int, str, bool or None expected in str() or an f-string, found {type_name(value)}")


def parse_int(text: Any) -> int:
    """``int(s)``: a decimal str with an optional leading ``-``; an int is returned as is."""
    if type(text) is int:
        return int(text)
    if type(text) is not str:
        raise VMError(f"decimal str expected in int(), found {type_name(text)}")
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 78 or not all("0" <= c <= "9" for c in digits):
        raise VMError(f"decimal str (optional leading '-') expected in int(), found {short(text)}")
    return check_int(int(text))


def div_floor(a: int, b: int) -> int:
    if b == 0:
        raise VMError("non-zero divisor expected, found 0")
    return a // b


def div_ceil(a: int, b: int) -> int:
    if b == 0:
        raise VMError("non-zero divisor expected, found 0")
    return -((-a) // b)


def div_round_half_up(a: int, b: int) -> int:
    """Nearest integer, halves away from zero (the billing rounding rule)."""
    if b == 0:
        raise VMError("non-zero divisor expected, found 0")
    negative = (a < 0) != (b < 0)
    q, r = divmod(abs(a), abs(b))
    if 2 * r >= abs(b):
        q += 1
    return -q if negative else q
