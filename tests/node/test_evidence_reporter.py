"""``node.evidence.EvidenceReporter``: carol double-votes; alice's node turns the pair into a
signed ``governance.report_evidence`` call from alice's key, admitted to her mempool and
gossiped, once per evidence hash; a second double vote takes the next nonce."""

from __future__ import annotations

from collections.abc import Callable

from chain.signatures import check_transaction_signature
from chain.types import KIND_CALL
from consensus.evidence import DuplicateVoteEvidence
from consensus.messages import VoteType
from node.evidence import EXPIRY_WINDOW, GOVERNANCE_CONTRACT, REPORT_EVIDENCE, EvidenceReporter
from node.mempool import Admission, Mempool
from node.metrics import NodeMetrics
from tests.consensus.actors import CHAIN_ID, KEYS, SEEDS, block, precommit, prevote

HEAD = 41


class AliceNode:
    """Alice's mempool, her account's nonce on chain, and what she gossiped."""

    def __init__(self, account_nonce: int = 0) -> None:
        self.mempool = Mempool(CHAIN_ID)
        self.account_nonce = account_nonce
        self.gossiped: list[tuple[bytes, bytes]] = []
        self.scheduled: list[Callable[[], None]] = []
        self.metrics = NodeMetrics()
        self.reporter = EvidenceReporter(
            chain_id=CHAIN_ID, seed=SEEDS["alice"], head=lambda: HEAD,
            account_nonce=lambda account: self.account_nonce, pending_nonces=self.mempool.sender_nonces,
            admit=self.admit, gossip=self.gossiped.extend, metrics=self.metrics, schedule=self.scheduled.append,
        )  # fmt: skip

    def admit(self, raws: list[bytes]) -> list[Admission]:
        return [self.mempool.add_raw(raw, HEAD + 1, lambda account: self.account_nonce) for raw in raws]

    def run_scheduled(self) -> None:
        work, self.scheduled = self.scheduled, []
        for item in work:
            item()

    def metric(self, name: str, label: str) -> float:
        value = self.metrics.registry.get_sample_value(name, {"type" if "double" in name else "outcome": label})
        return 0.0 if value is None else value


def carol_double_prevote(round: int = 0) -> DuplicateVoteEvidence:
    return DuplicateVoteEvidence.of(prevote("carol", HEAD + 1, round, block("real")), prevote("carol", HEAD + 1, round, None))


def test_a_double_vote_becomes_a_signed_report_transaction_in_the_mempool_and_gossiped() -> None:
    alice = AliceNode(account_nonce=3)
    evidence = carol_double_prevote()
    assert alice.reporter.report(evidence)
    assert len(alice.mempool) == 0, "nothing is submitted inside the consensus step"
    alice.run_scheduled()
    [(tx_hash, raw)] = alice.gossiped
    tx = alice.mempool.get(tx_hash)
    assert tx is not None and tx.encode() == raw
    check_transaction_signature(tx)
    assert (tx.sender, tx.nonce, tx.expiry_height, tx.kind) == (KEYS["alice"], 3, HEAD + EXPIRY_WINDOW, KIND_CALL)
    contract, function, args = tx.payload
    a, b = evidence.vote_a, evidence.vote_b
    assert (contract, function) == (GOVERNANCE_CONTRACT, REPORT_EVIDENCE)
    assert args == [KEYS["carol"], HEAD + 1, 0, int(VoteType.PREVOTE), None, a.signature, block("real"), b.signature]
    assert alice.metric("meterchain_double_votes_total", "prevote") == 1
    assert alice.metric("meterchain_evidence_reports_total", "submitted") == 1


def test_invalid_the_same_evidence_reported_twice_is_submitted_once() -> None:
    alice = AliceNode()
    evidence = carol_double_prevote()
    assert alice.reporter.report(evidence)
    assert not alice.reporter.report(DuplicateVoteEvidence.of(evidence.vote_b, evidence.vote_a))
    alice.run_scheduled()
    assert len(alice.mempool) == 1 and len(alice.gossiped) == 1
    assert alice.metric("meterchain_double_votes_total", "prevote") == 1


def test_a_second_double_vote_while_the_first_report_is_pending_takes_the_next_nonce() -> None:
    alice = AliceNode(account_nonce=7)
    alice.reporter.report(carol_double_prevote(round=0))
    alice.reporter.report(DuplicateVoteEvidence.of(
        precommit("carol", HEAD + 1, 1, None), precommit("carol", HEAD + 1, 1, block("other"))
    ))  # fmt: skip
    alice.run_scheduled()
    assert alice.mempool.sender_nonces(KEYS["alice"]) == [7, 8]
    assert alice.metric("meterchain_double_votes_total", "precommit") == 1
    assert alice.metric("meterchain_evidence_reports_total", "submitted") == 2


def test_invalid_a_report_the_mempool_refuses_is_counted_not_gossiped() -> None:
    alice = AliceNode()
    alice.mempool = Mempool("another-chain")  # refuses alice's transaction: wrong chain
    alice.reporter.report(carol_double_prevote())
    alice.run_scheduled()
    assert alice.gossiped == []
    assert alice.metric("meterchain_evidence_reports_total", "refused") == 1
