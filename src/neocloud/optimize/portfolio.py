"""The portfolio format: candidate sites and designs, demand by quarter, capital and GPU supply.

A portfolio file (``kind: portfolio``) is what the optimiser reads. It is validated like a scenario:
one-line ``ScenarioError`` naming the file, the line, the field path, the value and what is allowed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from neocloud.calendar import (
    MONTHS_PER_QUARTER,
    check_quarter,
    months_between,
    quarter_first_month,
    quarter_index,
    quarter_label,
)
from neocloud.catalog import Catalog, load_catalog, world_default
from neocloud.errors import ScenarioError
from neocloud.load import check_references, read_yaml, validation_error
from neocloud.scenario.types import Section, YearMonth

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _quarter_keys(value: dict[str, float], what: str) -> dict[str, float]:
    for key in value:
        check_quarter(key)
    negative = [key for key, number in value.items() if not number >= 0 or not math.isfinite(number)]
    if negative:
        raise ValueError(f"{what} for {negative[0]} must be a finite number >= 0, got {value[negative[0]]}")
    return dict(sorted(value.items()))


class CandidateSite(Section):
    """A place where buildings could go: its climate and region, its power over time and its costs."""

    id: str = Field(description="Site id, a lower-case slug unique in the portfolio.")
    location: str = Field(default="", description="Free text: town, county, country.")
    climate: str = Field(json_schema_extra={"catalog": "climates"}, description="Catalog climate id.")
    region: str = Field(
        json_schema_extra={"catalog": "regions"},
        description="Catalog region id (power price, carbon, land, tax).",
    )
    latency_group: str = Field(description="Demand region this site serves (matches demand.region).")
    power_mw_by_date: dict[YearMonth, float] = Field(
        min_length=1,
        description="Utility capacity (MW) available from each month on (YYYY-MM: MW, a step function).",
    )
    interconnect_lead_months: float = Field(
        default=0.0,
        ge=0,
        le=240,
        description="Months from the portfolio start until the grid connection can energise.",
    )
    power_price_usd_per_mwh: float | None = Field(
        default=None, gt=0, le=10_000, description="Delivered power price; replaces the region's."
    )
    land_usd_per_acre: float | None = Field(
        default=None, ge=0, le=1e9, description="Land price; replaces the region's."
    )
    carbon_g_per_kwh: float | None = Field(
        default=None, ge=0, le=2_000, description="Grid carbon intensity; replaces the region's."
    )
    max_buildings: int = Field(ge=1, le=100, description="Most buildings the site can hold.")
    fixed_cost_usd: float = Field(
        default=0.0,
        ge=0,
        le=1e13,
        description="One-off cost of opening the site (substation, roads), if any building is built.",
    )

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"'{value}' is not a lower-case slug (letters, digits, hyphens)")
        return value

    @field_validator("power_mw_by_date")
    @classmethod
    def _power(cls, value: dict[str, float]) -> dict[str, float]:
        negative = [key for key, number in value.items() if not number >= 0 or not math.isfinite(number)]
        if negative:
            raise ValueError(
                f"the power for {negative[0]} must be a finite number >= 0, got {value[negative[0]]}"
            )
        return dict(sorted(value.items()))


class CandidateDesign(Section):
    """A building design: a catalog system, a cooling technology and the systems per building."""

    id: str = Field(description="Design id, a lower-case slug unique in the portfolio.")
    system: str = Field(
        json_schema_extra={"catalog": "systems"}, description="Catalog system id, e.g. gb200-nvl72."
    )
    cooling: str = Field(json_schema_extra={"catalog": "cooling"}, description="Catalog cooling id.")
    systems_per_building: int = Field(ge=1, le=1_000_000, description="Systems installed per building.")
    network: str | None = Field(
        default=None,
        json_schema_extra={"catalog": "fabrics"},
        description="Catalog fabric id of the scale-out network; default the campus format's.",
    )
    construction_months: float = Field(
        default=world_default("phase.construction_months"), gt=0, le=120,
        description="Months from construction start to ready for power.",
    )

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"'{value}' is not a lower-case slug (letters, digits, hyphens)")
        return value


class Demand(Section):
    """A tenant's capacity needed online in a region, quarter by quarter (a step function)."""

    tenant: str = Field(description="Who needs the capacity.")
    region: str = Field(description="Latency group the capacity must be in (a site's latency_group).")
    accelerators_by_quarter: dict[str, float] | None = Field(
        default=None, description="Accelerators needed online from each quarter on (YYYY-Qn: count)."
    )
    it_mw_by_quarter: dict[str, float] | None = Field(
        default=None, description="IT MW needed online from each quarter on (YYYY-Qn: MW)."
    )

    @field_validator("accelerators_by_quarter", "it_mw_by_quarter")
    @classmethod
    def _quarters(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return None if value is None else _quarter_keys(value, "the demand")

    @model_validator(mode="after")
    def _one_unit(self) -> Demand:
        if (self.accelerators_by_quarter is None) == (self.it_mw_by_quarter is None):
            raise ValueError("give exactly one of accelerators_by_quarter or it_mw_by_quarter")
        return self

    @property
    def unit(self) -> str:
        """``accelerators`` or ``it_mw``: what the demand counts."""
        return "accelerators" if self.accelerators_by_quarter is not None else "it_mw"

    @property
    def by_quarter(self) -> dict[str, float]:
        """The demand levels by quarter, whichever unit they are given in."""
        return (
            self.accelerators_by_quarter
            if self.accelerators_by_quarter is not None
            else self.it_mw_by_quarter or {}
        )


class Portfolio(Section):
    """Where and when to build: candidates, demand, money and GPUs, and what to optimise."""

    kind: Literal["portfolio"] = Field(description="Marks the file as a portfolio.")
    name: str = Field(description="Name of the portfolio.")
    description: str = Field(default="", description="Free text.")
    start: str = Field(description="First quarter of the plan (YYYY-Qn).")
    quarters: int = Field(ge=1, le=80, description="Quarters planned from the start.")
    objective: Literal["least_cost", "max_npv", "earliest_capacity"] = Field(
        default="least_cost",
        description="least_cost (present cost), max_npv, or earliest_capacity (then cost).",
    )
    discount_rate: float = Field(
        default=world_default("finance.discount_rate"), gt=-1, le=1,
        description="Nominal discount rate per year (fraction).",
    )
    utilisation: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of accelerator-hours sold; default the scenario format's.",
    )
    price_usd_per_gpu_hour: float | None = Field(
        default=None,
        gt=0,
        le=1_000,
        description="Price a tenant pays per accelerator-hour (needed for max_npv).",
    )
    unmet_penalty_multiple: float = Field(
        default=10.0,
        gt=0,
        le=1e6,
        description="Penalty per unit-quarter unmet, as a multiple of the dearest building's present cost.",
    )
    capital_usd_by_year: dict[int, float] | None = Field(
        default=None,
        description="Capital that can be spent in each calendar year (USD); years not listed are open.",
    )
    gpu_supply_by_quarter: dict[str, float] | None = Field(
        default=None,
        description="Most accelerators that can be installed in each quarter (YYYY-Qn); others open.",
    )
    sites: list[CandidateSite] = Field(min_length=1, description="Candidate sites.")
    designs: list[CandidateDesign] = Field(min_length=1, description="Candidate building designs.")
    demand: list[Demand] = Field(min_length=1, description="Capacity needed, by tenant and region.")
    catalog: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Rows that add to or replace catalog rows by id, per table."
    )

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        return check_quarter(value)

    @field_validator("gpu_supply_by_quarter")
    @classmethod
    def _supply(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return None if value is None else _quarter_keys(value, "the supply")

    @field_validator("capital_usd_by_year")
    @classmethod
    def _budget(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is None:
            return None
        bad = [year for year, amount in value.items() if not 1990 <= year <= 2100 or not amount >= 0]
        if bad:
            raise ValueError(f"year {bad[0]} must lie in 1990-2100 with a budget >= 0, got {value[bad[0]]}")
        return dict(sorted(value.items()))

    @property
    def start_month(self) -> str:
        """The first month of the plan, ``YYYY-MM``."""
        return quarter_first_month(self.start)

    def label(self, index: int) -> str:
        """The ``YYYY-Qn`` label of quarter ``index`` of the plan."""
        return quarter_label(self.start, index)


def _line(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _fail(
    message: str,
    path: tuple[str, ...],
    file: str,
    lines: dict[tuple[str, ...], int],
    value: Any = None,
    allowed: str | None = None,
) -> ScenarioError:
    return ScenarioError(
        message, file=file, line=_line(lines, path), field=".".join(path), value=value, allowed=allowed
    )


def check_portfolio(portfolio: Portfolio, file: str, lines: dict[tuple[str, ...], int]) -> None:
    """Cross-field checks: unique ids, demand regions some site serves, one unit per region, the horizon."""
    listed: tuple[tuple[str, list[Any]], ...] = (("sites", portfolio.sites), ("designs", portfolio.designs))
    for kind, items in listed:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                raise _fail(
                    f"'{item.id}' is repeated; ids must be unique", (kind, str(index), "id"), file, lines
                )
            seen.add(item.id)
    groups = sorted({site.latency_group for site in portfolio.sites})
    units: dict[str, tuple[str, int]] = {}
    for index, demand in enumerate(portfolio.demand):
        if demand.region not in groups:
            raise _fail(
                f"'{demand.region}' is not the latency_group of any site",
                ("demand", str(index), "region"),
                file,
                lines,
                demand.region,
                ", ".join(groups),
            )
        first = units.setdefault(demand.region, (demand.unit, index))
        if first[0] != demand.unit:
            raise _fail(
                f"region '{demand.region}' is already demanded in {first[0]} by demand.{first[1]}; "
                "give every tenant of a region the same unit",
                ("demand", str(index), f"{demand.unit}_by_quarter"),
                file,
                lines,
            )
        for key in demand.by_quarter:
            if quarter_index(portfolio.start, key) >= portfolio.quarters:
                raise _fail(
                    f"'{key}' is after the plan's last quarter {portfolio.label(portfolio.quarters - 1)}",
                    ("demand", str(index), f"{demand.unit}_by_quarter", key),
                    file,
                    lines,
                    key,
                )
    if portfolio.objective == "max_npv":
        if portfolio.price_usd_per_gpu_hour is None:
            raise _fail("is required when objective is max_npv", ("price_usd_per_gpu_hour",), file, lines)
        for index, demand in enumerate(portfolio.demand):
            if demand.unit != "accelerators":
                raise _fail(
                    "max_npv earns revenue per accelerator: give accelerators_by_quarter",
                    ("demand", str(index), "it_mw_by_quarter"),
                    file,
                    lines,
                )
    for index, site in enumerate(portfolio.sites):
        for month in site.power_mw_by_date:
            if months_between(portfolio.start_month, month) >= portfolio.quarters * MONTHS_PER_QUARTER:
                raise _fail(
                    f"'{month}' is after the plan's last quarter {portfolio.label(portfolio.quarters - 1)}",
                    ("sites", str(index), "power_mw_by_date", month),
                    file,
                    lines,
                    month,
                )


def portfolio_catalog(
    portfolio: Portfolio, file: str = "<portfolio>", lines: dict[tuple[str, ...], int] | None = None
) -> Catalog:
    """The catalog a portfolio sees: the shipped one plus the portfolio's own rows."""
    try:
        return load_catalog((), portfolio.catalog)
    except ScenarioError as err:
        raise err.located(file, _line(lines or {}, ("catalog",))) from None


def validate_portfolio(
    data: Any,
    file: str = "<portfolio>",
    lines: dict[tuple[str, ...], int] | None = None,
    catalog: Catalog | None = None,
) -> Portfolio:
    """Validate parsed portfolio data (a dict) against the format and the catalog."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError(f"must be a mapping of fields, not {type(data).__name__}", file=file, line=1)
    try:
        portfolio = Portfolio.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, Portfolio, file, lines) from None
    check_references(portfolio, catalog or portfolio_catalog(portfolio, file, lines), file, lines)
    check_portfolio(portfolio, file, lines)
    return portfolio


def load_portfolio(path: str | Path) -> Portfolio:
    """Load and validate a portfolio file; raise ScenarioError on the first problem."""
    data, lines, _ = read_yaml(path, kind="portfolio")
    return validate_portfolio(data, str(path), lines)
