"""The calendar: months written ``YYYY-MM``, quarters written ``YYYY-Qn``, and the arithmetic between them.

Every module that reads, checks or moves a month or a quarter uses these; none repeats them. Pure
Python, so that loading a scenario imports nothing heavy.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

from neocloud.units import MONTHS_PER_YEAR

if TYPE_CHECKING:
    import numpy as np

MONTHS_PER_QUARTER = 3
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days in each month of a typical (non-leap) year of ``DAYS_PER_YEAR`` days."""
QUARTERS_PER_YEAR = MONTHS_PER_YEAR // MONTHS_PER_QUARTER
QUARTER = re.compile(r"^(19|20|21)\d\d-Q[1-4]$")
"""A calendar quarter, ``YYYY-Qn``, in the years 1900 to 2199."""
YEAR_MONTH = re.compile(r"^(19|20|21)\d\d-(0[1-9]|1[0-2])$")
"""A calendar month, ``YYYY-MM``, in the years 1900 to 2199."""

MonthOfYear = TypeVar("MonthOfYear", int, "np.ndarray")


def check_quarter(value: str) -> str:
    """``value`` if it is a quarter written ``YYYY-Qn``, else a ValueError saying how to write one."""
    if not QUARTER.match(str(value)):
        raise ValueError(f"'{value}' is not a quarter written YYYY-Qn (e.g. 2025-Q3)")
    return value


def check_year_month(value: str) -> str:
    """``value`` if it is a month written ``YYYY-MM``, else a ValueError saying how to write one."""
    if not YEAR_MONTH.match(str(value)):
        raise ValueError(f"'{value}' is not a month written YYYY-MM")
    return value


def months_between(start: str, month: str) -> int:
    """Months from ``start`` to ``month`` (both ``YYYY-MM``): ``months_between('2024-06', '2025-01') == 7``."""
    start_year, start_month = (int(part) for part in start.split("-"))
    year, month_of_year = (int(part) for part in month.split("-"))
    return (year - start_year) * MONTHS_PER_YEAR + (month_of_year - start_month)


def add_months(month: str, months: int) -> str:
    """``YYYY-MM`` moved by a whole number of months: ``add_months('2025-11', 3) == '2026-02'``."""
    year, month_of_year = (int(part) for part in month.split("-"))
    index = year * MONTHS_PER_YEAR + month_of_year - 1 + months
    return f"{index // MONTHS_PER_YEAR:04d}-{index % MONTHS_PER_YEAR + 1:02d}"


def quarter_of_year(month_of_year: MonthOfYear) -> MonthOfYear:
    """The quarter (1 to 4) a month of the year (1 to 12, or an array of them) falls in."""
    return (month_of_year - 1) // MONTHS_PER_QUARTER + 1


def months_into_quarter(month: str) -> int:
    """Months since the start of the quarter ``month`` (``YYYY-MM``) falls in: 0, 1 or 2."""
    return (int(month[5:]) - 1) % MONTHS_PER_QUARTER


def quarter_of(month: str) -> str:
    """The quarter (``YYYY-Qn``) of a month written ``YYYY-MM``: ``quarter_of('2025-08') == '2025-Q3'``."""
    return f"{month[:4]}-Q{quarter_of_year(int(month[5:]))}"


def quarter_first_month(quarter: str) -> str:
    """The first month (``YYYY-MM``) of a quarter: ``quarter_first_month('2025-Q3') == '2025-07'``."""
    return f"{quarter[:4]}-{(int(quarter[-1]) - 1) * MONTHS_PER_QUARTER + 1:02d}"


def quarter_index(start: str, quarter: str) -> int:
    """Quarters from ``start`` to ``quarter`` (``YYYY-Qn``): ``quarter_index('2025-Q3', '2026-Q1') == 2``."""
    start_year, start_q = int(start[:4]), int(start[-1])
    year, number = int(quarter[:4]), int(quarter[-1])
    return (year - start_year) * QUARTERS_PER_YEAR + number - start_q


def quarter_label(start: str, index: int) -> str:
    """The ``YYYY-Qn`` label of the quarter ``index`` quarters after ``start``."""
    total = int(start[:4]) * QUARTERS_PER_YEAR + int(start[-1]) - 1 + index
    return f"{total // QUARTERS_PER_YEAR}-Q{total % QUARTERS_PER_YEAR + 1}"
