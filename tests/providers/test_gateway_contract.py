"""The Gateway port's value types, and the conformance suite run against SimulatedGateway."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

from smscampaign import (
    Attempt,
    DeliveryStatus,
    InvalidPhoneNumber,
    MalformedWebhook,
    NaiveDatetimeError,
    PhoneNumber,
    WebhookVerificationError,
)
from smscampaign.providers.gateway import (
    Gateway,
    Headers,
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
    verify_any,
    webhook_verification_error,
)
from smscampaign.providers.simulated import CarrierRule, Latency, Outcome, SimulatedGateway
from smscampaign.testing.gateway_contract import GatewayContract

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

# What the contract's outcomes look like in the simulator's format.
_WORDS = {
    DeliveryStatus.SENT: ("sent", None),
    DeliveryStatus.DELIVERED: ("delivered", None),
    DeliveryStatus.SOFT_BOUNCED: ("undelivered", "30003"),
    DeliveryStatus.HARD_BOUNCED: ("undelivered", "30006"),
}


class SimulatedHooks(GatewayContract):
    """The contract's hooks for the simulator's own signed JSON format."""

    honours_idempotency = True

    def make_gateway(self) -> Gateway:
        return SimulatedGateway(
            seed=7, rules=[CarrierRule(number=self.deliverable_number, outcome="delivered")]
        )

    def make_status_request(
        self, gateway: Gateway, receipt: SendReceipt, outcome: DeliveryStatus
    ) -> WebhookRequest:
        assert isinstance(gateway, SimulatedGateway)
        word, code = _WORDS[outcome]
        return gateway.status_request(
            receipt.provider_message_id,
            word,
            occurred_at=receipt.accepted_at + timedelta(seconds=5),
            error_code=code,
        )

    def make_inbound_request(
        self, gateway: Gateway, *, from_number: str, body: str
    ) -> WebhookRequest:
        assert isinstance(gateway, SimulatedGateway)
        return gateway.inbound_request(from_number, body)

    def make_malformed_request(self, gateway: Gateway) -> WebhookRequest:
        assert isinstance(gateway, SimulatedGateway)
        return gateway.signed_request(b"<xml>not the simulated format</xml>")


class TestSimulatedGatewayContract(SimulatedHooks):
    """SimulatedGateway with its default carrier model passes the Gateway contract."""


class TestNoisySimulatedGatewayContract(SimulatedHooks):
    """A simulator with every quirk turned up, rotated secrets and per-part receipts passes too."""

    def make_gateway(self) -> Gateway:
        return SimulatedGateway(
            seed=99,
            rules=[CarrierRule(number=self.deliverable_number, outcome=Outcome.DELIVERED)],
            latency=Latency.zero(),
            duplicate_rate=1.0,
            reorder_rate=1.0,
            early_rate=1.0,
            reply_rate=1.0,
            per_part_receipts=True,
            secret="new-secret",
            previous_secrets=["old-secret"],
        )


class TestOutboundMessage:
    """OutboundMessage checks its fields and computes what adapters need."""

    def test_takes_a_phone_number_by_its_e164_form(self) -> None:
        number = PhoneNumber.parse("+1 212 555 0123")
        message = OutboundMessage(to=number, sender="+12125550100", body="Hi", idempotency_key="k")
        assert message.to == "+12125550123"

    @pytest.mark.parametrize("to", ["12125550123", "+0123", "", "+1 212 555 0123"])
    def test_rejects_a_number_not_in_e164(self, to: str) -> None:
        with pytest.raises(InvalidPhoneNumber):
            OutboundMessage(to=to, sender="S", body="Hi", idempotency_key="k")

    @pytest.mark.parametrize("field", ["sender", "idempotency_key"])
    def test_rejects_empty_text_fields(self, field: str) -> None:
        fields = {"to": "+12125550123", "sender": "S", "body": "Hi", "idempotency_key": "k"}
        fields[field] = "  "
        with pytest.raises(ValueError, match=field):
            OutboundMessage(**fields)

    def test_valid_until_must_be_aware(self) -> None:
        with pytest.raises(NaiveDatetimeError):
            OutboundMessage(
                to="+12125550123",
                sender="S",
                body="Hi",
                idempotency_key="k",
                valid_until=datetime(2026, 3, 2, 10, 0),
            )

    def test_validity_period_counts_down_and_never_goes_negative(self) -> None:
        message = OutboundMessage(
            to="+12125550123",
            sender="S",
            body="Hi",
            idempotency_key="k",
            valid_until=T0 + timedelta(hours=2),
        )
        assert message.validity_period(T0) == timedelta(hours=2)
        assert message.validity_period(T0 + timedelta(hours=3)) == timedelta(0)
        assert not message.is_expired(T0)
        assert message.is_expired(T0 + timedelta(hours=2))

    def test_no_valid_until_means_no_validity_period(self) -> None:
        message = OutboundMessage(to="+12125550123", sender="S", body="Hi", idempotency_key="k")
        assert message.validity_period(T0) is None
        assert not message.is_expired(T0)

    def test_segments_follow_the_body(self) -> None:
        message = OutboundMessage(
            to="+12125550123", sender="S", body="a" * 161, idempotency_key="k"
        )
        assert message.segments == 2


class TestSendReceipt:
    """SendReceipt accepts only the statuses a send can report and becomes a status event."""

    def test_to_event_carries_the_receipt(self) -> None:
        receipt = SendReceipt(
            provider="simulated",
            provider_message_id="SM1",
            accepted_at=T0,
            part_ids=["SM1", "SM1-2"],
            segments=2,
            price="0.0158",
            raw={"sid": "SM1"},
        )
        event = receipt.to_event()
        assert (event.status, event.occurred_at, event.parts) == (DeliveryStatus.SENDING, T0, 2)
        assert event.price == Decimal("0.0158")
        assert event.provider_status == "sending"
        assert event.raw == {"sid": "SM1"}
        attempt = Attempt.queued(number=1, to="+12125550123", at=T0).apply(event)
        assert attempt.submitted_at == T0

    @pytest.mark.parametrize("status", ["delivered", "soft_bounced", "skipped"])
    def test_rejects_later_statuses(self, status: str) -> None:
        with pytest.raises(ValueError, match="receipt"):
            SendReceipt(provider="p", provider_message_id="m", accepted_at=T0, status=status)

    def test_part_ids_start_with_the_message_id(self) -> None:
        with pytest.raises(ValueError, match="part_ids"):
            SendReceipt(provider="p", provider_message_id="m", accepted_at=T0, part_ids=["x"])

    def test_rejects_a_string_as_part_ids(self) -> None:
        with pytest.raises(TypeError):
            SendReceipt(provider="p", provider_message_id="m", accepted_at=T0, part_ids="m")

    def test_rejects_zero_segments(self) -> None:
        with pytest.raises(ValueError, match="segments"):
            SendReceipt(provider="p", provider_message_id="m", accepted_at=T0, segments=0)


class TestWebhookRequest:
    """WebhookRequest keeps the raw request and reads forms, queries and JSON."""

    def test_headers_ignore_case_and_combine_repeats(self) -> None:
        headers = Headers([("X-Sig", "a"), ("x-sig", "b"), ("Content-Type", "text/plain")])
        assert headers["X-SIG"] == "a, b"
        assert "content-type" in headers
        assert list(headers) == ["X-Sig", "Content-Type"]
        assert headers == {"x-sig": "a, b", "content-type": "text/plain"}
        assert hash(headers) == hash(Headers({"X-SIG": "a, b", "CONTENT-TYPE": "text/plain"}))

    def test_form_reads_a_posted_body(self) -> None:
        request = WebhookRequest(
            method="post",
            url="https://example.com/hook?x=1",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            body="MessageSid=SM1&Body=Stop%21&Empty=",
        )
        assert request.method == "POST"
        assert request.form() == {"MessageSid": "SM1", "Body": "Stop!", "Empty": ""}
        assert request.query() == {"x": "1"}

    def test_form_reads_the_query_of_a_get(self) -> None:
        request = WebhookRequest(method="GET", url="https://example.com/dlr?messageId=1&status=ok")
        assert request.form() == {"messageId": "1", "status": "ok"}

    def test_form_refuses_json(self) -> None:
        request = WebhookRequest(
            method="POST", url="u", headers={"Content-Type": "application/json"}, body="{}"
        )
        with pytest.raises(MalformedWebhook):
            request.form()

    def test_json_reads_and_refuses(self) -> None:
        assert WebhookRequest(method="POST", url="u", body=b'{"a": 1}').json() == {"a": 1}
        with pytest.raises(MalformedWebhook):
            WebhookRequest(method="POST", url="u", body=b"{nope").json()
        with pytest.raises(MalformedWebhook):
            WebhookRequest(method="POST", url="u", body=b"\xff\xfe").json()

    def test_body_is_kept_as_bytes(self) -> None:
        request = WebhookRequest(method="POST", url="u", body=bytearray(b"abc"))
        assert request.body == b"abc"
        assert attrs.evolve(request, body="é").body == "é".encode()


class TestSignatureHelpers:
    """verify_any compares against every secret; the verification error is always the same."""

    def test_verify_any_matches_any_candidate(self) -> None:
        assert verify_any(["aaa", "bbb"], "bbb")
        assert verify_any([b"aaa"], "aaa")
        assert not verify_any(["aaa", "bbb"], "ccc")
        assert not verify_any([], "aaa")
        assert not verify_any(["aaa"], None)

    def test_verification_error_is_vague(self) -> None:
        error = webhook_verification_error()
        assert isinstance(error, WebhookVerificationError)
        assert str(error) == str(webhook_verification_error(WebhookRequest(method="GET", url="u")))
