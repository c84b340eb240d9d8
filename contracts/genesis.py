"""The genesis state: chain parameters, the utility contracts deployed, and their ``init``.

Genesis is the one moment code is installed without a transaction: the chain starts with
the contracts named in ``GENESIS_CONTRACTS`` compiled from this package's sources (anyone
can recompile them and compare the code hashes) and initialised by the governance key.

A network genesis names its validators: it also deploys the ``governance`` contract,
initialised with the chain id and those validators, and from then on the validators decide
set changes and deploys (docs/consensus.md, "Governance"). A genesis without validators
(``node.localchain``, the in-process demonstration) has no governance contract: there the
genesis governance key alone deploys and upgrades.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import vm
from chain import codec, keys
from chain.errors import ChainError
from chain.hashing import EMPTY_HASH, Domain, Hash32, hash_domain
from chain.state import Backend, State
from chain.transition import MAX_TX_GAS, CallContext
from chain.types import BlockHeader, Height, PublicKey, Timestamp
from contracts import contract_module, contract_source
from vm.runtime import VMRuntime

GENESIS_CONTRACTS: Final = ("registry", "supply", "billing", "payments")


@dataclass(frozen=True, slots=True)
class GenesisConfig:
    chain_id: str
    time: Timestamp
    governance: PublicKey
    validator_set_hash: Hash32 = EMPTY_HASH
    contracts: tuple[str, ...] = GENESIS_CONTRACTS
    # The genesis validators (public key, power) of a network chain; none on a local chain.
    validators: tuple[tuple[PublicKey, int], ...] = ()

    def deployed_contracts(self) -> tuple[str, ...]:
        """The contracts deployed at genesis: the named ones, and governance on a chain
        with validators."""
        if keys.GOVERNANCE_CONTRACT in self.contracts:
            raise GenesisError(f"contract {keys.GOVERNANCE_CONTRACT!r} comes with the validators, found it named in contracts")
        return self.contracts + ((keys.GOVERNANCE_CONTRACT,) if self.validators else ())

    def init_arguments(self, name: str) -> list[object]:
        if name == keys.GOVERNANCE_CONTRACT:
            return [self.chain_id, [[key, power] for key, power in self.validators]]
        return []


class GenesisError(ChainError):
    pass


def compile_contracts(
    names: tuple[str, ...], sources: Mapping[str, str] | None = None
) -> dict[str, vm.CompiledContract]:
    """Compile the named contracts; a name missing from ``sources`` is read from this package,
    and so is every module a contract imports."""
    given = sources or {}
    return {
        name: vm.compile_source(given.get(name) or contract_source(name), name, contract_module) for name in names
    }


def build_genesis(
    config: GenesisConfig, backend: Backend, sources: Mapping[str, str] | None = None
) -> tuple[State, BlockHeader]:
    """Return the genesis state (uncommitted view over ``backend``) and the genesis header.

    ``sources`` supplies contract sources that are not part of this package (examples, tests).
    """
    state = State.at(backend)
    writes: dict[bytes, bytes | None] = {
        keys.meta_key("chain_id"): codec.encode(config.chain_id),
        keys.meta_key("governance"): codec.encode(config.governance),
    }
    names = config.deployed_contracts()
    for name, compiled in compile_contracts(names, sources).items():
        keys.check_contract_name(name)  # an identifier: namespaces disjoint by construction
        writes[keys.code_key(name)] = codec.encode([compiled.code, compiled.source_hash, 1, config.governance])
    state = state.with_writes(writes)
    runtime = VMRuntime()
    for name in names:
        ctx = CallContext(
            config.governance,
            hash_domain(Domain.CONTRACT, b"genesis-init:" + name.encode()),
            Height(0),
            config.time,
            config.chain_id,
        )
        result = runtime.execute(state, ctx, name, "init", config.init_arguments(name), MAX_TX_GAS)
        if not result.success:
            raise GenesisError(f"init of contract {name!r} succeeding expected, found: {result.error}")
        state = state.with_writes(result.writes)
    header = BlockHeader(
        Height(0),
        EMPTY_HASH,
        config.time,
        config.governance,
        EMPTY_HASH,
        state.root,
        EMPTY_HASH,
        config.validator_set_hash,
        config.validator_set_hash,  # the first set is also the next one
        EMPTY_HASH,  # no certificate before the genesis
    )
    return state, header
