"""SQLiteStorage: the storage contract, plus what only a database file can show."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain.contact import Contact, Recipient
from smscampaign.domain.delivery import (
    Attempt,
    DeliveryStatus,
    FailureReason,
    RetryPolicy,
    Send,
    StatusEvent,
    _utc_iso,
)
from smscampaign.errors import InvalidEvent, NotFound, SchemaError, StorageError
from smscampaign.providers.base import Storage, needs_follow_up, send_reason
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SQLiteStorage,
    _attempt_doc,
    _attempt_text,
    _attempts_columns,
    _compact_json,
    _doc_columns,
    _event_doc,
    _event_document,
    _fold_into_attempts,
    _fold_into_doc,
    _json,
    _load_doc,
    _ots,
    _patched_attempt_doc,
    _patched_send_doc,
    _send_doc,
    _send_document,
    _send_from,
    _split_doc,
    _stored_send,
    _ts,
)
from smscampaign.testing.contracts import T0, StorageContract, make_campaign, make_contact
from smscampaign.testing.strategies import (
    aware_datetimes,
    contacts,
    send_histories,
    sends,
    status_events,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")


class TestSQLiteStorageContract(StorageContract):
    """SQLiteStorage on a file meets the storage contract."""

    def make_storage(self, tmp_path: Path) -> Storage:
        """A fresh database file."""
        return SQLiteStorage(tmp_path / "campaigns.db")


class TestSQLiteInMemoryContract(StorageContract):
    """SQLiteStorage on ':memory:' meets the storage contract too."""

    def make_storage(self, tmp_path: Path) -> Storage:
        """A private in-memory database."""
        return SQLiteStorage(":memory:")

    def test_claim_is_exclusive_across_threads(self, storage: Storage) -> None:  # type: ignore[override]
        """Not applicable: an in-memory database is one connection, not shared by threads."""


class TestSchema:
    """The schema is versioned and migrated forward, with the settings the design asks."""

    def test_fresh_database_is_current(self, tmp_path: Path) -> None:
        """A new file gets every migration and the pragmas."""
        with SQLiteStorage(tmp_path / "db") as storage:
            assert storage.schema_version == SCHEMA_VERSION
            conn = storage._conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000

    def test_old_database_is_migrated_forward(self, tmp_path: Path) -> None:
        """A version-1 file gains the later migrations, keeping its rows."""
        path = tmp_path / "db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO campaigns VALUES ('spring', 'default', 'draft', ?)",
            (_campaign_json(),),
        )
        conn.commit()
        conn.close()
        with SQLiteStorage(path) as storage:
            assert storage.schema_version == SCHEMA_VERSION
            assert storage.get_campaign("spring") == make_campaign()
            indexes = {
                row[0]
                for row in storage._conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='index'"
                )
            }
            assert {"sends_due", "contacts_by_number", "events_parked"} <= indexes

    def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        """A file written by a newer smscampaign raises SchemaError."""
        path = tmp_path / "db"
        SQLiteStorage(path).close()
        conn = sqlite3.connect(path)
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
        conn.commit()
        conn.close()
        with pytest.raises(SchemaError, match="newer"):
            SQLiteStorage(path)

    def test_not_a_database(self, tmp_path: Path) -> None:
        """A file that is not SQLite raises a StorageError chaining the driver's error."""
        path = tmp_path / "db"
        path.write_bytes(b"this is not a database" * 100)
        with pytest.raises(StorageError) as info:
            SQLiteStorage(path)
        assert isinstance(info.value.__cause__, sqlite3.Error)

    def test_queries_use_indexes(self, tmp_path: Path) -> None:
        """The runner's hot queries are index lookups, not table scans."""
        with SQLiteStorage(tmp_path / "db") as storage:
            conn = storage._conn
            plans = {
                "claim": "SELECT s.pk FROM sends s JOIN campaigns c ON c.id = s.campaign_id "
                "WHERE s.status = 'queued' AND (s.due_at IS NULL OR s.due_at <= '') "
                "AND c.state = 'in_progress' ORDER BY coalesce(s.due_at, s.created_at), s.id",
                "message": "SELECT send_pk FROM send_messages WHERE message_id = 'x'",
                "recipient sends": "SELECT data FROM sends WHERE campaign_id = 'k' "
                "AND recipient_id IN ('a', 'b') ORDER BY pk",
                "contacts by number": "SELECT pk FROM contacts WHERE account = 'd' AND e164 = 'x'",
                "parked": "SELECT pk FROM events WHERE parked = 1 AND message_id = 'x'",
            }
            for name, sql in plans.items():
                details = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
                # A scan of a (partial) index is fine; a scan of a whole table is not.
                assert all("USING" in d for d in details if d.startswith(("SCAN", "SEARCH"))), (
                    name,
                    details,
                )


