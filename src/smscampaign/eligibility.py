"""Who is pending for one step of a campaign, and why everyone else is not.

The rules are DESIGN.md's "Eligibility", taken from seed 000 (Alchemer,
"Identify Pending Contacts for a Given Message": a reminder goes to whoever
received the previous message and has not completed) and seed 001 (the
causes of "Ineligible to Send": not opted in, on a block list, consent denied
or pending, no SMS-capable number, a duplicate number).

Reading order
-------------
:class:`Reason` lists every reason a recipient can be excluded, each with a
one-sentence :attr:`~Reason.explanation`. :data:`DEFAULT_RULES` lists the
rules that give them, in the order their reasons are reported; each is a
small :class:`Rule` object whose :meth:`~Rule.check` reads one recipient. A
host application adds its own rule by subclassing :class:`Rule` and passing
``rules=[*DEFAULT_RULES, MyRule()]``.

:func:`decide` returns one :class:`Decision` per recipient, in input order,
listing *every* reason that applies (so an operator can ask "why did Tom not
get the reminder?" and get the whole answer); :func:`pending`,
:func:`count_reasons` and :func:`explain` are built on it. An
:class:`Eligibility` object does the same for a stream fed in chunks, and
its :meth:`~Eligibility.summarize` gives the pending ids and the count per
combination of reasons from one pass (a :class:`StepSummary`).

Speed
-----
Named rules are for readers, not a cost: at a million recipients a Python
call per rule per recipient alone blows the time budget. So the default
rules are *compiled* into one fused pass per step (:func:`_fused_pass`),
which reads each recipient's attributes once and tests every default rule
inline. The pass is Python source written for its step and the campaign's
options (:func:`_pass_source`), so a test that cannot apply is not run at
all, not skipped per recipient. The rule objects remain the reference:
property-based tests check that the fused pass, in every version, and
rule-by-rule evaluation decide alike. Rules a host appends after the
defaults run after the fused pass; a rule list that drops or reorders a
default rule is evaluated rule by rule.

Memory
------
Recipients are consumed as a stream and decisions are yielded one at a
time. The only state that grows is, when numbers are deduplicated, a map from
each E.164 number seen to the id of the first recipient holding it
(:func:`_numbers_seen` says how it is kept cheap at a million numbers).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import CodeType
from typing import ClassVar, Protocol, cast

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._time import require_aware
from smscampaign.domain.campaign import Campaign, CampaignOptions, Step, StepKind
from smscampaign.domain.contact import (
    STANDARD_FIELDS,
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
)
from smscampaign.domain.delivery import DeliveryStatus, Permanence, Send
from smscampaign.domain.phone import NO_SMS_KINDS, NumberKind
from smscampaign.errors import ConfigurationError, InvalidCampaign

__all__ = [
    "DEFAULT_RULES",
    "AlreadySentRule",
    "ConsentRule",
    "ContactStatusRule",
    "Decision",
    "DuplicateNumberRule",
    "Eligibility",
    "Finding",
    "MissingFieldRule",
    "PreviousOutcome",
    "PreviousReceivedRule",
    "Reason",
    "ReasonCounts",
    "ReasonLike",
    "ReminderResponseRule",
    "Rule",
    "RuleContext",
    "SmsCapableRule",
    "StepSummary",
    "SuppressionRule",
    "ThankYouResponseRule",
    "VerifiedNumberRule",
    "count_reasons",
    "counts_as_sent",
    "decide",
    "due_after",
    "explain",
    "failed_permanently",
    "pending",
    "previous_outcome",
    "received_on",
]


# -- reasons -------------------------------------------------------------------


class Reason(StrEnum):
    """Why a recipient is not pending for a step.

    The values are stable lower_snake strings: the runner stores them as the
    skip reasons of a SKIPPED send. Members are listed in the order
    :data:`DEFAULT_RULES` reports them.
    """

    INACTIVE = "inactive"
    REMOVED = "removed"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    NOT_OPTED_IN = "not_opted_in"
    OPTED_OUT = "opted_out"
    NOT_SMS_CAPABLE = "not_sms_capable"
    UNVERIFIED_NUMBER = "unverified_number"
    DUPLICATE_NUMBER = "duplicate_number"
    ALREADY_SENT = "already_sent"
    MISSING_FIELD = "missing_field"
    RESPONSE_COMPLETE = "response_complete"
    DISQUALIFIED = "disqualified"
    PREVIOUS_NOT_RECEIVED = "previous_not_received"
    NOT_YET_DUE = "not_yet_due"
    NOT_COMPLETE = "not_complete"

    @property
    def explanation(self) -> str:
        """One sentence saying what this reason means, for people."""
        return _EXPLANATIONS[self]


_EXPLANATIONS: Mapping[Reason, str] = {
    Reason.INACTIVE: "The recipient was deactivated for this campaign.",
    Reason.REMOVED: "The recipient was removed from this campaign.",
    Reason.UNSUBSCRIBED: "The recipient unsubscribed (replied a stop word).",
    Reason.SUPPRESSED: "The number is on the account's suppression list, which nothing overrides.",
    Reason.NOT_OPTED_IN: "The contact has not yet opted in to receive SMS (consent pending).",
    Reason.OPTED_OUT: "The contact has denied or withdrawn consent to receive SMS.",
    Reason.NOT_SMS_CAPABLE: "The number is of a kind that cannot receive SMS, such as a landline.",
    Reason.UNVERIFIED_NUMBER: "The number matches no known number range and was accepted "
    "unverified, which this campaign does not allow.",
    Reason.DUPLICATE_NUMBER: "An earlier recipient of this campaign has the same number.",
    Reason.ALREADY_SENT: "This step was already sent to the recipient, or is on its way.",
    Reason.MISSING_FIELD: "The step's message names a field this recipient has no value for.",
    Reason.RESPONSE_COMPLETE: "The recipient has completed the response; reminders stop.",
    Reason.DISQUALIFIED: "The recipient was disqualified, and this campaign does not remind them.",
    Reason.PREVIOUS_NOT_RECEIVED: "The recipient did not receive the previous message.",
    Reason.NOT_YET_DUE: "The previous message was received too recently; the step is not due yet.",
    Reason.NOT_COMPLETE: "Only recipients who completed the response get the thank-you.",
}


class PreviousOutcome(StrEnum):
    """Why the previous message does not count as received (for PREVIOUS_NOT_RECEIVED)."""

    NOT_SENT = "not_sent"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"
    NO_RECEIPT = "no_receipt"

    @property
    def explanation(self) -> str:
        """One sentence saying what happened to the previous message."""
        return _OUTCOME_EXPLANATIONS[self]


_OUTCOME_EXPLANATIONS: Mapping[PreviousOutcome, str] = {
    PreviousOutcome.NOT_SENT: "The previous message was never sent to this recipient.",
    PreviousOutcome.IN_PROGRESS: "The previous message is still queued or being sent.",
    PreviousOutcome.FAILED: "The previous message failed (it bounced).",
    PreviousOutcome.NO_RECEIPT: "The previous message was sent but no delivery receipt came, "
    "and this campaign does not accept SENT as received.",
}


class ReasonLike(Protocol):
    """What a rule's reason must offer: a :class:`Reason`, or a host's own ``StrEnum``.

    ``str(reason)`` is the value stored as a skip reason.
    """

    @property
    def explanation(self) -> str:
        """One sentence for people."""
        ...  # pragma: no cover


# -- findings, context and rules ---------------------------------------------------


@attrs.frozen
class Finding:
    """One reason a rule found, with the specifics that make it explainable.

    Args:
        reason: The reason.
        due_at: For NOT_YET_DUE, when the step becomes due.
        duplicate_of: For DUPLICATE_NUMBER, the id of the first recipient with the number.
        missing_fields: For MISSING_FIELD, the placeholders without a value.
        previous: For PREVIOUS_NOT_RECEIVED, what happened to the previous message.
        detail: Free specifics from a host rule.
    """

    reason: ReasonLike
    due_at: datetime | None = attrs.field(default=None, kw_only=True)
    duplicate_of: str | None = attrs.field(default=None, kw_only=True)
    missing_fields: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    previous: PreviousOutcome | None = attrs.field(default=None, kw_only=True)
    detail: str = attrs.field(default="", kw_only=True)

    def sentence(self) -> str:
        """The reason's explanation followed by this recipient's specifics."""
        text = self.reason.explanation
        if self.duplicate_of is not None:
            text += f" It is the number of recipient {self.duplicate_of}."
        if self.missing_fields:
            names = ", ".join("{" + name + "}" for name in self.missing_fields)
            text += f" Missing: {names}."
        if self.previous is not None:
            text += " " + self.previous.explanation
        if self.due_at is not None:
            text += f" It is due at {self.due_at.isoformat()}."
        if self.detail:
            text += " " + self.detail
        return text


@attrs.frozen(kw_only=True)
class RuleContext:
    """Everything a rule may read besides the recipient.

    Args:
        campaign: The campaign.
        step: The step being decided.
        previous_step: The step before it (None for the invite).
        suppressed: The suppression list: anything answering ``e164 in suppressed``.
        now: The moment of the decision (aware).
        duplicate_of: The id of the first recipient in the stream holding this
            recipient's number, when this recipient is not that first one
            (set per recipient by the engine; None otherwise).
    """

    campaign: Campaign
    step: Step
    previous_step: Step | None
    suppressed: Container[str]
    now: datetime
    duplicate_of: str | None = None

    @property
    def options(self) -> CampaignOptions:
        """The campaign's options."""
        return self.campaign.options


