"""InMemoryStorage: the reference Storage, for tests and small scripts.

Everything lives in plain dictionaries of immutable domain objects. It is the
adapter every other one is compared to (see :mod:`smscampaign.testing.contracts`),
so it favours being obviously right: every write inside a unit of work logs
how to undo itself, and an error replays that log backwards. Stored objects are
immutable and returned as they are, never copied. Use it in your own tests
instead of mocking storage; it keeps everything your code did, ready to assert on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import attrs

from smscampaign.domain.campaign import Campaign, CampaignState
from smscampaign.domain.contact import DEFAULT_ACCOUNT, Consent, Contact, Recipient, Suppression
from smscampaign.domain.delivery import DeliveryStatus, Send, StatusEvent
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import AlreadyExists, NotFound
from smscampaign.providers.base import (
    CONTACT_GROUPS,
    DEFAULT_LEASE,
    RECIPIENT_GROUPS,
    SEND_GROUPS,
    EventOutcome,
    LogCursor,
    LogFilter,
    SuppressionRemoval,
    check_claim,
    check_groups,
    check_limit,
    check_period,
    send_reason,
)

__all__ = ["InMemoryStorage"]

_MessageKey = tuple[str, str]
_MISSING: Any = object()  # "the key was absent" in an undo entry


@attrs.frozen
class _Member:
    """A recipient's own columns; its contact and sends are looked up on read.

    Immutable: an update stores a new member, so the undo log can put the old
    one back and a cached view can tell it is stale by identity.
    """

    account: str
    contact_id: str
    recipient: Recipient  # stored without sends; its contact is replaced on read


@attrs.frozen
class _View:
    """A recipient as last built for a read, with the parts it was built from."""

    member: _Member
    contact: Contact
    sends: tuple[Send, ...]
    recipient: Recipient


@attrs.define
class _State:
    contacts: dict[tuple[str, str], Contact] = attrs.Factory(dict)
    # (account, e164) -> contact ids holding it, first saved first
    by_number: dict[tuple[str, str], list[str]] = attrs.Factory(dict)
    suppressions: dict[tuple[str, str], Suppression] = attrs.Factory(dict)
    removals: list[SuppressionRemoval] = attrs.Factory(list)
    campaigns: dict[str, Campaign] = attrs.Factory(dict)
    members: dict[str, dict[str, _Member]] = attrs.Factory(dict)
    sends: dict[str, Send] = attrs.Factory(dict)  # insertion order = creation order
    send_ids: dict[tuple[str, str], list[str]] = attrs.Factory(dict)
    messages: dict[_MessageKey, str] = attrs.Factory(dict)
    claims: dict[str, tuple[str, datetime]] = attrs.Factory(dict)
    events: list[StatusEvent] = attrs.Factory(list)
    event_keys: set[str] = attrs.Factory(set)
    parked: list[StatusEvent] = attrs.Factory(list)
    inbound: list[InboundMessage] = attrs.Factory(list)
    inbound_keys: set[tuple[str, str]] = attrs.Factory(set)


class _UndoLog:
    """The inverse of every write made inside a unit of work, newest last.

    Writes go through these methods instead of touching containers directly:
    outside a unit of work (``active`` False) they just write; inside one
    they first record how to undo the write. A unit of work remembers the
    log's length when it opens and, on error, :meth:`undo_to` replays the
    entries after that mark in reverse, which also makes savepoints work.
    The cost is a few tuples per write instead of a copy of the whole state
    per unit of work.
    """

    __slots__ = ("active", "entries")

    def __init__(self) -> None:
        self.active = False
        self.entries: list[tuple[Any, ...]] = []

    def put(self, mapping: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        """``mapping[key] = value``."""
        if self.active:
            self.entries.append((0, mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def drop(self, mapping: MutableMapping[Any, Any], key: Any) -> Any:
        """``mapping.pop(key, None)``."""
        old = mapping.pop(key, _MISSING)
        if old is _MISSING:
            return None
        if self.active:
            self.entries.append((0, mapping, key, old))
        return old

    def append(self, items: list[Any], item: Any) -> None:
        """``items.append(item)``."""
        if self.active:
            self.entries.append((1, items, len(items)))
        items.append(item)

    def add(self, members: set[Any], item: Any) -> None:
        """``members.add(item)``."""
        if item in members:
            return
        if self.active:
            self.entries.append((2, members, item))
        members.add(item)

    def assign(self, obj: object, name: str, value: Any) -> None:
        """``setattr(obj, name, value)``."""
        if self.active:
            self.entries.append((3, obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def undo_to(self, mark: int) -> None:
        """Undo every write logged after ``mark``, newest first."""
        entries = self.entries
        while len(entries) > mark:
            entry = entries.pop()
            op = entry[0]
            if op == 0:
                _, mapping, key, old = entry
                if old is _MISSING:
                    mapping.pop(key, None)
                else:
                    mapping[key] = old
            elif op == 1:
                del entry[1][entry[2] :]
            elif op == 2:
                entry[1].discard(entry[2])
            else:
                setattr(entry[1], entry[2], entry[3])


def _message_keys(send: Send) -> list[_MessageKey]:
    # Every id the provider may name an attempt by: its own, and each part's.
    return [
        (a.provider or "", message_id)
        for a in send.attempts
        if a.provider_message_id is not None
        for message_id in dict.fromkeys((a.provider_message_id, *a.part_ids))
    ]


class InMemoryStorage:
    """The reference :class:`~smscampaign.providers.base.Storage`, held in memory.

    Thread-safe: a unit of work holds a lock, so concurrent units run one
    after the other. Nested :meth:`transaction` blocks are savepoints. A
    unit of work costs in proportion to what it writes, not to what is
    stored: each write logs its inverse, replayed on error. Every method
    checks its whole input before changing anything, so a call that raises
    has changed nothing.

    Example::

        storage = InMemoryStorage()
        with storage.transaction():
            storage.add_campaign(campaign)
            storage.add_recipients(recipients)
    """

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()
        self._depth = 0
        self._log = _UndoLog()
        # Recipients as last read, rebuilt only when a part of them changed.
        self._views: dict[tuple[str, str, bool], _View] = {}

    # -- unit of work ----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Open a unit of work; nested blocks are savepoints.

        Raises:
            Whatever the block raises, after undoing what the block did.
        """
        with self._lock:
            log = self._log
            mark = len(log.entries)
            self._depth += 1
            log.active = True
            try:
                yield
            except BaseException:
                log.undo_to(mark)
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    log.active = False
                    log.entries.clear()

    # -- contacts --------------------------------------------------------------

    def save_contacts(self, contacts: Iterable[Contact]) -> int:
        """Insert or replace contacts, keyed by (account, id); returns how many."""
        count = 0
        with self._lock:
            state = self._state
            log = self._log
            for contact in contacts:
                key = (contact.account, contact.id)
                old = state.contacts.get(key)
                if old is not None and old.phone.e164 != contact.phone.e164:
                    number = (old.account, old.phone.e164)
                    log.put(
                        state.by_number, number, [i for i in state.by_number[number] if i != old.id]
                    )
                if old is None or old.phone.e164 != contact.phone.e164:
                    number = (contact.account, contact.phone.e164)
                    holders = state.by_number.get(number)
                    if holders is None:
                        log.put(state.by_number, number, [contact.id])
                    else:
                        log.append(holders, contact.id)
                log.put(state.contacts, key, contact)
                count += 1
        return count

    def get_contact(self, contact_id: str, *, account: str = DEFAULT_ACCOUNT) -> Contact:
        """The contact with that id.

        Raises:
            NotFound: The account has no contact with that id.
        """
        contact = self._state.contacts.get((account, contact_id))
        if contact is None:
            raise NotFound(f"no contact {contact_id!r} in account {account!r}", value=contact_id)
        return contact

    def find_contacts(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Contact]:
        """Contacts by E.164 number; for a shared number, the contact saved first."""
        found: dict[str, Contact] = {}
        with self._lock:
            for e164 in e164s:
                ids = self._state.by_number.get((account, e164))
                if ids:
                    found[e164] = self._state.contacts[(account, ids[0])]
        return found

    # -- suppression list ------------------------------------------------------

    def suppress(self, suppression: Suppression) -> bool:
        """Put a number on its account's list; False when it was there already."""
        with self._lock:
            key = (suppression.account, suppression.e164)
            if key in self._state.suppressions:
                return False
            self._log.put(self._state.suppressions, key, suppression)
            return True

    def unsuppress(
        self, e164: str, *, account: str = DEFAULT_ACCOUNT, at: datetime, by: str, reason: str = ""
    ) -> SuppressionRemoval | None:
        """Take a number off the list, logging the act; None when it was not on it."""
        with self._lock:
            entry = self._state.suppressions.get((account, e164))
            if entry is None:
                return None
            removal = SuppressionRemoval(suppression=entry, at=at, by=by, reason=reason)
            self._log.drop(self._state.suppressions, (account, e164))
            self._log.append(self._state.removals, removal)
            return removal

    def get_suppression(self, e164: str, *, account: str = DEFAULT_ACCOUNT) -> Suppression | None:
        """The list entry for a number, or None."""
        return self._state.suppressions.get((account, e164))

    def find_suppressions(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Suppression]:
        """The list entries for several numbers at once."""
        found: dict[str, Suppression] = {}
        with self._lock:
            for e164 in e164s:
                entry = self._state.suppressions.get((account, e164))
                if entry is not None:
                    found[e164] = entry
        return found

    def iter_suppressions(self, *, account: str = DEFAULT_ACCOUNT) -> Iterator[Suppression]:
        """Every entry of an account's list, by number."""
        with self._lock:
            entries = sorted(
                (s for (acc, _), s in self._state.suppressions.items() if acc == account),
                key=lambda s: s.e164,
            )
        yield from entries

    def iter_suppression_removals(
        self, *, account: str = DEFAULT_ACCOUNT
    ) -> Iterator[SuppressionRemoval]:
        """The log of removals, oldest first."""
        with self._lock:
            removals = [r for r in self._state.removals if r.suppression.account == account]
        yield from removals

    # -- campaigns -------------------------------------------------------------

    def add_campaign(self, campaign: Campaign) -> None:
        """Store a new campaign.

        Raises:
            AlreadyExists: A campaign has that id.
        """
        with self._lock:
            if campaign.id in self._state.campaigns:
                raise AlreadyExists(f"campaign {campaign.id!r} exists already", value=campaign.id)
            self._log.put(self._state.campaigns, campaign.id, campaign)
            self._log.put(self._state.members, campaign.id, {})

    def save_campaign(self, campaign: Campaign) -> None:
        """Replace a stored campaign.

        Raises:
            NotFound: No campaign has that id.
        """
        with self._lock:
            self._campaign(campaign.id)
            self._log.put(self._state.campaigns, campaign.id, campaign)

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with that id.

        Raises:
            NotFound: No campaign has that id.
        """
        return self._campaign(campaign_id)

    def _campaign(self, campaign_id: str) -> Campaign:
        campaign = self._state.campaigns.get(campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}", value=campaign_id)
        return campaign

    def iter_campaigns(self, *, account: str | None = None) -> Iterator[Campaign]:
        """Campaigns (of one account, or all), by id."""
        with self._lock:
            found = sorted(
                (c for c in self._state.campaigns.values() if account in (None, c.account)),
                key=lambda c: c.id,
            )
        yield from found

    # -- recipients ------------------------------------------------------------

    def add_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Add recipients to their campaigns; returns how many were new.

        Raises:
            NotFound: A recipient's campaign is not stored.
        """
        added = 0
        recipients = list(recipients)
        with self._lock:
            state = self._state
            for campaign_id in {r.campaign_id for r in recipients}:
                self._campaign(campaign_id)  # check everything before changing anything
            for recipient in recipients:
                group = state.members[recipient.campaign_id]
                if recipient.id in group:
                    continue
                contact = recipient.contact
                if (contact.account, contact.id) not in state.contacts:
                    self.save_contacts([contact])
                self._log.put(
                    group,
                    recipient.id,
                    _Member(
                        account=contact.account,
                        contact_id=contact.id,
                        recipient=attrs.evolve(recipient, sends=())
                        if recipient.sends
                        else recipient,
                    ),
                )
                added += 1
        return added

    def update_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Save status, response, list name and fields of existing recipients.

        Raises:
            NotFound: A recipient is not stored.
        """
        count = 0
        recipients = list(recipients)
        with self._lock:
            members = [self._member(r.campaign_id, r.id) for r in recipients]
            for recipient, member in zip(recipients, members, strict=True):
                updated = attrs.evolve(
                    member.recipient,
                    status=recipient.status,
                    response=recipient.response,
                    list_name=recipient.list_name,
                    fields=recipient.fields,
                )
                self._log.put(
                    self._state.members[recipient.campaign_id],
                    recipient.id,
                    attrs.evolve(member, recipient=updated),
                )
                count += 1
        return count

    def _member(self, campaign_id: str, contact_id: str) -> _Member:
        member = self._state.members.get(campaign_id, {}).get(contact_id)
        if member is None:
            raise NotFound(
                f"no recipient {contact_id!r} in campaign {campaign_id!r}", value=contact_id
            )
        return member

    def _recipient(self, member: _Member, campaign_id: str, with_sends: bool) -> Recipient:
        state = self._state
        contact = state.contacts[(member.account, member.contact_id)]
        sends: tuple[Send, ...] = ()
        if with_sends:
            ids = state.send_ids.get((campaign_id, member.contact_id), ())
            sends = tuple([state.sends[i] for i in ids])
        if not sends and member.recipient.contact is contact:
            return member.recipient  # stored as it reads: nothing to add
        # Building a Recipient runs its converters and validators; reuse the
        # last one built unless one of its parts was replaced since (stored
        # objects are immutable, so identity says whether they changed).
        key = (campaign_id, member.contact_id, with_sends)
        view = self._views.get(key)
        if (
            view is not None
            and view.member is member
            and view.contact is contact
            and view.sends == sends  # element identity short-circuits equality
        ):
            return view.recipient
        recipient = attrs.evolve(member.recipient, contact=contact, sends=sends)
        self._views[key] = _View(member=member, contact=contact, sends=sends, recipient=recipient)
        return recipient

    def get_recipient(self, campaign_id: str, contact_id: str) -> Recipient:
        """One recipient with its current contact and its sends.

        Raises:
            NotFound: The campaign has no such recipient.
        """
        with self._lock:
            return self._recipient(self._member(campaign_id, contact_id), campaign_id, True)

    def get_recipients(
        self, campaign_id: str, contact_ids: Iterable[str], *, with_sends: bool = False
    ) -> dict[str, Recipient]:
        """Several recipients at once, by contact id (ids not in the campaign are left out)."""
        with self._lock:
            members = self._state.members.get(campaign_id, {})
            return {
                contact_id: self._recipient(members[contact_id], campaign_id, with_sends)
                for contact_id in dict.fromkeys(contact_ids)
                if contact_id in members
            }

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Iterator[Recipient]:
        """A campaign's recipients in the order they were added."""
        with self._lock:
            members = list(self._state.members.get(campaign_id, {}).values())
        for member in members:
            with self._lock:
                recipient = self._recipient(member, campaign_id, with_sends)
            yield recipient

    # -- sends -----------------------------------------------------------------

    def save_sends(self, sends: Iterable[Send], *, new_only: bool = False) -> list[Send]:
        """Insert or replace sends; returns them as stored (parked events applied).

        With ``new_only``, sends whose ids are stored already are left as they are.

        Raises:
            NotFound: A send's recipient is not stored.
        """
        saved: list[Send] = []
        sends = list(sends)
        with self._lock:
            state = self._state
            if new_only:
                sends = [s for s in sends if s.id not in state.sends]
            for send in sends:
                self._member(send.campaign_id, send.recipient_id)  # check all first
            log = self._log
            for send in sends:
                send = self._apply_parked(send)
                old = state.sends.get(send.id)
                if old is None:
                    owner = (send.campaign_id, send.recipient_id)
                    ids = state.send_ids.get(owner)
                    if ids is None:
                        log.put(state.send_ids, owner, [send.id])
                    else:
                        log.append(ids, send.id)
                else:
                    for key in _message_keys(old):
                        log.drop(state.messages, key)
                for key in _message_keys(send):
                    log.put(state.messages, key, send.id)
                log.put(state.sends, send.id, send)
                log.drop(state.claims, send.id)
                saved.append(send)
        return saved

    def _apply_parked(self, send: Send) -> Send:
        state = self._state
        if not state.parked:
            return send
        keys = {
            (a.provider, message_id)
            for a in send.attempts
            for message_id in (a.provider_message_id, *a.part_ids)
        }
        keep: list[StatusEvent] = []
        for event in state.parked:
            if (event.provider, event.provider_message_id) in keys or (
                None,
                event.provider_message_id,
            ) in keys:
                send = send.apply(event)
            else:
                keep.append(event)
        if len(keep) != len(state.parked):
            self._log.assign(state, "parked", keep)
        return send

    def get_send(self, send_id: str) -> Send:
        """The send with that id.

        Raises:
            NotFound: No send has that id.
        """
        send = self._state.sends.get(send_id)
        if send is None:
            raise NotFound(f"no send {send_id!r}", value=send_id)
        return send

    def find_send(self, provider: str, provider_message_id: str) -> Send | None:
        """The send one of whose attempts has that provider message id."""
        with self._lock:
            send_id = self._state.messages.get((provider, provider_message_id))
            if send_id is None:
                send_id = self._state.messages.get(("", provider_message_id))
            return None if send_id is None else self._state.sends[send_id]

    def iter_sends(
        self,
        campaign_id: str,
        *,
        step_id: str | None = None,
        recipient_id: str | None = None,
    ) -> Iterator[Send]:
        """A campaign's sends (of one step and/or recipient), oldest first."""
        with self._lock:
            found = [
                s
                for s in self._state.sends.values()
                if s.campaign_id == campaign_id
                and step_id in (None, s.step_id)
                and recipient_id in (None, s.recipient_id)
            ]
        yield from found

    def claim_due_sends(
        self, worker: str, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
    ) -> list[Send]:
        """Atomically reserve up to ``limit`` due sends for one worker.

        Raises:
            ConfigurationError: ``limit`` is negative or ``lease`` not positive.
        """
        check_claim(limit, lease)
        with self._lock:
            state = self._state
            due = [
                s
                for s in state.sends.values()
                if s.status is DeliveryStatus.QUEUED
                and (s.due_at is None or s.due_at <= now)
                and state.campaigns[s.campaign_id].state is CampaignState.IN_PROGRESS
                and (s.id not in state.claims or state.claims[s.id][1] <= now)
            ]
            due.sort(key=lambda s: (s.due_at or s.created_at, s.id))
            chosen = due[:limit]
            for send in chosen:
                self._log.put(state.claims, send.id, (worker, now + lease))
        return chosen

    # -- provider events -------------------------------------------------------

    def record_events(self, events: Iterable[StatusEvent]) -> EventOutcome:
        """Append events to the log and apply each new one to its attempt."""
        stored = duplicates = parked = 0
        touched: dict[str, Send] = {}
        with self._lock:
            state = self._state
            log = self._log
            for event in events:
                key = event.dedup_key
                if key in state.event_keys:
                    duplicates += 1
                    continue
                log.add(state.event_keys, key)
                log.append(state.events, event)
                stored += 1
                send_id = state.messages.get((event.provider, event.provider_message_id))
                if send_id is None:
                    send_id = state.messages.get(("", event.provider_message_id))
                if send_id is None:
                    log.append(state.parked, event)
                    parked += 1
                    continue
                old = state.sends[send_id]
                send = old.apply(event)
                old_keys = _message_keys(old)
                new_keys = _message_keys(send)
                for mkey in old_keys:
                    if mkey not in new_keys:
                        log.drop(state.messages, mkey)
                for mkey in new_keys:
                    if state.messages.get(mkey) != send_id:
                        log.put(state.messages, mkey, send_id)
                log.put(state.sends, send_id, send)
                touched[send_id] = send  # an update keeps the first-touch position
        return EventOutcome.of(
            touched.values(), stored=stored, duplicates=duplicates, parked=parked
        )

    def iter_events(
        self, *, provider: str | None = None, provider_message_id: str | None = None
    ) -> Iterator[StatusEvent]:
        """The raw event log, in arrival order."""
        with self._lock:
            found = [
                e
                for e in self._state.events
                if provider in (None, e.provider)
                and provider_message_id in (None, e.provider_message_id)
            ]
        yield from found

    def iter_parked_events(self) -> Iterator[StatusEvent]:
        """Events still waiting for an attempt with their provider message id."""
        with self._lock:
            found = list(self._state.parked)
        yield from found

    # -- inbound messages ------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> bool:
        """Store a reply; False when the same (provider, id) was stored already."""
        with self._lock:
            key = (message.provider, message.provider_message_id)
            if key in self._state.inbound_keys:
                return False
            self._log.add(self._state.inbound_keys, key)
            self._log.append(self._state.inbound, message)
            return True

    def iter_inbound(self, *, account: str | None = None) -> Iterator[InboundMessage]:
        """Stored replies (of one account, or all), in arrival order."""
        with self._lock:
            found = [m for m in self._state.inbound if account in (None, m.account)]
        yield from found

    # -- aggregates ------------------------------------------------------------

    def count_sends(
        self, campaign_id: str, *, by: Sequence[str] = ("step", "status")
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's sends grouped by fields of ``SEND_GROUPS``.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, SEND_GROUPS)
        counts: dict[tuple[str, ...], int] = {}
        with self._lock:
            members = self._state.members.get(campaign_id, {})
            # Only each recipient's latest send of each step counts.
            latest: dict[tuple[str, str], Send] = {}
            for send in self._state.sends.values():
                if send.campaign_id == campaign_id:
                    latest[(send.recipient_id, send.step_id)] = send
            for send in latest.values():
                values = {
                    "step": send.step_id,
                    "status": send.status.value,
                    "reason": send_reason(send),
                    "list": members[send.recipient_id].recipient.list_name,
                }
                key = tuple(values[n] for n in names)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def count_recipients(
        self, campaign_id: str, *, by: Sequence[str] = ("status",)
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's recipients grouped by fields of ``RECIPIENT_GROUPS``.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, RECIPIENT_GROUPS)
        counts: dict[tuple[str, ...], int] = {}
        with self._lock:
            for member in self._state.members.get(campaign_id, {}).values():
                r = member.recipient
                values = {
                    "status": r.status.value,
                    "response": r.response.value,
                    "list": r.list_name,
                }
                key = tuple(values[n] for n in names)
                counts[key] = counts.get(key, 0) + 1
        return counts

    # -- account views -----------------------------------------------------------

    def iter_sms_log(
        self,
        where: LogFilter | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
        after: LogCursor | None = None,
        limit: int | None = None,
    ) -> Iterator[Send]:
        """An account's messages by ``(created_at, id)``, filtered, after a cursor.

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        check_limit(limit)
        where = where or LogFilter()
        with self._lock:
            state = self._state
            found = [
                s
                for s in state.sends.values()
                if state.campaigns[s.campaign_id].account == account
                and where.matches(s)
                and (after is None or after.precedes(s))
            ]
        found.sort(key=lambda s: (s.created_at, s.id))
        yield from found if limit is None else found[:limit]

    def iter_replies(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        sender: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[InboundMessage]:
        """An account's replies by ``received_at``, then arrival.

        Raises:
            NaiveDatetimeError: A bound is naive.
            ConfigurationError: ``until`` is not after ``since``.
        """
        check_period(since, until)
        with self._lock:
            found = [
                m
                for m in self._state.inbound
                if m.account == account
                and sender in (None, m.sender.e164)
                and (since is None or m.received_at >= since)
                and (until is None or m.received_at < until)
            ]
        found.sort(key=lambda m: m.received_at)  # stable: arrival order among equal times
        yield from found

    def iter_contacts(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        consent: Consent | None = None,
        e164: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Contact]:
        """An account's contacts by id, optionally of one consent or number.

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        check_limit(limit)
        with self._lock:
            found = sorted(
                (
                    c
                    for (acc, contact_id), c in self._state.contacts.items()
                    if acc == account
                    and consent in (None, c.consent)
                    and e164 in (None, c.phone.e164)
                    and (after is None or contact_id > after)
                ),
                key=lambda c: c.id,
            )
        yield from found if limit is None else found[:limit]

    def count_contacts(
        self, *, account: str = DEFAULT_ACCOUNT, by: Sequence[str] = ("consent",)
    ) -> dict[tuple[str, ...], int]:
        """Count an account's contacts grouped by fields of ``CONTACT_GROUPS``.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, CONTACT_GROUPS)
        counts: dict[tuple[str, ...], int] = {}
        with self._lock:
            for (acc, _), contact in self._state.contacts.items():
                if acc != account:
                    continue
                values = {"consent": contact.consent.value}
                key = tuple(values[n] for n in names)
                counts[key] = counts.get(key, 0) + 1
        return counts
