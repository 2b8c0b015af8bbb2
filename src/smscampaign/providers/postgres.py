"""PostgresStorage: one PostgreSQL shared by any number of workers on any number of hosts.

The same :class:`~smscampaign.providers.base.Storage` as
:class:`~smscampaign.providers.sqlite.SQLiteStorage`, on PostgreSQL through
psycopg 3 and a ``psycopg_pool`` connection pool (the ``postgres`` extra:
``pip install "smscampaign[postgres]"``). Runner processes on several
machines open their own ``PostgresStorage`` on the same database and share
the work: :meth:`PostgresStorage.claim_due_sends` hands each due send to
exactly one of them with ``SELECT ... FOR UPDATE SKIP LOCKED``, and a claim
whose worker died lapses when its lease ends, so another worker takes the
send over (each takeover is logged: :meth:`PostgresStorage.iter_lapsed_claims`).

The row format is SQLiteStorage's: domain objects as JSON documents beside
the columns queries filter, group and sort on, times as fixed-width UTC
ISO-8601 strings. Every text column uses the ``"C"`` collation, so text
sorts by code point, as Python sorts it, whatever the database's locale,
and the stored times sort like the instants they name. Serialization is
shared with :mod:`smscampaign.providers.sqlite`.

Concurrency: PostgreSQL runs units of work side by side (READ COMMITTED),
where SQLite runs them one at a time. Where that matters it takes row locks:
the sends a batch of provider events changes are locked while they are read
and rewritten, and a provider message id is locked (a row of
``message_locks``) by whoever records an event for it or saves a send that
carries it, so an early receipt is never parked by one transaction while
another one saves its send unseen. A call made outside any unit of work
that PostgreSQL aborts for a deadlock or a serialization failure is run
again, up to three times.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs

from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain.campaign import Campaign, Step
from smscampaign.domain.contact import DEFAULT_ACCOUNT, Consent, Contact, Recipient, Suppression
from smscampaign.domain.delivery import Send, StatusEvent
from smscampaign.domain.replies import InboundMessage
from smscampaign.eligibility import (
    Decision,
    Eligibility,
    ReasonCounts,
    ReasonLike,
    Rule,
)
from smscampaign.errors import (
    AlreadyExists,
    ConfigurationError,
    MissingDependency,
    NotFound,
    SchemaError,
    StorageError,
)
from smscampaign.providers._sql_eligibility import Dialect, StepQuery, step_request
from smscampaign.providers.base import (
    CONTACT_GROUPS,
    DEFAULT_LEASE,
    RECIPIENT_GROUPS,
    SEND_GROUPS,
    EventOutcome,
    LogCursor,
    LogFilter,
    SuppressionRemoval,
    check_claim,
    check_groups,
    check_limit,
    check_period,
    send_reason,
)
from smscampaign.providers.sqlite import (
    _CONTACT_COLUMNS,
    _CONTACT_GROUP_COLUMNS,
    _RECIPIENT_GROUP_COLUMNS,
    _SEND_GROUP_COLUMNS,
    _campaign,
    _campaign_doc,
    _contact,
    _contact_row,
    _dt,
    _event,
    _event_doc,
    _fields_json,
    _inbound,
    _inbound_doc,
    _message_keys,
    _ots,
    _patched_send_doc,
    _send,
    _send_doc,
    _send_from,
    _send_row,
    _suppression,
    _ts,
)

try:
    import psycopg
    from psycopg import sql
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as _error:  # pragma: no cover - depends on what is installed
    raise MissingDependency(
        "PostgresStorage needs psycopg 3 and psycopg-pool; install them with: "
        'pip install "smscampaign[postgres]"',
        value="postgres",
    ) from _error

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "LapsedClaim", "PostgresStorage"]

T = TypeVar("T")
Conn = psycopg.Connection[Any]

_BATCH = 500  # rows per keyset page
_WRITE_BATCH = 2000  # rows per bulk write (one statement over arrays)
_RETRIES = 3  # runs again of a call PostgreSQL aborted for a deadlock or serialization failure
_RETRYABLE = ("40001", "40P01")  # serialization_failure, deadlock_detected
_CURSORS = itertools.count()  # names of server-side cursors

_TEXT = 'text COLLATE "C"'

# Forward migrations: version N is reached by running MIGRATIONS[N - 1] on version N - 1.
# Never edit a released migration; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""CREATE TABLE contacts (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account {_TEXT} NOT NULL,
            id {_TEXT} NOT NULL,
            e164 {_TEXT} NOT NULL,
            region {_TEXT},
            kind {_TEXT} NOT NULL,
            verified boolean NOT NULL,
            zones {_TEXT} NOT NULL,
            first_name {_TEXT} NOT NULL,
            last_name {_TEXT} NOT NULL,
            email {_TEXT} NOT NULL,
            fields {_TEXT} NOT NULL,
            consent {_TEXT} NOT NULL,
            time_zone {_TEXT},
            UNIQUE (account, id)
        )""",
        f"""CREATE TABLE suppressions (
            account {_TEXT} NOT NULL,
            e164 {_TEXT} NOT NULL,
            cause {_TEXT} NOT NULL,
            at {_TEXT} NOT NULL,
            detail {_TEXT} NOT NULL,
            campaign_id {_TEXT},
            added_by {_TEXT} NOT NULL,
            PRIMARY KEY (account, e164)
        )""",
        f"""CREATE TABLE suppression_removals (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account {_TEXT} NOT NULL,
            e164 {_TEXT} NOT NULL,
            cause {_TEXT} NOT NULL,
            suppressed_at {_TEXT} NOT NULL,
            detail {_TEXT} NOT NULL,
            campaign_id {_TEXT},
            suppressed_by {_TEXT} NOT NULL,
            removed_at {_TEXT} NOT NULL,
            removed_by {_TEXT} NOT NULL,
            reason {_TEXT} NOT NULL
        )""",
        f"""CREATE TABLE campaigns (
            id {_TEXT} PRIMARY KEY,
            account {_TEXT} NOT NULL,
            state {_TEXT} NOT NULL,
            data {_TEXT} NOT NULL
        )""",
        f"""CREATE TABLE recipients (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            campaign_id {_TEXT} NOT NULL REFERENCES campaigns (id),
            contact_pk bigint NOT NULL REFERENCES contacts (pk),
            contact_id {_TEXT} NOT NULL,
            status {_TEXT} NOT NULL,
            response {_TEXT} NOT NULL,
            list_name {_TEXT} NOT NULL,
            fields {_TEXT} NOT NULL,
            UNIQUE (campaign_id, contact_id)
        )""",
        # Room on every page (fillfactor 80) lets a claim's update stay on its page
        # (a HOT update): claiming rewrites no index entry.
        f"""CREATE TABLE sends (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id {_TEXT} NOT NULL UNIQUE,
            campaign_id {_TEXT} NOT NULL,
            recipient_id {_TEXT} NOT NULL,
            step_id {_TEXT} NOT NULL,
            status {_TEXT} NOT NULL,
            reason {_TEXT} NOT NULL,
            created_at {_TEXT} NOT NULL,
            due_at {_TEXT},
            sent_on {_TEXT},
            to_e164 {_TEXT} NOT NULL,
            claimed_by {_TEXT},
            claim_until {_TEXT},
            data {_TEXT} NOT NULL,
            FOREIGN KEY (campaign_id, recipient_id) REFERENCES recipients (campaign_id, contact_id)
        ) WITH (fillfactor = 80)""",
        f"""CREATE TABLE send_messages (
            provider {_TEXT} NOT NULL,
            message_id {_TEXT} NOT NULL,
            send_pk bigint NOT NULL REFERENCES sends (pk) ON DELETE CASCADE,
            PRIMARY KEY (message_id, provider)
        )""",
        # One row per provider message id ever seen: the lock that orders an
        # event for an id against the save of the send that carries it.
        f"CREATE TABLE message_locks (message_id {_TEXT} PRIMARY KEY)",
        f"""CREATE TABLE events (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            dedup_key {_TEXT} NOT NULL UNIQUE,
            provider {_TEXT} NOT NULL,
            message_id {_TEXT} NOT NULL,
            parked boolean NOT NULL,
            data {_TEXT} NOT NULL
        )""",
        f"""CREATE TABLE inbound (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            provider {_TEXT} NOT NULL,
            message_id {_TEXT} NOT NULL,
            account {_TEXT} NOT NULL,
            sender {_TEXT} NOT NULL,
            received_at {_TEXT} NOT NULL,
            data {_TEXT} NOT NULL,
            UNIQUE (provider, message_id)
        )""",
        # Every claim taken over from a worker whose lease ran out unsaved.
        f"""CREATE TABLE lapsed_claims (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            send_id {_TEXT} NOT NULL,
            worker {_TEXT} NOT NULL,
            claimed_at {_TEXT} NOT NULL,
            previous_worker {_TEXT} NOT NULL,
            lease_ended {_TEXT} NOT NULL
        )""",
    ),
    (
        # Indexes for every query the runner and the reports make.
        "CREATE INDEX contacts_by_number ON contacts (account, e164)",
        "CREATE INDEX recipients_by_contact ON recipients (contact_pk)",
        # A recipient's sends, and each recipient's latest send of a step (counts).
        "CREATE INDEX sends_by_recipient ON sends (campaign_id, recipient_id, step_id, pk)",
        "CREATE INDEX sends_by_campaign ON sends (campaign_id, pk)",
        "CREATE INDEX sends_due ON sends ((coalesce(due_at, created_at)), id) "
        "WHERE status = 'queued'",
        "CREATE INDEX send_messages_by_send ON send_messages (send_pk)",
        "CREATE INDEX events_by_message ON events (provider, message_id)",
        "CREATE INDEX events_parked ON events (message_id) WHERE parked",
        "CREATE INDEX campaigns_by_account ON campaigns (account)",
        "CREATE INDEX lapsed_claims_by_send ON lapsed_claims (send_id)",
        # The account views: the SMS log in (created_at, id) order per campaign and
        # per number, replies by time and by sender, contacts by consent.
        "CREATE INDEX sends_log ON sends (campaign_id, created_at, id)",
        "CREATE INDEX sends_log_by_number ON sends (to_e164, created_at, id)",
        "CREATE INDEX inbound_by_time ON inbound (account, received_at, pk)",
        "CREATE INDEX inbound_by_sender ON inbound (account, sender, received_at, pk)",
        "CREATE INDEX contacts_by_consent ON contacts (account, consent, id)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this library writes."""


@attrs.frozen(kw_only=True)
class LapsedClaim:
    """A claim taken over because the worker holding it let its lease run out unsaved.

    The worker that held it may have died after the provider accepted the
    message and before the send was saved, so the send may go out a second
    time when its provider does not honour idempotency keys (see
    ``docs/scaling.md``). Each takeover is logged, for an operator to check.

    Args:
        send_id: The send.
        worker: The worker that took it over.
        claimed_at: When it did (its ``now``).
        previous_worker: The worker whose lease lapsed.
        lease_ended: When that lease ended.
    """

    send_id: str
    worker: str
    claimed_at: datetime
    previous_worker: str
    lease_ended: datetime


# --- SQL ---------------------------------------------------------------------------

_SELECT_RECIPIENTS = (
    "SELECT r.pk, r.contact_id, r.status, r.response, r.list_name, r.fields, "
    f"{_CONTACT_COLUMNS} FROM recipients r JOIN contacts c ON c.pk = r.contact_pk"
)
_SUPPRESSION_COLUMNS = "account, e164, cause, at, detail, campaign_id, added_by"

# Bulk writes take one array per column and unnest them in input order, so one
# statement writes a whole batch and identity values follow the input order.
_UPSERT_CONTACTS = (
    "INSERT INTO contacts (account, id, e164, region, kind, verified, zones, first_name, "
    "last_name, email, fields, consent, time_zone) "
    "SELECT a, i, e, rg, k, v <> 0, z, f, l, em, fl, cs, tz FROM unnest(%b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY "
    "AS u(a, i, e, rg, k, v, z, f, l, em, fl, cs, tz, n) ORDER BY n "
    "ON CONFLICT (account, id) DO {action}"
)
_UPDATE_CONTACT = (
    "UPDATE SET e164 = excluded.e164, region = excluded.region, kind = excluded.kind, "
    "verified = excluded.verified, zones = excluded.zones, first_name = excluded.first_name, "
    "last_name = excluded.last_name, email = excluded.email, fields = excluded.fields, "
    "consent = excluded.consent, time_zone = excluded.time_zone"
)
_INSERT_RECIPIENTS = (
    "INSERT INTO recipients (campaign_id, contact_pk, contact_id, status, response, list_name, "
    "fields) SELECT u.c, k.pk, u.i, u.s, u.r, u.l, u.f FROM unnest(%b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY "
    "AS u(c, i, s, r, l, f, a, n) JOIN contacts k ON k.account = u.a AND k.id = u.i ORDER BY u.n "
    "ON CONFLICT (campaign_id, contact_id) DO NOTHING"
)
_UPSERT_SENDS = (
    "INSERT INTO sends (id, campaign_id, recipient_id, step_id, status, reason, created_at, "
    "due_at, sent_on, data, to_e164) SELECT i, c, r, st, s, rs, ca, da, so, d, t FROM unnest("
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY "
    "AS u(i, c, r, st, s, rs, ca, da, so, d, t, n) "
    "ORDER BY n ON CONFLICT (id) DO UPDATE SET campaign_id = excluded.campaign_id, "
    "recipient_id = excluded.recipient_id, step_id = excluded.step_id, status = excluded.status, "
    "reason = excluded.reason, created_at = excluded.created_at, due_at = excluded.due_at, "
    "sent_on = excluded.sent_on, data = excluded.data, to_e164 = excluded.to_e164, "
    "claimed_by = NULL, claim_until = NULL RETURNING id, pk"
)
# _UPSERT_SENDS that leaves a stored send exactly as it is (save_sends(new_only=True)).
_INSERT_NEW_SENDS = (
    _UPSERT_SENDS.split(" ON CONFLICT", 1)[0] + " ON CONFLICT (id) DO NOTHING RETURNING id, pk"
)
# The due sends, oldest first, locked as they are chosen (rows another worker is
# claiming right now are skipped), marked as claimed; a lapsed claim is logged.
# The running campaigns are an array, not a join, so the planner walks sends_due
# in order and stops at the limit (a join's estimate made it sort every due row).
_CLAIM = (
    "WITH due AS (SELECT s.pk, s.claimed_by, s.claim_until FROM sends s "
    "WHERE s.status = 'queued' AND (s.due_at IS NULL OR s.due_at <= %(now)s) "
    "AND (s.claim_until IS NULL OR s.claim_until <= %(now)s) "
    "AND s.campaign_id = ANY(ARRAY(SELECT id FROM campaigns WHERE state = 'in_progress')) "
    "ORDER BY coalesce(s.due_at, s.created_at), s.id LIMIT %(limit)s FOR UPDATE OF s SKIP LOCKED), "
    "claimed AS (UPDATE sends s SET claimed_by = %(worker)s, claim_until = %(until)s FROM due "
    "WHERE s.pk = due.pk RETURNING s.id, s.data, coalesce(s.due_at, s.created_at) AS due_on, "
    "due.claimed_by AS previous, due.claim_until AS lapsed), "
    "logged AS (INSERT INTO lapsed_claims (send_id, worker, claimed_at, previous_worker, "
    "lease_ended) SELECT id, %(worker)s, %(now)s, previous, lapsed FROM claimed "
    "WHERE previous IS NOT NULL) "
    "SELECT data FROM claimed ORDER BY due_on, id"
)

_PLAN_FOR_CLAIMS = (
    "SELECT current_setting('enable_sort'), current_setting('jit'), "
    "set_config('enable_sort', 'off', true), set_config('jit', 'off', true)"
)
_PLAN_AS_BEFORE = "SELECT set_config('enable_sort', %s, true), set_config('jit', %s, true)"

# --- the adapter -------------------------------------------------------------------


class _Local(threading.local):
    connection: Conn | None = None


class PostgresStorage:
    """The :class:`~smscampaign.providers.base.Storage` for many workers on many machines.

    Opening one runs the forward migrations (serialized across processes by
    an advisory lock), so the first worker to start brings the schema up to
    date. Each thread borrows a pooled connection per call; a unit of work
    keeps one connection for its thread until it ends.

    Args:
        conninfo: A libpq connection string or URL
            (``postgresql://user:password@host:5432/dbname``).
        schema: The schema the tables live in, created when missing
            (default: the connection's ``search_path``, normally ``public``).
            Several independent stores may share one database this way.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most, at least 2 (default:
            ``min_size`` plus 4); threads beyond it wait up to ``timeout``.
            :meth:`decide_step` reads with two at once.
        timeout: Seconds to wait for a connection from the pool.
        connect_kwargs: More arguments for :func:`psycopg.connect`, e.g.
            ``{"prepare_threshold": None}`` behind a transaction-pooling
            pgbouncer.

    Raises:
        StorageError: No connection could be made within ``timeout``.
        SchemaError: The database's schema is newer than this library, or a
            migration failed.
        ConfigurationError: ``conninfo`` cannot be read, or
            ``min_size``/``max_size`` make no pool.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int | None = None,
        timeout: float = 30.0,
        connect_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        max_size = max(min_size, 1) + 4 if max_size is None else max_size
        if min_size < 0 or max_size < max(min_size, 2):
            raise ConfigurationError(
                f"need 0 <= min_size <= max_size and max_size >= 2, got {min_size}, {max_size}",
                value=(min_size, max_size),
            )
        self._where = _describe(conninfo)
        self.schema = schema
        self.timeout = timeout
        self._local = _Local()
        kwargs: dict[str, Any] = {**(connect_kwargs or {}), "autocommit": True}
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            configure=self._configure,
            open=False,
            name="smscampaign",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageError(
                f"cannot connect to PostgreSQL at {self._where} within {timeout} s: "
                f"{_why_not(conninfo, kwargs)}",
                value=self._where,
            ) from exc
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    # -- connections -----------------------------------------------------------

    def _configure(self, conn: Conn) -> None:
        if self.schema is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    @property
    def pool(self) -> ConnectionPool[Conn]:
        """The connection pool (``pool.get_stats()`` tells how busy it is)."""
        return self._pool

    def close(self) -> None:
        """Close the pool and every connection in it."""
        self._pool.close()

    def __enter__(self) -> PostgresStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        """This thread's unit-of-work connection, or one borrowed for one call."""
        conn = self._local.connection
        if conn is not None:
            yield conn
            return
        try:
            with self._pool.connection() as borrowed:
                yield borrowed
        except PoolTimeout as exc:
            raise StorageError(
                f"no PostgreSQL connection free within {self.timeout} s "
                f"(pool of {self._pool.max_size})",
                value=self._where,
            ) from exc

    def _migrate(self) -> None:
        try:
            with self._connection() as conn, conn.transaction():
                # One process at a time migrates a schema; the others wait, then find it current.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"smscampaign migrate {self.schema or ''}",),
                )
                if self.schema is not None:
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self.schema)
                        )
                    )
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                current = (row[0] if row else None) or 0
                if current > SCHEMA_VERSION:
                    raise SchemaError(
                        f"the database at {self._where} has schema version {current}, newer "
                        f"than the {SCHEMA_VERSION} this smscampaign knows; upgrade smscampaign",
                        value=current,
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version - 1]:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
        except psycopg.Error as exc:
            raise SchemaError(f"cannot migrate {self._where}: {exc}", value=self._where) from exc

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return int(self._read("SELECT max(version) FROM schema_version")[0][0])

    # -- unit of work ----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Open a unit of work; a nested block is a savepoint.

        The outermost block borrows a connection from the pool and keeps it
        for this thread until the block ends.

        Raises:
            StorageError: The transaction cannot begin or commit (the
                driver's error chained).
        """
        local = self._local
        body_failed = False
        try:
            with self._connection() as conn:
                outer = local.connection is None
                local.connection = conn
                try:
                    with conn.transaction():
                        try:
                            yield
                        except BaseException:
                            body_failed = True
                            raise
                finally:
                    if outer:
                        local.connection = None
        except psycopg.Error as exc:
            if body_failed:
                raise
            raise _translate(exc, "commit") from exc

    def _run(self, what: str, fn: Callable[[Conn], T]) -> T:
        """Run ``fn`` in a unit of work (a savepoint inside one), translating driver errors.

        Outside any unit of work, a run PostgreSQL aborted for a deadlock or
        a serialization failure is tried again.
        """
        outer = self._local.connection is None
        for attempt in range(_RETRIES + 1):
            try:
                with self.transaction():
                    conn = self._local.connection
                    assert conn is not None
                    try:
                        return fn(conn)
                    except psycopg.Error as exc:
                        raise _translate(exc, what) from exc
            except StorageError as error:
                cause = error.__cause__
                code = getattr(cause, "sqlstate", None)
                if not (outer and code in _RETRYABLE and attempt < _RETRIES):
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        try:
            with self._connection() as conn:
                return conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise _translate(exc, "read") from exc

    def _pages(
        self,
        query: str,
        params: Sequence[Any],
        last: Sequence[Any],
        *,
        limit: int | None = None,
        page_marks: int = 1,
    ) -> Iterator[list[Any]]:
        """The rows of a keyset query, a page at a time (at most ``limit`` rows in all).

        ``query`` takes ``params``, then the key of the last row read (its
        first ``len(last)`` columns; ``last`` starts below every key), then the
        page size ``page_marks`` times.
        """
        width = len(last)
        left = limit
        while left is None or left > 0:
            page = _BATCH if left is None else min(left, _BATCH)
            rows = self._read(query, (*params, *last, *[page] * page_marks))
            if rows:
                yield rows
            if len(rows) < page:
                return
            last = rows[-1][:width]
            if left is not None:
                left -= len(rows)

    def _rows(self, query: str, params: Sequence[Any], first: Any) -> Iterator[Any]:
        """The rows of a keyset query on its first column, which starts above ``first``."""
        for rows in self._pages(query, params, (first,)):
            yield from rows

    # -- contacts --------------------------------------------------------------

    def save_contacts(self, contacts: Iterable[Contact]) -> int:
        """Insert or replace contacts, keyed by (account, id); returns how many."""
        rows = [_contact_row(c) for c in contacts]

        def write(conn: Conn) -> int:
            _write_rows(conn, _UPSERT_CONTACTS.format(action=_UPDATE_CONTACT), rows, key=(0, 1))
            return len(rows)

        return self._run("save contacts", write)

    def get_contact(self, contact_id: str, *, account: str = DEFAULT_ACCOUNT) -> Contact:
        """The contact with that id.

        Raises:
            NotFound: The account has no contact with that id.
        """
        rows = self._read(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts c WHERE c.account = %s AND c.id = %s",
            (account, contact_id),
        )
        if not rows:
            raise NotFound(f"no contact {contact_id!r} in account {account!r}", value=contact_id)
        return _contact(rows[0])

    def find_contacts(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Contact]:
        """Contacts by E.164 number; for a shared number, the contact saved first."""
        return self._by_number(
            f"SELECT DISTINCT ON (c.e164) {_CONTACT_COLUMNS} FROM contacts c "
            "WHERE c.account = %s AND c.e164 = ANY(%b::text[]) ORDER BY c.e164, c.pk",
            account,
            e164s,
            _contact,
        )

    def _by_number(
        self, query: str, account: str, e164s: Iterable[str], build: Callable[[Any], T]
    ) -> dict[str, T]:
        """Rows of ``query`` (whose second column is the number) by number, a batch a query."""
        found: dict[str, T] = {}
        for batch in _chunks(list(dict.fromkeys(e164s)), _WRITE_BATCH):
            for row in self._read(query, (account, batch)):
                found[row[1]] = build(row)
        return found

    # -- suppression list ------------------------------------------------------

    def suppress(self, suppression: Suppression) -> bool:
        """Put a number on its account's list; False when it was there already."""
        s = suppression

        def write(conn: Conn) -> bool:
            cursor = conn.execute(
                f"INSERT INTO suppressions ({_SUPPRESSION_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (s.account, s.e164, s.cause.value, _ts(s.at), s.detail, s.campaign_id, s.by),
            )
            return cursor.rowcount == 1

        return self._run("suppress", write)

    def unsuppress(
        self, e164: str, *, account: str = DEFAULT_ACCOUNT, at: datetime, by: str, reason: str = ""
    ) -> SuppressionRemoval | None:
        """Take a number off the list, logging the act; None when it was not on it."""
        removed_at = _ts(at)

        def write(conn: Conn) -> SuppressionRemoval | None:
            row = conn.execute(
                f"DELETE FROM suppressions WHERE account = %s AND e164 = %s "
                f"RETURNING {_SUPPRESSION_COLUMNS}",
                (account, e164),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "INSERT INTO suppression_removals (account, e164, cause, suppressed_at, detail, "
                "campaign_id, suppressed_by, removed_at, removed_by, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*row, removed_at, by, reason),
            )
            return SuppressionRemoval(suppression=_suppression(row), at=at, by=by, reason=reason)

        return self._run("unsuppress", write)

    def get_suppression(self, e164: str, *, account: str = DEFAULT_ACCOUNT) -> Suppression | None:
        """The list entry for a number, or None."""
        rows = self._read(
            f"SELECT {_SUPPRESSION_COLUMNS} FROM suppressions WHERE account = %s AND e164 = %s",
            (account, e164),
        )
        return _suppression(rows[0]) if rows else None

    def find_suppressions(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Suppression]:
        """The list entries for several numbers at once, one query per few thousand numbers."""
        return self._by_number(
            f"SELECT {_SUPPRESSION_COLUMNS} FROM suppressions "
            "WHERE account = %s AND e164 = ANY(%b::text[])",
            account,
            e164s,
            _suppression,
        )

    def iter_suppressions(self, *, account: str = DEFAULT_ACCOUNT) -> Iterator[Suppression]:
        """Every entry of an account's list, by number."""
        query = (
            f"SELECT e164, {_SUPPRESSION_COLUMNS} FROM suppressions "
            "WHERE account = %s AND e164 > %s ORDER BY e164 LIMIT %s"
        )
        for row in self._rows(query, (account,), ""):
            yield _suppression(row[1:])

    def iter_suppression_removals(
        self, *, account: str = DEFAULT_ACCOUNT
    ) -> Iterator[SuppressionRemoval]:
        """The log of removals, oldest first."""
        query = (
            "SELECT pk, account, e164, cause, suppressed_at, detail, campaign_id, "
            "suppressed_by, removed_at, removed_by, reason FROM suppression_removals "
            "WHERE account = %s AND pk > %s ORDER BY pk LIMIT %s"
        )
        for row in self._rows(query, (account,), 0):
            yield SuppressionRemoval(
                suppression=_suppression(row[1:8]), at=_dt(row[8]), by=row[9], reason=row[10]
            )

    # -- campaigns -------------------------------------------------------------

    def add_campaign(self, campaign: Campaign) -> None:
        """Store a new campaign.

        Raises:
            AlreadyExists: A campaign has that id.
        """
        data = _campaign_doc(campaign)

        def write(conn: Conn) -> None:
            cursor = conn.execute(
                "INSERT INTO campaigns (id, account, state, data) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (campaign.id, campaign.account, campaign.state.value, data),
            )
            if cursor.rowcount == 0:
                raise AlreadyExists(f"campaign {campaign.id!r} exists already", value=campaign.id)

        self._run("add a campaign", write)

    def save_campaign(self, campaign: Campaign) -> None:
        """Replace a stored campaign.

        Raises:
            NotFound: No campaign has that id.
        """
        data = _campaign_doc(campaign)

        def write(conn: Conn) -> None:
            cursor = conn.execute(
                "UPDATE campaigns SET account = %s, state = %s, data = %s WHERE id = %s",
                (campaign.account, campaign.state.value, data, campaign.id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no campaign {campaign.id!r}", value=campaign.id)

        self._run("save a campaign", write)

    def lock_campaign(self, campaign_id: str) -> None:
        """Hold the campaign's row until this thread's unit of work ends (``FOR UPDATE``).

        Another unit that locks the same campaign waits until this one ends,
        then reads what it committed (see :class:`~smscampaign.providers.base.CampaignLocker`).

        Raises:
            StorageError: Called outside a unit of work, where it would hold nothing.
            NotFound: No campaign has that id.
        """
        if self._local.connection is None:
            raise StorageError(
                f"lock_campaign({campaign_id!r}) outside a unit of work would hold nothing",
                value=campaign_id,
            )
        rows = self._read("SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (campaign_id,))
        if not rows:
            raise NotFound(f"no campaign {campaign_id!r}", value=campaign_id)

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with that id.

        Raises:
            NotFound: No campaign has that id.
        """
        rows = self._read("SELECT data FROM campaigns WHERE id = %s", (campaign_id,))
        if not rows:
            raise NotFound(f"no campaign {campaign_id!r}", value=campaign_id)
        return _campaign(rows[0][0])

    def iter_campaigns(self, *, account: str | None = None) -> Iterator[Campaign]:
        """Campaigns (of one account, or all), by id."""
        query = (
            "SELECT id, data FROM campaigns WHERE (%s::text IS NULL OR account = %s) AND id > %s "
            "ORDER BY id LIMIT %s"
        )
        for row in self._rows(query, (account, account), ""):
            yield _campaign(row[1])

    # -- recipients ------------------------------------------------------------

    def add_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Add recipients to their campaigns; returns how many were new.

        Raises:
            NotFound: A recipient's campaign is not stored.
        """
        people = list(recipients)

        def write(conn: Conn) -> int:
            wanted = list({r.campaign_id: None for r in people})
            known = {
                row[0]
                for row in conn.execute(
                    "SELECT id FROM campaigns WHERE id = ANY(%b::text[])", (wanted,)
                )
            }
            for campaign_id in wanted:
                if campaign_id not in known:
                    raise NotFound(f"no campaign {campaign_id!r}", value=campaign_id)
            added = 0
            for batch in _chunks(people, _WRITE_BATCH):
                _write_rows(
                    conn,
                    _UPSERT_CONTACTS.format(action="NOTHING"),
                    [_contact_row(r.contact) for r in batch],
                )
                added += _write_rows(
                    conn,
                    _INSERT_RECIPIENTS,
                    [
                        (
                            r.campaign_id,
                            r.contact.id,
                            r.status.value,
                            r.response.value,
                            r.list_name,
                            _fields_json(r.fields),
                            r.contact.account,
                        )
                        for r in batch
                    ],
                )
            return added

        return self._run("add recipients", write)

    def update_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Save status, response, list name and fields of existing recipients.

        Raises:
            NotFound: A recipient is not stored.
        """
        rows = [
            (r.campaign_id, r.id, r.status.value, r.response.value, r.list_name,
             _fields_json(r.fields))
            for r in recipients
        ]  # fmt: skip

        def write(conn: Conn) -> int:
            for batch in _chunks(_last_wins(rows, (0, 1)), _WRITE_BATCH):
                found = {
                    (row[0], row[1])
                    for row in conn.execute(
                        "UPDATE recipients r SET status = u.s, response = u.r, list_name = u.l, "
                        "fields = u.f FROM unnest(%b::text[], %b::text[], %b::text[], "
                        "%b::text[], %b::text[], %b::text[]) AS u(c, i, s, r, l, f) "
                        "WHERE r.campaign_id = u.c AND r.contact_id = u.i "
                        "RETURNING r.campaign_id, r.contact_id",
                        _columns(batch, 6),
                    )
                }
                for row in batch:
                    if (row[0], row[1]) not in found:
                        raise NotFound(
                            f"no recipient {row[1]!r} in campaign {row[0]!r}", value=row[1]
                        )
            return len(rows)

        return self._run("update recipients", write)

    def get_recipient(self, campaign_id: str, contact_id: str) -> Recipient:
        """One recipient with its current contact and its sends.

        Raises:
            NotFound: The campaign has no such recipient.
        """
        rows = self._read(
            f"{_SELECT_RECIPIENTS} WHERE r.campaign_id = %s AND r.contact_id = %s",
            (campaign_id, contact_id),
        )
        if not rows:
            raise NotFound(
                f"no recipient {contact_id!r} in campaign {campaign_id!r}", value=contact_id
            )
        return next(self._recipients(campaign_id, rows, True))

    def get_recipients(
        self, campaign_id: str, contact_ids: Iterable[str], *, with_sends: bool = False
    ) -> dict[str, Recipient]:
        """Several recipients at once, by contact id (ids not in the campaign are left out)."""
        found: dict[str, Recipient] = {}
        for chunk in _chunks(list(dict.fromkeys(contact_ids)), _BATCH):
            rows = self._read(
                f"{_SELECT_RECIPIENTS} WHERE r.campaign_id = %s AND r.contact_id = ANY(%b::text[])",
                (campaign_id, chunk),
            )
            for recipient in self._recipients(campaign_id, rows, with_sends):
                found[recipient.id] = recipient
        return found

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Iterator[Recipient]:
        """A campaign's recipients in the order they were added, streamed in pages."""
        query = (
            f"{_SELECT_RECIPIENTS} WHERE r.campaign_id = %s AND r.pk > %s ORDER BY r.pk LIMIT %s"
        )
        for rows in self._pages(query, (campaign_id,), (0,)):
            yield from self._recipients(campaign_id, rows, with_sends)

    def _recipients(
        self, campaign_id: str, rows: Sequence[Sequence[Any]], with_sends: bool
    ) -> Iterator[Recipient]:
        sends: dict[str, list[Send]] = {}
        if with_sends and rows:
            for (data,) in self._read(
                "SELECT data FROM sends WHERE campaign_id = %s "
                "AND recipient_id = ANY(%b::text[]) ORDER BY pk",
                (campaign_id, [row[1] for row in rows]),
            ):
                send = _send(data)
                sends.setdefault(send.recipient_id, []).append(send)
        for row in rows:
            yield Recipient(
                campaign_id=campaign_id,
                contact=_contact(row[6:]),
                status=row[2],
                response=row[3],
                list_name=row[4],
                fields=FrozenMap(json.loads(row[5])),
                sends=tuple(sends.get(row[1], ())),
            )

    # -- sends -----------------------------------------------------------------

    def save_sends(self, sends: Iterable[Send], *, new_only: bool = False) -> list[Send]:
        """Insert or replace sends; returns them as stored (parked events applied).

        With ``new_only``, sends whose ids are stored already are left as they
        are (``ON CONFLICT DO NOTHING``: a concurrent insert of the same id wins).

        Raises:
            NotFound: A send's recipient is not stored.
        """
        given = list(sends)
        statement = _INSERT_NEW_SENDS if new_only else _UPSERT_SENDS

        def write(conn: Conn) -> list[Send]:
            # Every lock the call needs, first, each kind in one order (see
            # _lock_messages): a unit saving the same sends in another order
            # waits for this one instead of deadlocking with it.
            _lock_messages(conn, [m for s in given for _, m in _message_keys(s)])
            _lock_sends(conn, "id", [s.id for s in given])
            saved: list[Send] = []
            for batch in _chunks(given, _WRITE_BATCH):
                if any(s.attempts for s in batch):
                    batch = _apply_parked(conn, batch)
                try:
                    rows = _last_wins([_send_row(s) for s in batch], (0,))
                    pks = dict(conn.execute(statement, _columns(rows, len(rows[0]))).fetchall())
                except psycopg.errors.ForeignKeyViolation as exc:
                    raise NotFound(
                        f"a send's recipient is not stored ({exc})", value=batch
                    ) from exc
                if new_only:  # the ids stored already were left alone
                    batch = [s for s in batch if s.id in pks]
                # Re-index every saved send: one saved without an attempt it had
                # before must stop answering for that attempt's message id.
                _index_messages(conn, [(pks[s.id], s) for s in batch])
                saved.extend(batch)
            return saved

        return self._run("save sends", write)

    def get_send(self, send_id: str) -> Send:
        """The send with that id.

        Raises:
            NotFound: No send has that id.
        """
        rows = self._read("SELECT data FROM sends WHERE id = %s", (send_id,))
        if not rows:
            raise NotFound(f"no send {send_id!r}", value=send_id)
        return _send(rows[0][0])

    def find_send(self, provider: str, provider_message_id: str) -> Send | None:
        """The send one of whose attempts has that provider message id."""
        rows = self._read(
            "SELECT s.data FROM send_messages m JOIN sends s ON s.pk = m.send_pk "
            "WHERE m.provider IN (%s, '') AND m.message_id = %s ORDER BY m.provider DESC LIMIT 1",
            (provider, provider_message_id),
        )
        return _send(rows[0][0]) if rows else None

    def iter_sends(
        self,
        campaign_id: str,
        *,
        step_id: str | None = None,
        recipient_id: str | None = None,
    ) -> Iterator[Send]:
        """A campaign's sends (of one step and/or recipient), oldest first, in pages."""
        query = (
            "SELECT pk, data FROM sends WHERE campaign_id = %s "
            "AND (%s::text IS NULL OR step_id = %s) AND (%s::text IS NULL OR recipient_id = %s) "
            "AND pk > %s ORDER BY pk LIMIT %s"
        )
        params = (campaign_id, step_id, step_id, recipient_id, recipient_id)
        for row in self._rows(query, params, 0):
            yield _send(row[1])

    def claim_due_sends(
        self, worker: str, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
    ) -> list[Send]:
        """Atomically reserve up to ``limit`` due sends for one worker.

        One statement chooses the oldest due sends with ``FOR UPDATE SKIP
        LOCKED`` and marks them claimed until ``now + lease``: a send another
        worker is claiming at the same moment is skipped, never waited for,
        and never handed out twice. A send whose previous claim lapsed (its
        worker neither saved it nor renewed it in time) is taken over, and
        the takeover logged (:meth:`iter_lapsed_claims`).

        Raises:
            ConfigurationError: ``limit`` is negative or ``lease`` not positive.
        """
        check_claim(limit, lease)
        params = {"now": _ts(now), "until": _ts(now + lease), "limit": limit, "worker": worker}

        def write(conn: Conn) -> list[Send]:
            # Walk sends_due in order and stop at the limit, even where the
            # statistics are stale (a campaign queued a moment ago): sorting
            # every due send instead costs as much as the campaign is long. The
            # price that puts on sorting must not set off JIT compilation.
            before = conn.execute(_PLAN_FOR_CLAIMS).fetchone()
            rows = conn.execute(_CLAIM, params).fetchall()
            conn.execute(_PLAN_AS_BEFORE, before[:2] if before else ("on", "on"))
            return [_send(row[0]) for row in rows]

        return self._run("claim due sends", write)

    def iter_lapsed_claims(self, *, send_id: str | None = None) -> Iterator[LapsedClaim]:
        """Claims taken over after their lease ran out, oldest first (of one send, or all).

        Each names a send whose earlier worker may have handed it to the
        provider without saving it: with a provider that does not honour
        idempotency keys, that send may have gone out twice.
        """
        query = (
            "SELECT pk, send_id, worker, claimed_at, previous_worker, lease_ended "
            "FROM lapsed_claims WHERE (%s::text IS NULL OR send_id = %s) AND pk > %s "
            "ORDER BY pk LIMIT %s"
        )
        for row in self._rows(query, (send_id, send_id), 0):
            yield LapsedClaim(
                send_id=row[1],
                worker=row[2],
                claimed_at=_dt(row[3]),
                previous_worker=row[4],
                lease_ended=_dt(row[5]),
            )

    # -- provider events -------------------------------------------------------

    def record_events(self, events: Iterable[StatusEvent]) -> EventOutcome:
        """Append events to the log and apply each new one to its attempt.

        Per batch of events: their message ids are locked, one statement
        inserts the log rows (duplicates, by ``dedup_key``, fall out of it),
        and the sends they change are locked, read, and rewritten with one
        statement.
        """
        given = list(events)

        def write(conn: Conn) -> EventOutcome:
            stored = parked = 0
            touched: dict[int, Send] = {}
            # Every lock the call needs, first, each kind in one order: the
            # message ids, then the sends they name (see save_sends).
            every_id = [e.provider_message_id for e in given]
            _lock_messages(conn, every_id)
            _lock_sends(
                conn,
                "pk",
                [
                    pk
                    for (pk,) in conn.execute(
                        "SELECT DISTINCT send_pk FROM send_messages "
                        "WHERE message_id = ANY(%b::text[])",
                        (sorted(set(every_id)),),
                    )
                ],
            )
            for batch in _chunks(given, _BATCH):
                ids = [e.provider_message_id for e in batch]
                where: dict[tuple[str, str], int] = {
                    (p, m): pk
                    for p, m, pk in conn.execute(
                        "SELECT provider, message_id, send_pk FROM send_messages "
                        "WHERE message_id = ANY(%b::text[])",
                        (list(set(ids)),),
                    )
                }
                owners = [
                    where.get((e.provider, e.provider_message_id), where.get(("", m)))
                    for e, m in zip(batch, ids, strict=True)
                ]
                keys = [e.dedup_key for e in batch]
                inserted = {
                    row[0]
                    for row in conn.execute(
                        "INSERT INTO events (dedup_key, provider, message_id, parked, data) "
                        "SELECT k, p, m, x, d FROM unnest(%b::text[], %b::text[], %b::text[], "
                        "%b::bool[], %b::text[]) WITH ORDINALITY AS u(k, p, m, x, d, n) "
                        "ORDER BY n ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key",
                        _columns(
                            [
                                (k, e.provider, m, pk is None, _event_doc(e))
                                for e, k, m, pk in zip(batch, keys, ids, owners, strict=True)
                            ],
                            5,
                        ),
                    )
                }
                # Of the batch's events with an inserted key, the first is the one stored.
                first: dict[str, int] = {}
                for i, k in enumerate(keys):
                    first.setdefault(k, i)
                fresh = sorted(first[k] for k in inserted)
                stored += len(fresh)
                parked += sum(1 for i in fresh if owners[i] is None)
                applied = [(batch[i], pk) for i in fresh if (pk := owners[i]) is not None]
                if applied:
                    _apply_events(conn, applied, where, touched)
            return EventOutcome.of(
                touched.values(),
                stored=stored,
                duplicates=len(given) - stored,
                parked=parked,
            )

        return self._run("record events", write)

    def iter_events(
        self, *, provider: str | None = None, provider_message_id: str | None = None
    ) -> Iterator[StatusEvent]:
        """The raw event log, in arrival order, in pages."""
        query = (
            "SELECT pk, data FROM events WHERE (%s::text IS NULL OR provider = %s) "
            "AND (%s::text IS NULL OR message_id = %s) AND pk > %s ORDER BY pk LIMIT %s"
        )
        params = (provider, provider, provider_message_id, provider_message_id)
        for row in self._rows(query, params, 0):
            yield _event(row[1])

    def iter_parked_events(self) -> Iterator[StatusEvent]:
        """Events still waiting for an attempt with their provider message id."""
        query = "SELECT pk, data FROM events WHERE parked AND pk > %s ORDER BY pk LIMIT %s"
        for row in self._rows(query, (), 0):
            yield _event(row[1])

    # -- inbound messages ------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> bool:
        """Store a reply; False when the same (provider, id) was stored already."""
        m = message
        data = _inbound_doc(m)

        def write(conn: Conn) -> bool:
            cursor = conn.execute(
                "INSERT INTO inbound (provider, message_id, account, sender, received_at, data) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    m.provider,
                    m.provider_message_id,
                    m.account,
                    m.sender.e164,
                    _ts(m.received_at),
                    data,
                ),
            )
            return cursor.rowcount == 1

        return self._run("record an inbound message", write)

    def iter_inbound(self, *, account: str | None = None) -> Iterator[InboundMessage]:
        """Stored replies (of one account, or all), in arrival order, in pages."""
        query = (
            "SELECT pk, data FROM inbound WHERE (%s::text IS NULL OR account = %s) AND pk > %s "
            "ORDER BY pk LIMIT %s"
        )
        for row in self._rows(query, (account, account), 0):
            yield _inbound(row[1])

    # -- aggregates ------------------------------------------------------------

    def count_sends(
        self, campaign_id: str, *, by: Sequence[str] = ("step", "status")
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's sends with one ``GROUP BY`` query.

        Only each recipient's latest send of each step counts: ``DISTINCT
        ON`` picks it from the ``sends_by_recipient`` index.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, SEND_GROUPS)
        columns = [_SEND_GROUP_COLUMNS[n] for n in names]
        join = (
            " JOIN recipients r ON r.campaign_id = s.campaign_id AND r.contact_id = s.recipient_id"
            if "list" in names
            else ""
        )
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        rows = self._read(
            f"SELECT {', '.join([*columns, 'count(*)'])} FROM (SELECT DISTINCT ON "
            "(recipient_id, step_id) * FROM sends WHERE campaign_id = %s "
            f"ORDER BY recipient_id DESC, step_id DESC, pk DESC) s{join}{group}",
            (campaign_id,),
        )
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}

    def count_recipients(
        self, campaign_id: str, *, by: Sequence[str] = ("status",)
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's recipients with one ``GROUP BY`` query.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, RECIPIENT_GROUPS)
        columns = [_RECIPIENT_GROUP_COLUMNS[n] for n in names]
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        rows = self._read(
            f"SELECT {', '.join([*columns, 'count(*)'])} FROM recipients "
            f"WHERE campaign_id = %s{group}",
            (campaign_id,),
        )
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}

    # -- account views ---------------------------------------------------------
    # The SMS log is read in (created_at, id) order: per campaign from sends_log,
    # a page of each of the account's campaigns merged in one query (LATERAL),
    # so a page costs a page per campaign whatever the number of messages; by
    # number, from sends_log_by_number.

    def iter_sms_log(
        self,
        where: LogFilter | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
        after: LogCursor | None = None,
        limit: int | None = None,
    ) -> Iterator[Send]:
        """An account's messages by ``(created_at, id)``, filtered, after a cursor, in pages.

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        check_limit(limit)
        return self._sms_log(where or LogFilter(), account, after, limit)

    def _sms_log(
        self, where: LogFilter, account: str, after: LogCursor | None, limit: int | None
    ) -> Iterator[Send]:
        conditions = ""
        params: list[Any] = []
        for condition, value in (
            ("s.step_id = %s", where.step_id),
            ("s.to_e164 = %s", where.to),
            ("s.recipient_id = %s", where.contact_id),
            ("s.created_at >= %s", _ots(where.since)),
            ("s.created_at < %s", _ots(where.until)),
            ("s.status = ANY(%b::text[])",
             None if where.statuses is None else sorted(x.value for x in where.statuses)),
        ):  # fmt: skip
            if value is not None:
                conditions += f" AND {condition}"
                params.append(value)
        campaigns = "SELECT id FROM campaigns WHERE account = %s AND (%s::text IS NULL OR id = %s)"
        scope = (account, where.campaign_id, where.campaign_id)
        if where.to is not None:
            query = (
                f"SELECT s.created_at, s.id, s.data FROM sends s WHERE s.campaign_id IN "
                f"({campaigns}){conditions} AND (s.created_at, s.id) > (%s, %s) "
                "ORDER BY s.created_at, s.id LIMIT %s"
            )
            marks = 1
        else:
            query = (
                f"SELECT x.created_at, x.id, x.data FROM ({campaigns}) c CROSS JOIN LATERAL "
                f"(SELECT s.created_at, s.id, s.data FROM sends s WHERE s.campaign_id = c.id"
                f"{conditions} AND (s.created_at, s.id) > (%s, %s) "
                "ORDER BY s.created_at, s.id LIMIT %s) x ORDER BY x.created_at, x.id LIMIT %s"
            )
            marks = 2
        last = ("", "") if after is None else (_ts(after.at), after.send_id)
        for rows in self._pages(query, (*scope, *params), last, limit=limit, page_marks=marks):
            for row in rows:
                yield _send(row[2])

    def iter_replies(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        sender: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[InboundMessage]:
        """An account's replies by ``received_at``, then arrival, in pages.

        Raises:
            NaiveDatetimeError: A bound is naive.
            ConfigurationError: ``until`` is not after ``since``.
        """
        check_period(since, until)
        return self._replies(account, sender, since, until)

    def _replies(
        self, account: str, sender: str | None, since: datetime | None, until: datetime | None
    ) -> Iterator[InboundMessage]:
        query = (
            "SELECT received_at, pk, data FROM inbound WHERE account = %s "
            "AND (%s::text IS NULL OR sender = %s) AND (%s::text IS NULL OR received_at >= %s) "
            "AND (%s::text IS NULL OR received_at < %s) AND (received_at, pk) > (%s, %s) "
            "ORDER BY received_at, pk LIMIT %s"
        )
        start, end = _ots(since), _ots(until)
        params = (account, sender, sender, start, start, end, end)
        for rows in self._pages(query, params, ("", 0)):
            for row in rows:
                yield _inbound(row[2])

    def iter_contacts(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        consent: Consent | None = None,
        e164: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Contact]:
        """An account's contacts by id, optionally of one consent or number, in pages.

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        check_limit(limit)
        return self._contacts(account, consent, e164, after, limit)

    def _contacts(
        self,
        account: str,
        consent: Consent | None,
        e164: str | None,
        after: str | None,
        limit: int | None,
    ) -> Iterator[Contact]:
        query = (
            f"SELECT {_CONTACT_COLUMNS} FROM contacts c WHERE c.account = %s "
            "AND (%s::text IS NULL OR c.consent = %s) AND (%s::text IS NULL OR c.e164 = %s) "
            "AND c.id > %s ORDER BY c.id LIMIT %s"
        )
        wanted = None if consent is None else Consent(consent).value
        params = (account, wanted, wanted, e164, e164)
        for rows in self._pages(query, params, (after or "",), limit=limit):
            for row in rows:
                yield _contact(row)

    def count_contacts(
        self, *, account: str = DEFAULT_ACCOUNT, by: Sequence[str] = ("consent",)
    ) -> dict[tuple[str, ...], int]:
        """Count an account's contacts with one ``GROUP BY`` query.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, CONTACT_GROUPS)
        columns = [_CONTACT_GROUP_COLUMNS[n] for n in names]
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        rows = self._read(
            f"SELECT {', '.join([*columns, 'count(*)'])} FROM contacts WHERE account = %s{group}",
            (account,),
        )
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}

    # -- eligibility pushed into SQL --
    # The default rules as one query per step (providers/_sql_eligibility.py, in
    # PostgreSQL's dialect),
    # answering exactly what smscampaign.eligibility.Eligibility answers over
    # iter_recipients() with the account's suppression list; other rules run
    # in Python. Decisions stream through a server-side cursor, and the
    # recipients they name are read a page at a time on a second connection.

    def decide_step(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> Iterator[Decision]:
        """Decide one step for every recipient, in the order they were added, in one query.

        Rules other than :data:`~smscampaign.eligibility.DEFAULT_RULES` are
        evaluated by :class:`~smscampaign.eligibility.Eligibility` over
        :meth:`iter_recipients`. Finish reading before writing what you read.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, custom = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account, rules=rules
        )
        if custom is not None:
            return self._in_python(campaign, the_step, now, account, custom).decide(
                self.iter_recipients(campaign.id)
            )
        return self._decisions(self._step_query(campaign, the_step, now, account))

    def pending_step_ids(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
    ) -> Iterator[str]:
        """The ids of the recipients pending for a step, in order; no recipient is built.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, _ = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account
        )
        query = self._step_query(campaign, the_step, now, account)
        return (row[0] for rows in self._stream(query.pending_sql, query.params) for row in rows)

    def count_step_reasons(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> ReasonCounts:
        """Who is pending for a step and how many each reason excludes, from one ``GROUP BY``.

        Rules other than the defaults are counted in Python.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, custom = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account, rules=rules
        )
        if custom is not None:
            python = self._in_python(campaign, the_step, now, account, custom)
            return python.counts(self.iter_recipients(campaign.id))
        query, groups = self._step_groups(campaign, the_step, now, account)
        total = sum(row[1] for row in groups)
        eligible = sum(row[1] for row in groups if row[0] == 0)
        return ReasonCounts(total, eligible, query.ordered_counts(groups))

    def count_step_combinations(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
    ) -> dict[tuple[ReasonLike, ...], int]:
        """Recipients per exact combination of reasons (``()``: pending), from one ``GROUP BY``.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, _ = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account
        )
        query, groups = self._step_groups(campaign, the_step, now, account)
        return {query.reasons(row[0]): row[1] for row in groups}

    def _step_query(self, campaign: Campaign, step: Step, now: datetime, account: str) -> StepQuery:
        return StepQuery(
            campaign,
            step,
            now=now,
            account=account,
            recipient_columns=f"r.status, r.response, r.list_name, r.fields, {_CONTACT_COLUMNS}",
            dialect=_POSTGRES,
        )

    def _step_groups(
        self, campaign: Campaign, step: Step, now: datetime, account: str
    ) -> tuple[StepQuery, list[Any]]:
        query = self._step_query(campaign, step, now, account)
        return query, self._read(query.counts_sql, query.params)

    def _in_python(
        self, campaign: Campaign, step: Step, now: datetime, account: str, rules: Sequence[Rule]
    ) -> Eligibility:
        suppressed = frozenset(
            row[0]
            for row in self._read("SELECT e164 FROM suppressions WHERE account = %s", (account,))
        )
        return Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)

    def _decisions(self, query: StepQuery) -> Iterator[Decision]:
        campaign_id = query.campaign.id
        width = query.recipient_width
        for rows in self._stream(query.decisions_sql, query.params):
            recipients = self._recipients(campaign_id, [row[:width] for row in rows], True)
            for row, recipient in zip(rows, recipients, strict=True):
                yield query.decision(recipient, row)

    def _stream(self, query: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """A query's rows, a page at a time, through a server-side cursor."""
        try:
            with (
                self._connection() as conn,
                conn.transaction(),
                conn.cursor(name=f"smscampaign_{next(_CURSORS)}") as cursor,
            ):
                cursor.execute(query, params)
                while rows := cursor.fetchmany(_BATCH):
                    yield rows
        except psycopg.Error as exc:
            raise _translate(exc, "read") from exc


