"""The ports adapters plug into: the Storage and Gateway protocols.

Nothing in the core imports an adapter; the runner, the importer and the
reports talk to these protocols only. The in-memory adapter
(:class:`smscampaign.providers.memory.InMemoryStorage`) is the reference every
other adapter is compared to by :mod:`smscampaign.testing.contracts`.
"""

from __future__ import annotations

# --- storage ------------------------------------------------------------------
# Owned by the storage work (providers/memory.py, providers/sqlite.py). The
# Gateway protocol lives in its own section below.
import base64
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import attrs

from smscampaign.domain._checks import to_enum
from smscampaign.domain._time import optional_aware, require_aware
from smscampaign.domain.campaign import Campaign
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    Suppression,
)
from smscampaign.domain.delivery import DeliveryStatus, Send, StatusEvent
from smscampaign.domain.phone import NumberKind
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import ConfigurationError

__all__ = [
    "CONTACT_GROUPS",
    "DEFAULT_LEASE",
    "RECIPIENT_GROUPS",
    "SEND_GROUPS",
    "EventOutcome",
    "LogCursor",
    "LogFilter",
    "Storage",
    "SuppressionRemoval",
    "check_claim",
    "check_groups",
    "check_limit",
    "check_period",
    "needs_follow_up",
    "send_reason",
]

DEFAULT_LEASE = timedelta(minutes=5)
"""How long a claimed send stays reserved for its worker unless saved first."""

SEND_GROUPS: frozenset[str] = frozenset({"step", "status", "reason", "list"})
"""The fields :meth:`Storage.count_sends` may group by."""

RECIPIENT_GROUPS: frozenset[str] = frozenset({"status", "response", "list"})
"""The fields :meth:`Storage.count_recipients` may group by."""


def check_groups(by: Sequence[str], allowed: frozenset[str]) -> tuple[str, ...]:
    """Return ``by`` as a tuple after checking every name is one of ``allowed``.

    Raises:
        ConfigurationError: A name is not allowed, or ``by`` is a single string.
    """
    if isinstance(by, str):
        raise ConfigurationError(f"by must be a sequence of names, not the string {by!r}", value=by)
    unknown = [name for name in by if name not in allowed]
    if unknown:
        raise ConfigurationError(
            f"cannot group by {unknown}; choose from {sorted(allowed)}", value=unknown
        )
    return tuple(by)


def check_claim(limit: int, lease: timedelta) -> None:
    """Check the arguments of :meth:`Storage.claim_due_sends`.

    Raises:
        ConfigurationError: ``limit`` is negative or ``lease`` is not positive.
    """
    if limit < 0:
        raise ConfigurationError(f"limit must not be negative, got {limit}", value=limit)
    if lease <= timedelta(0):
        raise ConfigurationError(f"lease must be positive, got {lease}", value=lease)


def send_reason(send: Send) -> str:
    """The reason a send is counted under: its failure reason, first skip reason, or ``""``."""
    if send.status is DeliveryStatus.SKIPPED:
        return send.skip_reasons[0]
    reason = send.failure_reason
    return reason.value if reason is not None else ""


@attrs.frozen(kw_only=True)
class SuppressionRemoval:
    """The log entry of one number taken off an account's suppression list.

    Removing a suppression is an explicit act; every removal is kept so an
    operator can answer "who let this number through again, and why?".

    Args:
        suppression: The entry that was removed, as it was.
        at: When it was removed (aware).
        by: Who removed it (an operator, ``"opt_in"`` for a START reply...).
        reason: Why, in words.
    """

    suppression: Suppression
    at: datetime
    by: str
    reason: str = ""


def needs_follow_up(send: Send) -> bool:
    """True when a send a receipt changed asks the runner for more: a hard bounce, or a retry."""
    return send.status is DeliveryStatus.HARD_BOUNCED or send.awaiting_retry


