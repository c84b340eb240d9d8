"""What a contract can reach outside its own values: storage, events, the transaction's
context, signatures and hashing, and the gas meter they all charge.

``Execution`` is the state of one ``execute`` call shared by all its frames: gas left, the
buffer of storage writes (reads see it first, scans merge it in key order; the chain gets
it only on success) and the events. Host functions take the execution and their
arguments, check both, charge gas before the work when its size is known, and raise
``VMError`` for anything a contract can get wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.keys import MAX_CONTRACT_KEY, storage_prefix
from chain.signatures import verify_raw
from chain.state import ScanBudget, ScanBudgetExceeded, StateReads, WriteBuffer
from chain.transition import CallContext
from chain.types import Event
from vm import gas as g
from vm.errors import OutOfGas, ReadOnlyViolation, VMError
from vm.values import check_len, short, type_name, weight

MAX_STORAGE_KEYS: Final = 1_000  # storage_keys limit
MAX_STORED_VALUE: Final = 65_536  # bytes, encoded
MAX_EVENT_NAME: Final = 64
MAX_EVENT_SIZE: Final = 65_536  # bytes of encoded fields


class Execution:
    """Per-call state shared by all frames: gas, buffered writes, events."""

    __slots__ = (
        "buffer",
        "caller",
        "contract",
        "ctx",
        "events",
        "gas",
        "limit",
        "read_only",
        "state",
        "writes",
    )

    def __init__(self, state: StateReads, ctx: CallContext, limit: int, read_only: bool, contract: str = "") -> None:
        self.state = state
        self.ctx = ctx
        self.limit = limit
        self.gas = limit
        # This call's writes over the state (the block's buffer), read directly on the hot
        # paths and written through ``write``. A scan (``storage_keys``) needs them in key
        # order: ``buffer`` is the ``WriteBuffer`` over the same dict that keeps that order,
        # made by the first scan, since most calls never scan.
        self.writes: dict[bytes, bytes | None] = {}
        self.buffer: WriteBuffer | None = None
        self.events: list[Event] = []
        self.contract = contract  # the contract running now (a cross-contract call changes it)
        self.caller: bytes = ctx.signer  # its caller: the signer, or b"contract:" + a contract's name
        self.read_only = read_only

    def write(self, key: bytes, data: bytes | None) -> None:
        """Write ``data`` (None deletes) under ``key``, seen by this call's later reads and scans."""
        buffer = self.buffer
        if buffer is None:
            self.writes[key] = data
        else:
            buffer.set(key, data)  # indexed at the buffer's next scan

    def scan_buffer(self) -> WriteBuffer:
        """The writes as a ``WriteBuffer`` over the state, for scans in key order."""
        buffer = self.buffer
        if buffer is None:
            buffer = self.buffer = WriteBuffer(self.state)
            buffer.apply(self.writes)  # the keys written so far, indexed at its first scan
            self.writes = buffer.writes  # one dict from here on: the hot paths read it
        return buffer

    def charge(self, amount: int) -> None:
        self.gas -= amount
        if self.gas < 0:
            raise OutOfGas("")

    def read(self, key: bytes) -> bytes | None:
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.state.get(key)

    def storage_key(self, key: Any) -> bytes:
        if type(key) is not str:
            raise VMError(f"str storage key expected, found {type_name(key)}")
        raw = key.encode()
        if len(raw) > MAX_CONTRACT_KEY:
            raise VMError(f"storage key of at most {MAX_CONTRACT_KEY} bytes expected, found {len(raw)}")
        prefix = _prefixes.get(self.contract)
        if prefix is None:
            prefix = _contract_prefix(self.contract)
        return prefix + raw

    def check_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyViolation(f"no {what} expected in a read-only (view) execution")


# Storage namespaces by contract name: every storage call needs its contract's prefix, and a
# chain has few contracts. Bounded (cleared when full) like the program cache.
_prefixes: dict[str, bytes] = {}
_PREFIXES_MAX: Final = 256


def _contract_prefix(contract: str) -> bytes:
    prefix = storage_prefix(contract)
    if len(_prefixes) >= _PREFIXES_MAX:
        _prefixes.clear()
    _prefixes[contract] = prefix
    return prefix

def _h_storage_get(ex: Execution, a: list[Any]) -> Any:
    return storage_get(ex, a[0], a[1])


