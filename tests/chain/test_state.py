"""The authenticated state (chain.state): views, commits, scans and proofs, on every backend.

Every test that takes ``new_backend`` runs once per entry of ``BACKEND_FACTORIES``; a new
backend (the node's LevelDB store) joins these tests by adding its factory there. A factory
gets a fresh empty directory and returns an empty backend.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chain import scans
from chain.hashing import EMPTY_HASH
from chain.merkle import Proof, verify_proof
from chain.state import (
    Backend,
    MemoryBackend,
    ScanBudget,
    ScanBudgetExceeded,
    StaleState,
    State,
    StateConflict,
    WriteBuffer,
)
from node.statedb import LevelDBBackend

BackendFactory = Callable[[Path], Backend]

BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": lambda directory: MemoryBackend(),
    "leveldb": lambda directory: LevelDBBackend.open(str(directory)),  # the node's store
}


@pytest.fixture(scope="module", params=sorted(BACKEND_FACTORIES))
def new_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], Backend]:
    """A maker of fresh empty backends of one kind (module-scoped so Hypothesis can use it)."""
    factory = BACKEND_FACTORIES[request.param]
    return lambda: factory(tmp_path_factory.mktemp(request.param))


Writes = dict[bytes, bytes | None]

# Keys over a small alphabet, so that prefixes, neighbours and overwrites are common.
keys = st.binary(min_size=1, max_size=4).map(lambda b: bytes(c % 3 + 0x61 for c in b))
values = st.binary(max_size=8)
writes = st.dictionaries(keys, st.none() | values, max_size=12)


def apply(content: dict[bytes, bytes], batch: Writes) -> dict[bytes, bytes]:
    out = dict(content)
    for key, value in batch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def fresh_root(new_backend: Callable[[], Backend], content: dict[bytes, bytes]) -> bytes:
    return State.at(new_backend()).with_writes(dict(sorted(content.items()))).root


def reference_scan(
    content: dict[bytes, bytes], prefix: bytes, start_after: bytes, limit: int
) -> list[bytes]:
    ordered = sorted(k for k in content if k.startswith(prefix) and k > start_after)
    return ordered[: max(limit, 0)]


def commit(view: State) -> State:
    view.backend.commit(view.changes())
    return State.at(view.backend)


# --- reads and writes ------------------------------------------------------------------


def test_basic_empty_state(new_backend: Callable[[], Backend]) -> None:
    head = State.at(new_backend())
    assert head.root == EMPTY_HASH
    assert head.get(b"n/alice") is None
    assert head.scan(b"", b"", 10) == []
    assert verify_proof(head.root, b"n/alice", None, head.prove(b"n/alice"))


def test_basic_reads_fall_through_pending_writes(new_backend: Callable[[], Backend]) -> None:
    head = commit(State.at(new_backend()).with_writes({b"a": b"1", b"b": b"2", b"c": b"3"}))
    view = head.with_writes({b"b": None, b"c": b"33", b"d": b"4"})
    assert [view.get(k) for k in (b"a", b"b", b"c", b"d")] == [b"1", None, b"33", b"4"]
    assert [head.get(k) for k in (b"a", b"b", b"c", b"d")] == [b"1", b"2", b"3", None]
    assert view.scan(b"", b"", 10) == [b"a", b"c", b"d"]
    assert view.pending() == {b"b": None, b"c": b"33", b"d": b"4"}


def test_basic_with_writes_never_changes_the_view(new_backend: Callable[[], Backend]) -> None:
    base = State.at(new_backend()).with_writes({b"meter": b"100"})
    root = base.root
    writes: Writes = {b"meter": b"200"}
    later = base.with_writes(writes)
    writes[b"meter"] = b"300"  # the caller's dict is copied, not kept
    assert base.get(b"meter") == b"100" and base.root == root
    assert later.get(b"meter") == b"200"
    assert later.root != root
    assert base.with_writes({}) is base


def test_basic_many_small_writes_stay_cheap_to_read(new_backend: Callable[[], Backend]) -> None:
    view = State.at(new_backend())
    content: dict[bytes, bytes] = {}
    for i in range(300):
        key, value = f"k{i % 97}".encode(), str(i).encode()
        view = view.with_writes({key: value})
        content[key] = value
        assert len(view.levels) <= 2 + i.bit_length()  # logarithmic, not one map per write
    assert {k: view.get(k) for k in content} == content
    assert view.root == fresh_root(new_backend, content)


@pytest.mark.parametrize(
    ("writes_", "message"),
    [
        ({b"": b"x"}, "a key of 1 to"),
        ({b"k" * 1025: b"x"}, "a key of 1 to"),
        ({"text": b"x"}, "a key of 1 to"),
        ({b"k": "text"}, "a bytes value or None expected, found str"),
        ({b"k": 5}, "a bytes value or None expected, found int"),
    ],
)
def test_invalid_writes_are_refused(writes_: Writes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        State.at(MemoryBackend()).with_writes(writes_)


# --- the root --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(writes, min_size=1, max_size=6),
    commit_after=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_basic_root_is_a_function_of_the_content(
    new_backend: Callable[[], Backend], batches: list[Writes], commit_after: list[bool]
) -> None:
    view = State.at(new_backend())
    content: dict[bytes, bytes] = {}
    for batch, do_commit in zip(batches, commit_after, strict=False):
        view = view.with_writes(batch)
        content = apply(content, batch)
        if do_commit:
            view = commit(view)
    # Same content written in reverse order, in one batch, on a fresh backend.
    assert view.root == fresh_root(new_backend, dict(reversed(list(content.items()))))
    assert {k: view.get(k) for k in content} == content
    for key, value in content.items():
        assert verify_proof(view.root, key, value, view.prove(key))


def test_basic_delete_returns_to_the_previous_root(new_backend: Callable[[], Backend]) -> None:
    head = commit(State.at(new_backend()).with_writes({f"k{i}".encode(): b"v" for i in range(200)}))
    before = head.root
    grown = commit(head.with_writes({b"new-1": b"x", b"new-2": b"y"}))
    assert grown.root != before
    assert grown.with_writes({b"new-1": None, b"new-2": None}).root == before
    assert head.with_writes({b"k5": b"changed"}).with_writes({b"k5": b"v"}).root == before
    emptied = head.with_writes({f"k{i}".encode(): None for i in range(200)})
    assert emptied.root == EMPTY_HASH


# --- scans -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    committed=writes,
    pending=st.lists(writes, max_size=3),
    prefix=st.sampled_from([b"", b"a", b"b", b"ab", b"ca"]),
    start_after=st.sampled_from([b"", b"a", b"b", b"ab", b"bcc", b"zz"]),
    limit=st.integers(min_value=0, max_value=6),
)
def test_basic_scan_matches_a_sorted_reference(
    new_backend: Callable[[], Backend],
    committed: Writes,
    pending: list[Writes],
    prefix: bytes,
    start_after: bytes,
    limit: int,
) -> None:
    view = commit(State.at(new_backend()).with_writes(committed))
    content = apply({}, committed)
    for batch in pending:
        view = view.with_writes(batch)
        content = apply(content, batch)
    assert view.scan(prefix, start_after, limit) == reference_scan(content, prefix, start_after, limit)
    # Paging through with the last key as the cursor lists every key once.
    pages: list[bytes] = []
    cursor = start_after
    while page := view.scan(prefix, cursor, 2):
        pages += page
        cursor = page[-1]
    assert pages == reference_scan(content, prefix, start_after, 1_000)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_basic_a_copied_memory_backend_is_its_own(how: str) -> None:
    backend = MemoryBackend()
    backend.commit(State.at(backend).with_writes({b"k": b"1"}).changes())
    copied = copy.deepcopy(backend) if how == "deepcopy" else pickle.loads(pickle.dumps(backend))
    copied.commit(State.at(copied).with_writes({b"k": b"2", b"new": b"3"}).changes())
    assert State.at(backend).get(b"k") == b"1" and State.at(backend).get(b"new") is None
    assert State.at(copied).get(b"k") == b"2" and State.at(copied).get(b"new") == b"3"
    assert State.at(backend).root != State.at(copied).root
    head = State.at(copied)  # its tree nodes are its own too
    assert verify_proof(head.root, b"new", b"3", head.prove(b"new"))


def test_basic_key_index_across_chunk_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scans, "_CHUNK", 4)  # many tiny chunks: every path exercised
    backend = MemoryBackend()
    head = State.at(backend)
    content: dict[bytes, bytes] = {}
    for step in range(60):
        batch: Writes = {}
        for i in range(step % 7 + 1):
            n = (step * 37 + i * 11) % 150
            batch[f"s/c/{n:03d}".encode()] = None if (step + i) % 3 == 0 else b"v"
        head = commit(head.with_writes(batch))
        content = apply(content, batch)
        for prefix, after in ((b"", b""), (b"s/c/0", b"s/c/050"), (b"s/c/1", b""), (b"x", b"")):
            assert head.scan(prefix, after, 1000) == reference_scan(content, prefix, after, 1000)
            assert head.scan(prefix, after, 3) == reference_scan(content, prefix, after, 3)


@settings(max_examples=40, deadline=None)
@given(
    committed=writes,
    batches=st.lists(writes, max_size=4),
    own=writes,
    prefix=st.sampled_from([b"", b"a", b"b", b"ab", b"ca"]),
    start_after=st.sampled_from([b"", b"a", b"b", b"ab", b"bcc", b"zz"]),
    limit=st.integers(min_value=0, max_value=6),
)
def test_basic_write_buffer_scan_matches_a_sorted_reference(
    new_backend: Callable[[], Backend],
    committed: Writes,
    batches: list[Writes],
    own: Writes,
    prefix: bytes,
    start_after: bytes,
    limit: int,
) -> None:
    # A block's buffer over the head, a call's buffer over the block's (as the VM nests
    # them), scans between writes: always the sorted keys of the merged content.
    head = commit(State.at(new_backend()).with_writes(committed))
    block = WriteBuffer(head)
    content = apply({}, committed)
    for batch in batches:
        block.apply(batch)
        content = apply(content, batch)
        assert block.scan(prefix, start_after, limit) == reference_scan(content, prefix, start_after, limit)
    call = WriteBuffer(block)
    for key, value in own.items():
        call.set(key, value)
        content = apply(content, {key: value})
        budget = ScanBudget(10_000)
        assert call.scan(prefix, start_after, limit, budget) == reference_scan(content, prefix, start_after, limit)
        assert budget.visited >= len(reference_scan(content, prefix, start_after, limit))
    assert dict(block.state().with_writes(call.writes).pending()) == {**block.writes, **call.writes}


class _CountedKey(bytes):
    """A key that counts the comparisons made with it: the work of a scan, counted, not timed."""

    operations = 0

    def startswith(self, *args: object) -> bool:  # type: ignore[override]
        _CountedKey.operations += 1
        return bytes.startswith(self, *args)  # type: ignore[arg-type]

    def __lt__(self, other: bytes) -> bool:  # type: ignore[override]
        _CountedKey.operations += 1
        return bytes.__lt__(self, other)

    def __gt__(self, other: bytes) -> bool:  # type: ignore[override]
        _CountedKey.operations += 1
        return bytes.__gt__(self, other)

    __hash__ = bytes.__hash__


def test_invalid_scans_after_a_block_of_writes_cost_what_they_visit(new_backend: Callable[[], Backend]) -> None:
    # Issue 9, item 1: two transactions write 4,000 keys each; a third scans the first
    # prefix with limit 1, again and again. Each scan must cost O(log n) plus the keys it
    # visits, not a sort of every key written so far in the block.
    block = WriteBuffer(State.at(new_backend()))
    for batch in ("a", "b"):
        block.apply({_CountedKey(f"s/c/{batch}/{i:05d}".encode()): b"v" for i in range(4_000)})
    block.scan(b"s/c/a/", b"", 1)  # the first scan indexes the block's keys, once
    _CountedKey.operations = 0
    scans = 200
    for _ in range(scans):
        budget = ScanBudget(1_000)
        assert block.scan(b"s/c/a/", b"", 1, budget) == [b"s/c/a/00000"]
        assert budget.visited <= 2
    assert _CountedKey.operations <= scans * 64, _CountedKey.operations


def test_invalid_scan_over_pending_deletes_is_counted_and_bounded(new_backend: Callable[[], Backend]) -> None:
    # Deletes hide keys without returning them: they are visited, counted, and a budget
    # stops a scan that would visit more than its caller can pay for.
    head = commit(State.at(new_backend()).with_writes({f"k/{i:04d}".encode(): b"v" for i in range(1_000)}))
    block = WriteBuffer(head)
    block.apply({f"k/{i:04d}".encode(): None for i in range(999)})
    budget = ScanBudget(10_000)
    assert block.scan(b"k/", b"", 1, budget) == [b"k/0999"]
    assert budget.visited >= 999
    with pytest.raises(ScanBudgetExceeded, match="at most 100 key visits expected"):
        block.scan(b"k/", b"", 1, ScanBudget(100))


def test_invalid_scan_of_an_old_view(new_backend: Callable[[], Backend]) -> None:
    old = commit(State.at(new_backend()).with_writes({b"a": b"1"}))
    commit(old.with_writes({b"b": b"2"}))
    with pytest.raises(StaleState, match="view of the head root .* expected for a scan"):
        old.scan(b"", b"", 10)


# --- proofs ----------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(committed=writes, pending=writes, probes=st.lists(keys, max_size=8))
def test_basic_every_key_and_absence_is_provable_on_any_view(
    new_backend: Callable[[], Backend], committed: Writes, pending: Writes, probes: list[bytes]
) -> None:
    head = commit(State.at(new_backend()).with_writes(committed))
    view = head.with_writes(pending)
    for state, content in ((head, apply({}, committed)), (view, apply(apply({}, committed), pending))):
        for key in [*content, *probes]:
            proof = state.prove(key)
            value = content.get(key)
            assert state.get(key) == value
            assert verify_proof(state.root, key, value, proof)
            assert Proof.decode(proof.encode()) == proof
            assert not verify_proof(state.root, key, b"forged", proof)


def test_basic_old_roots_stay_readable_after_commits(new_backend: Callable[[], Backend]) -> None:
    backend = new_backend()
    v1 = commit(State.at(backend).with_writes({f"m{i}".encode(): b"1" for i in range(50)}))
    v2 = commit(v1.with_writes({b"m3": b"2", b"m4": None, b"m99": b"2"}))
    v3 = commit(v2.with_writes({b"m3": b"3", b"m99": None}))
    assert backend.root() == v3.root
    assert (v1.get(b"m3"), v1.get(b"m4"), v1.get(b"m99")) == (b"1", b"1", None)
    assert (v2.get(b"m3"), v2.get(b"m4"), v2.get(b"m99")) == (b"2", None, b"2")
    assert (v3.get(b"m3"), v3.get(b"m4"), v3.get(b"m99")) == (b"3", None, None)
    assert not v1.is_head and v3.is_head
    assert verify_proof(v1.root, b"m4", b"1", v1.prove(b"m4"))
    assert verify_proof(v2.root, b"m99", b"2", v2.prove(b"m99"))
    assert verify_proof(v3.root, b"m99", None, v3.prove(b"m99"))
    # A view built on an old root reads and proves its own writes over that old root.
    branch = v1.with_writes({b"m3": b"branch"})
    assert branch.get(b"m3") == b"branch" and branch.get(b"m4") == b"1"
    assert verify_proof(branch.root, b"m4", b"1", branch.prove(b"m4"))


def test_basic_changes_hold_everything_the_commit_needs(new_backend: Callable[[], Backend]) -> None:
    backend = new_backend()
    head = commit(State.at(backend).with_writes({b"a": b"1", b"b": b"2"}))
    view = head.with_writes({b"a": None, b"c": b"3"}).with_writes({b"d": b"4"})
    changes = view.changes()
    assert changes.base_root == head.root and changes.root == view.root
    assert dict(changes.puts) == {b"c": b"3", b"d": b"4"}
    assert changes.deletes == frozenset({b"a"})
    backend.commit(changes)
    committed = State.at(backend)
    assert committed.root == view.root
    for key, value in ((b"a", None), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")):
        assert committed.get(key) == value
        assert verify_proof(committed.root, key, value, committed.prove(key))


def test_invalid_commit_on_a_moved_head_is_refused(new_backend: Callable[[], Backend]) -> None:
    backend = new_backend()
    head = commit(State.at(backend).with_writes({b"a": b"1"}))
    first = head.with_writes({b"a": b"first"})
    second = head.with_writes({b"a": b"second"})
    backend.commit(first.changes())
    with pytest.raises(StateConflict, match="changes built on the head root .* expected"):
        backend.commit(second.changes())
    assert backend.root() == first.root
    assert backend.get_value(b"a") == b"first"


# --- the fast store against a slow reference -------------------------------------------


class StateMachine(RuleBasedStateMachine):
    """Random writes, commits and reads on a MemoryBackend against a plain dict."""

    def __init__(self) -> None:
        super().__init__()
        self.view = State.at(MemoryBackend())
        self.content: dict[bytes, bytes] = {}
        self.history: list[tuple[State, dict[bytes, bytes]]] = []

    @rule(batch=writes)
    def write(self, batch: Writes) -> None:
        self.view = self.view.with_writes(batch)
        self.content = apply(self.content, batch)

    @rule()
    def commit(self) -> None:
        self.view = commit(self.view)
        self.history.append((self.view, dict(self.content)))

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def old_view_reads_its_content(self, data: st.DataObject) -> None:
        old, content = data.draw(st.sampled_from(self.history))
        key = data.draw(st.sampled_from([*content, b"zz"]))
        assert old.get(key) == content.get(key)
        assert verify_proof(old.root, key, content.get(key), old.prove(key))

    @rule(prefix=st.sampled_from([b"", b"a", b"bc"]), start_after=keys, limit=st.integers(0, 5))
    def scan(self, prefix: bytes, start_after: bytes, limit: int) -> None:
        expected = reference_scan(self.content, prefix, start_after, limit)
        assert self.view.scan(prefix, start_after, limit) == expected

    @invariant()
    def reads_match(self) -> None:
        for key, value in self.content.items():
            assert self.view.get(key) == value


StateMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
test_state_machine = StateMachine.TestCase