class _PostgresDialect(Dialect):
    """How the eligibility query reads PostgresStorage's schema where SQLite's SQL differs."""

    def mark(self, name: str) -> str:
        return f"%({name})s"

    def json_key(self, name: str) -> str:
        return name

    def json_text(self, document: str, key: str) -> str:
        return f"({document}::json ->> {key})"

    def trim(self, text: str, characters: str) -> str:
        return f"btrim({text}, {characters})"

    def first_delivery(self, send: str) -> str:
        return (
            "(SELECT min((a.value ->> 'dlv') COLLATE \"C\") "
            f"FROM json_array_elements({send}.data::json -> 'a') a)"
        )

    def sent_to(self, send: str) -> str:
        return f"{send}.to_e164"

    def indexed_by(self, index: str) -> str:
        return ""  # the planner chooses

    def modulo(self, number: str, divisor: str) -> str:
        return f"mod({number}, {divisor})"  # a bare % would read as a parameter mark


_POSTGRES = _PostgresDialect()


# --- batch helpers --------------------------------------------------------------------


def _describe(conninfo: str) -> str:
    """Where a connection string points, without its password.

    Raises:
        ConfigurationError: ``conninfo`` is not a connection string or URL.
    """
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"not a PostgreSQL connection string or URL: {exc}", value="<conninfo>"
        ) from exc
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def _why_not(conninfo: str, kwargs: Mapping[str, Any]) -> str:
    """The error one more connection attempt gives (the pool keeps its own to itself)."""
    try:
        psycopg.connect(conninfo, **{"connect_timeout": 5, **kwargs}).close()
    except psycopg.Error as exc:
        return str(exc).strip()
    return "the pool did not fill in time"


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column (for ``unnest``)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _last_wins(rows: Sequence[Sequence[Any]], key: tuple[int, ...]) -> list[Sequence[Any]]:
    """One row per key: the last one given, in the place of the first.

    ``ON CONFLICT DO UPDATE`` may not change a row twice in one statement;
    saving the same key twice in one call means the last value, with the
    identity (and so the order) of the first insert.
    """
    kept: dict[tuple[Any, ...], Sequence[Any]] = {}
    for row in rows:
        kept[tuple(row[i] for i in key)] = row
    return list(kept.values())


