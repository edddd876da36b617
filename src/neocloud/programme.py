"""Programmes: what several campuses sharing one capital envelope and one supply of accelerators add up to.

Every campus runs through the campus pipeline. When the supply is short, phases are served in order of
priority and need date, and a phase that is short or late is passed back through its campus scenario
(fewer systems, a later construction start) and run again. The results are rolled up by month and year.
Method and format: docs/methods/programme.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pydantic import ValidationError

from neocloud.allocation import (
    allocate_phases,
    campus_deliveries,
    capex_by_month,
    constrained_scenario,
    monthly_supply,
    supply_start,
    to_calendar,
)
from neocloud.calendar import MONTHS_PER_QUARTER, add_months, months_between, months_into_quarter
from neocloud.catalog import Catalog, load_catalog
from neocloud.errors import ScenarioError
from neocloud.finance.portfolio import roll_up
from neocloud.io import write_atomic, write_atomic_with
from neocloud.load import (
    check_references,
    check_values,
    is_programme,
    load,
    read_yaml,
    validate,
    validation_error,
)
from neocloud.pipeline import ADDITIVE_KEYS, Results, summarise, to_netcdf
from neocloud.pipeline import run as run_pipeline
from neocloud.realise import realise
from neocloud.scenario import Scenario
from neocloud.scenario.programme import ProgrammeSpec, RealisedProgramme
from neocloud.uncertainty import MAX_SEED, check_seed
from neocloud.units import MW_PER_GW


@dataclass(frozen=True)
class ProgrammeCampus:
    """One campus of a loaded programme: its validated scenario, priority and where it came from."""

    name: str
    scenario: Scenario
    priority: int
    origin: str


@dataclass(frozen=True)
class Programme:
    """A loaded programme: the validated file, its campuses (copies expanded) and its catalog."""

    spec: ProgrammeSpec
    campuses: tuple[ProgrammeCampus, ...]
    catalog: Catalog
    path: str = "<programme>"


def _sub_lines(lines: dict[tuple[str, ...], int], prefix: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    return {path[len(prefix) :]: line for path, line in lines.items() if path[: len(prefix)] == prefix}


def load_programme(path: str | Path) -> Programme:
    """Load and validate a programme file and every campus it names; ScenarioError on the first problem."""
    file = str(path)
    data, lines, _ = read_yaml(path)
    if not is_programme(data):
        raise ScenarioError(
            "is not a programme (it needs 'kind: programme' at the top level)", file=file, line=1
        )
    check_values(data, file, lines)
    try:
        spec = ProgrammeSpec.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, ProgrammeSpec, file, lines) from None
    try:
        catalog = load_catalog((), spec.catalog)
    except ScenarioError as err:
        raise err.located(file, lines.get(("catalog",))) from None
    check_references(spec, catalog, file, lines)
    folder = Path(path).parent
    campuses: list[ProgrammeCampus] = []
    for index, entry in enumerate(spec.campuses):
        where = ("campuses", str(index))
        if entry.file is not None:
            campus_path = folder / entry.file
            if not campus_path.resolve().is_relative_to(folder.resolve()):
                raise ScenarioError(
                    f"'{entry.file}' is outside the programme's folder ({folder})",
                    file=file,
                    line=lines.get((*where, "file")),
                    field=f"campuses.{index}.file",
                    value=entry.file,
                    allowed="a campus file in the programme's folder or below it",
                )
            if not campus_path.is_file():
                raise ScenarioError(
                    f"no such campus file '{entry.file}' (looked in {folder})",
                    file=file,
                    line=lines.get((*where, "file")),
                    field=f"campuses.{index}.file",
                    value=entry.file,
                )
            try:
                scenario = load(campus_path)
            except ScenarioError as err:
                raise ScenarioError(
                    f"in {err}", file=file, line=lines.get((*where, "file")), field=f"campuses.{index}.file"
                ) from None
            origin = str(campus_path)
        else:
            prefix = (*where, "template")
            try:
                scenario = validate(entry.template, file, _sub_lines(lines, prefix))
            except ScenarioError as err:
                field = f"campuses.{index}.template" + (f".{err.field}" if err.field else "")
                raise ScenarioError(
                    err.message, file=file, line=err.line, field=field, value=err.value, allowed=err.allowed
                ) from None
            origin = f"{file}: campuses.{index}.template"
        for copy in range(entry.count):
            name = scenario.name if entry.count == 1 else f"{scenario.name} {copy + 1}"
            campuses.append(
                ProgrammeCampus(name, scenario.model_copy(update={"name": name}), entry.priority, origin)
            )
    return Programme(spec, tuple(campuses), catalog, file)


class _CachedRuns:
    """Campus pipeline runs kept by scenario (less its name) and seed: a campus served in full is not re-run."""

    def __init__(self, draws: int) -> None:
        self.draws = draws
        self.cache: dict[str, Results] = {}

    def __call__(self, scenario: Scenario, campus_seed: int) -> Results:
        """The results of ``scenario`` under ``campus_seed``, labelled with the scenario's name."""
        key = scenario.model_copy(update={"name": ""}).model_dump_json() + f"|{campus_seed}"
        if key not in self.cache:
            self.cache[key] = run_pipeline(scenario, draws=self.draws, seed=campus_seed)
        results = self.cache[key]
        return Results(
            scenario,
            results.dataset.assign_attrs(scenario=scenario.name),
            self.draws,
            campus_seed,
            results.source_text,
        )


