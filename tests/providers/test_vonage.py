"""VonageGateway: sends through the real SDK (HTTP intercepted), DLRs, signatures, parts."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import responses

from smscampaign.domain.delivery import Attempt, DeliveryStatus, FailureReason, StatusEvent
from smscampaign.errors import (
    MalformedWebhook,
    MissingDependency,
    PermanentGatewayError,
    TemporaryGatewayError,
    WebhookVerificationError,
)
from smscampaign.providers.gateway import Gateway, OutboundMessage, SendReceipt, WebhookRequest
from smscampaign.providers.vonage import (
    DLR_ERROR_CODES,
    DLR_STATUSES,
    SEND_STATUS_CODES,
    PartIndex,
    VonageGateway,
    vonage_signature,
)
from smscampaign.testing.gateway_contract import GatewayContract

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SEND_URL = "https://rest.nexmo.com/sms/json"
HOOK = "https://example.com/hooks/vonage"
SECRET = "sig-secret-0123456789"
INVALID = "+15005550001"
_IDS = itertools.count(0x127FDBC63)


def clock() -> datetime:
    return NOW


def make_gateway(**overrides: Any) -> VonageGateway:
    options: dict[str, Any] = {
        "from_": "+12125550100",
        "signature_secret": SECRET,
        "signature_method": "sha256",
        "clock": clock,
    }
    options.update(overrides)
    return VonageGateway("abcd1234", "abcdef0123456789", **options)


def _part(to: str, status: str = "0", **extra: str) -> dict[str, str]:
    if status != "0":
        return {"status": status, **extra}
    return {
        "to": to,
        "message-id": f"0B0000{next(_IDS):010X}",
        "status": "0",
        "remaining-balance": "3.14159265",
        "message-price": "0.03330000",
        "network": "23410",
        **extra,
    }


def _answer(request: Any) -> tuple[int, dict[str, str], str]:
    """Vonage's send endpoint, in the format of sms.yml: one message object per part."""
    form = dict(parse_qsl(request.body))
    to = form["to"]
    if to == INVALID[1:]:
        parts = [{"status": "6", "error-text": "Invalid Message"}]
    else:
        # 153 GSM-7 characters per concatenated part.
        count = 1 if len(form["text"]) <= 160 else -(-len(form["text"]) // 153)
        parts = [_part(to) for _ in range(count)]
    return 200, {}, json.dumps({"message-count": str(len(parts)), "messages": parts})


@pytest.fixture
def vonage_api() -> Iterator[responses.RequestsMock]:
    """The SMS API endpoint, answered by ``_answer``; every request is recorded."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, SEND_URL, callback=_answer)
        yield mock


def signed(
    params: dict[str, str],
    *,
    method: str = "POST",
    fmt: str = "json",
    secret: str = SECRET,
    algorithm: str = "sha256",
    at: datetime = NOW,
) -> WebhookRequest:
    """A webhook signed exactly as Vonage signs it, sent as JSON, form or GET."""
    params = {**params, "timestamp": str(int(at.timestamp())), "nonce": "ec11dd3e-1e7f"}
    params["sig"] = vonage_signature(params, secret, algorithm).upper()
    return webhook(params, method=method, fmt=fmt)


def webhook(params: dict[str, str], *, method: str = "POST", fmt: str = "json") -> WebhookRequest:
    if method == "GET":
        return WebhookRequest(method="GET", url=f"{HOOK}?{urlencode(params)}")
    if fmt == "json":
        return WebhookRequest(
            method="POST",
            url=HOOK,
            headers={"Content-Type": "application/json"},
            body=json.dumps(params),
        )
    return WebhookRequest(
        method="POST",
        url=HOOK,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode(params),
    )


def dlr(message_id: str, status: str, err: str = "0", **extra: str) -> dict[str, str]:
    """A DLR in the guide's format (Nexmo/station delivery-receipts.md)."""
    return {
        "err-code": err,
        "message-timestamp": "2026-03-02 09:00:05",
        "messageId": message_id,
        "msisdn": "12125550123",
        "network-code": "310260",
        "price": "0.03330000",
        "scts": "2603020900",
        "status": status,
        "to": "12125550100",
        **extra,
    }


def message(to: str = "+12125550123", body: str = "Hello", **extra: Any) -> OutboundMessage:
    return OutboundMessage(
        to=to, sender="+12125550100", body=body, idempotency_key="send-1:1", **extra
    )


# --- the contract ---------------------------------------------------------------------

_CONTRACT = {
    DeliveryStatus.SENT: ("accepted", "0"),
    DeliveryStatus.DELIVERED: ("delivered", "0"),
    DeliveryStatus.SOFT_BOUNCED: ("failed", "2"),
    DeliveryStatus.HARD_BOUNCED: ("failed", "3"),
}


class TestVonageGatewayContract(GatewayContract):
    """VonageGateway, its HTTP answered in Vonage's format, passes the Gateway contract."""

    invalid_number = INVALID
    honours_idempotency = False  # the SMS API takes no idempotency key

    @pytest.fixture(autouse=True)
    def _api(self, vonage_api: responses.RequestsMock) -> None:
        """Every check runs with the SMS API intercepted."""

    def make_gateway(self) -> Gateway:
        return make_gateway()

    def make_status_request(
        self, gateway: Gateway, receipt: SendReceipt, outcome: DeliveryStatus
    ) -> WebhookRequest:
        word, err = _CONTRACT[outcome]
        return signed(dlr(receipt.provider_message_id, word, err))

    def make_inbound_request(
        self, gateway: Gateway, *, from_number: str, body: str
    ) -> WebhookRequest:
        return signed(inbound(from_number[1:], body))

    def make_malformed_request(self, gateway: Gateway) -> WebhookRequest:
        return signed({"hello": "world"})

    def strip_signature(self, request: WebhookRequest) -> WebhookRequest:
        params = json.loads(request.body)
        del params["sig"]
        return webhook(params)


def inbound(msisdn: str, text: str, **extra: str) -> dict[str, str]:
    """An inbound SMS in sms.yml's InboundMessage format."""
    return {
        "api-key": "abcd1234",
        "msisdn": msisdn,
        "to": "12125550100",
        "messageId": "0A0000000123ABCD1",
        "text": text,
        "type": "text",
        "keyword": text.split()[0].upper() if text.split() else "",
        "message-timestamp": "2026-03-02 09:01:00",
        **extra,
    }


# --- send ------------------------------------------------------------------------------


class TestSend:
    """send() makes the request Vonage documents and reads its answer."""

    def test_request_fields(self, vonage_api: responses.RequestsMock) -> None:
        """to/from without '+', text, ttl in ms, callback, client-ref and basic auth are sent."""
        gateway = make_gateway(status_callback="https://example.com/dlr")
        receipt = gateway.send(message(valid_until=NOW + timedelta(minutes=30)))
        sent = vonage_api.calls[0].request
        form = dict(parse_qsl(sent.body))
        assert form == {
            "to": "12125550123",
            "from": "12125550100",
            "text": "Hello",
            "ttl": "1800000",
            "callback": "https://example.com/dlr",
            "client-ref": "send-1:1",
        }
        assert sent.headers["Authorization"].startswith("Basic ")
        assert receipt.provider == "vonage"
        assert receipt.status is DeliveryStatus.SENDING
        assert receipt.segments == 1
        assert receipt.part_ids == ()
        assert str(receipt.price) == "0.03330000"
        assert receipt.accepted_at == NOW

    def test_ttl_is_clamped_and_unicode_flagged(self, vonage_api: responses.RequestsMock) -> None:
        """A validity under 20 s is raised to Vonage's minimum; non-GSM text goes as unicode."""
        make_gateway().send(message(body="Arrêt 🙏", valid_until=NOW + timedelta(seconds=3)))
        form = dict(parse_qsl(vonage_api.calls[0].request.body))
        assert form["ttl"] == "20000"
        assert form["type"] == "unicode"

    def test_alphanumeric_sender_and_message_callback(
        self, vonage_api: responses.RequestsMock
    ) -> None:
        """An alphanumeric sender goes as is; the message's own callback URL wins."""
        gateway = make_gateway(from_="AcmeInc", status_callback="https://example.com/default")
        gateway.send(message(status_callback_url="https://example.com/this-one"))
        form = dict(parse_qsl(vonage_api.calls[0].request.body))
        assert form["from"] == "AcmeInc"
        assert form["callback"] == "https://example.com/this-one"

    def test_multipart_receipt_has_part_ids(self, vonage_api: responses.RequestsMock) -> None:
        """A 3-part message's receipt lists the three ids, the first being the message id."""
        receipt = make_gateway().send(message(body="x" * 400))
        assert len(receipt.part_ids) == 3
        assert receipt.part_ids[0] == receipt.provider_message_id
        assert receipt.segments == 3
        assert str(receipt.price) == "0.09990000"
        assert receipt.to_event().parts == 3


class TestSendErrors:
    """Every documented send status, and HTTP failures, raise the right typed error."""

    @pytest.mark.parametrize(("code", "failure"), sorted(SEND_STATUS_CODES.items()))
    def test_status_codes(self, code: str, failure: Any) -> None:
        """Each sms.yml x-errors status maps to its reason and permanence, code and text kept."""
        body = {"message-count": "1", "messages": [{"status": code, "error-text": failure.text}]}
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, json=body)
            with pytest.raises((PermanentGatewayError, TemporaryGatewayError)) as caught:
                make_gateway().send(message())
        error = caught.value
        assert isinstance(error, PermanentGatewayError) is failure.permanent
        assert error.reason is failure.reason
        assert error.provider_code == code
        assert error.provider_text == failure.text

    def test_unknown_status_code_is_temporary_unknown(self) -> None:
        """A status code not in the table degrades to a temporary UNKNOWN."""
        body = {"message-count": "1", "messages": [{"status": "77", "error-text": "New thing"}]}
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, json=body)
            with pytest.raises(TemporaryGatewayError) as caught:
                make_gateway().send(message())
        assert caught.value.reason is FailureReason.UNKNOWN
        assert (caught.value.provider_code, caught.value.provider_text) == ("77", "New thing")

    def test_partial_failure_reports_the_failed_part(self) -> None:
        """When one part of several is refused, its status decides the error."""
        parts = [_part("12125550123"), {"status": "1", "error-text": "Throughput Rate Exceeded"}]
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, json={"message-count": "2", "messages": parts})
            with pytest.raises(TemporaryGatewayError) as caught:
                make_gateway().send(message(body="x" * 200))
        assert caught.value.reason is FailureReason.QUEUE_OVERFLOW
        assert caught.value.provider_code == "1"

    @pytest.mark.parametrize(
        ("status", "error_type", "reason"),
        [
            (401, TemporaryGatewayError, FailureReason.PROVIDER_ERROR),
            (429, TemporaryGatewayError, FailureReason.QUEUE_OVERFLOW),
            (500, TemporaryGatewayError, FailureReason.PROVIDER_ERROR),
            (503, TemporaryGatewayError, FailureReason.PROVIDER_ERROR),
            (404, PermanentGatewayError, FailureReason.PROVIDER_ERROR),
        ],
    )
    def test_http_errors(self, status: int, error_type: type, reason: FailureReason) -> None:
        """The SDK's HTTP errors are translated; 5xx and 401/429 are worth retrying."""
        body = {"type": "https://developer.vonage.com/api-errors", "title": "Nope"}
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, json=body, status=status)
            with pytest.raises(error_type) as caught:
                make_gateway().send(message())
        assert caught.value.reason is reason
        assert caught.value.provider_code == f"http_{status}"
        assert caught.value.__cause__ is not None

    def test_network_error_is_temporary(self) -> None:
        """A connection failure is a temporary provider error."""
        import requests

        with responses.RequestsMock() as mock:
            mock.add(responses.POST, SEND_URL, body=requests.ConnectionError("refused"))
            with pytest.raises(TemporaryGatewayError) as caught:
                make_gateway().send(message())
        assert caught.value.provider_code == "network"


