"""Draws per second of the design and finance stages on the Abilene scenario with uncertain inputs.

The stages between them (build-out, hourly energy, compute, reliability) are run once, untimed, and their
outputs fed to finance, so the figure is that of design + finance. Baseline: a per-draw loop over the same
model, the same two stages called once per draw on a one-draw slice of the inputs, with each draw's slice of
the upstream outputs cut before the clock starts (so the loop pays for the two stages and the one merge
between them, not for re-merging every upstream stage per draw). The old loop, which re-merged the upstream
outputs per draw, is printed as a context line. A first line also gives the whole pipeline's rate on the
same draws. Usage: ``python benchmarks/bench_pipeline.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel

import neocloud
from neocloud.design import design
from neocloud.finance import finance
from neocloud.load import scenario_catalog
from neocloud.pipeline import STAGES, base_dataset
from neocloud.realise import realise
from neocloud.scenario import Dist

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


def run_stages(realised: Any, scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int,
               names: tuple[str, ...] = tuple(name for name, _ in STAGES),
               upstream: xr.Dataset | None = None) -> xr.Dataset:
    """The named stages of the pipeline, in order; the others' outputs are taken from ``upstream``."""
    dataset = base_dataset(scenario, draws)
    for name, stage in STAGES:
        if name in names:
            dataset = dataset.merge(stage(realised, catalog, dataset), compat="override")
        else:
            produced = [key for key in upstream.data_vars if upstream[key].attrs.get("stage") == name]
            dataset = dataset.merge(upstream[produced], compat="override")
    return dataset


def untimed(scenario: neocloud.Scenario, upstream: xr.Dataset, timed: tuple[str, ...]) -> xr.Dataset:
    """The coordinates and the outputs of every stage not in ``timed``, taken from ``upstream``."""
    produced = [key for key in upstream.data_vars if upstream[key].attrs.get("stage") not in timed]
    return base_dataset(scenario, upstream.sizes["draw"]).merge(upstream[produced], compat="override")


def tag_stages(realised: Any, scenario: neocloud.Scenario, catalog: neocloud.Catalog, draws: int) -> xr.Dataset:
    """The whole pipeline, with each variable tagged by the stage that produced it."""
    dataset = base_dataset(scenario, draws)
    for name, stage in STAGES:
        new = stage(realised, catalog, dataset)
        for key in new.data_vars:
            new[key].attrs["stage"] = name
        dataset = dataset.merge(new, compat="override")
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
    tag_stages(realise(scenario, 2, seed=1), scenario, catalog, 2)  # warm caches

    start = time.perf_counter()
    upstream = tag_stages(realised, scenario, catalog, draws)
    pipeline_rate = draws / (time.perf_counter() - start)

    timed = ("design", "finance")
    start = time.perf_counter()
    vectorised = run_stages(realised, scenario, catalog, draws, timed, upstream)
    vector_rate = draws / (time.perf_counter() - start)

    slices = [(one_draw(realised, index), upstream.isel(draw=[index]).assign_coords(draw=[0]))
              for index in range(loop_draws)]
    bases = [untimed(scenario, sliced, timed) for _, sliced in slices]
    start = time.perf_counter()
    looped = []
    for (draw, _), base in zip(slices, bases, strict=True):
        single = base.merge(design(draw, catalog, base), compat="override")
        looped.append(single.merge(finance(draw, catalog, single), compat="override"))
    loop_rate = loop_draws / (time.perf_counter() - start)

    start = time.perf_counter()
    for draw, sliced in slices[: max(loop_draws // 5, 5)]:
        run_stages(draw, scenario, catalog, 1, timed, sliced)
    old_rate = max(loop_draws // 5, 5) / (time.perf_counter() - start)

    for index, single in enumerate(looped):  # the same model: the loop reproduces the vectorised draws
        for key in ("cost_usd_per_gpu_hour", "npv_usd", "facility_power_mw"):
            assert np.isclose(float(single[key].values[0]), float(vectorised[key].values[index]), rtol=1e-9), key
    print(f"whole pipeline ({', '.join(name for name, _ in STAGES)}; {vectorised.sizes['month']} months): "
          f"{pipeline_rate:.3g} draws/s ({draws:,} draws)")
    print(f"context: the old per-draw loop (upstream outputs re-merged per draw) {old_rate:.3g} draws/s, "
          f"ratio {vector_rate / old_rate:.0f}x")
    print(f"pipeline: design + finance {vector_rate:.3g} draws/s ({draws:,} draws), per-draw loop "
          f"{loop_rate:.3g} draws/s, ratio {vector_rate / loop_rate:.0f}x")


if __name__ == "__main__":
    main()
