"""Evidence of a double vote, reported to the chain by the validator that saw it.

The consensus machine emits ``ReportEvidence`` the first time it sees a validator's second,
conflicting vote for one height, round and type (``consensus.evidence``). The engine hands
it to ``EvidenceReporter.report``, which turns it into a call transaction
``governance.report_evidence(validator, height, round, vote_type, block_a, signature_a,
block_b, signature_b)`` signed by this validator's own key, admits it to the node's own
mempool and gossips it like any transaction (docs/consensus.md, "Evidence").

- **Once per evidence hash per process**: the machine reports once per validator, round and
  type of a height, but a restart replays the log and the reporter may be asked again; a
  report already submitted by this process is not submitted twice. After a restart the
  transaction may be submitted again: the contract refuses evidence already on chain, so a
  second report fails harmlessly (the honest validators that saw the double vote all
  report it; one report is committed, the others fail with "already on chain").
- **Never blocking consensus**: ``report`` only records the evidence and schedules the
  submission on the event loop (``schedule``); signing and admitting one transaction then
  cost well under a millisecond, outside the machine's step.
- **Nonce**: the account's next nonce at the head, or past this sender's pending
  transactions in the mempool (a second report while the first is pending).
- **Expiry**: ``EXPIRY_WINDOW`` heights after the head: long enough to be included through
  a few failed rounds, short enough that a lost report leaves the mempool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from chain.signatures import keypair_from_seed, sign_transaction
from chain.types import KIND_CALL, SIGNATURE_SIZE, Gas, Height, Nonce, Signature, Transaction
from consensus.evidence import DuplicateVoteEvidence
from node.mempool import Admission
from node.metrics import NodeMetrics

log = logging.getLogger("meterchain.evidence")

GOVERNANCE_CONTRACT: Final = "governance"
REPORT_EVIDENCE: Final = "report_evidence"
EVIDENCE_PAGE: Final = "evidence_page"  # the view GET /v1/evidence reads
MAX_EVIDENCE_PAGE: Final = 100  # records per page (the view's own limit)
EXPIRY_WINDOW: Final = 100  # heights after the head during which the report may be included
# Two ed25519 checks, a record, an event and a removal proposal: well below this.
REPORT_GAS: Final = Gas(2_000_000)
SUBMITTED_MEMORY: Final = 4096  # evidence hashes remembered (a flood of double votes is bounded)


def report_arguments(evidence: DuplicateVoteEvidence) -> list[Any]:
    """The arguments of ``governance.report_evidence`` for ``evidence``, in its order."""
    a, b = evidence.vote_a, evidence.vote_b
    return [
        bytes(a.validator), a.height, a.round, int(a.type),
        None if a.block_hash is None else bytes(a.block_hash), bytes(a.signature),
        None if b.block_hash is None else bytes(b.block_hash), bytes(b.signature),
    ]  # fmt: skip


def report_transaction(
    chain_id: str, seed: bytes, nonce: int, expiry_height: int, evidence: DuplicateVoteEvidence
) -> Transaction:
    """The signed call ``governance.report_evidence`` for ``evidence`` from ``seed``'s account."""
    sender = keypair_from_seed(seed)[1]
    unsigned = Transaction(
        chain_id, sender, Nonce(nonce), Height(expiry_height), REPORT_GAS, KIND_CALL,
        [GOVERNANCE_CONTRACT, REPORT_EVIDENCE, report_arguments(evidence)], Signature(bytes(SIGNATURE_SIZE)),
    )  # fmt: skip
    return sign_transaction(unsigned, seed)


class EvidenceReporter:
    """Submits each double vote this node sees as an evidence transaction (once per hash).

    ``head`` gives the head's height, ``account_nonce`` an account's next nonce at the head,
    ``pending_nonces`` this sender's nonces in the mempool, ``admit`` admits raw
    transactions to the mempool and ``gossip`` forwards (hash, raw) of the admitted ones.
    """

    def __init__(
        self,
        *,
        chain_id: str,
        seed: bytes,
        head: Callable[[], int],
        account_nonce: Callable[[bytes], int],
        pending_nonces: Callable[[bytes], list[int]],
        admit: Callable[[list[bytes]], list[Admission]],
        gossip: Callable[[list[tuple[bytes, bytes]]], None],
        metrics: NodeMetrics,
        schedule: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self._seed = seed
        self.key = keypair_from_seed(seed)[1]
        self._head = head
        self._account_nonce = account_nonce
        self._pending_nonces = pending_nonces
        self._admit = admit
        self._gossip = gossip
        self.metrics = metrics
        self._schedule = schedule or (lambda work: asyncio.get_running_loop().call_soon(work))
        self._seen: dict[bytes, None] = {}  # evidence hashes, oldest first

    def report(self, evidence: DuplicateVoteEvidence) -> bool:
        """Schedule the report of ``evidence``; False if this process has seen it already."""
        evidence_hash = bytes(evidence.hash)
        if evidence_hash in self._seen:
            return False
        self._seen[evidence_hash] = None
        if len(self._seen) > SUBMITTED_MEMORY:
            del self._seen[next(iter(self._seen))]
        a = evidence.vote_a
        self.metrics.double_votes.labels(a.type.name.lower()).inc()
        log.warning(
            "evidence %s: validator %s signed two %s votes at height %d round %d (blocks %s and %s); reporting it",
            evidence_hash.hex(), a.validator.hex(), a.type.name.lower(), a.height, a.round, _block(a.block_hash),
            _block(evidence.vote_b.block_hash),
        )  # fmt: skip
        self._schedule(lambda: self._submit(evidence))
        return True

    def _submit(self, evidence: DuplicateVoteEvidence) -> None:
        try:
            tx = self.transaction(evidence)
            raw = tx.encode()
            [answer] = self._admit([raw])
        except Exception:  # the report is lost, consensus is not: never raise into the loop
            log.exception("evidence %s could not be submitted", evidence.hash.hex())
            self.metrics.evidence_reports.labels("error").inc()
            return
        if answer.accepted:
            self._gossip([(tx.hash, raw)])
            self.metrics.evidence_reports.labels("submitted").inc()
            log.info("evidence %s submitted as transaction %s (nonce %d)", evidence.hash.hex(), tx.hash.hex(), tx.nonce)
        else:
            self.metrics.evidence_reports.labels("refused").inc()
            log.warning("evidence transaction %s refused by the mempool: %s", tx.hash.hex(), answer.message)

    def transaction(self, evidence: DuplicateVoteEvidence) -> Transaction:
        """The report of ``evidence`` with this account's next free nonce."""
        pending = self._pending_nonces(self.key)
        nonce = max([self._account_nonce(self.key), *(n + 1 for n in pending)])
        return report_transaction(self.chain_id, self._seed, nonce, self._head() + EXPIRY_WINDOW, evidence)


def _block(block_hash: bytes | None) -> str:
    return "nil" if block_hash is None else block_hash.hex()[:16]
