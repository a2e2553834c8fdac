"""Fiscal quarters, derived from FISCAL_YEAR_START_MONTH.

A fiscal year is named for the calendar year in which it ends: with a February start,
FY2027 runs from 1 February 2026 to 31 January 2027. With the default January start the
fiscal year is the calendar year.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings

CLOSE_AFTER = dt.timedelta(days=7)
_LABEL = re.compile(r"^FY(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


def _add_months(year, month, months):
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True, order=True)
class FiscalQuarter:
    fiscal_year: int
    number: int

    @property
    def label(self):
        return f"FY{self.fiscal_year} Q{self.number}"

    @property
    def slug(self):
        return f"FY{self.fiscal_year}Q{self.number}"

    @property
    def start(self):
        start_month = settings.FISCAL_YEAR_START_MONTH
        # The fiscal year starts in the calendar year before it ends, unless it starts in January.
        first_year = self.fiscal_year - (0 if start_month == 1 else 1)
        year, month = _add_months(first_year, start_month, 3 * (self.number - 1))
        return dt.date(year, month, 1)

    @property
    def end(self):
        """The last day of the quarter."""
        year, month = _add_months(self.start.year, self.start.month, 3)
        return dt.date(year, month, 1) - dt.timedelta(days=1)

    @property
    def closes_on(self):
        return self.end + CLOSE_AFTER

    def next(self):
        if self.number == 4:
            return FiscalQuarter(self.fiscal_year + 1, 1)
        return FiscalQuarter(self.fiscal_year, self.number + 1)

    def previous(self):
        if self.number == 1:
            return FiscalQuarter(self.fiscal_year - 1, 4)
        return FiscalQuarter(self.fiscal_year, self.number - 1)

    @classmethod
    def containing(cls, day):
        start_month = settings.FISCAL_YEAR_START_MONTH
        months_in = (day.month - start_month) % 12
        first_year = day.year if day.month >= start_month else day.year - 1
        fiscal_year = first_year + (0 if start_month == 1 else 1)
        return cls(fiscal_year, months_in // 3 + 1)

    @classmethod
    def parse(cls, text):
        """'FY2027Q1', 'FY2027 Q1' or 'fy2027-q1'; None when it is not a quarter label."""
        match = _LABEL.match((text or "").strip())
        if not match:
            return None
        return cls(int(match.group(1)), int(match.group(2)))
