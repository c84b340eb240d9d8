"""The sparse Merkle tree that commits the state: node layout, batch update, proofs.

A key sits at the 256-bit path ``hash_domain(STATE_KEY, key)``. The tree is the binary trie
over those paths with every subtree that holds exactly one leaf replaced by that leaf (the
"compact" sparse Merkle tree of Diem's Jellyfish tree). The hash of a subtree is:

- no leaf: ``EMPTY_HASH`` (32 zero bytes);
- one leaf: ``leaf_hash(path, value_hash(value))``, whatever its depth;
- two leaves or more: ``inner_hash(left, right)``; a child may be ``EMPTY_HASH``.

The root is therefore a function of the key/value content alone, not of the order in which
it was written. Leaves and inner nodes hash in distinct domains, so no node can pass for a
node of the other kind, and no leaf can pass for a leaf at another depth.

Nodes are content-addressed and never modified: an update writes new nodes along the
changed paths (O(k log n) hashes for k changes in n keys) and the old root stays readable.
The module is pure: it reads nodes through a function it is given and returns the new
nodes; ``chain.state`` decides where they are stored.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final, cast

from chain import codec
from chain.errors import ChainError, DecodeError, ProofError
from chain.hashing import EMPTY_HASH, HASH_SIZE, Domain, Hash32, hash_domain

# Paths are 256 bits, so no leaf is deeper than this and no proof has more siblings.
TREE_DEPTH: Final = HASH_SIZE * 8
MAX_KEY_SIZE: Final = 1024  # the longest key layout (chain.keys) is well under this

# Stored node layout (the node store's own format; it is never hashed or signed as such).
# inner: 0x00 | left(32) | right(32)                    its hash: inner_hash(left, right)
# leaf:  0x01 | path(32) | value_hash(32) | key_len(2, big-endian) | key | value
#                                                       its hash: leaf_hash(path, value_hash)
# A leaf keeps its key and value so that a past root can be read, and a whole state copied
# from its nodes, without the latest-value table.
NODE_INNER: Final = 0
NODE_LEAF: Final = 1
_INNER: Final = bytes([NODE_INNER])
_LEAF: Final = bytes([NODE_LEAF])
_INNER_SIZE: Final = 1 + 2 * HASH_SIZE
_LEAF_HEADER: Final = 1 + 2 * HASH_SIZE + 2

_LEAF_TAG: Final = Domain.MERKLE_LEAF.tag
_NODE_TAG: Final = Domain.MERKLE_NODE.tag
_KEY_TAG: Final = Domain.STATE_KEY.tag
_sha256 = hashlib.sha256
# Hashers that took in the leaf and node tags, copied for each hash on the update paths
# (``chain.hashing``: a copy is cheaper than ``hashlib.sha256`` looking its algorithm up).
_LEAF_HASHER: Final = Domain.MERKLE_LEAF.prefixed
_NODE_HASHER: Final = Domain.MERKLE_NODE.prefixed

NodeGetter = Callable[[bytes], bytes | None]
# One change for ``apply_updates``: (path, leaf hash, stored leaf) for a put, and
# (path, None, None) for a delete.
Update = tuple[bytes, bytes | None, bytes | None]


class StateError(ChainError):
    """A state that cannot be read or committed as asked."""


class MissingNode(StateError):
    """A node that the tree refers to is not in the node store (pruned or corrupt store)."""


class CorruptNode(StateError):
    """A stored node whose bytes are not a node of the layout above."""


# --- hashing -----------------------------------------------------------------------------


def key_path(key: bytes) -> Hash32:
    """Where ``key`` sits in the tree."""
    return hash_domain(Domain.STATE_KEY, key)


def value_hash(value: bytes) -> Hash32:
    # The leaf domain is safe here: a value hash only ever appears as the second half of a
    # leaf preimage and a verifier always recomputes it from the value, so it is never
    # compared with a node hash.
    return hash_domain(Domain.MERKLE_LEAF, value)


def leaf_hash(path: bytes, value_digest: bytes) -> Hash32:
    return Hash32(_sha256(_LEAF_TAG + path + value_digest).digest())


def inner_hash(left: bytes, right: bytes) -> Hash32:
    return Hash32(_sha256(_NODE_TAG + left + right).digest())


def bit(path: bytes, depth: int) -> int:
    """Bit ``depth`` of ``path``, most significant first: 0 goes left, 1 goes right."""
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


def shares_prefix(a: bytes, b: bytes, bits: int) -> bool:
    """Whether ``a`` and ``b`` agree on their first ``bits`` bits."""
    whole, rest = bits >> 3, bits & 7
    if a[:whole] != b[:whole]:
        return False
    if rest == 0:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return (a[whole] & mask) == (b[whole] & mask)


# --- stored nodes ------------------------------------------------------------------------


def encode_leaf(key: bytes, value: bytes) -> tuple[Hash32, bytes]:
    """The hash and stored form of the leaf for ``key`` = ``value``."""
    path = key_path(key)
    digest = value_hash(value)
    data = b"".join((_LEAF, path, digest, len(key).to_bytes(2, "big"), key, value))
    return leaf_hash(path, digest), data


def decode_leaf(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(path, value hash, key, value) of a stored leaf."""
    if len(data) < _LEAF_HEADER or data[0] != NODE_LEAF:
        raise CorruptNode(f"a stored leaf of at least {_LEAF_HEADER} bytes expected, found {len(data)}")
    key_len = int.from_bytes(data[65:67], "big")
    if len(data) < _LEAF_HEADER + key_len:
        raise CorruptNode(f"a stored leaf with a {key_len}-byte key expected, found {len(data)} bytes")
    end = _LEAF_HEADER + key_len
    return data[1:33], data[33:65], data[_LEAF_HEADER:end], data[end:]


