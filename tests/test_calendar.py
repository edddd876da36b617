"""The calendar: months and quarters checked, and month arithmetic that inverts itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neocloud.calendar import (
    DAYS_IN_MONTH,
    add_months,
    check_quarter,
    check_year_month,
    months_between,
    months_into_quarter,
    quarter_first_month,
    quarter_index,
    quarter_label,
    quarter_of,
    quarter_of_year,
)
from neocloud.units import DAYS_PER_YEAR, MONTHS_PER_YEAR

MONTHS = st.builds(lambda year, month: f"{year:04d}-{month:02d}", st.integers(1950, 2150), st.integers(1, 12))
QUARTERS = st.builds(lambda year, number: f"{year:04d}-Q{number}", st.integers(1950, 2150), st.integers(1, 4))


def test_a_typical_year() -> None:
    assert len(DAYS_IN_MONTH) == MONTHS_PER_YEAR and sum(DAYS_IN_MONTH) == DAYS_PER_YEAR


def test_examples() -> None:
    assert months_between("2024-06", "2025-01") == 7
    assert add_months("2025-11", 3) == "2026-02"
    assert add_months("2025-01", -1) == "2024-12"
    assert quarter_of("2025-08") == "2025-Q3"
    assert quarter_first_month("2025-Q3") == "2025-07"
    assert quarter_index("2025-Q3", "2026-Q1") == 2
    assert quarter_label("2025-Q3", 2) == "2026-Q1"
    assert [months_into_quarter(f"2025-{month:02d}") for month in (1, 2, 3, 4, 12)] == [0, 1, 2, 0, 2]
    assert list(quarter_of_year(np.arange(1, 13))) == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]


@pytest.mark.parametrize("bad", ["2025-Q5", "2025-Q0", "25-Q1", "2025Q1", "2025-q1", "2025-Q1 "])
def test_bad_quarters(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a quarter written YYYY-Qn"):
        check_quarter(bad)


@pytest.mark.parametrize("bad", ["2025-13", "2025-00", "2025-1", "2025/01", "1850-01"])
def test_bad_months(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a month written YYYY-MM"):
        check_year_month(bad)


@given(MONTHS, st.integers(-600, 600))
def test_add_months_inverts_months_between(month: str, shift: int) -> None:
    moved = add_months(month, shift)
    assert months_between(month, moved) == shift
    assert add_months(moved, -shift) == month


@given(QUARTERS, st.integers(-100, 100))
def test_quarters_count_three_months(quarter: str, shift: int) -> None:
    first = quarter_first_month(quarter)
    assert check_year_month(first) == first
    assert quarter_of(first) == quarter
    assert months_into_quarter(first) == 0
    later = quarter_label(quarter, shift)
    assert quarter_index(quarter, later) == shift
    assert months_between(first, quarter_first_month(later)) == 3 * shift
