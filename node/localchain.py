"""An in-memory chain that applies blocks one after another through ``apply_block``.

No network, no consensus: one process proposes and applies each block with the real
transition, the real VM and real signatures. Used by the scenario tests, by what-if billing
(``meterchain billing simulate``) and by the demonstration, so that all three run the
contracts exactly as the chain does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chain import codec
from chain.hashing import Hash32
from chain.signatures import keypair_from_seed, sign_transaction
from chain.state import MemoryBackend, State
from chain.transition import MAX_TX_GAS, BlockEnv, CallContext, get_nonce, propose_block
from chain.types import (
    KIND_CALL,
    Block,
    BlockHeader,
    Gas,
    Height,
    Nonce,
    PublicKey,
    Receipt,
    Signature,
    Timestamp,
    Transaction,
)
from contracts.genesis import GENESIS_CONTRACTS, GenesisConfig, build_genesis
from vm.runtime import VMRuntime

DEFAULT_TX_GAS = 2_000_000
EXPIRY_WINDOW = 100  # blocks a transaction stays valid for


class ViewError(Exception):
    """A read-only call that failed; the message is the contract's."""


@dataclass(frozen=True, slots=True)
class Actor:
    """A named participant with a deterministic key (seed = SHA-256 of its name)."""

    name: str
    seed: bytes
    public_key: PublicKey

    @classmethod
    def named(cls, name: str) -> Actor:
        seed = hashlib.sha256(b"meterchain-actor:" + name.encode()).digest()
        _, public_key = keypair_from_seed(seed)
        return cls(name, seed, public_key)


@dataclass
class LocalChain:
    chain_id: str
    governance: Actor
    backend: MemoryBackend
    state: State
    head: BlockHeader
    runtime: VMRuntime = field(default_factory=VMRuntime)
    blocks: list[Block] = field(default_factory=list)
    receipts: list[tuple[Receipt, ...]] = field(default_factory=list)

    @classmethod
    def genesis(
        cls,
        time: int = 1_735_689_600,
        chain_id: str = "meterchain-local",
        contracts: tuple[str, ...] = GENESIS_CONTRACTS,
        sources: Mapping[str, str] | None = None,
        validators: tuple[tuple[PublicKey, int], ...] = (),
    ) -> LocalChain:
        """``validators`` deploys the governance contract with them (contracts.genesis); the
        headers here still carry no validator set: nothing votes on a local chain."""
        governance = Actor.named("governance")
        backend = MemoryBackend()
        config = GenesisConfig(
            chain_id, Timestamp(time), governance.public_key, contracts=contracts, validators=validators
        )
        state, header = build_genesis(config, backend, sources)
        backend.commit(state.changes())
        return cls(chain_id, governance, backend, State.at(backend), header)

    # --- actors and transactions ------------------------------------------------------

    def actor(self, name: str) -> Actor:
        return Actor.named(name)

    @property
    def time(self) -> int:
        return self.head.time

    @property
    def height(self) -> int:
        return self.head.height

    def env(self) -> BlockEnv:
        # No consensus here: the set never changes, and no block carries a certificate.
        return BlockEnv(self.chain_id, self.head, self.head.next_validator_set_hash, self.runtime)

    def transaction(
        self,
        actor: Actor,
        contract: str,
        function: str,
        args: list[Any],
        nonce: int,
        gas_limit: int = DEFAULT_TX_GAS,
    ) -> Transaction:
        unsigned = Transaction(
            self.chain_id,
            actor.public_key,
            Nonce(nonce),
            Height(self.height + EXPIRY_WINDOW),
            Gas(gas_limit),
            KIND_CALL,
            [contract, function, list(args)],
            Signature(bytes(64)),
        )
        return sign_transaction(unsigned, actor.seed)

    # --- blocks ---------------------------------------------------------------------

    def submit(self, transactions: list[Transaction], at: int | None = None) -> tuple[Receipt, ...]:
        """Put ``transactions`` in one new block, apply it, commit it; return the receipts."""
        time = Timestamp(self.time + 1 if at is None else at)
        block, new_state, receipts = propose_block(
            self.state, tuple(transactions), time, self.governance.public_key, self.env()
        )
        self.backend.commit(new_state.changes())
        self.state = State.at(self.backend)
        self.head = block.header
        self.blocks.append(block)
        self.receipts.append(receipts)
        return receipts

    def block(
        self,
        calls: list[tuple[Actor, str, str, list[Any]]],
        at: int | None = None,
        gas_limit: int = DEFAULT_TX_GAS,
    ) -> tuple[Receipt, ...]:
        """One block holding a call per entry, each signed by its actor with the next nonce."""
        next_nonce: dict[bytes, int] = {}
        txs = []
        for actor, contract, function, args in calls:
            nonce = next_nonce.get(actor.public_key, get_nonce(self.state, actor.public_key))
            next_nonce[actor.public_key] = nonce + 1
            txs.append(self.transaction(actor, contract, function, args, nonce, gas_limit))
        return self.submit(txs, at)

    def call(
        self,
        actor: Actor,
        contract: str,
        function: str,
        args: list[Any],
        at: int | None = None,
        gas_limit: int = DEFAULT_TX_GAS,
    ) -> Receipt:
        """One transaction in one new block; its receipt."""
        return self.block([(actor, contract, function, args)], at, gas_limit)[0]

    # --- queries ----------------------------------------------------------------------

    def view(self, contract: str, function: str, args: list[Any], caller: Actor | None = None) -> Any:
        """A read-only call at the head; raises ``ViewError`` with the contract's message."""
        who = (caller or self.governance).public_key
        ctx = CallContext(who, Hash32(bytes(32)), Height(self.height), Timestamp(self.time), self.chain_id)
        result = self.runtime.view(self.state, ctx, contract, function, list(args), MAX_TX_GAS)
        if not result.success:
            raise ViewError(result.error)
        return result.return_value

    @staticmethod
    def events(receipt: Receipt, name: str | None = None) -> list[dict[Any, Any]]:
        return [e.field_map() for e in receipt.events if name is None or e.name == name]

    @staticmethod
    def return_value(receipt: Receipt) -> Any:
        return codec.decode(receipt.return_value)
