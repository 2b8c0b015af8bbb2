"""What keeps the runner fast stays exact: evaluation in storage, slot booking, next_due.

With a storage that decides steps in place (``StepDecider``: SQLiteStorage),
the runner evaluates a campaign from counts and pending ids and reads every
recipient only when someone's lasting exclusion may have changed. The
agreement test runs the same generated campaigns with that capability and
without it and requires the same sends, skip records, tick reports and
timeline. The other tests pin the dispatch behaviour that saves claims: a
send held by the daily cap is deferred straight to its next open window,
sends deferred by different ticks share one calendar of throttle slots,
and every tick's ``next_due`` names the earliest deferred send.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from _runner_harness import NEW_YORK, T0, UTC, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign.domain.campaign import Campaign, CampaignOptions, Step, StepKind
from smscampaign.domain.contact import Consent, Contact, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus, Send
from smscampaign.domain.phone import PhoneNumber
from smscampaign.eligibility import Eligibility
from smscampaign.errors import NotFound
from smscampaign.providers.base import StepDecider
from smscampaign.providers.simulated import Outcome, SimulatedGateway, VirtualClock
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.runner import CampaignRunner, TickReport
from smscampaign.testing import strategies as sms
from smscampaign.testing.simulation import run_simulation


def numbers(n: int) -> list[str]:
    """``n`` distinct New York numbers."""
    return [f"+1212736{3100 + i:04d}" for i in range(n)]


_STEP_DECIDER = ("pending_step_ids", "count_step_combinations")
_FACTS_READER = ("recipient_facts",)


class _WithoutStepDecider:
    """A SQLiteStorage that hides some capabilities' methods (default: the StepDecider's).

    Hiding the StepDecider has the runner decide in Python; hiding the
    RecipientFactsReader has it read whole recipients at dispatch.
    """

    def __init__(self, inner: SQLiteStorage, hidden: tuple[str, ...] = _STEP_DECIDER) -> None:
        self._inner = inner
        self._hidden = hidden

    def __getattr__(self, name: str) -> Any:
        if name in self._hidden:
            raise AttributeError(name)
        return getattr(self._inner, name)


class _CountingStorage(SQLiteStorage):
    """SQLiteStorage counting the reads of every recipient with their sends."""

    full_reads = 0

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Iterator[Recipient]:
        if with_sends:
            self.full_reads += 1
        return super().iter_recipients(campaign_id, with_sends=with_sends)


# -- the agreement test ---------------------------------------------------------------

# Numbers the scenarios draw from: New York and Miami mobiles-or-landlines, a
# French mobile, a British landline (not SMS-capable); drawn with repeats, so
# some recipients share a number (duplicates).
_POOL = (*NEW_YORK, "+13053581234", "+33612345678", "+442079460000")

_STEPS = (
    Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, our survey"),
    Step(id="reminder-1", kind=StepKind.REMINDER, body="Reminder", delay=timedelta(hours=6)),
    Step(id="thank-you", kind=StepKind.THANK_YOU, body="Thanks {first_name}"),
)


@st.composite
def _scenarios(draw: st.DrawFn) -> dict[str, Any]:
    people = draw(
        st.lists(
            st.tuples(
                st.sampled_from(_POOL),
                st.sampled_from(("Ann", "Tom", "")),  # "" misses {first_name}
                st.sampled_from(
                    (Consent.OPTED_IN, Consent.OPTED_IN, Consent.PENDING_OPT_IN, Consent.OPTED_OUT)
                ),
            ),
            min_size=1,
            max_size=10,
        )
    )
    return {
        "people": people,
        "seed": draw(st.integers(0, 2**16)),
        "window": draw(st.sampled_from(("", "mon-fri 09:00-17:00"))),
        "throttle": draw(st.sampled_from(("", "2/s", "3/day"))),
        "ends": draw(st.sampled_from((None, timedelta(days=2)))),
        "options": CampaignOptions(
            accept_sent_as_received=draw(st.booleans()),
            remind_disqualified=draw(st.booleans()),
        ),
    }


def _run(
    scenario: dict[str, Any],
    hide_capability: bool,
    hidden: tuple[str, ...] = _STEP_DECIDER,
    withdraw: bool = False,
) -> dict[str, Any]:
    """Run one scenario for three virtual days; return everything observable.

    ``hide_capability`` hides the ``hidden`` methods of the storage. With
    ``withdraw``, the host application also withdraws consent or takes
    recipients off the campaign now and then, behind the runner's back, so
    sends already queued meet the last line of defence.
    """
    storage = SQLiteStorage(":memory:")
    clock = VirtualClock(T0)
    gateway = SimulatedGateway(
        seed=scenario["seed"],
        clock=clock,
        outcomes={
            Outcome.DELIVERED: 0.7,
            Outcome.UNREACHABLE: 0.1,
            Outcome.INVALID_NUMBER: 0.05,
            Outcome.NO_RECEIPT: 0.1,
            Outcome.CARRIER_FILTERED: 0.05,
        },
        reply_rate=0.3,
        replies=(("STOP", 2.0), ("START", 1.0), ("HELP", 0.5), ("Thanks", 1.0)),
    )
    runner = CampaignRunner(
        _WithoutStepDecider(storage, hidden) if hide_capability else storage,  # type: ignore[arg-type]
        gateway,
        clock,
        evaluation_interval=timedelta(hours=1),
    )
    ends = scenario["ends"]
    campaign = Campaign.create(
        at=T0,
        id="c1",
        name="Agreement",
        sender="+12125550100",
        time_zone="America/New_York",
        send_window=scenario["window"],
        throttle=scenario["throttle"],
        ends_at=None if ends is None else T0 + ends,
        steps=_STEPS,
        options=scenario["options"],
    )
    runner.create(campaign)
    contacts = [
        Contact(id=f"k{i}", phone=PhoneNumber.parse(number), first_name=name, consent=consent)
        for i, (number, name, consent) in enumerate(scenario["people"])
    ]
    runner.add_recipients("c1", contacts, now=T0)
    runner.schedule("c1", now=T0)
    ids = [c.id for c in contacts]
    ticks: list[tuple[Any, ...]] = []
    host = random.Random(scenario["seed"])
    answers = (*ResponseStatus, ResponseStatus.COMPLETE)

    def on_tick(now: datetime, tick: TickReport) -> None:
        ticks.append(_tick_tuple(tick))
        # The host application: survey answers, now and then, some withdrawn.
        if host.random() < 0.15:
            runner.update_responses("c1", [(host.choice(ids), host.choice(answers))])
        if withdraw and host.random() < 0.2:
            recipient = storage.get_recipient("c1", host.choice(ids))
            if host.random() < 0.5:
                consent = host.choice((Consent.OPTED_OUT, Consent.PENDING_OPT_IN))
                storage.save_contacts([recipient.contact.with_consent(consent)])
            else:
                storage.update_recipients([recipient.with_status(ContactStatus.INACTIVE)])
            runner.mark_changed("c1")

    report = run_simulation(
        runner,
        gateway,
        clock,
        until=T0 + timedelta(days=3),
        max_step=timedelta(hours=1),
        on_tick=on_tick,
    )
    stored = storage.get_campaign("c1")
    return {
        "sends": sorted(
            (s.id, s.status, s.skip_reasons, len(s.attempts), s.due_at)
            for s in storage.iter_sends("c1")
        ),
        "ticks": ticks,
        "timeline": [(e.action, e.at, e.cause, e.detail) for e in stored.timeline],
        "report": (report.ticks, report.sent, report.queued, report.skipped, report.blocked),
    }


def _tick_tuple(tick: TickReport) -> tuple[Any, ...]:
    return (
        tick.at,
        tick.queued,
        tick.skipped,
        tick.sent,
        tick.deferred,
        tick.failed,
        tick.canceled,
        tick.blocked,
        tuple(tick.started),
        tuple(tick.completed),
        tuple(tick.suspended),
        tick.next_due,
    )


class TestEvaluationInStorage:
    """Evaluating from the storage's counts changes nothing anyone can observe."""

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_scenarios())
    def test_same_campaign_with_and_without_the_capability(self, scenario: dict[str, Any]) -> None:
        """Same sends, skip records, tick reports, timeline: STOPs, STARTs, answers and all."""
        assert _run(scenario, hide_capability=False) == _run(scenario, hide_capability=True)

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_scenarios())
    def test_same_campaign_with_and_without_recipient_facts(self, scenario: dict[str, Any]) -> None:
        """Dispatch from RecipientFacts (recipients read whole only when needed) changes nothing.

        Same sends, blocks, windows, deferrals, failures and suppressions as
        reading every claimed send's recipient whole.
        """
        with_facts = _run(scenario, hide_capability=False, withdraw=True)
        whole = _run(scenario, hide_capability=True, hidden=_FACTS_READER, withdraw=True)
        assert with_facts == whole

    def test_sqlite_offers_the_capability(self) -> None:
        """SQLiteStorage is a StepDecider; the proxy used above is not."""
        storage = SQLiteStorage(":memory:")
        assert isinstance(storage, StepDecider)
        assert not isinstance(_WithoutStepDecider(storage), StepDecider)

    def test_later_evaluations_do_not_read_every_recipient(self) -> None:
        """Once everyone was decided, a re-evaluation reads counts, not the recipients."""
        storage = _CountingStorage(":memory:")
        world = World(storage, evaluation_interval=timedelta(minutes=1))
        world.campaign(numbers=numbers(5), steps=_STEPS)
        world.step()
        assert storage.full_reads == 1
        for _ in range(5):
            world.step(timedelta(minutes=2))
        assert storage.full_reads == 1

    def test_mark_changed_reads_every_recipient_again(self) -> None:
        """A change behind the runner's back (mark_changed) gets a full evaluation."""
        storage = _CountingStorage(":memory:")
        world = World(storage, evaluation_interval=timedelta(minutes=1))
        world.campaign(numbers=numbers(3), steps=_STEPS)
        world.step()
        world.runner.mark_changed("c1")
        world.step(timedelta(minutes=2))
        assert storage.full_reads == 2

    def test_a_completion_before_the_reminder_is_due_gets_its_skip_record(self) -> None:
        """A recipient who completed waits; when the reminder falls due, it is SKIPPED for them."""
        world = World(SQLiteStorage(":memory:"), evaluation_interval=timedelta(minutes=30))
        world.campaign(numbers=numbers(2), steps=_STEPS)
        world.run(timedelta(hours=1))
        first = world.contact_id(numbers(2)[0])
        world.runner.update_responses("c1", [(first, ResponseStatus.COMPLETE)])
        world.run(timedelta(hours=8))
        reminder = world.send_of(first, "reminder-1")
        assert reminder.status is DeliveryStatus.SKIPPED
        assert reminder.skip_reasons == ("response_complete",)
        other = world.send_of(world.contact_id(numbers(2)[1]), "reminder-1")
        assert other.status is DeliveryStatus.DELIVERED


