"""Shared fixtures for the VM tests: a tiny in-memory state and a deploy-and-run helper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chain import codec, keys
from chain.state import MemoryBackend, State, WriteBuffer
from vm import CallContext, ExecutionResult, compile_source, execute

ALICE = bytes([0xA1]) * 32
TX_HASH = bytes([0x7E]) * 32


class MemoryState(WriteBuffer):
    """The chain's own in-memory store (a block's ``WriteBuffer`` over an empty
    ``MemoryBackend``), with a deploy helper; ``apply`` takes a result's writes."""

    def __init__(self) -> None:
        super().__init__(State.at(MemoryBackend()))

    def deploy(self, name: str, source: str) -> None:
        compiled = compile_source(source, name)
        self.put(keys.code_key(name), codec.encode([compiled.code, compiled.source_hash, 1, ALICE]))

    def put(self, key: bytes, value: bytes) -> None:
        self.apply({key: value})


CTX = CallContext(signer=ALICE, tx_hash=TX_HASH, block_height=42, block_time=1_700_000_000, chain_id="test")


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


Runner = Callable[..., ExecutionResult]


@pytest.fixture
def run(state: MemoryState) -> Runner:
    """``run(source, function, *args, gas=..., read_only=..., commit=True)``: deploy the
    source as contract ``c`` (once per distinct source) and call it; successful writes are
    applied to the state so that a test can chain calls."""
    deployed: dict[str, str] = {}

    def _run(source: str, function: str, *args: Any, gas: int = 1_000_000, read_only: bool = False,
             contract: str = "c", commit: bool = True) -> ExecutionResult:
        if deployed.get(contract) != source:
            state.deploy(contract, source)
            deployed[contract] = source
        result = execute(state, CTX, contract, function, list(args), gas, read_only=read_only)
        if result.success and commit:
            state.apply(result.writes)
        return result

    return _run


@pytest.fixture
def call(run: Runner) -> Callable[..., Any]:
    """Like ``run`` but returns the function's value and fails the test on an error."""

    def _call(source: str, function: str, *args: Any, **kw: Any) -> Any:
        result = run(source, function, *args, **kw)
        assert result.success, result.error
        return result.return_value

    return _call


@pytest.fixture
def fails(run: Runner) -> Callable[..., str]:
    """Run a call that must fail; return its error message."""

    def _fails(source: str, function: str, *args: Any, **kw: Any) -> str:
        result = run(source, function, *args, **kw)
        assert not result.success, f"expected a failure, got {result.return_value!r}"
        assert result.writes == {} and result.events == ()
        return result.error

    return _fails
