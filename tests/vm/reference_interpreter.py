"""The reference interpreter: the VM's dispatch loop over lowered ``(op, arg)`` instructions,
kept as the oracle that the translated functions (``vm.translator``) are compared with.

It is the loop ``vm/interpreter.py`` ran before each function was translated to Python: one
``while True`` over the instructions, an ``if/elif`` per opcode, explicit frames for calls.
``tests/vm/test_reference.py`` runs random programs and the local demonstration through both
and requires identical results, gas, writes, events and error strings. A change to an
instruction's meaning is made in both places, or that test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from vm import gas as g
from vm import interpreter
from vm import opcodes as o
from vm.builtins import CALL_ID, call_method
from vm.bytecode import LoadedFunction, Program
from vm.errors import OutOfGas, VMError
from vm.gas import BYTES_PER_GAS
from vm.host import Execution
from vm.interpreter import (
    _BUILTIN_IMPL,
    _DONE,
    _ISINSTANCE_BITS,
    _UNBOUND,
    CONTRACT_CALLER_PREFIX,
    MAX_DEPTH,
    _add,
    _bind_args,
    _build_dict,
    _delete_subscr,
    _Failure,
    _int_operands,
    _iter,
    _pow,
    _range,
    _short,
    _slice,
    _store_subscr,
    _subscr,
    _where,
    load_program,
)
from vm.values import (
    INT_LIMIT,
    INT_MIN,
    MAX_LEN,
    check_int,
    check_len,
    compare,
    contains,
    deep_copy,
    to_text,
    type_name,
    values_equal,
    weight,
)

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



def reference_functions(program: Program, runtime: dict[str, Any]) -> tuple[Callable[..., Any], ...]:
    """The program's functions run by the reference loop, in the form ``vm.translator.translate``
    gives them (``f(ex, depth, cross, *params)``), so that ``vm.execute`` can run either."""

    def entry(fn: LoadedFunction) -> Callable[..., Any]:
        def run(ex: Execution, depth: int, cross: bool, *params: Any) -> Any:
            return _run(ex, program, fn, list(params))

        return run

    return tuple(entry(fn) for fn in program.loaded)


@contextmanager
def reference_loop() -> Iterator[None]:
    """Within this block, programs loaded by ``vm.execute`` run on the reference loop."""
    translate = interpreter.translate
    interpreter.translate = reference_functions  # type: ignore[assignment]
    interpreter._programs.clear()
    try:
        yield
    finally:
        interpreter.translate = translate
        interpreter._programs.clear()