@st.composite
def _stored_campaigns(draw: st.DrawFn) -> tuple[SQLiteStorage, Campaign, datetime]:
    """A campaign in SQLite with generated recipients (sharing numbers), sends and suppressions."""
    campaign = draw(sms.campaigns())
    phones = draw(st.lists(sms.phone_numbers(verified=None), min_size=1, max_size=4, unique_by=str))
    contact_strategy = sms.contacts(phones=st.sampled_from(phones))
    people = draw(
        st.lists(
            sms.recipients(campaign=campaign, contact_strategy=contact_strategy),
            max_size=8,
            unique_by=lambda r: r.id,
        )
    )
    storage = SQLiteStorage(":memory:")
    storage.add_campaign(campaign)
    storage.add_recipients(people)
    storage.save_sends({s.id: s for r in people for s in r.sends}.values())
    for entry in draw(st.lists(sms.suppressions(phones=st.sampled_from(phones)), max_size=2)):
        storage.suppress(entry)
    now = draw(sms.aware_datetimes(min_value=sms.EPOCH, max_value=sms.EPOCH + timedelta(days=9)))
    return storage, campaign, now


class TestStepCombinations:
    """SQLiteStorage counts recipients per exact combination of reasons, as the engine decides."""

    @settings(max_examples=40, deadline=None)
    @given(_stored_campaigns())
    def test_counts_match_the_engine(
        self, stored: tuple[SQLiteStorage, Campaign, datetime]
    ) -> None:
        """Every step: the counts are those of the reasons Eligibility gives each recipient."""
        storage, campaign, now = stored
        suppressed = {s.e164 for s in storage.iter_suppressions(account=campaign.account)}
        for step in campaign.steps:
            engine = Eligibility(campaign, step, now=now, suppressed=suppressed)
            expected = Counter(
                d.reasons for d in engine.decide(storage.iter_recipients(campaign.id))
            )
            assert storage.count_step_combinations(campaign, step, now=now) == dict(expected)