def _write_rows(
    conn: Conn, query: str, rows: Sequence[Sequence[Any]], *, key: tuple[int, ...] | None = None
) -> int:
    """Run a bulk statement over ``rows`` (one array per column); returns the rows written."""
    if not rows:
        return 0
    if key is not None:
        rows = _last_wins(rows, key)
    width = len(rows[0])
    cursor = conn.execute(query, _columns(rows, width))
    return int(cursor.rowcount)


def _lock_messages(conn: Conn, message_ids: Iterable[str]) -> None:
    """Lock provider message ids until the transaction ends, in one order (no deadlock)."""
    ids = sorted(set(message_ids))
    if not ids:
        return
    conn.execute(
        "INSERT INTO message_locks (message_id) SELECT unnest(%b::text[]) ON CONFLICT DO NOTHING",
        (ids,),
    )
    conn.execute(
        "SELECT 1 FROM message_locks WHERE message_id = ANY(%b::text[]) "
        "ORDER BY message_id FOR UPDATE",
        (ids,),
    )


def _lock_sends(conn: Conn, column: str, keys: Iterable[Any]) -> None:
    """Lock the stored sends with these ids (``column`` ``"id"``) or pks (``"pk"``), in that order.

    Taken after the message locks, before any send row is written: every
    unit that writes sends locks them in one order, so two units with sends
    in common wait for each other rather than deadlock. Sends not stored yet
    are not locked here; their inserts lock them in the order given.
    """
    wanted = list(set(keys))
    if not wanted:
        return
    query = sql.SQL(
        "SELECT 1 FROM sends WHERE {column} = ANY(%b::{kind}[]) ORDER BY {column} FOR UPDATE"
    ).format(column=sql.Identifier(column), kind=sql.SQL("text" if column == "id" else "bigint"))
    conn.execute(query, (wanted,))


