"""PlivoGateway: sends through the real SDK (HTTP intercepted), callbacks, V3/V2 signatures."""

from __future__ import annotations

import itertools
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from plivo.utils import validate_signature
from plivo.utils.signature_v3 import (
    construct_get_url,
    construct_post_url,
    get_signature_v3,
    validate_v3_signature,
)

from smscampaign.domain.delivery import DeliveryStatus, FailureReason
from smscampaign.errors import (
    MalformedWebhook,
    MissingDependency,
    PermanentGatewayError,
    TemporaryGatewayError,
    WebhookVerificationError,
)
from smscampaign.providers.gateway import Gateway, OutboundMessage, SendReceipt, WebhookRequest
from smscampaign.providers.plivo import (
    ERROR_CODES,
    STATUSES,
    PlivoGateway,
    plivo_v2_signature,
    plivo_v3_signature,
)
from smscampaign.testing.gateway_contract import GatewayContract

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
AUTH_ID = "MAZDQ1ZDA1ZDE1ZTU2YT"
TOKEN = "auth-token-0123456789"
SEND_URL = f"https://api.plivo.com/v1/Account/{AUTH_ID}/Message/"
HOOK = "https://example.com:8443/hooks/plivo?campaign=7"
INVALID = "+15005550001"
_NONCES = itertools.count(5429567804466091622)


def clock() -> datetime:
    return NOW


def make_gateway(**overrides: Any) -> PlivoGateway:
    options: dict[str, Any] = {"src": "+12125550100", "clock": clock}
    options.update(overrides)
    return PlivoGateway(AUTH_ID, TOKEN, **options)


def _answer(request: Any) -> tuple[int, dict[str, str], str]:
    """Plivo's Message endpoint: 202 "message(s) queued", or the 400 a bad dst gets."""
    data = json.loads(request.body)
    if data["dst"] == INVALID[1:]:
        error = {
            "api_id": str(uuid.uuid4()),
            "error": f"'{data['dst']}' is not a valid phone number.",
        }
        return 400, {}, json.dumps(error)
    body = {
        "api_id": str(uuid.uuid4()),
        "message": "message(s) queued",
        "message_uuid": [str(uuid.uuid4())],
    }
    return 202, {}, json.dumps(body)


@pytest.fixture
def plivo_api() -> Iterator[responses.RequestsMock]:
    """The Message endpoint, answered by ``_answer``; every request is recorded."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, SEND_URL, callback=_answer)
        yield mock


def signed_v3(
    params: dict[str, str], *, method: str = "POST", token: str = TOKEN, url: str = HOOK
) -> WebhookRequest:
    """A callback signed with V3 by the SDK's own functions (plivo/utils/signature_v3.py)."""
    nonce = str(next(_NONCES))
    if method == "GET":
        url = f"{url}&{urlencode(params)}" if "?" in url else f"{url}?{urlencode(params)}"
        base = construct_get_url(url, {}).decode()
        body = b""
    else:
        base = construct_post_url(url, dict(params)).decode()
        body = urlencode(params).encode()
    signature = get_signature_v3(token.encode(), base, nonce.encode()).decode()
    assert validate_v3_signature(
        method, url, nonce, token, signature, dict(params) if method == "POST" else None
    )
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return WebhookRequest(method=method, url=url, headers=headers, body=body)


