"""VonageGateway: the Vonage SMS API through the official ``vonage`` SDK (4.x).

Install it with ``pip install "smscampaign[vonage]"``. Importing this module
imports no SDK; constructing :class:`VonageGateway` does, and raises
:class:`~smscampaign.errors.MissingDependency` naming the extra when it is
missing.

What the adapter does, and the provider facts it rests on (sources beside each
table; the SMS API reference is ``Nexmo/api-specification`` ``definitions/sms.yml``,
the DLR guide ``Nexmo/station`` ``_documentation/messaging/sms/guides/delivery-receipts.md``,
the signing guide ``Nexmo/station`` ``_documentation/en/concepts/guides/signing-messages.md``):

* **Send** with ``vonage.Vonage(Auth(api_key, api_secret)).sms.send(SmsMessage(...))``:
  ``to`` and a numeric ``from`` without the ``+``, ``type=unicode`` when the
  body is not GSM-7, ``ttl`` (milliseconds, 20,000 to 604,800,000) from the
  message's validity period, ``callback`` for the delivery receipts and
  ``client-ref`` (the idempotency key, when it fits in 40 characters). The
  SMS API has **no idempotency key**: sending the same message twice sends
  it twice, so a timeout that is retried can duplicate a message.
* **Errors**: the response's per-part ``status`` (:data:`SEND_STATUS_CODES`)
  and the SDK's HTTP errors become
  :class:`~smscampaign.errors.TemporaryGatewayError` or
  :class:`~smscampaign.errors.PermanentGatewayError` with a
  :class:`~smscampaign.domain.delivery.FailureReason`, the code and its text.
* **Delivery receipts** (DLRs) by GET (query), form POST or JSON POST, as
  chosen in the dashboard; ``status`` through :data:`DLR_STATUSES`, failures
  through ``err-code`` (:data:`DLR_ERROR_CODES`).
* **Signed webhooks** (``sig``, ``timestamp``, ``nonce``), checked before
  anything is read when a ``signature_secret`` is configured; see
  :func:`vonage_signature`.
* **Per-part receipts**: Vonage numbers every part of a concatenated message
  and sends one DLR per part, each with its part's own ``messageId``; the
  rule mapping them to the attempt is on :class:`VonageGateway`.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from smscampaign.domain.delivery import DeliveryStatus, FailureReason, StatusEvent
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.domain.segments import is_gsm7
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
    "DLR_ERROR_CODES",
    "DLR_STATUSES",
    "SEND_STATUS_CODES",
    "SIGNATURE_METHODS",
    "PartIndex",
    "VonageGateway",
    "vonage_signature",
]

_INSTALL = 'pip install "smscampaign[vonage]"'
_UTC = timezone.utc


class _Failure(NamedTuple):
    """A provider code's meaning: our reason, whether it is permanent, and its text."""

    reason: FailureReason
    permanent: bool
    text: str


# --- tables -----------------------------------------------------------------------

DLR_STATUSES: Mapping[str, DeliveryStatus | None] = {
    # Nexmo/api-specification definitions/sms.yml DeliveryReceipt.status x-possible-values,
    # meanings from the DLR guide (read 2026-08).
    "accepted": DeliveryStatus.SENT,  # "accepted for delivery, not yet delivered"
    "buffered": DeliveryStatus.SENT,  # "buffered for later delivery" (intermediate)
    "delivered": DeliveryStatus.DELIVERED,
    # The four below are failures; their reason comes from err-code.
    "expired": None,  # held in the carrier's retry scheme past the expiry time
    "failed": None,
    "rejected": None,  # "downstream carrier refuses to deliver"
    "unknown": None,  # "no useful information"; support: any non-zero err-code = failed
}
"""Vonage DLR ``status`` -> our status; ``None`` marks a failure read from ``err-code``.

A word not in the table gives an event with ``status=None`` (kept, changes nothing).
"""

_FAILURE_WORDS = frozenset({"expired", "failed", "rejected", "unknown"})

