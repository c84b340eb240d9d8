"""A node's history folded into the readings a rebill is given (wallet.period_readings):
vectors of a plain reading, a load profile's intervals and a rebill's correction."""

from __future__ import annotations

import pytest

from wallet.period_readings import (
    HistoryReading,
    PeriodReadingsError,
    fold_history,
    period_readings,
)

HISTORY = [
    HistoryReading("reading", 100, 10, 0),  # the period's start (the previous invoice's last reading)
    HistoryReading("reading", 200, 20, 0),
    HistoryReading("load_profile", 300, 25, 100),
    HistoryReading("load_profile", 400, 90, 100),  # a spike ...
    HistoryReading("reading_corrected", 400, 30, 0),  # ... corrected by a rebill: its length stays
    HistoryReading("reading", 500, 40, 0),
]


def test_the_period_after_its_start_with_each_correction_applied() -> None:
    history = fold_history(HISTORY)
    assert period_readings(history, 100, 500) == [[200, 20, 0], [300, 25, 100], [400, 30, 100], [500, 40, 0]]
    assert period_readings(history, 200, 400) == [[300, 25, 100], [400, 30, 100]]


def test_invalid_correction_without_its_reading_is_refused() -> None:
    with pytest.raises(PeriodReadingsError, match="the reading at 400 before its correction expected, found none"):
        fold_history([h for h in HISTORY if h.name != "load_profile"])
