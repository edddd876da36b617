"""Where the campus is: climate, power region, grid connection."""

from __future__ import annotations

from pydantic import Field

from neocloud.scenario.types import Positive, Section


class Site(Section):
    """The place: its climate and power region (catalog ids) and what the grid can deliver."""

    location: str = Field(description="Free text: town, state or county, country.")
    climate: str = Field(json_schema_extra={"catalog": "climates"},
                         description="Catalog climate id (monthly temperatures, design day).")
    region: str = Field(json_schema_extra={"catalog": "regions"},
                        description="Catalog region id (power price, grid carbon intensity, tax).")
    grid_capacity_mw: Positive | None = Field(
        default=None, description="Firm grid import capacity in MW; none means unconstrained.")
    power_price_usd_per_mwh: Positive | None = Field(
        default=None, description="All-in delivered power price; replaces the region's.")
    land_acres: Positive | None = Field(default=None, description="Site area; default from the catalog per MW.")
