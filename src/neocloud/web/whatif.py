"""What if: a scenario's main inputs changed, run again, and the figures and chart series the dashboard shows.

The dashboard changes a handful of inputs (system, accelerator count, buildings, power price, price per
GPU-hour, utilisation, discount rate). ``apply_inputs`` writes them into the scenario's data, so every
change is an ordinary, validated scenario; ``preview`` runs it and returns the summary and the series.

A preview is named by the scenario it makes, so that requests making the same scenario share one answer
(cached, or the one run in flight); it reruns only the stages downstream of what changed (a finance input
reruns finance alone, the power price energy onwards) from the base run's cached stages, in a pool of
workers sized to the machine (processes under ``neocloud serve``, each keeping its own base runs), at a
bounded number of draws, and keeps recent runs and answers in caches bounded in bytes. Only a
``ScenarioError`` is the user's mistake: anything else raised while a scenario runs is a fault of the code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml
from pydantic import BaseModel, ConfigDict, Field

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.load import parse_yaml, validate
from neocloud.pipeline import STAGES, Results
from neocloud.pipeline import run as run_pipeline
from neocloud.scenario import Dist, Finance, Scenario
from neocloud.uncertainty import quantiles

SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where built
PACKAGE_DEFAULT = Path(__file__).parent / "static" / "default-scenario.yaml"
REPOSITORY_EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

MAX_PREVIEW_DRAWS = 200  # previews run at most this many draws, whatever the server allows for kept runs
DEFAULT_CACHE_BYTES = 256 * 2**20  # the preview caches together hold at most this many bytes
# The first pipeline stage that reads each dashboard input: a change reruns that stage and those after it.
FIRST_STAGE = {
    "system": "design",
    "accelerators": "design",
    "buildings": "design",
    "power_price_usd_per_mwh": "energy",
    "price_usd_per_gpu_hour": "finance",
    "utilisation": "finance",
    "discount_rate": "finance",
}
STAGE_NAMES = [name for name, _ in STAGES]

# Keys whose names say they name a file or folder: the API never reads or writes a path a request names.
PATH_SUFFIXES = ("_file", "_path", "_folder", "_dir", "_directory")


class Inputs(BaseModel):
    """The dashboard's inputs; each one left out keeps the scenario's own value."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(default=None, max_length=100, description="Catalog system id for every phase.")
    accelerators: int | None = Field(
        default=None,
        ge=1,
        le=5_000_000,
        description="Accelerators on the campus, spread over the phases as before.",
    )
    buildings: int | None = Field(
        default=None, ge=1, le=1000, description="Buildings on the campus, spread over the phases as before."
    )
    power_price_usd_per_mwh: float | None = Field(
        default=None, ge=0, le=5000, description="Delivered power price (USD/MWh)."
    )
    price_usd_per_gpu_hour: float | None = Field(
        default=None, ge=0, le=1000, description="Price a GPU-hour sells for (USD)."
    )
    utilisation: float | None = Field(
        default=None, ge=0, le=1, description="Share of GPU-hours sold (fraction)."
    )
    discount_rate: float | None = Field(
        default=None, ge=-0.5, le=1, description="Discount rate per year (fraction)."
    )


# Inputs written straight into ``finance`` (when this version's scenario format has the field).
FINANCE_INPUTS = ("power_price_usd_per_mwh", "price_usd_per_gpu_hour", "utilisation", "discount_rate")


def supported_inputs() -> list[str]:
    """The inputs this version's scenario format can take (a finance field the format lacks is left out)."""
    return [
        "system",
        "accelerators",
        "buildings",
        *(name for name in FINANCE_INPUTS if name in Finance.model_fields),
    ]


@dataclass(frozen=True)
class Example:
    """A scenario the dashboard offers: its id (file stem), name, description and text."""

    id: str
    name: str
    description: str
    text: str


def read_examples(folder: Path | None = REPOSITORY_EXAMPLES) -> dict[str, Example]:
    """The shipped default scenario and every campus scenario in ``folder`` that validates, by id."""
    found: dict[str, Example] = {}
    candidates = [("default", PACKAGE_DEFAULT)]
    if folder is not None and folder.is_dir():
        candidates += [(path.stem, path) for path in sorted(folder.glob("*.yaml"))]
    for example_id, path in candidates:
        text = path.read_text(encoding="utf-8")
        try:
            data, lines, _ = parse_yaml(text, path.name)
            scenario = validate(data, path.name, lines)
        except ScenarioError:
            continue  # not a campus scenario (a programme or portfolio file, say)
        found[example_id] = Example(example_id, scenario.name, scenario.description, text)
    return found


