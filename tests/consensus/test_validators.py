"""Validator sets: thresholds by power, CometBFT's proposer priority against values worked
out by hand, set changes, the hash."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import codec
from chain.hashing import Domain, hash_domain
from chain.types import PublicKey
from consensus.errors import InvalidValidatorSet
from consensus.validators import (
    Validator,
    ValidatorSet,
    more_than_one_third,
    more_than_two_thirds,
)

A, B, C, D = (PublicKey(bytes([i]) * 32) for i in (1, 2, 3, 4))


def test_thresholds_are_strict():
    assert not more_than_two_thirds(20, 30)  # exactly 2/3 is not enough (pitfall 2)
    assert more_than_two_thirds(21, 30)
    assert not more_than_one_third(10, 30)
    assert more_than_one_third(11, 30)
    assert more_than_two_thirds(3, 4) and not more_than_two_thirds(2, 3)


def test_proposer_priorities_by_hand_for_powers_1_2_3():
    # P = 6. Each step adds the powers, the highest priority proposes and loses 6:
    #   (0,0,0) +(1,2,3) -> (1,2,3): C proposes -> (1,2,-3)
    #   (1,2,-3) -> (2,4,0): B -> (2,-2,0)
    #   (2,-2,0) -> (3,0,3): A and C tie at 3, the lower key A -> (-3,0,3)
    #   (-3,0,3) -> (-2,2,6): C -> (-2,2,0)
    #   (-2,2,0) -> (-1,4,3): B -> (-1,-2,3)
    #   (-1,-2,3) -> (0,0,6): C -> (0,0,0), and the cycle restarts
    s = ValidatorSet.genesis([Validator(A, 1), Validator(B, 2), Validator(C, 3)])
    expected = [(C, (1, 2, -3)), (B, (2, -2, 0)), (A, (-3, 0, 3)), (C, (-2, 2, 0)), (B, (-1, -2, 3)), (C, (0, 0, 0))]
    for proposer, priorities in expected:
        assert (s.proposer, s.priorities) == (proposer, priorities)
        s = s.for_next_height()


def test_rounds_rotate_like_heights_from_the_same_start():
    s = ValidatorSet.genesis([Validator(A, 1), Validator(B, 2), Validator(C, 3)])
    assert [s.proposer_at(r) for r in range(6)] == [C, B, A, C, B, C]
    assert s.for_next_height().proposer_at(0) == s.proposer_at(1)


def test_equal_powers_rotate_round_robin_by_key():
    s = ValidatorSet.genesis([Validator(k, 5) for k in (D, B, A, C)])
    assert [s.proposer_at(r) for r in range(8)] == [A, B, C, D, A, B, C, D]


def test_rescaling_keeps_priorities_within_twice_the_total_power():
    # A heavy newcomer starts at -1.125 P; the spread (> 2P after the change) is rescaled.
    s = ValidatorSet.genesis([Validator(A, 1), Validator(B, 1)])
    changed = s.for_next_height({C: 100})
    total = 102
    assert max(changed.priorities) - min(changed.priorities) <= 2 * total + 2


def test_newcomer_starts_behind_so_rejoining_does_not_jump_the_queue():
    s = ValidatorSet.genesis([Validator(A, 10), Validator(B, 10), Validator(C, 10)])
    # After the change P = 40; D starts at -(40 + 5) = -45 before centring: last in line.
    s = s.for_next_height({D: 10})
    following = [s.proposer]
    for _ in range(3):
        s = s.for_next_height()
        following.append(s.proposer)
    assert D not in following[:3]


def test_removal_and_power_change():
    s = ValidatorSet.genesis([Validator(A, 10), Validator(B, 10), Validator(C, 10)])
    s2 = s.for_next_height({B: 0, C: 25})
    assert [v.public_key for v in s2.validators] == [A, C]
    assert s2.power_of(C) == 25 and s2.power_of(B) == 0 and B not in s2
    assert s2.total_power == 35


@given(st.lists(st.integers(1, 1000), min_size=1, max_size=7), st.integers(1, 60))
def test_each_validator_proposes_in_proportion_to_its_power(powers, cycles):
    keys = [PublicKey(bytes([i + 1]) * 32) for i in range(len(powers))]
    s = ValidatorSet.genesis(Validator(k, p) for k, p in zip(keys, powers, strict=True))
    total = sum(powers)
    counts: Counter[bytes] = Counter()
    for _ in range(total if total <= 300 else 300):
        counts[s.proposer] += 1
        s = s.for_next_height()
    if total <= 300:  # one full cycle of P heights: exactly power times each
        assert all(counts[k] == p for k, p in zip(keys, powers, strict=True))
    assert abs(sum(s.priorities)) < len(powers)  # centred


def test_hash_commits_to_keys_and_powers_only():
    s = ValidatorSet.genesis([Validator(A, 1), Validator(B, 2)])
    expected = hash_domain(Domain.VALIDATOR_SET, codec.encode([[A, 1], [B, 2]]))
    assert s.hash == expected
    assert s.for_next_height().hash == expected  # priorities move, the hash does not
    assert s.for_next_height({B: 3}).hash != expected


@pytest.mark.parametrize(
    ("validators", "message"),
    [
        ([], "at least one validator"),
        ([Validator(A, 0)], "positive power"),
        ([Validator(A, 1), Validator(A, 2)], "without duplicates"),
        ([Validator(PublicKey(b"short"), 1)], "32-byte public key"),
        ([Validator(A, 2**62)], "total power at most"),
    ],
)
def test_invalid_validator_sets_are_refused(validators, message):
    with pytest.raises(InvalidValidatorSet, match=message):
        ValidatorSet.genesis(validators)


def test_invalid_removal_of_a_non_member_and_of_everyone():
    s = ValidatorSet.genesis([Validator(A, 1)])
    with pytest.raises(InvalidValidatorSet, match="not in it"):
        s.for_next_height({B: 0})
    with pytest.raises(InvalidValidatorSet, match="after the change"):
        s.for_next_height({A: 0})


@given(st.lists(st.integers(1, 50), min_size=1, max_size=6), st.integers(0, 40))
def test_a_rounds_proposer_is_one_call_of_that_many_steps(powers, round):
    # proposer_at extends its steps one round at a time; the definition is CometBFT's
    # IncrementProposerPriority(round) on a copy of the height's set.
    from consensus.validators import _increment

    keys = [PublicKey(bytes([i + 1]) * 32) for i in range(len(powers))]
    s = ValidatorSet.genesis(Validator(k, p) for k, p in zip(keys, powers, strict=True)).for_next_height()
    expected = s.proposer if round == 0 else _increment(s.validators, s.priorities, round)[1]
    assert s.proposer_at(round) == expected