@attrs.frozen(kw_only=True)
class EventOutcome:
    """What :meth:`Storage.record_events` did with a batch of provider events.

    A batch may change a hundred thousand sends, and most callers need only
    the few that ask for more (:attr:`follow_up`); the rest are produced on
    request (:attr:`sends`), so an adapter need not build them. Adapters
    holding whole :class:`Send` objects anyway use :meth:`of`.

    Args:
        stored: Events new to the log (each is stored once, by its ``dedup_key``).
        duplicates: Events already in the log: neither stored nor applied again.
        parked: New events for a provider message id no attempt has yet; they
            are applied when an attempt gets that id (:meth:`Storage.save_sends`).
        send_ids: The ids of the sends the new events changed, in the order
            they were first touched.
        follow_up: Of those, the ones that, as now stored, hard-bounced or wait
            for a retry (:func:`needs_follow_up`), in the same order.
        loader: Gives :attr:`sends` when first asked: the changed sends as stored
            at the end of the call, in the order of ``send_ids``.
    """

    stored: int = 0
    duplicates: int = 0
    parked: int = 0
    send_ids: tuple[str, ...] = ()
    follow_up: tuple[Send, ...] = ()
    _loader: Callable[[], Iterable[Send]] | None = attrs.field(
        default=None, eq=False, repr=False, alias="loader"
    )
    _loaded: list[tuple[Send, ...]] = attrs.field(factory=list, init=False, eq=False, repr=False)

    @classmethod
    def of(
        cls, sends: Iterable[Send], *, stored: int = 0, duplicates: int = 0, parked: int = 0
    ) -> EventOutcome:
        """The outcome for these changed sends (as now stored, first touched first)."""
        changed = tuple(sends)
        return cls(
            stored=stored,
            duplicates=duplicates,
            parked=parked,
            send_ids=tuple(s.id for s in changed),
            follow_up=tuple(s for s in changed if needs_follow_up(s)),
            loader=lambda: changed,
        )

    @property
    def sends(self) -> tuple[Send, ...]:
        """The sends the new events changed, as stored at the end of the call.

        Built on first access (then kept): in the order of :attr:`send_ids`.
        """
        if not self._loaded:
            self._loaded.append(tuple(self._loader()) if self._loader is not None else ())
        return self._loaded[0]


# -- account views: the SMS log, replies and contacts of a whole account --------------
# Value types for the account-wide queries of the Storage protocol (see its
# "account views" section). They validate their input once, so adapters can
# trust what they are given.

CONTACT_GROUPS: frozenset[str] = frozenset({"consent"})
"""The fields :meth:`Storage.count_contacts` may group by."""

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def _optional_e164(value: str | None) -> str | None:
    if value is not None and not _E164.match(value):
        raise ConfigurationError(f"{value!r} is not an E.164 number like +12125550123", value=value)
    return value


def _optional_id(name: str) -> Any:
    def check(_instance: Any, _attribute: Any, value: str | None) -> None:
        if value is not None and not value:
            raise ConfigurationError(f"{name} must not be empty; pass None for any", value=value)

    return check


def _statuses(value: Iterable[DeliveryStatus | str] | None) -> frozenset[DeliveryStatus] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigurationError(
            f"statuses must be a collection of statuses, not the string {value!r}", value=value
        )
    found = frozenset(to_enum(DeliveryStatus, v) for v in value)
    if not found:
        raise ConfigurationError("statuses must name at least one status; pass None for any")
    return found


def check_period(since: datetime | None, until: datetime | None) -> None:
    """Check a half-open period ``[since, until)``: aware bounds, ``since`` before ``until``.

    Raises:
        NaiveDatetimeError: A bound is naive.
        ConfigurationError: ``until`` is not after ``since``.
    """
    optional_aware(since, "since")
    optional_aware(until, "until")
    if since is not None and until is not None and until <= since:
        raise ConfigurationError(
            f"until ({until.isoformat()}) must be after since ({since.isoformat()})", value=until
        )


def check_limit(limit: int | None) -> None:
    """Check a page size: None (no limit) or at least 0.

    Raises:
        ConfigurationError: ``limit`` is negative.
    """
    if limit is not None and limit < 0:
        raise ConfigurationError(f"limit must not be negative, got {limit}", value=limit)