# --- delivery receipts ---------------------------------------------------------------


class TestDeliveryReceipts:
    """DLRs in every documented status and err-code map to our vocabulary, raw kept."""

    @pytest.mark.parametrize("word", ["accepted", "buffered", "delivered"])
    def test_progress_statuses(self, word: str) -> None:
        """accepted/buffered are SENT, delivered is DELIVERED."""
        (event,) = make_gateway().parse_status(signed(dlr("0B00000127FDBC63", word)))
        assert event.status is DLR_STATUSES[word]
        assert event.provider_status == word
        assert event.occurred_at == datetime(2026, 3, 2, 9, 0, 5, tzinfo=timezone.utc)
        assert event.raw["scts"] == "2603020900"
        assert str(event.price) == "0.03330000"

    @pytest.mark.parametrize(("code", "failure"), sorted(DLR_ERROR_CODES.items()))
    def test_error_codes(self, code: str, failure: Any) -> None:
        """Each err-code of the DLR guide gives its reason and permanence."""
        (event,) = make_gateway().parse_status(signed(dlr("0B00000127FDBC63", "failed", code)))
        expected = DeliveryStatus.HARD_BOUNCED if failure.permanent else DeliveryStatus.SOFT_BOUNCED
        assert event.status is expected
        assert event.reason is failure.reason
        assert (event.provider_code, event.provider_text) == (code, failure.text)

    def test_opt_out_is_code_9(self) -> None:
        """err-code 9 (the opt-out guide's example) is a carrier opt-out that suppresses."""
        (event,) = make_gateway().parse_status(signed(dlr("0B00000127FDBC63", "rejected", "9")))
        assert event.reason is FailureReason.OPTED_OUT_AT_CARRIER
        assert event.reason.suppresses

    def test_expired_and_unknown(self) -> None:
        """expired is EXPIRED; unknown with code 1 and an unknown code are temporary UNKNOWN."""
        gateway = make_gateway()
        (expired,) = gateway.parse_status(signed(dlr("0B01", "expired", "1")))
        (unknown,) = gateway.parse_status(signed(dlr("0B02", "unknown", "1")))
        (new_code,) = gateway.parse_status(signed(dlr("0B03", "failed", "42")))
        assert expired.reason is FailureReason.EXPIRED
        assert unknown.status is DeliveryStatus.SOFT_BOUNCED
        assert new_code.reason is FailureReason.UNKNOWN
        assert new_code.provider_code == "42"

    def test_unknown_word_changes_nothing(self) -> None:
        """A status word Vonage may add later gives status None, not a crash."""
        (event,) = make_gateway().parse_status(signed(dlr("0B01", "teleported")))
        assert event.status is None

    @pytest.mark.parametrize(("method", "fmt"), [("GET", "query"), ("POST", "form")])
    def test_get_and_form_receipts(self, method: str, fmt: str) -> None:
        """The dashboard's GET and form POST DLRs parse like JSON ones."""
        request = signed(dlr("0B00000127FDBC63", "delivered"), method=method, fmt=fmt)
        (event,) = make_gateway().parse_status(request)
        assert event.status is DeliveryStatus.DELIVERED
        assert event.provider_message_id == "0B00000127FDBC63"

    def test_unsigned_gateway_reads_the_guides_example(self) -> None:
        """Without a secret, the guide's own example DLR parses as it is."""
        example = dlr("0B00000127FDBC63", "delivered")
        (event,) = make_gateway(signature_secret=None).parse_status(webhook(example))
        assert event.status is DeliveryStatus.DELIVERED

    def test_malformed(self) -> None:
        """A signed body without messageId/status, or with a bad time, is MalformedWebhook."""
        gateway = make_gateway()
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(signed({"status": "delivered"}))
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(signed(dlr("0B01", "delivered", **{"message-timestamp": "x"})))


