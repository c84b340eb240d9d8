"""Arithmetic instructions: ``+ - * // % **`` and unary ``-``/``+``.

Ints stay in ``[-2**255, 2**255)`` (``IntegerOverflow`` otherwise) and ``bool`` is not an
int. ``+`` also joins two str, bytes, lists or tuples, charged by the result's size before
it is built.
"""

from __future__ import annotations

from typing import Any

from vm import gas as g
from vm.builtins import Meter
from vm.errors import IntegerOverflow, VMError
from vm.frame import Frame, pop, push
from vm.values import check_int, check_len, type_name


def int_operands(a: Any, b: Any, op: str) -> None:
    if type(a) is not int or type(b) is not int:
        raise VMError(f"int operands expected for '{op}', found {type_name(a)} and {type_name(b)}")


def add_values(meter: Meter, a: Any, b: Any) -> Any:
    """``a + b``: ints, or two sequences of one type charged by the result's length."""
    ta = type(a)
    if ta is int and type(b) is int:
        return check_int(a + b)
    if ta is type(b):
        if ta is str or ta is bytes:
            n = len(a) + len(b)
            check_len(n, ta.__name__)
            meter.charge(g.size_gas(n))
            return a + b
        if ta is list or ta is tuple:
            n = len(a) + len(b)
            check_len(n, ta.__name__)
            meter.charge(n * g.PER_ITEM)
            return a + b
    raise VMError(
        "operands of one type (int, str, bytes, list, tuple) expected for '+', "
        f"found {type_name(a)} and {type_name(b)}"
    )


def power(meter: Meter, a: Any, b: Any) -> int:
    """``a ** b`` for an exponent in [0, 255], refused before computing when it cannot fit."""
    int_operands(a, b, "**")
    if not 0 <= b <= 255:
        raise VMError(f"exponent in [0, 255] expected, found {b}")
    if abs(a) > 1 and (abs(a).bit_length() - 1) * b > 256:
        raise IntegerOverflow("int in [-2**255, 2**255) expected, found a larger power")
    r: int = a**b
    meter.charge(r.bit_length() // 64 * g.BIG_INT_WORD)
    return check_int(r)


def add(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a + b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: the result's size for sequences (in ``add_values``, before joining)
    # OPERATION
    push(frame, add_values(frame.ex, a, b))


def subtract(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a - b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static only
    # OPERATION
    int_operands(a, b, "-")
    push(frame, check_int(a - b))


def multiply(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a * b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static only (the result is bounded by the int range)
    # OPERATION
    int_operands(a, b, "*")
    push(frame, check_int(a * b))


def floor_divide(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a // b`` (rounded towards minus infinity, as Python does)."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static only
    # OPERATION
    int_operands(a, b, "//")
    if b == 0:
        raise VMError("non-zero divisor expected, found 0")
    push(frame, check_int(a // b))


def modulo(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a % b`` (the sign of ``b``, as Python does)."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static only
    # OPERATION
    int_operands(a, b, "%")
    if b == 0:
        raise VMError("non-zero divisor expected, found 0")
    push(frame, a % b)


def power_of(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a ** b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static POW, plus BIG_INT_WORD per 64-bit word of the result (in ``power``)
    # OPERATION
    push(frame, power(frame.ex, a, b))


def negate(frame: Frame, arg: int) -> None:
    """``a`` -> ``-a``."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    if type(a) is not int:
        raise VMError(f"int operand expected for unary '-', found {type_name(a)}")
    push(frame, check_int(-a))


def plus(frame: Frame, arg: int) -> None:
    """``a`` -> ``+a``: an int unchanged."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    if type(a) is not int:
        raise VMError(f"int operand expected for unary '+', found {type_name(a)}")
    push(frame, a)
