"""Fixtures for the runner tests: a storage of each kind and a world around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _runner_harness import World, make_storage

from smscampaign.providers.base import Storage


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """An empty storage: in memory, then SQLite on a file."""
    store = make_storage(request.param, tmp_path)
    yield store
    close = getattr(store, "close", None)
    if close is not None:
        close()


@pytest.fixture
def make_world(storage: Storage) -> Callable[..., World]:
    """Build a :class:`World` on the parametrized storage (runner options as keywords)."""

    def build(**options: Any) -> World:
        return World(storage, **options)

    return build


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    """A world with an ideal simulated carrier and default runner options."""
    return make_world()
