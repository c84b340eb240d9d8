"""Which reading of a capture is the billed register.

One capture (a DSMR telegram, an IEC 62056-21 readout, an M-Bus frame) carries many
registers; a meter is billed on one, named by its OBIS code (or by its quantity where the
protocol has no OBIS codes, "volume" for a water meter). DSMR meters report import and
export per tariff (1-0:1.8.1 and 1-0:1.8.2) and no total, so the totals 1-0:1.8.0 and
1-0:2.8.0 are the sums of the two tariff registers, as the meter's own display adds them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from meter_adapters.errors import AdapterError
from meter_adapters.reading import Reading

# total register -> the per-tariff registers it adds up
TARIFF_PARTS: Final = {
    "1-0:1.8.0": ("1-0:1.8.1", "1-0:1.8.2"),
    "1-0:2.8.0": ("1-0:2.8.1", "1-0:2.8.2"),
}


class RegisterNotFound(AdapterError):
    pass


def register_reading(readings: list[Reading], register: str) -> Reading:
    """The reading of ``register`` among ``readings``, adding a total from its tariff
    registers when the capture has the parts but not the total."""
    for reading in readings:
        if reading.register == register:
            return reading
    parts = [r for r in readings if r.register in TARIFF_PARTS.get(register, ())]
    if parts and len(parts) == len(TARIFF_PARTS[register]) and len({r.unit for r in parts}) == 1:
        return replace(parts[0], obis=register, value=sum(r.value for r in parts))
    found = ", ".join(sorted({r.register for r in readings})) or "no register"
    raise RegisterNotFound(f"register {register} (or its tariff registers) expected in the capture, found {found}")
