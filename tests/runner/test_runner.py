"""CampaignRunner end to end: life, tick, retries, receipts, replies, requeue, suspension.

Every test drives the public API on a virtual clock against the simulated
carrier; nothing patches the runner. Storage-dependent tests run on
InMemoryStorage and SQLiteStorage.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from _runner_harness import (
    MIAMI,
    NEW_YORK,
    PARIS_MOBILE,
    T0,
    UTC,
    WITH_REMINDER,
    RecordingGateway,
    World,
)

from smscampaign._demo import record_import
from smscampaign.domain.campaign import Campaign, CampaignState, TimelineAction
from smscampaign.domain.contact import (
    Consent,
    Contact,
    ContactStatus,
    ResponseStatus,
    Suppression,
    SuppressionCause,
)
from smscampaign.domain.delivery import DeliveryStatus, FailureReason
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import Keyword
from smscampaign.errors import InvalidCampaign, InvalidTransition
from smscampaign.importing import import_recipients
from smscampaign.providers.base import CampaignLocker, Storage
from smscampaign.providers.gateway import OutboundMessage, SendReceipt
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import CarrierRule, Latency, Outcome, SimulatedGateway
from smscampaign.reporting import delivery_stats
from smscampaign.runner import (
    DEFAULT_HELP_TEXT,
    DEFAULT_OPT_OUT_CONFIRMATION,
    CampaignRunner,
    SuspensionThresholds,
    TickReport,
)

# 03:00 in New York on Wednesday 4 March 2026: outside US legal hours (08:00-21:00).
NIGHT = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
# 08:00 in New York the same day: the window opens.
OPENS = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


def numbers(n: int) -> list[str]:
    """``n`` distinct New York numbers."""
    return [f"+1212736{3100 + i:04d}" for i in range(n)]


def actions(world: World, campaign_id: str = "c1") -> list[tuple[TimelineAction, str]]:
    """A campaign's timeline as (action, cause) pairs."""
    return [(e.action, e.cause) for e in world.storage.get_campaign(campaign_id).timeline]


def in_window(world: World, campaign_id: str, recipient_id: str, at: datetime) -> bool:
    """The window oracle: the schedule says ``at`` itself is an allowed moment."""
    campaign = world.storage.get_campaign(campaign_id)
    recipient = world.storage.get_recipient(campaign_id, recipient_id)
    answer = world.runner.schedule_for(campaign).next_send_time(recipient, at, now=at)
    return answer.at == at


