"""Host functions: storage with buffering and paging, events, context, cross-contract calls,
read-only execution, signatures and hashing."""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.keys import storage_key
from chain.state import WriteBuffer
from tests.vm.conftest import ALICE, CTX, TX_HASH, MemoryState
from vm import execute

STORE = '''
@public
def put(k: str, v) -> None:
    storage_set(k, v)

@public
def put_many(prefix: str, n: int) -> None:
    for i in range(n):
        storage_set(prefix + str(100 + i), i)

@public
def get(k: str, default=None):
    return storage_get(k, default)

@public
def has(k: str) -> bool:
    return storage_has(k)

@public
def delete(k: str) -> None:
    storage_delete(k)

@view
def keys(prefix: str, start_after: str = "", limit: int = 100) -> list:
    return storage_keys(prefix, start_after, limit)

@public
def read_your_writes() -> list:
    storage_set("a", 1)
    first = storage_get("a")
    storage_delete("a")
    return [first, storage_get("a", "gone"), storage_has("a")]

@public
def buffered_paging(limit: int) -> list:
    # Committed: m/100..m/104. Here: delete m/101, add m/1015 and m/099 (outside range
    # before m/1?), overwrite m/103.
    storage_delete("m/101")
    storage_set("m/1015", "new")
    storage_set("m/103", "changed")
    storage_set("n/0", "other prefix")
    pages = []
    after = ""
    while True:
        page = storage_keys("m/", after, limit)
        pages.append(page)
        if len(page) < limit:
            break
        after = page[-1]
    return pages

@public
def scan_write_scan() -> list:
    # Writes before the call's first scan, then writes and a delete after it: each scan
    # sees every write made before it.
    storage_set("m/1015", "new")
    first = storage_keys("m/", "", 100)
    storage_set("m/099", "after the first scan")
    storage_delete("m/102")
    storage_set("m/1015", "again")
    return [first, storage_keys("m/", "", 100), storage_get("m/099")]

@public
def put_then_fail(k: str) -> None:
    storage_set(k, 1)
    emit("before", {"k": k})
    revert("changed my mind")

@public
def event(meter: str, wh: int) -> None:
    emit("reading", {"meter": meter, "wh": wh, "raw": b"\\x01"})
    emit("second", {})

@public
def context() -> list:
    return [caller(), tx_signer(), tx_hash(), block_height(), block_time()]

@public
def crypto(pk: bytes, msg: bytes, sig: bytes) -> list:
    return [ed25519_verify(pk, msg, sig), sha256(msg), canonical_bytes({"b": [1, "x"], "a": None})]

@view
def view_that_writes() -> None:
    storage_set("x", 1)

@public
def store_big_int() -> None:
    storage_set("x", 2 ** 64)

@public
def store_too_deep() -> None:
    v = []
    for i in range(40):
        v = [v]
    storage_set("x", v)

@public
def bad_key() -> None:
    storage_set(5, 1)
'''


def test_storage_round_trip(call: Any, state: MemoryState) -> None:
    value = {"n": 1, "l": [1, "a", b"b", None, True], "t": (1, 2)}
    call(STORE, "put", "acct/1", value)
    assert state.get(storage_key("c", "acct/1")) == codec.encode(value)
    assert call(STORE, "get", "acct/1") == {"n": 1, "l": [1, "a", b"b", None, True], "t": [1, 2]}
    assert call(STORE, "has", "acct/1") is True
    assert call(STORE, "get", "missing", 7) == 7
    call(STORE, "delete", "acct/1")
    assert state.get(storage_key("c", "acct/1")) is None
    assert call(STORE, "has", "acct/1") is False


def test_reads_see_earlier_writes_of_the_same_execution(run: Any) -> None:
    result = run(STORE, "read_your_writes")
    assert result.return_value == [1, "gone", False]
    assert result.writes == {storage_key("c", "a"): None}


def test_storage_keys_pages(call: Any) -> None:
    call(STORE, "put_many", "m/", 5)
    call(STORE, "put", "n/1", 0)
    assert call(STORE, "keys", "m/") == ["m/100", "m/101", "m/102", "m/103", "m/104"]
    assert call(STORE, "keys", "m/", "m/101", 2) == ["m/102", "m/103"]
    assert call(STORE, "keys", "m/", "", 0) == []
    assert call(STORE, "keys", "") == ["m/100", "m/101", "m/102", "m/103", "m/104", "n/1"]


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_storage_keys_merges_buffered_writes(call: Any, limit: int) -> None:
    call(STORE, "put_many", "m/", 5)
    pages = call(STORE, "buffered_paging", limit, commit=False)
    flat = [k for page in pages for k in page]
    assert flat == ["m/100", "m/1015", "m/102", "m/103", "m/104"]
    assert all(len(p) <= limit for p in pages)


