"""The pipeline: a scenario through every stage, in order, into one Dataset with ``draw`` and ``month``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neocloud.blocks import in_draw_blocks
from neocloud.buildout import buildout
from neocloud.catalog import Catalog
from neocloud.checks import check_first_power, check_results
from neocloud.compute import compute
from neocloud.design import design
from neocloud.energy import energy
from neocloud.errors import ScenarioError
from neocloud.finance import finance
from neocloud.inference import inference
from neocloud.io import write_atomic, write_atomic_with
from neocloud.load import load, scenario_catalog
from neocloud.reliability import reliability
from neocloud.scenario import Scenario
from neocloud.uncertainty import realise, uncertain_inputs
from neocloud.units import MONTHS_PER_YEAR

Stage = Callable[[Any, Catalog, xr.Dataset], xr.Dataset]
STAGES: tuple[tuple[str, Stage], ...] = (
    ("design", design),
    ("buildout", in_draw_blocks(buildout)),  # per-draw arithmetic on cache-sized blocks: same bits
    ("energy", energy),
    ("compute", compute),
    ("reliability", reliability),
    ("finance", finance),
    ("inference", inference),
)

# DESIGN.md's JSON keys, in its order; other summary variables follow in the order the stages add them.
CONTRACT_KEYS = (
    "accelerators", "systems", "racks", "it_power_mw", "facility_power_mw", "pue", "first_power_month",
    "full_capacity_month", "annual_energy_mwh", "capex_usd", "capex_it_usd", "capex_facility_usd",
    "opex_usd_per_year", "cost_usd_per_gpu_hour", "npv_usd", "equity_irr", "min_dscr", "peak_bf16_pflops",
)

# Summary keys that add up across campuses (a programme's or a plan's totals).
ADDITIVE_KEYS = (
    "accelerators", "systems", "racks", "it_power_mw", "facility_power_mw", "facility_peak_power_mw",
    "utility_capacity_mw",
    "annual_energy_mwh", "capex_usd", "capex_it_usd", "capex_facility_usd", "capex_land_usd", "capex_power_usd",
    "opex_usd_per_year", "annualised_capex_usd_per_year", "energy_cost_usd_per_year", "co2_t_per_year",
    "peak_bf16_pflops", "serving_accelerators", "tokens_per_s",
)

# Summary keys added under a clearer name (new -> old); the old key stays, with the same value.
RENAMED_KEYS = {"peak_facility_draw_mw": "peak_facility_power_mw"}


class Results:
    """What a run produced: the scenario, its Dataset (``draw`` x ``month`` and more) and its summary."""

    def __init__(self, scenario: Scenario, dataset: xr.Dataset, draws: int, seed: int,
                 source_text: str | None = None) -> None:
        self.scenario = scenario
        self.dataset = dataset
        self.draws = draws
        self.seed = seed
        self.source_text = source_text
        self.notes: list[str] = []
        self.path: str | None = None  # the scenario file, when the run was given one

    def summary(self) -> dict[str, Any]:
        """The JSON summary: medians over draws, with ``_p10``/``_p90`` twins when there are draws.

        Where more draws were asked for than were computed (nothing uncertain), ``draws`` is the number
        asked for (so the twins are there) and ``draws_computed`` says how many were run (only then).
        """
        requested = int(self.dataset.attrs.get("draws_requested", self.draws))
        out = summarise(self.dataset, self.scenario.name, requested)
        if requested != self.draws:
            out["draws_computed"] = self.draws
        return out

    def write(self, folder: str | Path, report: Callable[[Results], str] | None = None) -> dict[str, Path]:
        """Write ``summary.json``, ``results.nc`` and (given a renderer) ``report.html`` atomically."""
        folder = Path(folder)
        paths = {"summary": write_atomic(folder / "summary.json", json.dumps(self.summary(), indent=2) + "\n"),
                 "results": write_atomic_with(folder / "results.nc", lambda tmp: to_netcdf(self.dataset, tmp))}
        if report is not None:
            paths["report"] = write_atomic(folder / "report.html", report(self))
        return paths


# Variables with at least this many values are written zlib-compressed (about 3.5x smaller for many draws).
COMPRESS_FROM_VALUES = 1024


def to_netcdf(dataset: xr.Dataset, path: Path) -> None:
    """Write a results Dataset to netCDF (h5netcdf), with string coordinates made plain and large
    numeric variables compressed (zlib, level 1: any netCDF-4 reader opens them)."""
    clean = dataset.copy()
    for name, variable in clean.variables.items():
        clean[name].attrs = {key: value for key, value in variable.attrs.items()
                             if isinstance(value, str | int | float)}
    encoding = {name: {"zlib": True, "complevel": 1} for name, variable in clean.data_vars.items()
                if variable.size >= COMPRESS_FROM_VALUES and variable.dtype.kind in "fiub"}
    clean.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def summary_keys(dataset: xr.Dataset) -> list[str]:
    """Names of the summary variables (dims exactly ``draw``, ``attrs['summary'] == 1``), contract keys first."""
    marked = [name for name, variable in dataset.data_vars.items()
              if variable.dims == ("draw",) and variable.attrs.get("summary") == 1]
    return [key for key in CONTRACT_KEYS if key in marked] + [key for key in marked if key not in CONTRACT_KEYS]


def _number(value: float, integer: bool) -> float | int | None:
    if not np.isfinite(value):
        return None
    return round(value) if integer else float(value)


def summarise(dataset: xr.Dataset, name: str, draws: int) -> dict[str, Any]:
    """Medians (and P10/P90 with several draws) of every summary variable, as plain JSON numbers."""
    out: dict[str, Any] = {"scenario": name}
    for key in summary_keys(dataset):
        values = np.asarray(dataset[key].values, dtype=float)
        integer = dataset[key].attrs.get("integer") == 1
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            out[key] = None
            if draws > 1:
                out[f"{key}_p10"] = out[f"{key}_p90"] = None
            continue
        p10, p50, p90 = np.percentile(finite, [10, 50, 90]) if draws > 1 else (finite[0],) * 3
        out[key] = _number(p50, integer)
        if draws > 1:
            out[f"{key}_p10"] = _number(p10, integer)
            out[f"{key}_p90"] = _number(p90, integer)
    out["draws"] = draws
    return out


def base_dataset(scenario: Scenario, draws: int) -> xr.Dataset:
    """The coordinates every stage shares: ``draw``, ``month`` (with its calendar ``date``) and ``phase``."""
    months = scenario.finance.horizon_years * MONTHS_PER_YEAR
    start = np.datetime64(scenario.start, "M")
    dates = (start + np.arange(months)).astype("datetime64[ns]")
    return xr.Dataset(coords={"draw": np.arange(draws), "month": np.arange(months),
                              "date": ("month", dates),
                              "phase": [phase.name for phase in scenario.campus.phases]})


def run(scenario_or_path: Scenario | str | Path, draws: int = 1, seed: int = 0,
        catalog: Catalog | None = None, one_draw_if_certain: bool = False) -> Results:
    """Run a scenario (or the file at a path) through every stage for ``draws`` draws from ``seed``.

    When nothing in the scenario is uncertain every draw is the same: ``Results.notes`` says so, and with
    ``one_draw_if_certain`` (the CLI's choice) one draw is computed instead of ``draws``.
    """
    source_text = None
    if isinstance(scenario_or_path, str | Path):
        scenario = load(scenario_or_path, catalog)
        source_text = Path(scenario_or_path).read_text(encoding="utf-8")
    else:
        scenario = scenario_or_path
    catalog = catalog or scenario_catalog(scenario)
    requested, notes = draws, []
    if draws > 1 and not uncertain_inputs(scenario):
        hint = "(give a distribution, e.g. {dist: lognormal, median: 16, sigma: 0.15}, to vary an input)"
        if one_draw_if_certain:
            draws = 1
            notes.append(f"nothing in {scenario.name} is uncertain: one draw is computed instead of "
                         f"{requested:,} {hint}")
        else:
            notes.append(f"nothing in {scenario.name} is uncertain: the {requested:,} draws are identical {hint}")
    try:  # a stage's error names the field; the file is known here
        dataset = evaluate(scenario, realise(scenario, draws, seed), catalog, draws)
        check_results(scenario, dataset)
    except ScenarioError as err:
        raise err.located(str(scenario_or_path) if isinstance(scenario_or_path, str | Path) else None) from None
    dataset.attrs.update(scenario=scenario.name, draws=draws, seed=seed, draws_requested=requested)
    results = Results(scenario, dataset, draws, seed, source_text)
    results.notes = notes
    results.path = str(scenario_or_path) if isinstance(scenario_or_path, str | Path) else None
    return results


def evaluate(scenario: Scenario, realised: Any, catalog: Catalog, draws: int) -> xr.Dataset:
    """Every stage, in order, on an already realised scenario (each ``Num`` an array of shape (draw,))."""
    dataset = base_dataset(scenario, draws)
    for name, stage in STAGES:
        dataset = dataset.merge(stage(realised, catalog, dataset), compat="override")
        if name == "buildout":  # refused before later stages price a campus that never powers on
            check_first_power(scenario, dataset)
    return with_renamed_keys(dataset)


def with_renamed_keys(dataset: xr.Dataset) -> xr.Dataset:
    """The dataset with each key added under a clearer name (``RENAMED_KEYS``) beside the kept one."""
    for new_key, old_key in RENAMED_KEYS.items():
        if old_key in dataset:
            dataset[new_key] = dataset[old_key].copy()
    return dataset
