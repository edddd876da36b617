"""Sweeps: a scenario over a grid of field values times Monte Carlo draws, in chunks, on Dask.

A sweep runs every grid point for ``draws`` draws, cut into chunks of at most ``chunk_draws`` draws.
Chunk ``c`` of every grid point uses the seed derived from ``(seed, c)``, so every point sees the same
sampled inputs (common random numbers) and results do not depend on how many workers ran them. Chunks
run on a local Dask cluster (or a scheduler's); each finished chunk is written to the store at once, so
a sweep that is killed and run again runs only the chunks that are missing. The per-draw summary goes
to Parquet and the per-point P10/P50/P90 of every summary key to netCDF.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import dask
import numpy as np
import pandas as pd
import xarray as xr
import yaml
from dask.distributed import Client, LocalCluster, as_completed
from pydantic import BaseModel

from neocloud.errors import ScenarioError
from neocloud.io import write_atomic_with
from neocloud.limits import DEFAULT_CHUNK_DRAWS, QUANTILES
from neocloud.load import read_yaml, validate
from neocloud.pipeline import Results, run, summary_keys, to_netcdf
from neocloud.scenario import Scenario
from neocloud.sweep_store import finished_chunks, open_store, read_chunks, record_sweep, write_chunk

# glibc's allocator in the workers (see local_cluster): blocks under 32 MiB from the heap, freed memory kept,
# and one arena, the main one, for every thread (a worker runs its chunks in a thread of its own)
ALLOCATOR_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),
                     "MALLOC_ARENA_MAX": "1"}
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt's parameters (malloc.h)
# a local cluster's workers: the allocator above, and no statistical profiler (see local_cluster)
WORKER_CONFIG: dict[str, Any] = {
    **{f"distributed.nanny.pre-spawn-environ.{key}": value for key, value in ALLOCATOR_ENVIRON.items()},
    "distributed.worker.profile.enabled": False,
}
Value = float | int | str | bool
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GridAxis:
    """One axis of a sweep grid: a dotted field path of the scenario and the values it takes."""

    path: str
    values: tuple[Value, ...]


@dataclass
class SweepResult:
    """What a sweep produced: its id, the per-draw table, the per-point quantiles and what it ran."""

    sweep_id: str
    draws: pd.DataFrame
    quantiles: xr.Dataset
    chunks_run: int
    chunks_reused: int
    paths: dict[str, Path] = field(default_factory=dict)


def parse_grid(specs: list[str]) -> list[GridAxis]:
    """Grid axes from ``PATH=v1,v2,...`` strings; values are read as YAML scalars (numbers, ids)."""
    axes: list[GridAxis] = []
    for spec in specs:
        path, equals, text = spec.partition("=")
        path = path.strip()
        if not equals or not path or not text.strip():
            raise ScenarioError(
                "a grid is written PATH=v1,v2,...",
                field="--grid",
                value=spec,
                allowed="e.g. finance.discount_rate=0.06,0.10",
            )
        values = []
        for item in text.split(","):
            value = yaml.safe_load(item.strip()) if item.strip() else None
            if not isinstance(value, int | float | str | bool):
                raise ScenarioError(
                    f"'{item}' is not a number or an id",
                    field=path,
                    value=item,
                    allowed="numbers or catalog ids separated by commas",
                )
            values.append(value)
        if path in [axis.path for axis in axes]:
            raise ScenarioError("is given twice as a grid axis", field=path, value=spec)
        axes.append(GridAxis(path, tuple(values)))
    return axes


def check_path(scenario: BaseModel, path: str) -> None:
    """Raise ScenarioError unless ``path`` (dotted, list indices as digits) names a value of the scenario."""
    current: Any = scenario
    parts = path.split(".")
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        if isinstance(current, BaseModel):
            fields = list(type(current).model_fields)
            if part not in fields:
                raise ScenarioError(
                    "is not a field of the scenario", field=here, value=part, allowed=", ".join(fields)
                )
            current = getattr(current, part)
        elif isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                raise ScenarioError(
                    "is not an index of the list", field=here, value=part, allowed=f"0 to {len(current) - 1}"
                )
            current = current[int(part)]
        else:
            raise ScenarioError(
                "is not a field of the scenario",
                field=here,
                value=part,
                allowed=f"{'.'.join(parts[:depth])} is a value and has no fields",
            )
    if isinstance(current, BaseModel) and type(current).__name__ != "Dist":
        raise ScenarioError(
            "is a section, not a value",
            field=path,
            allowed=", ".join(f"{path}.{name}" for name in type(current).model_fields),
        )
    if isinstance(current, list | dict):
        raise ScenarioError("is a list or mapping, not a value", field=path)


def grid_points(axes: list[GridAxis]) -> list[dict[str, Value]]:
    """Every combination of the axes' values (the first axis varies slowest); one empty point if no axes."""
    return [
        dict(zip([axis.path for axis in axes], combination, strict=True))
        for combination in itertools.product(*(axis.values for axis in axes))
    ]