def reject_paths(data: Any, where: str = "") -> None:
    """Raise a ScenarioError when uploaded data names a file or folder (the API never opens one)."""
    if isinstance(data, dict):
        for key, value in data.items():
            field = f"{where}.{key}" if where else str(key)
            if str(key).endswith(PATH_SUFFIXES):
                raise ScenarioError(
                    "names a file or folder; the API never reads or writes a path a request names",
                    field=field,
                    value=value,
                    allowed="the scenario's data inline",
                )
            reject_paths(value, field)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            reject_paths(item, f"{where}.{index}")


def parse_scenario(text: str, name: str = "upload") -> tuple[Scenario, dict[str, Any]]:
    """Parse and validate a scenario given as YAML or JSON text: the scenario and its raw data."""
    data, lines, _ = parse_yaml(text, name)
    reject_paths(data)
    return validate(data, name, lines), data


def _distribute(total: int, weights: Sequence[float], minimum: int = 1) -> list[int]:
    """Split ``total`` into whole parts proportional to ``weights``, each at least ``minimum``."""
    weights_array = np.maximum(np.asarray(weights, dtype=float), 0.0)
    if weights_array.sum() <= 0:
        weights_array = np.ones_like(weights_array)
    exact = total * weights_array / weights_array.sum()
    parts = np.maximum(np.floor(exact).astype(int), minimum)
    # hand the remainder to the largest fractional parts (largest remainder method)
    order = np.argsort(-(exact - np.floor(exact)))
    index = 0
    while parts.sum() < total and len(parts):
        parts[order[index % len(parts)]] += 1
        index += 1
    return [int(part) for part in parts]