def programme_calendar(programme: Programme) -> tuple[str, list[int]]:
    """Month 0 of the programme calendar (``YYYY-MM``, the earliest start of the programme, its campuses
    and its supply) and each campus's start in months from it."""
    spec = programme.spec
    offsets_raw = [months_between(spec.start, campus.scenario.start) for campus in programme.campuses]
    shift = -min(0, *offsets_raw, months_between(spec.start, supply_start(spec) or spec.start))
    return add_months(spec.start, -shift), [offset + shift for offset in offsets_raw]


def phase_needs(programme: Programme, demand: list[Results], offsets: list[int]) -> list[dict[str, Any]]:
    """Every phase of every campus, unconstrained: accelerators it wants (median) and the calendar month it
    needs them by (its median online month; the campus horizon where it never comes online)."""
    needs: list[dict[str, Any]] = []
    for index, results in enumerate(demand):
        phase_demand = np.median(results.dataset["phase_accelerators"].values, axis=0)
        online_month = results.dataset["phase_online_month"].values
        never = results.dataset.sizes["month"]  # a phase not online within its campus's horizon
        phase_need = (
            np.median(np.where(np.isfinite(online_month), online_month, never), axis=0) + offsets[index]
        )
        for phase, (count, need) in enumerate(zip(phase_demand, phase_need, strict=True)):
            needs.append(
                {
                    "campus": index,
                    "phase": phase,
                    "demand": float(count),
                    "need": int(need),
                    "priority": programme.campuses[index].priority,
                    "order": len(needs),
                }
            )
    return needs


def allocate_supply(
    programme: Programme, realised: RealisedProgramme, needs: list[dict[str, Any]], calendar_start: str,
    months: int, draws: int,
) -> tuple[np.ndarray | None, xr.Dataset | None, np.ndarray | None]:
    """Serve the phases from the shared supply, setting each need's delivered count and ready month.

    Returns the supply by month (draw, month), the fab stage where fabs make it, and the median
    cumulative supply; all None (every phase served as it asks) when the programme has no supply.
    """
    if programme.spec.supply is None:
        for need in needs:
            need.update(delivered=need["demand"], ready=need["need"], start=0.0)
        return None, None, None
    supply_month, fab_stage = monthly_supply(programme.catalog, realised, calendar_start, months, draws)
    cumulative = np.median(np.cumsum(supply_month, axis=1), axis=0)
    allocate_phases(needs, cumulative)
    for need in needs:  # made by the end of a quarter, delivered from the start of the next
        if need["ready"] is not None:
            need["ready"] = (
                need["ready"]
                + MONTHS_PER_QUARTER
                - months_into_quarter(add_months(calendar_start, need["ready"]))
            )
    return supply_month, fab_stage, cumulative


