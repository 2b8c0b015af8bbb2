"""TwilioGateway: sending through the SDK, error and status tables, signatures, callbacks.

No test reaches the network: the SDK's HTTP is intercepted at the transport by
``responses``, and webhook signatures are made by the SDK's own
``RequestValidator``, the oracle for what Twilio sends.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("twilio")
responses = pytest.importorskip("responses")

import requests  # noqa: E402  (after the importorskip guards)
from twilio.base.exceptions import TwilioRestException  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from smscampaign.domain.delivery import (  # noqa: E402
    Attempt,
    DeliveryStatus,
    FailureReason,
    Permanence,
    StatusEvent,
)
from smscampaign.errors import (  # noqa: E402
    ConfigurationError,
    GatewayError,
    MalformedWebhook,
    MissingDependency,
    PermanentGatewayError,
    TemporaryGatewayError,
    WebhookVerificationError,
)
from smscampaign.providers.gateway import (  # noqa: E402
    Gateway,
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
)
from smscampaign.providers.simulated import VirtualClock  # noqa: E402
from smscampaign.providers.twilio import (  # noqa: E402
    EMPTY_TWIML,
    ERROR_CODES,
    FAILURE_STATUSES,
    MAX_VALIDITY_PERIOD,
    STATUSES,
    TwilioGateway,
    error_for,
    signature_urls,
    twilio_signature,
)
from smscampaign.testing.gateway_contract import GatewayContract  # noqa: E402

UTC = timezone.utc
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TOKEN = "current-auth-token"
OLD_TOKEN = "previous-auth-token"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
STATUS_URL = "https://hooks.example.com/twilio/status"
INBOUND_URL = "https://hooks.example.com/twilio/inbound"
SENDER = "+12125550100"
TO = "+12125550123"
FORM = "application/x-www-form-urlencoded"


# --- helpers: Twilio's formats --------------------------------------------------------


def message_json(sid: str, to: str = TO, **fields: Any) -> dict[str, Any]:
    """A Message resource as the REST API answers ``messages.create``."""
    body: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": "Hello",
        "date_created": "Tue, 03 Mar 2026 15:00:00 +0000",
        "date_sent": None,
        "date_updated": "Tue, 03 Mar 2026 15:00:00 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": SENDER,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"
        },
        "to": to,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }
    body.update(fields)
    return body


def error_json(code: int, message: str, status: int) -> dict[str, Any]:
    """A REST error body in Twilio's (legacy, still current) format."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def signed(
    url: str,
    params: Mapping[str, str],
    *,
    token: str = TOKEN,
    sign_url: str | None = None,
    method: str = "POST",
) -> WebhookRequest:
    """A request carrying ``params``, signed by the SDK's RequestValidator as Twilio signs."""
    validator = RequestValidator(token)
    if method == "GET":
        query = urlencode(params)
        full = f"{url}?{query}"
        signature = validator.compute_signature(sign_url or full, {})
        return WebhookRequest(method="GET", url=full, headers={"X-Twilio-Signature": signature})
    signature = validator.compute_signature(sign_url or url, dict(params))
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"X-Twilio-Signature": signature, "Content-Type": FORM},
        body=urlencode(params),
    )


def status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    """A status callback's parameters as Twilio posts them (track-outbound-message-status)."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": SENDER,
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": TO,
    }
    params.update(extra)
    return params


def inbound_params(sid: str, from_number: str, body: str, **extra: str) -> dict[str, str]:
    """An inbound-message webhook's parameters (messaging/guides/webhook-request)."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": from_number,
        "FromCity": "NEW YORK",
        "FromCountry": "US",
        "FromState": "NY",
        "FromZip": "10001",
        "MessageSid": sid,
        "MessagingServiceSid": SERVICE_SID,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": SENDER,
        "ToCountry": "US",
    }
    params.update(extra)
    return params


def sids() -> Iterator[str]:
    """Distinct, Twilio-shaped message SIDs."""
    for n in itertools.count(1):
        yield f"SM{n:032x}"


@pytest.fixture
def api() -> Iterator[Any]:
    """The Twilio REST API, intercepted at the HTTP transport."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock at T0."""
    return VirtualClock(T0)


@pytest.fixture
def make_gateway(clock: VirtualClock) -> Callable[..., TwilioGateway]:
    """Build a TwilioGateway on the virtual clock (options as keywords)."""

    def build(**options: Any) -> TwilioGateway:
        options.setdefault("clock", clock)
        return TwilioGateway(ACCOUNT_SID, TOKEN, **options)

    return build


@pytest.fixture
def gateway(make_gateway: Callable[..., TwilioGateway]) -> TwilioGateway:
    """A TwilioGateway with the default options."""
    return make_gateway()


def message(**fields: Any) -> OutboundMessage:
    """An outbound message to TO from SENDER."""
    fields.setdefault("to", TO)
    fields.setdefault("sender", SENDER)
    fields.setdefault("body", "Hello")
    fields.setdefault("idempotency_key", "send-1:1")
    return OutboundMessage(**fields)


def sent_form(api: Any, index: int = -1) -> dict[str, list[str]]:
    """The form the SDK posted to Twilio."""
    body = api.calls[index].request.body
    return parse_qs(body if isinstance(body, str) else body.decode())


