"""Compute: what the campus can do, in FLOP/s by precision over time."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from neocloud.catalog import Catalog
from neocloud.units import TFLOP_PER_PFLOP


def compute(scenario: Any, catalog: Catalog, upstream: xr.Dataset) -> xr.Dataset:
    """Peak dense BF16 PFLOP/s of the campus, and online by month."""
    bf16 = [catalog.value("accelerators", str(catalog.row("systems", phase.system)["accelerator"]), "bf16_tflops")
            for phase in scenario.campus.phases]
    per_phase = upstream["phase_accelerators"] * xr.DataArray(np.asarray(bf16), dims="phase") / TFLOP_PER_PFLOP
    out = xr.Dataset({"peak_bf16_pflops": per_phase.sum("phase")})
    out["peak_bf16_pflops"].attrs.update(summary=1, units="PFLOP/s")
    share_online = upstream["accelerators_online"] / upstream["accelerators"].where(upstream["accelerators"] > 0)
    out["bf16_pflops_online"] = (share_online.fillna(0) * out["peak_bf16_pflops"]).transpose("draw", "month")
    return out
