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

import contextlib
import copy
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, InvalidStateError, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
import xarray as xr
import yaml
from pydantic import BaseModel, ConfigDict, Field

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.load import parse_yaml, scenario_catalog, validate
from neocloud.pipeline import STAGES, Results, base_dataset, finished, run_stage, stage_reads
from neocloud.pipeline import run as run_pipeline
from neocloud.scenario import Dist, Finance, Scenario
from neocloud.uncertainty import quantiles, realise, uncertain_inputs
from neocloud.web import panels

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


class ByteCache:
    """A least-recently-used cache bounded by the bytes its entries hold (estimated by the caller)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: str) -> Any:
        """The value kept under ``key`` (now the most recent), or None."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key: str, value: Any, size: int) -> None:
        """Keep ``value``, dropping the least recently used entries until the total fits."""
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self.bytes -= self._entries.pop(key)[1]
            self._entries[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                self.bytes -= self._entries.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class BaseRun:
    """A scenario's run with what a later change can reuse: the Dataset before each stage."""

    scenario: Scenario
    data: dict[str, Any]
    catalog: Catalog
    results: Results
    before_stage: tuple[xr.Dataset, ...]  # before_stage[k]: the Dataset stage k was given
    uncertain: tuple[str, ...]  # the scenario's uncertain inputs, by path (they fix the random samples)

    def nbytes(self) -> int:
        """Bytes held: the arrays of the final Dataset (earlier states share them) and the scenario text."""
        return int(self.results.dataset.nbytes) + len(json.dumps(self.data, default=str)) + 10_000


@dataclass
class Plan:
    """What the serving process keeps of a base scenario to name a change's answer before running it."""

    scenario: Scenario
    data: dict[str, Any]
    catalog: Catalog
    draws: int
    seed: int
    phases: np.ndarray | None = None  # accelerators per phase of the base run, once asked for

    def base_phases(self) -> np.ndarray:
        """Accelerators per phase of the base run (median over draws): its design stage, run once."""
        if self.phases is None:
            with np.errstate(all="ignore"):
                realised = realise(self.scenario, self.draws, self.seed)
                designed = STAGES[0][1](realised, self.catalog, base_dataset(self.scenario, self.draws))
            self.phases = phase_accelerators(designed)
        return self.phases


def uncertain_paths(scenario: Scenario) -> tuple[str, ...]:
    """The dotted paths of a scenario's uncertain inputs, in sampling order."""
    return tuple(".".join(path) for path, _ in uncertain_inputs(scenario))


def run_stages(scenario: Scenario, draws: int, seed: int, catalog: Catalog,
               reuse: BaseRun | None = None, first: int = 0) -> tuple[Results, tuple[xr.Dataset, ...]]:
    """Run the pipeline's stages from stage ``first`` on, the earlier ones taken from ``reuse``.

    With ``first == 0`` this is the pipeline's own ``evaluate``; the Datasets each stage was given are
    kept, so that a later change can restart from any stage. Numpy's floating-point warnings are silenced
    (a NaN or infinity in a result is reported as null); any exception other than a ``ScenarioError`` is
    a fault of the code and is raised as it is.
    """
    with np.errstate(all="ignore"):
        realised = realise(scenario, draws, seed)
        if reuse is not None and first > 0:
            states = list(reuse.before_stage[: first + 1])
            dataset = states[first]
        else:
            first, dataset = 0, base_dataset(scenario, draws)
            states = [dataset]
        reads = stage_reads()
        for index in range(first, len(STAGES)):
            name, stage = STAGES[index]
            dataset = dataset.merge(run_stage(name, stage, reads, realised, catalog, dataset), compat="override")
            if index + 1 < len(STAGES):
                states.append(dataset)
    dataset = finished(dataset)
    dataset.attrs.update(scenario=scenario.name, draws=draws, seed=seed)
    return Results(scenario, dataset, draws, seed), tuple(states)


def _answer_bytes(answer: dict[str, Any]) -> int:
    return len(json.dumps(answer, default=str)) + sys.getsizeof(answer)


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(str(part) for part in parts).encode()).hexdigest()


