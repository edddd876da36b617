"""The web face: a FastAPI application with the dashboard and the JSON API (``neocloud serve``).

``create_app`` is imported on first use, so that its limits can be read without importing FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neocloud.limits import DEFAULT_MAX_DRAWS, TOKEN_ENV

if TYPE_CHECKING:
    from neocloud.web.app import DEFAULT_MAX_UPLOAD_BYTES, create_app

__all__ = ["DEFAULT_MAX_DRAWS", "DEFAULT_MAX_UPLOAD_BYTES", "TOKEN_ENV", "create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` and ``DEFAULT_MAX_UPLOAD_BYTES``, imported from ``neocloud.web.app`` on first use."""
    if name in ("create_app", "DEFAULT_MAX_UPLOAD_BYTES"):
        from neocloud.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'neocloud.web' has no attribute {name!r}")
