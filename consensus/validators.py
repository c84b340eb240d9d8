"""The validator set: who votes, with what power, and who proposes in each round.

Proposer rotation is CometBFT's proposer-priority rule (``types/validator_set.go``), so a
validator proposes in proportion to its power, deterministically on every node:

1. if the spread of priorities exceeds 2P (P the total power), divide every priority by
   ceil(spread / 2P), truncating toward zero as Go does;
2. subtract the average priority (rounded down);
3. then, once per step: add each validator's power to its priority; the highest priority
   proposes (a tie goes to the lower public key); its priority drops by P.

A set for height h holds the priorities after the step that chose round 0's proposer (as
CometBFT's set does); round r's proposer is r more steps of a copy. The next height's set
is one more step (``for_next_height``). Powers, not priorities, are hashed
(``hash``): the priorities follow from the history of the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from chain import codec
from chain.errors import DecodeError
from chain.hashing import Domain, Hash32, hash_domain
from chain.types import PUBLIC_KEY_SIZE, PublicKey
from consensus.errors import InvalidValidatorSet
from consensus.messages import expect_bytes, expect_int, expect_list

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_TOTAL_POWER: Final = INT64_MAX // 8  # CometBFT's cap: priorities stay far from overflow
PRIORITY_WINDOW_FACTOR: Final = 2  # the spread of priorities is kept within 2P


def more_than_two_thirds(power: int, total: int) -> bool:
    """The paper's 2f+1 by voting power: strictly more than two thirds of ``total``."""
    return 3 * power > 2 * total


def more_than_one_third(power: int, total: int) -> bool:
    """The paper's f+1 by voting power: strictly more than one third of ``total``."""
    return 3 * power > total


@dataclass(frozen=True, slots=True)
class Validator:
    public_key: PublicKey
    power: int