DLR_ERROR_CODES: Mapping[str, _Failure] = {
    # err-code table of the DLR guide (Nexmo/station delivery-receipts.md, read 2026-08) and
    # https://api.support.vonage.com/hc/en-us/articles/204014733; classes follow
    # providers.md section 11.4 ("doc" = the guide says so, "inference" = ours).
    "1": _Failure(FailureReason.UNKNOWN, False, "Unknown"),  # doc
    "2": _Failure(FailureReason.UNREACHABLE, False, "Absent Subscriber - Temporary"),  # "retry"
    "3": _Failure(FailureReason.INVALID_NUMBER, True, "Absent Subscriber - Permanent"),  # remove
    # "Call Barred by User": permanent, "remove from your database": the recipient's own
    # block, so it suppresses like an opt-out (providers.md: blocked_by_recipient).
    "4": _Failure(FailureReason.OPTED_OUT_AT_CARRIER, True, "Call Barred by User"),
    "5": _Failure(FailureReason.CARRIER_ERROR, True, "Portability Error"),  # inference
    "6": _Failure(FailureReason.CARRIER_FILTERED, True, "Anti-Spam Rejection"),  # doc
    "7": _Failure(FailureReason.UNREACHABLE, False, "Handset Busy"),  # "retry"
    "8": _Failure(FailureReason.CARRIER_ERROR, False, "Network Error"),  # "retry"
    # "The user has specifically requested not to receive messages": an opt-out
    # (Vonage opt-out guide: err-code 9 on sends to opted-out numbers).
    "9": _Failure(FailureReason.OPTED_OUT_AT_CARRIER, True, "Illegal Number"),
    "10": _Failure(FailureReason.PROVIDER_ERROR, True, "Illegal Message"),  # bad parameter
    "11": _Failure(FailureReason.PROVIDER_ERROR, True, "Unroutable"),  # no route
    "12": _Failure(FailureReason.INVALID_NUMBER, True, "Destination Unreachable"),  # inference
    "13": _Failure(FailureReason.CARRIER_FILTERED, True, "Subscriber Age Restriction"),
    # "ask their carrier to enable SMS on their plan": the number cannot take SMS.
    "14": _Failure(FailureReason.LANDLINE, True, "Number Blocked by Carrier"),
    "15": _Failure(FailureReason.UNREACHABLE, False, "Prepaid Insufficient Funds"),  # inference
    "99": _Failure(FailureReason.CARRIER_ERROR, False, "General Error"),  # route error
}
"""DLR ``err-code`` -> (reason, permanent, text). Unknown codes read as ``UNKNOWN``."""

SEND_STATUS_CODES: Mapping[str, _Failure] = {
    # Synchronous per-part `status` of the send response: sms.yml x-errors (read 2026-08).
    # Account and configuration problems are temporary: once fixed, the same message goes.
    "1": _Failure(FailureReason.QUEUE_OVERFLOW, False, "Throttled"),
    "2": _Failure(FailureReason.PROVIDER_ERROR, True, "Missing Parameters"),
    "3": _Failure(FailureReason.PROVIDER_ERROR, True, "Invalid Parameters"),
    "4": _Failure(FailureReason.PROVIDER_ERROR, False, "Invalid Credentials"),
    "5": _Failure(FailureReason.PROVIDER_ERROR, False, "Internal Error"),
    # "unable to process this message, for example, an un-recognized number prefix"
    "6": _Failure(FailureReason.INVALID_NUMBER, True, "Invalid Message"),
    # "blacklisted and may not receive them" [INFERENCE: a Vonage-level opt-out]
    "7": _Failure(FailureReason.OPTED_OUT_AT_CARRIER, True, "Number Barred"),
    "8": _Failure(FailureReason.PROVIDER_ERROR, False, "Partner Account Barred"),
    "9": _Failure(FailureReason.PROVIDER_ERROR, False, "Partner Quota Violation"),
    "10": _Failure(FailureReason.QUEUE_OVERFLOW, False, "Too Many Existing Binds"),
    "11": _Failure(FailureReason.PROVIDER_ERROR, False, "Account Not Enabled For HTTP"),
    "12": _Failure(FailureReason.PROVIDER_ERROR, True, "Message Too Long"),
    "14": _Failure(FailureReason.PROVIDER_ERROR, False, "Invalid Signature"),
    "15": _Failure(FailureReason.PROVIDER_ERROR, False, "Invalid Sender Address"),
    "22": _Failure(FailureReason.PROVIDER_ERROR, True, "Invalid Network Code"),
    "23": _Failure(FailureReason.PROVIDER_ERROR, True, "Invalid Callback Url"),
    "29": _Failure(FailureReason.PROVIDER_ERROR, True, "Non-Whitelisted Destination"),
    "32": _Failure(FailureReason.PROVIDER_ERROR, True, "Signature And API Secret Disallowed"),
    "33": _Failure(FailureReason.INVALID_NUMBER, True, "Number De-activated"),
}
"""Send response ``status`` -> (reason, permanent, text). Unknown codes: temporary ``UNKNOWN``."""

