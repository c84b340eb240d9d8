"""Wireless M-Bus: link layer with or without CRCs, ELL, OMS security mode 5 and 7 with the
AFL MAC, on the telegrams of wmbusmeters' driver tests (read from the shared fixtures,
GPL-3.0, not copied), pymeterbus's encrypted telegram and the OMS security profile B example;
wrong keys and changed bytes are rejected."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters import mbus, wmbus
from meter_adapters.errors import (
    AdapterError,
    ChecksumError,
    TruncatedFrame,
    UnsupportedFrame,
    WrongKey,
)
from meter_adapters.reading import raw_hash
from meter_adapters.wmbus_vendors.compact import FormatCache

HERE = Path(__file__).resolve()
LOCAL = HERE.parents[1] / "fixtures" / "mbus"
SHARED = HERE.parents[2].parent / "shared" / "fixtures" / "wmbus"

PYMETERBUS = {
    f["name"]: f for f in json.loads((LOCAL / "pymeterbus_test_frames.json").read_text())["frames"]
}
MODE5 = PYMETERBUS["wmbus_encrypted_mode5"]
MODE5_RAW = bytes.fromhex(MODE5["hex"])
MODE5_KEY = bytes.fromhex(MODE5["aes_key"])

# Telegrams that come with a key but that we do not decrypt, and why (none left: DES mode 2
# (actislink), CI 73 compact frames (engelmann-faw) and the Unismart telegram with its kept
# last-block CRC now decrypt).
UNSUPPORTED_KEYED: dict[str, str] = {}
# What the corpus gives today (docs/meter-adapters-mbus-dlms.md): items decoded, keyed items
# decrypted (all of them matching), expected totals matched of those checked.
DECODED_ITEMS = 397
KEYED_DECRYPTED = 34
TOTALS_MATCHED = 308
TOTALS_CHECKED = 309
# Expected JSON field -> (kind) compared with our records of storage 0.
TOTALS = {
    "total_m3": "m3",
    "total_energy_consumption_kwh": "kwh",
    "total_kwh": "kwh",
    "total_energy_kwh": "kwh",
    "total_heat_kwh": "kwh",
    "current_consumption_hca": "hca",
}
# Our unit -> its value in the JSON's unit.
IN_JSON_UNIT = {
    "m3": {"dm3": Decimal("0.001"), "ml": Decimal("0.000001"), "ul": Decimal("0.000000001")},
    "kwh": {"Wh": Decimal("0.001"), "mWh": Decimal("0.000001"), "J": Decimal(1) / 3600000},
    "hca": {"hca": Decimal(1)},
}


def _hex(text: str) -> bytes:
    """The bytes of a fixture telegram, read as its source reads its own text: wmbusmeters
    writes '_' '|' '#' separators and ',' between telegrams, and its hex2bin takes digits in
    pairs while two remain, so a lone last digit is not part of the telegram (one qwaterv2
    item ends with one; its L field counts the bytes without it)."""
    digits = re.sub(r"[^0-9a-fA-F]", "", text.split(",")[0])
    return bytes.fromhex(digits[: len(digits) - len(digits) % 2])


def _driver_tests() -> list[dict[str, str]]:
    path = SHARED / "wmbusmeters_driver_tests.json"
    if not path.exists():
        pytest.skip(f"wmbusmeters driver tests not found at {path} (GPL-3.0, not copied)")
    tests: list[dict[str, str]] = json.loads(path.read_text())
    return tests


def _decode(raw: bytes, key: bytes | None, formats: FormatCache | None = None) -> mbus.Telegram:
    if raw[:1] == b"\x68":
        return mbus.decode_frame(raw)
    return wmbus.decode_wmbus(raw, key, formats).telegram


def _decode_item(text: str, key: bytes | None, formats: FormatCache) -> mbus.Telegram:
    """Every telegram of a fixture item (some list several, ',' between them: the expected
    JSON is then what the meter's telegrams say together), records pooled."""
    telegrams = [_decode(_hex(part), key, formats) for part in text.split(",")]
    records = tuple(record for telegram in telegrams for record in telegram.records)
    first = telegrams[0]
    return mbus.Telegram(first.address, first.access_number, first.status, records)


def _matches(telegram: mbus.Telegram, kind: str, wanted: Decimal) -> bool:
    units = IN_JSON_UNIT[kind]
    for record in telegram.records:
        if record.unit in units and record.storage == 0 and isinstance(record.value, int):
            ours = record.value * units[record.unit]
            # Reals are rounded to our unit: allow half of it (wmbusmeters prints 6 decimals).
            if abs(ours - wanted) <= units[record.unit] / 2 + Decimal("0.000001"):
                return True
    return False


# Items still rejected: driver -> (count, what the rejection says). Exact: a new decoder or
# a regression changes this table.
STILL_REJECTED = {
    # The fixture string is corrupt: its L field (37 = 55) says 56 bytes, the string holds 60
    # (the same telegram is item qwaterv2 with L 3B and its kept last-block CRC, which
    # decodes). wmbusmeters warns that the length byte is "probably wrong" and reads on.
    "qwater": (1, r"wM-Bus telegram of 56 bytes, or 64 with frame format A CRCs \(L=55\)"),
    "tsd2": (1, "Techem TSD-2 payload of at least 3 bytes expected, found 2"),
}
# Decoded items whose expected total we do not reproduce, and why.
TOTALS_NOT_MATCHED = {
    # The same bytes are expected as 856.416667 kWh by wmbusmeters' newer qheatv2 driver, which
    # we match: VIF 0D is 100 kJ, the older qheat driver read it as 0.1 kWh.
    "qheat": 1,
}


# --- the wmbusmeters corpus --------------------------------------------------------


def test_basic_wmbusmeters_driver_telegrams() -> None:
    tests = _driver_tests()
    assert len(tests) == 399
    formats = FormatCache()  # one receiver listening to the whole corpus, in order
    decoded = totals_checked = totals_matched = 0
    keyed_decrypted: list[str] = []
    rejected: dict[str, list[str]] = {}
    unmatched: dict[str, int] = {}
    for test in tests:
        key = None if test["key"] == "NOKEY" else bytes.fromhex(test["key"])
        try:
            telegram = _decode_item(test["telegram"], key, formats)
        except ValueError as exc:  # AdapterError, or odd hex in the fixture
            if isinstance(exc, WrongKey):
                # Only an encrypted telegram without its key may end here, never a keyed one.
                assert key is None, (test["driver"], str(exc))
            elif key is not None:
                assert test["driver"] in UNSUPPORTED_KEYED, (test["driver"], str(exc))
            message = str(exc) if isinstance(exc, AdapterError) else f"fixture: {exc}"
            rejected.setdefault(test["driver"], []).append(message)
            continue
        decoded += 1
        if key is not None:
            assert test["driver"] not in UNSUPPORTED_KEYED
            keyed_decrypted.append(test["driver"])
        try:
            expected = json.loads(test["json"])
        except json.JSONDecodeError:
            continue
        for field, kind in TOTALS.items():
            value = expected.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals_checked += 1
                matched = _matches(telegram, kind, Decimal(str(value)))
                totals_matched += matched
                if not matched:
                    unmatched[test["driver"]] = unmatched.get(test["driver"], 0) + 1
                if key is not None:
                    assert matched, (test["driver"], field)
    assert {driver: len(messages) for driver, messages in rejected.items()} == {
        driver: count for driver, (count, _) in STILL_REJECTED.items()
    }
    for driver, messages in rejected.items():
        for message in messages:
            assert re.search(STILL_REJECTED[driver][1], message), (driver, message)
    assert unmatched == TOTALS_NOT_MATCHED
    # Before the manufacturer formats (wmbus_vendors): 321 of 399 decoded, 21 keyed decrypted,
    # 209 of 249 totals matched.
    assert decoded == DECODED_ITEMS, rejected
    assert len(keyed_decrypted) == KEYED_DECRYPTED
    assert (totals_matched, totals_checked) == (TOTALS_MATCHED, TOTALS_CHECKED)


def test_basic_wmbusmeters_keyed_telegrams_reject_a_wrong_key() -> None:
    rejected = 0
    for test in _driver_tests():
        if test["key"] == "NOKEY" or test["driver"] in UNSUPPORTED_KEYED:
            continue
        raw = _hex(test["telegram"])
        key = bytearray.fromhex(test["key"])
        key[0] ^= 0x02  # not bit 0: DES (actislink) ignores the parity bits
        with pytest.raises(WrongKey, match="2F( 2F)? expected, found|payload CRC"):
            wmbus.decode_wmbus(raw, bytes(key))
        rejected += 1
    assert rejected == KEYED_DECRYPTED


def test_basic_wmbusmeters_dll_crc_simulation() -> None:
    path = SHARED / "wmbusmeters_simulations" / "simulation_dll_crcs.txt"
    if not path.exists():
        pytest.skip(f"wmbusmeters simulations not found at {path} (GPL-3.0, not copied)")
    telegrams = [
        _hex(line.split("=", 1)[1])
        for line in path.read_text().splitlines()
        if line.startswith("telegram=")
    ]
    # A Sontex heat cost allocator in frame format A: CRCs checked and removed.
    sontex = next(t for t in telegrams if t[0] == 0x34)
    telegram = wmbus.decode_wmbus(sontex).telegram
    assert telegram.address is not None and telegram.address.meter_id == "SON-27293981"
    tampered = bytearray(sontex)
    tampered[20] ^= 0x01
    with pytest.raises(ChecksumError, match="wM-Bus block 2 CRC"):
        wmbus.decode_wmbus(bytes(tampered))


# --- wmbusmeters items read through a quirk or a manufacturer layout -------------------

# Expected JSON field -> (our reading's quantity, JSON unit) per driver, for the items that
# need DES, CI 73, a kept last-block CRC or a manufacturer layout. Every listed field of
# every item of the driver is compared with our reading; "@quantity" compares the reading's
# timestamp with a JSON date or date-time ("@" alone: the meter's time, of storage 0).
_MONTHS = range(1, 16)
FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "actislink": {"total_m3": ("volume", "m3")},
    "rfmtx1": {"total_m3": ("volume", "m3"), "meter_datetime": ("@volume", "")},
    "amiplus": {
        "total_energy_consumption_kwh": ("energy_import", "kwh"),
        "total_energy_production_kwh": ("energy_export", "kwh"),
        **{
            f"total_energy_consumption_tariff_{t}_kwh": (f"energy_import_tariff{t}", "kwh")
            for t in (1, 2, 3)
        },
        **{
            f"total_energy_production_tariff_{t}_kwh": (f"energy_export_tariff{t}", "kwh")
            for t in (1, 2, 3)
        },
        "current_power_consumption_kw": ("power_import", "kw"),
        "current_power_production_kw": ("power_export", "kw"),
        "max_power_consumption_kw": ("power_import_max", "kw"),
        **{f"voltage_at_phase_{n}_v": (f"voltage_l{n}", "v") for n in (1, 2, 3)},
        "device_datetime": ("@", ""),
    },
    "engelmann-faw": {
        "total_m3": ("volume", "m3"),
        "meter_datetime": ("@volume", ""),
        "consumption_at_reporting_date_m3": ("volume_storage1", "m3"),
        "reporting_date": ("@volume_storage1", ""),
        **{f"consumption_{n}_months_ago_m3": (f"volume_storage{n + 1}", "m3") for n in _MONTHS},
    },
    "evo868": {
        "total_m3": ("volume", "m3"),
        "device_datetime": ("@volume", ""),
        "consumption_at_set_date_m3": ("volume_storage1", "m3"),
        "set_date": ("@volume_storage1", ""),
        "consumption_at_set_date_2_m3": ("volume_storage2", "m3"),
        "max_flow_since_datetime_m3h": ("volume_flow_max_storage3", "m3/h"),
        "max_flow_datetime": ("@volume_flow_max_storage3", ""),
        **{
            f"consumption_at_history_{n}_m3": (f"volume_storage{n + 7}", "m3") for n in range(1, 13)
        },
    },
    "whe5x": {
        "current_consumption_hca": ("hca", "hca"),
        "device_datetime": ("@hca", ""),
        "consumption_at_set_date_hca": ("hca_storage1", "hca"),
        "set_date": ("@hca_storage1", ""),
    },
    "qwaterv2": {
        "total_m3": ("volume", "m3"),
        "meter_datetime": ("@volume", ""),
        "target_year_m3": ("volume_storage1", "m3"),
        "target_year_date": ("@volume_storage1", ""),
        "target_m3": ("volume_storage17", "m3"),
        "target_date": ("@volume_storage17", ""),
    },
    "unismart": {
        "total_m3": ("volume", "m3"),
        "target_m3": ("volume_storage1", "m3"),
        "target_datetime": ("@volume_storage1", ""),
    },
    "bfw240radio": {
        "current_hca": ("hca", "hca"),
        "device_date": ("@hca", ""),
        "prev_hca": ("hca_storage1", "hca"),
        **{f"prev_{n:02d}_hca": (f"hca_storage{n + 1}", "hca") for n in range(1, 19)},
    },
}
# Our unit -> its value in the JSON's unit.
IN_JSON = {
    "m3": {"dm3": Decimal("0.001")},
    "m3/h": {"dm3/h": Decimal("0.001")},
    "kwh": {"Wh": Decimal("0.001")},
    "kw": {"W": Decimal("0.001")},
    "v": {"mV": Decimal("0.001")},
    "hca": {"hca": Decimal(1)},
}
# Items compared per driver (all of the driver's items).
QUIRK_ITEMS = {
    "actislink": 1,
    "rfmtx1": 1,
    "amiplus": 7,
    "engelmann-faw": 2,
    "evo868": 2,
    "whe5x": 1,
    "qwaterv2": 8,
    "unismart": 1,
    "bfw240radio": 6,
}


