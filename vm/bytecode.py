"""The bytecode container, its verifier and the loader that prepares it for the interpreter.

A contract's bytecode is one canonical value (``chain.codec``)::

    ["meterchain-vm", 1, constants, functions]

``constants`` are scalars (int, bool, str, bytes, None); an int outside the codec's range is
written as a one-element list holding its signed big-endian bytes. Each function is
``[name, kind, params, defaults, locals, code, lines]``: ``kind`` is ``public``, ``view``
or ``private``; ``defaults`` are constant indexes for the last parameters; ``locals`` names
the local slots after the parameters (for error messages); ``code`` is
3-byte instructions (opcode, 16-bit little-endian argument); ``lines`` is a flat list of
``(instruction index, source line)`` pairs where the line changes.

``verify_code`` checks everything the interpreter relies on, so that bytecode reaching a
node by any path either runs safely or is refused with ``InvalidBytecode``: a known
opcode, an argument in range for its kind, jump targets inside the function, a stack depth
that is the same on every path into an instruction and never negative, and no falling off
the end of a function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain, Hash32, hash_domain
from vm import gas as g
from vm import opcodes as o
from vm.builtins import BUILTIN_NAMES, BUILTINS, METHOD_NAMES, METHODS
from vm.values import INT_LIMIT, INT_MIN, short

MAGIC: Final = "meterchain-vm"
VERSION: Final = 1
MAX_CODE_SIZE: Final = 262_144
MAX_STACK: Final = 1_024
MAX_PARAMS: Final = 64
MAX_LOCALS: Final = 65_535
# Stack items a function's instructions pop and push, on average per instruction. The
# translation (vm.translator) writes text for every item an instruction names, so this
# bounds it linearly in the bytecode; the compiler's output names fewer than 2 (every item
# a BUILD pops or an UNPACK pushes is pushed or popped by an instruction of its own), while
# alternating UNPACK 1000 / BUILD_TUPLE 1000 would name 1000 per instruction.
MAX_ITEMS_PER_INSTRUCTION: Final = 4
KINDS: Final = ("public", "view", "private")


class InvalidBytecode(Exception):
    """Bytecode that is not a well-formed, verifiable program of this VM version."""


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    name: str
    kind: str  # 'public' | 'view' | 'private'
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FunctionCode:
    name: str
    kind: str
    params: tuple[str, ...]
    defaults: tuple[int, ...]  # constant indexes of the last len(defaults) parameters
    local_names: tuple[str, ...]  # the local slots after the parameters
    code: bytes
    lines: tuple[int, ...]  # flat (instruction index, line) pairs

    @property
    def info(self) -> FunctionInfo:
        return FunctionInfo(self.name, self.kind, self.params)

    @property
    def nlocals(self) -> int:
        return len(self.params) + len(self.local_names)

    def local_name(self, slot: int) -> str:
        names = self.params + self.local_names
        return names[slot] if 0 <= slot < len(names) else f"#{slot}"

    def instructions(self) -> list[tuple[int, int]]:
        c = self.code
        return [(c[i], c[i + 1] | (c[i + 2] << 8)) for i in range(0, len(c), 3)]

    def line_table(self) -> list[int]:
        """The source line of every instruction (the last table entry at or before it)."""
        n = len(self.code) // 3
        out = [0] * n
        lines = self.lines
        line = 0
        j = 0
        for i in range(n):
            while j < len(lines) and lines[j] <= i:
                line = lines[j + 1]
                j += 2
            out[i] = line
        return out


@dataclass(frozen=True, slots=True)
class LoadedFunction:
    """A verified function lowered for the interpreter: ``(op, arg)`` tuples with a GAS
    instruction charging each basic block's static cost at its start, and the source line
    of every lowered instruction."""

    index: int
    source: FunctionCode
    code: tuple[tuple[int, int], ...]
    lines: tuple[int, ...]
    defaults: tuple[Any, ...]
    nparams: int
    nlocals: int


@dataclass(frozen=True, slots=True)
class Program:
    constants: tuple[Any, ...]
    functions: tuple[FunctionCode, ...]
    loaded: tuple[LoadedFunction, ...]
    by_name: dict[str, LoadedFunction]
    code_hash: Hash32


def encode_program(constants: list[Any], functions: list[FunctionCode]) -> bytes:
    consts: list[Any] = []
    for c in constants:
        if type(c) is int and not codec.INT_MIN <= c <= codec.INT_MAX:
            consts.append([c.to_bytes((c.bit_length() + 8) // 8, "big", signed=True)])
        else:
            consts.append(c)
    funcs = [
        [f.name, f.kind, list(f.params), list(f.defaults), list(f.local_names), f.code, list(f.lines)]
        for f in functions
    ]
    return codec.encode([MAGIC, VERSION, consts, funcs])


# --- verification ----------------------------------------------------------------------


def _fail(message: str) -> InvalidBytecode:
    return InvalidBytecode(message)


def _uint(value: Any, what: str, limit: int) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise _fail(f"{what}: int in [0, {limit}] expected, found {short(value)}")
    return int(value)


def _decode_constant(value: Any, i: int) -> Any:
    if value is None or type(value) in (int, bool, str, bytes):
        return value
    if type(value) is list and len(value) == 1 and type(value[0]) is bytes and 0 < len(value[0]) <= 33:
        n = int.from_bytes(value[0], "big", signed=True)
        if codec.INT_MIN <= n <= codec.INT_MAX or not INT_MIN <= n < INT_LIMIT:
            raise _fail(f"constant {i}: a big int outside the codec range but inside the VM's expected")
        return n
    raise _fail(f"constant {i}: int, bool, str, bytes or None expected, found {type(value).__name__}")


def _decode_function(value: Any, i: int, nconsts: int) -> FunctionCode:
    if type(value) is not list or len(value) != 7:
        raise _fail(f"function {i}: array of 7 fields expected")
    name, kind, params, defaults, local_names, code, lines = value
    if type(name) is not str or not name.isidentifier() or name.startswith("__"):
        raise _fail(f"function {i}: identifier name expected, found {short(name)}")
    if kind not in KINDS:
        raise _fail(f"function {name}: kind public, view or private expected, found {short(kind)}")
    if type(params) is not list or len(params) > MAX_PARAMS:
        raise _fail(f"function {name}: list of at most {MAX_PARAMS} parameter names expected")
    if any(type(p) is not str or not p.isidentifier() for p in params) or len(set(params)) != len(params):
        raise _fail(f"function {name}: unique identifier parameter names expected")
    if type(defaults) is not list or len(defaults) > len(params):
        raise _fail(f"function {name}: at most one default per parameter expected")
    for d in defaults:
        _uint(d, f"function {name}: default constant index", nconsts - 1)
    if type(local_names) is not list or len(params) + len(local_names) > MAX_LOCALS:
        raise _fail(f"function {name}: list of at most {MAX_LOCALS} local names expected")
    if any(type(n) is not str or not 0 < len(n) <= 64 for n in local_names):
        raise _fail(f"function {name}: local names of 1 to 64 characters expected")
    if type(code) is not bytes or not code or len(code) % 3:
        raise _fail(f"function {name}: code of whole 3-byte instructions expected")
    if len(code) // 3 > 65_535:
        raise _fail(f"function {name}: at most 65535 instructions expected")
    if type(lines) is not list or len(lines) % 2:
        raise _fail(f"function {name}: line table of (index, line) pairs expected")
    for x in lines:
        _uint(x, f"function {name}: line table entry", 2**32)
    return FunctionCode(name, kind, tuple(params), tuple(defaults), tuple(local_names), code, tuple(lines))


def stack_pops(op: int, arg: int, functions: tuple[FunctionCode, ...]) -> int:
    info = o.OPS[op]
    if op == o.CALL:
        return len(functions[arg].params)
    if op == o.CALL_BUILTIN:
        return arg & 0xFF
    if op == o.CALL_METHOD:
        return (arg & 0xFF) + 1
    if (info.arg is o.Arg.COUNT and op != o.UNPACK) or op == o.SLICE:
        return o.count_arg(op, arg)
    return info.pops


def stack_pushes(op: int, arg: int) -> int:
    if op == o.UNPACK:
        return arg
    return o.OPS[op].pushes


def _check_arg(fn: FunctionCode, pc: int, op: int, arg: int, n: int, nconsts: int, nfuncs: int) -> None:
    kind = o.OPS[op].arg
    problem = ""
    if kind is o.Arg.NONE and arg != 0:
        problem = f"argument 0 expected, found {arg}"
    elif kind is o.Arg.CONST and arg >= nconsts:
        problem = f"constant index below {nconsts} expected, found {arg}"
    elif kind is o.Arg.LOCAL and arg >= fn.nlocals:
        problem = f"local index below {fn.nlocals} expected, found {arg}"
    elif kind is o.Arg.JUMP and arg >= n:
        problem = f"jump target below {n} expected, found {arg}"
    elif kind is o.Arg.FUNC and arg >= nfuncs:
        problem = f"function index below {nfuncs} expected, found {arg}"
    elif kind is o.Arg.FLAGS and arg > 3:
        problem = f"slice flags 0..3 expected, found {arg}"
    elif kind is o.Arg.TYPES and not 0 < arg < 256:
        problem = f"type mask 1..255 expected, found {arg}"
    elif op == o.RANGE_ITER and not 1 <= arg <= 3:
        problem = f"1 to 3 range arguments expected, found {arg}"
    elif kind is o.Arg.BUILTIN:
        bid, argc = arg >> 8, arg & 0xFF
        if bid not in BUILTIN_NAMES:
            problem = f"known builtin id expected, found {bid}"
        else:
            sig = BUILTINS[BUILTIN_NAMES[bid]]
            if (sig.variadic and argc < 1) or (not sig.variadic and argc != len(sig.params)):
                problem = f"{sig.name} with its arity expected, found {argc} arguments"
    elif kind is o.Arg.METHOD:
        mid, argc = arg >> 8, arg & 0xFF
        if mid not in METHOD_NAMES:
            problem = f"known method id expected, found {mid}"
        else:
            _, lo, hi = METHODS[METHOD_NAMES[mid]]
            if not lo <= argc <= hi:
                problem = f"{lo} to {hi} arguments expected, found {argc}"
    if problem:
        raise _fail(f"function {fn.name} instruction {pc} ({o.OPS[op].name}): {problem}")


def _verify_function(fn: FunctionCode, nconsts: int, functions: tuple[FunctionCode, ...]) -> None:
    instrs = fn.instructions()
    n = len(instrs)
    for pc, (op, arg) in enumerate(instrs):
        if op not in o.OPS:
            raise _fail(f"function {fn.name} instruction {pc}: known opcode expected, found {op}")
        _check_arg(fn, pc, op, arg, n, nconsts, len(functions))
    items = sum(stack_pops(op, arg, functions) + stack_pushes(op, arg) for op, arg in instrs)
    if items > MAX_ITEMS_PER_INSTRUCTION * n:
        raise _fail(
            f"function {fn.name}: at most {MAX_ITEMS_PER_INSTRUCTION} stack items per instruction "
            f"expected on average, found {items} in {n} instructions"
        )
    # STACK: one depth per instruction on every path; a worklist over the control flow.
    depth: list[int] = [-1] * n
    depth[0] = 0
    work = [0]

    def reach(target: int, d: int, src: int) -> None:
        if target >= n:
            raise _fail(f"function {fn.name}: instruction {src} falls off the end of the code")
        if d > MAX_STACK:
            raise _fail(f"function {fn.name}: stack depth at most {MAX_STACK} expected")
        if depth[target] == -1:
            depth[target] = d
            work.append(target)
        elif depth[target] != d:
            raise _fail(
                f"function {fn.name}: stack depth {depth[target]} expected at instruction "
                f"{target}, found {d} from instruction {src}"
            )

    while work:
        pc = work.pop()
        op, arg = instrs[pc]
        d = depth[pc]
        pops = stack_pops(op, arg, functions)
        if d < pops:
            raise _fail(f"function {fn.name} instruction {pc}: {pops} stack items expected, found {d}")
        if op == o.RETURN:
            continue
        if op == o.JUMP:
            reach(arg, d, pc)
        elif op in (o.JUMP_IF_FALSE, o.JUMP_IF_TRUE):
            reach(arg, d - 1, pc)
            reach(pc + 1, d - 1, pc)
        elif op in (o.JUMP_IF_FALSE_OR_POP, o.JUMP_IF_TRUE_OR_POP):
            reach(arg, d, pc)
            reach(pc + 1, d - 1, pc)
        elif op == o.FOR_ITER:
            reach(arg, d - 1, pc)
            reach(pc + 1, d + 1, pc)
        else:
            reach(pc + 1, d - pops + stack_pushes(op, arg), pc)


def _lower(index: int, fn: FunctionCode, constants: tuple[Any, ...]) -> LoadedFunction:
    """Insert a GAS instruction at the start of every basic block, charging the static cost
    of the whole block once instead of counting instruction by instruction."""
    instrs = fn.instructions()
    line_of = fn.line_table()
    n = len(instrs)
    leaders = {0}
    for pc, (op, arg) in enumerate(instrs):
        if op in o.JUMPS:
            leaders.add(arg)
        if (op in o.JUMPS or op == o.RETURN) and pc + 1 < n:
            leaders.add(pc + 1)
    new_index = [0] * n
    out: list[tuple[int, int]] = []
    lines: list[int] = []
    cost = 0
    gas_at = -1
    for pc, (op, arg) in enumerate(instrs):
        if pc in leaders:
            if gas_at >= 0:
                out[gas_at] = (o.GAS, cost)
            gas_at = len(out)
            cost = 0
            out.append((o.GAS, 0))
            lines.append(line_of[pc])
        new_index[pc] = gas_at if pc in leaders else len(out)
        cost += g.INSTRUCTION + o.OPS[op].static_gas
        if op in (o.BUILD_LIST, o.BUILD_TUPLE, o.BUILD_DICT, o.BUILD_STRING, o.UNPACK):
            cost += arg * g.PER_ITEM
        out.append((op, arg))
        lines.append(line_of[pc])
    out[gas_at] = (o.GAS, cost)
    code = tuple((op, new_index[arg]) if op in o.JUMPS else (op, arg) for op, arg in out)
    defaults = tuple(constants[i] for i in fn.defaults)
    return LoadedFunction(index, fn, code, tuple(lines), defaults, len(fn.params), fn.nlocals)


def verify_code(code: bytes) -> Program:
    """Decode and verify bytecode; raise ``InvalidBytecode`` for anything malformed."""
    if type(code) is not bytes:
        raise _fail(f"bytes expected, found {type(code).__name__}")
    if len(code) > MAX_CODE_SIZE:
        raise _fail(f"at most {MAX_CODE_SIZE} bytes of code expected, found {len(code)}")
    try:
        value = codec.decode(code, max_size=MAX_CODE_SIZE)
    except DecodeError as exc:
        raise _fail(f"canonical container expected: {exc}") from None
    if type(value) is not list or len(value) != 4:
        raise _fail("container [magic, version, constants, functions] expected")
    magic, version, raw_consts, raw_funcs = value
    if magic != MAGIC:
        raise _fail(f"magic {MAGIC!r} expected, found {short(magic)}")
    if version != VERSION:
        raise _fail(f"bytecode version {VERSION} expected, found {short(version)}")
    if type(raw_consts) is not list or type(raw_funcs) is not list or not raw_funcs:
        raise _fail("a list of constants and a non-empty list of functions expected")
    constants = tuple(_decode_constant(c, i) for i, c in enumerate(raw_consts))
    functions = tuple(_decode_function(f, i, len(constants)) for i, f in enumerate(raw_funcs))
    names = [f.name for f in functions]
    if len(set(names)) != len(names):
        raise _fail("unique function names expected")
    for fn in functions:
        _verify_function(fn, len(constants), functions)
    loaded = tuple(_lower(i, fn, constants) for i, fn in enumerate(functions))
    return Program(
        constants,
        functions,
        loaded,
        {f.source.name: f for f in loaded},
        hash_domain(Domain.CODE, code),
    )


def disassemble(program: Program) -> str:
    """Human-readable listing of a verified program."""
    out: list[str] = []
    for fn in program.functions:
        out.append(f"{fn.kind} {fn.name}({', '.join(fn.params)})  locals={fn.nlocals}")
        line_of = fn.line_table()
        for pc, (op, arg) in enumerate(fn.instructions()):
            info = o.OPS[op]
            text = ""
            if info.arg is o.Arg.CONST:
                text = repr(program.constants[arg])
            elif info.arg is o.Arg.FUNC:
                text = program.functions[arg].name
            elif info.arg is o.Arg.BUILTIN:
                text = f"{BUILTIN_NAMES[arg >> 8]}/{arg & 0xFF}"
            elif info.arg is o.Arg.METHOD:
                text = f".{METHOD_NAMES[arg >> 8]}/{arg & 0xFF}"
            elif info.arg is not o.Arg.NONE:
                text = str(arg)
            out.append(f"  {line_of[pc]:>5} {pc:>5} {info.name:<22}{text}")
    return "\n".join(out)
