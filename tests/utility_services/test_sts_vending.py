"""The vending side: key secrecy, TID uniqueness per meter, the JSON store, key changes."""

from __future__ import annotations

import json
import pickle
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meter_adapters.sts.dkga02 import KeyParameters, MeterPan
from meter_adapters.sts.errors import DuplicateTid, InvalidStsInput, TidOutOfRange
from meter_adapters.sts.management import ManagementSubclass, parse_key_change
from meter_adapters.sts.tid import TID_MAX, BaseDate, tid_for
from meter_adapters.sts.token import CreditSubclass, decode_token
from utility_services.sts_vending import JsonFileTidStore, MemoryTidStore, Meter, Vendor

VENDING_KEY = bytes.fromhex("0123456789abcdef")
ALICE = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 1, 1), BaseDate.Y2014)
BOB = Meter(MeterPan("600727000000000108"), KeyParameters(2, "123456", 1, 1), BaseDate.Y2014)
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_vending_key_never_shown() -> None:
    vendor = Vendor(VENDING_KEY)
    issued = vendor.credit(ALICE, CreditSubclass.ELECTRICITY, 100, NOON, random=3)
    for text in (repr(vendor), str(vendor), repr(issued), f"{vendor}"):
        assert VENDING_KEY.hex() not in text.lower()
        assert VENDING_KEY.hex().upper() not in text
    assert "kcv=" in repr(vendor)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(vendor)


def test_alice_buys_twice_in_one_minute_and_gets_the_next_minute() -> None:
    vendor = Vendor(VENDING_KEY)
    first = vendor.credit(ALICE, CreditSubclass.ELECTRICITY, 100, NOON)
    second = vendor.credit(ALICE, CreditSubclass.ELECTRICITY, 100, NOON)
    assert second.tid == first.tid + 1
    assert second.issued == datetime(2026, 11, 22, 12, 1, tzinfo=UTC)
    assert first.token != second.token


def test_invalid_duplicate_tid_with_exact_time() -> None:
    vendor = Vendor(VENDING_KEY)
    vendor.credit(ALICE, CreditSubclass.WATER, 100, NOON, exact_time=True)
    with pytest.raises(DuplicateTid, match="already issued"):
        vendor.credit(ALICE, CreditSubclass.WATER, 100, NOON, exact_time=True)
    # Management tokens share the meter's TID space.
    with pytest.raises(DuplicateTid):
        vendor.management(
            ALICE, ManagementSubclass.CLEAR_TAMPER_CONDITION, 0, NOON, exact_time=True
        )


def test_bob_has_his_own_tids() -> None:
    vendor = Vendor(VENDING_KEY)
    alice = vendor.credit(ALICE, CreditSubclass.GAS, 10, NOON, exact_time=True)
    bob = vendor.credit(BOB, CreditSubclass.GAS, 10, NOON, exact_time=True)
    assert alice.tid == bob.tid
    assert alice.decoder_key != bob.decoder_key


def test_base_dates_are_separate_tid_spaces() -> None:
    store = MemoryTidStore()
    assert store.claim("p", BaseDate.Y1993, 5, next_free=False) == 5
    assert store.claim("p", BaseDate.Y2014, 5, next_free=False) == 5
    assert store.issued("p", BaseDate.Y1993) == {5}


def test_invalid_no_free_tid_left() -> None:
    store = MemoryTidStore()
    store.claim("p", BaseDate.Y2014, TID_MAX, next_free=True)
    with pytest.raises(TidOutOfRange, match="every minute up to the end of base date 2014"):
        store.claim("p", BaseDate.Y2014, TID_MAX, next_free=True)


def test_invalid_amount_claims_no_tid() -> None:
    vendor = Vendor(VENDING_KEY)
    with pytest.raises(InvalidStsInput, match="at most"):
        vendor.credit(ALICE, CreditSubclass.ELECTRICITY, 10**9, NOON)
    assert vendor.store.issued(ALICE.pan.digits, ALICE.base_date) == frozenset()


def test_invalid_random_number() -> None:
    with pytest.raises(InvalidStsInput, match="random number 0..15, found 16"):
        Vendor(VENDING_KEY).credit(ALICE, CreditSubclass.ELECTRICITY, 1, NOON, random=16)


def test_json_store_persists_across_vendors(tmp_path: Path) -> None:
    path = tmp_path / "tids.json"
    first = Vendor(VENDING_KEY, JsonFileTidStore(path)).credit(
        ALICE, CreditSubclass.ELECTRICITY, 100, NOON
    )
    # A new process, same file: the same minute is taken.
    again = Vendor(VENDING_KEY, JsonFileTidStore(path))
    with pytest.raises(DuplicateTid):
        again.credit(ALICE, CreditSubclass.ELECTRICITY, 100, NOON, exact_time=True)
    second = again.credit(ALICE, CreditSubclass.ELECTRICITY, 100, NOON)
    assert second.tid == first.tid + 1
    content = json.loads(path.read_text())
    assert content == {
        "version": 1,
        "issued": {f"{ALICE.pan.digits}/2014": [first.tid, second.tid]},
    }
    assert VENDING_KEY.hex() not in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tids.json", "tids.json.lock"]