def _campaign_json() -> str:
    from smscampaign.providers.sqlite import _campaign_doc

    return _campaign_doc(make_campaign())


class TestConcurrency:
    """Readers never wait for the writer, and locks surface as StorageError."""

    def test_reader_sees_last_commit_while_writer_works(self, tmp_path: Path) -> None:
        """A second connection reads the committed state during another's unit of work."""
        path = tmp_path / "db"
        writer, reader = SQLiteStorage(path), SQLiteStorage(path, timeout=0.2)
        with writer.transaction():
            writer.save_contacts([make_contact(1)])
            with pytest.raises(NotFound):
                reader.get_contact("c1")
        assert reader.get_contact("c1") == make_contact(1)
        writer.close()
        reader.close()

    def test_second_writer_times_out_with_storage_error(self, tmp_path: Path) -> None:
        """A writer blocked past its timeout gets a StorageError chaining sqlite3's."""
        path = tmp_path / "db"
        first, second = SQLiteStorage(path), SQLiteStorage(path, timeout=0.1)
        with first.transaction():
            first.save_contacts([make_contact(1)])
            with pytest.raises(StorageError) as info:
                second.save_contacts([make_contact(2)])
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        first.close()
        second.close()


_CLAIMER = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime, timedelta
    sys.path.insert(0, {src!r})
    from smscampaign.providers.sqlite import SQLiteStorage
    storage = SQLiteStorage(sys.argv[1])
    now = datetime.fromisoformat(sys.argv[2])
    got = []
    while batch := storage.claim_due_sends(sys.argv[3], now, 2):
        got.extend(s.id for s in batch)
    print(json.dumps(got))
    """
)

_CRASHER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {src!r})
    from smscampaign.providers.sqlite import SQLiteStorage
    from smscampaign.testing.contracts import make_campaign, make_contact
    storage = SQLiteStorage(sys.argv[1])
    with storage.transaction():
        storage.add_campaign(make_campaign("doomed"))
        storage.save_contacts(make_contact(n) for n in range(2000))
        storage.save_contacts([make_contact(0, first_name="Changed")])
        print("ready", flush=True)
        time.sleep(60)
    """
)


