"""The store: every run kept in SQLite by default, or in any SQLAlchemy database given by URL."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

STORE_ENV = "NEOCLOUD_STORE"


def store_url(url: str | None = None) -> str:
    """The database URL: the one given, else ``$NEOCLOUD_STORE``, else SQLite in the user's data folder."""
    if url:
        return url
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    folder = Path(user_data_dir("neocloud", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'neocloud.db'}"