# --- the contract ----------------------------------------------------------------------

_CONTRACT_WORDS = {
    DeliveryStatus.SENT: ("sent", {}),
    DeliveryStatus.DELIVERED: ("delivered", {"RawDlrDoneDate": "2603031501"}),
    DeliveryStatus.SOFT_BOUNCED: (
        "undelivered",
        {"ErrorCode": "30003", "ErrorMessage": "Unreachable destination handset"},
    ),
    DeliveryStatus.HARD_BOUNCED: (
        "undelivered",
        {"ErrorCode": "30006", "ErrorMessage": "Landline or unreachable carrier"},
    ),
}


class TestTwilioGatewayContract(GatewayContract):
    """TwilioGateway, REST API intercepted and callbacks SDK-signed, passes the contract."""

    # Twilio's messages.create takes no idempotency key (see docs/providers.md).
    honours_idempotency = False

    @pytest.fixture(autouse=True)
    def _twilio_api(self) -> Iterator[None]:
        new_sid = sids()

        def create(request: Any) -> tuple[int, dict[str, str], str]:
            form = parse_qs(request.body)
            to = form["To"][0]
            if to == self.invalid_number:
                answer = error_json(21211, "The 'To' number is not a valid phone number.", 400)
                return 400, {}, json.dumps(answer)
            return 201, {}, json.dumps(message_json(next(new_sid), to=to))

        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_callback(responses.POST, MESSAGES_URL, callback=create)
            yield

    def make_gateway(self) -> Gateway:
        return TwilioGateway(ACCOUNT_SID, TOKEN, previous_auth_tokens=[OLD_TOKEN])

    def make_status_request(
        self, gateway: Gateway, receipt: SendReceipt, outcome: DeliveryStatus
    ) -> WebhookRequest:
        word, extra = _CONTRACT_WORDS[outcome]
        return signed(STATUS_URL, status_params(receipt.provider_message_id, word, **extra))

    def make_inbound_request(
        self, gateway: Gateway, *, from_number: str, body: str
    ) -> WebhookRequest:
        return signed(INBOUND_URL, inbound_params("SM" + "a1" * 16, from_number, body))

    def make_malformed_request(self, gateway: Gateway) -> WebhookRequest:
        return signed(STATUS_URL, {"Foo": "bar", "AccountSid": ACCOUNT_SID})


# --- optional dependency -------------------------------------------------------------------


class TestOptionalDependency:
    """The SDK is needed only to construct the gateway, and its absence names the extra."""

    def test_importing_smscampaign_does_not_import_twilio(self) -> None:
        """Importing the package, this adapter and the webhook receiver loads no twilio module."""
        code = (
            "import sys, smscampaign, smscampaign.providers.twilio, smscampaign.webhooks\n"
            "loaded = [m for m in sys.modules if m == 'twilio' or m.startswith('twilio.')]\n"
            "assert not loaded, loaded\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_constructing_without_the_sdk_names_the_extra(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the SDK, construction raises MissingDependency naming the pip command."""
        for name in [m for m in sys.modules if m == "twilio" or m.startswith("twilio.")]:
            monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.setitem(sys.modules, "twilio", None)
        with pytest.raises(
            MissingDependency, match=r'pip install "smscampaign\[twilio\]"'
        ) as caught:
            TwilioGateway(ACCOUNT_SID, TOKEN)
        assert isinstance(caught.value, ImportError)
        assert isinstance(caught.value.__cause__, ImportError)


class TestConfiguration:
    """Constructor arguments are checked up front."""

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"account_sid": "", "auth_token": TOKEN},
            {"account_sid": ACCOUNT_SID, "auth_token": " "},
            {
                "account_sid": ACCOUNT_SID,
                "auth_token": TOKEN,
                "from_": SENDER,
                "messaging_service_sid": SERVICE_SID,
            },
            {"account_sid": ACCOUNT_SID, "auth_token": TOKEN, "previous_auth_tokens": "old"},
            {"account_sid": ACCOUNT_SID, "auth_token": TOKEN, "public_url": "hooks.example.com"},
        ],
    )
    def test_bad_configuration_raises(self, kwargs: dict[str, Any]) -> None:
        """Empty credentials, two sender kinds, a bare token or a relative URL are refused."""
        with pytest.raises(ConfigurationError):
            TwilioGateway(**kwargs)

    def test_is_a_gateway_named_twilio(self, gateway: TwilioGateway) -> None:
        """The gateway satisfies the protocol under the slug 'twilio'."""
        assert isinstance(gateway, Gateway)
        assert gateway.name == "twilio"
        assert TOKEN not in repr(gateway)


# --- sending -------------------------------------------------------------------------------


