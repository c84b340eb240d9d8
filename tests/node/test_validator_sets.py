"""node.validator_sets: the set of each height from the genesis set and the changes the
governance contract decided, read from committed state only (the H+2 rule)."""

from __future__ import annotations

import pytest

from consensus.validators import Validator, ValidatorSet
from node.localchain import Actor, LocalChain
from node.validator_sets import ValidatorSets, changes_at

NAMES = ("anna", "ben", "cleo", "dora")


def test_sets_follow_governance_two_heights_after_the_deciding_block() -> None:
    members = [Actor.named(n) for n in NAMES]
    eve = Actor.named("eve")
    chain = LocalChain.genesis(contracts=(), validators=tuple((a.public_key, 1) for a in members))
    genesis = ValidatorSet.genesis(Validator(a.public_key, 1) for a in members)
    sets = ValidatorSets(genesis, lambda: (chain.height, chain.state))
    assert sets.at(1) is genesis and sets.at(2) == genesis.for_next_height()
    receipt = chain.call(members[0], "governance", "propose_validators", [[[eve.public_key, 1], [members[3].public_key, 0]]])
    pid = LocalChain.return_value(receipt)
    chain.call(members[1], "governance", "approve", [pid])
    assert sets.at(chain.height + 1).hash == sets.at(1).hash  # 2 of 4: not decided
    chain.call(members[2], "governance", "approve", [pid])
    decided = chain.height
    assert changes_at(chain.state, decided + 2) == {eve.public_key: 1, members[3].public_key: 0}
    before, after = sets.at(decided + 1), sets.at(decided + 2)
    assert eve.public_key not in before and members[3].public_key in before
    assert eve.public_key in after and members[3].public_key not in after
    assert after == before.for_next_height({eve.public_key: 1, members[3].public_key: 0})  # priorities carried
    with pytest.raises(LookupError, match="at most"):
        sets.at(decided + 3)
    # A fresh reader of the same committed state (a node syncing, an auditor) agrees, and an
    # old height recomputed after it was forgotten is the same set.
    again = ValidatorSets(genesis, lambda: (chain.height, chain.state))
    assert [again.at(h) for h in range(1, decided + 3)] == [sets.at(h) for h in range(1, decided + 3)]
    for height in range(1, decided + 3):
        rows = chain.view("governance", "validator_set", [height])
        assert {r["public_key"]: r["power"] for r in rows} == {v.public_key: v.power for v in sets.at(height).validators}
