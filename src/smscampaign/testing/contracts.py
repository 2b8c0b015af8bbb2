"""The storage contract: what every Storage adapter must do, as tests you can run.

A third-party adapter author subclasses :class:`StorageContract` in a test
module and says how to build a fresh, empty storage::

    from smscampaign.testing.contracts import StorageContract, storage_agreement

    class TestMyStorage(StorageContract):
        def make_storage(self, tmp_path):
            return MyStorage(tmp_path / "db")

    # And the stateful comparison with the in-memory reference:
    TestMyStorageAgrees = storage_agreement(lambda: MyStorage(...)).TestCase

pytest then runs every contract test against the adapter. smscampaign runs
the same classes against ``InMemoryStorage`` and ``SQLiteStorage``. This
module needs pytest and Hypothesis (test-time dependencies); the package
root never imports it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from smscampaign.domain.campaign import Campaign, Step, StepKind
from smscampaign.domain.contact import (
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
    Suppression,
    SuppressionCause,
)
from smscampaign.domain.delivery import (
    DeliveryStatus,
    FailureReason,
    RetryPolicy,
    Send,
    StatusEvent,
)
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import (
    AlreadyExists,
    ConfigurationError,
    NaiveDatetimeError,
    NotFound,
    StorageError,
)
from smscampaign.providers.base import LogCursor, LogFilter, Storage, needs_follow_up
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.testing.gateway_contract import GatewayContract

__all__ = [
    "T0",
    "GatewayContract",
    "StorageContract",
    "make_campaign",
    "make_contact",
    "storage_agreement",
]

T0 = datetime(2025, 6, 25, 13, 0, tzinfo=timezone.utc)
"""The moment the contract's sample data starts at."""


def _number(n: int) -> PhoneNumber:
    # 212-555-01xx: fictional-use numbers libphonenumber considers valid.
    return PhoneNumber.parse(f"+1212555{100 + n % 100:04d}")


def make_contact(n: int, *, account: str = "default", **changes: Any) -> Contact:
    """A sample contact numbered ``n`` (its number repeats every 100)."""
    contact = Contact(
        id=f"c{n}",
        phone=_number(n),
        first_name=f"First{n}",
        last_name="Last",
        email=f"c{n}@example.com",
        fields={"Survey Link": f"https://example.com/s/{n}"},
        consent=Consent.OPTED_IN,
        account=account,
    )
    return attrs.evolve(contact, **changes) if changes else contact


def make_campaign(campaign_id: str = "spring", *, account: str = "default") -> Campaign:
    """A sample campaign (invite, reminder after two days, thank-you), as a draft."""
    return Campaign.create(
        at=T0,
        id=campaign_id,
        name=f"Campaign {campaign_id}",
        steps=(
            Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}: {survey_link}"),
            Step(
                id="reminder-1",
                kind=StepKind.REMINDER,
                body="Reminder: {survey_link}",
                delay=timedelta(days=2),
            ),
            Step(id="thanks", kind=StepKind.THANK_YOU, body="Thank you!"),
        ),
        sender="+12125550199",
        time_zone="America/New_York",
        account=account,
    )


def _started(campaign: Campaign) -> Campaign:
    return campaign.schedule(at=T0).start(at=T0)


def _recipient(campaign_id: str, n: int, **changes: Any) -> Recipient:
    return Recipient(campaign_id=campaign_id, contact=make_contact(n), **changes)


def _send(campaign_id: str, n: int, step: str = "invite", **changes: Any) -> Send:
    return Send(
        campaign_id=campaign_id,
        recipient_id=f"c{n}",
        step_id=step,
        to=_number(n).e164,
        created_at=T0 + timedelta(seconds=n),
        body="Hi",
        id=f"{campaign_id}-{step}-{n}",
        **changes,
    )


def _sent(send: Send, message_id: str, at: datetime = T0) -> Send:
    """The send with an attempt the provider accepted under ``message_id``."""
    started = send.start_attempt(at=at)
    return started.apply(
        StatusEvent(
            provider="simulated",
            provider_message_id=message_id,
            status=DeliveryStatus.SENDING,
            occurred_at=at,
        )
    )


def _event(message_id: str, status: DeliveryStatus, minutes: int = 1, **fields: Any) -> StatusEvent:
    return StatusEvent(
        provider="simulated",
        provider_message_id=message_id,
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        **fields,
    )