class TestSending:
    """send() makes the messages.create call Twilio documents and reads its answer."""

    def test_request_carries_to_from_body_callback_and_validity(
        self, api: Any, gateway: TwilioGateway
    ) -> None:
        """To, From, Body, StatusCallback and ValidityPeriod reach Twilio as the SDK posts them."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1"), status=201)
        receipt = gateway.send(
            message(
                body="Hi Ann, your survey: https://s.example/x",
                valid_until=T0 + timedelta(hours=2),
                status_callback_url=STATUS_URL + "?campaign=c1",
            )
        )
        form = sent_form(api)
        assert form == {
            "To": [TO],
            "From": [SENDER],
            "Body": ["Hi Ann, your survey: https://s.example/x"],
            "StatusCallback": [STATUS_URL + "?campaign=c1"],
            "ValidityPeriod": ["7200"],
        }
        assert api.calls[0].request.headers["Authorization"].startswith("Basic ")
        assert receipt == SendReceipt(
            provider="twilio",
            provider_message_id="SM1",
            accepted_at=T0,
            status=DeliveryStatus.SENDING,
            provider_status="queued",
            segments=1,
            currency="USD",
        )
        assert receipt.raw["sid"] == "SM1"

    def test_messaging_service_sid_as_sender(self, api: Any, gateway: TwilioGateway) -> None:
        """A sender that is a Messaging Service SID goes as MessagingServiceSid, without From."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1", status="accepted"))
        receipt = gateway.send(message(sender=SERVICE_SID))
        form = sent_form(api)
        assert form["MessagingServiceSid"] == [SERVICE_SID]
        assert "From" not in form
        assert receipt.status is DeliveryStatus.SENDING
        assert receipt.provider_status == "accepted"

    def test_gateway_messaging_service_wins_over_a_number(
        self, api: Any, make_gateway: Callable[..., TwilioGateway]
    ) -> None:
        """A gateway configured with a Messaging Service sends every message through it."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1"))
        make_gateway(messaging_service_sid=SERVICE_SID).send(message())
        form = sent_form(api)
        assert form["MessagingServiceSid"] == [SERVICE_SID]
        assert "From" not in form

    def test_gateway_from_overrides_the_message_sender(
        self, api: Any, make_gateway: Callable[..., TwilioGateway]
    ) -> None:
        """A gateway's from_ is the From of every message."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1"))
        make_gateway(from_="ACME").send(message())
        assert sent_form(api)["From"] == ["ACME"]

    def test_default_status_callback_and_message_override(
        self, api: Any, make_gateway: Callable[..., TwilioGateway]
    ) -> None:
        """The gateway's callback URL applies unless the message names its own; none sends none."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1"))
        with_default = make_gateway(status_callback=STATUS_URL)
        with_default.send(message())
        with_default.send(message(status_callback_url="https://other.example/cb"))
        make_gateway().send(message())
        assert sent_form(api, 0)["StatusCallback"] == [STATUS_URL]
        assert sent_form(api, 1)["StatusCallback"] == ["https://other.example/cb"]
        assert "StatusCallback" not in sent_form(api, 2)

    @pytest.mark.parametrize(
        ("left", "expected"),
        [
            (None, None),
            (timedelta(milliseconds=200), "1"),
            (timedelta(seconds=90.5), "91"),
            (timedelta(hours=10), "36000"),
            (timedelta(days=2), str(MAX_VALIDITY_PERIOD)),
        ],
    )
    def test_validity_period_is_clamped_to_twilios_range(
        self, api: Any, gateway: TwilioGateway, left: timedelta | None, expected: str | None
    ) -> None:
        """valid_until becomes ValidityPeriod in whole seconds, 1 to 36,000, or is left out."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1"))
        gateway.send(message(valid_until=None if left is None else T0 + left))
        assert sent_form(api).get("ValidityPeriod") == (None if expected is None else [expected])

    def test_expired_message_is_not_sent(self, api: Any, gateway: TwilioGateway) -> None:
        """A message already past valid_until raises a temporary EXPIRED error without a request."""
        with pytest.raises(TemporaryGatewayError) as caught:
            gateway.send(message(valid_until=T0))
        assert caught.value.reason is FailureReason.EXPIRED
        assert not api.calls

    @pytest.mark.parametrize(
        ("word", "status"),
        [
            ("queued", DeliveryStatus.SENDING),
            ("accepted", DeliveryStatus.SENDING),
            ("scheduled", DeliveryStatus.QUEUED),
            ("sending", DeliveryStatus.SENDING),
            ("sent", DeliveryStatus.SENT),
        ],
    )
    def test_initial_status_becomes_the_receipt_status(
        self, api: Any, gateway: TwilioGateway, word: str, status: DeliveryStatus
    ) -> None:
        """Twilio's initial status (never called back) is the receipt's status."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1", status=word))
        receipt = gateway.send(message())
        assert receipt.status is status
        assert receipt.provider_status == word

    def test_segments_and_price_are_read(self, api: Any, gateway: TwilioGateway) -> None:
        """num_segments and Twilio's negative price become segments and a positive cost."""
        answer = message_json("SM1", num_segments="3", price="-0.02370", price_unit="USD")
        api.add(responses.POST, MESSAGES_URL, json=answer)
        receipt = gateway.send(message())
        assert (receipt.segments, receipt.price, receipt.currency) == (3, Decimal("0.02370"), "USD")

    def test_a_message_born_failed_raises(self, api: Any, gateway: TwilioGateway) -> None:
        """A create answer already 'failed' is reported now: no callback will follow it."""
        answer = message_json("SM1", status="failed", error_code=30007, error_message="Filtered")
        api.add(responses.POST, MESSAGES_URL, json=answer)
        with pytest.raises(PermanentGatewayError) as caught:
            gateway.send(message())
        assert caught.value.reason is FailureReason.CARRIER_FILTERED
        assert caught.value.provider_code == "30007"

    def test_no_idempotency_key_reaches_twilio(self, api: Any, gateway: TwilioGateway) -> None:
        """Twilio has no idempotency key: the same message sent twice is created twice."""
        new_sid = sids()
        api.add_callback(
            responses.POST,
            MESSAGES_URL,
            callback=lambda _r: (201, {}, json.dumps(message_json(next(new_sid)))),
        )
        first, second = gateway.send(message()), gateway.send(message())
        assert first.provider_message_id != second.provider_message_id
        assert all("send-1" not in str(call.request.body) for call in api.calls)


