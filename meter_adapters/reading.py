"""The normalized meter reading that every adapter yields, and the exact unit quantization.

Whatever the protocol (DSMR P1, IEC 62056-21, M-Bus, wireless M-Bus, DLMS, NFC), an adapter
turns the meter's bytes into ``Reading`` records: who (meter), what (OBIS code and
quantity), how much (an integer in the base unit), when (unix seconds UTC or ``None``),
where from (the protocol) and the hash of the exact raw bytes, so a reading on the chain can
be traced to the frame it came from.

Values are never floats. A meter's decimal value is converted to the base unit with
``to_base_unit``, which multiplies exactly with ``decimal.Decimal`` and *rejects* a value
that does not fit the base unit exactly (e.g. ``0.0005 kWh`` is not a whole number of Wh):
no rounding happens anywhere.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from chain.hashing import Domain, Hash32, hash_domain
from chain.types import Timestamp
from meter_adapters.errors import AdapterError

ROUND_EXACT: Final = "exact"
ROUND_FLOOR: Final = "floor"
VALUE_LIMIT: Final = 2**63  # the canonical codec's signed range; no meter counts further
VALUE_DIGITS: Final = 80  # decimal digits a meter value may have before or after the point
# Cumulative registers (energy, volume, heat): what a bill is computed from. Instantaneous
# values (W, V, A) are for display and never become reading transactions by default.
REGISTER_UNITS: Final = frozenset({"Wh", "varh", "VAh", "J", "dm3"})


class UnitError(AdapterError):
    """A unit the adapters do not know, or a value that is not a whole number of the base
    unit (more decimals than the base unit can hold)."""


# --- units -----------------------------------------------------------------------------

# Meter unit (as printed by the meter, case-sensitive after normalizing the spelling) ->
# (factor to the base unit, base unit). Base units are chosen so that every value a meter
# prints is a whole number: energy in Wh, power in W, volume in dm3 (= litres), heat in J,
# and the electrical instantaneous values in milli-units because meters print volts and
# amperes with decimals (DSMR: "230.1*V").
UNITS: Final[dict[str, tuple[int, str]]] = {
    # active energy and power
    "Wh": (1, "Wh"),
    "kWh": (1_000, "Wh"),
    "MWh": (1_000_000, "Wh"),
    "GWh": (1_000_000_000, "Wh"),
    "W": (1, "W"),
    "kW": (1_000, "W"),
    "MW": (1_000_000, "W"),
    # reactive and apparent energy and power
    "varh": (1, "varh"),
    "kvarh": (1_000, "varh"),
    "Mvarh": (1_000_000, "varh"),
    "var": (1, "var"),
    "kvar": (1_000, "var"),
    "VAh": (1, "VAh"),
    "kVAh": (1_000, "VAh"),
    "VA": (1, "VA"),
    "kVA": (1_000, "VA"),
    # heat energy
    "J": (1, "J"),
    "kJ": (1_000, "J"),
    "MJ": (1_000_000, "J"),
    "GJ": (1_000_000_000, "J"),
    # volume and flow (1 l = 1 dm3 exactly; one spelling for both)
    "dm3": (1, "dm3"),
    "l": (1, "dm3"),
    "m3": (1_000, "dm3"),
    "dm3/h": (1, "dm3/h"),
    "l/h": (1, "dm3/h"),
    "m3/h": (1_000, "dm3/h"),
    # electrical instantaneous values
    "mV": (1, "mV"),
    "V": (1_000, "mV"),
    "kV": (1_000_000, "mV"),
    "mA": (1, "mA"),
    "A": (1_000, "mA"),
    "mHz": (1, "mHz"),
    "Hz": (1_000, "mHz"),
    # temperature (heat meters): milli-degrees Celsius; time
    "mdegC": (1, "mdegC"),
    "degC": (1_000, "mdegC"),
    "s": (1, "s"),
    "min": (60, "s"),
    "h": (3_600, "s"),
}

# Spellings meters use for the same unit (DSMR writes "m3", dsmr-parser "m3", IEC readouts
# "kWh", "KWH", "m^3", heat meters "°C", "C"...).
_ALIASES: Final[dict[str, str]] = {
    "kwh": "kWh",
    "wh": "Wh",
    "mwh": "MWh",
    "kw": "kW",
    "w": "W",
    "kvarh": "kvarh",
    "kvar": "kvar",
    "varh": "varh",
    "var": "var",
    "kvah": "kVAh",
    "kva": "kVA",
    "vah": "VAh",
    "va": "VA",
    "gj": "GJ",
    "mj": "MJ",
    "kj": "kJ",
    "j": "J",
    "m3": "m3",
    "m^3": "m3",
    "m³": "m3",
    "dm3": "dm3",
    "l": "l",
    "ltr": "l",
    "m3/h": "m3/h",
    "m^3/h": "m3/h",
    "m³/h": "m3/h",
    "l/h": "l/h",
    "v": "V",
    "kv": "kV",
    "a": "A",
    "hz": "Hz",
    "°c": "degC",
    "c": "degC",
    "degc": "degC",
    "s": "s",
    "h": "h",
}


def normalize_unit(unit: str) -> str:
    """The canonical spelling of a meter's unit (``"KWH"`` -> ``"kWh"``); raise ``UnitError``."""
    text = unit.strip()
    if text in UNITS:
        return text
    canonical = _ALIASES.get(text.lower())
    if canonical is None:
        raise UnitError(f"a known unit ({', '.join(UNITS)}) expected, found {unit!r}")
    return canonical