_HTTP_FAILURES: Mapping[str, _Failure] = {
    # vonage_http_client.errors, raised by HttpClient._parse_response per HTTP status.
    "AuthenticationError": _Failure(FailureReason.PROVIDER_ERROR, False, "HTTP 401"),
    "ForbiddenError": _Failure(FailureReason.PROVIDER_ERROR, False, "HTTP 403"),
    "NotFoundError": _Failure(FailureReason.PROVIDER_ERROR, True, "HTTP 404"),
    "RateLimitedError": _Failure(FailureReason.QUEUE_OVERFLOW, False, "HTTP 429"),
    "ServerError": _Failure(FailureReason.PROVIDER_ERROR, False, "HTTP 500"),
}

SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
"""The signed-webhook algorithms the dashboard offers: plain "MD5 hash" and four HMACs."""

# Sms.send (vonage_sms/sms.py) raises SmsError(f"... failed with error code {status}: {text}").
_SDK_ERROR = re.compile(r"error code (?P<code>\d+): (?P<text>.*)\Z", re.DOTALL)
_E164_DIGITS = re.compile(r"\+[1-9][0-9]{1,14}")
_TTL_MS = (20_000, 604_800_000)  # sms.yml NewMessage.ttl minimum / maximum
_CLIENT_REF_MAX = 40  # sms.yml NewMessage.client-ref: "up to 40 characters"


def vonage_signature(params: Mapping[str, Any], secret: str, method: str = "sha256") -> str:
    """The ``sig`` Vonage puts on a signed SMS API webhook with these parameters.

    The signing guide's procedure: drop ``sig``; sort the parameters by key; in
    each value replace ``&`` and ``=`` with ``_``; join as
    ``"&key=value&key=value"`` (with the leading ``&``); then either append the
    secret and take the MD5 hex digest (``"md5hash"``, the dashboard's
    default) or take the HMAC hex digest keyed by the secret (the others).
    The HMAC branch is what ``vonage_http_client.Auth.sign_params`` computes;
    the plain hash is the v3 SDK's ``Client.signature`` with no method.

    Args:
        params: The webhook's parameters (``sig`` is ignored).
        secret: The account's signature secret.
        method: One of :data:`SIGNATURE_METHODS`.

    Returns:
        The lower-case hex signature.

    Raises:
        ConfigurationError: ``method`` is not one of :data:`SIGNATURE_METHODS`.
    """
    if method not in SIGNATURE_METHODS:
        raise ConfigurationError(
            f"signature_method must be one of {SIGNATURE_METHODS}, got {method!r}", value=method
        )
    text = "".join(f"&{key}={_signed_value(params[key])}" for key in sorted(params) if key != "sig")
    if method == "md5hash":
        return hashlib.md5((text + secret).encode("utf-8")).hexdigest()
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), method).hexdigest()


def _signed_value(value: Any) -> str:
    # The SDK formats every value with an f-string and sanitizes only strings.
    if isinstance(value, str):
        return value.replace("&", "_").replace("=", "_")
    return f"{value}"


PartEntry = tuple[str, int, int]
"""``(first part's message id, this part's number from 1, number of parts)``."""


