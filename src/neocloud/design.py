"""Design: what is physically built, per phase and for the campus.

Counts to power, on four bases: critical IT at the systems' rated input (plus the scale-out network and
storage per accelerator); facility power at full IT load in an ordinary hour (annual-mean PUE); the
design-day facility peak that sizes the cooling plant; and the utility capacity requested, a margin above
the peak. The draw on the design day at typical training load is what the grid and on-site plant must
supply. Power to counts: the largest whole number of systems whose design-day facility load fits a
building's power envelope. Method: docs/methods/design.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neocloud.catalog import Catalog, load_catalog
from neocloud.errors import ScenarioError
from neocloud.load import check_references
from neocloud.realise import realise
from neocloud.scenario import Campus, Realised, Scenario
from neocloud.units import KW_PER_MW, MONTHS_PER_YEAR, W_PER_KW

READS: tuple[str, ...] = ()  # the scenario and the catalog only

if TYPE_CHECKING:
    import xarray as xr

DEFAULT_CLIMATE = "abilene-tx"  # a hot design day: a conservative answer when no site is given
DEFAULT_COOLING = "direct-liquid"  # what new AI campuses build
# The bases on which power is reported; it <= facility <= facility peak <= utility always holds.
POWER_BASES = {
    "it_power_mw": "critical IT at the systems' rated input, with network and storage",
    "facility_power_mw": "facility at full IT load in an ordinary hour (annual-mean PUE)",
    "facility_peak_power_mw": "facility at full IT load on the design day (sizes the cooling plant)",
    "design_day_draw_mw": "facility draw on the design day at typical training load (what supply must meet)",
    "utility_capacity_mw": "grid or plant capacity requested: the design-day peak with a planning margin",
}
MONTH_COLUMNS = ("jan_c", "feb_c", "mar_c", "apr_c", "may_c", "jun_c",
                 "jul_c", "aug_c", "sep_c", "oct_c", "nov_c", "dec_c")


def pue_at(cooling: Any, temperature_c: np.ndarray | float) -> np.ndarray:
    """Total PUE of a cooling technology (catalog row) at outdoor dry-bulb temperatures in °C."""
    excess = np.maximum(0.0, np.asarray(temperature_c, dtype=float) - float(cooling["free_cooling_below_c"]))
    return np.minimum(float(cooling["pue_max"]), float(cooling["pue_min"]) + float(cooling["pue_slope_per_c"]) * excess)


def monthly_temperatures_c(climate: Any) -> np.ndarray:
    """The twelve monthly mean dry-bulb temperatures of a climate row, January first (°C)."""
    return np.array([float(climate[column]) for column in MONTH_COLUMNS])


def system_it_power_kw(system: Any, network: Any, storage: Any | None, column: str = "max_power_kw") -> float:
    """IT power of one system (kW): its input (``max_power_kw``, rated, or ``typical_power_kw``, at typical
    training load) plus its share of network and storage."""
    per_accelerator_w = float(network["power_w_per_accelerator"])
    if storage is not None:
        per_accelerator_w += float(storage["power_w_per_accelerator"])
    return float(system[column]) + float(system["accelerators_per_system"]) * per_accelerator_w / W_PER_KW


def check_cooling(system: Any, cooling: Any, system_id: str, cooling_id: str, field: str) -> None:
    """Raise when the cooling technology cannot cool the system's racks."""
    rack_kw = float(system["max_power_kw"]) / float(system["racks_per_system"])
    if str(system.get("liquid_cooling_required", "false")).lower() == "true" and cooling_id in ("air",):
        raise ScenarioError(
            f"{system_id} needs liquid cooling ({rack_kw:.0f} kW per rack) but the campus is cooled by {cooling_id}",
            field=field, value=cooling_id, allowed="rdhx, direct-liquid, immersion")
    if rack_kw > float(cooling["max_rack_kw"]):
        raise ScenarioError(
            f"{system_id} needs {rack_kw:.0f} kW per rack but {cooling_id} cools at most "
            f"{float(cooling['max_rack_kw']):.0f} kW per rack", field=field, value=cooling_id)


