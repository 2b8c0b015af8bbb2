"""Tests for delivery statistics (smscampaign.reporting): counts, rates, views and outputs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign.domain.campaign import Campaign, CampaignState, Step, StepKind
from smscampaign.domain.contact import Consent, Contact, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Send, StatusEvent
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import ConfigurationError, NaiveDatetimeError, NotFound
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.reporting import (
    COUNTS,
    GLADLY_STATE_WORDS,
    RATE_BASES,
    VOCABULARIES,
    CampaignStats,
    DeliveryStats,
    Progress,
    Rate,
    ViewRow,
    delivery_stats,
    get_vocabulary,
    render_table,
    stats_to_csv_rows,
    stats_to_dict,
    view,
)
from smscampaign.testing.strategies import campaigns, recipients

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=4)
STEPS = (
    Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, take our survey"),
    Step(id="reminder-1", kind=StepKind.REMINDER, body="Reminder", delay=timedelta(days=2)),
    Step(id="thank-you", kind=StepKind.THANK_YOU, body="Thank you!"),
)


def number(index: int) -> str:
    return f"+1212555{index:04d}"


def phone(index: int) -> PhoneNumber:
    return PhoneNumber.parse(number(index), lenient=True)


def new_send(rid: str, step_id: str = "invite") -> Send:
    index = int(rid[1:])
    return Send(
        campaign_id="c1",
        recipient_id=rid,
        step_id=step_id,
        to=number(index),
        created_at=T0 - timedelta(minutes=5),
        body=f"Hi R{index}, take our survey",
        id=f"{step_id}:{rid}",
    )


def went_out(
    send: Send,
    status: DeliveryStatus,
    at: datetime,
    *,
    reason: FailureReason | None = None,
    segments: int | None = None,
) -> Send:
    """Take a send through one real attempt to ``status``."""
    pid = f"SM-{send.id}"
    send = send.start_attempt(at=at)
    send = send.apply(
        StatusEvent(
            provider="simulated",
            provider_message_id=pid,
            status="sending",
            occurred_at=at,
            segments=segments,
        )
    )
    if status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED):
        send = send.apply(
            StatusEvent(
                provider="simulated",
                provider_message_id=pid,
                status="sent",
                occurred_at=at + timedelta(minutes=1),
            )
        )
    if status is DeliveryStatus.DELIVERED:
        send = send.apply(
            StatusEvent(
                provider="simulated",
                provider_message_id=pid,
                status="delivered",
                occurred_at=at + timedelta(minutes=2),
            )
        )
    if status in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED):
        assert reason is not None
        send = send.apply(
            StatusEvent.failure(
                provider="simulated",
                provider_message_id=pid,
                occurred_at=at + timedelta(minutes=1),
                reason=reason,
            )
        )
        if send.awaiting_retry:
            send = send.give_up(at=at + timedelta(hours=1))
    assert send.status is status
    return send


def reply(index: int, body: str, at: datetime, key: str) -> InboundMessage:
    return InboundMessage(
        provider="simulated",
        provider_message_id=key,
        sender=phone(index),
        recipient="+15005550006",
        body=body,
        received_at=at,
        raw={},
    )


def build_storage() -> InMemoryStorage:
    """Eleven recipients in two lists, with sends in every status and four replies.

    Invite: r1-r3 delivered, r4 sent 4 days ago, r5 sent an hour ago, r6 hard
    bounced (invalid number), r7 soft bounced (unreachable, retries given up),
    r8 skipped (suppressed), r9 queued, r10 nothing yet, r11 skipped
    (duplicate number): 7 went out of 11 (seed 002's "7/11").
    Reminder: r1 delivered, r2 sending, r3 canceled.
    """
    storage = InMemoryStorage()
    campaign = Campaign.create(
        at=T0 - timedelta(days=2), id="c1", name="Spring survey", steps=STEPS, sender="ACME"
    )
    campaign = campaign.schedule(at=T0 - timedelta(days=1)).start(at=T0)
    storage.add_campaign(campaign)
    responses = {1: ResponseStatus.COMPLETE, 2: ResponseStatus.PARTIAL, 3: ResponseStatus.COMPLETE}
    members = [
        Recipient(
            campaign_id="c1",
            contact=Contact(
                id=f"r{i}", phone=phone(i), first_name=f"R{i}", consent=Consent.OPTED_IN
            ),
            list_name="spring.csv" if i <= 8 else "late.csv",
            response=responses.get(i, ResponseStatus.NOT_STARTED),
            status=ContactStatus.UNSUBSCRIBED if i == 2 else ContactStatus.ACTIVE,
        )
        for i in range(1, 12)
    ]
    storage.add_recipients(members)
    skipped = {
        8: "suppressed",
        11: "duplicate_number",
    }
    sends = [
        went_out(new_send("r1"), DeliveryStatus.DELIVERED, T0, segments=2),
        went_out(new_send("r2"), DeliveryStatus.DELIVERED, T0),
        went_out(new_send("r3"), DeliveryStatus.DELIVERED, T0),
        went_out(new_send("r4"), DeliveryStatus.SENT, T0),
        went_out(new_send("r5"), DeliveryStatus.SENT, NOW - timedelta(hours=1)),
        went_out(
            new_send("r6"), DeliveryStatus.HARD_BOUNCED, T0, reason=FailureReason.INVALID_NUMBER
        ),
        went_out(new_send("r7"), DeliveryStatus.SOFT_BOUNCED, T0, reason=FailureReason.UNREACHABLE),
        new_send("r9"),
        *(
            Send.skipped(
                campaign_id="c1",
                recipient_id=f"r{i}",
                step_id="invite",
                to=number(i),
                at=T0,
                reasons=[reason, "not_opted_in"],
                id=f"invite:r{i}",
            )
            for i, reason in skipped.items()
        ),
        went_out(new_send("r1", "reminder-1"), DeliveryStatus.DELIVERED, T0 + timedelta(days=2)),
        went_out(new_send("r2", "reminder-1"), DeliveryStatus.SENDING, T0 + timedelta(days=2)),
        new_send("r3", "reminder-1").cancel(at=T0 + timedelta(days=2)),
    ]
    storage.save_sends(sends)
    for message in (
        reply(1, "Thanks!", T0 + timedelta(hours=1), "in-1"),
        reply(1, "See you", T0 + timedelta(days=2, hours=1), "in-2"),
        reply(2, "STOP", T0 + timedelta(hours=3), "in-3"),
        reply(4, "Yes", T0 + timedelta(hours=5), "in-4"),
        reply(99, "Who is this?", T0 + timedelta(hours=1), "in-5"),  # not a recipient
        reply(10, "Hello?", T0 + timedelta(hours=1), "in-6"),  # never sent to
        reply(3, "Early", T0 - timedelta(hours=1), "in-7"),  # before any message
    ):
        storage.record_inbound(message)
    return storage


@pytest.fixture
def stats() -> CampaignStats:
    """The statistics of the fixture campaign at NOW, at 0.0079 per segment."""
    return delivery_stats(build_storage(), "c1", now=NOW, price_per_segment=Decimal("0.0079"))


STATUS_FIELDS = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "soft_bounced",
    "hard_bounced",
    "skipped",
    "canceled",
)


class TestTotals:
    """The campaign total counts every send of every step and every recipient."""

    def test_every_count(self, stats: CampaignStats) -> None:
        """Each count of the total is what the fixture built."""
        total = stats.total
        assert (total.scope, total.name) == ("total", "")
        assert {name: total.count(name) for name in COUNTS} == {
            "recipients": 11,
            "pending": 1,
            "queued": 1,
            "sending": 1,
            "sent": 2,
            "delivered": 4,
            "soft_bounced": 1,
            "hard_bounced": 1,
            "skipped": 2,
            "canceled": 1,
            "sent_without_receipt": 1,
            "replied": 3,
            "replies": 4,
            "opted_out": 1,
            "completed": 2,
        }
        assert (total.messages, total.went_out) == (13, 9)

    def test_reasons(self, stats: CampaignStats) -> None:
        """Skips count under their first reason, bounces under their failure reason."""
        total = stats.total
        assert dict(total.skipped_by_reason) == {"duplicate_number": 1, "suppressed": 1}
        assert dict(total.hard_bounced_by_reason) == {"invalid_number": 1}
        assert dict(total.soft_bounced_by_reason) == {"unreachable": 1}
        assert total.bounced_by_reason == {"invalid_number": 1, "unreachable": 1}

    def test_progress_is_seed_002s_seven_of_eleven(self, stats: CampaignStats) -> None:
        """Seven of eleven invites left us: the progress reads 7/11."""
        assert stats.progress == Progress(7, 11) == (7, 11)
        assert stats.progress.text == "7/11"
        assert stats.progress.rate == Rate(7, 11, "recipients")

    def test_segments_and_cost(self, stats: CampaignStats) -> None:
        """Billed segments count as reported, others are counted on the body."""
        # Invite: r1 billed 2, r2-r7 one each; reminder: r1 and r2 one each.
        assert stats.total.segments == 10
        assert stats.total.cost == Decimal("0.0790")
        assert stats.by_step["invite"].segments == 8

    def test_cost_is_none_without_a_price(self) -> None:
        """Without a price per segment there is no cost."""
        result = delivery_stats(build_storage(), "c1", now=NOW)
        assert result.total.cost is None
        assert result.price_per_segment is None

    def test_campaign_fields_and_timeline(self, stats: CampaignStats) -> None:
        """The campaign's id, name, state and whole timeline come along."""
        assert (stats.campaign_id, stats.campaign_name) == ("c1", "Spring survey")
        assert stats.state is CampaignState.IN_PROGRESS
        assert [e.action.value for e in stats.timeline] == ["created", "scheduled", "started"]
        assert stats.computed_at == NOW


class TestRates:
    """Each count has a rate over a documented base."""

    def test_bases(self, stats: CampaignStats) -> None:
        """Every rate names its base and uses that base's size."""
        total = stats.total
        assert total.rate("delivered") == Rate(4, 9, "went_out")
        assert total.rate("skipped") == Rate(2, 13, "messages")
        assert total.rate("pending") == Rate(1, 11, "recipients")
        assert total.rate("replied") == Rate(3, 4, "delivered")
        assert total.rate("opted_out") == Rate(1, 4, "delivered")
        assert total.rate("completed") == Rate(2, 11, "recipients")
        assert total.rate("replies") is None
        assert set(total.rates) == set(RATE_BASES)

    def test_went_out_rates_add_up_to_one(self, stats: CampaignStats) -> None:
        """Sending, sent, delivered, soft and hard bounce rates make 100 %."""
        names = ("sending", "sent", "delivered", "soft_bounced", "hard_bounced")
        values = [stats.total.rates[name].value for name in names]
        assert sum(v for v in values if v is not None) == pytest.approx(1.0)

    def test_message_rates_add_up_to_one(self, stats: CampaignStats) -> None:
        """Queued, skipped and canceled plus the went-out share make 100 %."""
        total = stats.total
        shares = [total.rates[name].count for name in ("queued", "skipped", "canceled")]
        assert sum(shares) + total.went_out == total.messages

    def test_rate_text(self) -> None:
        """A rate prints as a percentage, and a zero base as a dash."""
        assert Rate(4, 9, "went_out").percent == "44.4%"
        assert str(Rate(0, 0, "delivered")) == "-"
        assert Rate(0, 0, "delivered").value is None

    def test_skip_reason_rates(self, stats: CampaignStats) -> None:
        """Each skip reason is a share of the messages."""
        assert stats.total.skipped_rates["suppressed"] == Rate(1, 13, "messages")

    def test_unknown_names_raise(self, stats: CampaignStats) -> None:
        """Asking for a count or base that does not exist raises ConfigurationError."""
        with pytest.raises(ConfigurationError):
            stats.total.rate("bogus")
        with pytest.raises(ConfigurationError):
            stats.total.base("bogus")


class TestSteps:
    """Each step has its own slice, in the campaign's step order."""

    def test_order(self, stats: CampaignStats) -> None:
        """Steps come in the campaign's order, including steps with no sends."""
        assert list(stats.by_step) == ["invite", "reminder-1", "thank-you"]

    def test_invite(self, stats: CampaignStats) -> None:
        """The invite slice counts the invites and the replies to them."""
        invite = stats.by_step["invite"]
        assert (invite.recipients, invite.pending, invite.messages) == (11, 1, 10)
        assert (invite.delivered, invite.sent, invite.queued, invite.skipped) == (3, 2, 1, 2)
        assert (invite.replied, invite.replies, invite.opted_out) == (3, 3, 1)
        assert invite.sent_without_receipt == 1
        assert invite.progress.text == "7/11"

    def test_reminder(self, stats: CampaignStats) -> None:
        """The reminder slice has its own pending, statuses, replies and progress."""
        reminder = stats.by_step["reminder-1"]
        assert reminder.pending == 8
        assert (reminder.delivered, reminder.sending, reminder.canceled) == (1, 1, 1)
        assert (reminder.replied, reminder.replies, reminder.opted_out) == (1, 1, 0)
        assert reminder.progress.text == "2/11"
        assert reminder.completed == stats.total.completed

    def test_untouched_step(self, stats: CampaignStats) -> None:
        """A step nobody got yet is all pending."""
        thanks = stats.by_step["thank-you"]
        assert (thanks.pending, thanks.messages, thanks.progress.text) == (11, 0, "0/11")


class TestLists:
    """Each recipient list (seed 003 metrics by list) has its own slice."""

    def test_lists(self, stats: CampaignStats) -> None:
        """Lists are by name, with their recipients, progress and counts."""
        assert list(stats.by_list) == ["late.csv", "spring.csv"]
        spring, late = stats.by_list["spring.csv"], stats.by_list["late.csv"]
        assert (spring.recipients, spring.pending, spring.progress.text) == (8, 0, "7/8")
        assert (late.recipients, late.pending, late.progress.text) == (3, 1, "0/3")
        assert (late.queued, late.skipped, late.completed) == (1, 1, 0)
        assert (spring.replied, spring.opted_out, spring.completed) == (3, 1, 2)


class TestCountsAddUp:
    """Every send and every recipient is counted exactly once per cut."""

    def test_statuses_sum_to_sends(self, stats: CampaignStats) -> None:
        """The status counts of the total add up to the sends in storage."""
        sends = list(build_storage().iter_sends("c1"))
        assert sum(stats.total.count(f) for f in STATUS_FIELDS) == len(sends)

    def test_steps_and_lists_sum_to_total(self, stats: CampaignStats) -> None:
        """Summing the steps, or the lists, gives the total of every status count."""
        for field in (*STATUS_FIELDS, "sent_without_receipt", "segments", "replies"):
            expected = getattr(stats.total, field)
            assert sum(getattr(s, field) for s in stats.by_step.values()) == expected
            assert sum(getattr(s, field) for s in stats.by_list.values()) == expected
        assert sum(s.recipients for s in stats.by_list.values()) == stats.total.recipients

    def test_invite_accounts_for_every_recipient(self, stats: CampaignStats) -> None:
        """Pending plus the invite's sends is every recipient."""
        invite = stats.by_step["invite"]
        assert invite.pending + invite.messages == invite.recipients


class TestRepliesAndReceipts:
    """Replies are attributed to the last message that went out before them."""

    def test_no_receipt_threshold(self) -> None:
        """A longer wait makes the old SENT send not yet count; zero counts both."""
        storage = build_storage()
        assert (
            delivery_stats(
                storage, "c1", now=NOW, no_receipt_after=timedelta(days=5)
            ).total.sent_without_receipt
            == 0
        )
        assert (
            delivery_stats(
                storage, "c1", now=NOW, no_receipt_after=timedelta(0)
            ).total.sent_without_receipt
            == 2
        )

    def test_outside_replies_do_not_count(self, stats: CampaignStats) -> None:
        """Replies from strangers, before any message, or to no message are ignored."""
        assert stats.total.replies == 4

    def test_opt_out_counts_once(self) -> None:
        """A second stop word from the same recipient does not count twice."""
        storage = build_storage()
        storage.record_inbound(reply(2, "stop", T0 + timedelta(days=3), "in-8"))
        result = delivery_stats(storage, "c1", now=NOW)
        assert result.total.opted_out == 1
        assert result.by_step["reminder-1"].opted_out == 0
        assert result.by_step["reminder-1"].replied == 2

    def test_streams_are_bounded(self) -> None:
        """Recipients are read without sends, and sends are streamed once."""
        storage = RecordingStorage()
        storage.__dict__.update(build_storage().__dict__)
        delivery_stats(storage, "c1", now=NOW)
        assert storage.calls == [
            ("count_sends", ("step", "list", "status", "reason")),
            ("count_recipients", ("list", "response")),
            ("iter_recipients", False),
            ("iter_sends", None),
        ]


class RecordingStorage(InMemoryStorage):
    """An in-memory storage that notes which queries it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, object]] = []

    def count_sends(
        self, campaign_id: str, *, by: Sequence[str] = ("step", "status")
    ) -> dict[tuple[str, ...], int]:
        self.calls.append(("count_sends", tuple(by)))
        return super().count_sends(campaign_id, by=by)

    def count_recipients(
        self, campaign_id: str, *, by: Sequence[str] = ("status",)
    ) -> dict[tuple[str, ...], int]:
        self.calls.append(("count_recipients", tuple(by)))
        return super().count_recipients(campaign_id, by=by)

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Iterator[Recipient]:
        self.calls.append(("iter_recipients", with_sends))
        return super().iter_recipients(campaign_id, with_sends=with_sends)

    def iter_sends(
        self, campaign_id: str, *, step_id: str | None = None, recipient_id: str | None = None
    ) -> Iterator[Send]:
        self.calls.append(("iter_sends", step_id or recipient_id))
        return super().iter_sends(campaign_id, step_id=step_id, recipient_id=recipient_id)


class TestArguments:
    """Bad arguments raise the library's errors."""

    def test_naive_now(self) -> None:
        """A naive ``now`` is refused."""
        with pytest.raises(NaiveDatetimeError):
            delivery_stats(build_storage(), "c1", now=datetime(2026, 3, 6))

    @pytest.mark.parametrize("price", [Decimal("-1"), "abc", Decimal("NaN")])
    def test_bad_price(self, price: object) -> None:
        """A negative or non-decimal price is refused."""
        with pytest.raises(ConfigurationError):
            delivery_stats(build_storage(), "c1", now=NOW, price_per_segment=price)  # type: ignore[arg-type]

    def test_price_as_text(self) -> None:
        """A price given as text or an integer is read as a decimal."""
        result = delivery_stats(build_storage(), "c1", now=NOW, price_per_segment="0.01")
        assert result.total.cost == Decimal("0.10")

    def test_negative_wait(self) -> None:
        """A negative no-receipt wait is refused."""
        with pytest.raises(ConfigurationError):
            delivery_stats(build_storage(), "c1", now=NOW, no_receipt_after=timedelta(-1))

    def test_unknown_campaign(self) -> None:
        """An unknown campaign raises NotFound."""
        with pytest.raises(NotFound):
            delivery_stats(InMemoryStorage(), "nope", now=NOW)

    def test_empty_campaign(self) -> None:
        """A campaign with nobody in it has zeros and undefined rates."""
        storage = InMemoryStorage()
        storage.add_campaign(Campaign.create(at=T0, id="c0", name="Empty", steps=STEPS[:1]))
        result = delivery_stats(storage, "c0", now=NOW)
        assert result.total == DeliveryStats(scope="total", name="")
        assert result.by_list == {}
        assert result.total.rate("delivered") == Rate(0, 0, "went_out")


def labels(rows: list[ViewRow]) -> list[tuple[str, int | None]]:
    return [(row.label, row.count) for row in rows]


class TestVocabularies:
    """Each seed product's view uses its own words and our numbers."""

    def test_alchemer(self, stats: CampaignStats) -> None:
        """Seed 000: Sent, Queued, Delivered, Failed, Completed Survey."""
        assert labels(view(stats, "alchemer")) == [
            ("Sent", 2),
            ("Queued", 2),
            ("Delivered", 4),
            ("Failed", 2),
            ("Completed Survey", 2),
        ]

    def test_school(self, stats: CampaignStats) -> None:
        """Seed 001: Not Sent Yet, Sending, Sent, Undelivered and its two causes."""
        rows = view(stats.by_step["invite"], "school")
        assert [(r.label, r.count, r.level) for r in rows] == [
            ("Not Sent Yet", 2, 0),
            ("Sending", 0, 0),
            ("Sent", 5, 0),
            ("Undelivered", 4, 0),
            ("Ineligible to Send", 2, 1),
            ("Not opted in, or consent pending", 0, 2),
            ("Denied consent", 0, 2),
            ("On a block list", 1, 2),
            ("No active SMS number", 0, 2),
            ("Duplicate number", 1, 2),
            ("Other", 0, 2),
            ("Failed to Send", 2, 1),
            ("Carrier issues, errors, overflow", 0, 2),
            ("Account suspended, invalid or gone", 1, 2),
            ("No SMS capability", 0, 2),
            ("Other", 1, 2),
        ]
        top = sum(r.count or 0 for r in rows if r.level == 0)
        assert top == stats.by_step["invite"].recipients

    def test_gladly(self, stats: CampaignStats) -> None:
        """Seed 002: the state word, the progress 7/11, and each CSV file's progress."""
        rows = view(stats, "gladly")
        assert [(r.label, r.text, r.level) for r in rows] == [
            ("Status", "In Progress", 0),
            ("Progress", "7/11", 0),
            ("late.csv", "0/3", 1),
            ("spring.csv", "7/8", 1),
        ]
        assert rows[1].rate == Rate(7, 11, "recipients")
        assert labels(view(stats.by_step["reminder-1"], "gladly")) == [("Progress", 2)]

    @pytest.mark.parametrize(
        ("state", "word"),
        [
            (CampaignState.DRAFT, "Scheduled"),
            (CampaignState.SCHEDULED, "Scheduled"),
            (CampaignState.IN_PROGRESS, "In Progress"),
            (CampaignState.SUSPENDED, "In Progress"),
            (CampaignState.COMPLETED, "Completed"),
            (CampaignState.STOPPED, "Stopped"),
        ],
    )
    def test_gladly_states(self, state: CampaignState, word: str) -> None:
        """Every campaign state has one of Gladly's four words."""
        assert GLADLY_STATE_WORDS[state] == word

    def test_brevo(self, stats: CampaignStats) -> None:
        """Seed 003: six metrics, each with its number and rate."""
        rows = view(stats, "brevo")
        assert [(r.label, r.count, r.rate.percent if r.rate else None) for r in rows] == [
            ("Delivered", 4, "44.4%"),
            ("Soft bounce", 1, "11.1%"),
            ("Hard bounce", 1, "11.1%"),
            ("Processing", 4, "30.8%"),
            ("Replied", 3, "75.0%"),
            ("Unsubscribed", 1, "25.0%"),
        ]

    def test_activity_messenger(self, stats: CampaignStats) -> None:
        """Seed 004: Skipped, Sent, Delivered, Bad number, Bounced, Received, Replied."""
        assert labels(view(stats, "activity-messenger")) == [
            ("Skipped", 2),
            ("Sent", 3),
            ("Delivered", 4),
            ("Bad number", 1),
            ("Bounced", 1),
            ("Received", 4),
            ("Replied", 3),
        ]

    @pytest.mark.parametrize(
        ("alias", "name"),
        [
            ("seed-000", "alchemer"),
            ("seed-001", "school"),
            ("seed-002", "gladly"),
            ("seed-003", "brevo"),
            ("seed-004", "activity-messenger"),
        ],
    )
    def test_seed_aliases(self, alias: str, name: str) -> None:
        """Each vocabulary is also known by its seed number."""
        assert get_vocabulary(alias) is VOCABULARIES[name]
        assert get_vocabulary(VOCABULARIES[name]) is VOCABULARIES[name]

    def test_unknown_vocabulary(self, stats: CampaignStats) -> None:
        """An unknown vocabulary raises ConfigurationError naming the choices."""
        with pytest.raises(ConfigurationError, match="brevo"):
            view(stats, "mailchimp")

    def test_row_as_tuple(self) -> None:
        """A row reads as (label, count, rate)."""
        assert ViewRow("Sent", 3).as_tuple() == ("Sent", 3, None)
        assert ViewRow("Status", None, text="Completed").text == "Completed"


class TestOutputs:
    """Tables, JSON and CSV carry the same numbers."""

    def test_render_table_ours(self, stats: CampaignStats) -> None:
        """Our table has every count with its rate, per slice, and the timeline."""
        text = render_table(stats)
        assert "Spring survey (c1)" in text
        assert "Progress: 7/11" in text
        assert "Delivered" in text
        assert "4 (44.4%)" in text
        assert "skipped: suppressed" in text
        assert "step reminder-1" in text
        assert "list spring.csv" in text
        assert "Cost" in text
        assert "Timeline" in text
        assert "started" in text

    def test_render_table_timeline_lines_up(self, stats: CampaignStats) -> None:
        """Timeline times are shown to the second, so every column starts at one place."""
        late = stats.timeline[-1]
        stats = attrs.evolve(
            stats,
            timeline=(
                *stats.timeline,
                attrs.evolve(late, at=late.at + timedelta(seconds=1, microseconds=534458)),
            ),
        )
        text = render_table(stats)
        lines = text.split("Timeline\n", 1)[1].splitlines()
        assert len(lines) == len(stats.timeline) >= 2
        assert (
            len(
                {
                    line.index(entry.action.value)
                    for line, entry in zip(lines, stats.timeline, strict=True)
                }
            )
            == 1
        )
        assert ".534458" not in text

    def test_render_table_vocabulary(self, stats: CampaignStats) -> None:
        """With a vocabulary the rows are the product's words."""
        text = render_table(stats, "seed-003")
        assert "Brevo SMS campaign reports (seed-003)" in text
        assert "Soft bounce" in text
        assert "44.4%" in text

    def test_stats_to_dict_is_json(self, stats: CampaignStats) -> None:
        """The dictionary dumps to JSON with decimals as text and times in ISO 8601."""
        data = json.loads(json.dumps(stats_to_dict(stats)))
        assert data["campaign"] == {"id": "c1", "name": "Spring survey", "state": "in_progress"}
        assert data["computed_at"] == NOW.isoformat()
        assert data["price_per_segment"] == "0.0079"
        assert data["total"]["cost"] == "0.0790"
        assert data["total"]["progress"]["text"] == "7/11"
        assert data["total"]["rates"]["delivered"] == {
            "count": 4,
            "base": 9,
            "over": "went_out",
            "value": 4 / 9,
        }
        assert list(data["by_step"]) == ["invite", "reminder-1", "thank-you"]
        assert data["timeline"][0]["action"] == "created"

    def test_csv_rows(self, stats: CampaignStats) -> None:
        """The CSV rows have a header and one metric per row, and write cleanly."""
        rows = stats_to_csv_rows(stats)
        assert rows[0] == ["scope", "name", "metric", "count", "rate", "base", "over"]
        assert ["total", "", "delivered", "4", "0.444444", "9", "went_out"] in rows
        assert ["list", "spring.csv", "progress", "7/8", "0.875000", "8", "recipients"] in rows
        assert ["total", "", "cost", "0.0790", "", "", ""] in rows
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        assert len(list(csv.reader(io.StringIO(buffer.getvalue())))) == len(rows)

    def test_csv_rows_vocabulary(self, stats: CampaignStats) -> None:
        """With a vocabulary the metric column holds the product's word."""
        rows = stats_to_csv_rows(stats, "gladly")
        assert ["total", "", "Status", "In Progress", "", "", ""] in rows
        assert ["total", "", "Progress", "7/11", "0.636364", "11", "recipients"] in rows


def _campaign_strategy() -> st.SearchStrategy[Campaign]:
    return campaigns(states=[CampaignState.IN_PROGRESS])


@st.composite
def campaign_data(draw: st.DrawFn) -> tuple[Campaign, list[Recipient]]:
    campaign = draw(_campaign_strategy())
    people = draw(
        st.lists(recipients(campaign=campaign), min_size=1, max_size=8, unique_by=lambda r: r.id)
    )
    return campaign, people


class TestProperties:
    """For generated campaigns, the totals always add up."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(campaign_data())
    def test_totals_add_up(self, data: tuple[Campaign, list[Recipient]]) -> None:
        """Statuses sum to the sends, slices sum to the total, and everyone is accounted for."""
        campaign, people = data
        storage = InMemoryStorage()
        storage.add_campaign(campaign)
        storage.add_recipients(people)
        sends = [send for person in people for send in person.sends]
        storage.save_sends(sends)
        result = delivery_stats(storage, campaign.id, now=NOW + timedelta(days=60))
        total = result.total
        assert total.recipients == len(people)
        assert total.messages == len(sends)
        assert sum(total.skipped_by_reason.values()) == total.skipped
        assert sum(total.bounced_by_reason.values()) == total.soft_bounced + total.hard_bounced
        for field in (*STATUS_FIELDS, "segments", "sent_without_receipt"):
            expected = getattr(total, field)
            assert sum(getattr(s, field) for s in result.by_step.values()) == expected
            assert sum(getattr(s, field) for s in result.by_list.values()) == expected
        for step_stats in result.by_step.values():
            assert step_stats.pending + step_stats.messages == len(people)
            assert step_stats.progress.sent <= step_stats.recipients
        assert total.sent_without_receipt == total.sent
        for part in result.slices():
            for rate in part.rates.values():
                if rate.over != "delivered" and rate.value is not None:
                    assert 0 <= rate.value <= 1