def test_invalid_json_store_content(tmp_path: Path) -> None:
    path = tmp_path / "tids.json"
    path.write_text("{not json")
    with pytest.raises(InvalidStsInput, match="expected a JSON TID store"):
        JsonFileTidStore(path).claim("p", BaseDate.Y2014, 1, next_free=True)
    path.write_text(json.dumps({"version": 9}))
    with pytest.raises(InvalidStsInput, match="version 1 .* found 9"):
        JsonFileTidStore(path).claim("p", BaseDate.Y2014, 1, next_free=True)


def test_concurrent_claims_never_share_a_tid(tmp_path: Path) -> None:
    path = tmp_path / "tids.json"
    claimed: list[int] = []
    lock = threading.Lock()

    def vend() -> None:
        store = JsonFileTidStore(path)
        for _ in range(10):
            tid = store.claim("p", BaseDate.Y2014, 1000, next_free=True)
            with lock:
                claimed.append(tid)

    threads = [threading.Thread(target=vend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == list(range(1000, 1040))
    assert JsonFileTidStore(path).issued("p", BaseDate.Y2014) == frozenset(range(1000, 1040))


def test_management_tokens_decode_under_the_meter_key() -> None:
    vendor = Vendor(VENDING_KEY)
    limit = vendor.management(ALICE, ManagementSubclass.SET_MAXIMUM_POWER_LIMIT, 5000, NOON)
    decoded = decode_token(limit.token, vendor.decoder_key(ALICE))
    assert decoded.crc_ok and (decoded.data.token_class, decoded.data.subclass) == (2, 0)
    assert limit.value == 5000
    with pytest.raises(InvalidStsInput, match="expected one of"):
        vendor.management(ALICE, ManagementSubclass.SET_DECODER_KEY_1, 0, NOON)


def test_rollover_key_change_moves_a_1993_meter_to_2014() -> None:
    old = Meter(ALICE.pan, KeyParameters(2, "123456", 1, 1), BaseDate.Y1993)
    new = Meter(ALICE.pan, KeyParameters(2, "123456", 1, 2), BaseDate.Y2014)
    vendor = Vendor(VENDING_KEY)
    with pytest.raises(TidOutOfRange, match="move this meter to base date 2014"):
        vendor.credit(old, CreditSubclass.ELECTRICITY, 100, NOON)
    change = vendor.key_change(old, new)
    old_key, new_key = vendor.decoder_key(old), vendor.decoder_key(new)
    sections = [decode_token(t, old_key) for t in (change.first, change.second)]
    assert all(s.crc_ok for s in sections)
    carried = parse_key_change(sections[0].data, sections[1].data)
    assert carried.rollover and carried.new_key == new_key and carried.key_revision == 2
    # After the change the meter's credit tokens use the new key and 2014 TIDs.
    credit = vendor.credit(new, CreditSubclass.ELECTRICITY, 100, NOON)
    assert credit.tid == tid_for(NOON, BaseDate.Y2014)
    assert decode_token(credit.token, new_key).crc_ok
    assert not decode_token(credit.token, old_key).crc_ok


def test_key_change_to_another_vending_key() -> None:
    new_vendor = Vendor(bytes.fromhex("9494949494949494"))
    new = Meter(ALICE.pan, KeyParameters(2, "888888", 1, 1), BaseDate.Y2014)
    change = Vendor(VENDING_KEY).key_change(ALICE, new, new_vendor=new_vendor)
    assert change.change.new_key == new_vendor.decoder_key(new)
    assert not change.change.rollover  # same base date: TID memory kept


def test_invalid_key_changes() -> None:
    vendor = Vendor(VENDING_KEY)
    with pytest.raises(InvalidStsInput, match="for meter 600727000000000009, found new"):
        vendor.key_change(ALICE, BOB)
    back = Meter(ALICE.pan, ALICE.key, BaseDate.Y1993)
    with pytest.raises(InvalidStsInput, match="base dates only move forward"):
        vendor.key_change(ALICE, back)


def test_issued_token_repr_leaves_out_the_decoder_key() -> None:
    issued = Vendor(VENDING_KEY).credit(ALICE, CreditSubclass.ELECTRICITY, 100, NOON)
    assert issued.decoder_key.hex() not in repr(issued)
    assert "decoder_key" not in repr(issued)
