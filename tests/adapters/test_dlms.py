"""DLMS/COSEM DATA-NOTIFICATION pushes: the amshan Kaifa/Aidon/Kamstrup frames give the
values amshan's own tests assert (in our base units), the general-glo-ciphering APDU of
dlms-cosem decrypts with its key, a wrong key or a changed byte is rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_adapters import dlms, hdlc
from meter_adapters.errors import AdapterError, ChecksumError, UnsupportedFrame, WrongKey
from meter_adapters.reading import raw_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dlms" / "han_push_frames.json"
FRAMES = {(f["meter"], f["name"]): f for f in json.loads(FIXTURES.read_text())["frames"]}
PUSHES = {
    key: bytes.fromhex(f["hex"])
    for key, f in FRAMES.items()
    if key[0] in ("kaifa", "aidon", "kamstrup") and not key[1].startswith("NOTIFICATION_BODY")
}
CIPHERED = FRAMES[("unknown (dlms-cosem test)", "general_glo_cipher_push")]
CIPHER_KEY = CIPHERED["encryption_key_ascii"].encode()


def _ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


# (meter, name) -> (meter id, timestamp, {obis: (value, unit)}). Kaifa and Kamstrup values
# are those of amshan's tests (current_l1 == 33.813 A -> 33813 mA, Kamstrup energy in 10 Wh
# -> Wh, ...); Aidon frames carry their own scaler_unit, the values follow from the bytes.
EXPECTED: dict[tuple[str, str], tuple[str, int | None, dict[str, tuple[int, str]]]] = {
    ("kaifa", "no_list_1"): ("", _ts(2019, 2, 4, 23, 52, 22), {"1-0:1.7.0": (5852, "W")}),
    ("kaifa", "no_list_2"): (
        "6970631402614476",
        _ts(2020, 1, 25, 13, 9, 30),
        {
            "1-0:1.7.0": (9745, "W"),
            "1-0:2.7.0": (0, "W"),
            "1-0:3.7.0": (0, "var"),
            "1-0:4.7.0": (435, "var"),
            "1-0:31.7.0": (33813, "mA"),
            "1-0:51.7.0": (28103, "mA"),
            "1-0:71.7.0": (18178, "mA"),
            "1-0:32.7.0": (216800, "mV"),
            "1-0:52.7.0": (0, "mV"),
            "1-0:72.7.0": (218800, "mV"),
        },
    ),
    ("kaifa", "no_list_3"): (
        "6970631402614476",
        _ts(2020, 1, 25, 14, 0, 10),
        {
            "1-0:1.7.0": (4904, "W"),
            "1-0:2.7.0": (0, "W"),
            "1-0:3.7.0": (0, "var"),
            "1-0:4.7.0": (377, "var"),
            "1-0:31.7.0": (14571, "mA"),
            "1-0:51.7.0": (15643, "mA"),
            "1-0:71.7.0": (9525, "mA"),
            "1-0:32.7.0": (219300, "mV"),
            "1-0:52.7.0": (0, "mV"),
            "1-0:72.7.0": (220500, "mV"),
            "1-0:1.8.0": (79591144, "Wh"),
            "1-0:2.8.0": (0, "Wh"),
            "1-0:3.8.0": (889389, "varh"),
            "1-0:4.8.0": (3210932, "varh"),
        },
    ),
    ("kaifa", "se_list"): (
        "7340734073407340",
        # 17:35:30 local with deviation -60 min (UTC+1): 16:35:30 UTC.
        _ts(2021, 9, 22, 16, 35, 30),
        {
            "1-0:1.7.0": (2816, "W"),
            "1-0:2.7.0": (0, "W"),
            "1-0:3.7.0": (0, "var"),
            "1-0:4.7.0": (66, "var"),
            "1-0:31.7.0": (6781, "mA"),
            "1-0:51.7.0": (790, "mA"),
            "1-0:71.7.0": (6125, "mA"),
            "1-0:32.7.0": (232200, "mV"),
            "1-0:52.7.0": (230000, "mV"),
            "1-0:72.7.0": (228900, "mV"),
            "1-0:1.8.0": (4786979, "Wh"),
            "1-0:2.8.0": (0, "Wh"),
            "1-0:3.8.0": (26228, "varh"),
            "1-0:4.8.0": (578528, "varh"),
        },
    ),
    ("aidon", "no_list_1"): ("", None, {"1-0:1.7.0": (280, "W")}),
    ("aidon", "no_list_2"): (
        "7359992892587665",
        None,
        {
            "1-0:1.7.0": (280, "W"),
            "1-0:4.7.0": (128, "var"),
            "1-0:31.7.0": (1300, "mA"),  # 0x000d = 13, scaler -1, unit 33 (A)
            "1-0:71.7.0": (900, "mA"),
            "1-0:32.7.0": (227400, "mV"),  # 0x08e2 = 2274, scaler -1, unit 35 (V)
            "1-0:52.7.0": (230100, "mV"),
            "1-0:72.7.0": (230800, "mV"),
        },
    ),
    ("aidon", "no_list_3"): (
        "7359992892587665",
        _ts(2020, 1, 21, 16, 0, 0),
        {
            "1-0:1.7.0": (280, "W"),
            "1-0:32.7.0": (227600, "mV"),
            "1-0:1.8.0": (22721380, "Wh"),  # 0x0022ab8a = 2272138, scaler 1, unit 30 (Wh)
            "1-0:2.8.0": (0, "Wh"),
            "1-0:3.8.0": (582430, "varh"),
            "1-0:4.8.0": (1708430, "varh"),
        },
    ),
    ("aidon", "se_list"): (
        "",
        _ts(2019, 12, 16, 7, 59, 40),
        {
            "1-0:1.7.0": (1122, "W"),
            "1-0:3.7.0": (1507, "var"),
            "1-0:51.7.0": (7500, "mA"),
            "1-0:52.7.0": (249900, "mV"),
            "1-0:1.8.0": (10049926, "Wh"),
            "1-0:2.8.0": (8, "Wh"),
        },
    ),
    ("kamstrup", "no_list_1_three_phase"): (
        "5706567000000000",
        _ts(2000, 1, 1, 22, 33, 0),
        {"1-1:1.7.0": (0, "W"), "1-1:31.7.0": (0, "mA"), "1-1:72.7.0": (0, "mV")},
    ),
    ("kamstrup", "no_list_2_single_phase"): (
        "5706567000000000",
        _ts(2017, 8, 16, 16, 0, 5),
        {"1-1:1.7.0": (0, "W"), "1-1:1.8.0": (0, "Wh")},
    ),
    ("kamstrup", "no_list_2_three_phase"): (
        "5706567000000000",
        _ts(2017, 8, 16, 16, 0, 5),
        {"1-1:1.8.0": (0, "Wh"), "1-1:4.8.0": (0, "varh")},
    ),
    ("kamstrup", "no_list_1_single_phase_real_sample"): (
        "5705705705705702",
        _ts(2022, 1, 17, 12, 44, 40),
        {
            "1-1:1.7.0": (1896, "W"),
            "1-1:2.7.0": (0, "W"),
            "1-1:3.7.0": (0, "var"),
            "1-1:4.7.0": (493, "var"),
            "1-1:31.7.0": (8960, "mA"),
            "1-1:32.7.0": (225000, "mV"),
        },
    ),
    ("kamstrup", "no_list_2_single_phase_real_sample"): (
        "5705705705705702",
        _ts(2021, 11, 24, 0, 0, 25),
        {
            "1-1:1.7.0": (10050, "W"),
            "1-1:4.7.0": (279, "var"),
            "1-1:31.7.0": (45120, "mA"),
            "1-1:32.7.0": (223000, "mV"),
            "1-1:1.8.0": (77452500, "Wh"),
            "1-1:2.8.0": (0, "Wh"),
            "1-1:3.8.0": (137310, "varh"),
            "1-1:4.8.0": (11415870, "varh"),
        },
    ),
    ("kamstrup", "se_list_real_sample"): (
        "5705705705705707",
        _ts(2022, 1, 24, 18, 58, 50),
        {
            "1-1:1.7.0": (826, "W"),
            "1-1:3.7.0": (104, "var"),
            "1-1:4.7.0": (176, "var"),
            "1-1:31.7.0": (2370, "mA"),
            "1-1:51.7.0": (890, "mA"),
            "1-1:71.7.0": (750, "mA"),
            "1-1:32.7.0": (232000, "mV"),
            "1-1:52.7.0": (233000, "mV"),
            "1-1:72.7.0": (236000, "mV"),
        },
    ),
    ("hdlc", "FRAME_WITH_ESCAPE_CHARACTER_IN_INFO"): ("", None, {"1-0:1.7.0": (1661, "W")}),
    ("hdlc", "FRAME_WITH_FLAG_SEQUENCE_CHARACTER_IN_INFO"): (
        "",
        _ts(2020, 2, 15, 1, 25, 34),
        {"1-0:1.7.0": (5502, "W")},
    ),
}


def test_every_push_fixture_has_expectations() -> None:
    assert set(PUSHES) <= set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: f"{k[0]}-{k[1]}")
def test_basic_fixture_values(key: tuple[str, str]) -> None:
    raw = bytes.fromhex(FRAMES[key]["hex"])
    meter, timestamp, values = EXPECTED[key]
    readings = dlms.parse_dlms(raw)
    by_obis = {r.obis: r for r in readings}
    assert len(by_obis) == len(readings), "one reading per OBIS code"
    for obis, (value, unit) in values.items():
        assert (by_obis[obis].value, by_obis[obis].unit) == (value, unit), obis
    for reading in readings:
        assert reading.meter == meter
        assert reading.timestamp == timestamp
        assert reading.source == "dlms"
        assert reading.raw_hash == raw_hash(raw)
        assert type(reading.value) is int


def test_basic_quantities_and_json() -> None:
    readings = dlms.parse_dlms(PUSHES[("kaifa", "no_list_3")])
    by_obis = {r.obis: r for r in readings}
    assert by_obis["1-0:1.8.0"].quantity == "energy_import"
    assert by_obis["1-0:1.7.0"].quantity == "power_import"
    assert by_obis["1-0:32.7.0"].quantity == "voltage_l1"
    assert by_obis["1-0:1.8.0"].to_json()["timestamp"] == "2020-01-25T14:00:10Z"


@pytest.mark.parametrize(
    "key",
    [k for k in FRAMES if k[1].startswith("NOTIFICATION_BODY")],
    ids=lambda k: f"{k[0]}-{k[1]}",
)
def test_basic_notification_bodies_match_their_full_frames(key: tuple[str, str]) -> None:
    body, end = dlms.decode_data(bytes.fromhex(FRAMES[key]["hex"]))
    assert end == len(FRAMES[key]["hex"]) // 2
    full = dlms.decode_apdu(
        dlms.unwrap(PUSHES[(key[0], key[1][len("NOTIFICATION_BODY_") :].lower())])
    )
    assert dlms.body_objects(body) == dlms.body_objects(full.body)


def test_basic_meter_identifier_from_caller_for_short_lists() -> None:
    readings = dlms.parse_dlms(PUSHES[("kaifa", "no_list_1")], meter="KFM-6970631402614476")
    assert [r.meter for r in readings] == ["KFM-6970631402614476"]


def test_basic_hdlc_wrapped_push() -> None:
    apdu = PUSHES[("kaifa", "no_list_3")]
    wire = hdlc.build_frame(hdlc.HdlcFrame(b"\x41", b"\x08\x83", 0x13, apdu))
    readings = dlms.parse_dlms(wire)
    assert {r.obis: r.value for r in readings}["1-0:1.8.0"] == 79591144
    assert readings[0].raw_hash == raw_hash(wire)


# --- ciphered pushes ------------------------------------------------------------------


def test_basic_general_glo_cipher_fixture_decrypts() -> None:
    apdu = bytes.fromhex(CIPHERED["hex"])
    notification = dlms.decode_apdu(apdu, CIPHER_KEY)
    # dlms-cosem's test: a DataNotification, invoke id 0x1DB, no date-time, whose body is
    # one octet-string (a manufacturer's blob, no COSEM list).
    assert notification.invoke_id == 0x000001DB
    assert notification.date_time == b""
    assert notification.system_title == bytes.fromhex("2f19229199164103")
    assert isinstance(notification.body, bytes) and len(notification.body) == 34
    with pytest.raises(UnsupportedFrame, match="structure or array of structures expected"):
        dlms.parse_dlms(apdu, CIPHER_KEY)


def test_invalid_general_glo_cipher_wrong_or_missing_key() -> None:
    apdu = bytes.fromhex(CIPHERED["hex"])
    with pytest.raises(WrongKey, match="GCM tag"):
        dlms.decode_apdu(apdu, b"MYDUMMYGLOBALKEZ")
    with pytest.raises(WrongKey, match="key .* expected, found none"):
        dlms.decode_apdu(apdu, None)
    with pytest.raises(WrongKey, match="16-byte key"):
        dlms.decode_apdu(apdu, b"short")


def test_invalid_general_glo_cipher_any_changed_byte() -> None:
    apdu = bytes.fromhex(CIPHERED["hex"])
    for index in range(len(apdu)):
        tampered = bytearray(apdu)
        tampered[index] ^= 0x01
        with pytest.raises(AdapterError):
            dlms.decode_apdu(bytes(tampered), CIPHER_KEY)


def _cipher(apdu: bytes, key: bytes, title: bytes, counter: int) -> bytes:
    """Wrap ``apdu`` in general-glo-ciphering (security suite 0, authenticated+encrypted)."""
    control = 0x30
    iv = title + counter.to_bytes(4, "big")
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(bytes((control,)) + key)
    ciphertext = encryptor.update(apdu) + encryptor.finalize()
    content = bytes((control,)) + counter.to_bytes(4, "big") + ciphertext + encryptor.tag[:12]
    assert len(content) < 0x80
    return bytes((0xDB, len(title))) + title + bytes((len(content),)) + content


def test_basic_ciphered_kaifa_push_in_hdlc() -> None:
    plain = PUSHES[("kaifa", "no_list_2")][3:]  # the APDU without the LLC header
    key = bytes(range(16))
    ciphered = _cipher(plain, key, b"KFM\x00\x01\x02\x03\x04", 7)
    wire = hdlc.build_frame(hdlc.HdlcFrame(b"\x41", b"\x08\x83", 0x13, b"\xe6\xe7\x00" + ciphered))
    clear = {(r.obis, r.value) for r in dlms.parse_dlms(PUSHES[("kaifa", "no_list_2")])}
    assert {(r.obis, r.value) for r in dlms.parse_dlms(wire, key)} == clear
    with pytest.raises(WrongKey):
        dlms.parse_dlms(wire, bytes(16))


# --- corrupt input ----------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(PUSHES), ids=lambda k: f"{k[0]}-{k[1]}")
def test_invalid_tampered_hdlc_push(key: tuple[str, str]) -> None:
    wire = hdlc.build_frame(hdlc.HdlcFrame(b"\x41", b"\x08\x83", 0x13, PUSHES[key]))
    for index in range(1, len(wire) - 1):
        tampered = bytearray(wire)
        tampered[index] ^= 0x04
        with pytest.raises(AdapterError):
            dlms.parse_dlms(bytes(tampered))
    tampered = bytearray(wire)
    tampered[len(wire) // 2] ^= 0x04
    with pytest.raises(ChecksumError, match="FCS"):
        dlms.parse_dlms(bytes(tampered))


def test_invalid_truncated_apdu() -> None:
    apdu = PUSHES[("kaifa", "no_list_3")]
    with pytest.raises(AdapterError, match="expected, found"):
        dlms.parse_dlms(apdu[:-3])


def test_invalid_trailing_bytes_after_body() -> None:
    with pytest.raises(UnsupportedFrame, match="to end after its body"):
        dlms.parse_dlms(PUSHES[("aidon", "no_list_1")] + b"\x00")


def test_invalid_unknown_apdu_tag() -> None:
    with pytest.raises(UnsupportedFrame, match="APDU tag 0F .* expected, found C4"):
        dlms.parse_dlms(bytes.fromhex("e6e700c40100"))


def test_date_time_unspecified_fields() -> None:
    assert dlms.decode_date_time(bytes.fromhex("ffff0119060e000aff800000")) is None
    assert dlms.decode_date_time(bytes.fromhex("07e40119060e000aff800000")) == _ts(
        2020, 1, 25, 14, 0, 10
    )


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=120))
def test_property_random_bytes_raise_only_adapter_errors(data: bytes) -> None:
    for candidate in (data, b"\xe6\xe7\x00\x0f" + data, b"\xdb\x08" + data):
        try:
            dlms.parse_dlms(candidate, bytes(16))
        except AdapterError:
            pass


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, 10_000), delta=st.integers(1, 255))
def test_property_changed_apdu_bytes_raise_only_adapter_errors(index: int, delta: int) -> None:
    apdu = bytearray(PUSHES[("aidon", "se_list")])
    apdu[index % len(apdu)] = (apdu[index % len(apdu)] + delta) % 256
    try:
        dlms.parse_dlms(bytes(apdu))
    except AdapterError:
        pass


@pytest.mark.parametrize(("scaler", "within_80_digits"), [(-128, False), (127, False), (-1, True)])
def test_scaler_in_the_integer8_range_reaches_the_unit_rule(scaler: int, within_80_digits: bool) -> None:
    # integer8 (0F) scaler: in range, so the value is scaled and then judged by its unit:
    # 5 x 10^-1 Wh is not a whole Wh, 5 x 10^127 is beyond 2**63: refused with a UnitError.
    body = "0101" "0203" "09060100010800FF" "0600000005" "0202" f"0F{scaler & 0xFF:02X}" "161E"
    frame = bytes.fromhex("0F0000000100" + body)
    if within_80_digits:
        with pytest.raises(AdapterError, match="a whole number of Wh expected"):
            dlms.parse_dlms(frame)
    else:
        with pytest.raises(AdapterError, match="a value of at most 80 digits expected"):
            dlms.parse_dlms(frame)


def test_invalid_scaler_beyond_integer8() -> None:
    body = "0101" "0203" "09060100010800FF" "0600000005" "0202" "140000010000000000" "161E"
    with pytest.raises(UnsupportedFrame, match="integer8 scaler -128..127, enum unit"):
        dlms.parse_dlms(bytes.fromhex("0F0000000100" + body))
