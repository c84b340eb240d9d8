"""Random well-formed programs: whatever they compute, the compiler accepts them, the
bytecode verifies, and running them gives an ExecutionResult (never an exception), the
same one twice."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vm.conftest import CTX, MemoryState
from vm import compile_source, execute, verify_code

_ATOMS = st.sampled_from(
    ["a", "b", "xs", "d", "0", "1", "-3", "7", "2**70", "'s'", "b'\\x01'", "True", "None", "[]", "{}",
     "(1, 'x')", "[1, 2, 3]", "{'k': 1}"]
)
_BINOPS = st.sampled_from([" + ", " - ", " * ", " // ", " % ", " ** ", " == ", " != ", " < ", " <= ",
                           " in ", " not in ", " and ", " or "])


def _expr(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, _BINOPS, children).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        children.map(lambda e: f"(not {e})"),
        children.map(lambda e: f"(-{e})"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}:]"),
        children.map(lambda e: f"len({e})"),
        children.map(lambda e: f"str({e})"),
        children.map(lambda e: f"(f'<{{a}}|{{b}}>' + str({e}))"),
        st.tuples(children, children).map(lambda t: f"[{t[0]}, {t[1]}]"),
        st.tuples(children, children).map(lambda t: f"{{{t[0]}: {t[1]}}}"),
        st.tuples(children, children).map(lambda t: f"min({t[0]}, {t[1]})"),
        children.map(lambda e: f"sorted({e})"),
        children.map(lambda e: f"d.get({e}, 0)"),
        children.map(lambda e: f"(1 if {e} else 2)"),
        children.map(lambda e: f"({e} is None)"),
        children.map(lambda e: f"helper({e})"),
    )


_EXPRS = st.recursive(_ATOMS, _expr, max_leaves=6)
_TARGETS = st.sampled_from(["a", "b", "xs", "d"])


def _stmt(e: str, t: str, kind: int) -> str:
    return [
        f"{t} = {e}",
        f"xs.append({e})",
        f"d[{e}] = {t}",
        f"{t} += {e}",
        f"if {e}:\n        {t} = 1\n    else:\n        {t} = 2",
        f"for i in range(3):\n        {t} = {e}",
        f"for k in {e}:\n        a = k",
        f"storage_set('k', {e})",
        f"emit('e', {{'v': {e}}})",
        f"require({e}, 'no')",
        f"del xs[{e}]",
    ][kind]


_STMTS = st.tuples(_EXPRS, _TARGETS, st.integers(min_value=0, max_value=10)).map(lambda t: _stmt(*t))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_STMTS, min_size=1, max_size=6), _EXPRS)
def test_random_programs_run_cleanly(body: list[str], result: str) -> None:
    lines = "\n    ".join(body)
    source = (
        "def helper(v):\n    return [v]\n\n"
        "@public\n"
        f"def f(a, b):\n    xs = [1, 2]\n    d = {{'k': 'v'}}\n    {lines}\n    return {result}\n"
    )
    compiled = compile_source(source)
    verify_code(compiled.code)
    state = MemoryState()
    state.deploy("c", source)
    first = execute(state, CTX, "c", "f", [3, "x"], 50_000)
    second = execute(state, CTX, "c", "f", [3, "x"], 50_000)
    assert first == second
    if not first.success:
        assert first.writes == {} and first.events == () and first.error
