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
The dispatch loop that ran the bytecode before is the reference interpreter of the tests
(``tests/vm/reference_interpreter.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.keys import MAX_CONTRACT_NAME, code_key
from chain.transition import CallContext  # one definition, owned by the transition
from chain.types import Event
from vm import gas as g
from vm import opcodes as o
from vm.builtins import PURE, call_method
from vm.builtins import message as builtin_message
from vm.bytecode import InvalidBytecode, LoadedFunction, Program, verify_code
from vm.errors import IntegerOverflow, OutOfGas, Revert, VMError
from vm.host import HOST, Context, Execution, StateAccess
from vm.translator import MAX_DEPTH, translate
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

PROGRAM_CACHE_SIZE: Final = 256
CONTRACT_CALLER_PREFIX: Final = b"contract:"


@dataclass(frozen=True, slots=True, init=False)
class ExecutionResult:
    success: bool
    return_value: Any  # a canonical-encodable value, or None
    gas_used: int
    events: tuple[Event, ...]
    writes: dict[bytes, bytes | None] = field(default_factory=dict)  # None = delete
    error: str = ""  # "" on success

    def __init__(
        self,
        success: bool,
        return_value: Any,
        gas_used: int,
        events: tuple[Event, ...],
        writes: dict[bytes, bytes | None] | None = None,
        error: str = "",
    ) -> None:
        # Written out: the generated __init__ of a frozen dataclass looks object.__setattr__
        # up again for every field, and every contract call has a result.
        _set(self, "success", success)
        _set(self, "return_value", return_value)
        _set(self, "gas_used", gas_used)
        _set(self, "events", events)
        _set(self, "writes", {} if writes is None else writes)
        _set(self, "error", error)


_set: Final = object.__setattr__


# --- program loading ---------------------------------------------------------------------

# Decoded, verified and translated programs by their code record's bytes. A cache hit and a
# miss do the same work for the contract (gas never depends on it); it only saves time.
_programs: dict[bytes, tuple[Program, tuple[Callable[..., Any], ...]]] = {}


def load_program(state: StateAccess, contract: str) -> Program:
    return _load(state, contract)[0]


def _load(state: StateAccess, contract: str) -> tuple[Program, tuple[Callable[..., Any], ...]]:
    """The deployed program of ``contract`` and its functions translated to Python."""
    if type(contract) is not str or not 0 < len(contract) <= MAX_CONTRACT_NAME:
        raise VMError(f"contract name of 1 to {MAX_CONTRACT_NAME} characters expected, found {contract!r}"[:200])
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
    cached = program, translate(program, RUNTIME)
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


# --- running translated functions --------------------------------------------------------


class _Failure(Exception):
    """A VMError annotated with where it happened."""

    def __init__(self, error: VMError, where: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.where = where


def _failure(ex: Execution, fn: LoadedFunction, pc: int, gas: int, exc: Exception) -> Exception:
    """What a translated function raises for ``exc``, raised at instruction ``pc`` - 1."""
    if isinstance(exc, VMError):
        ex.gas = min(gas, ex.gas)
        return _Failure(exc, _where(ex, fn, pc))
    if isinstance(exc, (RecursionError, MemoryError)):
        return _Failure(VMError("values nested too deeply"), _where(ex, fn, pc))
    if isinstance(exc, RuntimeError):
        # Python's dict iterator refuses a dict that changed size during the loop.
        return _Failure(VMError("a dict changed size while a for loop iterated it"), _where(ex, fn, pc))
    if isinstance(exc, (TypeError, ValueError, AttributeError, IndexError, KeyError, OverflowError, ZeroDivisionError)):
        # Only bytecode that did not come from the compiler (operands of types the compiler
        # never puts there) reaches this net. The message names the exception class and
        # the instruction, never Python's own wording, which may change between versions.
        op = fn.code[pc - 1][0] if pc else o.GAS
        op_name = o.OPS[op].name if op in o.OPS else "GAS"
        return _Failure(VMError(f"invalid operands for {op_name} ({type(exc).__name__})"), _where(ex, fn, pc))
    return exc


def _unpack_error(v: Any, count: int) -> None:
    n = len(v) if type(v) in (list, tuple) else type_name(v)
    raise VMError(f"list or tuple of {count} items expected to unpack, found {n}")


def _cross_call(ex: Execution, depth: int, callee: Any, fname: Any, cargs: Any) -> Any:
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
        raise VMError(f"a public or view function expected in call(), found {_short(fname)} in {callee}")
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
    "UNBOUND": _UNBOUND,
    "DONE": _DONE,
    "Failure": _Failure,
    "failure": _failure,
    "check_int": check_int,
    "check_len": check_len,
    "add_values": _add,
    "int_operands": _int_operands,
    "power": _pow,
    "weight": weight,
    "values_equal": values_equal,
    "compare": compare,
    "contains": contains,
    "type_name": type_name,
    "iterate": _iter,
    "range_iter": _range,
    "build_dict": _build_dict,
    "to_text": to_text,
    "subscr": _subscr,
    "store_subscr": _store_subscr,
    "delete_subscr": _delete_subscr,
    "slice_of": _slice,
    "unpack_error": _unpack_error,
    "cross_call": _cross_call,
    "call_method": call_method,
    "deep_copy": deep_copy,
    "ISINSTANCE_BITS": _ISINSTANCE_BITS,
    "next": next,
    **{f"builtin_{bid}": impl for bid, impl in _BUILTIN_IMPL.items()},
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
        program, functions = _load(state, contract)
        fn = program.by_name.get(function) if type(function) is str else None
        if fn is None:
            raise VMError(f"a function of {contract} expected, found no function {_short(function)}")
        if fn.source.kind == "private":
            raise VMError(f"a public or view function expected, found private function {contract}.{function}")
        args = _bind_args(fn, args, contract)
        ex.read_only = read_only or fn.source.kind == "view"
        value = functions[fn.index](ex, 0, False, *args)
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
