"""Uncertain inputs: turn a scenario's numbers and distributions into arrays along the ``draw`` axis."""

from __future__ import annotations

import types
import typing
from typing import Any

import numpy as np
from pydantic import BaseModel
from scipy import stats
from scipy.stats import qmc

from neocloud.scenario.types import Dist


def _is_num_field(annotation: Any) -> bool:
    """Whether a field's annotation admits a distribution (that is, it is a ``Num``)."""
    if annotation is Dist:
        return True
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return any(_is_num_field(arg) for arg in typing.get_args(annotation))
    return False


def uncertain_inputs(model: BaseModel, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Dist]]:
    """Every (field path, distribution) in a scenario, in field order."""
    found: list[tuple[tuple[str, ...], Dist]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Dist):
            found.append(((*path, name), value))
        elif isinstance(value, BaseModel):
            found.extend(uncertain_inputs(value, (*path, name)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found.extend(uncertain_inputs(item, (*path, name, str(index))))
    return found


def quantiles(dist: Dist, u: np.ndarray) -> np.ndarray:
    """The values of ``dist`` at probabilities ``u`` (inverse CDF), elementwise."""
    u = np.clip(u, 1e-12, 1 - 1e-12)
    if dist.dist == "uniform":
        return dist.low + (dist.high - dist.low) * u
    if dist.dist == "triangular":
        width = dist.high - dist.low
        if width == 0:
            return np.full_like(u, dist.low)
        return stats.triang.ppf(u, (dist.mode - dist.low) / width, loc=dist.low, scale=width)
    if dist.dist == "pert":
        width = dist.high - dist.low
        if width == 0:
            return np.full_like(u, dist.low)
        alpha = 1 + 4 * (dist.mode - dist.low) / width
        beta = 1 + 4 * (dist.high - dist.mode) / width
        return dist.low + width * stats.beta.ppf(u, alpha, beta)
    if dist.dist == "normal":
        low = -np.inf if dist.low is None else (dist.low - dist.mean) / max(dist.sd, 1e-300)
        high = np.inf if dist.high is None else (dist.high - dist.mean) / max(dist.sd, 1e-300)
        if dist.sd == 0:
            return np.full_like(u, dist.mean)
        return stats.truncnorm.ppf(u, low, high, loc=dist.mean, scale=dist.sd)
    if dist.dist == "lognormal":
        return dist.median * np.exp(dist.sigma * stats.norm.ppf(u))
    values = np.asarray(dist.values, dtype=float)
    if dist.dist == "empirical":
        return np.quantile(values, u, method="inverted_cdf")
    weights = np.ones_like(values) if dist.weights is None else np.asarray(dist.weights, dtype=float)
    cumulative = np.cumsum(weights) / weights.sum()
    return values[np.minimum(np.searchsorted(cumulative, u, side="right"), len(values) - 1)]


def sample(dists: list[Dist], draws: int, seed: int) -> np.ndarray:
    """Latin-hypercube samples of each distribution: an array of shape (len(dists), draws)."""
    if not dists:
        return np.empty((0, draws))
    sampler = qmc.LatinHypercube(d=len(dists), seed=np.random.default_rng(seed))
    u = sampler.random(draws).T
    return np.stack([quantiles(dist, u[index]) for index, dist in enumerate(dists)])


def realise(model: BaseModel, draws: int = 1, seed: int = 0) -> Any:
    """A copy of ``model`` in which every ``Num`` field is a float64 array of shape (draw,).

    Plain numbers are broadcast; distributions are sampled (Latin hypercube, seeded).
    """
    if draws < 1:
        raise ValueError("draws must be at least 1")
    found = uncertain_inputs(model)
    samples = sample([dist for _, dist in found], draws, seed)
    by_path = {path: samples[index] for index, (path, _) in enumerate(found)}
    return _substitute(model, (), by_path, draws)


def _substitute(model: BaseModel, path: tuple[str, ...], by_path: dict[tuple[str, ...], np.ndarray],
                draws: int) -> Any:
    update: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*path, name)
        if here in by_path:
            update[name] = by_path[here]
        elif _is_num_field(info.annotation) and isinstance(value, int | float):
            update[name] = np.full(draws, float(value))
        elif isinstance(value, BaseModel):
            update[name] = _substitute(value, here, by_path, draws)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            update[name] = [_substitute(item, (*here, str(index)), by_path, draws)
                            for index, item in enumerate(value)]
    return model.model_copy(update=update)