def _replace_system(data: Any, old_systems: set[str], system: str) -> None:
    """Point every other ``system`` reference (deliveries, say) from the old systems to the new one."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "system" and isinstance(value, str) and value in old_systems:
                data[key] = system
            else:
                _replace_system(value, old_systems, system)
    elif isinstance(data, list):
        for item in data:
            _replace_system(item, old_systems, system)


def phase_accelerators(dataset: xr.Dataset) -> np.ndarray:
    """Accelerators per phase of a run (median over draws): the proportions a change keeps."""
    return np.asarray(np.median(np.asarray(dataset.variables["phase_accelerators"].values, dtype=float), axis=0))


def apply_inputs(data: dict[str, Any], inputs: Inputs, base_phases: Callable[[], np.ndarray],
                 catalog: Catalog) -> dict[str, Any]:
    """A copy of scenario data with the dashboard's inputs written in.

    Buildings and accelerators are spread over the phases in the proportions of the base run
    (``base_phases()``: its accelerators per phase, asked for only when the campus changes); a phase
    sized by a power envelope becomes a phase sized by systems per building.
    """
    changed = copy.deepcopy(data)
    given = inputs.model_dump(exclude_none=True)
    unsupported = sorted(set(given) - set(supported_inputs()))
    if unsupported:
        raise ScenarioError(
            "is not an input of this version's scenario format",
            field=f"inputs.{unsupported[0]}",
            allowed=", ".join(supported_inputs()),
        )
    phases = changed["campus"]["phases"]
    if {"system", "accelerators", "buildings"} & set(given):
        base_accelerators = base_phases()
        buildings = [int(phase.get("buildings", 1)) for phase in phases]
        per_building = [
            float(count) / max(count_buildings, 1)
            for count, count_buildings in zip(base_accelerators, buildings, strict=True)
        ]
        if "buildings" in given:
            buildings = _distribute(given["buildings"], buildings)
        targets = [per * count for per, count in zip(per_building, buildings, strict=True)]
        if "accelerators" in given:
            targets = [float(part) for part in _distribute(given["accelerators"], targets, minimum=0)]
        if "system" in given:
            catalog.row("systems", given["system"], field="inputs.system")
            old_systems = {str(phase["system"]) for phase in phases}
            for section, content in changed.items():
                if section not in ("campus", "catalog"):
                    _replace_system(content, old_systems, given["system"])
        for phase, count_buildings, target in zip(phases, buildings, targets, strict=True):
            if "system" in given:
                phase["system"] = given["system"]
            per_system = catalog.value("systems", str(phase["system"]), "accelerators_per_system")
            phase["buildings"] = count_buildings
            phase["systems_per_building"] = max(1, round(target / (count_buildings * per_system)))
            phase.pop("power_envelope_mw", None)
    finance = changed.setdefault("finance", {})
    for name in FINANCE_INPUTS:
        if name in given:
            finance[name] = given[name]
    return changed


def _series(array: xr.Variable) -> dict[str, list[float | None]]:
    """P10, P50 and P90 over draws of a (draw, ...) variable, as JSON lists (NaN as null)."""
    values = np.asarray(array.values, dtype=float).reshape(array.sizes["draw"], -1)
    quantiles = np.nanpercentile(values, [10, 50, 90], axis=0) if values.shape[0] > 1 else np.repeat(values, 3, axis=0)
    return {
        name: [None if not np.isfinite(value) else round(float(value), 6) for value in row]
        for name, row in zip(("p10", "p50", "p90"), quantiles, strict=True)
    }


MONTHLY = (
    "accelerators_online",
    "facility_power_online_mw",
    "it_power_online_mw",
    "facility_energy_mwh",
    "energy_cost_usd",
    "co2_t",
    "bf16_pflops_online",
)
BY_PHASE = ("phase_it_power_mw", "phase_cooling_power_mw", "phase_electrical_loss_mw", "phase_accelerators")
CAPEX = (("capex_it_usd", "IT"), ("capex_facility_usd", "Facility"), ("capex_land_usd", "Land"))


def charts(dataset: xr.Dataset) -> dict[str, Any]:
    """The series the dashboard draws: monthly build-out, power and energy; power by phase; capex split."""
    out: dict[str, Any] = {
        "dates": [str(date)[:7] for date in dataset["date"].values],
        "phases": [str(name) for name in dataset["phase"].values],
        "monthly": {},
        "by_phase": {},
        "capex_usd": {},
    }
    variables = dataset.variables  # plain variables: no DataArray (and its coordinates) built per name
    for name in MONTHLY:
        if name in variables and variables[name].dims == ("draw", "month"):
            out["monthly"][name] = _series(variables[name])
    for name in BY_PHASE:
        if name in variables and variables[name].dims == ("draw", "phase"):
            out["by_phase"][name] = _series(variables[name])["p50"]
    for name, label in CAPEX:
        if name in variables and variables[name].dims == ("draw",):
            out["capex_usd"][label] = _series(variables[name])["p50"][0]
    return out


def current_inputs(scenario: Scenario, summary: dict[str, Any], dataset: xr.Dataset) -> dict[str, Any]:
    """The values the dashboard's inputs show for a run (medians where an input is uncertain)."""
    systems = sorted({phase.system for phase in scenario.campus.phases})
    values: dict[str, Any] = {
        "system": systems[0] if len(systems) == 1 else None,
        "systems": systems,
        "accelerators": summary.get("accelerators"),
        "buildings": sum(phase.buildings for phase in scenario.campus.phases),
    }
    if "power_price_usd_per_mwh" in dataset:
        values["power_price_usd_per_mwh"] = float(np.median(dataset["power_price_usd_per_mwh"].values))
    for name in ("price_usd_per_gpu_hour", "utilisation", "discount_rate"):
        if name in Finance.model_fields:
            value = getattr(scenario.finance, name)
            if isinstance(value, Dist):  # an uncertain input shows its median
                value = float(quantiles(value, np.array([0.5]))[0])
            values[name] = float(value) if isinstance(value, int | float) else None
    return values


def run_checked(scenario: Scenario, draws: int, seed: int, catalog: Catalog | None = None) -> Results:
    """Run the pipeline with numpy's floating-point warnings silenced (a NaN or infinity in a result is
    reported as null). Only a ``ScenarioError`` is the user's mistake; anything else raised is a fault
    of the code, raised as it is (the server answers it with a logged, counted 500)."""
    with np.errstate(all="ignore"):
        return run_pipeline(scenario, draws=draws, seed=seed, catalog=catalog)
