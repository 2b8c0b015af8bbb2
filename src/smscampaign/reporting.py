"""Reports: delivery statistics in each seed's vocabulary, and the status-log export.

:func:`delivery_stats` computes a campaign's :class:`CampaignStats` (totals,
per step, per list, with every count's rate side by side) from the storage's
aggregates; :func:`view` words them the way each product operators know
does (Alchemer, a school SMS log, Gladly, Brevo, Activity Messenger);
:func:`render_table`, :func:`stats_to_dict` and :func:`stats_to_csv_rows`
print them. :func:`export_status_log` writes seed 000's "Export Contacts with
Send Status" CSV, safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

import attrs

from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._time import require_aware
from smscampaign.domain.campaign import Campaign, CampaignState, Step, StepKind, TimelineEntry
from smscampaign.domain.contact import DEFAULT_ACCOUNT, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Send
from smscampaign.domain.replies import DEFAULT_KEYWORDS, InboundMessage, Keyword, KeywordSet
from smscampaign.domain.segments import count_segments
from smscampaign.eligibility import Reason
from smscampaign.errors import ConfigurationError
from smscampaign.providers.base import LogFilter, Storage

__all__ = [
    "ACTIVITY_MESSENGER_BAD_NUMBER_REASONS",
    "ACTIVITY_MESSENGER_STATUS_WORDS",
    "ALCHEMER_STATUS_WORDS",
    "BREVO_STATUS_WORDS",
    "CONTACT_STATUS_LABELS",
    "COUNTS",
    "CSV_HEADER",
    "GLADLY_STATE_WORDS",
    "OVERVIEW_COUNTS",
    "OVERVIEW_HEADER",
    "RATE_BASES",
    "RESPONSE_STATUS_LABELS",
    "SCHOOL_FAILED_CAUSES",
    "SCHOOL_INELIGIBLE_CAUSES",
    "SCHOOL_STATUS_WORDS",
    "SEND_STATUS_LABELS",
    "VOCABULARIES",
    "CampaignOverview",
    "CampaignStats",
    "DeliveryStats",
    "Progress",
    "Rate",
    "ViewRow",
    "Vocabulary",
    "campaigns_overview",
    "delivery_stats",
    "export_status_log",
    "get_vocabulary",
    "neutralize_cell",
    "overview_rows",
    "overview_to_dict",
    "render_table",
    "stats_to_csv_rows",
    "stats_to_dict",
    "status_log_header",
    "status_log_rows",
    "view",
]

#: Seed 000's words for a send's status in the status log.
SEND_STATUS_LABELS: dict[DeliveryStatus, str] = {
    DeliveryStatus.QUEUED: "Queued",
    DeliveryStatus.SENDING: "Sending",
    DeliveryStatus.SENT: "Sent",
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.SOFT_BOUNCED: "Failed",
    DeliveryStatus.HARD_BOUNCED: "Failed",
    DeliveryStatus.SKIPPED: "Skipped",
    DeliveryStatus.CANCELED: "Canceled",
}
#: Seed 000's "Response Status" words.
RESPONSE_STATUS_LABELS: dict[ResponseStatus, str] = {
    ResponseStatus.NOT_STARTED: "Not started",
    ResponseStatus.PARTIAL: "Partial",
    ResponseStatus.DISQUALIFIED: "Disqualified",
    ResponseStatus.COMPLETE: "Complete",
}
#: Seed 000's "Contact Status" words.
CONTACT_STATUS_LABELS: dict[ContactStatus, str] = {
    ContactStatus.ACTIVE: "Active",
    ContactStatus.INACTIVE: "Inactive",
    ContactStatus.UNSUBSCRIBED: "Unsubscribed",
    ContactStatus.REMOVED: "Removed",
}

# A spreadsheet evaluates a cell starting with one of these as a formula
# (OWASP "CSV Injection"); a leading apostrophe makes it plain text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: str) -> str:
    """Return ``value`` so no spreadsheet evaluates it as a formula.

    A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading apostrophe, which Excel, LibreOffice and Google
    Sheets read as "this is text" and do not display.
    """
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _step_label(campaign: Campaign, step: Step) -> str:
    if step.kind is StepKind.INVITE:
        return "Initial"
    if step.kind is StepKind.THANK_YOU:
        return "Thank You"
    return f"Reminder {campaign.reminders.index(step) + 1}"


def status_log_header(campaign: Campaign) -> list[str]:
    """The status log's columns for a campaign: contact columns, then three per step."""
    header = [
        "Phone (Mobile)",
        "First Name",
        "Last Name",
        "List Name",
        "Response Status",
        "Contact Status",
    ]
    for step in campaign.steps:
        label = _step_label(campaign, step)
        header += [f"{label} Send Status", f"{label} Sent On", f"{label} Failure Reason"]
    return header


def _zone(value: str | tzinfo) -> tzinfo:
    return ZoneInfo(value) if isinstance(value, str) else value


def _reason(send: Send) -> str:
    if send.status is DeliveryStatus.SKIPPED:
        return "; ".join(send.skip_reasons)
    reason = send.failure_reason
    if reason is None:
        return ""
    attempt = send.last_attempt
    code = attempt.provider_code if attempt is not None else None
    return f"{reason.value} ({code})" if code else reason.value


def status_log_rows(
    campaign: Campaign,
    recipients: Iterator[Recipient],
    *,
    time_zone: str | tzinfo,
    date_format: str = "%Y-%m-%d %H:%M %Z",
) -> Iterator[list[str]]:
    """One neutralized row per recipient, in the order of :func:`status_log_header`.

    For each step the newest send counts; "Sent On" is when the message first
    left us, shown in ``time_zone``.
    """
    zone = _zone(time_zone)
    steps = campaign.steps
    for r in recipients:
        row = [
            r.phone.e164,
            r.contact.first_name,
            r.contact.last_name,
            r.list_name,
            RESPONSE_STATUS_LABELS[r.response],
            CONTACT_STATUS_LABELS[r.status],
        ]
        for step in steps:
            send = r.latest_send(step.id)
            if send is None:
                row += ["", "", ""]
                continue
            sent_on: datetime | None = send.sent_on
            row += [
                SEND_STATUS_LABELS[send.status],
                sent_on.astimezone(zone).strftime(date_format) if sent_on else "",
                _reason(send),
            ]
        yield [neutralize_cell(cell) for cell in row]


def export_status_log(
    storage: Storage,
    campaign_id: str,
    out: str | os.PathLike[str] | IO[str],
    *,
    time_zone: str | tzinfo | None = None,
    bom: bool = False,
    date_format: str = "%Y-%m-%d %H:%M %Z",
) -> int:
    """Write a campaign's status log as CSV (seed 000 "Export Contacts with Send Status").

    One row per recipient, streamed from storage: phone, first and last name,
    list name, Response Status, Contact Status and, for each step, its Send
    Status, Sent On and failure reason. Every cell is neutralized against
    formula injection (see :func:`neutralize_cell`).

    Args:
        storage: Where the campaign is.
        campaign_id: The campaign.
        out: A path (written as UTF-8) or an open text file (opened with ``newline=""``).
        time_zone: The zone times are shown in; the campaign's zone by default
            (seed 000 shows Eastern Time).
        bom: Start a file with a UTF-8 byte-order mark so Excel reads it as UTF-8.
        date_format: ``strftime`` format of the Sent On cells.

    Returns:
        The number of recipient rows written.

    Raises:
        NotFound: No such campaign.
    """
    campaign = storage.get_campaign(campaign_id)
    zone = campaign.time_zone if time_zone is None else time_zone
    if isinstance(out, str | os.PathLike):
        encoding = "utf-8-sig" if bom else "utf-8"
        with open(out, "w", encoding=encoding, newline="") as handle:
            return _write_log(handle, storage, campaign, zone, date_format, bom=False)
    return _write_log(out, storage, campaign, zone, date_format, bom=bom)


