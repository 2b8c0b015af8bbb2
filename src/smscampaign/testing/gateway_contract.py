"""The Gateway conformance suite: what every SMS provider adapter must do.

Subclass :class:`GatewayContract` in a test module (its name starting with
``Test`` so pytest collects it), implement the hooks, and every check runs
against your adapter::

    from smscampaign.testing.gateway_contract import GatewayContract

    class TestMyGateway(GatewayContract):
        def make_gateway(self):
            return MyGateway(api_key="test", http=fake_transport)

        def make_status_request(self, gateway, receipt, outcome):
            return sign_like_my_provider(...)

        def make_inbound_request(self, gateway, *, from_number, body):
            return sign_like_my_provider(...)

        def make_malformed_request(self, gateway):
            return sign_like_my_provider(body=b"not what my provider sends")

The checks talk to the adapter through the
:class:`~smscampaign.providers.gateway.Gateway` protocol only. They cover what
the runner relies on: ``send`` returns a receipt whose event folds into an
attempt, a refused number raises a typed permanent error with a reason and the
provider's code, callbacks verify before they parse, a tampered or unsigned
callback raises the one vague
:class:`~smscampaign.errors.WebhookVerificationError`, an unreadable one raises
:class:`~smscampaign.errors.MalformedWebhook`, and parsing is idempotent.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone

import attrs
import pytest

from smscampaign.domain.delivery import Attempt, DeliveryStatus, FailureReason, StatusEvent
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import (
    MalformedWebhook,
    PermanentGatewayError,
    WebhookVerificationError,
)
from smscampaign.providers.gateway import (
    RECEIPT_STATUSES,
    Gateway,
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
)

__all__ = ["GatewayContract"]

_SLUG = re.compile(r"[a-z][a-z0-9_]*")
_QUEUED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class GatewayContract:
    """The checks every Gateway must pass; subclass it and implement the hooks.

    Class attributes a subclass may change:

    ``sender``: the sender the messages go from. ``deliverable_number``: a
    number the gateway accepts. ``invalid_number``: a number the gateway
    refuses synchronously as invalid. ``honours_idempotency``: whether sending
    the same idempotency key twice sends once (checked only when True).
    """

    sender: str = "+12125550100"
    deliverable_number: str = "+12125550123"
    invalid_number: str = "+15005550001"
    honours_idempotency: bool = False

    # --- hooks -------------------------------------------------------------------

    def make_gateway(self) -> Gateway:
        """A fresh gateway, set up so ``deliverable_number`` is accepted."""
        raise NotImplementedError

    def make_status_request(
        self, gateway: Gateway, receipt: SendReceipt, outcome: DeliveryStatus
    ) -> WebhookRequest:
        """A genuine, signed status callback about ``receipt``'s message.

        Args:
            gateway: The gateway under test.
            receipt: The receipt ``send`` returned.
            outcome: What the callback reports: ``SENT``, ``DELIVERED``,
                ``SOFT_BOUNCED`` (a temporary failure such as an unreachable
                handset) or ``HARD_BOUNCED`` (a permanent one such as a landline).
        """
        raise NotImplementedError

    def make_inbound_request(
        self, gateway: Gateway, *, from_number: str, body: str
    ) -> WebhookRequest:
        """A genuine, signed inbound-message callback from ``from_number`` saying ``body``."""
        raise NotImplementedError

    def make_malformed_request(self, gateway: Gateway) -> WebhookRequest:
        """A correctly signed request whose body is not in the provider's format."""
        raise NotImplementedError

    def tamper(self, request: WebhookRequest) -> WebhookRequest:
        """``request`` with its content altered after signing; by default a changed body."""
        body = request.body
        changed = body.replace(b"1", b"2", 1) if b"1" in body else body + b" "
        return attrs.evolve(request, body=changed)

    def strip_signature(self, request: WebhookRequest) -> WebhookRequest:
        """``request`` without its signature; by default without any header."""
        return attrs.evolve(request, headers={})

    def make_message(
        self, *, to: str | None = None, body: str = "Hello from the contract"
    ) -> OutboundMessage:
        """A message to send; each call gets a new idempotency key."""
        return OutboundMessage(
            to=to or self.deliverable_number,
            sender=self.sender,
            body=body,
            idempotency_key=f"contract-{next(_KEYS)}",
        )

    # --- fixtures ------------------------------------------------------------------

    @pytest.fixture
    def gateway(self) -> Gateway:
        """The gateway under test, fresh for each check."""
        return self.make_gateway()

    @pytest.fixture
    def receipt(self, gateway: Gateway) -> SendReceipt:
        """The receipt of one accepted message."""
        return gateway.send(self.make_message())

    # --- the checks --------------------------------------------------------------------

    def test_is_a_gateway(self, gateway: Gateway) -> None:
        """The adapter satisfies the Gateway protocol and has a lower_snake slug."""
        assert isinstance(gateway, Gateway)
        assert _SLUG.fullmatch(gateway.name), gateway.name

    def test_send_returns_a_receipt(self, gateway: Gateway, receipt: SendReceipt) -> None:
        """An accepted message gets a receipt with an id, a status and an aware time."""
        assert isinstance(receipt, SendReceipt)
        assert receipt.provider == gateway.name
        assert receipt.provider_message_id
        assert receipt.status in RECEIPT_STATUSES
        assert receipt.accepted_at.utcoffset() is not None
        assert receipt.segments is None or receipt.segments >= 1

    def test_receipts_have_distinct_ids(self, gateway: Gateway) -> None:
        """Two messages get two provider ids."""
        first = gateway.send(self.make_message())
        second = gateway.send(self.make_message())
        assert first.provider_message_id != second.provider_message_id

    def test_receipt_event_applies_to_an_attempt(self, receipt: SendReceipt) -> None:
        """The receipt's event folds into a queued attempt, which takes its id and status."""
        attempt = Attempt.queued(number=1, to=self.deliverable_number, at=_QUEUED_AT)
        after = attempt.apply(receipt.to_event())
        assert after.provider == receipt.provider
        assert after.provider_message_id == receipt.provider_message_id
        assert after.status is receipt.status

    def test_invalid_number_raises_permanent_error(self, gateway: Gateway) -> None:
        """A number the provider rejects raises PermanentGatewayError with a reason and code."""
        with pytest.raises(PermanentGatewayError) as caught:
            gateway.send(self.make_message(to=self.invalid_number))
        assert caught.value.reason is FailureReason.INVALID_NUMBER
        assert caught.value.provider_code

    @pytest.mark.parametrize(
        "outcome",
        [
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.SOFT_BOUNCED,
            DeliveryStatus.HARD_BOUNCED,
        ],
    )
    def test_status_callback_parses(
        self, gateway: Gateway, receipt: SendReceipt, outcome: DeliveryStatus
    ) -> None:
        """A status callback gives events about the message that fold into its attempt."""
        events = gateway.parse_status(self.make_status_request(gateway, receipt, outcome))
        assert events
        for event in events:
            assert isinstance(event, StatusEvent)
            assert event.provider == gateway.name
            assert event.provider_message_id == receipt.provider_message_id
            assert event.occurred_at.utcoffset() is not None
            assert event.raw
        attempt = Attempt.queued(number=1, to=self.deliverable_number, at=_QUEUED_AT)
        attempt = attempt.apply(receipt.to_event()).apply_all(events)
        assert attempt.status is outcome
        if outcome in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED):
            assert isinstance(attempt.reason, FailureReason)
            assert attempt.provider_code

    def test_events_converge_in_any_order(self, gateway: Gateway, receipt: SendReceipt) -> None:
        """Receipt, sent and delivered events give the same attempt in every order, twice over."""
        events = [receipt.to_event()]
        for outcome in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED):
            events += gateway.parse_status(self.make_status_request(gateway, receipt, outcome))
        queued = Attempt.queued(number=1, to=self.deliverable_number, at=_QUEUED_AT)
        results = {queued.apply_all(order) for order in itertools.permutations(events)}
        results.add(queued.apply_all(events + events))
        assert len(results) == 1
        assert results.pop().status is DeliveryStatus.DELIVERED

    def test_parsing_twice_gives_equal_events(self, gateway: Gateway, receipt: SendReceipt) -> None:
        """The same callback parsed twice gives equal events with equal dedup keys."""
        request = self.make_status_request(gateway, receipt, DeliveryStatus.DELIVERED)
        first, second = gateway.parse_status(request), gateway.parse_status(request)
        assert first == second
        assert [e.dedup_key for e in first] == [e.dedup_key for e in second]

    def test_tampered_status_is_rejected(self, gateway: Gateway, receipt: SendReceipt) -> None:
        """A status callback altered after signing raises WebhookVerificationError."""
        request = self.make_status_request(gateway, receipt, DeliveryStatus.DELIVERED)
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(self.tamper(request))

    def test_unsigned_status_is_rejected(self, gateway: Gateway, receipt: SendReceipt) -> None:
        """A status callback without its signature raises WebhookVerificationError."""
        request = self.make_status_request(gateway, receipt, DeliveryStatus.DELIVERED)
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(self.strip_signature(request))

    def test_verification_errors_say_nothing_about_why(
        self, gateway: Gateway, receipt: SendReceipt
    ) -> None:
        """A tampered and an unsigned callback fail with the same message."""
        request = self.make_status_request(gateway, receipt, DeliveryStatus.DELIVERED)
        messages = set()
        for bad in (self.tamper(request), self.strip_signature(request)):
            with pytest.raises(WebhookVerificationError) as caught:
                gateway.parse_status(bad)
            messages.add(str(caught.value))
        assert len(messages) == 1

    def test_malformed_status_raises_malformed_webhook(self, gateway: Gateway) -> None:
        """A signed request that is not a status callback raises MalformedWebhook."""
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(self.make_malformed_request(gateway))

    def test_malformed_inbound_raises_malformed_webhook(self, gateway: Gateway) -> None:
        """A signed request that is not an inbound message raises MalformedWebhook."""
        with pytest.raises(MalformedWebhook):
            gateway.parse_inbound(self.make_malformed_request(gateway))

    @pytest.mark.parametrize("body", ["STOP", "Yes, count me in", "Arrêt 🙏"])
    def test_inbound_parses(self, gateway: Gateway, body: str) -> None:
        """An inbound callback gives the message with its sender, body and an aware time."""
        request = self.make_inbound_request(gateway, from_number=self.deliverable_number, body=body)
        messages = gateway.parse_inbound(request)
        assert len(messages) == 1
        message = messages[0]
        assert isinstance(message, InboundMessage)
        assert message.provider == gateway.name
        assert isinstance(message.sender, PhoneNumber)
        assert message.sender.e164 == self.deliverable_number
        assert message.body == body
        assert message.received_at.utcoffset() is not None
        assert message.raw
        assert gateway.parse_inbound(request) == messages

    def test_tampered_inbound_is_rejected(self, gateway: Gateway) -> None:
        """An inbound callback altered after signing raises WebhookVerificationError."""
        request = self.make_inbound_request(gateway, from_number=self.deliverable_number, body="1")
        with pytest.raises(WebhookVerificationError):
            gateway.parse_inbound(self.tamper(request))
        with pytest.raises(WebhookVerificationError):
            gateway.parse_inbound(self.strip_signature(request))

    def test_idempotency_key_sends_once(self, gateway: Gateway) -> None:
        """With honoured idempotency, the same key twice gives the same receipt."""
        if not self.honours_idempotency:
            pytest.skip("this gateway does not claim to honour idempotency keys")
        message = self.make_message()
        assert gateway.send(message) == gateway.send(message)


_KEYS = itertools.count(1)
