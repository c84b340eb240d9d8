"""Gas: charged for everything, the same for the same call, out of gas reverts everything."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.keys import storage_key
from tests.vm.conftest import CTX, MemoryState
from vm import execute
from vm import gas as g

SRC = '''
@public
def work(n: int) -> int:
    total = 0
    for i in range(n):
        storage_set("k" + str(i), i)
        total += i
    emit("done", {"n": n})
    return total

@public
def spin() -> None:
    while True:
        pass

@public
def recurse(n: int) -> int:
    return recurse(n + 1)

@public
def big_string(n: int) -> int:
    s = "x"
    for i in range(n):
        s = s + s
    return len(s)

@public
def one_write(v: str) -> None:
    storage_set("k", v)
'''


def test_same_call_same_gas(run: Any) -> None:
    first = run(SRC, "work", 5, commit=False)
    second = run(SRC, "work", 5, commit=False)
    assert first.success and first.gas_used == second.gas_used > 0
    assert first.writes == second.writes


def test_gas_grows_with_work(run: Any) -> None:
    small = run(SRC, "work", 2, commit=False).gas_used
    large = run(SRC, "work", 4, commit=False).gas_used
    assert large > small + 2 * g.STORAGE_WRITE


def test_storage_write_is_charged_by_size(run: Any) -> None:
    short = run(SRC, "one_write", "a" * 40, commit=False).gas_used  # both msgpack str8
    long = run(SRC, "one_write", "a" * 140, commit=False).gas_used
    walked = (140 - 40) // g.BYTES_PER_GAS  # encoding walks the value: 1 per 8 bytes of str
    assert long - short == 100 * g.STORAGE_WRITE_PER_BYTE + walked


def test_invalid_out_of_gas_reverts_writes_and_events(run: Any, state: MemoryState) -> None:
    full = run(SRC, "work", 3, commit=False)
    assert full.success
    result = run(SRC, "work", 3, gas=full.gas_used - 1)
    assert not result.success
    assert result.gas_used == full.gas_used - 1
    # The last gas is the return value's (RETURN_PER_BYTE per byte of its encoding).
    assert re.fullmatch(rf"out of gas: limit {full.gas_used - 1}, needed more at c\.work (line \d+|return)", result.error)
    assert result.writes == {} and result.events == ()
    assert state.get(storage_key("c", "k0")) is None


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=6))
def test_exact_limit_succeeds_one_less_fails(n: int) -> None:
    state = MemoryState()
    state.deploy("c", SRC)
    full = execute(state, CTX, "c", "work", [n], 1_000_000)
    assert full.success
    exact = execute(state, CTX, "c", "work", [n], full.gas_used)
    assert exact.success and exact.gas_used == full.gas_used
    short = execute(state, CTX, "c", "work", [n], full.gas_used - 1)
    assert not short.success and short.error.startswith("out of gas")


def test_invalid_infinite_loop_runs_out_of_gas(run: Any) -> None:
    result = run(SRC, "spin", gas=50_000)
    assert not result.success and result.gas_used == 50_000
    assert result.error == "out of gas: limit 50000, needed more at c.spin line 13"


def test_invalid_unbounded_recursion_hits_the_depth_limit(run: Any) -> None:
    result = run(SRC, "recurse", 0)
    assert not result.success and "call depth of at most 64" in result.error


def test_invalid_memory_growth_is_paid_for(run: Any) -> None:
    result = run(SRC, "big_string", 15, gas=2_000)  # 32 KiB of string costs > 4096 gas
    assert not result.success and result.error.startswith("out of gas")
    assert run(SRC, "big_string", 15, gas=10_000).return_value == 2**15


def test_zero_gas_limit(run: Any) -> None:
    result = run(SRC, "work", 0, gas=0)
    assert not result.success and result.error.startswith("out of gas: limit 0")


def test_invalid_gas_limit(state: MemoryState) -> None:
    state.deploy("c", SRC)
    result = execute(state, CTX, "c", "work", [1], -1)
    assert not result.success and "non-negative int gas limit" in result.error


def test_gas_table_matches_the_code() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "gas.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| (\d+) \|", doc, flags=re.MULTILINE))
    constants = {name: getattr(g, name) for name in dir(g) if name.isupper()}
    assert {k: int(v) for k, v in rows.items()} == constants


ALIASING = '''
def tower(levels: int) -> list:
    x = [1, 2, 3]
    for i in range(levels):
        x = [x, x]          # cheap to build, 2**levels lists to walk
    return x

@public
def compare(levels: int) -> bool:
    a = tower(levels)
    b = tower(levels)
    return a == b

@public
def contains(levels: int) -> bool:
    return [9] in [tower(levels)]

@public
def store(levels: int) -> None:
    storage_set("t", tower(levels))

@public
def returns(levels: int) -> list:
    return tower(levels)

@public
def copies(levels: int) -> list:
    return call("c", "returns", [levels])
'''


def test_invalid_walks_over_shared_values_are_paid_per_item(run: Any) -> None:
    """A value that shares sub-lists is cheap to build and expensive to walk: comparing,
    copying, encoding and checking it cost gas per item walked, so 2**30 items of walking
    cannot be had for a few hundred gas."""
    import time

    for function in ("compare", "contains", "store", "returns", "copies"):
        t0 = time.perf_counter()
        result = run(ALIASING, function, 30, gas=1_000_000)
        assert not result.success and result.error.startswith("out of gas"), (function, result.error)
        assert time.perf_counter() - t0 < 5, function
    assert run(ALIASING, "compare", 3).return_value is True


def test_program_cache_does_not_change_results(state: MemoryState) -> None:
    from vm import interpreter

    state.deploy("c", SRC)
    interpreter._programs.clear()
    cold = execute(state, CTX, "c", "work", [3], 1_000_000)
    warm = execute(state, CTX, "c", "work", [3], 1_000_000)
    assert cold == warm and cold.success


def test_invalid_encoding_a_shared_big_string_many_times_is_paid_first(run: Any) -> None:
    src = '''
@public
def bomb() -> int:
    s = "x"
    while len(s) < 65_536:
        s = s + s
    xs = []
    for i in range(60_000):
        xs.append(s)          # 60,000 references to one 64 KiB string: 4 GB to encode
    return len(canonical_bytes(xs))
'''
    result = run(src, "bomb", gas=5_000_000)
    assert not result.success and result.error.startswith("out of gas"), result.error
