"""PostgresServer: a throwaway server that starts, serves, and leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("psycopg", reason="needs the postgres extra: pip install -e '.[postgres]'")

import psycopg

from smscampaign.errors import ConfigurationError, MissingDependency
from smscampaign.testing.postgres_server import INSTALL_HINT, PostgresServer, find_binaries

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def binaries() -> Path:
    """PostgreSQL's binaries (a skip without them, a failure under CI)."""
    try:
        return find_binaries()
    except MissingDependency as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))


class TestPostgresServer:
    """A started server takes connections; a stopped one is gone with its directory."""

    def test_start_serve_stop(self, binaries: Path) -> None:
        """It runs on 127.0.0.1, creates databases, and removes its data when stopped."""
        server = PostgresServer(bin_dir=binaries)
        with server:
            assert server.running
            folder = server.data_dir.parent
            url = server.create_database("scratch")
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT current_database(), inet_server_addr()").fetchone()
            assert row is not None
            assert (row[0], str(row[1])) == ("scratch", "127.0.0.1")
            assert server.create_database("scratch") == url  # made again, empty
        assert not server.running
        assert not folder.exists()
        server.stop()  # stopping twice does nothing

    def test_database_names_are_checked(self, binaries: Path) -> None:
        """A name that is not a plain lower-case identifier is refused before any SQL."""
        with pytest.raises(ConfigurationError, match="database name"):
            PostgresServer(bin_dir=binaries).create_database('x"; DROP DATABASE postgres; --')

    def test_missing_binaries_say_how_to_install(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without binaries anywhere, the error names what to install."""
        monkeypatch.setenv("SMSCAMPAIGN_POSTGRES_BIN", str(tmp_path))
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(()))
        with pytest.raises(MissingDependency) as info:
            find_binaries()
        assert INSTALL_HINT in str(info.value)