def signed_v2(params: dict[str, str], *, token: str = TOKEN) -> WebhookRequest:
    """A callback with only the V2 headers, as the messaging docs describe."""
    nonce = str(next(_NONCES))
    signature = plivo_v2_signature(HOOK, nonce, token)
    assert validate_signature(HOOK, nonce, signature, token)  # the SDK oracle
    return WebhookRequest(
        method="POST",
        url=HOOK,
        headers={
            "X-Plivo-Signature-V2": signature,
            "X-Plivo-Signature-V2-Nonce": nonce,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=urlencode(params),
    )


def status(message_uuid: str, word: str, code: str = "", **extra: str) -> dict[str, str]:
    """A status callback with the fields of the message-status-callbacks page."""
    fields = {
        "MessageUUID": message_uuid,
        "To": "12125550123",
        "From": "12125550100",
        "Type": "sms",
        "Status": word,
        "Units": "1",
        "TotalRate": "0.00500",
        "TotalAmount": "0.00500",
        "MCC": "310",
        "MNC": "260",
        "ErrorCode": code,
        "ParentMessageUUID": message_uuid,
        "PartInfo": "",
        "Sequence": "1",
        "MessageTime": "2026-03-02 09:00:00.100000",
        "QueuedTime": "2026-03-02 09:00:00.200000",
        "SentTime": "2026-03-02 09:00:01.000000",
        "DeliveryReportTime": "2026-03-02 09:00:05.000000",
        "PowerpackUUID": "",
    }
    fields.update(extra)
    return fields


def inbound(from_: str, text: str) -> dict[str, str]:
    """An inbound message with the fields of the handling-incoming page."""
    return {
        "MessageUUID": "5b0e2c46-1c3a-11ee-9f5b-0242ac110003",
        "From": from_,
        "To": "12125550100",
        "Text": text,
        "Type": "sms",
        "Units": "1",
        "TotalRate": "0",
        "TotalAmount": "0",
        "MessageIntent": "optout" if text.strip().upper() == "STOP" else "",
        "PowerpackUUID": "",
    }


def message(to: str = "+12125550123", **extra: Any) -> OutboundMessage:
    return OutboundMessage(
        to=to, sender="+12125550199", body="Hello", idempotency_key="send-1:1", **extra
    )


# --- the contract ---------------------------------------------------------------------

_CONTRACT = {
    DeliveryStatus.SENT: ("sent", ""),
    DeliveryStatus.DELIVERED: ("delivered", ""),
    DeliveryStatus.SOFT_BOUNCED: ("undelivered", "80"),
    DeliveryStatus.HARD_BOUNCED: ("undelivered", "50"),
}


class TestPlivoGatewayContract(GatewayContract):
    """PlivoGateway, its HTTP answered in Plivo's format, passes the Gateway contract."""

    invalid_number = INVALID
    honours_idempotency = False  # the Message API takes no idempotency key

    @pytest.fixture(autouse=True)
    def _api(self, plivo_api: responses.RequestsMock) -> None:
        """Every check runs with the Message API intercepted."""

    def make_gateway(self) -> Gateway:
        return make_gateway()

    def make_status_request(
        self, gateway: Gateway, receipt: SendReceipt, outcome: DeliveryStatus
    ) -> WebhookRequest:
        word, code = _CONTRACT[outcome]
        return signed_v3(status(receipt.provider_message_id, word, code))

    def make_inbound_request(
        self, gateway: Gateway, *, from_number: str, body: str
    ) -> WebhookRequest:
        return signed_v3(inbound(from_number[1:], body))

    def make_malformed_request(self, gateway: Gateway) -> WebhookRequest:
        return signed_v3({"hello": "world"})


# --- send ------------------------------------------------------------------------------


class TestSend:
    """send() makes the request Plivo documents and reads its answer."""

    def test_request_fields(self, plivo_api: responses.RequestsMock) -> None:
        """src/dst without '+', text, url, method and message_expiry in seconds are sent."""
        gateway = make_gateway(status_callback="https://example.com/status")
        receipt = gateway.send(message(valid_until=NOW + timedelta(minutes=10)))
        sent = json.loads(plivo_api.calls[0].request.body)
        assert sent == {
            "src": "12125550100",
            "dst": "12125550123",
            "text": "Hello",
            "type": "sms",
            "url": "https://example.com/status",
            "method": "POST",
            "log": "true",
            "trackable": False,
            "message_expiry": 600,
        }
        assert plivo_api.calls[0].request.headers["Authorization"].startswith("Basic ")
        assert receipt.provider == "plivo"
        assert receipt.status is DeliveryStatus.SENDING
        assert receipt.provider_message_id == receipt.raw["message_uuid"][0]
        assert receipt.accepted_at == NOW

    def test_expiry_is_clamped(self, plivo_api: responses.RequestsMock) -> None:
        """message_expiry stays within Plivo's 5 to 10,799 seconds."""
        gateway = make_gateway()
        gateway.send(message(valid_until=NOW + timedelta(seconds=1)))
        gateway.send(message(valid_until=NOW + timedelta(days=1)))
        sent = [json.loads(call.request.body)["message_expiry"] for call in plivo_api.calls]
        assert sent == [5, 10_799]

    def test_powerpack_and_message_sender(self, plivo_api: responses.RequestsMock) -> None:
        """A Powerpack replaces src; with neither, the message's sender is used."""
        make_gateway(src=None, powerpack_uuid="pp-uuid").send(message())
        make_gateway(src=None).send(message())
        first, second = (json.loads(call.request.body) for call in plivo_api.calls)
        assert first["powerpack_uuid"] == "pp-uuid"
        assert "src" not in first
        assert second["src"] == "12125550199"


class TestSendErrors:
    """The SDK's exceptions, from real-format error bodies, become typed errors."""

    @pytest.mark.parametrize(
        ("status_code", "body", "error_type", "reason", "code"),
        [
            (
                400,
                {"error": "'1111111' is not a valid phone number."},
                PermanentGatewayError,
                FailureReason.INVALID_NUMBER,
                "400",
            ),
            (
                400,
                {"error": "text parameter is required"},
                PermanentGatewayError,
                FailureReason.PROVIDER_ERROR,
                "400",
            ),
            (
                401,
                {"error": "Authentication failed"},
                TemporaryGatewayError,
                FailureReason.PROVIDER_ERROR,
                "401",
            ),
            (
                403,
                {"error": "Destination country not enabled"},
                TemporaryGatewayError,
                FailureReason.PROVIDER_ERROR,
                "403",
            ),
            (
                500,
                {"error": "internal error"},
                TemporaryGatewayError,
                FailureReason.PROVIDER_ERROR,
                "500",
            ),
            (
                503,
                {"error": "unavailable"},
                TemporaryGatewayError,
                FailureReason.PROVIDER_ERROR,
                "http",
            ),
        ],
    )
    def test_http_errors(
        self,
        status_code: int,
        body: dict[str, str],
        error_type: type,
        reason: FailureReason,
        code: str,
    ) -> None:
        """Each status the SDK raises on maps to a reason and permanence, text kept."""
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, json={"api_id": "a1", **body}, status=status_code)
            with pytest.raises(error_type) as caught:
                make_gateway().send(message())
        assert caught.value.reason is reason
        assert caught.value.provider_code == code
        assert caught.value.__cause__ is not None

    def test_invalid_number_list(self) -> None:
        """A 202 that lists our dst under invalid_number and queues nothing is INVALID_NUMBER."""
        body = {"api_id": "a1", "message": "message(s) queued", "invalid_number": ["12125550123"]}
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, json=body, status=202)
            with pytest.raises(PermanentGatewayError) as caught:
                make_gateway().send(message())
        assert caught.value.reason is FailureReason.INVALID_NUMBER

    def test_network_error_is_temporary(self) -> None:
        """A connection failure is a temporary provider error."""
        import requests

        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, body=requests.ConnectionError("refused"))
            with pytest.raises(TemporaryGatewayError) as caught:
                make_gateway().send(message())
        assert caught.value.provider_code == "network"