# What a leaf of a recently written key needs besides its value: the key's path and the
# stored leaf from the value hash on up to the value (key length and key). A chain writes the
# same keys block after block (a meter's state, a sender's nonce), and both depend on the key
# alone. Bounded: cleared when full, so it costs at most this many entries (about 300 bytes each).
_paths: dict[bytes, tuple[bytes, bytes]] = {}
_PATHS_MAX: Final = 1 << 15


def make_updates(writes: Mapping[bytes, bytes | None]) -> list[Update]:
    """Turn key writes (``None`` deletes) into the sorted changes ``apply_updates`` takes."""
    # The hashes of ``key_path``, ``value_hash`` and ``leaf_hash``, inlined: this loop runs
    # once per written key and dominates a bulk build.
    updates: list[Update] = []
    append = updates.append
    key_tag = _KEY_TAG
    leaf_copy = _LEAF_HASHER.copy
    paths = _paths
    if len(paths) + len(writes) > _PATHS_MAX:
        paths.clear()
    for key, value in writes.items():
        known = paths.get(key)
        if known is None:
            path = _sha256(key_tag + key).digest()
            known = paths[key] = (path, len(key).to_bytes(2, "big") + key)
        if value is None:
            append((known[0], None, None))
        else:
            path, key_part = known
            hasher = leaf_copy()
            hasher.update(value)
            digest = hasher.digest()
            hasher = leaf_copy()
            hasher.update(path + digest)
            append((path, hasher.digest(), b"".join((_LEAF, path, digest, key_part, value))))
    updates.sort(key=_first)
    return updates


_first = itemgetter(0)


def _split(items: list[Update], lo: int, hi: int, depth: int) -> int:
    """First index in ``items[lo:hi]`` (sorted, sharing ``depth`` bits) whose bit is 1."""
    path = items[lo][0]
    whole, rest = depth >> 3, depth & 7
    keep = (0xFF << (8 - rest)) & 0xFF
    first_right = b"".join(
        (path[:whole], bytes(((path[whole] & keep) | (0x80 >> rest),)), bytes(31 - whole))
    )
    return bisect_left(items, first_right, lo, hi, key=_first)


# --- update ------------------------------------------------------------------------------