class TestCampaignLife:
    """Schedule, start, stop, suspend, resume and complete, each a timeline entry with its cause."""

    def test_a_scheduled_campaign_starts_at_its_start_time(self, world: World) -> None:
        """A SCHEDULED campaign starts on the first tick at or after ``starts_at``."""
        world.campaign(starts_at=T0 + timedelta(hours=1))
        world.step()
        assert world.storage.get_campaign("c1").state is CampaignState.SCHEDULED
        assert world.gateway.calls == []
        world.step(timedelta(hours=1))
        assert world.storage.get_campaign("c1").state is CampaignState.IN_PROGRESS
        assert (TimelineAction.STARTED, "start time reached") in actions(world)
        assert len(world.gateway.campaign_calls()) == 2

    def test_a_campaign_running_without_a_sender_sends_nothing_and_says_why(
        self, make_world: Callable[..., World]
    ) -> None:
        """Scheduling needs a sender; one stored running without it stops dispatch, typed."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(2))
        world.step()  # queued for the morning
        stored = world.storage.get_campaign("c1")
        assert stored.state is CampaignState.IN_PROGRESS
        world.storage.save_campaign(attrs.evolve(stored, sender=""))
        with pytest.raises(InvalidCampaign, match="'c1' is in progress with no sender"):
            world.step(timedelta(hours=12))
        assert world.gateway.calls == []
        assert {s.status for s in world.sends()} == {DeliveryStatus.QUEUED}

    def test_completes_when_everyone_is_reached(self, world: World) -> None:
        """Once every send is final and nothing is due, the campaign completes, saying why."""
        world.campaign()
        report = world.run(timedelta(hours=1))
        assert report.settled
        campaign = world.storage.get_campaign("c1")
        assert campaign.state is CampaignState.COMPLETED
        assert [a for a, _ in actions(world)] == [
            TimelineAction.CREATED,
            TimelineAction.RECIPIENTS_ADDED,
            TimelineAction.SCHEDULED,
            TimelineAction.STARTED,
            TimelineAction.COMPLETED,
        ]
        assert campaign.timeline[-1].cause == "every recipient reached"
        assert {s.status for s in world.sends()} == {DeliveryStatus.DELIVERED}

    def test_stop_cancels_queued_sends(self, make_world: Callable[..., World]) -> None:
        """Stopping a campaign cancels every send not yet out, and nothing goes afterwards."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(3))
        world.step()
        assert {s.status for s in world.sends()} == {DeliveryStatus.QUEUED}
        world.runner.stop("c1", cause="operator pressed stop")
        assert {s.status for s in world.sends()} == {DeliveryStatus.CANCELED}
        assert actions(world)[-1] == (TimelineAction.STOPPED, "operator pressed stop")
        world.run(timedelta(days=2), stop_when_settled=False, max_step=timedelta(hours=1))
        assert world.gateway.calls == []
        with pytest.raises(InvalidTransition):
            world.runner.resume("c1")

    def test_suspend_holds_sends_until_resumed(self, world: World) -> None:
        """Nothing is sent while SUSPENDED; resuming sends what was queued."""
        world.campaign(numbers=numbers(2))
        world.runner.start("c1")
        world.runner.suspend("c1", cause="checking the copy")
        world.step()
        world.step(timedelta(minutes=5))
        assert world.gateway.calls == []
        world.runner.resume("c1", cause="copy approved")
        world.step(timedelta(minutes=1))
        assert len(world.gateway.campaign_calls()) == 2
        assert actions(world)[-2:] == [
            (TimelineAction.SUSPENDED, "checking the copy"),
            (TimelineAction.RESUMED, "copy approved"),
        ]

    def _end_date_world(self, make_world: Callable[..., World]) -> tuple[World, TickReport]:
        """Three recipients at one per hour from 08:00 New York, with the end at 09:00."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(3), throttle="1/h", ends_at=OPENS + timedelta(hours=1))
        world.step()
        world.clock.set(OPENS)
        world.step()
        world.clock.set(OPENS + timedelta(hours=1))
        return world, world.runner.tick()

    def test_the_end_date_completes_and_cancels_the_rest(
        self, make_world: Callable[..., World]
    ) -> None:
        """Seed 002: past the end date the campaign completes and its queued sends are CANCELED."""
        world, report = self._end_date_world(make_world)
        assert report.completed == ["c1"]
        assert report.canceled == 2
        statuses = sorted(s.status.value for s in world.sends())
        assert statuses == ["canceled", "canceled", "delivered"]
        entry = world.storage.get_campaign("c1").timeline[-1]
        assert (entry.action, entry.cause) == (TimelineAction.COMPLETED, "end date passed")
        assert len(world.gateway.calls) == 1

    def test_a_stop_made_during_a_tick_is_not_overwritten(
        self, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A tick holding the campaign as read before an operator's stop never completes it."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(3), throttle="1/h", ends_at=OPENS + timedelta(hours=1))
        world.step()
        world.clock.set(OPENS)
        world.step()
        world.clock.set(OPENS + timedelta(hours=1))
        listed = world.storage.iter_campaigns

        def list_then_stop(**options: Any) -> Iterator[Campaign]:
            campaigns = list(listed(**options))  # the tick has them in hand
            monkeypatch.undo()
            world.runner.stop("c1", cause="operator pressed stop")
            return iter(campaigns)

        monkeypatch.setattr(world.storage, "iter_campaigns", list_then_stop)
        report = world.runner.tick()
        assert report.completed == []
        assert world.storage.get_campaign("c1").state is CampaignState.STOPPED
        assert actions(world)[-1] == (TimelineAction.STOPPED, "operator pressed stop")

    def test_adding_recipients_keeps_what_was_recorded_meanwhile(self, world: World) -> None:
        """The RECIPIENTS_ADDED entry is added to the campaign as stored, not as first read."""
        world.campaign(numbers=numbers(1))

        def arriving() -> Iterator[Contact]:
            # Another caller edits the campaign while the list is being read.
            edited = world.storage.get_campaign("c1").record(
                TimelineAction.EDITED, at=world.clock.now(), cause="copy fixed"
            )
            world.storage.save_campaign(edited)
            yield Contact(id="late", phone=PhoneNumber.parse(numbers(2)[1]), first_name="Lee")

        assert world.runner.add_recipients("c1", arriving(), list_name="late.csv") == 1
        assert [action for action, _ in actions(world)][-2:] == [
            TimelineAction.EDITED,
            TimelineAction.RECIPIENTS_ADDED,
        ]

    def test_the_end_date_entry_says_how_many_were_canceled(
        self, make_world: Callable[..., World]
    ) -> None:
        """The COMPLETED timeline entry for a passed end date names the number of canceled sends."""
        world, _ = self._end_date_world(make_world)
        entry = world.storage.get_campaign("c1").timeline[-1]
        assert "2" in entry.detail

    def test_operator_complete_cancels_queued_sends(self, make_world: Callable[..., World]) -> None:
        """``complete`` by hand also cancels what has not gone out."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(2))
        world.step()
        world.runner.complete("c1", cause="survey closed")
        assert {s.status for s in world.sends()} == {DeliveryStatus.CANCELED}
        assert actions(world)[-1] == (TimelineAction.COMPLETED, "survey closed")


class _HoldingStorage(InMemoryStorage):
    """The in-memory storage, recording each campaign hold and whether a unit was open."""

    def __init__(self) -> None:
        super().__init__()
        self.units = 0
        self.holds: list[tuple[str, bool]] = []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with super().transaction():
            self.units += 1
            try:
                yield
            finally:
                self.units -= 1

    def lock_campaign(self, campaign_id: str) -> None:
        self.holds.append((campaign_id, self.units > 0))

    def suppress(self, suppression: Suppression) -> bool:
        self.holds.append(("suppress", self.units > 0))
        return super().suppress(suppression)