# --- status callbacks -----------------------------------------------------------------


class TestStatusCallbacks:
    """Every documented Status and mapped ErrorCode, raw kept."""

    @pytest.mark.parametrize("word", ["queued", "sent", "delivered", "read"])
    def test_progress_statuses(self, word: str) -> None:
        """queued is SENDING, sent SENT, delivered and read DELIVERED, at the matching time."""
        (event,) = make_gateway().parse_status(signed_v3(status("m-1", word)))
        assert event.status is STATUSES[word]
        assert event.segments == 1
        assert str(event.price) == "0.00500"
        assert event.raw["Sequence"] == "1"
        expected = {"queued": (0, 200000), "sent": (1, 0)}.get(word, (5, 0))
        assert (event.occurred_at.second, event.occurred_at.microsecond) == expected
        assert event.occurred_at.tzinfo is not None

    @pytest.mark.parametrize(("code", "failure"), sorted(ERROR_CODES.items()))
    def test_error_codes(self, code: str, failure: Any) -> None:
        """Each Plivo ErrorCode gives its reason and permanence."""
        (event,) = make_gateway().parse_status(signed_v3(status("m-1", "undelivered", code)))
        expected = DeliveryStatus.HARD_BOUNCED if failure.permanent else DeliveryStatus.SOFT_BOUNCED
        assert event.status is expected
        assert event.reason is failure.reason
        assert (event.provider_code, event.provider_text) == (code, failure.text)

    def test_opt_out_is_200(self) -> None:
        """Error 200 (blocked by STOP) is a carrier opt-out that suppresses."""
        (event,) = make_gateway().parse_status(signed_v3(status("m-1", "failed", "200")))
        assert event.reason is FailureReason.OPTED_OUT_AT_CARRIER
        assert event.reason.suppresses

    def test_failed_rejected_and_unknown_codes(self) -> None:
        """failed/rejected read ErrorCode; an unknown code or none is temporary UNKNOWN."""
        gateway = make_gateway()
        (rejected,) = gateway.parse_status(signed_v3(status("m-1", "rejected", "30")))
        (new_code,) = gateway.parse_status(signed_v3(status("m-1", "failed", "4242")))
        (no_code,) = gateway.parse_status(signed_v3(status("m-1", "undelivered")))
        assert rejected.reason is FailureReason.CARRIER_FILTERED
        assert new_code.reason is FailureReason.UNKNOWN
        assert new_code.provider_code == "4242"
        assert no_code.status is DeliveryStatus.SOFT_BOUNCED

    def test_unknown_word_changes_nothing(self) -> None:
        """A Status Plivo may add later gives status None."""
        (event,) = make_gateway().parse_status(signed_v3(status("m-1", "teleported")))
        assert event.status is None

    def test_get_callback(self) -> None:
        """A GET callback (method=GET at send time) is read from, and signed over, its query."""
        (event,) = make_gateway().parse_status(signed_v3(status("m-1", "delivered"), method="GET"))
        assert event.status is DeliveryStatus.DELIVERED

    def test_malformed(self) -> None:
        """A signed callback with a bad time or no time is MalformedWebhook."""
        gateway = make_gateway()
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(signed_v3(status("m-1", "sent", SentTime="yesterday")))
        bare = {"MessageUUID": "m-1", "Status": "sent"}
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(signed_v3(bare))


