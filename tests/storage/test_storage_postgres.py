"""PostgresStorage: the storage contract, the agreement with the reference, and the schema."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smscampaign.domain.campaign import TimelineAction
from smscampaign.domain.delivery import DeliveryStatus, FailureReason
from smscampaign.errors import ConfigurationError, NotFound, SchemaError, StorageError
from smscampaign.providers.base import CampaignLocker, Storage
from smscampaign.testing.contracts import (
    T0,
    StorageContract,
    _event,
    _recipient,
    _send,
    _sent,
    _started,
    make_campaign,
    make_contact,
    storage_agreement,
)

psycopg = pytest.importorskip("psycopg", reason="needs the extra: pip install -e '.[postgres]'")
psycopg_pool = pytest.importorskip("psycopg_pool")

from smscampaign.providers.postgres import (  # noqa: E402
    MIGRATIONS,
    SCHEMA_VERSION,
    LapsedClaim,
    PostgresStorage,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")

pytestmark = pytest.mark.postgres

# The agreement machine builds a storage per example, outside any fixture: it
# finds the test's factory here.
_FACTORY: list[Callable[..., Any]] = []


@pytest.fixture(autouse=True)
def _factory(make_postgres: Callable[..., Any]) -> Iterator[None]:
    _FACTORY.append(make_postgres)
    yield
    _FACTORY.clear()


class TestPostgresStorageContract(StorageContract):
    """PostgresStorage meets the storage contract."""

    def make_storage(self, tmp_path: Path) -> Storage:
        """A fresh schema."""
        storage: Storage = _FACTORY[-1]()
        return storage


TestPostgresAgreesWithReference = storage_agreement(lambda: _FACTORY[-1]()).TestCase
TestPostgresAgreesWithReference.__doc__ = "PostgresStorage answers every call as InMemoryStorage."


class TestSchema:
    """The schema is versioned and migrated forward."""

    def test_fresh_schema_is_current(self, make_postgres: Callable[..., PostgresStorage]) -> None:
        """A new schema gets every migration; opening it again changes nothing."""
        storage = make_postgres()
        assert storage.schema_version == SCHEMA_VERSION
        again = PostgresStorage(storage.pool.conninfo, schema=storage.schema)
        assert again.schema_version == SCHEMA_VERSION
        again.close()

    def test_old_schema_is_migrated_forward(
        self, postgres_url: str, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """A version-1 schema gains the later migrations, keeping its rows."""
        from smscampaign.providers.sqlite import _campaign_doc

        storage = make_postgres()
        schema = f"{storage.schema}_old"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            for statement in MIGRATIONS[0]:
                conn.execute(statement)  # type: ignore[call-overload]
            conn.execute("INSERT INTO schema_version VALUES (1)")
            conn.execute(
                "INSERT INTO campaigns VALUES ('spring', 'default', 'draft', %s)",
                (_campaign_doc(make_campaign()),),
            )
        try:
            with PostgresStorage(postgres_url, schema=schema) as migrated:
                assert migrated.schema_version == SCHEMA_VERSION
                assert migrated.get_campaign("spring") == make_campaign()
                indexes = {
                    row[0]
                    for row in migrated._read(
                        "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
                    )
                }
                assert {"sends_due", "contacts_by_number", "events_parked"} <= indexes
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    def test_newer_schema_is_refused(
        self, postgres_url: str, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """A schema written by a newer smscampaign raises SchemaError."""
        storage = make_postgres()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(
                f'INSERT INTO "{storage.schema}".schema_version VALUES (%s)', (SCHEMA_VERSION + 1,)
            )
        with pytest.raises(SchemaError, match="newer"):
            PostgresStorage(postgres_url, schema=storage.schema)

    def test_no_server_is_a_storage_error(self) -> None:
        """A server that is not there raises StorageError naming where, without the password."""
        with pytest.raises(StorageError, match=r"127\.0\.0\.1:9") as info:
            PostgresStorage("postgresql://u:secret@127.0.0.1:9/db", timeout=0.5)
        assert "secret" not in str(info.value)
        assert isinstance(info.value.__cause__, psycopg_pool.PoolTimeout)

    def test_unreadable_connection_string(self) -> None:
        """A connection string that is none raises ConfigurationError (a ValueError) at once."""
        with pytest.raises(ValueError, match="connection string"):
            PostgresStorage("not a connection string", timeout=30)

    def test_pool_needs_two_connections(self) -> None:
        """A pool of one could not stream decisions and read recipients together."""
        with pytest.raises(ConfigurationError, match="max_size"):
            PostgresStorage("postgresql://u@127.0.0.1:9/db", max_size=1)


class TestClaims:
    """Claims are exclusive across processes; a lapsed claim is taken over and logged."""

    def test_lapsed_claim_is_taken_over_and_logged(
        self, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """A claim not saved within its lease goes to the next worker, and the takeover is kept."""
        storage = make_postgres()
        storage.add_campaign(_started(make_campaign("k")))
        storage.add_recipients(_recipient("k", n) for n in range(3))
        storage.save_sends([_send("k", n) for n in range(3)])
        now = T0 + timedelta(hours=1)
        first = storage.claim_due_sends("w1", now, 2, lease=timedelta(minutes=1))
        assert [s.id for s in first] == ["k-invite-0", "k-invite-1"]
        storage.save_sends(first[1:])  # w1 saves one of its two sends, then dies
        later = now + timedelta(minutes=2)
        taken = storage.claim_due_sends("w2", later, 10)
        assert [s.id for s in taken] == ["k-invite-0", "k-invite-1", "k-invite-2"]
        assert list(storage.iter_lapsed_claims()) == [
            LapsedClaim(
                send_id="k-invite-0",
                worker="w2",
                claimed_at=later,
                previous_worker="w1",
                lease_ended=now + timedelta(minutes=1),
            )
        ]
        assert list(storage.iter_lapsed_claims(send_id="k-invite-2")) == []

    def test_claims_are_exclusive_across_processes(
        self, postgres_url: str, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """Four processes claiming at once get disjoint sends covering every due one."""
        storage = make_postgres()
        storage.add_campaign(_started(make_campaign("k")))
        storage.add_recipients(_recipient("k", n) for n in range(300))
        storage.save_sends([_send("k", n) for n in range(300)])
        now = (T0 + timedelta(hours=1)).isoformat()
        script = _CLAIMER.format(src=SRC)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, postgres_url, str(storage.schema), now, f"w{i}"],
                stdout=subprocess.PIPE,
            )
            for i in range(4)
        ]
        claimed = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0]
        every = [s for batch in claimed for s in batch]
        assert len(every) == len(set(every)) == 300
        assert list(storage.iter_lapsed_claims()) == []


class TestConcurrency:
    """Units of work run side by side without losing what either wrote."""

    def test_unit_of_work_belongs_to_its_thread(
        self, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """Another thread does not see a unit of work until it commits, nor join it."""
        storage = make_postgres()
        seen: list[object] = []

        def look() -> None:
            try:
                seen.append(storage.get_contact("c1"))
            except NotFound as error:
                seen.append(error)

        with storage.transaction():
            storage.save_contacts([make_contact(1)])
            other = threading.Thread(target=look)
            other.start()
            other.join()
            assert storage.get_contact("c1") == make_contact(1)
        assert isinstance(seen[0], NotFound)
        look()
        assert seen[1] == make_contact(1)

    def test_units_changing_one_campaign_take_turns(
        self, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """A unit holding a campaign makes another wait, so neither's timeline entry is lost.

        The first unit reads the campaign and waits before saving; the second
        reads and saves meanwhile. Without the hold the second saves first and
        the first's save, built on what it read, drops the second's entry.
        """
        storage = make_postgres(max_size=4)
        storage.add_campaign(_started(make_campaign("k")))
        holding, release = threading.Event(), threading.Event()
        finished: list[str] = []
        errors: list[BaseException] = []

        def add_entry(name: str, wait: bool) -> None:
            try:
                with storage.transaction():
                    storage.lock_campaign("k")
                    current = storage.get_campaign("k")
                    if wait:
                        holding.set()
                        release.wait(10)
                    storage.save_campaign(
                        current.record(
                            TimelineAction.TEST_SENT,
                            at=current.timeline[-1].at,
                            cause=name,
                        )
                    )
                finished.append(name)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        first = threading.Thread(target=add_entry, args=("first", True))
        first.start()
        assert holding.wait(10)
        second = threading.Thread(target=add_entry, args=("second", False))
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waiting for the first unit's hold
        release.set()
        first.join(10)
        second.join(10)
        assert errors == []
        assert finished == ["first", "second"]
        causes = [e.cause for e in storage.get_campaign("k").timeline]
        assert causes[-2:] == ["first", "second"]

    @pytest.mark.parametrize("case", ["queued sends", "sent sends", "receipts"])
    def test_units_writing_the_same_sends_in_opposite_orders_do_not_deadlock(
        self,
        make_postgres: Callable[..., PostgresStorage],
        monkeypatch: pytest.MonkeyPatch,
        case: str,
    ) -> None:
        """Two calls over the same two sends, given in opposite orders, both succeed.

        Each call writes one send per batch and, after its first batch, waits
        for the other to finish its first. Were the locks taken batch by
        batch, each call would hold one send and wait for the other's, and
        PostgreSQL would end one of them with a deadlock error. Taken up front
        in one order, the second call waits for the first to commit. The cases
        cover each lock: sends with no message id (the send rows, by id);
        sends with one (the message ids); and receipts for other attempts of
        the same sends, so the two calls share no message id (the send rows,
        by key).
        """
        from smscampaign.providers import postgres

        storage = make_postgres(max_size=4)
        storage.add_campaign(_started(make_campaign("k")))
        storage.add_recipients([_recipient("k", 1), _recipient("k", 2)])
        queued = [_send("k", n) for n in (1, 2)]
        sent = [_sent(s, f"m{n}a") for n, s in enumerate(queued, 1)]
        if case == "receipts":  # a second attempt each, under its own message id
            retried = [
                s.apply(
                    _event(f"m{n}a", DeliveryStatus.SOFT_BOUNCED, reason=FailureReason.UNREACHABLE)
                )
                .start_attempt(at=T0 + timedelta(minutes=5))
                .apply(_event(f"m{n}b", DeliveryStatus.SENDING, minutes=5))
                for n, s in enumerate(sent, 1)
            ]
            storage.save_sends(retried)
            work: list[list[Any]] = [
                [_event("m1a", DeliveryStatus.SENT), _event("m2a", DeliveryStatus.SENT)],
                [
                    _event("m2b", DeliveryStatus.DELIVERED, 6),
                    _event("m1b", DeliveryStatus.DELIVERED, 6),
                ],
            ]
        elif case == "sent sends":
            storage.save_sends(sent)
            work = [
                [s.apply(_event(f"m{n}a", DeliveryStatus.SENT)) for n, s in enumerate(sent, 1)],
                [
                    s.apply(_event(f"m{n}a", DeliveryStatus.DELIVERED))
                    for n, s in reversed(list(enumerate(sent, 1)))
                ],
            ]
        else:
            storage.save_sends(queued)
            work = [
                [s.cancel(at=T0 + timedelta(minutes=1)) for s in queued],
                [s.cancel(at=T0 + timedelta(minutes=2)) for s in reversed(queued)],
            ]
        call = "record_events" if case == "receipts" else "save_sends"
        monkeypatch.setattr(postgres, "_WRITE_BATCH", 1)
        monkeypatch.setattr(postgres, "_BATCH", 1)
        hook = "_index_messages" if call == "save_sends" else "_apply_events"
        original = getattr(postgres, hook)
        first_done = [threading.Event(), threading.Event()]
        who = threading.local()

        def pausing(*args: Any) -> None:
            original(*args)
            mine = who.index
            if not first_done[mine].is_set():
                first_done[mine].set()
                first_done[1 - mine].wait(1.5)  # the other's first batch, if it gets one

        monkeypatch.setattr(postgres, hook, pausing)
        errors: list[BaseException] = []

        def run(index: int) -> None:
            who.index = index
            try:
                with storage.transaction():
                    getattr(storage, call)(work[index])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert errors == []
        statuses = [storage.get_send(s.id).status for s in queued]
        if case == "receipts":  # both calls' receipts merged
            assert statuses == [DeliveryStatus.DELIVERED] * 2
        elif case == "sent sends":  # the call that committed last replaced both sends
            assert statuses in ([DeliveryStatus.SENT] * 2, [DeliveryStatus.DELIVERED] * 2)
        else:
            assert statuses == [DeliveryStatus.CANCELED] * 2

    def test_a_hold_needs_a_unit_and_a_campaign(
        self, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        storage = make_postgres()
        storage.add_campaign(make_campaign("k"))
        with pytest.raises(StorageError, match="outside a unit of work"):
            storage.lock_campaign("k")
        with pytest.raises(NotFound, match="'nope'"), storage.transaction():
            storage.lock_campaign("nope")
        assert isinstance(storage, CampaignLocker)

    def test_early_receipts_racing_their_sends_are_never_lost(
        self, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """A receipt recorded while its send is being saved is applied, whichever commits first."""
        storage = make_postgres(max_size=6)
        storage.add_campaign(_started(make_campaign("k")))
        storage.add_recipients(_recipient("k", n) for n in range(200))
        sends = [_sent(_send("k", n), f"m{n}") for n in range(200)]
        receipts = [_event(f"m{n}", DeliveryStatus.DELIVERED) for n in range(200)]
        errors: list[BaseException] = []

        def run(work: Callable[[], object]) -> None:
            try:
                work()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        for start in range(0, 200, 20):
            batch = slice(start, start + 20)
            threads = [
                threading.Thread(target=run, args=(lambda b=batch: storage.save_sends(sends[b]),)),
                threading.Thread(
                    target=run,
                    args=(lambda b=batch: [storage.record_events([e]) for e in receipts[b]],),
                ),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert list(storage.iter_parked_events()) == []
        assert storage.count_sends("k", by=("status",)) == {("delivered",): 200}

    def test_killed_inside_unit_of_work_leaves_database_as_before(
        self, postgres_url: str, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """SIGKILL in the middle of a unit of work leaves the database as it was before it."""
        storage = make_postgres()
        storage.save_contacts([make_contact(0)])
        proc = subprocess.Popen(
            [sys.executable, "-c", _CRASHER.format(src=SRC), postgres_url, str(storage.schema)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert storage.get_contact("c0") == make_contact(0)
        with pytest.raises(NotFound):
            storage.get_contact("c1")
        with pytest.raises(NotFound):
            storage.get_campaign("doomed")

    def test_deadlocked_call_is_run_again(
        self, make_postgres: Callable[..., PostgresStorage]
    ) -> None:
        """A call PostgreSQL aborts for a deadlock is retried outside a unit of work, not inside."""
        storage = make_postgres()
        calls: list[int] = []

        def flaky(conn: object) -> str:
            calls.append(1)
            if len(calls) == 1:
                raise psycopg.errors.DeadlockDetected("deadlock detected")
            return "done"

        assert storage._run("work", flaky) == "done"
        assert len(calls) == 2
        calls.clear()
        with pytest.raises(StorageError, match="deadlock"), storage.transaction():
            storage._run("work", flaky)
        assert len(calls) == 1


class TestIndexes:
    """The runner's hot queries can be answered from an index."""

    @pytest.mark.parametrize(
        "query",
        [
            "SELECT s.pk FROM sends s WHERE s.status = 'queued' "
            "ORDER BY coalesce(s.due_at, s.created_at), s.id LIMIT 10",
            "SELECT send_pk FROM send_messages WHERE message_id = 'x'",
            "SELECT data FROM sends WHERE campaign_id = 'k' "
            "AND recipient_id = ANY('{a,b}'::text[]) ORDER BY pk",
            "SELECT data FROM sends WHERE campaign_id = 'k' AND pk > 0 ORDER BY pk LIMIT 10",
            "SELECT pk FROM contacts WHERE account = 'd' AND e164 = 'x'",
            "SELECT pk FROM events WHERE parked AND message_id = 'x'",
            "SELECT DISTINCT ON (recipient_id, step_id) status FROM sends WHERE campaign_id = 'k' "
            "ORDER BY recipient_id DESC, step_id DESC, pk DESC",
            "SELECT id FROM sends WHERE campaign_id = 'k' AND (created_at, id) > ('', '') "
            "ORDER BY created_at, id LIMIT 10",
            "SELECT id FROM sends WHERE to_e164 = 'x' ORDER BY created_at, id LIMIT 10",
            "SELECT pk FROM inbound WHERE account = 'd' ORDER BY received_at, pk LIMIT 10",
        ],
    )
    def test_query_uses_an_index(
        self, make_postgres: Callable[..., PostgresStorage], query: str
    ) -> None:
        """With sequential scans priced out, no table is scanned whole: an index answers."""
        storage = make_postgres()
        with storage.transaction(), storage._connection() as conn:
            conn.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {query}"))  # type: ignore[call-overload]
        assert "Seq Scan" not in plan, plan
        assert "Index" in plan, plan


_CLAIMER = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime
    sys.path.insert(0, {src!r})
    from smscampaign.providers.postgres import PostgresStorage
    storage = PostgresStorage(sys.argv[1], schema=sys.argv[2])
    now = datetime.fromisoformat(sys.argv[3])
    got = []
    while batch := storage.claim_due_sends(sys.argv[4], now, 7):
        got.extend(s.id for s in batch)
    storage.close()
    print(json.dumps(got))
    """
)

_CRASHER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {src!r})
    from smscampaign.providers.postgres import PostgresStorage
    from smscampaign.testing.contracts import make_campaign, make_contact
    storage = PostgresStorage(sys.argv[1], schema=sys.argv[2])
    with storage.transaction():
        storage.add_campaign(make_campaign("doomed"))
        storage.save_contacts(make_contact(n) for n in range(2000))
        storage.save_contacts([make_contact(0, first_name="Changed")])
        print("ready", flush=True)
        time.sleep(60)
    """
)
