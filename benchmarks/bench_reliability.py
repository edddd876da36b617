"""Reliability simulator speed: one year of a 400,000-GPU campus of jobs of 16,384 to 131,072 GPUs.

Measures the vectorised simulator over all replications, and the SimPy model of the same process on a
few replications of the same jobs (its rate is per event, so it extrapolates); prints events per
second of both and the ratio as the last line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.simpy_reliability import simpy_job

from neocloud import load_catalog
from neocloud.reliability import component_rates, job_reliability, spare_turnaround_hours
from neocloud.reliability_sim import simulate

JOBS = (131072, 131072, 65536, 32768, 16384, 16384)  # 393,216 of the campus's 400,000 GPUs
MINUTES = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run (under a minute)")
    arguments = parser.parse_args()
    replications, hours, simpy_replications = (
        (100, 24 * 365 / 4, 1) if arguments.quick else (1000, 24 * 365.0, 3)
    )
    catalog = load_catalog()
    rates = component_rates(catalog)
    per_accelerator, hardware = rates["rate_per_accelerator_hour"].to_numpy(), rates["hardware"].to_numpy()
    repair = spare_turnaround_hours(catalog)
    delta = catalog.value("training_parameters", "checkpoint_write_minutes") / MINUTES
    restart = catalog.value("training_parameters", "restart_minutes") / MINUTES
    ours_events = ours_seconds = theirs_events = theirs_seconds = 0.0
    for index, size in enumerate(JOBS):
        job = job_reliability(catalog, float(size))
        inputs = (
            size * per_accelerator,
            hardware,
            repair,
            hours,
            float(job["checkpoint_minutes"]) / MINUTES,
            delta,
            restart,
            int(float(job["spares_accelerators"]) // 8),
        )
        start = time.perf_counter()
        result = simulate(*inputs, replications=replications, seed=index)
        ours_seconds += time.perf_counter() - start
        ours_events += float(result["events"].sum())
        start = time.perf_counter()
        for replication in range(simpy_replications):
            theirs_events += simpy_job(list(inputs[0]), list(inputs[1]), *inputs[2:], seed=replication)[
                "events"
            ]
        theirs_seconds += time.perf_counter() - start
        print(
            f"job {size:>7,} GPUs: {result['interruptions'].mean():,.0f} interruptions, goodput "
            f"{result['goodput'].mean():.3f} (closed form {float(job['goodput']):.3f})"
        )
    ours_rate, theirs_rate = ours_events / ours_seconds, theirs_events / theirs_seconds
    print(
        f"simulator: {ours_events:.3g} events in {ours_seconds:.2f} s ({replications} replications, "
        f"{hours / 24:.0f} days); SimPy: {theirs_events:.3g} events in {theirs_seconds:.2f} s "
        f"({simpy_replications} replications), "
        f"{theirs_seconds * replications / simpy_replications:.0f} s for all"
    )
    print(
        f"reliability: {ours_rate:.2e} events/s, SimPy {theirs_rate:.2e} "
        f"events/s, ratio {ours_rate / theirs_rate:.0f}x"
    )


if __name__ == "__main__":
    main()