# -- dispatch: deferrals that save claims ----------------------------------------------

# Wednesday 4 March 2026, 07:00 in New York (EST): before a 09:00-17:00 window opens.
EARLY = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
NINE = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
_NEW_YORK_HOURS = {"send_window": "mon-fri 09:00-17:00", "time_zone": "America/New_York"}


class TestDeferrals:
    """Deferred sends go once to when they can really go, spread over the throttle's slots."""

    def test_the_daily_cap_defers_to_the_next_open_window(self, world: World) -> None:
        """Past the cap, a send waits for tomorrow's window opening, not for midnight."""
        world.campaign(numbers=numbers(5), throttle="100/s; 2/day", **_NEW_YORK_HOURS)
        report = world.runner.tick()
        assert report.sent == 2
        waiting = [s for s in world.sends() if s.status is DeliveryStatus.QUEUED]
        assert len(waiting) == 3
        assert {s.due_at for s in waiting} == {NINE}  # Wednesday 09:00, not midnight

    def test_sends_deferred_by_different_ticks_share_the_slots(self, world: World) -> None:
        """Two ticks deferring sends to the same opening never put more than the limit in a slot."""
        world.clock.set(EARLY)
        world.campaign(numbers=numbers(12), throttle="5/s", **_NEW_YORK_HOURS)
        world.runner.tick()
        world.clock.advance(timedelta(minutes=30))
        more = [
            Contact(
                id=f"late{i}",
                phone=PhoneNumber.parse(n),
                first_name="Lee",
                consent=Consent.OPTED_IN,
            )
            for i, n in enumerate(numbers(24)[12:])
        ]
        world.runner.add_recipients("c1", more)
        world.runner.tick()
        slots = Counter(s.due_at for s in world.sends() if s.status is DeliveryStatus.QUEUED)
        assert sum(slots.values()) == 24
        assert min(slots) == NINE
        assert max(slots.values()) == 5

    def test_next_due_names_sends_deferred_by_earlier_ticks(self, world: World) -> None:
        """A tick that defers nothing still says when the earliest deferred send may go."""
        world.clock.set(EARLY)
        world.campaign(numbers=numbers(2), **_NEW_YORK_HOURS)
        assert world.runner.tick().next_due == NINE
        world.clock.advance(timedelta(minutes=20))
        later = world.runner.tick()
        assert (later.deferred, later.next_due) == (0, NINE)
        world.clock.set(NINE)
        assert world.runner.tick().sent == 2
        assert world.runner.tick().next_due is None