def _pass_on(source: Future[bytes], target: Future[bytes]) -> None:
    """When ``source`` finishes, finish ``target`` the same way (unless it was cancelled meanwhile)."""

    def copy(done: Future[bytes]) -> None:
        with contextlib.suppress(InvalidStateError):
            if done.cancelled():
                target.cancel()
            elif done.exception() is not None:
                target.set_exception(done.exception())
            else:
                target.set_result(done.result())

    source.add_done_callback(copy)


class Previewer:
    """Runs what-if changes of a scenario in a pool of workers, from cached upstream stages.

    A request is first named by the scenario it makes (the base's data with the inputs written in, draws
    and seed), in the serving process: two requests that make the same scenario (accelerator counts that
    round to the same systems per building, say) share one answer, from the cache or from the one run
    already in flight (single flight). Only a new scenario goes to a worker, which keeps its own base
    runs (nothing but the scenario text and the inputs crosses to it) and reruns only the stages
    downstream of the change.

    Parameters
    ----------
    max_cache_bytes
        Bytes the caches of base runs and of answers may hold together (about two thirds for runs).
    workers
        Preview workers (default: the machine's CPU count); further previews wait for a free one.
    max_draws
        Most draws a preview runs (a kept run may have more).
    processes
        Workers are processes (each with its own caches), so that previews never hold the server's
        interpreter lock while it answers reads and ``/healthz``; else threads of this process.
    """

    def __init__(self, max_cache_bytes: int = DEFAULT_CACHE_BYTES, workers: int | None = None,
                 max_draws: int = MAX_PREVIEW_DRAWS, processes: bool = False) -> None:
        self.max_draws = max_draws
        self.max_cache_bytes = max_cache_bytes
        self._bases = ByteCache(max_cache_bytes * 2 // 3)
        self._answers = ByteCache(max_cache_bytes - max_cache_bytes * 2 // 3)
        self._payloads = ByteCache(max_cache_bytes // 8)  # answers as JSON, in the serving process
        self._plans = ByteCache(max_cache_bytes // 32)  # base scenarios as the serving process knows them
        self._in_flight: dict[str, Future[bytes]] = {}
        self._lock = Lock()
        self.counts = {"computed": 0, "from_cache": 0, "joined": 0, "failed": 0}
        self.workers = workers or os.cpu_count() or 1
        self.processes = processes
        self._executors: tuple[ThreadPoolExecutor, Executor] | None = None  # started on first use
        self._start_lock = Lock()

    def executors(self) -> tuple[ThreadPoolExecutor, Executor]:
        """The threads that name requests and the pool that runs them, started on first use (and again
        after ``close``)."""
        with self._start_lock:
            if self._executors is None:
                router = ThreadPoolExecutor(max_workers=2, thread_name_prefix="neocloud-preview-route")
                pool: Executor
                if self.processes:
                    context = multiprocessing.get_context("forkserver")
                    context.set_forkserver_preload([__name__])
                    pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_start_worker,
                                               initargs=(self.max_cache_bytes // 2, self.max_draws))
                else:
                    pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="neocloud-preview")
                self._executors = (router, pool)
            return self._executors

    def cached_bytes(self) -> int:
        """Bytes the caches of this process hold now."""
        return self._bases.bytes + self._answers.bytes + self._payloads.bytes + self._plans.bytes

    def stats(self) -> dict[str, int]:
        """Previews so far by how they were answered (computed, from the cache, joined one in flight,
        failed), those in flight now, the workers and the bytes cached in this process."""
        with self._lock:
            in_flight = len(self._in_flight)
        return {**self.counts, "in_flight": in_flight, "workers": self.workers, "cached_bytes": self.cached_bytes()}

    def plan(self, text: str, draws: int, seed: int) -> Plan:
        """The base scenario in ``text`` parsed and validated, with its catalog (cached by text)."""
        key = _digest("plan", draws, seed, text)
        cached = self._plans.get(key)
        if cached is None:
            scenario, data = parse_scenario(text)
            cached = Plan(scenario, data, scenario_catalog(scenario), draws, seed)
            self._plans.put(key, cached, 2 * len(text) + 50_000)
        return cached  # type: ignore[no-any-return]

    def answer_key(self, text: str, given: dict[str, Any], draws: int, seed: int) -> str:
        """The name of a preview's answer: the scenario it makes (as canonical JSON), draws and seed."""
        if not given:
            return _digest("base", draws, seed, text)
        plan = self.plan(text, draws, seed)
        changed = apply_inputs(plan.data, Inputs(**given), plan.base_phases, plan.catalog)
        return _digest("changed", draws, seed, json.dumps(changed, sort_keys=True, default=str))

    def submit_json(self, text: str, inputs: Inputs, draws: int = 1, seed: int = 0) -> Future[bytes]:
        """The preview's answer as JSON bytes (without ``elapsed_ms``): from the cache, the same run in
        flight, or a worker."""
        given = inputs.model_dump(exclude_none=True)
        answer: Future[bytes] = Future()
        self.executors()[0].submit(self._route, text, given, draws, seed, answer)
        return answer

    def _route(self, text: str, given: dict[str, Any], draws: int, seed: int, answer: Future[bytes]) -> None:
        try:
            key = self.answer_key(text, given, draws, seed)
        except BaseException as err:  # a ScenarioError (a 422), or a fault: the caller's handler decides
            self._count("failed")
            answer.set_exception(err)
            return
        cached = self._payloads.get(key)
        if cached is not None:
            self._count("from_cache")
            answer.set_result(cached)
            return
        with self._lock:
            running = self._in_flight.get(key)
            started = running is None
            if running is None:
                try:
                    running = self._compute(text, given, draws, seed)
                except BaseException as err:  # a broken or stopped pool: a fault, answered as such
                    self.counts["failed"] += 1
                    answer.set_exception(err)
                    return
                self._in_flight[key] = running
            self.counts["computed" if started else "joined"] += 1
        if started:
            running.add_done_callback(lambda finished: self._finish(key, finished))
        _pass_on(running, answer)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def _compute(self, text: str, given: dict[str, Any], draws: int, seed: int) -> Future[bytes]:
        pool = self.executors()[1]
        if self.processes:
            return pool.submit(_worker_json, text, given, draws, seed)
        return pool.submit(_answer_json, self, text, given, draws, seed)

    def _finish(self, key: str, finished: Future[bytes]) -> None:
        with self._lock:
            self._in_flight.pop(key, None)
        if finished.cancelled() or finished.exception() is not None:
            self._count("failed")
            return
        payload = finished.result()
        self._payloads.put(key, payload, len(payload))

    def close(self) -> None:
        """Stop the workers and wait for them to exit (queued previews are dropped); with worker
        processes, stop the fork server that started them too."""
        with self._start_lock:
            executors, self._executors = self._executors, None
        if executors is None:
            return
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)
        if self.processes:
            stop_fork_server()

    def base(self, text: str, draws: int, seed: int) -> BaseRun:
        """The scenario in ``text`` run with its stages kept (cached by text, draws and seed)."""
        key = _digest(draws, seed, text)
        cached = self._bases.get(key)
        if cached is None:
            scenario, data = parse_scenario(text)
            catalog = scenario_catalog(scenario)
            results, states = run_stages(scenario, draws, seed, catalog)
            cached = BaseRun(scenario, data, catalog, results, states, uncertain_paths(scenario))
            self._bases.put(key, cached, cached.nbytes())
        return cached  # type: ignore[no-any-return]

    def changed(self, base: BaseRun, inputs: Inputs, draws: int, seed: int) -> tuple[Scenario, Results, str]:
        """The base scenario with ``inputs`` applied, run from the first stage they reach."""
        given = inputs.model_dump(exclude_none=True)
        # the inputs never touch the scenario's own catalog rows, so the base's catalog serves
        changed = apply_inputs(base.data, inputs, lambda: phase_accelerators(base.results.dataset), base.catalog)
        changed_text = yaml.dump(changed, Dumper=SAFE_DUMPER, sort_keys=False, allow_unicode=True)
        scenario = validate(changed, "scenario with the dashboard's inputs", catalog=base.catalog)
        first = min(STAGE_NAMES.index(FIRST_STAGE[name]) for name in given)
        if uncertain_paths(scenario) != base.uncertain:  # other random samples: every stage again
            first = 0
        results, _ = run_stages(scenario, draws, seed, base.catalog, base, first)
        return scenario, results, changed_text

    def preview(self, text: str, inputs: Inputs, draws: int = 1, seed: int = 0) -> dict[str, Any]:
        """The summary, input values, chart series and scenario text of ``text`` with ``inputs`` applied."""
        started = time.perf_counter()
        if draws > self.max_draws:
            raise ScenarioError(f"{draws} draws asked; a preview runs at most {self.max_draws}", field="draws",
                                value=draws, allowed=f"1 to {self.max_draws}; keep a run for more")
        given = inputs.model_dump(exclude_none=True)
        key = _digest(draws, seed, json.dumps(given, sort_keys=True), text)
        answer = self._answers.get(key)
        if answer is None:
            base = self.base(text, draws, seed)
            scenario, results, changed_text = base.scenario, base.results, text
            if given:
                scenario, results, changed_text = self.changed(base, inputs, draws, seed)
            summary = results.summary()
            answer = {
                "summary": summary,
                "inputs": current_inputs(scenario, summary, results.dataset),
                "charts": charts(results.dataset),
                "figures": panels.figures(summary, str(scenario.start)),
                "timeline": panels.phase_timeline(scenario, results.dataset),
                "scenario_text": changed_text,
                "draws": draws,
                "seed": seed,
            }
            self._answers.put(key, answer, _answer_bytes(answer))
        return {**answer, "elapsed_ms": round(1000 * (time.perf_counter() - started), 2)}


def stop_fork_server() -> None:
    """Stop this process's multiprocessing fork server, if one runs (the next pool starts a new one)."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if callable(stop):  # a private method of the standard library: absent elsewhere, nothing to stop
        with contextlib.suppress(OSError):
            stop()


_WORKER: Previewer | None = None  # a worker process's own previewer (and caches)


WORKER_NICENESS = 3  # preview workers yield some CPU to the serving process (reads, /healthz)


def _start_worker(max_cache_bytes: int, max_draws: int) -> None:
    global _WORKER
    with contextlib.suppress(OSError):  # a platform without nice: the same priority
        os.nice(WORKER_NICENESS)
    _WORKER = Previewer(max_cache_bytes=max_cache_bytes, workers=1, max_draws=max_draws)


def _answer_json(previewer: Previewer, text: str, given: dict[str, Any], draws: int, seed: int) -> bytes:
    answer = previewer.preview(text, Inputs(**given), draws, seed)
    answer.pop("elapsed_ms", None)
    return json.dumps(answer, allow_nan=False).encode("utf-8")


def _worker_json(text: str, given: dict[str, Any], draws: int, seed: int) -> bytes:
    if _WORKER is None:  # pragma: no cover - the pool's initializer always runs first
        _start_worker(DEFAULT_CACHE_BYTES // 2, MAX_PREVIEW_DRAWS)
    assert _WORKER is not None
    return _answer_json(_WORKER, text, given, draws, seed)


def run_checked(scenario: Scenario, draws: int, seed: int, catalog: Catalog | None = None) -> Results:
    """Run the pipeline with numpy's floating-point warnings silenced (a NaN or infinity in a result is
    reported as null). Only a ``ScenarioError`` is the user's mistake; anything else raised is a fault
    of the code, raised as it is (the server answers it with a logged, counted 500)."""
    with np.errstate(all="ignore"):
        return run_pipeline(scenario, draws=draws, seed=seed, catalog=catalog)
