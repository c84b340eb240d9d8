"""Shared paths and helpers for the meter adapter tests.

DSMR telegrams (MIT) are copied into tests/fixtures/dsmr_p1; the IEC 62056-21 captures are
GPL-3.0 and stay in the shared fixture folder beside the repository, which the tests read
when it is present and skip (with the reason) when it is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DSMR_FIXTURES = REPO / "tests" / "fixtures" / "dsmr_p1"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
IEC_FIXTURES = SHARED_FIXTURES / "iec62056_21"


def dsmr_fixture(name: str) -> bytes:
    return (DSMR_FIXTURES / f"{name}.p1").read_bytes()


def iec_fixture(name: str) -> bytes:
    path = IEC_FIXTURES / name
    if not path.exists():
        pytest.skip(
            f"GPL-3.0 IEC 62056-21 captures not present at {IEC_FIXTURES} (shared fixtures)"
        )
    return path.read_bytes()


def shared_fixture(relative: str) -> Path:
    path = SHARED_FIXTURES / relative
    if not path.exists():
        pytest.skip(f"shared fixture {relative} not present at {SHARED_FIXTURES}")
    return path


def by_obis(readings: list, obis: str) -> list:
    return [r for r in readings if r.obis == obis]


def one(readings: list, obis: str, meter: str | None = None):
    """The single reading of ``obis`` (for ``meter`` when given)."""
    found = [r for r in by_obis(readings, obis) if meter is None or r.meter == meter]
    assert len(found) == 1, f"one reading of {obis} expected, found {len(found)}: {found}"
    return found[0]