def _write_log(
    handle: IO[str],
    storage: Storage,
    campaign: Campaign,
    zone: str | tzinfo,
    date_format: str,
    *,
    bom: bool,
) -> int:
    if bom:
        handle.write("\ufeff")
    writer = csv.writer(handle)
    writer.writerow(status_log_header(campaign))
    count = 0
    for row in status_log_rows(
        campaign, storage.iter_recipients(campaign.id), time_zone=zone, date_format=date_format
    ):
        writer.writerow(row)
        count += 1
    return count


# --- end status-log export -----------------------------------------------------------


_S = DeliveryStatus

# -- rates ---------------------------------------------------------------------------

COUNTS: tuple[str, ...] = (
    "recipients",
    "pending",
    "queued",
    "sending",
    "sent",
    "delivered",
    "soft_bounced",
    "hard_bounced",
    "skipped",
    "canceled",
    "sent_without_receipt",
    "replied",
    "replies",
    "opted_out",
    "completed",
)
"""Every count of a :class:`DeliveryStats`, in the order reports show them."""

RATE_BASES: Mapping[str, str] = {
    # Over the slice's recipients: shares of people.
    "recipients": "recipients",
    "pending": "recipients",
    "completed": "recipients",
    # Over the slice's messages (its sends in every status): what became of them.
    # queued + skipped + canceled + went_out == messages, so these add up to 100 %.
    "queued": "messages",
    "skipped": "messages",
    "canceled": "messages",
    # Over the messages that went out (sending + sent + delivered + soft + hard):
    # seed 003 gives Delivered, Soft bounce and Hard bounce as shares of what
    # was sent, "since you pay for the number of messages you send". These five
    # add up to 100 %.
    "sending": "went_out",
    "sent": "went_out",
    "delivered": "went_out",
    "soft_bounced": "went_out",
    "hard_bounced": "went_out",
    "sent_without_receipt": "went_out",
    # Over the delivered messages: seed 003 counts Unsubscribed among "recipients
    # who unsubscribed ... after receiving this specific campaign"; Replied the same.
    "replied": "delivered",
    "opted_out": "delivered",
}
"""The base each count's rate is over; ``replies`` (a message count) has no rate."""


@attrs.frozen
class Rate:
    """A count as a share of a base, with the base kept beside it.

    Args:
        count: The count.
        base: What it is a share of.
        over: The name of the base (``"recipients"``, ``"messages"``,
            ``"went_out"`` or ``"delivered"``; see :data:`RATE_BASES`).
    """

    count: int
    base: int
    over: str

    @property
    def value(self) -> float | None:
        """``count / base``, or None when the base is zero."""
        return None if self.base == 0 else self.count / self.base

    @property
    def percent(self) -> str:
        """The rate as a percentage with one decimal (``"63.6%"``), or ``"-"`` when undefined."""
        value = self.value
        return "-" if value is None else f"{value * 100:.1f}%"

    def __str__(self) -> str:
        return self.percent


class Progress(NamedTuple):
    """Messages sent against recipients, seed 002's Progress column ("7/11").

    Seed 002 counts "the number of SMSes sent against the number of recipients
    on the CSV", one SMS per recipient: ``sent`` is the messages of the first
    step (the invite; for a step slice, that step) that left us, whatever
    happened to them next.
    """

    sent: int
    recipients: int

    @property
    def text(self) -> str:
        """``"7/11"``."""
        return f"{self.sent}/{self.recipients}"

    @property
    def rate(self) -> Rate:
        """The same as a :class:`Rate` over recipients."""
        return Rate(self.sent, self.recipients, "recipients")


_NO_PROGRESS = Progress(0, 0)


def _counts(value: Mapping[str, int] | None) -> FrozenMap[int]:
    return FrozenMap({k: v for k, v in (value or {}).items() if v})


@attrs.frozen(kw_only=True)
class DeliveryStats:
    """Counts for one slice of a campaign: the whole of it, one step, or one list.

    For a step slice, ``recipients`` and ``completed`` are the campaign's (a
    response belongs to a recipient, not to a message) and ``pending`` is the
    recipients with no send of that step yet. For the whole campaign and for a
    list, the status counts add up every step's sends and ``pending`` is the
    recipients with no invite send yet. "Pending" here means *not yet decided*;
    who is eligible for a step is :mod:`smscampaign.eligibility`'s question.

    Args:
        scope: ``"total"``, ``"step"`` or ``"list"``.
        name: The step id or list name (``""`` for the total, or the list of
            recipients who came from no list).
        recipients: Recipients in the slice (every contact status).
        pending: Recipients with no send yet (see above).
        queued: Sends waiting to go, or waiting for a retry.
        sending: Sends handed to the provider, not yet to the carrier.
        sent: Sends the carrier accepted, with no receipt yet.
        delivered: Sends with a delivery receipt.
        soft_bounced: Sends that failed for a temporary reason, retries exhausted.
        hard_bounced: Sends that failed for a permanent reason.
        skipped: Sends decided against (never charged).
        skipped_by_reason: Skipped sends by their first skip reason
            (:class:`~smscampaign.eligibility.Reason` values); adds up to ``skipped``.
        soft_bounced_by_reason: Soft bounces by :class:`FailureReason` value.
        hard_bounced_by_reason: Hard bounces by :class:`FailureReason` value.
        canceled: Sends the campaign's stop or end canceled before they went out.
        sent_without_receipt: Sends still SENT at least ``no_receipt_after``
            after they went out (what ``CampaignRunner.unconfirmed`` lists).
        replied: Recipients who replied (any reply, stop words included) after a
            message of the slice went out to them.
        replies: Replies (inbound messages) attributed to the slice.
        opted_out: Recipients whose first opt-out reply came after a message
            of the slice.
        completed: Recipients whose response is COMPLETE.
        segments: Segments of every attempt that went out: as the provider
            billed them, else counted on the rendered text (an estimate).
        cost: ``segments`` times the price per segment, when a price was given.
        progress: Seed 002's sent/recipients.
    """

    scope: str
    name: str
    recipients: int = 0
    pending: int = 0
    queued: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    soft_bounced: int = 0
    hard_bounced: int = 0
    skipped: int = 0
    skipped_by_reason: FrozenMap[int] = attrs.field(factory=FrozenMap, converter=_counts)
    soft_bounced_by_reason: FrozenMap[int] = attrs.field(factory=FrozenMap, converter=_counts)
    hard_bounced_by_reason: FrozenMap[int] = attrs.field(factory=FrozenMap, converter=_counts)
    canceled: int = 0
    sent_without_receipt: int = 0
    replied: int = 0
    replies: int = 0
    opted_out: int = 0
    completed: int = 0
    segments: int = 0
    cost: Decimal | None = None
    progress: Progress = _NO_PROGRESS

    @property
    def messages(self) -> int:
        """Every send of the slice, in any status."""
        return self.queued + self.skipped + self.canceled + self.went_out

    @property
    def went_out(self) -> int:
        """Sends that left us: SENDING, SENT, DELIVERED, SOFT_BOUNCED or HARD_BOUNCED."""
        return self.sending + self.sent + self.delivered + self.soft_bounced + self.hard_bounced

    @property
    def bounced_by_reason(self) -> Mapping[str, int]:
        """Soft and hard bounces together, by failure reason."""
        total: Counter[str] = Counter(self.soft_bounced_by_reason)
        total.update(self.hard_bounced_by_reason)
        return dict(total)

    def count(self, name: str) -> int:
        """The count called ``name`` (one of :data:`COUNTS`).

        Raises:
            ConfigurationError: No count has that name.
        """
        if name not in COUNTS:
            raise ConfigurationError(f"no count {name!r}; choose from {list(COUNTS)}", value=name)
        value: int = getattr(self, name)
        return value

    def base(self, over: str) -> int:
        """The size of the base called ``over``: recipients, messages, went_out or delivered.

        Raises:
            ConfigurationError: No base has that name.
        """
        bases = {
            "recipients": self.recipients,
            "messages": self.messages,
            "went_out": self.went_out,
            "delivered": self.delivered,
        }
        if over not in bases:
            raise ConfigurationError(
                f"no rate base {over!r}; choose from {list(bases)}", value=over
            )
        return bases[over]

    def rate(self, name: str) -> Rate | None:
        """The rate of the count ``name`` over its base (:data:`RATE_BASES`); None for ``replies``.

        Raises:
            ConfigurationError: No count has that name.
        """
        count = self.count(name)
        over = RATE_BASES.get(name)
        return None if over is None else Rate(count, self.base(over), over)

    @property
    def rates(self) -> dict[str, Rate]:
        """Every count's rate, by count name, in :data:`COUNTS` order."""
        found = {name: self.rate(name) for name in COUNTS}
        return {name: rate for name, rate in found.items() if rate is not None}

    @property
    def skipped_rates(self) -> dict[str, Rate]:
        """Each skip reason's share of the slice's messages."""
        return {r: Rate(n, self.messages, "messages") for r, n in self.skipped_by_reason.items()}


