"""SQLite reads contacts, recipients and claimed sends without re-checking them, and loses nothing.

The runner reads every recipient at least twice per send (to decide, and at
dispatch for the last line of defence) and every due send once when it
claims it. ``SQLiteStorage`` rebuilds those objects from its own columns and
documents without attrs' converters and validators. These properties require
the objects to be exactly the checked ones: equal to what was saved, equal to
what the checked constructors build from the same values, and holding the
same types (enum members, not strings; the number's region, kind and zones,
which :class:`PhoneNumber` equality alone does not compare).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign.domain.campaign import Campaign, Step, StepKind
from smscampaign.domain.contact import Contact, Recipient
from smscampaign.domain.delivery import DeliveryStatus, RetryPolicy, Send
from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import InvalidPhoneNumber, SmsCampaignError
from smscampaign.providers import sqlite as sqlite_adapter
from smscampaign.providers.base import RecipientFacts, RecipientFactsReader
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.testing import strategies as sms

_T0 = sms.EPOCH

_CAMPAIGN = Campaign.create(
    at=_T0,
    id="c1",
    name="Trusted reads",
    sender="+12125550100",
    time_zone="America/New_York",
    steps=[
        Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}"),
        Step(id="reminder-1", kind=StepKind.REMINDER, body="Again", delay=timedelta(hours=6)),
    ],
)


def _phone_facts(phone: PhoneNumber) -> tuple[Any, ...]:
    return (
        phone.e164,
        phone.region,
        type(phone.kind),
        phone.kind,
        phone.verified,
        phone.time_zones,
    )


def _contact_facts(contact: Contact) -> tuple[Any, ...]:
    """Every field of a contact, with the types that equality does not compare."""
    return (
        contact.id,
        _phone_facts(contact.phone),
        contact.first_name,
        contact.last_name,
        contact.email,
        type(contact.fields),
        dict(contact.fields),
        type(contact.consent),
        contact.consent,
        contact.time_zone,
        contact.account,
    )


def _send_facts(send: Send) -> tuple[Any, ...]:
    return (send, send.status, send.sent_on, send.due_at, send.attempts)


def _recipient_facts(recipient: Recipient) -> tuple[Any, ...]:
    return (
        recipient.campaign_id,
        _contact_facts(recipient.contact),
        type(recipient.status),
        recipient.status,
        type(recipient.response),
        recipient.response,
        recipient.list_name,
        type(recipient.fields),
        dict(recipient.fields),
        type(recipient.sends),
        [_send_facts(s) for s in recipient.sends],
    )


def _checked_contact(contact: Contact) -> Contact:
    """The same values through the checked constructors (converters and validators run)."""
    phone = contact.phone
    return attrs.evolve(
        contact,
        phone=PhoneNumber(
            phone.e164,
            phone.region,
            kind=phone.kind.value,
            verified=phone.verified,
            time_zones=phone.time_zones,
        ),
        consent=contact.consent.value,
    )


def _checked_recipient(recipient: Recipient) -> Recipient:
    return attrs.evolve(
        recipient,
        contact=_checked_contact(recipient.contact),
        status=recipient.status.value,
        response=recipient.response.value,
        fields=dict(recipient.fields),
    )


@st.composite
def _lists(draw: st.DrawFn) -> list[Recipient]:
    """Recipients of ``c1`` with unique ids, some with a per-recipient field."""
    people = draw(
        st.lists(
            sms.recipients(campaign=_CAMPAIGN), min_size=1, max_size=6, unique_by=lambda r: r.id
        )
    )
    link = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/:.", max_size=20)
    return [
        attrs.evolve(r, fields=draw(st.dictionaries(st.just("survey_link"), link, max_size=1)))
        for r in people
    ]


def _stored(people: list[Recipient]) -> SQLiteStorage:
    storage = SQLiteStorage(":memory:")
    storage.add_campaign(_CAMPAIGN)
    storage.add_recipients(people)
    storage.save_sends([s for r in people for s in r.sends])
    return storage


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestTrustedReads:
    """Contacts and recipients read back equal the checked objects that were saved."""

    @_SETTINGS
    @given(_lists())
    def test_recipients_read_back_exactly(self, people: list[Recipient]) -> None:
        storage = _stored(people)
        by_id = storage.get_recipients("c1", [r.id for r in people], with_sends=True)
        streamed = list(storage.iter_recipients("c1"))
        for original, streamed_one in zip(people, streamed, strict=True):
            read = by_id[original.id]
            assert _recipient_facts(read) == _recipient_facts(original)
            assert _recipient_facts(streamed_one) == _recipient_facts(original)
            assert _recipient_facts(read) == _recipient_facts(_checked_recipient(read))
            assert _recipient_facts(storage.get_recipient("c1", original.id)) == (
                _recipient_facts(original)
            )

    @_SETTINGS
    @given(_lists())
    def test_contacts_read_back_exactly(self, people: list[Recipient]) -> None:
        storage = _stored(people)
        for original in people:
            contact = original.contact
            read = storage.get_contact(contact.id, account=contact.account)
            assert _contact_facts(read) == _contact_facts(contact)
            assert _contact_facts(read) == _contact_facts(_checked_contact(read))
        listed = {c.id: c for c in storage.iter_contacts()}
        assert {k: _contact_facts(c) for k, c in listed.items()} == {
            r.id: _contact_facts(r.contact) for r in people
        }

    @_SETTINGS
    @given(_lists())
    def test_without_sends_only_the_sends_are_left_out(self, people: list[Recipient]) -> None:
        storage = _stored(people)
        read = storage.get_recipients("c1", [r.id for r in people])
        for original in people:
            bare = attrs.evolve(original, sends=())
            assert _recipient_facts(read[original.id]) == _recipient_facts(bare)


def _typed(values: tuple[Any, ...]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


class TestRecipientFacts:
    """RecipientFacts read narrow equal the facts of the recipients read whole, types and all."""

    @_SETTINGS
    @given(_lists(), st.lists(st.sampled_from(("active", "inactive", "removed", "unsubscribed"))))
    def test_facts_are_those_of_the_whole_recipients(
        self, people: list[Recipient], statuses: list[str]
    ) -> None:
        for i, status in enumerate(statuses[: len(people)]):
            people[i] = attrs.evolve(people[i], status=status)
        storage = _stored(people)
        ids = [r.id for r in people] + ["nobody"]
        facts = storage.recipient_facts("c1", ids)
        whole = storage.get_recipients("c1", ids)
        assert {i: _typed(f) for i, f in facts.items()} == {
            i: _typed(RecipientFacts.of(r)) for i, r in whole.items()
        }
        assert {i: _typed(f) for i, f in facts.items()} == {
            r.id: _typed(RecipientFacts.of(r)) for r in people
        }

    def test_sqlite_offers_the_capability(self) -> None:
        assert isinstance(SQLiteStorage(":memory:"), RecipientFactsReader)


class TestClaimedDocuments:
    """A claimed send's document is read as _stored_send reads it, attempts or none."""

    @_SETTINGS
    @given(sms.sends(), st.none() | sms.aware_datetimes(), st.booleans())
    def test_claimed_reading_equals_the_stored_reading(
        self, send: Send, due: datetime | None, own_policy: bool
    ) -> None:
        if not send.attempts and send.status is DeliveryStatus.QUEUED:
            # A send deferred to a later moment (the window, the throttle) before any attempt.
            send = attrs.evolve(send, due_at=due)
        if own_policy:
            send = attrs.evolve(send, policy=RetryPolicy(max_retries=1))
        doc = sqlite_adapter._load_doc(sqlite_adapter._send_doc(send))
        claimed = sqlite_adapter._claimed_send(doc)
        stored = sqlite_adapter._stored_send(doc)
        assert _send_facts(claimed) == _send_facts(stored)
        assert (claimed.skip_reasons, claimed.canceled_at, claimed.gave_up_at) == (
            stored.skip_reasons,
            stored.canceled_at,
            stored.gave_up_at,
        )
        assert _send_facts(claimed) == _send_facts(send)


