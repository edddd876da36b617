"""Monte Carlo event simulator of the reliability process, vectorised over replications (seeded).

The same process as :mod:`neocloud.reliability`: failures of each component class arrive as Poisson
processes on the job's accelerators; work runs in segments of ``interval`` then a checkpoint of
``checkpoint``; a failure loses the segment in progress; the job resumes ``restart`` after the last
failure and after every failed node has been replaced. A hardware failure takes a hot spare; the
failed node joins the spare pool after ``repair`` hours (one turnaround for every class: the
rate-weighted mean of the catalog's repair times), so with first-in first-out spares, hardware
failure i takes the node freed by hardware failure i - S (S = 0: it waits for its own repair).
Between failures the useful work is whole segments, so the whole history
is computed with array operations over (replication, failure): no loop over events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BLOCK_REPLICATIONS = 16  # measured: 16 replications of a year run 2.3x faster than all 1,000 at once


def _failure_times(rng: np.random.Generator, rate: float, horizon: float, replications: int) -> np.ndarray:
    """Sorted Poisson arrival times, shape (replications, width), padded with +inf beyond ``horizon``."""
    expected = rate * horizon
    width = int(expected + 8.0 * np.sqrt(expected) + 16)
    while True:
        times = (
            np.cumsum(rng.exponential(1.0 / rate, size=(replications, width)), axis=1)
            if rate > 0
            else np.full((replications, 1), np.inf)
        )
        if times.shape[1] == 0 or np.all(times[:, -1] > horizon):
            break
        width *= 2
    times[times > horizon] = np.inf
    return times


def simulate(
    class_rates_per_hour: Any,
    class_hardware: Any,
    repair_hours: float,
    horizon_hours: float,
    interval_hours: float,
    checkpoint_hours: float,
    restart_hours: float,
    spares_nodes: int,
    replications: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Replications of one job over ``horizon_hours``; per replication arrays.

    ``class_rates_per_hour``: interruption rate of the whole job per component class;
    ``class_hardware``: whether a failure of the class takes a node out (needs a spare);
    ``repair_hours``: turnaround of a failed node back into the spare pool. Times in hours.
    Returns ``interruptions``, ``hardware_failures``, ``useful_hours``, ``goodput``, ``checkpoints``,
    ``wait_hours`` (total time waiting for spares) and ``events`` (failures + checkpoints + repairs).
    """
    rates = np.asarray(class_rates_per_hour, dtype=float)
    needs_spare = np.asarray(class_hardware, dtype=bool)
    # blocks of replications keep the working arrays in cache; each block has its own stream of the seed
    blocks = -(-replications // BLOCK_REPLICATIONS)
    streams = np.random.SeedSequence(seed).spawn(blocks)
    parts = [
        _simulate_block(rates, needs_spare, repair_hours, horizon_hours, interval_hours, checkpoint_hours,
                        restart_hours, spares_nodes, min(BLOCK_REPLICATIONS, replications - index * BLOCK_REPLICATIONS),
                        np.random.default_rng(stream))
        for index, stream in enumerate(streams)
    ]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _simulate_block(rates: np.ndarray, needs_spare: np.ndarray, repair_hours: float, horizon_hours: float,
                    interval_hours: float, checkpoint_hours: float, restart_hours: float, spares_nodes: int,
                    replications: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """:func:`simulate` for one block of replications drawn from ``rng``."""
    total = float(rates.sum())
    times = _failure_times(rng, total, horizon_hours, replications)
    valid = np.isfinite(times)
    # class of each failure, by thinning the merged process
    cumulative = np.cumsum(rates) / total if total > 0 else np.ones(1)
    classes = np.minimum(np.searchsorted(cumulative, rng.random(times.shape), side="right"), rates.size - 1)
    hardware = valid & needs_spare[classes]
    # ordinal of each hardware failure within its replication, to find the failure S places earlier
    ordinal = np.cumsum(hardware, axis=1) - 1
    wait = np.zeros_like(times)
    if spares_nodes <= 0:
        wait[hardware] = repair_hours
    else:
        rows, columns = np.nonzero(hardware)
        order = ordinal[rows, columns]
        freed = np.full(times.shape, -np.inf)
        freed[rows, order] = times[rows, columns] + repair_hours
        earlier = order - spares_nodes
        ready = np.where(earlier >= 0, freed[rows, np.maximum(earlier, 0)], -np.inf)
        wait[rows, columns] = np.maximum(ready - times[rows, columns], 0.0)
    segment = interval_hours + checkpoint_hours
    # the job resumes a restart after the last failure and after every replacement so far
    ready_at = np.maximum.accumulate(np.where(valid, times + wait, -np.inf), axis=1)
    resume = np.where(valid, np.maximum(ready_at, times) + restart_hours, np.inf)
    starts = np.concatenate([np.zeros((replications, 1)), resume], axis=1)
    ends = np.concatenate(
        [np.where(valid, times, horizon_hours), np.full((replications, 1), horizon_hours)], axis=1
    )
    ends = np.minimum(ends, horizon_hours)
    span = np.where(np.isfinite(starts), np.maximum(ends - starts, 0.0), 0.0)
    segments = np.floor(span / segment)
    checkpoints = segments.sum(axis=1)
    useful = checkpoints * interval_hours
    interruptions = valid.sum(axis=1).astype(float)
    hardware_failures = hardware.sum(axis=1).astype(float)
    return {
        "interruptions": interruptions,
        "hardware_failures": hardware_failures,
        "useful_hours": useful,
        "goodput": useful / horizon_hours,
        "checkpoints": checkpoints,
        "wait_hours": np.where(hardware, wait, 0.0).sum(axis=1),
        "events": interruptions + checkpoints + hardware_failures,
    }
