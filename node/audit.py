"""An audit of a chain through any node's public API, from genesis: what a regulator files.

``audit_chain(url)`` fetches the genesis document (or takes the one given), builds the
genesis state and header itself, then fetches every block with its certificate in batches
and checks each exactly as block sync does (``node.sync.verify_block``: the certificate
and the carried ``last_commit`` against the validator set, re-execution with
``apply_block``, every root), over an in-memory state of its own. Nothing the node says is
trusted: a block that fails is reported with its height and the reason, and the audit
stops there. The report names the heights, the genesis, head and state root hashes, and
counts transactions and certificate signatures by validator.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import ValidationError

from chain.state import MemoryBackend, State
from consensus.certificate import CommitCertificate
from node.genesis import GenesisDocument
from node.sync import BadBlock, PeerApi, PeerLacks, PeerUnavailable, verify_block
from node.validator_sets import ValidatorSets
from vm.runtime import VMRuntime

BATCH = 64


@dataclass
class AuditReport:
    node: str
    chain_id: str = ""
    genesis_hash: str = ""
    genesis_source: str = ""
    node_height: int = 0  # the node's head when the audit began
    audited_height: int = 0  # the last block that passed every check
    head_hash: str = ""  # of the last block that passed
    state_root: str = ""  # after it, as recomputed here
    transactions: int = 0
    failed_transactions: int = 0
    certificates: int = 0
    signatures_by_validator: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    failed_height: int | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.failure is None and self.audited_height == self.node_height

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node, "passed": self.passed, "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash, "genesis_source": self.genesis_source,
            "node_height": self.node_height, "audited_height": self.audited_height,
            "head_hash": self.head_hash, "state_root": self.state_root,
            "transactions": self.transactions, "failed_transactions": self.failed_transactions,
            "certificates": self.certificates, "signatures_by_validator": self.signatures_by_validator,
            "failure": self.failure, "failed_height": self.failed_height, "seconds": round(self.seconds, 3),
        }  # fmt: skip

    def lines(self) -> list[str]:
        verdict = "PASSED" if self.passed else "FAILED"
        out = [
            f"audit of {self.node}: {verdict}",
            f"chain                  {self.chain_id}",
            f"genesis                {self.genesis_hash} (document from {self.genesis_source})",
            f"blocks verified        {self.audited_height} of {self.node_height} (from height 1)",
            f"head block hash        {self.head_hash}",
            f"state root             {self.state_root} (recomputed)",
            f"transactions           {self.transactions} ({self.failed_transactions} failed with a receipt)",
            f"certificates checked   {self.certificates}",
        ]
        for name, count in sorted(self.signatures_by_validator.items()):
            out.append(f"  signed by {name:<12} {count}")
        if self.failure is not None:
            out.append(f"failure at block {self.failed_height}: {self.failure}")
        out.append(f"time                   {self.seconds:.2f} s")
        return out


async def audit_chain(url: str, genesis: GenesisDocument | None = None, timeout: float = 30.0) -> AuditReport:
    """Verify every block of the node at ``url`` from genesis; never raises for what the
    node serves (the report says what failed), only for a node that cannot be reached."""
    started = time.monotonic()
    report = AuditReport(node=url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        api = PeerApi(session, url)
        status = await api.status()
        report.chain_id, report.node_height = status.chain_id, status.height
        if genesis is None:
            try:
                genesis = GenesisDocument.model_validate(await api.genesis())
            except ValidationError as exc:
                report.failure = f"a genesis document from the node expected: {exc.errors()[:1]}"
                report.seconds = time.monotonic() - started
                return report
            report.genesis_source = "the node"
        else:
            report.genesis_source = "the file given"
        if genesis.chain_id != status.chain_id:
            report.failure = f"a node of chain {genesis.chain_id!r} (the genesis) expected, found chain {status.chain_id!r}"
            report.seconds = time.monotonic() - started
            return report
        backend = MemoryBackend()
        state, parent = genesis.build(backend)
        backend.commit(state.changes())
        report.genesis_hash = report.head_hash = parent.hash.hex()
        report.state_root = parent.state_root.hex()
        height = 0
        # The sets from the genesis set and the governance changes of the blocks audited so far.
        validators_at = ValidatorSets(genesis.validator_set(), lambda: (height, State.at(backend))).at
        names = genesis.validator_names()
        signers: Counter[str] = Counter()
        runtime = VMRuntime()
        try:
            while height < report.node_height:
                _, fetched = await api.blocks(height + 1, min(BATCH, report.node_height - height))
                if not fetched:
                    raise BadBlock(height + 1, f"block {height + 1} expected from the node, found none")
                for item in fetched:
                    block, certificate = item.decode()
                    new_state, receipts = verify_block(
                        genesis.chain_id, parent, State.at(backend), block, certificate, validators_at, runtime
                    )
                    backend.commit(new_state.changes())
                    assert certificate is not None  # verify_block refuses a block without one
                    for signature in CommitCertificate.decode(certificate).signatures:
                        signers[names.get(signature.validator, signature.validator.hex()[:12])] += 1
                    parent = block.header
                    height = parent.height
                    report.audited_height = height
                    report.head_hash = parent.hash.hex()
                    report.state_root = parent.state_root.hex()
                    report.transactions += len(block.transactions)
                    report.failed_transactions += sum(1 for r in receipts if not r.ok)
                    report.certificates += 1
        except BadBlock as exc:
            report.failure, report.failed_height = str(exc), exc.height
        except PeerLacks as exc:  # a pruned node's dropped bodies (node.bodies): nothing wrong, only not here
            report.failure, report.failed_height = (
                f"block {height + 1} from the node expected, found it no longer kept there (a pruned node): "
                f"audit an archive node (a regulator's) for the whole chain; {exc}", height + 1)
        except PeerUnavailable as exc:
            report.failure, report.failed_height = f"the node stopped answering: {exc}", height + 1
        report.signatures_by_validator = dict(signers)
    report.seconds = time.monotonic() - started
    return report
