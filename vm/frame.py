"""A running function's frame for the reference interpreter (``vm.reference``), and the few
operations every instruction definition (``vm.instructions``) is written with.

A frame is the function's locals, its operand stack and the index of the next instruction;
the execution (``vm.host.Execution``) it belongs to holds the gas, the buffered writes and
the events of the whole call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from vm.bytecode import LoadedFunction, Program
from vm.host import Execution


class _Unbound:
    """Marks a local slot not yet assigned."""


UNBOUND: Final = _Unbound()
DONE: Final = object()  # what ``next`` gives for an exhausted iterator in FOR_ITER


@dataclass(slots=True, eq=False)
class Frame:
    ex: Execution
    program: Program
    function: LoadedFunction
    depth: int  # frames below this one, counting cross-contract calls
    cross: bool  # entered by ``call()`` from another contract: its return value is copied
    locals: list[Any]
    stack: list[Any] = field(default_factory=list)
    pc: int = 0  # the next instruction (an index into ``function.code``)
    running: bool = True
    return_value: Any = None


def push(frame: Frame, value: Any) -> None:
    frame.stack.append(value)


def pop(frame: Frame) -> Any:
    return frame.stack.pop()


def pop_n(frame: Frame, n: int) -> list[Any]:
    """The top ``n`` items, the deepest first (the order they were pushed in)."""
    if n == 0:
        return []
    items = frame.stack[-n:]
    del frame.stack[-n:]
    return items


def charge_gas(frame: Frame, amount: int) -> None:
    """Take ``amount`` gas; ``OutOfGas`` at once when the balance would go negative."""
    frame.ex.charge(amount)
