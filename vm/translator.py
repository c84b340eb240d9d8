"""Translation of verified, lowered bytecode into Python functions, once per program.

The VM's semantics are those of the bytecode (docs/vm.md): a stack machine with locals,
gas charged per basic block, and the checks and charges of every instruction. Running it
with an instruction-dispatch loop costs a chain of comparisons per instruction; here each
function of a verified program becomes one Python function instead, in which

* every stack slot is a Python local (``s0``, ``s1``, ...): the verifier proved that the
  stack depth at each instruction is the same on every path, so the slot an instruction
  reads and writes is known before it runs;
* every VM local is a Python local (``l0``, ...), the parameters bound by the call;
* a basic block is straight-line Python; blocks are chosen by a small dispatch on ``blk``
  (a binary tree of comparisons), so only jumps cost a dispatch, and a block entered from
  one place only is written at that place, without one (``_inlined_blocks``);
* the text generated for an instruction performs exactly the checks, charges and
  operations of the instruction's definition (``vm.instructions``), in the same order, calling the same
  helpers (``runtime`` names them), so gas, results and error messages are those of the
  definition. ``pc`` records the instruction (lowered index + 1) before anything that can
  fail, for the error's "at contract.function line N".

No value from the bytecode is ever spliced into the text except constants, and those only
through ``repr`` of an int, bool, None or a short str or bytes (the verifier admits nothing
else), which is always a literal of the same value; a longer str or bytes is read from the
program's constants (``consts[i]``), so the text stays linear in the bytecode (the verifier
bounds the items instructions name, ``bytecode.MAX_ITEMS_PER_INSTRUCTION``). Names of locals appear only in messages bound
in the namespace, never in the text.

The generated text is deterministic (a function of the bytecode alone); ``source_of``
returns it for inspection (``meterchain contract disasm --python``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from vm import gas as g
from vm import opcodes as o
from vm.builtins import BUILTINS, CALL_ID
from vm.bytecode import LoadedFunction, Program, stack_pops, stack_pushes
from vm.host import HOST_POSITIONAL
from vm.instructions.calls import MAX_DEPTH
from vm.values import INT_LIMIT, INT_MIN, MAX_LEN

# Instructions that can neither fail nor charge: no ``pc`` bookkeeping before them.
_CANNOT_FAIL: Final = frozenset(
    {
        o.LOAD_CONST, o.STORE_LOCAL, o.POP, o.DUP, o.DUP2, o.ROT2, o.ROT3,
        o.JUMP, o.JUMP_IF_FALSE, o.JUMP_IF_TRUE, o.JUMP_IF_FALSE_OR_POP, o.JUMP_IF_TRUE_OR_POP,
        o.IS_NONE, o.IS_NOT_NONE, o.NOT, o.ISINSTANCE,
    }
)  # fmt: skip

_COMPARE: Final = {o.LT: "<", o.LE: "<=", o.GT: ">", o.GE: ">="}

# Builtins whose whole definition (vm.builtins, vm.host) is a charge and a read, or a test:
# written in place instead of called, with the same charge, result and error.
_CONTEXT_READS: Final = {
    BUILTINS["caller"].id: "ex.caller",
    BUILTINS["tx_signer"].id: "ex.ctx.signer",
    BUILTINS["tx_hash"].id: "ex.ctx.tx_hash",
    BUILTINS["block_height"].id: "ex.ctx.block_height",
    BUILTINS["block_time"].id: "ex.ctx.block_time",
}
_REQUIRE: Final = BUILTINS["require"].id
# ``min`` and ``max`` of two ints (tiers, caps): ``vm.builtins._min``'s and ``_max``'s own fast
# path, which charges nothing, written in place; anything else still calls the builtin.
_MIN_MAX: Final = {BUILTINS["min"].id: "<=", BUILTINS["max"].id: ">="}


def _depths(fn: LoadedFunction, program: Program) -> list[int]:
    """The stack depth before each lowered instruction (-1: unreachable)."""
    code = fn.code
    n = len(code)
    depth = [-1] * n
    depth[0] = 0
    work = [0]
    functions = program.functions

    def reach(target: int, d: int) -> None:
        if depth[target] == -1:
            depth[target] = d
            work.append(target)

    while work:
        pc = work.pop()
        op, arg = code[pc]
        d = depth[pc]
        if op == o.GAS:
            reach(pc + 1, d)
        elif op == o.RETURN:
            continue
        elif op == o.JUMP:
            reach(arg, d)
        elif op in (o.JUMP_IF_FALSE, o.JUMP_IF_TRUE):
            reach(arg, d - 1)
            reach(pc + 1, d - 1)
        elif op in (o.JUMP_IF_FALSE_OR_POP, o.JUMP_IF_TRUE_OR_POP):
            reach(arg, d)
            reach(pc + 1, d - 1)
        elif op == o.FOR_ITER:
            reach(arg, d - 1)
            reach(pc + 1, d + 1)
        else:
            reach(pc + 1, d - stack_pops(op, arg, functions) + stack_pushes(op, arg))
    return depth


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)


def _slots(first: int, count: int) -> str:
    return ", ".join(f"s{first + i}" for i in range(count))


def _emit_instruction(w: _Writer, ind: int, pc: int, op: int, arg: int, d: int, fn: LoadedFunction,
                      program: Program, known: dict[int, type], bound: set[int]) -> None:  # fmt: skip
    """The Python statements of one instruction at stack depth ``d`` (no control flow).

    ``known`` holds the types of the slots that a constant of this block filled: a test
    whose answer the type already gives is left out (never a check that could fail).
    ``bound`` holds the locals stored on every path to this instruction (a local, once
    stored, is never unbound again): reading one needs no test."""
    t = f"s{d - 1}"  # top of stack
    u = f"s{d - 2}"  # the item below it
    over = "if gas < 0: raise OutOfGas('')"
    if op not in _CANNOT_FAIL and not (op == o.LOAD_LOCAL and (arg < fn.nparams or arg in bound)):
        w(ind, f"pc = {pc + 1}")
    if op == o.GAS:
        w(ind, f"gas -= {arg}")
        w(ind, over)
    elif op == o.LOAD_CONST:
        w(ind, f"s{d} = {_literal(program.constants[arg], arg)}")
    elif op == o.LOAD_LOCAL:
        w(ind, f"s{d} = l{arg}")
        if arg >= fn.nparams and arg not in bound:  # parameters are bound by the call
            w(ind, f"if s{d} is UNBOUND: raise VMError(unbound_{fn.index}_{arg})")
    elif op == o.STORE_LOCAL:
        w(ind, f"l{arg} = {t}")
        bound.add(arg)
    elif op == o.POP:
        pass
    elif op == o.DUP:
        w(ind, f"s{d} = {t}")
    elif op == o.DUP2:
        w(ind, f"s{d} = {u}; s{d + 1} = {t}")
    elif op == o.ROT2:
        w(ind, f"{u}, {t} = {t}, {u}")
    elif op == o.ROT3:
        w(ind, f"s{d - 3}, {u}, {t} = {t}, s{d - 3}, {u}")
    elif op == o.ADD:
        # str + str (storage keys are built this way) charges its size, as ``add_values`` does
        # and fails at once when gas runs out; int + int is bounded; anything else is the
        # helper's. A constant str operand leaves only the other operand's type to test.
        if known.get(d - 2) is str or known.get(d - 1) is str:
            other = t if known.get(d - 2) is str else u
            w(ind, f"if type({other}) is str:")
        else:
            w(ind, f"if type({u}) is int and type({t}) is int:")
            w(ind + 1, f"r = {u} + {t}")
            w(ind + 1, f"if r >= {INT_LIMIT} or r < {INT_MIN}: check_int(r)")
            w(ind + 1, f"{u} = r")
            w(ind, f"elif type({u}) is str and type({t}) is str:")
        w(ind + 1, f"size = len({u}) + len({t})")
        w(ind + 1, f"if size > {MAX_LEN}: check_len(size, 'str')")
        w(ind + 1, f"gas -= size // {g.BYTES_PER_GAS}")
        w(ind + 1, over)
        w(ind + 1, f"{u} = {u} + {t}")
        w(ind, "else:")
        w(ind + 1, f"ex.gas = gas; {u} = add_values(ex, {u}, {t}); gas = ex.gas")
    elif op in (o.SUB, o.MUL):
        sign = "-" if op == o.SUB else "*"
        w(ind, f"if type({u}) is not int or type({t}) is not int: int_operands({u}, {t}, '{sign}')")
        w(ind, f"r = {u} {sign} {t}")
        w(ind, f"if r >= {INT_LIMIT} or r < {INT_MIN}: check_int(r)")
        w(ind, f"{u} = r")
    elif op == o.FLOORDIV:
        w(ind, f"if type({u}) is not int or type({t}) is not int: int_operands({u}, {t}, '//')")
        w(ind, f"if {t} == 0: raise VMError('non-zero divisor expected, found 0')")
        w(ind, f"r = {u} // {t}")
        w(ind, f"if r >= {INT_LIMIT}: check_int(r)")
        w(ind, f"{u} = r")
    elif op == o.MOD:
        w(ind, f"if type({u}) is not int or type({t}) is not int: int_operands({u}, {t}, '%')")
        w(ind, f"if {t} == 0: raise VMError('non-zero divisor expected, found 0')")
        w(ind, f"{u} = {u} % {t}")
    elif op == o.POW:
        w(ind, f"ex.gas = gas; {u} = power(ex, {u}, {t}); gas = ex.gas")
    elif op in (o.EQ, o.NE):
        negate = "not " if op == o.NE else ""
        py = "==" if op == o.EQ else "!="
        w(ind, f"if type({u}) is int and type({t}) is int:")
        w(ind + 1, f"{u} = {u} {py} {t}")
        w(ind, f"elif type({u}) is type({t}) and (type({u}) is str or type({u}) is bytes):")
        # ``size_gas(min(len(a), len(b)))`` without the call of ``min`` (a few comparisons of
        # str a contract call: statuses, modes, trust levels).
        w(ind + 1, f"len_a = len({u}); len_b = len({t}); gas -= (len_a if len_a < len_b else len_b) // {g.BYTES_PER_GAS}")
        w(ind + 1, over)
        w(ind + 1, f"{u} = {u} {py} {t}")
        w(ind, "else:")
        w(ind + 1, f"gas -= weight({u}, gas + 1)")
        w(ind + 1, over)
        w(ind + 1, f"{u} = {negate}values_equal({u}, {t})")
    elif op in _COMPARE:
        py = _COMPARE[op]
        w(ind, f"if type({u}) is int and type({t}) is int:")
        w(ind + 1, f"{u} = {u} {py} {t}")
        w(ind, "else:")
        w(ind + 1, f"gas -= weight({u}, gas + 1)")
        w(ind + 1, over)
        w(ind + 1, f"{u} = compare({u}, {t}) {py} 0")
    elif op in (o.IN, o.NOT_IN):
        negate = "not " if op == o.NOT_IN else ""
        w(ind, f"gas -= weight({t}, gas + 1)")
        w(ind, over)
        w(ind, f"{u} = {negate}contains({t}, {u})")
    elif op == o.IS_NONE:
        w(ind, f"{t} = {t} is None")
    elif op == o.IS_NOT_NONE:
        w(ind, f"{t} = {t} is not None")
    elif op == o.NOT:
        w(ind, f"{t} = not {t}")
    elif op == o.NEG:
        w(ind, f"if type({t}) is not int: raise VMError(\"int operand expected for unary '-', found \" + type_name({t}))")
        w(ind, f"{t} = check_int(-{t})")
    elif op == o.POS:
        w(ind, f"if type({t}) is not int: raise VMError(\"int operand expected for unary '+', found \" + type_name({t}))")
    elif op == o.GET_ITER:
        w(ind, f"{t} = iterate({t})")
    elif op == o.RANGE_ITER:
        w(ind, f"s{d - arg} = range_iter([{_slots(d - arg, arg)}])")
    elif op in (o.BUILD_LIST, o.BUILD_TUPLE):
        first = d - arg
        w(ind, f"s{first} = {'[' if op == o.BUILD_LIST else '('}{_slots(first, arg)}{']' if op == o.BUILD_LIST else ',)' if arg else ')'}")
    elif op == o.BUILD_DICT and arg and all(known.get(d - 2 * arg + 2 * i) in (int, str, bytes) for i in range(arg)):
        # Keys that are constants of a key type: check_key cannot fail, a literal is the same.
        first = d - 2 * arg
        pairs = ", ".join(f"s{first + 2 * i}: s{first + 2 * i + 1}" for i in range(arg))
        w(ind, f"s{first} = {{{pairs}}}")
    elif op == o.BUILD_DICT:
        first = d - 2 * arg
        w(ind, f"s{first} = build_dict([{_slots(first, 2 * arg)}])" if arg else f"s{d} = {{}}")
    elif op == o.BUILD_STRING:
        first = d - arg
        w(ind, f"parts = [{_slots(first, arg)}]")
        w(ind, "size = sum(map(len, parts))")  # before joining: never build an oversized str
        w(ind, f"if size > {MAX_LEN}: check_len(size, 'str')")
        w(ind, f"gas -= size // {g.BYTES_PER_GAS}")
        w(ind, over)
        w(ind, f"s{first} = ''.join(parts)")
    elif op == o.FORMAT_VALUE:
        if known.get(d - 1) is not str:  # a str formats as itself
            w(ind, f"if type({t}) is not str: {t} = str({t}) if type({t}) is int else to_text({t})")
    elif op == o.SUBSCR:
        w(ind, f"if type({u}) is dict and (type({t}) is str or type({t}) is int or type({t}) is bytes) and {t} in {u}:")
        w(ind + 1, f"{u} = {u}[{t}]")
        w(ind, "else:")
        w(ind + 1, f"{u} = subscr({u}, {t})")
    elif op == o.STORE_SUBSCR:
        w(ind, f"store_subscr({u}, {t}, s{d - 3})")
    elif op == o.DELETE_SUBSCR:
        w(ind, f"delete_subscr({u}, {t})")
    elif op == o.SLICE:
        hi = f"s{d - 1}" if arg & 2 else "None"
        lo = f"s{d - 1 - (arg >> 1 & 1)}" if arg & 1 else "None"
        c = f"s{d - 1 - (arg & 1) - (arg >> 1 & 1)}"
        w(ind, f"ex.gas = gas; {c} = slice_of(ex, {c}, {lo}, {hi}); gas = ex.gas")
    elif op == o.UNPACK:
        w(ind, f"if (type({t}) is not list and type({t}) is not tuple) or len({t}) != {arg}: unpack_error({t}, {arg})")
        if arg:  # the first item ends on top
            w(ind, f"{', '.join(f's{d - 2 + arg - i}' for i in range(arg))}, = {t}")
    elif op == o.CALL:
        callee = program.loaded[arg]
        first = d - callee.nparams
        w(ind, f"if depth + 1 >= {MAX_DEPTH}: raise VMError('call depth of at most {MAX_DEPTH} expected')")
        args = _slots(first, callee.nparams)
        w(ind, f"ex.gas = gas; s{first} = functions[{arg}](ex, depth + 1, False{', ' if args else ''}{args}); gas = ex.gas")
    elif op == o.CALL_BUILTIN:
        argc, bid = arg & 0xFF, arg >> 8
        first = d - argc
        if bid == CALL_ID:
            w(ind, f"ex.gas = gas; s{first} = cross_call(ex, depth, s{first}, s{first + 1}, s{first + 2}); gas = ex.gas")
        elif bid in _CONTEXT_READS:
            w(ind, f"gas -= {g.CONTEXT_READ}")
            w(ind, over)
            w(ind, f"s{first} = {_CONTEXT_READS[bid]}")
        elif bid == _REQUIRE:
            w(ind, f"if not s{first}: raise Revert(message(s{first + 1}, 'require'))")
            w(ind, f"s{first} = None")
        elif bid in _MIN_MAX and argc == 2:
            x, y = f"s{first}", f"s{first + 1}"
            w(ind, f"if type({x}) is int and type({y}) is int:")
            w(ind + 1, f"{x} = {x} if {x} {_MIN_MAX[bid]} {y} else {y}")
            w(ind, "else:")
            w(ind + 1, f"ex.gas = gas; {x} = builtin_{bid}(ex, [{x}, {y}]); gas = ex.gas")
        elif bid in HOST_POSITIONAL and argc == HOST_POSITIONAL[bid][1]:
            w(ind, f"ex.gas = gas; s{first} = host_{bid}(ex, {_slots(first, argc)}); gas = ex.gas")
        else:
            w(ind, f"ex.gas = gas; s{first} = builtin_{bid}(ex, [{_slots(first, argc)}]); gas = ex.gas")
    elif op == o.CALL_METHOD:
        argc, mid = arg & 0xFF, arg >> 8
        recv = f"s{d - argc - 1}"
        w(ind, f"ex.gas = gas; {recv} = call_method(ex, {mid}, {recv}, [{_slots(d - argc, argc)}]); gas = ex.gas")
    elif op == o.ISINSTANCE:
        w(ind, f"{t} = bool(ISINSTANCE_BITS.get(type({t}), 0) & {arg})")
    else:  # pragma: no cover - the verifier admits only the opcodes above
        raise AssertionError(f"no translation for opcode {op}")


def _track(known: dict[int, type], op: int, arg: int, d: int, program: Program) -> None:
    """Update ``known`` after an instruction at depth ``d``: every slot it may have written is
    forgotten; a constant's slot, and a string just built or formatted, are remembered."""
    if op == o.GAS:
        return
    lowest = d - stack_pops(op, arg, program.functions)
    # Only the slots it writes: an entry above the stack is replaced before it is read.
    for slot in range(lowest, lowest + max(stack_pushes(op, arg), 1)):
        known.pop(slot, None)
    if op == o.LOAD_CONST:
        known[d] = type(program.constants[arg])
    elif op == o.FORMAT_VALUE or op == o.BUILD_STRING:
        known[lowest] = str


