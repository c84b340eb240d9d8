"""The VM as the state transition's contract runtime (``chain.transition.ContractRuntime``).

The core never imports the VM (it is a layer above); this adapter is what the node, the
genesis builder and the local chain hand to ``apply_block`` through ``BlockEnv``.
"""

from __future__ import annotations

from typing import Any

from chain.state import StateReads
from chain.transition import CallContext
from vm.bytecode import InvalidBytecode, verify_code
from vm.interpreter import ExecutionResult, execute


class VMRuntime:
    # ``vm.execute`` itself, not a method calling it: one call less on every contract call.
    execute = staticmethod(execute)

    def view(self, state: StateReads, ctx: CallContext, contract: str, function: str, args: list[Any], gas_limit: int) -> ExecutionResult:
        """A read-only call (queries for operators, regulators and the API)."""
        return execute(state, ctx, contract, function, args, gas_limit, read_only=True)

    def check_code(self, code: bytes) -> str:
        try:
            verify_code(code)
        except InvalidBytecode as exc:
            return str(exc)
        return ""