def _slice_map(value: Mapping[str, DeliveryStats]) -> FrozenMap[DeliveryStats]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


@attrs.frozen(kw_only=True)
class CampaignStats:
    """A campaign's statistics: its state and timeline, and its counts in three cuts.

    Args:
        campaign_id: The campaign's id.
        campaign_name: Its name.
        state: Its state when the statistics were computed.
        timeline: Every action on it, oldest first (seed 003's Timeline tab).
        computed_at: The instant the statistics describe.
        no_receipt_after: How long a SENT send waits before it counts as
            "sent without receipt".
        price_per_segment: The price used for ``cost``, if any.
        total: The whole campaign.
        by_step: One slice per step, in the campaign's step order.
        by_list: One slice per recipient list, by list name.
    """

    campaign_id: str
    campaign_name: str
    state: CampaignState
    timeline: tuple[TimelineEntry, ...]
    computed_at: datetime
    no_receipt_after: timedelta
    price_per_segment: Decimal | None
    total: DeliveryStats
    by_step: FrozenMap[DeliveryStats] = attrs.field(converter=_slice_map)
    by_list: FrozenMap[DeliveryStats] = attrs.field(converter=_slice_map)

    @property
    def progress(self) -> Progress:
        """The campaign's seed 002 progress (invites that left us / recipients)."""
        return self.total.progress

    def slices(self) -> list[DeliveryStats]:
        """The total, then every step, then every list."""
        return [self.total, *self.by_step.values(), *self.by_list.values()]


# -- computing ------------------------------------------------------------------------

_WENT_OUT = frozenset({_S.SENDING, _S.SENT, _S.DELIVERED, _S.SOFT_BOUNCED, _S.HARD_BOUNCED})


@attrs.define
class _Tally:
    """A slice's running counts while the storage is read."""

    statuses: Counter[str] = attrs.Factory(Counter)
    skip_reasons: Counter[str] = attrs.Factory(Counter)
    soft_reasons: Counter[str] = attrs.Factory(Counter)
    hard_reasons: Counter[str] = attrs.Factory(Counter)
    first_step: Counter[str] = attrs.Factory(Counter)
    recipients: int = 0
    completed: int = 0
    no_receipt: int = 0
    segments: int = 0
    replies: int = 0
    replied: set[str] = attrs.Factory(set)
    opted_out: set[str] = attrs.Factory(set)

    def add_sends(self, status: str, reason: str, n: int, *, first_step: bool) -> None:
        self.statuses[status] += n
        if status == _S.SKIPPED:
            self.skip_reasons[reason] += n
        elif status == _S.SOFT_BOUNCED:
            self.soft_reasons[reason or FailureReason.UNKNOWN.value] += n
        elif status == _S.HARD_BOUNCED:
            self.hard_reasons[reason or FailureReason.UNKNOWN.value] += n
        if first_step:
            self.first_step[status] += n

    def build(self, scope: str, name: str, price: Decimal | None) -> DeliveryStats:
        counts = self.statuses
        step_sends = sum(self.first_step.values())
        step_out = sum(self.first_step[s.value] for s in _WENT_OUT)
        return DeliveryStats(
            scope=scope,
            name=name,
            recipients=self.recipients,
            # Exact while each recipient has at most one send per step; a second
            # send only follows a number change (see the report's limits).
            pending=max(0, self.recipients - step_sends),
            queued=counts[_S.QUEUED.value],
            sending=counts[_S.SENDING.value],
            sent=counts[_S.SENT.value],
            delivered=counts[_S.DELIVERED.value],
            soft_bounced=counts[_S.SOFT_BOUNCED.value],
            hard_bounced=counts[_S.HARD_BOUNCED.value],
            skipped=counts[_S.SKIPPED.value],
            skipped_by_reason=dict(sorted(self.skip_reasons.items())),
            soft_bounced_by_reason=dict(sorted(self.soft_reasons.items())),
            hard_bounced_by_reason=dict(sorted(self.hard_reasons.items())),
            canceled=counts[_S.CANCELED.value],
            sent_without_receipt=self.no_receipt,
            replied=len(self.replied),
            replies=self.replies,
            opted_out=len(self.opted_out),
            completed=self.completed,
            segments=self.segments,
            cost=None if price is None else price * self.segments,
            progress=Progress(step_out, self.recipients),
        )