class TestCampaignHolds:
    """Every unit that reads a campaign to change it holds it first, where storage can."""

    def test_changes_of_a_campaign_hold_it_inside_their_unit(self) -> None:
        storage = _HoldingStorage()
        assert isinstance(storage, CampaignLocker)
        world = World(storage)
        world.campaign(numbers=numbers(2))  # added, scheduled
        held = len(storage.holds)
        assert held >= 2
        world.runner.start("c1")
        world.runner.suspend("c1", cause="operator")
        world.runner.resume("c1")
        world.runner.stop("c1", cause="operator")
        assert storage.holds[held:] == [("c1", True)] * 4
        assert all(in_unit for _, in_unit in storage.holds)

    def test_an_import_holds_its_campaign(self, tmp_path: Path) -> None:
        """A CSV import into a campaign and its timeline entry each hold the campaign."""
        storage = _HoldingStorage()
        world = World(storage)
        world.campaign(numbers=[NEW_YORK[0]])
        source = tmp_path / "more.csv"
        source.write_text(f"Phone,First Name\n{NEW_YORK[1]},Ada\n", encoding="utf-8")
        del storage.holds[:]
        summary = import_recipients(source, storage, campaign_id="c1")
        assert summary.imported == 1
        assert storage.holds == [("c1", True)]
        record_import(world.runner, "c1", summary, at=world.clock.now())
        assert storage.holds == [("c1", True)] * 2
        assert storage.get_campaign("c1").timeline[-1].action is TimelineAction.RECIPIENTS_ADDED

    def test_recipient_changes_hold_their_campaigns_first(self) -> None:
        """Responses and replies that change recipients hold each of their campaigns, in order.

        An opt-out holds every campaign the number is a recipient of, in id
        order, before it writes the suppression list; a campaign it is not in
        is not held.
        """
        storage = _HoldingStorage()
        world = World(storage)
        number = NEW_YORK[0]
        for campaign_id in ("c2", "c1"):
            world.campaign(campaign_id, numbers=[number])
        world.campaign("c3", numbers=[NEW_YORK[1]])
        contact_id = storage.get_recipient("c1", "k0").id
        del storage.holds[:]
        world.runner.update_responses("c1", [(contact_id, ResponseStatus.COMPLETE)])
        assert storage.holds == [("c1", True)]
        del storage.holds[:]
        world.reply(number, "STOP")
        assert storage.holds == [("c1", True), ("c2", True), ("suppress", True)]
        assert storage.get_recipient("c1", contact_id).status is ContactStatus.UNSUBSCRIBED
        assert storage.get_recipient("c1", contact_id).response is ResponseStatus.COMPLETE