def apply_updates(
    get_node: NodeGetter, root: Hash32, updates: list[Update]
) -> tuple[Hash32, dict[bytes, bytes]]:
    """Apply sorted, path-unique ``updates`` to the tree at ``root``.

    Returns the new root and the nodes it needs that ``get_node`` may not have (every node on
    a changed path). Only the paths of the updates are read and rehashed. From an empty root
    this is the bulk build: the sorted leaves are assembled bottom-up in one pass.
    """
    new: dict[bytes, bytes] = {}

    def fetch(node: bytes) -> bytes:
        data = new.get(node)
        if data is None:
            data = get_node(node)
            if data is None:
                raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        return data

    def build(leaves: list[Update], lo: int, hi: int, depth: int) -> bytes:
        # ``leaves`` holds puts only; a subtree of two leaves or more is never collapsed.
        if hi - lo == 1:
            _, h, data = leaves[lo]
            assert h is not None
            if data is not None:
                new[h] = data
            return h
        mid = _split(leaves, lo, hi, depth)
        left = build(leaves, lo, mid, depth + 1) if mid > lo else EMPTY_HASH
        right = build(leaves, mid, hi, depth + 1) if hi > mid else EMPTY_HASH
        h = _sha256(_NODE_TAG + left + right).digest()
        new[h] = _INNER + left + right
        return h

    def rebuild(lo: int, hi: int, depth: int, existing: Update | None) -> bytes:
        # The subtree was empty or one leaf (``existing``); rebuild it from what remains.
        leaves = [u for u in updates[lo:hi] if u[1] is not None]
        if existing is not None and not any(u[0] == existing[0] for u in updates[lo:hi]):
            leaves.append(existing)
            leaves.sort(key=_first)
        if not leaves:
            return EMPTY_HASH
        return build(leaves, 0, len(leaves), depth)

    def is_leaf(node: bytes) -> bool:
        return fetch(node)[0] == NODE_LEAF

    def update_one(top: bytes, i: int, depth: int, top_stored: bytes | None = None) -> bytes:
        # One change left in this subtree (the common case below the top levels): walk down
        # its path, then rehash back up, without recursion or splitting. ``top_stored``:
        # the stored ``top`` when the caller already read it.
        path, h, data = updates[i]
        trail: list[bytes] = []  # the sibling at each level, from ``depth`` down
        node: bytes = top
        below = depth
        stored = b""
        found = top_stored
        while node != EMPTY_HASH:
            if found is None:
                found = get_node(node)  # a node of the tree at ``root``: in the store, never in ``new``
                if found is None:
                    raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
            stored = found
            found = None
            if stored[0] == NODE_LEAF:
                break
            if (path[below >> 3] >> (7 - (below & 7))) & 1:
                trail.append(stored[1:33])
                node = stored[33:65]
            else:
                trail.append(stored[33:65])
                node = stored[1:33]
            below += 1
        # BOTTOM: what replaces ``node`` (empty or one leaf) at depth ``below``.
        if node == EMPTY_HASH or stored[1:33] == path:
            if h is None:
                sub: bytes = EMPTY_HASH
                sub_is_leaf = False
            else:
                sub, sub_is_leaf = h, True
        elif h is None:
            return top  # deleting a key that is not there
        else:
            other: Update = (stored[1:33], node, None)
            pair = [other, updates[i]] if other[0] < path else [updates[i], other]
            sub, sub_is_leaf = build(pair, 0, 2, below), False
        if sub == node:
            return top  # the same value written again, or nothing to delete
        if sub == h and data is not None:
            new[h] = data
        # UP: rehash the path, moving a lone leaf up past empty siblings.
        for level in range(len(trail) - 1, -1, -1):
            sibling = trail[level]
            if sub == EMPTY_HASH:
                if sibling == EMPTY_HASH or is_leaf(sibling):
                    sub, sub_is_leaf = sibling, sibling != EMPTY_HASH
                    continue
            elif sibling == EMPTY_HASH and sub_is_leaf:
                continue
            if (path[(depth + level) >> 3] >> (7 - ((depth + level) & 7))) & 1:
                body = sibling + sub
            else:
                body = sub + sibling
            hasher = _NODE_HASHER.copy()
            hasher.update(body)
            sub = hasher.digest()
            new[sub] = _INNER + body
            sub_is_leaf = False
        return sub

    # The paths as integers, for the splits below: one ``bisect`` in C on ints instead of a
    # split key built as bytes and compared through a key function, at every inner node.
    ints = list(map(int.from_bytes, map(_first, updates)))  # big-endian; no Python loop

    def update(node: bytes, lo: int, hi: int, depth: int) -> bytes:
        # Two changes or more in this subtree (one goes to ``update_one``, none leaves the
        # child as it is: decided here, not in a call).
        if node == EMPTY_HASH:
            return rebuild(lo, hi, depth, None)
        data = get_node(node)  # a node of the tree at ``root``: in the store, never in ``new``
        if data is None:
            raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        if data[0] == NODE_LEAF:
            return rebuild(lo, hi, depth, (data[1:33], node, None))
        left, right = data[1:33], data[33:65]
        # The first path whose bit ``depth`` is 1: the shared prefix, then 1, then zeros.
        shift = 255 - depth
        mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
        below = depth + 1
        # A child with one change that is that key's own leaf (a key written again, the
        # common case of a block that writes most of the tree's keys) is replaced here,
        # without a call to ``update_one``: the new leaf, stored unless it is the same.
        count = mid - lo
        if count == 0:
            new_left = left
        elif count == 1:
            path, h, leaf = updates[lo]
            child = get_node(left) if left != EMPTY_HASH else None
            if h is not None and child is not None and child[0] == NODE_LEAF and child[1:33] == path:
                if h != left:
                    new[h] = leaf  # type: ignore[assignment]
                new_left = h
            else:
                new_left = update_one(left, lo, below, child)
        else:
            new_left = update(left, lo, mid, below)
        count = hi - mid
        if count == 0:
            new_right = right
        elif count == 1:
            path, h, leaf = updates[mid]
            child = get_node(right) if right != EMPTY_HASH else None
            if h is not None and child is not None and child[0] == NODE_LEAF and child[1:33] == path:
                if h != right:
                    new[h] = leaf  # type: ignore[assignment]
                new_right = h
            else:
                new_right = update_one(right, mid, below, child)
        else:
            new_right = update(right, mid, hi, below)
        if new_left == left and new_right == right:
            return node
        # Keep the tree compact: a lone leaf moves up to replace its parent.
        if new_left == EMPTY_HASH and (new_right == EMPTY_HASH or is_leaf(new_right)):
            return new_right
        if new_right == EMPTY_HASH and is_leaf(new_left):
            return new_left
        body = new_left + new_right
        hasher = _NODE_HASHER.copy()
        hasher.update(body)
        h = hasher.digest()
        new[h] = _INNER + body
        return h

    count = len(updates)
    new_root = root if count == 0 else update_one(root, 0, 0) if count == 1 else update(root, 0, count, 0)
    return Hash32(new_root), new


