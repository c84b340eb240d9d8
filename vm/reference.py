"""The reference interpreter: a plain loop over the instruction definitions
(``vm.instructions``), the oracle the translated functions (``vm.translator``) are tested
against.

It is slow on purpose: every instruction is a call of its definition on an explicit frame.
``reference_loop()`` makes ``vm.execute`` run programs with it instead of translating them,
so that the differential tests (tests/vm/test_reference.py) compare the two on the same
entry point, cross-contract calls included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vm import interpreter
from vm.bytecode import LoadedFunction, Program
from vm.frame import UNBOUND, Frame
from vm.host import Execution
from vm.instructions import INSTRUCTIONS


def run_function(ex: Execution, program: Program, function: LoadedFunction, depth: int, cross: bool,
                 params: list[Any]) -> Any:  # fmt: skip
    """Run ``function`` of ``program`` with its parameters bound; its return value."""
    frame = Frame(ex, program, function, depth, cross, [*params] + [UNBOUND] * (function.nlocals - len(params)))
    code = function.code
    try:
        while frame.running:
            op, arg = code[frame.pc]
            frame.pc += 1
            INSTRUCTIONS[op](frame, arg)
    except interpreter.Failure:
        raise  # already located, in a callee
    except Exception as exc:
        raise interpreter.failure(ex, function, frame.pc, ex.gas, exc) from None
    return frame.return_value


def reference_functions(program: Program) -> tuple[Callable[..., Any], ...]:
    """The program's functions run by the reference loop, in the form the translation gives
    them (``f(ex, depth, cross, *params)``)."""

    def entry(function: LoadedFunction) -> Callable[..., Any]:
        def run(ex: Execution, depth: int, cross: bool, *params: Any) -> Any:
            return run_function(ex, program, function, depth, cross, list(params))

        return run

    return tuple(entry(fn) for fn in program.loaded)


@contextmanager
def reference_loop() -> Iterator[None]:
    """Within this block, programs loaded by ``vm.execute`` run on the reference loop."""
    saved = interpreter.make_functions
    interpreter.make_functions = reference_functions
    interpreter.clear_program_cache()
    try:
        yield
    finally:
        interpreter.make_functions = saved
        interpreter.clear_program_cache()