def storage_get(ex: Execution, name: Any, default: Any) -> Any:
    """``storage_get(name, default)``; translated code calls it with its arguments as they
    are (``HOST_POSITIONAL``), without a list."""
    # ``ex.storage_key`` and ``ex.read`` inlined: the hottest host call.
    if type(name) is not str:
        raise VMError(f"str storage key expected, found {type_name(name)}")
    suffix = name.encode()
    if len(suffix) > MAX_CONTRACT_KEY:
        raise VMError(f"storage key of at most {MAX_CONTRACT_KEY} bytes expected, found {len(suffix)}")
    prefix = _prefixes.get(ex.contract)
    key = (prefix if prefix is not None else _contract_prefix(ex.contract)) + suffix
    writes = ex.writes
    raw = writes[key] if key in writes else ex.state.get(key)
    ex.gas -= g.STORAGE_READ + (len(raw) * g.STORAGE_READ_PER_BYTE if raw else 0)  # ``charge``
    if ex.gas < 0:
        raise OutOfGas("")
    if raw is None:
        return default
    try:
        return codec.decode_stored(raw)
    except DecodeError as exc:
        raise VMError(f"canonical stored value expected under {short(name)}: {exc}"[:300]) from None


def _h_storage_set(ex: Execution, a: list[Any]) -> Any:
    return storage_set(ex, a[0], a[1])


def storage_set(ex: Execution, name: Any, value: Any) -> Any:
    """``storage_set(name, value)``, called by translated code without a list."""
    if ex.read_only:
        ex.check_writable("storage_set")
    # ``ex.storage_key``, ``ex.charge`` and ``ex.write`` inlined, as in ``storage_get``:
    # every stored value passes here.
    if type(name) is not str:
        raise VMError(f"str storage key expected, found {type_name(name)}")
    suffix = name.encode()
    if len(suffix) > MAX_CONTRACT_KEY:
        raise VMError(f"storage key of at most {MAX_CONTRACT_KEY} bytes expected, found {len(suffix)}")
    prefix = _prefixes.get(ex.contract)
    key = (prefix if prefix is not None else _contract_prefix(ex.contract)) + suffix
    # An int weighs 1 (``weight``'s own answer, without the call): the common stored value.
    ex.gas -= (1 if type(value) is int else weight(value, ex.gas + 1)) * g.PER_ITEM
    if ex.gas < 0:
        raise OutOfGas("")
    try:
        # An int in the codec's range packs as it is (``codec.encode``'s own first case).
        if type(value) is int and codec.INT_MIN <= value <= codec.INT_MAX:
            data = codec.pack_ready(value)
        else:
            data = codec.encode(value)
    except DecodeError as exc:
        raise VMError(f"storable value expected: {exc}"[:300]) from None
    except RecursionError:
        raise VMError(f"storable value of nesting at most {codec.MAX_DEPTH} expected") from None
    if len(data) > MAX_STORED_VALUE:
        raise VMError(f"stored value of at most {MAX_STORED_VALUE} bytes expected, found {len(data)}")
    ex.gas -= g.STORAGE_WRITE + (len(key) + len(data)) * g.STORAGE_WRITE_PER_BYTE
    if ex.gas < 0:
        raise OutOfGas("")
    if ex.buffer is None:
        ex.writes[key] = data
    else:
        ex.buffer.set(key, data)
    return None


def _h_storage_delete(ex: Execution, a: list[Any]) -> Any:
    ex.check_writable("storage_delete")
    key = ex.storage_key(a[0])
    ex.charge(g.STORAGE_DELETE)
    ex.write(key, None)
    return None


def _h_storage_has(ex: Execution, a: list[Any]) -> Any:
    key = ex.storage_key(a[0])
    ex.charge(g.STORAGE_READ)
    return ex.read(key) is not None