def lookup(get_node: NodeGetter, root: Hash32, key: bytes) -> bytes | None:
    """The value of ``key`` in the tree at ``root``, or ``None``; reads O(log n) nodes."""
    path = key_path(key)
    node = root
    depth = 0
    while node != EMPTY_HASH:
        data = get_node(node)
        if data is None:
            raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        if data[0] == NODE_LEAF:
            leaf_path, _, _, value = decode_leaf(data)
            return value if leaf_path == path else None
        node = Hash32(data[33:65] if bit(path, depth) else data[1:33])
        depth += 1
    return None


def iter_leaves(get_node: NodeGetter, root: Hash32) -> Iterable[tuple[bytes, bytes]]:
    """Every (key, value) under ``root``, in path order (to copy or audit a whole state)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node == EMPTY_HASH:
            continue
        data = get_node(node)
        if data is None:
            raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        if data[0] == NODE_LEAF:
            _, _, key, value = decode_leaf(data)
            yield key, value
        else:
            stack.append(Hash32(data[33:65]))
            stack.append(Hash32(data[1:33]))


# --- proofs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proof:
    """What a light client needs to check one key's value, or its absence, against a root.

    ``siblings`` are the hashes beside the key's path from the root down (``EMPTY_HASH`` for
    an empty subtree); ``leaf`` is the (path, value hash) of the single leaf at the bottom of
    that path, or ``None`` if the path ends in an empty subtree. A present key's proof ends
    in its own leaf; an absent key's ends in an empty subtree or in another key's leaf.
    """

    siblings: tuple[Hash32, ...]
    leaf: tuple[Hash32, Hash32] | None

    def encode(self) -> bytes:
        """``[siblings, leaf]``; an empty sibling is encoded as empty bytes to save 31 bytes."""
        sibs = [b"" if s == EMPTY_HASH else bytes(s) for s in self.siblings]
        leaf = None if self.leaf is None else [bytes(self.leaf[0]), bytes(self.leaf[1])]
        return codec.encode([sibs, leaf])

    @classmethod
    def decode(cls, data: bytes) -> Proof:
        """Strict decode: exactly one byte form per proof, else ``DecodeError``."""
        value: Any = codec.decode(data, max_size=64 * 1024)
        if not isinstance(value, list) or len(value) != 2:
            raise DecodeError(f"proof: array [siblings, leaf] expected, found {value!r:.80}")
        raw_sibs, raw_leaf = value
        if not isinstance(raw_sibs, list) or len(raw_sibs) > TREE_DEPTH:
            raise DecodeError(f"proof.siblings: array of at most {TREE_DEPTH} hashes expected")
        sibs: list[Hash32] = []
        for i, s in enumerate(raw_sibs):
            if not isinstance(s, bytes) or len(s) not in (0, HASH_SIZE) or s == EMPTY_HASH:
                raise DecodeError(
                    f"proof.siblings[{i}]: empty bytes or a non-zero 32-byte hash expected, "
                    f"found {s!r:.80}"
                )
            sibs.append(Hash32(s) if s else EMPTY_HASH)
        leaf: tuple[Hash32, Hash32] | None = None
        if raw_leaf is not None:
            if (
                not isinstance(raw_leaf, list)
                or len(raw_leaf) != 2
                or not all(isinstance(x, bytes) and len(x) == HASH_SIZE for x in raw_leaf)
            ):
                raise DecodeError(f"proof.leaf: nil or [path(32), value_hash(32)] expected, found {raw_leaf!r:.80}")
            leaf = (Hash32(raw_leaf[0]), Hash32(raw_leaf[1]))
        return cls(tuple(sibs), leaf)


def prove(get_node: NodeGetter, root: Hash32, key: bytes) -> Proof:
    """The proof of ``key``'s value or absence in the tree at ``root``."""
    path = key_path(key)
    siblings: list[bytes] = []
    node: bytes = root
    depth = 0
    while node != EMPTY_HASH:
        data = get_node(node)
        if data is None:
            raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        if data[0] == NODE_LEAF:
            leaf = (Hash32(data[1:33]), Hash32(data[33:65]))
            return Proof(cast(tuple[Hash32, ...], tuple(siblings)), leaf)
        if (path[depth >> 3] >> (7 - (depth & 7))) & 1:
            siblings.append(data[1:33])
            node = data[33:65]
        else:
            siblings.append(data[33:65])
            node = data[1:33]
        depth += 1
    return Proof(cast(tuple[Hash32, ...], tuple(siblings)), None)