def to_base_unit(
    value: Decimal | int | str, unit: str, rounding: str = ROUND_EXACT
) -> tuple[int, str]:
    """``(integer value in the base unit, base unit)`` for a meter value.

    ``Decimal("1234.567"), "kWh"`` -> ``(1234567, "Wh")``. A float is refused (it has
    already lost the meter's digits). With ``rounding="exact"`` (the default) a value with
    more decimals than the base unit holds is refused; with ``rounding="floor"`` it is
    rounded down to the base unit (towards minus infinity), which keeps a cumulative
    register monotonic and never counts energy the meter has not yet registered in full.
    """
    if rounding not in (ROUND_EXACT, ROUND_FLOOR):
        raise ValueError(
            f"rounding {ROUND_EXACT!r} or {ROUND_FLOOR!r} expected, found {rounding!r}"
        )
    if isinstance(value, float) or isinstance(value, bool):
        raise UnitError(f"a Decimal, int or decimal text expected, found {type(value).__name__}")
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise UnitError(f"a decimal number expected, found {value!r}") from None
    if not number.is_finite():
        raise UnitError(f"a finite number expected, found {value!r}")
    if number and not -VALUE_DIGITS <= number.adjusted() <= VALUE_DIGITS:
        # Refused before any arithmetic: an exponent beyond the decimal context's would
        # raise InvalidOperation instead of saying what is wrong.
        raise UnitError(f"a value of at most {VALUE_DIGITS} digits expected, found {value!r}")
    name = normalize_unit(unit)
    factor, base = UNITS[name]
    # A context wide enough for any meter value, trapping Inexact: the product is exact or
    # an error, never silently rounded to the default 28 digits.
    with decimal.localcontext() as ctx:
        ctx.prec = VALUE_DIGITS
        ctx.traps[decimal.Inexact] = True
        try:
            scaled = number * factor
        except decimal.Inexact:
            raise UnitError(f"a value of at most 80 digits expected, found {value!r}") from None
    integral = scaled.to_integral_value(rounding=decimal.ROUND_FLOOR)
    if scaled != integral and rounding == ROUND_EXACT:
        raise UnitError(
            f"a whole number of {base} expected, found {value} {name} = {scaled} {base} "
            f"(more decimals than the base unit holds)"
        )
    if not -VALUE_LIMIT < integral < VALUE_LIMIT:
        raise UnitError(f"a value within +-2**63 {base} expected, found {value} {name}")
    return int(integral), base


# --- the record --------------------------------------------------------------------------


def raw_hash(frame: bytes) -> Hash32:
    """The hash that ties a reading to the exact bytes the meter sent."""
    return hash_domain(Domain.RAW_METER_BYTES, bytes(frame))


def iso_utc(timestamp: Timestamp | None) -> str | None:
    """``1700000000`` -> ``"2023-11-14T22:13:20Z"``; ``None`` stays ``None``."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalized register value read from a meter."""

    meter: str  # the meter's identifier (serial / equipment id as text)
    obis: str | None  # OBIS code as "1-0:1.8.1" where the protocol has one, else None
    quantity: str  # e.g. "energy_import", "power_import", "volume", "energy_heat"
    value: int  # integer in the base unit (``unit``: Wh, dm3, W ...), never a float
    unit: str  # base unit: "Wh", "W", "varh", "dm3", "J", "mV", "mA", ...
    timestamp: Timestamp | None  # unix seconds UTC when the meter gives a time, else None
    source: str  # "dsmr", "iec62056-21", "mbus", "wmbus", "dlms", "nfc"
    raw_hash: Hash32  # hash_domain(Domain.RAW_METER_BYTES, raw frame bytes)

    def __post_init__(self) -> None:
        # Internal invariants: adapters build readings, so a violation is a bug in an
        # adapter, not bad meter input.
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise TypeError(f"Reading.value: int expected, found {type(self.value).__name__}")
        if self.timestamp is not None and not isinstance(self.timestamp, int):
            raise TypeError(f"Reading.timestamp: int or None expected, found {self.timestamp!r}")
        if len(self.raw_hash) != 32:
            raise TypeError(f"Reading.raw_hash: 32 bytes expected, found {len(self.raw_hash)}")

    @property
    def register(self) -> str:
        """The billing contract's register name: the OBIS code, else the quantity."""
        return self.obis if self.obis is not None else self.quantity

    @property
    def is_register(self) -> bool:
        """A cumulative register a bill is computed from (not an instantaneous value)."""
        return self.unit in REGISTER_UNITS

    def to_json(self) -> dict[str, Any]:
        return {
            "meter": self.meter,
            "obis": self.obis,
            "quantity": self.quantity,
            "value": self.value,
            "unit": self.unit,
            "timestamp": iso_utc(self.timestamp),
            "source": self.source,
            "raw_hash": self.raw_hash.hex(),
        }