# --- signatures ------------------------------------------------------------------------


class TestSignatures:
    """Signed webhooks: the SDK's algorithm, every method, rotation, timestamps, vagueness."""

    @pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512"])
    def test_hmac_matches_the_sdk(self, algorithm: str) -> None:
        """Our HMAC signature equals vonage_http_client.Auth.sign_params (the SDK oracle)."""
        from vonage_http_client import Auth

        params = {"a": "x&y=z", "b": "2", "timestamp": "1772441000", "nonce": "n"}
        auth = Auth(api_key="abcd1234", signature_secret=SECRET, signature_method=algorithm)
        assert vonage_signature(params, SECRET, algorithm) == auth.sign_params(dict(params))

    def test_md5_hash_follows_the_guide(self) -> None:
        """The plain "MD5 hash": md5 of "&k=v..." with '&'/'=' in values made '_', then secret."""
        params = {"text": "a&b=c", "msisdn": "447700900001", "timestamp": "1", "sig": "x"}
        text = "&msisdn=447700900001&text=a_b_c&timestamp=1" + SECRET
        assert vonage_signature(params, SECRET, "md5hash") == hashlib.md5(text.encode()).hexdigest()

    @pytest.mark.parametrize("algorithm", ["md5hash", "md5", "sha1", "sha256", "sha512"])
    def test_each_method_verifies(self, algorithm: str) -> None:
        """A DLR signed with the configured method verifies; with another method it does not."""
        gateway = make_gateway(signature_method=algorithm)
        request = signed(dlr("0B01", "delivered"), algorithm=algorithm)
        assert gateway.parse_status(request)
        other = "sha512" if algorithm != "sha512" else "sha1"
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(signed(dlr("0B01", "delivered"), algorithm=other))

    def test_rotation(self) -> None:
        """A previous secret still verifies; an unknown one does not."""
        gateway = make_gateway(signature_secret="new-secret", previous_signature_secrets=[SECRET])
        assert gateway.parse_status(signed(dlr("0B01", "delivered")))
        assert gateway.parse_status(signed(dlr("0B01", "delivered"), secret="new-secret"))
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(signed(dlr("0B01", "delivered"), secret="stranger"))

    def test_stale_timestamp_is_refused(self) -> None:
        """A correctly signed webhook older than the tolerance fails, one inside passes."""
        gateway = make_gateway()
        assert gateway.parse_status(signed(dlr("0B01", "delivered"), at=NOW - timedelta(minutes=4)))
        stale = signed(dlr("0B01", "delivered"), at=NOW - timedelta(minutes=6))
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(stale)
        assert make_gateway(timestamp_tolerance=None).parse_status(stale)

    def test_failures_are_vague_and_checked_first(self) -> None:
        """Wrong sig, no sig, stale and unreadable bodies all fail with one message."""
        gateway = make_gateway()
        good = dlr("0B01", "delivered")
        bad = [
            signed(good, secret="stranger"),
            webhook(good),
            signed(good, at=NOW - timedelta(hours=1)),
            WebhookRequest(method="POST", url=HOOK, body=b"{not json"),
            signed({"messageId": "0B01"}, secret="stranger"),  # malformed AND unsigned
        ]
        messages = set()
        for request in bad:
            with pytest.raises(WebhookVerificationError) as caught:
                gateway.parse_status(request)
            messages.add(str(caught.value))
        assert len(messages) == 1

    def test_uppercase_sig_as_vonage_sends_it(self) -> None:
        """Vonage's example sig is upper-case hex; it is compared case-insensitively."""
        request = signed(dlr("0B01", "delivered"))
        assert json.loads(request.body)["sig"].isupper()
        assert make_gateway().parse_status(request)


