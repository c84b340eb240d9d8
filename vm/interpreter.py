"""Run a contract function: program loading, the interpreter loop, frames, errors.

``execute`` is the only entry point the chain uses. It never raises for anything a
transaction can cause: unknown contract or function, bad arguments, a revert, a runtime
error or running out of gas all give a failed ``ExecutionResult`` whose error says what
was expected and where, with no writes and no events. Storage writes are buffered in the
execution (``vm.host``) and handed back on success only; the chain applies them.

The loop keeps everything hot in local variables; calls (same contract or cross-contract)
push a saved frame on an explicit list instead of recursing in Python, so the call-depth
limit, not Python's stack, bounds recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.keys import MAX_CONTRACT_NAME, code_key
from chain.transition import CallContext  # one definition, owned by the transition
from chain.types import Event
from vm import gas as g
from vm import opcodes as o
from vm.builtins import CALL_ID, PURE, call_method
from vm.bytecode import InvalidBytecode, LoadedFunction, Program, verify_code
from vm.errors import IntegerOverflow, OutOfGas, Revert, VMError
from vm.gas import BYTES_PER_GAS
from vm.host import HOST, Context, Execution, StateAccess
from vm.values import (
    INT_LIMIT,
    INT_MIN,
    MAX_LEN,
    check_int,
    check_key,
    check_len,
    check_value,
    compare,
    contains,
    deep_copy,
    to_text,
    type_name,
    values_equal,
    weight,
)

__all__ = ["CallContext", "ExecutionResult", "StateAccess", "VMError", "execute"]

MAX_DEPTH: Final = 64  # frames, counting cross-contract calls
PROGRAM_CACHE_SIZE: Final = 256
CONTRACT_CALLER_PREFIX: Final = b"contract:"


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    success: bool
    return_value: Any  # a canonical-encodable value, or None
    gas_used: int
    events: tuple[Event, ...]
    writes: dict[bytes, bytes | None] = field(default_factory=dict)  # None = delete
    error: str = ""  # "" on success


# --- program loading ---------------------------------------------------------------------

# Decoded and verified programs by their code record's bytes. A cache hit and a miss do
# the same work for the contract (gas never depends on it); it only saves decoding time.
_programs: dict[bytes, Program] = {}


def load_program(state: StateAccess, contract: str) -> Program:
    if type(contract) is not str or not 0 < len(contract) <= MAX_CONTRACT_NAME:
        raise VMError(f"contract name of 1 to {MAX_CONTRACT_NAME} characters expected, found {contract!r}"[:200])
    record = state.get(code_key(contract))
    if record is None:
        raise VMError(f"a deployed contract expected, found no contract named {contract!r}")
    record = bytes(record)
    program = _programs.get(record)
    if program is not None:
        return program
    try:
        fields = codec.decode(record)
    except DecodeError as exc:
        raise VMError(f"contract {contract!r}: canonical code record expected: {exc}") from None
    if type(fields) is not list or len(fields) != 4 or type(fields[0]) is not bytes:
        raise VMError(f"contract {contract!r}: code record [bytecode, source_hash, version, deployer] expected")
    try:
        program = verify_code(fields[0])
    except InvalidBytecode as exc:
        raise VMError(f"contract {contract!r}: valid bytecode expected: {exc}") from None
    if len(_programs) >= PROGRAM_CACHE_SIZE:
        _programs.clear()
    _programs[record] = program
    return program


def _bind_args(fn: LoadedFunction, args: Any, contract: str) -> list[Any]:
    if type(args) not in (list, tuple):
        raise VMError(f"a list of arguments expected, found {type_name(args)}")
    params = fn.source.params
    defaults = fn.defaults
    n = len(args)
    if not len(params) - len(defaults) <= n <= len(params):
        want = (
            f"{len(params)}"
            if not defaults
            else f"{len(params) - len(defaults)} to {len(params)}"
        )
        raise VMError(f"{want} arguments expected by {contract}.{fn.source.name}, found {n}")
    bound: list[Any] = []
    for a in args:
        t = type(a)
        # Short str and in-range ints are valid and immutable as they are (the common case);
        # anything else takes the full check and copy.
        if (t is str and len(a) <= MAX_LEN) or (t is int and INT_MIN <= a < INT_LIMIT):
            bound.append(a)
        else:
            bound.append(deep_copy(check_value(a)))
    bound.extend(defaults[n - len(params) :] if n < len(params) else ())
    return bound


# --- the execution -----------------------------------------------------------------------


_BUILTIN_IMPL: Final = {**PURE, **HOST}

_ISINSTANCE_BITS: Final[dict[type, int]] = {
    int: 1,
    bool: 2,
    str: 4,
    bytes: 8,
    list: 16,
    dict: 32,
    tuple: 64,
    type(None): 128,
}


class _Unbound:
    """Marks a local slot not yet assigned."""


_UNBOUND: Final = _Unbound()
_DONE: Final = object()


# --- slow paths of the arithmetic and container instructions -------------------------------


def _add(ex: Execution, a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is str or ta is bytes:
            n = len(a) + len(b)
            check_len(n, ta.__name__)
            ex.charge(g.size_gas(n))
            return a + b
        if ta is list or ta is tuple:
            n = len(a) + len(b)
            check_len(n, ta.__name__)
            ex.charge(n * g.PER_ITEM)
            return a + b
    raise VMError(f"operands of one type (int, str, bytes, list, tuple) expected for '+', found {type_name(a)} and {type_name(b)}")


def _int_operands(a: Any, b: Any, op: str) -> None:
    if type(a) is not int or type(b) is not int:
        raise VMError(f"int operands expected for '{op}', found {type_name(a)} and {type_name(b)}")


def _pow(ex: Execution, a: Any, b: Any) -> int:
    _int_operands(a, b, "**")
    if not 0 <= b <= 255:
        raise VMError(f"exponent in [0, 255] expected, found {b}")
    if abs(a) > 1 and (abs(a).bit_length() - 1) * b > 256:
        raise IntegerOverflow("int in [-2**255, 2**255) expected, found a larger power")
    r: int = a**b
    ex.charge(r.bit_length() // 64 * g.BIG_INT_WORD)
    return check_int(r)


def _index(container: Any, i: Any) -> int:
    if type(i) is not int:
        raise VMError(f"int index expected for {type_name(container)}, found {type_name(i)}")
    n = len(container)
    if not -n <= i < n:
        raise VMError(f"index in [-{n}, {n}) expected, found {i}")
    return int(i)


def _subscr(c: Any, k: Any) -> Any:
    t = type(c)
    if t is dict:
        check_key(k)
        if k not in c:
            raise VMError(f"a present key expected, found {_short(k)} absent")
        return c[k]
    if t is list or t is tuple or t is str or t is bytes:
        return c[_index(c, k)]
    raise VMError(f"list, tuple, dict, str or bytes expected for [ ], found {type_name(c)}")


def _store_subscr(c: Any, k: Any, v: Any) -> None:
    t = type(c)
    if t is dict:
        check_key(k)
        if len(c) >= MAX_LEN and k not in c:
            check_len(len(c) + 1, "dict")
        c[k] = v
    elif t is list:
        c[_index(c, k)] = v
    else:
        raise VMError(f"list or dict expected for x[k] = v, found {type_name(c)}")


def _delete_subscr(c: Any, k: Any) -> None:
    t = type(c)
    if t is dict:
        check_key(k)
        if k not in c:
            raise VMError(f"a present key expected in del, found {_short(k)} absent")
        del c[k]
    elif t is list:
        del c[_index(c, k)]
    else:
        raise VMError(f"list or dict expected for del x[k], found {type_name(c)}")


def _slice(ex: Execution, c: Any, lo: Any, hi: Any) -> Any:
    t = type(c)
    if t is not list and t is not tuple and t is not str and t is not bytes:
        raise VMError(f"list, tuple, str or bytes expected for a slice, found {type_name(c)}")
    if (lo is not None and type(lo) is not int) or (hi is not None and type(hi) is not int):
        raise VMError("int slice bounds expected")
    r = c[lo:hi]
    ex.charge(len(r) * g.PER_ITEM if t is list or t is tuple else g.size_gas(len(r)))
    return r


def _build_dict(items: list[Any]) -> dict[Any, Any]:
    d: dict[Any, Any] = {}
    for i in range(0, len(items), 2):
        d[check_key(items[i])] = items[i + 1]
    return d


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _iter(v: Any) -> Any:
    t = type(v)
    if t is list or t is tuple or t is dict:
        return iter(v)
    raise VMError(f"list, tuple or dict expected in for, found {type_name(v)}")


def _range(args: list[Any]) -> Any:
    for x in args:
        if type(x) is not int:
            raise VMError(f"int arguments expected in range(), found {type_name(x)}")
    if len(args) == 3 and args[2] == 0:
        raise VMError("non-zero step expected in range(), found 0")
    return iter(range(*args))


# --- the loop ----------------------------------------------------------------------------


class _Failure(Exception):
    """A VMError annotated with where it happened."""

    def __init__(self, error: VMError, where: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.where = where


# The opcodes the loop compares against, in the order ``_run`` unpacks them into locals: one
# unpack of this tuple costs far less than ~50 attribute reads at every call.
_LOOP_OPS: Final = (
    o.GAS, o.LOAD_CONST, o.LOAD_LOCAL, o.STORE_LOCAL,
    o.POP, o.DUP, o.DUP2, o.ROT2, o.ROT3,
    o.ADD, o.SUB, o.MUL, o.FLOORDIV, o.MOD, o.POW,
    o.EQ, o.NE, o.LT, o.LE, o.GT, o.GE, o.IN, o.NOT_IN,
    o.IS_NONE, o.IS_NOT_NONE, o.NEG, o.POS, o.NOT,
    o.JUMP, o.JUMP_IF_FALSE, o.JUMP_IF_TRUE,
    o.JUMP_IF_FALSE_OR_POP, o.JUMP_IF_TRUE_OR_POP,
    o.GET_ITER, o.RANGE_ITER, o.FOR_ITER,
    o.BUILD_LIST, o.BUILD_TUPLE, o.BUILD_DICT,
    o.BUILD_STRING, o.FORMAT_VALUE,
    o.SUBSCR, o.STORE_SUBSCR, o.DELETE_SUBSCR, o.SLICE, o.UNPACK,
    o.CALL, o.CALL_BUILTIN, o.CALL_METHOD, o.RETURN, o.ISINSTANCE,
)  # fmt: skip


def _run(ex: Execution, program: Program, fn: LoadedFunction, args: list[Any]) -> Any:
    # Opcodes as locals: a LOAD_FAST per comparison in the dispatch chain.
    (
        GAS, LOAD_CONST, LOAD_LOCAL, STORE_LOCAL,
        POP, DUP, DUP2, ROT2, ROT3,
        ADD, SUB, MUL, FLOORDIV, MOD, POW,
        EQ, NE, LT, LE, GT, GE, IN, NOT_IN,
        IS_NONE, IS_NOT_NONE, NEG, POS, NOT,
        JUMP, JUMP_IF_FALSE, JUMP_IF_TRUE,
        JUMP_IF_FALSE_OR_POP, JUMP_IF_TRUE_OR_POP,
        GET_ITER, RANGE_ITER, FOR_ITER,
        BUILD_LIST, BUILD_TUPLE, BUILD_DICT,
        BUILD_STRING, FORMAT_VALUE,
        SUBSCR, STORE_SUBSCR, DELETE_SUBSCR, SLICE, UNPACK,
        CALL, CALL_BUILTIN, CALL_METHOD, RETURN, ISINSTANCE,
    ) = _LOOP_OPS  # fmt: skip
    UNBOUND, DONE = _UNBOUND, _DONE
    BUILTIN_IMPL = _BUILTIN_IMPL

    frames: list[tuple[Any, ...]] = []
    loaded = program.loaded
    consts = program.constants
    code = fn.code
    locs: list[Any] = args + [UNBOUND] * (fn.nlocals - len(args))
    stack: list[Any] = []
    push = stack.append
    pop = stack.pop
    pc = 0
    gas = ex.gas
    cross = False
    try:
        while True:
            op, arg = code[pc]
            pc += 1
            # The chain is ordered by how often the contracts use each instruction (static
            # counts over registry, billing, payments and supply): every test in it costs
            # every instruction that comes later.
            if op == LOAD_LOCAL:
                v = locs[arg]
                if v is UNBOUND:
                    raise VMError(f"local variable {fn.source.local_name(arg)!r} used before assignment")
                push(v)
            elif op == LOAD_CONST:
                push(consts[arg])
            elif op == GAS:
                gas -= arg
                if gas < 0:
                    raise OutOfGas("")
            elif op == CALL_BUILTIN:
                argc = arg & 0xFF
                bid = arg >> 8
                if argc:
                    a_list = stack[-argc:]
                    del stack[-argc:]
                else:
                    a_list = []
                if bid == CALL_ID:
                    # Cross-contract call: a new frame in another program.
                    if len(frames) + 1 >= MAX_DEPTH:
                        raise VMError(f"call depth of at most {MAX_DEPTH} expected")
                    gas -= g.CROSS_CALL
                    if gas < 0:
                        raise OutOfGas("")
                    callee, fname, cargs = a_list
                    ex.gas = gas
                    cprog = load_program(ex.state, callee) if type(callee) is str else None
                    if cprog is None:
                        raise VMError(f"str contract name expected in call(), found {type_name(callee)}")
                    cfn = cprog.by_name.get(fname) if type(fname) is str else None
                    if cfn is None or cfn.source.kind == "private":
                        raise VMError(f"a public or view function expected in call(), found {_short(fname)} in {callee}")
                    gas -= weight(cargs, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    bound = _bind_args(cfn, cargs, callee)
                    frames.append((fn, code, consts, loaded, locs, stack, pc, ex.contract, ex.caller, ex.read_only, cross))
                    ex.caller = CONTRACT_CALLER_PREFIX + ex.contract.encode()
                    ex.contract = callee
                    ex.read_only = ex.read_only or cfn.source.kind == "view"
                    fn = cfn
                    loaded = cprog.loaded
                    consts = cprog.constants
                    code = cfn.code
                    locs = bound + [UNBOUND] * (cfn.nlocals - len(bound))
                    stack = []
                    push = stack.append
                    pop = stack.pop
                    pc = 0
                    cross = True
                else:
                    ex.gas = gas
                    push(BUILTIN_IMPL[bid](ex, a_list))
                    gas = ex.gas
            elif op == STORE_LOCAL:
                locs[arg] = pop()
            elif op == SUBSCR:
                k = pop()
                c = stack[-1]
                if type(c) is dict and (type(k) is str or type(k) is int or type(k) is bytes) and k in c:
                    stack[-1] = c[k]
                else:
                    stack[-1] = _subscr(c, k)
            elif op == POP:
                pop()
            elif op == CALL:
                if len(frames) + 1 >= MAX_DEPTH:
                    raise VMError(f"call depth of at most {MAX_DEPTH} expected")
                callee_fn = loaded[arg]
                nparams = callee_fn.nparams
                if nparams:
                    new_locs = stack[-nparams:]
                    del stack[-nparams:]
                else:
                    new_locs = []
                frames.append((fn, code, consts, loaded, locs, stack, pc, ex.contract, ex.caller, ex.read_only, cross))
                fn = callee_fn
                code = fn.code
                nl = fn.nlocals
                if nl > nparams:
                    new_locs.extend([UNBOUND] * (nl - nparams))
                locs = new_locs
                stack = []
                push = stack.append
                pop = stack.pop
                pc = 0
                cross = False
            elif op == RETURN:
                v = pop()
                if not frames:
                    ex.gas = gas
                    return v
                if cross:
                    gas -= weight(v, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    v = deep_copy(v)
                (fn, code, consts, loaded, locs, stack, pc, ex.contract, ex.caller, ex.read_only, cross) = frames.pop()
                push = stack.append
                pop = stack.pop
                push(v)
            elif op == ADD:
                b = pop()
                a = stack[-1]
                if type(a) is int and type(b) is int:
                    r = a + b
                    if r >= INT_LIMIT or r < INT_MIN:
                        check_int(r)
                    stack[-1] = r
                elif type(a) is str and type(b) is str:
                    # ``_add`` inlined for str (storage keys are built this way): same check,
                    # same charge, and like ``ex.charge`` it fails at once when gas runs out.
                    size = len(a) + len(b)
                    if size > MAX_LEN:
                        check_len(size, "str")
                    gas -= size // BYTES_PER_GAS
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = a + b
                else:
                    ex.gas = gas
                    stack[-1] = _add(ex, a, b)
                    gas = ex.gas
            elif op == FORMAT_VALUE:
                v = stack[-1]
                if type(v) is not str:  # a str formats as itself
                    stack[-1] = str(v) if type(v) is int else to_text(v)
            elif op == JUMP_IF_FALSE:
                if not pop():
                    pc = arg
            elif op == BUILD_STRING:
                parts = stack[-arg:] if arg else []
                if arg:
                    del stack[-arg:]
                size = sum(map(len, parts))  # before joining: never build an oversized str
                if size > MAX_LEN:
                    check_len(size, "str")
                gas -= size // BYTES_PER_GAS  # g.size_gas, inlined
                push("".join(parts))
            elif op == BUILD_LIST:
                if arg:
                    items = stack[-arg:]
                    del stack[-arg:]
                    push(items)
                else:
                    push([])
            elif op == STORE_SUBSCR:
                k = pop()
                c = pop()
                _store_subscr(c, k, pop())
            elif op == BUILD_DICT:
                if arg:
                    items = stack[-2 * arg :]
                    del stack[-2 * arg :]
                    push(_build_dict(items))
                else:
                    push({})
            elif op == JUMP:
                pc = arg
            elif op == FOR_ITER:
                v = next(stack[-1], DONE)
                if v is DONE:
                    pop()
                    pc = arg
                else:
                    push(v)
            elif op == EQ:
                b = pop()
                a = stack[-1]
                ta = type(a)
                if ta is type(b) and (ta is int or ta is str or ta is bytes):
                    stack[-1] = a == b
                else:
                    gas -= weight(a, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = values_equal(a, b)
            elif op == CALL_METHOD:
                argc = arg & 0xFF
                if argc:
                    a_list = stack[-argc:]
                    del stack[-argc:]
                else:
                    a_list = []
                ex.gas = gas
                stack[-1] = call_method(ex, arg >> 8, stack[-1], a_list)
                gas = ex.gas
            elif op == JUMP_IF_FALSE_OR_POP:
                if not stack[-1]:
                    pc = arg
                else:
                    pop()
            elif op == ISINSTANCE:
                stack[-1] = bool(_ISINSTANCE_BITS.get(type(stack[-1]), 0) & arg)
            elif op == SUB:
                b = pop()
                a = stack[-1]
                if type(a) is not int or type(b) is not int:
                    _int_operands(a, b, "-")
                r = a - b
                if r >= INT_LIMIT or r < INT_MIN:
                    check_int(r)
                stack[-1] = r
            elif op == GET_ITER:
                stack[-1] = _iter(stack[-1])
            elif op == GT:
                b = pop()
                a = stack[-1]
                if type(a) is int and type(b) is int:
                    stack[-1] = a > b
                else:
                    gas -= weight(a, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = compare(a, b) > 0
            elif op == NOT:
                stack[-1] = not stack[-1]
            elif op == LE:
                b = pop()
                a = stack[-1]
                if type(a) is int and type(b) is int:
                    stack[-1] = a <= b
                else:
                    gas -= weight(a, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = compare(a, b) <= 0
            elif op == IS_NOT_NONE:
                stack[-1] = stack[-1] is not None
            elif op == NE:
                b = pop()
                a = stack[-1]
                ta = type(a)
                if ta is type(b) and (ta is int or ta is str or ta is bytes):
                    stack[-1] = a != b
                else:
                    gas -= weight(a, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = not values_equal(a, b)
            elif op == IS_NONE:
                stack[-1] = stack[-1] is None
            elif op == JUMP_IF_TRUE_OR_POP:
                if stack[-1]:
                    pc = arg
                else:
                    pop()
            elif op == LT:
                b = pop()
                a = stack[-1]
                if type(a) is int and type(b) is int:
                    stack[-1] = a < b
                else:
                    gas -= weight(a, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = compare(a, b) < 0
            elif op == MUL:
                b = pop()
                a = stack[-1]
                if type(a) is not int or type(b) is not int:
                    _int_operands(a, b, "*")
                r = a * b
                if r >= INT_LIMIT or r < INT_MIN:
                    check_int(r)
                stack[-1] = r
            elif op == GE:
                b = pop()
                a = stack[-1]
                if type(a) is int and type(b) is int:
                    stack[-1] = a >= b
                else:
                    gas -= weight(a, gas + 1)
                    if gas < 0:
                        raise OutOfGas("")
                    stack[-1] = compare(a, b) >= 0
            elif op == IN:
                b = pop()
                gas -= weight(b, gas + 1)
                if gas < 0:
                    raise OutOfGas("")
                stack[-1] = contains(b, stack[-1])
            elif op == NEG:
                a = stack[-1]
                if type(a) is not int:
                    raise VMError(f"int operand expected for unary '-', found {type_name(a)}")
                stack[-1] = check_int(-a)
            elif op == JUMP_IF_TRUE:
                if pop():
                    pc = arg
            elif op == FLOORDIV:
                b = pop()
                a = stack[-1]
                if type(a) is not int or type(b) is not int:
                    _int_operands(a, b, "//")
                if b == 0:
                    raise VMError("non-zero divisor expected, found 0")
                r = a // b
                if r >= INT_LIMIT:
                    check_int(r)
                stack[-1] = r
            elif op == MOD:
                b = pop()
                a = stack[-1]
                if type(a) is not int or type(b) is not int:
                    _int_operands(a, b, "%")
                if b == 0:
                    raise VMError("non-zero divisor expected, found 0")
                stack[-1] = a % b
            elif op == RANGE_ITER:
                a_list = stack[-arg:]
                del stack[-arg:]
                push(_range(a_list))
            elif op == DUP:
                push(stack[-1])
            elif op == NOT_IN:
                b = pop()
                gas -= weight(b, gas + 1)
                if gas < 0:
                    raise OutOfGas("")
                stack[-1] = not contains(b, stack[-1])
            elif op == POS:
                if type(stack[-1]) is not int:
                    raise VMError(f"int operand expected for unary '+', found {type_name(stack[-1])}")
            elif op == POW:
                b = pop()
                ex.gas = gas
                stack[-1] = _pow(ex, stack[-1], b)
                gas = ex.gas
            elif op == BUILD_TUPLE:
                if arg:
                    t = tuple(stack[-arg:])
                    del stack[-arg:]
                    push(t)
                else:
                    push(())
            elif op == DELETE_SUBSCR:
                k = pop()
                _delete_subscr(pop(), k)
            elif op == SLICE:
                hi = pop() if arg & 2 else None
                lo = pop() if arg & 1 else None
                ex.gas = gas
                stack[-1] = _slice(ex, stack[-1], lo, hi)
                gas = ex.gas
            elif op == UNPACK:
                v = pop()
                if (type(v) is not list and type(v) is not tuple) or len(v) != arg:
                    n = len(v) if type(v) in (list, tuple) else type_name(v)
                    raise VMError(f"list or tuple of {arg} items expected to unpack, found {n}")
                stack.extend(reversed(v))
            elif op == DUP2:
                stack.extend(stack[-2:])
            elif op == ROT2:
                stack[-1], stack[-2] = stack[-2], stack[-1]
            elif op == ROT3:
                v = pop()
                stack.insert(len(stack) - 2, v)
            else:
                raise VMError(f"unknown opcode {op}")
            # Dynamic charges in the loop subtract without checking: a negative balance is
            # caught by the next GAS instruction, by a host call, or when the call returns.
    except VMError as exc:
        ex.gas = min(gas, ex.gas)
        raise _Failure(exc, _where(ex, fn, pc)) from None
    except (RecursionError, MemoryError):
        raise _Failure(VMError("values nested too deeply"), _where(ex, fn, pc)) from None
    except RuntimeError:
        # Python's dict iterator refuses a dict that changed size during the loop.
        raise _Failure(VMError("a dict changed size while a for loop iterated it"), _where(ex, fn, pc)) from None
    except (TypeError, ValueError, AttributeError, IndexError, KeyError, OverflowError, ZeroDivisionError) as exc:
        # Only bytecode that did not come from the compiler (operands of types the compiler
        # never puts there) reaches this net. The message names the exception class and
        # the instruction, never Python's own wording, which may change between versions.
        op_name = o.OPS[code[pc - 1][0]].name if code[pc - 1][0] in o.OPS else "GAS"
        message = f"invalid operands for {op_name} ({type(exc).__name__})"
        raise _Failure(VMError(message), _where(ex, fn, pc)) from None


def _returnable(value: Any, depth: int) -> bool:
    """Whether the chain's codec can encode ``value`` (cheaper than encoding it)."""
    t = type(value)
    if t is int:
        return bool(codec.INT_MIN <= value <= codec.INT_MAX)
    if t is str or t is bytes or t is bool or value is None:
        return True
    if depth >= codec.MAX_DEPTH:
        return False
    if t is list or t is tuple:
        return all(_returnable(v, depth + 1) for v in value)
    if t is dict:
        return all(_returnable(k, depth + 1) and _returnable(v, depth + 1) for k, v in value.items())
    return False


