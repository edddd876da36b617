"""Stages run in blocks of draws, so their (draw, month, ...) temporaries stay in cache.

A stage whose every operation is per draw (elementwise over draws, or reducing along months and phases
within a draw) gives the same bits whether it sees all draws at once or a block of them. Run on blocks of
``BLOCK_DRAWS`` draws, its temporaries (build-out's are (draw, month, phase) float64: 5.8 kB per draw at a
180-month horizon and four phases) fit in the processor's cache instead of streaming through memory:
build-out at 10,000 Abilene draws ran 1.0-2.6x faster (more when other work contends for memory), bit for
bit the same (docs/methods/performance.md).

The same property lets such arithmetic run once per distinct draw: :func:`per_distinct_draw` finds the draws
whose inputs are equal bit for bit (an equality check, never an assumption), computes on one draw of each
and copies the results to the others. Where few inputs are uncertain (Abilene's build-out sees only three
construction durations, rounded to whole months) that is a few hundred draws instead of thousands.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from functools import wraps
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel

from neocloud.catalog import Catalog

BLOCK_DRAWS = 1_000  # draws per block: 1,000 x 180 months x 4 phases x 8 bytes = 5.8 MB per temporary

Stage = Callable[[Any, Catalog, xr.Dataset], xr.Dataset]
Arrays = Mapping[str, np.ndarray]
ArrayStage = Callable[[Arrays], dict[str, np.ndarray]]


def blocks(rows: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` rows (draws) covering ``rows`` rows."""
    return [slice(start, start + size) for start in range(0, rows, size)]


def draws_of(model: Any, index: slice, draws: int) -> Any:
    """A realised scenario cut to the draws ``index``: every array whose first axis is ``draws`` long is
    sliced, in nested sections and lists of sections too; everything else is kept."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, np.ndarray) and value.shape[:1] == (draws,):
            update[name] = value[index]
        elif isinstance(value, BaseModel):
            update[name] = draws_of(value, index, draws)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            update[name] = [draws_of(item, index, draws) for item in value]
    return model.model_copy(update=update)


def join_draws(parts: Sequence[Mapping[Any, xr.Variable]]) -> dict[str, xr.Variable]:
    """The blocks' variables (each block's by name, as the first block names them) joined along ``draw``: each
    with a draw axis has its values concatenated on it; the rest are the first block's values. Each keeps
    the first block's dims and attributes. Plain Variables: no coordinates aligned, no index built."""

    def joined(key: Any, variable: xr.Variable) -> xr.Variable:
        if "draw" not in variable.dims:
            return xr.Variable(variable.dims, variable.values, attrs=variable.attrs)
        values = np.concatenate([part[key].values for part in parts], axis=variable.dims.index("draw"))
        return xr.Variable(variable.dims, values, attrs=variable.attrs)

    return {str(key): joined(key, variable) for key, variable in parts[0].items()}


def concat_draws(parts: list[xr.Dataset]) -> xr.Dataset:
    """The blocks' outputs joined along ``draw``: each variable and coordinate with a draw axis has its
    values concatenated on it; the rest are the first block's (:func:`join_draws`)."""
    first = parts[0]
    return xr.Dataset(
        join_draws([{key: part.variables[key] for key in first.data_vars} for part in parts]),
        coords=join_draws([{key: part.variables[key] for key in first.coords} for part in parts]),
        attrs=first.attrs,
    )


def in_draw_blocks(stage: Stage, block_draws: int = BLOCK_DRAWS) -> Stage:
    """``stage`` run on blocks of at most ``block_draws`` draws and joined: for stages whose operations are
    all per draw, the same result bit for bit, with cache-sized temporaries."""

    @wraps(stage)
    def blocked(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
        draws = upstream.sizes["draw"]
        if draws <= block_draws:
            return stage(scenario, catalog, upstream)
        parts = [
            stage(draws_of(scenario, block, draws), catalog, upstream.isel(draw=block))
            for block in blocks(draws, block_draws)
        ]
        return concat_draws(parts)

    return blocked


def _row_bits(values: np.ndarray) -> np.ndarray:
    """The bits of each row (first axis) of ``values`` as one unsigned integer array (row, items)."""
    rows = np.ascontiguousarray(values).reshape(len(values), -1)
    if rows.dtype.itemsize in (1, 2, 4, 8):
        return rows.view(f"u{rows.dtype.itemsize}")
    return rows.view(np.uint8)


def distinct_rows(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One row (first axis) of each distinct combination of the arrays' rows, compared bit for bit, and
    for every row the position of its combination among those: ``(first, inverse)``. Arrays whose rows
    are all equal are left out of the comparison (one pass over them)."""
    rows = len(arrays[0])
    varying = []
    for values in arrays:
        bits = _row_bits(values)
        if not np.array_equal(bits, np.broadcast_to(bits[:1], bits.shape)):
            varying.append(bits.view(np.uint8).reshape(rows, -1))
    if not varying:
        return np.zeros(1, dtype=np.intp), np.zeros(rows, dtype=np.intp)
    key = np.ascontiguousarray(np.concatenate(varying, axis=1))
    records = key.view(np.dtype((np.void, key.shape[1]))).ravel()
    _, first, inverse = np.unique(records, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def in_blocks(function: ArrayStage, arrays: Arrays, block_draws: int = BLOCK_DRAWS) -> dict[str, np.ndarray]:
    """``function`` of per-draw arrays (first axis ``draw``) run on blocks of at most ``block_draws`` draws
    and its arrays joined along the first axis: the same bits when all its operations are per draw."""
    draws = len(next(iter(arrays.values())))
    if draws <= block_draws:
        return function(arrays)
    parts = [function({key: values[block] for key, values in arrays.items()}) for block in blocks(draws, block_draws)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def stand_in(shape: tuple[int, ...], dtype: Any = float) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` with no values of its own (NaN, or 0 for integers, everywhere; zero
    strides, read-only): what a stage makes of a variable the run drops unread."""
    dtype = np.dtype(dtype)
    return np.broadcast_to(np.array(np.nan if dtype.kind in "fc" else 0, dtype=dtype), shape)


def per_distinct_draw(function: ArrayStage, arrays: Arrays, block_draws: int = BLOCK_DRAWS,
                      unread: Collection[str] = ()) -> dict[str, np.ndarray]:
    """``function`` of per-draw arrays, computed once per distinct draw (the draws whose arrays are equal bit
    for bit share one computation, in blocks of ``block_draws``) and copied back to every draw. For functions
    whose operations are all per draw, the same bits as ``function(arrays)``. Arrays named in ``unread`` (the
    run drops them unread) are not copied back: each is a :func:`stand_in` of its shape and dtype."""
    first, inverse = distinct_rows(list(arrays.values()))
    draws = len(inverse)
    if len(first) == draws:
        return in_blocks(function, arrays, block_draws)
    made = in_blocks(function, {key: values[first] for key, values in arrays.items()}, block_draws)
    return {key: stand_in((draws, *values.shape[1:]), values.dtype) if key in unread else values[inverse]
            for key, values in made.items()}
