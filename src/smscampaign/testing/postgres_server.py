"""A throwaway PostgreSQL server for tests and benchmarks.

:class:`PostgresServer` runs PostgreSQL's own binaries (``initdb``,
``pg_ctl``) to start a private server on ``127.0.0.1``, on a free port, in a
temporary data directory, and removes it all when stopped. smscampaign's
test suite and ``bench/scaleout.py`` use it; so can your tests::

    from smscampaign.testing.postgres_server import PostgresServer

    with PostgresServer() as server:
        url = server.create_database("campaigns")
        storage = PostgresStorage(url)

Where the binaries come from: ``$SMSCAMPAIGN_POSTGRES_BIN`` (a directory),
else ``pg_ctl`` on the ``PATH``, else the newest
``/usr/lib/postgresql/<version>/bin`` (Debian's ``postgresql`` package).
PostgreSQL refuses to run as root, so when the current user is root the
server runs as the ``postgres`` user (through ``runuser``) in a data
directory that user owns.

The server is tuned for throwaway data: ``fsync``, ``synchronous_commit``
and ``full_page_writes`` are off, so a crash of the machine loses it. Never
point it at data you keep.

:func:`server_url` is what a pytest fixture wants: the URL in
``$SMSCAMPAIGN_TEST_POSTGRES_URL`` when set (an existing server; nothing is
started), else a started :class:`PostgresServer`'s.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from smscampaign.errors import ConfigurationError, MissingDependency, StorageError

__all__ = [
    "BIN_ENV",
    "URL_ENV",
    "PostgresServer",
    "find_binaries",
    "server_url",
]

URL_ENV = "SMSCAMPAIGN_TEST_POSTGRES_URL"
"""The variable naming an existing server for tests (``postgresql://user@host:port/db``)."""

BIN_ENV = "SMSCAMPAIGN_POSTGRES_BIN"
"""The variable naming the directory of PostgreSQL's binaries (``initdb``, ``pg_ctl``)."""

INSTALL_HINT = (
    "install PostgreSQL (Debian: apt-get install postgresql), or set "
    f"{BIN_ENV} to the directory of its binaries, or set {URL_ENV} to the URL "
    "of a server tests may create databases in"
)
"""What to do when no server can be had."""

# Settings for a server whose data is thrown away: no durability, quick start.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}

_EXTRA = "smscampaign[postgres]"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def find_binaries() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``.

    Raises:
        MissingDependency: No PostgreSQL binaries were found.
    """
    candidates: list[Path] = []
    configured = os.environ.get(BIN_ENV)
    if configured:
        candidates.append(Path(configured))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise MissingDependency(f"no PostgreSQL binaries found; {INSTALL_HINT}", value=candidates)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """A private PostgreSQL server in a temporary directory, for tests and benchmarks.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. A
    started server is also stopped when the interpreter exits.

    Args:
        bin_dir: The directory of ``initdb`` and ``pg_ctl`` (default: :func:`find_binaries`).
        port: The TCP port on 127.0.0.1 (default: a free one).
        settings: Server settings added to (or replacing) the throwaway defaults.
        start_timeout: Seconds to wait for the server to accept connections.

    Raises:
        MissingDependency: No PostgreSQL binaries were found.
    """

    def __init__(
        self,
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        settings: dict[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else find_binaries()
        self.port = port if port is not None else _free_port()
        self.settings = {**_SETTINGS, **(settings or {})}
        self.start_timeout = start_timeout
        self.user = "postgres"
        self._folder: Path | None = None
        self._running = False

    @property
    def url(self) -> str:
        """The URL of the server's ``postgres`` database, as the superuser."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """The URL of one database on this server, as the superuser."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    @property
    def data_dir(self) -> Path:
        """The data directory (only while the server exists)."""
        if self._folder is None:
            raise StorageError("the server has not been started", value=self)
        return self._folder / "data"

    def _as_owner(self) -> list[str]:
        # PostgreSQL refuses to run as root: run its binaries as the postgres user.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, args: Sequence[str], what: str) -> None:
        command = [*self._as_owner(), *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.start_timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise StorageError(f"cannot {what}: {error}", value=command) from error
        if done.returncode != 0:
            raise StorageError(
                f"cannot {what}: {' '.join(command)} exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}",
                value=command,
            )

    def start(self) -> PostgresServer:
        """Create the data directory, start the server and wait until it accepts connections.

        Returns:
            The server itself.

        Raises:
            StorageError: ``initdb`` or the server failed (the message holds its log).
        """
        if self._running:
            return self
        folder = Path(tempfile.mkdtemp(prefix="smscampaign-pg-"))
        self._folder = folder
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        log = folder / "server.log"
        try:
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "--pgdata",
                    str(data),
                    "--username",
                    self.user,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ],
                "initialise a PostgreSQL data directory",
            )
            options = " ".join(f"-c {key}={value!r}" for key, value in self.settings.items())
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "--pgdata",
                    str(data),
                    "--log",
                    str(log),
                    "--options",
                    f"-p {self.port} {options}",
                    "--wait",
                    "--timeout",
                    str(int(self.start_timeout)),
                    "start",
                ],
                f"start PostgreSQL on 127.0.0.1:{self.port}",
            )
        except StorageError as error:
            text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            shutil.rmtree(folder, ignore_errors=True)
            self._folder = None
            if text:
                raise StorageError(
                    f"{error.message}\nserver log:\n{text}", value=error.value
                ) from error
            raise
        self._running = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server (immediately: its data is thrown away) and remove its directory."""
        folder, self._folder = self._folder, None
        if folder is None:
            return
        if self._running:
            self._running = False
            with contextlib.suppress(StorageError):
                self._run(
                    [str(self.bin_dir / "pg_ctl"), "--pgdata", str(folder / "data"), "--mode",
                     "immediate", "--wait", "stop"],
                    "stop PostgreSQL",
                )  # fmt: skip
        atexit.unregister(self.stop)
        shutil.rmtree(folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create a database on this server (dropping one of that name first); return its URL.

        Raises:
            ConfigurationError: ``name`` is not a lower-case SQL identifier.
            MissingDependency: psycopg is not installed.
        """
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"database name must match {_NAME.pattern}, got {name!r}", value=name
            )
        try:
            import psycopg
        except ImportError as error:
            raise MissingDependency(
                f'creating a database needs psycopg; install it with: pip install "{_EXTRA}"',
                value="psycopg",
            ) from error
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"PostgresServer(127.0.0.1:{self.port}, {state})"


@contextlib.contextmanager
def server_url() -> Iterator[str]:
    """The URL of a server to test against, for as long as the block runs.

    ``$SMSCAMPAIGN_TEST_POSTGRES_URL`` when set (the server is used as it
    is), else a :class:`PostgresServer` started for the block and stopped
    after it.

    Raises:
        MissingDependency: No binaries and no URL.
        StorageError: The server would not start.
    """
    url = os.environ.get(URL_ENV)
    if url:
        yield url
        return
    with PostgresServer() as server:
        yield server.url