_LONG_LITERAL: Final = 40  # characters of str or bytes written in the text; longer ones by index


def _literal(value: Any, index: int) -> str:
    if type(value) in (str, bytes) and len(value) > _LONG_LITERAL:
        return f"consts[{index}]"
    if value is None or type(value) in (int, bool, str, bytes):
        return repr(value)
    raise AssertionError(f"scalar constant expected, found {type(value).__name__}")  # verified before


def _dispatch(w: _Writer, ind: int, blocks: list[int], body: Callable[[int, int], None]) -> None:
    """A binary tree of comparisons on ``blk`` choosing one of ``blocks`` (sorted)."""
    if len(blocks) == 1:
        body(ind, blocks[0])
        return
    mid = len(blocks) // 2
    w(ind, f"if blk < {blocks[mid]}:")
    _dispatch(w, ind + 1, blocks[:mid], body)
    w(ind, "else:")
    _dispatch(w, ind + 1, blocks[mid:], body)


def _inlined_blocks(code: tuple[tuple[int, int], ...], leaders: list[int]) -> set[int]:
    """The blocks (their leaders' pcs) written where they are entered: those entered from one
    place only, and from a place that can write them next (the block before falling
    through into it, a jump, the untaken side of a branch). The first block, and a block
    a branch jumps to, are dispatched."""
    entries = dict.fromkeys(leaders, 0)
    dispatched = {0}
    for start in leaders:
        pc = start
        while True:
            op, arg = code[pc]
            if pc != start and op == o.GAS:
                entries[pc] += 1
                break
            if op == o.RETURN:
                break
            if op == o.JUMP:
                entries[arg] += 1
                break
            if op in (o.JUMP_IF_FALSE, o.JUMP_IF_TRUE, o.JUMP_IF_FALSE_OR_POP, o.JUMP_IF_TRUE_OR_POP, o.FOR_ITER):
                dispatched.add(arg)
                entries[arg] += 1
                entries[pc + 1] += 1
                break
            pc += 1
    return {pc for pc, count in entries.items() if count == 1 and pc not in dispatched}