class TestUpdateResponses:
    """Responses are read and saved in one go; an unknown contact saves nothing."""

    def test_unknown_contact_saves_nothing(self, world: World) -> None:
        world.campaign(numbers=numbers(2))
        known = world.contact_id(numbers(2)[0])
        with pytest.raises(NotFound, match="nobody"):
            world.runner.update_responses(
                "c1", [(known, ResponseStatus.COMPLETE), ("nobody", ResponseStatus.COMPLETE)]
            )
        assert world.storage.get_recipient("c1", known).response is ResponseStatus.NOT_STARTED

    def test_the_last_answer_of_a_contact_wins(self, world: World) -> None:
        world.campaign(numbers=numbers(1))
        known = world.contact_id(numbers(1)[0])
        answers = [(known, ResponseStatus.PARTIAL), (known, ResponseStatus.COMPLETE)]
        assert world.runner.update_responses("c1", answers) == 2
        assert world.storage.get_recipient("c1", known).response is ResponseStatus.COMPLETE


class TestSaveSendsReplacesWhole:
    """SQLiteStorage re-saves a send cheaply, and still replaces one whose fixed columns changed."""

    def test_an_id_reused_for_another_recipient_is_replaced(self) -> None:
        world = World(SQLiteStorage(":memory:"))
        world.campaign(numbers=numbers(2))
        first, second = (world.contact_id(n) for n in numbers(2))
        storage = world.storage
        storage.save_sends(
            [
                Send(
                    campaign_id="c1",
                    recipient_id=first,
                    step_id="invite",
                    to=numbers(2)[0],
                    created_at=T0,
                    id="x",
                )
            ]
        )
        moved = Send(
            campaign_id="c1",
            recipient_id=second,
            step_id="invite",
            to=numbers(2)[1],
            created_at=T0,
            id="x",
        )
        storage.save_sends([moved])
        assert storage.get_send("x") == moved
        assert [s.id for s in storage.iter_sends("c1", recipient_id=first)] == []
        assert [s.id for s in storage.iter_sends("c1", recipient_id=second)] == ["x"]
