"""What is built: phases of identical buildings, their systems, cooling and fabrics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from neocloud.scenario.buildout import PhaseSchedule
from neocloud.scenario.types import Positive, Section


class Phase(Section):
    """A group of identical buildings: either a count of systems per building or a power envelope to fill."""

    name: str = Field(description="Name of the phase, unique in the campus.")
    buildings: int = Field(default=1, ge=1, le=100, description="Identical buildings in this phase.")
    system: str = Field(json_schema_extra={"catalog": "systems"},
                        description="Catalog system id, e.g. gb200-nvl72 or hgx-h100-8.")
    systems_per_building: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Systems installed per building; or give power_envelope_mw.")
    power_envelope_mw: float | None = Field(
        default=None, gt=0, le=100_000,
        description="Facility power per building (MW at the design day) to fill with systems.")
    system_price_usd: Positive | None = Field(default=None, description="Price per system; replaces the catalog's.")
    schedule: PhaseSchedule = Field(default_factory=PhaseSchedule, description="When the phase is built.")

    @model_validator(mode="after")
    def _size_given(self) -> Phase:
        if (self.systems_per_building is None) == (self.power_envelope_mw is None):
            raise ValueError("give exactly one of systems_per_building or power_envelope_mw")
        return self


class Campus(Section):
    """The buildings and the technologies shared by all of them."""

    cooling: str = Field(default="direct-liquid", json_schema_extra={"catalog": "cooling"},
                         description="Catalog cooling id: air, rdhx, direct-liquid, immersion.")
    network: str = Field(default="ib-ndr-400", json_schema_extra={"catalog": "fabrics"},
                         description="Catalog fabric id of the scale-out network.")
    storage: str | None = Field(default="nvme-flash", json_schema_extra={"catalog": "fabrics"},
                                description="Catalog fabric id of the storage tier.")
    phases: list[Phase] = Field(min_length=1, description="Groups of identical buildings.")
    building: Literal["new", "retrofit"] = Field(
        default="new",
        description="new: the shell is built; retrofit: an existing industrial building is converted, which "
        "pays the catalog's retrofit_shell_frac of a new shell (the power and cooling plant in full).")

    @model_validator(mode="after")
    def _unique_names(self) -> Campus:
        names = [phase.name for phase in self.phases]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"phase names must be unique; repeated: {', '.join(duplicated)}")
        return self
