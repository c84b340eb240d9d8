"""`meterchain sts`: issue and decode STS (IEC 62055-41) 20-digit tokens for keypad meters.

Commands: `token` (credit), `management` (load limits, clear credit, clear tamper),
`key-change` (the two tokens that move a meter to a new decoder key / base date), `decode`.
Keys are 16 hex digits. Decoder keys print in natural big-endian byte order unless
`--key-notation nectar` asks for the byte-reversed notation of the compliance fixture. The
vending key is never printed. Bad input exits with status 2, a token whose CRC does not verify
under the given key with status 1; both with a message saying what was expected and found.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from meter_adapters.sts.amount import decode_amount_field, format_tenths, parse_decimal_amount
from meter_adapters.sts.dkga02 import (
    KeyParameters,
    MeterPan,
    from_nectar_hex,
    parse_key_hex,
    to_nectar_hex,
)
from meter_adapters.sts.errors import StsError
from meter_adapters.sts.management import (
    CreditRegister,
    ManagementSubclass,
    parse_key_change_first,
    parse_key_change_second,
)
from meter_adapters.sts.tid import BaseDate, issued_at, parse_issue_time
from meter_adapters.sts.token import CreditSubclass, TokenClass, decode_token
from meterchain.failure import fail
from utility_services.sts_vending import (
    IssuedToken,
    JsonFileTidStore,
    MemoryTidStore,
    Meter,
    TidStore,
    Vendor,
)

app = typer.Typer(no_args_is_help=True, help="STS (IEC 62055-41) tokens for keypad meters")

EXIT_BAD_INPUT = 2
EXIT_CRC_FAILED = 1

T = TypeVar("T")


class Subclass(StrEnum):
    electricity = "electricity"
    water = "water"
    gas = "gas"


class KeyNotation(StrEnum):
    natural = "natural"
    nectar = "nectar"


class ManagementKind(StrEnum):
    set_power_limit = "set-power-limit"
    clear_credit = "clear-credit"
    clear_tamper = "clear-tamper"
    set_phase_unbalance = "set-phase-unbalance"


_KIND_SUBCLASS = {
    ManagementKind.set_power_limit: ManagementSubclass.SET_MAXIMUM_POWER_LIMIT,
    ManagementKind.clear_credit: ManagementSubclass.CLEAR_CREDIT,
    ManagementKind.clear_tamper: ManagementSubclass.CLEAR_TAMPER_CONDITION,
    ManagementKind.set_phase_unbalance: ManagementSubclass.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT,
}
_UNITS = {CreditSubclass.ELECTRICITY: "kWh", CreditSubclass.WATER: "m3", CreditSubclass.GAS: "m3"}


# HELPERS --------------------------------------------------------------------------------


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    fail(message, code)


def _guard(step: Callable[[], T]) -> T:
    """Run one parsing/issuing step; turn its StsError, or a TID store it cannot read or
    write, into a clear message and exit status."""
    try:
        return step()
    except StsError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"expected a TID store file that can be read and written, found {error.filename}: {error.strerror}")


def _emit(as_json: bool, payload: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        for line in lines:
            typer.echo(line)


def _key_hex(key: bytes, notation: KeyNotation) -> str:
    return to_nectar_hex(key) if notation is KeyNotation.nectar else key.hex()


def _decimal_number(tenths: int) -> float:
    # JSON has no decimal type; a float printed from "12.3" round-trips to exactly "12.3".
    return float(Decimal(format_tenths(tenths)))


def _meter(
    key_type: int, supply_group: str, tariff_index: int, key_revision: int, pan: str, base: str
) -> Meter:
    return _guard(
        lambda: Meter(
            pan=MeterPan(pan.strip()),
            key=KeyParameters(key_type, supply_group.strip(), tariff_index, key_revision),
            base_date=BaseDate.from_year(base),
        )
    )


def _store(path: Path | None) -> TidStore:
    return JsonFileTidStore(path) if path is not None else MemoryTidStore()


def _issued_payload(issued: IssuedToken, notation: KeyNotation) -> dict[str, Any]:
    return {
        "token": issued.token,
        "token_class": issued.token_class,
        "subclass": issued.subclass,
        "rnd": issued.rnd,
        "tid": issued.tid,
        "issued": issued.issued.isoformat().replace("+00:00", "Z"),
        "decoder_key": _key_hex(issued.decoder_key, notation),
        "key_notation": notation.value,
    }


# Options shared by the issuing commands.
VendingKeyOpt = Annotated[str, typer.Option("--vending-key", help="Vending key, 16 hex digits")]
KeyTypeOpt = Annotated[int, typer.Option("--key-type", help="Key type KT (0..3; 2 = unique)")]
SupplyGroupOpt = Annotated[str, typer.Option("--supply-group", help="Supply group code, 6 digits")]
TariffIndexOpt = Annotated[int, typer.Option("--tariff-index", help="Tariff index TI (0..99)")]
KeyRevisionOpt = Annotated[int, typer.Option("--key-revision", help="Key revision KRN (1..9)")]
PanOpt = Annotated[str, typer.Option("--pan", help="Meter PAN, 18 digits with Luhn check digit")]
BaseDateOpt = Annotated[str, typer.Option("--base-date", help="TID base date: 1993 or 2014")]
IssuedOpt = Annotated[str, typer.Option("--issued", help="Issue time, ISO 8601 (naive = UTC)")]
RandomOpt = Annotated[
    int | None, typer.Option("--random", help="Random number 0..15 (default: from secrets)")
]
TidStoreOpt = Annotated[
    Path | None,
    typer.Option("--tid-store", help="JSON file of issued TIDs; refuses reuse across runs"),
]
ExactTimeOpt = Annotated[
    bool,
    typer.Option("--exact-time", help="Refuse an already issued TID instead of the next minute"),
]
NotationOpt = Annotated[
    KeyNotation,
    typer.Option("--key-notation", help="Decoder key byte order: natural (big-endian) or nectar"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


# COMMANDS -------------------------------------------------------------------------------


@app.command("token")
def token(
    vending_key: VendingKeyOpt,
    key_type: KeyTypeOpt,
    supply_group: SupplyGroupOpt,
    tariff_index: TariffIndexOpt,
    key_revision: KeyRevisionOpt,
    pan: PanOpt,
    subclass: Annotated[Subclass, typer.Option("--subclass", help="What the credit buys")],
    amount: Annotated[str, typer.Option("--amount", help="Units in kWh or m3, e.g. 12.5")],
    issued: IssuedOpt,
    base_date: BaseDateOpt,
    random: RandomOpt = None,
    tid_store: TidStoreOpt = None,
    exact_time: ExactTimeOpt = False,
    key_notation: NotationOpt = KeyNotation.natural,
    as_json: JsonOpt = False,
) -> None:
    """Issue a credit token (class 0) for electricity, water or gas."""
    meter = _meter(key_type, supply_group, tariff_index, key_revision, pan, base_date)
    vendor = _guard(lambda: Vendor(parse_key_hex(vending_key, "vending key"), _store(tid_store)))
    tenths = _guard(lambda: parse_decimal_amount(amount))
    when = _guard(lambda: parse_issue_time(issued))
    kind = CreditSubclass[subclass.name.upper()]
    result = _guard(
        lambda: vendor.credit(meter, kind, tenths, when, random=random, exact_time=exact_time)
    )
    payload = _issued_payload(result, key_notation)
    payload.update(
        subclass=subclass.value,
        amount=_decimal_number(result.value),
        unit=_UNITS[kind],
        requested_amount=amount,
        base_date=meter.base_date.value,
    )
    _emit(
        as_json,
        payload,
        [
            f"token    {result.token}",
            f"amount   {format_tenths(result.value)} {_UNITS[kind]} ({subclass.value})",
            f"tid      {result.tid} ({payload['issued']}, base date {meter.base_date.value})",
        ],
    )


def _register(text: str) -> int:
    name = text.strip().upper()
    if name in CreditRegister.__members__:
        return int(CreditRegister[name])
    try:
        return int(text, 0)
    except ValueError:
        _fail(
            "expected a register (electricity, water, gas, time, all or a number 0..65535),"
            f" found {text!r}"
        )


@app.command("management")
def management_token(
    vending_key: VendingKeyOpt,
    key_type: KeyTypeOpt,
    supply_group: SupplyGroupOpt,
    tariff_index: TariffIndexOpt,
    key_revision: KeyRevisionOpt,
    pan: PanOpt,
    kind: Annotated[ManagementKind, typer.Option("--kind", help="Which management token")],
    issued: IssuedOpt,
    base_date: BaseDateOpt,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="Watts for the limits; register for clear-credit (default all); unused otherwise",
        ),
    ] = None,
    random: RandomOpt = None,
    tid_store: TidStoreOpt = None,
    exact_time: ExactTimeOpt = False,
    key_notation: NotationOpt = KeyNotation.natural,
    as_json: JsonOpt = False,
) -> None:
    """Issue a management token (class 2): load limits, clear credit, clear tamper."""
    meter = _meter(key_type, supply_group, tariff_index, key_revision, pan, base_date)
    vendor = _guard(lambda: Vendor(parse_key_hex(vending_key, "vending key"), _store(tid_store)))
    when = _guard(lambda: parse_issue_time(issued))
    number = 0
    if kind in (ManagementKind.set_power_limit, ManagementKind.set_phase_unbalance):
        if value is None or not value.strip().isdigit():
            _fail(f"expected --value as a whole number of watts for {kind.value}, found {value!r}")
        number = int(value)
    elif kind is ManagementKind.clear_credit:
        number = int(CreditRegister.ALL) if value is None else _register(value)
    elif value is not None:
        _fail(f"expected no --value for {kind.value}, found {value!r}")
    subclass = _KIND_SUBCLASS[kind]
    result = _guard(
        lambda: vendor.management(
            meter, subclass, number, when, random=random, exact_time=exact_time
        )
    )
    payload = _issued_payload(result, key_notation)
    payload.update(kind=kind.value, value=result.value, base_date=meter.base_date.value)
    if kind in (ManagementKind.set_power_limit, ManagementKind.set_phase_unbalance):
        payload.update(unit="W", requested_value=number)
    _emit(
        as_json,
        payload,
        [
            f"token    {result.token}",
            f"kind     {kind.value} (class 2 subclass {int(subclass)}), value {result.value}",
            f"tid      {result.tid} ({payload['issued']}, base date {meter.base_date.value})",
        ],
    )


@app.command("key-change")
def key_change(
    vending_key: VendingKeyOpt,
    key_type: KeyTypeOpt,
    supply_group: SupplyGroupOpt,
    tariff_index: TariffIndexOpt,
    key_revision: KeyRevisionOpt,
    pan: PanOpt,
    base_date: BaseDateOpt,
    new_key_type: Annotated[int, typer.Option("--new-key-type")],
    new_supply_group: Annotated[str, typer.Option("--new-supply-group")],
    new_tariff_index: Annotated[int, typer.Option("--new-tariff-index")],
    new_key_revision: Annotated[int, typer.Option("--new-key-revision")],
    new_base_date: Annotated[str, typer.Option("--new-base-date", help="1993 or 2014")],
    new_vending_key: Annotated[
        str | None,
        typer.Option("--new-vending-key", help="Vending key of the new key (default: the same)"),
    ] = None,
    key_expiry: Annotated[
        int, typer.Option("--key-expiry", help="Key expiry number KEN (255 = none)")
    ] = 255,
    key_notation: NotationOpt = KeyNotation.natural,
    as_json: JsonOpt = False,
) -> None:
    """Issue the two key change tokens (class 2, subclasses 3 and 4), old key first."""
    meter = _meter(key_type, supply_group, tariff_index, key_revision, pan, base_date)
    new_meter = _meter(
        new_key_type, new_supply_group, new_tariff_index, new_key_revision, pan, new_base_date
    )
    vendor = _guard(lambda: Vendor(parse_key_hex(vending_key, "vending key")))
    new_vendor = (
        vendor
        if new_vending_key is None
        else _guard(lambda: Vendor(parse_key_hex(new_vending_key, "new vending key")))
    )
    result = _guard(
        lambda: vendor.key_change(meter, new_meter, new_vendor=new_vendor, key_expiry=key_expiry)
    )
    change = result.change
    payload = {
        "tokens": [result.first, result.second],
        "first": result.first,
        "second": result.second,
        "rollover": change.rollover,
        "key_expiry": change.key_expiry,
        "old_decoder_key": _key_hex(result.old_decoder_key, key_notation),
        "new_decoder_key": _key_hex(change.new_key, key_notation),
        "new_key_type": change.key_type,
        "new_key_revision": change.key_revision,
        "new_tariff_index": change.tariff_index,
        "base_date": meter.base_date.value,
        "new_base_date": new_meter.base_date.value,
        "key_notation": key_notation.value,
    }
    _emit(
        as_json,
        payload,
        [
            f"1st      {result.first}",
            f"2nd      {result.second}",
            f"rollover {'yes (meter clears its TID memory)' if change.rollover else 'no'};"
            f" base date {meter.base_date.value} -> {new_meter.base_date.value}",
        ],
    )


def _describe(token_class: int, subclass: int, data_field: int) -> dict[str, Any]:
    """What the 16-bit field of a token with a TID means."""
    if token_class == TokenClass.TRANSFER:
        tenths = decode_amount_field(data_field)
        name = CreditSubclass(subclass).name.lower() if subclass <= 2 else f"subclass {subclass}"
        return {"kind": f"{name} credit", "amount": _decimal_number(tenths)}
    if token_class == TokenClass.MANAGEMENT and subclass in ManagementSubclass._value2member_map_:
        kind = ManagementSubclass(subclass)
        if kind in (
            ManagementSubclass.SET_MAXIMUM_POWER_LIMIT,
            ManagementSubclass.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT,
        ):
            watts = decode_amount_field(data_field)
            return {"kind": kind.name.lower(), "amount": None, "watts": watts}
        if kind is ManagementSubclass.CLEAR_CREDIT:
            return {"kind": kind.name.lower(), "amount": None, "register": data_field}
        return {"kind": kind.name.lower(), "amount": None}
    return {"kind": f"class {token_class} subclass {subclass}", "amount": None}


@app.command("decode")
def decode(
    token_text: Annotated[str, typer.Argument(metavar="TOKEN", help="20-digit token")],
    decoder_key: Annotated[str, typer.Option("--decoder-key", help="Decoder key, 16 hex digits")],
    base_date: Annotated[
        str, typer.Option("--base-date", help="Base date for the issue time: 1993 or 2014")
    ] = "1993",
    key_notation: NotationOpt = KeyNotation.natural,
    as_json: JsonOpt = False,
) -> None:
    """Decrypt a token with a meter's decoder key and print its fields."""
    key = _guard(
        lambda: (
            from_nectar_hex(decoder_key)
            if key_notation is KeyNotation.nectar
            else parse_key_hex(decoder_key, "decoder key")
        )
    )
    base = _guard(lambda: BaseDate.from_year(base_date))
    decoded = _guard(lambda: decode_token(token_text, key))
    data = decoded.data
    payload: dict[str, Any] = {
        "token_class": data.token_class,
        "subclass": data.subclass,
        "crc_ok": decoded.crc_ok,
        "crc": f"{decoded.crc:04X}",
    }
    key_change_kinds = (ManagementSubclass.SET_DECODER_KEY_1, ManagementSubclass.SET_DECODER_KEY_2)
    if data.token_class == TokenClass.MANAGEMENT and data.subclass in key_change_kinds:
        # Key change tokens carry no random number, TID or amount: they carry a key section.
        payload.update(rnd=None, tid=None, amount=None, issued=None)
        if data.subclass == ManagementSubclass.SET_DECODER_KEY_1:
            first = parse_key_change_first(data)
            payload["key_change"] = {
                "section": 1,
                "kenho": first.kenho,
                "key_revision": first.key_revision,
                "rollover": first.rollover,
                "key_type": first.key_type,
                "nkho": f"{first.nkho:08x}",
            }
        else:
            second = parse_key_change_second(data)
            payload["key_change"] = {
                "section": 2,
                "kenlo": second.kenlo,
                "tariff_index": second.tariff_index,
                "nklo": f"{second.nklo:08x}",
            }
    else:
        payload.update(
            rnd=data.rnd,
            tid=data.tid,
            issued=issued_at(data.tid, base).isoformat().replace("+00:00", "Z"),
            base_date=base.value,
            field=f"{data.field:04X}",
        )
        payload.update(_describe(data.token_class, data.subclass, data.field))
    lines = [f"{name:12} {value}" for name, value in payload.items()]
    _emit(as_json, payload, lines)
    if not decoded.crc_ok:
        _fail(
            f"expected the token's CRC to verify under decoder key {key.hex()}, found CRC"
            f" {decoded.crc:04X} where the decrypted fields give {data.crc():04X}: wrong key,"
            " wrong meter or a mistyped digit",
            EXIT_CRC_FAILED,
        )
