"""Realise: the pipeline's first step. A scenario becomes arrays along ``draw`` and the shared coordinates.

Every ``Num`` field of the scenario becomes a float64 array of shape ``(draw,)`` (a plain number is
broadcast, a distribution sampled by :mod:`neocloud.uncertainty`), and :func:`base_dataset` makes the
coordinates every stage shares: ``draw``, ``month`` (with its calendar ``date``) and ``phase``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from neocloud.limits import MAX_GENERATOR_SEED
from neocloud.scenario import Scenario
from neocloud.uncertainty import (
    check_seed,
    check_support,
    correlation_matrix,
    sample,
    substitute,
    uncertain_inputs,
)
from neocloud.units import MONTHS_PER_YEAR

if TYPE_CHECKING:
    import xarray as xr

READS: tuple[str, ...] = ()  # the scenario only


def realise(model: BaseModel, draws: int = 1, seed: int = 0) -> Any:
    """A copy of ``model`` in which every ``Num`` field is a float64 array of shape (draw,).

    Plain numbers are broadcast; distributions are sampled with the scenario's ``uncertainty`` options
    (sampler and rank correlations), seeded. One draw is the median case.
    """
    if draws < 1:
        raise ValueError("draws must be at least 1")
    seed = check_seed(seed, maximum=MAX_GENERATOR_SEED)
    found = uncertain_inputs(model)
    check_support(model, found)
    paths = [".".join(path) for path, _ in found]
    settings = getattr(model, "uncertainty", None)
    sampler = getattr(settings, "sampler", "latin-hypercube")
    samples = sample([dist for _, dist in found], draws, seed, sampler, correlation_matrix(model, paths))
    return substitute(model, {path: samples[index] for index, (path, _) in enumerate(found)}, draws)


def base_dataset(scenario: Scenario, draws: int) -> xr.Dataset:
    """The coordinates every stage shares: ``draw``, ``month`` (with its calendar ``date``) and ``phase``."""
    import xarray as xr  # imported here: ``neocloud size`` runs without xarray

    months = scenario.finance.horizon_years * MONTHS_PER_YEAR
    start = np.datetime64(scenario.start, "M")
    dates = (start + np.arange(months)).astype("datetime64[ns]")
    return xr.Dataset(coords={"draw": np.arange(draws), "month": np.arange(months),
                              "date": ("month", dates),
                              "phase": [phase.name for phase in scenario.campus.phases]})
