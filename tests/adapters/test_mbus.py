"""Wired M-Bus (EN 13757-3): the libmbus test frames decode to the values of libmbus's own
normalized XML, readings come out in exact integer base units, and corrupt frames are
rejected with what was expected and what was found."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters import mbus
from meter_adapters.errors import AdapterError, ChecksumError, TruncatedFrame, UnsupportedFrame
from meter_adapters.reading import raw_hash

HERE = Path(__file__).resolve()
LOCAL = HERE.parents[1] / "fixtures" / "mbus"
SHARED = HERE.parents[2].parent / "shared" / "fixtures" / "mbus_wired" / "libmbus_test_frames"

# Our unit -> (libmbus XML unit, power of ten of ours relative to it).
XML_UNITS = {
    "Wh": ("Wh", 0),
    "J": ("J", 0),
    "dm3": ("m^3", -3),
    "ml": ("m^3", -6),
    "mWh": ("Wh", -3),
    "W": ("W", 0),
    "mW": ("W", -3),
    "dm3/h": ("m^3/h", -3),
    "ml/h": ("m^3/h", -6),
    "mdegC": ("°C", -3),
    "mK": ("K", -3),
    "mV": ("V", -3),
    "mA": ("A", -3),
    "s": ("s", 0),
    "hca": ("Units for H.C.A.", 0),
}
# Fixed-structure frames (CI 73): libmbus prints the raw counter and the unit's name.
FIXED_XML_UNITS = {"l": ("dm3", 0), "kWh": ("Wh", 3)}

# Records libmbus prints a number for but we decode as invalid (value None): "value during
# error state" records whose BCD holds non-decimal nibbles (the meter's error marker).
INVALID_BCD_RECORDS = {
    ("ELS_Elster-F96-Plus", 4),
    ("ELS_Elster-F96-Plus", 5),
    ("abb_f95", 2),
    ("abb_f95", 3),
}
# Frames that decode but hold no physical quantity, so parse_mbus rejects them.
NO_READINGS = {
    "example_binary16_lvar": "one binary variable-length record without unit",
    "frame1": "manufacturer-specific data only",
    "manual_frame7": "one record without a physical unit",
    "siemens_rvd235": "controller: ids, parameters and manufacturer data only",
}


def _frames(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.hex"))


def _read_hex(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().replace("\n", " "))


def _xml(path: Path) -> ET.Element:
    # The files declare ISO-8859-1 but are UTF-8 ("°C"); decode them as they are.
    text = path.with_name(path.stem + ".norm.xml").read_bytes().decode("utf-8")
    return ET.fromstring(text.replace('encoding="ISO-8859-1"', ""))


def _check_against_xml(path: Path) -> int:
    """Compare every record with libmbus's decode; return how many values were compared."""
    name = path.stem
    raw = _read_hex(path)
    telegram = mbus.decode_frame(raw)
    root = _xml(path)
    expected = root.findall("DataRecord")
    assert len(expected) == len(telegram.records), name
    info = root.find("SlaveInformation")
    assert info is not None
    assert telegram.address is not None
    assert (info.findtext("Id") or "").lstrip("0") == telegram.address.identification.lstrip("0")
    if info.findtext("Manufacturer"):
        assert info.findtext("Manufacturer") == telegram.address.manufacturer
    compared = 0
    for index, (xml_record, record) in enumerate(zip(expected, telegram.records, strict=True)):
        unit = xml_record.findtext("Unit") or ""
        value = xml_record.findtext("Value") or ""
        if (name, index) in INVALID_BCD_RECORDS:
            assert record.value is None and record.function == "error", (name, index)
            continue
        if unit in FIXED_XML_UNITS:
            our_unit, power = FIXED_XML_UNITS[unit]
            assert (record.unit, record.value) == (our_unit, int(value) * 10**power), name
            compared += 1
            continue
        if record.unit is None:
            # Not a physical value for us: ids, flags, text, manufacturer data, dates.
            assert unit not in {u for u, _ in XML_UNITS.values()}, (name, index, unit)
            if record.quantity in ("date", "date_time") and isinstance(record.value, str):
                assert value.startswith(record.value[:10]), (name, index)
            continue
        xml_unit, power = XML_UNITS[record.unit]
        assert unit == xml_unit, (name, index)
        assert isinstance(record.value, int)
        ours = Decimal(record.value).scaleb(power)
        # libmbus prints 6 decimals; reals are rounded to our unit (half a unit of slack).
        assert abs(ours - Decimal(value)) <= Decimal("0.0000006") + Decimal(1).scaleb(power) / 2, (
            name,
            index,
            value,
            record,
        )
        for tag, ours_field in (
            ("StorageNumber", record.storage),
            ("Tariff", record.tariff),
            ("Device", record.subunit),
        ):
            if xml_record.findtext(tag) is not None:
                assert int(xml_record.findtext(tag) or "") == ours_field, (name, index, tag)
        compared += 1
    return compared


