"""Sends, their attempts, provider status events, and the rule that merges them.

A :class:`Send` is one step to one recipient. It has one or more
:class:`Attempt` objects (retries of temporary failures). Providers report on
attempts through :class:`StatusEvent` objects, which arrive late, twice, and
out of order.

The merge rule
--------------
An attempt's state is a pure function of the *set* of events applied to it.
Each event contributes a piece of *evidence* ordered by a total key
``(rank of its status, occurred_at, reason, provider status, code, text)``,
and the attempt keeps, per message part, the greatest evidence seen; times
are merged with ``min`` (the first moment something was known) and counts with
``max``. Maximum and minimum are commutative, associative and idempotent, so
any permutation or duplication of the same events gives the same attempt.
Statuses rank ``QUEUED < SENDING < SENT < SOFT_BOUNCED < HARD_BOUNCED <
DELIVERED``: a final state never goes back to an earlier one, DELIVERED is the
strongest evidence and wins, and ties between two events of the same status
resolve by the rest of the key, deterministically.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._frozen import FrozenMap, freeze
from smscampaign.domain._time import optional_aware, require_aware
from smscampaign.domain._trusted import builder, evolver
from smscampaign.errors import ConfigurationError, InvalidEvent, InvalidTransition

__all__ = [
    "ATTEMPT_STATUSES",
    "Attempt",
    "DeliveryStatus",
    "FailureReason",
    "Permanence",
    "RetryPolicy",
    "Send",
    "StatusEvent",
    "derive_send_status",
    "fold_event",
    "send_status_from",
]


class DeliveryStatus(StrEnum):
    """Where one send (or one attempt of it) stands.

    Attempts use the first six; SKIPPED and CANCELED exist only on sends.
    """

    QUEUED = "queued"
    """Waiting to go: not yet handed to the provider, or waiting for a retry."""
    SENDING = "sending"
    """Handed to the provider, which has not yet passed it to the carrier."""
    SENT = "sent"
    """The carrier accepted it; no delivery receipt yet."""
    DELIVERED = "delivered"
    """The carrier or handset confirmed delivery."""
    SOFT_BOUNCED = "soft_bounced"
    """Failed for a temporary reason (and, on a send, retries ran out)."""
    HARD_BOUNCED = "hard_bounced"
    """Failed for a permanent reason; never retried."""
    SKIPPED = "skipped"
    """Decided not to send, with the reasons; not charged."""
    CANCELED = "canceled"
    """The campaign was stopped before this send went out."""

    @property
    def is_final(self) -> bool:
        """True when nothing more will happen to a send in this status."""
        return self in _FINAL_SEND_STATUSES

    @property
    def rank(self) -> int:
        """The strength of this status as evidence about an attempt."""
        return _RANK[self]


ATTEMPT_STATUSES = frozenset(
    {
        DeliveryStatus.QUEUED,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.SOFT_BOUNCED,
        DeliveryStatus.HARD_BOUNCED,
    }
)

_RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.SOFT_BOUNCED: 3,
    DeliveryStatus.HARD_BOUNCED: 4,
    DeliveryStatus.DELIVERED: 5,
    DeliveryStatus.SKIPPED: -1,
    DeliveryStatus.CANCELED: -1,
}

_FINAL_SEND_STATUSES = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.SOFT_BOUNCED,
        DeliveryStatus.HARD_BOUNCED,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.CANCELED,
    }
)


class Permanence(StrEnum):
    """Whether retrying the same message to the same number can help."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"


class FailureReason(StrEnum):
    """Why an attempt failed, normalized across providers.

    Each reason has a default :attr:`permanence` and says whether the number
    joins the suppression list (:attr:`suppresses`). A provider's own code
    and text travel beside it on the event and the attempt.
    """

    INVALID_NUMBER = "invalid_number"
    """The number is unknown, unallocated or no longer in service."""
    LANDLINE = "landline"
    """A landline or another number that cannot receive SMS."""
    UNREACHABLE = "unreachable"
    """The handset is off, out of coverage or absent."""
    CARRIER_FILTERED = "carrier_filtered"
    """The carrier filtered or blocked the message (spam, content, sender)."""
    OPTED_OUT_AT_CARRIER = "opted_out_at_carrier"
    """The recipient opted out with the carrier or provider (e.g. Twilio 21610)."""
    QUEUE_OVERFLOW = "queue_overflow"
    """The provider's or carrier's queue was full, or a rate limit was hit."""
    EXPIRED = "expired"
    """The validity period ran out before the carrier could deliver."""
    CARRIER_ERROR = "carrier_error"
    """A transient error in the carrier network."""
    PROVIDER_ERROR = "provider_error"
    """The provider failed (outage, account or configuration problem)."""
    UNKNOWN = "unknown"
    """A failure the provider did not explain, or a code we do not know yet."""

    @property
    def permanence(self) -> Permanence:
        """The default permanence of this reason (a provider may say otherwise)."""
        return _PERMANENCE[self]

    @property
    def suppresses(self) -> bool:
        """True when a failure for this reason puts the number on the suppression list."""
        return self in _SUPPRESSING_REASONS