def _apply_parked(conn: Conn, sends: Sequence[Send]) -> list[Send]:
    """The sends with the parked events for their message ids applied (and unparked)."""
    wanted = {m for s in sends for _, m in _message_keys(s)}
    if not wanted:
        return list(sends)
    waiting: dict[str, list[tuple[int, str, str]]] = {}
    for pk, provider, message_id, data in conn.execute(
        "SELECT pk, provider, message_id, data FROM events WHERE parked "
        "AND message_id = ANY(%b::text[]) ORDER BY pk",
        (list(wanted),),
    ):
        waiting.setdefault(message_id, []).append((pk, provider, data))
    if not waiting:
        return list(sends)
    applied: set[int] = set()
    out = []
    for send in sends:
        for provider, message_id in _message_keys(send):
            for pk, event_provider, data in waiting.get(message_id, ()):
                if pk not in applied and provider in ("", event_provider):
                    send = send.apply(_event(data))
                    applied.add(pk)
        out.append(send)
    if applied:
        conn.execute(
            "UPDATE events SET parked = false WHERE pk = ANY(%b::bigint[])", (sorted(applied),)
        )
    return out


def _index_messages(conn: Conn, sends: Sequence[tuple[int, Send]]) -> None:
    """Point each attempt's provider message id at its send (given with its pk)."""
    conn.execute(
        "DELETE FROM send_messages WHERE send_pk = ANY(%b::bigint[])", ([pk for pk, _ in sends],)
    )
    _write_rows(
        conn,
        "INSERT INTO send_messages (provider, message_id, send_pk) "
        "SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[]) "
        "ON CONFLICT (provider, message_id) DO UPDATE SET send_pk = excluded.send_pk",
        [(p, m, pk) for pk, s in sends for p, m in _message_keys(s)],
        key=(0, 1),
    )