@attrs.frozen(kw_only=True)
class LogFilter:
    """Which messages of an account's SMS log to read (every field is optional).

    A message is a :class:`~smscampaign.domain.delivery.Send`; its place in
    the log is its ``created_at`` (when it was queued, or decided against).

    Args:
        since: Only messages created at or after this instant (aware).
        until: Only messages created before this instant (aware).
        campaign_id: Only this campaign's messages.
        step_id: Only messages of steps with this id (in any campaign, unless
            ``campaign_id`` is given too).
        statuses: Only messages in one of these statuses.
        to: Only messages addressed to this E.164 number.
        contact_id: Only messages to the recipient with this contact id.

    Raises:
        NaiveDatetimeError: A bound is naive.
        ConfigurationError: ``until`` is not after ``since``; an id is empty;
            ``statuses`` is empty or names an unknown status; ``to`` is not E.164.
    """

    since: datetime | None = None
    until: datetime | None = None
    campaign_id: str | None = attrs.field(default=None, validator=_optional_id("campaign_id"))
    step_id: str | None = attrs.field(default=None, validator=_optional_id("step_id"))
    statuses: frozenset[DeliveryStatus] | None = attrs.field(default=None, converter=_statuses)
    to: str | None = attrs.field(default=None, converter=_optional_e164)
    contact_id: str | None = attrs.field(default=None, validator=_optional_id("contact_id"))

    def __attrs_post_init__(self) -> None:
        check_period(self.since, self.until)

    def matches(self, send: Send) -> bool:
        """True when ``send`` passes every filter (its campaign's account aside)."""
        at = send.created_at
        return (
            (self.since is None or at >= self.since)
            and (self.until is None or at < self.until)
            and self.campaign_id in (None, send.campaign_id)
            and self.step_id in (None, send.step_id)
            and (self.statuses is None or send.status in self.statuses)
            and self.to in (None, send.to)
            and self.contact_id in (None, send.recipient_id)
        )


_TOKEN_SEPARATOR = "\x1f"


@attrs.frozen
class LogCursor:
    """A position in an SMS log: the log continues with messages after it.

    Messages are ordered by ``(created_at, id)``; ids compare by code point
    (SQL adapters compare them as bytes, ``COLLATE "C"`` in PostgreSQL).

    Args:
        at: The ``created_at`` of the last message read (aware).
        send_id: Its id.
    """

    at: datetime = attrs.field(validator=lambda _i, _a, v: require_aware(v, "LogCursor.at"))
    send_id: str

    @classmethod
    def after(cls, send: Send) -> LogCursor:
        """The position just after ``send``."""
        return cls(send.created_at, send.id)

    def precedes(self, send: Send) -> bool:
        """True when ``send`` comes after this position in the log."""
        return (send.created_at, send.id) > (self.at, self.send_id)

    @property
    def token(self) -> str:
        """An opaque text form of the cursor, to hand to a client and back to :meth:`parse`."""
        text = f"{self.at.astimezone(timezone.utc).isoformat()}{_TOKEN_SEPARATOR}{self.send_id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> LogCursor:
        """The cursor a :attr:`token` stands for.

        Raises:
            ConfigurationError: The text is not a token this class made.
        """
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            at, separator, send_id = text.partition(_TOKEN_SEPARATOR)
            moment = datetime.fromisoformat(at)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{token!r} is not a log cursor", value=token) from exc
        if not separator or moment.tzinfo is None:
            raise ConfigurationError(f"{token!r} is not a log cursor", value=token)
        return cls(moment, send_id)