# Defaults follow the carriers' meaning of each class of error; see
# docs/domain.md for the sources (provider error-code references).
_PERMANENCE: dict[FailureReason, Permanence] = {
    FailureReason.INVALID_NUMBER: Permanence.PERMANENT,
    FailureReason.LANDLINE: Permanence.PERMANENT,
    FailureReason.UNREACHABLE: Permanence.TEMPORARY,
    FailureReason.CARRIER_FILTERED: Permanence.PERMANENT,
    FailureReason.OPTED_OUT_AT_CARRIER: Permanence.PERMANENT,
    FailureReason.QUEUE_OVERFLOW: Permanence.TEMPORARY,
    FailureReason.EXPIRED: Permanence.TEMPORARY,
    FailureReason.CARRIER_ERROR: Permanence.TEMPORARY,
    FailureReason.PROVIDER_ERROR: Permanence.TEMPORARY,
    FailureReason.UNKNOWN: Permanence.TEMPORARY,
}

_SUPPRESSING_REASONS = frozenset(
    {FailureReason.INVALID_NUMBER, FailureReason.LANDLINE, FailureReason.OPTED_OUT_AT_CARRIER}
)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How temporary failures are retried.

    The default, three retries within 72 hours, is what seed 003 (Brevo)
    documents for soft bounces. Retry ``k`` is due ``backoff * multiplier**(k-1)``
    after the previous attempt failed (1 h, 4 h, 16 h by default, so a handset
    that is off for a day still gets a chance), is moved into the recipient's
    next open send window by the scheduler, and is dropped when that falls
    ``within`` or more after the first attempt, or past the campaign's end.

    Args:
        max_retries: Retries after the first attempt (0 disables retrying).
        within: No retry starts this long or longer after the first attempt.
        backoff: The wait before the first retry.
        multiplier: How much longer each further wait is.
    """

    max_retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    within: timedelta = attrs.field(
        default=timedelta(hours=72), validator=attrs.validators.gt(timedelta(0))
    )
    backoff: timedelta = attrs.field(
        default=timedelta(hours=1), validator=attrs.validators.ge(timedelta(0))
    )
    multiplier: int = attrs.field(default=4, validator=attrs.validators.ge(1))

    def delay_before(self, retry: int) -> timedelta:
        """The wait before retry number ``retry`` (1-based), after the previous failure.

        Raises:
            ConfigurationError: ``retry`` is less than 1.
        """
        if retry < 1:
            raise ConfigurationError(f"retry numbers start at 1, got {retry}", value=retry)
        wait: timedelta = self.backoff * (self.multiplier ** (retry - 1))
        return wait


def _to_decimal(value: Decimal | float | str | None) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _validate_event_status(
    instance: StatusEvent, attribute: attrs.Attribute[Any], value: DeliveryStatus | None
) -> None:
    if value is not None and value not in ATTEMPT_STATUSES:
        raise InvalidEvent(
            f"a status event cannot report {value.value!r}; "
            f"use one of {sorted(s.value for s in ATTEMPT_STATUSES)}",
            value=value,
        )


def _optional_status(value: DeliveryStatus | str | None) -> DeliveryStatus | None:
    return None if value is None else DeliveryStatus(value)


def _optional_reason(value: FailureReason | str | None) -> FailureReason | None:
    return None if value is None else FailureReason(value)


# Non-generic converters: attrs types ``__init__`` from the converter's
# parameter, and mypy cannot bind the generic ``freeze``'s TypeVar there.
def _freeze_raw(value: Mapping[str, Any] | None) -> FrozenMap[Any]:
    return freeze(value)


@attrs.frozen(kw_only=True)
class StatusEvent:
    """What a provider said about one attempt, normalized, with its raw payload.

    Args:
        provider: The provider's slug (``twilio``, ``simulated``, ...).
        provider_message_id: The provider's id of the message the event is about.
        status: Our status, or ``None`` for a provider status we cannot map
            (kept in the event log, changes nothing).
        occurred_at: When the provider says it happened (aware).
        reason: For failures, the normalized reason (``UNKNOWN`` if not given).
        permanent: Overrides the reason's default permanence when the provider says.
        provider_status: The provider's own status word.
        provider_code: The provider's own error code, as text.
        provider_text: The provider's own description.
        segments: Billed segments, when the provider reports them.
        price: Price of the message, when reported.
        part: For per-part receipts of a concatenated message, the 1-based part.
        parts: For per-part receipts, the number of parts.
        raw: The provider's payload, untouched.
    """

    provider: str
    provider_message_id: str = attrs.field(validator=attrs.validators.min_len(1))
    status: DeliveryStatus | None = attrs.field(
        converter=_optional_status, validator=_validate_event_status
    )
    occurred_at: datetime = attrs.field(
        validator=lambda _i, _a, v: require_aware(v, "StatusEvent.occurred_at")
    )
    reason: FailureReason | None = attrs.field(default=None, converter=_optional_reason)
    permanent: bool | None = None
    provider_status: str = ""
    provider_code: str | None = None
    provider_text: str | None = None
    segments: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    price: Decimal | None = attrs.field(default=None, converter=_to_decimal)
    part: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    parts: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    raw: FrozenMap[Any] = attrs.field(
        factory=FrozenMap, converter=_freeze_raw, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        bounces = (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED)
        if self.permanent is not None and self.status in bounces:
            expected = (
                DeliveryStatus.HARD_BOUNCED if self.permanent else DeliveryStatus.SOFT_BOUNCED
            )
            if self.status is not expected:
                raise InvalidEvent(
                    f"an event with permanent={self.permanent} must be {expected.value}, "
                    f"not {self.status.value}; StatusEvent.failure() picks it for you",
                    value=self,
                )

    @classmethod
    def failure(
        cls,
        *,
        provider: str,
        provider_message_id: str,
        occurred_at: datetime,
        reason: FailureReason,
        permanent: bool | None = None,
        **fields: Any,
    ) -> StatusEvent:
        """A failure event whose status (soft or hard bounce) follows from its permanence.

        Args:
            provider: The provider's slug.
            provider_message_id: The provider's message id.
            occurred_at: When it failed.
            reason: The normalized reason.
            permanent: The provider's own verdict, overriding the reason's default.
            **fields: Any other :class:`StatusEvent` field.
        """
        is_permanent = reason.permanence is Permanence.PERMANENT if permanent is None else permanent
        status = DeliveryStatus.HARD_BOUNCED if is_permanent else DeliveryStatus.SOFT_BOUNCED
        return cls(
            provider=provider,
            provider_message_id=provider_message_id,
            status=status,
            occurred_at=occurred_at,
            reason=reason,
            permanent=permanent,
            **fields,
        )

    @property
    def dedup_key(self) -> str:
        """A stable key that is equal for two deliveries of the same provider event."""
        return _dedup_key(self, _utc_iso(self.occurred_at))

    @property
    def effective_reason(self) -> FailureReason | None:
        """The failure reason, ``UNKNOWN`` for a failure that gave none."""
        if self.status in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED):
            return self.reason or FailureReason.UNKNOWN
        return self.reason


# Evidence is a plain tuple so it orders totally and stores compactly:
# (rank, occurred_at ISO (UTC), status, reason, provider_status, code, text).
Evidence = tuple[int, str, str, str, str, str, str]


def _freeze_evidence(value: Mapping[str, Evidence] | None) -> FrozenMap[Evidence]:
    return freeze(value)


def _dedup_key(event: StatusEvent, iso: str) -> str:
    """:attr:`StatusEvent.dedup_key`, given ``iso``, ``_utc_iso(event.occurred_at)``."""
    parts = (
        event.provider,
        event.provider_message_id,
        event.status._value_ if event.status else "",
        event.provider_status,
        event.provider_code or "",
        iso,
        str(event.part or ""),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _evidence(event: StatusEvent, iso: str | None = None) -> Evidence:
    """The event's evidence; ``iso`` is ``_utc_iso(event.occurred_at)`` when the caller has it."""
    assert event.status is not None
    reason = event.effective_reason
    return (
        event.status.rank,
        _utc_iso(event.occurred_at) if iso is None else iso,
        event.status._value_,  # the value, without the enum property's Python-level call
        reason._value_ if reason else "",
        event.provider_status,
        event.provider_code or "",
        event.provider_text or "",
    )


