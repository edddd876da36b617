"""Uncertain inputs: turn a scenario's numbers and distributions into arrays along the ``draw`` axis.

Every ``Num`` field of a scenario becomes a float64 array of shape ``(draw,)``. Distributions are
sampled on the unit hypercube (Latin hypercube by default, scrambled Sobol' or plain random by choice),
optionally rank-correlated with the Iman-Conover method (which keeps each marginal exactly), and mapped
through each distribution's inverse CDF. A single draw is the median case: every distribution at its
median. The same seed gives bit-identical samples.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, cast

import numpy as np
from pydantic import BaseModel

from neocloud.errors import ScenarioError
from neocloud.limits import MAX_SEED
from neocloud.scenario.types import Dist

SAMPLERS = ("latin-hypercube", "sobol", "random")
# Smallest eigenvalue a correlation matrix may have (rounding) before it is called inconsistent.
_EIGENVALUE_TOLERANCE = 1e-9


def _is_num_field(annotation: Any) -> bool:
    """Whether a field's annotation admits a distribution (that is, it is a ``Num``)."""
    if annotation is Dist:
        return True
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return any(_is_num_field(arg) for arg in typing.get_args(annotation))
    return False


def uncertain_inputs(model: BaseModel, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Dist]]:
    """Every (field path, distribution) in a scenario, in field order.

    Returns
    -------
    list of (tuple of str, Dist)
        The dotted path split into parts (list indices as digits) and the distribution found there.
    """
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
    """The values of ``dist`` at probabilities ``u`` (inverse CDF), elementwise, in the input's own unit."""
    from scipy import stats  # imported here: scipy is slow to import and a start without draws needs none

    u = np.clip(np.asarray(u, dtype=float), 1e-12, 1 - 1e-12)
    # ``Dist`` checks that each kind has its parameters, so those read here are numbers, never None
    low, high, mode = cast(float, dist.low), cast(float, dist.high), cast(float, dist.mode)
    if dist.dist == "uniform":
        return low + (high - low) * u
    if dist.dist in ("triangular", "pert"):
        width = high - low
        if width == 0:
            return np.full_like(u, low)
        if dist.dist == "triangular":
            return stats.triang.ppf(u, (mode - low) / width, loc=low, scale=width)
        alpha = 1 + 4 * (mode - low) / width
        beta = 1 + 4 * (high - mode) / width
        return low + width * stats.beta.ppf(u, alpha, beta)
    if dist.dist == "normal":
        mean, sd = cast(float, dist.mean), cast(float, dist.sd)
        if sd == 0:
            return np.full_like(u, mean)
        lower = -np.inf if dist.low is None else (dist.low - mean) / sd
        upper = np.inf if dist.high is None else (dist.high - mean) / sd
        return stats.truncnorm.ppf(u, lower, upper, loc=mean, scale=sd)
    if dist.dist == "lognormal":
        return cast(float, dist.median) * np.exp(cast(float, dist.sigma) * stats.norm.ppf(u))
    values = np.asarray(dist.values, dtype=float)
    if dist.dist == "empirical":
        return np.quantile(values, u, method="inverted_cdf")
    weights = np.ones_like(values) if dist.weights is None else np.asarray(dist.weights, dtype=float)
    order = np.argsort(values, kind="stable")  # sorted, so the quantile function rises with u
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights) / weights.sum()
    return values[np.minimum(np.searchsorted(cumulative, u, side="left"), len(values) - 1)]