def check_proof(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> None:
    """``verify_proof`` for callers that want an error saying what did not check."""
    if not verify_proof(root, key, value, proof):
        claim = "absence" if value is None else f"value {value.hex()[:64]}"
        raise ProofError(
            f"a proof of the {claim} of key {key.hex()[:64]} under root {root.hex()} expected, "
            f"found a proof that does not check ({len(proof.siblings)} siblings)"
        )


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """Whether ``proof`` shows that ``key`` has ``value`` (``None``: is absent) under ``root``.

    Never raises: a malformed, tampered or non-canonical proof is simply ``False``.
    """
    if not (
        isinstance(root, bytes)
        and len(root) == HASH_SIZE
        and isinstance(key, bytes)
        and (value is None or isinstance(value, bytes))
        and isinstance(proof, Proof)
        and isinstance(proof.siblings, tuple)
        and len(proof.siblings) <= TREE_DEPTH
        and all(isinstance(s, bytes) and len(s) == HASH_SIZE for s in proof.siblings)
    ):
        return False
    path = key_path(key)
    siblings = proof.siblings
    depth = len(siblings)
    # A real tree never has an inner node over one leaf and an empty subtree, nor over two
    # empty subtrees; refusing them keeps one proof per fact.
    if depth and siblings[-1] == EMPTY_HASH:
        return False
    if proof.leaf is None:
        if value is not None:
            return False
        node = EMPTY_HASH
    else:
        leaf = proof.leaf
        if not (
            isinstance(leaf, tuple)
            and len(leaf) == 2
            and all(isinstance(x, bytes) and len(x) == HASH_SIZE for x in leaf)
        ):
            return False
        leaf_path, leaf_digest = leaf
        if value is None:
            # Another key's leaf fills the subtree where ``key`` would be.
            if leaf_path == path or not shares_prefix(leaf_path, path, depth):
                return False
        elif leaf_path != path or leaf_digest != value_hash(value):
            return False
        node = leaf_hash(leaf_path, leaf_digest)
    for depth in range(len(siblings) - 1, -1, -1):
        sibling = siblings[depth]
        if bit(path, depth):
            node = Hash32(_sha256(_NODE_TAG + sibling + node).digest())
        else:
            node = Hash32(_sha256(_NODE_TAG + node + sibling).digest())
    return node == root


# --- what a commit removes and adds (for pruning) ----------------------------------------


def changed_nodes(
    get_old: NodeGetter, old_root: Hash32, get_new: NodeGetter, new_root: Hash32, paths: Iterable[bytes]
) -> tuple[set[bytes], dict[bytes, bytes]]:
    """The nodes of the tree at ``old_root`` that the tree at ``new_root`` no longer holds,
    and the nodes (hash -> stored form) of the new tree that the old one did not hold, when
    the two trees differ only at the keys whose paths are ``paths``.

    Why walking the changed paths is enough: a node's hash fixes the set of leaves under it
    (leaves carry their path), and in this compact tree the set of leaves fixes the node's
    position (an inner node sits at the longest common prefix of its leaves, so a node is
    never found at two places). A walk along path ``p`` visits exactly the nodes whose
    position is a prefix of ``p``. So an inner node on a changed path is in the other tree
    if and only if the other tree's walk along that path visits it too; a node off the
    changed paths covers no changed key and is in both trees; a leaf of an unchanged key is
    in both trees (wherever it moved), and a leaf of a changed key is on its own path.
    """
    targets = sorted(set(paths))
    wanted = set(targets)
    # The paths as integers, for the splits below: one ``bisect`` in C on ints per inner node
    # instead of a split key built as bytes (as in ``apply_updates``).
    ints = [int.from_bytes(path, "big") for path in targets]

    def walk(get_node: NodeGetter, root: Hash32) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        # (node, the range of ``targets`` under it, its depth); only non-empty ranges.
        stack: list[tuple[bytes, int, int, int]] = [(root, 0, len(targets), 0)]
        pop, push = stack.pop, stack.append
        while stack:
            node, lo, hi, depth = pop()
            if node == EMPTY_HASH:
                continue
            data = get_node(node)
            if data is None:
                raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
            if data[0] == NODE_LEAF:
                if data[1:33] in wanted:
                    found[node] = data
                continue
            found[node] = data
            # The first path whose bit ``depth`` is 1: the shared prefix, then 1, then zeros.
            shift = 255 - depth
            mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
            if hi > mid:
                push((data[33:65], mid, hi, depth + 1))
            if mid > lo:
                push((data[1:33], lo, mid, depth + 1))
        return found

    if old_root == new_root or not targets:
        return set(), {}
    old = walk(get_old, old_root)
    new = walk(get_new, new_root)
    removed = {node for node in old if node not in new}
    added = {node: data for node, data in new.items() if node not in old}
    return removed, added


# --- snapshots (state sync) --------------------------------------------------------------
#
# A snapshot of the tree at a root is served in two parts: the top of the tree (the stored
# nodes above depth ``depth``) and one chunk per non-empty subtree at ``depth`` (its
# leaves). A receiver checks the top against the root it trusts, which gives it the hash
# of every subtree at ``depth``; each chunk is then checked alone against its subtree's
# hash, so a tampered chunk is refused as soon as it arrives, and its sender is known.


def node_hash(data: bytes) -> Hash32:
    """The hash of a stored node, recomputed from its fields (a leaf's path and value hash
    are checked against its key and value); ``CorruptNode`` for bytes of no node."""
    if len(data) == _INNER_SIZE and data[0] == NODE_INNER:
        return inner_hash(data[1:33], data[33:65])
    path, digest, key, value = decode_leaf(data)
    if path != key_path(key) or digest != value_hash(value):
        raise CorruptNode(f"a leaf whose path and value hash match its key and value expected, found {data[:40].hex()}")
    return leaf_hash(path, digest)


def top_nodes(get_node: NodeGetter, root: Hash32, depth: int) -> list[bytes]:
    """The stored nodes of the tree at ``root`` that sit above ``depth``, root first."""
    out: list[bytes] = []
    stack: list[tuple[bytes, int]] = [(root, 0)]
    while stack:
        node, at = stack.pop()
        if node == EMPTY_HASH or at >= depth:
            continue
        data = get_node(node)
        if data is None:
            raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        out.append(data)
        if data[0] == NODE_INNER:
            stack.append((data[33:65], at + 1))
            stack.append((data[1:33], at + 1))
    return out


def subtree_at(get_node: NodeGetter, root: Hash32, depth: int, index: int) -> Hash32:
    """The hash of the subtree at position ``index`` (its first ``depth`` path bits) of the
    tree at ``root``; ``EMPTY_HASH`` if that position is empty or inside a higher leaf."""
    node: bytes = root
    for at in range(depth):
        if node == EMPTY_HASH:
            return EMPTY_HASH
        data = get_node(node)
        if data is None:
            raise MissingNode(f"node {node.hex()} expected in the node store, found nothing")
        if data[0] == NODE_LEAF:
            return EMPTY_HASH
        node = data[33:65] if (index >> (depth - 1 - at)) & 1 else data[1:33]
    return Hash32(node)


def check_top(root: bytes, nodes: Iterable[bytes], depth: int) -> tuple[list[tuple[bytes, bytes]], list[tuple[int, Hash32]]]:
    """Check the top of a snapshot against ``root``: the (key, value) of the leaves above
    ``depth``, and the chunks to fetch, (index, subtree hash) per non-empty subtree at
    ``depth``. ``ProofError`` if a node of the top is missing or no node of it."""
    by_hash: dict[bytes, bytes] = {}
    for data in nodes:
        try:
            by_hash[node_hash(data)] = data
        except (CorruptNode, IndexError) as exc:
            raise ProofError(f"the top of a snapshot: stored nodes expected, found one that is not: {exc}") from None
    leaves: list[tuple[bytes, bytes]] = []
    chunks: list[tuple[int, Hash32]] = []
    stack: list[tuple[bytes, int, int]] = [(root, 0, 0)]
    while stack:
        node, at, index = stack.pop()
        if node == EMPTY_HASH:
            continue
        if at == depth:
            chunks.append((index, Hash32(node)))
            continue
        found = by_hash.get(node)
        if found is None:
            raise ProofError(f"the top of a snapshot under root {root.hex()}: node {node.hex()} at depth {at} expected, found none")
        data = found
        if data[0] == NODE_LEAF:
            _, _, key, value = decode_leaf(data)
            leaves.append((key, value))
            continue
        stack.append((data[33:65], at + 1, 2 * index + 1))
        stack.append((data[1:33], at + 1, 2 * index))
    chunks.sort()
    return leaves, chunks


def subtree_hash(leaves: Iterable[tuple[bytes, bytes]], depth: int, index: int) -> Hash32:
    """The hash of the subtree at position ``index`` of ``depth`` bits holding exactly these
    (key, value) leaves; ``ProofError`` if a key's path is not under that position or a key
    comes twice. (A chunk of a snapshot is checked with it.)"""
    items: list[tuple[bytes, Hash32]] = []
    for key, value in leaves:
        path = key_path(key)
        if depth and int.from_bytes(path, "big") >> (TREE_DEPTH - depth) != index:
            raise ProofError(f"keys under position {index} at depth {depth} expected, found key {key.hex()[:64]}")
        items.append((path, leaf_hash(path, value_hash(value))))
    items.sort()
    if any(items[i][0] == items[i + 1][0] for i in range(len(items) - 1)):
        raise ProofError("distinct keys in a chunk expected, found one twice")
    paths = [path for path, _ in items]

    def build(lo: int, hi: int, at: int) -> Hash32:
        if hi == lo:
            return EMPTY_HASH
        if hi - lo == 1:
            return items[lo][1]
        whole, rest = at >> 3, at & 7
        first = paths[lo]
        first_right = b"".join(
            (first[:whole], bytes(((first[whole] & ((0xFF << (8 - rest)) & 0xFF)) | (0x80 >> rest),)), bytes(31 - whole))
        )
        mid = bisect_left(paths, first_right, lo, hi)
        return inner_hash(build(lo, mid, at + 1), build(mid, hi, at + 1))

    return build(0, len(items), depth)
