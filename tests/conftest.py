import pytest

from planner.catalog import load_catalog


@pytest.fixture(scope="session")
def cat():
    return load_catalog()
