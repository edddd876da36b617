"""Compiled kernels of the energy stage, made on first use.

numba is imported when a kernel first runs, not with the package: importing it costs about a second, which a
command that never dispatches (or a dashboard's start) should not pay. Kernels compile without fast-math, so
each floating-point operation rounds as numpy's does, in the order written, and the results are numpy's bits;
compiled code is cached on disk (``cache=True``), so a later process loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Kernel:
    """``function`` compiled by numba (``njit``, no fast-math) on its first call."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.compiled: Callable[..., Any] | None = None
        self.__doc__ = function.__doc__

    def __call__(self, *args: Any) -> Any:
        """The compiled function's result on ``args``."""
        if self.compiled is None:
            import numba

            self.compiled = numba.njit(cache=True, nogil=True)(self.function)
        return self.compiled(*args)


def kernel(function: Callable[..., Any]) -> Kernel:
    """Decorator: ``function`` compiled on first use (``Kernel``)."""
    return Kernel(function)
