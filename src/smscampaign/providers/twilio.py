"""TwilioGateway: Twilio Programmable Messaging through the official ``twilio`` SDK.

Sending goes through ``twilio.rest.Client(...).messages.create``; nothing here
speaks HTTP to Twilio by hand. The SDK is an optional extra
(``pip install "smscampaign[twilio]"``): importing this module does not import
it, and constructing a :class:`TwilioGateway` without it raises
:class:`~smscampaign.errors.MissingDependency`.

What Twilio says is mapped onto our vocabulary by three plain tables, each
entry with its source beside it, read with a fallback so a new word or code
degrades instead of crashing:

* :data:`STATUSES`: Twilio's ``MessageStatus`` word -> our
  :class:`~smscampaign.domain.delivery.DeliveryStatus` (``None`` for a word we
  cannot map: the event is kept, and changes nothing).
* :data:`ERROR_CODES`: Twilio's error code -> ``(FailureReason, permanent?)``,
  for the codes ``messages.create`` answers with (21xxx, 20xxx) and those
  status callbacks carry (30xxx).
* :data:`FAILURE_STATUSES`: the words whose reason the error code gives.

Callbacks are verified before they are read: ``X-Twilio-Signature`` is
``base64(HMAC-SHA1(auth token, URL + every POST parameter sorted by name,
name then value))``, checked against the URL as given, with and without its
port (Twilio's known inconsistency), for the current and every previous auth
token, in constant time. See ``docs/providers.md`` for the facts and their
sources.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from smscampaign.domain._time import require_aware
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Permanence, StatusEvent
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import (
    ConfigurationError,
    GatewayError,
    MalformedWebhook,
    MissingDependency,
    PermanentGatewayError,
    SmsCampaignError,
    TemporaryGatewayError,
)
from smscampaign.providers.gateway import (
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
    verify_any,
    webhook_verification_error,
)

__all__ = [
    "EMPTY_TWIML",
    "ERROR_CODES",
    "FAILURE_STATUSES",
    "INSTALL_HINT",
    "MAX_VALIDITY_PERIOD",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "STATUSES",
    "TwilioGateway",
    "error_for",
    "signature_urls",
    "twilio_signature",
]

_UTC = timezone.utc

INSTALL_HINT = 'pip install "smscampaign[twilio]"'
"""The command that installs the Twilio SDK as smscampaign's ``twilio`` extra."""

SIGNATURE_HEADER = "X-Twilio-Signature"
"""The header carrying the request's signature (twilio-python ``request_validator.py``)."""

SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
"""The header naming the algorithm (``algorithm=HMAC_SHA256``) when a SharedKey signs.

Absent, the signature is the classic auth-token HMAC-SHA1 (twilio-python 9.x
``request_validator.get_signature_algorithm``).
"""

MAX_VALIDITY_PERIOD = 36_000
"""The largest ``ValidityPeriod`` Twilio accepts, in seconds (1 to 36,000; SDK docstring)."""

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
"""The empty TwiML document an inbound-message webhook answers with: "do nothing"."""

_SLUG = "twilio"

# --- the tables ------------------------------------------------------------------

# Source: twilio-python MessageInstance.Status (rest/api/v2010/account/message),
# meanings from Twilio's "What are the possible SMS and MMS message statuses"
# (support.twilio.com/hc/en-us/articles/223134347), read 2026-08.
STATUSES: Mapping[str, DeliveryStatus | None] = {
    # Messaging Service only: received, Twilio is choosing a sender from the pool.
    "accepted": DeliveryStatus.SENDING,
    # Waiting for SendAt (Message Scheduling): Twilio holds it, not yet on its way.
    "scheduled": DeliveryStatus.QUEUED,
    # Accepted and queued at Twilio: handed to the provider, not yet to a carrier.
    "queued": DeliveryStatus.SENDING,
    "sending": DeliveryStatus.SENDING,
    # "The nearest upstream carrier accepted the message"; may stay the last word.
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    # WhatsApp read receipt: read implies delivered.
    "read": DeliveryStatus.DELIVERED,
    # The reason comes from ErrorCode (see FAILURE_STATUSES); None here is never read.
    "undelivered": None,
    "failed": None,
    # A scheduled message the sender canceled: no status of ours says "withdrawn
    # before sending", and retrying would undo the cancel; kept, changes nothing.
    "canceled": None,
    # In the SDK enum, meaning not documented (providers.md 1.1 [UNVERIFIED]).
    "partially_delivered": None,
    # Inbound directions: never about one of our attempts.
    "receiving": None,
    "received": None,
}
"""Twilio ``MessageStatus`` -> our status (``None``: kept in the log, changes nothing)."""

