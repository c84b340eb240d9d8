"""The vending side: holds the vending key, issues tokens, never reuses a TID for a meter.

A meter refuses a token whose TID it has already accepted, and two different purchases with one
TID would let the second be lost; so the vendor keeps every (meter PAN, base date, TID) it has
issued in a `TidStore` and allocates TIDs through it. By default a clash moves the token to the
next free minute (a real vending point issuing two tokens to one meter within a minute does
exactly this); `exact_time=True` refuses instead. The base date is part of the key because a
meter moved to base date 2014 counts TIDs afresh under a new key.

The vending key stays inside `Vendor`: it is not in its repr, str or any result; a key check
value (KCV) names it in logs. Random numbers come from `secrets` unless the caller fixes one
(tokens are deterministic given the random number).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from meter_adapters.sts import management as mgmt
from meter_adapters.sts.amount import decode_amount_field, encode_amount_units
from meter_adapters.sts.dkga02 import (
    KEY_BYTES,
    KeyParameters,
    MeterPan,
    derive_decoder_key,
    key_check_value,
)
from meter_adapters.sts.errors import DuplicateTid, InvalidStsInput, TidOutOfRange
from meter_adapters.sts.tid import TID_MAX, BaseDate, issued_at, tid_for
from meter_adapters.sts.token import CreditSubclass, TokenClass, TokenData, encode_token


@dataclass(frozen=True, slots=True)
class Meter:
    """A keypad meter as the vending side knows it: its PAN, key parameters and base date."""

    pan: MeterPan
    key: KeyParameters
    base_date: BaseDate


# STORES ---------------------------------------------------------------------------------


class TidStore(Protocol):
    """Issued TIDs per meter; `claim` is the one way to allocate one."""

    def claim(self, pan: str, base_date: BaseDate, tid: int, *, next_free: bool) -> int:
        """Record and return `tid`, or the first free TID after it when `next_free`."""
        ...

    def issued(self, pan: str, base_date: BaseDate) -> frozenset[int]: ...


def _allocate(taken: set[int], pan: str, base_date: BaseDate, tid: int, next_free: bool) -> int:
    if tid in taken and not next_free:
        raise DuplicateTid(
            f"expected a TID not yet issued to meter {pan} (base date {base_date.value}),"
            f" found {tid} ({issued_at(tid, base_date):%Y-%m-%d %H:%M}) already issued"
        )
    while tid in taken:
        tid += 1
    if tid > TID_MAX:
        raise TidOutOfRange(
            f"expected a free TID at most {TID_MAX:,} for meter {pan}, found none: every minute"
            f" up to the end of base date {base_date.value} is taken"
        )
    taken.add(tid)
    return tid


class MemoryTidStore:
    """Issued TIDs in memory: for tests and one-off CLI use."""

    def __init__(self) -> None:
        self._issued: dict[tuple[str, int], set[int]] = {}

    def claim(self, pan: str, base_date: BaseDate, tid: int, *, next_free: bool) -> int:
        taken = self._issued.setdefault((pan, base_date.value), set())
        return _allocate(taken, pan, base_date, tid, next_free)

    def issued(self, pan: str, base_date: BaseDate) -> frozenset[int]:
        return frozenset(self._issued.get((pan, base_date.value), ()))

    def __repr__(self) -> str:
        return f"MemoryTidStore(meters={len(self._issued)})"


def _is_tid(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= TID_MAX


class JsonFileTidStore:
    """Issued TIDs in a JSON file, rewritten atomically (temp file, fsync, os.replace).

    Each claim holds an exclusive lock on `<path>.lock` while it reads, allocates and writes,
    so two vending processes sharing the file cannot hand out the same TID. A crash leaves the
    old or the new file, never a torn one.
    """

    VERSION = 1

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict[str, list[int]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            raw = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidStsInput(
                f"expected a UTF-8 JSON TID store in {self.path}, found byte"
                f" 0x{data[error.start]:02x} at offset {error.start}"
            ) from None
        except (ValueError, RecursionError) as error:  # JSONDecodeError, 4,300-digit numbers
            raise InvalidStsInput(
                f"expected a JSON TID store in {self.path}, found unparseable text"
                f" ({error if isinstance(error, ValueError) else 'nested too deep'})"
            ) from None
        if not isinstance(raw, dict) or raw.get("version") != self.VERSION:
            raise InvalidStsInput(
                f"expected a TID store of version {self.VERSION} in {self.path}, found"
                f" {raw.get('version') if isinstance(raw, dict) else type(raw).__name__}"
            )
        issued = raw.get("issued", {})
        if not isinstance(issued, dict) or not all(
            isinstance(tids, list) and all(_is_tid(t) for t in tids) for tids in issued.values()
        ):
            raise InvalidStsInput(
                f"expected 'issued' in {self.path} to map each meter to a list of TIDs"
                f" (integers 0..{TID_MAX}), found something else"
            )
        return issued

    def _save(self, issued: dict[str, list[int]]) -> None:
        text = json.dumps({"version": self.VERSION, "issued": issued}, sort_keys=True)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    @staticmethod
    def _key(pan: str, base_date: BaseDate) -> str:
        return f"{pan}/{base_date.value}"

    def claim(self, pan: str, base_date: BaseDate, tid: int, *, next_free: bool) -> int:
        with self._locked():
            issued = self._load()
            taken = set(issued.get(self._key(pan, base_date), []))
            tid = _allocate(taken, pan, base_date, tid, next_free)
            issued[self._key(pan, base_date)] = sorted(taken)
            self._save(issued)
            return tid

    def issued(self, pan: str, base_date: BaseDate) -> frozenset[int]:
        with self._locked():
            return frozenset(self._load().get(self._key(pan, base_date), []))

    def __repr__(self) -> str:
        return f"JsonFileTidStore({str(self.path)!r})"


# RESULTS --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as handed to the customer, with what it carries; no key material but the
    meter's own decoder key, which the caller may print for commissioning."""

    token: str
    token_class: int
    subclass: int
    rnd: int
    tid: int
    issued: datetime  # the minute the TID names (may be later than asked: next free minute)
    field: int  # the 16-bit field as carried
    value: int  # what the field means: tenths of kWh/m3, watts, or a register number
    decoder_key: bytes = dataclasses.field(
        repr=False
    )  # the meter's key: printed on request, not logged