def serve_campuses(
    programme: Programme, needs: list[dict[str, Any]], demand: list[Results], cumulative: np.ndarray | None,
    calendar_start: str, run_cached: _CachedRuns, seeds: list[int],
) -> tuple[list[Results | None], list[dict[str, Any]]]:
    """Each campus as served: its own results where every phase got what it asked when it asked, else its
    scenario cut to what was delivered and run again (None where nothing is built); and a row per campus."""
    final: list[Results | None] = []
    campus_rows = []
    for index, campus in enumerate(programme.campuses):
        mine = [need for need in needs if need["campus"] == index]
        delivered = [need["delivered"] for need in mine]
        delays = [max(0, need["ready"] - need["need"]) if need["ready"] is not None else 0 for need in mine]
        served = all(need["delivered"] >= need["demand"] - 1e-9 for need in mine) and not any(delays)
        if served or cumulative is None:
            results: Results | None = demand[index]
        else:
            data = demand[index].dataset
            per_system = data["phase_accelerators"].values[0] / np.maximum(data["phase_systems"].values[0], 1)
            deliveries = campus_deliveries(
                mine,
                data["phase_systems"].values[0],
                per_system,
                [phase.system for phase in campus.scenario.campus.phases],
                cumulative,
                calendar_start,
            )
            constrained = constrained_scenario(campus.scenario, data, delivered, deliveries)
            results = run_cached(constrained, seeds[index]) if constrained is not None else None
        final.append(results)
        wanted = sum(need["demand"] for need in mine)
        campus_rows.append(
            {
                "name": campus.name,
                "origin": campus.origin,
                "delivered_frac": sum(delivered) / wanted if wanted else 1.0,
                "delay_months": max(delays) if delays else 0,
            }
        )
    return final, campus_rows


def run_programme(programme: Programme, draws: int = 1, seed: int = 0) -> ProgrammeResults:
    """Run every campus of a programme through the pipeline under the shared supply, and roll them up."""
    spec = programme.spec
    realised = realise(spec, draws, seed)
    calendar_start, offsets = programme_calendar(programme)
    run_cached = _CachedRuns(draws)
    seed = check_seed(seed)
    seeds = [(seed + index) % (MAX_SEED + 1) for index in range(len(programme.campuses))]
    demand = [run_cached(campus.scenario, seeds[index]) for index, campus in enumerate(programme.campuses)]
    months = max(
        offset + results.dataset.sizes["month"] for offset, results in zip(offsets, demand, strict=True)
    )
    if spec.supply is not None and spec.supply.fabs is not None:
        fab_end = months_between(
            calendar_start, f"{min(spec.supply.fabs.capital_usd_by_year) + spec.supply.fabs.years}-01"
        )
        months = max(months, fab_end)
    needs = phase_needs(programme, demand, offsets)
    demand_month = np.zeros((draws, months))
    for index, results in enumerate(demand):
        online = results.dataset["accelerators_online"].values
        demand_month += np.diff(to_calendar(online, offsets[index], months, hold=True), axis=1, prepend=0.0)
    supply_month, fab_stage, cumulative = allocate_supply(programme, realised, needs, calendar_start, months, draws)
    final, campus_rows = serve_campuses(programme, needs, demand, cumulative, calendar_start, run_cached, seeds)
    return ProgrammeResults(
        programme,
        realised,
        demand,
        final,
        campus_rows,
        offsets,
        calendar_start,
        months,
        demand_month,
        supply_month,
        fab_stage,
        draws,
        seed,
    )


