"""What if: a scenario's main inputs changed, run again, and the figures and chart series the dashboard shows.

The dashboard changes a handful of inputs (system, accelerator count, buildings, power price, price per
GPU-hour, utilisation, discount rate). ``apply_inputs`` writes them into the scenario's data, so every
change is an ordinary, validated scenario; ``preview`` runs it and returns the summary and the series.

A preview reruns only the stages downstream of what changed (a finance input reruns finance alone, the
power price energy onwards) from the base run's cached stages, runs in a pool of worker threads sized to
the machine, at a bounded number of draws, and keeps recent runs and answers in caches bounded in bytes.
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
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
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
from neocloud.pipeline import STAGES, Results, base_dataset, with_renamed_keys
from neocloud.pipeline import run as run_pipeline
from neocloud.scenario import Dist, Finance, Scenario
from neocloud.uncertainty import quantiles, realise, uncertain_inputs
from neocloud.web import panels

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


def _distribute(total: int, weights: list[float], minimum: int = 1) -> list[int]:
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


def apply_inputs(data: dict[str, Any], inputs: Inputs, base: Results, catalog: Catalog) -> dict[str, Any]:
    """A copy of scenario data with the dashboard's inputs written in.

    Buildings and accelerators are spread over the phases in the proportions of the base run; a phase
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
        dataset = base.dataset
        phase_accelerators = np.median(np.asarray(dataset["phase_accelerators"].values, dtype=float), axis=0)
        buildings = [int(phase.get("buildings", 1)) for phase in phases]
        per_building = [
            float(count) / max(count_buildings, 1)
            for count, count_buildings in zip(phase_accelerators, buildings, strict=True)
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


def _series(array: xr.DataArray) -> dict[str, list[float | None]]:
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
    for name in MONTHLY:
        if name in dataset and dataset[name].dims == ("draw", "month"):
            out["monthly"][name] = _series(dataset[name])
    for name in BY_PHASE:
        if name in dataset and dataset[name].dims == ("draw", "phase"):
            out["by_phase"][name] = _series(dataset[name])["p50"]
    for name, label in CAPEX:
        if name in dataset and dataset[name].dims == ("draw",):
            out["capex_usd"][label] = _series(dataset[name])["p50"][0]
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


def uncertain_paths(scenario: Scenario) -> tuple[str, ...]:
    """The dotted paths of a scenario's uncertain inputs, in sampling order."""
    return tuple(".".join(path) for path, _ in uncertain_inputs(scenario))


def run_stages(scenario: Scenario, draws: int, seed: int, catalog: Catalog,
               reuse: BaseRun | None = None, first: int = 0) -> tuple[Results, tuple[xr.Dataset, ...]]:
    """Run the pipeline's stages from stage ``first`` on, the earlier ones taken from ``reuse``.

    With ``first == 0`` this is the pipeline's own ``evaluate``; the Datasets each stage was given are
    kept, so that a later change can restart from any stage.
    """
    realised = realise(scenario, draws, seed)
    if reuse is not None and first > 0:
        states = list(reuse.before_stage[: first + 1])
        dataset = states[first]
    else:
        first, dataset = 0, base_dataset(scenario, draws)
        states = [dataset]
    for index in range(first, len(STAGES)):
        dataset = dataset.merge(STAGES[index][1](realised, catalog, dataset), compat="override")
        if index + 1 < len(STAGES):
            states.append(dataset)
    dataset = with_renamed_keys(dataset)
    dataset.attrs.update(scenario=scenario.name, draws=draws, seed=seed)
    return Results(scenario, dataset, draws, seed), tuple(states)


def _answer_bytes(answer: dict[str, Any]) -> int:
    return len(json.dumps(answer, default=str)) + sys.getsizeof(answer)


class Previewer:
    """Runs what-if changes of a scenario in a pool of worker threads, from cached upstream stages.

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
        self.workers = workers or os.cpu_count() or 1
        self.processes = processes
        self._pool: Executor
        if processes:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=_start_worker, initargs=(max_cache_bytes // 2, max_draws))
        else:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="neocloud-preview")

    def cached_bytes(self) -> int:
        """Bytes the caches of this process hold now."""
        return self._bases.bytes + self._answers.bytes + self._payloads.bytes

    def submit_json(self, text: str, inputs: Inputs, draws: int = 1, seed: int = 0) -> Future[bytes]:
        """The preview's answer as JSON bytes (without ``elapsed_ms``), computed in the worker pool."""
        given = inputs.model_dump(exclude_none=True)
        key = hashlib.sha256(f"{draws}:{seed}:{json.dumps(given, sort_keys=True)}:{text}".encode()).hexdigest()
        cached = self._payloads.get(key)
        if cached is not None:
            done: Future[bytes] = Future()
            done.set_result(cached)
            return done
        if self.processes:
            future = self._pool.submit(_worker_json, text, given, draws, seed)
        else:
            future = self._pool.submit(_answer_json, self, text, given, draws, seed)
        future.add_done_callback(lambda finished: self._keep_payload(key, finished))
        return future

    def _keep_payload(self, key: str, finished: Future[bytes]) -> None:
        if not finished.cancelled() and finished.exception() is None:
            payload = finished.result()
            self._payloads.put(key, payload, len(payload))

    def close(self) -> None:
        """Stop the worker pool (previews already queued are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def base(self, text: str, draws: int, seed: int) -> BaseRun:
        """The scenario in ``text`` run with its stages kept (cached by text, draws and seed)."""
        key = hashlib.sha256(f"{draws}:{seed}:{text}".encode()).hexdigest()
        cached = self._bases.get(key)
        if cached is None:
            scenario, data = parse_scenario(text)
            catalog = scenario_catalog(scenario)
            results, states = checked(run_stages, scenario, draws, seed, catalog)
            cached = BaseRun(scenario, data, catalog, results, states, uncertain_paths(scenario))
            self._bases.put(key, cached, cached.nbytes())
        return cached

    def changed(self, base: BaseRun, inputs: Inputs, draws: int, seed: int) -> tuple[Scenario, Results, str]:
        """The base scenario with ``inputs`` applied, run from the first stage they reach."""
        given = inputs.model_dump(exclude_none=True)
        # the inputs never touch the scenario's own catalog rows, so the base's catalog serves
        changed = apply_inputs(base.data, inputs, base.results, base.catalog)
        changed_text = yaml.safe_dump(changed, sort_keys=False, allow_unicode=True)
        scenario = validate(changed, "scenario with the dashboard's inputs", catalog=base.catalog)
        first = min(STAGE_NAMES.index(FIRST_STAGE[name]) for name in given)
        if uncertain_paths(scenario) != base.uncertain:  # other random samples: every stage again
            first = 0
        results, _ = checked(run_stages, scenario, draws, seed, base.catalog, base, first)
        return scenario, results, changed_text

    def preview(self, text: str, inputs: Inputs, draws: int = 1, seed: int = 0) -> dict[str, Any]:
        """The summary, input values, chart series and scenario text of ``text`` with ``inputs`` applied."""
        started = time.perf_counter()
        if draws > self.max_draws:
            raise ScenarioError(f"{draws} draws asked; a preview runs at most {self.max_draws}", field="draws",
                                value=draws, allowed=f"1 to {self.max_draws}; keep a run for more")
        given = inputs.model_dump(exclude_none=True)
        key = hashlib.sha256(f"{draws}:{seed}:{json.dumps(given, sort_keys=True)}:{text}".encode()).hexdigest()
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


def checked(function: Any, scenario: Scenario, *args: Any) -> Any:
    """Call a pipeline function; a value error that the scenario's numbers cause becomes a ScenarioError."""
    try:
        with np.errstate(all="ignore"):
            return function(scenario, *args)
    except ScenarioError:
        raise
    except (ValueError, ArithmeticError, OverflowError) as err:
        raise ScenarioError(f"could not be run: {err}", field="scenario", value=scenario.name) from None


def run_checked(scenario: Scenario, draws: int, seed: int, catalog: Catalog | None = None) -> Results:
    """Run the pipeline; a value error that the scenario's numbers cause becomes a ScenarioError."""
    try:
        with np.errstate(all="ignore"):
            return run_pipeline(scenario, draws=draws, seed=seed, catalog=catalog)
    except ScenarioError:
        raise
    except (ValueError, ArithmeticError, OverflowError) as err:
        raise ScenarioError(f"could not be run: {err}", field="scenario", value=scenario.name) from None
