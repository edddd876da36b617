"""The web face: a FastAPI application with the dashboard and the JSON API (``neocloud serve``)."""

from __future__ import annotations

from neocloud.web.app import DEFAULT_MAX_DRAWS, DEFAULT_MAX_UPLOAD_BYTES, TOKEN_ENV, create_app

__all__ = ["DEFAULT_MAX_DRAWS", "DEFAULT_MAX_UPLOAD_BYTES", "TOKEN_ENV", "create_app"]
