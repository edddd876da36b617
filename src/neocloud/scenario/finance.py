"""The money inputs: discount rate, utilisation, prices and asset lives."""

from __future__ import annotations

from pydantic import Field

from neocloud.scenario.types import Num, Section


class Finance(Section):
    """Inputs of the finance stage."""

    discount_rate: Num = Field(default=0.08, description="Nominal discount rate per year (fraction).")
    utilisation: Num = Field(default=0.8, description="Share of accelerator-hours sold or used (fraction).")
    power_price_usd_per_mwh: Num | None = Field(
        default=None, description="Delivered power price; replaces the site's and the region's.")
    it_life_years: Num = Field(default=5.0, description="Depreciation life of IT equipment (years).")
    facility_life_years: Num = Field(default=20.0, description="Depreciation life of the facility (years).")
    horizon_years: int = Field(default=15, ge=1, le=40, description="Years modelled from the scenario start.")
