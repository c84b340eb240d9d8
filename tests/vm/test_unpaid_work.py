"""Issue 9, item 6: work inside a contract that no gas paid for. ``==`` / ``!=`` on long str
or bytes cost nothing for their length, and a return value cost 1 gas per 8 bytes against 5
per byte for events. Each defect as described, then the work counted (not timed) against the
gas charged, on the translation and on the reference loop alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.types import MAX_RETURN_VALUE_SIZE
from tests.vm.conftest import CTX, MemoryState
from vm import execute
from vm import gas as g
from vm.reference import reference_loop

COMPARE = '''
@public
def same(n: int, times: int) -> int:
    s = ""
    t = ""
    for i in range(n):
        s = s + "abcdefgh"
        t = t + "abcdefgh"
    hits = 0
    for i in range(times):
        if s == t:
            hits += 1
    return hits

@public
def eq(a: str, b: str, times: int) -> int:
    hits = 0
    for i in range(times):
        if a == b:
            hits += 1
        if a != b:
            hits += 2
    return hits

@public
def eq_bytes(a: bytes, b: bytes) -> bool:
    return a == b
'''

RETURNS = '''
@public
def text(n: int) -> str:
    s = ""
    for i in range(n):
        s = s + "abcdefgh"
    return s

@public
def pair(n: int) -> list:
    s = text(n)
    return [s, s]
'''


@pytest.fixture(params=["translated", "reference"])
def loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each test on the translated functions and on the reference loop."""
    with reference_loop() if request.param == "reference" else nullcontext():
        yield


def _run(source: str, function: str, *args: Any, gas: int = 10**8) -> Any:
    state = MemoryState()
    state.deploy("c", source)
    return execute(state, CTX, "c", function, list(args), gas)


# --- == and != on str and bytes ------------------------------------------------------------


def test_invalid_long_equality_is_charged_by_its_length(loop: None) -> None:
    # Before: comparing two 40,000-byte strings a hundred times cost what comparing nothing did.
    idle = _run(COMPARE, "same", 5_000, 0)
    busy = _run(COMPARE, "same", 5_000, 100)
    assert busy.success and busy.return_value == 100
    bytes_compared = 100 * 8 * 5_000
    assert busy.gas_used - idle.gas_used >= bytes_compared // g.BYTES_PER_GAS


_CHARS = st.sampled_from("ab\u00e9\u4e2d\U0001f600")  # 1, 2 and 4 bytes a character in CPython
_TEXT = st.builds(lambda c, n, tail: c * n + tail, _CHARS, st.integers(0, 4_000), st.text(_CHARS, max_size=8))


@settings(max_examples=40, deadline=None)
@given(_TEXT, _TEXT, st.booleans())
def test_bytes_compared_stay_within_a_constant_times_the_gas(a: str, b: str, same_text: bool) -> None:
    # The work of a str comparison is at most a memcmp of the shorter length in the wider of
    # the two representations (1, 2 or 4 bytes a character); counted from the operands,
    # never timed. Each round compares twice (== and !=).
    if same_text:
        b = a
    base = _run(COMPARE, "eq", a, b, 0)
    rounds = _run(COMPARE, "eq", a, b, 10)
    assert base.success and rounds.success
    per_comparison_gas = (rounds.gas_used - base.gas_used) / 20
    width = max(_char_width(a), _char_width(b))
    bytes_compared = min(len(a), len(b)) * width
    assert bytes_compared <= 4 * g.BYTES_PER_GAS * (per_comparison_gas + 1)
    with reference_loop():  # the definition charges the same
        assert _run(COMPARE, "eq", a, b, 10).gas_used == rounds.gas_used


def _char_width(text: str) -> int:
    widest = max(map(ord, text), default=0)
    return 1 if widest < 256 else 2 if widest < 65_536 else 4


@pytest.mark.parametrize("size", [0, 7, 8, 1_000, 65_536])
def test_bytes_equality_is_charged_by_the_bytes_compared(loop: None, size: int) -> None:
    base = _run(COMPARE, "eq_bytes", b"", b"")
    long = _run(COMPARE, "eq_bytes", b"x" * size, b"x" * size)
    assert long.return_value is True and long.gas_used - base.gas_used == size // g.BYTES_PER_GAS


# --- return values ------------------------------------------------------------------------


def test_invalid_return_value_is_priced_per_byte_like_events(loop: None) -> None:
    # Before: 1 gas per 8 bytes returned, against 5 per byte of an event; one transaction
    # wrote a 39 MB receipt.
    small = _run(RETURNS, "text", 10)
    large = _run(RETURNS, "text", 5_000)
    assert small.success and large.success
    returned = len(large.return_encoding) - len(small.return_encoding)
    assert large.gas_used - small.gas_used >= returned * g.RETURN_PER_BYTE
    assert g.RETURN_PER_BYTE == g.EVENT_PER_BYTE


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 3_000))
def test_bytes_returned_stay_within_a_constant_times_the_gas(n: int) -> None:
    result = _run(RETURNS, "pair", n)
    assert result.success
    assert len(result.return_encoding) * g.RETURN_PER_BYTE <= result.gas_used
    assert result.return_encoding == _encoded(["abcdefgh" * n] * 2)


def _encoded(value: Any) -> bytes:
    from chain import codec

    return codec.encode(value)


def test_invalid_return_value_beyond_a_receipt_s_limit_fails_in_the_vm(loop: None) -> None:
    result = _run(RETURNS, "pair", MAX_RETURN_VALUE_SIZE // 16 + 1, gas=10**9)
    assert not result.success
    assert f"a return value of at most {MAX_RETURN_VALUE_SIZE} bytes expected, found " in result.error
    just_fits = _run(RETURNS, "text", (MAX_RETURN_VALUE_SIZE - 3) // 8, gas=10**9)
    assert just_fits.success and len(just_fits.return_encoding) <= MAX_RETURN_VALUE_SIZE


def test_invalid_out_of_gas_for_the_return_value_names_it(loop: None) -> None:
    full = _run(RETURNS, "text", 100)
    result = _run(RETURNS, "text", 100, gas=full.gas_used - 1)
    assert not result.success and result.error.endswith("needed more at c.text return")
    assert result.gas_used == full.gas_used - 1
