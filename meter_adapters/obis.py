"""OBIS codes (IEC 62056-61): parsing, formatting and what quantity a code measures.

An OBIS code names a register with six value groups ``A-B:C.D.E*F``: A the medium
(1 electricity, 0 abstract, 6 heat, 7 gas, 8 cold water, 9 hot water), B the channel,
C the physical quantity (1 active import, 2 active export, 32 voltage L1, ...), D the
processing (8 time integral = register, 7 instantaneous, 6 maximum), E the tariff and F the
billing period. We write them as the DSMR spec does, ``"1-0:1.8.1"``, and add ``*F`` only
when F is a real billing period (not the 255 "not used" marker).

Meters print shortened forms (IEC 62056-21 readouts: ``"1.8.1"``, ``"C.1.0"``, ``"F.F"``);
``parse_obis`` accepts them and fills the missing groups the way the standard says a
reduced code is read: A and B unknown (we use the caller's defaults) and F = 255.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from meter_adapters.errors import AdapterError


class ObisError(AdapterError):
    """Text or bytes that are not an OBIS code."""


# Letters allowed in value groups C and D (IEC 62056-61, 5.6): they stand for codes 96..99.
_LETTERS: Final = {"C": 96, "F": 97, "L": 98, "P": 99}
_NOT_USED: Final = 255

_FULL = re.compile(
    r"^(?:(?P<a>\d{1,3})-(?P<b>\d{1,3}):)?"
    r"(?P<c>\d{1,3}|[CFLP])\.(?P<d>\d{1,3}|[CFLP])(?:\.(?P<e>\d{1,3}))?"
    r"(?:[*&.](?P<f>\d{1,3}))?$"
)


@dataclass(frozen=True, slots=True)
class Obis:
    """The six value groups of an OBIS code."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = _NOT_USED

    def __post_init__(self) -> None:
        for name in ("a", "b", "c", "d", "e", "f"):
            group = getattr(self, name)
            if not 0 <= group <= 255:
                raise ObisError(
                    f"OBIS value group {name.upper()} in 0..255 expected, found {group}"
                )

    def __str__(self) -> str:
        text = f"{self.a}-{self.b}:{_group(self.c)}.{_group(self.d)}.{self.e}"
        return text if self.f == _NOT_USED else f"{text}*{self.f}"

    def to_bytes(self) -> bytes:
        """The 6-byte form COSEM uses for a logical name."""
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))


def _group(value: int) -> str:
    # C and D codes 96..99 print as their letters in readouts ("C.1.0"), but as numbers in
    # the full form; we always print numbers so one register has one spelling.
    return str(value)


def _value(text: str) -> int:
    return _LETTERS[text] if text in _LETTERS else int(text)


# Meters repeat the same few dozen codes in every telegram; the parse is pure and ``Obis``
# is immutable, so caching it is safe and makes a DSMR telegram parse ~2x faster.
@functools.lru_cache(maxsize=4096)
def parse_obis(text: str, default_a: int = 1, default_b: int = 0) -> Obis:
    """Parse ``"1-0:1.8.1"``, ``"1-0:1.8.1*255"``, ``"1-0:1.8.1.255"``, or a reduced code
    such as ``"1.8.1"``, ``"C.1.0"``, ``"F.F"`` (A and B from the defaults, E = 0 when
    absent). Raise ``ObisError`` for anything else."""
    match = _FULL.match(text.strip())
    if match is None:
        raise ObisError(f"an OBIS code like 1-0:1.8.1 or 1.8.1 expected, found {text!r}")
    groups = match.groupdict()
    c = _value(groups["c"])
    # Abstract objects ("C.1.0" = meter serial, "F.F" = fatal error, 96.x, 97.x) belong to
    # medium 0 whatever the caller's default.
    a_default = 0 if c in (96, 97, 98, 99) else default_a
    try:
        return Obis(
            int(groups["a"]) if groups["a"] is not None else a_default,
            int(groups["b"]) if groups["b"] is not None else default_b,
            c,
            _value(groups["d"]),
            int(groups["e"]) if groups["e"] is not None else 0,
            int(groups["f"]) if groups["f"] is not None else _NOT_USED,
        )
    except ObisError as exc:
        raise ObisError(f"{exc} in {text!r}") from None


def normalize_obis(text: str, default_a: int = 1, default_b: int = 0) -> str:
    """The one spelling of an OBIS code: ``"1.8.1"`` -> ``"1-0:1.8.1"``."""
    return str(parse_obis(text, default_a, default_b))


