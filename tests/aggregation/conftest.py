"""A small consortium (keys, config, builders) shared by the aggregation tests."""

from __future__ import annotations

import pytest

from veil.aggregation.testing import Consortium, make_consortium

__all__ = ["Consortium", "make_consortium"]


@pytest.fixture
def consortium() -> Consortium:
    return make_consortium()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on 127.0.0.1 for the whole session (see pg_server.py)."""
    from .pg_server import postgres_server

    with postgres_server() as url:
        yield url