class StorageContract:
    """The behaviour every Storage adapter must have.

    Subclass it in a ``Test...`` class and override :meth:`make_storage`.
    Every test gets a fresh, empty storage.
    """

    def make_storage(self, tmp_path: Path) -> Storage:
        """Build a fresh, empty storage (override this)."""
        raise NotImplementedError("override make_storage() to build your adapter")

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        """A fresh storage from :meth:`make_storage`, closed afterwards if it can be."""
        storage = self.make_storage(tmp_path)
        yield storage
        close = getattr(storage, "close", None)
        if callable(close):
            close()

    @pytest.fixture
    def campaign(self, storage: Storage) -> Campaign:
        """A started sample campaign with three recipients (c0, c1, c2)."""
        campaign = _started(make_campaign())
        storage.add_campaign(campaign)
        storage.add_recipients(_recipient(campaign.id, n, list_name="list.csv") for n in range(3))
        return campaign

    # -- protocol --------------------------------------------------------------

    def test_is_a_storage(self, storage: Storage) -> None:
        """The adapter satisfies the Storage protocol."""
        assert isinstance(storage, Storage)

    # -- unit of work ----------------------------------------------------------

    def test_transaction_commits_together(self, storage: Storage) -> None:
        """Everything inside a unit of work is there after it ends."""
        with storage.transaction():
            storage.save_contacts([make_contact(1)])
            storage.add_campaign(make_campaign())
        assert storage.get_contact("c1") == make_contact(1)
        assert storage.get_campaign("spring") == make_campaign()

    def test_transaction_rolls_back_everything(self, storage: Storage) -> None:
        """An exception inside a unit of work undoes all of it."""

        def fail() -> None:
            with storage.transaction():
                storage.save_contacts([make_contact(1)])
                storage.add_campaign(make_campaign())
                storage.suppress(Suppression(e164=_number(1).e164, cause="manual", at=T0))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail()
        with pytest.raises(NotFound):
            storage.get_contact("c1")
        with pytest.raises(NotFound):
            storage.get_campaign("spring")
        assert storage.get_suppression(_number(1).e164) is None

    def test_nested_transaction_is_a_savepoint(self, storage: Storage) -> None:
        """A failing inner block undoes only itself; the outer block still commits."""
        with storage.transaction():
            storage.save_contacts([make_contact(1)])

            def inner() -> None:
                with storage.transaction():
                    storage.save_contacts([make_contact(2)])
                    raise RuntimeError("inner")

            with pytest.raises(RuntimeError):
                inner()
            storage.save_contacts([make_contact(3)])
        assert storage.get_contact("c1").id == "c1"
        assert storage.get_contact("c3").id == "c3"
        with pytest.raises(NotFound):
            storage.get_contact("c2")

    def test_failing_bulk_call_writes_nothing(self, storage: Storage, campaign: Campaign) -> None:
        """A bulk call that fails part-way leaves no partial writes."""
        good = _send(campaign.id, 0)
        orphan = _send(campaign.id, 99)  # c99 is not a recipient
        with pytest.raises(StorageError):
            storage.save_sends([good, orphan])
        assert list(storage.iter_sends(campaign.id)) == []

    # -- contacts --------------------------------------------------------------

    def test_contacts_round_trip(self, storage: Storage) -> None:
        """A saved contact comes back equal, with every field."""
        contact = make_contact(7, time_zone="America/Chicago", consent=Consent.OPTED_OUT)
        storage.save_contacts([contact])
        got = storage.get_contact("c7")
        assert got == contact
        assert got.phone.kind == contact.phone.kind
        assert got.phone.time_zones == contact.phone.time_zones
        assert got.fields == contact.fields

    def test_save_contacts_replaces(self, storage: Storage) -> None:
        """Saving a contact with the same id replaces it."""
        storage.save_contacts([make_contact(1)])
        storage.save_contacts([make_contact(1, first_name="New")])
        assert storage.get_contact("c1").first_name == "New"

    def test_find_contacts_by_number(self, storage: Storage) -> None:
        """Contacts are found by E.164; a shared number gives the first saved contact."""
        storage.save_contacts([make_contact(1), make_contact(101), make_contact(2)])
        found = storage.find_contacts([_number(1).e164, _number(2).e164, "+12125550999"])
        assert found[_number(1).e164].id == "c1"
        assert found[_number(2).e164].id == "c2"
        assert "+12125550999" not in found

    def test_contacts_are_scoped_by_account(self, storage: Storage) -> None:
        """The same id in two accounts is two contacts."""
        storage.save_contacts([make_contact(1), make_contact(1, account="other", first_name="O")])
        assert storage.get_contact("c1").first_name == "First1"
        assert storage.get_contact("c1", account="other").first_name == "O"
        assert storage.find_contacts([_number(1).e164], account="nobody") == {}

    def test_missing_contact_raises_not_found(self, storage: Storage) -> None:
        """An unknown contact id raises NotFound (a LookupError)."""
        with pytest.raises(NotFound):
            storage.get_contact("nobody")
        with pytest.raises(LookupError):
            storage.get_contact("nobody")

    # -- suppression list ------------------------------------------------------

    def test_suppression_add_contains_iterate(self, storage: Storage) -> None:
        """A suppressed number is found and listed; adding it twice keeps the first entry."""
        entry = Suppression(
            e164=_number(1).e164, cause=SuppressionCause.STOP_WORD, at=T0, detail="STOP"
        )
        assert storage.suppress(entry) is True
        assert storage.suppress(attrs.evolve(entry, cause=SuppressionCause.MANUAL)) is False
        assert storage.get_suppression(_number(1).e164) == entry
        assert list(storage.iter_suppressions()) == [entry]

    def test_suppression_is_scoped_by_account(self, storage: Storage) -> None:
        """A stop word in one account never leaks into another."""
        storage.suppress(Suppression(e164=_number(1).e164, cause="stop_word", at=T0, account="a"))
        assert storage.get_suppression(_number(1).e164, account="a") is not None
        assert storage.get_suppression(_number(1).e164, account="b") is None
        assert storage.get_suppression(_number(1).e164) is None
        assert list(storage.iter_suppressions(account="b")) == []

    def test_unsuppress_is_logged(self, storage: Storage) -> None:
        """Removing a suppression is a logged act; removing an absent one does nothing."""
        entry = Suppression(e164=_number(1).e164, cause="manual", at=T0, by="ops")
        storage.suppress(entry)
        later = T0 + timedelta(days=1)
        removal = storage.unsuppress(_number(1).e164, at=later, by="alice", reason="typo")
        assert removal is not None
        assert removal.suppression == entry
        assert storage.get_suppression(_number(1).e164) is None
        assert storage.unsuppress(_number(1).e164, at=later, by="alice") is None
        assert list(storage.iter_suppression_removals()) == [removal]
        assert list(storage.iter_suppression_removals(account="other")) == []

    # -- campaigns -------------------------------------------------------------

    def test_campaign_round_trip_with_timeline(self, storage: Storage) -> None:
        """A campaign comes back equal, with its options and timeline."""
        campaign = make_campaign().with_options(
            accept_sent_as_received=True, retry=RetryPolicy(max_retries=1)
        )
        storage.add_campaign(campaign)
        started = _started(campaign).suspend(at=T0 + timedelta(hours=1), cause="bounces")
        storage.save_campaign(started)
        got = storage.get_campaign(campaign.id)
        assert got == started
        assert [t.action.value for t in got.timeline] == [
            "created",
            "scheduled",
            "started",
            "suspended",
        ]

    def test_campaign_errors(self, storage: Storage) -> None:
        """A campaign added twice raises AlreadyExists; an unknown one raises NotFound."""
        storage.add_campaign(make_campaign())
        with pytest.raises(AlreadyExists):
            storage.add_campaign(make_campaign())
        with pytest.raises(NotFound):
            storage.save_campaign(make_campaign("other"))
        with pytest.raises(NotFound):
            storage.get_campaign("other")

    def test_iter_campaigns_by_account(self, storage: Storage) -> None:
        """Campaigns are listed by id, per account or all."""
        storage.add_campaign(make_campaign("b"))
        storage.add_campaign(make_campaign("a", account="x"))
        assert [c.id for c in storage.iter_campaigns()] == ["a", "b"]
        assert [c.id for c in storage.iter_campaigns(account="x")] == ["a"]

    # -- recipients ------------------------------------------------------------

    def test_recipients_round_trip(self, storage: Storage, campaign: Campaign) -> None:
        """Recipients come back in order, with contact, status, response, list and fields."""
        extra = _recipient(
            campaign.id,
            5,
            status=ContactStatus.INACTIVE,
            response=ResponseStatus.PARTIAL,
            list_name="b.csv",
            fields={"Link": "x"},
        )
        assert storage.add_recipients([extra]) == 1
        got = list(storage.iter_recipients(campaign.id))
        assert [r.id for r in got] == ["c0", "c1", "c2", "c5"]
        assert got[-1] == extra
        assert storage.get_recipient(campaign.id, "c5") == extra

    def test_get_recipients_in_bulk(self, storage: Storage, campaign: Campaign) -> None:
        """Several recipients come back by id; unknown ids are left out, repeats fold."""
        got = storage.get_recipients(campaign.id, ["c2", "c0", "nope", "c2"])
        assert set(got) == {"c0", "c2"}
        assert got["c2"] == storage.get_recipient(campaign.id, "c2")
        assert storage.get_recipients("no-such-campaign", ["c0"]) == {}

    def test_add_recipients_is_idempotent(self, storage: Storage, campaign: Campaign) -> None:
        """Adding a recipient again changes nothing and is not counted."""
        again = _recipient(campaign.id, 0, status=ContactStatus.REMOVED)
        assert storage.add_recipients([again]) == 0
        assert storage.get_recipient(campaign.id, "c0").status is ContactStatus.ACTIVE

    def test_add_recipients_keeps_existing_contact(
        self, storage: Storage, campaign: Campaign
    ) -> None:
        """Adding a recipient whose contact exists does not overwrite the contact."""
        storage.save_contacts([make_contact(0, consent=Consent.OPTED_OUT)])
        storage.add_campaign(make_campaign("other"))
        storage.add_recipients([_recipient("other", 0)])
        assert storage.get_recipient("other", "c0").contact.consent is Consent.OPTED_OUT

    def test_add_recipients_to_unknown_campaign(self, storage: Storage) -> None:
        """Recipients of a campaign that is not stored raise NotFound."""
        with pytest.raises(NotFound):
            storage.add_recipients([_recipient("nope", 1)])

    def test_update_recipients(self, storage: Storage, campaign: Campaign) -> None:
        """Status and response changes are saved; an unknown recipient raises NotFound."""
        r = storage.get_recipient(campaign.id, "c1")
        storage.update_recipients([r.with_response(ResponseStatus.COMPLETE)])
        assert storage.get_recipient(campaign.id, "c1").response is ResponseStatus.COMPLETE
        with pytest.raises(NotFound):
            storage.update_recipients([_recipient(campaign.id, 50)])

    def test_iter_recipients_streams_past_a_page(self, storage: Storage) -> None:
        """More recipients than a page come back complete and in order, with their sends."""
        campaign = make_campaign("big")
        storage.add_campaign(campaign)
        storage.add_recipients(_recipient("big", n) for n in range(1234))
        storage.save_sends([_send("big", 1200)])
        got = list(storage.iter_recipients("big"))
        assert [r.id for r in got] == [f"c{n}" for n in range(1234)]
        assert [s.id for s in got[1200].sends] == ["big-invite-1200"]
        assert list(storage.iter_recipients("big", with_sends=False))[1200].sends == ()

    # -- sends -----------------------------------------------------------------

    def test_sends_round_trip(self, storage: Storage, campaign: Campaign) -> None:
        """A send with attempts, evidence and price comes back equal."""
        send = _sent(_send(campaign.id, 0), "m0")
        send = send.apply(
            _event(
                "m0", DeliveryStatus.DELIVERED, segments=2, price=Decimal("0.0075"), raw={"a": 1}
            )
        )
        skipped = Send.skipped(
            campaign_id=campaign.id,
            recipient_id="c1",
            step_id="invite",
            to=_number(1).e164,
            at=T0,
            reasons=["suppressed", "not_opted_in"],
            id="skip-1",
        )
        storage.save_sends([send, skipped])
        got = storage.get_send(send.id)
        assert got == send
        assert got.attempts[0].evidence == send.attempts[0].evidence
        assert got.attempts[0].price == Decimal("0.0075")
        assert storage.get_send("skip-1") == skipped
        assert storage.get_recipient(campaign.id, "c0").sends == (send,)

    def test_save_new_only_leaves_stored_sends_alone(
        self, storage: Storage, campaign: Campaign
    ) -> None:
        """``new_only`` inserts the unknown ids and never replaces a stored send."""
        sent = _sent(_send(campaign.id, 0), "m0")
        storage.save_sends([sent])
        stale = _send(campaign.id, 0)  # the same id, queued again from stale data
        fresh = _send(campaign.id, 1)
        saved = storage.save_sends([stale, fresh], new_only=True)
        assert saved == [fresh]
        assert storage.get_send(sent.id) == sent
        assert storage.get_send(fresh.id) == fresh
        assert storage.find_send("simulated", "m0") == sent
        assert storage.save_sends([fresh], new_only=True) == []

    def test_find_send_by_message_id(self, storage: Storage, campaign: Campaign) -> None:
        """A send is found by its attempt's provider message id."""
        send = _sent(_send(campaign.id, 0), "m0")
        storage.save_sends([send])
        assert storage.find_send("simulated", "m0") == send
        assert storage.find_send("simulated", "unknown") is None
        with pytest.raises(NotFound):
            storage.get_send("unknown")

    def test_iter_sends_filters(self, storage: Storage, campaign: Campaign) -> None:
        """Sends are listed per campaign, step and recipient, oldest first."""
        sends = [_send(campaign.id, 0), _send(campaign.id, 1), _send(campaign.id, 0, "thanks")]
        storage.save_sends(sends)
        assert list(storage.iter_sends(campaign.id)) == sends
        assert list(storage.iter_sends(campaign.id, step_id="thanks")) == [sends[2]]
        assert list(storage.iter_sends(campaign.id, recipient_id="c0")) == [sends[0], sends[2]]

    def test_claim_due_sends(self, storage: Storage, campaign: Campaign) -> None:
        """Only due, queued sends of running campaigns are claimed, each once per lease."""
        due = _send(campaign.id, 0)
        later = _send(campaign.id, 1, due_at=T0 + timedelta(hours=1))
        sent = _sent(_send(campaign.id, 2), "m2")
        storage.save_sends([due, later, sent])
        now = T0 + timedelta(minutes=1)
        assert storage.claim_due_sends("w1", now, 10) == [due]
        assert storage.claim_due_sends("w2", now, 10) == []
        expired = now + timedelta(minutes=10)
        assert storage.claim_due_sends("w2", expired, 10, lease=timedelta(minutes=1)) == [due]
        storage.save_sends([due])  # saving releases the claim
        assert storage.claim_due_sends("w3", expired, 10) == [due]

    def test_claim_skips_campaigns_not_running(self, storage: Storage, campaign: Campaign) -> None:
        """Sends of a suspended campaign are not due."""
        storage.save_sends([_send(campaign.id, 0)])
        storage.save_campaign(campaign.suspend(at=T0, cause="test"))
        assert storage.claim_due_sends("w", T0 + timedelta(hours=1), 10) == []

    def test_claim_is_exclusive_across_threads(self, storage: Storage, campaign: Campaign) -> None:
        """Concurrent workers never get the same send."""
        storage.add_recipients(_recipient(campaign.id, n) for n in range(3, 60))
        storage.save_sends([_send(campaign.id, n) for n in range(60)])
        now = T0 + timedelta(hours=1)
        claimed: list[list[str]] = [[] for _ in range(4)]
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                while batch := storage.claim_due_sends(f"w{index}", now, 3):
                    claimed[index].extend(s.id for s in batch)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        every = [s for batch in claimed for s in batch]
        assert sorted(every) == sorted(f"{campaign.id}-invite-{n}" for n in range(60))

    # -- events ----------------------------------------------------------------

    def test_events_apply_once(self, storage: Storage, campaign: Campaign) -> None:
        """The same event twice is stored once and applied once."""
        storage.save_sends([_sent(_send(campaign.id, 0), "m0")])
        delivered = _event("m0", DeliveryStatus.DELIVERED)
        outcome = storage.record_events([delivered, delivered])
        assert (outcome.stored, outcome.duplicates, outcome.parked) == (1, 1, 0)
        assert [s.status for s in outcome.sends] == [DeliveryStatus.DELIVERED]
        again = storage.record_events([delivered])
        assert (again.stored, again.duplicates, again.sends) == (0, 1, ())
        assert list(storage.iter_events()) == [delivered]
        assert storage.get_send(f"{campaign.id}-invite-0").status is DeliveryStatus.DELIVERED

    def test_outcome_names_changes_and_carries_follow_up(
        self, storage: Storage, campaign: Campaign
    ) -> None:
        """An outcome names every send changed, and carries whole those needing follow-up."""
        storage.save_sends([_sent(_send(campaign.id, n), f"m{n}") for n in range(3)])
        bounced = StatusEvent.failure(
            provider="simulated",
            provider_message_id="m1",
            occurred_at=T0 + timedelta(minutes=1),
            reason=FailureReason.INVALID_NUMBER,
        )
        soft = StatusEvent.failure(
            provider="simulated",
            provider_message_id="m2",
            occurred_at=T0 + timedelta(minutes=1),
            reason=FailureReason.UNREACHABLE,
        )
        outcome = storage.record_events([_event("m0", DeliveryStatus.DELIVERED), bounced, soft])
        ids = tuple(f"{campaign.id}-invite-{n}" for n in range(3))
        assert outcome.send_ids == ids
        assert [s.id for s in outcome.sends] == list(ids)
        assert outcome.sends == tuple(storage.get_send(i) for i in ids)
        assert outcome.follow_up == outcome.sends[1:]
        assert outcome.follow_up[0].status is DeliveryStatus.HARD_BOUNCED
        assert outcome.follow_up[1].awaiting_retry
        assert all(needs_follow_up(s) for s in outcome.follow_up)
        # A later receipt that settles a send takes it out of follow-up.
        later = storage.record_events([_event("m2", DeliveryStatus.DELIVERED, 5)])
        assert (later.send_ids, later.follow_up) == ((ids[2],), ())

    def test_events_converge_in_any_order(self, storage: Storage, campaign: Campaign) -> None:
        """A late SENT after DELIVERED does not regress the send."""
        storage.save_sends([_sent(_send(campaign.id, 0), "m0")])
        storage.record_events([_event("m0", DeliveryStatus.DELIVERED, 5)])
        storage.record_events([_event("m0", DeliveryStatus.SENT, 2)])
        send = storage.get_send(f"{campaign.id}-invite-0")
        assert send.status is DeliveryStatus.DELIVERED
        assert send.sent_on == T0 + timedelta(minutes=2)

    def test_early_receipt_is_parked_then_applied(
        self, storage: Storage, campaign: Campaign
    ) -> None:
        """A receipt for an id not recorded yet is kept and applied when the id appears."""
        failed = StatusEvent.failure(
            provider="simulated",
            provider_message_id="m0",
            occurred_at=T0 + timedelta(minutes=1),
            reason=FailureReason.INVALID_NUMBER,
            provider_code="30003",
        )
        outcome = storage.record_events([failed])
        assert (outcome.stored, outcome.parked, outcome.sends) == (1, 1, ())
        assert list(storage.iter_parked_events()) == [failed]
        [saved] = storage.save_sends([_sent(_send(campaign.id, 0), "m0")])
        assert saved.status is DeliveryStatus.HARD_BOUNCED
        assert storage.get_send(saved.id) == saved
        assert list(storage.iter_parked_events()) == []
        assert list(storage.iter_events(provider_message_id="m0")) == [failed]

    def test_event_log_keeps_raw_payload(self, storage: Storage) -> None:
        """Raw payloads and unmapped statuses are kept in the log."""
        raw: dict[str, Any] = {"MessageStatus": "weird", "nested": {"a": [1, 2]}}
        odd = StatusEvent(
            provider="simulated",
            provider_message_id="mx",
            status=None,
            occurred_at=T0,
            provider_status="weird",
            raw=raw,
        )
        storage.record_events([odd])
        [got] = storage.iter_events(provider="simulated")
        assert got == odd
        assert dict(got.raw) == raw

    # -- inbound ---------------------------------------------------------------

    def test_inbound_stored_once(self, storage: Storage) -> None:
        """A reply delivered twice is stored once; replies are listed per account."""
        message = InboundMessage(
            provider="simulated",
            provider_message_id="in1",
            sender=_number(1),
            recipient="+12125550199",
            body="STOP",
            received_at=T0,
            raw={"Body": "STOP"},
            account="a",
        )
        assert storage.record_inbound(message) is True
        assert storage.record_inbound(message) is False
        [got] = storage.iter_inbound(account="a")
        assert (got.body, got.sender, got.account, dict(got.raw)) == (
            "STOP",
            _number(1),
            "a",
            {"Body": "STOP"},
        )
        assert list(storage.iter_inbound(account="b")) == []

    # -- aggregates ------------------------------------------------------------

    def test_counts(self, storage: Storage, campaign: Campaign) -> None:
        """Sends and recipients are counted per step, status, reason and list."""
        storage.save_sends(
            [
                _sent(_send(campaign.id, 0), "m0"),
                _sent(_send(campaign.id, 1), "m1"),
                _send(campaign.id, 2),
            ]
        )
        storage.record_events(
            [
                _event("m0", DeliveryStatus.DELIVERED),
                StatusEvent.failure(
                    provider="simulated",
                    provider_message_id="m1",
                    occurred_at=T0,
                    reason=FailureReason.LANDLINE,
                ),
            ]
        )
        assert storage.count_sends(campaign.id) == {
            ("invite", "delivered"): 1,
            ("invite", "hard_bounced"): 1,
            ("invite", "queued"): 1,
        }
        assert storage.count_sends(campaign.id, by=["status", "reason", "list"]) == {
            ("delivered", "", "list.csv"): 1,
            ("hard_bounced", "landline", "list.csv"): 1,
            ("queued", "", "list.csv"): 1,
        }
        assert storage.count_sends(campaign.id, by=()) == {(): 3}
        assert storage.count_recipients(campaign.id, by=("status", "list")) == {
            ("active", "list.csv"): 3
        }
        assert storage.count_sends("nothing") == {}

    def test_receipts_under_part_ids_find_their_send(
        self, storage: Storage, campaign: Campaign
    ) -> None:
        """A receipt named by any part's id reaches its send, parked or not."""
        early = _event("m0-b", DeliveryStatus.DELIVERED)
        assert storage.record_events([early]).parked == 1
        send = _sent(_send(campaign.id, 0), "m0").with_part_ids(["m0", "m0-b"])
        stored = storage.save_sends([send])[0]
        assert storage.find_send("simulated", "m0-b") == stored
        outcome = storage.record_events([_event("m0", DeliveryStatus.DELIVERED)])
        assert outcome.parked == 0
        assert storage.get_send(send.id).status is DeliveryStatus.DELIVERED

    def test_counts_take_each_recipients_latest_send_of_a_step(
        self, storage: Storage, campaign: Campaign
    ) -> None:
        """A second send of a step to one recipient replaces the first in the counts."""
        first = _send(campaign.id, 0).cancel(at=T0)
        again = attrs.evolve(_send(campaign.id, 0), id=f"{campaign.id}-invite-0-again")
        storage.save_sends([first, _send(campaign.id, 1)])
        storage.save_sends([again])
        assert storage.count_sends(campaign.id, by=("step", "status")) == {("invite", "queued"): 2}
        storage.save_sends([first])  # saving the older send again does not make it latest
        assert storage.count_sends(campaign.id, by=()) == {(): 2}

    def test_counts_reject_unknown_groups(self, storage: Storage, campaign: Campaign) -> None:
        """Grouping by an unknown field raises a ValueError."""
        with pytest.raises(ValueError, match="cannot group by"):
            storage.count_sends(campaign.id, by=["phone"])
        with pytest.raises(ValueError, match="cannot group by"):
            storage.count_recipients(campaign.id, by=["step"])

    # -- account views ---------------------------------------------------------

    def _two_campaigns(self, storage: Storage) -> list[Send]:
        """Campaigns a and b (default account) and x (account "other"), with sends saved."""
        sends: list[Send] = []
        for campaign_id, account in (("a", "default"), ("b", "default"), ("x", "other")):
            storage.add_campaign(_started(make_campaign(campaign_id, account=account)))
            storage.add_recipients(_recipient(campaign_id, n) for n in range(4))
            for n in range(4):
                sends.append(_send(campaign_id, n))
                thanks = _send(campaign_id, n, "thanks")
                sends.append(attrs.evolve(thanks, created_at=T0 + timedelta(seconds=2)))
        storage.save_sends(sends)
        return sends

    def test_sms_log_is_the_accounts_messages_in_log_order(self, storage: Storage) -> None:
        """Every campaign of the account, ordered by (created_at, id); other accounts apart."""
        sends = self._two_campaigns(storage)
        ordered = sorted(sends, key=lambda s: (s.created_at, s.id))
        assert list(storage.iter_sms_log()) == [s for s in ordered if s.campaign_id != "x"]
        assert list(storage.iter_sms_log(account="other")) == [
            s for s in ordered if s.campaign_id == "x"
        ]
        assert list(storage.iter_sms_log(account="nobody")) == []
        assert list(storage.iter_sms_log(LogFilter(campaign_id="x"))) == []

    def test_sms_log_filters(self, storage: Storage) -> None:
        """Period (half-open), campaign, step, status, number and contact each narrow the log."""
        sends = self._two_campaigns(storage)
        mine = sorted(
            (s for s in sends if s.campaign_id != "x"), key=lambda s: (s.created_at, s.id)
        )
        storage.record_events([])  # a no-op batch changes nothing
        delivered = _sent(_send("a", 1), "ma1")
        storage.save_sends([delivered])
        storage.record_events([_event("ma1", DeliveryStatus.DELIVERED)])
        mine = [storage.get_send(s.id) for s in mine]

        def ids(where: LogFilter) -> list[str]:
            return [s.id for s in storage.iter_sms_log(where)]

        at2 = T0 + timedelta(seconds=2)
        assert ids(LogFilter(since=at2)) == [s.id for s in mine if s.created_at >= at2]
        assert ids(LogFilter(until=at2)) == [s.id for s in mine if s.created_at < at2]
        assert ids(LogFilter(since=T0, until=T0 + timedelta(seconds=1))) == [
            "a-invite-0",
            "b-invite-0",
        ]
        assert ids(LogFilter(campaign_id="b")) == [s.id for s in mine if s.campaign_id == "b"]
        assert ids(LogFilter(step_id="thanks")) == [s.id for s in mine if s.step_id == "thanks"]
        assert ids(LogFilter(statuses=["delivered"])) == ["a-invite-1"]
        assert ids(
            LogFilter(statuses=[DeliveryStatus.QUEUED], campaign_id="a", step_id="invite")
        ) == [
            "a-invite-0",
            "a-invite-2",
            "a-invite-3",
        ]
        assert ids(LogFilter(to=_number(2).e164)) == [
            "a-invite-2",  # created at the same instant: by id
            "a-thanks-2",
            "b-invite-2",
            "b-thanks-2",
        ]
        assert ids(LogFilter(contact_id="c3", campaign_id="a")) == ["a-thanks-3", "a-invite-3"]
        assert ids(LogFilter(to=_number(3).e164, contact_id="c2")) == []

    def test_sms_log_pages_join_up(self, storage: Storage) -> None:
        """Pages read with a cursor, across a storage page, concatenate to the whole log."""
        storage.add_campaign(_started(make_campaign("big")))
        storage.add_campaign(_started(make_campaign("small")))
        storage.add_recipients(_recipient("big", n) for n in range(620))
        storage.add_recipients(_recipient("small", n) for n in range(30))
        storage.save_sends(_send("big", n) for n in range(620))
        storage.save_sends(_send("small", n) for n in range(30))
        whole = list(storage.iter_sms_log())
        assert len(whole) == 650
        pages: list[Send] = []
        cursor: LogCursor | None = None
        while page := list(storage.iter_sms_log(after=cursor, limit=97)):
            assert len(page) <= 97
            pages += page
            cursor = LogCursor.after(page[-1])
        assert pages == whole
        assert list(storage.iter_sms_log(limit=0)) == []
        assert list(storage.iter_sms_log(after=LogCursor.after(whole[-1]))) == []
        with pytest.raises(ConfigurationError):
            list(storage.iter_sms_log(limit=-1))

    def test_replies_in_time_order(self, storage: Storage) -> None:
        """Replies come by received_at, then arrival; by sender and period; per account."""

        def reply(
            message_id: str, n: int, minutes: int, account: str = "default"
        ) -> InboundMessage:
            return InboundMessage(
                provider="simulated",
                provider_message_id=message_id,
                sender=_number(n),
                recipient="+12125550199",
                body=message_id,
                received_at=T0 + timedelta(minutes=minutes),
                raw={},
                account=account,
            )

        for message in (
            reply("late", 1, 9),
            reply("early", 2, 1),
            reply("tie-1", 1, 5),
            reply("tie-2", 2, 5),
            reply("elsewhere", 1, 0, account="other"),
        ):
            storage.record_inbound(message)

        def bodies(**query: Any) -> list[str]:
            return [m.body for m in storage.iter_replies(**query)]

        assert bodies() == ["early", "tie-1", "tie-2", "late"]
        assert bodies(sender=_number(1).e164) == ["tie-1", "late"]
        assert bodies(since=T0 + timedelta(minutes=5)) == ["tie-1", "tie-2", "late"]
        assert bodies(until=T0 + timedelta(minutes=5)) == ["early"]
        assert bodies(account="other") == ["elsewhere"]
        assert [m.sender for m in storage.iter_replies(account="other")] == [_number(1)]
        with pytest.raises(NaiveDatetimeError):
            list(storage.iter_replies(since=datetime(2025, 1, 1)))
        with pytest.raises(ConfigurationError):
            list(storage.iter_replies(since=T0, until=T0))

    def test_iter_contacts_by_id_consent_and_number(self, storage: Storage) -> None:
        """Contacts come by id, per account, of one consent or number, in pages."""
        pending = [make_contact(n, consent=Consent.PENDING_OPT_IN) for n in range(0, 600, 3)]
        others = [make_contact(n) for n in range(600) if n % 3]
        storage.save_contacts([*others, *pending, make_contact(5, account="other")])
        every = sorted([*others, *pending], key=lambda c: c.id)
        assert list(storage.iter_contacts()) == every
        assert list(storage.iter_contacts(consent=Consent.PENDING_OPT_IN)) == sorted(
            pending, key=lambda c: c.id
        )
        assert (
            list(storage.iter_contacts(e164=_number(7).e164, limit=3))
            == [c for c in every if c.phone == _number(7)][:3]
        )
        assert list(storage.iter_contacts(after="c598")) == [c for c in every if c.id > "c598"]
        assert list(storage.iter_contacts(account="other")) == [make_contact(5, account="other")]
        assert list(storage.iter_contacts(limit=0)) == []
        with pytest.raises(ConfigurationError):
            list(storage.iter_contacts(limit=-2))

    def test_count_contacts_by_consent(self, storage: Storage) -> None:
        """Contacts are counted per consent, per account, where they are stored."""
        storage.save_contacts(
            [
                make_contact(1),
                make_contact(2, consent=Consent.OPTED_OUT),
                make_contact(3, consent=Consent.PENDING_OPT_IN),
                make_contact(4, consent=Consent.PENDING_OPT_IN),
                make_contact(5, account="other"),
            ]
        )
        assert storage.count_contacts() == {
            ("opted_in",): 1,
            ("opted_out",): 1,
            ("pending_opt_in",): 2,
        }
        assert storage.count_contacts(by=()) == {(): 4}
        assert storage.count_contacts(account="nobody") == {}
        with pytest.raises(ValueError, match="cannot group by"):
            storage.count_contacts(by=["phone"])


