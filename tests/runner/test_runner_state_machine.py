"""A RuleBasedStateMachine interleaving ticks, receipts, replies and operator actions.

Whatever the interleaving, four things always hold (docs/runner.md, "What the
tests guarantee"):

* **No send after STOP.** Once a STOP has been handled for a number, the
  carrier sees no campaign message to it until its START is handled. The one
  opt-out confirmation is allowed, and so are HELP answers (CTIA: HELP is
  answered "regardless of whether the recipient is subscribed").
* **No send outside the window.** Every ``send`` call happens at an instant the
  recipient's schedule allows: ``schedule.next_send_time(r, t, now=t).at == t``.
* **No step twice.** Per (recipient, step), among the sends the carrier accepted
  a message for, every one but the newest ended without reaching the handset:
  SOFT_BOUNCED, or CANCELED while waiting for a retry (a requeue may follow
  those). Retries of one send share its id and are one send.
* **Reports add up.** Per step, ``delivery_stats`` status counts plus pending
  equal the recipients, plus one for every extra send of the step to a
  recipient (the requeue and re-decision cases above), and the recipients
  with a send plus pending equal the recipients.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from _runner_harness import MIAMI, NEW_YORK, PARIS_MOBILE, UTC, World, make_storage
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from smscampaign.domain.campaign import CampaignOptions, CampaignState, Step, StepKind
from smscampaign.domain.delivery import DeliveryStatus, RetryPolicy, Send
from smscampaign.domain.replies import Keyword
from smscampaign.providers.gateway import WebhookRequest
from smscampaign.providers.simulated import (
    CarrierRule,
    Latency,
    Outcome,
    SimulatedGateway,
)
from smscampaign.reporting import delivery_stats
from smscampaign.runner import SuspensionThresholds

NUMBERS = (*NEW_YORK, MIAMI, PARIS_MOBILE)
STEPS = (
    Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, our survey"),
    Step(id="reminder-1", kind=StepKind.REMINDER, body="Reminder", delay=timedelta(hours=3)),
)
STARTS = (
    datetime(2026, 3, 3, 15, 0, tzinfo=UTC),  # Tuesday afternoon in Paris, morning in the US
    datetime(2026, 3, 4, 0, 45, tzinfo=UTC),  # 19:45 in New York, 01:45 in Paris
    datetime(2026, 3, 8, 9, 0, tzinfo=UTC),  # Sunday: Paris closed all day
)
REPLIES = ("STOP", "stop.", "START", "HELP", "Thanks!")
DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=7),
    timedelta(minutes=40),
    timedelta(hours=3),
    timedelta(hours=12),
)
# Quick retries, so soft bounces (and their requeues) happen within a short run.
RETRY = RetryPolicy(max_retries=1, backoff=timedelta(minutes=20), within=timedelta(hours=12))
_REACHED = frozenset(
    {
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.HARD_BOUNCED,
    }
)


class RunnerMachine(RuleBasedStateMachine):
    """One campaign of seven recipients on a misbehaving simulated carrier."""

    storage_kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.world: World
        self.held: list[WebhookRequest] = []
        self.delivered: list[WebhookRequest] = []
        # Per number: the call index at which a STOP was handled, and when lifted.
        self.stopped_since: dict[str, int] = {}
        self.stop_spans: list[tuple[str, int, int | None]] = []
        self.confirmations_allowed: Counter[str] = Counter()
        self.checked_calls = 0
        self.storage: Any = None

    # -- setup -------------------------------------------------------------------------

    @initialize(
        seed=st.integers(0, 2**16),
        start=st.sampled_from(STARTS),
        strict_thresholds=st.booleans(),
        with_rules=st.booleans(),
    )
    def setup(self, seed: int, start: datetime, strict_thresholds: bool, with_rules: bool) -> None:
        """Build the world: a noisy carrier, fixed fates for some numbers, the campaign."""
        self.storage = make_storage("memory" if self.storage_kind == "memory" else "sqlite-mem")
        rules = (
            [
                CarrierRule(number=NEW_YORK[1], outcome=Outcome.LANDLINE),
                CarrierRule(number=NEW_YORK[2], outcome=Outcome.UNREACHABLE),
                CarrierRule(number=NEW_YORK[3], outcome=Outcome.NO_RECEIPT),
            ]
            if with_rules
            else []
        )
        sim = SimulatedGateway(
            seed=seed,
            rules=rules,
            latency=Latency(
                to_sent=(timedelta(seconds=1), timedelta(seconds=30)),
                to_final=(timedelta(seconds=5), timedelta(minutes=10)),
                late=(timedelta(minutes=30), timedelta(hours=3)),
                duplicate=(timedelta(seconds=10), timedelta(minutes=20)),
            ),
            duplicate_rate=0.3,
            reorder_rate=0.3,
            late_rate=0.1,
            early_rate=0.1,
            reply_rate=0.0,
        )
        thresholds = (
            SuspensionThresholds(min_sends=4, hard_bounce_rate=0.2, opt_out_rate=0.2)
            if strict_thresholds
            else SuspensionThresholds()
        )
        self.world = World(self.storage, start=start, gateway=sim, thresholds=thresholds)
        self.world.campaign(numbers=NUMBERS, steps=STEPS, options=CampaignOptions(retry=RETRY))
        self.world.runner.tick()
        self._deliver()

    def teardown(self) -> None:
        """Close the SQLite connection, if any; note what the run exercised."""
        if hasattr(self, "world"):
            calls = self.world.gateway.calls
            event(
                f"campaign sends: {min(len([c for c in calls if not c.is_answer]) // 5 * 5, 20)}+"
            )
            event(f"stops handled: {bool(self.stop_spans or self.stopped_since)}")
            event(f"final state: {self.state.value}")
        close = getattr(self.storage, "close", None)
        if close is not None:
            close()

    # -- driving -----------------------------------------------------------------------

    @property
    def state(self) -> CampaignState:
        return self.world.storage.get_campaign("c1").state

    @property
    def _busy(self) -> bool:
        """True once a few campaign messages went out (operator actions wait for that)."""
        return len(self.world.gateway.campaign_calls()) >= 3

    def _handle(self, request: WebhookRequest, *, hold: bool = False) -> None:
        world = self.world
        if request.url == world.sim.inbound_url:
            mark = len(world.gateway.calls)
            for outcome in world.runner.handle_inbound(request):
                number = outcome.message.sender.e164
                if outcome.duplicate:
                    continue
                if outcome.classification.keyword is Keyword.OPT_OUT:
                    if outcome.answered is not None:
                        self.confirmations_allowed[number] += 1
                    self.stopped_since.setdefault(number, mark)
                elif outcome.lifted and number in self.stopped_since:
                    self.stop_spans.append(
                        (number, self.stopped_since.pop(number), len(world.gateway.calls))
                    )
        elif hold:
            self.held.append(request)
        else:
            world.runner.handle_status(request)
            self.delivered.append(request)

    def _deliver(self, *, hold: bool = False) -> None:
        for request in self.world.sim.deliver_due(self.world.clock.now()):
            self._handle(request, hold=hold)

    @rule(delay=st.sampled_from(DELAYS), hold=st.booleans())
    def advance(self, delay: timedelta, hold: bool) -> None:
        """Move the clock, hand over due callbacks (or hold the receipts back), tick."""
        self.world.clock.advance(delay)
        self._deliver(hold=hold)
        self.world.runner.tick()
        self._deliver(hold=hold)

    @rule(ticks=st.integers(1, 6))
    def run_for_a_while(self, ticks: int) -> None:
        """Several rounds of the simulation loop, each to the next thing that can happen."""
        world = self.world
        for _ in range(ticks):
            report = world.runner.tick()
            self._deliver()
            now = world.clock.now()
            moments = [m for m in (report.next_due, world.sim.next_due()) if m and m > now]
            world.clock.set(min([*moments, now + timedelta(hours=2)]))

    @precondition(lambda self: bool(self.held))
    @rule(reverse=st.booleans())
    def release_held(self, reverse: bool) -> None:
        """Hand over the held receipts, possibly newest first."""
        held, self.held = self.held, []
        for request in reversed(held) if reverse else held:
            self._handle(request)

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def replay_receipt(self, data: st.DataObject) -> None:
        """Hand over a receipt again, as carriers do."""
        request = data.draw(st.sampled_from(self.delivered))
        self.world.runner.handle_status(request)

    @rule(number=st.sampled_from(NUMBERS), body=st.sampled_from(REPLIES))
    def reply(self, number: str, body: str) -> None:
        """A recipient texts STOP, START, HELP or something else."""
        self.world.sim.inject_reply(number, body, at=self.world.clock.now())
        self._deliver()

    @precondition(lambda self: self.state is CampaignState.IN_PROGRESS and self._busy)
    @rule()
    def suspend(self) -> None:
        """The operator suspends the campaign."""
        self.world.runner.suspend("c1", cause="operator")

    @precondition(lambda self: self.state is CampaignState.SUSPENDED)
    @rule()
    def resume(self) -> None:
        """The operator resumes the campaign."""
        self.world.runner.resume("c1")

    @precondition(
        lambda self: (
            self.state
            in (CampaignState.SCHEDULED, CampaignState.IN_PROGRESS, CampaignState.SUSPENDED)
        )
    )
    @rule(now=st.integers(0, 3))
    def stop(self, now: int) -> None:
        """The operator stops the campaign for good (one draw in four, so runs go on)."""
        if now == 0:
            self.world.runner.stop("c1")

    @precondition(lambda self: self.state in (CampaignState.IN_PROGRESS, CampaignState.COMPLETED))
    @rule(
        step=st.sampled_from([s.id for s in STEPS]),
        soft_bounced=st.booleans(),
        unreached=st.booleans(),
    )
    def requeue(self, step: str, soft_bounced: bool, unreached: bool) -> None:
        """The operator requeues a step."""
        self.world.runner.requeue("c1", step, soft_bounced=soft_bounced, unreached=unreached)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def no_campaign_send_after_stop(self) -> None:
        """No campaign message reaches the carrier between a handled STOP and its START."""
        calls = self.world.gateway.calls
        spans = [*self.stop_spans, *((n, since, None) for n, since in self.stopped_since.items())]
        for number, since, until in spans:
            for index in range(since, len(calls) if until is None else until):
                call = calls[index]
                assert call.message.to != number or call.is_answer, (
                    f"campaign send {call.message.idempotency_key} to {number} at "
                    f"{call.at.isoformat()} after its STOP was handled"
                )
        for number, allowed in self.confirmations_allowed.items():
            confirmations = [
                c
                for c in self.world.gateway.answers(number)
                if c.message.body == self.world.runner.opt_out_confirmation
            ]
            assert len(confirmations) <= allowed

    @invariant()
    def every_send_inside_the_window(self) -> None:
        """Each campaign ``send`` call happened at an instant the recipient's schedule allows."""
        world = self.world
        calls = world.gateway.calls
        campaign = world.storage.get_campaign("c1")
        schedule = world.runner.schedule_for(campaign)
        for call in calls[self.checked_calls :]:
            if call.is_answer:
                continue
            recipient_id = call.send_id.split(":")[2]
            recipient = world.storage.get_recipient("c1", recipient_id)
            answer = schedule.next_send_time(recipient, call.at, now=call.at)
            assert answer.at == call.at, (
                f"{call.message.idempotency_key} went at {call.at.isoformat()}, outside "
                f"the window (next allowed: {answer.at})"
            )
        self.checked_calls = len(calls)

    @invariant()
    def no_step_reaches_a_recipient_twice(self) -> None:
        """Among accepted sends of one step to one recipient, all but the newest failed softly."""
        accepted = {c.send_id for c in self.world.gateway.calls if c.accepted and not c.is_answer}
        by_pair: dict[tuple[str, str], list[Send]] = defaultdict(list)
        for send in self.world.storage.iter_sends("c1"):
            if send.id in accepted:
                by_pair[(send.recipient_id, send.step_id)].append(send)
        for pair, sends in by_pair.items():
            sends.sort(key=lambda s: (s.created_at, s.id))
            for earlier in sends[:-1]:
                assert earlier.status not in _REACHED, (
                    f"{pair} was sent again after {earlier.id} ended {earlier.status.value}"
                )
                assert earlier.status in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.CANCELED)

    @invariant()
    def report_counts_add_up(self) -> None:
        """Per step, the report's counts account for every recipient and every send."""
        world = self.world
        stats = delivery_stats(world.storage, "c1", now=world.clock.now())
        # The report counts each recipient's latest send of a step; earlier
        # sends of the same step (a requeue, a resend after START) are history.
        with_send = {(s.recipient_id, s.step_id) for s in world.storage.iter_sends("c1")}
        for step in STEPS:
            part = stats.by_step[step.id]
            assert part.recipients == len(NUMBERS)
            reached = sum(1 for (_, step_id) in with_send if step_id == step.id)
            assert part.messages == reached
            assert part.messages + part.pending == part.recipients
            event(f"{step.id}: {reached} of {len(NUMBERS)} recipients have a send")


class _Settings:
    """Small and fast: the whole runner suite stays well under 90 s on two cores."""

    settings = settings(
        max_examples=int(os.environ.get("RUNNER_MACHINE_EXAMPLES", "25")),
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


class SQLiteRunnerMachine(RunnerMachine):
    """The same machine on SQLiteStorage (in memory)."""

    storage_kind = "sqlite"


TestRunnerStateMachine = RunnerMachine.TestCase
TestRunnerStateMachine.settings = _Settings.settings


class TestRunnerStateMachineSQLite(SQLiteRunnerMachine.TestCase):  # type: ignore[misc,valid-type]
    """The runner's guarantees hold on SQLiteStorage too (fewer examples)."""

    settings = settings(_Settings.settings, max_examples=8)


TestRunnerStateMachine.__doc__ = "The runner's guarantees hold under any interleaving (memory)."