def unit_samples(dimensions: int, draws: int, seed: int, sampler: str = "latin-hypercube") -> np.ndarray:
    """Points in the unit hypercube: an array of shape (dimensions, draws) with values in (0, 1).

    ``latin-hypercube`` stratifies every dimension into ``draws`` equal bins with one point each;
    ``sobol`` takes the first ``draws`` points of a scrambled Sobol' sequence; ``random`` is plain
    Monte Carlo. A single draw is the centre of the cube (the median case).
    """
    if sampler not in SAMPLERS:
        raise ScenarioError(f"'{sampler}' is not a known sampler", field="uncertainty.sampler", value=sampler,
                            allowed=", ".join(SAMPLERS))
    if dimensions == 0:
        return np.empty((0, draws))
    if draws == 1:
        return np.full((dimensions, 1), 0.5)
    from scipy.stats import qmc  # imported here: scipy is slow to import and one draw needs none of it

    rng = np.random.default_rng(seed)
    if sampler == "latin-hypercube":
        points = qmc.LatinHypercube(d=dimensions, rng=rng).random(draws)
    elif sampler == "sobol":
        # a power-of-two base keeps the sequence balanced; its first ``draws`` points are used
        base = math.ceil(math.log2(draws))
        points = qmc.Sobol(d=dimensions, scramble=True, rng=rng).random_base2(base)[:draws]
    else:
        points = rng.random((draws, dimensions))
    return np.clip(points.T, 1e-12, 1 - 1e-12)


def normal_score_correlation(rank_correlation: np.ndarray) -> np.ndarray:
    """The Pearson correlation of normal scores giving a Spearman (rank) correlation: 2 sin(pi rho / 6)."""
    return 2 * np.sin(np.pi * np.asarray(rank_correlation, dtype=float) / 6)


def _factor(matrix: np.ndarray) -> np.ndarray:
    """A square root ``F`` with ``F @ F.T == matrix`` for a positive semi-definite symmetric matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))


def rank_correlate(u: np.ndarray, rank_correlation: np.ndarray) -> np.ndarray:
    """Reorder each row of ``u`` (dimensions, draws) so its ranks have the requested Spearman correlations.

    Iman and Conover (1982): normal scores of the current ranks are decorrelated with the inverse of their
    own correlation's factor and recorrelated with the target's; each row of ``u`` then takes the rank
    order of its scores. The values of every row (so the marginals and the Latin-hypercube strata) are
    kept exactly; only their pairing changes.
    """
    from scipy import stats

    dimensions, draws = u.shape
    if dimensions < 2 or draws < dimensions + 2:
        return u
    order = stratum_order(u)
    ranks = _ranks(u, order)
    scores = stats.norm.ppf((np.arange(draws) + 1) / (draws + 1))[ranks]  # the same numbers, ppf'd once each
    current = np.corrcoef(scores)
    target = normal_score_correlation(rank_correlation)
    np.fill_diagonal(target, 1.0)
    current_factor = np.linalg.cholesky(current)
    mixed = _factor(target) @ np.linalg.solve(current_factor, scores)
    ordered = np.take_along_axis(u, order, axis=1)  # np.sort(u, axis=1), from the sort already made
    return np.take_along_axis(ordered, _ranks(mixed), axis=1)


def stratum_order(u: np.ndarray) -> np.ndarray:
    """``np.argsort(u, axis=1)`` for unit samples (dimensions, draws), without a sort where each row has one
    point in each of ``draws`` equal strata (a Latin hypercube): the strata give a candidate order, kept only
    if it puts every row in strictly increasing order, which makes it the one order of distinct values that
    any sort returns; otherwise (ties, or strata shared) the rows are sorted."""
    draws = u.shape[1]
    strata = np.clip(np.floor(u * draws), 0, draws - 1).astype(np.intp)
    order = np.zeros_like(strata)  # a stratum no point is in keeps position 0: the check below fails
    np.put_along_axis(order, strata, np.broadcast_to(np.arange(draws), strata.shape), axis=1)
    ordered = np.take_along_axis(u, order, axis=1)
    if np.all(ordered[:, 1:] > ordered[:, :-1]):  # every stratum once (else a row is out of order) and no ties
        return order
    return np.argsort(u, axis=1)


def _ranks(values: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Each value's rank (0 for the smallest) along the rows of ``values``: ``argsort(argsort(values))``, with
    the second sort (of a permutation) replaced by its inverse, which it is; ``order`` is the first sort's
    ``argsort(values, axis=1)`` when already made."""
    order = np.argsort(values, axis=1) if order is None else order
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(values.shape[1]), order.shape), axis=1)
    return ranks


