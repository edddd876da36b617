"""neocloud: an open-source digital twin of AI data-center campuses.

``load(path)`` validates a scenario; ``run(scenario_or_path, draws=, seed=)`` returns ``Results`` whose
``.dataset`` is an ``xarray.Dataset`` (``draw`` x ``month``) and ``.summary()`` the JSON summary.
"""

from __future__ import annotations

from neocloud.catalog import Catalog, load_catalog
from neocloud.errors import NeocloudError, ScenarioError
from neocloud.load import load
from neocloud.pipeline import Results, run
from neocloud.scenario import Scenario

__all__ = ["Catalog", "NeocloudError", "Results", "Scenario", "ScenarioError", "load", "load_catalog", "run"]
__version__ = "0.1.0"