# --- signatures ------------------------------------------------------------------------


class TestSignatures:
    """V3 and V2 verification against the SDK's own functions, with rotation."""

    def test_v3_matches_the_sdk(self) -> None:
        """plivo_v3_signature validates with plivo.utils.validate_v3_signature (POST and GET)."""
        params = {"b": "2", "a": "x y", "To": "1"}
        ours = plivo_v3_signature("POST", HOOK, "123", TOKEN, params)
        assert validate_v3_signature("POST", HOOK, "123", TOKEN, ours, dict(params))
        get_url = f"{HOOK}&b=2&a=1"
        ours = plivo_v3_signature("GET", get_url, "123", TOKEN)
        assert validate_v3_signature("GET", get_url, "123", TOKEN, ours)
        bare = "https://example.com/hook"
        ours = plivo_v3_signature("POST", bare, "9", TOKEN, params)
        assert validate_v3_signature("POST", bare, "9", TOKEN, ours, dict(params))

    def test_v2_matches_the_docs_shape(self) -> None:
        """V2 covers the URL without query plus the nonce, as validate_signature checks."""
        signature = plivo_v2_signature(HOOK, "05429567804466091622", TOKEN)
        assert validate_signature(HOOK, "05429567804466091622", signature, TOKEN)
        assert validate_signature(HOOK.split("?")[0], "05429567804466091622", signature, TOKEN)

    def test_v2_only_is_accepted_unless_v3_required(self) -> None:
        """A V2-only callback verifies by default and is refused with require_v3=True."""
        request = signed_v2(status("m-1", "delivered"))
        assert make_gateway().parse_status(request)
        with pytest.raises(WebhookVerificationError):
            make_gateway(require_v3=True).parse_status(request)

    def test_v2_wrong_nonce_is_refused(self) -> None:
        """Changing the V2 nonce breaks the signature."""
        request = signed_v2(status("m-1", "delivered"))
        headers = dict(request.headers)
        headers["X-Plivo-Signature-V2-Nonce"] = "1"
        with pytest.raises(WebhookVerificationError):
            make_gateway().parse_status(
                WebhookRequest(method="POST", url=HOOK, headers=headers, body=request.body)
            )

    def test_rotation_and_main_account_header(self) -> None:
        """Previous tokens verify; a Ma-V3 header signed with the main token counts too."""
        gateway = make_gateway(previous_auth_tokens=["old-token"])
        assert gateway.parse_status(signed_v3(status("m-1", "sent"), token="old-token"))
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(signed_v3(status("m-1", "sent"), token="stranger"))
        request = signed_v3(status("m-1", "sent"), token="old-token")
        headers = dict(request.headers)
        headers["X-Plivo-Signature-Ma-V3"] = headers.pop("X-Plivo-Signature-V3")
        moved = WebhookRequest(method="POST", url=HOOK, headers=headers, body=request.body)
        assert gateway.parse_status(moved)

    def test_several_signatures_in_one_header(self) -> None:
        """A V3 header holding several comma-separated signatures verifies if one matches."""
        request = signed_v3(status("m-1", "sent"))
        headers = dict(request.headers)
        headers["X-Plivo-Signature-V3"] = "bm9wZQ==," + headers["X-Plivo-Signature-V3"]
        both = WebhookRequest(method="POST", url=HOOK, headers=headers, body=request.body)
        assert make_gateway().parse_status(both)

    def test_url_is_signed(self) -> None:
        """The same signed body delivered to another URL (or port) is refused."""
        request = signed_v3(status("m-1", "sent"))
        for url in ("https://example.com/hooks/plivo?campaign=7", HOOK + "&x=1"):
            moved = WebhookRequest(
                method="POST", url=url, headers=dict(request.headers), body=request.body
            )
            with pytest.raises(WebhookVerificationError):
                make_gateway().parse_status(moved)

    def test_failures_are_vague(self) -> None:
        """Wrong token, no headers and an unreadable body fail with one message."""
        good = status("m-1", "sent")
        bad = [
            signed_v3(good, token="stranger"),
            WebhookRequest(method="POST", url=HOOK, body=urlencode(good)),
            WebhookRequest(
                method="POST", url=HOOK, headers={"Content-Type": "text/xml"}, body=b"<x/>"
            ),
        ]
        messages = set()
        for request in bad:
            with pytest.raises(WebhookVerificationError) as caught:
                make_gateway().parse_status(request)
            messages.add(str(caught.value))
        assert len(messages) == 1


# --- inbound ----------------------------------------------------------------------------


class TestInbound:
    """Inbound messages in the handling-incoming format."""

    def test_fields(self) -> None:
        """From, To, Text and MessageUUID are read; MessageIntent stays in raw."""
        (msg,) = make_gateway().parse_inbound(signed_v3(inbound("447700900001", "STOP")))
        assert msg.sender.e164 == "+447700900001"
        assert (msg.recipient, msg.body) == ("12125550100", "STOP")
        assert msg.provider_message_id == "5b0e2c46-1c3a-11ee-9f5b-0242ac110003"
        assert msg.received_at == NOW
        assert msg.raw["MessageIntent"] == "optout"


class TestOptionalDependency:
    """The SDK is imported only when an adapter is built, with a helpful error if missing."""

    def test_missing_sdk_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without plivo installed, construction raises MissingDependency with the pip line."""
        monkeypatch.setitem(sys.modules, "plivo", None)
        with pytest.raises(MissingDependency, match=r'pip install "smscampaign\[plivo\]"'):
            make_gateway()