FAILURE_STATUSES: frozenset[str] = frozenset({"undelivered", "failed"})
"""Twilio's failure words: ``failed`` (never sent, not charged) and ``undelivered``
(the carrier said no, charged). Their reason comes from :data:`ERROR_CODES`."""

# Twilio's own SDK warns that the code for a given cause "is subject to change";
# so this is data, read with a fallback (UNKNOWN). Sender- and account-side
# problems (suspended account, unregistered 10DLC number, geo permissions) map
# to PROVIDER_ERROR, temporary: not the recipient's fault, so never a hard
# bounce that would count against (or suppress) the number; retries are
# bounded and the campaign's soft-bounce threshold suspends it if they persist.
ERROR_CODES: Mapping[str, tuple[FailureReason, bool]] = {
    # --- answered by messages.create (REST, synchronous) ---
    # twilio.com/docs/api/errors/20003: authentication failed (wrong SID/token).
    "20003": (FailureReason.PROVIDER_ERROR, False),
    # twilio.com/docs/errors/20429: too many concurrent requests; "never
    # processed and is always safe to retry".
    "20429": (FailureReason.QUEUE_OVERFLOW, False),
    # 20500 internal error, 20503 service unavailable (twilio.com/docs/api/errors).
    "20500": (FailureReason.PROVIDER_ERROR, False),
    "20503": (FailureReason.PROVIDER_ERROR, False),
    # providers.md 1.2: invalid 'To' number (HTTP 400, nothing sent).
    "21211": (FailureReason.INVALID_NUMBER, True),
    # providers.md 1.2, twilio.com/docs/api/errors/21614: 'To' is not a mobile number.
    "21614": (FailureReason.LANDLINE, True),
    # twilio.com/docs/api/errors/21635: 'To' cannot be a landline.
    "21635": (FailureReason.LANDLINE, True),
    # twilio.com/docs/api/errors/21610: recipient replied STOP; blocked until START.
    "21610": (FailureReason.OPTED_OUT_AT_CARRIER, True),
    # twilio.com/docs/errors/21611: the 'From' number's queue is full (>10 h).
    "21611": (FailureReason.QUEUE_OVERFLOW, False),
    # providers.md 1.2 (secondary): geo permission / To-From pair not routable.
    "21408": (FailureReason.PROVIDER_ERROR, False),
    "21612": (FailureReason.PROVIDER_ERROR, False),
    # --- carried by status callbacks (ErrorCode) ---
    # twilio.com/docs/api/errors/30001: queue overflow.
    "30001": (FailureReason.QUEUE_OVERFLOW, False),
    # twilio.com/docs/api/errors/30002: account suspended.
    "30002": (FailureReason.PROVIDER_ERROR, False),
    # twilio.com/docs/api/errors/30003: handset off or "temporarily unreachable".
    "30003": (FailureReason.UNREACHABLE, False),
    # 30004 message blocked: "carrier or recipient blocked" (secondary sources only);
    # filtered, not an opt-out, so the number is not suppressed on hearsay.
    "30004": (FailureReason.CARRIER_FILTERED, True),
    # 30005 unknown destination handset: "potentially no longer active" (secondary).
    "30005": (FailureReason.INVALID_NUMBER, True),
    # twilio.com/docs/api/errors/30006: landline or unreachable carrier.
    "30006": (FailureReason.LANDLINE, True),
    # twilio.com/docs/api/errors/30007: message filtered (spam, AUP, carrier).
    "30007": (FailureReason.CARRIER_FILTERED, True),
    # 30008 unknown error: unspecified carrier failure, retry (secondary).
    "30008": (FailureReason.CARRIER_ERROR, False),
    # 30009 missing segment of a multipart message (secondary).
    "30009": (FailureReason.CARRIER_ERROR, False),
    # 30010 price exceeds MaxPrice (obsolete since 2024-06-03 per the SDK).
    "30010": (FailureReason.PROVIDER_ERROR, False),
    # 30032 toll-free number not verified [UNVERIFIED]; 30034 unregistered 10DLC sender.
    "30032": (FailureReason.PROVIDER_ERROR, False),
    "30034": (FailureReason.PROVIDER_ERROR, False),
    # twilio.com/docs/api/errors/30036: queued longer than ValidityPeriod.
    "30036": (FailureReason.EXPIRED, False),
    # twilio.com/docs/api/errors/30450: SMS pumping protection, a 15-30 min block.
    "30450": (FailureReason.PROVIDER_ERROR, False),
    # twilio.com/docs/api/errors/63014: the user blocked the channel (WhatsApp etc.).
    "63014": (FailureReason.OPTED_OUT_AT_CARRIER, True),
}
"""Twilio error code -> ``(normalized reason, permanent?)``; unknown codes are ``UNKNOWN``."""


