"""The VM as the state transition's contract runtime (``chain.transition.ContractRuntime``).

The core never imports the VM (it is a layer above); this adapter is what the node, the
genesis builder and the local chain hand to ``apply_block`` through ``BlockEnv``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chain.state import StateReads
from chain.transition import CallContext
from vm.bytecode import InvalidBytecode, verify_code
from vm.interpreter import RUNTIME, ExecutionResult, execute
from vm.translator import translate


class VMRuntime:
    # ``vm.execute`` itself, not a method calling it: one call less on every contract call.
    execute = staticmethod(execute)

    def view(self, state: StateReads, ctx: CallContext, contract: str, function: str, args: list[Any], gas_limit: int) -> ExecutionResult:
        """A read-only call (queries for operators, regulators and the API)."""
        return execute(state, ctx, contract, function, args, gas_limit, read_only=True)

    def check_code(self, code: bytes) -> str:
        """"" for code that verifies and translates, else why not: code is translated (or
        refused) when it is deployed, never first at a call."""
        return _check_code(bytes(code))


@lru_cache(maxsize=64)
def _check_code(code: bytes) -> str:
    # A function of the code alone, so the answer is cached (genesis deploys the same code
    # again and again in tests and on every node start).
    try:
        translate(verify_code(code), RUNTIME)
    except InvalidBytecode as exc:
        return str(exc)
    except MemoryError:
        raise  # the node's memory, not the code: what translation makes is bounded by the verifier
    except Exception as exc:
        return f"translatable bytecode expected ({type(exc).__name__})"
    return ""
