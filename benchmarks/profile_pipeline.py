"""Where the time goes: seconds, bytes and Python calls per stage per draw, beside this machine's bandwidth.

For the Abilene example at 1,000, 10,000 and 100,000 draws (``--quick``: 1,000 and 10,000), each stage of the
pipeline is timed on its own on the view of what it reads (as ``pipeline.evaluate`` shows it), the bytes of
what it adds are counted, and, in a second pass, its Python function calls (built-in calls included). Rows
beside the stages: sampling the inputs (``realise``), the assembly (each stage's view, the Dataset built at
the end), the summary (``summarise``) and writing the netCDF file (its kB/draw is the file's size); "in
all" counts them all. After the tables: each size run as a chunk of a run in chunks runs it (the summary
only, finance and inference in blocks of draws), build-out on every draw against once per distinct draw,
numpy's copy bandwidth measured here on warm 400 MB arrays, the time each stage's output would take to
write at that bandwidth, and the floor of the energy stage's exact dispatch in nanoseconds per hour-draw.
100,000 draws hold about 12 GB at their peak (about 120 kB per draw): give ``--draws`` to stay smaller.
The process keeps its freed memory for reuse, as runs in chunks do (``sweep.keep_freed_memory``);
``--default-allocator`` leaves glibc's default, under which the same stages can take up to 3x longer
depending on what was freed before them.
Usage: ``python benchmarks/profile_pipeline.py [--quick] [--draws N ...]``; the last line is the summary.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import neocloud
from neocloud import buildout as buildout_module
from neocloud.blocks import BLOCK_DRAWS, in_blocks, per_distinct_draw
from neocloud.buildout import buildout
from neocloud.energy import configure, simulate, site_model
from neocloud.energy.hourly import HOURS_PER_YEAR, Site
from neocloud.load import scenario_catalog
from neocloud.pipeline import STAGES, Made, base_dataset, stage_reads, summarise, to_netcdf
from neocloud.plant import grid_capacity_mw
from neocloud.realise import realise
from neocloud.sweep import keep_freed_memory

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "abilene.yaml"
COPY_BYTES = 400_000_000


def copy_bandwidth_bytes_per_s(repeats: int = 5) -> float:
    """numpy's copy bandwidth on warm arrays (read plus write bytes per second), best of ``repeats``."""
    source = np.ones(COPY_BYTES // 8)
    target = np.empty_like(source)
    np.copyto(target, source)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * COPY_BYTES / best


def count_calls(function: Callable[[], Any]) -> tuple[Any, int]:
    """The result of ``function()`` and the number of Python and built-in calls it made."""
    calls = 0

    def hook(frame: Any, event: str, argument: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(hook)
    try:
        result = function()
    finally:
        sys.setprofile(None)
    return result, calls


def timed_row(name: str, function: Callable[[], Any], counted: bool, nbytes: int = 0) -> tuple[Any, dict]:
    """The result of ``function()`` and its profile row: seconds, bytes and, if ``counted``, calls."""
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    calls = count_calls(function)[1] if counted else 0
    return result, {"stage": name, "seconds": seconds, "bytes": nbytes, "calls": calls}


def profile(scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int, counted: bool) -> list[dict]:
    """One row per stage, one for assembling their inputs and outputs (each stage's view of what it reads,
    the Dataset built at the end), and rows for sampling the inputs, the summary and the netCDF file:
    seconds, bytes added and, if ``counted``, calls."""
    realised, sampling = timed_row("realise", lambda: realise(scenario, draws, seed=0), counted)
    reads = stage_reads()
    made = Made(base_dataset(scenario, draws))
    rows, assembly = [sampling], 0.0
    for name, stage in STAGES:
        start = time.perf_counter()
        view = made.view(reads[name])
        assembly += time.perf_counter() - start
        start = time.perf_counter()
        produced = stage(realised, catalog, view)
        seconds = time.perf_counter() - start
        calls = count_calls(lambda stage=stage, data=view: stage(realised, catalog, data))[1] if counted else 0
        made.add(produced)
        rows.append({"stage": name, "seconds": seconds, "bytes": produced.nbytes, "calls": calls})
    dataset, row = timed_row("assembly", made.dataset, counted)
    row["seconds"] += assembly
    rows.append(row)
    rows.append(timed_row("summarise", lambda: summarise(dataset, scenario.name, draws), counted)[1])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.nc"
        rows.append(timed_row("netcdf", lambda: to_netcdf(dataset, path), False)[1])
        rows[-1]["bytes"] = path.stat().st_size
    return rows


def chunk_seconds(scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int) -> float:
    """Seconds of one run of ``draws`` draws as a chunk of a run in chunks runs it (the summary only)."""
    start = time.perf_counter()
    neocloud.run(scenario, draws=draws, catalog=catalog, summary_only=True)
    return time.perf_counter() - start


def final_site(scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int) -> Site:
    """The site of the final supply with every draw's own utilisation and IT load (what dispatch sees)."""
    realised = realise(scenario, draws, seed=0)
    dataset = base_dataset(scenario, draws)
    for _, stage in STAGES[:2]:
        dataset = dataset.merge(stage(realised, catalog, dataset), compat="override")
    months = dataset.sizes["month"]
    grid = grid_capacity_mw(realised, catalog, months, draws)
    return configure(realised, catalog, site_model(realised, catalog, draws), months - 1, grid[:, -1],
                     dataset["it_power_mw"].values)


def dispatch_ns_per_hour_draw(scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int) -> float:
    """Nanoseconds per hour-draw of the exact dispatch: the final supply with every draw's own utilisation."""
    site = final_site(scenario, catalog, draws)
    start = time.perf_counter()
    simulate(site)
    return (time.perf_counter() - start) / (draws * HOURS_PER_YEAR) * 1e9


def buildout_distinct(scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int) -> tuple[float, float]:
    """Seconds of build-out computed on every draw (in blocks of ``BLOCK_DRAWS``) and once per distinct draw
    (as the pipeline runs it), best of two each, asserting the same bits."""
    realised = realise(scenario, draws, seed=0)
    upstream = base_dataset(scenario, draws)
    upstream = upstream.merge(STAGES[0][1](realised, catalog, upstream), compat="override")
    times = []
    outputs = []
    every_draw = lambda function, arrays, **_: in_blocks(function, arrays)  # noqa: E731 (unread: none here)
    for shared in (every_draw, per_distinct_draw):
        buildout_module.per_distinct_draw = shared
        best = np.inf
        for _ in range(2):
            start = time.perf_counter()
            out = buildout(realised, catalog, upstream)
            best = min(best, time.perf_counter() - start)
        times.append(best)
        outputs.append(out)
    for key in outputs[0].data_vars:
        assert np.array_equal(outputs[0][key].values, outputs[1][key].values, equal_nan=True), key
    return times[0], times[1]


def print_table(draws: int, rows: list[dict], bandwidth: float) -> float:
    """Print one size's table; return the pipeline's seconds."""
    total = sum(row["seconds"] for row in rows)
    print(f"\n{draws:,} draws: {total:.2f} s in all, {draws / total:,.0f} draws/s")
    print(f"{'stage':<12}{'s':>8}{'share':>8}{'us/draw':>10}{'kB/draw':>10}{'calls/draw':>12}{'write at bw':>13}")
    for row in rows:
        bound = row["bytes"] / bandwidth
        print(
            f"{row['stage']:<12}{row['seconds']:>8.3f}{row['seconds'] / total:>8.1%}"
            f"{row['seconds'] / draws * 1e6:>10.1f}{row['bytes'] / draws / 1e3:>10.2f}"
            f"{row['calls'] / draws:>12.2f}{bound * 1e3:>11.2f}ms"
        )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 draws")
    parser.add_argument("--draws", type=int, nargs="*", default=None)
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it starts (it returns freed memory, faulted in again)")
    args = parser.parse_args()
    sizes = args.draws or ([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    if not args.default_allocator:
        keep_freed_memory()  # as the command line's runs in chunks and the workers run
    scenario = neocloud.load(EXAMPLE)
    catalog = scenario_catalog(scenario)
    profile(scenario, catalog, 16, counted=False)  # warm imports and caches
    bandwidth = copy_bandwidth_bytes_per_s()
    print(f"numpy copy bandwidth here: {bandwidth / 1e9:.1f} GB/s (read + write, warm {COPY_BYTES / 1e6:.0f} MB)")
    results = {}
    for draws in sizes:
        rows = profile(scenario, catalog, draws, counted=draws <= 10_000)
        results[draws] = (rows, print_table(draws, rows, bandwidth))
    for draws in sizes:
        seconds = chunk_seconds(scenario, catalog, draws)
        print(f"summary only (a chunk of a run in chunks), {draws:,} draws: {seconds:.2f} s, "
              f"{draws / seconds:,.0f} draws/s, {seconds / draws * 1e6:,.0f} us/draw")
    every, distinct = buildout_distinct(scenario, catalog, sizes[-1])
    print(f"\nbuild-out at {sizes[-1]:,} draws: on every draw (blocks of {BLOCK_DRAWS:,}) {every:.2f} s, once per "
          f"distinct draw {distinct:.2f} s ({every / distinct:.1f}x, the same bits)")
    ns = dispatch_ns_per_hour_draw(scenario, catalog, min(sizes[-1], 2_000))
    largest = sizes[-1]
    rows, total = results[largest]
    out_bytes = sum(row["bytes"] for row in rows if row["stage"] in {name for name, _ in STAGES}) / largest
    bound = bandwidth / out_bytes
    floor = 1e9 / (ns * HOURS_PER_YEAR)
    print(f"\nexact dispatch: {ns:.0f} ns per hour-draw ({ns * HOURS_PER_YEAR / 1e6:.2f} ms per draw-year): "
          f"{floor:,.0f} draw-years/s on one core")
    print(f"results: {out_bytes / 1e3:.1f} kB per draw; written at the copy bandwidth: {bound:,.0f} draws/s")
    energy = next(row for row in rows if row["stage"] == "energy")
    print(f"profile: {largest / total:,.0f} draws/s at {largest:,} draws (energy {energy['seconds'] / total:.0%}); "
          f"bandwidth bound {bound:,.0f} draws/s; ratio {largest / total / bound:.3f}")


if __name__ == "__main__":
    main()
