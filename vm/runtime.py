"""The VM as the state transition's contract runtime (``chain.transition.ContractRuntime``).

The core never imports the VM (it is a layer above); this adapter is what the node, the
genesis builder and the local chain hand to ``apply_block`` through ``BlockEnv``.
"""

from __future__ import annotations

from typing import Any

import vm
from chain.state import State
from chain.transition import CallContext


class VMRuntime:
    # ``vm.execute`` itself, not a method calling it: one call less on every contract call.
    execute = staticmethod(vm.execute)

    def view(self, state: State, ctx: CallContext, contract: str, function: str, args: list[Any], gas_limit: int) -> vm.ExecutionResult:
        """A read-only call (queries for operators, regulators and the API)."""
        return vm.execute(state, ctx, contract, function, args, gas_limit, read_only=True)

    def check_code(self, code: bytes) -> str:
        try:
            vm.verify_code(code)
        except vm.InvalidBytecode as exc:
            return str(exc)
        return ""
