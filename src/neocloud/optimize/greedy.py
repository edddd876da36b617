"""A greedy build-out plan: the baseline the MILP is measured against and the start it is given.

Quarter by quarter and region by region, the cheapest building per unit of capacity that fits (lead time,
site power for the rest of the horizon, site limit, GPU supply) is added until the region's demand is met or
nothing fits. Not optimal, but feasible: a MILP warm-started from it never reports a worse plan.
"""

from __future__ import annotations

import numpy as np

from neocloud.optimize.model import Inputs


def greedy_builds(inputs: Inputs) -> np.ndarray:
    """Buildings coming online per (site, design, quarter) in the greedy plan."""
    builds = np.zeros(inputs.valid.shape)
    per_unit = inputs.cost_usd / np.maximum(inputs.capacity_per_building, 1e-9)[:, :, None]
    for quarter in range(inputs.valid.shape[2]):
        for group_index, group in enumerate(inputs.groups):
            members = inputs.group_of_site == group
            while True:
                used = np.cumsum(builds, axis=2)
                capacity = (used[members, :, quarter] * inputs.capacity_per_building[members]).sum()
                if capacity >= inputs.demand[group_index, quarter]:
                    break
                room = inputs.power_mw - (used * inputs.utility_mw_per_building[:, :, None]).sum(axis=1)
                fits = (
                    inputs.valid[:, :, quarter]
                    & members[:, None]
                    & (room[:, quarter:].min(axis=1)[:, None] >= inputs.utility_mw_per_building)
                    & (builds.sum(axis=(1, 2)) < inputs.max_buildings)[:, None]
                )
                installed = (builds[:, :, quarter] * inputs.accelerators_per_building).sum()
                fits &= installed + inputs.accelerators_per_building <= inputs.supply[quarter]
                if not fits.any():
                    break
                choice = np.unravel_index(np.where(fits, per_unit[:, :, quarter], np.inf).argmin(), fits.shape)
                builds[choice[0], choice[1], quarter] += 1
    return builds


def unmet_of(inputs: Inputs, builds: np.ndarray) -> np.ndarray:
    """Demand not met (group, quarter) by a build array."""
    online = np.cumsum(builds, axis=2)
    capacity = np.stack(
        [
            (
                online[inputs.group_of_site == group]
                * inputs.capacity_per_building[inputs.group_of_site == group][:, :, None]
            ).sum(axis=(0, 1))
            for group in inputs.groups
        ]
    )
    return np.maximum(inputs.demand - capacity, 0.0)


def plan_cost_usd(inputs: Inputs, builds: np.ndarray) -> float:
    """The MILP's cost objective of a build array: buildings, site fixed costs and penalised unmet demand."""
    opened = builds.sum(axis=(1, 2)) > 0
    return float(
        (builds * inputs.cost_usd).sum()
        + inputs.fixed_cost_usd[opened].sum()
        + (inputs.penalty * unmet_of(inputs, builds)).sum()
    )