_UTC = timezone.utc
_ALL_KINDS: frozenset[StepKind] = frozenset(StepKind)


class Rule(abc.ABC):
    """One eligibility rule: a named check of one recipient for one step.

    Subclass it to add a rule of your own: give it a ``name``, the
    ``reasons`` it may report, the step ``kinds`` it applies to, and a
    :meth:`check`. Pass ``rules=[*DEFAULT_RULES, YourRule()]`` to
    :func:`decide`; your rule runs after the compiled default rules.

    Attributes:
        name: A short lower_snake name, for listings and docs.
        reasons: Every reason the rule may report.
        kinds: The step kinds the rule applies to (all by default).
    """

    name: ClassVar[str] = ""
    reasons: ClassVar[tuple[ReasonLike, ...]] = ()
    kinds: ClassVar[frozenset[StepKind]] = _ALL_KINDS

    def applies_to(self, step: Step) -> bool:
        """True when the rule is checked for ``step``.

        Args:
            step: The step being decided.

        Returns:
            Whether the step's kind is one of :attr:`kinds`.
        """
        return step.kind in self.kinds

    @abc.abstractmethod
    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """Check one recipient.

        Args:
            recipient: The recipient.
            ctx: The campaign, step, suppression list, time and duplicate owner.

        Returns:
            A finding when the rule excludes the recipient, else None.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_STATUS_REASONS: Mapping[ContactStatus, Reason] = {
    ContactStatus.INACTIVE: Reason.INACTIVE,
    ContactStatus.REMOVED: Reason.REMOVED,
    ContactStatus.UNSUBSCRIBED: Reason.UNSUBSCRIBED,
}


class ContactStatusRule(Rule):
    """Only ACTIVE recipients are sent to (seed 000 "Contact Status")."""

    name = "contact_status"
    reasons = (Reason.INACTIVE, Reason.REMOVED, Reason.UNSUBSCRIBED)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """INACTIVE, REMOVED or UNSUBSCRIBED for a recipient that is not ACTIVE."""
        reason = _STATUS_REASONS.get(recipient.status)
        return None if reason is None else Finding(reason)


class SuppressionRule(Rule):
    """A suppressed number is never sent to; no option lifts this (seed 001 "block list")."""

    name = "suppression"
    reasons = (Reason.SUPPRESSED,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """SUPPRESSED when the recipient's E.164 number is on the suppression list."""
        return Finding(Reason.SUPPRESSED) if recipient.phone.e164 in ctx.suppressed else None


class ConsentRule(Rule):
    """Consent must be OPTED_IN; PENDING_OPT_IN only where the campaign allows it (seed 001)."""

    name = "consent"
    reasons = (Reason.NOT_OPTED_IN, Reason.OPTED_OUT)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """OPTED_OUT always; NOT_OPTED_IN for pending consent unless allowed."""
        consent = recipient.contact.consent
        if consent is Consent.OPTED_OUT:
            return Finding(Reason.OPTED_OUT)
        if consent is Consent.PENDING_OPT_IN and not ctx.options.allow_pending_opt_in:
            return Finding(Reason.NOT_OPTED_IN)
        return None


