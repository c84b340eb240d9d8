"""Call instructions: a function of the same program, a builtin or host function (and
``call()`` of another contract), a method of a value.

Calls are bounded by the VM's depth limit (``MAX_DEPTH`` frames, counting cross-contract
calls). Builtins and host functions charge what their work costs themselves (``vm.builtins``,
``vm.host``); the instructions' static cost is ``vm.opcodes``'s ``static_gas``.
"""

from __future__ import annotations

from typing import Final

from vm.builtins import CALL_ID, PURE, call_method
from vm.errors import VMError
from vm.frame import Frame, pop, pop_n, push
from vm.host import HOST

MAX_DEPTH: Final = 64  # frames, counting cross-contract calls

BUILTIN_IMPL: Final = {**PURE, **HOST}


def call_function(frame: Frame, arg: int) -> None:
    """The program's function ``arg`` with its parameters from the stack -> its value."""
    callee = frame.program.loaded[arg]
    # STACK
    params = pop_n(frame, callee.nparams)
    # GAS: static CALL; the callee's blocks charge their own
    # OPERATION
    if frame.depth + 1 >= MAX_DEPTH:
        raise VMError(f"call depth of at most {MAX_DEPTH} expected")
    from vm.reference import run_function  # the interpreter runs the callee's frame

    push(frame, run_function(frame.ex, frame.program, callee, frame.depth + 1, False, params))


def call_builtin(frame: Frame, arg: int) -> None:
    """Builtin ``arg >> 8`` with ``arg & 0xFF`` arguments from the stack -> its value."""
    # STACK
    args = pop_n(frame, arg & 0xFF)
    # GAS: static BUILTIN_CALL; the builtin charges for its work
    # OPERATION
    bid = arg >> 8
    if bid == CALL_ID:
        from vm.interpreter import cross_call  # loads the other contract's program

        push(frame, cross_call(frame.ex, frame.depth, args[0], args[1], args[2]))
    else:
        push(frame, BUILTIN_IMPL[bid](frame.ex, args))


def call_method_of(frame: Frame, arg: int) -> None:
    """``receiver`` and ``arg & 0xFF`` arguments -> ``receiver.<method arg >> 8>(...)``."""
    # STACK
    args = pop_n(frame, arg & 0xFF)
    receiver = pop(frame)
    # GAS: static METHOD_CALL; the method charges for its work
    # OPERATION
    push(frame, call_method(frame.ex, arg >> 8, receiver, args))
