"""The Gateway port: what the runner needs from an SMS provider, and the values it trades.

A :class:`Gateway` does three things, and nothing else:

* :meth:`Gateway.send` hands one :class:`OutboundMessage` to the provider and
  returns its :class:`SendReceipt`, or raises
  :class:`~smscampaign.errors.TemporaryGatewayError` (retry later) or
  :class:`~smscampaign.errors.PermanentGatewayError` (never retry), each
  carrying a :class:`~smscampaign.domain.delivery.FailureReason` and the
  provider's own code and text.
* :meth:`Gateway.parse_status` turns a status callback into
  :class:`~smscampaign.domain.delivery.StatusEvent` objects.
* :meth:`Gateway.parse_inbound` turns an inbound-message callback into
  :class:`~smscampaign.domain.replies.InboundMessage` objects.

Both parsers take a framework-agnostic :class:`WebhookRequest` (method, URL,
headers, raw body) and verify its signature *before* reading it: a request
that does not verify raises
:class:`~smscampaign.errors.WebhookVerificationError` with one deliberately
vague message (:func:`webhook_verification_error`), and a verified request the
adapter cannot read raises :class:`~smscampaign.errors.MalformedWebhook`.
Signatures are compared in constant time against every configured secret, so
keys can rotate (:func:`verify_any`).

Receipts and callbacks meet in one place: :meth:`SendReceipt.to_event` turns
the provider's answer to ``send`` into a status event, so the runner folds it
into the attempt through the same merge as every later callback, whichever
arrives first (providers may deliver a receipt before ``send`` returns).
"""

from __future__ import annotations

import hmac
import json as _json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import attrs

from smscampaign.domain._frozen import FrozenMap, freeze
from smscampaign.domain._time import optional_aware, require_aware
from smscampaign.domain.delivery import DeliveryStatus, StatusEvent
from smscampaign.domain.replies import InboundMessage
from smscampaign.domain.segments import count_segments
from smscampaign.errors import InvalidPhoneNumber, MalformedWebhook, WebhookVerificationError

__all__ = [
    "RECEIPT_STATUSES",
    "Gateway",
    "Headers",
    "OutboundMessage",
    "SendReceipt",
    "WebhookRequest",
    "verify_any",
    "webhook_verification_error",
]

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _to_e164(value: object) -> object:
    # A PhoneNumber (or anything with an ``e164`` attribute) is taken by its E.164 form.
    e164 = getattr(value, "e164", None)
    return e164 if isinstance(e164, str) else value


