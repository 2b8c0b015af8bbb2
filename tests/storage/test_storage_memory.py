"""The storage contract run against InMemoryStorage, and its undo log and recipient views."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from smscampaign.domain.contact import Recipient, Suppression
from smscampaign.domain.delivery import DeliveryStatus, Send, StatusEvent
from smscampaign.domain.replies import InboundMessage
from smscampaign.providers.base import Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.testing.contracts import T0, StorageContract, make_campaign, make_contact


class TestInMemoryStorageContract(StorageContract):
    """InMemoryStorage meets the storage contract."""

    def make_storage(self, tmp_path: Path) -> Storage:
        """A fresh in-memory storage."""
        return InMemoryStorage()


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


def _populated() -> InMemoryStorage:
    """A storage holding something of every kind, with events applied and parked."""
    storage = InMemoryStorage()
    storage.add_campaign(make_campaign("k").schedule(at=T0).start(at=T0))
    storage.add_recipients(
        Recipient(campaign_id="k", contact=make_contact(n), list_name="a.csv") for n in range(3)
    )
    storage.save_sends([_sent(0, "m0"), _sent(1, "m1")])
    storage.record_events([_delivered("m0"), _delivered("early")])
    storage.suppress(Suppression(e164=make_contact(2).phone.e164, cause="manual", at=T0))
    storage.record_inbound(_inbound("in-0"))
    return storage


def _sent(n: int, message_id: str) -> Send:
    send = Send(
        campaign_id="k",
        recipient_id=f"c{n}",
        step_id="invite",
        to=make_contact(n).phone.e164,
        created_at=T0,
        id=f"s{n}-{message_id}",
    ).start_attempt(at=T0)
    return send.apply(
        StatusEvent(
            provider="simulated", provider_message_id=message_id, status="sending", occurred_at=T0
        )
    )


def _delivered(message_id: str) -> StatusEvent:
    return StatusEvent(
        provider="simulated",
        provider_message_id=message_id,
        status="delivered",
        occurred_at=T0 + timedelta(minutes=1),
    )


def _inbound(message_id: str) -> InboundMessage:
    return InboundMessage(
        provider="simulated",
        provider_message_id=message_id,
        sender=make_contact(1).phone,
        recipient="+12125550199",
        body="STOP",
        received_at=T0,
        raw={},
    )


def _fail_inside(storage: InMemoryStorage, write: Callable[[], object]) -> None:
    """Run ``write`` in a unit of work that then raises Boom."""
    with storage.transaction():
        write()
        raise Boom


def _write_everything(storage: InMemoryStorage) -> None:
    """One call of every write method, each changing something."""
    storage.save_contacts([make_contact(0, phone=make_contact(7).phone), make_contact(9)])
    storage.unsuppress(make_contact(2).phone.e164, at=T0, by="ops")
    storage.suppress(Suppression(e164=make_contact(1).phone.e164, cause="manual", at=T0))
    storage.add_campaign(make_campaign("other"))
    campaign = storage.get_campaign("k")
    storage.save_campaign(campaign.suspend(at=T0, cause="test"))
    storage.add_recipients([Recipient(campaign_id="k", contact=make_contact(5))])
    storage.update_recipients([Recipient(campaign_id="k", contact=make_contact(1), list_name="b")])
    storage.save_sends([_sent(1, "m1b"), _sent(2, "early"), _sent(5, "m5")])
    storage.save_campaign(campaign)
    storage.claim_due_sends("w", T0, 10)
    storage.record_events([_delivered("m5"), _delivered("m0"), _delivered("late")])
    storage.record_inbound(_inbound("in-1"))


class TestUndoLog:
    """A unit of work that fails leaves the in-memory state exactly as it was."""

    def test_rollback_restores_every_container(self) -> None:
        """Every kind of write inside a failed unit of work is undone."""
        storage = _populated()
        before = copy.deepcopy(storage._state)
        seen_inside: list[bool] = []

        def write() -> None:
            _write_everything(storage)
            seen_inside.append(storage._state != before)

        with pytest.raises(Boom):
            _fail_inside(storage, write)
        assert seen_inside == [True]
        assert storage._state == before
        assert storage._log.entries == []

    def test_failed_savepoint_undoes_only_itself(self) -> None:
        """An inner block that raises is undone; the outer block's writes stay."""
        storage = _populated()
        with storage.transaction():
            storage.save_contacts([make_contact(9)])
            after_outer_write = copy.deepcopy(storage._state)
            with pytest.raises(Boom):
                _fail_inside(storage, lambda: _write_everything(storage))
            assert storage._state == after_outer_write
        assert storage.get_contact("c9") == make_contact(9)
        assert storage._log.entries == []

    def test_outer_rollback_undoes_committed_savepoints(self) -> None:
        """A savepoint that succeeded is still undone when its outer block fails."""
        storage = _populated()
        before = copy.deepcopy(storage._state)

        def committed_savepoint() -> None:
            with storage.transaction():
                _write_everything(storage)

        with pytest.raises(Boom):
            _fail_inside(storage, committed_savepoint)
        assert storage._state == before

    def test_writes_outside_a_unit_of_work_log_nothing(self) -> None:
        """Calls made outside any block are their own unit and keep no undo entries."""
        storage = _populated()
        _write_everything(storage)
        assert storage._log.entries == []


class TestRecipientViews:
    """Recipients are built once per change, never copied on every read."""

    def test_unchanged_recipient_is_the_same_object(self) -> None:
        """Reading twice without a change in between returns the very same objects."""
        storage = _populated()
        first = list(storage.iter_recipients("k"))
        assert all(a is b for a, b in zip(first, storage.iter_recipients("k"), strict=True))
        bare = list(storage.iter_recipients("k", with_sends=False))
        assert all(r.sends == () for r in bare)

    def test_reads_follow_every_change_and_rollback(self) -> None:
        """A new send, an event, a contact or a status change shows at once; a rollback too."""
        storage = _populated()
        old = storage.get_recipient("k", "c1")
        storage.record_events([_delivered("m1")])
        assert storage.get_recipient("k", "c1").sends[0].status is DeliveryStatus.DELIVERED
        storage.save_contacts([make_contact(1, first_name="New")])
        assert storage.get_recipient("k", "c1").contact.first_name == "New"
        inside: list[Recipient] = []

        def write() -> None:
            storage.update_recipients(
                [Recipient(campaign_id="k", contact=make_contact(1), list_name="b.csv")]
            )
            storage.save_sends([_sent(1, "m1c")])
            inside.append(storage.get_recipient("k", "c1"))

        with pytest.raises(Boom):
            _fail_inside(storage, write)
        assert inside[0].list_name == "b.csv"
        assert len(inside[0].sends) == 2
        again = storage.get_recipient("k", "c1")
        assert again.list_name == "a.csv"
        assert len(again.sends) == 1
        assert again != old  # the event and the contact change are kept