class TestProcesses:
    """Several processes share one file safely."""

    def test_claims_are_exclusive_across_processes(self, tmp_path: Path) -> None:
        """Three processes claiming at once get disjoint sends covering every due one."""
        from smscampaign.testing.contracts import _recipient, _send, _started

        path = tmp_path / "db"
        with SQLiteStorage(path) as storage:
            storage.add_campaign(_started(make_campaign("k")))
            storage.add_recipients(_recipient("k", n) for n in range(90))
            storage.save_sends([_send("k", n) for n in range(90)])
        now = (T0 + timedelta(hours=1)).isoformat()
        script = _CLAIMER.format(src=SRC)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(path), now, f"w{i}"], stdout=subprocess.PIPE
            )
            for i in range(3)
        ]
        claimed = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0]
        every = [s for batch in claimed for s in batch]
        assert len(every) == len(set(every)) == 90

    def test_killed_inside_unit_of_work_leaves_database_as_before(self, tmp_path: Path) -> None:
        """SIGKILL in the middle of a unit of work leaves the file as it was before it."""
        path = tmp_path / "db"
        with SQLiteStorage(path) as storage:
            storage.save_contacts([make_contact(0)])
        proc = subprocess.Popen(
            [sys.executable, "-c", _CRASHER.format(src=SRC), str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        with SQLiteStorage(path) as storage:
            assert storage.get_contact("c0") == make_contact(0)
            with pytest.raises(NotFound):
                storage.get_contact("c1")
            with pytest.raises(NotFound):
                storage.get_campaign("doomed")
            assert storage._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class TestEventWrites:
    """record_events rewrites only what events change, and stores what a full write would."""

    def _sends(self) -> list[Send]:
        def send(n: int, message_id: str, *, provider: str | None = "simulated") -> Send:
            started = Send(
                campaign_id="spring",
                recipient_id=f"c{n}",
                step_id="invite",
                to=make_contact(n).phone.e164,
                created_at=T0,
                id=f"s{n}",
            ).start_attempt(at=T0)
            attempt = attrs.evolve(
                started.attempts[0], provider=provider, provider_message_id=message_id
            )
            return attrs.evolve(started, attempts=(attempt,))

        retried = send(2, "m2-first").apply(
            StatusEvent.failure(
                provider="simulated",
                provider_message_id="m2-first",
                occurred_at=T0,
                reason=FailureReason.UNREACHABLE,
            )
        )
        retried = attrs.evolve(
            retried.start_attempt(at=T0 + timedelta(hours=1)),
            attempts=(
                retried.attempts[0],
                Attempt.queued(number=2, to=retried.to, at=T0).apply(
                    _receipt("m2-second", DeliveryStatus.SENDING)
                ),
            ),
        )
        return [send(0, "m0"), send(1, "m1", provider=None), retried, send(3, "m3")]

    def test_stored_documents_match_a_full_write(self, tmp_path: Path) -> None:
        """After events (across batches, by parts, for a provider-less attempt), rows read back."""
        reference = InMemoryStorage()
        with SQLiteStorage(tmp_path / "db") as storage:
            for s in (storage, reference):
                s.add_campaign(make_campaign())
                s.add_recipients(
                    Recipient(campaign_id="spring", contact=make_contact(n)) for n in range(4)
                )
                s.save_sends(self._sends())
            # More than one batch (500 events), with the same sends in several batches.
            noise = [_receipt(f"unknown-{i}", DeliveryStatus.SENT) for i in range(600)]
            events = [
                _receipt("m0", DeliveryStatus.SENT),
                *noise[:300],
                _receipt("m1", DeliveryStatus.DELIVERED),
                _receipt("m2-first", DeliveryStatus.DELIVERED),
                *noise[300:],
                _receipt("m0", DeliveryStatus.DELIVERED),
                _receipt("m3", DeliveryStatus.SENT, part=1, parts=2),
                _receipt("m3", DeliveryStatus.DELIVERED, part=2, parts=2),
                _receipt("m2-second", DeliveryStatus.SENT),
            ]
            got = storage.record_events(events)
            assert got == reference.record_events(events)
            for send in got.sends:
                (data,) = storage._conn.execute(
                    "SELECT data FROM sends WHERE id = ?", (send.id,)
                ).fetchone()
                assert json.loads(data) == json.loads(_send_doc(send))
                assert storage.get_send(send.id) == send
            rows = set(
                storage._conn.execute(
                    "SELECT m.provider, m.message_id, s.id FROM send_messages m "
                    "JOIN sends s ON s.pk = m.send_pk"
                )
            )
            assert rows == {
                (a.provider or "", a.provider_message_id, s.id)
                for s in reference.iter_sends("spring")
                for a in s.attempts
            }
            assert storage.find_send("simulated", "m1") == reference.find_send("simulated", "m1")


def _receipt(message_id: str, status: DeliveryStatus, **fields: Any) -> StatusEvent:
    return StatusEvent(
        provider="simulated",
        provider_message_id=message_id,
        status=status,
        occurred_at=T0 + timedelta(minutes=1),
        **fields,
    )


def _same(x: object, y: object) -> None:
    """``x`` and ``y`` hold equal values of the same types in every field (derived ones too)."""
    assert type(x) is type(y)
    if attrs.has(type(x)):
        for field in attrs.fields(type(x)):
            _same(getattr(x, field.name), getattr(y, field.name))
    elif isinstance(x, tuple | list):
        assert len(x) == len(y)  # type: ignore[arg-type]
        for a, b in zip(x, y, strict=True):  # type: ignore[call-overload]
            _same(a, b)
    elif isinstance(x, FrozenMap):
        assert list(x) == list(y)  # type: ignore[call-overload]
        for key in x:
            _same(x[key], y[key])  # type: ignore[index]
    else:
        assert x == y


@st.composite
def _sends_with_receipts(draw: st.DrawFn) -> tuple[Send, list[StatusEvent]]:
    """A generated send with an attempt in flight (sometimes by parts), and receipts for it."""
    send = draw(sends())
    if send.status is DeliveryStatus.QUEUED and not send.skip_reasons:
        send = send.start_attempt(at=send.created_at + timedelta(days=1))
        if draw(st.booleans()):
            send = send.with_part_ids(["p1", "p2"])
    message_id = send.attempts[-1].provider_message_id if send.attempts else None
    events = draw(
        st.lists(
            status_events(
                provider_message_ids=st.just(message_id or "m1"),
                parts=draw(st.sampled_from((None, 2))),
            ),
            max_size=4,
        )
    )
    prices = draw(
        st.lists(
            st.none() | st.decimals(min_value=0, max_value=1, places=4),
            min_size=len(events),
            max_size=len(events),
        )
    )
    priced = [
        e if p is None else attrs.evolve(e, price=p) for e, p in zip(events, prices, strict=True)
    ]
    return send, priced if send.attempts else []


class TestEventFastPaths:
    """What record_events reads and writes without the checked path equals what that path gives."""

    @given(_sends_with_receipts())
    def test_stored_send_reads_as_the_checked_reading(
        self, example: tuple[Send, list[StatusEvent]]
    ) -> None:
        send, events = example
        for current in [send, *itertools.accumulate(events, Send.apply, initial=send)]:
            doc = json.loads(_send_doc(current))
            _same(_stored_send(doc), _send_from(doc))

    @given(_sends_with_receipts())
    def test_patched_document_is_the_full_one(
        self, example: tuple[Send, list[StatusEvent]]
    ) -> None:
        before, events = example
        for event in events:
            after = before.apply(event)
            assert _patched_send_doc(json.loads(_send_doc(before)), before, after) == _send_doc(
                after
            )
            for old, new in zip(before.attempts, after.attempts, strict=True):
                assert list(_patched_attempt_doc(_attempt_doc(old), old, new).items()) == list(
                    _attempt_doc(new).items()
                )
            before = after

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        )
    )
    def test_compact_json_is_json(self, value: object) -> None:
        assert _compact_json(value) == _json(value)
        assert _load_doc(_compact_json(value)) == json.loads(_json(value))

    @given(
        st.lists(st.sampled_from(["m0", "m1", "m2", "nobody"]), max_size=12),
        st.lists(st.sampled_from(list(DeliveryStatus)[:6]), min_size=12, max_size=12),
        st.integers(0, 12),
    )
    def test_record_events_agrees_with_memory(
        self, ids: list[str], statuses: list[DeliveryStatus], split: int
    ) -> None:
        """Repeats in a batch, events logged by an earlier call, unknown ids: as in memory."""
        events = [
            StatusEvent(
                provider="simulated",
                provider_message_id=message_id,
                status=status,
                occurred_at=T0 + timedelta(minutes=len(message_id) + status.rank),
            )
            for message_id, status in zip(ids, statuses, strict=False)
        ]
        stores: list[Storage] = [SQLiteStorage(":memory:"), InMemoryStorage()]
        outcomes = []
        for store in stores:
            store.add_campaign(make_campaign())
            store.add_recipients(
                Recipient(campaign_id="spring", contact=make_contact(n)) for n in range(3)
            )
            store.save_sends([*TestEventWrites()._sends()[:2], _sent(2, "m2")])
            outcomes.append(
                (store.record_events(events[:split]), store.record_events(events[split:]))
            )
        assert outcomes[0] == outcomes[1]
        assert list(stores[0].iter_sends("spring")) == list(stores[1].iter_sends("spring"))
        assert list(stores[0].iter_events()) == list(stores[1].iter_events())