def _apply_events(
    conn: Conn,
    events: Sequence[tuple[StatusEvent, int]],
    where: Mapping[tuple[str, str], int],
    touched: dict[int, Send],
) -> None:
    """Apply new events (each with its send's pk) in order, and rewrite the sends they change.

    The sends are locked (in pk order) before they are read. ``touched``
    holds the sends earlier batches changed, and gains this batch's.
    """
    pks = sorted({pk for _, pk in events})
    docs: dict[int, dict[str, Any]] = {}
    before: dict[int, Send] = {}
    for pk, data in conn.execute(
        "SELECT pk, data FROM sends WHERE pk = ANY(%b::bigint[]) ORDER BY pk FOR UPDATE", (pks,)
    ):
        if pk in touched:
            before[pk] = touched[pk]
        else:
            docs[pk] = json.loads(data)
            before[pk] = _send_from(docs[pk])
    changed: dict[int, Send] = {}
    for event, pk in events:
        changed[pk] = touched[pk] = (changed.get(pk) or before[pk]).apply(event)
    _write_rows(
        conn,
        "UPDATE sends s SET status = u.s, reason = u.r, sent_on = u.o, data = u.d "
        "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[]) "
        "AS u(s, r, o, d, pk) WHERE s.pk = u.pk",
        [
            (
                s.status.value,
                send_reason(s),
                _ots(s.sent_on),
                _patched_send_doc(docs[pk], before[pk], s) if pk in docs else _send_doc(s),
                pk,
            )
            for pk, s in changed.items()
        ],
    )
    # An attempt without a provider gains one from its first event: re-index a
    # send unless its message ids are the ones it had and all point to it.
    stale = [
        (pk, s)
        for pk, s in changed.items()
        if _message_keys(s) != _message_keys(before[pk])
        or any(where.get(k) != pk for k in _message_keys(s))
    ]
    if stale:
        _index_messages(conn, stale)


def _translate(exc: psycopg.Error, what: str) -> StorageError:
    """One of our errors for a driver error (the caller chains it with ``from``)."""
    text = str(exc).strip()
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return AlreadyExists(f"cannot {what}: {text}", value=text)
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        return NotFound(f"cannot {what}: a referenced row is missing ({text})", value=text)
    return StorageError(f"cannot {what}: {text}", value=text)
