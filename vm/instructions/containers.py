"""Container and string instructions: building lists, tuples, dicts and f-strings, indexing,
slicing and unpacking.

BUILD_* and UNPACK cost PER_ITEM per item in their static cost (the loader adds
``arg * PER_ITEM`` to the block's GAS); what depends on data (a string's size, a slice's
length) is charged by the instruction before it builds the result.
"""

from __future__ import annotations

from typing import Any

from vm import gas as g
from vm.builtins import Meter
from vm.errors import VMError
from vm.frame import Frame, charge_gas, pop, pop_n, push
from vm.values import MAX_LEN, check_key, check_len, short, to_text, type_name


def build_dict(items: list[Any]) -> dict[Any, Any]:
    """A dict of ``key, value, key, value, ...`` (a later key replaces an earlier one)."""
    d: dict[Any, Any] = {}
    for i in range(0, len(items), 2):
        d[check_key(items[i])] = items[i + 1]
    return d


def _index(container: Any, i: Any) -> int:
    if type(i) is not int:
        raise VMError(f"int index expected for {type_name(container)}, found {type_name(i)}")
    n = len(container)
    if not -n <= i < n:
        raise VMError(f"index in [-{n}, {n}) expected, found {i}")
    return int(i)


def subscr(c: Any, k: Any) -> Any:
    """``c[k]``: a present key of a dict, or an index of a list, tuple, str or bytes."""
    t = type(c)
    if t is dict:
        check_key(k)
        if k not in c:
            raise VMError(f"a present key expected, found {short(k)} absent")
        return c[k]
    if t is list or t is tuple or t is str or t is bytes:
        return c[_index(c, k)]
    raise VMError(f"list, tuple, dict, str or bytes expected for [ ], found {type_name(c)}")


def store_subscr(c: Any, k: Any, v: Any) -> None:
    """``c[k] = v`` for a dict (a new key within the length limit) or a list index."""
    t = type(c)
    if t is dict:
        check_key(k)
        if len(c) >= MAX_LEN and k not in c:
            check_len(len(c) + 1, "dict")
        c[k] = v
    elif t is list:
        c[_index(c, k)] = v
    else:
        raise VMError(f"list or dict expected for x[k] = v, found {type_name(c)}")


def delete_subscr(c: Any, k: Any) -> None:
    """``del c[k]`` for a present dict key or a list index."""
    t = type(c)
    if t is dict:
        check_key(k)
        if k not in c:
            raise VMError(f"a present key expected in del, found {short(k)} absent")
        del c[k]
    elif t is list:
        del c[_index(c, k)]
    else:
        raise VMError(f"list or dict expected for del x[k], found {type_name(c)}")


def slice_of(meter: Meter, c: Any, lo: Any, hi: Any) -> Any:
    """``c[lo:hi]``, charged by the slice's length (items, or bytes of a str or bytes)."""
    t = type(c)
    if t is not list and t is not tuple and t is not str and t is not bytes:
        raise VMError(f"list, tuple, str or bytes expected for a slice, found {type_name(c)}")
    if (lo is not None and type(lo) is not int) or (hi is not None and type(hi) is not int):
        raise VMError("int slice bounds expected")
    r = c[lo:hi]
    meter.charge(len(r) * g.PER_ITEM if t is list or t is tuple else g.size_gas(len(r)))
    return r


def unpack_error(v: Any, count: int) -> None:
    n = len(v) if type(v) in (list, tuple) else type_name(v)
    raise VMError(f"list or tuple of {count} items expected to unpack, found {n}")


def build_list(frame: Frame, arg: int) -> None:
    """``arg`` items -> a list of them."""
    # STACK
    items = pop_n(frame, arg)
    # GAS: static (PER_ITEM per item)
    # OPERATION
    push(frame, items)


def build_tuple(frame: Frame, arg: int) -> None:
    """``arg`` items -> a tuple of them."""
    # STACK
    items = pop_n(frame, arg)
    # GAS: static (PER_ITEM per item)
    # OPERATION
    push(frame, tuple(items))


def build_dict_of(frame: Frame, arg: int) -> None:
    """``arg`` key-value pairs -> a dict."""
    # STACK
    items = pop_n(frame, 2 * arg)
    # GAS: static (PER_ITEM per pair)
    # OPERATION
    push(frame, build_dict(items))


def build_string(frame: Frame, arg: int) -> None:
    """``arg`` str (formatted parts of an f-string) -> their concatenation."""
    # STACK
    parts = pop_n(frame, arg)
    # GAS: the result's size, before it is built (never an oversized str)
    size = sum(map(len, parts))
    check_len(size, "str")
    charge_gas(frame, g.size_gas(size))
    # OPERATION
    push(frame, "".join(parts))


def format_value(frame: Frame, arg: int) -> None:
    """``v`` -> ``str(v)`` for an int, str, bool or None (an f-string's part)."""
    # STACK
    v = pop(frame)
    # GAS: static only (an int's text is at most 78 characters)
    # OPERATION
    push(frame, to_text(v))


def subscript(frame: Frame, arg: int) -> None:
    """``c k`` -> ``c[k]``."""
    # STACK
    k = pop(frame)
    c = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, subscr(c, k))


def store_subscript(frame: Frame, arg: int) -> None:
    """``v c k`` -> nothing, after ``c[k] = v``."""
    # STACK
    k = pop(frame)
    c = pop(frame)
    v = pop(frame)
    # GAS: static only
    # OPERATION
    store_subscr(c, k, v)


def delete_subscript(frame: Frame, arg: int) -> None:
    """``c k`` -> nothing, after ``del c[k]``."""
    # STACK
    k = pop(frame)
    c = pop(frame)
    # GAS: static only
    # OPERATION
    delete_subscr(c, k)


def slice_(frame: Frame, arg: int) -> None:
    """``c [lo] [hi]`` -> ``c[lo:hi]``; bit 0 of ``arg``: ``lo`` present, bit 1: ``hi``."""
    # STACK
    hi = pop(frame) if arg & 2 else None
    lo = pop(frame) if arg & 1 else None
    c = pop(frame)
    # GAS: the slice's length (in ``slice_of``)
    # OPERATION
    push(frame, slice_of(frame.ex, c, lo, hi))


def unpack(frame: Frame, arg: int) -> None:
    """A list or tuple of ``arg`` items -> its items, the first on top."""
    # STACK
    v = pop(frame)
    # GAS: static (PER_ITEM per item)
    # OPERATION
    if (type(v) is not list and type(v) is not tuple) or len(v) != arg:
        unpack_error(v, arg)
    for item in reversed(v):
        push(frame, item)