def _reading_values(raw: bytes, key: bytes | None) -> dict[str, tuple[Decimal, str | None, str]]:
    """quantity -> (value, timestamp "YYYY-MM-DD HH:MM:SS", unit) of a telegram's readings."""
    out: dict[str, tuple[Decimal, str | None, str]] = {}
    for reading in wmbus.parse_wmbus(raw, key):
        stamp = reading.to_json()["timestamp"]
        when = None if stamp is None else str(stamp).replace("T", " ").removesuffix("Z")
        out.setdefault(reading.quantity, (Decimal(reading.value), when, reading.unit))
    return out


def test_basic_wmbusmeters_items_with_quirks_give_the_expected_values() -> None:
    """Every listed field of every item of these drivers, as wmbusmeters expects it."""
    items: dict[str, int] = {}
    compared = 0
    for test in _driver_tests():
        fields = FIELDS.get(test["driver"])
        if fields is None:
            continue
        key = None if test["key"] == "NOKEY" else bytes.fromhex(test["key"])
        ours = _reading_values(_hex(test["telegram"]), key)
        expected = json.loads(test["json"])
        items[test["driver"]] = items.get(test["driver"], 0) + 1
        for field, (quantity, unit) in fields.items():
            if field not in expected:
                continue
            if quantity == "@":
                when = next(v[1] for q, v in ours.items() if "_storage" not in q)
                assert when is not None and when.startswith(expected[field]), (test, field)
            elif quantity.startswith("@"):
                when = ours[quantity[1:]][1]
                assert when is not None and when.startswith(expected[field]), (test, field)
            else:
                value, _, our_unit = ours[quantity]
                assert value * IN_JSON[unit][our_unit] == Decimal(str(expected[field])), (
                    test["driver"],
                    field,
                )
            compared += 1
    assert items == QUIRK_ITEMS
    assert compared == 323


