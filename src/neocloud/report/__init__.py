"""The HTML report: one self-contained file per run (plotly's JavaScript inlined, nothing fetched)."""

from __future__ import annotations

from neocloud.report.document import render

__all__ = ["render"]
