"""What the campus runs: training or inference, and a reference job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neocloud.scenario.types import Section


class Workload(Section):
    """How the IT load behaves: training (flat and high) or inference (a daily cycle)."""

    kind: Literal["training", "inference", "mixed"] = Field(default="training", description="Dominant workload.")
