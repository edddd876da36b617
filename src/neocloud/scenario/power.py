"""Where the power comes from: grid import, on-site generation, storage and solar."""

from __future__ import annotations

from neocloud.scenario.types import Section


class PowerSupply(Section):
    """The site's power supply beyond the grid connection given in ``site``."""
