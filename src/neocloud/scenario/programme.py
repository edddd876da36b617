"""The programme format: several campuses, a capital envelope and a shared supply of accelerators."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from neocloud.calendar import check_quarter
from neocloud.scenario.types import Num, Positive, Section, YearMonth

_FIRST_YEAR, _LAST_YEAR = 1990, 2100


def _check_years(values: dict[int, float], what: str) -> dict[int, float]:
    bad = [year for year in values if not _FIRST_YEAR <= year <= _LAST_YEAR]
    if bad:
        raise ValueError(f"year {bad[0]} is outside {_FIRST_YEAR}-{_LAST_YEAR}")
    negative = [year for year, value in values.items() if value < 0]
    if negative:
        raise ValueError(f"{what} for {negative[0]} is negative ({values[negative[0]]})")
    return dict(sorted(values.items()))


class CampusEntry(Section):
    """One campus of the programme: a campus scenario file, or an inline template built ``count`` times."""

    file: str | None = Field(
        default=None, description="Campus scenario file, relative to the programme file."
    )
    template: dict[str, Any] | None = Field(
        default=None, description="An inline campus scenario (the campus format)."
    )
    count: int = Field(default=1, ge=1, le=1000, description="Identical copies of the campus.")
    priority: int = Field(default=100, ge=0, description="Lower is served first when supply is short.")

    @model_validator(mode="after")
    def _one_source(self) -> CampusEntry:
        if (self.file is None) == (self.template is None):
            raise ValueError("give exactly one of file or template")
        return self


class Capital(Section):
    """The money meant for the campuses and when it is spent."""

    envelope_usd: Num = Field(description="Capital envelope of the programme (USD).")
    phasing_by_year: dict[int, float] | None = Field(
        default=None,
        description="Share of the envelope spent in each calendar year (fractions summing to 1).",
    )

    @field_validator("phasing_by_year")
    @classmethod
    def _phasing(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is None:
            return None
        value = _check_years(value, "the share")
        total = sum(value.values())
        if abs(total - 1) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {total:g}")
        return value


class Schedule(Section):
    """A fixed schedule of accelerators made available to the programme."""

    accelerators_per_year: dict[int, float] | None = Field(
        default=None, description="Accelerators supplied in each calendar year."
    )
    accelerators_per_quarter: dict[str, float] | None = Field(
        default=None, description="Accelerators supplied in each quarter, keys YYYY-Qn."
    )

    @field_validator("accelerators_per_year")
    @classmethod
    def _years(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        return None if value is None else _check_years(value, "the supply")

    @field_validator("accelerators_per_quarter")
    @classmethod
    def _quarters(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        for key in value:
            check_quarter(key)
        negative = [key for key, number in value.items() if number < 0]
        if negative:
            raise ValueError(f"the supply for {negative[0]} is negative")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _one_schedule(self) -> Schedule:
        if (self.accelerators_per_year is None) == (self.accelerators_per_quarter is None):
            raise ValueError("give exactly one of accelerators_per_year or accelerators_per_quarter")
        return self


class Split(Section):
    """Shares of the fab capital for logic wafers, packaging and HBM memory (summing to 1)."""

    logic: float = Field(ge=0, le=1, description="Share for leading-edge logic fabs.")
    packaging: float = Field(ge=0, le=1, description="Share for advanced packaging (CoWoS) lines.")
    memory: float = Field(ge=0, le=1, description="Share for HBM DRAM fabs and TSV lines.")

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        total = self.logic + self.packaging + self.memory
        if abs(total - 1) > 1e-6:
            raise ValueError(f"logic + packaging + memory must sum to 1, got {total:g}")
        return self


class FabPlan(Section):
    """Capital for new fabs, packaging and HBM lines, and the accelerator package they make."""

    capital_usd_by_year: dict[int, float] = Field(
        min_length=1, description="Capital committed in each calendar year (USD)."
    )
    fab: str = Field(
        default="n3-taiwan", json_schema_extra={"catalog": "fabs"}, description="Catalog fab kind."
    )
    die: str = Field(
        default="gb200",
        json_schema_extra={"catalog": "dies"},
        description="Catalog accelerator package made (dies, interposer, HBM stacks).",
    )
    packaging: str | None = Field(
        default=None,
        json_schema_extra={"catalog": "packaging"},
        description="Catalog packaging kind; default the package's own.",
    )
    memory: str | None = Field(
        default=None,
        json_schema_extra={"catalog": "hbm"},
        description="Catalog HBM stack kind; default the package's own.",
    )
    split: Literal["balanced"] | Split = Field(
        default="balanced",
        description="Capital shares by leg, or 'balanced' (equal accelerator capacity per leg).",
    )
    yield_model: Literal["murphy", "poisson"] = Field(default="murphy", description="Die yield model.")
    defect_density_per_cm2: Num | None = Field(
        default=None, description="Logic defect density; replaces the fab's."
    )
    capex_multiplier: Num = Field(default=1.0, description="Scales every leg's capex per unit of capacity.")
    delay_quarters: Num = Field(default=0.0, description="Quarters added to every leg's construction time.")
    vendor_share: Num | None = Field(
        default=None,
        description="Share of the accelerators made that the campuses' vendor sells; default Nvidia's 80%.",
    )
    years: int = Field(
        default=10, ge=1, le=40, description="Years of supply modelled from the first capital year."
    )

    @field_validator("capital_usd_by_year")
    @classmethod
    def _capital(cls, value: dict[int, float]) -> dict[int, float]:
        return _check_years(value, "the capital")


class Supply(Section):
    """Where the programme's accelerators come from: a fixed schedule or a fab plan."""

    buyer_share: Num = Field(
        default=1.0, description="Share of the accelerators supplied that go to this programme."
    )
    schedule: Schedule | None = Field(default=None, description="A fixed schedule of accelerators.")
    fabs: FabPlan | None = Field(default=None, description="The supply stage with a fab plan.")

    @model_validator(mode="after")
    def _one_source(self) -> Supply:
        if (self.schedule is None) == (self.fabs is None):
            raise ValueError("give exactly one of schedule or fabs")
        return self


class RealisedProgramme(Protocol):
    """A programme as its run reads it, after ``realise``: the sections of :class:`ProgrammeSpec`, with every
    ``Num`` field a float64 array of shape (draw,) (sections typed ``Any`` for that reason)."""

    kind: str
    name: str
    description: str
    start: str
    capital: Any
    campuses: list[Any]
    supply: Any
    valuation_usd: Any
    catalog: dict[str, list[dict[str, Any]]]


class ProgrammeSpec(Section):
    """A programme: campuses, their capital and the supply of accelerators they share."""

    kind: Literal["programme"] = Field(description="Marks the file as a programme.")
    name: str = Field(description="Name of the programme.")
    description: str = Field(default="", description="Free text.")
    start: YearMonth = Field(default="2025-01", description="Month 0 of the programme calendar (YYYY-MM).")
    capital: Capital | None = Field(default=None, description="The capital envelope and its phasing.")
    campuses: list[CampusEntry] = Field(min_length=1, description="The campuses of the programme.")
    supply: Supply | None = Field(default=None, description="The shared supply; none means unconstrained.")
    valuation_usd: Positive | None = Field(
        default=None, description="The company's stated valuation, to set its rolled-up cash flows against.")
    catalog: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Rows that add to or replace catalog rows by id, per table."
    )
