"""When each phase is built, equipped and filled: construction, long-lead equipment, GPU deliveries."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from neocloud.calendar import check_quarter
from neocloud.catalog import world_default
from neocloud.scenario.types import Months, Num, Section, YearMonth

Quarter = Annotated[str, AfterValidator(check_quarter)]
"""A calendar quarter, ``YYYY-Qn``."""


class PhaseSchedule(Section):
    """Construction of one phase and the order of its long-lead equipment."""

    construction_start: YearMonth | None = Field(
        default=None, description="Month construction starts (YYYY-MM); default the scenario start."
    )
    construction_months: Months = Field(
        default=world_default("phase.construction_months"),
        description="Months from construction start to ready for power.",
    )
    equipment_ordered: YearMonth | None = Field(
        default=None,
        description="Month the phase's long-lead equipment (transformers, switchgear, chillers, "
        "generators) is ordered; default the construction start.",
    )
    after: str | None = Field(
        default=None,
        description="Name of an earlier phase that must start construction first and be energised "
        "no later than this one.",
    )


class GpuDelivery(Section):
    """Systems of one type delivered in one quarter (spread evenly over its three months)."""

    system: str = Field(json_schema_extra={"catalog": "systems"}, description="Catalog system id delivered.")
    quarter: Quarter = Field(description="Quarter of delivery, YYYY-Qn.")
    systems: Num = Field(
        description="Systems (servers or racks, as the catalog counts them) delivered that quarter."
    )


class EquipmentLead(Section):
    """A lead time that replaces the catalog's for one kind of equipment."""

    equipment: str = Field(json_schema_extra={"catalog": "equipment"}, description="Catalog equipment id.")
    lead_months: Months = Field(description="Months from order to delivery.")


class Buildout(Section):
    """Campus-wide build-out inputs shared by the phases."""

    delay_months: Months = Field(default=0.0, description="Slip added to every phase's construction (months).")
    install_racks_per_week: Num | None = Field(
        default=None,
        description="Racks the installation crews can place and commission per week, campus-wide; "
        "none means unconstrained.",
    )
    gpu_deliveries: list[GpuDelivery] = Field(
        default_factory=list,
        description="Supply schedule of systems by quarter; a system type with no rows "
        "here is delivered when needed.",
    )
    equipment_leads: list[EquipmentLead] = Field(
        default_factory=list, description="Lead times that replace the catalog's, by equipment id."
    )