def _item(driver: str, index: int = 0) -> tuple[bytes, bytes | None]:
    test = [t for t in _driver_tests() if t["driver"] == driver][index]
    return _hex(test["telegram"]), None if test["key"] == "NOKEY" else bytes.fromhex(test["key"])


def test_basic_kept_last_block_crc_is_checked_and_removed() -> None:
    raw, _ = _item("whe5x")  # Qundis Q caloric: L counts the CRC of the last block, kept
    assert wmbus.crc16_en13757(raw[26:-2]).to_bytes(2, "big") == raw[-2:]
    stripped = wmbus.strip_crcs(raw)
    assert stripped == bytes((raw[0] - 2,)) + raw[1:-2]


def test_invalid_kept_last_block_crc_with_a_changed_byte() -> None:
    raw, _ = _item("whe5x")
    tampered = bytearray(raw)
    tampered[30] ^= 0x01  # in the last block: the kept CRC no longer checks
    with pytest.raises(TruncatedFrame, match="1 bytes of VIF at offset 26 expected, found 0"):
        wmbus.decode_wmbus(bytes(tampered))


def test_invalid_kept_last_block_crc_frame_cut_short() -> None:
    raw, _ = _item("whe5x")
    cut = bytes((raw[0] - 1,)) + raw[1:-1]  # one byte less, L adjusted: no CRC to find
    with pytest.raises(TruncatedFrame, match="1 bytes of DIFE at offset 25 expected, found 0"):
        wmbus.decode_wmbus(cut)