def correlation_matrix(model: BaseModel, paths: list[str]) -> np.ndarray | None:
    """The rank-correlation matrix the scenario asks for between its uncertain inputs (None if none).

    Raises ScenarioError when a correlation names a path that is not a distribution, or when the
    correlations together are impossible (the matrix is not positive semi-definite).
    """
    settings = getattr(model, "uncertainty", None)
    correlations = getattr(settings, "correlations", None) or []
    if not correlations:
        return None
    index = {path: position for position, path in enumerate(paths)}
    matrix = np.eye(len(paths))
    for number, item in enumerate(correlations):
        for side in ("a", "b"):
            name = getattr(item, side)
            if name not in index:
                raise ScenarioError(f"'{name}' is not an uncertain input (a distribution)",
                                    field=f"uncertainty.correlations.{number}.{side}", value=name,
                                    allowed=", ".join(paths) or "none: the scenario has no distributions")
        matrix[index[item.a], index[item.b]] = matrix[index[item.b], index[item.a]] = item.rho
    smallest = float(np.linalg.eigvalsh(normal_score_correlation(matrix)).min())
    if smallest < -_EIGENVALUE_TOLERANCE:
        raise ScenarioError(f"the correlations cannot hold together (their matrix has eigenvalue "
                            f"{smallest:.3g} < 0)", field="uncertainty.correlations",
                            allowed="a positive semi-definite set of rho")
    return matrix


def _bounds(annotation: Any) -> list[tuple[str, float]]:
    """The numeric bounds (``ge``, ``gt``, ``le``, ``lt``) a ``Num`` field puts on its plain numbers."""
    found: list[tuple[str, float]] = []
    for arm in typing.get_args(annotation):
        if typing.get_origin(arm) is typing.Annotated:
            for info in typing.get_args(arm)[1:]:
                for item in getattr(info, "metadata", []):
                    found.extend((name, float(getattr(item, name))) for name in ("ge", "gt", "le", "lt")
                                 if getattr(item, name, None) is not None)
    return found


def _annotation_at(model: BaseModel, path: tuple[str, ...]) -> Any:
    parent: Any = model
    for part in path[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else getattr(parent, part)
    return type(parent).model_fields[path[-1]].annotation


_BROKEN = {"ge": lambda value, bound: value < bound, "gt": lambda value, bound: value <= bound,
           "le": lambda value, bound: value > bound, "lt": lambda value, bound: value >= bound}


# Normal and lognormal ends at probabilities 1e-9 and 1 - 1e-9 lie about 6 sd out; 7 sd holds them.
_WIDE_SD = 7.0


def _clearly_within(dist: Dist, bounds: list[tuple[str, float]]) -> bool:
    """Whether an interval holding every value of ``dist`` between probabilities 1e-9 and 1 - 1e-9 lies
    strictly inside ``bounds`` (True means none is broken; False means the quantiles must say)."""
    dist_: Any = dist  # the parameters its kind needs are set: Dist checks them
    if dist.dist in ("uniform", "triangular", "pert"):
        low, high = float(dist_.low), float(dist_.high)
    elif dist.dist in ("choice", "empirical"):
        low, high = float(min(dist_.values)), float(max(dist_.values))
    elif dist.dist == "normal":
        low = max(dist_.mean - _WIDE_SD * dist_.sd, -math.inf if dist_.low is None else dist_.low)
        high = min(dist_.mean + _WIDE_SD * dist_.sd, math.inf if dist_.high is None else dist_.high)
    else:  # lognormal
        low, high = dist_.median * math.exp(-_WIDE_SD * dist_.sigma), dist_.median * math.exp(_WIDE_SD * dist_.sigma)
    return all(low > bound if name in ("ge", "gt") else high < bound for name, bound in bounds)


def check_support(model: BaseModel, found: list[tuple[tuple[str, ...], Dist]] | None = None) -> None:
    """Raise ScenarioError when a distribution can give values its field does not allow.

    The support is taken at probabilities 1e-9 and 1 - 1e-9 (an unbounded normal reaches about 6 sd):
    a share must stay within 0 and 1, a price or a duration above 0.
    """
    for path, dist in uncertain_inputs(model) if found is None else found:
        bounds = _bounds(_annotation_at(model, path))
        if _clearly_within(dist, bounds):  # no inverse CDF needed (nor scipy imported) to say so
            continue
        ends = quantiles(dist, np.array([1e-9, 1 - 1e-9]))
        for name, bound in bounds:
            value = float(ends[0] if name in ("ge", "gt") else ends[1])
            if _BROKEN[name](value, bound):
                symbol = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}[name]
                raise ScenarioError(
                    f"a {dist.dist} distribution here reaches {value:.4g}; values must be {symbol} {bound:g}",
                    field=".".join(path), value=dist.dist,
                    allowed="a distribution within the bounds (truncate a normal with low/high)")


