"""Benchmark of Monte Carlo draws through the full pipeline.

Measures, on the Abilene example with its uncertainties:
- full-pipeline draws per second of one vectorised pass, against the floor: the memory-bandwidth bound (bytes
  of results written per draw at ~30 GB/s, this machine's numpy copy/triad) and the exact dispatch's
  (one typical year per draw at the measured nanoseconds per hour-draw); the fraction of each reached;
- as context, a per-draw loop of ``run(draws=1)`` (mostly per-call overhead: not a fair baseline);
- the speed-up of a sweep from 1 to 2 Dask worker processes, with chunks large enough to pay for a worker;
- the peak resident memory of 1,000,000 draws run in chunks (a child process; --quick: 20,000 in chunks of
  10,000).

Run: ``python benchmarks/bench_uncertainty.py [--quick]``; the last line is the summary: the draws per
second, the bandwidth floor's, and the ratio.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neocloud import load, run
from neocloud.energy.hourly import HOURS_PER_YEAR
from neocloud.load import scenario_catalog
from neocloud.sweep import run_sweep

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_pipeline import dispatch_ns_per_hour_draw

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "abilene.yaml"
BANDWIDTH_BYTES_PER_S = 30e9  # numpy copy ~25 GB/s, triad ~35 GB/s on this machine (shared/RECIPES.md)

CHUNKED = """
import sys, time
from neocloud import load
from neocloud.sweep import run_draws
start = time.perf_counter()
values = run_draws(load(sys.argv[1]), int(sys.argv[2]), seed=0, chunk_draws=int(sys.argv[3]))
print(len(values["cost_usd_per_gpu_hour"]), time.perf_counter() - start)
"""


def best_time(function, repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def sweep_seconds(workers: int, draws: int, chunk_draws: int) -> float:
    """Wall time of a one-point sweep on a local cluster of ``workers`` processes (cluster start included)."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_sweep(
            SCENARIO,
            [],
            draws=draws,
            seed=0,
            chunk_draws=chunk_draws,
            store=f"sqlite:///{folder}/bench.db",
            workers=workers,
            processes=True,
        )
        return time.perf_counter() - start


def main() -> None:
    """Run the measurements and print them, the summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    quick = parser.parse_args().quick
    scenario = load(SCENARIO)
    catalog = scenario_catalog(scenario)

    draws = 5_000 if quick else 20_000  # at least INTERPOLATION_MIN_DRAWS per merit class
    run(scenario, draws=16, catalog=catalog)  # warm caches and imports
    vectorised = best_time(lambda: run(scenario, draws=draws, catalog=catalog), 1 if quick else 2)
    results = run(scenario, draws=draws, catalog=catalog)
    bytes_per_draw = results.dataset.nbytes / draws
    draws_per_s = draws / vectorised
    bound_per_s = BANDWIDTH_BYTES_PER_S / bytes_per_draw
    loop_draws = 5 if quick else 40
    loop = best_time(lambda: [run(scenario, draws=1, catalog=catalog) for _ in range(loop_draws)], 1)
    loop_per_s = loop_draws / loop
    print(f"vectorised: {draws:,} draws in {vectorised:.2f} s = {draws_per_s:,.0f} draws/s (one core)")
    print(f"per-draw loop: {loop_draws} draws in {loop:.2f} s = {loop_per_s:,.1f} draws/s")
    print(
        f"bytes of results per draw: {bytes_per_draw:,.0f}; bandwidth bound at 30 GB/s: {bound_per_s:,.0f} "
        f"draws/s; reached {draws_per_s / bound_per_s:.1%}"
    )
    ns = dispatch_ns_per_hour_draw(scenario, catalog, 1_000)
    dispatch_floor = 1e9 / (ns * HOURS_PER_YEAR)
    method = results.dataset["annual_energy_mwh"].attrs["method"]
    print(
        f"exact dispatch: {ns:.0f} ns per hour-draw; one typical year per draw caps an exact pipeline at "
        f"{dispatch_floor:,.0f} draws/s; reached {draws_per_s / dispatch_floor:.2f}x of it (energy: {method})"
    )

    sweep_draws, chunk_draws = (8_000, 4_000) if quick else (40_000, 10_000)
    one = sweep_seconds(1, sweep_draws, chunk_draws)
    two = sweep_seconds(2, sweep_draws, chunk_draws)
    print(
        f"sweep of {sweep_draws:,} draws ({chunk_draws:,} a chunk): 1 worker {one:.1f} s, "
        f"2 workers {two:.1f} s, speed-up {one / two:.2f}x (cluster start-up included)"
    )

    memory_draws = 20_000 if quick else 1_000_000
    memory_chunk = 10_000
    child = subprocess.run(
        [sys.executable, "-c", CHUNKED, str(SCENARIO), str(memory_draws), str(memory_chunk)],
        capture_output=True,
        text=True,
        check=True,
    )
    count, seconds = child.stdout.split()
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"chunked: {int(count):,} draws in chunks of {memory_chunk:,} in {float(seconds):.1f} s, "
        f"peak memory {peak_mib:,.0f} MiB"
    )
    print(f"context: per-draw loop of run(draws=1) {loop_per_s:,.1f} draws/s, ratio {draws_per_s / loop_per_s:,.0f}x")
    print(
        f"uncertainty: {draws_per_s:,.0f} draws/s ({bytes_per_draw / 1e3:,.0f} kB/draw); 1->2 workers "
        f"{one / two:.2f}x; peak {peak_mib:,.0f} MiB for {memory_draws:,} draws; bandwidth floor "
        f"{bound_per_s:,.0f} draws/s, ratio {draws_per_s / bound_per_s:.3f}"
    )


if __name__ == "__main__":
    main()
