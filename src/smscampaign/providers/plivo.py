"""PlivoGateway: Plivo's Message API through the official ``plivo`` SDK (4.x).

Install it with ``pip install "smscampaign[plivo]"``. Importing this module
imports no SDK; constructing :class:`PlivoGateway` does, and raises
:class:`~smscampaign.errors.MissingDependency` naming the extra when it is
missing.

What the adapter does, and the provider facts it rests on:

* **Send** with ``plivo.RestClient(auth_id, auth_token).messages.create(src=, dst=,
  text=, url=, method="POST", powerpack_uuid=, message_expiry=)``. ``message_expiry``
  is the validity period in seconds, 5 to 10,799 (default 10,800); a message
  that waits longer in Plivo's queue fails with error 420 and is not charged
  (https://support.plivo.com/hc/en-us/articles/14814454609561-Message-Expiry).
  Plivo has **no idempotency key**: the same message sent twice goes twice.
* **Errors**: the SDK's exceptions (``plivo.exceptions``, raised per HTTP
  status by ``plivo.rest.client.Client.process_response``) become
  :class:`~smscampaign.errors.TemporaryGatewayError` or
  :class:`~smscampaign.errors.PermanentGatewayError`; a refused destination
  (``"'1111111' is not a valid phone number."``, issue plivo/plivo-node#222,
  or the ``invalid_number`` list of the send response) is ``INVALID_NUMBER``.
* **Status callbacks**, form POST or GET query
  (https://plivo.com/docs/messaging/api/message/message-status-callbacks):
  ``Status`` through :data:`STATUSES`, failures through ``ErrorCode``
  (:data:`ERROR_CODES`). Plivo reports on the whole message: ``Units`` is the
  number of parts, and ``ParentMessageUUID``/``PartInfo`` are "reserved for
  future use" (``ParentMessageUUID`` is "same as the MessageUUID"), so there
  are no per-part events; both stay in ``raw``. ``Sequence`` (the order Plivo
  generated the callbacks in) stays in ``raw`` too: the merge needs no order.
* **Signatures**: V3 (``X-Plivo-Signature-V3`` + ``-V3-Nonce``, covering URL,
  nonce and parameters) and V2 (``X-Plivo-Signature-V2`` + ``-V2-Nonce``,
  covering URL and nonce only); see :func:`plivo_v3_signature` and
  :func:`plivo_v2_signature`.
* **Inbound** messages: ``From``, ``To``, ``Text``, ``MessageUUID``
  (https://www.plivo.com/docs/sms/api/message/handling-incoming/).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from smscampaign.domain.delivery import DeliveryStatus, FailureReason, StatusEvent
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
    "ERROR_CODES",
    "STATUSES",
    "PlivoGateway",
    "plivo_v2_signature",
    "plivo_v3_signature",
]

_INSTALL = 'pip install "smscampaign[plivo]"'
_UTC = timezone.utc


class _Failure(NamedTuple):
    """A provider code's meaning: our reason, whether it is permanent, and its text."""

    reason: FailureReason
    permanent: bool
    text: str


STATUSES: Mapping[str, DeliveryStatus | None] = {
    # Callback `Status` values (message-status-callbacks page; the older page and the SDK's
    # message_state filter also list `rejected`), read 2026-08.
    "queued": DeliveryStatus.SENDING,  # with Plivo, not yet passed to a carrier
    "sent": DeliveryStatus.SENT,  # "passed to a downstream carrier"; may stay final
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,  # WhatsApp only
    # Failures; their reason comes from ErrorCode.
    "failed": None,  # "internal error before the message is passed on to carriers"
    "undelivered": None,  # the carrier's delivery receipt says so
    "rejected": None,
}
"""Plivo ``Status`` -> our status; ``None`` marks a failure read from ``ErrorCode``.

A word not in the table gives an event with ``status=None`` (kept, changes nothing).
"""

_FAILURE_WORDS = frozenset({"failed", "undelivered", "rejected"})

