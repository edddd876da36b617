"""The pipeline: a scenario through every stage, in order, into one Dataset with ``draw`` and ``month``.

Its first step, :mod:`neocloud.realise`, turns the scenario into arrays along ``draw`` and makes the shared
coordinates; each stage then gets the variables it declares in ``READS`` and must make exactly its rows of
the variables registry (:mod:`neocloud.registry`), which also gives every variable its unit.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neocloud.blocks import blocks, draws_of, join_draws
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
from neocloud.realise import base_dataset, realise
from neocloud.registry import (
    ContractError,
    additive_keys,
    check_makes,
    check_reads,
    check_units,
    contract_keys,
    dropping,
    maker,
    stamp_units,
    unread_months,
)
from neocloud.reliability import reliability
from neocloud.scenario import Realised, Scenario
from neocloud.uncertainty import uncertain_inputs

Stage = Callable[[Realised, Catalog, xr.Dataset], xr.Dataset]
# The stages after ``realise``, in the order they run: reliability before compute, which reads its goodput.
STAGES: tuple[tuple[str, Stage], ...] = (
    ("design", design),
    ("buildout", buildout),  # its per-draw arithmetic runs once per distinct draw, in cache-sized blocks
    ("energy", energy),
    ("reliability", reliability),
    ("compute", compute),
    ("finance", finance),
    ("inference", inference),
)

# With only the summary kept (runs in chunks), the stages from this one on run in blocks of draws; each
# block a multiple of finance's 256-draw kernel blocks, so its arithmetic is partitioned as in a whole run.
PER_DRAW_FROM = "finance"
SUMMARY_BLOCK_DRAWS = 2_048
# A summary's quantiles come from one call on the stack of its keys up to this many draws, else key by key.
STACKED_QUANTILE_DRAWS = 10_000

# The order in which the Dataset lists the stages' variables (DESIGN.md's table: compute before reliability),
# so that a summary's keys keep their order whatever order the stages run in.
SHOWN_ORDER = ("design", "buildout", "energy", "compute", "reliability", "finance", "inference")

# DESIGN.md's JSON keys, in its order; other summary variables follow in the order the stages add them.
CONTRACT_KEYS = contract_keys()

# Summary keys that add up across campuses (a programme's or a plan's totals).
ADDITIVE_KEYS = additive_keys()

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


# Variables with at least this many values are written compressed (about 4x smaller for many draws).
COMPRESS_FROM_VALUES = 1024


def to_netcdf(dataset: xr.Dataset, path: Path) -> None:
    """Write a results Dataset to netCDF (h5netcdf), with string coordinates made plain and large
    numeric variables compressed (HDF5's byte shuffle, then zlib level 1: any netCDF-4 reader opens them;
    the shuffle makes Abilene's 10,000-draw file 304 MB instead of 353 and its writing 7.2-8.1 s instead of
    9.5-11.3, five runs each)."""
    clean = dataset.copy()
    for name, variable in clean.variables.items():
        clean[name].attrs = {key: value for key, value in variable.attrs.items()
                             if isinstance(value, str | int | float)}
    encoding = {name: {"zlib": True, "complevel": 1, "shuffle": True} for name, variable in clean.data_vars.items()
                if variable.size >= COMPRESS_FROM_VALUES and variable.dtype.kind in "fiub"}
    clean.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def summary_keys(dataset: xr.Dataset) -> list[str]:
    """Names of the summary variables (dims exactly ``draw``, ``attrs['summary'] == 1``), contract keys first."""
    marked = [str(name) for name, variable in dataset.variables.items()  # plain variables: no DataArrays built
              if name not in dataset.coords and variable.dims == ("draw",) and variable.attrs.get("summary") == 1]
    return [key for key in CONTRACT_KEYS if key in marked] + [key for key in marked if key not in CONTRACT_KEYS]


def _number(value: float, integer: bool) -> float | int | None:
    if not np.isfinite(value):
        return None
    return round(value) if integer else float(value)


def summarise(dataset: xr.Dataset, name: str, draws: int) -> dict[str, Any]:
    """Medians (and P10/P90 with several draws) of every summary variable, as plain JSON numbers."""
    out: dict[str, Any] = {"scenario": name}
    keys = summary_keys(dataset)
    values = {key: np.asarray(dataset.variables[key].values, dtype=float) for key in keys}
    quantiles = _quantiles(values) if draws > 1 else {}
    for key in keys:
        integer = dataset.variables[key].attrs.get("integer") == 1
        if key in quantiles:
            p10, p50, p90 = quantiles[key]
        else:
            finite = values[key][np.isfinite(values[key])]
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


def _quantiles(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """P10, P50 and P90 of each of ``values`` (arrays along ``draw``) whose values are all finite: numpy
    computes each row of a stack as it would alone, so the same bits either way. Up to
    ``STACKED_QUANTILE_DRAWS`` draws in one call on their stack (less overhead: 85 keys of 1,000 draws in 2.8
    ms against 6.2 ms); above, key by key on a copy that numpy may reorder (85 keys of 1,000,000 draws in
    1.8 s against 6.1 s on the stack, whose rows numpy selects in more slowly)."""
    whole = [key for key, array in values.items() if array.ndim == 1 and np.isfinite(array).all()]
    if not whole:
        return {}
    if values[whole[0]].size > STACKED_QUANTILE_DRAWS:
        return {key: np.percentile(values[key].copy(), [10, 50, 90], overwrite_input=True) for key in whole}
    table = np.percentile(np.stack([values[key] for key in whole]), [10, 50, 90], axis=1)
    return dict(zip(whole, table.T, strict=True))


def run(scenario_or_path: Scenario | str | Path, draws: int = 1, seed: int = 0,
        catalog: Catalog | None = None, one_draw_if_certain: bool = False, summary_only: bool = False) -> Results:
    """Run a scenario (or the file at a path) through every stage for ``draws`` draws from ``seed``.

    When nothing in the scenario is uncertain every draw is the same: ``Results.notes`` says so, and with
    ``one_draw_if_certain`` (the CLI's choice) one draw is computed instead of ``draws``. ``summary_only``:
    see :func:`evaluate` (the dataset then lacks most (draw, month) variables).
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
        dataset = evaluate(scenario, realise(scenario, draws, seed), catalog, draws, summary_only)
        check_results(scenario, dataset)
    except ScenarioError as err:
        raise err.located(str(scenario_or_path) if isinstance(scenario_or_path, str | Path) else None) from None
    dataset.attrs.update(scenario=scenario.name, draws=draws, seed=seed, draws_requested=requested)
    results = Results(scenario, dataset, draws, seed, source_text)
    results.notes = notes
    results.path = str(scenario_or_path) if isinstance(scenario_or_path, str | Path) else None
    return results


def stage_reads() -> dict[str, tuple[str, ...]]:
    """What each step declares it reads upstream (its module's ``READS``), in pipeline order."""
    return {"realise": (), **{name: tuple(sys.modules[stage.__module__].READS) for name, stage in STAGES}}


def evaluate(scenario: Scenario, realised: Any, catalog: Catalog, draws: int,
             summary_only: bool = False) -> xr.Dataset:
    """Every stage, in order, on an already realised scenario (each ``Num`` an array of shape (draw,)).

    Each stage is held to its contract (:func:`run_stage`); the result carries the registry's units. With
    ``summary_only`` the stages from ``PER_DRAW_FROM`` on run block by block of draws and keep only their
    (draw,) variables: the same summary, bit for bit, in a fraction of the memory (runs in chunks). There the
    variables along ``month`` that no stage reads are dropped unread, and stages may make them as stand-ins
    (:func:`neocloud.registry.dropping`): their names and dims are checked, their values never computed.
    """
    base = base_dataset(scenario, draws)
    check_makes("realise", base, ())
    reads = stage_reads()
    names = [name for name, _ in STAGES]
    split = names.index(PER_DRAW_FROM) if summary_only and draws > SUMMARY_BLOCK_DRAWS else len(STAGES)
    with dropping(unread_months(reads) if split < len(STAGES) else frozenset()):  # stand-ins for what is dropped
        made_so_far = Made(base)
        for name, stage in STAGES[:split]:
            made_so_far.add(run_stage(name, stage, reads, realised, catalog, made_so_far.view(reads[name]),
                                      upstream_names=made_so_far.names()))
            if name == "buildout":  # refused before later stages price a campus that never powers on
                check_first_power(scenario,
                                  made_so_far.view(("first_power_month", "phase_construction_ready_month")))
        if split < len(STAGES):
            return finished(per_draw_in_blocks(STAGES[split:], reads, realised, catalog, made_so_far))
    return finished(made_so_far.dataset())


class Made:
    """The variables the stages have made so far, by name, and their coordinates: a stage is shown a Dataset
    of what it reads, and the whole Dataset is built once (merging every stage's output into a growing
    Dataset aligned every variable again at each stage). The coordinates' indexes are built once, until a
    stage brings new coordinates, not again for every Dataset shown."""

    def __init__(self, base: xr.Dataset) -> None:
        self.variables = {str(key): base.variables[key] for key in base.data_vars}
        self.coords = {str(key): base.variables[key] for key in base.coords}
        self.attrs = dict(base.attrs)
        self._indexed: xr.Coordinates | None = None

    def add(self, made: xr.Dataset) -> None:
        """Take a stage's output: its data variables and any coordinates it brings."""
        brought = {str(key): made.variables[key] for key in made.coords if key not in self.coords}
        if brought:
            self.coords.update(brought)
            self._indexed = None
        self.variables.update({str(key): made.variables[key] for key in made.data_vars})

    def names(self) -> list[str]:
        """Every variable and coordinate made so far."""
        return [*self.coords, *self.variables]

    def coordinates(self) -> xr.Coordinates:
        """The coordinates with their indexes (built on first use after a change)."""
        if self._indexed is None:
            self._indexed = xr.Coordinates(self.coords)
        return self._indexed

    def view(self, keys: Iterable[str]) -> xr.Dataset:
        """The variables ``keys`` (those made so far) with every coordinate."""
        return xr.Dataset({key: self.variables[key] for key in keys if key in self.variables},
                          coords=self.coordinates())

    def dataset(self) -> xr.Dataset:
        """Everything made so far as one Dataset."""
        return xr.Dataset(self.variables, coords=self.coordinates(), attrs=self.attrs)

    def block(self, index: slice, keys: Iterable[str]) -> Made:
        """The variables ``keys`` and the coordinates, cut to the draws ``index``."""
        part = Made(xr.Dataset())
        part.coords = {key: variable.isel(draw=index) if "draw" in variable.dims else variable
                       for key, variable in self.coords.items()}
        part.variables = {key: self.variables[key].isel(draw=index) if "draw" in self.variables[key].dims
                          else self.variables[key] for key in keys}
        return part


def per_draw_in_blocks(stages: tuple[tuple[str, Stage], ...], reads: Mapping[str, Iterable[str]], realised: Any,
                       catalog: Catalog, upstream: Made) -> xr.Dataset:
    """The variables without a month of ``upstream`` and of ``stages``, which run block by block of
    ``SUMMARY_BLOCK_DRAWS`` draws on what they read, each block held to their contracts; their other
    variables are dropped block by block. A stage module's ``PER_DRAW_PART`` (its arithmetic, per draw) runs
    in the blocks and its ``CHECK_OVER_DRAWS`` (a refusal judged on all the draws) once on the joined blocks."""
    draws = upstream.coords["draw"].size
    read = dict.fromkeys(key for name, _ in stages for key in reads[name])
    wanted = [key for key in read if key in upstream.variables]
    modules = [sys.modules[stage.__module__] for _, stage in stages]
    upstream_names = upstream.names()
    kept: list[dict[str, xr.Variable]] = []  # each block's variables without a month
    brought: list[dict[str, xr.Variable]] = []  # each block's new coordinates (a stage's tranches, ...)
    for block in blocks(draws, SUMMARY_BLOCK_DRAWS):
        part, model = upstream.block(block, wanted), draws_of(realised, block, draws)
        kept.append({})
        for (name, stage), module in zip(stages, modules, strict=True):
            made = run_stage(name, getattr(module, "PER_DRAW_PART", stage), reads, model, catalog,
                             part.view(reads[name]),
                             upstream_names=list(dict.fromkeys([*upstream_names, *part.variables])))
            part.add(made)
            kept[-1].update(_without_months(made.variables, made.coords))
        brought.append({key: variable for key, variable in part.coords.items() if key not in upstream.coords})
    joined = join_draws(kept)
    dataset = xr.Dataset({**_without_months(upstream.variables, upstream.coords), **joined},
                         coords=_in_merge_order(joined, {**upstream.coords, **join_draws(brought)}),
                         attrs=upstream.attrs)
    for module in modules:
        check = getattr(module, "CHECK_OVER_DRAWS", None)
        if check is not None:
            check(realised, dataset)
    return dataset


def _without_months(variables: Mapping[Any, xr.Variable], coords: Iterable[Any]) -> dict[str, xr.Variable]:
    """The variables of ``variables``, but the coordinates ``coords``, along ``draw`` and not along ``month``:
    the summary's (draw,) and small tables such as (draw, tranche)."""
    return {str(key): variable for key, variable in variables.items()
            if key not in coords and variable.dims[:1] == ("draw",) and "month" not in variable.dims}


def _in_merge_order(variables: Mapping[str, xr.Variable], coords: dict[str, xr.Variable]) -> dict[str, xr.Variable]:
    """``coords`` in the order a Dataset lists them when built from ``variables`` as DataArrays on them: each
    variable's coordinates (those along its dims) where the variable first comes, then the others."""
    order: dict[str, xr.Variable] = {}
    for variable in variables.values():
        dims = set(variable.dims)
        order.update({key: coord for key, coord in coords.items() if key not in order and set(coord.dims) <= dims})
    return {**order, **coords}


def finished(dataset: xr.Dataset) -> xr.Dataset:
    """The merged stages' Dataset as it is kept: variables in ``SHOWN_ORDER`` of the stages that make them
    (each stage's own order kept), renamed keys added, units checked against the registry."""
    rank = {stage: index for index, stage in enumerate(SHOWN_ORDER)}
    keys = sorted((str(key) for key in dataset.data_vars), key=lambda key: rank[maker(key)])
    dataset = with_renamed_keys(dataset[keys])
    check_units(dataset)
    return dataset


_NO_VARIABLE = re.compile(r"No variable named '([^']+)'")


def run_stage(name: str, stage: Stage, declared: Mapping[str, Iterable[str]], realised: Any, catalog: Catalog,
              upstream: xr.Dataset, upstream_names: list[str] | None = None) -> xr.Dataset:
    """One stage's new variables, given only the upstream variables it declares (and the coordinates).

    ``declared`` holds what every stage reads (:func:`stage_reads`). Raises ContractError (naming the stage
    that reads and the one that makes) when a declared variable is missing upstream or an undeclared one
    is read, and when the stage makes other variables than the registry gives it; the variables it makes
    carry the registry's units. ``upstream_names``: every variable made upstream, where ``upstream`` holds only
    some of them.
    """
    reads = tuple(declared[name])
    names = upstream_names if upstream_names is not None else [str(key) for key in upstream.variables]
    check_reads(name, reads, names)
    view = upstream  # already cut to what the stage reads (``Made.view``), or cut here
    if any(key not in reads for key in upstream.data_vars):
        view = xr.Dataset({key: upstream[key] for key in reads if key in upstream.data_vars}, coords=upstream.coords)
    try:
        made = stage(realised, catalog, view)
    except KeyError as err:
        undeclared = _undeclared(err, names, reads)
        if undeclared is None:
            raise
        raise ContractError(f"stage {name} reads {undeclared}, made by stage {maker(undeclared)}, without "
                            f"declaring it in its READS") from err
    check_makes(name, made, names, aliases=RENAMED_KEYS, readers=declared)
    stamp_units(made)
    return made


def _undeclared(err: KeyError, upstream: list[str], reads: tuple[str, ...]) -> str | None:
    """The upstream variable a KeyError says a stage looked for outside its declared reads, if any."""
    text = str(err.args[0]) if err.args else ""
    match = _NO_VARIABLE.search(text)
    name = match.group(1) if match else text
    return name if name in upstream and name not in reads else None


def with_renamed_keys(dataset: xr.Dataset) -> xr.Dataset:
    """The dataset with each key added under a clearer name (``RENAMED_KEYS``) beside the kept one."""
    for new_key, old_key in RENAMED_KEYS.items():
        if old_key in dataset:
            dataset[new_key] = dataset[old_key].copy()
    return dataset


__all__ = ["ADDITIVE_KEYS", "CONTRACT_KEYS", "STAGES", "ContractError", "Results", "base_dataset", "evaluate",
           "finished", "realise", "run", "run_stage", "stage_reads", "summarise", "summary_keys", "to_netcdf"]