class PartIndex(MutableMapping[str, PartEntry]):
    """Which part of which message each Vonage message id is: a bounded, thread-safe map.

    :meth:`VonageGateway.send` records every part of a concatenated message
    here; :meth:`VonageGateway.parse_status` reads it to turn a part's receipt
    into an event about the whole message. The oldest entries go first once
    ``maxsize`` is reached. To share it between a sending worker and a web
    process, pass any ``MutableMapping[str, tuple[str, int, int]]`` backed by
    shared storage instead, or call :meth:`VonageGateway.remember_parts` with
    the stored receipts.

    Args:
        maxsize: How many part ids to keep.
    """

    def __init__(self, maxsize: int = 200_000) -> None:
        if maxsize < 1:
            raise ConfigurationError(f"maxsize must be >= 1, got {maxsize}", value=maxsize)
        self._maxsize = maxsize
        self._entries: OrderedDict[str, PartEntry] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, message_id: str) -> PartEntry:
        with self._lock:
            return self._entries[message_id]

    def __setitem__(self, message_id: str, entry: PartEntry) -> None:
        with self._lock:
            self._entries[message_id] = entry
            self._entries.move_to_end(message_id)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)

    def __delitem__(self, message_id: str) -> None:
        with self._lock:
            del self._entries[message_id]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _utc_now() -> datetime:
    return datetime.now(_UTC)