ERROR_CODES: Mapping[str, _Failure] = {
    # Plivo's "Introducing SMS Error Codes" blog and
    # https://plivo.com/docs/messaging/troubleshooting/error-codes (read 2026-08); classes follow
    # providers.md section 11.4. Account and sender problems are temporary (fixable).
    "10": _Failure(FailureReason.CARRIER_FILTERED, True, "Invalid message"),
    "20": _Failure(FailureReason.CARRIER_ERROR, False, "Network error"),  # "retry later"
    "30": _Failure(FailureReason.CARRIER_FILTERED, True, "Spam detected"),
    "40": _Failure(FailureReason.PROVIDER_ERROR, False, "Invalid source number"),
    # "not SMS-enabled or a PSTN landline"
    "50": _Failure(FailureReason.LANDLINE, True, "Invalid destination number"),
    "60": _Failure(FailureReason.CARRIER_FILTERED, True, "Loop detected"),
    "70": _Failure(FailureReason.INVALID_NUMBER, True, "Destination permanently unavailable"),
    "80": _Failure(FailureReason.UNREACHABLE, False, "Destination temporarily unavailable"),
    "90": _Failure(FailureReason.CARRIER_ERROR, False, "No route available"),  # inference
    "100": _Failure(FailureReason.LANDLINE, True, "Prohibited by carrier"),  # no SMS support
    "110": _Failure(FailureReason.PROVIDER_ERROR, True, "Message too long"),
    "200": _Failure(FailureReason.OPTED_OUT_AT_CARRIER, True, "Source number blocked by STOP"),
    "201": _Failure(FailureReason.PROVIDER_ERROR, True, "US toll-free to Canada blocked"),
    # support article 14814454609561: queued past message_expiry -> failed, 420, not charged
    "420": _Failure(FailureReason.EXPIRED, False, "Message expired"),
    "900": _Failure(FailureReason.PROVIDER_ERROR, False, "Insufficient credit"),
    "1000": _Failure(FailureReason.UNKNOWN, False, "Unknown error"),
}
"""Plivo ``ErrorCode`` -> (reason, permanent, text). Unknown codes read as ``UNKNOWN``."""

_SDK_FAILURES: Mapping[str, tuple[str, _Failure]] = {
    # plivo.exceptions class -> (HTTP status it stands for, meaning); plivo/rest/client.py
    # process_response raises them per status.
    "ValidationError": ("400", _Failure(FailureReason.PROVIDER_ERROR, True, "invalid request")),
    "AuthenticationError": ("401", _Failure(FailureReason.PROVIDER_ERROR, False, "auth failed")),
    "ForbiddenError": ("403", _Failure(FailureReason.PROVIDER_ERROR, False, "forbidden")),
    "GeoPermissionError": (
        "403",
        _Failure(FailureReason.PROVIDER_ERROR, False, "destination country not enabled"),
    ),
    "ResourceNotFoundError": ("404", _Failure(FailureReason.PROVIDER_ERROR, True, "not found")),
    "InvalidRequestError": ("4xx", _Failure(FailureReason.PROVIDER_ERROR, True, "invalid")),
    "PlivoServerError": ("500", _Failure(FailureReason.PROVIDER_ERROR, False, "server error")),
}
# Any other PlivoRestError (e.g. HTTP 429 or 503) is temporary.

# 400 body for a bad destination: {"api_id": "...", "error": "'1111111' is not a valid phone
# number."} (issue plivo/plivo-node#222).
_INVALID_DESTINATION = re.compile(r"not a valid phone number|invalid (dst|destination)", re.I)
_EXPIRY_SECONDS = (5, 10_799)  # support article 14814454609561
_V3 = ("X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3", "X-Plivo-Signature-V3-Nonce")
_V2 = ("X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2", "X-Plivo-Signature-V2-Nonce")


# --- signatures -------------------------------------------------------------------


def _b64_hmac(token: str, message: str) -> str:
    digest = hmac.new(token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}


def plivo_v2_signature(url: str, nonce: str, auth_token: str) -> str:
    """``X-Plivo-Signature-V2``: ``base64(HMAC-SHA256(token, URL without query + nonce))``.

    As ``plivo.utils.validate_signature`` computes it. V2 does not cover the
    parameters, so it proves only that Plivo called this URL.
    """
    return _b64_hmac(auth_token, _base_url(url) + nonce)


