"""TID ranges of the two base dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from meter_adapters.sts.errors import InvalidStsInput, TidOutOfRange
from meter_adapters.sts.tid import TID_MAX, BaseDate, parse_issue_time, tid_for


def test_1993_range_ends_on_24_november_2024() -> None:
    assert BaseDate.Y1993.last_issue == datetime(2024, 11, 24, 20, 15, tzinfo=UTC)
    assert tid_for(datetime(2024, 11, 24, 20, 15, 59), BaseDate.Y1993) == TID_MAX


def test_invalid_tid_beyond_1993_range_says_to_move_to_2014() -> None:
    with pytest.raises(TidOutOfRange) as caught:
        tid_for(datetime(2026, 3, 1, 12, 0), BaseDate.Y1993)
    message = str(caught.value)
    assert message.startswith("TID for 2026-03-01 12:00 is 17,")
    assert "minutes after 1993-01-01; at most 16,777,215 fit" in message
    assert "move this meter to base date 2014 with a key change" in message


def test_invalid_time_before_base_date() -> None:
    with pytest.raises(TidOutOfRange, match="on or after the base date 2014-01-01"):
        tid_for(datetime(2013, 12, 31, 23, 59), BaseDate.Y2014)


def test_2014_range_lasts_until_2045() -> None:
    assert BaseDate.Y2014.last_issue.year == 2045
    assert tid_for(datetime(2014, 1, 1, 0, 1), BaseDate.Y2014) == 1


def test_aware_times_are_converted_to_utc() -> None:
    plus3 = timezone(timedelta(hours=3))
    assert tid_for(datetime(2004, 4, 21, 13, 1, tzinfo=plus3), BaseDate.Y1993) == 5944921
    assert parse_issue_time("2004-04-21T10:01:00Z") == datetime(2004, 4, 21, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2004-13-01T00:00", ""])
def test_invalid_issue_time_text(text: str) -> None:
    with pytest.raises(InvalidStsInput, match="expected an ISO 8601 time"):
        parse_issue_time(text)


def test_invalid_base_date() -> None:
    with pytest.raises(InvalidStsInput, match="expected base date 1993 or 2014, found '2035'"):
        BaseDate.from_year("2035")
