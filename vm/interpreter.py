"""Run a contract function: program loading and translation, argument binding, calls, errors.

``execute`` is the only entry point the chain uses. It never raises for anything a
transaction can cause: unknown contract or function, bad arguments, a revert, a runtime
error or running out of gas all give a failed ``ExecutionResult`` whose error says what
was expected and where, with no writes and no events. Storage writes are buffered in the
execution (``vm.host``) and handed back on success only; the chain applies them.

Each verified program's functions run as the Python functions ``vm.translator`` makes of
them, once per program (cached with it); this module holds what that code calls at run time
(``RUNTIME``: the slow paths of instructions, cross-contract calls, the failure net). Calls
are Python calls, bounded by the VM's depth limit of 64 frames, far below Python's own.
What each instruction means is defined in ``vm.instructions``; ``vm.reference`` runs those
definitions in a plain loop, the oracle the translation is tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from chain import codec
from chain.errors import DecodeError
from chain.keys import MAX_CONTRACT_NAME, code_key
from chain.merkle import StateError
from chain.state import StateReads
from chain.transition import CallContext  # one definition, owned by the transition
from chain.types import MAX_RETURN_VALUE_SIZE, Event
from vm import gas as g
from vm import opcodes as o
from vm.builtins import call_method
from vm.builtins import message as builtin_message
from vm.bytecode import InvalidBytecode, LoadedFunction, Program, verify_code
from vm.errors import OutOfGas, Revert, VMError
from vm.frame import DONE, UNBOUND
from vm.host import HOST_POSITIONAL, Execution
from vm.instructions.arithmetic import add_values, int_operands, power
from vm.instructions.calls import BUILTIN_IMPL, MAX_DEPTH
from vm.instructions.comparison import ISINSTANCE_BITS
from vm.instructions.containers import (
    build_dict,
    delete_subscr,
    slice_of,
    store_subscr,
    subscr,
    unpack_error,
)
from vm.instructions.control_flow import iterate, range_iter
from vm.translator import translate
from vm.values import (
    INT_LIMIT,
    INT_MIN,
    MAX_LEN,
    check_int,
    check_len,
    check_value,
    compare,
    contains,
    deep_copy,
    short,
    to_text,
    type_name,
    values_equal,
    weight,
)

__all__ = ["CallContext", "ExecutionResult", "VMError", "execute"]

PROGRAM_CACHE_SIZE: Final = 256
CONTRACT_CALLER_PREFIX: Final = b"contract:"
ENCODED_NONE: Final = codec.encode(None)


class ExecutionResult(NamedTuple):
    """What one ``execute`` gives back: immutable like the chain's records, but a
    ``NamedTuple`` rather than a frozen dataclass: made once per contract call, it is built
    by ``tuple.__new__`` in C (about 1k instructions) where a frozen dataclass's ``__init__``
    sets each of its seven fields through a descriptor call (about 6.5k)."""

    success: bool
    return_value: Any  # a canonical-encodable value, or None
    gas_used: int
    events: tuple[Event, ...]
    writes: dict[bytes, bytes | None]  # None = delete; handed over, never shared
    error: str = ""  # "" on success
    return_encoding: bytes = ENCODED_NONE  # the canonical encoding of ``return_value``


_new_result: Final = tuple.__new__


# --- program loading ---------------------------------------------------------------------

# Decoded, verified and translated programs by their code record's bytes. A cache hit and a
# miss do the same work for the contract (gas never depends on it); it only saves time.
_programs: dict[bytes, tuple[Program, tuple[Callable[..., Any], ...]]] = {}


def _translate(program: Program) -> tuple[Callable[..., Any], ...]:
    return translate(program, RUNTIME)


# How a verified program becomes callable functions: translated to Python, or, within
# ``vm.reference.reference_loop()``, run by the reference interpreter.
make_functions: Callable[[Program], tuple[Callable[..., Any], ...]] = _translate


def clear_program_cache() -> None:
    _programs.clear()


def _load(state: StateReads, contract: str) -> tuple[Program, tuple[Callable[..., Any], ...]]:
    """The deployed program of ``contract`` and its functions translated to Python."""
    if type(contract) is not str or not 0 < len(contract) <= MAX_CONTRACT_NAME:
        raise VMError(f"contract name of 1 to {MAX_CONTRACT_NAME} characters expected, found {short(contract)}")
    record = state.get(code_key(contract))
    if record is None:
        raise VMError(f"a deployed contract expected, found no contract named {contract!r}")
    record = bytes(record)
    cached = _programs.get(record)
    if cached is not None:
        return cached
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
    try:
        functions = make_functions(program)
    except MemoryError:
        raise  # the node's memory, not the code: what translation makes is bounded by the verifier
    except Exception as exc:  # deploys translate first (VMRuntime.check_code): not reached from them
        raise VMError(f"contract {contract!r}: translatable bytecode expected ({type(exc).__name__})") from None
    cached = program, functions
    _programs[record] = cached
    return cached


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


# --- running translated functions --------------------------------------------------------


class Failure(Exception):
    """A VMError annotated with where it happened."""

    def __init__(self, error: VMError, where: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.where = where


def failure(ex: Execution, fn: LoadedFunction, pc: int, gas: int, exc: Exception) -> Exception:
    """What a translated function raises for ``exc``, raised at instruction ``pc`` - 1."""
    if isinstance(exc, VMError):
        ex.gas = min(gas, ex.gas)
        return Failure(exc, _where(ex, fn, pc))
    if isinstance(exc, (MemoryError, StateError)):
        # Not the contract's doing: the node is out of memory or its storage failed. Made a
        # receipt, it would differ between nodes; it stops this node instead. (Allocations a
        # contract can cause are bounded by gas and size limits before they are made.)
        return exc
    if isinstance(exc, RecursionError):
        return Failure(VMError("values nested too deeply"), _where(ex, fn, pc))
    if isinstance(exc, RuntimeError):
        # Python's dict iterator refuses a dict that changed size during the loop.
        return Failure(VMError("a dict changed size while a for loop iterated it"), _where(ex, fn, pc))
    # Only bytecode that did not come from the compiler (operands of types the compiler never
    # puts there), or a host error, reaches this net. The message names the exception class
    # and the instruction, never Python's own wording, which may change between versions.
    op = fn.code[pc - 1][0] if pc else o.GAS
    op_name = o.OPS[op].name if op in o.OPS else "GAS"
    return Failure(VMError(f"invalid operands for {op_name} ({type(exc).__name__})"), _where(ex, fn, pc))


def cross_call(ex: Execution, depth: int, callee: Any, fname: Any, cargs: Any) -> Any:
    """``call(contract, function, args)``: the callee runs with the calling contract as its
    caller, read-only if it is a view, and its return value is weighed and copied."""
    if depth + 1 >= MAX_DEPTH:
        raise VMError(f"call depth of at most {MAX_DEPTH} expected")
    ex.charge(g.CROSS_CALL)
    loaded = _load(ex.state, callee) if type(callee) is str else None
    if loaded is None:
        raise VMError(f"str contract name expected in call(), found {type_name(callee)}")
    cprog, functions = loaded
    cfn = cprog.by_name.get(fname) if type(fname) is str else None
    if cfn is None or cfn.source.kind == "private":
        raise VMError(f"a public or view function expected in call(), found {short(fname)} in {callee}")
    ex.charge(weight(cargs, ex.gas + 1))
    bound = _bind_args(cfn, cargs, callee)
    saved = ex.contract, ex.caller, ex.read_only
    ex.caller = CONTRACT_CALLER_PREFIX + ex.contract.encode()
    ex.contract = callee
    ex.read_only = ex.read_only or cfn.source.kind == "view"
    value = functions[cfn.index](ex, depth + 1, True, *bound)
    ex.contract, ex.caller, ex.read_only = saved
    return value


# The names translated functions call (vm.translator generates the calls).
RUNTIME: Final[dict[str, Any]] = {
    "OutOfGas": OutOfGas,
    "VMError": VMError,
    "Revert": Revert,
    "message": builtin_message,
    "UNBOUND": UNBOUND,
    "DONE": DONE,
    "Failure": Failure,
    "failure": failure,
    "check_int": check_int,
    "check_len": check_len,
    "add_values": add_values,
    "int_operands": int_operands,
    "power": power,
    "weight": weight,
    "values_equal": values_equal,
    "compare": compare,
    "contains": contains,
    "type_name": type_name,
    "iterate": iterate,
    "range_iter": range_iter,
    "build_dict": build_dict,
    "to_text": to_text,
    "subscr": subscr,
    "store_subscr": store_subscr,
    "delete_subscr": delete_subscr,
    "slice_of": slice_of,
    "unpack_error": unpack_error,
    "cross_call": cross_call,
    "call_method": call_method,
    "deep_copy": deep_copy,
    "ISINSTANCE_BITS": ISINSTANCE_BITS,
    "next": next,
    **{f"builtin_{bid}": impl for bid, impl in BUILTIN_IMPL.items()},
    **{f"host_{bid}": impl for bid, (impl, _) in HOST_POSITIONAL.items()},
}


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


def charge_return(ex: Execution, value: Any, contract: str, function: str) -> bytes:
    """GAS for what the called function returns, and its encoding: the walk over it (before
    encoding it), then RETURN_PER_BYTE per encoded byte, which the receipt holds (priced
    like an event's fields). At most MAX_RETURN_VALUE_SIZE bytes, as a receipt holds."""
    t = type(value)
    if (t is int and codec.INT_MIN <= value <= codec.INT_MAX) or t is bool or value is None:
        # A scalar (the common return) weighs 1, which the instruction that made it paid,
        # and packs as it is: at most 9 bytes.
        encoded = codec.pack_ready(value)
    else:
        ex.charge(weight(value, ex.gas + 1) - 1)
        if not _returnable(value, 0):
            raise VMError(
                f"a returnable value (ints in [{codec.INT_MIN}, {codec.INT_MAX}], nesting at most "
                f"{codec.MAX_DEPTH}) expected from {contract}.{function}, found {type_name(value)}"
            )
        encoded = codec.encode(value)
        if len(encoded) > MAX_RETURN_VALUE_SIZE:
            # The receipt's limit (``chain.transition.receipt_overflow``), refused here first.
            raise VMError(f"a return value of at most {MAX_RETURN_VALUE_SIZE} bytes expected, found {len(encoded)}")
    ex.charge(len(encoded) * g.RETURN_PER_BYTE)
    return encoded


# What ``charge_return`` can charge for an int at most (9 encoded bytes): with this much gas
# left, returning an int cannot run out of gas.
_MAX_INT_RETURN_GAS: Final = 9 * g.RETURN_PER_BYTE


def _where(ex: Execution, fn: LoadedFunction, pc: int) -> str:
    i = max(pc - 1, 0)
    return f"{ex.contract}.{fn.source.name} line {fn.lines[i]}"


def execute(
    state: StateReads,
    ctx: CallContext,
    contract: str,
    function: str,
    args: list[Any],
    gas_limit: int,
    *,
    read_only: bool = False,
) -> ExecutionResult:
    """Run ``contract.function(*args)`` with at most ``gas_limit`` gas."""
    if type(gas_limit) is not int or gas_limit < 0:
        return ExecutionResult(False, None, 0, (), {}, f"non-negative int gas limit expected, found {short(gas_limit)}")
    ex = Execution(state, ctx, gas_limit, read_only, contract)
    try:
        program, functions = _load(state, contract)
        fn = program.by_name.get(function) if type(function) is str else None
        if fn is None:
            raise VMError(f"a function of {contract} expected, found no function {short(function)}")
        if fn.source.kind == "private":
            raise VMError(f"a public or view function expected, found private function {contract}.{function}")
        args = _bind_args(fn, args, contract)
        ex.read_only = read_only or fn.source.kind == "view"
        value = functions[fn.index](ex, 0, False, *args)
        if type(value) is int and codec.INT_MIN <= value <= codec.INT_MAX and ex.gas >= _MAX_INT_RETURN_GAS:
            # ``charge_return``'s first case without the call: an int (the common return)
            # weighs 1, which the instruction that made it paid, and packs as it is.
            encoded = codec.pack_ready(value)
            ex.gas -= len(encoded) * g.RETURN_PER_BYTE
        else:
            try:
                encoded = charge_return(ex, value, contract, function)  # names, not a text made per call
            except OutOfGas as exc:
                raise Failure(exc, f"{contract}.{function} return") from None
    except Failure as f:
        return _failed(ex, f.error, f.where)
    except VMError as exc:
        return _failed(ex, exc, "")
    # ``ex`` ends here, so its writes are handed over as they are, not copied. The tuple is
    # made by ``tuple.__new__`` itself, the NamedTuple's own ``__new__`` without its Python
    # frame: every contract call ends here.
    return _new_result(ExecutionResult, (True, value, gas_limit - ex.gas, tuple(ex.events), ex.writes, "", encoded))


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