def _check_parse(path: Path) -> None:
    raw = _read_hex(path)
    if path.stem in NO_READINGS:
        with pytest.raises(UnsupportedFrame, match="physical quantity expected, found none"):
            mbus.parse_mbus(raw)
        return
    readings = mbus.parse_mbus(raw)
    assert readings
    for reading in readings:
        assert type(reading.value) is int
        assert reading.source == "mbus"
        assert reading.raw_hash == raw_hash(raw)


@pytest.mark.parametrize("path", _frames(LOCAL / "libmbus"), ids=lambda p: p.stem)
def test_basic_local_libmbus_frames_match_libmbus(path: Path) -> None:
    _check_against_xml(path)
    _check_parse(path)


def test_basic_all_76_libmbus_frames_match_libmbus() -> None:
    frames = _frames(SHARED)
    if not frames:
        pytest.skip(f"libmbus test frames not found at {SHARED} (shared fixtures absent)")
    assert len(frames) == 76
    compared = sum(_check_against_xml(path) for path in frames)
    for path in frames:
        _check_parse(path)
    # 637 values with a physical unit compared over the 76 frames (plus the dates).
    assert compared >= 637


def test_basic_kamstrup_multical_601_readings() -> None:
    raw = _read_hex(LOCAL / "libmbus" / "kamstrup_multical_601.hex")
    readings = {r.quantity: r for r in mbus.parse_mbus(raw)}
    now = int(datetime(2011, 1, 5, 15, 26, tzinfo=UTC).timestamp())
    then = int(datetime(2010, 12, 31, tzinfo=UTC).timestamp())
    energy = readings["energy_heat"]
    assert (energy.meter, energy.value, energy.unit, energy.timestamp) == (
        "KAM-06855817",
        37351000,
        "Wh",
        now,
    )
    assert (readings["volume"].value, readings["volume"].unit) == (561080, "dm3")
    assert readings["energy_heat_storage1"].value == 33361000
    assert readings["energy_heat_storage1"].timestamp == then
    assert readings["power_max"].value == 44800
    assert readings["flow_temperature"].value == 101690
    assert readings["energy_heat_tariff1"].value == 0
    assert readings["volume_device1"].value == 0
    assert readings["energy_heat"].to_json()["timestamp"] == "2011-01-05T15:26:00Z"


def test_basic_fixed_structure_frame() -> None:
    raw = _read_hex(LOCAL / "libmbus" / "manual_frame2.hex")
    telegram = mbus.decode_frame(raw)
    assert telegram.address is not None and telegram.address.medium == 7  # water
    [reading] = mbus.parse_mbus(raw)
    assert (reading.meter, reading.quantity, reading.value, reading.unit) == (
        "12345678",
        "volume",
        1,
        "dm3",
    )


def test_basic_real_values_are_rounded_half_even_to_the_unit() -> None:
    raw = _read_hex(LOCAL / "libmbus" / "EDC.hex")
    records = mbus.decode_frame(raw).records
    # 85 00 5B: binary32 21.536703 degC -> 21536.703 mdegC -> 21537.
    assert (records[4].quantity, records[4].value, records[4].unit) == (
        "flow_temperature",
        21537,
        "mdegC",
    )
    assert mbus.real32_to_decimal(bytes.fromhex("0000c03f")) == Decimal("1.5")


def test_basic_manufacturer_vife_keeps_quantity_and_unit() -> None:
    raw = _read_hex(LOCAL / "libmbus" / "EMU_EMU-Professional-375-M-Bus.hex")
    by_quantity = {r.quantity: r for r in mbus.parse_mbus(raw)}
    # 02 FD C8 FF 01: voltage 10^-1 V with the maker's phase number 1.
    assert (by_quantity["voltage_mfr01"].value, by_quantity["voltage_mfr01"].unit) == (
        225700,
        "mV",
    )


def test_basic_phase_and_limit_vifes_name_distinct_registers() -> None:
    # VIF FD C9 (voltage, V) + VIFE FC 0n: at phase Ln (EN 13757-3:2018 orthogonal extension);
    # VIF AB (power, W) + VIFE C8 (upper limit value) + FC 10: a limit, not the power itself.
    records = mbus.decode_records(
        bytes.fromhex(
            "".join(("0AFDC9FC013502", "0AFDC9FC024102", "0AFDC9FC043002", "0BABC8FC10501200"))
        )
    )
    assert [(r.quantity, r.value, r.unit) for r in records] == [
        ("voltage_l1", 235000, "mV"),
        ("voltage_l2", 241000, "mV"),
        ("voltage_n", 230000, "mV"),
        ("power_upper_limit_ext10", 1250, "W"),
    ]
    address = mbus.SecondaryAddress("00000001", "APA", 2, 0x02)  # electricity
    readings = mbus.telegram_readings(mbus.Telegram(address, 0, 0, tuple(records)), b"", "mbus")
    assert [r.quantity for r in readings][-1] == "power_import_upper_limit_ext10"