class TestSendWindows:
    """Sends go only inside each recipient's legal and campaign window."""

    def test_florida_number_not_sent_at_2030_local(self, make_world: Callable[..., World]) -> None:
        """Florida allows 08:00-20:00: a Miami number due at 20:30 EST waits for 08:00."""
        start = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)  # 20:30 EST on Tuesday 3 March
        world = make_world(start=start)
        world.campaign(numbers=[MIAMI, NEW_YORK[0]])
        world.step()
        # New York (US-wide 08:00-21:00) may still be reached at 20:30; Miami may not.
        assert [c.message.to for c in world.gateway.campaign_calls()] == [NEW_YORK[0]]
        world.run(timedelta(days=1))
        miami = world.gateway.campaign_calls(MIAMI)
        assert [c.at for c in miami] == [datetime(2026, 3, 4, 13, 0, tzinfo=UTC)]  # 08:00 EST

    def test_french_number_not_sent_on_sunday(self, make_world: Callable[..., World]) -> None:
        """France forbids Sundays: a Paris mobile due Sunday morning waits for Monday 08:00."""
        sunday = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # 10:00 in Paris
        world = make_world(start=sunday)
        world.campaign(numbers=[PARIS_MOBILE])
        world.step()
        assert world.gateway.calls == []
        world.run(timedelta(days=2))
        (call,) = world.gateway.campaign_calls()
        assert call.at == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # Monday 08:00 CET

    def test_campaign_window_and_legal_hours_both_apply(
        self, make_world: Callable[..., World]
    ) -> None:
        """A campaign window narrower than the law is honoured for every attempt."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(3), send_window="mon-fri 13:00-14:00")
        world.run(timedelta(days=2))
        calls = world.gateway.campaign_calls()
        assert len(calls) == 3
        for call in calls:
            assert call.at.hour == 13  # the campaign's zone is UTC
            assert in_window(world, "c1", call.send_id.split(":")[2], call.at)

    def test_validity_period_ends_at_the_window_close(
        self, make_world: Callable[..., World]
    ) -> None:
        """Each message has an idempotency key per attempt and expires when its window closes."""
        start = datetime(2026, 3, 3, 23, 0, tzinfo=UTC)  # 18:00 in New York, 3 h before 21:00
        world = make_world(start=start)
        world.campaign(numbers=numbers(1))
        world.step()
        (call,) = world.gateway.campaign_calls()
        send = world.send_of("k0")
        assert call.message.idempotency_key == f"{send.id}:1"
        assert call.message.valid_until == datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # 21:00 EST

    def test_validity_period_is_at_most_ten_hours(self, world: World) -> None:
        """With a long window ahead, the validity period stops at the 10 hours providers accept."""
        world.campaign(numbers=numbers(1))
        world.step()
        (call,) = world.gateway.campaign_calls()
        assert call.message.valid_until is not None
        assert call.message.valid_until - call.at <= timedelta(hours=10)


class TestThrottle:
    """The throttle is a sliding window per runner process."""

    def test_no_sliding_minute_holds_more_than_the_limit(self, world: World) -> None:
        """With ``5/min``, no 60-second interval holds more than five sends."""
        world.campaign(numbers=numbers(12), throttle="5/min")
        world.run(timedelta(hours=1))
        times = sorted(c.at for c in world.gateway.campaign_calls())
        assert len(times) == 12
        for first, later in zip(times, times[5:], strict=False):
            assert later - first >= timedelta(minutes=1)


class TestRetries:
    """Temporary failures are retried inside the window with the same send and a new attempt."""

    @pytest.mark.parametrize(
        "outcome",
        [Outcome.UNREACHABLE, Outcome.PROVIDER_ERROR],
        ids=["failure-in-receipt", "failure-at-send"],
    )
    def test_temporary_failure_is_retried_then_soft_bounces(
        self, make_world: Callable[..., World], outcome: Outcome
    ) -> None:
        """Three retries (1 h, 4 h, 16 h) under one send id, each attempt in the window."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(rules=[CarrierRule(number=target, outcome=outcome)])
        world = make_world(gateway=sim)
        world.campaign(numbers=[target])
        world.run(timedelta(days=4))
        send = world.send_of("k0")
        assert send.status is DeliveryStatus.SOFT_BOUNCED
        assert len(send.attempts) == 4
        calls = world.gateway.campaign_calls(target)
        assert [c.message.idempotency_key for c in calls] == [f"{send.id}:{n}" for n in range(1, 5)]
        for call in calls:
            assert in_window(world, "c1", "k0", call.at)
        assert world.storage.get_suppression(target) is None

    def test_a_retry_that_succeeds_delivers(self, make_world: Callable[..., World]) -> None:
        """When the carrier recovers, the retry of the same send is delivered."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=target, outcome=Outcome.CARRIER_ERROR)]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=[target])
        world.step()
        assert world.send_of("k0").awaiting_retry
        sim.rules = ()
        world.run(timedelta(days=1))
        send = world.send_of("k0")
        assert send.status is DeliveryStatus.DELIVERED
        assert [a.status for a in send.attempts] == [
            DeliveryStatus.SOFT_BOUNCED,
            DeliveryStatus.DELIVERED,
        ]
        assert send.attempts[1].queued_at - send.attempts[0].queued_at >= timedelta(hours=1)


class TestHardBounces:
    """Permanent failures hard-bounce; invalid and landline numbers are suppressed everywhere."""

    @pytest.mark.parametrize(
        ("outcome", "reason"),
        [
            (Outcome.LANDLINE, FailureReason.LANDLINE),
            (Outcome.INVALID_NUMBER, FailureReason.INVALID_NUMBER),
        ],
    )
    def test_bad_number_is_suppressed_for_every_campaign(
        self, make_world: Callable[..., World], outcome: Outcome, reason: FailureReason
    ) -> None:
        """Seed 004 "Bad number": the number is suppressed and gets nothing from other campaigns."""
        bad = NEW_YORK[1]
        sim = SimulatedGateway.ideal(rules=[CarrierRule(number=bad, outcome=outcome)])
        world = make_world(gateway=sim)
        world.campaign("c1", numbers=[NEW_YORK[0], bad])
        world.run(timedelta(hours=1))
        send = world.send_of("k1")
        assert send.status is DeliveryStatus.HARD_BOUNCED
        assert send.failure_reason is reason
        entry = world.storage.get_suppression(bad)
        assert entry is not None
        assert entry.cause is SuppressionCause.HARD_BOUNCE
        assert entry.campaign_id == "c1"
        world.campaign("c2", numbers=[bad])
        world.run(timedelta(hours=1))
        assert len(world.gateway.campaign_calls(bad)) == 1
        skipped = world.send_of("k1", campaign_id="c2")
        assert skipped.status is DeliveryStatus.SKIPPED
        assert "suppressed" in skipped.skip_reasons

    def test_carrier_filtering_hard_bounces_without_suppressing(
        self, make_world: Callable[..., World]
    ) -> None:
        """A filtered message is a hard bounce about the message, not about the number."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=target, outcome=Outcome.CARRIER_FILTERED)]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=[target])
        world.run(timedelta(hours=1))
        assert world.send_of("k0").status is DeliveryStatus.HARD_BOUNCED
        assert world.storage.get_suppression(target) is None
        assert len(world.gateway.campaign_calls(target)) == 1


