"""The demonstration's state, apart from the contracts' code, is pinned.

Refactoring the contracts (modules, conventions, helpers) changes their code records
(``k/<contract>``: bytecode and source hash) and nothing else: every other key and value of
the demonstration's final state stays byte for byte. A deliberate change of behaviour
updates the pin and says why in its commit.
"""

from __future__ import annotations

from chain import keys
from chain.state import MemoryBackend, State
from meterchain.demo import Demo

# Demo(households=8, days=33): root of the final state without the k/ code records.
STATE_WITHOUT_CODE = "91b02766c17831c7405e88ce939a8a2b08c922d9d972bd088e489c9cf704ee0a"


def state_without_code(state: State) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    after = b""
    while page := state.scan(b"", after, 1000):
        for key in page:
            value = state.get(key)
            if not key.startswith(keys.CODE_PREFIX) and value is not None:
                out[key] = value
        after = page[-1]
    return out


def test_demo_state_apart_from_code_is_unchanged() -> None:
    demo = Demo(8, 33, lambda line: None)
    demo.run()
    entries = state_without_code(demo.chain.state)
    assert State.at(MemoryBackend()).with_writes(entries).root.hex() == STATE_WITHOUT_CODE
