import pytest

from planner.catalog.loader import load_catalog


@pytest.fixture(scope="session")
def cat():
    return load_catalog()