class VonageGateway:
    """A :class:`~smscampaign.providers.gateway.Gateway` for the Vonage SMS API.

    Every message goes from ``from_`` (Vonage sends from the account's number
    or sender id; the message's own ``sender`` is not used).

    **Per-part receipts.** A body longer than one SMS becomes N parts, each
    with its own ``message-id``; the send response lists them in order, and
    the receipt's :attr:`~smscampaign.providers.gateway.SendReceipt.part_ids`
    keeps them (the first is the receipt's ``provider_message_id``). Vonage
    then sends one DLR per part, carrying only that part's ``messageId``. A
    DLR is mapped to the attempt by this rule:

    1. If the :class:`PartIndex` knows the DLR's ``messageId`` (``send``
       recorded it, or :meth:`remember_parts` did), the event is about the
       first part's id, with ``part=n`` and ``parts=N``.
    2. Otherwise, if the DLR carries ``concat-part`` and ``concat-total``
       (Vonage documents these on *inbound* messages only; they are honoured
       should a DLR carry them), the event keeps the DLR's own id with
       ``part`` and ``parts`` from them: right for part 1, whose id is the
       message's, while a later part's id stays unknown to storage.
    3. Otherwise the event keeps the DLR's ``messageId`` and no part. The
       runner records a receipt's part ids on the attempt and storage indexes
       each of them, so the event still finds its send and the attempt takes
       it as that part's receipt (:meth:`~smscampaign.Attempt.apply`).

    The attempt then merges the parts: delivered only when every part is,
    hard-bounced as soon as any part fails permanently (see
    :mod:`smscampaign.domain.delivery`).

    Args:
        api_key: The account's API key.
        api_secret: The account's API secret (HTTP basic auth for sending).
        from_: The sender: a number (E.164, ``+`` optional) or an alphanumeric id.
        signature_secret: The signature secret; when given, every webhook must
            carry a valid ``sig``. When ``None`` webhooks are not verified
            (Vonage signs them only once support enables it), so protect the
            endpoint some other way.
        previous_signature_secrets: Secrets being rotated out, still accepted.
        signature_method: The dashboard's algorithm, one of :data:`SIGNATURE_METHODS`.
        status_callback: The DLR URL when the message names none (``None``:
            the dashboard's default webhook).
        client: A ready ``vonage.Vonage`` client (e.g. with custom HTTP options).
        timestamp_tolerance: How far a signed webhook's ``timestamp`` may be
            from now; ``None`` skips the check.
        part_index: Where part ids are remembered (default: an in-memory
            :class:`PartIndex`).
        clock: Returns the current aware time (default: the system clock).

    Raises:
        MissingDependency: The ``vonage`` SDK is not installed.
        ConfigurationError: An argument is empty or out of range.
    """

    name = "vonage"

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        from_: str,
        signature_secret: str | None = None,
        previous_signature_secrets: Iterable[str] = (),
        signature_method: str = "sha256",
        status_callback: str | None = None,
        client: Any = None,
        timestamp_tolerance: timedelta | None = timedelta(minutes=5),
        part_index: MutableMapping[str, PartEntry] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        try:
            # importlib keeps mypy from needing the SDK's (untyped) modules.
            requests = importlib.import_module("requests")
            vonage = importlib.import_module("vonage")
            http_errors = importlib.import_module("vonage_http_client.errors")
            vonage_sms = importlib.import_module("vonage_sms")
        except ImportError as error:
            raise MissingDependency(
                f"VonageGateway needs the Vonage SDK: {_INSTALL}", value="vonage"
            ) from error
        for field, value in (("api_key", api_key), ("api_secret", api_secret), ("from_", from_)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{field} must be a non-empty string", value=field)
        if signature_method not in SIGNATURE_METHODS:
            raise ConfigurationError(
                f"signature_method must be one of {SIGNATURE_METHODS}, got {signature_method!r}",
                value=signature_method,
            )
        secrets = [s for s in (signature_secret, *previous_signature_secrets) if s]
        if signature_secret is None and secrets:
            raise ConfigurationError(
                "previous_signature_secrets needs a current signature_secret", value=secrets
            )
        if status_callback is not None and len(status_callback) > 100:
            raise ConfigurationError(
                "status_callback is longer than the 100 characters Vonage accepts",
                value=status_callback,
            )
        self._sms_message = vonage_sms.SmsMessage
        self._sms_error = vonage_sms.SmsError
        self._partial_error = vonage_sms.PartialFailureError
        self._http_error = http_errors.HttpRequestError
        self._network_error = requests.RequestException
        self._client = client or vonage.Vonage(vonage.Auth(api_key=api_key, api_secret=api_secret))
        self._from = from_[1:] if _E164_DIGITS.fullmatch(from_) else from_
        self._secrets = tuple(secrets)
        self._method = signature_method
        self._status_callback = status_callback
        self._tolerance = timestamp_tolerance
        self._parts: MutableMapping[str, PartEntry] = (
            part_index if part_index is not None else PartIndex()
        )
        self._clock = clock or _utc_now

    def __repr__(self) -> str:
        return f"VonageGateway(from_={self._from!r}, signed={bool(self._secrets)})"

    # --- send -------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Send one message through the SMS API.

        Returns:
            A ``SENDING`` receipt; for a concatenated message its ``part_ids``
            hold every part's id, in order, and the parts are remembered in
            the :class:`PartIndex`.

        Raises:
            TemporaryGatewayError: Throttled, an account problem, an outage or
                a network error (the message may be retried).
            PermanentGatewayError: Vonage refused this message for good.
        """
        now = self._clock()
        try:
            request = self._sms_message(**self._send_fields(message, now))
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            raise PermanentGatewayError(
                f"Vonage would refuse this message: {error}",
                value=message,
                reason=FailureReason.PROVIDER_ERROR,
                provider_code="validation",
                provider_text=str(error),
            ) from error
        try:
            response = self._client.sms.send(request)
        except self._partial_error as error:
            raise self._partial_failure(error, message) from error
        except self._sms_error as error:
            match = _SDK_ERROR.search(str(error))
            code, text = (match["code"], match["text"]) if match else (None, str(error))
            raise _gateway_error(SEND_STATUS_CODES, code, text, message) from error
        except self._http_error as error:
            failure = _HTTP_FAILURES.get(type(error).__name__)
            status = getattr(getattr(error, "response", None), "status_code", None)
            if failure is None:
                server = isinstance(status, int) and status >= 500
                failure = _Failure(FailureReason.PROVIDER_ERROR, not server, f"HTTP {status}")
            raise _error_from(failure, f"http_{status}", str(error), message) from error
        except self._network_error as error:
            raise TemporaryGatewayError(
                f"could not reach Vonage: {error}",
                value=message,
                reason=FailureReason.PROVIDER_ERROR,
                provider_code="network",
                provider_text=str(error),
            ) from error
        return self._receipt(response, now)

    def _send_fields(self, message: OutboundMessage, now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "to": message.to[1:],
            "from_": self._from,
            "text": message.body,
        }
        if not is_gsm7(message.body):
            fields["type"] = "unicode"
        period = message.validity_period(now)
        if period is not None:
            ms = int(period.total_seconds() * 1000)
            fields["ttl"] = min(max(ms, _TTL_MS[0]), _TTL_MS[1])
        callback = message.status_callback_url or self._status_callback
        if callback:
            fields["callback"] = callback
        if len(message.idempotency_key) <= _CLIENT_REF_MAX:
            fields["client_ref"] = message.idempotency_key
        return fields

    def _receipt(self, response: Any, now: datetime) -> SendReceipt:
        raw = response.model_dump(exclude_none=True)
        ids = [part.message_id for part in response.messages]
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise TemporaryGatewayError(
                "Vonage accepted the message but returned no message id",
                value=raw,
                reason=FailureReason.UNKNOWN,
                provider_code="no_message_id",
            )
        price = _sum_prices(part.message_price for part in response.messages)
        receipt = SendReceipt(
            provider=self.name,
            provider_message_id=ids[0],
            accepted_at=now,
            status=DeliveryStatus.SENDING,
            provider_status="0",
            part_ids=ids if len(ids) > 1 else (),
            segments=len(ids),
            price=price,
            raw=raw,
        )
        self.remember_parts(receipt)
        return receipt

    def _partial_failure(self, error: Any, message: OutboundMessage) -> GatewayError:
        # PartialFailureError.response is the response dict (vonage_sms/errors.py). Parts that
        # Vonage accepted may still be delivered: they cannot be called back.
        data = getattr(error, "response", None)
        parts = data.get("messages", []) if isinstance(data, Mapping) else []
        failed = next((p for p in parts if str(p.get("status")) != "0"), None)
        code = str(failed.get("status")) if failed else None
        text = str(failed.get("error-text", "")) if failed else str(error)
        return _gateway_error(SEND_STATUS_CODES, code, f"partial failure: {text}", message)

    def remember_parts(self, receipt: SendReceipt) -> None:
        """Record a concatenated message's part ids, so their receipts find the message.

        ``send`` calls it; call it yourself with stored receipts in a process
        that handles webhooks but did not send.
        """
        ids = receipt.part_ids
        for number, part_id in enumerate(ids, start=1):
            self._parts[part_id] = (ids[0], number, len(ids))

    # --- webhooks -------------------------------------------------------------------

    def parse_status(self, request: WebhookRequest) -> list[StatusEvent]:
        """Verify a delivery receipt (GET, form POST or JSON POST) and read its event.

        Returns:
            One event. Unknown status words give ``status=None``; unknown
            ``err-code`` values give ``FailureReason.UNKNOWN``.

        Raises:
            WebhookVerificationError: A signature secret is configured and the
                ``sig`` is missing, wrong or its ``timestamp`` is stale.
            MalformedWebhook: The request is not a Vonage DLR.
        """
        params = self._verified_params(request)
        try:
            message_id = _text(params, "messageId")
            word = _text(params, "status").lower()
            code = _optional(params, "err-code")
            target, part, parts = self._which_part(message_id, params)
            fields: dict[str, Any] = {
                "provider": self.name,
                "provider_message_id": target,
                "occurred_at": _occurred_at(params),
                "provider_status": word,
                "provider_code": code,
                "price": _decimal(_optional(params, "price")),
                "part": part,
                "parts": parts,
                "raw": params,
            }
            if word in _FAILURE_WORDS:
                failure = DLR_ERROR_CODES.get(code or "")
                if word == "expired":
                    failure = _Failure(FailureReason.EXPIRED, False, "Expired")
                elif failure is None:
                    failure = _Failure(FailureReason.UNKNOWN, False, word)
                return [
                    StatusEvent.failure(
                        reason=failure.reason,
                        permanent=failure.permanent,
                        provider_text=failure.text,
                        **fields,
                    )
                ]
            return [StatusEvent(status=DLR_STATUSES.get(word), **fields)]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(f"not a valid Vonage DLR: {error}", value=params) from error

    def _which_part(
        self, message_id: str, params: Mapping[str, Any]
    ) -> tuple[str, int | None, int | None]:
        entry = self._parts.get(message_id)
        if entry is not None:
            return entry
        part, total = _optional(params, "concat-part"), _optional(params, "concat-total")
        if part and total and int(total) > 1:
            return message_id, int(part), int(total)
        return message_id, None, None

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Verify an inbound SMS webhook and read its message.

        A concatenated inbound message arrives as separate webhooks, one per
        part (``concat-ref``, ``concat-part``, ``concat-total``); each is
        returned as it came, with those fields in ``raw``, not reassembled.

        Raises:
            WebhookVerificationError: A signature secret is configured and the
                ``sig`` is missing, wrong or stale.
            MalformedWebhook: The request is not a Vonage inbound SMS.
        """
        params = self._verified_params(request)
        try:
            text = params.get("text", "")
            if not isinstance(text, str):
                raise MalformedWebhook(f"text must be a string, got {text!r}", value=text)
            return [
                InboundMessage(
                    provider=self.name,
                    provider_message_id=_text(params, "messageId"),
                    sender=PhoneNumber.parse("+" + _text(params, "msisdn"), lenient=True),
                    recipient=_text(params, "to"),
                    body=text,
                    received_at=_occurred_at(params),
                    raw=params,
                )
            ]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(
                f"not a valid Vonage inbound SMS: {error}", value=params
            ) from error

    def _verified_params(self, request: WebhookRequest) -> dict[str, Any]:
        """The webhook's parameters, after its signature checked out (when configured)."""
        try:
            params = _params(request)
        except MalformedWebhook:
            if self._secrets:  # what cannot be read cannot be verified
                raise webhook_verification_error(request) from None
            raise
        if self._secrets and not self._signature_ok(params):
            raise webhook_verification_error(request)
        return params

    def _signature_ok(self, params: Mapping[str, Any]) -> bool:
        sig = params.get("sig")
        if not isinstance(sig, str) or not sig:
            return False
        if self._tolerance is not None:
            try:
                signed_at = datetime.fromtimestamp(int(str(params.get("timestamp"))), _UTC)
            except (ValueError, OverflowError, OSError):
                return False
            if abs(self._clock() - signed_at) > self._tolerance:
                return False
        candidates = [vonage_signature(params, s, self._method) for s in self._secrets]
        return verify_any(candidates, sig.lower())


# --- helpers ----------------------------------------------------------------------


def _params(request: WebhookRequest) -> dict[str, Any]:
    """GET query, JSON object or form body: however the dashboard told Vonage to call."""
    if request.method in ("GET", "HEAD"):
        return request.query()
    if request.content_type == "application/json" or request.body.lstrip()[:1] == b"{":
        payload = request.json()
        if not isinstance(payload, dict):
            raise MalformedWebhook("webhook body is not a JSON object", value=request.body)
        return payload
    return request.form()


def _failure_for(table: Mapping[str, _Failure], code: str | None, text: str) -> _Failure:
    return table.get(code or "") or _Failure(FailureReason.UNKNOWN, False, text)


def _gateway_error(
    table: Mapping[str, _Failure], code: str | None, text: str, message: OutboundMessage
) -> GatewayError:
    return _error_from(_failure_for(table, code, text), code or "unknown", text, message)


def _error_from(failure: _Failure, code: str, text: str, message: OutboundMessage) -> GatewayError:
    cls = PermanentGatewayError if failure.permanent else TemporaryGatewayError
    return cls(
        f"Vonage refused the message to {message.to}: {code} {text or failure.text}",
        value=message,
        reason=failure.reason,
        provider_code=code,
        provider_text=text or failure.text,
    )


def _text(params: Mapping[str, Any], field: str) -> str:
    value = params.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedWebhook(f"{field} must be a non-empty string, got {value!r}", value=value)
    return value


def _optional(params: Mapping[str, Any], field: str) -> str | None:
    value = params.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedWebhook(f"{field} must be text, got {value!r}", value=value)
    return str(value)


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise MalformedWebhook(f"price is not a number: {value!r}", value=value) from error


def _sum_prices(values: Iterable[str | None]) -> Decimal | None:
    total: Decimal | None = None
    for value in values:
        if value:
            try:
                total = (total or Decimal(0)) + Decimal(value)
            except InvalidOperation:
                return None
    return total


def _occurred_at(params: Mapping[str, Any]) -> datetime:
    """``message-timestamp`` (UTC, "YYYY-MM-DD HH:MM:SS"), else the signed ``timestamp``."""
    stamp = _optional(params, "message-timestamp")
    if stamp is not None:
        try:
            moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        except ValueError as error:
            raise MalformedWebhook(
                f"message-timestamp is not 'YYYY-MM-DD HH:MM:SS': {stamp!r}", value=stamp
            ) from error
        return moment.replace(tzinfo=_UTC)
    unix = _optional(params, "timestamp")
    if unix is not None:
        try:
            return datetime.fromtimestamp(int(unix), _UTC)
        except (ValueError, OverflowError, OSError) as error:
            raise MalformedWebhook(f"timestamp is not unix time: {unix!r}", value=unix) from error
    raise MalformedWebhook("the webhook has neither message-timestamp nor timestamp", value=params)
