"""Stages run in blocks of draws, so their (draw, month, ...) temporaries stay in cache.

A stage whose every operation is per draw (elementwise over draws, or reducing along months and phases
within a draw) gives the same bits whether it sees all draws at once or a block of them. Run on blocks of
``BLOCK_DRAWS`` draws, its temporaries (build-out's are (draw, month, phase) float64: 5.8 kB per draw at a
180-month horizon and four phases) fit in the processor's cache instead of streaming through memory:
build-out at 10,000 Abilene draws ran 1.0-2.6x faster (more when other work contends for memory), bit for
bit the same (docs/methods/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel

from neocloud.catalog import Catalog

BLOCK_DRAWS = 1_000  # draws per block: 1,000 x 180 months x 4 phases x 8 bytes = 5.8 MB per temporary

Stage = Callable[[Any, Catalog, xr.Dataset], xr.Dataset]


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


def concat_draws(parts: list[xr.Dataset]) -> xr.Dataset:
    """The blocks' outputs joined along ``draw``: each variable and coordinate with a draw axis has its
    values concatenated on it; the rest are the first block's."""
    first = parts[0]

    def joined(key: Any, variable: xr.DataArray) -> xr.DataArray:
        if "draw" not in variable.dims:
            return xr.DataArray(variable.values, dims=variable.dims, attrs=variable.attrs)
        values = np.concatenate([part[key].values for part in parts], axis=variable.dims.index("draw"))
        return xr.DataArray(values, dims=variable.dims, attrs=variable.attrs)

    return xr.Dataset(
        {key: joined(key, variable) for key, variable in first.data_vars.items()},
        coords={key: joined(key, coord) for key, coord in first.coords.items()},
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
