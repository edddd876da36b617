"""Draws per second of the pipeline's stages (design to finance) on the Abilene scenario with uncertain inputs.

Baseline: a plain per-draw Python loop over the same model, i.e. the same stages called once per draw on
a one-draw slice of the same realised inputs. Usage: ``python benchmarks/bench_pipeline.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

import neocloud
from neocloud.load import scenario_catalog
from neocloud.pipeline import STAGES, base_dataset
from neocloud.scenario import Dist
from neocloud.uncertainty import realise

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "abilene.yaml"


def uncertain_abilene() -> neocloud.Scenario:
    """Abilene with its utilisation, system price and discount rate made uncertain."""
    scenario = neocloud.load(EXAMPLE)
    phases = [phase.model_copy(update={"system_price_usd": Dist(dist="triangular", low=2.6e6, mode=3.1e6, high=3.9e6)})
              for phase in scenario.campus.phases]
    finance = scenario.finance.model_copy(update={
        "utilisation": Dist(dist="pert", low=0.6, mode=0.85, high=0.95),
        "discount_rate": Dist(dist="uniform", low=0.06, high=0.11)})
    return scenario.model_copy(update={"campus": scenario.campus.model_copy(update={"phases": phases}),
                                       "finance": finance})


def run_stages(realised: Any, scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int) -> Any:
    """The pipeline's stages on an already realised scenario."""
    dataset = base_dataset(scenario, draws)
    for _, stage in STAGES:
        dataset = dataset.merge(stage(realised, catalog, dataset), compat="override")
    return dataset


def one_draw(model: Any, index: int) -> Any:
    """A realised scenario cut down to draw ``index`` (arrays of shape (1,))."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, np.ndarray):
            update[name] = value[index:index + 1]
        elif isinstance(value, BaseModel):
            update[name] = one_draw(value, index)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            update[name] = [one_draw(item, index) for item in value]
    return model.model_copy(update=update)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 draws and a 50-draw loop")
    parser.add_argument("--draws", type=int, default=None)
    args = parser.parse_args()
    draws = args.draws or (10_000 if args.quick else 100_000)
    loop_draws = 50 if args.quick else 200

    scenario = uncertain_abilene()
    catalog = scenario_catalog(scenario)
    realised = realise(scenario, draws, seed=1)
    run_stages(realise(scenario, 2, seed=1), scenario, catalog, 2)  # warm caches

    start = time.perf_counter()
    vectorised = run_stages(realised, scenario, catalog, draws)
    vector_rate = draws / (time.perf_counter() - start)

    start = time.perf_counter()
    looped = [run_stages(one_draw(realised, index), scenario, catalog, 1) for index in range(loop_draws)]
    loop_rate = loop_draws / (time.perf_counter() - start)

    for index, single in enumerate(looped):  # the same model: the loop reproduces the vectorised draws
        assert np.isclose(float(single["cost_usd_per_gpu_hour"].values[0]),
                          float(vectorised["cost_usd_per_gpu_hour"].values[index]), rtol=1e-9)
    print(f"stages: {', '.join(name for name, _ in STAGES)}; months: {vectorised.sizes['month']}")
    print(f"pipeline: {vector_rate:.3g} draws/s ({draws:,} draws), per-draw loop {loop_rate:.3g} draws/s, "
          f"ratio {vector_rate / loop_rate:.0f}x")


if __name__ == "__main__":
    main()
