"""How uncertain inputs relate: rank correlations between distributions."""

from __future__ import annotations

from neocloud.scenario.types import Section


class Uncertainty(Section):
    """Options of the sampling of uncertain inputs."""