class TestSendErrors:
    """REST errors become typed gateway errors with a reason, the code and Twilio's text."""

    @pytest.mark.parametrize(
        ("status", "code", "text", "kind", "reason"),
        [
            (
                400,
                21211,
                "The 'To' number +1555 is not a valid phone number.",
                PermanentGatewayError,
                FailureReason.INVALID_NUMBER,
            ),
            (
                400,
                21614,
                "'To' number is not a valid mobile number",
                PermanentGatewayError,
                FailureReason.LANDLINE,
            ),
            (
                400,
                21635,
                "'To' number cannot be a landline",
                PermanentGatewayError,
                FailureReason.LANDLINE,
            ),
            (
                400,
                21610,
                "Attempt to send to unsubscribed recipient",
                PermanentGatewayError,
                FailureReason.OPTED_OUT_AT_CARRIER,
            ),
            (
                400,
                21611,
                "This 'From' number has exceeded the maximum number of queued messages",
                TemporaryGatewayError,
                FailureReason.QUEUE_OVERFLOW,
            ),
            (429, 20429, "Too Many Requests", TemporaryGatewayError, FailureReason.QUEUE_OVERFLOW),
            (
                503,
                20503,
                "Service Unavailable",
                TemporaryGatewayError,
                FailureReason.PROVIDER_ERROR,
            ),
            (401, 20003, "Authenticate", TemporaryGatewayError, FailureReason.PROVIDER_ERROR),
            (
                400,
                21999,
                "A code this library has never heard of",
                TemporaryGatewayError,
                FailureReason.UNKNOWN,
            ),
        ],
    )
    def test_error_codes_map(
        self,
        api: Any,
        gateway: TwilioGateway,
        status: int,
        code: int,
        text: str,
        kind: type[GatewayError],
        reason: FailureReason,
    ) -> None:
        """A real-format error body maps by its code; the code and text are kept."""
        api.add(responses.POST, MESSAGES_URL, json=error_json(code, text, status), status=status)
        with pytest.raises(GatewayError) as caught:
            gateway.send(message())
        error = caught.value
        assert type(error) is kind
        assert error.reason is reason
        assert error.provider_code == str(code)
        assert error.provider_text is not None
        assert text in error.provider_text
        assert isinstance(error.__cause__, TwilioRestException)

    @pytest.mark.parametrize(
        ("status", "reason"),
        [
            (429, FailureReason.QUEUE_OVERFLOW),
            (500, FailureReason.PROVIDER_ERROR),
            (502, FailureReason.PROVIDER_ERROR),
            (404, FailureReason.UNKNOWN),
        ],
    )
    def test_http_status_without_a_twilio_body(
        self, api: Any, gateway: TwilioGateway, status: int, reason: FailureReason
    ) -> None:
        """An answer without Twilio's JSON (a proxy's HTML page) maps by its HTTP status."""
        api.add(responses.POST, MESSAGES_URL, body="<html>Bad Gateway</html>", status=status)
        with pytest.raises(TemporaryGatewayError) as caught:
            gateway.send(message())
        assert caught.value.reason is reason

    def test_problem_details_answer_maps_by_code(self, api: Any, gateway: TwilioGateway) -> None:
        """An RFC 9457 answer (TwilioServiceException) maps by its code like a legacy one."""
        problem = {
            "type": "https://www.twilio.com/docs/errors/21610",
            "title": "Attempt to send to unsubscribed recipient",
            "status": 400,
            "code": 21610,
            "detail": "The recipient replied STOP.",
        }
        api.add(responses.POST, MESSAGES_URL, json=problem, status=400)
        with pytest.raises(PermanentGatewayError) as caught:
            gateway.send(message())
        assert caught.value.reason is FailureReason.OPTED_OUT_AT_CARRIER
        assert caught.value.provider_text == "The recipient replied STOP."

    @pytest.mark.parametrize(
        "failure", [requests.ConnectionError("connection refused"), requests.Timeout("read")]
    )
    def test_transport_failures_are_temporary(
        self, api: Any, gateway: TwilioGateway, failure: Exception
    ) -> None:
        """A connection error or timeout is a temporary PROVIDER_ERROR, chained."""
        api.add(responses.POST, MESSAGES_URL, body=failure)
        with pytest.raises(TemporaryGatewayError) as caught:
            gateway.send(message())
        assert caught.value.reason is FailureReason.PROVIDER_ERROR
        assert caught.value.__cause__ is failure


