"""Issue 9, VM items 5 and 6: translation bounded by the verifier and done at deploy, errors
of translation and of the host as VM errors, no receipt from a MemoryError, error messages
built from a bounded part of a value."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from chain.keys import code_key
from tests.vm.conftest import CTX, MemoryState
from vm import execute, interpreter
from vm import opcodes as o
from vm.bytecode import FunctionCode, InvalidBytecode, encode_program, verify_code
from vm.host import Execution
from vm.runtime import VMRuntime
from vm.translator import source_of
from vm.values import short

PAGER = '''
@public
def first() -> list:
    return storage_keys("k/", "", 1)
'''


# --- item 5: translation bounded by the verifier, done at deploy ------------------------------


def _program(code: list[tuple[int, int]], constants: list[Any]) -> bytes:
    raw = b"".join(bytes([op, arg & 0xFF, arg >> 8]) for op, arg in code)
    return encode_program(constants, [FunctionCode("f", "public", (), (), (), raw, ())])


def test_invalid_unpack_build_tuple_chain_is_refused_by_the_verifier() -> None:
    # Defect 5: alternating UNPACK / BUILD_TUPLE of 1,000 items: a few KB of bytecode that
    # translated to megabytes of Python.
    code = [(o.LOAD_CONST, 0)] * 1_000 + [(o.BUILD_TUPLE, 1_000)]
    code += [(o.UNPACK, 1_000), (o.BUILD_TUPLE, 1_000)] * 300 + [(o.RETURN, 0)]
    data = _program(code, [1])
    with pytest.raises(InvalidBytecode, match="stack items per instruction"):
        verify_code(data)
    assert "stack items per instruction" in VMRuntime().check_code(data)


def test_translation_is_linear_in_the_bytecode_for_long_constants() -> None:
    # A 60 KB constant loaded 2,000 times is read from the constants, not written 2,000 times.
    code = [(o.LOAD_CONST, 0), (o.POP, 0)] * 2_000 + [(o.LOAD_CONST, 1), (o.RETURN, 0)]
    data = _program(code, ["x" * 60_000, None])
    text = source_of(verify_code(data))
    assert len(text) < 200 * len(code)


def test_invalid_translation_failure_is_a_vm_error(state: MemoryState, monkeypatch: pytest.MonkeyPatch) -> None:
    state.deploy("c", PAGER)

    def broken(program: Any) -> Any:
        raise RecursionError("too deep")

    monkeypatch.setattr(interpreter, "make_functions", broken)
    interpreter.clear_program_cache()
    result = execute(state, CTX, "c", "first", [], 10_000)
    interpreter.clear_program_cache()
    assert not result.success and "translatable bytecode expected (RecursionError)" in result.error


def test_invalid_host_error_is_a_vm_error(state: MemoryState) -> None:
    class Broken(MemoryState):
        def scan(self, prefix: bytes, start_after: bytes, limit: int, budget: Any = None) -> list[bytes]:
            raise KeyError("backend said no")

    broken = Broken()
    broken.apply({code_key("c"): state.get(code_key("c")) or _deployed(state)})
    result = execute(broken, CTX, "c", "first", [], 10_000)
    assert not result.success and "(KeyError)" in result.error


def _deployed(state: MemoryState) -> bytes:
    state.deploy("c", PAGER)
    raw = state.get(code_key("c"))
    assert raw is not None
    return raw


def test_invalid_memory_error_is_not_a_receipt() -> None:
    # Defect 6: a MemoryError became an ordinary VM error, so nodes with different memory
    # wrote different receipts. It now stops the node that ran out.
    program = verify_code(_program([(o.LOAD_CONST, 0), (o.RETURN, 0)], [1]))
    ex = Execution(MemoryState(), CTX, 10, False)
    exc = MemoryError()
    assert interpreter.failure(ex, program.loaded[0], 1, 10, exc) is exc


# --- item 6: gas for the bytes each operation touches -----------------------------------------

def test_error_messages_format_a_bounded_part_of_the_value() -> None:
    # Defect 6: messages repr()'d a whole value before cutting it (56 k gas built 1 GB).
    values = [[["x" * 100] * 100] * 1_000, "y" * 1_000_000, b"z" * 1_000_000, 7**400]
    tracemalloc.start()
    text = "".join(short(v) for v in values)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(text) < 400 and peak < 20_000


def test_invalid_storage_keys_limit_message_is_bounded(run: Any) -> None:
    src = '''
@public
def f(n: int) -> list:
    big = []
    for i in range(n):
        big.append("x" * 1000)
    return storage_keys("", "", big)
'''
    result = run(src, "f", 2_000, gas=10**8)
    assert not result.success and len(result.error) < 300


def test_invalid_deploy_time_translation_refuses_what_would_not_run() -> None:
    assert VMRuntime().check_code(b"\x00") != ""
    good = _program([(o.LOAD_CONST, 0), (o.RETURN, 0)], [1])
    assert VMRuntime().check_code(good) == ""