def test_basic_des_mode2_actislink() -> None:
    raw, key = _item("actislink")
    assert key is not None and len(key) == 8
    telegram = wmbus.decode_wmbus(raw, key)
    assert telegram.security_mode == 2
    [volume] = wmbus.parse_wmbus(raw, key)
    assert (volume.meter, volume.quantity, volume.value, volume.unit) == (
        "ALK-00000001",
        "volume",
        1000,
        "dm3",
    )


def test_invalid_des_mode2_wrong_or_missing_key() -> None:
    raw, key = _item("actislink")
    assert key is not None
    with pytest.raises(WrongKey, match="decrypted payload starting 2F 2F expected"):
        wmbus.parse_wmbus(raw, bytes(8))
    with pytest.raises(WrongKey, match="a DES key for security mode 2 expected, found none"):
        wmbus.parse_wmbus(raw, None)
    with pytest.raises(WrongKey, match="an 8-byte DES key expected, found 16 bytes"):
        wmbus.parse_wmbus(raw, key * 2)


def _engelmann_plain() -> tuple[bytes, bytes, bytes, bytes]:
    """Header, IV, decrypted payload and key of the Engelmann FAW CI 73 telegram."""
    raw, key = _item("engelmann-faw", 1)
    assert key is not None and raw[10] == 0x73
    tpl = raw[11:19]
    iv = tpl[4:6] + tpl[0:4] + tpl[6:8] + raw[19:20] * 8
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return raw[:23], iv, decryptor.update(raw[23:]) + decryptor.finalize(), key


def test_basic_ci73_compact_frame_after_long_header() -> None:
    header, _, plain, key = _engelmann_plain()
    assert plain[:2] == b"\x2f\x2f" and plain[2:4] == bytes.fromhex("2d05")  # signature 052D
    readings = {r.quantity: r for r in wmbus.parse_wmbus(header + _reencrypt(plain), key)}
    assert readings["volume"].meter == "EFE-22862420"
    assert (readings["volume"].value, readings["volume_storage16"].value) == (253409, 172538)


def _reencrypt(plain: bytes) -> bytes:
    _, iv, _, key = _engelmann_plain()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(plain) + encryptor.finalize()


