"""Account views: what an operator reads across every campaign of an account.

Per-campaign reports live in :mod:`smscampaign.reporting`; these answer the
questions asked of a whole account (contacts and the suppression list are
scoped by account):

* the **SMS log** by date range across campaigns (seed 001 "SMS Log under
  Broadcasts and Date Range"): :func:`sms_log_page`, :func:`iter_sms_log`,
  :func:`export_sms_log`, each message with its delivery stage in seed 001's
  words;
* the **consent status** report (seed 001 "SMS Status"): :func:`consent_totals`,
  :func:`lookup_number`, :func:`iter_pending_opt_in`, :func:`export_consent`;
* the **suppression list** (seed 004 "Unsubscribes", seed 000's unsubscribed
  contacts): :func:`iter_suppression_list`, :func:`export_suppressions`, and
  :func:`lift_suppression`, which refuses to undo a recipient's own STOP;
* a **contact's timeline** (seed 002 "Conversation Timeline"):
  :func:`contact_timeline`;
* a **test send** (seed 000's "Test" button): :func:`send_test`.

The campaigns overview (seed 003 "Campaigns > Statistics") is
:func:`smscampaign.reporting.campaigns_overview`. Everything streams from the
storage's account queries (:meth:`~smscampaign.providers.base.Storage.iter_sms_log`,
``iter_replies``, ``iter_contacts``, ``count_contacts``); nothing loads a
whole account.
"""

from __future__ import annotations

import csv
import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone, tzinfo
from typing import IO
from zoneinfo import ZoneInfo

import attrs

from smscampaign.domain._time import require_aware
from smscampaign.domain.campaign import Campaign, TimelineAction
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    Consent,
    Contact,
    ContactStatus,
    Suppression,
    SuppressionCause,
    normalize_field_name,
)
from smscampaign.domain.delivery import DeliveryStatus, Send
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import DEFAULT_KEYWORDS, InboundMessage, Keyword, KeywordSet
from smscampaign.errors import (
    ConfigurationError,
    MissingField,
    NotFound,
    SuppressedNumber,
    SuppressionLiftRefused,
)
from smscampaign.providers.base import (
    LogCursor,
    LogFilter,
    Storage,
    SuppressionRemoval,
    hold_campaign,
)
from smscampaign.providers.gateway import Gateway, OutboundMessage, SendReceipt
from smscampaign.reporting import (
    SCHOOL_FAILED_CAUSES,
    SCHOOL_INELIGIBLE_CAUSES,
    SCHOOL_STATUS_WORDS,
    neutralize_cell,
)

__all__ = [
    "CONSENT_HEADER",
    "CONSENT_LABELS",
    "LOG_STAGES",
    "SMS_LOG_HEADER",
    "SUPPRESSION_CAUSE_LABELS",
    "SUPPRESSION_HEADER",
    "LogEntry",
    "LogPage",
    "NumberStatus",
    "SuppressionEntry",
    "TestSend",
    "TimelineItem",
    "consent_totals",
    "contact_timeline",
    "export_consent",
    "export_sms_log",
    "export_suppressions",
    "iter_pending_opt_in",
    "iter_sms_log",
    "iter_suppression_list",
    "lift_suppression",
    "log_entry",
    "lookup_number",
    "send_test",
    "sms_log_page",
    "sms_log_row",
    "stage_statuses",
]

_S = DeliveryStatus


def _zone(value: str | tzinfo) -> tzinfo:
    return ZoneInfo(value) if isinstance(value, str) else value


def _when(moment: datetime | None, zone: tzinfo, date_format: str) -> str:
    return moment.astimezone(zone).strftime(date_format) if moment is not None else ""