def phase_counts(campus: Any, catalog: Catalog, cooling: Any, network: Any, storage: Any | None,
                 design_pue: float) -> dict[str, list[float]]:
    """Per phase: buildings, systems, accelerators, racks and IT kW per system (rated and typical); systems
    from the count given or from the power envelope, which must hold on the design day."""
    per_phase: dict[str, list[float]] = {key: [] for key in (
        "buildings", "systems", "accelerators", "racks", "it_kw_per_system", "typical_kw_per_system")}
    for index, phase in enumerate(campus.phases):
        field = f"campus.phases.{index}"
        system = catalog.row("systems", phase.system, field=f"{field}.system")
        check_cooling(system, cooling, phase.system, campus.cooling, "campus.cooling")
        it_kw = system_it_power_kw(system, network, storage)
        facility_kw = it_kw * design_pue
        if phase.systems_per_building is not None:
            per_building = phase.systems_per_building
        else:
            per_building = math.floor(phase.power_envelope_mw * KW_PER_MW / facility_kw)
            if per_building < 1:
                raise ScenarioError(
                    f"power_envelope_mw={phase.power_envelope_mw:g} but one {phase.system} needs "
                    f"{facility_kw / KW_PER_MW:.3f} MW of facility power at the design day",
                    field=f"{field}.power_envelope_mw", value=phase.power_envelope_mw)
        systems = per_building * phase.buildings
        per_phase["buildings"].append(phase.buildings)
        per_phase["systems"].append(systems)
        per_phase["accelerators"].append(systems * float(system["accelerators_per_system"]))
        per_phase["racks"].append(math.ceil(systems * float(system["racks_per_system"])))
        per_phase["it_kw_per_system"].append(it_kw)
        per_phase["typical_kw_per_system"].append(system_it_power_kw(system, network, storage, "typical_power_kw"))
    return per_phase



@dataclass(frozen=True)
class DesignInputs:
    """What the design of a campus rests on: per-phase counts and kW per system, PUEs, loss and margin."""

    per_phase: dict[str, list[float]]
    design_pue: float
    monthly_pue: np.ndarray
    annual_pue: float
    loss_frac: float
    margin: float


def design_inputs(scenario: Realised, catalog: Catalog) -> DesignInputs:
    """The per-phase counts, PUEs (design day, by month, annual mean), loss fraction and capacity margin."""
    campus, site = scenario.campus, scenario.site
    cooling = catalog.row("cooling", campus.cooling, field="campus.cooling")
    climate = catalog.row("climates", site.climate, field="site.climate")
    network = catalog.row("fabrics", campus.network, field="campus.network")
    storage = catalog.row("fabrics", campus.storage, field="campus.storage") if campus.storage else None
    design_pue = float(pue_at(cooling, float(climate["design_day_c"])))
    monthly_pue = pue_at(cooling, monthly_temperatures_c(climate))
    return DesignInputs(
        per_phase=phase_counts(campus, catalog, cooling, network, storage, design_pue),
        design_pue=design_pue, monthly_pue=monthly_pue, annual_pue=float(monthly_pue.mean()),
        loss_frac=catalog.value("parameters", "electrical_loss_frac"),
        margin=catalog.value("parameters", "utility_capacity_margin"))


def phase_power_mw(inputs: DesignInputs) -> dict[str, np.ndarray]:
    """Per phase, in MW: critical IT, cooling, electrical losses and the facility in an ordinary hour
    (annual-mean PUE), the facility on the design day, and the design-day draw at typical load."""
    systems = np.asarray(inputs.per_phase["systems"], dtype=float)
    it_mw = systems * np.asarray(inputs.per_phase["it_kw_per_system"], dtype=float) / KW_PER_MW
    typical_mw = systems * np.asarray(inputs.per_phase["typical_kw_per_system"], dtype=float) / KW_PER_MW
    facility_mw = it_mw * inputs.annual_pue
    losses_mw = it_mw * inputs.loss_frac
    return {
        "phase_it_power_mw": it_mw,
        "phase_cooling_power_mw": facility_mw - it_mw - losses_mw,
        "phase_electrical_loss_mw": losses_mw,
        "phase_facility_power_mw": facility_mw,
        "phase_facility_peak_power_mw": it_mw * inputs.design_pue,
        "phase_design_day_draw_mw": typical_mw * inputs.design_pue,
    }


