"""Stack and local-variable instructions: constants, locals, and moving items on the stack.

None of them charges more than the static cost every instruction has (``vm.gas``), which the
GAS instruction at the start of each basic block charges for the whole block.
"""

from __future__ import annotations

from vm.errors import VMError
from vm.frame import UNBOUND, Frame, pop, push


def load_const(frame: Frame, arg: int) -> None:
    """Push constant ``arg`` of the program."""
    # STACK: nothing popped
    # GAS: static only
    # OPERATION
    push(frame, frame.program.constants[arg])


def load_local(frame: Frame, arg: int) -> None:
    """Push local ``arg``; a local not yet assigned is an error."""
    # STACK: nothing popped
    # GAS: static only
    # OPERATION
    value = frame.locals[arg]
    if value is UNBOUND:
        raise VMError(f"local variable {frame.function.source.local_name(arg)!r} used before assignment")
    push(frame, value)


def store_local(frame: Frame, arg: int) -> None:
    """Pop the top item into local ``arg``."""
    # STACK
    value = pop(frame)
    # GAS: static only
    # OPERATION
    frame.locals[arg] = value


def pop_top(frame: Frame, arg: int) -> None:
    """Drop the top item."""
    # STACK
    pop(frame)
    # GAS: static only


def dup(frame: Frame, arg: int) -> None:
    """``a`` -> ``a a``."""
    # STACK
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, a)
    push(frame, a)


def dup2(frame: Frame, arg: int) -> None:
    """``a b`` -> ``a b a b``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static only
    # OPERATION
    for value in (a, b, a, b):
        push(frame, value)


def rot2(frame: Frame, arg: int) -> None:
    """``a b`` -> ``b a``."""
    # STACK
    b = pop(frame)
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, b)
    push(frame, a)


def rot3(frame: Frame, arg: int) -> None:
    """``a b c`` -> ``c a b``: the top item moves down two places."""
    # STACK
    c = pop(frame)
    b = pop(frame)
    a = pop(frame)
    # GAS: static only
    # OPERATION
    push(frame, c)
    push(frame, a)
    push(frame, b)