def _writer_for(
    out: str | os.PathLike[str] | IO[str], bom: bool, write: Callable[[IO[str]], int]
) -> int:
    """Run ``write`` on ``out``: a path (UTF-8, a BOM when asked) or an open text file."""
    if isinstance(out, str | os.PathLike):
        with open(out, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
            return write(handle)
    if bom:
        out.write("\ufeff")
    return write(out)


# --- the SMS log (seed 001) -----------------------------------------------------------

LOG_STAGES: Mapping[str, frozenset[DeliveryStatus]] = {
    # Seed 001, "SMS Log Report: Results": the delivery stages and their
    # results, each as the set of our statuses it covers (SCHOOL_STATUS_WORDS).
    "Not Sent Yet": frozenset({_S.QUEUED, _S.CANCELED}),
    "Sending": frozenset({_S.SENDING}),
    "Sent": frozenset({_S.SENT, _S.DELIVERED}),
    "Undelivered": frozenset({_S.SKIPPED, _S.SOFT_BOUNCED, _S.HARD_BOUNCED}),
    "Ineligible to Send": frozenset({_S.SKIPPED}),
    "Failed to Send": frozenset({_S.SOFT_BOUNCED, _S.HARD_BOUNCED}),
}
"""Seed 001's delivery stages and results, each with the statuses it covers."""

_UNDELIVERED = ("Ineligible to Send", "Failed to Send")


def stage_statuses(words: Iterable[str]) -> frozenset[DeliveryStatus]:
    """The statuses seed 001's stage or result words cover (``"Failed to Send"``...).

    Words are matched without regard to case or surrounding spaces.

    Raises:
        ConfigurationError: A word is not one of :data:`LOG_STAGES`.
    """
    lookup = {name.casefold(): statuses for name, statuses in LOG_STAGES.items()}
    found: set[DeliveryStatus] = set()
    for word in words:
        statuses = lookup.get(word.strip().casefold())
        if statuses is None:
            raise ConfigurationError(
                f"{word!r} is not an SMS log stage; choose from {list(LOG_STAGES)}", value=word
            )
        found |= statuses
    return frozenset(found)


@attrs.frozen(kw_only=True)
class LogEntry:
    """One message of the SMS log, in seed 001's words.

    Args:
        send: The message.
        campaign_name: Its campaign's name.
        stage: The delivery stage: Not Sent Yet, Sending, Sent or Undelivered.
        result: The delivery result: the stage, or for Undelivered,
            Ineligible to Send or Failed to Send.
        cause: Seed 001's cause of an undelivered message ("On a block list",
            "No SMS capability", ...; "Other" when it names none), else ``""``.
        detail: Our reasons: the skip reasons, or the failure reason with the
            provider's code.
    """

    send: Send
    campaign_name: str
    stage: str
    result: str
    cause: str = ""
    detail: str = ""

    @property
    def at(self) -> datetime:
        """The message's place in the log: when it was queued or decided against."""
        return self.send.created_at

    @property
    def cursor(self) -> LogCursor:
        """The position just after this entry."""
        return LogCursor.after(self.send)


def log_entry(send: Send, campaign_name: str = "") -> LogEntry:
    """A send as an SMS log entry in seed 001's words."""
    result = SCHOOL_STATUS_WORDS[send.status]
    stage = "Undelivered" if result in _UNDELIVERED else result
    cause = detail = ""
    if send.status is _S.SKIPPED:
        causes = dict.fromkeys(SCHOOL_INELIGIBLE_CAUSES.get(r, "Other") for r in send.skip_reasons)
        cause = "; ".join(causes)
        detail = "; ".join(send.skip_reasons)
    elif send.status in (_S.SOFT_BOUNCED, _S.HARD_BOUNCED):
        reason = send.failure_reason
        cause = SCHOOL_FAILED_CAUSES.get(reason.value, "Other") if reason else "Other"
        attempt = send.last_attempt
        code = attempt.provider_code if attempt is not None else None
        name = reason.value if reason else "unknown"
        detail = f"{name} ({code})" if code else name
    return LogEntry(
        send=send,
        campaign_name=campaign_name,
        stage=stage,
        result=result,
        cause=cause,
        detail=detail,
    )


@attrs.frozen
class LogPage:
    """One page of the SMS log.

    Args:
        entries: The messages, in log order.
        next: Where the next page starts, or None when this page is the last.
    """

    entries: tuple[LogEntry, ...]
    next: LogCursor | None


class _CampaignNames:
    """Campaign names by id, each read once."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._names: dict[str, str] = {}

    def __call__(self, campaign_id: str) -> str:
        name = self._names.get(campaign_id)
        if name is None:
            name = self._names[campaign_id] = self._storage.get_campaign(campaign_id).name
        return name


def sms_log_page(
    storage: Storage,
    where: LogFilter | None = None,
    *,
    account: str = DEFAULT_ACCOUNT,
    size: int = 50,
    after: LogCursor | None = None,
) -> LogPage:
    """One page of an account's SMS log, and the cursor of the next.

    Args:
        storage: Where the account is.
        where: Which messages (period, campaign, step, statuses, number, contact).
        account: The account.
        size: Messages per page (at least 1).
        after: Start after this position (the previous page's ``next``).

    Returns:
        The page; its ``next`` is None when no message follows.

    Raises:
        ConfigurationError: ``size`` is less than 1.
    """
    if size < 1:
        raise ConfigurationError(f"a page holds at least 1 message, got size={size}", value=size)
    names = _CampaignNames(storage)
    sends = list(storage.iter_sms_log(where, account=account, after=after, limit=size + 1))
    more = len(sends) > size
    entries = tuple(log_entry(s, names(s.campaign_id)) for s in sends[:size])
    return LogPage(entries, entries[-1].cursor if more else None)


def iter_sms_log(
    storage: Storage,
    where: LogFilter | None = None,
    *,
    account: str = DEFAULT_ACCOUNT,
    after: LogCursor | None = None,
) -> Iterator[LogEntry]:
    """Every message of an account's SMS log from a position on, streamed in log order."""
    names = _CampaignNames(storage)
    for send in storage.iter_sms_log(where, account=account, after=after):
        yield log_entry(send, names(send.campaign_id))


SMS_LOG_HEADER: tuple[str, ...] = (
    "Created",
    "Sent On",
    "Campaign",
    "Campaign Name",
    "Step",
    "Phone",
    "Contact ID",
    "Delivery Stage",
    "Delivery Result",
    "Cause",
    "Status",
    "Detail",
    "Segments",
    "Message",
)
"""The columns of :func:`export_sms_log`."""


def sms_log_row(
    entry: LogEntry, *, time_zone: str | tzinfo = "UTC", date_format: str = "%Y-%m-%d %H:%M %Z"
) -> list[str]:
    """One entry as a neutralized CSV row in :data:`SMS_LOG_HEADER` order."""
    zone = _zone(time_zone)
    send = entry.send
    row = [
        _when(send.created_at, zone, date_format),
        _when(send.sent_on, zone, date_format),
        send.campaign_id,
        entry.campaign_name,
        send.step_id,
        send.to,
        send.recipient_id,
        entry.stage,
        entry.result,
        entry.cause,
        send.status.value,
        entry.detail,
        str(send.segments),
        send.body,
    ]
    return [neutralize_cell(cell) for cell in row]


def export_sms_log(
    storage: Storage,
    out: str | os.PathLike[str] | IO[str],
    where: LogFilter | None = None,
    *,
    account: str = DEFAULT_ACCOUNT,
    time_zone: str | tzinfo = "UTC",
    bom: bool = False,
    date_format: str = "%Y-%m-%d %H:%M %Z",
) -> int:
    """Write an account's SMS log as CSV, streamed; every cell neutralized against formulas.

    Args:
        storage: Where the account is.
        out: A path (written as UTF-8) or an open text file (opened with ``newline=""``).
        where: Which messages.
        account: The account.
        time_zone: The zone times are shown in.
        bom: Start with a UTF-8 byte-order mark so Excel reads UTF-8.
        date_format: ``strftime`` format of the times.

    Returns:
        The number of message rows written.
    """

    def write(handle: IO[str]) -> int:
        writer = csv.writer(handle)
        writer.writerow(SMS_LOG_HEADER)
        count = 0
        for entry in iter_sms_log(storage, where, account=account):
            writer.writerow(sms_log_row(entry, time_zone=time_zone, date_format=date_format))
            count += 1
        return count

    return _writer_for(out, bom, write)


# --- consent status (seed 001 "SMS Status") -------------------------------------------

CONSENT_LABELS: Mapping[Consent, str] = {
    # Seed 001, "SMS Status": Pending Opt-In (not yet confirmed), Opted In
    # (confirmed), Opted Out (chose not to receive SMS for that number).
    Consent.PENDING_OPT_IN: "Pending Opt-In",
    Consent.OPTED_IN: "Opted In",
    Consent.OPTED_OUT: "Opted Out",
}
"""Seed 001's words for a contact's SMS status."""


def consent_totals(storage: Storage, *, account: str = DEFAULT_ACCOUNT) -> dict[Consent, int]:
    """How many of an account's contacts are in each SMS status, counted in the storage.

    Returns:
        Every :class:`Consent`, in seed 001's order, with its count (0 included).
    """
    counts = storage.count_contacts(account=account, by=("consent",))
    return {consent: counts.get((consent.value,), 0) for consent in CONSENT_LABELS}


_STRICTNESS = {Consent.OPTED_IN: 0, Consent.PENDING_OPT_IN: 1, Consent.OPTED_OUT: 2}


@attrs.frozen(kw_only=True)
class NumberStatus:
    """The SMS status of one number (seed 001: "look up the opt-in status of 1 number").

    Args:
        e164: The number.
        contacts: Every contact of the account holding it, by id.
        suppression: Its suppression-list entry, if any.
    """

    e164: str
    contacts: tuple[Contact, ...]
    suppression: Suppression | None

    @property
    def consent(self) -> Consent | None:
        """The number's status: the strictest of its contacts' consents (None: no contact).

        A stop word or a carrier opt-out on the suppression list makes it
        OPTED_OUT, whatever the contacts say.
        """
        if self.suppression is not None and self.suppression.cause.lifted_by_opt_in:
            return Consent.OPTED_OUT
        if not self.contacts:
            return None
        return max((c.consent for c in self.contacts), key=_STRICTNESS.__getitem__)

    @property
    def label(self) -> str:
        """The status in seed 001's words (``"Unknown number"`` without a contact)."""
        consent = self.consent
        return "Unknown number" if consent is None else CONSENT_LABELS[consent]


def _e164(number: str | PhoneNumber, region: str | None = None) -> str:
    if isinstance(number, PhoneNumber):
        return number.e164
    return PhoneNumber.parse(number, region, lenient=True).e164


def lookup_number(
    storage: Storage,
    number: str | PhoneNumber,
    *,
    account: str = DEFAULT_ACCOUNT,
    region: str | None = None,
) -> NumberStatus:
    """The SMS status of one number: its contacts' consents and its suppression entry.

    Args:
        storage: Where the account is.
        number: The number (E.164, or national with ``region``).
        account: The account.
        region: Where a national number is dialled.

    Raises:
        InvalidPhoneNumber: ``number`` is not a phone number.
    """
    e164 = _e164(number, region)
    return NumberStatus(
        e164=e164,
        contacts=tuple(storage.iter_contacts(account=account, e164=e164)),
        suppression=storage.get_suppression(e164, account=account),
    )


def iter_pending_opt_in(storage: Storage, *, account: str = DEFAULT_ACCOUNT) -> Iterator[Contact]:
    """The contacts still Pending Opt-In, by id, to remind through another channel (seed 001)."""
    return storage.iter_contacts(account=account, consent=Consent.PENDING_OPT_IN)


CONSENT_HEADER: tuple[str, ...] = (
    "Contact ID",
    "Phone",
    "First Name",
    "Last Name",
    "Email",
    "SMS Status",
    "Suppressed",
    "Suppressed Since",
)
"""The columns of :func:`export_consent`."""


def export_consent(
    storage: Storage,
    out: str | os.PathLike[str] | IO[str],
    *,
    account: str = DEFAULT_ACCOUNT,
    consent: Consent | None = None,
    time_zone: str | tzinfo = "UTC",
    bom: bool = False,
    date_format: str = "%Y-%m-%d %H:%M %Z",
) -> int:
    """Write every contact's SMS status as CSV (seed 001: "download all status data").

    One row per contact, by id, streamed: id, phone, names, e-mail, SMS Status
    in seed 001's words, and the number's suppression cause and date when it
    is on the list. With ``consent``, only contacts in that status (e.g. the
    Pending Opt-In list, with their e-mail for a reminder by another channel).

    Returns:
        The number of contact rows written.
    """
    zone = _zone(time_zone)

    def write(handle: IO[str]) -> int:
        writer = csv.writer(handle)
        writer.writerow(CONSENT_HEADER)
        count = 0
        contacts = storage.iter_contacts(account=account, consent=consent)
        while page := list(itertools.islice(contacts, 500)):
            listed = storage.find_suppressions([c.phone.e164 for c in page], account=account)
            for c in page:
                entry = listed.get(c.phone.e164)
                row = [
                    c.id,
                    c.phone.e164,
                    c.first_name,
                    c.last_name,
                    c.email,
                    CONSENT_LABELS[c.consent],
                    SUPPRESSION_CAUSE_LABELS[entry.cause] if entry else "",
                    _when(entry.at if entry else None, zone, date_format),
                ]
                writer.writerow([neutralize_cell(cell) for cell in row])
                count += 1
        return count

    return _writer_for(out, bom, write)


# --- the suppression list (seed 004 "Unsubscribes") ------------------------------------

SUPPRESSION_CAUSE_LABELS: Mapping[SuppressionCause, str] = {
    # Seed 004: STOP replies put the number on the Unsubscribes list, bad
    # numbers join it, and an operator may add one by hand.
    SuppressionCause.STOP_WORD: "Replied a stop word",
    SuppressionCause.CARRIER_OPT_OUT: "Opted out at the carrier",
    SuppressionCause.HARD_BOUNCE: "Bad number",
    SuppressionCause.MANUAL: "Added by hand",
}
"""Each suppression cause in words."""


@attrs.frozen(kw_only=True)
class SuppressionEntry:
    """One number of the suppression list, with the contact holding it.

    Args:
        suppression: The entry: cause, when, detail (the reply text, the
            provider's code, the operator's note), campaign and who.
        contact: The account's first contact with that number, if any.
    """

    suppression: Suppression
    contact: Contact | None

    @property
    def label(self) -> str:
        """The cause in words."""
        return SUPPRESSION_CAUSE_LABELS[self.suppression.cause]


def iter_suppression_list(
    storage: Storage,
    *,
    account: str = DEFAULT_ACCOUNT,
    causes: Iterable[SuppressionCause | str] | None = None,
) -> Iterator[SuppressionEntry]:
    """Every suppressed number of an account, by number, with its contact; streamed.

    Args:
        storage: Where the account is.
        account: The account.
        causes: Only entries with one of these causes (default: all).
    """
    wanted = None if causes is None else frozenset(SuppressionCause(c) for c in causes)
    entries = (
        s for s in storage.iter_suppressions(account=account) if wanted is None or s.cause in wanted
    )
    while page := list(itertools.islice(entries, 500)):
        holders = storage.find_contacts([s.e164 for s in page], account=account)
        for suppression in page:
            yield SuppressionEntry(suppression=suppression, contact=holders.get(suppression.e164))


SUPPRESSION_HEADER: tuple[str, ...] = (
    "Phone",
    "Cause",
    "Cause Code",
    "Detail",
    "Since",
    "Campaign",
    "By",
    "Contact ID",
    "First Name",
    "Last Name",
)
"""The columns of :func:`export_suppressions`."""


def export_suppressions(
    storage: Storage,
    out: str | os.PathLike[str] | IO[str],
    *,
    account: str = DEFAULT_ACCOUNT,
    time_zone: str | tzinfo = "UTC",
    bom: bool = False,
    date_format: str = "%Y-%m-%d %H:%M %Z",
) -> int:
    """Write an account's suppression list as CSV, streamed, every cell neutralized.

    Returns:
        The number of entries written.
    """
    zone = _zone(time_zone)

    def write(handle: IO[str]) -> int:
        writer = csv.writer(handle)
        writer.writerow(SUPPRESSION_HEADER)
        count = 0
        for entry in iter_suppression_list(storage, account=account):
            s = entry.suppression
            contact = entry.contact
            row = [
                s.e164,
                entry.label,
                s.cause.value,
                s.detail,
                _when(s.at, zone, date_format),
                s.campaign_id or "",
                s.by,
                contact.id if contact else "",
                contact.first_name if contact else "",
                contact.last_name if contact else "",
            ]
            writer.writerow([neutralize_cell(cell) for cell in row])
            count += 1
        return count

    return _writer_for(out, bom, write)


def lift_suppression(
    storage: Storage,
    number: str | PhoneNumber,
    *,
    by: str,
    reason: str,
    account: str = DEFAULT_ACCOUNT,
    now: datetime | None = None,
    keywords: Iterable[KeywordSet] = DEFAULT_KEYWORDS,
    accept_yes: bool = False,
) -> SuppressionRemoval:
    """Take a number off an account's suppression list by hand: an explicit, logged act.

    A number suppressed by its own stop word (or an opt-out at the carrier)
    comes off only when the number itself opted back in: a reply classified as
    an opt-in (START, UNSTOP; YES with ``accept_yes``) received after it was
    suppressed. Then its contacts opt in again and its UNSUBSCRIBED recipients
    become ACTIVE, as when the runner handles the START itself. Hard bounces
    and entries added by hand may be lifted by an operator with a reason.
    Everything is one unit of work.

    Args:
        storage: Where the account is.
        number: The number (E.164, or a :class:`PhoneNumber`).
        by: Who lifts it (logged).
        reason: Why (logged; required).
        account: The account.
        now: When (aware; default: the system clock).
        keywords: The keyword sets replies are classified with.
        accept_yes: Whether YES counts as an opt-in.

    Returns:
        The logged removal.

    Raises:
        SuppressionLiftRefused: A stop-word or carrier opt-out entry, and the
            number did not opt back in since.
        NotFound: The number is not on the account's list.
        ConfigurationError: ``by`` or ``reason`` is empty.
        NaiveDatetimeError: ``now`` is naive.
    """
    at = datetime.now(timezone.utc) if now is None else require_aware(now, "now")
    if not by.strip() or not reason.strip():
        raise ConfigurationError(
            "lifting a suppression needs who (by) and why (reason)", value=(by, reason)
        )
    e164 = _e164(number)
    keyword_sets = tuple(keywords)
    with storage.transaction():
        entry = storage.get_suppression(e164, account=account)
        if entry is None:
            raise NotFound(f"{e164} is not on the suppression list of {account!r}", value=e164)
        logged = reason
        if entry.cause.lifted_by_opt_in:
            opt_in = _opt_in_since(storage, entry, keyword_sets, accept_yes)
            if opt_in is None:
                raise SuppressionLiftRefused(
                    f"{e164} is suppressed because it {_refusal(entry)}; only the number "
                    "itself can undo that, by replying START",
                    value=e164,
                    e164=e164,
                    cause=entry.cause.value,
                )
            logged = (
                f"{reason} (opted back in: {opt_in.body!r} at {opt_in.received_at.isoformat()})"
            )
            _opt_back_in(storage, e164, account)
        removal = storage.unsuppress(e164, account=account, at=at, by=by, reason=logged)
    assert removal is not None  # read in the same unit of work
    return removal


def _refusal(entry: Suppression) -> str:
    when = entry.at.isoformat()
    if entry.cause is SuppressionCause.STOP_WORD:
        text = f" ({entry.detail!r})" if entry.detail else ""
        return f"replied a stop word{text} on {when}"
    return f"opted out at the carrier on {when}"


def _opt_in_since(
    storage: Storage, entry: Suppression, keywords: tuple[KeywordSet, ...], accept_yes: bool
) -> InboundMessage | None:
    """The number's first opt-in reply at or after it was suppressed, if any."""
    for message in storage.iter_replies(account=entry.account, sender=entry.e164, since=entry.at):
        if message.classify(keywords=keywords, accept_yes=accept_yes).keyword is Keyword.OPT_IN:
            return message
    return None


def _opt_back_in(storage: Storage, e164: str, account: str) -> None:
    """The number's contacts opt in again; their UNSUBSCRIBED recipients become ACTIVE."""
    contacts = list(storage.iter_contacts(account=account, e164=e164))
    changed = [c.with_consent(Consent.OPTED_IN) for c in contacts if c.consent is Consent.OPTED_OUT]
    if changed:
        storage.save_contacts(changed)
    ids = [c.id for c in contacts]
    for campaign in list(storage.iter_campaigns(account=account)):
        found = storage.get_recipients(campaign.id, ids)
        back = [
            r.with_status(ContactStatus.ACTIVE)
            for r in found.values()
            if r.status is ContactStatus.UNSUBSCRIBED
        ]
        if back:
            storage.update_recipients(back)


# --- a contact's timeline (seed 002 "Conversation Timeline") ---------------------------


@attrs.frozen(kw_only=True)
class TimelineItem:
    """One message in a contact's conversation: a message we sent, or a reply.

    Args:
        at: When: an outbound message's sent-on (when it was queued, if it never
            went out), a reply's received time.
        direction: ``"outbound"`` or ``"reply"``.
        number: The contact's number the message went to or came from.
        body: The text.
        send: The outbound message (None for a reply).
        reply: The reply (None for an outbound message).
        keyword: A reply's classification (opt-out, opt-in, help, other).
        result: An outbound message's delivery result in seed 001's words.
    """

    at: datetime
    direction: str
    number: str
    body: str
    send: Send | None = None
    reply: InboundMessage | None = None
    keyword: Keyword | None = None
    result: str = ""

    @property
    def campaign_id(self) -> str | None:
        """The campaign of an outbound message."""
        return self.send.campaign_id if self.send is not None else None

    @property
    def status(self) -> DeliveryStatus | None:
        """An outbound message's status."""
        return self.send.status if self.send is not None else None


def contact_timeline(
    storage: Storage,
    contact_id: str,
    *,
    account: str = DEFAULT_ACCOUNT,
    keywords: Iterable[KeywordSet] = DEFAULT_KEYWORDS,
) -> list[TimelineItem]:
    """Every message to one contact across campaigns and every reply from them, in time order.

    Outbound messages are the contact's sends in every campaign of the account
    (as recipient); replies are those from the contact's number and from any
    number its messages went to. Outbound messages come before replies at the
    same instant.

    Raises:
        NotFound: The account has no such contact.
    """
    contact = storage.get_contact(contact_id, account=account)
    keyword_sets = tuple(keywords)
    items: list[TimelineItem] = []
    numbers = {contact.phone.e164: None}
    for send in storage.iter_sms_log(LogFilter(contact_id=contact_id), account=account):
        numbers[send.to] = None
        items.append(
            TimelineItem(
                at=send.sent_on or send.created_at,
                direction="outbound",
                number=send.to,
                body=send.body,
                send=send,
                result=log_entry(send).result,
            )
        )
    for number in numbers:
        for message in storage.iter_replies(account=account, sender=number):
            items.append(
                TimelineItem(
                    at=message.received_at,
                    direction="reply",
                    number=number,
                    body=message.body,
                    reply=message,
                    keyword=message.classify(keywords=keyword_sets).keyword,
                )
            )
    items.sort(key=lambda i: (i.at, i.direction != "outbound"))
    return items


# --- test send (seed 000 "Test") --------------------------------------------------------


@attrs.frozen(kw_only=True)
class TestSend:
    """A step sent to one number as a test, outside the campaign's counts.

    Args:
        campaign_id: The campaign.
        step_id: The step.
        to: The number it went to.
        body: The rendered text.
        contact_id: The contact whose values filled the template (None: only given values).
        receipt: What the provider answered.
        at: When it was sent.
    """

    __test__ = False  # not a pytest test class, despite its name

    campaign_id: str
    step_id: str
    to: str
    body: str
    contact_id: str | None
    receipt: SendReceipt
    at: datetime


def _sample_values(
    storage: Storage, campaign: Campaign, step_id: str
) -> tuple[str | None, dict[str, str]]:
    """The first recipient whose values fill the step's template, else none."""
    step = campaign.step(step_id)
    for recipient in storage.iter_recipients(campaign.id, with_sends=False):
        values = recipient.template_values()
        if not step.body.missing(values):
            return recipient.id, values
    return None, {}


def _contact_values(storage: Storage, campaign: Campaign, contact_id: str) -> dict[str, str]:
    found = storage.get_recipients(campaign.id, [contact_id])
    if contact_id in found:
        return found[contact_id].template_values()
    return storage.get_contact(contact_id, account=campaign.account).template_values()


def send_test(
    storage: Storage,
    gateway: Gateway,
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
    """Render a step and send it to one number as a test (seed 000's "Test" button).

    The text is filled from a named contact (its recipient fields too, when it
    is in the campaign) or, without one, from the first recipient whose values
    fill the template; ``values`` overlay either. The message goes through
    ``gateway`` from the campaign's sender and is *not* a send of the campaign:
    no send is stored and no count changes. It never goes to a suppressed
    number, nor to one whose contact opted out. The campaign's timeline records
    it (a ``test_sent`` entry naming the step, the number and the provider's
    message id), which changes no count. No status callback is asked for.

    Args:
        storage: Where the campaign is.
        gateway: How the message goes out.
        campaign_id: The campaign.
        step_id: The step to render.
        to: The number to send it to (E.164, or national with ``region``).
        contact_id: The contact whose values fill the template.
        values: Template values that win over the contact's (e.g. a sample link).
        now: When (aware; default: the system clock).
        by: Who sent the test (recorded on the timeline).
        region: Where a national ``to`` is dialled.

    Returns:
        What was sent, and the provider's receipt.

    Raises:
        SuppressedNumber: ``to`` is on the account's suppression list, or a
            contact holding it opted out.
        MissingField: The template needs a value nobody gave.
        InvalidCampaign: The campaign has no such step.
        ConfigurationError: The campaign has no sender, or ``to`` cannot take SMS.
        NotFound: No such campaign, or no such contact.
        InvalidPhoneNumber: ``to`` is not a phone number.
        GatewayError: The provider refused the message.
    """
    at = datetime.now(timezone.utc) if now is None else require_aware(now, "now")
    campaign = storage.get_campaign(campaign_id)
    step = campaign.step(step_id)
    phone = to if isinstance(to, PhoneNumber) else PhoneNumber.parse(to, region, lenient=True)
    if not phone.kind.can_receive_sms:
        raise ConfigurationError(
            f"{phone.e164} is a {phone.kind.value} number, which cannot take SMS", value=phone.e164
        )
    _refuse_unsendable(storage, phone.e164, campaign.account)
    if not campaign.sender:
        raise ConfigurationError(f"campaign {campaign.id!r} has no sender", value=campaign.id)
    if contact_id is not None:
        who: str | None = contact_id
        filled = _contact_values(storage, campaign, contact_id)
    else:
        who, filled = _sample_values(storage, campaign, step.id)
    filled.update({normalize_field_name(k): str(v) for k, v in (values or {}).items()})
    try:
        body = step.render(filled)
    except MissingField as exc:
        raise MissingField(
            f"the test of step {step.id!r} needs {{{exc.field}}}: name a contact who has it, "
            "or give a value for it",
            value=exc.value,
            field=exc.field,
        ) from None
    receipt = gateway.send(
        OutboundMessage(
            to=phone.e164,
            sender=campaign.sender,
            body=body,
            idempotency_key=f"test:{campaign.id}:{step.id}:{uuid.uuid4().hex}",
            metadata={"test": "true", "campaign_id": campaign.id, "step_id": step.id},
        )
    )
    sample = f"as {who}" if who else "with given values"
    detail = f"step {step.id} to {phone.e164} {sample} ({receipt.provider_message_id})"
    with storage.transaction():
        hold_campaign(storage, campaign.id)  # another unit may be changing it too
        current = storage.get_campaign(campaign.id)
        last = current.timeline[-1].at if current.timeline else at
        storage.save_campaign(
            current.record(TimelineAction.TEST_SENT, at=max(at, last), cause=by, detail=detail)
        )
    return TestSend(
        campaign_id=campaign.id,
        step_id=step.id,
        to=phone.e164,
        body=body,
        contact_id=who,
        receipt=receipt,
        at=at,
    )


def _refuse_unsendable(storage: Storage, e164: str, account: str) -> None:
    entry = storage.get_suppression(e164, account=account)
    if entry is not None:
        raise SuppressedNumber(
            f"{e164} is on the suppression list of {account!r} "
            f"({SUPPRESSION_CAUSE_LABELS[entry.cause].lower()} since {entry.at.isoformat()}); "
            "nothing is ever sent to it, not even a test",
            value=e164,
            e164=e164,
            cause=entry.cause.value,
        )
    for contact in storage.iter_contacts(account=account, e164=e164):
        if contact.consent is Consent.OPTED_OUT:
            raise SuppressedNumber(
                f"{e164} belongs to contact {contact.id!r}, who opted out; "
                "nothing is sent to it, not even a test",
                value=e164,
                e164=e164,
                cause="opted_out",
            )