class _RacingGateway(RecordingGateway):
    """Hands the runner every callback due before ``send`` returns, as a fast carrier can."""

    runner: CampaignRunner

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Send, deliver the racing receipts, then return."""
        receipt = super().send(message)
        for request in self.inner.deliver_due(self.clock.now()):
            self.runner.handle_status(request)
        return receipt


class TestReceipts:
    """Receipts go through the convergent merge: late, early, twice or out of order."""

    def test_a_receipt_before_send_returns_is_applied(self, storage: Storage) -> None:
        """A receipt for an id not saved yet is kept, then applied when the id appears."""
        sim = SimulatedGateway.ideal(early_rate=1.0)
        world = World(storage, gateway=sim)
        racing = _RacingGateway(sim, world.clock)
        runner = CampaignRunner(world.storage, racing, world.clock)
        racing.runner = runner
        world.runner = runner
        world.gateway = racing
        world.campaign(numbers=numbers(2))
        runner.tick()
        assert sim.pending == 0  # every receipt was handed over inside send()
        assert {s.status for s in world.sends()} == {DeliveryStatus.DELIVERED}

    @pytest.mark.parametrize(
        "order", list(itertools.permutations(["sent", "delivered", "sent2", "delivered2"]))
    )
    def test_duplicated_and_reordered_receipts_converge(
        self, world: World, order: tuple[str, ...]
    ) -> None:
        """Any order and duplication of the same receipts leaves the send DELIVERED."""
        world.sim.latency = Latency.zero()
        world.campaign(numbers=numbers(1))
        world.runner.tick()
        world.sim.deliver_all()  # drop the carrier's own receipts: the test sends its own
        send = world.send_of("k0")
        message_id = send.attempts[-1].provider_message_id
        requests = {
            "sent": world.sim.status_request(message_id, "sent", occurred_at=T0),
            "delivered": world.sim.status_request(
                message_id, "delivered", occurred_at=T0 + timedelta(seconds=5)
            ),
        }
        for name in order:
            world.runner.handle_status(requests[name.rstrip("2")])
        send = world.send_of("k0")
        assert send.status is DeliveryStatus.DELIVERED
        assert send.attempts[-1].delivered_at == T0 + timedelta(seconds=5)

    def test_unknown_ids_are_kept(self, world: World) -> None:
        """A receipt for an id nobody sent changes nothing and is parked, not dropped."""
        world.campaign(numbers=numbers(1))
        changed = world.runner.handle_status(world.sim.status_request("SMnobody", "delivered"))
        assert changed == []
        assert [e.provider_message_id for e in world.storage.iter_parked_events()] == ["SMnobody"]

    def test_sent_without_receipt_is_reported_not_delivered(
        self, make_world: Callable[..., World]
    ) -> None:
        """Reconciliation: a send still SENT long after its validity is "sent, no receipt"."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(rules=[CarrierRule(number=target, outcome=Outcome.NO_RECEIPT)])
        world = make_world(gateway=sim)
        world.campaign(numbers=[target, NEW_YORK[1]])
        world.run(timedelta(hours=1), stop_when_settled=False)
        assert world.send_of("k0").status is DeliveryStatus.SENT
        assert world.runner.unconfirmed("c1") == []
        later = world.clock.now() + timedelta(hours=73)
        assert [s.recipient_id for s in world.runner.unconfirmed("c1", now=later)] == ["k0"]
        stats = delivery_stats(world.storage, "c1", now=later).total
        assert stats.sent_without_receipt == 1
        assert stats.delivered == 1