# --- stateful agreement with the reference ------------------------------------------


def storage_agreement(
    factory: Callable[[], Storage], *, max_examples: int = 25, steps: int = 30
) -> type[RuleBasedStateMachine]:
    """A state machine that drives an adapter and the in-memory reference alike.

    Every rule runs the same call on both storages and checks they answer the
    same; invariants compare everything observable. Use its ``TestCase``::

        TestAgrees = storage_agreement(lambda: MyStorage(...)).TestCase

    Args:
        factory: Builds a fresh, empty adapter (called once per example).
        max_examples: Hypothesis examples to run.
        steps: Rules per example, at most.

    Returns:
        A :class:`hypothesis.stateful.RuleBasedStateMachine` subclass.
    """

    class StorageAgreement(RuleBasedStateMachine):
        """The adapter under test answers as the in-memory reference does."""

        message_ids = Bundle("message_ids")

        def __init__(self) -> None:
            super().__init__()
            self.reference: Storage = InMemoryStorage()
            self.adapter = factory()
            self.clock = 0
            for storage in self.both:
                storage.add_campaign(_started(make_campaign("k")))
            self.sends: dict[str, Send] = {}
            self.members: set[int] = set()

        @property
        def both(self) -> tuple[Storage, Storage]:
            return (self.reference, self.adapter)

        def same(self, call: Callable[[Storage], Any]) -> Any:
            expected = _outcome(call, self.reference)
            got = _outcome(call, self.adapter)
            assert got == expected, f"adapter gave {got!r}, reference {expected!r}"
            if isinstance(expected, _ErrorKind):
                return None
            return expected

        def teardown(self) -> None:
            close = getattr(self.adapter, "close", None)
            if callable(close):
                close()

        @rule(n=st.integers(0, 12), account=st.sampled_from(["default", "other"]))
        def save_contact(self, n: int, account: str) -> None:
            self.same(lambda s: s.save_contacts([make_contact(n, account=account)]))

        @rule(n=st.integers(0, 12), lst=st.sampled_from(["a.csv", "b.csv"]))
        def add_recipient(self, n: int, lst: str) -> None:
            self.members.add(n)
            self.same(lambda s: s.add_recipients([_recipient("k", n, list_name=lst)]))

        @rule(
            n=st.integers(0, 12),
            response=st.sampled_from(ResponseStatus),
            status=st.sampled_from(ContactStatus),
        )
        def update_recipient(self, n: int, response: ResponseStatus, status: ContactStatus) -> None:
            recipient = _recipient("k", n, response=response, status=status)
            self.same(lambda s: s.update_recipients([recipient]))

        @rule(target=message_ids, n=st.integers(0, 12), step=st.sampled_from(["invite", "thanks"]))
        def save_send(self, n: int, step: str) -> str:
            self.clock += 1
            message_id = f"m{n}-{step}-{self.clock}"
            send = _sent(_send("k", n, step), message_id, T0 + timedelta(seconds=self.clock))
            if self.same(lambda s: s.save_sends([send])) is not None:
                self.sends[send.id] = send
            return message_id

        @rule(n=st.integers(0, 12), due=st.integers(-5, 5))
        def save_queued_send(self, n: int, due: int) -> None:
            send = _send("k", n, "invite", due_at=T0 + timedelta(minutes=due))
            self.same(lambda s: s.save_sends([send]))

        @rule(
            message_id=st.one_of(message_ids, st.just("early-1"), st.just("early-2")),
            status=st.sampled_from(
                [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SOFT_BOUNCED]
            ),
            minute=st.integers(0, 3),
            copies=st.integers(1, 2),
        )
        def record_event(
            self, message_id: str, status: DeliveryStatus, minute: int, copies: int
        ) -> None:
            extra: dict[str, Any] = {}
            if status is DeliveryStatus.SOFT_BOUNCED:
                extra["reason"] = FailureReason.UNREACHABLE
            event = _event(message_id, status, minute, **extra)
            self.same(lambda s: _outcome_summary(s.record_events([event] * copies)))

        @rule(n=st.integers(0, 12))
        def adopt_early_id(self, n: int) -> None:
            self.clock += 1
            send = _sent(_send("k", n, "invite"), f"early-{1 + n % 2}", T0)
            self.same(lambda s: s.save_sends([send]))

        @rule(minute=st.integers(0, 10), limit=st.integers(0, 4), worker=st.sampled_from("ab"))
        def claim(self, minute: int, limit: int, worker: str) -> None:
            now = T0 + timedelta(minutes=minute)
            self.same(lambda s: [x.id for x in s.claim_due_sends(worker, now, limit)])

        @rule(n=st.integers(0, 12), account=st.sampled_from(["default", "other"]))
        def suppress(self, n: int, account: str) -> None:
            entry = Suppression(e164=_number(n).e164, cause="stop_word", at=T0, account=account)
            self.same(lambda s: s.suppress(entry))

        @rule(n=st.integers(0, 12))
        def unsuppress(self, n: int) -> None:
            self.same(lambda s: s.unsuppress(_number(n).e164, at=T0, by="ops"))

        @rule(action=st.sampled_from(["suspend", "resume", "stop"]))
        def change_campaign(self, action: str) -> None:
            campaign = self.reference.get_campaign("k")
            try:
                changed = getattr(campaign, action)(at=T0, cause="test")
            except Exception:
                return
            self.same(lambda s: s.save_campaign(changed))

        @rule(n=st.integers(0, 12), consent=st.sampled_from(Consent))
        def change_consent(self, n: int, consent: Consent) -> None:
            self.same(lambda s: s.save_contacts([make_contact(n, consent=consent)]))

        @rule(
            n=st.integers(0, 12),
            minute=st.integers(0, 5),
            account=st.sampled_from(["default", "other"]),
        )
        def record_reply(self, n: int, minute: int, account: str) -> None:
            self.clock += 1
            message = InboundMessage(
                provider="simulated",
                provider_message_id=f"in-{self.clock}",
                sender=_number(n),
                recipient="+12125550199",
                body=f"reply {self.clock}",
                received_at=T0 + timedelta(minutes=minute),
                raw={},
                account=account,
            )
            self.same(lambda s: s.record_inbound(message))

        @rule(n=st.integers(0, 12))
        def failed_unit_of_work(self, n: int) -> None:
            def fail(s: Storage) -> None:
                with s.transaction():
                    s.save_contacts([make_contact(n, first_name="Ghost")])
                    s.suppress(Suppression(e164=_number(n).e164, cause="manual", at=T0))
                    raise _Rollback

            self.same(fail)

        @precondition(lambda self: bool(self.members))
        @invariant()
        def recipients_agree(self) -> None:
            self.same(lambda s: list(s.iter_recipients("k")))

        @invariant()
        def everything_else_agrees(self) -> None:
            self.same(lambda s: list(s.iter_suppressions()))
            self.same(lambda s: list(s.iter_suppressions(account="other")))
            self.same(lambda s: list(s.iter_suppression_removals()))
            self.same(lambda s: list(s.iter_events()))
            self.same(lambda s: list(s.iter_parked_events()))
            self.same(lambda s: list(s.iter_sends("k")))
            self.same(lambda s: s.get_campaign("k"))
            self.same(lambda s: s.count_sends("k", by=["step", "status", "reason", "list"]))
            self.same(lambda s: s.count_recipients("k", by=["status", "response", "list"]))
            numbers = [_number(n).e164 for n in range(13)]
            self.same(lambda s: s.find_contacts(numbers))
            self.same(lambda s: s.find_contacts(numbers, account="other"))

        @invariant()
        def account_views_agree(self) -> None:
            self.same(lambda s: list(s.iter_sms_log()))
            self.same(lambda s: _log_in_pages(s, 3))
            queued = LogFilter(statuses=[DeliveryStatus.QUEUED, DeliveryStatus.DELIVERED])
            self.same(lambda s: list(s.iter_sms_log(queued)))
            self.same(lambda s: list(s.iter_sms_log(LogFilter(to=_number(1).e164))))
            self.same(lambda s: list(s.iter_sms_log(LogFilter(contact_id="c2", step_id="invite"))))
            self.same(lambda s: list(s.iter_sms_log(account="other")))
            for account in ("default", "other"):
                self.same(functools.partial(_account_view, account=account))
            sender = _number(3).e164
            self.same(lambda s: [_reply_fields(m) for m in s.iter_replies(sender=sender)])
            self.same(lambda s: list(s.iter_contacts(consent=Consent.OPTED_OUT, limit=2)))

    StorageAgreement.TestCase.settings = settings(
        max_examples=max_examples, stateful_step_count=steps, deadline=None
    )
    return StorageAgreement