def obis_from_bytes(data: bytes) -> str:
    """A COSEM logical name (6 bytes) as OBIS text: ``01 00 01 08 00 FF`` -> ``"1-0:1.8.0"``."""
    if len(data) != 6:
        raise ObisError(f"6-byte OBIS logical name expected, found {len(data)} bytes")
    return str(Obis(*data))


# --- what a code measures -----------------------------------------------------------------

# Electricity (A = 1), value group C -> (quantity stem, phase suffix). C 21..40 are L1,
# 41..60 L2, 61..80 L3 with the same meaning as C - 20, - 40, - 60 for the total.
_ELECTRICITY_C: Final[dict[int, str]] = {
    1: "active_import",
    2: "active_export",
    3: "reactive_import",
    4: "reactive_export",
    5: "reactive_q1",
    6: "reactive_q2",
    7: "reactive_q3",
    8: "reactive_q4",
    9: "apparent_import",
    10: "apparent_export",
    11: "current",
    12: "voltage",
    13: "power_factor",
    14: "frequency",
    15: "active_absolute",
    16: "active_net",
}
_PHASE_OFFSETS: Final = ((0, ""), (20, "_l1"), (40, "_l2"), (60, "_l3"))

# Value group D: how the quantity is processed.
_REGISTER_D: Final = (8, 9, 29)  # time integrals: the energy registers
_INSTANT_D: Final = (7, 24, 25)  # instantaneous values and short averages
_DEMAND_D: Final = (4, 5, 6, 14, 15, 16)  # demand averages and maxima


_KIND_UNITS: Final[dict[str, tuple[str, str]]] = {
    # kind -> (unit of its energy registers, unit of its power values)
    "active": ("Wh", "W"),
    "reactive": ("varh", "var"),
    "apparent": ("VAh", "VA"),
}
_PLAIN_UNITS: Final = {"current": "mA", "voltage": "mV", "frequency": "mHz", "power_factor": ""}


def _electricity(c: int, d: int, base_unit: str) -> str | None:
    """The quantity of electricity register C.D, when the unit agrees with what the code
    says (a reduced code such as "6.8" from a heat meter is not electricity, whatever the
    default medium made of it)."""
    if c == 91 and base_unit == "mA":
        return "current_neutral"
    for offset, suffix in _PHASE_OFFSETS:
        if not 0 < c - offset <= 16 or (offset and c - offset > 14):
            continue
        stem = _ELECTRICITY_C[c - offset]
        if stem in _PLAIN_UNITS:
            return stem + suffix if _PLAIN_UNITS[stem] == base_unit else None
        kind, _, direction = stem.partition("_")
        energy_unit, power_unit = _KIND_UNITS[kind]
        measure = "" if kind == "active" else f"{kind}_"
        if d in _REGISTER_D and base_unit == energy_unit:
            return f"{measure}energy_{direction}{suffix}"
        if d in _INSTANT_D and base_unit == power_unit:
            return f"{measure}power_{direction}{suffix}"
        if d in _DEMAND_D and base_unit == power_unit:
            return f"{measure}demand_{direction}{suffix}"
        return None
    return None


_BY_UNIT: Final[dict[str, str]] = {
    "Wh": "energy",
    "W": "power",
    "varh": "reactive_energy",
    "var": "reactive_power",
    "VAh": "apparent_energy",
    "VA": "apparent_power",
    "J": "energy_heat",
    "dm3": "volume",
    "dm3/h": "flow",
    "mV": "voltage",
    "mA": "current",
    "mHz": "frequency",
    "mdegC": "temperature",
    "s": "duration",
}


@functools.lru_cache(maxsize=4096)
def quantity_for(obis: str | None, base_unit: str) -> str:
    """A short snake_case name of what is measured (``"energy_import"``, ``"volume"``...),
    from the OBIS code where it says, else from the base unit."""
    if obis is not None:
        try:
            code = parse_obis(obis)
        except ObisError:
            code = None
        if code is not None:
            if code.a == 1:
                name = _electricity(code.c, code.d, base_unit)
                if name is not None:
                    return name
            if code.a == 0 and code.c == 17 and code.d == 0:
                # The limiter threshold (DSMR 0-0:17.0.0), not a measurement.
                return _BY_UNIT.get(base_unit, "value") + "_limit"
            if code.a == 0 and code.c == 24 and code.d in (2, 3):
                # DSMR M-Bus channels: the volume (gas, water) or heat energy of the
                # sub-meter, whatever its medium.
                return "energy_heat" if base_unit in ("J", "Wh") else "volume"
            if code.a in (7, 8, 9) and base_unit == "dm3":
                return "volume"
            if code.a in (5, 6) and base_unit in ("J", "Wh"):
                return "energy_heat" if code.a == 6 else "energy_cooling"
    return _BY_UNIT.get(base_unit, "value")