# --- errors ----------------------------------------------------------------------


def error_for(
    code: int | str | None,
    *,
    http_status: int | None = None,
    text: str | None = None,
    value: Any = None,
) -> GatewayError:
    """The typed error for a Twilio error code or HTTP status.

    The code is looked up in :data:`ERROR_CODES`; a code not there falls back
    on the HTTP status (429: ``QUEUE_OVERFLOW``, 5xx: ``PROVIDER_ERROR``, both
    temporary), and anything else is ``UNKNOWN`` with that reason's default
    permanence (temporary: retried a bounded number of times, never suppressing).

    Args:
        code: Twilio's error code (``21211``), if any.
        http_status: The HTTP status of the REST answer, if any.
        text: Twilio's message, kept as ``provider_text``.
        value: The offending value (usually the message), kept on the error.

    Returns:
        A :class:`~smscampaign.errors.PermanentGatewayError` or
        :class:`~smscampaign.errors.TemporaryGatewayError` to raise.
    """
    key = None if code is None else str(code).strip() or None
    entry = ERROR_CODES.get(key or "")
    if entry is not None:
        reason, permanent = entry
    elif http_status == 429:
        reason, permanent = FailureReason.QUEUE_OVERFLOW, False
    elif http_status is not None and http_status >= 500:
        reason, permanent = FailureReason.PROVIDER_ERROR, False
    else:
        reason = FailureReason.UNKNOWN
        permanent = reason.permanence is Permanence.PERMANENT
    kind = PermanentGatewayError if permanent else TemporaryGatewayError
    detail = " ".join(part for part in (key, text) if part) or f"HTTP {http_status}"
    return kind(
        f"Twilio refused the message ({reason.value}): {detail}",
        value=value,
        reason=reason,
        provider_code=key,
        provider_text=text,
    )


# --- signatures ------------------------------------------------------------------