def _where(ex: Execution, fn: LoadedFunction, pc: int) -> str:
    i = max(pc - 1, 0)
    return f"{ex.contract}.{fn.source.name} line {fn.lines[i]}"


def execute(
    state: StateAccess,
    ctx: Context,
    contract: str,
    function: str,
    args: list[Any],
    gas_limit: int,
    *,
    read_only: bool = False,
) -> ExecutionResult:
    """Run ``contract.function(*args)`` with at most ``gas_limit`` gas."""
    if type(gas_limit) is not int or gas_limit < 0:
        return ExecutionResult(False, None, 0, (), {}, f"non-negative int gas limit expected, found {gas_limit!r}")
    ex = Execution(state, ctx, gas_limit, read_only)
    ex.contract = contract
    ex.caller = ctx.signer
    try:
        program = load_program(state, contract)
        fn = program.by_name.get(function) if type(function) is str else None
        if fn is None:
            raise VMError(f"a function of {contract} expected, found no function {_short(function)}")
        if fn.source.kind == "private":
            raise VMError(f"a public or view function expected, found private function {contract}.{function}")
        args = _bind_args(fn, args, contract)
        ex.read_only = read_only or fn.source.kind == "view"
        value = _run(ex, program, fn, args)
        vt = type(value)
        if (vt is int and codec.INT_MIN <= value <= codec.INT_MAX) or vt is bool or value is None:
            # A scalar return (the common case) weighs 1, so the charge below would be 0: it
            # can only fail on a balance already negative, and is always returnable.
            if ex.gas < 0:
                raise _Failure(OutOfGas(""), f"{contract}.{function} return")
        else:
            try:
                ex.charge(weight(value, ex.gas + 1) - 1)  # checking a container return value
            except OutOfGas as exc:
                raise _Failure(exc, f"{contract}.{function} return") from None
            if not _returnable(value, 0):
                raise VMError(
                    f"a returnable value (ints in [{codec.INT_MIN}, {codec.INT_MAX}], nesting at most "
                    f"{codec.MAX_DEPTH}) expected from {contract}.{function}, found {type_name(value)}"
                ) from None
        if ex.gas < 0:
            raise OutOfGas("")
    except _Failure as f:
        return _failed(ex, f.error, f.where)
    except VMError as exc:
        return _failed(ex, exc, "")
    # ``ex`` ends here, so its write buffer is handed over as it is, not copied.
    return ExecutionResult(True, value, gas_limit - ex.gas, tuple(ex.events), ex.writes, "")


def _failed(ex: Execution, error: VMError, where: str) -> ExecutionResult:
    at = f" at {where}" if where else ""
    if isinstance(error, OutOfGas):
        return ExecutionResult(False, None, ex.limit, (), {}, f"out of gas: limit {ex.limit}, needed more{at}")
    if isinstance(error, Revert):
        message = f"reverted: {error}{at}"
    elif type(error) is VMError:
        message = f"{error}{at}"
    else:
        message = f"{type(error).__name__}: {error}{at}"
    used = min(ex.limit, max(0, ex.limit - ex.gas))
    return ExecutionResult(False, None, used, (), {}, message)