class TestReplies:
    """Replies are classified: opt-out, opt-in, HELP, or an ordinary reply that counts."""

    def test_stop_suppresses_in_every_campaign_and_confirms_once(self, world: World) -> None:
        """STOP suppresses the number account-wide before the next send; one confirmation."""
        target = NEW_YORK[0]
        world.campaign("c1", steps=WITH_REMINDER, numbers=[target, NEW_YORK[1]])
        world.run(timedelta(minutes=5), stop_when_settled=False)
        world.campaign("c2", numbers=[target], starts_at=world.clock.now() + timedelta(hours=1))
        world.reply(target, "Stop.")
        world.reply(target, "STOP")  # a second STOP: recorded, no second confirmation
        entry = world.storage.get_suppression(target)
        assert entry is not None
        assert entry.cause is SuppressionCause.STOP_WORD
        for campaign_id in ("c1", "c2"):
            assert (
                world.storage.get_recipient(campaign_id, "k0").status is ContactStatus.UNSUBSCRIBED
            )
        (answer,) = world.gateway.answers(target)
        assert answer.message.body == DEFAULT_OPT_OUT_CONFIRMATION
        world.run(timedelta(days=3))
        assert len(world.gateway.campaign_calls(target)) == 1  # the c1 invite only
        assert world.send_of("k1", "reminder-1").status is DeliveryStatus.DELIVERED
        assert world.send_of("k0", campaign_id="c2").status is DeliveryStatus.SKIPPED

    def test_help_gets_the_help_text(self, make_world: Callable[..., World]) -> None:
        """HELP is answered with the configured text and suppresses nothing."""
        world = make_world(help_text="Acme surveys. Reply STOP to opt out.")
        world.campaign(numbers=numbers(1))
        world.reply(numbers(1)[0], "help")
        (answer,) = world.gateway.answers()
        assert answer.message.body == "Acme surveys. Reply STOP to opt out."
        assert world.storage.get_suppression(numbers(1)[0]) is None
        assert world.replies[-1][1].classification.keyword is Keyword.HELP

    def test_default_help_text(self, world: World) -> None:
        """Without configuration HELP gets DEFAULT_HELP_TEXT."""
        world.campaign(numbers=numbers(1))
        world.reply(numbers(1)[0], "INFO")
        assert [a.message.body for a in world.gateway.answers()] == [DEFAULT_HELP_TEXT]

    def test_start_after_stop_lifts_the_suppression(self, world: World) -> None:
        """The number's own START undoes its STOP: unsuppressed, opted in, active again."""
        target = numbers(1)[0]
        world.campaign(numbers=[target])
        world.run(timedelta(minutes=5), stop_when_settled=False)
        world.reply(target, "STOP")
        world.reply(target, "START")
        assert world.storage.get_suppression(target) is None
        recipient = world.storage.get_recipient("c1", "k0")
        assert recipient.status is ContactStatus.ACTIVE
        assert recipient.contact.consent is Consent.OPTED_IN
        assert world.replies[-1][1].lifted

    def test_start_does_not_lift_a_hard_bounce(self, make_world: Callable[..., World]) -> None:
        """START lifts only a stop-word (or carrier opt-out) suppression, never a hard bounce."""
        bad = NEW_YORK[0]
        sim = SimulatedGateway.ideal(rules=[CarrierRule(number=bad, outcome=Outcome.LANDLINE)])
        world = make_world(gateway=sim)
        world.campaign(numbers=[bad])
        world.run(timedelta(hours=1))
        world.reply(bad, "START")
        entry = world.storage.get_suppression(bad)
        assert entry is not None
        assert entry.cause is SuppressionCause.HARD_BOUNCE
        assert not world.replies[-1][1].lifted

    def test_on_reply_hook_exceptions_are_contained(
        self, make_world: Callable[..., World], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failing host hook is logged; the reply is still recorded and acted on."""

        def broken(_outcome: object) -> None:
            raise RuntimeError("host bug")

        world = make_world(on_reply=broken)
        target = numbers(1)[0]
        world.campaign(numbers=[target])
        with caplog.at_level(logging.ERROR, logger="smscampaign.runner"):
            world.reply(target, "STOP")
        assert world.storage.get_suppression(target) is not None
        assert "on_reply hook failed" in caplog.text
        assert len(list(world.storage.iter_inbound())) == 1

    def test_replies_count_and_outbound_does_not(self, world: World) -> None:
        """Seed 002: ordinary replies are recorded and counted; our own messages are not replies."""
        world.campaign(numbers=numbers(3))
        world.run(timedelta(minutes=5), stop_when_settled=False)
        world.reply(numbers(3)[0], "Who is this?")
        world.reply(numbers(3)[0], "Thanks!")
        world.reply(numbers(3)[1], "HELP")
        stats = delivery_stats(world.storage, "c1", now=world.clock.now()).total
        assert stats.replies == 3
        assert stats.replied == 2
        assert world.replies[0][1].classification.keyword is Keyword.OTHER

    def test_a_duplicated_inbound_webhook_is_handled_once(self, world: World) -> None:
        """The same inbound message twice: the second is a duplicate and answers nothing."""
        target = numbers(1)[0]
        world.campaign(numbers=[target])
        request = world.sim.inbound_request(target, "STOP", message_id="MOdup")
        first = world.runner.handle_inbound(request)
        second = world.runner.handle_inbound(request)
        assert [o.duplicate for o in first + second] == [False, True]
        assert len(world.gateway.answers(target)) == 1


class TestRequeue:
    """Seed 003 "Requeue": resend a step to those it did not reach, through the same rules."""

    def test_requeue_resends_soft_bounced_sends(self, make_world: Callable[..., World]) -> None:
        """A soft-bounced send gets a new send of the step; the campaign re-opens."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=target, outcome=Outcome.UNREACHABLE)]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=[target, NEW_YORK[1]])
        world.run(timedelta(days=4))
        assert world.send_of("k0").status is DeliveryStatus.SOFT_BOUNCED
        assert world.storage.get_campaign("c1").state is CampaignState.COMPLETED
        sim.rules = ()
        assert world.runner.requeue("c1", "invite", cause="operator retry") == 1
        campaign = world.storage.get_campaign("c1")
        assert campaign.state is CampaignState.IN_PROGRESS
        assert campaign.timeline[-1].action is TimelineAction.REQUEUED
        assert campaign.timeline[-1].detail == "1 sends of invite"
        world.run(timedelta(days=1))
        sends = world.storage.get_recipient("c1", "k0").sends_for("invite")
        assert [s.status for s in sends] == [DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.DELIVERED]
        assert len(world.gateway.campaign_calls(NEW_YORK[1])) == 1

    def test_requeue_resends_to_the_unreached(self, make_world: Callable[..., World]) -> None:
        """Sends canceled by an early completion are queued again and go in the next window."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(2))
        world.step()
        world.runner.complete("c1", cause="closed early")
        assert world.runner.requeue("c1", "invite") == 2
        world.run(timedelta(days=1))
        assert len(world.gateway.campaign_calls()) == 2
        for call in world.gateway.campaign_calls():
            assert in_window(world, "c1", call.send_id.split(":")[2], call.at)

    def test_requeue_keeps_eligibility(self, make_world: Callable[..., World]) -> None:
        """A soft-bounced recipient who has since replied STOP is not requeued."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=target, outcome=Outcome.UNREACHABLE)]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=[target])
        world.run(timedelta(days=4))
        world.reply(target, "STOP")
        assert world.runner.requeue("c1", "invite") == 0

    def test_requeue_refuses_a_stopped_campaign(self, make_world: Callable[..., World]) -> None:
        """STOPPED is terminal: requeue raises instead of leaving QUEUED sends behind."""
        world = make_world(start=NIGHT)
        world.campaign(numbers=numbers(2))
        world.step()
        world.runner.stop("c1")
        with pytest.raises(InvalidTransition):
            world.runner.requeue("c1", "invite")


class TestSuspension:
    """The campaign suspends itself when a bounce or opt-out rate passes its threshold."""

    def test_hard_bounce_rate_above_five_percent_suspends(
        self, make_world: Callable[..., World]
    ) -> None:
        """2 landlines in 20 sends (10 % > 5 %) suspend the campaign, naming the rate."""
        batch = numbers(20)
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=n, outcome=Outcome.LANDLINE) for n in batch[:2]]
        )
        world = make_world(gateway=sim, thresholds=SuspensionThresholds(min_sends=20))
        world.campaign(numbers=batch, steps=WITH_REMINDER)
        world.run(timedelta(hours=2))
        campaign = world.storage.get_campaign("c1")
        assert campaign.state is CampaignState.SUSPENDED
        entry = campaign.timeline[-1]
        assert entry.action is TimelineAction.SUSPENDED
        assert entry.cause.startswith("hard-bounce rate 10.0% (2 of 20 sent)")
        assert "5.0%" in entry.cause

    def test_exactly_at_the_threshold_does_not_suspend(
        self, make_world: Callable[..., World]
    ) -> None:
        """Suspension is for rates *above* the threshold: 1 in 20 (5 %) is tolerated."""
        batch = numbers(20)
        sim = SimulatedGateway.ideal(rules=[CarrierRule(number=batch[0], outcome=Outcome.LANDLINE)])
        world = make_world(gateway=sim, thresholds=SuspensionThresholds(min_sends=20))
        world.campaign(numbers=batch)
        world.run(timedelta(hours=2))
        assert world.storage.get_campaign("c1").state is CampaignState.COMPLETED

    def test_below_min_sends_nothing_is_judged(self, make_world: Callable[..., World]) -> None:
        """With fewer sends than ``min_sends`` no rate is judged (default: 100)."""
        batch = numbers(10)
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=n, outcome=Outcome.LANDLINE) for n in batch[:5]]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=batch)
        world.run(timedelta(hours=2))
        assert world.storage.get_campaign("c1").state is CampaignState.COMPLETED

    def test_opt_out_rate_suspends(self, make_world: Callable[..., World]) -> None:
        """STOP replies above the opt-out threshold suspend the campaign before the reminder."""
        batch = numbers(10)
        world = make_world(thresholds=SuspensionThresholds(min_sends=10, opt_out_rate=0.05))
        world.campaign(numbers=batch, steps=WITH_REMINDER)
        world.run(timedelta(minutes=5), stop_when_settled=False)
        world.reply(batch[0], "STOP")
        world.step(timedelta(minutes=2))
        campaign = world.storage.get_campaign("c1")
        assert campaign.state is CampaignState.SUSPENDED
        assert campaign.timeline[-1].cause.startswith("opt-out rate 10.0%")
        world.run(timedelta(days=2), stop_when_settled=False, max_step=timedelta(hours=1))
        assert len(world.gateway.campaign_calls()) == 10  # no reminder while suspended

    def test_soft_bounce_rate_suspends(self, make_world: Callable[..., World]) -> None:
        """Soft bounces above their threshold suspend the campaign too."""
        batch = numbers(10)
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=n, outcome=Outcome.UNREACHABLE) for n in batch[:2]],
        )
        world = make_world(
            gateway=sim,
            thresholds=SuspensionThresholds(min_sends=10, soft_bounce_rate=0.1),
        )
        world.campaign(numbers=batch, steps=WITH_REMINDER)
        world.run(timedelta(days=4))
        campaign = world.storage.get_campaign("c1")
        assert campaign.state is CampaignState.SUSPENDED
        assert campaign.timeline[-1].cause.startswith("soft-bounce rate 20.0%")

    def test_defaults_follow_compliance_section_7(self) -> None:
        """The defaults: 100 sends, 5 % hard bounces, 10 % soft bounces, 2 % opt-outs."""
        assert SuspensionThresholds() == SuspensionThresholds(
            min_sends=100, hard_bounce_rate=0.05, soft_bounce_rate=0.10, opt_out_rate=0.02
        )