def test_basic_pymeterbus_frames() -> None:
    frames = {
        f["name"]: f
        for f in json.loads((LOCAL / "pymeterbus_test_frames.json").read_text())["frames"]
    }
    elvaco = mbus.parse_mbus(bytes.fromhex(frames["elvaco_cma10"]["hex"]))
    assert {r.quantity: r.value for r in elvaco}["external_temperature"] == 22560  # 2256 * 10^-2 °C
    assert elvaco[0].meter == "ELV-54000834"
    weptech = {r.quantity: r for r in mbus.parse_mbus(bytes.fromhex(frames["weptech"]["hex"]))}
    assert weptech["external_temperature"].value == 22000  # 0A 66 2002: BCD 220 * 10^-1 °C
    assert (weptech["relative_humidity"].value, weptech["relative_humidity"].unit) == (
        531,
        "permille_rh",
    )


def test_basic_dates() -> None:
    assert mbus.decode_date(bytes.fromhex("1a2f6511")) == (
        "2011-01-05T15:26:00Z",
        int(datetime(2011, 1, 5, 15, 26, tzinfo=UTC).timestamp()),
    )
    assert mbus.decode_date(bytes.fromhex("5f1c"))[0] == "2010-12-31"  # type: ignore[index]
    assert mbus.decode_date(bytes.fromhex("9a2f6511")) is None  # IV bit: time invalid


def test_basic_manufacturer_code() -> None:
    assert mbus.manufacturer_code(0x2C2D) == "KAM"


# --- corrupt frames ------------------------------------------------------------------


@pytest.mark.parametrize("path", _frames(LOCAL / "libmbus"), ids=lambda p: p.stem)
def test_invalid_every_changed_byte_is_rejected(path: Path) -> None:
    raw = _read_hex(path)
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x20
        expected = ChecksumError if 4 <= index < len(raw) - 1 else AdapterError
        with pytest.raises(expected):
            mbus.parse_mbus(bytes(tampered))


def test_invalid_checksum_message() -> None:
    raw = bytearray(_read_hex(LOCAL / "libmbus" / "manual_frame2.hex"))
    raw[-2] = 0x00
    with pytest.raises(ChecksumError, match="M-Bus checksum 3C expected, found 00"):
        mbus.parse_mbus(bytes(raw))


def test_invalid_truncated() -> None:
    raw = _read_hex(LOCAL / "libmbus" / "kamstrup_multical_601.hex")
    with pytest.raises(
        TruncatedFrame, match=r"M-Bus frame of 253 bytes \(L=247\) expected, found 100"
    ):
        mbus.parse_mbus(raw[:100])


def test_invalid_not_a_long_frame() -> None:
    with pytest.raises(UnsupportedFrame, match="found the single character E5"):
        mbus.parse_mbus(b"\xe5")
    with pytest.raises(UnsupportedFrame, match="found a short frame"):
        mbus.parse_mbus(bytes.fromhex("105bfe5916"))


def _long_frame(ci: int, data: bytes) -> bytes:
    body = bytes((0x08, 0x01, ci)) + data
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def test_invalid_encrypted_wired_frame_is_refused() -> None:
    header = bytes.fromhex("78563412 2d2c 01 07 01 00 1005".replace(" ", ""))  # mode 5
    with pytest.raises(
        UnsupportedFrame, match="unencrypted telegram expected, found security mode 5"
    ):
        mbus.parse_mbus(_long_frame(0x72, header + bytes(16)))


def test_invalid_record_cut_short() -> None:
    header = bytes.fromhex("785634122d2c0107010000 00".replace(" ", ""))
    with pytest.raises(
        TruncatedFrame, match="4 bytes of data for DIF 04 at offset 14 expected, found 2"
    ):
        mbus.parse_mbus(_long_frame(0x72, header + bytes.fromhex("04 06 1234".replace(" ", ""))))


def test_basic_long_binary_values_stay_exact() -> None:
    # DIF 0D, VIF 16 (10^0 m3), LVAR EF: a 15-byte binary integer -> dm3 without rounding.
    big = 2**119 - 12345
    record = bytes.fromhex("0d16ef") + big.to_bytes(15, "little", signed=True)
    header = bytes.fromhex("785634122d2c0107010000 00".replace(" ", ""))
    [reading] = mbus.parse_mbus(_long_frame(0x72, header + record))
    assert (reading.value, reading.unit) == (big * 1000, "dm3")


# --- properties ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 8), data=st.data())
def test_property_bcd_round_trip(length: int, data: st.DataObject) -> None:
    negative = data.draw(st.booleans())
    digits = 2 * length - (1 if negative else 0)
    if digits == 0:
        return
    magnitude = data.draw(st.integers(0, 10**digits - 1))
    value = -magnitude if negative and magnitude else magnitude
    encoded = mbus.bcd_encode(value, length)
    assert len(encoded) == length
    assert mbus.bcd_decode(encoded) == value


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_property_random_bytes_raise_only_adapter_errors(data: bytes) -> None:
    try:
        mbus.parse_mbus(data)
    except AdapterError:
        pass


@settings(max_examples=500, deadline=None)
@given(records=st.binary(max_size=200))
def test_property_random_records_in_a_valid_frame_raise_only_adapter_errors(records: bytes) -> None:
    header = bytes.fromhex("785634122d2c01070100 0000".replace(" ", ""))
    try:
        readings = mbus.parse_mbus(_long_frame(0x72, header + records))
    except AdapterError:
        return
    assert all(type(r.value) is int for r in readings)
