"""Contacts (people at an account) and recipients (a contact's place in one campaign)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._checks import checked, to_enum
from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._time import require_aware
from smscampaign.domain._zones import is_known_zone, zone_name
from smscampaign.domain.delivery import DeliveryStatus, Send
from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import ConfigurationError, InvalidTransition

__all__ = [
    "DEFAULT_ACCOUNT",
    "STANDARD_FIELDS",
    "Consent",
    "Contact",
    "ContactStatus",
    "Recipient",
    "ResponseStatus",
    "Suppression",
    "SuppressionCause",
    "normalize_field_name",
    "validate_time_zone",
]

DEFAULT_ACCOUNT = "default"
"""The account single-tenant users live in without ever naming it."""


class Consent(StrEnum):
    """A contact's SMS consent, as seed 001 names it."""

    PENDING_OPT_IN = "pending_opt_in"
    """Asked, not yet answered ("Pending Opt-In")."""
    OPTED_IN = "opted_in"
    """Agreed to receive messages ("Opted In")."""
    OPTED_OUT = "opted_out"
    """Refused or withdrew consent ("Opted Out")."""


class ContactStatus(StrEnum):
    """A recipient's standing in one campaign (seed 000 "Contact Status")."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    """Deactivated for this campaign only; the contact stays reachable elsewhere."""
    UNSUBSCRIBED = "unsubscribed"
    """Projected from the account's suppression list."""
    REMOVED = "removed"


class ResponseStatus(StrEnum):
    """How far the recipient got with what the campaign asks (seed 000 "Response Status").

    Fed by the host application (e.g. a survey tool).
    """

    NOT_STARTED = "not_started"
    PARTIAL = "partial"
    DISQUALIFIED = "disqualified"
    COMPLETE = "complete"


def _to_consent(value: Any) -> Consent:
    return to_enum(Consent, value)


def _to_contactstatus(value: Any) -> ContactStatus:
    return to_enum(ContactStatus, value)


def _to_responsestatus(value: Any) -> ResponseStatus:
    return to_enum(ResponseStatus, value)


_FIELD_NAME = re.compile(r"[^0-9a-z]+")


