"""neocloud: an open-source digital twin of AI data-center campuses.

``load(path)`` validates a scenario; ``run(scenario_or_path, draws=, seed=)`` returns ``Results`` whose
``.dataset`` is an ``xarray.Dataset`` (``draw`` x ``month``) and ``.summary()`` the JSON summary.

The names below are imported on first use, so that ``import neocloud`` (and the command line's start)
does not load the pipeline's numerical libraries until they are needed.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neocloud.catalog import Catalog, load_catalog
    from neocloud.errors import NeocloudError, ScenarioError
    from neocloud.load import load
    from neocloud.pipeline import Results, run
    from neocloud.scenario import Scenario

__all__ = ["Catalog", "NeocloudError", "Results", "Scenario", "ScenarioError", "load", "load_catalog", "run"]
__version__ = "0.1.0"

_HOMES = {
    "Catalog": "neocloud.catalog", "load_catalog": "neocloud.catalog", "NeocloudError": "neocloud.errors",
    "ScenarioError": "neocloud.errors", "Results": "neocloud.pipeline",
    "run": "neocloud.pipeline", "Scenario": "neocloud.scenario",
}


def __getattr__(name: str) -> Any:
    """The public name ``name``, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'neocloud' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if not TYPE_CHECKING:
    class _Package(types.ModuleType):
        """The package module, whose ``load`` stays the function although a submodule has the same name."""

        @property
        def load(self) -> Any:
            from neocloud.load import load

            return load

        @load.setter
        def load(self, value: Any) -> None:
            """The import system sets the submodule here when it is imported; the function stays."""

    sys.modules[__name__].__class__ = _Package