def _check_e164(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or _E164.fullmatch(value) is None:
        raise InvalidPhoneNumber(
            f"{attribute.name} must be an E.164 number ('+' then up to 15 digits), got {value!r}",
            value=value,
            reason="not_a_number",
        )


def _check_text(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")


def _check_optional_aware(
    _instance: object, attribute: attrs.Attribute[datetime | None], value: datetime | None
) -> None:
    optional_aware(value, attribute.name)


def _freeze(value: Mapping[str, Any] | None) -> FrozenMap[Any]:
    return freeze(value)


def _check_aware(_instance: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    require_aware(value, attribute.name)


@attrs.frozen(kw_only=True)
class OutboundMessage:
    """One SMS to hand to a provider: who to, from which sender, what, and until when.

    The runner builds one per attempt. Its :attr:`idempotency_key` is stable
    for that attempt, so an adapter whose provider honours idempotency keys
    (and the :class:`~smscampaign.providers.simulated.SimulatedGateway`) sends
    it at most once however many times ``send`` is called with it.

    Args:
        to: The recipient's E.164 number; a
            :class:`~smscampaign.domain.phone.PhoneNumber` is taken by its E.164 form.
        sender: Our number, short code, alphanumeric sender id or the
            provider's sending-pool id (e.g. a Twilio Messaging Service SID).
        body: The rendered text.
        idempotency_key: A key unique to this attempt (e.g. ``"<send id>:<attempt>"``).
        valid_until: When the message stops being worth delivering (aware),
            e.g. the close of the recipient's send window; ``None`` leaves the
            provider's default validity period.
        status_callback_url: Where the provider should post status callbacks,
            when it takes one per message.
        metadata: Free text fields the adapter may pass along (tags, campaign id).

    Raises:
        InvalidPhoneNumber: ``to`` is not in E.164 form.
        NaiveDatetimeError: ``valid_until`` has no time zone.
        ValueError: ``sender`` or ``idempotency_key`` is empty.
        TypeError: ``body`` is not a string.
    """

    to: str = attrs.field(converter=_to_e164, validator=_check_e164)
    sender: str = attrs.field(validator=_check_text)
    body: str = attrs.field(validator=attrs.validators.instance_of(str))
    idempotency_key: str = attrs.field(validator=_check_text)
    valid_until: datetime | None = attrs.field(default=None, validator=_check_optional_aware)
    status_callback_url: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    metadata: FrozenMap[Any] = attrs.field(factory=FrozenMap, converter=_freeze)

    @property
    def segments(self) -> int:
        """How many segments the body is billed as (see :func:`~smscampaign.count_segments`)."""
        return count_segments(self.body)

    def validity_period(self, now: datetime) -> timedelta | None:
        """The time left, from ``now``, for the provider to deliver the message.

        Adapters pass it as the provider's validity period (Twilio
        ``ValidityPeriod``, Vonage ``ttl``), clamped to the range the provider
        accepts (Twilio: 1 to 36,000 seconds).

        Args:
            now: The current time (aware).

        Returns:
            ``None`` when the message has no :attr:`valid_until`; otherwise the
            time until then, never negative.

        Raises:
            NaiveDatetimeError: ``now`` has no time zone.
        """
        require_aware(now, "now")
        if self.valid_until is None:
            return None
        return max(self.valid_until - now, timedelta(0))

    def is_expired(self, now: datetime) -> bool:
        """True when :attr:`valid_until` is set and not after ``now``.

        Raises:
            NaiveDatetimeError: ``now`` has no time zone.
        """
        period = self.validity_period(now)
        return period is not None and period <= timedelta(0)


RECEIPT_STATUSES: frozenset[DeliveryStatus] = frozenset(
    {DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT}
)
"""The statuses a provider's answer to ``send`` may report."""


def _receipt_status(value: DeliveryStatus | str) -> DeliveryStatus:
    # Adapters pass a member on their hot path; the enum lookup is for strings.
    status = value if value.__class__ is DeliveryStatus else DeliveryStatus(value)
    assert isinstance(status, DeliveryStatus)
    if status not in RECEIPT_STATUSES:
        raise ValueError(
            f"a send receipt reports one of {sorted(s.value for s in RECEIPT_STATUSES)}, "
            f"got {status.value!r}; later statuses arrive as status callbacks"
        )
    return status


def _to_decimal(value: Decimal | float | str | None) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _check_segments(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"{attribute.name} must be None or an integer >= 1, got {value!r}")


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"part_ids must be a collection of ids, not the string {value!r}")
    return tuple(value)


@attrs.frozen(kw_only=True)
class SendReceipt:
    """What a provider answered when it accepted a message.

    Args:
        provider: The provider's slug.
        provider_message_id: The provider's id for the message (the first
            part's id when the provider numbers parts separately).
        accepted_at: When the provider accepted it (aware).
        status: ``SENDING`` (handed to the provider; the usual answer),
            ``SENT`` (the provider says a carrier already took it) or
            ``QUEUED`` (the provider holds it for a scheduled time).
        provider_status: The provider's own status word (Twilio ``queued``,
            ``accepted``); defaults to ``status``'s value.
        part_ids: Every part's id, first equal to ``provider_message_id``,
            when the provider gives one id per segment (Vonage); empty otherwise.
        segments: Billed segments, when the provider says.
        price: The price, when the provider knows it at send time.
        currency: The price's ISO 4217 currency.
        raw: The provider's response, untouched.

    Raises:
        ValueError: ``status`` is not one of :data:`RECEIPT_STATUSES`, the
            ids are empty, or ``part_ids`` does not start with the message id.
        NaiveDatetimeError: ``accepted_at`` has no time zone.
    """

    provider: str = attrs.field(validator=_check_text)
    provider_message_id: str = attrs.field(validator=_check_text)
    accepted_at: datetime = attrs.field(validator=_check_aware)
    status: DeliveryStatus = attrs.field(default=DeliveryStatus.SENDING, converter=_receipt_status)
    provider_status: str = ""
    part_ids: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    segments: int | None = attrs.field(default=None, validator=_check_segments)
    price: Decimal | None = attrs.field(default=None, converter=_to_decimal)
    currency: str | None = None
    raw: FrozenMap[Any] = attrs.field(factory=FrozenMap, converter=_freeze, eq=False, hash=False)

    @part_ids.validator
    def _check_part_ids(self, _attribute: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
        if value and value[0] != self.provider_message_id:
            raise ValueError(
                f"part_ids must start with provider_message_id {self.provider_message_id!r}, "
                f"got {value!r}"
            )

    def to_event(self) -> StatusEvent:
        """This receipt as a status event, to fold into the attempt like any callback.

        Returns:
            A :class:`~smscampaign.domain.delivery.StatusEvent` at
            :attr:`accepted_at` with this receipt's status, segments, price
            and raw response; for a multipart message with several ids, its
            ``parts`` is the number of ids.
        """
        return StatusEvent(
            provider=self.provider,
            provider_message_id=self.provider_message_id,
            status=self.status,
            occurred_at=self.accepted_at,
            provider_status=self.provider_status or self.status.value,
            segments=self.segments,
            price=self.price,
            parts=len(self.part_ids) if len(self.part_ids) > 1 else None,
            raw=self.raw,
        )


_HeaderSource = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Headers(Mapping[str, str]):
    """HTTP headers: a read-only mapping whose keys ignore case.

    Built from a mapping or from ``(name, value)`` pairs (as WSGI and ASGI
    servers give them). A header given twice keeps both values joined by
    ``", "``, as RFC 9110 section 5.3 combines repeated fields. Iteration
    yields the names as first given.

    Args:
        data: The headers.
    """

    __slots__ = ("_items",)

    def __init__(self, data: _HeaderSource = None) -> None:
        items: dict[str, tuple[str, str]] = {}
        pairs: Iterable[tuple[str, str]] = (
            data.items() if isinstance(data, Mapping) else (data if data is not None else ())
        )
        for name, value in pairs:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
            key = name.lower()
            if key in items:
                first_name, first_value = items[key]
                items[key] = (first_name, f"{first_value}, {value}")
            else:
                items[key] = (name, value)
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {k: v for k, (_, v) in self._items.items()} == {
            str(k).lower(): v for k, v in other.items()
        }

    def __hash__(self) -> int:
        return hash(frozenset((k, v) for k, (_, v) in self._items.items()))

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _to_headers(value: _HeaderSource | Headers) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


def _to_bytes(value: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, bytes):
        raise TypeError(f"body must be bytes, got {type(value).__name__}")
    return value


def _upper(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"method must be an HTTP method such as 'POST', got {value!r}")
    return value.strip().upper()


@attrs.frozen(kw_only=True)
class WebhookRequest:
    """An HTTP request from a provider, as any web framework can build it.

    Signature schemes need the exact public URL the provider called and the
    raw body bytes (re-serialized JSON or a URL rewritten by a proxy breaks
    Twilio, Plivo, Telnyx and MessageBird validation), so those are what this
    holds.

    Args:
        method: The HTTP method, upper-cased.
        url: The full URL the provider called, with scheme, host and query string.
        headers: The headers; a :class:`Headers` (case-insensitive) is built
            from a mapping or from ``(name, value)`` pairs.
        body: The raw body; a ``str`` is encoded as UTF-8.

    Raises:
        ValueError: ``method`` is empty.
        TypeError: ``body`` or a header is not text or bytes.
    """

    method: str = attrs.field(converter=_upper)
    url: str = attrs.field(validator=attrs.validators.instance_of(str))
    headers: Headers = attrs.field(factory=Headers, converter=_to_headers)
    body: bytes = attrs.field(default=b"", converter=_to_bytes)

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters (``""`` if none)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def text(self) -> str:
        """The body decoded as UTF-8.

        Raises:
            MalformedWebhook: The body is not UTF-8.
        """
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedWebhook("webhook body is not UTF-8 text", value=self.body) from error

    def query(self) -> dict[str, str]:
        """The URL's query parameters; a parameter given twice keeps its last value."""
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def form(self) -> dict[str, str]:
        """The form parameters a provider sent.

        For ``GET`` and ``HEAD`` these are the query parameters (Plivo and
        Vonage can call back with GET); otherwise the
        ``application/x-www-form-urlencoded`` body (Twilio, Plivo). A
        parameter given twice keeps its last value.

        Raises:
            MalformedWebhook: The body is not form-encoded UTF-8 text.
        """
        if self.method in ("GET", "HEAD"):
            return self.query()
        if self.content_type not in ("", "application/x-www-form-urlencoded"):
            raise MalformedWebhook(
                f"expected a form-encoded body, got content type {self.content_type!r}",
                value=self.content_type,
            )
        text = self.text()
        try:
            return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
        except ValueError as error:
            raise MalformedWebhook("webhook body is not form-encoded", value=self.body) from error

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            MalformedWebhook: The body is not UTF-8 JSON.
        """
        try:
            return _json.loads(self.text())
        except ValueError as error:
            raise MalformedWebhook("webhook body is not JSON", value=self.body) from error


@runtime_checkable
class Gateway(Protocol):
    """An SMS provider, as the runner uses it.

    Implementations are expected to be safe to call from several worker
    threads. ``send`` is the only method that talks to the provider; the two
    parsers are pure apart from reading configuration (secrets, URLs).
    """

    @property
    def name(self) -> str:
        """The provider's slug (``"twilio"``, ``"simulated"``), as events and receipts carry it."""
        ...

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Hand one message to the provider.

        Args:
            message: The message.

        Returns:
            The provider's receipt.

        Raises:
            TemporaryGatewayError: The provider could not take it now (rate
                limit, outage, full queue); the same message may be retried.
            PermanentGatewayError: The provider refused it for good (invalid
                number, recipient opted out with the carrier); never retry.
        """
        ...

    def parse_status(self, request: WebhookRequest) -> list[StatusEvent]:
        """Verify a status callback, then read the events it reports.

        Parsing the same request twice gives equal events.

        Raises:
            WebhookVerificationError: The signature is missing or wrong.
            MalformedWebhook: The request verified but is not a status callback
                in the provider's format.
        """
        ...

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Verify an inbound-message callback, then read the messages it carries.

        Raises:
            WebhookVerificationError: The signature is missing or wrong.
            MalformedWebhook: The request verified but is not an inbound
                message in the provider's format.
        """
        ...


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def verify_any(candidates: Iterable[str | bytes], expected: str | bytes | None) -> bool:
    """Whether ``expected`` equals one of ``candidates``, compared in constant time.

    Adapters compute the signature each configured secret would give (the
    current one and those being rotated out) and pass them as
    ``candidates``; ``expected`` is the signature the request carried. Every
    candidate is compared with :func:`hmac.compare_digest`, without stopping
    at the first match, so timing reveals neither which secret matched nor
    how much of a signature was right.

    Args:
        candidates: The signatures a genuine request could carry.
        expected: The signature the request carried (``None`` when it had none).

    Returns:
        True when some candidate matches.
    """
    if expected is None:
        return False
    wanted = _as_bytes(expected)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(_as_bytes(candidate), wanted)
    return matched


_VERIFICATION_MESSAGE = "webhook signature verification failed"


def webhook_verification_error(request: WebhookRequest | None = None) -> WebhookVerificationError:
    """The one error every adapter raises when a webhook does not verify.

    It says nothing about *why* (missing header, wrong secret, altered body,
    stale timestamp), so a prober learns nothing from it.

    Args:
        request: The request, kept on the error as ``value`` for logging.

    Returns:
        A :class:`~smscampaign.errors.WebhookVerificationError` to raise.
    """
    return WebhookVerificationError(_VERIFICATION_MESSAGE, value=request)
