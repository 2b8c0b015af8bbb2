"""Test configuration: Hypothesis profiles and shared fixtures."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from smscampaign.errors import MissingDependency, StorageError
from smscampaign.testing.postgres_server import INSTALL_HINT, server_url

# CI runs a fixed, derandomized profile so a red build is reproducible;
# developers get the default profile, which explores new examples each run.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# --- PostgreSQL ------------------------------------------------------------------------
# One server per test session, started only when a test asks for it: the one
# SMSCAMPAIGN_TEST_POSTGRES_URL names, else a throwaway one on 127.0.0.1
# (smscampaign.testing.postgres_server). Each test works in schemas of its own.
# Without a server the tests skip, saying how to enable them; under CI they fail.


def _postgres_unavailable(error: Exception) -> None:
    message = f"no PostgreSQL server for the tests ({error}); to run them, {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (skips the test when there is none)."""
    stack = contextlib.ExitStack()
    try:
        import smscampaign.providers.postgres  # noqa: F401  (needs the postgres extra)

        url = stack.enter_context(server_url())
    except (MissingDependency, StorageError) as error:
        _postgres_unavailable(error)
    with stack:
        yield url
        _drop_schemas(url)


_SCHEMAS: list[str] = []


def _new_schema() -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    _SCHEMAS.append(name)
    return name


@pytest.fixture(scope="session")
def postgres_schema(postgres_url: str) -> Callable[[], str]:
    """Names schemas no other test uses (dropped when the session ends)."""
    return _new_schema


def _drop_schemas(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for name in _SCHEMAS:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    _SCHEMAS.clear()


@pytest.fixture
def make_postgres(postgres_url: str) -> Iterator[Callable[..., Any]]:
    """Build PostgresStorage objects, each in a fresh schema; closed after the test."""
    from smscampaign.providers.postgres import PostgresStorage

    made: list[PostgresStorage] = []

    def make(**options: Any) -> PostgresStorage:
        storage = PostgresStorage(postgres_url, schema=_new_schema(), **options)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()