def _h_storage_keys(ex: Execution, a: list[Any]) -> Any:
    prefix, start_after, limit = a
    if type(prefix) is not str or type(start_after) is not str:
        raise VMError("str prefix and start_after expected in storage_keys()")
    if type(limit) is not int or not 0 <= limit <= MAX_STORAGE_KEYS:
        raise VMError(f"limit in [0, {MAX_STORAGE_KEYS}] expected in storage_keys(), found {short(limit)}")
    ex.charge(g.STORAGE_SCAN)
    ns = storage_prefix(ex.contract)
    # Every key the scan visits costs STORAGE_SCAN_PER_KEY: a key returned, a pending delete
    # passed over, a key a pending write hides (``WriteBuffer`` counts what is the same on
    # every node). The budget stops a scan the gas left cannot pay for, within a page.
    budget = ScanBudget(ex.gas // g.STORAGE_SCAN_PER_KEY)
    after = ns + start_after.encode() if start_after else b""
    try:
        keys = ex.scan_buffer().scan(ns + prefix.encode(), after, limit, budget)
    except ScanBudgetExceeded:
        raise OutOfGas("") from None
    ex.charge(budget.visited * g.STORAGE_SCAN_PER_KEY + g.size_gas(sum(len(k) for k in keys)))
    return [k[len(ns) :].decode() for k in keys]


def _h_emit(ex: Execution, a: list[Any]) -> Any:
    if ex.read_only:
        ex.check_writable("emit")
    name, fields = a
    if type(name) is not str or not 0 < len(name) <= MAX_EVENT_NAME:
        raise VMError(f"event name str of 1 to {MAX_EVENT_NAME} characters expected in emit()")
    if type(fields) is not dict:
        raise VMError(f"dict of fields expected in emit(), found {type_name(fields)}")
    ex.charge(weight(fields, ex.gas + 1) * g.PER_ITEM)
    try:
        event = Event(ex.contract, name, codec.encode(fields))  # ``Event.make``, one call less
    except DecodeError as exc:
        raise VMError(f"encodable event fields expected: {exc}"[:300]) from None
    except RecursionError:
        raise VMError(f"event fields of nesting at most {codec.MAX_DEPTH} expected") from None
    if len(event.fields) > MAX_EVENT_SIZE:
        raise VMError(f"event fields of at most {MAX_EVENT_SIZE} bytes encoded expected, found {len(event.fields)}")
    ex.charge(g.EVENT + (len(name) + len(event.fields)) * g.EVENT_PER_BYTE)
    ex.events.append(event)
    return None


def _h_caller(ex: Execution, a: list[Any]) -> Any:
    ex.charge(g.CONTEXT_READ)
    return ex.caller


def _h_tx_signer(ex: Execution, a: list[Any]) -> Any:
    ex.charge(g.CONTEXT_READ)
    return ex.ctx.signer


def _h_tx_hash(ex: Execution, a: list[Any]) -> Any:
    ex.charge(g.CONTEXT_READ)
    return ex.ctx.tx_hash


def _h_block_height(ex: Execution, a: list[Any]) -> Any:
    ex.charge(g.CONTEXT_READ)
    return ex.ctx.block_height


def _h_block_time(ex: Execution, a: list[Any]) -> Any:
    ex.charge(g.CONTEXT_READ)
    return ex.ctx.block_time


def _bytes_arg(value: Any, fn: str) -> bytes:
    if type(value) is not bytes:
        raise VMError(f"bytes expected in {fn}(), found {type_name(value)}")
    return bytes(value)


def _h_ed25519_verify(ex: Execution, a: list[Any]) -> Any:
    pk = _bytes_arg(a[0], "ed25519_verify")
    msg = _bytes_arg(a[1], "ed25519_verify")
    sig = _bytes_arg(a[2], "ed25519_verify")
    ex.charge(g.ED25519_VERIFY + g.size_gas(len(msg)))
    return verify_raw(pk, msg, sig)


def _h_canonical_bytes(ex: Execution, a: list[Any]) -> Any:
    ex.charge(weight(a[0], ex.gas + 1) * g.PER_ITEM)
    try:
        data = codec.encode(a[0])
    except DecodeError as exc:
        raise VMError(f"encodable value expected in canonical_bytes(): {exc}"[:300]) from None
    except RecursionError:
        raise VMError(f"value of nesting at most {codec.MAX_DEPTH} expected") from None
    ex.charge(g.CANONICAL_BYTES + g.size_gas(len(data)))
    check_len(len(data), "bytes")
    return data


def _h_sha256(ex: Execution, a: list[Any]) -> Any:
    data = _bytes_arg(a[0], "sha256")
    ex.charge(g.SHA256 + g.size_gas(len(data)))
    return hashlib.sha256(data).digest()


# The host functions translated code calls with their arguments as they are (by id: the
# function and its arity), one list less per call than ``HOST``'s form.
HOST_POSITIONAL: Final[dict[int, tuple[Callable[..., Any], int]]] = {
    32: (storage_get, 2),
    33: (storage_set, 2),
}

HOST: Final[dict[int, Callable[[Execution, list[Any]], Any]]] = {
    32: _h_storage_get,
    33: _h_storage_set,
    34: _h_storage_delete,
    35: _h_storage_has,
    36: _h_storage_keys,
    37: _h_emit,
    38: _h_caller,
    39: _h_tx_signer,
    40: _h_tx_hash,
    41: _h_block_height,
    42: _h_block_time,
    44: _h_ed25519_verify,
    45: _h_canonical_bytes,
    46: _h_sha256,
}
