"""Limits and defaults that the command line shows in its help, kept apart from the modules that use them
so that the command line can start without importing those modules' numerical libraries."""

from __future__ import annotations

MAX_SEED = 2**63 - 1
"""A user's seed is a whole number from 0 to 2**63 - 1 everywhere: the CLI, the API, the store's 64-bit
columns. Seeds derived inside (a sweep's chunk seeds) may use the generator's whole 64-bit range."""
MAX_GENERATOR_SEED = 2**64 - 1

DEFAULT_CHUNK_DRAWS = 10_000  # draws per sweep chunk: the unit of work and of storage
QUANTILES = (0.1, 0.5, 0.9)  # the quantiles a sweep keeps per grid point
DEFAULT_SOBOL_DRAWS = 1024  # base sample N of the Sobol' indices (a power of two)

TOKEN_ENV = "NEOCLOUD_TOKEN"  # environment variable holding the API's bearer token
DEFAULT_MAX_DRAWS = 2000  # most draws one API request may ask for, unless the server is told otherwise