# --- per-part receipts -----------------------------------------------------------------


def _part_events(
    gateway: VonageGateway, receipt: SendReceipt, words: list[tuple[str, str]]
) -> list[StatusEvent]:
    events: list[StatusEvent] = []
    for part_id, (word, err) in zip(receipt.part_ids, words, strict=True):
        events += gateway.parse_status(signed(dlr(part_id, word, err)))
    return events


class TestPerPartReceipts:
    """One DLR per part maps to the message's attempt and converges in any order."""

    @pytest.fixture
    def sent(self, vonage_api: responses.RequestsMock) -> tuple[VonageGateway, SendReceipt]:
        gateway = make_gateway()
        return gateway, gateway.send(message(body="y" * 400))

    def test_each_part_names_the_first_id(self, sent: tuple[VonageGateway, SendReceipt]) -> None:
        """Part n's DLR becomes an event about the first part's id with part=n, parts=3."""
        gateway, receipt = sent
        events = _part_events(gateway, receipt, [("delivered", "0")] * 3)
        assert [(e.provider_message_id, e.part, e.parts) for e in events] == [
            (receipt.provider_message_id, n, 3) for n in (1, 2, 3)
        ]

    def _converge(self, receipt: SendReceipt, events: list[StatusEvent]) -> Attempt:
        queued = Attempt.queued(number=1, to="+12125550123", at=NOW)
        results = {
            queued.apply(receipt.to_event()).apply_all(order)
            for order in itertools.permutations(events)
        }
        results.add(queued.apply(receipt.to_event()).apply_all(events + events[::-1]))
        assert len(results) == 1
        return results.pop()

    def test_delivered_only_when_all_parts_are(
        self, sent: tuple[VonageGateway, SendReceipt]
    ) -> None:
        """Two delivered parts leave the message SENT; the third makes it DELIVERED."""
        gateway, receipt = sent
        events = _part_events(gateway, receipt, [("delivered", "0")] * 3)
        assert self._converge(receipt, events[:2]).status is DeliveryStatus.SENT
        assert self._converge(receipt, events).status is DeliveryStatus.DELIVERED

    def test_one_permanent_failure_hard_bounces(
        self, sent: tuple[VonageGateway, SendReceipt]
    ) -> None:
        """Delivered, delivered, then err-code 3 on a part: HARD_BOUNCED in every order."""
        gateway, receipt = sent
        words = [("delivered", "0"), ("failed", "3"), ("delivered", "0")]
        attempt = self._converge(receipt, _part_events(gateway, receipt, words))
        assert attempt.status is DeliveryStatus.HARD_BOUNCED
        assert attempt.reason is FailureReason.INVALID_NUMBER
        assert attempt.provider_code == "3"

    def test_another_process_can_be_primed(self, sent: tuple[VonageGateway, SendReceipt]) -> None:
        """A webhook process that did not send learns the parts from the stored receipt."""
        _, receipt = sent
        web = make_gateway()
        (before,) = web.parse_status(signed(dlr(receipt.part_ids[1], "delivered")))
        assert before.provider_message_id == receipt.part_ids[1]
        web.remember_parts(receipt)
        (after,) = web.parse_status(signed(dlr(receipt.part_ids[1], "delivered")))
        assert (after.provider_message_id, after.part, after.parts) == (
            receipt.provider_message_id,
            2,
            3,
        )

    def test_an_unprimed_process_still_converges_through_storage(
        self, sent: tuple[VonageGateway, SendReceipt]
    ) -> None:
        """A webhook process with an empty part index: storage finds the send by part id."""
        from smscampaign import Recipient, Send
        from smscampaign.providers.memory import InMemoryStorage
        from smscampaign.testing.contracts import make_campaign, make_contact

        _, receipt = sent
        storage = InMemoryStorage()
        storage.add_campaign(make_campaign("c"))
        storage.add_recipients([Recipient(campaign_id="c", contact=make_contact(0))])
        send = Send(campaign_id="c", recipient_id="c0", step_id="invite",
                    to="+12125550100", created_at=NOW)  # fmt: skip
        send = send.start_attempt(at=NOW).with_part_ids(receipt.part_ids)
        storage.save_sends([send.apply(receipt.to_event())])
        web = make_gateway()  # never sent anything: its part index is empty
        for part_id in reversed(receipt.part_ids):
            (event,) = web.parse_status(signed(dlr(part_id, "delivered")))
            assert storage.record_events([event]).parked == 0
        assert storage.get_send(send.id).status is DeliveryStatus.DELIVERED

    def test_concat_fields_when_present(self) -> None:
        """Without an index entry, concat-part/concat-total on a DLR still give part and parts."""
        extra = {"concat-ref": "9", "concat-part": "1", "concat-total": "2"}
        (event,) = make_gateway().parse_status(signed(dlr("0B0F", "delivered", **extra)))
        assert (event.provider_message_id, event.part, event.parts) == ("0B0F", 1, 2)

    def test_part_index_is_bounded(self) -> None:
        """The default index forgets its oldest ids past maxsize."""
        index = PartIndex(maxsize=2)
        for n in range(3):
            index[f"id{n}"] = ("id0", n + 1, 3)
        assert list(index) == ["id1", "id2"]