def set_path(data: dict[str, Any], path: str, value: Value) -> dict[str, Any]:
    """A deep copy of scenario data (as parsed from YAML) with ``value`` at the dotted ``path``."""
    data = copy.deepcopy(data)
    current: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        current = current[int(part)] if isinstance(current, list) else current.setdefault(part, {})
    if isinstance(current, list):
        current[int(parts[-1])] = value
    else:
        current[parts[-1]] = value
    return data


def scenario_at(
    data: dict[str, Any],
    point: dict[str, Value],
    file: str = "<scenario>",
    lines: dict[tuple[str, ...], int] | None = None,
) -> Scenario:
    """The validated scenario at a grid point (ScenarioError naming the path if a value is not allowed)."""
    base = validate(data, file, lines)
    for path in point:
        check_path(base, path)
    for path, value in point.items():
        data = set_path(data, path, value)
    try:
        return validate(data, file, lines)
    except ScenarioError as err:
        shown = ", ".join(f"{path}={value}" for path, value in point.items())
        raise ScenarioError(
            f"at the grid point {shown}: {err.message}",
            file=err.file,
            field=err.field,
            value=err.value,
            allowed=err.allowed,
        ) from None


def sweep_id(text: str, axes: list[GridAxis], draws: int, seed: int, chunk_draws: int) -> str:
    """The id of a sweep: SHA-256 of the scenario text, the grid, the draws, the seed and the chunk size."""
    key = json.dumps(
        {
            "scenario": text,
            "grid": [[axis.path, list(axis.values)] for axis in axes],
            "draws": draws,
            "seed": seed,
            "chunk_draws": chunk_draws,
            "format": 1,
        },
        sort_keys=True,
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def chunk_sizes(draws: int, chunk_draws: int) -> list[int]:
    """Draws in each chunk: full chunks of ``chunk_draws`` and one shorter last chunk if needed."""
    full, rest = divmod(draws, chunk_draws)
    return [chunk_draws] * full + ([rest] if rest else [])


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk``: derived from ``(seed, chunk)`` only, never from the worker."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)[0])


def run_chunk(scenario: Scenario, draws: int, seed: int) -> dict[str, np.ndarray]:
    """The per-draw summary of one chunk: every summary key as a float64 array of shape (draw,)."""
    dataset = run(scenario, draws=draws, seed=seed, summary_only=True).dataset
    return {key: np.asarray(dataset.variables[key].values, dtype=float) for key in summary_keys(dataset)}


def run_draws(
    scenario: Scenario, draws: int, seed: int = 0, chunk_draws: int = DEFAULT_CHUNK_DRAWS, workers: int = 1
) -> dict[str, np.ndarray]:
    """The per-draw summary of ``draws`` draws, run chunk by chunk (memory bounded: each chunk's results and
    the (draw,) summary arrays, filled in place, never a second copy of them), in this process or, with
    ``workers`` above 1, on a local Dask cluster of that many worker processes.

    Gives the same values whatever ``workers``, and as a sweep of one grid point with the same seed and chunk
    size: a chunk's seed comes from its index.
    """
    sizes = chunk_sizes(draws, chunk_draws)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    out: dict[str, np.ndarray] = {}

    def place(index: int, part: dict[str, np.ndarray]) -> None:
        if not out:
            out.update({key: np.empty(draws) for key in part})
        for key, values in part.items():
            out[key][offsets[index] : offsets[index] + sizes[index]] = values

    if workers <= 1:
        for index, size in enumerate(sizes):
            place(index, run_chunk(scenario, size, chunk_seed(seed, index)))
        return out
    with connected(None, workers, processes=True) as client:
        futures = {client.submit(run_chunk, scenario, size, chunk_seed(seed, index), pure=False): index
                   for index, size in enumerate(sizes)}
        for future in as_completed(futures):
            place(futures[future], future.result())
            future.release()
    return out


def keep_freed_memory() -> bool:
    """Set this process's glibc allocator as the workers' (``ALLOCATOR_ENVIRON``), through ``mallopt``: for
    a process that runs chunk after chunk, such as the command line's run in chunks. Whether it was set (not
    on another C library)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is None:
        return False
    return all(bool(mallopt(parameter, int(ALLOCATOR_ENVIRON[name]))) for parameter, name in (
        (M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"), (M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
        (M_ARENA_MAX, "MALLOC_ARENA_MAX")))


def run_chunked(scenario: Scenario, draws: int, seed: int = 0,
                chunk_draws: int = DEFAULT_CHUNK_DRAWS, workers: int = 1) -> Results:
    """Results of many draws in bounded memory: the per-draw summary variables only (no ``month`` axis), on
    ``workers`` processes."""
    values = run_draws(scenario, draws, seed, chunk_draws, workers)
    template = run(scenario, draws=1, seed=seed).dataset
    dataset = xr.Dataset(
        {key: xr.DataArray(array, dims="draw", attrs=template[key].attrs) for key, array in values.items()},
        coords={"draw": np.arange(draws)},
        attrs={"scenario": scenario.name, "draws": draws, "seed": seed, "chunk_draws": chunk_draws},
    )
    return Results(scenario, dataset, draws, seed)


def local_cluster(workers: int, processes: bool = True) -> LocalCluster:
    """A local Dask cluster of ``workers`` single-threaded workers (processes, or threads).

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its worker processes by default. Set at all, it
    pins glibc's mmap threshold at 128 KiB, so every (draw, month) temporary is mapped and faulted in
    afresh: a run of 2,000 Abilene draws took 6.0-6.8 s in such a process against 1.9-2.1 s without
    (docs/methods/performance.md). The workers here start with ``ALLOCATOR_ENVIRON`` instead: blocks
    under 32 MiB (a 10,000-draw, 180-month float64 array is 14 MiB) come from the heap, and freed memory is
    kept for the next chunk rather than returned and faulted in again (3.4-4.2x fewer page faults and 7-24%
    less CPU time for 30,000 draws in chunks of 10,000, the same peak memory). A worker runs its tasks in a
    thread other than its main one, where glibc would give them an arena of their own, made of mapped heaps
    of at most 64 MiB that it returns and faults in again: one arena for all (``MALLOC_ARENA_MAX=1``) took
    a 10,000-draw Abilene chunk in such a thread from 67,000-90,000 page faults and 1.29-1.52 s of CPU to
    under 2,000 and 1.01-1.31 s, as in the main thread.

    Dask's statistical profiler, which samples the running task's stack every 10 ms for the dashboard's
    profile page, is off (``WORKER_CONFIG``): it slowed each 10,000-draw chunk from 0.89-1.11 s to 1.09-1.37 s
    of wall time on two workers, and these clusters have no dashboard to show it.
    """
    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",  # any free port: two clusters on one machine must not clash
            silence_logs=logging.ERROR,
        )


@contextmanager
def connected(scheduler: str | None, workers: int, processes: bool) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler`` or, without one, of a local cluster of ``workers`` workers
    (see ``local_cluster``), closed (the cluster too) when the block ends."""
    cluster = None if scheduler else local_cluster(workers, processes)
    client = Client(scheduler) if scheduler else Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _tasks(
    points: list[Scenario], sizes: list[int], seed: int, done: set[tuple[int, int]]
) -> Iterator[tuple[int, int, Scenario, int, int]]:
    for point, scenario in enumerate(points):
        for chunk, size in enumerate(sizes):
            if (point, chunk) not in done:
                yield point, chunk, scenario, size, chunk_seed(seed, chunk)


def _run_tasks(
    client: Client,
    tasks: list[tuple[int, int, Scenario, int, int]],
    engine: Any,
    identity: str,
    total: int,
    progress: Progress | None,
) -> None:
    """Run the chunks on the cluster, writing each to the store as it finishes."""
    futures = {
        client.submit(run_chunk, scenario, size, task_seed, pure=False): (point, chunk)
        for point, chunk, scenario, size, task_seed in tasks
    }
    finished = total - len(tasks)
    for future in as_completed(futures):
        point, chunk = futures[future]
        write_chunk(engine, identity, point, chunk, future.result())
        future.release()
        finished += 1
        if progress is not None:
            progress(finished, total)


def run_sweep(
    scenario_path: str | Path,
    grid: list[str] | list[GridAxis],
    draws: int = 1,
    seed: int = 0,
    chunk_draws: int = DEFAULT_CHUNK_DRAWS,
    out: str | Path | None = None,
    scheduler: str | None = None,
    store: str | None = None,
    workers: int = 2,
    processes: bool = True,
    progress: Progress | None = None,
) -> SweepResult:
    """Run a scenario over a grid times ``draws`` draws on Dask, resuming from the store.

    Parameters
    ----------
    scenario_path : the scenario YAML file.
    grid : ``PATH=v1,v2`` strings (or parsed axes); PATH is a dotted field path of the scenario.
    draws, seed : Monte Carlo draws per grid point and the seed they derive from.
    chunk_draws : draws per chunk (the unit of work, of storage and of what a kill may lose).
    out : folder for ``sweep.parquet`` (per draw) and ``sweep.nc`` (per point P10/P50/P90).
    scheduler : address of a Dask scheduler; none starts a local cluster of ``workers`` workers
        (processes, or threads with ``processes=False``).
    store : SQLAlchemy URL of the store (``neocloud.store.store_url`` decides the default).
    progress : called with (chunks finished, chunks in all) as chunks finish.
    """
    if draws < 1 or chunk_draws < 1:
        raise ScenarioError(
            "must be at least 1",
            field="--draws" if draws < 1 else "--chunk-draws",
            value=min(draws, chunk_draws),
        )
    if workers < 1:
        raise ScenarioError("must be at least 1", field="--workers", value=workers)
    data, lines, text = read_yaml(scenario_path)
    axes = parse_grid(cast(list[str], grid)) if grid and isinstance(grid[0], str) else cast(list[GridAxis], grid)
    points = grid_points(axes)
    scenarios = [scenario_at(data, point, str(scenario_path), lines) for point in points]
    sizes = chunk_sizes(draws, chunk_draws)
    identity = sweep_id(text, axes, draws, seed, chunk_draws)
    engine = open_store(store)
    record_sweep(
        engine,
        identity,
        scenarios[0].name,
        [(axis.path, list(axis.values)) for axis in axes],
        draws,
        seed,
        chunk_draws,
        len(points),
        len(sizes),
    )
    done = finished_chunks(engine, identity)
    total = len(points) * len(sizes)
    tasks = list(_tasks(scenarios, sizes, seed, done))
    if progress is not None:
        progress(total - len(tasks), total)
    if tasks:
        with connected(scheduler, workers, processes) as client:
            _run_tasks(client, tasks, engine, identity, total, progress)
    frame, quantiles = collect(engine, identity, axes, points, sizes)
    engine.dispose()
    result = SweepResult(identity, frame, quantiles, len(tasks), total - len(tasks))
    if out is not None:
        result.paths = write_results(result, out)
    return result


def collect(
    engine: Any, identity: str, axes: list[GridAxis], points: list[dict[str, Value]], sizes: list[int]
) -> tuple[pd.DataFrame, xr.Dataset]:
    """The per-draw table and the per-point quantiles of a finished sweep, read from the store."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    frames = []
    for point, chunk, arrays in read_chunks(engine, identity):
        size = len(next(iter(arrays.values())))
        columns: dict[str, Any] = {"point": np.full(size, point), "draw": offsets[chunk] + np.arange(size)}
        columns.update({axis.path: [points[point][axis.path]] * size for axis in axes})
        columns.update(arrays)
        frames.append(pd.DataFrame(columns))
    frame = pd.concat(frames, ignore_index=True)
    keys = [name for name in frame.columns if name not in ("point", "draw", *(axis.path for axis in axes))]
    grouped = frame.groupby("point")[keys]
    values = np.stack(
        [grouped.quantile(level).reindex(range(len(points))).to_numpy() for level in QUANTILES], axis=1
    )
    quantiles = xr.Dataset(
        {key: (("point", "quantile"), values[:, :, index]) for index, key in enumerate(keys)},
        coords={"point": np.arange(len(points)), "quantile": list(QUANTILES)},
    )
    for axis in axes:
        quantiles.coords[axis.path] = ("point", [point[axis.path] for point in points])
    quantiles.attrs.update(
        sweep_id=identity, grid=json.dumps([[axis.path, list(axis.values)] for axis in axes])
    )
    return frame, quantiles


def write_results(result: SweepResult, out: str | Path) -> dict[str, Path]:
    """Write ``sweep.parquet`` (one row per grid point and draw) and ``sweep.nc`` (quantiles), atomically."""
    folder = Path(out)
    return {
        "parquet": write_atomic_with(
            folder / "sweep.parquet", lambda tmp: result.draws.to_parquet(tmp, index=False)
        ),
        "netcdf": write_atomic_with(folder / "sweep.nc", lambda tmp: to_netcdf(result.quantiles, tmp)),
    }