class _Rollback(Exception):
    """Raised inside a unit of work to test that it rolls back."""


def _outcome(call: Callable[[Storage], Any], storage: Storage) -> Any:
    try:
        return call(storage)
    except Exception as exc:
        return _ErrorKind(type(exc))


@attrs.frozen
class _ErrorKind:
    """The class of an error, compared by class alone across adapters."""

    kind: type[BaseException]


def _log_in_pages(storage: Storage, size: int) -> list[Send]:
    """The whole SMS log read ``size`` messages at a time through cursors."""
    found: list[Send] = []
    cursor: LogCursor | None = None
    while page := list(storage.iter_sms_log(after=cursor, limit=size)):
        found += page
        cursor = LogCursor.after(page[-1])
    return found


def _account_view(storage: Storage, *, account: str) -> tuple[Any, ...]:
    """An account's replies, contacts and consent counts, comparable across adapters."""
    return (
        [_reply_fields(m) for m in storage.iter_replies(account=account)],
        list(storage.iter_contacts(account=account)),
        storage.count_contacts(account=account),
    )


def _reply_fields(message: InboundMessage) -> tuple[Any, ...]:
    # InboundMessage compares by provider and id only; the views must agree on everything.
    return (
        message.provider,
        message.provider_message_id,
        message.sender,
        message.body,
        message.received_at,
        message.account,
    )


def _outcome_summary(outcome: Any) -> tuple[Any, ...]:
    return (
        outcome.stored,
        outcome.duplicates,
        outcome.parked,
        outcome.send_ids,
        outcome.follow_up,
        outcome.sends,
    )
