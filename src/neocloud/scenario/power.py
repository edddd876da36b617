"""Where the power comes from: grid import by date, on-site gas turbines, batteries and solar."""

from __future__ import annotations

from pydantic import Field

from neocloud.scenario.types import Num, Section, YearMonth


class GridStep(Section):
    """Grid import capacity from a month on (a step of the interconnect schedule)."""

    month: YearMonth = Field(description="Month the capacity is available from (YYYY-MM).")
    mw: Num = Field(description="Firm grid import capacity from that month (MW).")
    substation_ordered: YearMonth | None = Field(
        default=None,
        description="Month the substation's large power transformer is ordered; the step is then "
        "available no earlier than the order plus the catalog lead time.",
    )


class GasTurbines(Section):
    """A block of identical on-site gas turbines."""

    type: str = Field(
        default="aeroderivative-ct",
        json_schema_extra={"catalog": "generation"},
        description="Catalog generation id of a gas turbine.",
    )
    units: int = Field(ge=1, le=1000, description="Number of turbines.")
    ordered: YearMonth | None = Field(
        default=None,
        description="Month the turbines are ordered; they run from the order plus the lead time.",
    )
    commissioning: YearMonth | None = Field(
        default=None,
        description="Month they run from (YYYY-MM); default the order plus the lead time, "
        "else the scenario start.",
    )
    decommissioned: YearMonth | None = Field(
        default=None, description="Month temporary units leave (YYYY-MM)."
    )
    gas_price_usd_per_mmbtu: Num | None = Field(
        default=None, description="Fuel price; replaces the region's."
    )


class Battery(Section):
    """A battery energy storage system."""

    type: str = Field(
        default="li-ion-battery",
        json_schema_extra={"catalog": "generation"},
        description="Catalog generation id of a battery.",
    )
    power_mw: Num = Field(description="Charge and discharge power limit (MW).")
    energy_mwh: Num = Field(description="Usable energy (MWh); state of charge stays between 0 and this.")
    commissioning: YearMonth | None = Field(
        default=None, description="Month it runs from; default the start."
    )


class Solar(Section):
    """An on-site solar PV plant."""

    type: str = Field(
        default="solar-tracking",
        json_schema_extra={"catalog": "generation"},
        description="Catalog generation id of a solar plant.",
    )
    capacity_mw: Num = Field(description="AC nameplate (MW).")
    commissioning: YearMonth | None = Field(
        default=None, description="Month it runs from; default the start."
    )


class PowerSupply(Section):
    """The site's power supply; without ``grid`` the site's ``grid_capacity_mw`` holds from month 0."""

    grid: list[GridStep] = Field(
        default_factory=list,
        description="Grid interconnect capacity by date (steps); replaces site.grid_capacity_mw.",
    )
    gas_turbines: list[GasTurbines] = Field(default_factory=list, description="On-site gas turbine blocks.")
    batteries: list[Battery] = Field(default_factory=list, description="Battery storage systems.")
    solar: list[Solar] = Field(default_factory=list, description="On-site solar plants.")