class TestErrorTable:
    """The error-code table is consistent with the normalized vocabulary."""

    @pytest.mark.parametrize(("code", "entry"), sorted(ERROR_CODES.items()))
    def test_suppressing_reasons_are_permanent(
        self, code: str, entry: tuple[FailureReason, bool]
    ) -> None:
        """A code whose reason suppresses the number is permanent; every code is digits."""
        reason, permanent = entry
        assert code.isdigit()
        if reason.suppresses:
            assert permanent

    def test_unknown_code_is_unknown_and_temporary(self) -> None:
        """An unknown code degrades to UNKNOWN with its default (temporary) permanence."""
        error = error_for("99999", text="new")
        assert isinstance(error, TemporaryGatewayError)
        assert error.reason is FailureReason.UNKNOWN
        assert FailureReason.UNKNOWN.permanence is Permanence.TEMPORARY
        assert (error.provider_code, error.provider_text) == ("99999", "new")


# --- status callbacks ----------------------------------------------------------------------

_EXPECTED_STATUS = {
    "accepted": DeliveryStatus.SENDING,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.SENDING,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "canceled": None,
    "partially_delivered": None,
    "receiving": None,
    "received": None,
}


class TestStatusCallbacks:
    """Every documented status word and every mapped error code parse from real-format payloads."""

    def test_every_status_word_is_covered(self) -> None:
        """The table covers the SDK's full MessageInstance.Status enum."""
        from twilio.rest.api.v2010.account.message import MessageInstance

        words = {
            value
            for name, value in vars(MessageInstance.Status).items()
            if name.isupper() and isinstance(value, str)
        }
        assert words == set(STATUSES)
        assert words == set(_EXPECTED_STATUS) | FAILURE_STATUSES

    @pytest.mark.parametrize(("word", "expected"), sorted(_EXPECTED_STATUS.items()))
    def test_status_word_maps(
        self, gateway: TwilioGateway, word: str, expected: DeliveryStatus | None
    ) -> None:
        """A non-failure word maps to its status (None: kept, changes nothing), raw kept."""
        (event,) = gateway.parse_status(signed(STATUS_URL, status_params("SM1", word)))
        assert event.status is expected
        assert event.provider_status == word
        assert event.provider_message_id == "SM1"
        assert event.raw["MessageStatus"] == word
        assert event.raw["AccountSid"] == ACCOUNT_SID

    @pytest.mark.parametrize("word", sorted(FAILURE_STATUSES))
    @pytest.mark.parametrize(("code", "entry"), sorted(ERROR_CODES.items()))
    def test_failure_codes_map(
        self, gateway: TwilioGateway, word: str, code: str, entry: tuple[FailureReason, bool]
    ) -> None:
        """failed/undelivered become a hard or soft bounce with the code's reason and text."""
        reason, permanent = entry
        params = status_params("SM1", word, ErrorCode=code, ErrorMessage=f"error {code}")
        (event,) = gateway.parse_status(signed(STATUS_URL, params))
        assert event.reason is reason
        assert event.status is (
            DeliveryStatus.HARD_BOUNCED if permanent else DeliveryStatus.SOFT_BOUNCED
        )
        assert (event.provider_code, event.provider_text) == (code, f"error {code}")

    def test_failure_without_a_code_is_an_unknown_soft_bounce(self, gateway: TwilioGateway) -> None:
        """'failed' with no ErrorCode is UNKNOWN, temporary."""
        (event,) = gateway.parse_status(signed(STATUS_URL, status_params("SM1", "failed")))
        assert (event.status, event.reason) == (DeliveryStatus.SOFT_BOUNCED, FailureReason.UNKNOWN)

    def test_unknown_code_and_unknown_word_degrade(self, gateway: TwilioGateway) -> None:
        """A new error code gives UNKNOWN and a new status word gives no status; nothing crashes."""
        params = status_params("SM1", "undelivered", ErrorCode="39999")
        (failure,) = gateway.parse_status(signed(STATUS_URL, params))
        (novel,) = gateway.parse_status(
            signed(STATUS_URL, status_params("SM1", "delivery_unknown"))
        )
        assert failure.reason is FailureReason.UNKNOWN
        assert failure.provider_code == "39999"
        assert novel.status is None
        assert novel.provider_status == "delivery_unknown"

    def test_segments_price_and_legacy_names(self, gateway: TwilioGateway) -> None:
        """NumSegments and Price are read; SmsSid/SmsStatus alone identify the message."""
        params = {"SmsSid": "SM9", "SmsStatus": "sent", "NumSegments": "2", "Price": "-0.0158"}
        (event,) = gateway.parse_status(signed(STATUS_URL, params))
        assert (event.provider_message_id, event.status) == ("SM9", DeliveryStatus.SENT)
        assert (event.segments, event.price) == (2, Decimal("0.0158"))

    def test_raw_dlr_done_date_is_the_event_time(self, gateway: TwilioGateway) -> None:
        """RawDlrDoneDate (YYMMDDhhmm, read as UTC) is occurred_at."""
        params = status_params("SM1", "delivered", RawDlrDoneDate="2603031459")
        (event,) = gateway.parse_status(signed(STATUS_URL, params))
        assert event.occurred_at == datetime(2026, 3, 3, 14, 59, tzinfo=UTC)

    def test_a_future_dlr_date_is_capped_at_arrival(self, gateway: TwilioGateway) -> None:
        """A done date after the callback arrived (a zone mismatch) is capped at arrival."""
        params = status_params("SM1", "delivered", RawDlrDoneDate="2603032359")
        (event,) = gateway.parse_status(signed(STATUS_URL, params))
        assert event.occurred_at == T0

    def test_without_a_dlr_date_a_redelivery_keeps_its_time(
        self, gateway: TwilioGateway, clock: VirtualClock
    ) -> None:
        """Without a done date the arrival time stands in, and a redelivery parses equal."""
        request = signed(STATUS_URL, status_params("SM1", "sent"))
        (first,) = gateway.parse_status(request)
        clock.advance(timedelta(minutes=3))
        (again,) = gateway.parse_status(request)
        (later,) = gateway.parse_status(signed(STATUS_URL, status_params("SM1", "delivered")))
        assert first.occurred_at == T0
        assert again == first
        assert again.dedup_key == first.dedup_key
        assert later.occurred_at == T0 + timedelta(minutes=3)

    @pytest.mark.parametrize(
        "params",
        [
            {"MessageStatus": "delivered", "To": TO},
            {"MessageSid": "SM1", "To": TO},
            {"MessageSid": "  ", "MessageStatus": "sent"},
        ],
    )
    def test_missing_fields_are_malformed(
        self, gateway: TwilioGateway, params: dict[str, str]
    ) -> None:
        """A verified callback without a SID or a status raises MalformedWebhook."""
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(signed(STATUS_URL, params))

    def test_verified_json_body_is_malformed(self, gateway: TwilioGateway) -> None:
        """A correctly signed request whose body is JSON, not a form, raises MalformedWebhook."""
        body = json.dumps({"MessageSid": "SM1"})
        signature = RequestValidator(TOKEN).compute_signature(STATUS_URL, {body: ""})
        request = WebhookRequest(
            method="POST",
            url=STATUS_URL,
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/json"},
            body=body,
        )
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(request)


