"""The scenario format: one validated, frozen description of a campus (pydantic v2)."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import Field

from neocloud.calendar import months_between
from neocloud.scenario.buildout import Buildout
from neocloud.scenario.campus import Campus, Phase
from neocloud.scenario.finance import Finance
from neocloud.scenario.power import PowerSupply
from neocloud.scenario.site import Site
from neocloud.scenario.types import Dist, Num, Section, YearMonth
from neocloud.scenario.uncertainty import Uncertainty
from neocloud.scenario.workload import Workload

__all__ = ["Buildout", "Campus", "Dist", "Finance", "Num", "Phase", "PowerSupply", "Realised", "Scenario", "Site",
           "Uncertainty", "Workload", "YearMonth", "months_between"]


class Realised(Protocol):
    """A scenario as the stages read it, after ``realise``: the sections of :class:`Scenario`, with every
    ``Num`` field a float64 array of shape (draw,) in place of a number or a distribution.

    The sections are typed ``Any`` because their numbers are arrays here, not the ``float | Dist`` the
    input format declares; the names the stages may read are these.
    """

    name: str
    description: str
    start: str
    site: Any
    campus: Any
    buildout: Any
    power: Any
    workload: Any
    finance: Any
    uncertainty: Any
    catalog: dict[str, list[dict[str, Any]]]


class Scenario(Section):
    """A campus: where it is, what is built, when, how it is powered, used and paid for."""

    name: str = Field(description="Name of the scenario.")
    description: str = Field(default="", description="Free text.")
    start: YearMonth = Field(default="2025-01", description="Month 0 of the horizon (YYYY-MM).")
    site: Site
    campus: Campus
    buildout: Buildout = Field(default_factory=Buildout)
    power: PowerSupply = Field(default_factory=PowerSupply)
    workload: Workload = Field(default_factory=Workload)
    finance: Finance = Field(default_factory=Finance)
    uncertainty: Uncertainty = Field(default_factory=Uncertainty)
    catalog: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Rows that add to or replace catalog rows by id, per table.")