_DIGESTS: Mapping[str, Callable[[], Any]] = {
    "HMAC_SHA1": hashlib.sha1,
    "HMAC_SHA256": hashlib.sha256,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split_port(netloc: str) -> tuple[str, str | None]:
    """``(everything before the port, port)`` of a netloc; a bare IPv6 literal has no port."""
    if netloc.endswith("]"):
        return netloc, None
    head, colon, tail = netloc.rpartition(":")
    if colon and tail.isdigit():
        return head, tail
    return netloc, None


def signature_urls(url: str) -> list[str]:
    """The URLs Twilio may have signed for a request to ``url``.

    Twilio is not consistent about ports (twilio-python issues #392 and #402;
    its ``RequestValidator.validate`` tries both): the URL with any port
    removed and the URL with the scheme's default port added (or its own kept).

    Args:
        url: The full URL the request reached.

    Returns:
        One or two distinct URLs, the one without a port first.
    """
    parts = urlsplit(url)
    host, port = _split_port(parts.netloc)
    without = urlunsplit(parts._replace(netloc=host))
    if port is not None:
        with_port = url
    else:
        default = _DEFAULT_PORTS.get(parts.scheme.lower())
        with_port = (
            url if default is None else urlunsplit(parts._replace(netloc=f"{host}:{default}"))
        )
    return list(dict.fromkeys((without, url, with_port)))


def twilio_signature(
    token: str | bytes,
    url: str,
    params: Iterable[tuple[str, str]] = (),
    *,
    algorithm: str = "HMAC_SHA1",
) -> str:
    """The ``X-Twilio-Signature`` Twilio puts on a request.

    The signed text is the URL followed by every parameter, sorted by name
    and, for a name given several times, by value, each written as name then
    value; the signature is its base64 HMAC with the auth token (twilio-python
    ``RequestValidator.compute_signature``).

    Args:
        token: The auth token (or SharedKey secret).
        url: The full URL Twilio called, query string included.
        params: The POST parameters as ``(name, value)`` pairs (none for GET).
        algorithm: ``HMAC_SHA1`` (the classic auth-token scheme) or ``HMAC_SHA256``.

    Returns:
        The base64 signature.

    Raises:
        ConfigurationError: ``algorithm`` is neither.
    """
    digest = _DIGESTS.get(algorithm.upper())
    if digest is None:
        raise ConfigurationError(f"unknown Twilio signature algorithm {algorithm!r}")
    by_name: dict[str, set[str]] = collections.defaultdict(set)
    for name, value in params:
        by_name[name].add(value)
    text = url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )
    key = token.encode("utf-8") if isinstance(token, str) else token
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), digest).digest()).decode("ascii")


def _algorithm(request: WebhookRequest) -> str | None:
    """The algorithm the settings header names; HMAC_SHA1 when absent; None when unknown."""
    settings = request.headers.get(SIGNATURE_SETTINGS_HEADER, "")
    for part in settings.split(","):
        name, equals, value = part.partition("=")
        if equals and name.strip().lower() == "algorithm" and value.strip():
            chosen = value.strip().upper()
            return chosen if chosen in _DIGESTS else None
    return "HMAC_SHA1"


def _signed_params(request: WebhookRequest) -> list[tuple[str, str]]:
    """The parameters Twilio signed: the form body of a POST, nothing for a GET."""
    if request.method in ("GET", "HEAD") or not request.body:
        return []
    # Decoding must not fail before verification: a body that is not UTF-8
    # simply yields a signature that does not match.
    text = request.body.decode("utf-8", errors="replace")
    return parse_qsl(text, keep_blank_values=True)


# --- the SDK, loaded on first use ---------------------------------------------------


class _Sdk(NamedTuple):
    client: Any
    http_client: Any
    rest_exception: type[BaseException]
    twilio_exception: type[BaseException]
    transport_exception: type[BaseException]


def _load_sdk() -> _Sdk:
    try:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client
    except ImportError as error:
        raise MissingDependency(
            f"TwilioGateway needs the Twilio SDK; install it with: {INSTALL_HINT}",
            value="twilio",
        ) from error
    return _Sdk(
        client=Client,
        http_client=TwilioHttpClient,
        rest_exception=TwilioRestException,
        twilio_exception=TwilioException,
        transport_exception=requests.RequestException,
    )


# --- parsing helpers ---------------------------------------------------------------

_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_CHANNEL_PREFIX = re.compile(r"[a-z]+:(?=\+?[0-9])")
_DLR_DATE = re.compile(r"[0-9]{10}([0-9]{2})?")


def _utc_now() -> datetime:
    return datetime.now(_UTC)


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 1 else None


def _price(value: Any) -> Decimal | None:
    # Twilio reports charges as negative amounts ("-0.00750"); we keep the cost.
    if value is None or str(value).strip() == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return abs(amount) if amount.is_finite() else None


