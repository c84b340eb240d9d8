"""Proofs that an item is in a list under ``merkle_list_root`` (transactions, receipts):
``merkle_list_proof`` and ``merkle_list_verify``, against the root computed from the list."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chain.hashing import merkle_list_proof, merkle_list_root, merkle_list_verify

LISTS = st.lists(st.binary(max_size=12), min_size=1, max_size=40)


@given(items=LISTS, data=st.data())
def test_every_item_is_proven_at_its_position(items: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    root = merkle_list_root(items)
    assert merkle_list_verify(root, items[index], index, len(items), merkle_list_proof(items, index))


@given(items=LISTS, data=st.data())
def test_invalid_proof_of_another_item_or_a_shortened_proof(items: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    root = merkle_list_root(items)
    proof = merkle_list_proof(items, index)
    assert not merkle_list_verify(root, items[index] + b"x", index, len(items), proof)
    if proof:
        assert not merkle_list_verify(root, items[index], index, len(items), proof[:-1])
        assert not merkle_list_verify(root, items[index], index, len(items), [*proof, proof[0]])
    assert not merkle_list_verify(root, items[index], len(items), len(items), proof)


def test_a_single_item_is_its_own_proof() -> None:
    assert merkle_list_proof([b"only"], 0) == []
    assert merkle_list_verify(merkle_list_root([b"only"]), b"only", 0, 1, [])