@dataclass(frozen=True, slots=True)
class IssuedKeyChange:
    first: str
    second: str
    change: mgmt.KeyChange
    new_meter: Meter
    old_decoder_key: bytes = dataclasses.field(repr=False)


# VENDOR ---------------------------------------------------------------------------------


def _random_nibble(random: int | None) -> int:
    if random is None:
        return secrets.randbelow(16)
    if not 0 <= random <= 15:
        raise InvalidStsInput(f"expected a random number 0..15, found {random}")
    return random


class Vendor:
    """Issues tokens under one vending key, recording every TID in `store`."""

    __slots__ = ("_vending_key", "store")

    def __init__(self, vending_key: bytes, store: TidStore | None = None) -> None:
        if len(vending_key) != KEY_BYTES:
            raise InvalidStsInput(
                f"expected a vending key of {KEY_BYTES} bytes, found {len(vending_key)}"
            )
        self._vending_key = bytes(vending_key)
        self.store: TidStore = store if store is not None else MemoryTidStore()

    def __repr__(self) -> str:
        return f"Vendor(kcv={key_check_value(self._vending_key)}, store={self.store!r})"

    __str__ = __repr__

    def __reduce__(self) -> None:  # type: ignore[override]
        # Pickling would write the key wherever the pickle goes.
        raise TypeError("a Vendor holds a vending key and cannot be pickled")

    def decoder_key(self, meter: Meter) -> bytes:
        return derive_decoder_key(self._vending_key, meter.key, meter.pan)

    def _claim(self, meter: Meter, issued: datetime, exact_time: bool) -> int:
        return self.store.claim(
            meter.pan.digits, meter.base_date, tid_for(issued, meter.base_date),
            next_free=not exact_time,
        )  # fmt: skip

    def _issue(self, meter: Meter, build: TokenData, value: int) -> IssuedToken:
        key = self.decoder_key(meter)
        return IssuedToken(
            token=encode_token(build, key),
            token_class=build.token_class,
            subclass=build.subclass,
            rnd=build.rnd,
            tid=build.tid,
            issued=issued_at(build.tid, meter.base_date),
            field=build.field,
            value=value,
            decoder_key=key,
        )

    def credit(
        self,
        meter: Meter,
        subclass: CreditSubclass,
        tenths: int,
        issued: datetime,
        *,
        random: int | None = None,
        exact_time: bool = False,
    ) -> IssuedToken:
        """A class 0 credit token for `tenths` of a kWh / m3 (rounded up to representable)."""
        if subclass not in CreditSubclass._value2member_map_:
            raise InvalidStsInput(f"expected credit subclass 0, 1 or 2, found {subclass!r}")
        field = encode_amount_units(tenths)  # validate before claiming a TID
        rnd = _random_nibble(random)
        tid = self._claim(meter, issued, exact_time)
        data = TokenData.with_tid(TokenClass.TRANSFER, CreditSubclass(subclass), rnd, tid, field)
        return self._issue(meter, data, decode_amount_field(field))

    def credit_at_tid(
        self,
        meter: Meter,
        subclass: CreditSubclass,
        tenths: int,
        tid: int,
        *,
        random: int,
    ) -> IssuedToken:
        """A class 0 credit token with a TID and amount decided elsewhere (a token sale on
        chain, utility_services/token_sales.py): the amount must be exactly representable,
        and the TID is recorded unless it already is, which is a reissue of the same token
        (its digits are the same: the random number comes with the request)."""
        if subclass not in CreditSubclass._value2member_map_:
            raise InvalidStsInput(f"expected credit subclass 0, 1 or 2, found {subclass!r}")
        field = encode_amount_units(tenths)
        if decode_amount_field(field) != tenths:
            raise InvalidStsInput(
                f"expected an amount the token carries exactly, found {tenths} tenths"
                f" (the nearest above is {decode_amount_field(field)})"
            )
        rnd = _random_nibble(random)
        if tid not in self.store.issued(meter.pan.digits, meter.base_date):
            self.store.claim(meter.pan.digits, meter.base_date, tid, next_free=False)
        data = TokenData.with_tid(TokenClass.TRANSFER, CreditSubclass(subclass), rnd, tid, field)
        return self._issue(meter, data, decode_amount_field(field))

    def management(
        self,
        meter: Meter,
        kind: mgmt.ManagementSubclass,
        value: int,
        issued: datetime,
        *,
        random: int | None = None,
        exact_time: bool = False,
    ) -> IssuedToken:
        """A class 2 token with a TID: power limits (value in W), clear credit (value =
        register), clear tamper (value ignored, 0)."""
        kinds = mgmt.ManagementSubclass
        builders: dict[mgmt.ManagementSubclass, Callable[[int, int, int], TokenData]] = {
            kinds.SET_MAXIMUM_POWER_LIMIT: mgmt.set_maximum_power_limit,
            kinds.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT: (
                mgmt.set_maximum_phase_power_unbalance_limit
            ),
            kinds.CLEAR_CREDIT: mgmt.clear_credit,
            kinds.CLEAR_TAMPER_CONDITION: lambda rnd, tid, _value: mgmt.clear_tamper_condition(
                rnd, tid
            ),
        }
        if kind not in builders:
            raise InvalidStsInput(
                f"expected one of {', '.join(k.name for k in builders)}, found {kind!r}"
            )
        builders[kind](0, 0, value)  # validate the value before claiming a TID
        rnd = _random_nibble(random)
        tid = self._claim(meter, issued, exact_time)
        data = builders[kind](rnd, tid, value)
        if kind in (kinds.SET_MAXIMUM_POWER_LIMIT, kinds.SET_MAXIMUM_PHASE_POWER_UNBALANCE_LIMIT):
            carried = mgmt.carried_watts(data)
        else:
            carried = data.field
        return self._issue(meter, data, carried)

    def key_change(
        self,
        meter: Meter,
        new_meter: Meter,
        *,
        new_vendor: Vendor | None = None,
        key_expiry: int = mgmt.KEY_EXPIRY_NONE,
    ) -> IssuedKeyChange:
        """The two tokens that move `meter` to `new_meter`'s key (derived under `new_vendor`'s
        vending key, by default this one), encrypted with the meter's current key. The
        roll-over bit is set when the base date changes."""
        if new_meter.pan != meter.pan:
            raise InvalidStsInput(
                f"expected a key change for meter {meter.pan.digits}, found new parameters for"
                f" meter {new_meter.pan.digits}"
            )
        if new_meter.base_date.value < meter.base_date.value:
            raise InvalidStsInput(
                f"expected a base date of at least {meter.base_date.value} (base dates only move"
                f" forward), found {new_meter.base_date.value}"
            )
        old_key = self.decoder_key(meter)
        new_key = (new_vendor or self).decoder_key(new_meter)
        change = mgmt.KeyChange(
            new_key=new_key,
            key_revision=new_meter.key.key_revision,
            key_type=new_meter.key.key_type,
            tariff_index=new_meter.key.tariff_index,
            key_expiry=key_expiry,
            rollover=new_meter.base_date != meter.base_date,
        )
        first, second = mgmt.key_change_tokens(change)
        return IssuedKeyChange(
            first=encode_token(first, old_key),
            second=encode_token(second, old_key),
            change=change,
            new_meter=new_meter,
            old_decoder_key=old_key,
        )