def _dlr_done(value: str | None) -> datetime | None:
    """``RawDlrDoneDate`` (the carrier's ``YYMMDDhhmm[ss]``), read as UTC; None if unreadable."""
    if value is None or _DLR_DATE.fullmatch(value.strip()) is None:
        return None
    text = value.strip()
    try:
        return datetime(
            2000 + int(text[0:2]),
            int(text[2:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12] or 0),
            tzinfo=_UTC,
        )
    except ValueError:
        return None


def _first(params: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = params.get(name, "").strip()
        if value:
            return value
    return None


def _required(params: Mapping[str, str], *names: str) -> str:
    value = _first(params, *names)
    if value is None:
        raise MalformedWebhook(
            f"not a Twilio callback: no {' or '.join(names)} parameter", value=dict(params)
        )
    return value


class _FirstSeen:
    """When each callback identity was first parsed, so a redelivery parses equal.

    Twilio's form callbacks carry no event time; the receiving time stands in,
    and a callback Twilio redelivers (connection override ``rc``) must get the
    same time so it has the same dedup key. Bounded: the oldest entries go first.
    """

    def __init__(self, size: int = 16_384) -> None:
        self._size = size
        self._seen: collections.OrderedDict[tuple[str, ...], datetime] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], moment: Callable[[], datetime]) -> datetime:
        with self._lock:
            found = self._seen.get(key)
            if found is None:
                found = self._seen[key] = moment()
                if len(self._seen) > self._size:
                    self._seen.popitem(last=False)
            return found


# --- the gateway ----------------------------------------------------------------------


