"""Token identifiers (TID): minutes since the meter's base date, in 24 bits.

A meter rejects a token whose TID it has already seen (or that is older than what it keeps),
so the TID is both the token's time of issue and its identity per meter. 24 bits of minutes
last 31.9 years: for base date 1993-01-01 they ran out at 2024-11-24 20:15 UTC. The standard's
answer is a pair of key change tokens with the roll-over bit set, which clears the meter's TID
memory and moves it to a new decoder key whose tokens count from base date 2014-01-01. The base
date is therefore a property of each meter (of its current key), not of the vending system.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum

from meter_adapters.sts.errors import InvalidStsInput, TidOutOfRange

TID_BITS = 24
TID_MAX = (1 << TID_BITS) - 1  # 16,777,215


class BaseDate(Enum):
    """The base dates a meter may count its TIDs from (named by year, as the CLI takes them)."""

    Y1993 = 1993
    Y2014 = 2014

    @property
    def start(self) -> datetime:
        return datetime(self.value, 1, 1, tzinfo=UTC)

    @property
    def last_issue(self) -> datetime:
        """The last minute a TID of this base date can name."""
        return self.start + timedelta(minutes=TID_MAX)

    @classmethod
    def from_year(cls, year: int | str) -> BaseDate:
        for member in cls:
            if str(member.value) == str(year).strip():
                return member
        raise InvalidStsInput(f"expected base date 1993 or 2014, found {year!r}")


def as_utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC; an aware one is converted to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def tid_for(issued: datetime, base: BaseDate) -> int:
    """The TID of a token issued at `issued` (seconds dropped) for a meter on `base`."""
    issued = as_utc(issued)
    minutes = (issued - base.start) // timedelta(minutes=1)
    if minutes < 0:
        raise TidOutOfRange(
            f"expected an issue time on or after the base date {base.start:%Y-%m-%d},"
            f" found {issued:%Y-%m-%d %H:%M}"
        )
    if minutes > TID_MAX:
        advice = (
            "move this meter to base date 2014 with a key change"
            if base is BaseDate.Y1993
            else "this base date is exhausted"
        )
        raise TidOutOfRange(
            f"TID for {issued:%Y-%m-%d %H:%M} is {minutes:,} minutes after"
            f" {base.start:%Y-%m-%d}; at most {TID_MAX:,} fit: {advice}"
        )
    return minutes


def issued_at(tid: int, base: BaseDate) -> datetime:
    """The minute a TID names, for a meter on `base`."""
    if not 0 <= tid <= TID_MAX:
        raise InvalidStsInput(f"expected a TID of 0..{TID_MAX}, found {tid}")
    return base.start + timedelta(minutes=tid)


def parse_issue_time(text: str) -> datetime:
    """ISO 8601 text ("2024-05-01T10:00", "...Z", "...+03:00") -> aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidStsInput(
            f"expected an ISO 8601 time such as 2024-05-01T10:00:00Z, found {text!r}"
        ) from None
    return as_utc(parsed)