@st.composite
def _stored_shapes(draw: st.DrawFn) -> Send:
    """Any send, with text that JSON must escape, and sometimes a due time or another policy."""
    send, events = draw(_sends_with_receipts())
    for event in events[: draw(st.integers(0, len(events)))]:
        send = send.apply(event)
    text = st.text(max_size=12)
    changes: dict[str, Any] = {"body": draw(text), "id": draw(text)}
    if draw(st.booleans()):
        changes["due_at"] = send.created_at + timedelta(minutes=draw(st.integers(0, 10_000)))
    if draw(st.booleans()):
        changes["policy"] = RetryPolicy(
            max_retries=draw(st.integers(0, 5)), backoff=timedelta(seconds=draw(st.integers(0, 9)))
        )
    return attrs.evolve(send, **changes)


class TestTimeTexts:
    """The remembered time texts are the formatted ones, for the same or an equal instant."""

    @given(
        st.lists(
            st.tuples(
                aware_datetimes(), st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"])
            ),
            max_size=8,
        )
    )
    def test_texts_are_the_formatted_ones(self, moments: list[tuple[datetime, str]]) -> None:
        for moment, zone in moments:
            expected = moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
            local = moment.astimezone(ZoneInfo(zone))
            assert _ts(local) == expected
            assert _ts(moment) == expected
            assert _ts(moment + timedelta(microseconds=1)) != expected
            iso = moment.astimezone(timezone.utc).isoformat()
            assert _utc_iso(local) == iso
            assert _utc_iso(moment) == iso
            assert _utc_iso(moment + timedelta(seconds=1)) != iso