class TestTrustedClaims:
    """Claimed sends equal the queued sends that were saved, with their derived status."""

    @_SETTINGS
    @given(_lists())
    def test_claimed_sends_equal_the_saved_ones(self, people: list[Recipient]) -> None:
        storage = _stored(people)
        storage.save_campaign(_CAMPAIGN.schedule(at=_T0, available_fields={"first_name"}))
        running = storage.get_campaign("c1").start(at=_T0)
        storage.save_campaign(running)
        queued = {s.id: s for r in people for s in r.sends if s.status is DeliveryStatus.QUEUED}
        claimed = storage.claim_due_sends("w1", _T0 + timedelta(days=30), 100)
        due = {
            i: s
            for i, s in queued.items()
            if s.due_at is None or s.due_at <= _T0 + timedelta(days=30)
        }
        assert {s.id: _send_facts(s) for s in claimed} == {
            i: _send_facts(s) for i, s in due.items()
        }
        for send in claimed:
            checked = attrs.evolve(send, attempts=list(send.attempts))
            assert _send_facts(send) == _send_facts(checked)


class TestRowsNotWrittenHere:
    """A row holding a value the adapter never writes fails as the checked constructors fail."""

    def _storage(self, tmp_path: Path) -> tuple[SQLiteStorage, Path]:
        path = tmp_path / "corrupt.db"
        storage = SQLiteStorage(path)
        storage.add_campaign(_CAMPAIGN)
        contact = Contact(id="k1", phone=PhoneNumber.parse("+12127363100"), first_name="Ann")
        storage.add_recipients([Recipient(campaign_id="c1", contact=contact)])
        return storage, path

    @pytest.mark.parametrize(
        ("table", "column", "error"),
        [
            ("contacts", "consent", SmsCampaignError),
            ("recipients", "status", SmsCampaignError),
            ("recipients", "response", SmsCampaignError),
            ("contacts", "kind", InvalidPhoneNumber),
        ],
    )
    def test_an_unknown_value_is_named(
        self, tmp_path: Path, table: str, column: str, error: type[Exception]
    ) -> None:
        storage, path = self._storage(tmp_path)
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE {table} SET {column} = 'bogus'")
        with pytest.raises(error, match="bogus"):
            storage.get_recipients("c1", ["k1"])
        with pytest.raises(error, match="bogus"):
            list(storage.iter_recipients("c1"))
        with pytest.raises(error, match="bogus"):
            storage.recipient_facts("c1", ["k1"])
        storage.close()


# Instants in several zones, with microseconds: the same instant may come twice
# as different objects, in different zones.
_instants = st.builds(
    lambda at, us, zone: (at + timedelta(microseconds=us)).astimezone(ZoneInfo(zone)),
    sms.aware_datetimes(),
    st.integers(0, 999_999),
    st.sampled_from(("UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata")),
)


class TestTimeText:
    """Storage's time text, remembered for the instants it wrote last, is always the instant's."""

    @_SETTINGS
    @given(
        st.lists(_instants, min_size=1, max_size=4),
        st.lists(st.integers(0, 3), max_size=30),
    )
    def test_any_sequence_gives_each_instant_its_text(
        self, moments: list[datetime], picks: list[int]
    ) -> None:
        for pick in picks:
            moment = moments[pick % len(moments)]
            expected = moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
            assert sqlite_adapter._ts(moment) == expected
