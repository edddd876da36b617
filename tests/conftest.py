"""Shared fixtures: small, and nothing heavy at import."""

from __future__ import annotations

from pathlib import Path

import pytest

from neocloud import Catalog, Scenario, load, load_catalog

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog."""
    return load_catalog()


@pytest.fixture(scope="session")
def abilene() -> Scenario:
    """The Abilene example scenario, loaded."""
    return load(EXAMPLES / "abilene.yaml")


@pytest.fixture(scope="session", autouse=True)
def isolated_run_store(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Every run the tests make is kept in a throwaway SQLite store, never in the user's data folder."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'runs.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEOCLOUD_STORE", url)
        yield url