class TestSendText:
    """_send_doc writes, character for character, what encoding the general document gives."""

    @given(_stored_shapes())
    def test_text_is_the_encoded_document(self, send: Send) -> None:
        assert _send_doc(send) == _compact_json(_send_document(send)) == _json(_send_document(send))
        for attempt in send.attempts:
            assert _attempt_text(attempt) == _compact_json(_attempt_doc(attempt))

    @given(_stored_shapes())
    def test_text_reads_back_as_the_send(self, send: Send) -> None:
        _same(_send_from(json.loads(_send_doc(send))), send)
        _same(_stored_send(_load_doc(_send_doc(send))), send)


# Texts that look like the document's own keys; inside a JSON string their
# quotes are escaped, so the document must never be cut at them.
_KEY_LOOKALIKES = st.sampled_from(
    [',"a":[', ',"sk":["x"]', '"}],"cx":"', '\\",\\"pol\\":[1]', '{"c":', "é\u2028\x00"]
)


@st.composite
def _tricky_shapes(draw: st.DrawFn) -> Send:
    """A stored shape whose body may hold text that looks like the document's keys."""
    send = draw(_stored_shapes())
    if draw(st.booleans()):
        send = attrs.evolve(send, body=draw(st.text(max_size=4)) + draw(_KEY_LOOKALIKES))
    return send


class TestSplitDocument:
    """A document cut around its attempts is the document: same text, same attempts, same policy."""

    @given(_tricky_shapes())
    def test_the_cut_gives_the_document_back(self, send: Send) -> None:
        text = _send_doc(send)
        split = _split_doc(text)
        doc = json.loads(text)
        if send.skip_reasons or send.canceled_at or send.gave_up_at or not send.attempts:
            assert split is None
            return
        assert split is not None
        assert split.attempts == doc["a"]
        assert split.policy == send.policy
        assert split.text() == text

    def test_a_send_waiting_for_a_retry_is_cut_until_canceled_or_given_up(self) -> None:
        """Canceled or given up with attempts, a send is never cut: receipts go through apply."""
        bounced = _sent(0, "m0").apply(
            _receipt("m0", DeliveryStatus.SOFT_BOUNCED, reason=FailureReason.UNREACHABLE)
        )
        assert bounced.status is DeliveryStatus.QUEUED  # waiting for its retry
        assert _split_doc(_send_doc(bounced)) is not None
        for ended in (bounced.cancel(at=T0), bounced.give_up(at=T0)):
            assert ended.attempts
            assert _split_doc(_send_doc(ended)) is None

    @given(send_histories(), st.sampled_from(["", "Hi", ',"a":[', '","sk":["x"],"b":"']))
    def test_folding_the_attempts_is_folding_the_document(
        self, history: tuple[Send, list[StatusEvent]], body: str
    ) -> None:
        """Event by event, the cut document folds as the whole one does, to the same text."""
        current, events = history
        text = _send_doc(attrs.evolve(current, body=body))
        doc = json.loads(text)
        split = _split_doc(text)
        for event in events:
            at = _ts(event.occurred_at)
            folded = _fold_into_doc(doc, event, at)
            if split is None:
                assert not folded
                continue
            assert _fold_into_attempts(split.attempts, event, at) is folded
            if not folded:
                break  # the caller goes on through Send.apply
            assert split.text() == _compact_json(doc)
            assert _attempts_columns(split.attempts, split.policy) == _doc_columns(doc)


_BOUNCES = (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED)


class TestEventText:
    """_event_doc writes, character for character, what encoding the event's document gives."""

    @given(
        status_events(),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3),
        st.none() | st.booleans(),
        st.none() | st.text(max_size=6),
        st.none() | st.decimals(min_value=0, max_value=10, places=3),
    )
    def test_text_is_the_encoded_document(
        self,
        event: StatusEvent,
        raw: dict[str, Any],
        permanent: bool | None,
        text: str | None,
        price: Any,
    ) -> None:
        if permanent is not None and event.status in _BOUNCES:  # the verdict must agree
            permanent = event.status is DeliveryStatus.HARD_BOUNCED
        event = attrs.evolve(event, raw=raw, permanent=permanent, provider_text=text, price=price)
        assert _event_doc(event) == _compact_json(_event_document(event))
        assert _event_doc(event) == _json(_event_document(event))
        assert json.loads(_event_doc(event))["raw"] == raw


