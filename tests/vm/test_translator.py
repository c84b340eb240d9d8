"""The translation of verified bytecode to Python: deterministic text, nothing from the
bytecode spliced in but constant literals, and the definition's gas, results and error
locations (the rest of tests/vm runs every instruction through it)."""

from __future__ import annotations

from chain import codec
from chain.keys import code_key
from tests.vm.conftest import ALICE, CTX, MemoryState
from vm import compile_source, execute, verify_code
from vm import opcodes as o
from vm.bytecode import FunctionCode, encode_program
from vm.translator import source_of

SOURCE = '''
LIMIT = 3

@public
def f(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * 2
    require(total < 100, f"total below 100 expected, found {total}")
    return helper(total)

def helper(x):
    return x + LIMIT
'''


def _deploy_code(state: MemoryState, name: str, data: bytes) -> None:
    state.put(code_key(name), codec.encode([data, bytes(32), 1, ALICE]))


def test_translation_is_a_function_of_the_bytecode() -> None:
    code = compile_source(SOURCE).code
    first = source_of(verify_code(code))
    again = source_of(verify_code(code))
    assert first == again
    assert "def f0(ex, depth, cross, l0):" in first and "def f1(ex, depth, cross, l0):" in first
    compile(first, "translation", "exec")


def test_loops_calls_and_requires_give_the_definitions_results(run) -> None:  # type: ignore[no-untyped-def]
    ok = run(SOURCE, "f", 5)
    assert ok.success and ok.return_value == 23  # 2 * (0 + 1 + 2 + 3 + 4) + 3
    again = run(SOURCE, "f", 5)
    assert again.gas_used == ok.gas_used
    more = run(SOURCE, "f", 6)
    assert more.gas_used > ok.gas_used  # one more loop iteration is charged
    failed = run(SOURCE, "f", 20)
    assert not failed.success
    assert failed.error == "reverted: total below 100 expected, found 380 at c.f line 9"


BRANCHES = '''
@public
def g(a, b, c) -> int:
    if isinstance(a, int) and isinstance(b, int) and isinstance(c, int):
        total = 0
        for x in [a, b, c]:
            if x > 0:
                total += x
        return total
    return -1
'''


def test_blocks_entered_from_one_place_are_written_there_not_dispatched(run) -> None:  # type: ignore[no-untyped-def]
    program = verify_code(compile_source(BRANCHES).code)
    text = source_of(program)
    (fn,) = [f for f in program.loaded if f.source.name == "g"]
    blocks = sum(1 for op, _ in fn.code if op == o.GAS)
    dispatched = text.count("if blk < ") + 1
    assert dispatched < blocks  # the `and` chain and the loop body are written in place
    assert run(BRANCHES, "g", 1, 2, 3).return_value == 6
    assert run(BRANCHES, "g", 1, -2, 3).return_value == 4
    assert run(BRANCHES, "g", 1, "b", 3).return_value == -1
    assert run(BRANCHES, "g", 1, 2, 3).gas_used == run(BRANCHES, "g", 3, 2, 1).gas_used


def test_hostile_names_and_constants_stay_data() -> None:
    # Local names and constant strings are arbitrary text in bytecode: they must never become
    # Python code. A constant is spliced only through repr; a local's name only in messages.
    hostile = "x'); import os; os._exit(3) #"
    text = "'''\\n\"\"\"\nraise SystemExit\n"
    code = [
        (o.LOAD_CONST, 0), (o.STORE_LOCAL, 1),  # v = text
        (o.LOAD_LOCAL, 2),  # an unassigned local named `hostile`
        (o.RETURN, 0),
    ]  # fmt: skip
    raw = b"".join(bytes((op, arg & 0xFF, arg >> 8)) for op, arg in code)
    fn = FunctionCode("f", "public", ("p",), (), ("v", hostile), raw, (0, 7))
    data = encode_program([text], [fn])
    state = MemoryState()
    _deploy_code(state, "h", data)
    result = execute(state, CTX, "h", "f", [1], 1_000)
    assert not result.success
    assert result.error == f"local variable {hostile!r} used before assignment at h.f line 7"
    assert hostile not in source_of(verify_code(data))
    ret = [(o.LOAD_CONST, 0), (o.RETURN, 0)]
    raw = b"".join(bytes((op, arg & 0xFF, arg >> 8)) for op, arg in ret)
    _deploy_code(state, "t", encode_program([text], [FunctionCode("f", "public", (), (), (), raw, (0, 1))]))
    assert execute(state, CTX, "t", "f", [], 1_000).return_value == text


def test_failure_inside_a_block_names_its_own_line(run) -> None:  # type: ignore[no-untyped-def]
    # One basic block over three lines: the failing instruction's line is reported, not the
    # block's first.
    source = '''
@public
def f(a: int, b: int) -> int:
    x = a + 1
    y = x // b
    return y
'''
    result = run(source, "f", 1, 0)
    assert result.error == "non-zero divisor expected, found 0 at c.f line 5"
