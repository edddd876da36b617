"""Previews: the what-if runs of the dashboard, answered from caches bounded in bytes or computed in a pool.

A preview is named by the scenario it makes (:mod:`neocloud.web.whatif` writes the inputs into it), so that
requests making the same scenario share one answer (cached, or the one run in flight); it reruns only the
stages downstream of what changed from the base run's cached stages, in a pool of workers sized to the
machine (processes under ``neocloud serve``, each keeping its own base runs), at a bounded number of draws.
The pool stops with the application (``Previewer.close``, then ``stop_fork_server``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import OrderedDict
from concurrent.futures import Executor, Future, InvalidStateError, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from threading import Lock
from typing import Any

import numpy as np
import xarray as xr
import yaml

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.load import scenario_catalog, validate
from neocloud.pipeline import STAGES, Results, base_dataset, finished, run_stage, stage_reads
from neocloud.realise import realise
from neocloud.scenario import Scenario
from neocloud.uncertainty import uncertain_inputs
from neocloud.web import panels
from neocloud.web.whatif import (
    DEFAULT_CACHE_BYTES,
    FIRST_STAGE,
    MAX_PREVIEW_DRAWS,
    SAFE_DUMPER,
    STAGE_NAMES,
    Inputs,
    apply_inputs,
    charts,
    current_inputs,
    parse_scenario,
    phase_accelerators,
)


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