class ProgrammeResults:
    """What a programme run produced: the campus results, the rolled-up Dataset and its summary."""

    def __init__(
        self,
        programme: Programme,
        realised: RealisedProgramme,
        demand: list[Results],
        final: list[Results | None],
        campus_rows: list[dict[str, Any]],
        offsets: list[int],
        calendar_start: str,
        months: int,
        demand_month: np.ndarray,
        supply_month: np.ndarray | None,
        fab_stage: xr.Dataset | None,
        draws: int,
        seed: int,
    ) -> None:
        self.programme = programme
        self.campus_results = final
        self.demand_results = demand
        self.campus_rows = campus_rows
        self.draws = draws
        self.seed = seed
        self.fab_stage = fab_stage
        self.dataset = self._build(realised, offsets, calendar_start, months, demand_month, supply_month)

    @property
    def name(self) -> str:
        """The programme's name."""
        return self.programme.spec.name

    def _build(
        self,
        realised: RealisedProgramme,
        offsets: list[int],
        calendar_start: str,
        months: int,
        demand_month: np.ndarray,
        supply_month: np.ndarray | None,
    ) -> xr.Dataset:
        """The programme's Dataset: flows by month and year, campus figures and the rolled-up summary."""
        draws = self.draws
        built = [(index, results) for index, results in enumerate(self.campus_results) if results is not None]
        dataset, supplied = self._flows(built, offsets, calendar_start, months, demand_month, supply_month)
        names = [row["name"] for row in self.campus_rows]
        campus_values = {key: np.zeros((draws, len(names))) for key in ADDITIVE_KEYS}
        for index, results in built:
            for key in ADDITIVE_KEYS:
                if key in results.dataset:
                    campus_values[key][:, index] = results.dataset[key].values
        for key in ("accelerators", "facility_power_mw", "it_power_mw", "capex_usd"):
            dataset[f"campus_{key}"] = (("draw", "campus"), campus_values[key])
        dataset["campus_delivered_frac"] = (("campus",), [row["delivered_frac"] for row in self.campus_rows])
        dataset["campus_delay_months"] = (("campus",), [row["delay_months"] for row in self.campus_rows])

        for key in ADDITIVE_KEYS:
            if any(key in results.dataset for results in self.demand_results):
                counted = key in ("accelerators", "systems", "racks")
                unit = "accelerators" if counted else key.rsplit("_", 1)[-1]
                _summary(dataset, key, campus_values[key].sum(axis=1), unit, int(counted))
        _summary(dataset, "campuses", len(built), "campuses", 1)
        _summary(dataset, "campuses_planned", len(self.campus_rows), "campuses", 1)
        totals = {key: campus_values[key].sum(axis=1) for key in ("facility_power_mw", "accelerators", "capex_usd")}
        _summary(dataset, "gw", totals["facility_power_mw"] / MW_PER_GW, "GW")
        demanded = sum(results.dataset["accelerators"].values for results in self.demand_results)
        _summary(dataset, "accelerators_demanded", demanded, "accelerators", 1)
        total_supplied = supplied.sum(axis=1)
        _summary(dataset, "accelerators_supplied", total_supplied, "accelerators", 1)
        _summary(dataset, "supply_shortfall_accelerators", np.maximum(0.0, demanded - total_supplied),
                 "accelerators", 1)
        if realised.capital is not None:
            _capital_summaries(dataset, realised.capital, totals)
        if self.fab_stage is not None:
            dataset = _fab_summaries(dataset, self.fab_stage, totals)
        if built:
            company = roll_up([results for _, results in built], valuation_usd=realised.valuation_usd)
            for name, variable in company.data_vars.items():
                if variable.dims == ("draw",) and name not in dataset:
                    dataset[name] = variable.assign_attrs(summary=1)
        dataset.attrs.update(programme=self.name, draws=draws, seed=self.seed, calendar_start=calendar_start)
        return dataset

    def _flows(
        self, built: list[tuple[int, Results]], offsets: list[int], calendar_start: str, months: int,
        demand_month: np.ndarray, supply_month: np.ndarray | None,
    ) -> tuple[xr.Dataset, np.ndarray]:
        """The calendar's coordinates and the accelerator and capex flows by month and by year, with the
        accelerators supplied by month (draw, month): the supply's, or as delivered where there is none."""
        draws = self.draws
        start = np.datetime64(calendar_start, "M")
        dates = start + np.arange(months)
        years = dates.astype("datetime64[Y]").astype(int) + 1970
        year_values = np.unique(years)
        by_year = (years[:, None] == year_values[None, :]).astype(float)
        online = np.zeros((draws, months))
        capex_month = np.zeros((draws, months))
        for index, results in built:
            online += to_calendar(
                results.dataset["accelerators_online"].values, offsets[index], months, hold=True
            )
            capex_month += capex_by_month(results, offsets[index], months)
        delivered_month = np.diff(online, axis=1, prepend=0.0)
        supplied = delivered_month if supply_month is None else supply_month
        dataset = xr.Dataset(
            coords={
                "draw": np.arange(draws),
                "month": np.arange(months),
                "date": ("month", dates.astype("datetime64[ns]")),
                "year": year_values,
                "campus": [row["name"] for row in self.campus_rows],
            }
        )
        dataset["accelerators_online"] = (("draw", "month"), online)
        dataset["accelerators_supplied_by_month"] = (("draw", "month"), supplied)
        dataset["accelerators_demanded_by_month"] = (("draw", "month"), demand_month)
        dataset["capex_usd_by_month"] = (("draw", "month"), capex_month)
        for key, values in (
            ("accelerators_supplied_per_year", supplied),
            ("accelerators_demanded_per_year", demand_month),
            ("accelerators_delivered_per_year", delivered_month),
            ("capex_usd_per_year", capex_month),
        ):
            dataset[key] = (("draw", "year"), values @ by_year)
        return dataset, supplied

    def summary(self) -> dict[str, Any]:
        """The JSON summary: rolled-up campus keys, supply against demand by year, capital, campus rows."""
        out = summarise(self.dataset, self.name, self.draws)
        out = {"scenario": out.pop("scenario"), "kind": "programme", **out}
        years = [int(year) for year in self.dataset["year"].values]
        out["years"] = years
        for key in (
            "accelerators_supplied_per_year",
            "accelerators_demanded_per_year",
            "accelerators_delivered_per_year",
            "capex_usd_per_year",
            "capital_envelope_usd_per_year",
        ):
            if key in self.dataset:
                out[key] = [float(value) for value in np.median(self.dataset[key].values, axis=0)]
        out["supply_gap_per_year"] = [
            demanded - supplied
            for demanded, supplied in zip(
                out["accelerators_demanded_per_year"], out["accelerators_supplied_per_year"], strict=True
            )
        ]
        if "accelerators_made_per_year" in self.dataset:
            out["fab_years"] = [int(year) for year in self.dataset["fab_year"].values]
            out["accelerators_made_per_year"] = [
                float(value) for value in np.median(self.dataset["accelerators_made_per_year"].values, axis=0)
            ]
        out["campus_results"] = [
            {
                **row,
                "accelerators": float(np.median(self.dataset["campus_accelerators"].values[:, index])),
                "facility_power_mw": float(
                    np.median(self.dataset["campus_facility_power_mw"].values[:, index])
                ),
                "capex_usd": float(np.median(self.dataset["campus_capex_usd"].values[:, index])),
            }
            for index, row in enumerate(self.campus_rows)
        ]
        return out

    def write(
        self, folder: str | Path, report: Callable[[ProgrammeResults], str] | None = None
    ) -> dict[str, Path]:
        """Write ``summary.json``, ``results.nc`` and (given a renderer) ``report.html`` atomically."""
        folder = Path(folder)
        paths = {
            "summary": write_atomic(folder / "summary.json", json.dumps(self.summary(), indent=2) + "\n"),
            "results": write_atomic_with(folder / "results.nc", lambda tmp: to_netcdf(self.dataset, tmp)),
        }
        if report is not None:
            paths["report"] = write_atomic(folder / "report.html", report(self))
        return paths