def sample(dists: list[Dist], draws: int, seed: int, sampler: str = "latin-hypercube",
           rank_correlation: np.ndarray | None = None) -> np.ndarray:
    """Samples of each distribution: an array of shape (len(dists), draws), in each input's unit.

    Parameters
    ----------
    dists : the distributions, one per uncertain input.
    draws : number of draws; one draw gives every distribution's median.
    seed : seed of the generator; the same seed gives identical samples.
    sampler : ``latin-hypercube``, ``sobol`` or ``random``.
    rank_correlation : optional (len(dists), len(dists)) Spearman matrix, imposed by Iman-Conover.
    """
    u = unit_samples(len(dists), draws, seed, sampler)
    if rank_correlation is not None:
        u = rank_correlate(u, rank_correlation)
    if not dists:
        return u
    return np.stack([quantiles(dist, u[index]) for index, dist in enumerate(dists)])




def check_seed(seed: int, field: str = "seed", maximum: int = MAX_SEED) -> int:
    """``seed`` when it is a whole number in ``0 .. maximum``; otherwise a one-line ScenarioError."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) <= maximum:
        raise ScenarioError(f"{seed!r} is not a seed", field=field, value=seed, allowed=f"0 to {maximum:,}")
    return int(seed)


def substitute(model: BaseModel, values: dict[tuple[str, ...], np.ndarray], draws: int) -> Any:
    """A copy of ``model`` with the given arrays at their paths and every other ``Num`` broadcast to (draw,).

    ``values`` maps field paths (as returned by :func:`uncertain_inputs`) to arrays of shape (draw,); a
    distribution not named in ``values`` is an error, since it has no value to take.
    """
    arrays = {path: np.asarray(array, dtype=float) for path, array in values.items()}
    return _substitute(model, (), arrays, draws)


def _substitute(model: BaseModel, path: tuple[str, ...], by_path: dict[tuple[str, ...], np.ndarray],
                draws: int) -> Any:
    update: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*path, name)
        if here in by_path:
            update[name] = by_path[here]
        elif isinstance(value, Dist):
            raise ValueError(f"no values given for the distribution at {'.'.join(here)}")
        elif _is_num_field(info.annotation) and isinstance(value, int | float):
            update[name] = np.full(draws, float(value))
        elif isinstance(value, BaseModel):
            update[name] = _substitute(value, here, by_path, draws)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            update[name] = [_substitute(item, (*here, str(index)), by_path, draws)
                            for index, item in enumerate(value)]
    return model.model_copy(update=update)


def base_case(model: BaseModel) -> Any:
    """A copy of ``model`` with every distribution replaced by its median: the deterministic base case."""
    medians = {path: float(quantiles(dist, np.array([0.5]))[0]) for path, dist in uncertain_inputs(model)}
    fixed = _with_values(model, (), medians)
    options = getattr(fixed, "uncertainty", None)
    if options is not None and getattr(options, "correlations", None):  # nothing left to correlate
        fixed = fixed.model_copy(update={"uncertainty": options.model_copy(update={"correlations": []})})
    return fixed


def _with_values(model: BaseModel, path: tuple[str, ...], values: dict[tuple[str, ...], float]) -> Any:
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        here = (*path, name)
        if here in values:
            update[name] = values[here]
        elif isinstance(value, BaseModel):
            update[name] = _with_values(value, here, values)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            update[name] = [_with_values(item, (*here, str(index)), values) for index, item in enumerate(value)]
    return model.model_copy(update=update)
