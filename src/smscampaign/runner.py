"""CampaignRunner: one campaign tick is eligibility, then plan, then send.

The runner is the service layer. It owns no state of its own beyond caches
and the throttle's memory of recent sends: everything it decides is written
through a :class:`~smscampaign.providers.base.Storage`, and every message
goes through a :class:`~smscampaign.providers.gateway.Gateway`.

A tick (:meth:`CampaignRunner.tick`) does, in order:

1. starts scheduled campaigns whose start has come, and completes those whose
   end date has passed (their queued sends are CANCELED: seed 002's end date
   cuts the campaign short);
2. for each step of each running campaign, evaluates eligibility and queues a
   send for every pending recipient; a recipient excluded for a lasting reason
   gets one SKIPPED send naming every reason (not charged);
3. claims due sends and, for each, re-checks suppression and consent from
   storage (the last line of defence), moves it into the recipient's open
   window if it is outside it, keeps to the throttle, and sends it with an
   idempotency key and a validity period that ends when the window closes;
4. completes campaigns with nothing left to do, and suspends those whose
   bounce or opt-out rate passed its threshold.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

import attrs

from smscampaign.account import TestSend, send_test
from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._time import require_aware
from smscampaign.domain._trusted import builder
from smscampaign.domain._zones import get_zone
from smscampaign.domain.campaign import Campaign, CampaignState, Step, TimelineAction
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
    Send,
    StatusEvent,
    _attempt_as_given,
    _build_send,
    _new_send_as_given,
    _queued_and_applied,
    _with_derived,
)
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import (
    DEFAULT_KEYWORDS,
    InboundMessage,
    Keyword,
    KeywordSet,
    ReplyClassification,
)
from smscampaign.eligibility import DEFAULT_RULES, AlreadySentRule, Decision, Eligibility, Reason
from smscampaign.errors import (
    ConfigurationError,
    GatewayError,
    InvalidCampaign,
    MissingField,
    NotFound,
    PermanentGatewayError,
)
from smscampaign.providers.base import (
    DEFAULT_LEASE,
    LogFilter,
    RecipientFacts,
    RecipientFactsReader,
    StepDecider,
    Storage,
    hold_campaign,
)
from smscampaign.providers.gateway import (
    _E164,
    Gateway,
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
)
from smscampaign.scheduling import LEGAL_HOURS, LegalHoursTable, Schedule

__all__ = [
    "DEFAULT_HELP_TEXT",
    "DEFAULT_OPT_OUT_CONFIRMATION",
    "CampaignRunner",
    "Clock",
    "ReplyOutcome",
    "SuspensionThresholds",
    "SystemClock",
    "TickReport",
]

log = logging.getLogger("smscampaign.runner")

DEFAULT_HELP_TEXT = "Reply STOP to unsubscribe. Msg&data rates may apply."
"""What a HELP reply gets unless the runner is given another text."""

DEFAULT_OPT_OUT_CONFIRMATION = "You are unsubscribed and will receive no more messages."
"""The one confirmation an opt-out gets (CTIA allows exactly one)."""

# Reasons that may change on their own as time passes or sends settle: no
# SKIPPED send is recorded for them, the recipient is simply looked at again.
_TRANSIENT_REASONS = frozenset(
    {Reason.NOT_YET_DUE, Reason.NOT_COMPLETE, Reason.PREVIOUS_NOT_RECEIVED, Reason.ALREADY_SENT}
)

_IN_FLIGHT = frozenset({DeliveryStatus.QUEUED, DeliveryStatus.SENDING})

# Responses that exclude a recipient from reminders for good (unless changed back).
_FINAL_RESPONSES = frozenset({ResponseStatus.COMPLETE, ResponseStatus.DISQUALIFIED})

# Twilio's ValidityPeriod tops out at 36,000 s; most providers accept as much.
_MAX_VALIDITY = timedelta(hours=10)

# How many times dispatch asks the window and the throttle in turn for a moment
# both allow (two suffice: the throttle moves a send to the next day at most).
_SETTLE_ROUNDS = 4


class Clock(Protocol):
    """Where the runner reads the time: the system clock, or a virtual one in tests."""

    def now(self) -> datetime:
        """The current instant (aware)."""
        ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(timezone.utc)


@attrs.frozen(kw_only=True)
class SuspensionThresholds:
    """When a campaign suspends itself (seed 003: Brevo suspends on high bounce or unsubscribe).

    Providers publish no numbers for SMS; the defaults follow what carriers
    and resellers enforce (error rates under 5 %, opt-out rates of 2-3 %
    trigger 24-hour suspensions, Flowroute flags 5 % opt-outs); see
    docs/runner.md for the sources. A rate is counted over the campaign's
    sends that went out, once at least ``min_sends`` did.

    Args:
        min_sends: Sends that must have gone out before any rate is judged.
        hard_bounce_rate: Suspend above this share of hard bounces.
        soft_bounce_rate: Suspend above this share of soft bounces.
        opt_out_rate: Suspend above this share of opt-outs (replies and carrier opt-outs).
    """

    min_sends: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    hard_bounce_rate: float = attrs.field(default=0.05, validator=attrs.validators.gt(0))
    soft_bounce_rate: float = attrs.field(default=0.10, validator=attrs.validators.gt(0))
    opt_out_rate: float = attrs.field(default=0.02, validator=attrs.validators.gt(0))


@attrs.define(kw_only=True)
class TickReport:
    """What one tick did, for logs, progress bars and tests."""

    at: datetime
    started: list[str] = attrs.field(factory=list)
    completed: list[str] = attrs.field(factory=list)
    suspended: list[str] = attrs.field(factory=list)
    queued: int = 0
    skipped: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    canceled: int = 0
    blocked: int = 0
    """Sends stopped at the last line of defence (suppressed or consent withdrawn)."""
    next_due: datetime | None = None
    """The earliest moment a deferred send may go (None: nothing waiting)."""

    def note_due(self, moment: datetime | None) -> None:
        """Remember ``moment`` if it is the earliest deferred time so far."""
        if moment is not None and (self.next_due is None or moment < self.next_due):
            self.next_due = moment


@attrs.frozen(kw_only=True)
class ReplyOutcome:
    """What the runner did with one inbound message.

    ``in_reply_to`` is the account's latest message that went out to the
    sender before the reply arrived (None when none did): its ``campaign_id``
    says which campaign the reply answers, e.g. to forward it to the
    campaign's owner.
    """

    message: InboundMessage
    classification: ReplyClassification
    duplicate: bool = False
    suppressed: bool = False
    lifted: bool = False
    answered: str | None = None
    in_reply_to: Send | None = None


class _Calendar:
    """Slots one ``period`` apart from ``origin``, each holding at most ``count`` sends."""

    def __init__(self, origin: datetime, period: timedelta, count: int) -> None:
        self.origin = origin
        self.period = period
        self.count = count
        self._used: dict[int, int] = {}
        # Where the search for a free slot from a given slot last ended: a burst
        # of bookings from one moment does not walk the full slots again.
        self._next: dict[int, int] = {}

    def take(self, start: datetime) -> datetime:
        """Take the first slot at or after ``start`` with room left; return its time."""
        first = -((self.origin - start) // self.period)  # the first slot at or after start
        index = max(first, self._next.get(first, first))
        while self._used.get(index, 0) >= self.count:
            index += 1
        self._used[index] = self._used.get(index, 0) + 1
        self._next[first] = index
        return self.origin + self.period * index

    def forget_before(self, moment: datetime) -> None:
        """Drop the slots (and search hints) before ``moment``."""
        last = (moment - self.origin) // self.period
        self._used = {i: n for i, n in self._used.items() if i >= last}
        self._next = {i: n for i, n in self._next.items() if i >= last}


class _Throttle:
    """The runner's memory of recent sends, per campaign, to keep to its throttle.

    Each limit of the campaign's :class:`~smscampaign.scheduling.Throttle` is
    a sliding window: at most ``count`` sends in any half-open interval of
    ``period`` seconds, so a 10/s campaign may send 10 at one instant and the
    next 10 a second later. The daily cap counts the calendar days of the
    campaign's zone. The memory is per runner process; workers sharing a
    campaign each keep their own (docs/runner.md).
    """

    def __init__(self) -> None:
        self._times: dict[str, collections.deque[datetime]] = {}
        self._day: dict[str, tuple[date, int]] = {}
        self._calendars: dict[str, _Calendar] = {}
        self._forgotten: datetime | None = None
        self._last_day: tuple[datetime, tzinfo, date] | None = None
        # Per schedule: how many recent sends to remember, and the campaign's zone
        # (computed once, not per send).
        self._shape: dict[int, tuple[Schedule, int, tzinfo]] = {}

    def _shape_of(self, schedule: Schedule) -> tuple[int, tzinfo]:
        shape = self._shape.get(id(schedule))
        if shape is None or shape[0] is not schedule:
            keep = max(
                (lim.count for lim in schedule.throttle.limits if lim.period < 86_400), default=0
            )
            shape = self._shape[id(schedule)] = (schedule, keep, get_zone(schedule.time_zone))
        return shape[1], shape[2]

    def next_allowed(self, campaign_id: str, schedule: Schedule, now: datetime) -> datetime:
        """The first instant at or after ``now`` the campaign may send again."""
        moment = now
        times = self._times.get(campaign_id)
        if times:
            for limit in schedule.throttle.limits:
                if limit.period < 86_400 and len(times) >= limit.count:
                    moment = max(moment, times[-limit.count] + timedelta(seconds=limit.period))
        cap = schedule.throttle.daily_cap
        if cap is not None:
            _, zone = self._shape_of(schedule)
            local = moment.astimezone(zone)
            seen_day, count = self._day.get(campaign_id, (None, 0))
            if seen_day == local.date() and count >= cap:
                midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
                moment = midnight.replace(tzinfo=zone).astimezone(timezone.utc)
        return moment

    def book(self, campaign_id: str, schedule: Schedule, start: datetime) -> datetime:
        """The first free slot at or after ``start`` for a send waiting for the throttle; take it.

        Waiting sends are spread over slots of the strictest limit (a 10/s
        campaign: ten per second), kept in one calendar per campaign across
        ticks, so sends deferred by different ticks to the same moment (a
        window's opening, the day after the daily cap) do not pile into one
        slot only to be claimed and deferred again. The calendar's slots are
        one period apart from its first booking on. A booking is a hint:
        whether a send may go is decided again by :meth:`next_allowed` when
        it is due.
        """
        limits = [lim for lim in schedule.throttle.limits if lim.period < 86_400]
        if not limits:
            return start
        strictest = max(limits, key=lambda lim: lim.period / lim.count)
        period = timedelta(seconds=strictest.period)
        calendar = self._calendars.get(campaign_id)
        if calendar is None or calendar.period != period or calendar.count != strictest.count:
            calendar = self._calendars[campaign_id] = _Calendar(start, period, strictest.count)
        return calendar.take(start)

    def forget_before(self, moment: datetime) -> None:
        """Drop the slots of every calendar that passed more than a day before ``moment``."""
        horizon = moment - timedelta(days=1)
        if self._forgotten is not None and horizon - self._forgotten < timedelta(hours=1):
            return  # pruned less than an hour ago
        self._forgotten = horizon
        for calendar in self._calendars.values():
            calendar.forget_before(horizon)

    def record(self, campaign_id: str, schedule: Schedule, at: datetime) -> None:
        """Count one send at ``at``."""
        keep, zone = self._shape_of(schedule)
        if keep:
            times = self._times.get(campaign_id)
            if times is None or times.maxlen != keep:
                times = self._times[campaign_id] = collections.deque(times or (), maxlen=keep)
            times.append(at)
        last = self._last_day
        if last is not None and last[0] is at and last[1] is zone:
            day = last[2]  # a tick's sends share its time
        else:
            day = at.astimezone(zone).date()
            self._last_day = (at, zone, day)
        seen_day, count = self._day.get(campaign_id, (None, 0))
        self._day[campaign_id] = (day, count + 1 if seen_day == day else 1)


# Objects the dispatch path builds from values it has just checked or made (see
# domain/_trusted.py); tests/runner/test_trusted_dispatch.py proves each equal to
# what the checked constructors give.
_event_as_given = builder(StatusEvent)
_EMPTY_MAP: FrozenMap[Any] = FrozenMap()


_message_as_given = builder(OutboundMessage)


def _outbound(
    to: str, sender: str, body: str, key: str, valid_until: datetime | None, url: str | None
) -> OutboundMessage:
    """``OutboundMessage(...)`` with no metadata, its validators' checks made inline.

    The checks dispatch's values need, in the cases it meets: ``to`` a string in
    E.164 form, a sender with text in it, a string body, an aware or absent
    ``valid_until``, a string or absent URL. ``key`` is ``"<send id>:<n>"``,
    never blank. Anything else goes to the checked constructor, which raises
    as it always did. The metadata is one shared empty map, not one more
    object per message for the garbage collector.
    """
    checked = (
        to.__class__ is str
        and _E164.fullmatch(to) is not None
        and sender.__class__ is str
        and sender.strip()
        and body.__class__ is str
        and (
            valid_until is None
            or (
                valid_until.__class__ is datetime
                and valid_until.tzinfo is not None
                and valid_until.utcoffset() is not None
            )
        )
        and (url is None or url.__class__ is str)
    )
    build = _message_as_given if checked else OutboundMessage
    return build(
        to=to,
        sender=sender,
        body=body,
        idempotency_key=key,
        valid_until=valid_until,
        status_callback_url=url,
        metadata=_EMPTY_MAP,
    )


def _receipt_event(receipt: SendReceipt) -> StatusEvent:
    """``receipt.to_event()``, built without re-checking what the receipt checked.

    A :class:`SendReceipt` checked its provider, id, status (one of the
    receipt statuses, all attempt statuses), aware time, segments and price
    when it was made, and those are all an event needs; a subclass keeps its
    own ``to_event``.
    """
    if type(receipt) is not SendReceipt:
        return receipt.to_event()
    parts = len(receipt.part_ids)
    return _event_as_given(
        provider=receipt.provider,
        provider_message_id=receipt.provider_message_id,
        status=receipt.status,
        occurred_at=receipt.accepted_at,
        reason=None,
        permanent=None,
        provider_status=receipt.provider_status or receipt.status.value,
        provider_code=None,
        provider_text=None,
        segments=receipt.segments,
        price=receipt.price,
        part=None,
        parts=parts if parts > 1 else None,
        raw=receipt.raw,
    )


def _with_receipt(send: Send, number: int, at: datetime, receipt: SendReceipt) -> Send:
    """``send.start_attempt(at=at)`` with the provider's receipt applied, built in one step.

    The same send as ``start_attempt`` then :meth:`Send.apply` give (the new
    attempt takes the receipt), without building the intermediate send.
    ``send`` is QUEUED (the caller checked), ``number`` is its next attempt's
    number and ``at`` an aware time.
    """
    event = _receipt_event(receipt)
    if send.attempts and any(a.answers_to(event.provider_message_id) for a in send.attempts):
        # An earlier attempt answers to this id: Send.apply decides which one.
        started = send.start_attempt(at=at)
        if len(receipt.part_ids) > 1:
            started = started.with_part_ids(receipt.part_ids)
        return started.apply(event)
    if len(receipt.part_ids) < 2 and event.status is not None and event.part is None:
        # The attempt queued and the receipt applied, in one step: the number
        # counts the send's attempts, its address is the send's (a checked
        # E.164 number) and ``at`` is aware.
        attempt = _queued_and_applied(number, send.to, at, event)
    else:
        # Providers that give each part its own id report each part on its
        # own: the attempt keeps the ids so storage finds it by any of them,
        # and the merge rule folds the receipt in as the first part's.
        attempt = _attempt_as_given(
            number=number,
            to=send.to,
            queued_at=at,
            provider=None,
            provider_message_id=None,
            status=DeliveryStatus.QUEUED,
            reason=None,
            provider_status="",
            provider_code=None,
            provider_text=None,
            submitted_at=None,
            sent_at=None,
            delivered_at=None,
            failed_at=None,
            segments=None,
            price=None,
            parts=None,
            evidence=_EMPTY_MAP,
            part_ids=receipt.part_ids if len(receipt.part_ids) > 1 else (),
        ).apply(event)
    # attrs.evolve(send, attempts=..., due_at=None): attempts and a cleared due
    # time have no check on a send, only its derived status and sent-on (derived
    # below); every other field is the send's own.
    return _with_derived(
        _build_send(
            campaign_id=send.campaign_id,
            recipient_id=send.recipient_id,
            step_id=send.step_id,
            to=send.to,
            created_at=send.created_at,
            body=send.body,
            attempts=(*send.attempts, attempt),
            skip_reasons=send.skip_reasons,
            canceled_at=send.canceled_at,
            gave_up_at=send.gave_up_at,
            due_at=None,
            policy=send.policy,
            id=send.id,
            status=None,
            sent_on=None,
        )
    )


def _sends_of(recipient: Recipient, step_id: str) -> int:
    """``len(recipient.sends_for(step_id))``, with no tuple built for a recipient with none."""
    sends = recipient.sends
    if not sends:
        return 0
    return len(recipient.sends_for(step_id))


def _lasting_only(combos: Mapping[tuple[Any, ...], int]) -> dict[tuple[Any, ...], int]:
    """The combinations of reasons with no transient one: those that get a SKIPPED send."""
    return {r: n for r, n in combos.items() if r and _TRANSIENT_REASONS.isdisjoint(r)}


def _awaiting_receipt(decision: Decision, previous_step_id: str) -> bool:
    """True when a reminder waits only for the previous message's receipt (SENT, no receipt yet)."""
    if Reason.PREVIOUS_NOT_RECEIVED not in decision.reasons:
        return False
    latest = decision.recipient.latest_send(previous_step_id)
    return latest is not None and latest.status is DeliveryStatus.SENT


class _Whole:
    """The recipients of one claimed batch (of one campaign) read whole, read when first needed.

    Dispatch checks :class:`~smscampaign.providers.base.RecipientFacts`; a
    recipient is needed whole only to compute a send window not known yet, or
    to handle a failure. The first time one is needed, every recipient of the
    batch whose window at the batch's time is not known is read, in one query
    (a new zone or a closed window usually concerns many); anyone else is read
    on its own. Each is read from storage when asked for, never from an
    earlier batch.
    """

    def __init__(
        self,
        runner: CampaignRunner,
        campaign: Campaign,
        facts: Mapping[str, RecipientFacts],
        at: datetime,
        read: dict[str, Recipient],
    ) -> None:
        self._runner = runner
        self._campaign = campaign
        self._facts = facts
        self._at = at
        self._read = read
        self._batch_read = not facts  # recipients read whole already, or none to read

    def get(self, recipient_id: str) -> Recipient:
        """The recipient, read whole (NotFound if it is no longer stored)."""
        recipient = self._read.get(recipient_id)
        if recipient is not None:
            return recipient
        runner, campaign = self._runner, self._campaign
        if not self._batch_read:
            self._batch_read = True
            schedule = runner.schedule_for(campaign)
            unknown = [
                i
                for i, f in self._facts.items()
                if runner._known_window(schedule, f, self._at) is None
            ]
            self._read.update(runner.storage.get_recipients(campaign.id, unknown))
            recipient = self._read.get(recipient_id)
            if recipient is not None:
                return recipient
        recipient = self._read[recipient_id] = runner.storage.get_recipient(
            campaign.id, recipient_id
        )
        return recipient


class CampaignRunner:
    """Runs campaigns: queues what is due, sends it within the law, and takes receipts and replies.

    Args:
        storage: Where everything is kept.
        gateway: How messages go out and how webhooks are read.
        clock: Where the time comes from (default: the system clock).
        worker: This runner's name when claiming sends (unique per process).
        legal_hours: The quiet-hours table to enforce.
        thresholds: When a campaign suspends itself.
        help_text: The answer to a HELP reply.
        opt_out_confirmation: The one confirmation an opt-out gets ("" sends none).
        keywords: The keyword sets replies are classified with.
        accept_yes: Whether YES is an opt-in.
        batch_size: How many sends are claimed and saved together.
        status_callback_url: Given to the gateway for delivery receipts.
        on_reply: Called with each handled reply; exceptions are logged and contained.
        evaluation_interval: How often a running campaign's steps are re-evaluated
            when nothing this runner did has changed them.
        suspension_check_interval: How often, at most, a sending campaign's bounce
            and opt-out rates are checked against the thresholds (they are also
            checked whenever its steps are evaluated).
        claim_lease: How long sends this runner claims stay reserved for it; a
            runner that dies holding a claim delays those sends this long,
            after which another runner takes them (keep it well above the
            time one batch takes to send).
    """

    def __init__(
        self,
        storage: Storage,
        gateway: Gateway,
        clock: Clock | None = None,
        *,
        worker: str = "runner",
        legal_hours: LegalHoursTable = LEGAL_HOURS,
        thresholds: SuspensionThresholds | None = None,
        help_text: str = DEFAULT_HELP_TEXT,
        opt_out_confirmation: str = DEFAULT_OPT_OUT_CONFIRMATION,
        keywords: Sequence[KeywordSet] = DEFAULT_KEYWORDS,
        accept_yes: bool = False,
        batch_size: int = 500,
        status_callback_url: str | None = None,
        on_reply: Callable[[ReplyOutcome], None] | None = None,
        evaluation_interval: timedelta = timedelta(minutes=1),
        suspension_check_interval: timedelta = timedelta(minutes=1),
        claim_lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
        self.storage = storage
        self.gateway = gateway
        self.clock: Clock = clock or SystemClock()
        self.worker = worker
        self.legal_hours = legal_hours
        self.thresholds = thresholds or SuspensionThresholds()
        self.help_text = help_text
        self.opt_out_confirmation = opt_out_confirmation
        self.keywords = tuple(keywords)
        self.accept_yes = accept_yes
        self.batch_size = batch_size
        self.status_callback_url = status_callback_url
        self.on_reply = on_reply
        self._reply_hooks: list[Callable[[ReplyOutcome], None]] = []
        self.evaluation_interval = evaluation_interval
        self.suspension_check_interval = suspension_check_interval
        self.claim_lease = claim_lease
        self._rates_checked: dict[str, datetime] = {}
        self._schedules: dict[tuple[Any, ...], Schedule] = {}
        # The last campaign object asked about and its schedule: a claim batch
        # asks for each of its sends with the same (immutable) campaign.
        self._last_schedule: tuple[Campaign, Schedule] | None = None
        self._throttle = _Throttle()
        # Eligibility is re-evaluated when something this runner did may have
        # changed it, and otherwise every ``evaluation_interval`` (which also
        # catches what other workers and the host application changed).
        self._evaluated: dict[str, datetime] = {}
        self._dirty: set[str] = set()
        # With a storage that decides steps in place (StepDecider), an evaluation
        # reads only counts and pending ids, unless someone's lasting exclusion
        # changed: per campaign, the lasting-only combinations of reasons per step
        # as of the last evaluation that read every recipient (docs/runner.md).
        self._lasting: dict[str, tuple[Any, dict[str, dict[tuple[Any, ...], int]]]] = {}
        self._full_pass: set[str] = set()
        # The moments this runner deferred sends to (a heap), so every tick's
        # next_due names the earliest one still ahead.
        self._due: list[datetime] = []
        # The open window last found per (schedule, zone signature): numbers
        # with the same zones, region and area code share their legal hours.
        self._windows: dict[tuple[Any, ...], tuple[datetime, datetime | None]] = {}

    # -- schedules ----------------------------------------------------------------

    def schedule_for(self, campaign: Campaign) -> Schedule:
        """The :class:`~smscampaign.scheduling.Schedule` a campaign's fields describe."""
        last = self._last_schedule
        if last is not None and last[0] is campaign:
            return last[1]
        retry = campaign.options.retry
        key = (
            campaign.time_zone,
            campaign.send_window,
            campaign.throttle,
            campaign.starts_at,
            campaign.ends_at,
            campaign.options.transactional,
            retry,
        )
        schedule = self._schedules.get(key)
        if schedule is None:
            schedule = Schedule.from_spec(
                time_zone=campaign.time_zone,
                window=campaign.send_window,
                throttle=campaign.throttle,
                starts_at=campaign.starts_at,
                ends_at=campaign.ends_at,
                transactional=campaign.options.transactional,
                legal_hours=self.legal_hours,
                retry=retry,
            )
            self._schedules[key] = schedule
        self._last_schedule = (campaign, schedule)
        return schedule

    # -- campaign life --------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        return require_aware(now if now is not None else self.clock.now(), "now")

    def create(self, campaign: Campaign) -> Campaign:
        """Store a new campaign (validating its window and throttle first)."""
        self.schedule_for(campaign)
        self.storage.add_campaign(campaign)
        return campaign

    def add_recipients(
        self,
        campaign_id: str,
        contacts: Iterable[Contact | Recipient],
        *,
        list_name: str = "",
        now: datetime | None = None,
    ) -> int:
        """Add contacts (or ready-made recipients) to a campaign; returns how many were new.

        Contacts are saved when their account has none with that id. The
        campaign's timeline records how many were added and from which list.
        """
        at = self._now(now)
        self.storage.get_campaign(campaign_id)  # NotFound before anything is added

        def as_recipients() -> Iterator[Recipient]:
            for item in contacts:
                if isinstance(item, Recipient):
                    yield item
                else:
                    yield Recipient(campaign_id=campaign_id, contact=item, list_name=list_name)

        self.mark_changed(campaign_id)
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            added = self.storage.add_recipients(as_recipients())
            if added:
                detail = f"{added} recipients" + (f" from {list_name}" if list_name else "")
                # As stored now, not as read above: keep what others recorded meanwhile.
                self.storage.save_campaign(
                    self.storage.get_campaign(campaign_id).record(
                        TimelineAction.RECIPIENTS_ADDED, at=at, cause="import", detail=detail
                    )
                )
        return added

    def _transition(self, campaign_id: str, action: Callable[[Campaign], Campaign]) -> Campaign:
        self.mark_changed(campaign_id)
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            campaign = action(self.storage.get_campaign(campaign_id))
            self.storage.save_campaign(campaign)
        return campaign

    def _revise(self, campaign_id: str, change: Callable[[Campaign], Campaign | None]) -> Campaign:
        """Apply ``change`` to the campaign as stored now; save what it returns.

        The read and the write are one unit of work, so a state or timeline
        entry another caller saved since the runner last read the campaign (an
        operator's stop, another worker's suspension) is built on, never
        overwritten. ``change`` returns None to leave the campaign as it is.
        Returns the campaign as stored afterwards.
        """
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            current = self.storage.get_campaign(campaign_id)
            changed = change(current)
            if changed is None:
                return current
            self.storage.save_campaign(changed)
        return changed

    def schedule(
        self, campaign_id: str, *, now: datetime | None = None, cause: str = "operator"
    ) -> Campaign:
        """DRAFT → SCHEDULED, after checking every template can be filled by some recipient."""
        at = self._now(now)
        fields: set[str] = set()
        for recipient in self.storage.iter_recipients(campaign_id, with_sends=False):
            fields.update(k for k, v in recipient.template_values().items() if v)
        campaign = self.storage.get_campaign(campaign_id)
        self.schedule_for(campaign)
        return self._transition(
            campaign_id, lambda c: c.schedule(at=at, cause=cause, available_fields=fields)
        )

    def start(
        self, campaign_id: str, *, now: datetime | None = None, cause: str = "operator"
    ) -> Campaign:
        """SCHEDULED → IN_PROGRESS now, without waiting for the start time."""
        at = self._now(now)
        return self._transition(campaign_id, lambda c: c.start(at=at, cause=cause))

    def suspend(self, campaign_id: str, *, cause: str, now: datetime | None = None) -> Campaign:
        """IN_PROGRESS → SUSPENDED: nothing is sent until it is resumed."""
        at = self._now(now)
        return self._transition(campaign_id, lambda c: c.suspend(at=at, cause=cause))

    def resume(
        self, campaign_id: str, *, now: datetime | None = None, cause: str = "operator"
    ) -> Campaign:
        """SUSPENDED → IN_PROGRESS."""
        at = self._now(now)
        return self._transition(campaign_id, lambda c: c.resume(at=at, cause=cause))

    def stop(
        self, campaign_id: str, *, now: datetime | None = None, cause: str = "operator"
    ) -> Campaign:
        """Stop a campaign for good: every send not yet out is CANCELED."""
        at = self._now(now)
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            campaign = self.storage.get_campaign(campaign_id).stop(at=at, cause=cause)
            self.storage.save_campaign(campaign)
            self._cancel_pending(campaign_id, at)
        return campaign

    def complete(self, campaign_id: str, *, cause: str, now: datetime | None = None) -> Campaign:
        """IN_PROGRESS → COMPLETED; sends not yet out are CANCELED."""
        at = self._now(now)
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            campaign = self.storage.get_campaign(campaign_id).complete(at=at, cause=cause)
            self.storage.save_campaign(campaign)
            self._cancel_pending(campaign_id, at)
        return campaign

    def _cancel_pending(self, campaign_id: str, at: datetime) -> int:
        pending = [
            s.cancel(at=at)
            for s in self.storage.iter_sends(campaign_id)
            if s.status is DeliveryStatus.QUEUED
        ]
        if pending:
            self.storage.save_sends(pending)
        return len(pending)

    # -- the tick -------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """Do everything that is due at ``now`` (default: the clock's now)."""
        at = self._now(now)
        report = TickReport(at=at)
        evaluated: dict[str, bool] = {}
        running: dict[str, Campaign] = {}
        for campaign in list(self.storage.iter_campaigns()):
            campaign = self._advance_state(campaign, at, report)
            if campaign.state is not CampaignState.IN_PROGRESS:
                continue
            running[campaign.id] = campaign
            if self._due_for_evaluation(campaign.id, at):
                evaluated[campaign.id] = self._queue_steps(campaign, at, report)
        touched = self._dispatch(at, report, running)
        for campaign_id in touched | evaluated.keys():
            self._after_dispatch(campaign_id, at, report, waiting=evaluated.get(campaign_id))
        # Sends deferred by earlier ticks count too: next_due is the earliest
        # moment any send this runner deferred may go, not only this tick's.
        due = self._due
        while due and due[0] <= at:
            heapq.heappop(due)
        if due:
            report.note_due(due[0])
        return report

    def _note_due(self, report: TickReport, moment: datetime) -> None:
        """Remember that a send was deferred to ``moment`` (for this and later ticks)."""
        report.note_due(moment)
        heapq.heappush(self._due, moment)

    def _due_for_evaluation(self, campaign_id: str, at: datetime) -> bool:
        last = self._evaluated.get(campaign_id)
        if campaign_id in self._dirty or last is None or at - last >= self.evaluation_interval:
            self._dirty.discard(campaign_id)
            self._evaluated[campaign_id] = at
            return True
        return False

    def mark_changed(self, campaign_id: str | None = None) -> None:
        """Have the next tick re-evaluate a campaign's steps (all campaigns when None).

        Call it after changing recipients behind the runner's back (the
        runner's own methods do it for you).
        """
        if campaign_id is None:
            self._evaluated.clear()
            self._lasting.clear()
        else:
            self._dirty.add(campaign_id)
            self._full_pass.add(campaign_id)

    def _active_ids(self) -> list[str]:
        return [c.id for c in self.storage.iter_campaigns() if c.state is CampaignState.IN_PROGRESS]

    def _advance_state(self, campaign: Campaign, at: datetime, report: TickReport) -> Campaign:
        # ``campaign`` was read at the start of the tick: each transition is
        # judged again on the campaign as stored now (_revise).
        def starts(c: Campaign) -> bool:
            return c.state is CampaignState.SCHEDULED and (c.starts_at is None or c.starts_at <= at)

        def ends(c: Campaign) -> bool:
            return (
                c.state is CampaignState.IN_PROGRESS and c.ends_at is not None and at >= c.ends_at
            )

        if starts(campaign):
            campaign = self._revise(
                campaign.id,
                lambda c: c.start(at=at, cause="start time reached") if starts(c) else None,
            )
            if campaign.state is CampaignState.IN_PROGRESS:
                report.started.append(campaign.id)
        if ends(campaign):

            def complete(c: Campaign) -> Campaign | None:
                if not ends(c):
                    return None
                canceled = self._cancel_pending(c.id, at)
                report.canceled += canceled
                return c.complete(
                    at=at,
                    cause="end date passed",
                    detail=f"{canceled} sends not yet out were canceled",
                )

            campaign = self._revise(campaign.id, complete)
            if campaign.state is CampaignState.COMPLETED:
                report.completed.append(campaign.id)
        return campaign

    def _suppressed_numbers(self, account: str) -> frozenset[str]:
        return frozenset(s.e164 for s in self.storage.iter_suppressions(account=account))

    def _queue_steps(self, campaign: Campaign, at: datetime, report: TickReport) -> bool:
        """Queue every pending recipient of every step; True while anything is left to do.

        Something is left to do when a send was queued, a reminder is not yet
        due, or a reminder waits for the previous message's receipt. A storage
        that decides steps in place answers from counts and pending ids
        (:meth:`_queue_steps_in_storage`) unless someone's lasting exclusion
        may have changed; otherwise every recipient is read and decided here.
        """
        storage = self.storage
        if isinstance(storage, StepDecider) and campaign.id not in self._full_pass:
            waiting = self._queue_steps_in_storage(storage, campaign, at, report)
            if waiting is not None:
                return waiting
        self._full_pass.discard(campaign.id)
        return self._queue_steps_in_python(campaign, at, report)

    def _queue_steps_in_storage(
        self, decider: StepDecider, campaign: Campaign, at: datetime, report: TickReport
    ) -> bool | None:
        """Queue the pending recipients from the storage's counts; None when every one must be read.

        Only recipients excluded for lasting reasons alone get (or update) a
        SKIPPED send, so when the combinations of those reasons per step are
        what the last full evaluation saw, nobody needs one: the pending
        recipients are read by id and queued, and whether anything is left to
        do follows from the counts. When they differ (someone was suppressed,
        opted out, completed before a reminder fell due...), or only a
        receipt still missing could keep the campaign open, None asks for the
        full evaluation.
        """
        memory = self._lasting.get(campaign.id)
        if memory is None or memory[0] != (campaign.steps, campaign.options):
            return None
        combos = {
            step.id: decider.count_step_combinations(campaign, step, now=at)
            for step in campaign.steps
        }
        if {step_id: _lasting_only(c) for step_id, c in combos.items()} != memory[1]:
            return None
        # With an end date, a response may still complete (and earn its thank-you)
        # until the end; without one, the campaign completes once nothing is due.
        thank_you_may_follow = campaign.ends_at is not None
        waiting = False
        receipts: list[str] = []
        for step in campaign.steps:
            previous = campaign.previous_step(step.id)
            for reasons in combos[step.id]:
                if (
                    not reasons
                    or Reason.NOT_YET_DUE in reasons
                    or (thank_you_may_follow and reasons == (Reason.NOT_COMPLETE,))
                ):
                    waiting = True
                elif previous is not None and Reason.PREVIOUS_NOT_RECEIVED in reasons:
                    receipts.append(previous.id)
        if not waiting and receipts and not campaign.options.accept_sent_as_received:
            # Whether a reminder still waits for a receipt depends on which
            # recipient's previous message is SENT: none is, or read them all.
            latest = self.storage.count_sends(campaign.id, by=("step", "status"))
            if any(latest.get((step_id, DeliveryStatus.SENT.value)) for step_id in receipts):
                return None
        for step in campaign.steps:
            if combos[step.id].get(()):
                self._queue_pending(decider, campaign, step, at, report)
        return waiting

    def _queue_pending(
        self, decider: StepDecider, campaign: Campaign, step: Step, at: datetime, report: TickReport
    ) -> None:
        """Queue a send for each recipient the storage finds pending for ``step``."""
        ids = list(decider.pending_step_ids(campaign, step, now=at))  # read before writing
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            found = self.storage.get_recipients(campaign.id, chunk, with_sends=True)
            batch: list[Send] = []
            for recipient_id in chunk:
                recipient = found.get(recipient_id)
                if recipient is None:  # pragma: no cover - removed since the count
                    continue
                send = self._send_for(campaign, Decision(recipient, step), at)
                if send is not None:
                    batch.append(send)
            if batch:
                # Insert only: a send another worker saved since these were read stays.
                report.queued += len(self.storage.save_sends(batch, new_only=True))

    def _queue_steps_in_python(self, campaign: Campaign, at: datetime, report: TickReport) -> bool:
        """Decide every recipient for every step here (see :meth:`_queue_steps`).

        The recipients are read once, in chunks, and every step's engine
        decides each chunk (an engine gives the same decisions however its
        stream is chunked).
        """
        suppressed = self._suppressed_numbers(campaign.account)
        waiting = False
        # With an end date, a response may still complete (and earn its thank-you)
        # until the end; without one, the campaign completes once nothing is due.
        thank_you_may_follow = campaign.ends_at is not None
        engines = [
            (
                Eligibility(campaign, step, now=at, suppressed=suppressed),
                campaign.previous_step(step.id),
            )
            for step in campaign.steps
        ]
        seen: dict[str, dict[tuple[Any, ...], int]] = {step.id: {} for step in campaign.steps}
        chunk: list[Recipient] = []
        recipients = iter(self.storage.iter_recipients(campaign.id))
        while True:
            chunk = list(itertools.islice(recipients, self.batch_size))
            if not chunk:
                break
            batch: list[Send] = []
            updates: list[Send] = []
            for engine, previous in engines:
                lasting = seen[engine.step.id]
                for decision in engine.decide(chunk):
                    reasons = decision.reasons
                    if reasons and _TRANSIENT_REASONS.isdisjoint(reasons):
                        lasting[reasons] = lasting.get(reasons, 0) + 1
                    if (
                        decision.due_at is not None
                        or (previous is not None and _awaiting_receipt(decision, previous.id))
                        or (thank_you_may_follow and decision.reasons == (Reason.NOT_COMPLETE,))
                    ):
                        waiting = True
                    send = self._send_for(campaign, decision, at)
                    if send is None:
                        continue
                    latest = decision.recipient.latest_send(engine.step.id)
                    if latest is not None and latest.id == send.id:
                        updates.append(send)  # a skip record whose reasons changed
                    else:
                        batch.append(send)
                    if send.status is DeliveryStatus.SKIPPED:
                        report.skipped += 1
                    else:
                        report.queued += 1
                        waiting = True
            if batch:
                # Insert only: a send another worker saved since these were read stays.
                self.storage.save_sends(batch, new_only=True)
            if updates:
                self.storage.save_sends(updates)
        self._lasting[campaign.id] = ((campaign.steps, campaign.options), seen)
        return waiting

    def _send_for(self, campaign: Campaign, decision: Decision, at: datetime) -> Send | None:
        recipient = decision.recipient
        step = decision.step
        if not decision.reasons:
            try:
                body = step.render(recipient.template_values())
            except MissingField:  # pragma: no cover - the MISSING_FIELD rule excludes these
                return None
            # Send(...) as given: every value is the checked campaign's, step's or
            # recipient's, the rendered text, or the tick's aware time.
            return _new_send_as_given(
                campaign_id=campaign.id,
                recipient_id=recipient.id,
                step_id=step.id,
                to=recipient.phone.e164,
                created_at=at,
                body=body,
                attempts=(),
                skip_reasons=(),
                canceled_at=None,
                gave_up_at=None,
                due_at=None,
                policy=campaign.options.retry,
                id=f"{campaign.id}:{step.id}:{recipient.id}:{_sends_of(recipient, step.id)}",
            )
        if any(reason in _TRANSIENT_REASONS for reason in decision.reasons):
            return None
        reasons = decision.skip_reasons
        latest = recipient.latest_send(step.id)
        send_id = f"{campaign.id}:{step.id}:{recipient.id}:{len(recipient.sends_for(step.id))}"
        if latest is not None and latest.status is DeliveryStatus.SKIPPED:
            # One skip record per recipient and step: when the reasons change
            # (e.g. a STOP blocked it at dispatch, and eligibility now names
            # every reason), the record is updated, not repeated.
            if latest.skip_reasons == reasons:
                return None
            send_id = latest.id
        return Send.skipped(
            campaign_id=campaign.id,
            recipient_id=recipient.id,
            step_id=step.id,
            to=recipient.phone.e164,
            at=at,
            reasons=reasons,
            id=send_id,
        )

    # -- dispatch -------------------------------------------------------------------

    def _dispatch(
        self, at: datetime, report: TickReport, running: Mapping[str, Campaign]
    ) -> set[str]:
        """Send what is due; returns the ids of the campaigns whose sends it handled.

        ``running`` holds the campaigns this tick found running (read at its
        start); any other campaign a claimed send belongs to is read.
        """
        touched: set[str] = set()
        campaigns = dict(running)
        self._throttle.forget_before(at)
        while True:
            # Due-ness and windows are judged at the tick's time, but a claim must
            # last ``claim_lease`` from the moment it is made: a long tick on the
            # real clock would otherwise hand out claims that have already lapsed,
            # and another worker would take over sends still being sent.
            elapsed = max(self.clock.now() - at, timedelta(0))
            claimed = self.storage.claim_due_sends(
                self.worker, at, self.batch_size, lease=self.claim_lease + elapsed
            )
            if not claimed:
                return touched
            done: list[Send] = []
            by_campaign: dict[str, list[Send]] = {}
            for send in claimed:
                by_campaign.setdefault(send.campaign_id, []).append(send)
            touched.update(by_campaign)
            for campaign_id in by_campaign:  # every campaign checked before anything goes out
                campaign = campaigns.get(campaign_id)
                if campaign is None:
                    campaign = campaigns[campaign_id] = self.storage.get_campaign(campaign_id)
                if campaign.state is CampaignState.IN_PROGRESS and not campaign.sender.strip():
                    # Scheduling refuses a campaign without a sender; one stored
                    # running without it cannot send, and says so.
                    raise InvalidCampaign(
                        f"campaign {campaign_id!r} is in progress with no sender; set the "
                        "number, short code or sender id it sends from",
                        value=campaign_id,
                    )
            for campaign_id, sends in by_campaign.items():
                campaign = campaigns[campaign_id]
                # One query each for the batch: the recipients as they are now, and
                # which of their numbers are suppressed now (the last line of defence).
                facts, whole = self._read_recipients(campaign, sends, at)
                suppressed = self.storage.find_suppressions(
                    [s.to for s in sends], account=campaign.account
                )
                for send in sends:
                    done.append(
                        self._dispatch_one(
                            campaign,
                            send,
                            facts.get(send.recipient_id),
                            whole,
                            send.to in suppressed,
                            at,
                            report,
                        )
                    )
            with self.storage.transaction():
                self.storage.save_sends(done)
            if len(claimed) < self.batch_size:
                return touched

    def _read_recipients(
        self, campaign: Campaign, sends: Sequence[Send], at: datetime
    ) -> tuple[Mapping[str, RecipientFacts], _Whole]:
        """The claimed sends' recipients as they are now: their facts, and where to read them whole.

        A storage offering :class:`~smscampaign.providers.base.RecipientFactsReader`
        answers with facts alone, and a recipient is read whole only when its
        send window must be computed or a failure handled (see :class:`_Whole`).
        Otherwise every recipient is read whole and its facts taken from it.
        Either way, dispatch checks the same facts with the same code.
        """
        ids = [s.recipient_id for s in sends]
        storage = self.storage
        if not isinstance(storage, RecipientFactsReader):
            read = storage.get_recipients(campaign.id, ids)
            return {i: RecipientFacts.of(r) for i, r in read.items()}, _Whole(
                self, campaign, {}, at, read
            )
        facts = storage.recipient_facts(campaign.id, ids)
        return facts, _Whole(self, campaign, facts, at, {})

    def _dispatch_one(
        self,
        campaign: Campaign,
        send: Send,
        facts: RecipientFacts | None,
        whole: _Whole,
        suppressed: bool,
        at: datetime,
        report: TickReport,
    ) -> Send:
        if campaign.state is not CampaignState.IN_PROGRESS:
            report.deferred += 1
            return attrs.evolve(send, due_at=at + timedelta(minutes=1))
        if facts is None:  # pragma: no cover - storage keeps sends with their recipients
            report.canceled += 1
            return send.cancel(at=at)
        # The last line of defence: what storage says now, not what the queue thought.
        block = Reason.SUPPRESSED.value if suppressed else self._blocked(campaign, facts)
        if block is not None:
            report.blocked += 1
            # The next evaluation reads everyone, so this skip record is
            # completed with every reason that applies.
            self._full_pass.add(campaign.id)
            if send.attempts:
                return send.give_up(at=at) if send.awaiting_retry else send
            return Send.skipped(
                campaign_id=send.campaign_id,
                recipient_id=send.recipient_id,
                step_id=send.step_id,
                to=send.to,
                at=at,
                reasons=(block,),
                id=send.id,
            )
        schedule = self.schedule_for(campaign)
        window = self._window(schedule, facts, at, send.recipient_id, whole)
        if window is None:
            report.canceled += 1
            return send.cancel(at=at) if not send.attempts else send.give_up(at=at)
        opens, closes = window
        start = self._throttle.next_allowed(campaign.id, schedule, opens)
        # When the throttle holds the send past its window's opening (the daily
        # cap until midnight), ask the window again from there, and so on: the
        # send is deferred once, to a moment both allow, instead of being
        # claimed at midnight only to wait for the morning.
        for _ in range(_SETTLE_ROUNDS):
            if start <= opens:
                break
            later = self._window(schedule, facts, start, send.recipient_id, whole)
            if later is None:
                break
            opens = later[0]
            start = self._throttle.next_allowed(campaign.id, schedule, opens)
        if start > at:
            slot = self._throttle.book(campaign.id, schedule, start)
            report.deferred += 1
            self._note_due(report, slot)
            return attrs.evolve(send, due_at=slot)
        return self._send_now(campaign, schedule, send, closes, at, report, whole)

    @staticmethod
    def _window_key(schedule: Schedule, facts: RecipientFacts) -> tuple[Any, ...]:
        # Numbers with the same zones, region, kind and area code share their
        # legal hours; the recipient's explicit zone, when it has one, rules.
        e164 = facts.e164
        return (
            id(schedule),
            facts.time_zone,
            facts.zones,
            facts.region,
            facts.kind,
            e164[:5] if e164.startswith("+1") else "",
        )

    def _known_window(
        self, schedule: Schedule, facts: RecipientFacts, at: datetime
    ) -> tuple[datetime, datetime | None] | None:
        """The open window at ``at`` found earlier for recipients with these facts, if any."""
        cached = self._windows.get(self._window_key(schedule, facts))
        if cached is not None and cached[0] <= at and (cached[1] is None or at < cached[1]):
            return at, cached[1]
        return None

    def _window(
        self,
        schedule: Schedule,
        facts: RecipientFacts,
        at: datetime,
        recipient_id: str,
        whole: _Whole,
    ) -> tuple[datetime, datetime | None] | None:
        """The open window at or after ``at`` for this recipient: (opens, closes), or None."""
        known = self._known_window(schedule, facts, at)
        if known is not None:
            return known
        recipient = whole.get(recipient_id)
        answer = schedule.next_send_time(recipient, at, now=at)
        if answer.at is None:
            return None
        if answer.at <= at:
            key = self._window_key(schedule, RecipientFacts.of(recipient))
            self._windows[key] = (answer.at, answer.window_closes)
        return answer.at, answer.window_closes

    def _blocked(self, campaign: Campaign, facts: RecipientFacts) -> str | None:
        consent = facts.consent
        if consent is Consent.OPTED_OUT:
            return Reason.OPTED_OUT.value
        if consent is Consent.PENDING_OPT_IN and not campaign.options.allow_pending_opt_in:
            return Reason.NOT_OPTED_IN.value
        if facts.status is not ContactStatus.ACTIVE:
            return str(facts.status)
        return None

    def _send_now(
        self,
        campaign: Campaign,
        schedule: Schedule,
        send: Send,
        closes: datetime | None,
        at: datetime,
        report: TickReport,
        whole: _Whole,
    ) -> Send:
        if send.status is not DeliveryStatus.QUEUED:  # pragma: no cover - claims are queued
            send.start_attempt(at=at)  # raises InvalidTransition, naming the status
        number = len(send.attempts) + 1
        # The validity period ends when the recipient's window closes (at most
        # the 10 hours providers accept), so a backlog expires instead of
        # delivering at night.
        valid_until = None if closes is None else min(closes, at + _MAX_VALIDITY)
        message = _outbound(
            send.to, campaign.sender, send.body, f"{send.id}:{number}", valid_until,
            self.status_callback_url,
        )  # fmt: skip
        self._throttle.record(campaign.id, schedule, at)
        try:
            receipt = self.gateway.send(message)
        except GatewayError as error:
            report.failed += 1
            send = send.start_attempt(at=at).apply(
                StatusEvent.failure(
                    provider=self.gateway.name,
                    provider_message_id=f"unsent:{send.id}:{number}",
                    occurred_at=at,
                    reason=error.reason or FailureReason.PROVIDER_ERROR,
                    permanent=isinstance(error, PermanentGatewayError),
                    provider_code=error.provider_code,
                    provider_text=error.provider_text or str(error),
                )
            )
            recipient = whole.get(send.recipient_id)
            return self._after_failure(campaign, schedule, recipient, send, at, report)
        report.sent += 1
        return _with_receipt(send, number, at, receipt)

    def _after_failure(
        self,
        campaign: Campaign,
        schedule: Schedule,
        recipient: Recipient,
        send: Send,
        at: datetime,
        report: TickReport,
    ) -> Send:
        """Suppress a bad number, or place the retry of a temporary failure in a window."""
        if send.status is DeliveryStatus.HARD_BOUNCED:
            reason = send.failure_reason
            if reason is not None and reason.suppresses:
                cause = (
                    SuppressionCause.CARRIER_OPT_OUT
                    if reason is FailureReason.OPTED_OUT_AT_CARRIER
                    else SuppressionCause.HARD_BOUNCE
                )
                attempt = send.last_attempt
                self.storage.suppress(
                    Suppression(
                        e164=send.to,
                        cause=cause,
                        at=at,
                        account=campaign.account,
                        detail=(attempt.provider_code or reason.value) if attempt else reason.value,
                        campaign_id=campaign.id,
                        by=self.gateway.name,
                    )
                )
            return send
        if not send.awaiting_retry:
            return send
        first = send.attempts[0].queued_at
        last = send.last_attempt
        failed_at = last.failed_at if last is not None and last.failed_at else at
        retry = schedule.retry_time(
            recipient, failed_at, attempt=send.retries_used + 1, first_failed_at=first
        )
        if retry.at is None:
            return send.give_up(at=at)
        self._note_due(report, retry.at)
        return send.schedule_retry(at=retry.at)

    def _after_dispatch(
        self, campaign_id: str, at: datetime, report: TickReport, *, waiting: bool | None
    ) -> None:
        """Suspend a campaign whose rates passed their thresholds, or complete a finished one.

        ``waiting`` is what this tick's evaluation said (None: not evaluated,
        so completion is not judged this tick).
        """
        last = self._rates_checked.get(campaign_id)
        due = waiting is not None or last is None or at - last >= self.suspension_check_interval
        if not due:  # nothing to judge (completion needs an evaluation, so it is due too)
            return
        campaign = self.storage.get_campaign(campaign_id)
        if campaign.state is not CampaignState.IN_PROGRESS:
            return
        self._rates_checked[campaign_id] = at
        cause = self._suspension_cause(campaign_id)
        running = CampaignState.IN_PROGRESS
        if cause is not None:
            revised = self._revise(
                campaign_id,
                lambda c: c.suspend(at=at, cause=cause) if c.state is running else None,
            )
            if revised.state is CampaignState.SUSPENDED:
                report.suspended.append(campaign_id)
            return
        if waiting is False and not self._in_flight(campaign_id):
            revised = self._revise(
                campaign_id,
                lambda c: (
                    c.complete(at=at, cause="every recipient reached")
                    if c.state is running
                    else None
                ),
            )
            if revised.state is CampaignState.COMPLETED:
                report.completed.append(campaign_id)

    def _in_flight(self, campaign_id: str) -> bool:
        counts = self.storage.count_sends(campaign_id, by=("status",))
        return any(counts.get((s.value,), 0) for s in _IN_FLIGHT)

    def _suspension_cause(self, campaign_id: str) -> str | None:
        counts = self.storage.count_sends(campaign_id, by=("status", "reason"))
        went_out = sum(
            n
            for (status, _), n in counts.items()
            if status
            in (
                DeliveryStatus.SENT,
                DeliveryStatus.DELIVERED,
                DeliveryStatus.SOFT_BOUNCED,
                DeliveryStatus.HARD_BOUNCED,
                DeliveryStatus.SENDING,
            )
        )
        if went_out < self.thresholds.min_sends:
            return None
        hard = sum(n for (s, _), n in counts.items() if s == DeliveryStatus.HARD_BOUNCED)
        soft = sum(n for (s, _), n in counts.items() if s == DeliveryStatus.SOFT_BOUNCED)
        carrier_opt_outs = sum(
            n
            for (s, r), n in counts.items()
            if s == DeliveryStatus.HARD_BOUNCED and r == FailureReason.OPTED_OUT_AT_CARRIER
        )
        opt_outs = carrier_opt_outs + self._reply_opt_outs(campaign_id)
        for name, count, limit in (
            ("hard-bounce", hard, self.thresholds.hard_bounce_rate),
            ("soft-bounce", soft, self.thresholds.soft_bounce_rate),
            ("opt-out", opt_outs, self.thresholds.opt_out_rate),
        ):
            rate = count / went_out
            if rate > limit:
                return (
                    f"{name} rate {rate:.1%} ({count} of {went_out} sent) "
                    f"is above the {limit:.1%} threshold"
                )
        return None

    def _reply_opt_outs(self, campaign_id: str) -> int:
        counts = self.storage.count_recipients(campaign_id, by=("status",))
        return counts.get((ContactStatus.UNSUBSCRIBED.value,), 0)

    # -- webhooks -------------------------------------------------------------------

    def handle_status(self, request: WebhookRequest, *, now: datetime | None = None) -> list[Send]:
        """Verify and apply a provider's status callback; returns the sends it changed.

        Duplicates and reordering are harmless (the merge converges); a
        receipt for an id not recorded yet is kept until the id appears. A
        temporary failure reported in a receipt is retried like one raised at
        send time; a permanent one on a bad number suppresses it.

        Raises:
            WebhookVerificationError: The signature did not verify.
            MalformedWebhook: The body is not the provider's format.
        """
        events = self.gateway.parse_status(request)
        return self.apply_events(events, now=now)

    def apply_events(
        self, events: Iterable[StatusEvent], *, now: datetime | None = None
    ) -> list[Send]:
        """Apply already parsed status events (see :meth:`handle_status`)."""
        at = self._now(now)
        with self.storage.transaction():
            outcome = self.storage.record_events(events)
            follow_up: list[Send] = []
            # Only hard bounces and sends awaiting a retry ask for more; the
            # outcome carries those whole and names the rest.
            for send in outcome.follow_up:
                updated = self._settle(send, at)
                if updated is not send:
                    follow_up.append(updated)
            if follow_up:
                self.storage.save_sends(follow_up)
        return [*outcome.sends]

    def _settle(self, send: Send, at: datetime) -> Send:
        if send.status is DeliveryStatus.HARD_BOUNCED or (
            send.awaiting_retry and send.due_at is None
        ):
            campaign = self.storage.get_campaign(send.campaign_id)
            recipient = self.storage.get_recipient(send.campaign_id, send.recipient_id)
            schedule = self.schedule_for(campaign)
            if send.status is DeliveryStatus.HARD_BOUNCED:
                if self.storage.get_suppression(send.to, account=campaign.account) is None:
                    self._after_failure(campaign, schedule, recipient, send, at, TickReport(at=at))
                return send
            return self._after_failure(campaign, schedule, recipient, send, at, TickReport(at=at))
        return send

    def handle_inbound(
        self, request: WebhookRequest, *, now: datetime | None = None
    ) -> list[ReplyOutcome]:
        """Verify and handle a provider's inbound-message callback.

        Raises:
            WebhookVerificationError: The signature did not verify.
            MalformedWebhook: The body is not the provider's format.
        """
        return [self.handle_reply(m, now=now) for m in self.gateway.parse_inbound(request)]

    def handle_reply(self, message: InboundMessage, *, now: datetime | None = None) -> ReplyOutcome:
        """Record and act on one reply.

        An opt-out suppresses the number across every campaign of the account
        before the next send and gets one confirmation; HELP gets the help
        text; an opt-in lifts a stop-word suppression (only the recipient can
        undo their own STOP); anything else is recorded and counted.
        """
        at = self._now(now)
        classification = message.classify(keywords=self.keywords, accept_yes=self.accept_yes)
        if not self.storage.record_inbound(message):
            return ReplyOutcome(message=message, classification=classification, duplicate=True)
        in_reply_to = self._in_reply_to(message)
        outcome = ReplyOutcome(message=message, classification=classification)
        if classification.keyword is Keyword.OPT_OUT:
            outcome = self._opt_out(message, classification, at, in_reply_to)
        elif classification.keyword is Keyword.OPT_IN:
            outcome = self._opt_in(message, classification, at)
        elif classification.keyword is Keyword.HELP and self.help_text:
            self._answer(message, self.help_text)
            outcome = attrs.evolve(outcome, answered=self.help_text)
        outcome = attrs.evolve(outcome, in_reply_to=in_reply_to)
        hooks = [self.on_reply] if self.on_reply is not None else []
        for hook in [*hooks, *self._reply_hooks]:
            try:
                hook(outcome)
            except Exception:  # a host's hook must never lose the reply (stored above)
                log.exception("on_reply hook failed for %s", message.provider_message_id)
        return outcome

    def add_reply_hook(self, hook: Callable[[ReplyOutcome], None]) -> None:
        """Call ``hook`` with each reply the runner handles, after it is stored and acted on.

        Hooks run in the order they were added, after ``on_reply``; each gets
        the :class:`ReplyOutcome` (the message, its classification, what was
        done, and ``in_reply_to``, the message it answers). An exception in a
        hook is logged (``smscampaign.runner``) and contained: the reply is
        already stored, and the other hooks still run. Duplicates of a reply
        already handled are not passed on.
        """
        self._reply_hooks.append(hook)

    def _in_reply_to(self, message: InboundMessage) -> Send | None:
        """The account's latest message that went out to the sender before the reply."""
        found: tuple[datetime, str, Send] | None = None
        where = LogFilter(to=message.sender.e164)
        for send in self.storage.iter_sms_log(where, account=message.account):
            sent_on = send.sent_on
            if sent_on is None or sent_on > message.received_at:
                continue
            if found is None or (sent_on, send.id) > found[:2]:
                found = (sent_on, send.id, send)
        return None if found is None else found[2]

    def _contacts_of(self, message: InboundMessage) -> list[Contact]:
        found = self.storage.find_contacts([message.sender.e164], account=message.account)
        return list(found.values())

    def _hold_recipient_campaigns(self, contacts: Sequence[Contact], account: str) -> list[str]:
        """Hold, in id order, each campaign of the account with one of the contacts as a recipient.

        Called first in a reply's unit of work, before the suppression list
        or the contacts are written: units that change a campaign's
        recipients take the campaign first, like every unit that changes a
        campaign, and several in one order, so they neither overwrite one
        another nor deadlock. Returns the campaign ids held.
        """
        ids = sorted(
            campaign.id
            for campaign in self.storage.iter_campaigns(account=account)
            if self.storage.get_recipients(campaign.id, [c.id for c in contacts])
        )
        for campaign_id in ids:
            hold_campaign(self.storage, campaign_id)
        return ids

    def _set_recipient_status(
        self,
        contact: Contact,
        campaign_ids: Sequence[str],
        old: set[ContactStatus],
        new: ContactStatus,
    ) -> None:
        changed: list[Recipient] = []
        for campaign_id in campaign_ids:
            try:
                recipient = self.storage.get_recipient(campaign_id, contact.id)
            except NotFound:
                continue
            if recipient.status in old:
                changed.append(recipient.with_status(new))
        if changed:
            if new is ContactStatus.ACTIVE:
                # A lifted exclusion: the next evaluation reads every recipient.
                self._full_pass.update(r.campaign_id for r in changed)
            self.storage.update_recipients(changed)

    def _opt_out(
        self,
        message: InboundMessage,
        classification: ReplyClassification,
        at: datetime,
        in_reply_to: Send | None = None,
    ) -> ReplyOutcome:
        e164 = message.sender.e164
        with self.storage.transaction():
            contacts = self._contacts_of(message)
            held = self._hold_recipient_campaigns(contacts, message.account)
            added = self.storage.suppress(
                Suppression(
                    e164=e164,
                    cause=SuppressionCause.STOP_WORD,
                    at=at,
                    account=message.account,
                    detail=message.body,
                    # The campaign whose message the STOP answers (seed 004 lists it).
                    campaign_id=in_reply_to.campaign_id if in_reply_to is not None else None,
                    by=message.provider,
                )
            )
            for contact in contacts:
                if contact.consent is not Consent.OPTED_OUT:
                    self.storage.save_contacts([contact.with_consent(Consent.OPTED_OUT)])
                self._set_recipient_status(
                    contact,
                    held,
                    {ContactStatus.ACTIVE, ContactStatus.INACTIVE},
                    ContactStatus.UNSUBSCRIBED,
                )
        answered = None
        if added and self.opt_out_confirmation:
            self._answer(message, self.opt_out_confirmation)
            answered = self.opt_out_confirmation
        return ReplyOutcome(
            message=message, classification=classification, suppressed=True, answered=answered
        )

    def _opt_in(
        self, message: InboundMessage, classification: ReplyClassification, at: datetime
    ) -> ReplyOutcome:
        e164 = message.sender.e164
        entry = self.storage.get_suppression(e164, account=message.account)
        lifted = False
        with self.storage.transaction():
            contacts = self._contacts_of(message)
            held = self._hold_recipient_campaigns(contacts, message.account)
            if entry is not None and entry.cause.lifted_by_opt_in:
                self.storage.unsuppress(
                    e164, account=message.account, at=at, by="opt_in", reason=message.body
                )
                lifted = True
            if entry is None or lifted:
                for contact in contacts:
                    if contact.consent is not Consent.OPTED_IN:
                        self.storage.save_contacts([contact.with_consent(Consent.OPTED_IN)])
                    self._set_recipient_status(
                        contact, held, {ContactStatus.UNSUBSCRIBED}, ContactStatus.ACTIVE
                    )
        return ReplyOutcome(message=message, classification=classification, lifted=lifted)

    def _answer(self, message: InboundMessage, text: str) -> None:
        """Send one automatic answer (confirmation or help) outside any campaign's counts."""
        try:
            self.gateway.send(
                OutboundMessage(
                    to=message.sender.e164,
                    sender=message.recipient,
                    body=text,
                    idempotency_key=f"answer:{message.provider}:{message.provider_message_id}",
                )
            )
        except GatewayError as error:
            # Providers that handle opt-outs themselves (Twilio's default) refuse
            # our confirmation with an opted-out error: they sent their own.
            log.info("could not answer %s: %s", message.sender.e164, error)

    # -- requeue and reconciliation ------------------------------------------------

    def requeue(
        self,
        campaign_id: str,
        step_id: str,
        *,
        soft_bounced: bool = True,
        unreached: bool = True,
        now: datetime | None = None,
        cause: str = "operator",
    ) -> int:
        """Send a step again to those it did not reach (seed 003 "Requeue").

        Args:
            campaign_id: The campaign.
            step_id: The step.
            soft_bounced: Resend to recipients whose send soft-bounced.
            unreached: Resend to recipients whose send was canceled.
            now: When.
            cause: Who or why, for the timeline.

        Returns:
            How many sends were queued. Every other eligibility rule still
            applies: suppressed, inactive or unconsenting recipients stay out.
        """
        at = self._now(now)
        campaign = self.storage.get_campaign(campaign_id)
        step = campaign.step(step_id)
        # Only a running or completed campaign can be requeued: checked before
        # anything is queued, so a stopped campaign never gets sends it cannot send.
        campaign.requeue(at=at, cause=cause)
        wanted: set[DeliveryStatus] = set()
        if soft_bounced:
            wanted.add(DeliveryStatus.SOFT_BOUNCED)
        if unreached:
            wanted.add(DeliveryStatus.CANCELED)
        rules = [r for r in DEFAULT_RULES if not isinstance(r, AlreadySentRule)]
        engine = Eligibility(
            campaign,
            step,
            now=at,
            suppressed=self._suppressed_numbers(campaign.account),
            rules=rules,
        )
        fresh: list[Send] = []
        for decision in engine.decide(self.storage.iter_recipients(campaign_id)):
            latest = decision.recipient.latest_send(step.id)
            if decision.reasons or latest is None or latest.status not in wanted:
                continue
            send = self._send_for(campaign, decision, at)
            if send is not None:
                fresh.append(send)
        self.mark_changed(campaign_id)
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            if fresh:
                self.storage.save_sends(fresh)
            # As stored now: keep what others recorded while this evaluated.
            self.storage.save_campaign(
                self.storage.get_campaign(campaign_id).requeue(
                    at=at, cause=cause, detail=f"{len(fresh)} sends of {step_id}"
                )
            )
        return len(fresh)

    def unconfirmed(
        self,
        campaign_id: str,
        *,
        older_than: timedelta = timedelta(hours=72),
        now: datetime | None = None,
    ) -> list[Send]:
        """Sends still SENT long after they went out: "sent, no receipt", never delivered."""
        at = self._now(now)
        return [
            s
            for s in self.storage.iter_sends(campaign_id)
            if s.status is DeliveryStatus.SENT
            and s.sent_on is not None
            and at - s.sent_on >= older_than
        ]

    def update_responses(self, campaign_id: str, responses: Iterable[tuple[str, Any]]) -> int:
        """Set response statuses the host application reports, as ``(contact_id, status)``.

        Raises:
            NotFound: A contact is not a recipient of the campaign (nothing is saved).
        """
        pairs = list(responses)
        # Read and written in one unit holding the campaign, as opt-outs hold
        # it before changing its recipients: a status an opt-out sets between
        # the read and the write is not overwritten with the one read.
        with self.storage.transaction():
            hold_campaign(self.storage, campaign_id)
            found = self.storage.get_recipients(
                campaign_id, [contact_id for contact_id, _ in pairs]
            )
            changed: list[Recipient] = []
            lifted = False
            for contact_id, status in pairs:
                recipient = found.get(contact_id)
                if recipient is None:
                    raise NotFound(
                        f"no recipient {contact_id!r} in campaign {campaign_id!r}",
                        value=contact_id,
                    )
                updated = recipient.with_response(status)
                # Leaving COMPLETE or DISQUALIFIED lifts a lasting exclusion from a
                # reminder: the next evaluation then reads every recipient.
                lifted |= (
                    recipient.response in _FINAL_RESPONSES
                    and updated.response != recipient.response
                )
                changed.append(updated)
            if not changed:
                return 0
            saved = self.storage.update_recipients(changed)
        self._dirty.add(campaign_id)
        if lifted:
            self._full_pass.add(campaign_id)
        return saved

    # -- test send ------------------------------------------------------------------

    def test_send(
        self,
        campaign_id: str,
        step_id: str,
        to: str | PhoneNumber,
        *,
        contact_id: str | None = None,
        values: Mapping[str, str] | None = None,
        now: datetime | None = None,
        by: str = "operator",
        region: str | None = None,
    ) -> TestSend:
        """Send one step to one number as a test, through this runner's gateway (seed 000 "Test").

        Outside the campaign's counts: no send is stored, no statistic
        changes; the campaign's timeline records a ``test_sent`` entry. Never
        to a suppressed number. See :func:`smscampaign.account.send_test`.

        Raises:
            SuppressedNumber: ``to`` is suppressed, or a contact holding it opted out.
            MissingField: The template needs a value nobody gave.
        """
        return send_test(
            self.storage,
            self.gateway,
            campaign_id,
            step_id,
            to,
            contact_id=contact_id,
            values=values,
            now=self._now(now),
            by=by,
            region=region,
        )