def _summary(dataset: xr.Dataset, key: str, values: Any, unit: str, integer: int = 0) -> None:
    """Put a summary figure (draw,) into ``dataset``, broadcast from a number or an array."""
    dataset[key] = xr.DataArray(
        np.broadcast_to(np.asarray(values, dtype=float), (dataset.sizes["draw"],)).copy(),
        dims="draw",
        attrs={"summary": 1, "units": unit, "integer": integer},
    )


def _capital_summaries(dataset: xr.Dataset, capital: Any, totals: dict[str, np.ndarray]) -> None:
    """The capital envelope (USD, draw) against the capex used: share used, and the GW and accelerators
    it would buy at the programme's capex per MW and per accelerator; its phasing by year."""
    capex = totals["capex_usd"]
    envelope = np.asarray(capital.envelope_usd, dtype=float)
    _summary(dataset, "capital_envelope_usd", envelope, "USD")
    _summary(dataset, "capital_used_frac", capex / envelope, "fraction")
    per_capex = envelope / np.where(capex > 0, capex, np.nan)
    _summary(dataset, "envelope_gw", per_capex * totals["facility_power_mw"] / MW_PER_GW, "GW")
    _summary(dataset, "envelope_accelerators", per_capex * totals["accelerators"], "accelerators", 1)
    phasing = capital.phasing_by_year or {}
    year_values = dataset["year"].values
    dataset["capital_envelope_usd_per_year"] = (
        ("draw", "year"),
        envelope[:, None] * np.array([phasing.get(int(year), 0.0) for year in year_values])[None, :],
    )


def _fab_summaries(dataset: xr.Dataset, fab_stage: xr.Dataset, totals: dict[str, np.ndarray]) -> xr.Dataset:
    """The fabs' figures, accelerators made by year, and the GW and capex per year their last year's output
    would need at the programme's MW and capex per accelerator."""
    for name, variable in fab_stage.data_vars.items():
        if variable.dims == ("draw",):
            dataset[name] = variable
    made = fab_stage["accelerators_made_per_year"].values
    dataset = dataset.assign_coords(fab_year=fab_stage["year"].values)
    dataset["accelerators_made_per_year"] = (("draw", "fab_year"), made)
    accelerators = totals["accelerators"]
    per_accelerator_mw = totals["facility_power_mw"] / np.where(accelerators > 0, accelerators, np.nan)
    per_accelerator_usd = totals["capex_usd"] / np.where(accelerators > 0, accelerators, np.nan)
    _summary(dataset, "gw_needed_per_year_at_full_ramp", made[:, -1] * per_accelerator_mw / MW_PER_GW, "GW/year")
    _summary(dataset, "campus_capex_needed_usd_per_year_at_full_ramp", made[:, -1] * per_accelerator_usd,
             "USD/year")
    return dataset
