"""Sensitivity: which uncertain inputs drive a chosen summary output, and by how much.

Two answers, both from single vectorised passes of the pipeline over the ``draw`` axis:

- a tornado: each input alone swung to its P10 and its P90 with every other input at its median;
- variance-based indices (Sobol' first and total order, Saltelli sampling and Jansen/Saltelli
  estimators via SALib) of the output over the inputs' joint distribution, taken as independent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xarray as xr
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from neocloud.catalog import Catalog
from neocloud.errors import ScenarioError
from neocloud.limits import DEFAULT_SOBOL_DRAWS
from neocloud.load import scenario_catalog
from neocloud.pipeline import evaluate as pipeline_evaluate
from neocloud.pipeline import summary_keys
from neocloud.scenario import Scenario
from neocloud.uncertainty import quantiles, substitute, uncertain_inputs


@dataclass(frozen=True)
class Swing:
    """One bar of a tornado: an input at its P10 and P90 (others at median) and the output at each."""

    input: str
    low_input: float
    high_input: float
    low_output: float
    high_output: float

    @property
    def swing(self) -> float:
        """The absolute change of the output between the input's P10 and P90 (output's unit)."""
        return abs(self.high_output - self.low_output)


@dataclass(frozen=True)
class SobolIndex:
    """Variance-based indices of one input: first order (alone) and total order (with interactions)."""

    input: str
    first_order: float
    first_order_conf: float
    total_order: float
    total_order_conf: float


def evaluate(
    scenario: Scenario, values: dict[tuple[str, ...], np.ndarray], draws: int, catalog: Catalog | None = None
) -> xr.Dataset:
    """The pipeline's Dataset for given inputs: ``values`` maps each uncertain path to a (draw,) array."""
    catalog = catalog or scenario_catalog(scenario)
    return pipeline_evaluate(scenario, substitute(scenario, values, draws), catalog, draws)


def _output(dataset: xr.Dataset, output: str) -> np.ndarray:
    keys = summary_keys(dataset)
    if output not in keys:
        raise ScenarioError("is not a summary key", field="--output", value=output, allowed=", ".join(keys))
    return np.asarray(dataset[output].values, dtype=float)


def _inputs(scenario: Scenario) -> list[tuple[tuple[str, ...], Any]]:
    found = uncertain_inputs(scenario)
    if not found:
        raise ScenarioError(
            "has no uncertain inputs (no field is a distribution)",
            field=scenario.name,
            allowed="give a field as e.g. {dist: triangular, low: 0.7, mode: 0.85, high: 0.95}",
        )
    return found


def tornado(scenario: Scenario, output: str, catalog: Catalog | None = None) -> tuple[float, list[Swing]]:
    """The output with every input at its median, and each input's swing, largest first.

    One pipeline pass of 1 + 2k draws for k uncertain inputs.
    """
    found = _inputs(scenario)
    count = len(found)
    levels = np.array([0.1, 0.5, 0.9])
    at = np.stack([quantiles(dist, levels) for _, dist in found])  # (input, level)
    values = np.repeat(at[:, 1:2], 1 + 2 * count, axis=1)
    values[np.arange(count), 1 + np.arange(count)] = at[:, 0]
    values[np.arange(count), 1 + count + np.arange(count)] = at[:, 2]
    dataset = evaluate(
        scenario, {path: values[index] for index, (path, _) in enumerate(found)}, 1 + 2 * count, catalog
    )
    result = _output(dataset, output)
    swings = [
        Swing(
            ".".join(path),
            float(at[index, 0]),
            float(at[index, 2]),
            float(result[1 + index]),
            float(result[1 + count + index]),
        )
        for index, (path, _) in enumerate(found)
    ]
    return float(result[0]), sorted(swings, key=lambda item: -np.nan_to_num(item.swing))


def sobol_indices(
    scenario: Scenario,
    output: str,
    draws: int = DEFAULT_SOBOL_DRAWS,
    seed: int = 0,
    catalog: Catalog | None = None,
) -> tuple[int, list[SobolIndex]]:
    """Sobol' first- and total-order indices of the output, with 95% bootstrap half-widths.

    ``draws`` is the base sample N (raised to a power of two, as Sobol' sequences need); the pipeline runs
    once on N (k + 2) draws. Inputs are taken as independent (correlations are ignored here).
    Returns the N used and the indices, largest total order first.
    """
    found = _inputs(scenario)
    base = 2 ** max(1, math.ceil(math.log2(max(draws, 2))))
    names = [".".join(path) for path, _ in found]
    problem = {"num_vars": len(found), "names": names, "bounds": [[0.0, 1.0]] * len(found)}
    unit = sobol_sample.sample(problem, base, calc_second_order=False, seed=seed)
    values = {path: quantiles(dist, unit[:, index]) for index, (path, dist) in enumerate(found)}
    result = _output(evaluate(scenario, values, unit.shape[0], catalog), output)
    if not np.all(np.isfinite(result)):
        raise ScenarioError(
            "is not finite in every draw, so its variance cannot be split", field="--output", value=output
        )
    if np.ptp(result) == 0:
        return base, [SobolIndex(name, 0.0, 0.0, 0.0, 0.0) for name in names]
    indices = sobol_analyze.analyze(problem, result, calc_second_order=False, seed=seed)
    out = [
        SobolIndex(
            name,
            float(indices["S1"][index]),
            float(indices["S1_conf"][index]),
            float(indices["ST"][index]),
            float(indices["ST_conf"][index]),
        )
        for index, name in enumerate(names)
    ]
    return base, sorted(out, key=lambda item: -item.total_order)


def sensitivity(
    scenario: Scenario, output: str, draws: int = DEFAULT_SOBOL_DRAWS, seed: int = 0
) -> dict[str, Any]:
    """Tornado and Sobol' indices of one summary output, as a JSON-ready dict."""
    catalog = scenario_catalog(scenario)
    median, swings = tornado(scenario, output, catalog)
    base, indices = sobol_indices(scenario, output, draws, seed, catalog)
    return {
        "scenario": scenario.name,
        "output": output,
        "median_case": median,
        "tornado": [{**asdict(item), "swing": item.swing} for item in swings],
        "sobol": [asdict(item) for item in indices],
        "sobol_base_draws": base,
        "sobol_draws": base * (len(indices) + 2),
        "seed": seed,
    }