def function_source(fn: LoadedFunction, program: Program) -> str:
    """The Python text of one lowered, verified function, named ``f{index}``."""
    code = fn.code
    depth = _depths(fn, program)
    leaders = [pc for pc, (op, _) in enumerate(code) if op == o.GAS and depth[pc] >= 0]
    w = _Writer()
    params = "".join(f", l{i}" for i in range(fn.nparams))
    w(0, f"def f{fn.index}(ex, depth, cross{params}):")
    for i in range(fn.nparams, fn.nlocals):
        w(1, f"l{i} = UNBOUND")
    w(1, "gas = ex.gas")
    w(1, "pc = 0")
    w(1, "try:")
    # One block and no jump (most public entry points): no dispatch loop at all.
    single = len(leaders) == 1 and not any(code[pc][0] in o.JUMPS for pc in range(len(code)) if depth[pc] >= 0)
    ind = 2 if single else 4
    if not single:
        w(2, "blk = 0")
        w(2, "while True:")

    # A block entered from one place only (the block before it falls through into it, one
    # jump leads to it) is written at that place, so reaching it costs no dispatch: chains of
    # tests (``isinstance(a, str) and ...``), loop bodies after FOR_ITER, code after a
    # ``require``. Only blocks entered from several places (and the first) are dispatched.
    inline = _inlined_blocks(code, leaders)
    dispatched = [pc for pc in leaders if pc not in inline]

    def goto(ind: int, target: int) -> bool:
        """Write a jump to ``target``; True when the target is to be written here instead."""
        if target in inline:
            return True
        w(ind, f"blk = {target}")
        w(ind, "continue")
        return False

    def block(ind: int, start: int) -> None:
        pc = start
        known: dict[int, type] = {}  # slot -> type, for slots a constant of this block filled
        # Locals stored since ``start``: a block written in place is entered from here only,
        # so what this path stored is stored there too.
        bound: set[int] = set()
        while True:
            op, arg = code[pc]
            d = depth[pc]
            if pc != start and op == o.GAS:  # falls through into the next block
                if not goto(ind, pc):
                    return
                start, known = pc, {}
                continue
            if op == o.RETURN:
                w(ind, f"pc = {pc + 1}")
                w(ind, "if cross:")
                w(ind + 1, f"gas -= weight(s{d - 1}, gas + 1)")
                w(ind + 1, "if gas < 0: raise OutOfGas('')")
                w(ind + 1, f"s{d - 1} = deep_copy(s{d - 1})")
                w(ind, "ex.gas = gas")
                w(ind, f"return s{d - 1}")
                return
            if op == o.JUMP:
                if not goto(ind, arg):
                    return
                pc = start = arg
                known = {}
                continue
            if op in (o.JUMP_IF_FALSE, o.JUMP_IF_TRUE, o.JUMP_IF_FALSE_OR_POP, o.JUMP_IF_TRUE_OR_POP):
                test = "not " if op in (o.JUMP_IF_FALSE, o.JUMP_IF_FALSE_OR_POP) else ""
                if pc + 1 not in inline:
                    w(ind, f"blk = {arg} if {test}s{d - 1} else {pc + 1}")
                    w(ind, "continue")
                    return
                w(ind, f"if {test}s{d - 1}:")
                w(ind + 1, f"blk = {arg}")
                w(ind + 1, "continue")
                pc = start = pc + 1
                known = {}
                continue
            if op == o.FOR_ITER:
                w(ind, f"pc = {pc + 1}")
                w(ind, f"s{d} = next(s{d - 1}, DONE)")
                if pc + 1 not in inline:
                    w(ind, f"blk = {arg} if s{d} is DONE else {pc + 1}")
                    w(ind, "continue")
                    return
                w(ind, f"if s{d} is DONE:")
                w(ind + 1, f"blk = {arg}")
                w(ind + 1, "continue")
                pc = start = pc + 1
                known = {}
                continue
            _emit_instruction(w, ind, pc, op, arg, d, fn, program, known, bound)
            _track(known, op, arg, d, program)
            pc += 1

    _dispatch(w, ind, dispatched, block)
    w(1, "except Failure:")
    w(2, "raise")
    w(1, "except Exception as exc:")
    w(2, f"raise failure(ex, loaded[{fn.index}], pc, gas, exc) from None")
    return "\n".join(w.lines) + "\n"


def source_of(program: Program) -> str:
    return "\n".join(function_source(fn, program) for fn in program.loaded)


def translate(program: Program, runtime: dict[str, Any]) -> tuple[Callable[..., Any], ...]:
    """The program's functions as Python callables ``f(ex, depth, cross, *params)``.

    ``runtime`` names the helpers the text calls (``interpreter.RUNTIME``); each program gets
    its own namespace holding them, its unbound-local messages and its own functions."""
    namespace = dict(runtime)
    namespace["loaded"] = program.loaded
    namespace["consts"] = program.constants
    for fn in program.loaded:
        for slot in range(fn.nparams, fn.nlocals):
            namespace[f"unbound_{fn.index}_{slot}"] = (
                f"local variable {fn.source.local_name(slot)!r} used before assignment"
            )
    exec(compile(source_of(program), f"<contract {program.code_hash.hex()[:16]}>", "exec"), namespace)
    functions = tuple(namespace[f"f{fn.index}"] for fn in program.loaded)
    namespace["functions"] = functions
    return functions