# --- inbound ----------------------------------------------------------------------------


class TestInbound:
    """Inbound SMS webhooks in sms.yml's format."""

    def test_fields(self) -> None:
        """msisdn, to, messageId, text and message-timestamp are read; raw keeps keyword."""
        (msg,) = make_gateway().parse_inbound(signed(inbound("447700900001", "stop please")))
        assert msg.sender.e164 == "+447700900001"
        assert (msg.recipient, msg.body) == ("12125550100", "stop please")
        assert msg.provider_message_id == "0A0000000123ABCD1"
        assert msg.received_at == datetime(2026, 3, 2, 9, 1, tzinfo=timezone.utc)
        assert msg.raw["keyword"] == "STOP"

    def test_concatenated_part_is_returned_as_is(self) -> None:
        """An inbound part keeps its concat fields in raw and is not reassembled."""
        extra = {"concat": "true", "concat-ref": "1", "concat-total": "2", "concat-part": "1"}
        (msg,) = make_gateway().parse_inbound(signed(inbound("447700900001", "Part one", **extra)))
        assert msg.raw["concat-part"] == "1"

    def test_get_inbound(self) -> None:
        """A GET inbound webhook is read from its query string."""
        request = signed(inbound("447700900001", "Hi"), method="GET")
        (msg,) = make_gateway().parse_inbound(request)
        assert msg.body == "Hi"


# --- packaging -------------------------------------------------------------------------


class TestOptionalDependency:
    """The SDK is imported only when an adapter is built, with a helpful error if missing."""

    def test_missing_sdk_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without vonage installed, construction raises MissingDependency with the pip line."""
        monkeypatch.setitem(sys.modules, "vonage", None)
        with pytest.raises(MissingDependency, match=r'pip install "smscampaign\[vonage\]"'):
            make_gateway()

    def test_importing_never_imports_the_sdks(self) -> None:
        """Importing smscampaign and both adapter modules loads neither SDK."""
        code = (
            "import sys, smscampaign, smscampaign.providers.vonage, smscampaign.providers.plivo;"
            "sdks = ('vonage', 'vonage_sms', 'plivo');"
            "bad = [m for m in sys.modules if m.split('.')[0] in sdks];"
            "assert not bad, bad"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
