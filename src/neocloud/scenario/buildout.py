"""When each phase is built and powered."""

from __future__ import annotations

from pydantic import Field

from neocloud.scenario.types import Num, Section, YearMonth


class PhaseSchedule(Section):
    """Construction of one phase: its start and duration; the build-out stage adds the gates."""

    construction_start: YearMonth | None = Field(
        default=None, description="Month construction starts (YYYY-MM); default the scenario start.")
    construction_months: Num = Field(default=12.0, description="Months from construction start to ready for power.")


class Buildout(Section):
    """Campus-wide build-out inputs shared by the phases."""
