"""Issue 9, item 1: ``storage_keys`` work bounded by its gas, whatever the block wrote.

Two transactions write thousands of keys (or write and delete them), then a third loops
``storage_keys(prefix, "", 1)``. Each scan must cost O(log n) plus the keys it visits, and
every key it visits must be paid for: the pending deletes it passes over, the committed keys
a pending write hides, the call's own writes (never sorted again on each call). The work is
counted, not timed: the Python and C calls made while the transaction runs (a profiler
hook), against the gas it was charged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from chain import codec, keys
from chain.state import MemoryBackend, State, WriteBuffer
from tests.vm.conftest import ALICE, CTX
from vm import compile_source, execute
from vm import gas as g
from vm.interpreter import ExecutionResult

SCANNER = """
@public
def fill(prefix: str, n: int) -> None:
    for i in range(n):
        storage_set(prefix + str(10000 + i), 1)

@public
def drop(prefix: str, n: int) -> None:
    for i in range(n):
        storage_delete(prefix + str(10000 + i))

@public
def scan_loop(prefix: str, times: int) -> int:
    found = 0
    for i in range(times):
        found += len(storage_keys(prefix, "", 1))
    return found

@public
def fill_then_scan(prefix: str, n: int, times: int) -> int:
    fill(prefix, n)
    return scan_loop(prefix, times)
"""

KEYS = 4_000  # per earlier transaction, as in the issue
GAS = 60_000  # for the measured transaction: enough for hundreds of honest scans


def head_with_scanner(committed: dict[bytes, bytes] | None = None) -> State:
    """A committed state with the scanner deployed (and ``committed`` keys)."""
    compiled = compile_source(SCANNER, "scan")
    writes = {keys.code_key("scan"): codec.encode([compiled.code, compiled.source_hash, 1, ALICE])}
    backend = MemoryBackend()
    view = State.at(backend).with_writes({**writes, **(committed or {})})
    backend.commit(view.changes())
    return State.at(backend)


def run(block: WriteBuffer, function: str, args: list[Any], gas: int = 10**9) -> ExecutionResult:
    """One transaction of the block: executed over the block's buffer, its writes applied."""
    result = execute(block, CTX, "scan", function, args, gas)
    assert result.success, result.error
    block.apply(result.writes)
    return result


def counted(fn: Callable[[], ExecutionResult]) -> tuple[ExecutionResult, int]:
    """``fn()``'s result and the calls (Python and C) made while it ran."""
    calls = 0

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(hook)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    return result, calls


def scan_storage_keys(block: WriteBuffer, prefix: str) -> tuple[ExecutionResult, int]:
    """The measured transaction: ``storage_keys(prefix, "", 1)`` until its gas runs out."""
    return counted(lambda: execute(block, CTX, "scan", "scan_loop", [prefix, 10**6], GAS))


def scan(prefix: str) -> bytes:
    return keys.storage_prefix("scan") + prefix.encode()


@pytest.fixture(scope="module")
def honest_rate() -> float:
    """Calls per gas of the same loop over a prefix nothing else in the block touches."""
    block = WriteBuffer(head_with_scanner({scan("z/") + b"1": codec.encode(1)}))
    result, calls = scan_storage_keys(block, "z/")
    assert result.gas_used == GAS  # it ran until its gas was spent
    return calls / GAS


def test_invalid_scans_after_two_transactions_of_thousands_of_writes(honest_rate: float) -> None:
    # The shape: two transactions write 4,000 keys each, a third loops over one
    # prefix. Each scan must cost what it visits, not a sort of every key written so far.
    block = WriteBuffer(head_with_scanner())
    run(block, "fill", ["a/", KEYS])
    run(block, "fill", ["b/", KEYS])
    result, calls = scan_storage_keys(block, "a/")
    assert calls <= 3 * honest_rate * result.gas_used


def test_invalid_scans_over_thousands_of_pending_deletes_pay_for_them(honest_rate: float) -> None:
    # One transaction writes 4,000 keys, the next deletes them: a scan passes over 4,000
    # pending deletes to find nothing. Before, that was free (260 gas a scan).
    block = WriteBuffer(head_with_scanner())
    run(block, "fill", ["a/", KEYS])
    run(block, "drop", ["a/", KEYS])
    result, calls = scan_storage_keys(block, "a/")
    assert calls <= 3 * honest_rate * result.gas_used
    one = execute(block, CTX, "scan", "scan_loop", ["a/", 1], 10**7)
    assert one.success and one.return_value == 0
    assert one.gas_used >= KEYS * g.STORAGE_SCAN_PER_KEY


def test_invalid_scans_over_committed_keys_deleted_in_the_block_pay_for_them(honest_rate: float) -> None:
    committed = {scan("a/") + str(10_000 + i).encode(): codec.encode(1) for i in range(KEYS)}
    block = WriteBuffer(head_with_scanner(committed))
    run(block, "drop", ["a/", KEYS])
    result, calls = scan_storage_keys(block, "a/")
    assert calls <= 3 * honest_rate * result.gas_used


def test_invalid_scans_after_the_call_s_own_writes_never_sort_them_again(honest_rate: float) -> None:
    # The call writes 300 keys (its own pending writes), then scans: the scans must not
    # sort (or filter) every key the call wrote, each time.
    block = WriteBuffer(head_with_scanner())
    writes, writes_calls = counted(lambda: execute(block, CTX, "scan", "fill_then_scan", ["a/", 300, 0], 10**7))
    assert writes.success
    limit = writes.gas_used + GAS
    result, calls = counted(lambda: execute(block, CTX, "scan", "fill_then_scan", ["a/", 300, 10**6], limit))
    assert result.gas_used == limit
    assert calls - writes_calls <= 3 * honest_rate * GAS


def test_the_gas_of_a_scan_is_the_same_whether_the_last_block_is_committed_or_pending() -> None:
    # What a scan is charged must be the same on every node: one that has not committed the
    # previous block yet holds its writes (here 1,000 deletes) as pending writes of its
    # view. Only the block's own buffers and the logical keys fetched are counted.
    committed = {scan("a/") + str(10_000 + i).encode(): codec.encode(1) for i in range(1_001)}
    head = head_with_scanner(committed)
    previous = {scan("a/") + str(10_000 + i).encode(): None for i in range(1_000)}
    pending = head.with_writes(previous)
    backend = head.backend
    args = ["a/", 3]
    on_pending = execute(WriteBuffer(pending), CTX, "scan", "scan_loop", args, 10**7)
    backend.commit(pending.changes())
    on_committed = execute(WriteBuffer(State.at(backend)), CTX, "scan", "scan_loop", args, 10**7)
    assert on_pending.success and on_committed.success and on_pending.return_value == 3
    assert on_pending.gas_used == on_committed.gas_used
