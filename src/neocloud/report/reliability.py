"""Report section of this stage."""

from __future__ import annotations

from typing import Any


def section(results: Any) -> str | None:
    """This stage adds no section yet."""
    return None
