"""Differential tests: the translated functions against the reference interpreter
(``vm.reference``, a plain loop over the definitions in ``vm.instructions``) on random programs, calls at their limits and the
local demonstration: the same results, gas, writes, events and error strings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterchain.demo import Demo
from tests.vm.conftest import CTX, MemoryState
from tests.vm.test_random_programs import _EXPRS, _STMTS
from vm import execute
from vm.interpreter import ExecutionResult
from vm.reference import reference_loop


def _fields(result: ExecutionResult) -> tuple[Any, ...]:
    return (result.success, result.return_value, result.gas_used, result.events, result.writes, result.error)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(_STMTS, min_size=1, max_size=8),
    _EXPRS,
    st.sampled_from([300, 2_000, 50_000]),
    st.sampled_from([[3, "x"], [0, ""], [-5, "abc"], [2**70, "y"]]),
)
def test_random_programs_run_as_the_reference_runs_them(
    body: list[str], result: str, gas: int, args: list[Any]
) -> None:
    lines = "\n    ".join(body)
    source = (
        "def helper(v):\n    return [v]\n\n@public\n"
        f"def f(a, b):\n    xs = [1, 2]\n    d = {{'k': 'v'}}\n    {lines}\n    return {result}\n"
    )
    state = MemoryState()
    state.deploy("c", source)
    translated = execute(state, CTX, "c", "f", args, gas)
    with reference_loop():
        reference = execute(state, CTX, "c", "f", args, gas)
    assert _fields(translated) == _fields(reference)


CALLS = '''
@public
def outer(n: int) -> list:
    out = []
    for i in range(n):
        out.append(call("callee", "twice", [i]))
    storage_set("n", n)
    return out

@public
def deep(n: int) -> int:
    return deep(n + 1)
'''
CALLEE = '''
@view
def twice(x: int) -> dict:
    return {"x": x, "twice": x * 2, "caller": caller()}
'''


@pytest.mark.parametrize(("function", "args", "gas"), [
    ("outer", [3], 100_000),
    ("outer", [3], 900),  # out of gas inside the callee
    ("deep", [0], 1_000_000),  # the depth limit
    ("outer", ["x"], 100_000),
])  # fmt: skip
def test_calls_and_limits_run_as_the_reference_runs_them(function: str, args: list[Any], gas: int) -> None:
    state = MemoryState()
    state.deploy("caller", CALLS)
    state.deploy("callee", CALLEE)
    translated = execute(state, CTX, "caller", function, args, gas)
    with reference_loop():
        reference = execute(state, CTX, "caller", function, args, gas)
    assert _fields(translated) == _fields(reference)


def test_the_demonstration_gives_the_same_chain() -> None:
    # Every contract of the genesis (registry, supply, billing, payments) through blocks.
    translated = Demo(3, 12, lambda _: None)
    translated.run()
    with reference_loop():
        reference = Demo(3, 12, lambda _: None)
        reference.run()
    assert translated.chain.height == reference.chain.height > 10
    assert translated.chain.head.hash == reference.chain.head.hash
