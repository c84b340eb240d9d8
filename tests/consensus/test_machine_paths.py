"""Fast paths of consensus.machine against their plain definitions."""

from __future__ import annotations

from dataclasses import fields, replace

from hypothesis import given
from hypothesis import strategies as st

from consensus.machine import Step, _evolve
from tests.consensus.actors import block
from tests.consensus.harness import Machine

CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "round": st.integers(0, 50),
        "step": st.sampled_from(list(Step)),
        "locked_value": st.sampled_from([None, block("v")]),
        "locked_round": st.integers(-1, 50),
        "now": st.integers(0, 10**12),
        "fired": st.frozensets(st.tuples(st.sampled_from(["L34", "L36", "L47"]), st.integers(0, 5))),
    },
)


@given(CHANGES)
def test_evolve_equals_dataclasses_replace(changes):
    state = Machine("alice").state
    evolved, replaced = _evolve(state, **changes), replace(state, **changes)
    assert evolved == replaced
    assert all(getattr(evolved, f.name) is getattr(replaced, f.name) for f in fields(replaced))