def _price(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigurationError(
            f"price_per_segment must be a decimal amount, got {value!r}", value=value
        ) from exc
    if not price.is_finite() or price < 0:
        raise ConfigurationError(
            f"price_per_segment must be a finite amount >= 0, got {value!r}", value=value
        )
    return price


def _segments(send: Send) -> int:
    """Segments of the attempts that went out: as billed, else counted on the body."""
    total = 0
    for attempt in send.attempts:
        if attempt.status is _S.QUEUED:
            continue
        total += attempt.segments or count_segments(send.body)
    return total


def delivery_stats(
    storage: Storage,
    campaign_id: str,
    *,
    now: datetime | None = None,
    no_receipt_after: timedelta = timedelta(hours=72),
    price_per_segment: Decimal | int | str | None = None,
    keywords: Iterable[KeywordSet] = DEFAULT_KEYWORDS,
) -> CampaignStats:
    """Compute a campaign's delivery statistics from a storage.

    Status, reason, recipient and response counts come from
    ``storage.count_sends`` and ``storage.count_recipients``. Segments, cost and
    "sent without receipt" take one streamed pass over the campaign's sends.
    Replies are the account's inbound messages from the campaign's numbers;
    each is attributed to the latest message that went out to that number
    before it arrived (a reply before any message is not about this
    campaign), and a reply classified as an opt-out (with ``keywords``) makes
    its recipient count as opted out after that message's step.

    Args:
        storage: Where the campaign is kept.
        campaign_id: The campaign.
        now: The instant to compute for (aware; default: the system clock in UTC).
        no_receipt_after: How long after it went out a send still SENT counts
            as sent without receipt (default 72 hours, seed 003's retry horizon).
        price_per_segment: The price of one segment, for the cost estimate.
        keywords: The keyword sets that decide which replies are opt-outs.

    Returns:
        The campaign's :class:`CampaignStats`.

    Raises:
        NotFound: The storage has no such campaign.
        NaiveDatetimeError: ``now`` is naive.
        ConfigurationError: ``no_receipt_after`` is negative, or the price is
            not a decimal amount of at least zero.
    """
    at = datetime.now(timezone.utc) if now is None else require_aware(now, "now")
    if no_receipt_after < timedelta(0):
        raise ConfigurationError(
            f"no_receipt_after must not be negative, got {no_receipt_after}",
            value=no_receipt_after,
        )
    price = _price(price_per_segment)
    keyword_sets = tuple(keywords)
    campaign = storage.get_campaign(campaign_id)
    first_step = campaign.invite.id
    step_order = {step.id: index for index, step in enumerate(campaign.steps)}

    total = _Tally()
    steps: dict[str, _Tally] = {step.id: _Tally() for step in campaign.steps}
    lists: dict[str, _Tally] = {}

    def slices(step_id: str, list_name: str) -> tuple[_Tally, ...]:
        if step_id not in steps:
            step_order.setdefault(step_id, len(step_order))
        return (total, steps.setdefault(step_id, _Tally()), lists.setdefault(list_name, _Tally()))

    send_counts = storage.count_sends(campaign_id, by=("step", "list", "status", "reason"))
    for (step_id, list_name, status, reason), n in send_counts.items():
        for index, tally in enumerate(slices(step_id, list_name)):
            # A step slice's progress and pending are about that step itself.
            first = step_id == first_step if index != 1 else True
            tally.add_sends(status, reason, n, first_step=first)

    recipient_counts = storage.count_recipients(campaign_id, by=("list", "response"))
    for (list_name, response), n in recipient_counts.items():
        for tally in (total, lists.setdefault(list_name, _Tally())):
            tally.recipients += n
            if response == ResponseStatus.COMPLETE:
                tally.completed += n
    for tally in steps.values():
        tally.recipients = total.recipients
        tally.completed = total.completed

    # Recipients' lists and numbers: bounded by the campaign's size, no sends.
    list_of: dict[str, str] = {}
    numbers: set[str] = set()
    for recipient in storage.iter_recipients(campaign_id, with_sends=False):
        list_of[recipient.id] = recipient.list_name
        numbers.add(recipient.phone.e164)

    # Replies from the campaign's numbers: bounded by the replies.
    replies_from: dict[str, list[tuple[datetime, bool]]] = {}
    for message in storage.iter_inbound(account=campaign.account):
        e164 = message.sender.e164
        if e164 in numbers:
            keyword = message.classify(keywords=keyword_sets).keyword
            replies_from.setdefault(e164, []).append(
                (message.received_at, keyword is Keyword.OPT_OUT)
            )

    # One pass over the sends: running totals, plus when each replying number was sent to.
    went_to: dict[str, list[tuple[datetime, int, str, str]]] = {}
    for send in storage.iter_sends(campaign_id):
        list_name = list_of.get(send.recipient_id, "")
        segments = _segments(send)
        unconfirmed = (
            send.status is _S.SENT
            and send.sent_on is not None
            and at - send.sent_on >= no_receipt_after
        )
        if segments or unconfirmed:
            for tally in slices(send.step_id, list_name):
                tally.segments += segments
                tally.no_receipt += unconfirmed
        if send.sent_on is not None and send.to in replies_from:
            went_to.setdefault(send.to, []).append(
                (send.sent_on, step_order.get(send.step_id, 0), send.step_id, send.recipient_id)
            )

    opted: set[str] = set()
    for e164, replies in replies_from.items():
        outgoing = sorted(went_to.get(e164, ()))
        for received_at, is_opt_out in sorted(replies):
            earlier = [out for out in outgoing if out[0] <= received_at]
            if not earlier:
                continue
            _, _, step_id, recipient_id = earlier[-1]
            for tally in slices(step_id, list_of.get(recipient_id, "")):
                tally.replies += 1
                tally.replied.add(recipient_id)
                if is_opt_out and recipient_id not in opted:
                    tally.opted_out.add(recipient_id)
            if is_opt_out:
                opted.add(recipient_id)

    ordered_steps = sorted(steps, key=lambda step_id: step_order[step_id])
    return CampaignStats(
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        state=campaign.state,
        timeline=campaign.timeline,
        computed_at=at,
        no_receipt_after=no_receipt_after,
        price_per_segment=price,
        total=total.build("total", "", price),
        by_step={s: steps[s].build("step", s, price) for s in ordered_steps},
        by_list={name: lists[name].build("list", name, price) for name in sorted(lists)},
    )


# -- vocabularies ---------------------------------------------------------------------

ALCHEMER_STATUS_WORDS: Mapping[DeliveryStatus, str | None] = {
    # Seed 000, "Delivery Statistics Definitions" and "Message Status / Send
    # Status": Sent ("sent from Alchemer"), Queued ("awaiting delivery"),
    # Delivered, Failed ("could not be delivered"). Alchemer has no word for a
    # send decided against or canceled: those are not shown.
    _S.QUEUED: "Queued",
    _S.SENDING: "Queued",
    _S.SENT: "Sent",
    _S.DELIVERED: "Delivered",
    _S.SOFT_BOUNCED: "Failed",
    _S.HARD_BOUNCED: "Failed",
    _S.SKIPPED: None,
    _S.CANCELED: None,
}
"""Seed 000 (Alchemer): our send statuses in its Send Status words."""

SCHOOL_STATUS_WORDS: Mapping[DeliveryStatus, str] = {
    # Seed 001, "SMS Log Report: Results": Not Sent Yet ("the request to send
    # hasn't been made yet"), Sending ("being dispatched to the nearest
    # carrier"), Sent ("the nearest carrier has accepted"), Undelivered:
    # Ineligible to Send / Failed to Send. The log has no delivered stage, so
    # DELIVERED reads as Sent; a canceled send's request was never made.
    _S.QUEUED: "Not Sent Yet",
    _S.CANCELED: "Not Sent Yet",
    _S.SENDING: "Sending",
    _S.SENT: "Sent",
    _S.DELIVERED: "Sent",
    _S.SKIPPED: "Ineligible to Send",
    _S.SOFT_BOUNCED: "Failed to Send",
    _S.HARD_BOUNCED: "Failed to Send",
}
"""Seed 001 (a school's SMS Log): our send statuses in its delivery results."""

SCHOOL_INELIGIBLE_CAUSES: Mapping[str, str] = {
    # Seed 001, the causes of "Ineligible to Send", keyed by eligibility.Reason.
    Reason.NOT_OPTED_IN: "Not opted in, or consent pending",
    Reason.OPTED_OUT: "Denied consent",
    Reason.SUPPRESSED: "On a block list",
    Reason.UNSUBSCRIBED: "On a block list",
    Reason.NOT_SMS_CAPABLE: "No active SMS number",
    Reason.UNVERIFIED_NUMBER: "No active SMS number",
    Reason.DUPLICATE_NUMBER: "Duplicate number",
}
"""Seed 001: skip reasons as causes of Ineligible to Send; any other reason reads "Other"."""

SCHOOL_FAILED_CAUSES: Mapping[str, str] = {
    # Seed 001, the causes of "Failed to Send", keyed by FailureReason.
    FailureReason.CARRIER_ERROR: "Carrier issues, errors, overflow",
    FailureReason.QUEUE_OVERFLOW: "Carrier issues, errors, overflow",
    FailureReason.UNKNOWN: "Carrier issues, errors, overflow",
    FailureReason.INVALID_NUMBER: "Account suspended, invalid or gone",
    FailureReason.LANDLINE: "No SMS capability",
}
"""Seed 001: failure reasons as causes of Failed to Send; any other reason reads "Other"."""

_SCHOOL_INELIGIBLE_ORDER = (
    "Not opted in, or consent pending",
    "Denied consent",
    "On a block list",
    "No active SMS number",
    "Duplicate number",
    "Other",
)
_SCHOOL_FAILED_ORDER = (
    "Carrier issues, errors, overflow",
    "Account suspended, invalid or gone",
    "No SMS capability",
    "Other",
)

GLADLY_STATE_WORDS: Mapping[CampaignState, str] = {
    # Seed 002: Scheduled / In Progress / Completed / Stopped. Gladly has no
    # draft (a saved list is already scheduled) and no suspension.
    CampaignState.DRAFT: "Scheduled",
    CampaignState.SCHEDULED: "Scheduled",
    CampaignState.IN_PROGRESS: "In Progress",
    CampaignState.SUSPENDED: "In Progress",
    CampaignState.COMPLETED: "Completed",
    CampaignState.STOPPED: "Stopped",
}
"""Seed 002 (Gladly): our campaign states in its status words."""

BREVO_STATUS_WORDS: Mapping[DeliveryStatus, str | None] = {
    # Seed 003: Delivered, Soft bounce (temporary, after 3 retries over 72 h),
    # Hard bounce (permanent), Processing ("still to be delivered"). A send
    # decided against or canceled is not a Brevo message: not shown.
    _S.DELIVERED: "Delivered",
    _S.SOFT_BOUNCED: "Soft bounce",
    _S.HARD_BOUNCED: "Hard bounce",
    _S.QUEUED: "Processing",
    _S.SENDING: "Processing",
    _S.SENT: "Processing",
    _S.SKIPPED: None,
    _S.CANCELED: None,
}
"""Seed 003 (Brevo): our send statuses in its report's words."""

ACTIVITY_MESSENGER_STATUS_WORDS: Mapping[DeliveryStatus, str | None] = {
    # Seed 004, "Email and SMS delivery status": Skipped (not charged), Sent
    # (awaiting acknowledgement), Delivered, Bad number, Bounced (Activity
    # Messenger's word for a message that did not arrive; see the bad-number
    # reasons below). It shows no per-message word for a queued or canceled one.
    _S.SKIPPED: "Skipped",
    _S.SENDING: "Sent",
    _S.SENT: "Sent",
    _S.DELIVERED: "Delivered",
    _S.SOFT_BOUNCED: "Bounced",
    _S.HARD_BOUNCED: "Bounced",
    _S.QUEUED: None,
    _S.CANCELED: None,
}
"""Seed 004 (Activity Messenger): our send statuses in its status words."""

ACTIVITY_MESSENGER_BAD_NUMBER_REASONS: frozenset[str] = frozenset(
    # Seed 004: "Bad number: the mobile phone number is not valid. It gets added
    # to the Unsubscribes list" - our hard bounces that suppress for the number.
    {FailureReason.INVALID_NUMBER.value, FailureReason.LANDLINE.value}
)
"""Seed 004: hard-bounce reasons shown as "Bad number" instead of "Bounced"."""


@attrs.frozen
class ViewRow:
    """One row of a product's view: its word, our count, and a rate when it shows one.

    Args:
        label: The product's word.
        count: The number, or None for a row that is a word (a campaign state).
        rate: The rate, when the product shows one.
        level: 0 for a top row, 1 and 2 for breakdowns under the row above.
        text: What the product displays (``"12"``, ``"7/11"``, ``"In Progress"``).
    """

    label: str
    count: int | None
    rate: Rate | None = None
    level: int = 0
    text: str = attrs.field()

    @text.default
    def _text(self) -> str:
        return "" if self.count is None else str(self.count)

    def as_tuple(self) -> tuple[str, int | None, Rate | None]:
        """``(label, count, rate)``."""
        return (self.label, self.count, self.rate)


_Rows = Callable[[DeliveryStats, "CampaignStats | None"], list[ViewRow]]


@attrs.frozen
class Vocabulary:
    """One product's words for our statistics.

    Args:
        name: Its name for :func:`view` (``"brevo"``).
        product: The product.
        seed: The seed it comes from (``"seed-003"``).
        rows: Builds the product's rows for one slice (and the campaign, when known).
    """

    name: str
    product: str
    seed: str
    rows: _Rows = attrs.field(repr=False)


def _by_words(
    stats: DeliveryStats, table: Mapping[DeliveryStatus, str | None]
) -> Counter[str | None]:
    words: Counter[str | None] = Counter()
    for status, word in table.items():
        words[word] += stats.count(status.value)
    return words


def _alchemer(stats: DeliveryStats, _campaign: CampaignStats | None) -> list[ViewRow]:
    words = _by_words(stats, ALCHEMER_STATUS_WORDS)
    rows = [ViewRow(label, words[label]) for label in ("Sent", "Queued", "Delivered", "Failed")]
    rows.append(ViewRow("Completed Survey", stats.completed))
    return rows


def _school(stats: DeliveryStats, _campaign: CampaignStats | None) -> list[ViewRow]:
    words = _by_words(stats, SCHOOL_STATUS_WORDS)
    ineligible: Counter[str] = Counter()
    for reason, n in stats.skipped_by_reason.items():
        ineligible[SCHOOL_INELIGIBLE_CAUSES.get(reason, "Other")] += n
    failed: Counter[str] = Counter()
    for reason, n in stats.bounced_by_reason.items():
        failed[SCHOOL_FAILED_CAUSES.get(reason, "Other")] += n
    rows = [
        ViewRow("Not Sent Yet", stats.pending + words["Not Sent Yet"]),
        ViewRow("Sending", words["Sending"]),
        ViewRow("Sent", words["Sent"]),
        ViewRow("Undelivered", words["Ineligible to Send"] + words["Failed to Send"]),
        ViewRow("Ineligible to Send", words["Ineligible to Send"], level=1),
    ]
    rows += [ViewRow(cause, ineligible[cause], level=2) for cause in _SCHOOL_INELIGIBLE_ORDER]
    rows.append(ViewRow("Failed to Send", words["Failed to Send"], level=1))
    rows += [ViewRow(cause, failed[cause], level=2) for cause in _SCHOOL_FAILED_ORDER]
    return rows


def _gladly(stats: DeliveryStats, campaign: CampaignStats | None) -> list[ViewRow]:
    rows: list[ViewRow] = []
    if campaign is not None:
        rows.append(ViewRow("Status", None, text=GLADLY_STATE_WORDS[campaign.state]))
    progress = stats.progress
    rows.append(ViewRow("Progress", progress.sent, progress.rate, text=progress.text))
    if campaign is not None and stats is campaign.total:
        for name, per_list in campaign.by_list.items():
            p = per_list.progress
            rows.append(ViewRow(name or "(no CSV file)", p.sent, p.rate, level=1, text=p.text))
    return rows


def _brevo(stats: DeliveryStats, _campaign: CampaignStats | None) -> list[ViewRow]:
    words = _by_words(stats, BREVO_STATUS_WORDS)
    processing = words["Processing"]
    return [
        ViewRow("Delivered", stats.delivered, stats.rate("delivered")),
        ViewRow("Soft bounce", stats.soft_bounced, stats.rate("soft_bounced")),
        ViewRow("Hard bounce", stats.hard_bounced, stats.rate("hard_bounced")),
        ViewRow("Processing", processing, Rate(processing, stats.messages, "messages")),
        ViewRow("Replied", stats.replied, stats.rate("replied")),
        ViewRow("Unsubscribed", stats.opted_out, stats.rate("opted_out")),
    ]


def _activity_messenger(stats: DeliveryStats, _campaign: CampaignStats | None) -> list[ViewRow]:
    words = _by_words(stats, ACTIVITY_MESSENGER_STATUS_WORDS)
    bad = sum(
        n
        for reason, n in stats.hard_bounced_by_reason.items()
        if reason in ACTIVITY_MESSENGER_BAD_NUMBER_REASONS
    )
    return [
        ViewRow("Skipped", words["Skipped"]),
        ViewRow("Sent", words["Sent"]),
        ViewRow("Delivered", words["Delivered"]),
        ViewRow("Bad number", bad),
        ViewRow("Bounced", words["Bounced"] - bad),
        ViewRow("Received", stats.replies),
        ViewRow("Replied", stats.replied),
    ]


_ALL = (
    Vocabulary("alchemer", "Alchemer SMS campaigns", "seed-000", _alchemer),
    Vocabulary("school", "School SMS Log report", "seed-001", _school),
    Vocabulary("gladly", "Gladly Proactive SMS", "seed-002", _gladly),
    Vocabulary("brevo", "Brevo SMS campaign reports", "seed-003", _brevo),
    Vocabulary("activity-messenger", "Activity Messenger", "seed-004", _activity_messenger),
)

VOCABULARIES: Mapping[str, Vocabulary] = {
    **{v.name: v for v in _ALL},
    **{v.seed: v for v in _ALL},
}
"""Every vocabulary by name and by seed (``"brevo"`` and ``"seed-003"`` are the same)."""


def get_vocabulary(vocabulary: str | Vocabulary) -> Vocabulary:
    """The vocabulary with that name or seed alias (a :class:`Vocabulary` passes through).

    Raises:
        ConfigurationError: No vocabulary has that name.
    """
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    found = VOCABULARIES.get(vocabulary.strip().lower())
    if found is None:
        raise ConfigurationError(
            f"unknown vocabulary {vocabulary!r}; choose from {sorted(VOCABULARIES)}",
            value=vocabulary,
        )
    return found


def view(stats: CampaignStats | DeliveryStats, vocabulary: str | Vocabulary) -> list[ViewRow]:
    """One slice's rows in a product's own words.

    Given a :class:`CampaignStats`, the rows are the campaign total's (and the
    view may add campaign-wide rows: Gladly's status and its per-list
    progress); given a :class:`DeliveryStats`, that slice's.

    Args:
        stats: The campaign's statistics, or one slice of them.
        vocabulary: A name (``"alchemer"``, ``"school"``, ``"gladly"``,
            ``"brevo"``, ``"activity-messenger"``), a seed alias
            (``"seed-000"`` ... ``"seed-004"``) or a :class:`Vocabulary`.

    Returns:
        The rows, in the product's order.

    Raises:
        ConfigurationError: The vocabulary is unknown.
    """
    vocab = get_vocabulary(vocabulary)
    if isinstance(stats, CampaignStats):
        return vocab.rows(stats.total, stats)
    return vocab.rows(stats, None)


# -- output ---------------------------------------------------------------------------

_LABELS: Mapping[str, str] = {
    "recipients": "Recipients",
    "pending": "Pending",
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "soft_bounced": "Soft bounced",
    "hard_bounced": "Hard bounced",
    "skipped": "Skipped",
    "canceled": "Canceled",
    "sent_without_receipt": "Sent, no receipt",
    "replied": "Replied",
    "replies": "Replies",
    "opted_out": "Opted out",
    "completed": "Completed",
}


def _cell(count: int, rate: Rate | None) -> str:
    return str(count) if rate is None else f"{count} ({rate.percent})"


def _grid(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return lines


def _heading(stats: CampaignStats) -> list[str]:
    return [
        f"Campaign {stats.campaign_name} ({stats.campaign_id})",
        f"State: {stats.state.value}   Progress: {stats.progress.text}   "
        f"At: {stats.computed_at.isoformat()}",
    ]


def _column_title(part: DeliveryStats) -> str:
    if part.scope == "total":
        return "Total"
    if part.scope == "step":
        return f"step {part.name}"
    return f"list {part.name or '(none)'}"


def render_table(stats: CampaignStats, vocabulary: str | Vocabulary | None = None) -> str:
    """A plain-text table of a campaign's statistics.

    Without a vocabulary: one row per count (with its rate), then skip reasons,
    segments and cost, in columns for the total, each step and each list, then
    the timeline. With a vocabulary: the product's rows for the total, each
    step and each list.

    Args:
        stats: The campaign's statistics.
        vocabulary: A product's vocabulary (see :func:`view`), or None for ours.

    Returns:
        The table, lines joined by newlines, ending with a newline.

    Raises:
        ConfigurationError: The vocabulary is unknown.
    """
    lines = _heading(stats)
    if vocabulary is not None:
        vocab = get_vocabulary(vocabulary)
        lines[0] += f" - {vocab.product} ({vocab.seed})"
        for part in stats.slices():
            campaign = stats if part is stats.total else None
            body = [
                ["  " * r.level + r.label, r.text, "" if r.rate is None else r.rate.percent]
                for r in vocab.rows(part, campaign)
            ]
            rows = [[_column_title(part), "Count", "Rate"], *body]
            lines += ["", *_grid(rows)]
        return "\n".join(lines) + "\n"
    parts = stats.slices()
    grid: list[list[str]] = [["", *(_column_title(p) for p in parts)]]
    for name in COUNTS:
        grid.append([_LABELS[name], *(_cell(p.count(name), p.rate(name)) for p in parts)])
    reasons = sorted({r for p in parts for r in p.skipped_by_reason})
    for reason in reasons:
        grid.append(
            [
                f"  skipped: {reason}",
                *(
                    _cell(p.skipped_by_reason.get(reason, 0), p.skipped_rates.get(reason))
                    for p in parts
                ),
            ]
        )
    failures = sorted({r for p in parts for r in p.bounced_by_reason})
    for reason in failures:
        grid.append(
            [f"  bounced: {reason}", *(str(p.bounced_by_reason.get(reason, 0)) for p in parts)]
        )
    grid.append(["Progress", *(p.progress.text for p in parts)])
    grid.append(["Segments", *(str(p.segments) for p in parts)])
    if stats.price_per_segment is not None:
        grid.append(["Cost", *(str(p.cost) for p in parts)])
    lines += ["", *_grid(grid), "", "Timeline"]
    for entry in stats.timeline:
        detail = f" ({entry.detail})" if entry.detail else ""
        # To the second, so every time has one width and the columns line up.
        lines.append(
            f"  {entry.at.isoformat(timespec='seconds')}  {entry.action.value:<16} "
            f"{entry.state.value:<12} {entry.cause}{detail}".rstrip()
        )
    return "\n".join(lines) + "\n"


def _rate_dict(rate: Rate | None) -> dict[str, Any] | None:
    if rate is None:
        return None
    return {"count": rate.count, "base": rate.base, "over": rate.over, "value": rate.value}


def _slice_dict(part: DeliveryStats) -> dict[str, Any]:
    data: dict[str, Any] = {"scope": part.scope, "name": part.name}
    data.update({name: part.count(name) for name in COUNTS})
    data["messages"] = part.messages
    data["went_out"] = part.went_out
    data["skipped_by_reason"] = dict(part.skipped_by_reason)
    data["soft_bounced_by_reason"] = dict(part.soft_bounced_by_reason)
    data["hard_bounced_by_reason"] = dict(part.hard_bounced_by_reason)
    data["segments"] = part.segments
    data["cost"] = None if part.cost is None else str(part.cost)
    data["progress"] = {
        "sent": part.progress.sent,
        "recipients": part.progress.recipients,
        "text": part.progress.text,
    }
    data["rates"] = {name: _rate_dict(rate) for name, rate in part.rates.items()}
    return data


def stats_to_dict(stats: CampaignStats) -> dict[str, Any]:
    """A JSON-ready dictionary of a campaign's statistics (for ``--format json``).

    Decimals become strings, datetimes ISO 8601 strings, durations seconds,
    and each rate ``{"count", "base", "over", "value"}`` with ``value`` a
    float or None.

    Args:
        stats: The campaign's statistics.

    Returns:
        Plain dicts, lists, strings, numbers and None only.
    """
    return {
        "campaign": {
            "id": stats.campaign_id,
            "name": stats.campaign_name,
            "state": stats.state.value,
        },
        "computed_at": stats.computed_at.isoformat(),
        "no_receipt_after_seconds": stats.no_receipt_after.total_seconds(),
        "price_per_segment": (
            None if stats.price_per_segment is None else str(stats.price_per_segment)
        ),
        "rate_bases": dict(RATE_BASES),
        "total": _slice_dict(stats.total),
        "by_step": {k: _slice_dict(v) for k, v in stats.by_step.items()},
        "by_list": {k: _slice_dict(v) for k, v in stats.by_list.items()},
        "timeline": [
            {
                "at": e.at.isoformat(),
                "action": e.action.value,
                "cause": e.cause,
                "state": e.state.value,
                "detail": e.detail,
            }
            for e in stats.timeline
        ],
    }


CSV_HEADER: tuple[str, ...] = ("scope", "name", "metric", "count", "rate", "base", "over")


def _rate_cells(rate: Rate | None) -> list[str]:
    if rate is None:
        return ["", "", ""]
    value = rate.value
    return ["" if value is None else f"{value:.6f}", str(rate.base), rate.over]


def stats_to_csv_rows(
    stats: CampaignStats, vocabulary: str | Vocabulary | None = None
) -> list[list[str]]:
    """A campaign's statistics as CSV rows, header first, one metric per row (``--format csv``).

    Columns are ``scope, name, metric, count, rate, base, over``: the slice
    (``total``, ``step`` or ``list``) and its name, the metric (our count name,
    ``skipped:<reason>``, ``soft_bounced:<reason>``, ``hard_bounced:<reason>``,
    ``segments``, ``cost``, ``progress``; or the product's word with a
    vocabulary), its value, and its rate as a fraction with the base and the
    base's name. A rate that is undefined (zero base) is empty.

    Args:
        stats: The campaign's statistics.
        vocabulary: A product's vocabulary (see :func:`view`), or None for ours.

    Returns:
        Rows of strings, ready for :func:`csv.writer`.

    Raises:
        ConfigurationError: The vocabulary is unknown.
    """
    rows: list[list[str]] = [list(CSV_HEADER)]
    vocab = None if vocabulary is None else get_vocabulary(vocabulary)
    for part in stats.slices():
        head = [part.scope, part.name]
        if vocab is not None:
            campaign = stats if part is stats.total else None
            for row in vocab.rows(part, campaign):
                rows.append([*head, row.label, row.text, *_rate_cells(row.rate)])
            continue
        for name in COUNTS:
            rows.append([*head, name, str(part.count(name)), *_rate_cells(part.rate(name))])
        for reason, n in part.skipped_by_reason.items():
            rate = part.skipped_rates[reason]
            rows.append([*head, f"skipped:{reason}", str(n), *_rate_cells(rate)])
        for prefix, counts in (
            ("soft_bounced", part.soft_bounced_by_reason),
            ("hard_bounced", part.hard_bounced_by_reason),
        ):
            for reason, n in counts.items():
                rows.append([*head, f"{prefix}:{reason}", str(n), "", "", ""])
        rows.append([*head, "segments", str(part.segments), "", "", ""])
        rows.append([*head, "cost", "" if part.cost is None else str(part.cost), "", "", ""])
        rows.append([*head, "progress", part.progress.text, *_rate_cells(part.progress.rate)])
    return rows


# -- campaigns overview (seed 003 "Campaigns > Statistics") -------------------------

OVERVIEW_COUNTS: tuple[str, ...] = tuple(name for name in COUNTS if name != "sent_without_receipt")
"""The counts :func:`campaigns_overview` computes for each campaign (all of :data:`COUNTS`
but ``sent_without_receipt``, which takes a pass over every send)."""


@attrs.frozen(kw_only=True)
class CampaignOverview:
    """One campaign's row in an account's overview: its state and its totals with rates.

    Every count in :data:`OVERVIEW_COUNTS` equals the one :func:`delivery_stats`
    gives for the campaign's total; segments, cost and "sent without receipt"
    are left out (they take a pass over every send: ask :func:`delivery_stats`).

    Args:
        campaign_id: The campaign's id.
        campaign_name: Its name.
        state: Its state.
        created_at: When it was created (its first timeline entry), if known.
        totals: The counts, as a :class:`DeliveryStats` total slice.
    """

    campaign_id: str
    campaign_name: str
    state: CampaignState
    created_at: datetime | None
    totals: DeliveryStats = attrs.field(repr=False)

    def count(self, name: str) -> int:
        """The count called ``name`` (one of :data:`OVERVIEW_COUNTS`).

        Raises:
            ConfigurationError: The overview has no such count.
        """
        if name not in OVERVIEW_COUNTS:
            raise ConfigurationError(
                f"the overview has no count {name!r}; choose from {list(OVERVIEW_COUNTS)}",
                value=name,
            )
        return self.totals.count(name)

    def rate(self, name: str) -> Rate | None:
        """The rate of the count ``name`` over its base (:data:`RATE_BASES`); None for ``replies``.

        Raises:
            ConfigurationError: The overview has no such count.
        """
        self.count(name)
        return self.totals.rate(name)

    @property
    def progress(self) -> Progress:
        """Seed 002's sent/recipients for the campaign."""
        return self.totals.progress


def campaigns_overview(
    storage: Storage,
    *,
    account: str = DEFAULT_ACCOUNT,
    keywords: Iterable[KeywordSet] = DEFAULT_KEYWORDS,
) -> list[CampaignOverview]:
    """One row per campaign of an account (seed 003 "Campaigns > Statistics").

    Status, response and recipient counts come from ``storage.count_sends`` and
    ``storage.count_recipients`` (aggregated where the data lives, as
    :func:`delivery_stats` does). Replies are read once for the whole account
    (``storage.iter_replies``) and each is attributed, per campaign, exactly as
    :func:`delivery_stats` attributes it: to that campaign's latest message that
    went out to the number before the reply arrived, when the number is one of
    the campaign's recipients' (``storage.iter_sms_log`` by number and
    ``storage.iter_contacts`` by number answer that from indexes).

    Args:
        storage: Where the campaigns are kept.
        account: The account.
        keywords: The keyword sets that decide which replies are opt-outs.

    Returns:
        The rows, by campaign id.
    """
    keyword_sets = tuple(keywords)
    campaigns = {c.id: c for c in storage.iter_campaigns(account=account)}
    tallies: dict[str, _Tally] = {}
    for campaign in campaigns.values():
        tally = tallies[campaign.id] = _Tally()
        first_step = campaign.invite.id
        by = ("step", "status", "reason")
        for (step_id, status, reason), n in storage.count_sends(campaign.id, by=by).items():
            tally.add_sends(status, reason, n, first_step=step_id == first_step)
        for (response,), n in storage.count_recipients(campaign.id, by=("response",)).items():
            tally.recipients += n
            if response == ResponseStatus.COMPLETE:
                tally.completed += n
    replies = storage.iter_replies(account=account)
    while chunk := list(itertools.islice(replies, 500)):
        _attribute_replies(storage, account, campaigns, tallies, chunk, keyword_sets)
    return [
        CampaignOverview(
            campaign_id=campaign.id,
            campaign_name=campaign.name,
            state=campaign.state,
            created_at=campaign.timeline[0].at if campaign.timeline else None,
            totals=tallies[campaign.id].build("total", "", None),
        )
        for campaign in campaigns.values()
    ]


def _attribute_replies(
    storage: Storage,
    account: str,
    campaigns: Mapping[str, Campaign],
    tallies: Mapping[str, _Tally],
    replies: Sequence[InboundMessage],
    keywords: tuple[KeywordSet, ...],
) -> None:
    """Count a chunk of an account's replies against each campaign, as delivery_stats does."""
    outgoing: dict[str, dict[str, list[tuple[datetime, int, str, str]]]] = {}
    for e164 in dict.fromkeys(m.sender.e164 for m in replies):
        per_campaign: dict[str, list[tuple[datetime, int, str, str]]] = {}
        for send in storage.iter_sms_log(LogFilter(to=e164), account=account):
            campaign = campaigns.get(send.campaign_id)
            if campaign is None or send.sent_on is None:
                continue
            order = {step.id: index for index, step in enumerate(campaign.steps)}
            per_campaign.setdefault(send.campaign_id, []).append(
                (send.sent_on, order.get(send.step_id, 0), send.step_id, send.recipient_id)
            )
        if per_campaign:
            # delivery_stats only counts replies from its recipients' current numbers.
            holders = [c.id for c in storage.iter_contacts(account=account, e164=e164)]
            for campaign_id in list(per_campaign):
                if not storage.get_recipients(campaign_id, holders):
                    del per_campaign[campaign_id]
        outgoing[e164] = {k: sorted(v) for k, v in per_campaign.items()}
    for message in replies:
        is_opt_out = message.classify(keywords=keywords).keyword is Keyword.OPT_OUT
        for campaign_id, sent in outgoing[message.sender.e164].items():
            earlier = [out for out in sent if out[0] <= message.received_at]
            if not earlier:
                continue
            recipient_id = earlier[-1][3]
            tally = tallies[campaign_id]
            tally.replies += 1
            tally.replied.add(recipient_id)
            if is_opt_out:
                tally.opted_out.add(recipient_id)


# Our states as an overview shows them ("In Progress"); Gladly's words fold
# drafts and suspensions into others, which an account-wide list must not.
_STATE_WORDS: Mapping[CampaignState, str] = {
    state: state.value.replace("_", " ").title() for state in CampaignState
}

OVERVIEW_HEADER: tuple[str, ...] = (
    "Campaign",
    "Name",
    "State",
    "Created",
    "Recipients",
    "Progress",
    "Sent",
    "Delivered",
    "Delivered rate",
    "Soft bounces",
    "Soft bounce rate",
    "Hard bounces",
    "Hard bounce rate",
    "Replied",
    "Replied rate",
    "Replies",
    "Opted out",
    "Opted out rate",
    "Pending",
    "Queued",
    "Skipped",
    "Canceled",
    "Completed",
)
"""The columns of :func:`overview_rows`: seed 003's SMS campaign statistics, seed 002's progress."""


def overview_rows(
    rows: Iterable[CampaignOverview], *, time_zone: str | tzinfo = "UTC"
) -> Iterator[list[str]]:
    """The overview as CSV rows in :data:`OVERVIEW_HEADER` order, every cell neutralized.

    "Sent" counts the messages that went out (sending, sent, delivered or
    bounced); rates are fractions with six decimals, empty when undefined.
    """
    zone = _zone(time_zone)
    for row in rows:
        t = row.totals

        def rate(name: str, t: DeliveryStats = t) -> str:
            value = t.rate(name)
            return "" if value is None or value.value is None else f"{value.value:.6f}"

        created = row.created_at.astimezone(zone).isoformat() if row.created_at else ""
        cells = [
            row.campaign_id,
            row.campaign_name,
            _STATE_WORDS[row.state],
            created,
            str(t.recipients),
            t.progress.text,
            str(t.went_out),
            str(t.delivered),
            rate("delivered"),
            str(t.soft_bounced),
            rate("soft_bounced"),
            str(t.hard_bounced),
            rate("hard_bounced"),
            str(t.replied),
            rate("replied"),
            str(t.replies),
            str(t.opted_out),
            rate("opted_out"),
            str(t.pending),
            str(t.queued),
            str(t.skipped),
            str(t.canceled),
            str(t.completed),
        ]
        yield [neutralize_cell(cell) for cell in cells]


def overview_to_dict(row: CampaignOverview) -> dict[str, Any]:
    """One overview row as a JSON-ready dictionary (counts, rates, progress)."""
    t = row.totals
    return {
        "campaign": {"id": row.campaign_id, "name": row.campaign_name, "state": row.state.value},
        "created_at": row.created_at.isoformat() if row.created_at else None,
        **{name: t.count(name) for name in OVERVIEW_COUNTS},
        "went_out": t.went_out,
        "progress": {
            "sent": t.progress.sent,
            "recipients": t.progress.recipients,
            "text": t.progress.text,
        },
        "rates": {
            name: _rate_dict(rate) for name, rate in t.rates.items() if name in OVERVIEW_COUNTS
        },
    }
