"""The bytecode container and its verifier: compiled code is deterministic and verifies;
corrupted or hand-made code is refused with InvalidBytecode or fails cleanly at run time."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain import codec
from chain.hashing import Domain, hash_domain
from chain.keys import code_key
from tests.vm.conftest import ALICE, CTX, MemoryState
from vm import InvalidBytecode, compile_source, execute, verify_code
from vm import opcodes as o
from vm.bytecode import MAGIC, VERSION, FunctionCode, disassemble, encode_program

SOURCE = '''
RATES = (10, 20)

@public
def bill(wh: int, names: list) -> dict:
    out = {}
    for i in range(len(names)):
        out[names[i]] = mul_div(wh, RATES[i % 2], 1000)
    storage_set("last", out)
    emit("billed", {"wh": wh})
    return out

@view
def last():
    return storage_get("last", {})

def helper(x):
    return x if x > 0 else -x
'''


def test_compile_is_deterministic() -> None:
    a = compile_source(SOURCE)
    b = compile_source(SOURCE, name="other-name.py")
    assert a.code == b.code and a.code_hash == b.code_hash
    assert a.code_hash == hash_domain(Domain.CODE, a.code)
    assert a.source_hash == hash_domain(Domain.SOURCE, SOURCE.encode())


def test_source_is_not_in_the_bytecode() -> None:
    code = compile_source(SOURCE).code
    assert b"def bill" not in code and b"helper(x)" not in code


def test_verify_returns_the_program() -> None:
    program = verify_code(compile_source(SOURCE).code)
    assert [f.name for f in program.functions] == ["bill", "last", "helper"]
    assert [f.kind for f in program.functions] == ["public", "view", "private"]
    listing = disassemble(program)
    assert "CALL_BUILTIN" in listing and "mul_div/3" in listing and "public bill(wh, names)" in listing


def _fn(code: list[tuple[int, int]], *, nlocals: int = 1, params: tuple[str, ...] = ()) -> FunctionCode:
    raw = b"".join(bytes((op, arg & 0xFF, arg >> 8)) for op, arg in code)
    names = tuple(f"v{i}" for i in range(nlocals - len(params)))
    return FunctionCode("f", "public", params, (), names, raw, (0, 1))


RET_NONE = [(o.LOAD_CONST, 0), (o.RETURN, 0)]


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ([(99, 0), *RET_NONE], "known opcode expected, found 99"),
        ([(o.GAS, 5), *RET_NONE], "known opcode expected, found 0"),
        ([(o.LOAD_CONST, 7), (o.RETURN, 0)], "constant index below 1 expected, found 7"),
        ([(o.LOAD_LOCAL, 3), (o.RETURN, 0)], "local index below 1 expected, found 3"),
        ([(o.JUMP, 40), *RET_NONE], "jump target below 3 expected, found 40"),
        ([(o.CALL, 5), (o.RETURN, 0)], "function index below 1 expected"),
        ([(o.ADD, 0), *RET_NONE], "2 stack items expected, found 0"),
        ([(o.LOAD_CONST, 0)], "falls off the end"),
        ([(o.LOAD_CONST, 0), (o.POP, 1), *RET_NONE], "argument 0 expected, found 1"),
        ([(o.CALL_BUILTIN, (250 << 8) | 1), *RET_NONE], "known builtin id expected"),
        ([(o.LOAD_CONST, 0), (o.CALL_BUILTIN, (0 << 8) | 2), (o.RETURN, 0)], "len with its arity"),
        ([(o.LOAD_CONST, 0), (o.CALL_METHOD, (99 << 8) | 0), (o.RETURN, 0)], "known method id"),
        ([(o.LOAD_CONST, 0), (o.CALL_METHOD, (0 << 8) | 3), (o.RETURN, 0)], "1 to 1 arguments"),
        ([(o.LOAD_CONST, 0), (o.SLICE, 4), (o.RETURN, 0)], "slice flags"),
        ([(o.LOAD_CONST, 0), (o.ISINSTANCE, 0), (o.RETURN, 0)], "type mask"),
        ([(o.RANGE_ITER, 4), *RET_NONE], "1 to 3 range arguments"),
        # A loop whose body pushes: the stack depth at the loop head differs by path.
        ([(o.LOAD_CONST, 0), (o.JUMP, 0)], "stack depth 0 expected at instruction 0, found 1"),
        ([(o.LOAD_CONST, 0)] * 1025 + [(o.RETURN, 0)], "stack depth at most 1024"),
    ],
)
def test_invalid_function_code(code: list[tuple[int, int]], fragment: str) -> None:
    data = encode_program([None], [_fn(code)])
    with pytest.raises(InvalidBytecode) as info:
        verify_code(data)
    assert fragment in str(info.value)


def test_hand_made_code_verifies_and_runs() -> None:
    code = [(o.LOAD_LOCAL, 0), (o.LOAD_CONST, 0), (o.ADD, 0), (o.RETURN, 0)]
    data = encode_program([5], [_fn(code, params=("x",))])
    state = MemoryState()
    state.put(code_key("h"), codec.encode([data, bytes(32), 1, ALICE]))
    result = execute(state, CTX, "h", "f", [2], 100)
    assert result.success and result.return_value == 7 and result.gas_used == 4 + 5  # 4 instructions, 1 byte returned (RETURN_PER_BYTE)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (["evil-vm", VERSION, [], []], "magic"),
        ([MAGIC, 2, [], []], "bytecode version 1 expected, found 2"),
        ([MAGIC, VERSION, [], []], "non-empty list of functions"),
        ([MAGIC, VERSION, [1.5], []], "container"),
        ([MAGIC, VERSION, [], [["f", "public", [], [], [], b"\x01\x00", []]]], "whole 3-byte"),
        ([MAGIC, VERSION, [], [["f", "admin", [], [], [], b"\x3f\x00\x00", []]]], "kind public, view or private"),
        ([MAGIC, VERSION, [], [["__f", "public", [], [], [], b"\x3f\x00\x00", []]]], "identifier name"),
        ([MAGIC, VERSION, [], [["f", "public", ["a", "a"], [], [], b"\x3f\x00\x00", []]]], "unique"),
        ([MAGIC, VERSION, [], [["f", "public", ["a"], [], 0, b"\x3f\x00\x00", []]]], "list of at most 65535 local names"),
        ([MAGIC, VERSION, [], [["f", "public", [], [], [""], b"\x3f\x00\x00", []]]], "local names of 1 to 64"),
        ([MAGIC, VERSION, [[b"\x01"]], [["f", "public", [], [], [], b"\x3f\x00\x00", []]]], "big int"),
        ([MAGIC, VERSION, [], [["f", "public", [], [], [], b"\x3f\x00\x00", [1]]]], "line table"),
        ([MAGIC, VERSION, []], "container [magic, version, constants, functions]"),
    ],
)
def test_invalid_container(value: Any, fragment: str) -> None:
    try:
        data = codec.encode(value)
    except Exception:  # a float cannot even be encoded canonically: hand-pack it
        import msgpack

        data = msgpack.packb(value, use_bin_type=True)
    with pytest.raises(InvalidBytecode) as info:
        verify_code(data)
    assert fragment in str(info.value)


def test_invalid_non_canonical_and_oversized() -> None:
    import msgpack

    good = compile_source(SOURCE).code
    with pytest.raises(InvalidBytecode, match="canonical"):
        verify_code(good + b"\x00")
    with pytest.raises(InvalidBytecode, match="at most 262144 bytes"):
        verify_code(b"\x00" * 262_145)
    value = codec.decode(good)
    with pytest.raises(InvalidBytecode, match="canonical"):
        verify_code(msgpack.packb(value, use_bin_type=False))  # str instead of bin for code


def _deploy(data: bytes) -> MemoryState:
    state = MemoryState()
    state.put(code_key("x"), codec.encode([data, bytes(32), 1, ALICE]))
    return state


def _exercise(data: bytes) -> None:
    """Verify; if the program verifies, run each of its functions: every outcome must be an
    InvalidBytecode or an ExecutionResult, never another exception."""
    try:
        program = verify_code(data)
    except InvalidBytecode:
        return
    state = _deploy(data)
    for fn in program.functions:
        args: list[Any] = [[1, "a"]] * len(fn.params)
        result = execute(state, CTX, "x", fn.name, args, 20_000)
        assert isinstance(result.success, bool)
        if not result.success:
            assert result.writes == {} and result.events == ()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_byte_flips_never_crash(data: st.DataObject) -> None:
    code = bytearray(compile_source(SOURCE).code)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
        code[i] = data.draw(st.integers(min_value=0, max_value=255))
    _exercise(bytes(code))


_OPS = sorted(o.OPS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(_OPS), st.integers(min_value=0, max_value=12) | st.integers(0, 0xFFFF)),
        min_size=1,
        max_size=24,
    ),
    st.lists(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3), st.binary(max_size=3)),
             min_size=1, max_size=4),
)
def test_random_instruction_sequences_never_crash(code: list[tuple[int, int]], consts: list[Any]) -> None:
    """Structured fuzzing: random instructions that may well pass the verifier but put
    values of the wrong types under operations; the VM must fail cleanly."""
    fn = _fn([*code, (o.LOAD_CONST, 0), (o.RETURN, 0)], nlocals=2, params=("a",))
    _exercise(encode_program(consts, [fn]))