class TestConvergence:
    """Callbacks reordered and duplicated give the same attempt, and DELIVERED wins."""

    def test_every_order_of_receipt_and_callbacks_converges(
        self, api: Any, gateway: TwilioGateway, clock: VirtualClock
    ) -> None:
        """Receipt, sending, sent, delivered and a late 'sending' converge in all 120 orders."""
        api.add(responses.POST, MESSAGES_URL, json=message_json("SM1"))
        receipt = gateway.send(message())
        events = [receipt.to_event()]
        for word, extra in [
            ("sending", {}),
            ("sent", {}),
            ("delivered", {"RawDlrDoneDate": "2603031501"}),
            ("sending", {"ApiVersion": "2010-04-01"}),  # seen after delivered in production
        ]:
            clock.advance(timedelta(seconds=30))
            events += gateway.parse_status(signed(STATUS_URL, status_params("SM1", word, **extra)))
        queued = Attempt.queued(number=1, to=TO, at=T0 - timedelta(seconds=1))
        results = {queued.apply_all(order) for order in itertools.permutations(events)}
        results.add(queued.apply_all(events + events[::-1]))
        assert len(results) == 1
        final = results.pop()
        assert final.status is DeliveryStatus.DELIVERED
        assert final.delivered_at == datetime(2026, 3, 3, 15, 1, tzinfo=UTC)

    def test_failure_and_duplicate_converge(self, gateway: TwilioGateway) -> None:
        """An undelivered callback, its duplicate and an earlier 'sent' agree in every order."""
        sent = gateway.parse_status(signed(STATUS_URL, status_params("SM1", "sent")))
        failed = gateway.parse_status(
            signed(STATUS_URL, status_params("SM1", "undelivered", ErrorCode="30006"))
        )
        events: list[StatusEvent] = [*sent, *failed, *failed]
        queued = Attempt.queued(number=1, to=TO, at=T0)
        results = {queued.apply_all(order) for order in itertools.permutations(events)}
        assert len(results) == 1
        final = results.pop()
        assert (final.status, final.reason) == (DeliveryStatus.HARD_BOUNCED, FailureReason.LANDLINE)
        assert final.provider_code == "30006"


# --- signatures ----------------------------------------------------------------------------


def _assert_rejected(gateway: TwilioGateway, request: WebhookRequest) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        gateway.parse_status(request)
    return str(caught.value)