def test_storage_keys_sees_writes_made_after_an_earlier_scan(run: Any) -> None:
    run(STORE, "put_many", "m/", 3)
    result = run(STORE, "scan_write_scan", commit=False)
    assert result.success, result.error
    first, second, value = result.return_value
    assert first == ["m/100", "m/101", "m/1015", "m/102"]
    assert second == ["m/099", "m/100", "m/101", "m/1015"]
    assert value == "after the first scan"
    assert result.writes == {
        storage_key("c", "m/1015"): codec.encode("again"),
        storage_key("c", "m/099"): codec.encode("after the first scan"),
        storage_key("c", "m/102"): None,
    }


def test_invalid_storage_keys_limit(fails: Any) -> None:
    assert "limit in [0, 1000]" in fails(STORE, "keys", "", "", 1001)


def test_failure_discards_writes_and_events(run: Any, state: MemoryState) -> None:
    result = run(STORE, "put_then_fail", "k")
    assert not result.success
    assert result.error.startswith("reverted: changed my mind at c.put_then_fail line")
    assert result.writes == {} and result.events == ()
    assert state.get(storage_key("c", "k")) is None
    assert result.gas_used > 0


def test_events(run: Any) -> None:
    result = run(STORE, "event", "M-1", 1200)
    assert [e.name for e in result.events] == ["reading", "second"]
    assert result.events[0].contract == "c"
    assert result.events[0].field_map() == {"meter": "M-1", "wh": 1200, "raw": b"\x01"}


def test_context(call: Any) -> None:
    assert call(STORE, "context") == [ALICE, ALICE, TX_HASH, 42, 1_700_000_000]


def test_crypto_host_functions(call: Any) -> None:
    key = nacl.signing.SigningKey(bytes(range(32)))
    msg = b"meter M-1 reading 1200"
    sig = key.sign(msg).signature
    pk = bytes(key.verify_key)
    ok, digest, encoded = call(STORE, "crypto", pk, msg, sig)
    assert ok is True
    assert digest == hashlib.sha256(msg).digest()
    assert encoded == codec.encode({"b": [1, "x"], "a": None})
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    assert call(STORE, "crypto", pk, msg, bad)[0] is False
    assert call(STORE, "crypto", pk[:5], msg, sig)[0] is False


def test_read_only_execution_refuses_writes(run: Any, state: MemoryState) -> None:
    result = run(STORE, "put", "x", 1, read_only=True)
    assert not result.success
    assert "ReadOnlyViolation" in result.error
    result = run(STORE, "event", "m", 1, read_only=True)
    assert "no emit expected" in result.error
    assert run(STORE, "get", "x", read_only=True).success


def test_view_function_may_not_write_even_in_a_transaction(fails: Any) -> None:
    assert "no storage_set expected in a read-only (view) execution" in fails(STORE, "view_that_writes")


@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        ("store_big_int", "storable value expected"),
        ("store_too_deep", "nesting"),
        ("bad_key", "str storage key expected, found int"),
    ],
)
def test_invalid_storage_values(fails: Any, function: str, fragment: str) -> None:
    assert fragment in fails(STORE, function)


def test_invalid_calls(state: MemoryState) -> None:
    state.deploy("c", STORE + "\ndef private_fn():\n    return 1\n")
    cases = [
        ("nope", "get", ["k"], "no contract named 'nope'"),
        ("c", "nope", [], "no function 'nope'"),
        ("c", "private_fn", [], "private function c.private_fn"),
        ("c", "put", ["k"], "2 arguments expected by c.put, found 1"),
        ("c", "get", [], "1 to 2 arguments expected by c.get, found 0"),
        ("c", "put", ["k", 1.5], "contract value expected, found float"),
        ("c", "put", ["k", 2**256], "IntegerOverflow"),
    ]
    for contract, function, args, fragment in cases:
        result = execute(state, CTX, contract, function, args, 100_000)
        assert not result.success
        assert fragment in result.error, result.error
        assert result.gas_used == 0


def test_invalid_code_record(state: MemoryState) -> None:
    state.put(b"k/broken", codec.encode([b"not bytecode", bytes(32), 1, ALICE]))
    result = execute(state, CTX, "broken", "f", [], 1000)
    assert not result.success and "valid bytecode expected" in result.error


# --- cross-contract calls -------------------------------------------------------------------

