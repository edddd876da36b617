"""Benchmark of Monte Carlo draws through the full pipeline.

Measures, on the Abilene example with its uncertainties:
- the headline: draws per second of the full pipeline as a user runs many draws (``neocloud run --draws N
  --workers 2``, i.e. ``sweep.run_draws``): 1,000,000 draws (--quick: 100,000) in chunks of 10,000 on two
  worker processes, in a fresh process, the cluster's start included, and the peak resident memory of that
  process and its workers together (sampled every 50 ms; --quick also projects it to 1,000,000 draws: the
  same chunks plus 8 bytes per draw and summary key);
- against the floors on two cores: the bytes of results per draw written once at ~30 GB/s a core (this
  machine's numpy copy/triad), and one exact typical-year dispatch per draw at the measured nanoseconds per
  hour-draw; the fraction of each reached;
- one chunk (10,000 draws) in this process (best of two, the process keeping its freed memory as the
  workers do), and the energy stage's account of what it simulated;
- the speed-up from 1 to 2 Dask worker processes on the same chunks (workers started and warmed before the
  clock, their start-up printed apart), and Dask's overhead against the chunks run in this process; beside
  it, the same chunks on 1 and 2 plain processes started together (no scheduler): what the two cores give;
- as context, a per-draw loop of ``run(draws=1)`` (mostly per-call overhead: not a fair baseline).

``--device gpu`` instead times the portable dispatch (``neocloud.energy.portable``) on a GPU through CuPy or
JAX, against the exact CPU path on the same draws; without a GPU (or either library) it says so in one line
and exits 2.

Run: ``python benchmarks/bench_uncertainty.py [--quick] [--device cpu|gpu]``; the last line is the summary:
the draws per second on two cores, one process's, the 1->2 scaling, the peak memory and the bandwidth floor.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from dask.distributed import Client

from neocloud import load, run
from neocloud.energy import dispatch
from neocloud.energy.hourly import HOURS_PER_YEAR
from neocloud.energy.portable import dispatch_portable, monthly_supply_mwh
from neocloud.load import scenario_catalog
from neocloud.sweep import chunk_seed, chunk_sizes, keep_freed_memory, local_cluster, run_chunk, run_draws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_pipeline import dispatch_ns_per_hour_draw, final_site

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "examples" / "abilene.yaml"
BANDWIDTH_BYTES_PER_S = 30e9  # numpy copy ~25 GB/s, triad ~35 GB/s on this machine (shared/RECIPES.md)

CHUNKED = """
import sys, threading, time
import psutil
from neocloud import load
from neocloud.sweep import run_draws
scenario, draws, chunk, workers = load(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
peak, done = 0, threading.Event()
def sample():  # resident memory of this process and its workers together, every 50 ms
    global peak
    me = psutil.Process()
    while not done.is_set():
        total = 0
        for process in [me, *me.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        peak = max(peak, total)
        done.wait(0.05)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
start = time.perf_counter()
values = run_draws(scenario, draws, seed=0, chunk_draws=chunk, workers=workers)
seconds = time.perf_counter() - start
done.set()
sampler.join()
print(len(values["cost_usd_per_gpu_hour"]), seconds, len(values), peak)
"""
PLAIN = """
import sys, time
from neocloud import load
from neocloud.sweep import chunk_seed, keep_freed_memory, run_chunk
keep_freed_memory()  # as the workers
scenario, size, chunks = load(sys.argv[1]), int(sys.argv[2]), [int(index) for index in sys.argv[3].split(",")]
run_chunk(scenario, size, chunk_seed(1, 0))  # imports, compiled kernels and a chunk's memory warm, as the workers
print("ready", flush=True)
sys.stdin.readline()  # every process starts its chunks at once
start = time.perf_counter()
for index in chunks:
    run_chunk(scenario, size, chunk_seed(0, index))
print(time.perf_counter() - start, flush=True)
"""
MILLION = 1_000_000
WORKERS = 2  # this machine's cores
CHUNK_DRAWS = 10_000  # the draws of a chunk (sweep.DEFAULT_CHUNK_DRAWS)
SCALING_CHUNK = CHUNK_DRAWS  # chunks of the 1->2 worker scaling: the headline's (four of them, eight in full)


def best_time(function, repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def warm() -> None:
    """Import the model and run a chunk in a worker (not one of the timed chunks), so that the timed chunks
    find its imports, compiled kernels and memory warm, as every chunk but the first of a long run does."""
    run_chunk(load(SCENARIO), SCALING_CHUNK, chunk_seed(1, 0))


def dask_seconds(workers: int, scenario: Any, draws: int, chunk_draws: int) -> tuple[float, float]:
    """(start-up and warm-up, then wall time of the chunks of a one-point sweep) on a local cluster of
    ``workers`` processes; the chunks and seeds are the sweep's."""
    start = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.run(warm)
        ready = time.perf_counter()
        futures = [client.submit(run_chunk, scenario, size, chunk_seed(0, index), pure=False)
                   for index, size in enumerate(chunk_sizes(draws, chunk_draws))]
        client.gather(futures)
        return ready - start, time.perf_counter() - ready


def plain_seconds(processes: int, draws: int, chunk_draws: int) -> float:
    """Wall seconds of the chunks of ``draws`` draws split over ``processes`` plain processes (no Dask), all
    warmed and started together: what the machine gives, without any scheduler."""
    chunks = list(range(len(chunk_sizes(draws, chunk_draws))))
    children = [
        subprocess.Popen([sys.executable, "-c", PLAIN, str(SCENARIO), str(chunk_draws),
                          ",".join(map(str, chunks[part::processes]))],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for part in range(processes)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.communicate()
    return time.perf_counter() - start


def gpu_namespace() -> tuple[str, Any, Any] | None:
    """(name, array namespace, a function that waits for the device) of the first GPU CuPy or JAX finds."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return "CuPy", cupy, lambda value: cupy.cuda.Device().synchronize()
    except Exception:  # no CuPy, or no device it can use
        pass
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        if jax.devices("gpu"):
            return "JAX", jax.numpy, lambda value: jax.block_until_ready(value)
    except Exception:  # no JAX, or no GPU backend
        pass
    return None


def bench_gpu(scenario: Any, catalog: Any, quick: bool) -> int:
    """Time the portable dispatch on a GPU against the exact CPU path; the exit status."""
    found = gpu_namespace()
    if found is None:
        print("gpu: no GPU found (neither CuPy nor JAX sees a device); nothing measured")
        return 2
    name, xp, wait = found
    draws, chunk = (4_096, 2_048) if quick else (32_768, 8_192)
    site = final_site(scenario, catalog, draws)
    check = site.take(slice(0, 64))
    exact = dispatch(check)
    got = dispatch_portable(check, xp)
    error = max(
        float(np.max(np.abs(np.asarray(got[key].get() if hasattr(got[key], "get") else got[key]) - exact[key])))
        / max(float(np.max(np.abs(exact[key]))), 1.0)
        for key in ("grid", "gas", "soc", "curtailed")
    )
    wait(monthly_supply_mwh(dispatch_portable(site.take(slice(0, chunk)), xp), xp)["grid_mwh"])  # compile, warm
    start = time.perf_counter()
    for first in range(0, draws, chunk):
        wait(monthly_supply_mwh(dispatch_portable(site.take(slice(first, first + chunk)), xp), xp)["grid_mwh"])
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    dispatch(site.take(slice(0, 512)))
    cpu = 512 / (time.perf_counter() - start)
    print(f"gpu ({name}): {draws / seconds:,.0f} draw-years/s of the portable dispatch in chunks of {chunk:,} "
          f"({seconds / (draws * HOURS_PER_YEAR) * 1e9:.2f} ns per hour-draw); exact CPU path {cpu:,.0f} "
          f"draw-years/s on one core, ratio {draws / seconds / cpu:.1f}x; largest difference {error:.1e}")
    return 0


def chunked_run(draws: int, chunk_draws: int, workers: int) -> tuple[int, float, int, float]:
    """A run of ``draws`` draws in chunks on ``workers`` processes, in a fresh process: (draws, wall seconds
    from the call to the last chunk's summary, cluster start included; summary keys; peak resident memory of
    the process and its workers together, MiB)."""
    child = subprocess.run(
        [sys.executable, "-c", CHUNKED, str(SCENARIO), str(draws), str(chunk_draws), str(workers)],
        capture_output=True, text=True, check=True,
    )
    count, seconds, keys, peak = child.stdout.split()
    return int(count), float(seconds), int(keys), int(peak) / 2**20


def main() -> None:
    """Run the measurements and print them, the summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="gpu: time the portable dispatch on a GPU instead")
    args = parser.parse_args()
    quick = args.quick
    scenario = load(SCENARIO)
    catalog = scenario_catalog(scenario)
    if args.device == "gpu":
        sys.exit(bench_gpu(scenario, catalog, quick))

    draws = CHUNK_DRAWS  # one chunk, as the workers run them (at least INTERPOLATION_MIN_DRAWS per merit class)
    run(scenario, draws=16, catalog=catalog)  # warm caches and imports
    keep_freed_memory()  # this process's runs, as the command line's runs in chunks and the workers run
    vectorised = best_time(lambda: run(scenario, draws=draws, catalog=catalog), 2)
    results = run(scenario, draws=draws, catalog=catalog)
    bytes_per_draw = results.dataset.nbytes / draws
    one_core = draws / vectorised
    bound_per_s = WORKERS * BANDWIDTH_BYTES_PER_S / bytes_per_draw
    loop_draws = 5 if quick else 40
    loop = best_time(lambda: [run(scenario, draws=1, catalog=catalog) for _ in range(loop_draws)], 1)
    loop_per_s = loop_draws / loop
    print(f"one process: {draws:,} draws in {vectorised:.2f} s = {one_core:,.0f} draws/s")
    ns = dispatch_ns_per_hour_draw(scenario, catalog, 1_000)
    dispatch_floor = WORKERS * 1e9 / (ns * HOURS_PER_YEAR)
    method = results.dataset["annual_energy_mwh"].attrs["method"]
    print(f"energy: {method}")

    sweep_draws = 40_000 if quick else 80_000
    in_process = best_time(lambda: run_draws(scenario, sweep_draws, seed=0, chunk_draws=SCALING_CHUNK), 1)
    start_one, one = dask_seconds(1, scenario, sweep_draws, SCALING_CHUNK)
    start_two, two = dask_seconds(2, scenario, sweep_draws, SCALING_CHUNK)
    print(
        f"dask: {sweep_draws:,} draws in chunks of {SCALING_CHUNK:,}: in this process {in_process:.1f} s, 1 worker "
        f"{one:.1f} s (Dask overhead {one / in_process - 1:+.0%}), 2 workers {two:.1f} s, speed-up "
        f"{one / two:.2f}x (start-up and warm-up apart: {start_one:.1f} s and {start_two:.1f} s)"
    )
    plain_one, plain_two = (plain_seconds(count, sweep_draws, SCALING_CHUNK) for count in (1, 2))
    print(
        f"plain processes, no Dask, the same chunks: 1 process {plain_one:.1f} s, 2 processes {plain_two:.1f} s, "
        f"speed-up {plain_one / plain_two:.2f}x (what two cores give these chunks without a scheduler)"
    )

    total = 100_000 if quick else MILLION
    count, seconds, keys, peak_mib = chunked_run(total, CHUNK_DRAWS, WORKERS)
    draws_per_s = count / seconds
    projected = peak_mib + (MILLION - total) * keys * 8 / 2**20
    print(
        f"full pipeline: {count:,} draws in chunks of {CHUNK_DRAWS:,} on {WORKERS} worker processes in "
        f"{seconds:.1f} s (cluster start included) = {draws_per_s:,.0f} draws/s; peak memory of the run "
        f"{peak_mib:,.0f} MiB ({keys} summary keys a draw)"
        + (f", projected for {MILLION:,} draws: {projected:,.0f} MiB" if total < MILLION else "")
    )
    print(
        f"floors on {WORKERS} cores: bytes of results per draw {bytes_per_draw:,.0f}, written once at 30 GB/s a core: "
        f"{bound_per_s:,.0f} draws/s, reached {draws_per_s / bound_per_s:.1%}; exact dispatch of every draw-year "
        f"({ns:.0f} ns per hour-draw): {dispatch_floor:,.0f} draws/s, reached {draws_per_s / dispatch_floor:.1f}x"
    )
    print(f"context: per-draw loop of run(draws=1) {loop_per_s:,.1f} draws/s; one process "
          f"{one_core / loop_per_s:,.0f}x")
    print(
        f"uncertainty: {draws_per_s:,.0f} draws/s on {WORKERS} cores ({count:,} draws, {seconds:.0f} s); "
        f"one process {one_core:,.0f} draws/s; 1->2 workers {one / two:.2f}x; peak {peak_mib:,.0f} MiB"
        + (f" ({projected:,.0f} MiB projected for {MILLION:,})" if total < MILLION else f" for {MILLION:,}")
        + f"; bandwidth floor {bound_per_s:,.0f} draws/s, ratio {draws_per_s / bound_per_s:.3f}"
    )


if __name__ == "__main__":
    main()
