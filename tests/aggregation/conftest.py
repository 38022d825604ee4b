"""A small consortium (keys, config, builders) shared by the aggregation tests."""

from __future__ import annotations

import pytest

from veil.aggregation.testing import Consortium, make_consortium

__all__ = ["Consortium", "make_consortium"]


@pytest.fixture
def consortium() -> Consortium:
    return make_consortium()
