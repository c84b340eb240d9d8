"""Control-flow instructions: the per-block gas charge, jumps, loops and ``return``.

Jump arguments are instruction indexes inside the function (the verifier checked them).
"""

from __future__ import annotations

from typing import Any

from vm.errors import VMError
from vm.frame import DONE, Frame, charge_gas, pop, pop_n, push
from vm.values import deep_copy, type_name, weight


def iterate(v: Any) -> Any:
    """The iterator a ``for`` loop walks: a list's or tuple's items, a dict's keys."""
    t = type(v)
    if t is list or t is tuple or t is dict:
        return iter(v)
    raise VMError(f"list, tuple or dict expected in for, found {type_name(v)}")


def range_iter(args: list[Any]) -> Any:
    """``range(stop)``, ``range(start, stop)`` or ``range(start, stop, step)``."""
    for x in args:
        if type(x) is not int:
            raise VMError(f"int arguments expected in range(), found {type_name(x)}")
    if len(args) == 3 and args[2] == 0:
        raise VMError("non-zero step expected in range(), found 0")
    return iter(range(*args))


def charge_block(frame: Frame, arg: int) -> None:
    """GAS: the loader puts one at the start of every basic block (never in bytecode)."""
    # STACK: nothing
    # GAS: ``arg``, the static cost of every instruction of the block
    charge_gas(frame, arg)


def jump(frame: Frame, arg: int) -> None:
    """Continue at instruction ``arg``."""
    # STACK: nothing
    # GAS: static only
    # OPERATION
    frame.pc = arg


def jump_if_false(frame: Frame, arg: int) -> None:
    """Pop a condition; continue at ``arg`` if it is false."""
    # STACK
    condition = pop(frame)
    # GAS: static only
    # OPERATION
    if not condition:
        frame.pc = arg


def jump_if_true(frame: Frame, arg: int) -> None:
    """Pop a condition; continue at ``arg`` if it is true."""
    # STACK
    condition = pop(frame)
    # GAS: static only
    # OPERATION
    if condition:
        frame.pc = arg


def jump_if_false_or_pop(frame: Frame, arg: int) -> None:
    """``and``: keep a false top item and continue at ``arg``, or pop a true one."""
    # STACK: the top item stays when jumping
    condition = frame.stack[-1]
    # GAS: static only
    # OPERATION
    if not condition:
        frame.pc = arg
    else:
        pop(frame)


def jump_if_true_or_pop(frame: Frame, arg: int) -> None:
    """``or``: keep a true top item and continue at ``arg``, or pop a false one."""
    # STACK: the top item stays when jumping
    condition = frame.stack[-1]
    # GAS: static only
    # OPERATION
    if condition:
        frame.pc = arg
    else:
        pop(frame)


def get_iter(frame: Frame, arg: int) -> None:
    """``v`` -> an iterator over ``v`` for FOR_ITER."""
    # STACK
    v = pop(frame)
    # GAS: static only (each iteration runs the loop's instructions)
    # OPERATION
    push(frame, iterate(v))


def range_of(frame: Frame, arg: int) -> None:
    """``arg`` ints -> an iterator over ``range(...)`` of them."""
    # STACK
    args = pop_n(frame, arg)
    # GAS: static only
    # OPERATION
    push(frame, range_iter(args))


def for_iter(frame: Frame, arg: int) -> None:
    """Push the iterator's next item; or pop the exhausted iterator and continue at ``arg``."""
    # STACK: the iterator stays below the item
    iterator = frame.stack[-1]
    # GAS: static only
    # OPERATION
    item = next(iterator, DONE)
    if item is DONE:
        pop(frame)
        frame.pc = arg
    else:
        push(frame, item)


def return_value(frame: Frame, arg: int) -> None:
    """End the function with the top item as its value."""
    # STACK
    value = pop(frame)
    # GAS: a value returned to another contract is weighed, then copied
    if frame.cross:
        charge_gas(frame, weight(value, frame.ex.gas + 1))
        value = deep_copy(value)
    # OPERATION
    frame.return_value = value
    frame.running = False