class TestReports:
    """What the runner records adds up in delivery_stats."""

    def test_step_counts_add_up_to_the_recipients(self, make_world: Callable[..., World]) -> None:
        """Per step: every status plus pending equals the recipients."""
        batch = numbers(6)
        sim = SimulatedGateway.ideal(
            rules=[
                CarrierRule(number=batch[0], outcome=Outcome.LANDLINE),
                CarrierRule(number=batch[1], outcome=Outcome.NO_RECEIPT),
            ]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=batch, steps=WITH_REMINDER)
        world.run(timedelta(days=3))
        stats = delivery_stats(world.storage, "c1", now=world.clock.now())
        for step in stats.by_step.values():
            assert step.messages + step.pending == step.recipients == 6

    def test_skipped_sends_name_their_reason_and_are_not_charged(self, world: World) -> None:
        """An ineligible recipient gets one SKIPPED send with its reasons and no carrier call."""
        world.campaign(numbers=numbers(2), consent=Consent.PENDING_OPT_IN)
        world.run(timedelta(hours=1))
        assert world.gateway.calls == []
        for send in world.sends():
            assert send.status is DeliveryStatus.SKIPPED
            assert send.skip_reasons == ("not_opted_in",)
        stats = delivery_stats(world.storage, "c1", now=world.clock.now()).total
        assert (stats.skipped, stats.segments) == (2, 0)

    def test_a_blocked_send_is_skipped_once(self, make_world: Callable[..., World]) -> None:
        """A queued send stopped by a STOP at dispatch leaves one SKIPPED send, not two."""
        world = make_world(start=NIGHT)
        target, other = numbers(2)
        world.campaign(numbers=[target, other])
        world.step()  # both invites queued for 08:00 New York
        world.reply(target, "STOP")
        world.clock.set(OPENS)
        world.step()  # the last line of defence skips the invite ('suppressed')
        world.step(timedelta(minutes=2))  # the next evaluation must not skip it again
        sends = world.storage.get_recipient("c1", "k0").sends_for("invite")
        assert [s.status for s in sends] == [DeliveryStatus.SKIPPED]
        stats = delivery_stats(world.storage, "c1", now=world.clock.now()).by_step["invite"]
        assert stats.messages + stats.pending == stats.recipients == 2

    def test_counts_add_up_after_a_requeue(self, make_world: Callable[..., World]) -> None:
        """After a requeue, a step's statuses plus pending still equal its recipients."""
        target = NEW_YORK[0]
        sim = SimulatedGateway.ideal(
            rules=[CarrierRule(number=target, outcome=Outcome.UNREACHABLE)]
        )
        world = make_world(gateway=sim)
        world.campaign(numbers=[target, NEW_YORK[1]])
        world.run(timedelta(days=4))
        sim.rules = ()
        world.runner.requeue("c1", "invite")
        world.run(timedelta(days=1))
        stats = delivery_stats(world.storage, "c1", now=world.clock.now()).by_step["invite"]
        assert stats.messages + stats.pending == stats.recipients == 2