class TwilioGateway:
    """Twilio Programmable Messaging as a :class:`~smscampaign.providers.gateway.Gateway`.

    Messages go out through ``twilio.rest.Client(account_sid, auth_token)
    .messages.create``. The sender is chosen in this order: a message whose
    ``sender`` is a Messaging Service SID (``MG`` + 32 hex digits) goes
    through that service; otherwise the gateway's ``messaging_service_sid``,
    then its ``from_``, then the message's own ``sender`` as ``From``.

    Twilio's ``messages.create`` has no idempotency key, so
    :attr:`~smscampaign.providers.gateway.OutboundMessage.idempotency_key` is
    not honoured: a ``send`` retried after a timeout whose request did reach
    Twilio sends the message twice. A REST answer of 429 (error 20429) is
    "never processed and always safe to retry"; a connection error is not
    known either way.

    Status callbacks carry no event time. A callback's ``occurred_at`` is the
    carrier's ``RawDlrDoneDate`` when present (read as UTC, never later than
    the moment it arrived), else the moment this gateway first parsed that
    callback (the same for a redelivery, so duplicates keep one dedup key).
    Ordering never depends on it: the attempt merge ranks statuses first.

    Args:
        account_sid: The account SID (``AC...``).
        auth_token: The auth token: it authenticates REST calls and signs callbacks.
        from_: A sender used for every message instead of the message's own.
        messaging_service_sid: A Messaging Service every message goes through.
        status_callback: The status-callback URL for messages that name none.
        previous_auth_tokens: Tokens still accepted on callbacks while an
            auth token is being rotated (Twilio's secondary token).
        public_url: The public base URL Twilio calls (``https://hooks.example.com``
            or with a path prefix), when a proxy changes the scheme, host or
            prefix the application sees; callbacks are then verified against
            it as well as against the URL they reached.
        client: A ready ``twilio.rest.Client`` (for tests, regions, edges or
            a custom HTTP client); built from the credentials otherwise.
        clock: Gives the current time (aware); the system clock by default.
        timeout: Seconds the default client waits for Twilio's answer.

    Raises:
        MissingDependency: The ``twilio`` package is not installed.
        ConfigurationError: A credential is empty, or both ``from_`` and
            ``messaging_service_sid`` are given.
    """

    name = _SLUG

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        previous_auth_tokens: Sequence[str] = (),
        public_url: str | None = None,
        client: Any = None,
        clock: Callable[[], datetime] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._sdk = _load_sdk()
        for label, value in (("account_sid", account_sid), ("auth_token", auth_token)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"TwilioGateway needs a non-empty {label}", value=label)
        if isinstance(previous_auth_tokens, str):
            raise ConfigurationError(
                "previous_auth_tokens must be a collection of tokens, not one string",
                value="previous_auth_tokens",
            )
        if from_ and messaging_service_sid:
            raise ConfigurationError(
                "give TwilioGateway from_ or messaging_service_sid, not both",
                value=(from_, messaging_service_sid),
            )
        if public_url is not None and not urlsplit(public_url).netloc:
            raise ConfigurationError(
                f"public_url must be an absolute URL such as 'https://hooks.example.com', "
                f"got {public_url!r}",
                value=public_url,
            )
        self.account_sid = account_sid
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.public_url = public_url
        self._tokens = tuple(t for t in (auth_token, *previous_auth_tokens) if t)
        self._clock: Callable[[], datetime] = clock or _utc_now
        self._first_seen = _FirstSeen()
        self.client: Any = (
            client
            if client is not None
            else self._sdk.client(
                account_sid, auth_token, http_client=self._sdk.http_client(timeout=timeout)
            )
        )

    def __repr__(self) -> str:
        return f"TwilioGateway(account_sid={self.account_sid!r})"

    # --- sending ---------------------------------------------------------------------

    def create_params(self, message: OutboundMessage, now: datetime) -> dict[str, Any]:
        """The keyword arguments ``send`` gives ``messages.create`` for ``message``.

        Args:
            message: The message.
            now: The current time (aware), for the validity period.

        Returns:
            ``to``, ``body``, the sender (``from_`` or ``messaging_service_sid``),
            and when they apply ``status_callback`` and ``validity_period``
            (whole seconds, 1 to :data:`MAX_VALIDITY_PERIOD`).

        Raises:
            TemporaryGatewayError: The message's validity period is already
                over (reason ``EXPIRED``); nothing should be sent.
        """
        params: dict[str, Any] = {"to": message.to, "body": message.body}
        if _MESSAGING_SERVICE_SID.fullmatch(message.sender):
            params["messaging_service_sid"] = message.sender
        elif self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_ or message.sender
        callback = message.status_callback_url or self.status_callback
        if callback:
            params["status_callback"] = callback
        period = message.validity_period(now)
        if period is not None:
            seconds = math.ceil(period.total_seconds())
            if seconds <= 0:
                raise TemporaryGatewayError(
                    f"not sent: the message to {message.to} stopped being valid at "
                    f"{message.valid_until}",
                    value=message,
                    reason=FailureReason.EXPIRED,
                )
            params["validity_period"] = min(seconds, MAX_VALIDITY_PERIOD)
        return params

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Create the message at Twilio and return its receipt.

        Args:
            message: The message.

        Returns:
            The receipt: Twilio's SID, ``SENDING`` for ``queued``/``accepted``
            (``QUEUED`` for ``scheduled``, ``SENT`` for ``sent``), the
            segments and the creation time Twilio reports.

        Raises:
            PermanentGatewayError: Twilio refused it for good (21211 invalid
                number, 21614 not a mobile, 21610 the recipient sent STOP, ...).
            TemporaryGatewayError: Twilio could not take it now (429, 21611
                full queue, 5xx, connection error), or it had expired.
        """
        now = require_aware(self._clock(), "clock()")
        params = self.create_params(message, now)
        sdk = self._sdk
        try:
            instance = self.client.messages.create(**params)
        except sdk.rest_exception as error:
            raise self._translate(error, message) from error
        except sdk.transport_exception as error:
            raise TemporaryGatewayError(
                f"could not reach Twilio: {error}",
                value=message,
                reason=FailureReason.PROVIDER_ERROR,
                provider_text=str(error),
            ) from error
        except sdk.twilio_exception as error:
            # TwilioServiceException (RFC 9457 answers) and the SDK's own errors.
            if getattr(error, "code", None) is not None or getattr(error, "status", None):
                raise self._translate(error, message) from error
            raise TemporaryGatewayError(
                f"the Twilio SDK failed: {error}",
                value=message,
                reason=FailureReason.PROVIDER_ERROR,
                provider_text=str(error),
            ) from error
        return self._receipt(instance, message, now)

    @staticmethod
    def _translate(error: Any, message: OutboundMessage) -> GatewayError:
        status = getattr(error, "status", None)
        text = getattr(error, "msg", None) or getattr(error, "detail", None)
        text = text or getattr(error, "title", None) or None
        return error_for(
            getattr(error, "code", None),
            http_status=status if isinstance(status, int) else None,
            text=str(text) if text is not None else None,
            value=message,
        )

    def _receipt(self, instance: Any, message: OutboundMessage, now: datetime) -> SendReceipt:
        sid = getattr(instance, "sid", None)
        word = str(getattr(instance, "status", None) or "queued").lower()
        raw = _instance_raw(instance)
        if not isinstance(sid, str) or not sid:
            raise TemporaryGatewayError(
                "Twilio answered without a message SID", value=raw, reason=FailureReason.UNKNOWN
            )
        if word in FAILURE_STATUSES:
            # Twilio sends no callback for a message's initial status, so a
            # message born failed must be reported now or never.
            raise error_for(
                getattr(instance, "error_code", None),
                text=getattr(instance, "error_message", None),
                value=message,
            )
        status = STATUSES.get(word)
        if status not in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT):
            status = DeliveryStatus.SENDING
        created = getattr(instance, "date_created", None)
        accepted_at = (
            created if isinstance(created, datetime) and created.utcoffset() is not None else now
        )
        return SendReceipt(
            provider=self.name,
            provider_message_id=sid,
            accepted_at=accepted_at,
            status=status,
            provider_status=word,
            segments=_positive_int(getattr(instance, "num_segments", None)),
            price=_price(getattr(instance, "price", None)),
            currency=getattr(instance, "price_unit", None) or None,
            raw=raw,
        )

    # --- webhooks ---------------------------------------------------------------------

    def _urls(self, request: WebhookRequest) -> Iterator[str]:
        yield from signature_urls(request.url)
        if self.public_url is not None:
            yield from signature_urls(self._public(request.url))

    def _public(self, url: str) -> str:
        """``url`` as seen from outside: scheme and host from :attr:`public_url`, prefix added."""
        assert self.public_url is not None
        public = urlsplit(self.public_url)
        seen = urlsplit(url)
        prefix = public.path.rstrip("/")
        path = seen.path
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            path = prefix + path
        return urlunsplit((public.scheme, public.netloc, path, seen.query, ""))

    def verify(self, request: WebhookRequest) -> bool:
        """Whether ``request`` carries a valid ``X-Twilio-Signature``.

        Every configured token is tried on every URL Twilio may have signed
        (:func:`signature_urls`, also rebuilt on :attr:`public_url`), and
        every candidate is compared in constant time.

        Args:
            request: The request.

        Returns:
            True when the signature matches one candidate.
        """
        signature = request.headers.get(SIGNATURE_HEADER)
        algorithm = _algorithm(request)
        if signature is None or algorithm is None:
            return False
        params = _signed_params(request)
        urls = list(dict.fromkeys(self._urls(request)))
        candidates = (
            twilio_signature(token, url, params, algorithm=algorithm)
            for token in self._tokens
            for url in urls
        )
        return verify_any(candidates, signature.strip())

    def _verified_form(self, request: WebhookRequest) -> dict[str, str]:
        if not self.verify(request):
            raise webhook_verification_error(request)
        return request.form()

    def parse_status(self, request: WebhookRequest) -> list[StatusEvent]:
        """Verify a Twilio status callback, then read its event.

        Reads ``MessageSid`` (or the legacy ``SmsSid``), ``MessageStatus``
        (or ``SmsStatus``), ``ErrorCode``, ``ErrorMessage``, ``NumSegments``,
        ``Price`` and ``RawDlrDoneDate``; every parameter is kept as ``raw``.
        ``failed`` and ``undelivered`` become soft or hard bounces by
        :data:`ERROR_CODES`; words not in :data:`STATUSES` give an event with
        no status, which changes nothing.

        Args:
            request: The callback.

        Returns:
            One event.

        Raises:
            WebhookVerificationError: The signature is missing or wrong.
            MalformedWebhook: The request verified but is not a status callback.
        """
        params = self._verified_form(request)
        sid = _required(params, "MessageSid", "SmsSid")
        word = _required(params, "MessageStatus", "SmsStatus").lower()
        code = _first(params, "ErrorCode")
        dlr_text = _first(params, "RawDlrDoneDate")
        identity = (sid, word, code or "", dlr_text or "")

        def arrival() -> datetime:
            received = require_aware(self._clock(), "clock()")
            done = _dlr_done(dlr_text)
            return received if done is None else min(done, received)

        fields: dict[str, Any] = {
            "provider": self.name,
            "provider_message_id": sid,
            "occurred_at": self._first_seen.get(identity, arrival),
            "provider_status": word,
            "provider_code": code,
            "provider_text": _first(params, "ErrorMessage"),
            "segments": _positive_int(params.get("NumSegments")),
            "price": _price(params.get("Price")),
            "raw": params,
        }
        try:
            if word in FAILURE_STATUSES:
                reason, permanent = ERROR_CODES.get(code or "", (FailureReason.UNKNOWN, None))
                return [StatusEvent.failure(reason=reason, permanent=permanent, **fields)]
            return [StatusEvent(status=STATUSES.get(word), **fields)]
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(
                f"not a valid Twilio status callback: {error}", value=params
            ) from error

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Verify a Twilio inbound-message webhook, then read its message.

        Reads ``MessageSid`` (or ``SmsMessageSid``/``SmsSid``), ``From``,
        ``To`` and ``Body``; every parameter, ``OptOutType`` included (sent
        by Advanced Opt-Out), is kept as ``raw``. A channel prefix such as
        ``whatsapp:`` is dropped from the sender, which is parsed leniently.
        ``received_at`` is the moment it is parsed: Twilio sends no time.

        Args:
            request: The webhook.

        Returns:
            One message.

        Raises:
            WebhookVerificationError: The signature is missing or wrong.
            MalformedWebhook: The request verified but is not an inbound message.
        """
        params = self._verified_form(request)
        sid = _required(params, "MessageSid", "SmsMessageSid", "SmsSid")
        sender = _CHANNEL_PREFIX.sub("", _required(params, "From"), count=1)
        try:
            return [
                InboundMessage(
                    provider=self.name,
                    provider_message_id=sid,
                    sender=PhoneNumber.parse(sender, lenient=True),
                    recipient=_required(params, "To"),
                    body=params.get("Body", ""),
                    received_at=require_aware(self._clock(), "clock()"),
                    raw=params,
                )
            ]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(
                f"not a valid Twilio inbound message: {error}", value=params
            ) from error

    def webhook_response(self, kind: str) -> tuple[str, bytes] | None:
        """What to answer Twilio with: empty TwiML for inbound messages, nothing otherwise.

        Twilio expects TwiML from an inbound-message webhook; an empty
        ``<Response>`` tells it to send no reply (answers go out through
        :meth:`send`). A status callback needs no body.

        Args:
            kind: ``"status"`` or ``"inbound"``.

        Returns:
            ``(content type, body)``, or ``None`` for the default empty answer.
        """
        if kind == "inbound":
            return ("text/xml; charset=utf-8", EMPTY_TWIML)
        return None


_RAW_FIELDS = (
    "sid",
    "status",
    "to",
    "from_",
    "messaging_service_sid",
    "account_sid",
    "num_segments",
    "num_media",
    "price",
    "price_unit",
    "error_code",
    "error_message",
    "direction",
    "api_version",
    "date_created",
    "date_sent",
    "date_updated",
)


def _instance_raw(instance: Any) -> dict[str, Any]:
    """The Message resource Twilio answered with, as plain JSON-able values."""
    raw: dict[str, Any] = {}
    for field in _RAW_FIELDS:
        value = getattr(instance, field, None)
        if value is None:
            continue
        key = "from" if field == "from_" else field
        raw[key] = value.isoformat() if isinstance(value, datetime) else value
    return raw
