"""The sparse Merkle tree (chain.merkle) against a from-the-definition reference.

``spec_root`` below recomputes a root straight from the definition in chain/merkle.py's
docstring (recursive split of a set of leaves), independent of the batch-update code.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import merkle
from chain.errors import DecodeError, ProofError
from chain.hashing import EMPTY_HASH, Domain, Hash32
from chain.merkle import (
    MissingNode,
    Proof,
    apply_updates,
    encode_leaf,
    key_path,
    make_updates,
    verify_proof,
)

LEAF_TAG = Domain.MERKLE_LEAF.value.ljust(16, b"\x00")
NODE_TAG = Domain.MERKLE_NODE.value.ljust(16, b"\x00")


def spec_bit(path: bytes, depth: int) -> int:
    return int.from_bytes(path, "big") >> (255 - depth) & 1


def spec_root(leaves: dict[bytes, bytes], depth: int = 0) -> bytes:
    """Root of ``{path: value_hash}`` from the definition: empty, one leaf, or two halves."""
    if not leaves:
        return bytes(32)
    if len(leaves) == 1:
        ((path, digest),) = leaves.items()
        return hashlib.sha256(LEAF_TAG + path + digest).digest()
    left = {p: d for p, d in leaves.items() if spec_bit(p, depth) == 0}
    right = {p: d for p, d in leaves.items() if spec_bit(p, depth) == 1}
    return hashlib.sha256(
        NODE_TAG + spec_root(left, depth + 1) + spec_root(right, depth + 1)
    ).digest()


def spec_root_of(content: dict[bytes, bytes]) -> bytes:
    return spec_root(
        {
            hashlib.sha256(Domain.STATE_KEY.tag + k).digest(): hashlib.sha256(LEAF_TAG + v).digest()
            for k, v in content.items()
        }
    )


class Tree:
    """A node store and a root, updated through ``apply_updates``."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}
        self.root: Hash32 = EMPTY_HASH

    def write(self, writes: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
        self.root, new = apply_updates(self.nodes.get, self.root, make_updates(writes))
        self.nodes.update(new)
        return new

    def prove(self, key: bytes) -> Proof:
        return merkle.prove(self.nodes.get, self.root, key)


keys = st.binary(min_size=1, max_size=6)
values = st.binary(max_size=12)
contents = st.dictionaries(keys, values, max_size=40)


def reachable(nodes: dict[bytes, bytes], root: bytes) -> list[bytes]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if node == EMPTY_HASH:
            continue
        data = nodes[node]
        out.append(data)
        if data[0] == merkle.NODE_INNER:
            stack += [data[1:33], data[33:65]]
    return out


# --- roots -----------------------------------------------------------------------------


def test_basic_empty_tree_has_the_zero_root() -> None:
    tree = Tree()
    assert tree.write({}) == {}
    assert tree.root == EMPTY_HASH
    tree.write({b"ghost": None})  # deleting an absent key changes nothing
    assert tree.root == EMPTY_HASH


def test_basic_one_key_tree_is_its_leaf() -> None:
    tree = Tree()
    tree.write({b"meter-1": b"42"})
    leaf, _ = encode_leaf(b"meter-1", b"42")
    assert tree.root == leaf == spec_root_of({b"meter-1": b"42"})


@settings(max_examples=60, deadline=None)
@given(first=contents, second=st.dictionaries(keys, st.none() | values, max_size=30))
def test_basic_batch_updates_match_the_definition(
    first: dict[bytes, bytes], second: dict[bytes, bytes | None]
) -> None:
    tree = Tree()
    tree.write(dict(first))
    assert tree.root == spec_root_of(first)
    tree.write(second)
    final = {**first, **{k: v for k, v in second.items() if v is not None}}
    for k, v in second.items():
        if v is None:
            final.pop(k, None)
    assert tree.root == spec_root_of(final)
    # The tree stays compact: no inner node over a lone leaf and an empty subtree.
    for data in reachable(tree.nodes, tree.root):
        if data[0] == merkle.NODE_INNER:
            children = [data[1:33], data[33:65]]
            if EMPTY_HASH in children:
                other = children[1] if children[0] == EMPTY_HASH else children[0]
                assert other != EMPTY_HASH
                assert tree.nodes[other][0] == merkle.NODE_INNER


def test_basic_update_writes_only_the_changed_path() -> None:
    tree = Tree()
    tree.write({f"k{i}".encode(): b"v" for i in range(2000)})
    new = tree.write({b"k7": b"w"})
    depth = len(tree.prove(b"k7").siblings)
    assert len(new) == depth + 1  # one new inner node per level and the new leaf


def test_basic_rewriting_a_value_or_deleting_nothing_writes_no_node() -> None:
    tree = Tree()
    tree.write({f"k{i}".encode(): b"v" for i in range(100)})
    root = tree.root
    assert tree.write({b"k1": b"v"}) == {}
    assert tree.write({b"k1": b"v", b"k2": b"v", b"absent": None}) == {}
    assert tree.root == root


def test_basic_paths_that_differ_only_in_their_last_bit() -> None:
    # Two leaves whose paths share 255 bits hang under a chain of 255 inner nodes with an
    # empty sibling each; deleting one collapses the chain back into the other leaf.
    a, b = bytes(31) + b"\x00", bytes(31) + b"\x01"
    digest = bytes(range(32))

    def put(path: bytes) -> merkle.Update:
        h = merkle.leaf_hash(path, digest)
        return (path, h, b"\x01" + path + digest + b"\x00\x00")

    nodes: dict[bytes, bytes] = {}
    root, new = apply_updates(nodes.get, EMPTY_HASH, [put(a), put(b)])
    nodes.update(new)
    assert root == spec_root({a: digest, b: digest})
    assert len(new) == 2 + 256
    root, new = apply_updates(nodes.get, root, [(b, None, None)])
    assert root == merkle.leaf_hash(a, digest)
    assert new == {}


def test_invalid_missing_node_is_reported() -> None:
    tree = Tree()
    tree.write({b"a": b"1", b"b": b"2", b"c": b"3"})
    with pytest.raises(MissingNode, match="expected in the node store"):
        apply_updates({}.get, tree.root, make_updates({b"d": b"4"}))


# --- stored nodes ----------------------------------------------------------------------


@given(key=keys, value=values)
def test_basic_leaf_round_trip(key: bytes, value: bytes) -> None:
    h, data = encode_leaf(key, value)
    path, digest, k, v = merkle.decode_leaf(data)
    assert (path, digest, k, v) == (key_path(key), merkle.value_hash(value), key, value)
    assert h == merkle.leaf_hash(path, digest)


def test_basic_lookup_and_iteration() -> None:
    tree = Tree()
    content = {f"meter/{i}".encode(): str(i * i).encode() for i in range(300)}
    tree.write(dict(content))
    for key, value in content.items():
        assert merkle.lookup(tree.nodes.get, tree.root, key) == value
    assert merkle.lookup(tree.nodes.get, tree.root, b"meter/300") is None
    assert dict(merkle.iter_leaves(tree.nodes.get, tree.root)) == content


# --- proofs ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(content=contents.filter(bool), absent=st.lists(keys, max_size=10))
def test_basic_every_key_and_every_absence_is_provable(
    content: dict[bytes, bytes], absent: list[bytes]
) -> None:
    tree = Tree()
    tree.write(dict(content))
    for key, value in content.items():
        proof = tree.prove(key)
        assert verify_proof(tree.root, key, value, proof)
        assert not verify_proof(tree.root, key, None, proof)
        assert not verify_proof(tree.root, key, value + b"x", proof)
    for key in absent:
        if key in content:
            continue
        proof = tree.prove(key)
        assert verify_proof(tree.root, key, None, proof)
        assert not verify_proof(tree.root, key, b"", proof)


def test_basic_proofs_in_the_empty_and_one_leaf_trees() -> None:
    tree = Tree()
    assert tree.prove(b"k") == Proof((), None)
    assert verify_proof(tree.root, b"k", None, Proof((), None))
    tree.write({b"only": b"1"})
    proof = tree.prove(b"other")
    assert proof.siblings == () and proof.leaf == (key_path(b"only"), merkle.value_hash(b"1"))
    assert verify_proof(tree.root, b"other", None, proof)
    assert verify_proof(tree.root, b"only", b"1", tree.prove(b"only"))


def flip(data: bytes, bit_index: int) -> Hash32:
    out = bytearray(data)
    out[bit_index // 8] ^= 0x80 >> (bit_index % 8)
    return Hash32(bytes(out))


@pytest.fixture(scope="module")
def big_tree() -> Tree:
    tree = Tree()
    tree.write({f"acct/{i}".encode(): i.to_bytes(4, "big") for i in range(500)})
    return tree


def test_invalid_tampered_inclusion_proofs_are_rejected(big_tree: Tree) -> None:
    key, value = b"acct/123", (123).to_bytes(4, "big")
    proof = big_tree.prove(key)
    root = big_tree.root
    assert verify_proof(root, key, value, proof)
    assert proof.leaf is not None
    path, digest = proof.leaf
    for i, sibling in enumerate(proof.siblings):
        for b in (0, 100, 255):
            sibs = list(proof.siblings)
            sibs[i] = flip(sibling, b)
            assert not verify_proof(root, key, value, Proof(tuple(sibs), proof.leaf))
    for b in range(0, 256, 17):
        assert not verify_proof(flip(root, b), key, value, proof)
        assert not verify_proof(root, key, value, Proof(proof.siblings, (flip(path, b), digest)))
        assert not verify_proof(root, key, value, Proof(proof.siblings, (path, flip(digest, b))))
    for b in range(len(value) * 8):
        assert not verify_proof(root, key, flip(value, b), proof)
    for b in range(len(key) * 8):
        assert not verify_proof(root, flip(key, b), value, proof)
    # Dropped, added or reordered siblings.
    assert not verify_proof(root, key, value, Proof(proof.siblings[1:], proof.leaf))
    assert not verify_proof(root, key, value, Proof(proof.siblings[:-1], proof.leaf))
    assert not verify_proof(root, key, value, Proof((*proof.siblings, EMPTY_HASH), proof.leaf))
    assert not verify_proof(root, key, value, Proof(proof.siblings[::-1], proof.leaf))


def test_invalid_tampered_absence_proofs_are_rejected(big_tree: Tree) -> None:
    root = big_tree.root
    for key in (f"nobody/{i}".encode() for i in range(40)):
        proof = big_tree.prove(key)
        assert verify_proof(root, key, None, proof)
        if proof.leaf is None:
            # Claim an empty subtree where there is a leaf: the root changes.
            assert not verify_proof(root, key, None, Proof(proof.siblings, (key_path(key), bytes(32))))
        else:
            # Claim the neighbour's leaf is not there.
            assert not verify_proof(root, key, None, Proof(proof.siblings, None))
            path, digest = proof.leaf
            assert not verify_proof(root, key, None, Proof(proof.siblings, (path, flip(digest, 3))))
        # The absence proof of one key is no absence proof of the neighbour's own key.
        present = b"acct/7"
        assert not verify_proof(root, present, None, big_tree.prove(present))
        assert not verify_proof(root, present, None, proof)
        for i in range(len(proof.siblings)):
            sibs = list(proof.siblings)
            sibs[i] = flip(sibs[i], 9)
            assert not verify_proof(root, key, None, Proof(tuple(sibs), proof.leaf))


def test_invalid_leaf_from_another_subtree_cannot_prove_absence(big_tree: Tree) -> None:
    # A real leaf elsewhere in the tree must not pass as the occupant of ``key``'s subtree.
    key = b"nobody/1"
    other = big_tree.prove(b"acct/1")
    assert other.leaf is not None
    if not merkle.shares_prefix(other.leaf[0], key_path(key), len(other.siblings)):
        assert not verify_proof(big_tree.root, key, None, other)


def test_invalid_leaf_off_the_key_path_under_a_root_made_for_it() -> None:
    # Even under a root whose tree is built to fit (a leaf on the wrong side of the split),
    # a leaf whose path leaves the key's path cannot prove the key's absence.
    key = next(k for k in (f"probe{i}".encode() for i in range(100)) if merkle.bit(key_path(k), 0) == 0)
    stranger = next(p for p in (key_path(f"x{i}".encode()) for i in range(100)) if merkle.bit(p, 0) == 1)
    digest = merkle.value_hash(b"v")
    sibling = Hash32(bytes(range(32)))
    root = merkle.inner_hash(merkle.leaf_hash(stranger, digest), sibling)
    assert not verify_proof(root, key, None, Proof((sibling,), (stranger, digest)))


def test_invalid_non_compact_proofs_are_refused() -> None:
    # A leaf over an empty sibling never occurs in a tree; a root built that way is refused.
    key = b"meter"
    digest = merkle.value_hash(b"v")
    leaf = merkle.leaf_hash(key_path(key), digest)
    left_first = merkle.bit(key_path(key), 0) == 0
    root = merkle.inner_hash(leaf, EMPTY_HASH) if left_first else merkle.inner_hash(EMPTY_HASH, leaf)
    assert not verify_proof(root, key, b"v", Proof((EMPTY_HASH,), (key_path(key), digest)))
    assert verify_proof(leaf, key, b"v", Proof((), (key_path(key), digest)))


def test_invalid_check_proof_says_what_did_not_check(big_tree: Tree) -> None:
    proof = big_tree.prove(b"acct/5")
    merkle.check_proof(big_tree.root, b"acct/5", (5).to_bytes(4, "big"), proof)
    with pytest.raises(ProofError, match="a proof of the absence of key .* expected"):
        merkle.check_proof(big_tree.root, b"acct/5", None, proof)


@pytest.mark.parametrize(
    "proof",
    [
        Proof(("x",), None),  # type: ignore[arg-type]
        Proof((b"short",), None),  # type: ignore[arg-type]
        Proof([], None),  # type: ignore[arg-type]
        Proof((), (b"a", b"b")),  # type: ignore[arg-type]
        Proof((), ("a" * 32, "b" * 32)),  # type: ignore[arg-type]
        Proof((), None),
        Proof((Hash32(bytes(32)),) * 300, None),
        Proof((Hash32(bytes(32)),), None),
    ],
)
def test_invalid_malformed_proof_objects_are_false_not_errors(proof: Proof) -> None:
    root = Hash32(bytes(range(32)))
    assert verify_proof(root, b"k", None, proof) is False
    assert verify_proof(root, b"k", b"v", proof) is False
    assert verify_proof(b"short", b"k", None, proof) is False


@settings(max_examples=30, deadline=None)
@given(content=contents, key=keys)
def test_basic_proof_encoding_round_trip(content: dict[bytes, bytes], key: bytes) -> None:
    tree = Tree()
    tree.write(dict(content))
    proof = tree.prove(key)
    data = proof.encode()
    assert Proof.decode(data) == proof
    assert verify_proof(tree.root, key, content.get(key), Proof.decode(data))


def test_basic_proof_encoding_is_compact(big_tree: Tree) -> None:
    proof = big_tree.prove(b"acct/9")
    assert len(proof.encode()) < 40 * len(proof.siblings) + 80


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x90",  # []
        b"\x91\x90",  # [[]]
        b"\x93\x90\xc0\xc0",  # three fields
        b"\x92\xc0\xc0",  # siblings nil
        b"\x92\x91\xc4\x01\x00\xc0",  # a one-byte sibling
        b"\x92\x91\xc4\x20" + bytes(32) + b"\xc0",  # an empty sibling spelled as 32 zeros
        b"\x92\x90\x91\xc4\x20" + bytes(32),  # a leaf of one field
        b"\x92\x90\x92\xc4\x20" + bytes(32) + b"\xc4\x1f" + bytes(31),  # short value hash
        b"\x92\x90\x92\xa1a\xa1b",  # str instead of bytes
        b"\x92\x90\xc0\x00",  # trailing byte
        b"\x92\xdc\x00\x00\xc0",  # non-canonical (array16 for an empty array)
        b"\x92\xdc\x01\x01" + b"\xc4\x00" * 257 + b"\xc0",  # 257 siblings
    ],
)
def test_invalid_proof_decoding_rejects_garbage(data: bytes) -> None:
    with pytest.raises(DecodeError):
        Proof.decode(data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_invalid_random_bytes_never_decode_to_a_foreign_form(data: bytes) -> None:
    try:
        proof = Proof.decode(data)
    except DecodeError:
        return
    assert proof.encode() == data  # only the one canonical form decodes


def test_vector_documented_example() -> None:
    # The worked example of docs/state.md, checked by the tree and by the definition.
    one = {b"n/alice": b"\x05"}
    three = {**one, b"n/bob": b"\x07", b"n/carol": b"\x01"}
    tree = Tree()
    tree.write(dict(one))
    root_one = "fc5917305eb5d02500fa7f173caaec1b861a7c87e2a8f3250394ac77d9cc9957"
    assert tree.root.hex() == spec_root_of(one).hex() == root_one
    tree.write(dict(three))
    root_three = "b3da7d89fd7b520196fb80d03c1f3f93f08df70050db7cf70b1082d9505cee67"
    assert tree.root.hex() == spec_root_of(three).hex() == root_three
    proof = bytes.fromhex(
        "9291c4208265408f35ccb9db000301a7f6a5fb2ceac646c03b91eb8298ddf2ee5355e0fc92c420cc0a95a7"
        "202d43b188dbef809988273775031601c41244b1aa469d255b124291c420d31c859f52fb5e58961ace7826"
        "b2de1ec109d744e0b072b8717b9d3b6d47a31d"
    )
    assert tree.prove(b"n/alice").encode() == proof == tree.prove(b"n/dave").encode()
    assert verify_proof(tree.root, b"n/alice", b"\x05", Proof.decode(proof))
    assert verify_proof(tree.root, b"n/dave", None, Proof.decode(proof))