class TestSignatures:
    """X-Twilio-Signature is checked first, against what the SDK's RequestValidator signs."""

    PARAMS = status_params("SM1", "delivered")

    def test_sdk_signed_request_is_accepted(self, gateway: TwilioGateway) -> None:
        """A request signed by the SDK's RequestValidator verifies and parses."""
        assert gateway.verify(signed(STATUS_URL, self.PARAMS))
        assert gateway.parse_status(signed(STATUS_URL, self.PARAMS))

    @settings(max_examples=60, deadline=None)
    @given(
        params=st.dictionaries(
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
            st.text(st.characters(codec="utf-8"), max_size=30),
            max_size=6,
        ),
        query=st.text(st.characters(min_codepoint=48, max_codepoint=122), max_size=10),
    )
    def test_signature_agrees_with_the_sdk(self, params: dict[str, str], query: str) -> None:
        """Our signature equals the SDK's for any parameters and URL."""
        url = STATUS_URL + (f"?q={query}" if query else "")
        expected = RequestValidator(TOKEN).compute_signature(url, params)
        assert twilio_signature(TOKEN, url, params.items()) == expected

    def test_multi_valued_parameters_agree_with_the_sdk(self, gateway: TwilioGateway) -> None:
        """A parameter given twice is signed with both values sorted, as the SDK does."""

        class MultiDict(dict[str, list[str]]):
            def getlist(self, name: str) -> list[str]:
                return self[name]

        values = MultiDict({"MessageSid": ["SM1"], "MessageStatus": ["sent"], "Tag": ["b", "a"]})
        signature = RequestValidator(TOKEN).compute_signature(STATUS_URL, values)
        body = "MessageSid=SM1&MessageStatus=sent&Tag=b&Tag=a"
        request = WebhookRequest(
            method="POST",
            url=STATUS_URL,
            headers={"X-Twilio-Signature": signature, "Content-Type": FORM},
            body=body,
        )
        assert gateway.verify(request)

    @pytest.mark.parametrize(
        ("signed_url", "called_url"),
        [
            (
                "https://hooks.example.com/twilio/status",
                "https://hooks.example.com:443/twilio/status",
            ),
            (
                "https://hooks.example.com:443/twilio/status",
                "https://hooks.example.com/twilio/status",
            ),
            ("http://hooks.example.com:8080/t/status", "http://hooks.example.com:8080/t/status"),
            ("http://hooks.example.com/t/status", "http://hooks.example.com:8080/t/status"),
            ("http://[::1]:8080/t/status", "http://[::1]:8080/t/status"),
        ],
    )
    def test_port_variants_are_accepted(
        self, gateway: TwilioGateway, signed_url: str, called_url: str
    ) -> None:
        """A signature over the URL with or without its port verifies (twilio-python #392, #402)."""
        request = signed(called_url, self.PARAMS, sign_url=signed_url)
        assert gateway.verify(request)

    def test_signature_urls(self) -> None:
        """The candidate URLs are the URL without any port and with its (default) port."""
        assert signature_urls("https://h.example/a?b=1") == [
            "https://h.example/a?b=1",
            "https://h.example:443/a?b=1",
        ]
        assert signature_urls("http://h.example:8080/a") == [
            "http://h.example/a",
            "http://h.example:8080/a",
        ]

    def tampered(self) -> list[WebhookRequest]:
        good = signed(STATUS_URL, self.PARAMS)
        changed = dict(self.PARAMS, MessageStatus="undelivered")
        extra = dict(self.PARAMS, ErrorCode="30006")
        fewer = {k: v for k, v in self.PARAMS.items() if k != "To"}
        return [
            attrs.evolve(good, body=urlencode(changed)),
            attrs.evolve(good, body=urlencode(extra)),
            attrs.evolve(good, body=urlencode(fewer)),
            attrs.evolve(good, url="https://hooks.example.com/twilio/inbound"),
            attrs.evolve(good, url=STATUS_URL + "?campaign=c2"),
            attrs.evolve(good, url=STATUS_URL.replace("https", "http")),
            attrs.evolve(good, url=STATUS_URL.replace("hooks.", "evil.")),
            attrs.evolve(good, headers={"Content-Type": FORM}),
            attrs.evolve(good, headers={"X-Twilio-Signature": "", "Content-Type": FORM}),
            signed(STATUS_URL, self.PARAMS, token="somebody-elses-token"),
            signed(STATUS_URL, self.PARAMS, token=OLD_TOKEN),
        ]

    def test_tampered_requests_are_rejected_alike(self, gateway: TwilioGateway) -> None:
        """Changed or missing parameters, other URLs, no signature, other tokens: one error."""
        messages = {_assert_rejected(gateway, request) for request in self.tampered()}
        assert messages == {"webhook signature verification failed"}

    def test_previous_tokens_verify_during_rotation(
        self, make_gateway: Callable[..., TwilioGateway]
    ) -> None:
        """A callback signed with a previous token verifies while that token is listed."""
        rotating = make_gateway(previous_auth_tokens=[OLD_TOKEN])
        assert rotating.verify(signed(STATUS_URL, self.PARAMS, token=OLD_TOKEN))
        assert rotating.verify(signed(STATUS_URL, self.PARAMS, token=TOKEN))
        assert not rotating.verify(signed(STATUS_URL, self.PARAMS, token="third"))

    def test_get_callbacks_sign_the_url_only(self, gateway: TwilioGateway) -> None:
        """A GET callback signs the full URL with its query and no parameters."""
        request = signed(STATUS_URL, status_params("SM1", "sent"), method="GET")
        (event,) = gateway.parse_status(request)
        assert event.status is DeliveryStatus.SENT
        assert not gateway.verify(attrs.evolve(request, url=request.url.replace("sent", "read")))

    def test_public_url_rebuilds_what_a_proxy_changed(
        self, make_gateway: Callable[..., TwilioGateway]
    ) -> None:
        """With public_url, a request seen on an internal URL verifies against the public one."""
        inside = "http://10.0.0.5:8000/twilio/status"
        request = signed(inside, self.PARAMS, sign_url=STATUS_URL)
        assert not make_gateway().verify(request)
        assert make_gateway(public_url="https://hooks.example.com").verify(request)
        prefixed = signed(
            inside, self.PARAMS, sign_url="https://hooks.example.com/sms/twilio/status"
        )
        assert make_gateway(public_url="https://hooks.example.com/sms/").verify(prefixed)

    def test_sha256_shared_key_signatures(self, gateway: TwilioGateway) -> None:
        """A request whose settings header names HMAC_SHA256 is checked with SHA-256."""
        signature = RequestValidator(TOKEN).compute_signature(
            STATUS_URL, self.PARAMS, algorithm="HMAC_SHA256"
        )
        request = WebhookRequest(
            method="POST",
            url=STATUS_URL,
            headers={
                "X-Twilio-Signature": signature,
                "X-Twilio-Webhooks-Signature-Settings": "key=ws_1,algorithm=HMAC_SHA256",
                "Content-Type": FORM,
            },
            body=urlencode(self.PARAMS),
        )
        assert gateway.verify(request)
        unknown = "key=ws_1,algorithm=HMAC_SHA3"
        assert not gateway.verify(
            attrs.evolve(
                request,
                headers={**request.headers, "X-Twilio-Webhooks-Signature-Settings": unknown},
            )
        )

    def test_verification_comes_before_parsing(self, gateway: TwilioGateway) -> None:
        """An unsigned body that is not even a form is a verification error, not a parse error."""
        request = WebhookRequest(method="POST", url=STATUS_URL, body=b"\xff\xfe garbage")
        _assert_rejected(gateway, request)
        with pytest.raises(WebhookVerificationError):
            gateway.parse_inbound(request)