@runtime_checkable
class Storage(Protocol):
    """Where campaigns, recipients, sends and events are kept.

    **Unit of work.** ``with storage.transaction():`` groups calls: everything
    inside commits together when the block ends, or not at all when it raises.
    A call made outside any block is its own unit. A nested ``transaction()``
    is a savepoint: an exception leaving the inner block undoes only what the
    inner block did (and propagates); the outer block decides the rest. A
    transaction belongs to the thread that opened it.

    **Accounts.** Contacts and the suppression list are scoped by account
    (default :data:`~smscampaign.domain.contact.DEFAULT_ACCOUNT`); a number
    suppressed in one account is not suppressed in another. Campaign, send and
    provider ids are global.

    **Streaming.** Every ``iter_*`` method yields lazily in bounded batches;
    none loads a whole campaign. Consume an iterator before starting writes
    that change what it reads.

    **Errors.** Adapters raise :class:`~smscampaign.errors.StorageError`
    subclasses (``NotFound``, ``AlreadyExists``, ``SchemaError``) with the
    driver's error chained as ``__cause__``.
    """

    # -- unit of work ----------------------------------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        """Open a unit of work (a savepoint when one is already open)."""
        ...

    # -- contacts --------------------------------------------------------------

    def save_contacts(self, contacts: Iterable[Contact]) -> int:
        """Insert or replace contacts, keyed by (account, id); returns how many."""
        ...

    def get_contact(self, contact_id: str, *, account: str = DEFAULT_ACCOUNT) -> Contact:
        """The contact with that id. Raises NotFound."""
        ...

    def find_contacts(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Contact]:
        """Contacts by E.164 number; for a number several contacts share, the first saved."""
        ...

    # -- suppression list ------------------------------------------------------

    def suppress(self, suppression: Suppression) -> bool:
        """Put a number on its account's list; False when it was there already (kept as is)."""
        ...

    def unsuppress(
        self, e164: str, *, account: str = DEFAULT_ACCOUNT, at: datetime, by: str, reason: str = ""
    ) -> SuppressionRemoval | None:
        """Take a number off the list, logging the act; None when it was not on it."""
        ...

    def get_suppression(self, e164: str, *, account: str = DEFAULT_ACCOUNT) -> Suppression | None:
        """The list entry for a number, or None when it is not suppressed."""
        ...

    def find_suppressions(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Suppression]:
        """The list entries for several numbers at once (absent numbers are left out)."""
        ...

    def iter_suppressions(self, *, account: str = DEFAULT_ACCOUNT) -> Iterator[Suppression]:
        """Every entry of an account's list, by number."""
        ...

    def iter_suppression_removals(
        self, *, account: str = DEFAULT_ACCOUNT
    ) -> Iterator[SuppressionRemoval]:
        """The log of removals, oldest first."""
        ...

    # -- campaigns -------------------------------------------------------------

    def add_campaign(self, campaign: Campaign) -> None:
        """Store a new campaign. Raises AlreadyExists."""
        ...

    def save_campaign(self, campaign: Campaign) -> None:
        """Replace a stored campaign (state, timeline, settings). Raises NotFound."""
        ...

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with that id, with its timeline. Raises NotFound."""
        ...

    def iter_campaigns(self, *, account: str | None = None) -> Iterator[Campaign]:
        """Campaigns (of one account, or all), by id."""
        ...

    # -- recipients ------------------------------------------------------------

    def add_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Add recipients to their campaigns; returns how many were new.

        A recipient already in its campaign is left unchanged (not counted);
        its contact is inserted when the account has none with that id, and
        left unchanged otherwise (use :meth:`save_contacts` to change it). The
        order of addition is kept: it decides which recipient of a number is
        "earlier". A recipient's ``sends`` are ignored; save them with
        :meth:`save_sends`. Raises NotFound for an unknown campaign.
        """
        ...

    def update_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Save status, response, list name and fields of existing recipients. Raises NotFound."""
        ...

    def get_recipient(self, campaign_id: str, contact_id: str) -> Recipient:
        """One recipient with its current contact and its sends. Raises NotFound."""
        ...

    def get_recipients(
        self, campaign_id: str, contact_ids: Iterable[str], *, with_sends: bool = False
    ) -> dict[str, Recipient]:
        """Several recipients at once, by contact id (ids not in the campaign are left out)."""
        ...

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Iterator[Recipient]:
        """A campaign's recipients in the order they were added, streamed."""
        ...

    # -- sends -----------------------------------------------------------------

    def save_sends(self, sends: Iterable[Send], *, new_only: bool = False) -> list[Send]:
        """Insert or replace sends; returns them as stored.

        Saving a send releases any claim on it. When one of its attempts has
        a provider message id with parked events, they are applied now and the
        returned send includes them.

        With ``new_only``, a send whose id is stored already is left exactly
        as it is and left out of the result, atomically (so a runner queueing
        from data read before another worker's send of the same id was saved
        never replaces that send).
        """
        ...

    def get_send(self, send_id: str) -> Send:
        """The send with that id. Raises NotFound."""
        ...

    def find_send(self, provider: str, provider_message_id: str) -> Send | None:
        """The send one of whose attempts has that provider message id."""
        ...

    def iter_sends(
        self,
        campaign_id: str,
        *,
        step_id: str | None = None,
        recipient_id: str | None = None,
    ) -> Iterator[Send]:
        """A campaign's sends (of one step and/or recipient), oldest first, streamed."""
        ...

    def claim_due_sends(
        self, worker: str, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
    ) -> list[Send]:
        """Atomically reserve up to ``limit`` due sends for one worker.

        Due: QUEUED, ``due_at`` unset or not after ``now``, in an IN_PROGRESS
        campaign, and not claimed by a worker whose lease is still running.
        Each due send goes to exactly one caller, however many workers claim
        at once. The claim lasts ``lease`` or until the send is saved. Oldest
        due first.
        """
        ...

    # -- provider events -------------------------------------------------------

    def record_events(self, events: Iterable[StatusEvent]) -> EventOutcome:
        """Append events to the log and apply each new one to its attempt.

        The same event (by ``dedup_key``) twice is stored once and applied
        once. An event for a provider message id no attempt has yet is kept
        and applied when an attempt gets the id. The outcome names every send
        changed and carries whole those that need follow-up; the others are
        built only if :attr:`EventOutcome.sends` is read.
        """
        ...

    def iter_events(
        self, *, provider: str | None = None, provider_message_id: str | None = None
    ) -> Iterator[StatusEvent]:
        """The raw event log, in arrival order (for rebuilding state)."""
        ...

    def iter_parked_events(self) -> Iterator[StatusEvent]:
        """Events still waiting for an attempt with their provider message id."""
        ...

    # -- inbound messages ------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> bool:
        """Store a reply; False when the same (provider, id) was stored already."""
        ...

    def iter_inbound(self, *, account: str | None = None) -> Iterator[InboundMessage]:
        """Stored replies (of one account, or all), in arrival order."""
        ...

    # -- aggregates ------------------------------------------------------------

    def count_sends(
        self, campaign_id: str, *, by: Sequence[str] = ("step", "status")
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's sends grouped by fields of :data:`SEND_GROUPS`.

        Only each recipient's latest send of each step counts (latest by when
        it was first saved): a requeue or a resend after an opt-in replaces the
        earlier outcome, so a step's counts add up to its recipients.

        ``reason`` is the failure reason of a bounced send, the first skip
        reason of a skipped one, and ``""`` otherwise; ``list`` is the
        recipient's list name. Keys are tuples of values in ``by`` order.
        """
        ...

    def count_recipients(
        self, campaign_id: str, *, by: Sequence[str] = ("status",)
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's recipients grouped by fields of :data:`RECIPIENT_GROUPS`."""
        ...

    # -- account views -----------------------------------------------------------
    # Account-wide reads behind smscampaign.account (the SMS log, a contact's
    # timeline, consent and suppression reports) and the campaigns overview.
    # Each streams in bounded pages or aggregates where the data lives.

    def iter_sms_log(
        self,
        where: LogFilter | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
        after: LogCursor | None = None,
        limit: int | None = None,
    ) -> Iterator[Send]:
        """An account's messages in log order, filtered, from a cursor on.

        The messages are the sends of the campaigns whose account is
        ``account`` that pass ``where`` (:meth:`LogFilter.matches`), ordered
        by ``(created_at, id)`` (ids by code point), strictly after ``after``
        when given, at most ``limit`` of them when given (0 yields nothing).
        Raises ConfigurationError for a negative limit.
        """
        ...

    def iter_replies(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        sender: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[InboundMessage]:
        """An account's replies, optionally from one E.164 number and in ``[since, until)``.

        Ordered by ``received_at``, then by arrival (the order
        :meth:`record_inbound` stored them). Raises NaiveDatetimeError for a
        naive bound and ConfigurationError when ``until`` is not after ``since``.
        """
        ...

    def iter_contacts(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        consent: Consent | None = None,
        e164: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Contact]:
        """An account's contacts by id (code-point order), optionally of one consent or number.

        Only ids greater than ``after`` when given; at most ``limit`` when
        given. Raises ConfigurationError for a negative limit.
        """
        ...

    def count_contacts(
        self, *, account: str = DEFAULT_ACCOUNT, by: Sequence[str] = ("consent",)
    ) -> dict[tuple[str, ...], int]:
        """Count an account's contacts grouped by fields of :data:`CONTACT_GROUPS`.

        Keys are tuples of values in ``by`` order (``("pending_opt_in",)``);
        groups with no contact are left out; ``by=()`` gives ``{(): total}``
        (or ``{}`` for an account with no contact).
        """
        ...


# --- end storage --------------------------------------------------------------


# --- eligibility in storage (optional) ------------------------------------------
# A capability, not part of Storage: the runner checks for it and, when a
# storage offers it, decides steps where the rows live (docs/runner.md).
if TYPE_CHECKING:
    from smscampaign.domain.campaign import Step
    from smscampaign.eligibility import ReasonLike


@runtime_checkable
class StepDecider(Protocol):
    """A storage that decides eligibility in place: what ``SQLiteStorage`` offers.

    Both methods answer exactly what :class:`~smscampaign.eligibility.Eligibility`
    with the default rules answers over :meth:`Storage.iter_recipients` and the
    account's suppression list; they only avoid building every recipient in
    Python. :class:`~smscampaign.runner.CampaignRunner` uses them when
    ``isinstance(storage, StepDecider)``; an adapter without them works the same,
    only slower at large lists.
    """

    def pending_step_ids(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
    ) -> Iterator[str]:
        """The ids of the recipients pending for a step, in the order they were added."""
        ...

    def count_step_combinations(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
    ) -> dict[tuple[ReasonLike, ...], int]:
        """Recipients per exact combination of reasons (``()``: pending) for a step."""
        ...


__all__ += ["StepDecider"]


# --- the last line of defence, read narrow (optional) ---------------------------
# A capability, not part of Storage: at dispatch the runner reads every claimed
# send's recipient again; a storage offering it answers with these facts
# instead of whole recipients (docs/runner.md, "Throughput").


class RecipientFacts(NamedTuple):
    """What dispatch checks of a recipient: status, consent, and what its send window depends on.

    Each field is what :meth:`Storage.get_recipients` would give in the same
    place (``facts.consent`` is ``recipient.contact.consent``, ``facts.zones``
    is ``recipient.phone.time_zones``...); :meth:`of` reads them from one.
    """

    status: ContactStatus
    consent: Consent
    time_zone: str | None
    e164: str
    region: str | None
    kind: NumberKind
    zones: tuple[str, ...]

    @classmethod
    def of(cls, recipient: Recipient) -> RecipientFacts:
        """The facts of a recipient read whole."""
        phone = recipient.contact.phone
        return cls(
            recipient.status,
            recipient.contact.consent,
            recipient.contact.time_zone,
            phone.e164,
            phone.region,
            phone.kind,
            phone.time_zones,
        )


@runtime_checkable
class RecipientFactsReader(Protocol):
    """A storage that reads recipients' :class:`RecipientFacts` without building them whole.

    ``recipient_facts`` answers exactly ``{id: RecipientFacts.of(r) for id, r in
    get_recipients(campaign_id, contact_ids).items()}``, as fresh as
    :meth:`Storage.get_recipients` would (never from a cache).
    :class:`~smscampaign.runner.CampaignRunner` uses it at dispatch when
    ``isinstance(storage, RecipientFactsReader)``, and reads a recipient whole
    only when its send window must be computed or a failure handled.
    """

    def recipient_facts(
        self, campaign_id: str, contact_ids: Iterable[str]
    ) -> dict[str, RecipientFacts]:
        """The facts of several recipients at once, by contact id (others are left out)."""
        ...


__all__ += ["RecipientFacts", "RecipientFactsReader"]


# --- campaigns changed by several workers (optional) ----------------------------


@runtime_checkable
class CampaignLocker(Protocol):
    """A storage whose units of work can hold a campaign against other units' changes.

    Where units of work do not exclude one another (PostgreSQL at READ
    COMMITTED), two that each read a campaign, add a timeline entry and save
    it could both read the same version, and the second save would drop the
    first one's entry. :class:`~smscampaign.runner.CampaignRunner` calls
    ``lock_campaign`` at the start of every unit that reads a campaign to
    change it (state transitions, recipients added, requeues, a stop), so such
    units take turns on one campaign. A storage whose units already run one at
    a time (SQLite takes its write lock when a unit begins; the in-memory
    storage has one lock) needs no such method.
    """

    def lock_campaign(self, campaign_id: str) -> None:
        """Inside a unit of work, hold the campaign until the unit ends.

        Raises:
            NotFound: No campaign has that id.
        """
        ...


def hold_campaign(storage: Storage, campaign_id: str) -> None:
    """In a unit of work about to change the campaign: hold it there, where storage can.

    Call it first in the unit, before any send or recipient is written, so
    units that change a campaign take turns on it and always take the
    campaign before its sends. A storage that is not a :class:`CampaignLocker`
    runs its units one at a time already, and nothing is done.
    """
    if isinstance(storage, CampaignLocker):
        storage.lock_campaign(campaign_id)


__all__ += ["CampaignLocker", "hold_campaign"]


# --- gateway ------------------------------------------------------------------
# The Gateway protocol and its value types are defined in providers/gateway.py
# and re-exported here, so both ports are importable from one module.
from smscampaign.providers.gateway import (  # noqa: E402
    Gateway,
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
)

__all__ += ["Gateway", "OutboundMessage", "SendReceipt", "WebhookRequest"]