def test_invalid_ci73_compact_frame_with_a_changed_data_byte() -> None:
    header, _, plain, key = _engelmann_plain()
    tampered = bytearray(plain)
    tampered[10] ^= 0x01  # a volume byte: the full frame's CRC no longer checks
    with pytest.raises(
        ChecksumError, match="compact frame data CRC [0-9A-F]{4} expected, found F36F"
    ):
        wmbus.decode_wmbus(header + _reencrypt(bytes(tampered)), key)
    tampered = bytearray(plain)
    tampered[-1] = 0x00  # not a 2F filler after the data
    with pytest.raises(UnsupportedFrame, match="only 2F fillers after the compact frame"):
        wmbus.decode_wmbus(header + _reencrypt(bytes(tampered)), key)


def test_basic_bmeters_rfmtx1_obfuscated_register() -> None:
    raw, _ = _item("rfmtx1")
    telegram = wmbus.decode_wmbus(raw).telegram
    assert telegram.address is not None and telegram.address.meter_id == "BMT-74737271"
    [volume] = wmbus.parse_wmbus(raw)
    assert (volume.quantity, volume.value, volume.unit) == ("volume", 188560, "dm3")
    assert volume.to_json()["timestamp"] == "2020-03-31T10:04:59Z"


def test_invalid_bmeters_rfmtx1_changed_bytes() -> None:
    raw, _ = _item("rfmtx1")
    # The layout has no checksum: only a broken BCD digit or date is caught.
    tampered = bytearray(raw)
    tampered[15 + 5] ^= 0xF0  # the register's top digits
    with pytest.raises(UnsupportedFrame, match="BCD digits in the RFM-TX1 register expected"):
        wmbus.decode_wmbus(bytes(tampered))
    tampered = bytearray(raw)
    tampered[15 + 13 + 4] = 0x13  # month 13
    with pytest.raises(UnsupportedFrame, match="a valid RFM-TX1 date and time expected"):
        wmbus.decode_wmbus(bytes(tampered))
    with pytest.raises(TruncatedFrame, match="RFM-TX1 payload of at least 19 bytes"):
        wmbus.decode_wmbus(bytes((32,)) + raw[1:33])


def test_basic_bfw240radio_layout() -> None:
    raw, _ = _item("bfw240radio")
    readings = {r.quantity: r for r in wmbus.parse_wmbus(raw)}
    assert readings["hca"].meter == "BFW-00707788"
    assert (readings["hca"].value, readings["hca_storage1"].value) == (904, 961)
    assert readings["hca"].to_json()["timestamp"] == "2021-02-28T00:00:00Z"


def test_invalid_bfw240radio_layout() -> None:
    raw, _ = _item("bfw240radio")
    with pytest.raises(TruncatedFrame, match="BFW 240 payload of 40 bytes expected, found 39"):
        wmbus.decode_wmbus(bytes((raw[0] - 1,)) + raw[1:-1])
    tampered = bytearray(raw)
    tampered[15] = 0x2E
    with pytest.raises(UnsupportedFrame, match="BFW 240 payload starting 2F 2F expected"):
        wmbus.decode_wmbus(bytes(tampered))
    tampered = bytearray(raw)
    tampered[-2] = 0x1A  # month 1A
    with pytest.raises(UnsupportedFrame, match="a BCD date .* BFW 240 layout expected"):
        wmbus.decode_wmbus(bytes(tampered))


# --- pymeterbus's mode 5 telegram -------------------------------------------------


def test_basic_mode5_pymeterbus_telegram() -> None:
    readings = wmbus.parse_wmbus(MODE5_RAW, MODE5_KEY)
    by_quantity = {r.quantity: r for r in readings}
    # pymeterbus expects "0 Wh", "2020-04-21T10:16", "0.071 m3".
    assert (by_quantity["energy_heat"].value, by_quantity["energy_heat"].unit) == (0, "Wh")
    assert (by_quantity["volume"].value, by_quantity["volume"].unit) == (71, "dm3")
    assert by_quantity["volume"].to_json()["timestamp"] == "2020-04-21T10:16:00Z"
    assert by_quantity["volume"].meter == "AXI-00096255"
    assert by_quantity["volume"].source == "wmbus"
    assert by_quantity["volume"].raw_hash == raw_hash(MODE5_RAW)


def test_invalid_mode5_wrong_key() -> None:
    with pytest.raises(WrongKey, match="decrypted payload starting 2F 2F expected, found 7B F7"):
        wmbus.parse_wmbus(MODE5_RAW, bytes(16))


def test_invalid_mode5_missing_or_malformed_key() -> None:
    with pytest.raises(WrongKey, match="AES-128 key for security mode 5 expected, found none"):
        wmbus.parse_wmbus(MODE5_RAW, None)
    with pytest.raises(WrongKey, match="16-byte AES-128 key expected, found 8 bytes"):
        wmbus.parse_wmbus(MODE5_RAW, bytes(8))


def test_invalid_mode5_changed_ciphertext_byte() -> None:
    # Any change in the first cipher block garbles the decrypted 2F 2F.
    for index in range(15, 31):
        tampered = bytearray(MODE5_RAW)
        tampered[index] ^= 0x01
        with pytest.raises(WrongKey):
            wmbus.parse_wmbus(bytes(tampered), MODE5_KEY)


