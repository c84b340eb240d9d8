"""Comparison and test instructions: ``== != < <= > >= in``, ``is None``, ``not`` and
``isinstance``.

Comparing walks values, so anything but two ints (or, for ``==``, two str or two bytes,
charged by the bytes compared) is charged by the weight of the left operand
(``vm.values.weight``), or of the container for ``in``, before the walk.
"""

from __future__ import annotations

from typing import Any, Final

from vm import gas as g
from vm.frame import Frame, charge_gas, pop, push
from vm.values import compare, contains, values_equal, weight

# ISINSTANCE's argument is a bit mask of these (``vm.opcodes.TYPE_CODES``, in order).
ISINSTANCE_BITS: Final[dict[type, int]] = {
    int: 1,
    bool: 2,
    str: 4,
    bytes: 8,
    list: 16,
    dict: 32,
    tuple: 64,
    type(None): 128,
}


def _charge_walk(frame: Frame, value: Any) -> None:
    charge_gas(frame, weight(value, frame.ex.gas + 1))


def _charge_equality(frame: Frame, a: Any, b: Any) -> None:
    """Two ints: nothing beyond the instruction; two str or two bytes: the bytes compared
    (the shorter one's length: equal lengths are compared to the end, unequal ones not at
    all); anything else: the walk over ``a``."""
    ta = type(a)
    if ta is type(b) and (ta is str or ta is bytes):
        charge_gas(frame, g.size_gas(min(len(a), len(b))))
    elif not (ta is int and type(b) is int):
        _charge_walk(frame, a)


def equal(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a == b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: by the bytes compared, or the weight of ``a`` (``_charge_equality``)
    _charge_equality(frame, a, b)
    # OPERATION
    push(frame, values_equal(a, b))


def not_equal(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a != b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: as ``equal``
    _charge_equality(frame, a, b)
    # OPERATION
    push(frame, not values_equal(a, b))


def _ordering(frame: Frame) -> int:
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: the weight of ``a``, unless both are ints
    if not (type(a) is int and type(b) is int):
        _charge_walk(frame, a)
    # OPERATION
    return compare(a, b)


def less(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a < b`` (values of one orderable type)."""
    push(frame, _ordering(frame) < 0)


def less_equal(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a <= b``."""
    push(frame, _ordering(frame) <= 0)


def greater(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a > b``."""
    push(frame, _ordering(frame) > 0)


def greater_equal(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a >= b``."""
    push(frame, _ordering(frame) >= 0)


def is_in(frame: Frame, arg: int) -> None:
    """``item container`` -> ``item in container``."""
    # STACK
    container = pop(frame)
    item = pop(frame)
    # GAS: the weight of the container
    _charge_walk(frame, container)
    # OPERATION
    push(frame, contains(container, item))


def not_in(frame: Frame, arg: int) -> None:
    """``item container`` -> ``item not in container``."""
    # STACK
    container = pop(frame)
    item = pop(frame)
    # GAS: as ``is_in``
    _charge_walk(frame, container)
    # OPERATION
    push(frame, not contains(container, item))


def is_none(frame: Frame, arg: int) -> None:
    """``a`` -> ``a is None``."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, a is None)


def is_not_none(frame: Frame, arg: int) -> None:
    """``a`` -> ``a is not None``."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, a is not None)


def logical_not(frame: Frame, arg: int) -> None:
    """``a`` -> ``not a`` (Python's truthiness: None, 0, "", b"", [], (), {} are false)."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, not a)


def is_instance(frame: Frame, arg: int) -> None:
    """``a`` -> whether ``a``'s type is one of the types in the mask ``arg``."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, bool(ISINSTANCE_BITS.get(type(a), 0) & arg))