LEDGER = '''
@public
def credit(account: str, amount: int) -> int:
    balance = storage_get(account, 0) + amount
    storage_set(account, balance)
    emit("credited", {"account": account, "amount": amount})
    return balance

@view
def balance(account: str) -> int:
    return storage_get(account, 0)

@public
def who() -> list:
    return [caller(), tx_signer()]

@public
def fail() -> None:
    storage_set("junk", 1)
    revert("ledger says no")

@view
def sneaky() -> None:
    storage_set("x", 1)

def hidden() -> int:
    return 1

@public
def returns_list() -> list:
    xs = [1, 2]
    storage_set("xs", xs)
    return xs
'''

SHOP = '''
@public
def buy(account: str, amount: int) -> list:
    storage_set("sold", storage_get("sold", 0) + amount)
    new_balance = call("ledger", "credit", [account, amount])
    seen = call("ledger", "balance", [account])
    return [new_balance, seen, storage_get("sold")]

@public
def who() -> list:
    return call("ledger", "who", [])

@public
def fail() -> None:
    storage_set("mine", 1)
    call("ledger", "fail", [])

@public
def call_view_that_writes() -> None:
    call("ledger", "sneaky", [])

@public
def call_private() -> None:
    call("ledger", "hidden", [])

@public
def call_missing() -> None:
    call("nowhere", "x", [])

@public
def aliasing() -> list:
    xs = call("ledger", "returns_list", [])
    xs.append(3)
    return [xs, call("ledger", "returns_list", [])]

@public
def recurse(n: int) -> int:
    return call("shop", "recurse", [n + 1])
'''


@pytest.fixture
def two(state: MemoryState) -> MemoryState:
    state.deploy("ledger", LEDGER)
    state.deploy("shop", SHOP)
    return state


def test_cross_contract_call(two: MemoryState) -> None:
    result = execute(two, CTX, "shop", "buy", ["bob", 5], 1_000_000)
    assert result.success, result.error
    assert result.return_value == [5, 5, 5]
    assert set(result.writes) == {storage_key("shop", "sold"), storage_key("ledger", "bob")}
    assert [(e.contract, e.name) for e in result.events] == [("ledger", "credited")]


def test_cross_contract_caller_is_the_calling_contract(two: MemoryState) -> None:
    result = execute(two, CTX, "shop", "who", [], 1_000_000)
    assert result.return_value == [b"contract:shop", ALICE]


def test_invalid_cross_contract_revert_reverts_everything(two: MemoryState) -> None:
    result = execute(two, CTX, "shop", "fail", [], 1_000_000)
    assert not result.success
    assert result.error == "reverted: ledger says no at ledger.fail line 20"
    assert result.writes == {}


@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        ("call_view_that_writes", "no storage_set expected"),
        ("call_private", "a public or view function expected in call()"),
        ("call_missing", "no contract named 'nowhere'"),
        ("recurse", "call depth of at most 64"),
    ],
)
def test_invalid_cross_contract_calls(two: MemoryState, function: str, fragment: str) -> None:
    result = execute(two, CTX, "shop", function, [0] if function == "recurse" else [], 5_000_000)
    assert not result.success
    assert fragment in result.error, result.error


def test_cross_contract_values_do_not_alias(two: MemoryState) -> None:
    result = execute(two, CTX, "shop", "aliasing", [], 1_000_000)
    assert result.return_value == [[1, 2, 3], [1, 2]]


# --- a call's buffer scanned against a reference model ------------------------------------------------

_KEYS = st.sampled_from([b"", b"a", b"aa", b"ab", b"a\xff", b"b", b"ba", b"bb", b"\xff"])


@settings(max_examples=200, deadline=None)
@given(
    committed=st.sets(_KEYS),
    writes=st.dictionaries(_KEYS, st.one_of(st.none(), st.just(b"v"))),
    prefix=st.sampled_from([b"", b"a", b"b", b"aa"]),
    after=_KEYS,
    limit=st.integers(min_value=0, max_value=5),
)
def test_a_call_s_buffer_scans_like_a_reference(
    committed: set[bytes], writes: dict[bytes, bytes | None], prefix: bytes, after: bytes, limit: int
) -> None:
    state = MemoryState()
    state.apply({k: b"c" for k in committed})
    live = {k for k in committed if writes.get(k, b"") is not None} | {k for k, v in writes.items() if v is not None}
    expected = sorted(k for k in live if k.startswith(prefix) and k > after)[:limit]
    call = WriteBuffer(state)  # as the VM holds a call's writes over the block's buffer
    for key, value in writes.items():
        call.set(key, value)
    assert call.scan(prefix, after, limit) == expected