def plivo_v3_signature(
    method: str, url: str, nonce: str, auth_token: str, params: Mapping[str, Any] | None = None
) -> str:
    """``X-Plivo-Signature-V3`` for a callback, as ``plivo.utils.signature_v3`` computes it.

    The signed text is built from the URL without its query string:

    * ``GET``: ``url?k1=v1&k2=v2`` with the query parameters sorted by key;
    * ``POST``: the URL, then ``?`` and the sorted query when there is one (or
      when there are body parameters), then ``.`` when there are both, then
      every body parameter sorted by key as ``key`` + ``value`` with no
      separator (a repeated key's values sorted);

    then ``"." + nonce`` is appended and the signature is
    ``base64(HMAC-SHA256(auth_token, text))``.

    Args:
        method: ``"GET"`` or ``"POST"``.
        url: The full URL Plivo called, query string included.
        nonce: The ``X-Plivo-Signature-V3-Nonce`` header.
        auth_token: The (sub)account's auth token.
        params: The body parameters of a POST (a list value for a repeated key).
    """
    query = _grouped(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    base = _base_url(url)
    if method.upper() == "GET":
        merged = {**query, **(params or {})}
        text = base + ("?" + _sorted_query(merged) if merged else "")
    else:
        body = dict(params or {})
        sorted_query = _sorted_query(query)
        text = base
        if sorted_query or body:
            text += "?" + sorted_query
        if sorted_query and body:
            text += "."
        text += _sorted_params(body)
    return _b64_hmac(auth_token, f"{text}.{nonce}")


def _sorted_query(params: Mapping[str, Any]) -> str:
    out = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            out.append("&".join(f"{key}={v}" for v in sorted(value)))
        else:
            out.append(f"{key}={value}")
    return "&".join(out)


def _sorted_params(params: Mapping[str, Any]) -> str:
    out = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            out.append("".join(f"{key}{v}" for v in sorted(value)))
        elif isinstance(value, Mapping):
            out.append(f"{key}{_sorted_params(value)}")
        else:
            out.append(f"{key}{value}")
    return "".join(out)


def _utc_now() -> datetime:
    return datetime.now(_UTC)


class PlivoGateway:
    """A :class:`~smscampaign.providers.gateway.Gateway` for Plivo's Message API.

    The sender is ``powerpack_uuid`` when given (Plivo picks a number from
    the pool), else ``src`` when given, else the message's own ``sender``.

    Webhook verification, always on: a request carrying the V3 headers must
    match a V3 signature (URL, nonce and parameters); one carrying only V2
    headers must match a V2 signature (URL and nonce), unless
    ``require_v3=True``. Every token in ``auth_token`` and
    ``previous_auth_tokens`` is tried, in constant time; the ``-Ma-``
    headers (signed with the main account's token) count when that token is
    among them. Plivo signs no timestamp, so there is no freshness check: a
    replayed genuine callback is harmless, as events merge idempotently.

    Args:
        auth_id: The (sub)account's auth id (``MA…`` or ``SA…``, 20 characters).
        auth_token: Its auth token (sending and signatures).
        src: The sender number or id for every message.
        powerpack_uuid: A Powerpack to send from instead of ``src``.
        status_callback: The status URL when the message names none.
        previous_auth_tokens: Tokens being rotated out (or the main
            account's), still accepted on webhooks.
        client: A ready ``plivo.RestClient`` (e.g. with a proxy or timeout).
        require_v3: Refuse webhooks signed with V2 only.
        clock: Returns the current aware time (default: the system clock);
            inbound messages carry no time, so they are stamped with it.

    Raises:
        MissingDependency: The ``plivo`` SDK is not installed.
        ConfigurationError: Credentials are empty, or both ``src`` and
            ``powerpack_uuid`` are given.
    """

    name = "plivo"

    def __init__(
        self,
        auth_id: str,
        auth_token: str,
        *,
        src: str | None = None,
        powerpack_uuid: str | None = None,
        status_callback: str | None = None,
        previous_auth_tokens: Iterable[str] = (),
        client: Any = None,
        require_v3: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        try:
            # importlib keeps mypy from needing the SDK's (untyped) modules.
            plivo = importlib.import_module("plivo")
            exceptions = importlib.import_module("plivo.exceptions")
            requests = importlib.import_module("requests")
        except ImportError as error:
            raise MissingDependency(
                f"PlivoGateway needs the Plivo SDK: {_INSTALL}", value="plivo"
            ) from error
        for field, value in (("auth_id", auth_id), ("auth_token", auth_token)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{field} must be a non-empty string", value=field)
        if src is not None and powerpack_uuid is not None:
            raise ConfigurationError(
                "give src or powerpack_uuid, not both (Plivo refuses both)", value=src
            )
        self._plivo_error = exceptions.PlivoRestError
        self._network_error = requests.RequestException
        self._client = client or plivo.RestClient(auth_id, auth_token)
        self._src = src
        self._powerpack = powerpack_uuid
        self._status_callback = status_callback
        self._tokens = (auth_token, *(t for t in previous_auth_tokens if t))
        self._require_v3 = require_v3
        self._clock = clock or _utc_now

    def __repr__(self) -> str:
        return f"PlivoGateway(src={self._src!r}, powerpack_uuid={self._powerpack!r})"

    # --- send -------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Send one message with ``messages.create``.

        Returns:
            A ``SENDING`` receipt (Plivo answers "message(s) queued").

        Raises:
            TemporaryGatewayError: An account problem, an outage or a network
                error (the message may be retried).
            PermanentGatewayError: Plivo refused this message for good.
        """
        now = self._clock()
        fields: dict[str, Any] = {"dst": message.to[1:], "text": message.body}
        if self._powerpack is not None:
            fields["powerpack_uuid"] = self._powerpack
        else:
            fields["src"] = (self._src or message.sender).removeprefix("+")
        callback = message.status_callback_url or self._status_callback
        if callback:
            fields["url"] = callback
            fields["method"] = "POST"
        period = message.validity_period(now)
        if period is not None:
            seconds = int(period.total_seconds())
            fields["message_expiry"] = min(max(seconds, _EXPIRY_SECONDS[0]), _EXPIRY_SECONDS[1])
        try:
            response = self._client.messages.create(**fields)
        except self._plivo_error as error:
            raise _sdk_error(error, message) from error
        except self._network_error as error:
            raise TemporaryGatewayError(
                f"could not reach Plivo: {error}",
                value=message,
                reason=FailureReason.PROVIDER_ERROR,
                provider_code="network",
                provider_text=str(error),
            ) from error
        raw = _raw(response)
        ids = raw.get("message_uuid") or []
        if isinstance(ids, str):
            ids = [ids]
        if not ids:
            invalid = raw.get("invalid_number")
            if invalid:
                raise PermanentGatewayError(
                    f"Plivo refused the destination {message.to} as invalid",
                    value=message,
                    reason=FailureReason.INVALID_NUMBER,
                    provider_code="invalid_number",
                    provider_text=str(raw.get("message") or invalid),
                )
            raise TemporaryGatewayError(
                "Plivo answered without a message uuid",
                value=raw,
                reason=FailureReason.UNKNOWN,
                provider_code="no_message_uuid",
                provider_text=str(raw.get("message") or ""),
            )
        return SendReceipt(
            provider=self.name,
            provider_message_id=str(ids[0]),
            accepted_at=now,
            status=DeliveryStatus.SENDING,
            provider_status="queued",
            raw=raw,
        )

    # --- webhooks -------------------------------------------------------------------

    def parse_status(self, request: WebhookRequest) -> list[StatusEvent]:
        """Verify a message status callback (form POST or GET) and read its event.

        Returns:
            One event about ``MessageUUID``, with ``segments`` from ``Units``
            and ``price`` from ``TotalAmount``.

        Raises:
            WebhookVerificationError: No valid V3 (or V2) signature.
            MalformedWebhook: The request is not a Plivo status callback.
        """
        params = self._verified_params(request)
        try:
            word = _text(params, "Status").lower()
            code = params.get("ErrorCode") or None
            fields: dict[str, Any] = {
                "provider": self.name,
                "provider_message_id": _text(params, "MessageUUID"),
                "occurred_at": _occurred_at(params, word),
                "provider_status": word,
                "provider_code": code,
                "segments": _int(params.get("Units")),
                "price": _decimal(params.get("TotalAmount")),
                "raw": params,
            }
            if word in _FAILURE_WORDS:
                failure = ERROR_CODES.get(code or "") or _Failure(
                    FailureReason.UNKNOWN, False, word
                )
                return [
                    StatusEvent.failure(
                        reason=failure.reason,
                        permanent=failure.permanent,
                        provider_text=failure.text,
                        **fields,
                    )
                ]
            return [StatusEvent(status=STATUSES.get(word), **fields)]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(
                f"not a valid Plivo status callback: {error}", value=params
            ) from error

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Verify an inbound message callback and read its message.

        Plivo joins a concatenated SMS before forwarding it, and sends no
        time: ``received_at`` is when this adapter read it.

        Raises:
            WebhookVerificationError: No valid V3 (or V2) signature.
            MalformedWebhook: The request is not a Plivo inbound message.
        """
        params = self._verified_params(request)
        try:
            return [
                InboundMessage(
                    provider=self.name,
                    provider_message_id=_text(params, "MessageUUID"),
                    sender=PhoneNumber.parse("+" + _text(params, "From"), lenient=True),
                    recipient=_text(params, "To"),
                    body=params.get("Text", params.get("Body", "")),
                    received_at=self._clock(),
                    raw=params,
                )
            ]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(
                f"not a valid Plivo inbound message: {error}", value=params
            ) from error

    def _verified_params(self, request: WebhookRequest) -> dict[str, str]:
        """The callback's parameters, once one of its signatures checked out."""
        try:
            pairs = _pairs(request)
        except MalformedWebhook:
            raise webhook_verification_error(request) from None
        if not self._signature_ok(request, pairs):
            raise webhook_verification_error(request)
        return dict(pairs)

    def _signature_ok(self, request: WebhookRequest, pairs: list[tuple[str, str]]) -> bool:
        headers = request.headers
        v3, ma_v3, v3_nonce = (headers.get(name) for name in _V3)
        if v3_nonce and (v3 or ma_v3):
            body = _grouped(pairs) if request.method not in ("GET", "HEAD") else {}
            method = "GET" if request.method in ("GET", "HEAD") else "POST"
            candidates = [
                plivo_v3_signature(method, request.url, v3_nonce, token, body)
                for token in self._tokens
            ]
            return _any_of(candidates, v3, ma_v3)
        if self._require_v3:
            return False
        v2, ma_v2, v2_nonce = (headers.get(name) for name in _V2)
        if v2_nonce and (v2 or ma_v2):
            candidates = [plivo_v2_signature(request.url, v2_nonce, t) for t in self._tokens]
            return _any_of(candidates, v2, ma_v2)
        return False


# --- helpers ----------------------------------------------------------------------


def _any_of(candidates: list[str], *headers: str | None) -> bool:
    # A V3 header may hold several comma-separated signatures (signature_v3.py splits on ",").
    matched = False
    for header in headers:
        for signature in (header or "").split(","):
            if signature.strip():
                matched |= verify_any(candidates, signature.strip())
    return matched


def _pairs(request: WebhookRequest) -> list[tuple[str, str]]:
    if request.method in ("GET", "HEAD"):
        return parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    if request.content_type not in ("", "application/x-www-form-urlencoded"):
        raise MalformedWebhook(
            f"expected a form-encoded body, got {request.content_type!r}", value=request
        )
    text = request.text()
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError as error:
        raise MalformedWebhook("webhook body is not form-encoded", value=request.body) from error


def _sdk_error(error: Exception, message: OutboundMessage) -> GatewayError:
    text = str(error)
    code, failure = _SDK_FAILURES.get(
        type(error).__name__,
        ("http", _Failure(FailureReason.PROVIDER_ERROR, False, "request failed")),
    )
    if code == "400" and _INVALID_DESTINATION.search(text):
        failure = _Failure(FailureReason.INVALID_NUMBER, True, "invalid destination")
    cls = PermanentGatewayError if failure.permanent else TemporaryGatewayError
    return cls(
        f"Plivo refused the message to {message.to}: {code} {text}",
        value=message,
        reason=failure.reason,
        provider_code=code,
        provider_text=text or failure.text,
    )


def _raw(response: Any) -> dict[str, Any]:
    # The SDK returns a ResponseObject whose attributes are the JSON fields.
    if isinstance(response, Mapping):
        return dict(response)
    data = getattr(response, "__dict__", None)
    return {k: v for k, v in data.items() if not k.startswith("_")} if data else {}


def _text(params: Mapping[str, str], field: str) -> str:
    value = params.get(field)
    if not value:
        raise MalformedWebhook(f"{field} must be a non-empty string, got {value!r}", value=value)
    return value


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        number = int(value)
    except ValueError as error:
        raise MalformedWebhook(f"Units is not an integer: {value!r}", value=value) from error
    return number if number >= 1 else None


def _decimal(value: str | None) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise MalformedWebhook(f"TotalAmount is not a number: {value!r}", value=value) from error


# Which of Plivo's times says when the reported status happened, best first.
_TIME_FIELDS: Mapping[str, tuple[str, ...]] = {
    "queued": ("QueuedTime", "MessageTime"),
    "sent": ("SentTime", "QueuedTime", "MessageTime"),
    "failed": ("SentTime", "QueuedTime", "MessageTime"),
}
_RECEIPT_TIMES = ("DeliveryReportTime", "SentTime", "QueuedTime", "MessageTime")


def _occurred_at(params: Mapping[str, str], word: str) -> datetime:
    """The time of the reported status: "YYYY-mm-dd HH:MM:SS[.ffffff]", UTC when unmarked."""
    for field in _TIME_FIELDS.get(word, _RECEIPT_TIMES):
        text = params.get(field)
        if text:
            try:
                moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError as error:
                raise MalformedWebhook(f"{field} is not a time: {text!r}", value=text) from error
            # [INFERENCE] Plivo's documented format has no offset; its API times are UTC.
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=_UTC)
    raise MalformedWebhook("the callback carries no time (MessageTime, SentTime...)", value=params)