def design(scenario: Realised, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Per phase and per campus: systems, accelerators, racks, IT, cooling, losses and facility MW, PUE."""
    import xarray as xr  # imported here: ``neocloud size`` runs without xarray

    draws = upstream.sizes["draw"]
    inputs = design_inputs(scenario, catalog)
    per_phase, design_pue, monthly_pue, annual_pue = (inputs.per_phase, inputs.design_pue, inputs.monthly_pue,
                                                      inputs.annual_pue)
    phases = [phase.name for phase in scenario.campus.phases]
    ones = np.ones((draws, 1))

    def per_phase_array(values: list[float] | np.ndarray) -> xr.DataArray:
        return xr.DataArray(ones * np.asarray(values, dtype=float)[None, :], dims=("draw", "phase"))

    out = xr.Dataset(
        {
            "phase_buildings": per_phase_array(per_phase["buildings"]),
            "phase_systems": per_phase_array(per_phase["systems"]),
            "phase_accelerators": per_phase_array(per_phase["accelerators"]),
            "phase_racks": per_phase_array(per_phase["racks"]),
            **{name: per_phase_array(values) for name, values in phase_power_mw(inputs).items()},
            "pue_by_month_of_year": xr.DataArray(np.broadcast_to(monthly_pue, (draws, MONTHS_PER_YEAR)).copy(),
                                                 dims=("draw", "month_of_year")),
        },
        coords={"phase": phases, "month_of_year": np.arange(1, MONTHS_PER_YEAR + 1)},
    )
    campus_totals = {
        "accelerators": ("accelerators", "phase_accelerators", 1),
        "systems": ("systems", "phase_systems", 1),
        "racks": ("racks", "phase_racks", 1),
        "it_power_mw": ("MW", "phase_it_power_mw", 0),
        "facility_power_mw": ("MW", "phase_facility_power_mw", 0),
        "facility_peak_power_mw": ("MW", "phase_facility_peak_power_mw", 0),
        "design_day_draw_mw": ("MW", "phase_design_day_draw_mw", 0),
    }
    for key, (unit, source, integer) in campus_totals.items():
        out[key] = out[source].sum("phase")
        out[key].attrs.update(summary=1, units=unit, integer=integer)
    out["pue"] = xr.DataArray(np.full(draws, annual_pue), dims="draw",
                              attrs={"summary": 1, "units": "-",
                                     "long_name": "annual mean PUE at monthly mean temperatures"})
    out["design_pue"] = xr.DataArray(np.full(draws, design_pue), dims="draw",
                                     attrs={"summary": 1, "units": "-",
                                            "long_name": "PUE at the design-day temperature"})
    out["utility_capacity_mw"] = out["facility_peak_power_mw"] * inputs.margin
    out["utility_capacity_mw"].attrs.update(summary=1, units="MW")
    for key, text in POWER_BASES.items():
        out[key].attrs["long_name"] = text
    return out


def default_system(accelerator: str, catalog: Catalog) -> str:
    """The catalog system that carries ``accelerator`` (the first one listed)."""
    catalog.row("accelerators", accelerator, field="accelerator")
    systems = [catalog.row("systems", system_id) for system_id in catalog.ids("systems")]
    matching = [system.name for system in systems if system["accelerator"] == accelerator]
    if not matching:
        raise ScenarioError(f"no catalog system carries {accelerator}", field="accelerator", value=accelerator,
                            allowed=", ".join(sorted({str(system["accelerator"]) for system in systems})))
    return str(matching[0])


def size(accelerator: str, count: int, climate: str | None = None, cooling: str | None = None,
         catalog: Catalog | None = None, network: str | None = None) -> dict[str, float | int]:
    """The design keys (MW, counts, PUE) of a one-building campus of ``count`` accelerators."""
    catalog = catalog or load_catalog()
    if count < 1:
        raise ScenarioError("must be at least 1", field="count", value=count)
    system_id = default_system(accelerator, catalog)
    system = catalog.row("systems", system_id)
    systems = math.ceil(count / float(system["accelerators_per_system"]))
    climate = climate or DEFAULT_CLIMATE
    cooling = cooling or DEFAULT_COOLING
    region = catalog.ids("regions")[0]
    scenario = Scenario.model_validate({
        "name": f"{count} {accelerator}",
        "site": {"location": "-", "climate": climate, "region": region},
        "campus": {"cooling": cooling, "network": network or Campus.model_fields["network"].default,
                   "phases": [{"name": "all", "system": system_id,
                                                   "systems_per_building": systems}]},
    })
    check_references(scenario, catalog, "<size>", {})
    inputs = design_inputs(realise(scenario), catalog)
    counts = {key: int(np.sum(inputs.per_phase[key])) for key in ("accelerators", "systems", "racks")}
    power = {key: float(np.sum(values)) for key, values in phase_power_mw(inputs).items()}
    peak_mw = power["phase_facility_peak_power_mw"]
    return {
        **counts, "it_power_mw": power["phase_it_power_mw"], "facility_power_mw": power["phase_facility_power_mw"],
        "pue": inputs.annual_pue, "design_pue": inputs.design_pue, "utility_capacity_mw": peak_mw * inputs.margin,
        "facility_peak_power_mw": peak_mw, "design_day_draw_mw": power["phase_design_day_draw_mw"],
    }