def _clip(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


def _truncated_div(a: int, b: int) -> int:
    """Division rounding toward zero (Go's ``/`` on int64), not Python's floor."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@dataclass(frozen=True)
class ValidatorSet:
    """Validators sorted by public key with their proposer priorities (same order)."""

    validators: tuple[Validator, ...]
    priorities: tuple[int, ...]
    proposer: PublicKey  # round 0's proposer at this set's height
    _index: dict[bytes, int] = field(default_factory=dict, compare=False, repr=False)
    # Proposers of rounds 1, 2, ... computed so far, and the priorities after those steps
    # (a cache of a pure function of the set, extended one step per round asked for).
    _later_proposers: list[PublicKey] = field(default_factory=list, compare=False, repr=False)
    _later_priorities: list[int] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.validators:
            raise InvalidValidatorSet("at least one validator expected, found none")
        if len(self.priorities) != len(self.validators):
            raise InvalidValidatorSet(
                f"one priority per validator expected, found {len(self.priorities)} for {len(self.validators)}"
            )
        keys = [v.public_key for v in self.validators]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise InvalidValidatorSet("validators sorted by public key without duplicates expected")
        for v in self.validators:
            if type(v.public_key) is not bytes or len(v.public_key) != PUBLIC_KEY_SIZE:
                raise InvalidValidatorSet(f"a {PUBLIC_KEY_SIZE}-byte public key expected, found {v.public_key!r}")
            if type(v.power) is not int or v.power <= 0:
                raise InvalidValidatorSet(f"a positive power expected for {v.public_key.hex()}, found {v.power!r}")
        if self.total_power > MAX_TOTAL_POWER:
            raise InvalidValidatorSet(f"total power at most {MAX_TOTAL_POWER} expected, found {self.total_power}")
        if self.proposer not in keys:
            raise InvalidValidatorSet(f"the proposer {self.proposer.hex()} is not in the set")
        self._index.update((k, i) for i, k in enumerate(keys))

    # --- construction -------------------------------------------------------------------

    @classmethod
    def genesis(cls, validators: Iterable[Validator]) -> ValidatorSet:
        """The first height's set: priorities start at zero, then one step chooses round 0's
        proposer (CometBFT's ``NewValidatorSet``)."""
        ordered = tuple(sorted(validators, key=lambda v: v.public_key))
        if not ordered:
            raise InvalidValidatorSet("at least one validator expected, found none")
        priorities, proposer = _increment(ordered, (0,) * len(ordered), 1)
        return cls(ordered, priorities, proposer)

    def for_next_height(self, changes: Mapping[PublicKey, int] | None = None) -> ValidatorSet:
        """The set one height later: ``changes`` applied (public key to new power, 0
        removes), then one step of the rotation (CometBFT's ``UpdateWithChangeSet`` then
        ``IncrementProposerPriority(1)``). A new validator starts at -1.125 P of the new
        total, so leaving and joining again does not jump the queue; after a change the
        priorities are rescaled and centred. Which height a change takes effect at (two
        after the block that decided it) is the caller's rule, not this set's."""
        validators, priorities = self.validators, self.priorities
        if changes:
            validators, priorities = _apply_changes(validators, priorities, changes)
        new_priorities, proposer = _increment(validators, priorities, 1)
        return ValidatorSet(validators, new_priorities, proposer)

    # --- queries ------------------------------------------------------------------------

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def __len__(self) -> int:
        return len(self.validators)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def power_of(self, key: bytes) -> int:
        """The validator's power; 0 for a key that is not in the set."""
        i = self._index.get(key)
        return 0 if i is None else self.validators[i].power

    def proposer_at(self, round: int) -> PublicKey:
        """The proposer of ``round`` at this set's height."""
        if round < 0:
            raise ValueError(f"a round >= 0 expected, found {round}")
        if round == 0:
            return self.proposer
        if not self._later_priorities:
            # Round r is one call of r steps on a copy of this height's set: CometBFT
            # rescales and centres once per call, then steps r times. So rescale and centre
            # once here, and extend step by step: O(r) for round r, not O(r^2).
            total = self.total_power
            self._later_priorities.extend(_centre(_rescale(self.priorities, PRIORITY_WINDOW_FACTOR * total)))
        while len(self._later_proposers) < round:
            self._later_proposers.append(self.validators[_step(self.validators, self._later_priorities)].public_key)
        return self._later_proposers[round - 1]

    def to_value(self) -> list[Any]:
        return [[v.public_key, v.power] for v in self.validators]

    def encode(self) -> bytes:
        """The whole set as a node stores it between heights: keys, powers, priorities and
        round 0's proposer (``hash`` covers keys and powers only)."""
        rows = [[v.public_key, v.power, p] for v, p in zip(self.validators, self.priorities, strict=True)]
        return codec.encode([rows, self.proposer])

    @classmethod
    def decode(cls, data: bytes) -> ValidatorSet:
        f = expect_list(codec.decode(data), "validator set", 2)
        if type(f[0]) is not list:
            raise DecodeError(f"validator set.validators: array expected, found {type(f[0]).__name__}")
        validators, priorities = [], []
        for i, row in enumerate(f[0]):
            key, power, priority = expect_list(row, f"validator set.validators[{i}]", 3)
            validators.append(Validator(PublicKey(expect_bytes(key, f"validators[{i}].public_key", PUBLIC_KEY_SIZE)),
                                        expect_int(power, f"validators[{i}].power", 1, MAX_TOTAL_POWER)))
            priorities.append(expect_int(priority, f"validators[{i}].priority", INT64_MIN, INT64_MAX))
        proposer = PublicKey(expect_bytes(f[1], "validator set.proposer", PUBLIC_KEY_SIZE))
        try:
            return cls(tuple(validators), tuple(priorities), proposer)
        except InvalidValidatorSet as exc:
            raise DecodeError(f"validator set: {exc}") from None

    @property
    def hash(self) -> Hash32:
        """What a header commits to (``validator_set_hash``): keys and powers, in order."""
        return hash_domain(Domain.VALIDATOR_SET, codec.encode(self.to_value()))


def _apply_changes(
    validators: tuple[Validator, ...], priorities: tuple[int, ...], changes: Mapping[PublicKey, int]
) -> tuple[tuple[Validator, ...], tuple[int, ...]]:
    powers = {v.public_key: v.power for v in validators}
    old = dict(zip((v.public_key for v in validators), priorities, strict=True))
    for key, power in changes.items():
        if type(power) is not int or power < 0:
            raise InvalidValidatorSet(f"a power >= 0 expected for {bytes(key).hex()}, found {power!r}")
        if power == 0:
            if key not in powers:
                raise InvalidValidatorSet(f"removal of a validator in the set expected, {bytes(key).hex()} is not in it")
            del powers[key]
        else:
            powers[key] = power
    ordered = tuple(Validator(k, p) for k, p in sorted(powers.items()))
    if not ordered:
        raise InvalidValidatorSet("at least one validator expected after the change, found none")
    total = sum(v.power for v in ordered)
    if total > MAX_TOTAL_POWER:
        raise InvalidValidatorSet(f"total power at most {MAX_TOTAL_POWER} expected, found {total}")
    newcomer = -(total + (total >> 3))
    updated = tuple(old.get(v.public_key, newcomer) for v in ordered)
    return ordered, _centre(_rescale(updated, PRIORITY_WINDOW_FACTOR * total))


# --- the rotation --------------------------------------------------------------------------


def _rescale(priorities: tuple[int, ...], window: int) -> tuple[int, ...]:
    spread = max(priorities) - min(priorities)
    if window <= 0 or spread <= window:
        return priorities
    ratio = (spread + window - 1) // window
    return tuple(_truncated_div(p, ratio) for p in priorities)


def _centre(priorities: tuple[int, ...]) -> tuple[int, ...]:
    average = sum(priorities) // len(priorities)  # Go's big.Int Div: floor for n > 0
    return tuple(_clip(p - average) for p in priorities)


def _increment(validators: tuple[Validator, ...], priorities: tuple[int, ...], times: int) -> tuple[tuple[int, ...], PublicKey]:
    """CometBFT's ``IncrementProposerPriority(times)``: the new priorities and the last proposer."""
    total = sum(v.power for v in validators)
    current = list(_centre(_rescale(priorities, PRIORITY_WINDOW_FACTOR * total)))
    chosen = 0
    for _ in range(times):
        chosen = _step(validators, current)
    return tuple(current), validators[chosen].public_key


def _step(validators: tuple[Validator, ...], current: list[int]) -> int:
    """One step of the rotation on ``current`` (changed in place); the proposer's index."""
    total = sum(v.power for v in validators)
    for i, v in enumerate(validators):
        current[i] = _clip(current[i] + v.power)
    # Highest priority; on a tie the lower key, which comes first in key order.
    chosen = max(range(len(validators)), key=lambda i: (current[i], -i))
    current[chosen] = _clip(current[chosen] - total)
    return chosen
