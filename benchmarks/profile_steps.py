"""Microseconds per draw of every step of the pipeline but energy and finance, on their stored outputs.

For the Abilene example (or ``--example``), energy and finance run once and their outputs are stored (a
pickle under the system's temporary folder, per example and draw count); every timed run then takes
those two stages' outputs from the store (a shallow copy) so that the rest is timed alone: sampling
(``realise``), design, build-out, reliability, compute, inference, the merges and checks of the pipeline
(``rest``), and the summary. Each step's median over ``--repeats`` runs is printed, with each run's total
and the load average. Run it on two trees (``PYTHONPATH=src`` of each) alternately to compare them.
Usage: ``python benchmarks/profile_steps.py [--draws N ...] [--repeats R] [--example FILE]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import neocloud
from neocloud import pipeline
from neocloud.load import scenario_catalog

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "abilene.yaml"
STORED = ("energy", "finance")
STAGES, REALISE = pipeline.STAGES, pipeline.realise  # as imported: each profile wraps these afresh


def timed(name: str, function: Callable[..., Any], seconds: dict[str, float], store: dict[str, Any]) -> Any:
    """``function`` timed into ``seconds[name]``; for a stored stage, its output from ``store`` (a copy)."""

    @functools.wraps(function)
    def inner(*args: Any, **kwargs: Any) -> Any:
        if name in STORED:
            if name not in store:
                store[name] = function(*args, **kwargs)
            return store[name].copy(deep=False)  # a new Dataset on the same arrays: microseconds
        start = time.perf_counter()
        out = function(*args, **kwargs)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return out

    return inner


def profile(example: Path, draws: int, repeats: int) -> tuple[dict[str, float], list[float]]:
    """Median seconds per step over ``repeats`` runs of ``draws`` draws, and each run's total."""
    scenario = neocloud.load(example)
    catalog = scenario_catalog(scenario)
    path = Path(tempfile.gettempdir()) / f"neocloud-steps-{example.stem}-{draws}.pkl"
    store: dict[str, Any] = pickle.loads(path.read_bytes()) if path.exists() else {}
    seconds: dict[str, float] = {}
    pipeline.STAGES = tuple((name, timed(name, stage, seconds, store)) for name, stage in STAGES)
    pipeline.realise = timed("realise", REALISE, seconds, store)
    pipeline.run(scenario, draws=draws, seed=0, catalog=catalog).summary()  # warm, and store energy, finance
    if not path.exists():
        path.write_bytes(pickle.dumps({name: store[name] for name in STORED}))
    runs: dict[str, list[float]] = {}
    totals = []
    for _ in range(repeats):
        seconds.clear()
        start = time.perf_counter()
        results = pipeline.run(scenario, draws=draws, seed=0, catalog=catalog)
        ran = time.perf_counter() - start
        results.summary()
        seconds["summarise"] = time.perf_counter() - start - ran
        seconds["rest"] = ran - sum(value for key, value in seconds.items() if key != "summarise")
        totals.append(sum(seconds.values()))
        for key, value in seconds.items():
            runs.setdefault(key, []).append(value)
    return {key: float(np.median(values)) for key, values in runs.items()}, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, nargs="*", default=[10_000, 20_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--example", type=Path, default=EXAMPLE)
    args = parser.parse_args()
    for draws in args.draws:
        steps, totals = profile(args.example, draws, args.repeats)
        per_draw = {key: value / draws * 1e6 for key, value in steps.items()}
        print(f"{draws:,} draws, load {os.getloadavg()[0]:.2f}: "
              + " ".join(f"{key} {value:.1f}" for key, value in per_draw.items())
              + f" | total us/draw: median {np.median(totals) / draws * 1e6:.1f}, best {min(totals) / draws * 1e6:.1f}")


if __name__ == "__main__":
    main()