# --- inbound ---------------------------------------------------------------------------------


class TestInbound:
    """Inbound webhooks become InboundMessage objects, with Twilio's extras kept raw."""

    def test_inbound_message_is_read(self, gateway: TwilioGateway) -> None:
        """MessageSid, From, To and Body are read; the whole payload is kept."""
        request = signed(INBOUND_URL, inbound_params("SM77", "+12127363100", "Yes please"))
        (inbound,) = gateway.parse_inbound(request)
        assert inbound.provider == "twilio"
        assert inbound.provider_message_id == "SM77"
        assert inbound.sender.e164 == "+12127363100"
        assert inbound.recipient == SENDER
        assert inbound.body == "Yes please"
        assert inbound.received_at == T0
        assert inbound.raw["FromCity"] == "NEW YORK"

    def test_opt_out_type_is_kept_and_stop_classifies(self, gateway: TwilioGateway) -> None:
        """Advanced Opt-Out's OptOutType travels in raw; the body STOP classifies as an opt-out."""
        params = inbound_params("SM78", "+12127363100", "STOP", OptOutType="STOP")
        (inbound,) = gateway.parse_inbound(signed(INBOUND_URL, params))
        assert inbound.raw["OptOutType"] == "STOP"
        assert inbound.classify().keyword.value == "opt_out"

    def test_channel_prefix_is_dropped(self, gateway: TwilioGateway) -> None:
        """A WhatsApp sender 'whatsapp:+1...' is read as the number."""
        params = inbound_params("SM79", "whatsapp:+12127363100", "hi")
        (inbound,) = gateway.parse_inbound(signed(INBOUND_URL, params))
        assert inbound.sender.e164 == "+12127363100"
        assert inbound.raw["From"] == "whatsapp:+12127363100"

    @pytest.mark.parametrize("missing", ["From", "To"])
    def test_missing_sender_or_recipient_is_malformed(
        self, gateway: TwilioGateway, missing: str
    ) -> None:
        """A verified inbound webhook without From or To raises MalformedWebhook."""
        params = inbound_params("SM80", "+12127363100", "hi")
        del params[missing]
        with pytest.raises(MalformedWebhook):
            gateway.parse_inbound(signed(INBOUND_URL, params))

    def test_unparseable_sender_is_malformed(self, gateway: TwilioGateway) -> None:
        """A sender that is not a phone number raises MalformedWebhook."""
        params = inbound_params("SM81", "not-a-number", "hi")
        with pytest.raises(MalformedWebhook):
            gateway.parse_inbound(signed(INBOUND_URL, params))

    def test_webhook_responses(self, gateway: TwilioGateway) -> None:
        """Inbound webhooks are answered with empty TwiML; status callbacks with nothing."""
        assert gateway.webhook_response("inbound") == ("text/xml; charset=utf-8", EMPTY_TWIML)
        assert gateway.webhook_response("status") is None