class SmsCapableRule(Rule):
    """The number's kind must take SMS (not fixed line, premium, shared cost, UAN, voicemail)."""

    name = "sms_capable"
    reasons = (Reason.NOT_SMS_CAPABLE,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """NOT_SMS_CAPABLE when :attr:`NumberKind.can_receive_sms` is False."""
        return None if recipient.phone.kind.can_receive_sms else Finding(Reason.NOT_SMS_CAPABLE)


class VerifiedNumberRule(Rule):
    """Numbers the lenient parser could not verify are excluded unless the campaign opts in."""

    name = "verified_number"
    reasons = (Reason.UNVERIFIED_NUMBER,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """UNVERIFIED_NUMBER for an unverified number without ``allow_unverified_numbers``."""
        if recipient.phone.verified or ctx.options.allow_unverified_numbers:
            return None
        return Finding(Reason.UNVERIFIED_NUMBER)


class DuplicateNumberRule(Rule):
    """Only the first recipient holding a number is considered (seed 001 "duplicate")."""

    name = "duplicate_number"
    reasons = (Reason.DUPLICATE_NUMBER,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """DUPLICATE_NUMBER, naming the first holder, when the engine found an earlier one."""
        if ctx.duplicate_of is None:
            return None
        return Finding(Reason.DUPLICATE_NUMBER, duplicate_of=ctx.duplicate_of)


def failed_permanently(send: Send) -> bool:
    """True when a send failed for a permanent reason (a hard bounce).

    Args:
        send: The send.

    Returns:
        Whether it is HARD_BOUNCED, or SOFT_BOUNCED for a reason whose
        default permanence is permanent.
    """
    status = send.status
    if status is DeliveryStatus.HARD_BOUNCED:
        return True
    if status is DeliveryStatus.SOFT_BOUNCED:
        reason = send.failure_reason
        return reason is not None and reason.permanence is Permanence.PERMANENT
    return False


def counts_as_sent(send: Send, e164: str) -> bool:
    """True when ``send`` means its step was sent (or is on its way) to a recipient now at ``e164``.

    SKIPPED and CANCELED sends never went out and do not count. A send to the
    recipient's current number counts whatever became of it (a failed invite
    is not pending again; seed 000). A send to an earlier number counts unless
    it failed permanently, so a corrected number makes the recipient sendable
    again while a message delivered to the old number is not sent twice.

    Args:
        send: One send of the step.
        e164: The recipient's current number.

    Returns:
        Whether the step counts as already sent.
    """
    status = send.status
    if status is DeliveryStatus.SKIPPED or status is DeliveryStatus.CANCELED:
        return False
    return send.to == e164 or not failed_permanently(send)


class AlreadySentRule(Rule):
    """A step goes once: pending for the invite means "no invite sent yet" (seed 000)."""

    name = "already_sent"
    reasons = (Reason.ALREADY_SENT,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """ALREADY_SENT when a send of this step counts (see :func:`counts_as_sent`)."""
        e164 = recipient.phone.e164
        for send in recipient.sends_for(ctx.step.id):
            if counts_as_sent(send, e164):
                return Finding(Reason.ALREADY_SENT)
        return None


class MissingFieldRule(Rule):
    """Rendering is strict: a placeholder the recipient cannot fill excludes it (DESIGN.md)."""

    name = "missing_field"
    reasons = (Reason.MISSING_FIELD,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """MISSING_FIELD naming every placeholder without a non-blank value."""
        if not ctx.step.body.placeholders:
            return None
        missing = ctx.step.body.missing(recipient.template_values())
        return Finding(Reason.MISSING_FIELD, missing_fields=missing) if missing else None


class ReminderResponseRule(Rule):
    """Reminders go to responses other than COMPLETE, and not DISQUALIFIED unless configured."""

    name = "reminder_response"
    reasons = (Reason.RESPONSE_COMPLETE, Reason.DISQUALIFIED)
    kinds = frozenset({StepKind.REMINDER})

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """RESPONSE_COMPLETE, or DISQUALIFIED without ``remind_disqualified``."""
        response = recipient.response
        if response is ResponseStatus.COMPLETE:
            return Finding(Reason.RESPONSE_COMPLETE)
        if response is ResponseStatus.DISQUALIFIED and not ctx.options.remind_disqualified:
            return Finding(Reason.DISQUALIFIED)
        return None


def previous_outcome(
    sends: Iterable[Send], previous_step_id: str, *, accept_sent: bool
) -> tuple[Send | None, PreviousOutcome]:
    """Whether the previous step was received, from a recipient's sends.

    Args:
        sends: The recipient's sends, oldest first.
        previous_step_id: The previous step's id.
        accept_sent: Whether SENT without a receipt counts as received.

    Returns:
        The newest send of the previous step that counts as received (or
        None), and, when there is none, what happened to the newest send
        that went out (``NOT_SENT`` if none did).
    """
    received: Send | None = None
    outcome = PreviousOutcome.NOT_SENT
    for send in sends:
        if send.step_id != previous_step_id:
            continue
        status = send.status
        if status is DeliveryStatus.DELIVERED or (accept_sent and status is DeliveryStatus.SENT):
            received = send
        elif status is DeliveryStatus.SENT:
            outcome = PreviousOutcome.NO_RECEIPT
        elif status is DeliveryStatus.QUEUED or status is DeliveryStatus.SENDING:
            outcome = PreviousOutcome.IN_PROGRESS
        elif status is DeliveryStatus.SOFT_BOUNCED or status is DeliveryStatus.HARD_BOUNCED:
            outcome = PreviousOutcome.FAILED
    return received, outcome


def received_on(send: Send) -> datetime:
    """When a received message counts as sent: its sent-on, else delivery, else creation.

    Args:
        send: A DELIVERED (or accepted SENT) send.

    Returns:
        Its seed-000 "Sent On"; a receipt without a sent time falls back to
        the delivery time, then to when the send was created.
    """
    return send.sent_on or send.delivered_at or send.created_at


def due_after(moment: datetime, delay: timedelta) -> datetime:
    """``moment + delay`` in elapsed time, expressed in ``moment``'s zone.

    Python adds a timedelta to an aware datetime on the wall clock, which is
    off by an hour across a DST change; a reminder's delay is elapsed time.

    Args:
        moment: An aware datetime.
        delay: The delay.

    Returns:
        The aware datetime ``delay`` after ``moment``.
    """
    return (moment.astimezone(_UTC) + delay).astimezone(moment.tzinfo)


class PreviousReceivedRule(Rule):
    """A reminder needs the previous message received and its delay elapsed (seed 000)."""

    name = "previous_received"
    reasons = (Reason.PREVIOUS_NOT_RECEIVED, Reason.NOT_YET_DUE)
    kinds = frozenset({StepKind.REMINDER})

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """PREVIOUS_NOT_RECEIVED with what happened, or NOT_YET_DUE with when it will be due."""
        previous = ctx.previous_step
        if previous is None:  # pragma: no cover - a reminder always follows a step
            return None
        received, outcome = previous_outcome(
            recipient.sends, previous.id, accept_sent=ctx.options.accept_sent_as_received
        )
        if received is None:
            return Finding(Reason.PREVIOUS_NOT_RECEIVED, previous=outcome)
        due_at = due_after(received_on(received), ctx.step.delay)
        if ctx.now < due_at:
            return Finding(Reason.NOT_YET_DUE, due_at=due_at)
        return None


class ThankYouResponseRule(Rule):
    """Only COMPLETE responses get the thank-you (seed 000 "Thank You Messages")."""

    name = "thank_you_response"
    reasons = (Reason.NOT_COMPLETE,)
    kinds = frozenset({StepKind.THANK_YOU})

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """NOT_COMPLETE for any response other than COMPLETE."""
        if recipient.response is ResponseStatus.COMPLETE:
            return None
        return Finding(Reason.NOT_COMPLETE)


#: The default rules, in the order their reasons are reported. Source:
#: DESIGN.md "Eligibility", seed 000 (Alchemer pending contacts) and seed 001
#: (causes of "Ineligible to Send").
DEFAULT_RULES: tuple[Rule, ...] = (
    ContactStatusRule(),
    SuppressionRule(),
    ConsentRule(),
    SmsCapableRule(),
    VerifiedNumberRule(),
    DuplicateNumberRule(),
    AlreadySentRule(),
    MissingFieldRule(),
    ReminderResponseRule(),
    PreviousReceivedRule(),
    ThankYouResponseRule(),
)


# -- decisions -----------------------------------------------------------------

_NO_REASONS: tuple[ReasonLike, ...] = ()

# Specifics of an ineligible decision, kept as one plain tuple so building a
# decision stays cheap: (duplicate_of, missing_fields, previous, findings).
# ``findings`` is None unless a host rule (or rule-by-rule evaluation) made them.
_Extra = tuple[str | None, tuple[str, ...], PreviousOutcome | None, tuple[Finding, ...] | None]


class Decision:
    """Whether one recipient is pending for one step, and every reason it is not.

    Decisions are cheap: built once per recipient in the hot loop, with
    slots and the specifics packed in one tuple.

    Attributes:
        recipient: The recipient decided.
        step: The step.
        reasons: Every reason that applies, in rule order; empty exactly when eligible.
        due_at: For a reminder not yet due (NOT_YET_DUE), when it will be due.
    """

    __slots__ = ("_extra", "due_at", "reasons", "recipient", "step")

    def __init__(
        self,
        recipient: Recipient,
        step: Step,
        reasons: tuple[ReasonLike, ...] = _NO_REASONS,
        due_at: datetime | None = None,
        extra: _Extra | None = None,
    ) -> None:
        self.recipient = recipient
        self.step = step
        self.reasons = reasons
        self.due_at = due_at
        self._extra = extra

    @classmethod
    def from_findings(
        cls, recipient: Recipient, step: Step, findings: Sequence[Finding]
    ) -> Decision:
        """A decision from the findings of rule-by-rule evaluation.

        Args:
            recipient: The recipient.
            step: The step.
            findings: What the rules found, in rule order.

        Returns:
            The decision (eligible when ``findings`` is empty).
        """
        if not findings:
            return cls(recipient, step)
        due_at = duplicate_of = previous = None
        missing: tuple[str, ...] = ()
        for finding in findings:
            due_at = finding.due_at or due_at
            duplicate_of = finding.duplicate_of or duplicate_of
            missing = finding.missing_fields or missing
            previous = finding.previous or previous
        return cls(
            recipient,
            step,
            tuple(f.reason for f in findings),
            due_at,
            (duplicate_of, missing, previous, tuple(findings)),
        )

    @property
    def eligible(self) -> bool:
        """True when no reason applies: the recipient is pending for the step."""
        return not self.reasons

    @property
    def duplicate_of(self) -> str | None:
        """For DUPLICATE_NUMBER, the id of the first recipient holding the number."""
        return None if self._extra is None else self._extra[0]

    @property
    def missing_fields(self) -> tuple[str, ...]:
        """For MISSING_FIELD, the placeholders this recipient cannot fill."""
        return () if self._extra is None else self._extra[1]

    @property
    def previous(self) -> PreviousOutcome | None:
        """For PREVIOUS_NOT_RECEIVED, what happened to the previous message."""
        return None if self._extra is None else self._extra[2]

    @property
    def findings(self) -> tuple[Finding, ...]:
        """One :class:`Finding` per reason, with its specifics."""
        if self._extra is not None and self._extra[3] is not None:
            return self._extra[3]
        return tuple(self._finding(reason) for reason in self.reasons)

    def _finding(self, reason: ReasonLike) -> Finding:
        if reason is Reason.DUPLICATE_NUMBER:
            return Finding(reason, duplicate_of=self.duplicate_of)
        if reason is Reason.MISSING_FIELD:
            return Finding(reason, missing_fields=self.missing_fields)
        if reason is Reason.PREVIOUS_NOT_RECEIVED:
            return Finding(reason, previous=self.previous)
        if reason is Reason.NOT_YET_DUE:
            return Finding(reason, due_at=self.due_at)
        return Finding(reason)

    @property
    def skip_reasons(self) -> tuple[str, ...]:
        """The reasons as stored on a SKIPPED send (their lower_snake values)."""
        return tuple(str(reason) for reason in self.reasons)

    def explain(self) -> str:
        """A paragraph for people: eligible or not, and why, with the specifics.

        Returns:
            E.g. "Recipient tom (+12125550123) is not eligible for reminder
            'reminder-1': The recipient did not receive the previous message.
            The previous message failed (it bounced)."
        """
        who = f"Recipient {self.recipient.id} ({self.recipient.phone.e164})"
        what = f"{self.step.kind.value.replace('_', '-')} {self.step.id!r}"
        if self.eligible:
            return f"{who} is eligible for {what}."
        sentences = " ".join(f.sentence() for f in self.findings)
        count = len(self.reasons)
        why = "1 reason" if count == 1 else f"{count} reasons"
        return f"{who} is not eligible for {what} ({why}): {sentences}"

    def _key(self) -> tuple[object, ...]:
        return (
            self.recipient,
            self.step.id,
            self.reasons,
            self.due_at,
            self.duplicate_of,
            self.missing_fields,
            self.previous,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.recipient.id, self.step.id, self.reasons))

    def __repr__(self) -> str:
        reasons = ", ".join(str(r) for r in self.reasons)
        return f"Decision({self.recipient.id!r}, {self.step.id!r}, reasons=[{reasons}])"


class _Decided(Decision):
    """A decision as the fused pass builds it, every slot set by the pass.

    ``__init__`` is ``object``'s, so calling the class allocates the object
    in C with no Python-level call and no argument tuple. Every decision of
    the pass is of this one class, so a reader's ``decision.reasons`` stays
    a specialized slot read in CPython (a mix of classes would not).
    """

    __slots__ = ()
    __init__ = object.__init__


@attrs.frozen
class ReasonCounts:
    """How many recipients a step would reach, and how many each reason excludes.

    A recipient excluded for two reasons counts under both.

    Args:
        total: Recipients decided.
        eligible: Recipients pending for the step.
        by_reason: Count per reason, in the order reasons were first met.
    """

    total: int
    eligible: int
    by_reason: Mapping[ReasonLike, int]

    @property
    def ineligible(self) -> int:
        """Recipients with at least one reason."""
        return self.total - self.eligible

    def __getitem__(self, reason: ReasonLike) -> int:
        return self.by_reason.get(reason, 0)


@attrs.frozen
class StepSummary:
    """Who is pending for a step, and how many recipients each combination of reasons excludes.

    What an operator asks before sending a step, answered in one pass:
    :attr:`pending` says who gets it, :attr:`combinations` accounts for
    everyone else, and :attr:`counts` gives the count per reason.

    Args:
        pending: The ids of the pending recipients, in input order.
        combinations: Recipients per exact tuple of reasons (in report order;
            ``()`` for the pending ones), in the order each was first met.
    """

    pending: tuple[str, ...]
    combinations: Mapping[tuple[ReasonLike, ...], int]

    @property
    def counts(self) -> ReasonCounts:
        """The same figures per reason, as :meth:`Eligibility.counts` gives them."""
        by_reason: dict[ReasonLike, int] = {}
        for reasons, count in self.combinations.items():
            for reason in reasons:
                by_reason[reason] = by_reason.get(reason, 0) + count
        total = sum(self.combinations.values())
        return ReasonCounts(total, self.combinations.get((), 0), by_reason)


# -- the engine ---------------------------------------------------------------------

_Pass = Callable[[Iterable[Recipient]], Iterator[Decision]]


def checked_step(campaign: Campaign, step: Step | str) -> Step:
    """The campaign's step of that id, as :class:`Eligibility` decides it.

    Raises:
        InvalidCampaign: The campaign has no such step, or ``step`` differs
            from the campaign's step of that id.
    """
    step_id = step.id if isinstance(step, Step) else step
    the_step = campaign.step(step_id)
    if isinstance(step, Step) and step != the_step:
        raise InvalidCampaign(
            f"step {step_id!r} differs from campaign {campaign.id!r}'s step of that id",
            value=step,
        )
    return the_step


class Eligibility:
    """Decides one step of one campaign for a stream of recipients, possibly in chunks.

    Feeding the recipients in one iterable or in several calls to
    :meth:`decide` gives the same decisions: the numbers already seen (for
    duplicates) carry over from call to call. That map, from each E.164
    number to the id of its first holder, is the only state that grows.

    Args:
        campaign: The campaign.
        step: The step, or its id.
        now: The moment of the decision (aware).
        suppressed: The suppression list: anything answering ``e164 in suppressed``.
        rules: The rules; :data:`DEFAULT_RULES` by default. Rules appended after the
            defaults keep the compiled fast pass; other lists are evaluated rule by rule.

    Raises:
        InvalidCampaign: The step is not one of the campaign's.
        NaiveDatetimeError: ``now`` is naive.
        ConfigurationError: ``rules`` holds something that is not a :class:`Rule`.
    """

    def __init__(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed: Container[str] | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> None:
        the_step = checked_step(campaign, step)
        step_id = the_step.id
        rules = DEFAULT_RULES if rules is None else tuple(rules)
        for rule in rules:
            if not isinstance(rule, Rule):
                raise ConfigurationError(f"rules must be Rule instances, got {rule!r}", value=rule)
        self.campaign = campaign
        self.step = the_step
        self.context = RuleContext(
            campaign=campaign,
            step=the_step,
            previous_step=campaign.previous_step(step_id),
            suppressed=frozenset() if suppressed is None else suppressed,
            now=require_aware(now, "now"),
        )
        self.rules: tuple[Rule, ...] = tuple(r for r in rules if r.applies_to(the_step))
        self._seen = _numbers_seen()
        defaults = tuple(r for r in DEFAULT_RULES if r.applies_to(the_step))
        self.compiled = self.rules[: len(defaults)] == defaults
        if self.compiled:
            self._pass = _fused_pass(self.context, self._seen, self.rules[len(defaults) :])
        else:
            self._pass = self._reference_pass

    def decide(self, recipients: Iterable[Recipient]) -> Iterator[Decision]:
        """One decision per recipient, in input order, lazily.

        Args:
            recipients: Any iterable; consumed as a stream.

        Returns:
            An iterator of decisions.
        """
        return self._pass(recipients)

    def decide_by_rules(self, recipients: Iterable[Recipient]) -> Iterator[Decision]:
        """Like :meth:`decide`, running each rule object in turn (the reference).

        Slower than the compiled pass and meant for tests and explanations;
        it shares the seen-numbers state with :meth:`decide`.

        Args:
            recipients: Any iterable; consumed as a stream.

        Returns:
            An iterator of decisions.
        """
        return self._reference_pass(recipients)

    def _reference_pass(self, recipients: Iterable[Recipient]) -> Iterator[Decision]:
        ctx = self.context
        step = self.step
        rules = self.rules
        seen = self._seen
        dedup = ctx.options.deduplicate_numbers
        for recipient in recipients:
            first = None
            if dedup:
                contact_id = recipient.id
                first = seen.setdefault(recipient.phone.e164, contact_id)
                if first == contact_id:  # the first holder, or the same recipient again
                    first = None
            here = ctx if first is None else attrs.evolve(ctx, duplicate_of=first)
            findings = [f for f in (rule.check(recipient, here) for rule in rules) if f]
            yield Decision.from_findings(recipient, step, findings)

    def pending(self, recipients: Iterable[Recipient]) -> Iterator[Recipient]:
        """Just the recipients pending for the step, lazily, in input order.

        Args:
            recipients: Any iterable; consumed as a stream.

        Returns:
            An iterator of the eligible recipients.
        """
        return (d.recipient for d in self._pass(recipients) if not d.reasons)

    def counts(self, recipients: Iterable[Recipient]) -> ReasonCounts:
        """Count the eligible recipients and the recipients excluded by each reason.

        Args:
            recipients: Any iterable; consumed as a stream.

        Returns:
            The counts.
        """
        total = eligible = 0
        by_reason: dict[ReasonLike, int] = {}
        get = by_reason.get
        for decision in self._pass(recipients):
            total += 1
            reasons = decision.reasons
            if not reasons:
                eligible += 1
                continue
            for reason in reasons:
                by_reason[reason] = get(reason, 0) + 1
        return ReasonCounts(total, eligible, by_reason)

    def summarize(self, recipients: Iterable[Recipient]) -> StepSummary:
        """The pending recipients' ids and the count per combination of reasons, in one pass.

        Args:
            recipients: Any iterable; consumed as a stream.

        Returns:
            The summary.
        """
        pending: list[str] = []
        combinations: dict[tuple[ReasonLike, ...], int] = {}
        get = combinations.get
        for decision in self._pass(recipients):
            reasons = decision.reasons
            if not reasons:
                pending.append(decision.recipient.id)
            combinations[reasons] = get(reasons, 0) + 1
        return StepSummary(tuple(pending), combinations)


# Where a placeholder's value lives when the recipient's own fields lack it, in
# Recipient.template_values() precedence: the contact's attribute of that name
# for a standard field ("phone" is the number's E.164 form); for any other
# name (None here), the contact's custom fields.
_STANDARD_SOURCES: Mapping[str, str] = {name: name for name in STANDARD_FIELDS}

# The contact's stored attributes (reading one runs no code, unlike ``full_name``).
_CONTACT_ATTRIBUTES = frozenset(field.name for field in attrs.fields(Contact))


def _missing_fields(
    recipient: Recipient, fields: tuple[tuple[str, str | None], ...]
) -> tuple[str, ...]:
    """The placeholders a recipient cannot fill, in order, as the fused pass tests them.

    Args:
        recipient: The recipient.
        fields: The step's placeholders, each with where its value lives
            (see :data:`_STANDARD_SOURCES`).

    Returns:
        The names without a value or with a blank one (empty or only whitespace).
    """
    contact = recipient.contact
    missing: list[str] = []
    for name, source in fields:
        value = recipient.fields.get(name)
        if value is None:
            if source is None:
                value = contact.fields.get(name)
            elif source == "phone":
                value = contact.phone.e164
            else:
                value = getattr(contact, source)
        if not value or value.isspace():
            missing.append(name)
    return tuple(missing)


# Bits of the fused pass's reason mask, one per default reason, in report order.
_BIT: Mapping[Reason, int] = {reason: 1 << index for index, reason in enumerate(Reason)}


def _reasons_of(mask: int, cache: dict[int, tuple[ReasonLike, ...]]) -> tuple[ReasonLike, ...]:
    """The reasons a mask stands for, in report order (one shared tuple per mask)."""
    reasons: tuple[ReasonLike, ...] = tuple(r for r in Reason if mask & _BIT[r])
    cache[mask] = reasons
    return reasons


# A key no stream ever holds (see _numbers_seen).
_HASHES_KEPT = object()


def _numbers_seen() -> dict[str, str]:
    """An empty map from E.164 numbers to the id of their first holder, fit for a million keys.

    CPython stores a dict whose keys are all ``str`` without each key's hash,
    so a probe that meets another key must fetch that key's string to compare
    hashes: at a million numbers, a cache miss per collision and the largest
    single cost of a pass (bench/eligibility.py). One key of another type,
    never looked up, makes the dict keep every hash beside its key; with it
    the map costs about what a ``set`` of the numbers would.
    """
    return cast("dict[str, str]", {_HASHES_KEPT: ""})


def _fused_pass(ctx: RuleContext, seen: dict[str, str], extras: tuple[Rule, ...]) -> _Pass:
    """Compile the default rules for one step into one pass over a stream.

    Every default rule is tested inline, in :data:`DEFAULT_RULES` order, on
    attributes read once per recipient; the reasons found are bits of one
    integer, mapped to a shared tuple, so an ineligible recipient costs no
    more allocation than an eligible one. ``extras`` (host rules) run after.
    The result must equal rule-by-rule evaluation; the test suite checks it.

    What the pass costs is what it runs per recipient, so the pass is
    written for its step (:func:`_pass_source`): a test that the step's kind
    or the campaign's options rule out is left out rather than skipped at
    run time, the placeholders are tested one after the other with their
    names and where their values live written in, and everything that
    depends only on the step (the reminder's cutoff, the suppression list,
    the map of numbers seen) is a local of the pass. Each decision is built
    without a Python-level ``__init__`` call.

    Args:
        ctx: The step's context (campaign, options, suppression list, now).
        seen: The session's map of numbers seen to their first holder (mutated).
        extras: Host rules appended after the defaults.

    Returns:
        A function from recipients to decisions.
    """
    step = ctx.step
    options = ctx.options
    is_reminder = step.kind is StepKind.REMINDER
    previous_step = ctx.previous_step if is_reminder else None
    cache: dict[int, tuple[ReasonLike, ...]] = {0: _NO_REASONS}
    # Placeholders in Template.missing()'s order, each with where its value lives.
    fields = tuple((name, _STANDARD_SOURCES.get(name)) for name in step.body.missing({}))
    namespace: dict[str, object] = {
        # What the step settles once.
        "step": step,
        "step_id": step.id,
        "previous_id": None if previous_step is None else previous_step.id,
        "suppressed": ctx.suppressed,
        "setdefault": seen.setdefault,
        "cache": cache,
        "cached": cache.get,
        # "now >= sent_on + delay" (elapsed time) as one comparison per recipient.
        "cutoff": ctx.now.astimezone(_UTC) - step.delay,
        "delay": step.delay,
        "ctx": ctx,
        "extras": extras,
        # Constants and helpers, as locals of the pass.
        "status_bits": {status: _BIT[reason] for status, reason in _STATUS_REASONS.items()},
        "active": ContactStatus.ACTIVE,
        "opted_in": Consent.OPTED_IN,
        "opted_out": Consent.OPTED_OUT,
        "mobile": NumberKind.MOBILE,
        "either": NumberKind.FIXED_LINE_OR_MOBILE,
        "no_sms": NO_SMS_KINDS,
        "not_started": ResponseStatus.NOT_STARTED,
        "complete": ResponseStatus.COMPLETE,
        "disqualified": ResponseStatus.DISQUALIFIED,
        "delivered": DeliveryStatus.DELIVERED,
        "sent": DeliveryStatus.SENT,
        "skipped": DeliveryStatus.SKIPPED,
        "canceled": DeliveryStatus.CANCELED,
        "queued": DeliveryStatus.QUEUED,
        "sending": DeliveryStatus.SENDING,
        "o_not_sent": PreviousOutcome.NOT_SENT,
        "o_no_receipt": PreviousOutcome.NO_RECEIPT,
        "o_in_progress": PreviousOutcome.IN_PROGRESS,
        "o_failed": PreviousOutcome.FAILED,
        "decision": Decision,
        "decided": _Decided,
        "no_reasons": _NO_REASONS,
        "fields": fields,
        "missing_fields": _missing_fields,
        "reasons_of": _reasons_of,
        "due_after": due_after,
        "failed_permanently": failed_permanently,
        "evolve": attrs.evolve,
    }
    code = _compiled_pass(
        _pass_source(
            kind=step.kind,
            has_previous=previous_step is not None,
            fields=fields,
            allow_pending=options.allow_pending_opt_in,
            check_verified=not options.allow_unverified_numbers,
            accept_sent=options.accept_sent_as_received,
            remind_disqualified=options.remind_disqualified,
            dedup=options.deduplicate_numbers,
            has_extras=bool(extras),
            names=tuple(namespace),
        )
    )
    exec(code, namespace)
    return cast("_Pass", namespace["run"])


@functools.lru_cache(maxsize=64)
def _compiled_pass(source: str) -> CodeType:
    """The code object of a pass's source, compiled once per distinct source."""
    return compile(source, "<smscampaign.eligibility fused pass>", "exec")


def _pass_source(
    *,
    kind: StepKind,
    has_previous: bool,
    fields: tuple[tuple[str, str | None], ...],
    allow_pending: bool,
    check_verified: bool,
    accept_sent: bool,
    remind_disqualified: bool,
    dedup: bool,
    has_extras: bool,
    names: tuple[str, ...],
) -> str:
    """The Python source of the fused pass for one step and set of options.

    The source defines ``run(recipients)``, a generator of decisions; every
    name it reads besides its own locals is a keyword default bound from the
    namespace :func:`_fused_pass` executes it in, so each is a fast local.
    Placeholder names enter the source only as ``repr()`` literals, and a
    placeholder's contact attribute only from :data:`STANDARD_FIELDS`.

    Args:
        kind: The step's kind.
        has_previous: Whether the step is a reminder with a previous step.
        fields: The placeholders, each with its contact attribute (None: a custom field).
        allow_pending: ``allow_pending_opt_in``.
        check_verified: Not ``allow_unverified_numbers``.
        accept_sent: ``accept_sent_as_received``.
        remind_disqualified: ``remind_disqualified``.
        dedup: ``deduplicate_numbers``.
        has_extras: Whether host rules run after the defaults.
        names: The names the namespace binds, to become the keyword defaults.

    Returns:
        The source text.
    """
    bit = {reason.name: _BIT[reason] for reason in Reason}
    lines: list[str] = []

    def add(depth: int, *texts: str) -> None:
        lines.extend("    " * depth + text for text in texts)

    add(2, "for recipient in recipients:")
    add(
        3,
        "contact = recipient.contact",
        "phone = contact.phone",
        "e164 = phone.e164",
        "if recipient.status is active:",
        "    mask = 0",
        "else:",
        "    mask = status_bits[recipient.status]",
        "if e164 in suppressed:",
        f"    mask |= {bit['SUPPRESSED']}",
        "if contact.consent is not opted_in:",
        "    if contact.consent is opted_out:",
        f"        mask |= {bit['OPTED_OUT']}",
    )
    if not allow_pending:
        add(4, "else:", f"    mask |= {bit['NOT_OPTED_IN']}")
    add(
        3,
        # FIXED_LINE_OR_MOBILE and MOBILE first: an enum's hash is a Python call.
        "if phone.kind is not either:",
        "    number_kind = phone.kind",
        "    if number_kind is not mobile and number_kind in no_sms:",
        f"        mask |= {bit['NOT_SMS_CAPABLE']}",
    )
    if check_verified:
        add(3, "if not phone.verified:", f"    mask |= {bit['UNVERIFIED_NUMBER']}")
    if dedup:
        # One probe of a table that grows to a million entries; the same
        # recipient listed twice is not its own duplicate.
        add(
            3,
            "first = setdefault(e164, contact.id)",
            "if first is not contact.id and first != contact.id:",
            f"    mask |= {bit['DUPLICATE_NUMBER']}",
        )
    # One walk over the sends for ALREADY_SENT and, for a reminder, the previous step.
    already = (
        f"step_id and not mask & {bit['ALREADY_SENT']}:",
        "    send_status = send.status",
        "    if (",
        "        send_status is not skipped",
        "        and send_status is not canceled",
        "        and (send.to == e164 or not failed_permanently(send))",
        "    ):",
        f"        mask |= {bit['ALREADY_SENT']}",
    )
    if has_previous:
        receipt = "send.status is delivered" + (" or send.status is sent" if accept_sent else "")
        # What became of the previous message when none was received is
        # worked out afterwards, for the few it concerns.
        add(
            3,
            "received = None",
            "for send in recipient.sends:",
            "    if send.step_id == previous_id:",
            f"        if {receipt}:",
            "            received = send",
        )
        add(4, "elif send.step_id == " + already[0], *already[1:])
    else:
        add(3, "for send in recipient.sends:")
        add(4, "if send.step_id == " + already[0], *already[1:])
    if fields:
        # Only whether a placeholder is blank; which ones are, for the rare
        # decision that says so, is asked of _missing_fields afterwards.
        add(3, "own = recipient.fields._data")
        for name, source in fields:
            if source is None:
                fallback = f"contact.fields._data.get({name!r})"
            elif source == "phone":
                fallback = "e164"
            else:
                if source not in STANDARD_FIELDS:  # pragma: no cover - _STANDARD_SOURCES' keys
                    raise AssertionError(source)
                fallback = f"contact.{source}"
            if source in _CONTACT_ATTRIBUTES:
                # A plain read (a stored attribute, or the local e164): cheaper
                # passed to get() as its default than read after a miss.
                add(3, f"value = own.get({name!r}, {fallback})")
            else:
                add(3, f"value = own.get({name!r})", "if value is None:", f"    value = {fallback}")
            add(
                3,
                # Blank as Template.missing() says: empty or only whitespace.
                "if not value or value.isspace():",
                f"    mask |= {bit['MISSING_FIELD']}",
            )
    if kind is StepKind.REMINDER:
        # Most recipients have not started when a reminder goes.
        add(
            3,
            "if recipient.response is not not_started:",
            "    if recipient.response is complete:",
            f"        mask |= {bit['RESPONSE_COMPLETE']}",
        )
        if not remind_disqualified:
            add(
                4,
                "elif recipient.response is disqualified:",
                f"    mask |= {bit['DISQUALIFIED']}",
            )
    if has_previous:
        add(
            3,
            "if received is None:",
            f"    mask |= {bit['PREVIOUS_NOT_RECEIVED']}",
            "else:",
            # received_on(), inlined: Send.sent_on is computed once, when built.
            "    sent_on = received.sent_on or received.delivered_at or received.created_at",
            "    if sent_on > cutoff:",
            f"        mask |= {bit['NOT_YET_DUE']}",
        )
    elif kind is StepKind.THANK_YOU:
        add(3, "if recipient.response is not complete:", f"    mask |= {bit['NOT_COMPLETE']}")
    # The specifics a decision carries, each set exactly when its reason is.
    duplicate_of = f"(first if mask & {bit['DUPLICATE_NUMBER']} else None)" if dedup else "None"
    missing = (
        f"(missing_fields(recipient, fields) if mask & {bit['MISSING_FIELD']} else ())"
        if fields
        else "()"
    )
    previous = (
        f"(outcome if mask & {bit['PREVIOUS_NOT_RECEIVED']} else None)" if has_previous else "None"
    )
    due_at = (
        f"(due_after(sent_on, delay) if mask & {bit['NOT_YET_DUE']} else None)"
        if has_previous
        else "None"
    )
    specific = (
        (bit["DUPLICATE_NUMBER"] if dedup else 0)
        | (bit["MISSING_FIELD"] if fields else 0)
        | (bit["PREVIOUS_NOT_RECEIVED"] if has_previous else 0)
    )
    # Decision(recipient, step, reasons, due_at, extra), without the cost of a
    # Python-level __init__ call (see _Decided).
    add(
        3,
        "made = decided()",
        "made.recipient = recipient",
        "made.step = step",
        "if mask:",
        "    made.reasons = cached(mask) or reasons_of(mask, cache)",
        f"    made.due_at = {due_at}",
    )
    if has_previous:
        # previous_outcome(), for the few whose previous message was not
        # received: no send of the previous step counts as received, so
        # each one that went out says what became of it.
        add(
            4,
            f"if mask & {bit['PREVIOUS_NOT_RECEIVED']}:",
            "    outcome = o_not_sent",
            "    for send in recipient.sends:",
            "        if send.step_id == previous_id:",
            "            send_status = send.status",
            "            if send_status is queued or send_status is sending:",
            "                outcome = o_in_progress",
        )
        if not accept_sent:
            add(7, "elif send_status is sent:", "    outcome = o_no_receipt")
        add(
            7,
            "elif send_status is not skipped and send_status is not canceled:",
            "    outcome = o_failed",
        )
    if specific:
        add(
            4,
            f"made._extra = ({duplicate_of}, {missing}, {previous}, None) "
            f"if mask & {specific} else None",
        )
    else:
        add(4, "made._extra = None")
    add(
        3,
        "else:",
        "    made.reasons = no_reasons",
        "    made.due_at = None",
        "    made._extra = None",
    )
    if has_extras:
        # Host rules run after the defaults, with the duplicate's first holder.
        add(
            3,
            "first_holder = made.duplicate_of",
            "here = ctx if first_holder is None else evolve(ctx, duplicate_of=first_holder)",
            "found = [f for f in (rule.check(recipient, here) for rule in extras) if f]",
            "if found:",
            "    findings = made.findings + tuple(found)",
            "    made = decision(",
            "        recipient,",
            "        step,",
            "        made.reasons + tuple(f.reason for f in found),",
            "        made.due_at,",
            "        (first_holder, made.missing_fields, made.previous, findings),",
            "    )",
        )
    add(3, "yield made")
    head = "def run(\n    recipients,\n    *,\n" + "".join(f"    {n}={n},\n" for n in names) + "):"
    return head + "\n" + "\n".join(line[4:] for line in lines) + "\n"


# -- one-call helpers -------------------------------------------------------------------


def decide(
    campaign: Campaign,
    step: Step | str,
    recipients: Iterable[Recipient],
    *,
    now: datetime,
    suppressed: Container[str] | None = None,
    rules: Sequence[Rule] | None = None,
) -> Iterator[Decision]:
    """Decide one step for every recipient: one :class:`Decision` each, in input order.

    Args:
        campaign: The campaign.
        step: The step, or its id.
        recipients: Any iterable of the campaign's recipients; consumed as a stream.
        now: The moment of the decision (aware).
        suppressed: The account's suppression list (anything answering ``e164 in``).
        rules: The rules; :data:`DEFAULT_RULES` by default.

    Returns:
        A lazy iterator of decisions.

    Raises:
        InvalidCampaign: The step is not one of the campaign's.
        NaiveDatetimeError: ``now`` is naive.
    """
    engine = Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)
    return engine.decide(recipients)


def pending(
    campaign: Campaign,
    step: Step | str,
    recipients: Iterable[Recipient],
    *,
    now: datetime,
    suppressed: Container[str] | None = None,
    rules: Sequence[Rule] | None = None,
) -> Iterator[Recipient]:
    """The recipients pending for a step (seed 000's "Pending Contacts"), lazily.

    Args:
        campaign: The campaign.
        step: The step, or its id.
        recipients: Any iterable; consumed as a stream.
        now: The moment of the decision (aware).
        suppressed: The suppression list.
        rules: The rules; :data:`DEFAULT_RULES` by default.

    Returns:
        A lazy iterator of the eligible recipients, in input order.

    Raises:
        InvalidCampaign: The step is not one of the campaign's.
        NaiveDatetimeError: ``now`` is naive.
    """
    engine = Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)
    return engine.pending(recipients)


def count_reasons(
    campaign: Campaign,
    step: Step | str,
    recipients: Iterable[Recipient],
    *,
    now: datetime,
    suppressed: Container[str] | None = None,
    rules: Sequence[Rule] | None = None,
) -> ReasonCounts:
    """Count who is pending for a step and how many each reason excludes.

    Args:
        campaign: The campaign.
        step: The step, or its id.
        recipients: Any iterable; consumed as a stream.
        now: The moment of the decision (aware).
        suppressed: The suppression list.
        rules: The rules; :data:`DEFAULT_RULES` by default.

    Returns:
        The counts.

    Raises:
        InvalidCampaign: The step is not one of the campaign's.
        NaiveDatetimeError: ``now`` is naive.
    """
    engine = Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)
    return engine.counts(recipients)


def explain(
    campaign: Campaign,
    step: Step | str,
    recipient: Recipient | str,
    *,
    now: datetime,
    recipients: Iterable[Recipient] = (),
    suppressed: Container[str] | None = None,
    rules: Sequence[Rule] | None = None,
) -> str:
    """Why a recipient is (not) pending for a step: "why did Tom not get the reminder?".

    Duplicates depend on who came first, so pass the campaign's
    ``recipients``: the stream is read up to the recipient (found by id)
    with the rule objects one by one. Without them the recipient is judged
    alone.

    Args:
        campaign: The campaign.
        step: The step, or its id.
        recipient: The recipient, or its contact id (then ``recipients`` must hold it).
        now: The moment of the decision (aware).
        recipients: The campaign's recipients in their usual order, if known.
        suppressed: The suppression list.
        rules: The rules; :data:`DEFAULT_RULES` by default.

    Returns:
        A paragraph, as :meth:`Decision.explain`.

    Raises:
        ConfigurationError: ``recipient`` is an id not found in ``recipients``.
    """
    engine = Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)
    wanted = recipient if isinstance(recipient, str) else recipient.id

    def stream() -> Iterator[Recipient]:
        # The recipient given wins over the stream's copy of it (it may be fresher).
        for item in recipients:
            yield recipient if isinstance(recipient, Recipient) and item.id == wanted else item

    for decision in engine.decide_by_rules(stream()):
        if decision.recipient.id == wanted:
            return decision.explain()
    if isinstance(recipient, str):
        raise ConfigurationError(
            f"recipient {recipient!r} is not among the recipients given", value=recipient
        )
    return next(engine.decide_by_rules([recipient])).explain()