# The last instant _utc_iso formatted, and its text: a tick's receipts share the
# clock's time, and isoformat() goes through printf. Replaced whole, so threads
# never see half of one; an equal aware instant has the same UTC text.
_ISO_LAST: tuple[datetime | None, str] = (None, "")


def _utc_iso(moment: datetime) -> str:
    global _ISO_LAST
    last = _ISO_LAST
    if moment is last[0] or moment == last[0]:
        return last[1]
    text = moment.astimezone(_UTC).isoformat()
    _ISO_LAST = (moment, text)
    return text


_UTC = timezone.utc

_WHOLE = "*"

_STATUS_BY_VALUE: dict[str, DeliveryStatus] = {s.value: s for s in DeliveryStatus}
_REASON_BY_VALUE: dict[str, FailureReason] = {r.value: r for r in FailureReason}


def _max_opt(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _part_ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Attempt:
    """One try at sending a send's message, and what the provider said about it.

    Create one with :meth:`Attempt.queued`; fold provider events in with
    :meth:`apply`. The status and failure fields are derived from the evidence
    (see the module docstring) and are stored only so they read fast.

    Args:
        number: 1 for the first attempt, 2 for the first retry, ...
        to: The E.164 number this attempt went to.
        queued_at: When the attempt was created.
        provider: The provider's slug, once known.
        provider_message_id: The provider's id, once known.
    """

    number: int = attrs.field(validator=attrs.validators.ge(1))
    to: str = attrs.field(validator=attrs.validators.min_len(2))
    queued_at: datetime = attrs.field(
        validator=lambda _i, _a, v: require_aware(v, "Attempt.queued_at")
    )
    provider: str | None = None
    provider_message_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.QUEUED
    reason: FailureReason | None = None
    provider_status: str = ""
    provider_code: str | None = None
    provider_text: str | None = None
    submitted_at: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    segments: int | None = None
    price: Decimal | None = attrs.field(default=None, converter=_to_decimal)
    parts: int | None = None
    evidence: FrozenMap[Evidence] = attrs.field(factory=FrozenMap, converter=_freeze_evidence)
    part_ids: tuple[str, ...] = attrs.field(default=(), converter=_part_ids)
    """For a concatenated message the provider gave one id per part, those ids in order."""

    def __attrs_post_init__(self) -> None:
        for name in ("submitted_at", "sent_at", "delivered_at", "failed_at"):
            optional_aware(getattr(self, name), f"Attempt.{name}")
        if self.status not in ATTEMPT_STATUSES:
            raise InvalidEvent(f"an attempt cannot be {self.status.value!r}", value=self.status)

    @classmethod
    def queued(cls, *, number: int, to: str, at: datetime) -> Attempt:
        """A new attempt waiting to be handed to the provider."""
        return cls(number=number, to=to, queued_at=at)

    @property
    def is_final(self) -> bool:
        """True once the attempt was delivered or bounced."""
        return self.status in (
            DeliveryStatus.DELIVERED,
            DeliveryStatus.SOFT_BOUNCED,
            DeliveryStatus.HARD_BOUNCED,
        )

    @property
    def sent_on(self) -> datetime | None:
        """When the message left us: the carrier's sent time, else the provider's acceptance."""
        return self.sent_at or self.submitted_at

    def apply(self, event: StatusEvent) -> Attempt:
        """Fold one provider event into this attempt and return the new attempt.

        Applying the same events in any order, any number of times, gives the
        same attempt. Events whose status could not be mapped change nothing.

        A receipt under one part's own id (some providers, e.g. Vonage, give
        each part of a concatenated message its own id and receipt) is taken
        as a receipt for that part of this attempt.

        Raises:
            InvalidEvent: The event is about another provider message.
        """
        event = self._as_part(event)
        if self.provider_message_id is not None and (
            event.provider_message_id != self.provider_message_id
            or (self.provider is not None and event.provider != self.provider)
        ):
            raise InvalidEvent(
                f"event for {event.provider}:{event.provider_message_id} cannot apply to "
                f"attempt {self.provider}:{self.provider_message_id}",
                value=event,
            )
        if event.status is None:
            return self
        evidence = self.evidence.to_dict()
        times: list[Any] = [self.submitted_at, self.sent_at, self.delivered_at, self.failed_at]
        counts: list[Any] = [self.segments, self.price, self.parts]
        fold_event(evidence, times, counts, event, event.occurred_at, _evidence(event))
        changes: dict[str, Any] = {
            "provider": event.provider,
            "provider_message_id": event.provider_message_id,
            "submitted_at": times[0],
            "sent_at": times[1],
            "delivered_at": times[2],
            "failed_at": times[3],
            "segments": counts[0],
            "price": counts[1],
            "parts": counts[2],
        }
        changes.update(_derive_outcome(evidence, counts[2]))
        changes["evidence"] = FrozenMap(evidence)
        # Every value is this attempt's, the validated event's, or their min,
        # max or merge (aware times, a status of ATTEMPT_STATUSES): nothing
        # for attrs to check again.
        return _evolve_attempt(self, **changes)

    def _as_part(self, event: StatusEvent) -> StatusEvent:
        """The event as a per-part receipt, when it names one of this attempt's part ids."""
        if len(self.part_ids) < 2 or event.part is not None:
            return event
        try:
            index = self.part_ids.index(event.provider_message_id)
        except ValueError:
            return event
        return attrs.evolve(
            event,
            provider_message_id=self.part_ids[0],
            part=index + 1,
            parts=len(self.part_ids),
        )

    def answers_to(self, provider_message_id: str) -> bool:
        """True when the provider names this attempt (or one of its parts) by that id."""
        return provider_message_id == self.provider_message_id or (
            provider_message_id in self.part_ids
        )

    def apply_all(self, events: Iterable[StatusEvent]) -> Attempt:
        """Fold several events in, as :meth:`apply` one at a time."""
        attempt = self
        for event in events:
            attempt = attempt.apply(event)
        return attempt


# Which of an attempt's times (submitted, sent, delivered, failed) an event's status sets.
_TIME_SLOT: dict[DeliveryStatus, int] = {
    DeliveryStatus.SENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.SOFT_BOUNCED: 3,
    DeliveryStatus.HARD_BOUNCED: 3,
}


def fold_event(
    evidence: dict[str, Evidence],
    times: list[Any],
    counts: list[Any],
    event: StatusEvent,
    at: Any,
    new: Evidence,
) -> None:
    """The merge rule on plain values: fold one event into an attempt's state, in place.

    This is the core of :meth:`Attempt.apply`, which calls it on its own
    fields; storage adapters call it on the values they keep in rows, so
    there is one rule however the state is held. The caller has checked that
    the event is about this attempt and has a status.

    Args:
        evidence: Per message part (``"*"`` for the whole message), the greatest evidence.
        times: ``[submitted, sent, delivered, failed]``: each the earliest known, or None.
            Times of one kind only are compared: aware datetimes, or the
            fixed-width UTC strings storage keeps, which order like them.
        counts: ``[segments, price, parts]``: each the greatest known, or None.
        event: The event.
        at: The event's time, in the representation of ``times``.
        new: The event's evidence (``_evidence(event)``).
    """
    key = _WHOLE if event.part is None else str(event.part)
    old = evidence.get(key)
    if old is None or new > old:
        evidence[key] = new
    assert event.status is not None
    slot = _TIME_SLOT.get(event.status)
    if slot is not None:
        current = times[slot]
        if current is None or at < current:
            times[slot] = at
    if event.segments is not None:
        counts[0] = _max_opt(counts[0], event.segments)
    if event.price is not None:
        counts[1] = _max_opt(counts[1], event.price)
    if event.parts is not None:
        counts[2] = _max_opt(counts[2], event.parts)


def _derive_outcome(evidence: Mapping[str, Evidence], parts: int | None) -> dict[str, Any]:
    """The attempt's status and failure fields from its per-part evidence."""
    winner = evidence.get(_WHOLE)
    if len(evidence) > (winner is not None):  # some part has evidence of its own
        combined = _combine_parts(evidence, parts)
        if (
            winner is None
            or combined[0] > winner[0]
            or (combined[0] == winner[0] and combined > winner)
        ):
            winner = combined
    if winner is None:
        return {}
    status, reason, provider_status, code, text = _outcome_values(winner)
    return {
        "status": _STATUS_BY_VALUE[status],  # a dict lookup, not an Enum call: a hot path
        "reason": None if reason is None else _REASON_BY_VALUE[reason],
        "provider_status": provider_status,
        "provider_code": code,
        "provider_text": text,
    }


def _outcome_values(
    winner: Sequence[Any],
) -> tuple[str, str | None, str, str | None, str | None]:
    """The outcome the winning evidence gives, as plain values.

    ``(status, reason, provider_status, provider_code, provider_text)``: the
    status's value; the reason's value for a failure that gave one, else
    None; empty code and text as None. Storage adapters that keep attempts
    as plain values write these directly.
    """
    _, _, status, reason, provider_status, code, text = winner
    failed = status in (_SOFT_BOUNCED, _HARD_BOUNCED)
    reason_value = reason if failed and reason else None
    return status, reason_value, provider_status, code or None, text or None


_SOFT_BOUNCED = DeliveryStatus.SOFT_BOUNCED.value
_HARD_BOUNCED = DeliveryStatus.HARD_BOUNCED.value


def _combine_parts(evidence: Mapping[str, Evidence], parts: int | None) -> Evidence:
    """One verdict for a concatenated message from its parts' receipts.

    A part that failed permanently fails the message; the message is
    delivered only when every part is; otherwise the weakest part says where
    the message as a whole stands.
    """
    per_part = {key: ev for key, ev in evidence.items() if key != _WHOLE}
    hard = [ev for ev in per_part.values() if ev[2] == DeliveryStatus.HARD_BOUNCED.value]
    if hard:
        return max(hard)
    total = parts or len(per_part)
    expected = {str(n) for n in range(1, total + 1)}
    delivered = [ev for ev in per_part.values() if ev[2] == DeliveryStatus.DELIVERED.value]
    if expected <= per_part.keys() and len(delivered) == len(per_part):
        return max(delivered)
    soft = [ev for ev in per_part.values() if ev[2] == DeliveryStatus.SOFT_BOUNCED.value]
    if soft:
        return max(soft)
    not_delivered = [ev for ev in per_part.values() if ev[2] != DeliveryStatus.DELIVERED.value]
    if not_delivered:
        return min(not_delivered)
    # Every part that reported was delivered but some parts never reported:
    # the message as a whole is only known to be sent.
    best = max(delivered)
    return (DeliveryStatus.SENT.rank, best[1], DeliveryStatus.SENT.value, "", best[4], "", "")


# The members the status rule compares with, as globals: on Python 3.11 a
# member read through its class (DeliveryStatus.SENT) goes through the enum
# metaclass's __getattr__ hook, about ten times the cost of a global, and
# this rule runs for every send built or read.
_IS_QUEUED = DeliveryStatus.QUEUED
_IS_SENDING = DeliveryStatus.SENDING
_IS_SENT = DeliveryStatus.SENT
_IS_DELIVERED = DeliveryStatus.DELIVERED
_IS_SOFT_BOUNCED = DeliveryStatus.SOFT_BOUNCED
_IS_HARD_BOUNCED = DeliveryStatus.HARD_BOUNCED


def derive_send_status(attempts: Iterable[Attempt], policy: RetryPolicy) -> DeliveryStatus:
    """A send's status from its attempts, before skips and cancellations.

    Any delivered attempt makes the send DELIVERED; any hard bounce makes it
    HARD_BOUNCED; a soft bounce with retries left (by count and by the
    policy's time limit) keeps it QUEUED for a retry, else SOFT_BOUNCED; an
    attempt in flight makes it SENDING or SENT.

    Args:
        attempts: The send's attempts, in order.
        policy: The retry policy.
    """
    attempts = tuple(attempts)
    if not attempts:
        return _IS_QUEUED
    if len(attempts) == 1:
        # send_status_from's rule for one attempt, without the list and the
        # closure it takes: most sends have one attempt, and this runs for
        # every send built or read.
        only = attempts[0]
        status = only.status
        if status is _IS_SOFT_BOUNCED:
            if policy.max_retries > 0 and (only.failed_at or only.queued_at) - only.queued_at < (
                policy.within
            ):
                return _IS_QUEUED
            return _IS_SOFT_BOUNCED
        if status is _IS_DELIVERED or status is _IS_HARD_BOUNCED or status is _IS_SENT:
            return status
        return _IS_SENDING
    first, last = attempts[0], attempts[-1]
    return send_status_from(
        [a.status for a in attempts],
        policy,
        lambda: (last.failed_at or last.queued_at) - first.queued_at,
    )


def send_status_from(
    statuses: Sequence[DeliveryStatus], policy: RetryPolicy, elapsed: Callable[[], timedelta]
) -> DeliveryStatus:
    """:func:`derive_send_status` on plain values: the attempts' statuses, oldest first.

    Storage adapters call it on the values they keep in rows, so there is one rule.

    Args:
        statuses: Each attempt's status, in order.
        policy: The retry policy.
        elapsed: Gives the time from the first attempt's queuing to the last
            one's failure (or queuing); called only when the last soft-bounced.
    """
    if not statuses:
        return _IS_QUEUED
    hard_bounced = False
    for status in statuses:  # a loop, not a set: enum members hash in Python
        if status is _IS_DELIVERED:
            return _IS_DELIVERED
        hard_bounced = hard_bounced or status is _IS_HARD_BOUNCED
    if hard_bounced:
        return _IS_HARD_BOUNCED
    last = statuses[-1]
    if last is _IS_SOFT_BOUNCED:
        if len(statuses) - 1 < policy.max_retries and elapsed() < policy.within:
            return _IS_QUEUED
        return _IS_SOFT_BOUNCED
    if last is _IS_SENT:
        return _IS_SENT
    return _IS_SENDING


def _attempt_tuple(value: Iterable[Attempt]) -> tuple[Attempt, ...]:
    return tuple(value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _new_id() -> str:
    return uuid.uuid4().hex


def _aware_validator(name: str) -> Any:
    def check(_instance: Any, _attribute: Any, value: datetime | None) -> None:
        optional_aware(value, name)

    return check


@attrs.frozen(kw_only=True)
class Send:
    """One step of one campaign to one recipient.

    Its :attr:`status` is derived: SKIPPED when it was decided not to send
    (with :attr:`skip_reasons`), CANCELED when the campaign stopped before it
    went out, SOFT_BOUNCED when retries were given up, otherwise what
    :func:`derive_send_status` says of its attempts.

    Args:
        campaign_id: The campaign.
        recipient_id: The recipient's contact id.
        step_id: The step.
        to: The E.164 number it is addressed to.
        created_at: When it was queued or skipped.
        body: The rendered message text.
        attempts: Its attempts, oldest first.
        skip_reasons: Why it was not sent (eligibility reason values); non-empty means SKIPPED.
        canceled_at: When the campaign stopped it, if it did before it went out.
        gave_up_at: When retrying was abandoned (e.g. no window left before the deadline).
        due_at: The earliest time the next attempt may go (None: now).
        policy: The retry policy.
        id: A unique id (generated when not given).
    """

    campaign_id: str
    recipient_id: str
    step_id: str
    to: str
    created_at: datetime = attrs.field(validator=_aware_validator("Send.created_at"))
    body: str = ""
    attempts: tuple[Attempt, ...] = attrs.field(default=(), converter=_attempt_tuple)
    skip_reasons: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    canceled_at: datetime | None = attrs.field(
        default=None, validator=_aware_validator("Send.canceled_at")
    )
    gave_up_at: datetime | None = attrs.field(
        default=None, validator=_aware_validator("Send.gave_up_at")
    )
    due_at: datetime | None = attrs.field(default=None, validator=_aware_validator("Send.due_at"))
    policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    id: str = attrs.field(factory=_new_id)
    status: DeliveryStatus = attrs.field(init=False)
    sent_on: datetime | None = attrs.field(init=False, eq=False)
    """When the message first left us, over all attempts (seed 000 "Sent On")."""

    @sent_on.default
    def _sent_on_default(self) -> datetime | None:
        first = None  # the earliest, as min() gives it
        for attempt in self.attempts:
            at = attempt.sent_on
            if at is not None and (first is None or at < first):
                first = at
        return first

    @status.default
    def _status_default(self) -> DeliveryStatus:
        if self.skip_reasons:
            return DeliveryStatus.SKIPPED
        derived = derive_send_status(self.attempts, self.policy)
        if derived is DeliveryStatus.QUEUED:
            if self.canceled_at is not None:
                return DeliveryStatus.CANCELED
            if self.gave_up_at is not None and self.attempts:
                return DeliveryStatus.SOFT_BOUNCED
        return derived

    @classmethod
    def skipped(
        cls,
        *,
        campaign_id: str,
        recipient_id: str,
        step_id: str,
        to: str,
        at: datetime,
        reasons: Iterable[str],
        id: str | None = None,
    ) -> Send:
        """A send decided against, with every reason; never charged."""
        reasons = tuple(reasons)
        if not reasons:
            raise InvalidTransition("a skipped send needs at least one reason", value=reasons)
        return cls(
            campaign_id=campaign_id,
            recipient_id=recipient_id,
            step_id=step_id,
            to=to,
            created_at=at,
            skip_reasons=reasons,
            id=id or _new_id(),
        )

    @property
    def last_attempt(self) -> Attempt | None:
        """The newest attempt, if any."""
        return self.attempts[-1] if self.attempts else None

    @property
    def retries_used(self) -> int:
        """How many retries have been made (attempts beyond the first)."""
        return max(0, len(self.attempts) - 1)

    @property
    def delivered_at(self) -> datetime | None:
        """When delivery was first confirmed, over all attempts."""
        times = [a.delivered_at for a in self.attempts if a.delivered_at is not None]
        return min(times) if times else None

    @property
    def failure_reason(self) -> FailureReason | None:
        """The reason of the bounce that decided a bounced send."""
        if self.status not in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED):
            return None
        for attempt in reversed(self.attempts):
            if attempt.status is self.status:
                return attempt.reason
        last = self.last_attempt
        return last.reason if last is not None else None

    @property
    def segments(self) -> int:
        """Billed segments over all attempts (0 when nothing was sent)."""
        return sum(a.segments or 0 for a in self.attempts if a.status is not DeliveryStatus.QUEUED)

    @property
    def is_final(self) -> bool:
        """True when nothing more will happen to this send."""
        return self.status.is_final

    @property
    def awaiting_retry(self) -> bool:
        """True when the last attempt soft-bounced and a retry is still allowed."""
        return (
            self.status is DeliveryStatus.QUEUED
            and bool(self.attempts)
            and self.attempts[-1].status is DeliveryStatus.SOFT_BOUNCED
        )

    def _require_open(self, action: str) -> None:
        if self.status in (DeliveryStatus.SKIPPED, DeliveryStatus.CANCELED):
            raise InvalidTransition(
                f"cannot {action} send {self.id}: it is {self.status.value}", value=self.status
            )

    def start_attempt(self, *, at: datetime, to: str | None = None) -> Send:
        """Add a new attempt (the first, or a retry) and return the new send.

        Raises:
            InvalidTransition: The send is final, or an attempt is still in flight.
        """
        require_aware(at, "at")
        self._require_open("start an attempt on")
        if self.status is not DeliveryStatus.QUEUED:
            raise InvalidTransition(
                f"cannot start an attempt on send {self.id}: it is {self.status.value}",
                value=self.status,
            )
        attempt = Attempt.queued(number=len(self.attempts) + 1, to=to or self.to, at=at)
        return attrs.evolve(self, attempts=(*self.attempts, attempt), due_at=None)

    def apply(self, event: StatusEvent) -> Send:
        """Fold a provider event into the attempt it is about.

        The event goes to the attempt with the same provider message id, or,
        when the event is the provider's receipt for the newest attempt (which
        has no id yet), to that one.

        Raises:
            InvalidEvent: No attempt of this send can take the event.
        """
        for index, attempt in enumerate(self.attempts):
            if attempt.answers_to(event.provider_message_id) and (
                attempt.provider in (None, event.provider)
            ):
                return self._replace_attempt(index, attempt.apply(event))
        if self.attempts and self.attempts[-1].provider_message_id is None:
            return self._replace_attempt(len(self.attempts) - 1, self.attempts[-1].apply(event))
        raise InvalidEvent(
            f"send {self.id} has no attempt for {event.provider}:{event.provider_message_id}",
            value=event,
        )

    def with_part_ids(self, part_ids: Iterable[str]) -> Send:
        """Record the per-part ids the provider gave the newest attempt (from its receipt).

        Raises:
            InvalidTransition: The send has no attempt.
        """
        if not self.attempts:
            raise InvalidTransition(f"send {self.id} has no attempt to give part ids to")
        last = self.attempts[-1]
        return self._replace_attempt(len(self.attempts) - 1, attrs.evolve(last, part_ids=part_ids))

    def _replace_attempt(self, index: int, attempt: Attempt) -> Send:
        attempts = (*self.attempts[:index], attempt, *self.attempts[index + 1 :])
        # Attempts have no check on a send, only its derived status and sent-on.
        return _with_derived(_evolve_send(self, attempts=attempts))

    def schedule_retry(self, *, at: datetime) -> Send:
        """Set when the next retry may go.

        Raises:
            InvalidTransition: The send is not waiting for a retry.
        """
        require_aware(at, "at")
        if not self.awaiting_retry:
            raise InvalidTransition(
                f"send {self.id} is not waiting for a retry (it is {self.status.value})",
                value=self.status,
            )
        return attrs.evolve(self, due_at=at)

    def give_up(self, *, at: datetime) -> Send:
        """Abandon retrying: the send becomes SOFT_BOUNCED.

        Raises:
            InvalidTransition: The send is not waiting for a retry.
        """
        if not self.awaiting_retry:
            raise InvalidTransition(
                f"send {self.id} is not waiting for a retry (it is {self.status.value})",
                value=self.status,
            )
        return attrs.evolve(self, gave_up_at=require_aware(at, "at"), due_at=None)

    def cancel(self, *, at: datetime) -> Send:
        """Cancel a send that has not gone out (or is waiting for a retry).

        A send already handed to the provider cannot be called back; it is
        returned unchanged, as is one already final.
        """
        require_aware(at, "at")
        if self.status is not DeliveryStatus.QUEUED:
            return self
        return attrs.evolve(self, canceled_at=at, due_at=None)


# --- rebuilding without re-checking (see domain/_trusted.py) ----------------------

_evolve_attempt = evolver(Attempt)
_evolve_send = evolver(Send)
_attempt_as_given = builder(Attempt)
"""An :class:`Attempt` from every field's value, stored as given (storage rebuilding one)."""
_build_send = builder(Send)


def _queued_and_applied(number: int, to: str, at: datetime, event: StatusEvent) -> Attempt:
    """``Attempt.queued(number=number, to=to, at=at).apply(event)``, built in one step.

    For ``event`` about the whole message (no part) with a status. A queued
    attempt has no evidence, times or counts, so the merge rule gives the
    event's evidence under the whole message, the event's time in its status's
    slot, the event's counts, and the outcome :func:`_derive_outcome` reads
    from that one piece of evidence. ``number`` (>= 1), ``to`` (at least two
    characters) and ``at`` (aware) are the caller's checked values.
    """
    assert event.status is not None
    assert event.part is None
    evidence = {_WHOLE: _evidence(event)}
    times: list[datetime | None] = [None, None, None, None]
    slot = _TIME_SLOT.get(event.status)
    if slot is not None:
        times[slot] = event.occurred_at
    outcome = _derive_outcome(evidence, event.parts)
    return _attempt_as_given(
        number=number,
        to=to,
        queued_at=at,
        provider=event.provider,
        provider_message_id=event.provider_message_id,
        status=outcome["status"],
        reason=outcome["reason"],
        provider_status=outcome["provider_status"],
        provider_code=outcome["provider_code"],
        provider_text=outcome["provider_text"],
        submitted_at=times[0],
        sent_at=times[1],
        delivered_at=times[2],
        failed_at=times[3],
        segments=event.segments,
        price=event.price,
        parts=event.parts,
        evidence=FrozenMap(evidence),
        part_ids=(),
    )


def _with_derived(send: Send) -> Send:
    """``send`` with its status and sent-on computed as their defaults compute them."""
    object.__setattr__(send, "status", send._status_default())
    object.__setattr__(send, "sent_on", send._sent_on_default())
    return send


def _new_send_as_given(**values: Any) -> Send:
    """:func:`_send_as_given` for a new send: no attempts, skip reasons or cancellation.

    Such a send is QUEUED and has no sent-on, as the defaults derive them.
    """
    assert not values["attempts"]
    assert not values["skip_reasons"]
    assert values["canceled_at"] is None
    return _build_send(**values, status=DeliveryStatus.QUEUED, sent_on=None)


def _send_as_given(**values: Any) -> Send:
    """A :class:`Send` from its ``__init__`` fields' values, stored as given.

    Its status and sent-on are derived as the constructor derives them. For
    storage rebuilding a send it wrote from a checked one.
    """
    return _with_derived(_build_send(**values, status=None, sent_on=None))
