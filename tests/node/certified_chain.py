"""Finalized blocks for the node tests without a consensus run: a network's genesis document
with known validator seeds, blocks made by ``propose_block`` over a node's store, and
commit certificates signed by those validators, committed with ``BlockStore.commit_block``.
What the consensus engine commits, made by hand."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chain.signatures import keypair_from_seed, sign_transaction
from chain.transition import BlockEnv, get_nonce, propose_block
from chain.types import KIND_CALL, Block, Gas, Height, Nonce, Signature, Timestamp, Transaction
from consensus.certificate import certificate_from_precommits
from consensus.messages import Vote, VoteType, sign_vote
from node.blockstore import BlockStore
from node.genesis import GenesisDocument, GenesisValidator
from vm.runtime import VMRuntime

CHAIN = "meterchain-test"
GENESIS_TIME = 1_735_689_600


def seed_of(name: str) -> bytes:
    return hashlib.sha256(b"certified-chain:" + name.encode()).digest()


def key_of(name: str) -> bytes:
    return bytes(keypair_from_seed(seed_of(name))[1])


def genesis_document(validators: tuple[str, ...] = ("v1", "v2", "v3", "v4"), chain_id: str = CHAIN) -> GenesisDocument:
    return GenesisDocument(
        chain_id=chain_id,
        time=GENESIS_TIME,
        governance=key_of("governance").hex(),
        validators=[GenesisValidator(name=n, public_key=key_of(n).hex(), power=1) for n in validators],
    )


@dataclass
class CertifiedChain:
    """Appends certified blocks to ``store`` for the network of ``genesis``; the validators
    named in ``signers`` sign each block's certificate (all of them by default)."""

    store: BlockStore
    genesis: GenesisDocument
    signers: tuple[str, ...] | None = None
    runtime: VMRuntime | None = None
    seeds: dict[str, bytes] | None = None  # validator name -> seed; default ``seed_of(name)``

    def seed(self, name: str) -> bytes:
        return self.seeds[name] if self.seeds is not None else seed_of(name)

    def transaction(self, sender: str, contract: str, function: str, args: list[object]) -> Transaction:
        state = self.store.state()
        key = keypair_from_seed(seed_of(sender))[1]
        unsigned = Transaction(
            self.genesis.chain_id, key, Nonce(get_nonce(state, key)), Height(self.store.head().height + 100),
            Gas(2_000_000), KIND_CALL, [contract, function, list(args)], Signature(bytes(64)),
        )  # fmt: skip
        return sign_transaction(unsigned, seed_of(sender))

    def commit(self, transactions: tuple[Transaction, ...] = (), at: int | None = None) -> Block:
        """Propose a block of ``transactions`` on the head (at time ``at``, default one
        second after its parent), certify it, commit it."""
        parent = self.store.head_header()
        validators = self.genesis.validator_set()
        last_commit = self.store.certificate(parent.height) or b""  # b"" for block 1
        env = BlockEnv(
            self.genesis.chain_id, parent, validators.hash, self.runtime or VMRuntime(), last_commit=last_commit
        )
        proposer = validators.proposer
        block, state, receipts = propose_block(
            self.store.state(), transactions, Timestamp(parent.time + 1 if at is None else at), proposer, env
        )
        names = self.signers or tuple(v.name for v in self.genesis.validators)
        height = block.header.height
        precommits = []
        for name in names:
            seed = self.seed(name)
            vote = Vote(VoteType.PRECOMMIT, height, 0, block.header.hash, keypair_from_seed(seed)[1])
            precommits.append(sign_vote(vote, seed, self.genesis.chain_id))
        certificate = certificate_from_precommits(precommits).encode()
        self.store.commit_block(block, receipts, certificate, state)
        return block


def validator_names(count: int) -> tuple[str, ...]:
    return tuple(f"v{i + 1}" for i in range(count))


__all__ = ["CHAIN", "CertifiedChain", "GenesisValidator", "genesis_document", "key_of", "seed_of", "validator_names"]
