"""Named-actor scenarios for the governance contract: proposals, approvals, the H+2 rule and
evidence, each with a ``test_invalid_*`` twin for the way it must fail.

Four validators of power 10 (anna, ben, cleo, dora: 40 in all, so three approvals decide
and two do not) on a local chain whose genesis names them, which deploys the governance
contract; ``eve`` is nobody's validator.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import vm
from chain import keys
from chain.errors import InvalidBlock
from chain.hashing import EMPTY_HASH, Domain, Hash32, hash_domain
from chain.parameters import MAX_BLOCK_GAS, MAX_TXS_PER_BLOCK, BlockLimits, block_limits
from chain.signatures import sign_transaction
from chain.transition import execute_transactions, get_nonce
from chain.types import (
    KIND_DEPLOY,
    KIND_UPGRADE,
    BlockHeader,
    Gas,
    Height,
    Nonce,
    Signature,
    Timestamp,
    Transaction,
)
from consensus.errors import InvalidEvidence
from consensus.evidence import DuplicateVoteEvidence, verify_evidence
from consensus.messages import Vote, VoteType, sign_vote
from consensus.validators import Validator, ValidatorSet
from node.localchain import Actor, LocalChain

CHAIN_ID = "meterchain-governance-test"
NAMES = ("anna", "ben", "cleo", "dora")


@dataclass
class Council:
    chain: LocalChain
    members: dict[str, Actor]
    eve: Actor

    def __getattr__(self, name: str) -> Actor:
        return self.members[name]

    def ok(self, actor: Actor, function: str, args: list) -> object:
        receipt = self.chain.call(actor, "governance", function, args)
        assert receipt.ok, f"governance.{function} failed: {receipt.error}"
        return receipt

    def fail(self, actor: Actor, function: str, args: list) -> str:
        receipt = self.chain.call(actor, "governance", function, args)
        assert not receipt.ok, f"governance.{function} succeeded but was expected to fail"
        return str(receipt.error)

    def view(self, function: str, args: list) -> object:
        return self.chain.view("governance", function, args)

    def propose(self, actor: Actor, changes: list) -> int:
        return LocalChain.return_value(self.ok(actor, "propose_validators", [changes]))

    def powers(self, height: int) -> dict[bytes, int]:
        return {row["public_key"]: row["power"] for row in self.view("validator_set", [height])}


def council(powers: tuple[int, ...] = (10, 10, 10, 10)) -> Council:
    members = {name: Actor.named(name) for name in NAMES[: len(powers)]}
    chain = LocalChain.genesis(
        chain_id=CHAIN_ID,
        contracts=(),
        validators=tuple((a.public_key, p) for a, p in zip(members.values(), powers, strict=True)),
    )
    return Council(chain, members, Actor.named("eve"))


@pytest.fixture
def c() -> Council:
    return council()


def events(receipt, name):
    return LocalChain.events(receipt, name)


# --- validator set changes -------------------------------------------------------------


def test_three_of_four_add_a_validator_effective_two_heights_after_the_deciding_block(c):
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    c.ok(c.ben, "approve", [pid])
    assert c.view("proposal", [pid])["status"] == "open"
    receipt = c.ok(c.cleo, "approve", [pid])
    decided_at = c.chain.height
    changed = events(receipt, "validator_set_changed")
    assert changed == [{"effective_height": decided_at + 2, "changes": {c.eve.public_key: 10}, "decided_at": decided_at}]
    p = c.view("proposal", [pid])
    assert (p["status"], p["decided_at"], p["effective_height"]) == ("decided", decided_at, decided_at + 2)
    assert c.eve.public_key not in c.powers(decided_at + 1)
    assert c.powers(decided_at + 2)[c.eve.public_key] == 10
    assert c.view("set_changes", [0, 10]) == [
        {"effective_height": decided_at + 2, "changes": {c.eve.public_key: 10}}
    ]


def test_invalid_non_validator_proposes(c):
    err = c.fail(c.eve, "propose_validators", [[[c.eve.public_key, 10]]])
    assert "a proposal by a validator of the current set expected" in err


def test_invalid_non_validator_approves(c):
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    err = c.fail(c.eve, "approve", [pid])
    assert "an approval by a validator of the current set expected" in err


def test_invalid_double_approval(c):
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    err = c.fail(c.anna, "approve", [pid])
    assert "one approval per validator expected" in err
    c.ok(c.ben, "approve", [pid])
    err = c.fail(c.ben, "approve", [pid])
    assert "already approved" in err


def test_invalid_exactly_two_thirds_does_not_decide():
    trio = council((10, 10, 10))
    pid = trio.propose(trio.anna, [[trio.eve.public_key, 5]])
    trio.ok(trio.ben, "approve", [pid])  # 20 of 30: exactly 2/3
    assert trio.view("proposal", [pid])["status"] == "open"
    assert trio.view("set_changes", [0, 10]) == []
    trio.ok(trio.cleo, "approve", [pid])
    assert trio.view("proposal", [pid])["status"] == "decided"


def test_a_heavy_validator_counts_by_power():
    weighted = council((70, 10, 10, 10))  # anna alone holds 70 of 100: more than 2/3
    receipt = weighted.chain.call(weighted.anna, "governance", "propose_validators", [[[weighted.ben.public_key, 0]]])
    assert receipt.ok and events(receipt, "proposal_decided")


def test_invalid_approval_of_a_decided_proposal(c):
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    c.ok(c.ben, "approve", [pid])
    c.ok(c.cleo, "approve", [pid])
    err = c.fail(c.dora, "approve", [pid])
    assert f"an open proposal expected, found proposal {pid} decided" in err


def test_rotation_removes_the_old_key_and_adds_the_new_in_one_change(c):
    new_key = Actor.named("dora-new-key")
    pid = c.propose(c.dora, [[c.dora.public_key, 0], [new_key.public_key, 10]])
    c.ok(c.anna, "approve", [pid])
    c.ok(c.ben, "approve", [pid])
    after = c.powers(c.chain.height + 2)
    assert c.dora.public_key not in after and after[new_key.public_key] == 10 and len(after) == 4


def test_invalid_removal_of_a_non_member(c):
    err = c.fail(c.anna, "propose_validators", [[[c.eve.public_key, 0]]])
    assert "removal of a validator of the set expected" in err


def test_invalid_removal_of_every_validator(c):
    everyone = [[a.public_key, 0] for a in c.members.values()]
    err = c.fail(c.anna, "propose_validators", [everyone])
    assert "at least one validator after the change expected" in err


def test_invalid_change_that_changes_nothing(c):
    err = c.fail(c.anna, "propose_validators", [[[c.ben.public_key, 10]]])
    assert "a change expected" in err


def test_two_decisions_in_one_block_merge_into_one_change(c):
    first = c.propose(c.anna, [[c.eve.public_key, 10]])
    second = c.propose(c.anna, [[c.ben.public_key, 0]])
    c.ok(c.ben, "approve", [first])
    c.ok(c.ben, "approve", [second])
    receipts = c.chain.block([(c.cleo, "governance", "approve", [first]), (c.cleo, "governance", "approve", [second])])
    assert all(r.ok for r in receipts)
    h = c.chain.height
    assert c.view("set_changes", [h + 2, 10]) == [
        {"effective_height": h + 2, "changes": {c.eve.public_key: 10, c.ben.public_key: 0}}
    ]
    assert set(c.powers(h + 2)) == {c.anna.public_key, c.cleo.public_key, c.dora.public_key, c.eve.public_key}


def test_the_node_set_follows_the_recorded_changes(c):
    # What node/validator_sets.py does with ch/<height>: the set of each height from the
    # genesis set and the changes, equal to the contract's own snapshots.
    genesis = ValidatorSet.genesis(Validator(a.public_key, 10) for a in c.members.values())
    pid = c.propose(c.anna, [[c.eve.public_key, 20], [c.ben.public_key, 5]])
    c.ok(c.ben, "approve", [pid])
    c.ok(c.cleo, "approve", [pid])
    changes = {row["effective_height"]: row["changes"] for row in c.view("set_changes", [0, 10])}
    current = genesis
    for height in range(2, c.chain.height + 3):
        current = current.for_next_height(changes.get(height))
        assert {v.public_key: v.power for v in current.validators} == c.powers(height)


# --- contract approvals ----------------------------------------------------------------


def test_validators_approve_a_contract_upgrade(c):
    code_hash = bytes(range(32))
    pid = LocalChain.return_value(c.ok(c.anna, "propose_contract", ["billing", "upgrade", code_hash]))
    assert c.view("contract_approved", ["billing", "upgrade", code_hash]) is False
    c.ok(c.ben, "approve", [pid])
    receipt = c.ok(c.cleo, "approve", [pid])
    assert events(receipt, "contract_approved") == [
        {"id": pid, "name": "billing", "kind": "upgrade", "code_hash": code_hash}
    ]
    assert c.view("contract_approved", ["billing", "upgrade", code_hash]) is True
    assert c.view("contract_approved", ["billing", "deploy", code_hash]) is False


@pytest.mark.parametrize(
    ("name", "kind", "code_hash", "message"),
    [
        ("9lives", "deploy", bytes(32), "contract name of 1 to 64"),
        ("bill/ing", "deploy", bytes(32), "contract name of 1 to 64"),
        ("billing", "replace", bytes(32), "kind deploy or upgrade expected"),
        ("billing", "deploy", bytes(31), "code hash: 32 bytes expected"),
    ],
)
def test_invalid_contract_proposal(c, name, kind, code_hash, message):
    assert message in c.fail(c.anna, "propose_contract", [name, kind, code_hash])


# --- evidence ----------------------------------------------------------------------------


def double_vote(actor: Actor, height: int = 1, round: int = 0, kind: VoteType = VoteType.PRECOMMIT,
                block_a: bytes | None = None, block_b: bytes | None = b"\x0b" * 32,
                chain_id: str = CHAIN_ID) -> DuplicateVoteEvidence:
    votes = [
        sign_vote(Vote(kind, height, round, None if b is None else Hash32(b), actor.public_key), actor.seed, chain_id)
        for b in (block_a, block_b)
    ]
    return DuplicateVoteEvidence.of(votes[0], votes[1])


def evidence_args(evidence: DuplicateVoteEvidence, swap: bool = False) -> list:
    a, b = (evidence.vote_b, evidence.vote_a) if swap else (evidence.vote_a, evidence.vote_b)
    return [a.validator, a.height, a.round, int(a.type), a.block_hash, a.signature, b.block_hash, b.signature]


def test_evidence_is_committed_once_and_opens_a_removal_proposal(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])  # a block, so height 1 is reached
    evidence = double_vote(c.dora)
    receipt = c.ok(c.eve, "report_evidence", evidence_args(evidence, swap=True))
    assert LocalChain.return_value(receipt) == evidence.hash
    committed = events(receipt, "EvidenceCommitted")
    assert committed == [{"validator": c.dora.public_key, "height": 1, "round": 0, "vote_type": 2,
                          "evidence_hash": evidence.hash, "reported_by": c.eve.public_key}]
    page = c.view("evidence_page", [b"", 100])
    assert page == [{"evidence_hash": evidence.hash, "validator": c.dora.public_key, "height": 1, "round": 0,
                     "vote_type": 2, "reported_by": c.eve.public_key, "block_height": c.chain.height}]
    opened = events(receipt, "proposal_opened")[0]
    assert opened["subject"] == {"changes": {c.dora.public_key: 0}} and opened["evidence"] == evidence.hash
    assert c.view("proposal", [opened["id"]])["approvals"] == []
    c.ok(c.anna, "approve", [opened["id"]])
    c.ok(c.ben, "approve", [opened["id"]])
    c.ok(c.cleo, "approve", [opened["id"]])
    assert c.dora.public_key not in c.powers(c.chain.height + 2)


def test_evidence_pages_by_hash(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])
    hashes = []
    for actor in (c.anna, c.ben, c.cleo):
        evidence = double_vote(actor)
        c.ok(c.eve, "report_evidence", evidence_args(evidence))
        hashes.append(evidence.hash)
    first = c.view("evidence_page", [b"", 2])
    rest = c.view("evidence_page", [first[-1]["evidence_hash"], 2])
    assert [r["evidence_hash"] for r in first + rest] == sorted(hashes)


def test_invalid_duplicate_evidence(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])
    evidence = double_vote(c.dora)
    c.ok(c.eve, "report_evidence", evidence_args(evidence))
    err = c.fail(c.anna, "report_evidence", evidence_args(evidence, swap=True))
    assert f"evidence {evidence.hash.hex()} already on chain" in err


def test_invalid_evidence_with_a_bad_signature(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])
    args = evidence_args(double_vote(c.dora))
    args[5] = bytes(64)
    assert "a signature that does not verify" in c.fail(c.eve, "report_evidence", args)
    args = evidence_args(double_vote(c.dora, chain_id="another-chain"))
    assert "a signature that does not verify" in c.fail(c.eve, "report_evidence", args)


def test_invalid_evidence_of_the_same_block(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])
    vote = sign_vote(Vote(VoteType.PREVOTE, 1, 0, Hash32(b"\x0a" * 32), c.dora.public_key), c.dora.seed, CHAIN_ID)
    args = [vote.validator, 1, 0, 1, vote.block_hash, vote.signature, vote.block_hash, vote.signature]
    assert "votes for different blocks expected" in c.fail(c.eve, "report_evidence", args)


def test_invalid_evidence_of_a_non_member(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])
    err = c.fail(c.anna, "report_evidence", evidence_args(double_vote(c.eve)))
    assert "a validator of the set of height 1 expected" in err


def test_invalid_evidence_from_a_height_not_reached(c):
    err = c.fail(c.eve, "report_evidence", evidence_args(double_vote(c.dora, height=5)))
    assert "a height already reached" in err


@pytest.mark.parametrize(
    "forge",
    ["none", "bad_signature", "other_chain", "non_member", "same_block", "other_round"],
)
def test_contract_check_agrees_with_consensus_verify_evidence(c, forge):
    # The same pair of real signed votes, judged by the contract and by consensus: both
    # accept it, or both refuse it.
    c.chain.call(c.eve, "governance", "validator_set", [1])
    actor = c.eve if forge == "non_member" else c.dora
    evidence = double_vote(actor, kind=VoteType.PREVOTE, chain_id="another-chain" if forge == "other_chain" else CHAIN_ID)
    args = evidence_args(evidence)
    if forge == "bad_signature":
        args[7] = args[5]
        evidence = DuplicateVoteEvidence(evidence.vote_a, Vote(
            evidence.vote_b.type, 1, 0, evidence.vote_b.block_hash, actor.public_key, evidence.vote_a.signature))
    if forge == "same_block":
        args[6] = args[4] = b"\x0b" * 32
        args[5] = args[7]
        evidence = DuplicateVoteEvidence(evidence.vote_b, evidence.vote_b)
    if forge == "other_round":
        # the second vote is re-signed for round 1: the contract rebuilds round 0's bytes
        other = sign_vote(Vote(VoteType.PREVOTE, 1, 1, Hash32(b"\x0b" * 32), actor.public_key), actor.seed, CHAIN_ID)
        args[7] = other.signature
        evidence = DuplicateVoteEvidence(evidence.vote_a, other)
    genesis = ValidatorSet.genesis(Validator(a.public_key, 10) for a in c.members.values())
    try:
        verify_evidence(CHAIN_ID, evidence, genesis)
        consensus_accepts = True
    except InvalidEvidence:
        consensus_accepts = False
    receipt = c.chain.call(c.eve, "governance", "report_evidence", args)
    assert receipt.ok == consensus_accepts, receipt.error
    assert consensus_accepts == (forge == "none")
    if receipt.ok:
        assert LocalChain.return_value(receipt) == evidence.hash


# --- the chain rule: deploys and upgrades on a chain with governance ----------------------

COUNTER = '''
@public
def bump() -> int:
    n = storage_get("n", 0) + 1
    storage_set("n", n)
    return n
'''


def deploy(c: Council, actor: Actor, kind: str, name: str, code: bytes):
    unsigned = Transaction(
        CHAIN_ID, actor.public_key, Nonce(get_nonce(c.chain.state, actor.public_key)), Height(c.chain.height + 10),
        Gas(4_000_000), kind, [name, code, bytes(32)], Signature(bytes(64)),
    )  # fmt: skip
    (receipt,) = c.chain.submit([sign_transaction(unsigned, actor.seed)])
    return receipt


def approve_code(c: Council, name: str, kind: str, code: bytes) -> None:
    pid = LocalChain.return_value(c.ok(c.anna, "propose_contract", [name, kind, hash_domain(Domain.CODE, code)]))
    c.ok(c.ben, "approve", [pid])
    c.ok(c.cleo, "approve", [pid])


def test_an_approved_deploy_goes_through_once_whoever_signs_it(c):
    code = vm.compile_source(COUNTER, "counter").code
    approve_code(c, "counter", KIND_DEPLOY, code)
    receipt = deploy(c, c.eve, KIND_DEPLOY, "counter", code)
    assert receipt.ok, receipt.error
    assert c.chain.call(c.eve, "counter", "bump", []).ok
    assert c.view("contract_approved", ["counter", KIND_DEPLOY, hash_domain(Domain.CODE, code)]) is False
    assert c.chain.state.get(keys.contract_approval_key("counter", KIND_DEPLOY, hash_domain(Domain.CODE, code))) is None
    approve_code(c, "counter", KIND_UPGRADE, code)
    assert deploy(c, c.dora, KIND_UPGRADE, "counter", code).ok
    again = deploy(c, c.dora, KIND_UPGRADE, "counter", code)
    assert not again.ok and "approved by the validators expected, found no such approval" in again.error


def test_invalid_deploy_by_the_genesis_key_without_approval(c):
    code = vm.compile_source(COUNTER, "counter").code
    receipt = deploy(c, c.chain.governance, KIND_DEPLOY, "counter", code)
    assert not receipt.ok and "approved by the validators expected" in receipt.error
    assert c.chain.state.get(keys.code_key("counter")) is None


def test_invalid_deploy_of_other_code_or_kind_than_approved(c):
    code = vm.compile_source(COUNTER, "counter").code
    other = vm.compile_source(COUNTER.replace("+ 1", "+ 2"), "counter").code
    approve_code(c, "counter", KIND_DEPLOY, code)
    receipt = deploy(c, c.anna, KIND_DEPLOY, "counter", other)
    assert not receipt.ok and "approved by the validators expected" in receipt.error
    receipt = deploy(c, c.anna, KIND_DEPLOY, "counter2", code)
    assert not receipt.ok and "approved by the validators expected" in receipt.error
    assert deploy(c, c.anna, KIND_DEPLOY, "counter", code).ok  # the approval was not used up


def test_a_chain_without_governance_keeps_the_genesis_key_rule():
    chain = LocalChain.genesis(contracts=())
    code = vm.compile_source(COUNTER, "counter").code
    unsigned = Transaction(
        chain.chain_id, chain.governance.public_key, Nonce(0), Height(10), Gas(4_000_000), KIND_DEPLOY,
        ["counter", code, bytes(32)], Signature(bytes(64)),
    )  # fmt: skip
    (receipt,) = chain.submit([sign_transaction(unsigned, chain.governance.seed)])
    assert receipt.ok, receipt.error
    assert chain.state.get(keys.code_key("governance")) is None


# --- chain parameters, expiry and withdrawal ------------------------------------------------


def decide_parameters(c: Council, changes: dict) -> int:
    """anna proposes ``changes``, ben and cleo approve; the height of the deciding block."""
    pid = LocalChain.return_value(c.ok(c.anna, "propose_parameters", [changes]))
    c.ok(c.ben, "approve", [pid])
    receipt = c.ok(c.cleo, "approve", [pid])
    assert events(receipt, "parameters_changed") == [
        {"changes": changes, "effective_height": c.chain.height + 1, "decided_at": c.chain.height}
    ]
    return c.chain.height


def signed_calls(c: Council, actor: Actor, count: int) -> list[Transaction]:
    first = get_nonce(c.chain.state, actor.public_key)
    return [c.chain.transaction(actor, "governance", "parameters", [], first + i, 100_000) for i in range(count)]


def test_genesis_parameters_are_the_chain_ceilings(c):
    assert c.view("parameters", []) == {
        "max_block_gas": MAX_BLOCK_GAS, "max_block_transactions": MAX_TXS_PER_BLOCK, "proposal_lifetime": 604_800,
    }
    assert block_limits(c.chain.state) == BlockLimits(MAX_BLOCK_GAS, MAX_TXS_PER_BLOCK)


def test_validators_lower_the_block_limits_and_the_next_block_obeys(c):
    decide_parameters(c, {"max_block_transactions": 2, "max_block_gas": 5_000_000})
    assert block_limits(c.chain.state) == BlockLimits(5_000_000, 2)
    # A proposer offered three leaves the third out ...
    offered = signed_calls(c, c.eve, 3)
    assert len(c.chain.submit(offered)) == 2
    # ... and a block holding three is invalid for every node.
    draft = BlockHeader(Height(c.chain.height + 1), c.chain.head.hash, Timestamp(c.chain.time + 1),
                        c.chain.governance.public_key, EMPTY_HASH, EMPTY_HASH, EMPTY_HASH, EMPTY_HASH, EMPTY_HASH,
                        EMPTY_HASH)  # fmt: skip
    with pytest.raises(InvalidBlock, match="at most 2 transactions expected, found 3"):
        execute_transactions(c.chain.state, draft, tuple(signed_calls(c, c.eve, 3)), c.chain.env())


def test_a_chain_without_governance_runs_at_the_ceilings():
    chain = LocalChain.genesis(contracts=())
    assert block_limits(chain.state) == BlockLimits(MAX_BLOCK_GAS, MAX_TXS_PER_BLOCK)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "a dict of parameter name -> value expected"),
        ({"block_time": 5}, "a parameter name (max_block_gas, max_block_transactions, proposal_lifetime) expected"),
        ({"max_block_gas": MAX_BLOCK_GAS + 1}, "max_block_gas: an integer from 5000000 to 100000000 expected"),
        ({"max_block_gas": 4_999_999}, "max_block_gas: an integer from 5000000 to 100000000 expected"),
        ({"max_block_transactions": 0}, "max_block_transactions: an integer from 1 to 10000 expected"),
        ({"proposal_lifetime": "long"}, "proposal_lifetime: an integer from 10 to 100000000 expected, found text 'long'"),
        ({"proposal_lifetime": 604_800}, "a change expected, found proposal_lifetime already 604800"),
    ],
)
def test_invalid_parameter_proposal(c, changes, message):
    assert message in c.fail(c.anna, "propose_parameters", [changes])


def test_invalid_parameter_proposal_by_a_non_validator(c):
    assert "a proposal by a validator of the current set expected" in c.fail(c.eve, "propose_parameters", [{"max_block_transactions": 5}])


def test_a_proposal_expires_after_its_lifetime(c):
    decide_parameters(c, {"proposal_lifetime": 10})
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    p = c.view("proposal", [pid])
    assert p["expires_at"] == p["opened_at"] + 10
    c.ok(c.ben, "approve", [pid])
    while c.chain.height < p["expires_at"]:
        c.chain.submit([])
    assert c.view("proposal", [pid])["status"] == "open"  # the last height it is open at
    c.chain.submit([])
    assert c.view("proposal", [pid])["status"] == "expired"
    err = c.fail(c.cleo, "approve", [pid])
    assert f"an open proposal expected, found proposal {pid} expired at height {p['expires_at']}" in err
    assert c.eve.public_key not in c.powers(c.chain.height + 2)


def test_a_lifetime_change_holds_for_proposals_opened_after_it(c):
    before = c.propose(c.anna, [[c.eve.public_key, 10]])
    decide_parameters(c, {"proposal_lifetime": 10})
    assert c.view("proposal", [before])["expires_at"] == c.view("proposal", [before])["opened_at"] + 604_800


def test_the_proposer_withdraws_and_approvals_lapse(c):
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    c.ok(c.ben, "approve", [pid])
    receipt = c.ok(c.anna, "withdraw", [pid])
    assert events(receipt, "proposal_withdrawn") == [{"id": pid, "by": c.anna.public_key}]
    p = c.view("proposal", [pid])
    assert (p["status"], p["withdrawn_at"]) == ("withdrawn", c.chain.height)
    assert "an open proposal expected, found proposal 1 withdrawn" in c.fail(c.cleo, "approve", [pid])


def test_invalid_withdrawal_by_another_validator(c):
    pid = c.propose(c.anna, [[c.eve.public_key, 10]])
    err = c.fail(c.ben, "withdraw", [pid])
    assert f"withdrawal by the proposer {c.anna.public_key.hex()} expected, found {c.ben.public_key.hex()}" in err
    assert c.view("proposal", [pid])["status"] == "open"


def test_invalid_withdrawal_of_a_removal_opened_by_evidence(c):
    c.chain.call(c.eve, "governance", "validator_set", [1])
    c.ok(c.eve, "report_evidence", evidence_args(double_vote(c.dora)))
    pid = c.view("proposals", [0, 10])[0]["id"]
    assert "a proposal without evidence expected" in c.fail(c.eve, "withdraw", [pid])


def test_evidence_after_an_expired_removal_opens_a_new_one(c):
    decide_parameters(c, {"proposal_lifetime": 10})
    c.ok(c.eve, "report_evidence", evidence_args(double_vote(c.dora)))
    first = c.view("proposals", [1, 10])[0]
    assert first["evidence"] is not None
    while c.chain.height <= first["expires_at"]:
        c.chain.submit([])
    c.ok(c.eve, "report_evidence", evidence_args(double_vote(c.dora, round=1)))
    opened = [p for p in c.view("proposals", [first["id"], 10]) if p["evidence"] is not None]
    assert len(opened) == 1 and opened[0]["status"] == "open"
