"""The VM's remaining fast paths equal their plain definitions (docs/vm.md lists them; the
translation itself is compared with the reference interpreter in test_reference.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vm.builtins import _max, _min, _min_max
from vm.bytecode import verify_code
from vm.compiler import compile_source
from vm.errors import VMError
from vm.interpreter import _bind_args
from vm.values import check_value, deep_copy, weight, weight_walk

_SCALARS = st.one_of(
    st.integers(min_value=-(2**260), max_value=2**260),
    st.booleans(),
    st.none(),
    st.text(max_size=40),
    st.binary(max_size=40),
)
_KEYS = st.one_of(st.integers(min_value=-5, max_value=5), st.text(max_size=20), st.binary(max_size=20))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=5),
    ),
    max_leaves=20,
)


@given(
    st.one_of(
        st.dictionaries(_KEYS, _SCALARS, max_size=12),
        st.lists(st.one_of(st.none(), st.dictionaries(_KEYS, _SCALARS, max_size=8)), max_size=4),
        _VALUES,
    ),
    st.integers(min_value=0, max_value=60),
)
def test_weight_of_a_flat_dict_or_a_list_is_the_walk_s_count(value: Any, limit: int) -> None:
    fast = weight(value, limit)
    plain = weight_walk(value, limit)
    if plain <= limit:
        assert fast == plain
    else:  # past the limit both only say "more than the gas left"
        assert fast > limit


def _copy_by_item(value: Any, depth: int = 0) -> Any:
    """``deep_copy``'s definition: a new container per container, item by item."""
    if type(value) is list:
        return [_copy_by_item(v, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(_copy_by_item(v, depth + 1) for v in value)
    if type(value) is dict:
        return {k: _copy_by_item(v, depth + 1) for k, v in value.items()}
    return value


def _containers(value: Any) -> list[int]:
    found = [id(value)] if type(value) in (list, dict) else []
    items = value.values() if type(value) is dict else value if type(value) in (list, tuple) else ()
    for item in items:
        found += _containers(item)
    return found


@given(st.one_of(st.lists(_SCALARS, max_size=8), st.dictionaries(_KEYS, _SCALARS, max_size=8), _VALUES))
def test_a_copy_of_flat_containers_in_one_step_is_the_item_by_item_copy(value: Any) -> None:
    copied = deep_copy(value)
    plain = _copy_by_item(value)
    assert copied == plain and type(copied) is type(plain)
    assert repr(copied) == repr(plain)  # the same items in the same order, bool and int told apart
    assert not set(_containers(copied)) & set(_containers(value))  # nothing mutable shared


SOURCE = '''
@public
def f(a, b, c=7):
    return a
'''


@given(st.lists(_VALUES, min_size=2, max_size=3))
def test_arguments_bound_without_a_copy_are_the_checked_copies(args: list[Any]) -> None:
    fn = verify_code(compile_source(SOURCE).code).by_name["f"]
    try:
        plain = [deep_copy(check_value(a)) for a in args]
    except Exception as exc:  # an invalid argument is refused the same way by both
        try:
            _bind_args(fn, args, "c")
        except type(exc) as again:
            assert str(again) == str(exc)
        else:
            raise AssertionError("a refused argument was bound") from None
        return
    bound = _bind_args(fn, args, "c")
    assert bound == plain + [7] * (3 - len(args))
    assert all(type(x) is type(y) for x, y in zip(bound, plain, strict=False))


class _CountingMeter:
    def __init__(self) -> None:
        self.charged = 0

    def charge(self, gas: int) -> None:
        self.charged += gas


def _outcome(fn: Any, args: list[Any]) -> tuple[str, Any, int]:
    meter = _CountingMeter()
    try:
        return "value", fn(meter, args), meter.charged
    except VMError as exc:
        return "error", str(exc), meter.charged


_MIN_MAX_ARGS = st.one_of(st.integers(), st.booleans(), st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=4))


# Cheap arguments on purpose (a recursive strategy tripped hypothesis' too-slow check under load):
# two ints (the fast path), bools (ints to Python, not to the VM), one list, empties, mixtures.
@given(st.lists(_MIN_MAX_ARGS, max_size=3) | st.tuples(st.integers(), st.integers()).map(list))
def test_min_and_max_of_two_ints_equal_the_general_definition(args: list[Any]) -> None:
    assert _outcome(_min, args) == _outcome(lambda m, a: _min_max(m, a, "min"), args)
    assert _outcome(_max, args) == _outcome(lambda m, a: _min_max(m, a, "max"), args)


def test_a_successful_result_made_by_tuple_new_is_the_constructor_s_record(run: Any) -> None:
    from vm.interpreter import ExecutionResult

    result = run("@public\ndef f(x: int) -> int:\n    storage_set('k', x)\n    return x + 1\n", "f", 4)
    assert result.success and type(result) is ExecutionResult
    assert result == ExecutionResult(*result) and result.return_encoding == b"\x05"
    with pytest.raises(AttributeError):
        result.success = False  # type: ignore[misc]


@pytest.mark.parametrize("value", ["7", "2**62", "-(2**63)", "2**64 - 1", "True", "None"])
def test_a_returned_scalar_costs_its_bytes_to_the_last_unit_of_gas(run: Any, value: str) -> None:
    # An int returned with gas to spare is charged without ``charge_return``'s call; with
    # less, the call charges it. Either way: the gas of its encoded bytes, or out of gas at
    # the return when one unit short.
    source = f"@public\ndef f():\n    return {value}\n"
    used = run(source, "f").gas_used
    assert run(source, "f", gas=used).success
    short = run(source, "f", gas=used - 1)
    assert not short.success and short.error.endswith("at c.f return"), short.error
