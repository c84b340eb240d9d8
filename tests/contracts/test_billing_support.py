"""Helpers shared by the billing tests (no tests here): tariffs, readings, signed meter readings.

Billing figures in the tests are computed by hand from docs/tariffs.md (the rounding rule),
never read back from the contract.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chain import codec
from chain.hashing import Domain

DAY = 86400
HOUR = 3600

# 1.00 TRY a day standing charge; first 10 kWh a day at 2.00 TRY/kWh, the rest at 3.00; 20 % tax.
RES_SPEC: dict[str, Any] = {
    "standing_charge_per_day": 100,
    "tiers": [[10_000, 200_000], [None, 300_000]],
    "tax_bp": 2000,
}
FLAT_SPEC: dict[str, Any] = {"standing_charge_per_day": 0, "tiers": [[None, 250_000]], "tax_bp": 0}


def half_up(a: int, b: int) -> int:
    """Round a/b half away from zero (plain Python, independent of the VM's builtin)."""
    q, r = divmod(abs(a), b)
    if 2 * r >= b:
        q += 1
    return q if a >= 0 else -q


def setup_tariff(w: Any, spec: dict[str, Any] | None = None, tariff_id: str = "RES",
                 meters: tuple[str, ...] = ("MTR-A", "MTR-B"), effective_from: int | None = None) -> int:
    """Set a tariff (effective now) and assign it to ``meters``; return its effective time."""
    at = w.chain.time + 1
    eff = at if effective_from is None else effective_from
    w.ok(w.admin, "billing", "set_tariff", [w.utility, tariff_id, spec or RES_SPEC, eff], at=at)
    for meter in meters:
        w.ok(w.admin, "billing", "assign_tariff", [meter, tariff_id])
    return eff


def installed_at(w: Any, meter: str) -> int:
    return int(w.view("registry", "meter", [meter])["installed_at"])


def reading_args(meter: str, ts: int, index: int, trust: str = "consumer", raw: bytes = b"",
                 signature: bytes = b"", register: str = "1.8.0") -> list[Any]:
    return [meter, register, ts, index, trust, raw, signature]


def read(w: Any, actor: Any, meter: str, ts: int, index: int, trust: str = "consumer",
         at: int | None = None, raw: bytes = b"", signature: bytes = b"") -> Any:
    """Submit one reading in a block at ``at`` (default: the reading's own time)."""
    return w.chain.call(actor, "billing", "submit_reading",
                        reading_args(meter, ts, index, trust, raw, signature), at=ts if at is None else at)


def meter_seed(name: str) -> bytes:
    return hashlib.sha256(b"test-meter:" + name.encode()).digest()


def meter_sign(seed: bytes, meter: str, register: str, index: int, unit: str, ts: int) -> bytes:
    """A smart meter's own signature over its reading, as billing verifies it."""
    import nacl.signing

    message = Domain.METER_READING.tag + codec.encode([meter, register, index, unit, ts])
    return bytes(nacl.signing.SigningKey(seed).sign(message).signature)


def meter_public_key(seed: bytes) -> bytes:
    import nacl.signing

    return bytes(nacl.signing.SigningKey(seed).verify_key)


def energy(units: int, tiers: list[list[Any]], seconds: int) -> list[int]:
    """Line amounts of ``units`` over a share of ``seconds`` under daily-allowance tiers."""
    amounts, used, remaining = [], 0, units
    for upto, price in tiers:
        if remaining <= 0:
            break
        q = remaining if upto is None else min(remaining, max(upto * seconds // DAY - used, 0))
        if q > 0:
            amounts.append(half_up(q * price, 1_000_000))
            remaining -= q
            used += q
    return amounts


def price_span(spec: dict[str, Any], seconds: int, units: int) -> tuple[int, int]:
    """(taxable subtotal, tax) of one share under one tariff version."""
    taxable = sum(energy(units, spec["tiers"], seconds))
    if spec["standing_charge_per_day"] and seconds:
        taxable += half_up(spec["standing_charge_per_day"] * seconds, DAY)
    return taxable, half_up(taxable * spec["tax_bp"], 10_000)
