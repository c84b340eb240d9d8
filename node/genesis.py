"""A network's genesis document: the one file every node of a network shares.

``HOME/genesis.json`` names the chain, its start time, the governance key that bootstraps
it, the first validators with their voting power, and the contracts deployed at genesis.
Every node builds the same genesis state and header from it (``build``), and the header
commits to the first validator set by its hash, so two nodes given different documents
disagree from block 0 and a node refuses a store built from another document
(``node.storechain``).

```json
{
  "chain_id": "meterchain-devnet",
  "time": 1735689600,
  "governance": "<64 hex digits: the governance public key>",
  "validators": [{"name": "validator-1", "public_key": "<64 hex digits>", "power": 10}],
  "contracts": ["registry", "supply", "billing", "payments"]
}
```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chain.keys import CONTRACT_NAME
from chain.state import Backend, State
from chain.types import MAX_CHAIN_ID_LEN, BlockHeader, PublicKey, Timestamp
from consensus.errors import InvalidValidatorSet
from consensus.validators import Validator, ValidatorSet
from contracts import contract_module
from contracts.genesis import GENESIS_CONTRACTS, GenesisConfig, build_genesis

GENESIS_FILE: Final = "genesis.json"
_KEY_PATTERN: Final = r"^[0-9a-f]{64}$"


class GenesisError(Exception):
    """A genesis document that cannot be used; the message says what was expected."""


class GenesisValidator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    public_key: str = Field(pattern=_KEY_PATTERN, description="the validator's signing key, hex")
    power: int = Field(gt=0, description="voting power")


class GenesisDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_id: str = Field(min_length=1, max_length=MAX_CHAIN_ID_LEN)
    time: int = Field(ge=0, description="the genesis time, seconds since the epoch")
    governance: str = Field(pattern=_KEY_PATTERN, description="the governance public key, hex")
    validators: list[GenesisValidator] = Field(min_length=1)
    contracts: list[str] = Field(default_factory=lambda: list(GENESIS_CONTRACTS))

    @field_validator("validators")
    @classmethod
    def _distinct(cls, validators: list[GenesisValidator]) -> list[GenesisValidator]:
        keys = [v.public_key for v in validators]
        names = [v.name for v in validators]
        if len(set(keys)) != len(keys) or len(set(names)) != len(names):
            raise ValueError("validators with distinct names and public keys expected, found a repeat")
        try:  # the set's own rules (total power), here rather than when a node starts
            ValidatorSet.genesis(Validator(PublicKey(bytes.fromhex(v.public_key)), v.power) for v in validators)
        except InvalidValidatorSet as exc:
            raise ValueError(str(exc)) from None
        return validators

    @field_validator("contracts")
    @classmethod
    def _shipped(cls, contracts: list[str]) -> list[str]:
        # Each is compiled from this package's sources when the genesis is built: a name
        # the package does not ship would otherwise fail only there, far from this file.
        for name in contracts:
            shipped = (
                CONTRACT_NAME.fullmatch(name) is not None
                and not name.startswith("_")
                and name != "genesis"  # the module that builds the genesis, not a contract
                and contract_module(name) is not None
            )
            if not shipped:
                raise ValueError(f"names of contracts shipped with meterchain expected, found {name!r:.80}")
        if len(set(contracts)) != len(contracts):
            raise ValueError("each contract once expected, found a repeat")
        return contracts

    # --- files --------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> GenesisDocument:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise GenesisError(f"a genesis document at {path} expected, found {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise GenesisError(f"{path}: UTF-8 JSON expected, found a byte that is not UTF-8 at {exc.start}") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise GenesisError(f"{path}: {problems}") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(), indent=2) + "\n", encoding="utf-8")

    # --- what it means --------------------------------------------------------------------

    @property
    def governance_key(self) -> PublicKey:
        return PublicKey(bytes.fromhex(self.governance))

    def validator_set(self) -> ValidatorSet:
        """The validators of height 1."""
        return ValidatorSet.genesis(
            Validator(PublicKey(bytes.fromhex(v.public_key)), v.power) for v in self.validators
        )

    def validator_names(self) -> dict[bytes, str]:
        return {bytes.fromhex(v.public_key): v.name for v in self.validators}

    def build(self, backend: Backend) -> tuple[State, BlockHeader]:
        """The genesis state (a view over ``backend``, not committed) and the genesis
        header, whose ``validator_set_hash`` is the first validator set's hash. The
        ``governance`` contract is deployed with the validators (contracts.genesis)."""
        config = GenesisConfig(
            self.chain_id,
            Timestamp(self.time),
            self.governance_key,
            validator_set_hash=self.validator_set().hash,
            contracts=tuple(self.contracts),
            validators=tuple((PublicKey(bytes.fromhex(v.public_key)), v.power) for v in self.validators),
        )
        return build_genesis(config, backend)
