"""Compiled running operations along the last axis: the same bits as numpy's ``cumsum`` and
``maximum.accumulate``, without their per-element dispatch.

numpy's accumulations are sequential (``out[j] = out[j - 1] op values[j]``), so a compiled loop that applies
the same operation in the same order gives the same bits: no reassociation, no fused multiply-add (the
kernels are compiled without ``fastmath``). ``maximum`` keeps numpy's semantics exactly: a NaN in either
operand propagates (the first operand's when both are NaN) and a tie keeps the second operand, so
``maximum(0.0, -0.0)`` is ``-0.0``.

The kernels (here, in ``finance.loops`` and ``energy.compiled``) are made by :func:`kernel`: compiled on first
use, without fast-math, and cached on disk (``cache=True``), so a later process loads them.
The wrappers take any array numpy's functions take along any axis; float64, int64 and bool (summed as int64)
run compiled, other dtypes fall back to numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

COMPILED_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))


def kernel(function: Callable[..., Any]) -> Any:
    """Decorator: ``function`` compiled by numba on its first call (``njit``: no fast-math, so every operation
    rounds as numpy's does, in the order written; the GIL released), cached on disk where a cache can be
    written, else compiled afresh in each process (a read-only install)."""
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba found no writable place for its cache
        return njit(nogil=True)(function)


@kernel
def maximum(a: float, b: float) -> float:
    """``np.maximum(a, b)`` of two scalars: ``a`` where it is greater or NaN, else ``b``."""
    return a if (a > b or np.isnan(a)) else b


@kernel
def cumsum_rows(values: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = np.cumsum(values[i])`` for every row of 2-D ``values``, in place into ``out``."""
    rows, columns = values.shape
    if columns == 0:
        return
    for i in range(rows):
        total = values[i, 0]
        out[i, 0] = total
        for j in range(1, columns):
            total = total + values[i, j]
            out[i, j] = total


@kernel
def running_max_rows(values: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = np.maximum.accumulate(values[i])`` for every row of 2-D ``values``, in place into ``out``.
    (The same loop as ``cumsum_rows`` with another operation: one kernel taking the operation as an argument
    ran 1.4-1.8x slower, its choice made per element.)"""
    rows, columns = values.shape
    if columns == 0:
        return
    for i in range(rows):
        highest = values[i, 0]
        out[i, 0] = highest
        for j in range(1, columns):
            highest = maximum(highest, values[i, j])
            out[i, j] = highest


def _rows(values: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``values`` with ``axis`` moved last, as C-contiguous rows (row, axis), and the moved shape."""
    moved = np.moveaxis(values, axis, -1)
    shape = moved.shape
    return np.ascontiguousarray(moved.reshape(-1, shape[-1]) if moved.ndim != 2 else moved), shape


def _restore(out: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """The rows of ``out`` back in the caller's shape and axis order, C-contiguous as numpy returns them."""
    back = np.moveaxis(out.reshape(shape), -1, axis)
    return np.ascontiguousarray(back)


def cumsum(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """``np.cumsum(values, axis=axis)``, the same bits and dtype (bool and int64 sum as int64)."""
    values = np.asarray(values)
    if values.dtype not in COMPILED_DTYPES or values.size == 0:
        return np.cumsum(values, axis=axis)
    if values.dtype == np.bool_:
        values = values.astype(np.int64)
    rows, shape = _rows(values, axis)
    out = np.empty_like(rows)
    cumsum_rows(rows, out)
    return _restore(out, shape, axis)


def running_max(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """``np.maximum.accumulate(values, axis=axis)``, the same bits and dtype (NaN propagates, as in numpy)."""
    values = np.asarray(values)
    if values.dtype not in COMPILED_DTYPES or values.size == 0:
        return np.maximum.accumulate(values, axis=axis)
    flags = values.dtype == np.bool_
    rows, shape = _rows(values.view(np.uint8) if flags else values, axis)
    out = np.empty_like(rows)
    running_max_rows(rows, out)
    out = _restore(out, shape, axis)
    return out.view(np.bool_) if flags else out