# --- built telegrams: CRCs, ELL, mode 7 ------------------------------------------


def _with_format_a_crcs(frame: bytes) -> bytes:
    out = frame[:10] + wmbus.crc16_en13757(frame[:10]).to_bytes(2, "big")
    for start in range(10, len(frame), 16):
        block = frame[start : start + 16]
        out += block + wmbus.crc16_en13757(block).to_bytes(2, "big")
    return out


def _with_format_b_crc(frame: bytes) -> bytes:
    body = bytes((frame[0] + 2,)) + frame[1:]
    return body + wmbus.crc16_en13757(body).to_bytes(2, "big")


def test_basic_crc16_en13757_check_value() -> None:
    assert wmbus.crc16_en13757(b"123456789") == 0xC2B7  # CRC-16/EN-13757 catalogue value


def test_basic_format_a_and_b_crcs_are_checked_and_removed() -> None:
    plain = wmbus.decode_wmbus(MODE5_RAW, MODE5_KEY).telegram
    for wire in (_with_format_a_crcs(MODE5_RAW), _with_format_b_crc(MODE5_RAW)):
        assert wmbus.decode_wmbus(wire, MODE5_KEY).telegram == plain


def test_invalid_every_changed_byte_of_a_crc_frame_is_rejected() -> None:
    wire = _with_format_a_crcs(MODE5_RAW)
    for index in range(len(wire)):
        tampered = bytearray(wire)
        tampered[index] ^= 0x10
        with pytest.raises(AdapterError):
            wmbus.parse_wmbus(bytes(tampered), MODE5_KEY)


def _link(ci: int, rest: bytes) -> bytes:
    body = bytes.fromhex("44") + bytes.fromhex("2d2c") + bytes.fromhex("78563412") + b"\x01\x07"
    body += bytes((ci,)) + rest
    return bytes((len(body),)) + body


RECORDS = bytes.fromhex("0413e8030000046d1a2f6511")  # volume 1000 l, 2011-01-05 15:26


def test_basic_unencrypted_short_tpl() -> None:
    raw = _link(0x7A, bytes.fromhex("2a000000") + RECORDS)
    [volume] = wmbus.parse_wmbus(raw)
    assert (volume.meter, volume.quantity, volume.value, volume.unit) == (
        "KAM-12345678",
        "volume",
        1000,
        "dm3",
    )


def test_basic_ell_aes_ctr() -> None:
    key = bytes(range(16))
    session = (1 << 29) | 0x123456  # ENC = 1: AES-128-CTR
    ell = bytes((0x20, 0x2A)) + session.to_bytes(4, "little")
    inner = bytes((0x78,)) + RECORDS
    plain = wmbus.crc16_en13757(inner).to_bytes(2, "little") + inner
    header = _link(0x8D, ell)
    iv = header[2:10] + ell[0:1] + ell[2:6] + bytes(3)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    wire = _link(0x8D, ell + encryptor.update(plain) + encryptor.finalize())
    [volume] = wmbus.parse_wmbus(wire, key)
    assert volume.value == 1000
    with pytest.raises(WrongKey, match="ELL payload CRC"):
        wmbus.parse_wmbus(wire, bytes(16))