class TestClaimsDuringALongTick:
    """A claim made late in a long tick lasts its whole lease from when it is made."""

    def test_another_worker_cannot_take_a_send_being_sent(
        self, make_world: Callable[..., World]
    ) -> None:
        """Each send takes 40 s of a 60 s lease; the second claim must not have lapsed."""
        world = make_world(batch_size=1, claim_lease=timedelta(seconds=60))
        world.campaign(numbers=numbers(3))
        recording_send = world.gateway.send
        taken_while_sending: dict[str, set[str]] = {}

        def slow_send(message: OutboundMessage) -> SendReceipt:
            world.clock.advance(timedelta(seconds=40))
            sending = message.idempotency_key.rsplit(":", 1)[0]
            if world.gateway.calls:  # from the second send on, another worker tries
                claimed = world.storage.claim_due_sends("intruder", world.clock.now(), 10)
                taken_while_sending[sending] = {s.id for s in claimed}
            return recording_send(message)

        world.gateway.send = slow_send  # type: ignore[method-assign]
        world.step()
        assert taken_while_sending, "the intruder never tried"
        for sending, taken in taken_while_sending.items():
            assert sending not in taken


class _StaleRecipients:
    """A storage whose recipient reads return what was stored at one earlier moment."""

    def __init__(self, storage: Storage, campaign_id: str) -> None:
        self._storage = storage
        self._snapshot = list(storage.iter_recipients(campaign_id))

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Any:
        return iter(self._snapshot)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


class TestEvaluationFromStaleData:
    """A worker queueing from data read before another worker's send never replaces it."""

    def test_a_sent_invite_is_not_queued_again(self, make_world: Callable[..., World]) -> None:
        world = make_world()
        if hasattr(world.storage, "pending_step_ids"):
            pytest.skip("this storage decides in SQL, which reads no stale recipients")
        world.campaign(numbers=numbers(1))
        late = _StaleRecipients(world.storage, "c1")  # read before anything was sent
        world.step()
        (sent,) = world.sends()
        assert sent.status is not DeliveryStatus.QUEUED
        other = CampaignRunner(late, world.gateway, world.clock, worker="other")  # type: ignore[arg-type]
        other.tick()
        assert world.sends() == [sent]
        assert len(world.gateway.campaign_calls()) == 1
