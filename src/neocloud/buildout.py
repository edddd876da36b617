"""Build-out: when each phase is ready, and what is online month by month."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.scenario import months_between


def buildout(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Month each phase is online and, by month, accelerators, IT and facility MW online."""
    month = upstream["month"].values
    online = []
    for phase in scenario.campus.phases:
        start = months_between(scenario.start, phase.schedule.construction_start or scenario.start)
        online.append(np.ceil(start + phase.schedule.construction_months))
    online_month = xr.DataArray(np.stack(online, axis=1), dims=("draw", "phase"))
    is_online = (xr.DataArray(month, dims="month") >= online_month).astype(float)
    out = xr.Dataset({"phase_online_month": online_month})
    for key, source in (("accelerators_online", "phase_accelerators"), ("it_power_online_mw", "phase_it_power_mw"),
                        ("facility_power_online_mw", "phase_facility_power_mw")):
        out[key] = (is_online * upstream[source]).sum("phase").transpose("draw", "month")
    out["first_power_month"] = online_month.min("phase")
    out["full_capacity_month"] = online_month.max("phase")
    for key in ("first_power_month", "full_capacity_month"):
        out[key].attrs.update(summary=1, units="months from start", integer=1)
    return out