def normalize_field_name(name: str) -> str:
    """A column or field name as a template placeholder: ``"First Name"`` → ``first_name``.

    Accents are dropped (``"Prénom"`` → ``prenom``) so a French column header
    becomes a placeholder one can type.
    """
    decomposed = unicodedata.normalize("NFKD", name.strip().casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _FIELD_NAME.sub("_", plain).strip("_")


def validate_time_zone(name: str) -> str:
    """Return ``name`` if it is a known IANA time zone, else raise ConfigurationError."""
    if not is_known_zone(name):
        raise ConfigurationError(f"unknown time zone {name!r}; use an IANA name", value=name)
    return name


def _zone_name(value: Any) -> str | None:
    return None if value is None else zone_name(value)


@functools.lru_cache(maxsize=1024)
def _is_field_name(name: str) -> bool:
    """True when ``name`` is already a normalized field name (a map's keys repeat)."""
    return normalize_field_name(name) == name


def _fields(value: Mapping[str, Any] | None) -> FrozenMap[str]:
    if isinstance(value, FrozenMap):
        # Kept as it is when it is what the conversion below makes (as when a
        # contact is evolved); a map built elsewhere gets the same treatment
        # as a dict, so no value is None and every key is a placeholder name.
        data = value._data
        if all(v.__class__ is str for v in data.values()) and all(
            k.__class__ is str and _is_field_name(k) for k in data
        ):
            return value
    if not value:
        return FrozenMap()
    return FrozenMap(
        {normalize_field_name(k): "" if v is None else str(v) for k, v in value.items()}
    )


def _non_empty(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or not value.strip():
        raise ConfigurationError(f"{attribute.name} must not be empty, got {value!r}", value=value)


@attrs.frozen(kw_only=True)
class Contact:
    """A person at an account level.

    Args:
        id: The contact's id, unique in its account.
        phone: The contact's number.
        first_name: Given name.
        last_name: Family name.
        email: E-mail address, if known (kept for the host application).
        fields: Free custom fields (e.g. CSV columns), keys normalized to lower_snake.
        consent: SMS consent; PENDING_OPT_IN unless the host application knows better.
        time_zone: An explicit IANA zone that wins over what the number suggests.
        account: The account the contact belongs to.
    """

    id: str = attrs.field(validator=_non_empty)
    phone: PhoneNumber = attrs.field(validator=checked(attrs.validators.instance_of(PhoneNumber)))
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    fields: FrozenMap[str] = attrs.field(factory=FrozenMap, converter=_fields)
    consent: Consent = attrs.field(default=Consent.PENDING_OPT_IN, converter=_to_consent)
    time_zone: str | None = attrs.field(default=None, converter=_zone_name)
    account: str = attrs.field(default=DEFAULT_ACCOUNT, validator=_non_empty)

    @property
    def full_name(self) -> str:
        """First and last name joined by a space (either may be missing)."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def template_values(self) -> dict[str, str]:
        """The values a message template may use for this contact.

        Custom fields come first so a column named like a standard field
        (``first_name``) cannot shadow the contact's own value.
        """
        # to_dict(): a C-level copy; dict() of a Mapping reads it key by key in Python.
        values = self.fields.to_dict()
        values.update(
            first_name=self.first_name,
            last_name=self.last_name,
            full_name=self.full_name,
            email=self.email,
            phone=self.phone.e164,
        )
        return values

    def with_consent(self, consent: Consent) -> Contact:
        """The same contact with another consent."""
        return attrs.evolve(self, consent=consent)


STANDARD_FIELDS = frozenset({"first_name", "last_name", "full_name", "email", "phone"})


def _send_tuple(value: Iterable[Send]) -> tuple[Send, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Recipient:
    """A contact's membership in one campaign, with its sends.

    Args:
        campaign_id: The campaign.
        contact: The contact (its number is the one messages go to).
        status: ACTIVE, INACTIVE, UNSUBSCRIBED or REMOVED for this campaign.
        response: The response status the host application reports.
        list_name: The list the recipient came from (e.g. the CSV file name).
        fields: Per-recipient template values (e.g. a personal survey link).
        sends: Its sends, oldest first (more than one per step only after a number change).
    """

    campaign_id: str = attrs.field(validator=_non_empty)
    contact: Contact = attrs.field(validator=checked(attrs.validators.instance_of(Contact)))
    status: ContactStatus = attrs.field(default=ContactStatus.ACTIVE, converter=_to_contactstatus)
    response: ResponseStatus = attrs.field(
        default=ResponseStatus.NOT_STARTED, converter=_to_responsestatus
    )
    list_name: str = ""
    fields: FrozenMap[str] = attrs.field(factory=FrozenMap, converter=_fields)
    sends: tuple[Send, ...] = attrs.field(default=(), converter=_send_tuple)

    @property
    def id(self) -> str:
        """The recipient's id: its contact's id."""
        return self.contact.id

    @property
    def phone(self) -> PhoneNumber:
        """The number messages go to."""
        return self.contact.phone

    @property
    def time_zone(self) -> str | None:
        """The contact's explicit zone, if any."""
        return self.contact.time_zone

    def template_values(self) -> dict[str, str]:
        """The contact's values, overlaid with this recipient's own fields."""
        values = self.contact.template_values()
        if self.fields:
            values.update(self.fields.to_dict())
        return values

    def sends_for(self, step_id: str) -> tuple[Send, ...]:
        """Every send of one step to this recipient, oldest first."""
        return tuple(send for send in self.sends if send.step_id == step_id)

    def latest_send(self, step_id: str) -> Send | None:
        """The newest send of one step, if any."""
        for send in reversed(self.sends):
            if send.step_id == step_id:
                return send
        return None

    def with_send(self, send: Send) -> Recipient:
        """Add ``send``, or replace the send with the same id."""
        if send.recipient_id != self.id or send.campaign_id != self.campaign_id:
            raise InvalidTransition(
                f"send {send.id} belongs to {send.campaign_id}/{send.recipient_id}, "
                f"not {self.campaign_id}/{self.id}",
                value=send,
            )
        sends = [s for s in self.sends if s.id != send.id]
        if len(sends) == len(self.sends):
            return attrs.evolve(self, sends=(*self.sends, send))
        return attrs.evolve(self, sends=tuple(send if s.id == send.id else s for s in self.sends))

    def with_status(self, status: ContactStatus) -> Recipient:
        """The same recipient with another contact status."""
        return attrs.evolve(self, status=status)

    def with_response(self, response: ResponseStatus) -> Recipient:
        """The same recipient with another response status."""
        return attrs.evolve(self, response=response)

    def with_contact(self, contact: Contact) -> Recipient:
        """The same recipient pointing at an updated contact (e.g. a corrected number)."""
        if contact.id != self.contact.id:
            raise InvalidTransition(
                f"recipient {self.id} cannot take contact {contact.id}", value=contact
            )
        return attrs.evolve(self, contact=contact)

    def delivered_steps(self) -> frozenset[str]:
        """The ids of the steps with a delivered send."""
        return frozenset(s.step_id for s in self.sends if s.status is DeliveryStatus.DELIVERED)


class SuppressionCause(StrEnum):
    """Why a number is on an account's suppression list."""

    STOP_WORD = "stop_word"
    """The recipient replied a stop keyword; only their own opt-in lifts it."""
    CARRIER_OPT_OUT = "carrier_opt_out"
    """The provider or carrier reported the recipient opted out (e.g. Twilio 21610)."""
    HARD_BOUNCE = "hard_bounce"
    """A permanent failure said the number is invalid or cannot take SMS."""
    MANUAL = "manual"
    """Added by hand, by an operator or the host application."""

    @property
    def lifted_by_opt_in(self) -> bool:
        """True when the number's own opt-in (START) lifts this suppression."""
        return self in (SuppressionCause.STOP_WORD, SuppressionCause.CARRIER_OPT_OUT)


def _to_suppressioncause(value: Any) -> SuppressionCause:
    return to_enum(SuppressionCause, value)


@attrs.frozen(kw_only=True)
class Suppression:
    """One entry of an account's suppression list, keyed by E.164 number.

    A suppressed number is never sent to, in any campaign of the account,
    however it was added; re-adding it as a new contact changes nothing.

    Args:
        e164: The number.
        cause: Why it is suppressed.
        at: When it was added.
        account: The account whose list it is on.
        detail: The reply text, the provider's code, or the operator's note.
        campaign_id: The campaign that caused it, if any.
        by: Who added it (for MANUAL entries), or the provider's slug.
    """

    e164: str = attrs.field(validator=checked(attrs.validators.matches_re(r"^\+[1-9][0-9]{1,14}$")))
    cause: SuppressionCause = attrs.field(converter=_to_suppressioncause)
    at: datetime = attrs.field(validator=lambda _i, _a, v: require_aware(v, "Suppression.at"))
    account: str = attrs.field(default=DEFAULT_ACCOUNT, validator=_non_empty)
    detail: str = ""
    campaign_id: str | None = None
    by: str = ""