class TestLeanReceipts:
    """A receipt folded into the stored document gives what Send.apply and a full write give."""

    @given(send_histories())
    def test_folding_into_the_document_is_send_apply(
        self, history: tuple[Send, list[StatusEvent]]
    ) -> None:
        """Event by event, the folded document and its columns are the applied send's."""
        current, events = history
        doc = json.loads(_send_doc(current))
        for event in events:
            try:
                expected: Send | None = current.apply(event)
            except InvalidEvent:
                expected = None
            folded = _fold_into_doc(doc, event, _ts(event.occurred_at))
            if expected is None:
                assert not folded  # the general path raises for it
                assert doc == json.loads(_send_doc(current))
                continue
            if folded:
                assert doc == json.loads(_send_doc(expected))
                assert _doc_columns(doc) == (
                    expected.status,
                    send_reason(expected),
                    _ots(expected.sent_on),
                )
                _same(_stored_send(doc), expected)
            else:
                assert doc == json.loads(_send_doc(current))  # left as it was
                doc = json.loads(_send_doc(expected))
            current = expected

    def test_a_plain_receipt_takes_the_lean_path(self) -> None:
        """An accepted attempt's receipt folds into the document; a first event does not."""
        accepted = _sent(0, "m0")
        doc = json.loads(_send_doc(accepted))
        delivered = _receipt("m0", DeliveryStatus.DELIVERED)
        assert _fold_into_doc(doc, delivered, _ts(delivered.occurred_at))
        assert doc == json.loads(_send_doc(accepted.apply(delivered)))
        fresh = attrs.evolve(accepted, attempts=()).start_attempt(at=T0)
        assert not _fold_into_doc(json.loads(_send_doc(fresh)), delivered, "")

    @given(send_histories(), st.integers(1, 4))
    def test_record_events_agrees_with_memory(
        self, history: tuple[Send, list[StatusEvent]], calls: int
    ) -> None:
        """Histories split over several calls: sends, outcomes and the log as in memory."""
        send, events = history
        stores: list[Storage] = [SQLiteStorage(":memory:"), InMemoryStorage()]
        outcomes = []
        size = max(1, -(-len(events) // calls))
        for store in stores:
            store.add_campaign(make_campaign("c1"))
            store.add_recipients([Recipient(campaign_id="c1", contact=make_contact(0, id="r1"))])
            store.save_sends([send])
            outcomes.append(
                [store.record_events(events[i : i + size]) for i in range(0, len(events), size)]
            )
        assert outcomes[0] == outcomes[1]
        for got, expected in zip(*outcomes, strict=True):
            assert got.sends == expected.sends
            assert got.send_ids == tuple(s.id for s in got.sends)
            assert got.follow_up == tuple(s for s in got.sends if needs_follow_up(s))
        assert list(stores[0].iter_sends("c1")) == list(stores[1].iter_sends("c1"))
        assert list(stores[0].iter_events()) == list(stores[1].iter_events())


class TestImportWrites:
    """add_recipients writes the same rows whether its contacts are all new or some are known."""

    @given(
        st.lists(contacts(), max_size=8, unique_by=lambda c: c.id),
        st.lists(st.booleans(), min_size=8, max_size=8),
    )
    def test_agrees_with_memory(self, people: list[Contact], known: list[bool]) -> None:
        stores: list[Storage] = [SQLiteStorage(":memory:"), InMemoryStorage()]
        for store in stores:
            store.add_campaign(make_campaign())
            store.save_contacts(c for c, k in zip(people, known, strict=False) if k)
            added = store.add_recipients(
                Recipient(campaign_id="spring", contact=c, list_name="l.csv") for c in people
            )
            assert added == len(people)
            assert (
                store.add_recipients(Recipient(campaign_id="spring", contact=c) for c in people)
                == 0
            )
        assert list(stores[0].iter_recipients("spring")) == list(
            stores[1].iter_recipients("spring")
        )


def _sent(n: int, message_id: str) -> Send:
    """Send ``s{n}`` to contact ``c{n}``, accepted by the provider as ``message_id``."""
    return (
        Send(
            campaign_id="spring",
            recipient_id=f"c{n}",
            step_id="invite",
            to=make_contact(n).phone.e164,
            created_at=T0,
            id=f"s{n}",
        )
        .start_attempt(at=T0)
        .apply(
            StatusEvent(
                provider="simulated",
                provider_message_id=message_id,
                status=DeliveryStatus.SENDING,
                occurred_at=T0,
            )
        )
    )
