"""Shared field types of the scenario format: uncertain numbers and months."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from neocloud.calendar import check_year_month

DistKind = Literal["uniform", "triangular", "normal", "lognormal", "pert", "choice", "empirical"]

_REQUIRED: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "pert": ("low", "mode", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sigma"),
    "choice": ("values",),
    "empirical": ("values",),
}


Finite = Annotated[float, Field(ge=-1e15, le=1e15, allow_inf_nan=False)]
"""A plain number of sensible size (parameters of distributions)."""


class Dist(BaseModel):
    """A probability distribution in place of a number.

    ``uniform`` (low, high), ``triangular`` and ``pert`` (low, mode, high), ``normal`` (mean, sd;
    optional low/high truncate), ``lognormal`` (median, sigma of the log), ``choice`` (values, optional
    weights), ``empirical`` (values: resampled as an empirical distribution).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist: DistKind = Field(
        description="Kind: uniform, triangular, pert, normal, lognormal, choice, empirical.")
    low: Finite | None = Field(
        default=None, description="Lowest value (uniform, triangular, pert); truncates a normal.")
    high: Finite | None = Field(
        default=None, description="Highest value (uniform, triangular, pert); truncates a normal.")
    mode: Finite | None = Field(default=None, description="Most likely value (triangular, pert).")
    mean: Finite | None = Field(default=None, description="Mean (normal).")
    sd: Finite | None = Field(default=None, ge=0, description="Standard deviation (normal).")
    median: Finite | None = Field(default=None, gt=0, description="Median (lognormal).")
    sigma: float | None = Field(default=None, ge=0, le=5, description="Standard deviation of the log (lognormal).")
    values: list[Finite] | None = Field(default=None, min_length=1,
                                       description="Possible values (choice) or observations (empirical).")
    weights: list[Finite] | None = Field(default=None, description="Relative weight of each value (choice).")

    @model_validator(mode="after")
    def _check(self) -> Dist:
        missing = [name for name in _REQUIRED[self.dist] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.dist} distribution needs {', '.join(missing)}")
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if self.dist in ("uniform", "triangular", "pert") and not low <= high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.dist == "normal" and not low < high:
            raise ValueError(f"a truncated normal needs low ({self.low}) below high ({self.high})")
        if self.dist == "normal" and self.sd == 0 and not low <= cast(float, self.mean) <= high:
            raise ValueError(f"a normal of sd 0 needs its mean ({self.mean}) between low and high")
        if self.dist in ("triangular", "pert") and not low <= cast(float, self.mode) <= high:
            raise ValueError(f"mode ({self.mode}) must lie between low ({self.low}) and high ({self.high})")
        if self.weights is not None:
            if self.values is None or len(self.weights) != len(self.values):
                raise ValueError("weights must have one entry per value")
            if min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative and not all zero")
        return self


Num = Annotated[float, Field(allow_inf_nan=False)] | Dist
"""A finite number, or a distribution of numbers (the ``draw`` axis)."""


def bounded(ge: float | None = None, le: float | None = None, gt: float | None = None,
            lt: float | None = None) -> Any:
    """A ``Num`` whose values (given or sampled) must lie within bounds: ``bounded(ge=0, le=1)``."""
    return Annotated[float, Field(ge=ge, le=le, gt=gt, lt=lt, allow_inf_nan=False)] | Dist


Fraction = bounded(ge=0, le=1)
"""A share between 0 and 1, or a distribution of shares."""
Rate = bounded(gt=-1, le=1)
"""A rate per year (discount, interest, growth), above -100% and at most 100%."""
Positive = bounded(gt=0, le=1e15)
"""A positive number (a price, a duration, a capacity)."""
NonNegative = bounded(ge=0, le=1e15)
"""A number that may be zero but not negative."""
MAX_MONTHS = 600
Months = bounded(ge=0, le=MAX_MONTHS)
"""A duration in months, from zero to fifty years (the longest horizon is forty)."""

YearMonth = Annotated[str, AfterValidator(check_year_month)]
"""A calendar month, ``YYYY-MM``."""


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)