def _cmac(key: bytes, message: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def _mode7_telegram(key: bytes, counter: int, with_mac: bool = True) -> bytes:
    """An OMS mode 7 telegram: AFL with message counter (and, with ``with_mac``, the message
    control byte and an 8-byte AES-CMAC), short TPL, CBC with a derived key."""
    blocks = 1
    configuration = (7 << 8) | (blocks << 4)
    plain = (b"\x2f\x2f" + RECORDS).ljust(16, b"\x2f")
    identification = bytes.fromhex("78563412")
    mc = counter.to_bytes(4, "little")
    derived = wmbus.oms_kdf(key, wmbus.KDF_ENCRYPTION_FROM_METER, mc, identification)
    encryptor = Cipher(algorithms.AES(derived), modes.CBC(bytes(16))).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    tpl = bytes((0x7A, 0x2A, 0x00)) + configuration.to_bytes(2, "little") + b"\x10"
    if not with_mac:
        afl = (0x0800).to_bytes(2, "little") + mc  # MCR present
    else:
        control = 0x25  # message counter in the message, authentication type 5 (CMAC, 8 B)
        mac_key = _cmac(key, b"\x01" + mc + identification + b"\x07" * 7)
        mac = _cmac(mac_key, bytes((control,)) + mc + tpl + ciphertext)[:8]
        afl = (0x2C00).to_bytes(2, "little") + bytes((control,)) + mc + mac  # MCL, MCR, MAC
    return _link(0x90, bytes((len(afl),)) + afl + tpl + ciphertext)


def test_basic_mode7_round_trip() -> None:
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    for with_mac in (True, False):  # the MAC is checked when the AFL carries one
        raw = _mode7_telegram(key, 0x11, with_mac)
        telegram = wmbus.decode_wmbus(raw, key)
        assert telegram.security_mode == 7
        assert {r.quantity: r.value for r in wmbus.parse_wmbus(raw, key)} == {"volume": 1000}
    with pytest.raises(WrongKey, match="2F 2F expected"):
        wmbus.parse_wmbus(_mode7_telegram(key, 0x11, with_mac=False), bytes(16))
    with pytest.raises(WrongKey, match="AFL MAC [0-9A-F]{16} expected .* found [0-9A-F]{16}"):
        wmbus.parse_wmbus(_mode7_telegram(key, 0x11), bytes(16))


def test_invalid_mode7_changed_last_block_is_refused_by_the_mac() -> None:
    # CBC confines a change in the last ciphertext block to the last clear block, after the
    # 2F 2F check: without the MAC such a telegram decoded to different records.
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    raw = bytearray(_mode7_telegram(key, 0x11))
    raw[-3] ^= 0x01
    with pytest.raises(WrongKey, match="AFL MAC .* found .*: the telegram was changed"):
        wmbus.parse_wmbus(bytes(raw), key)


# The OMS security profile B example (OMS Specification Vol. 2, annex N: ELS water meter
# 12345678, ELL, AFL with message counter 2739 and an 8-byte MAC, mode 7, two encrypted
# blocks), as its bytes appear in the tests of openmuc/jmbus (MPL-2.0), without link-layer
# CRCs and with frame format A CRCs. Key 00 01 .. 0F.
OMS_PROFILE_B = bytes.fromhex(
    "434493157856341233038C2075900F002C25B30A000021924D4F2FB66E017A75002007109058475F4BC91D"
    "F878B80A1B0F98B629024AAC727942BFC549233C0140829B93"
)
OMS_PROFILE_B_FORMAT_A = bytes.fromhex(
    "434493157856341233037AC98C2075900F002C25B30A000021924D4FBA372FB66E017A75002007109058475F"
    "4BC9D1281DF878B80A1B0F98B629024AAC7279429398BFC549233C0140829B93BAA1"
)
OMS_PROFILE_B_KEY = bytes(range(16))


def test_basic_oms_profile_b_example_mac_is_the_oms_cmac() -> None:
    # The rule, written out: Kmac = CMAC(K, 01 || MCR || ID || 07 x 7); MAC = the first 8
    # bytes of CMAC(Kmac, MCL || MCR || every byte from the CI after the AFL to the end).
    raw = OMS_PROFILE_B
    afl = raw[15:30]  # after L C M A, ELL 8C 20 75, AFL CI 90 and AFLL 0F
    fcl, control, counter, mac = afl[0:2], afl[2:3], afl[3:7], afl[7:15]
    assert (fcl.hex(), control.hex(), int.from_bytes(counter, "little")) == ("002c", "25", 2739)
    mac_key = _cmac(OMS_PROFILE_B_KEY, b"\x01" + counter + raw[4:8] + b"\x07" * 7)
    assert _cmac(mac_key, control + counter + raw[30:])[:8] == mac
    assert raw[30] == 0x7A  # the MAC covers the TPL from its CI on
    for wire in (OMS_PROFILE_B, OMS_PROFILE_B_FORMAT_A):
        telegram = wmbus.decode_wmbus(wire, OMS_PROFILE_B_KEY)
        assert telegram.security_mode == 7
        [volume] = wmbus.parse_wmbus(wire, OMS_PROFILE_B_KEY)
        assert (volume.meter, volume.quantity, volume.value, volume.unit) == (
            "ELS-12345678",
            "volume",
            28_504_270,  # 28504.27 m3
            "dm3",
        )


def test_invalid_oms_profile_b_every_one_bit_change_is_refused() -> None:
    # Every bit the MAC or its key derivation covers: the meter id, the AFL's message control,
    # counter and MAC, and everything from the TPL's CI to the end.
    covered = [*range(4, 8), *range(17, len(OMS_PROFILE_B))]
    for index in covered:
        for bit in range(8):
            tampered = bytearray(OMS_PROFILE_B)
            tampered[index] ^= 1 << bit
            with pytest.raises(AdapterError) as info:
                wmbus.parse_wmbus(bytes(tampered), OMS_PROFILE_B_KEY)
            if index >= 30 or 22 <= index < 30:  # TPL and data, or the MAC itself
                assert "AFL MAC" in str(info.value), (index, bit, str(info.value))


def test_invalid_oms_profile_b_tampered_message_says_expected_and_found() -> None:
    tampered = bytearray(OMS_PROFILE_B)
    tampered[-1] ^= 0x01
    with pytest.raises(WrongKey) as info:
        wmbus.parse_wmbus(bytes(tampered), OMS_PROFILE_B_KEY)
    assert str(info.value) == (
        "AFL MAC 5279750A17A26D29 expected (AES-CMAC of the 38 bytes from CI 7A with the key "
        "derived for message counter 2739 and meter 12345678), found 21924D4F2FB66E01: the "
        "telegram was changed after the meter sent it, or the key is not this meter's"
    )
    with pytest.raises(WrongKey, match="AFL MAC .* found 21924D4F2FB66E01"):
        wmbus.parse_wmbus(OMS_PROFILE_B, bytes(16))  # another meter's key


def test_invalid_afl_layouts_that_hide_the_mac() -> None:
    key = OMS_PROFILE_B_KEY
    raw = bytearray(_mode7_telegram(key, 0x11))
    afl = raw.index(b"\x90\x0f") + 2  # the AFL's FCL
    no_control = bytearray(raw)
    no_control[afl + 1] &= ~0x20  # FCL without MCL, but with a MAC
    with pytest.raises(UnsupportedFrame, match="message control field .* expected"):
        wmbus.parse_wmbus(bytes(no_control), key)
    gmac = bytearray(raw)
    gmac[afl + 2] = 0x28  # authentication type 8
    with pytest.raises(UnsupportedFrame, match=r"type 3-7 \(AES-CMAC-128\) expected, found 8"):
        wmbus.parse_wmbus(bytes(gmac), key)
    longer = bytearray(raw)
    longer[afl - 1] += 1  # AFLL one more than its fields
    with pytest.raises(UnsupportedFrame, match="an AFL of 15 bytes .* expected, found AFLL = 16"):
        wmbus.parse_wmbus(bytes(longer), key)


def _corpus_afl_mac_telegrams() -> list[bytes]:
    """The telegrams of the wmbusmeters corpus (driver tests and simulations) whose AFL
    carries a MAC."""
    texts = [test["telegram"] for test in _driver_tests()]
    for path in sorted((SHARED / "wmbusmeters_simulations").glob("*.txt")):
        texts += re.findall(r"^telegram=(\S+)", path.read_text(), re.MULTILINE)
    found = []
    for text in texts:
        raw = _hex(text)
        try:
            frame = wmbus.strip_crcs(raw)
        except AdapterError:
            continue
        pos = 10 + {0x8C: 3, 0x8D: 7, 0x8E: 11, 0x8F: 15}.get(frame[10], 0)
        if frame[10] in (0x8D, 0x8F):  # a session: the payload CRC comes first, if clear
            if not wmbus._crc_ok(frame[pos:]):
                continue
            pos += 2
        if frame[pos : pos + 1] == b"\x90" and frame[pos + 3] & 0x04:  # FCL bit 10: MAC
            found.append(raw)
    return found


def test_basic_wmbusmeters_afl_mac_telegrams() -> None:
    # Every mode 7 telegram with an AFL MAC in the corpus was logged by a receiver that had
    # already decrypted it (2F 2F after the TPL header, no key given): the MAC covered the
    # ciphertext it replaced, so without a key they read as clear text, and with any key the
    # MAC check refuses them rather than trusting bytes it cannot authenticate.
    telegrams = _corpus_afl_mac_telegrams()
    assert len(telegrams) == 24
    for raw in telegrams:
        assert wmbus.decode_wmbus(raw).security_mode == 7
        with pytest.raises(WrongKey, match="AFL MAC [0-9A-F]{16} expected .* found"):
            wmbus.decode_wmbus(raw, OMS_PROFILE_B_KEY)


def test_basic_wired_frame_is_accepted() -> None:
    readings = wmbus.parse_wmbus(bytes.fromhex(PYMETERBUS["weptech"]["hex"]), None)
    assert readings[0].source == "wmbus"


def test_invalid_manufacturer_ci_and_compact_frames() -> None:
    with pytest.raises(UnsupportedFrame, match="OMS CI field .* expected, found CI A0 from KAM"):
        wmbus.parse_wmbus(_link(0xA0, bytes(8)))
    with pytest.raises(UnsupportedFrame, match="compact frame 79 with format signature 0000"):
        wmbus.parse_wmbus(_link(0x79, bytes(8)))


def test_invalid_truncated_telegram() -> None:
    with pytest.raises(
        TruncatedFrame, match=r"wM-Bus telegram of 47 bytes \(L=46\) expected, found 30"
    ):
        wmbus.parse_wmbus(MODE5_RAW[:30], MODE5_KEY)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), key=st.none() | st.binary(min_size=16, max_size=16))
def test_property_random_bytes_raise_only_adapter_errors(data: bytes, key: bytes | None) -> None:
    try:
        wmbus.parse_wmbus(data, key)
    except AdapterError:
        pass


@settings(max_examples=300, deadline=None)
@given(ci=st.sampled_from([0x72, 0x78, 0x7A, 0x8C, 0x8D, 0x90]), rest=st.binary(max_size=120))
def test_property_random_layers_raise_only_adapter_errors(ci: int, rest: bytes) -> None:
    raw = _link(ci, rest)
    for candidate in (raw, _with_format_a_crcs(raw)):
        try:
            wmbus.parse_wmbus(candidate, bytes(16))
        except AdapterError:
            pass
