"""The objects dispatch builds without attrs' checks equal what the checked paths build.

Queuing a send, turning a receipt into an event, and starting an attempt
with the receipt folded in are built from values the runner has just made
or that were checked already (``smscampaign.domain._trusted``). Each
property compares the fast path with the general one on generated values:
every field, the derived status and sent-on (which equality leaves out), and
the types of enum fields.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from smscampaign.domain.campaign import Campaign
from smscampaign.domain.contact import Recipient
from smscampaign.domain.delivery import (
    Attempt,
    DeliveryStatus,
    FailureReason,
    Permanence,
    Send,
    StatusEvent,
    _queued_and_applied,
)
from smscampaign.eligibility import Decision
from smscampaign.errors import MissingField
from smscampaign.providers.gateway import OutboundMessage, SendReceipt
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway
from smscampaign.runner import CampaignRunner, _outbound, _receipt_event, _with_receipt
from smscampaign.testing import strategies as sms

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _event_facts(event: StatusEvent) -> tuple[Any, ...]:
    return (
        *(getattr(event, f.name) for f in attrs.fields(StatusEvent)),
        type(event.status),
    )


def _attempt_facts(attempt: Attempt) -> tuple[Any, ...]:
    return (
        *(getattr(attempt, f.name) for f in attrs.fields(Attempt)),
        type(attempt.status),
        type(attempt.evidence),
        type(attempt.part_ids),
    )


def _send_facts(send: Send) -> tuple[Any, ...]:
    return (
        *(getattr(send, f.name) for f in attrs.fields(Send)),
        type(send.status),
        type(send.attempts),
        [_attempt_facts(a) for a in send.attempts],
    )


def _general_path(send: Send, at: datetime, receipt: SendReceipt) -> Send:
    """What ``_with_receipt`` stands for: start the attempt, then apply the receipt's event."""
    started = send.start_attempt(at=at)
    if len(receipt.part_ids) > 1:
        started = started.with_part_ids(receipt.part_ids)
    return started.apply(receipt.to_event())


_TEMPORARY = tuple(r for r in FailureReason if r.permanence is Permanence.TEMPORARY)


@st.composite
def _awaiting_retry(draw: st.DrawFn) -> Send:
    """A queued send whose first attempts soft-bounced, with retries left (and maybe a due time)."""
    send = draw(sms.sends(statuses=[DeliveryStatus.QUEUED]))
    assume(not send.attempts)
    for n in range(1, draw(st.integers(1, 2)) + 1):
        at = send.created_at + timedelta(minutes=10 * n)
        send = send.start_attempt(at=at).apply(
            StatusEvent.failure(
                provider="simulated",
                provider_message_id=f"{send.id}-{n}",
                occurred_at=at,
                reason=draw(st.sampled_from(_TEMPORARY)),
            )
        )
        if draw(st.booleans()):
            send = send.schedule_retry(at=at + timedelta(hours=1))
    return send


class _OwnReceipt(SendReceipt):
    """A receipt subclass with its own event: the runner must ask it, not build one."""

    def to_event(self) -> StatusEvent:
        return attrs.evolve(super().to_event(), provider_status="own")


class TestReceiptEvent:
    """A receipt's event is built as given, equal to ``SendReceipt.to_event``."""

    @_SETTINGS
    @given(sms.send_receipts())
    def test_equals_to_event(self, receipt: SendReceipt) -> None:
        fast = _receipt_event(receipt)
        assert _event_facts(fast) == _event_facts(receipt.to_event())
        assert fast.raw == receipt.to_event().raw

    @_SETTINGS
    @given(sms.send_receipts())
    def test_a_subclass_keeps_its_own_event(self, receipt: SendReceipt) -> None:
        own = _OwnReceipt(**{f.name: getattr(receipt, f.name) for f in attrs.fields(SendReceipt)})
        assert _receipt_event(own).provider_status == "own"


class TestWithReceipt:
    """Starting an attempt with the receipt folded in equals start_attempt, then apply."""

    @_SETTINGS
    @given(
        sms.sends(statuses=[DeliveryStatus.QUEUED]),
        sms.send_receipts(),
        st.integers(0, 72 * 3600),
    )
    def test_equals_the_general_path(self, send: Send, receipt: SendReceipt, later: int) -> None:
        at = send.created_at + timedelta(days=1, seconds=later)
        fast = _with_receipt(send, len(send.attempts) + 1, at, receipt)
        assert _send_facts(fast) == _send_facts(_general_path(send, at, receipt))

    @_SETTINGS
    @given(_awaiting_retry(), sms.send_receipts())
    def test_a_retry_keeps_the_earlier_attempts(self, send: Send, receipt: SendReceipt) -> None:
        assert send.awaiting_retry
        at = send.created_at + timedelta(days=1)
        fast = _with_receipt(send, len(send.attempts) + 1, at, receipt)
        assert fast.attempts[:-1] == send.attempts
        assert _send_facts(fast) == _send_facts(_general_path(send, at, receipt))


class TestQueuedAndApplied:
    """A queued attempt with one event folded in, built in one step, is queued() then apply()."""

    @_SETTINGS
    @given(
        sms.status_events(provider_message_ids=st.sampled_from(["m1", "SMabc"]), parts=3),
        st.integers(1, 5),
        st.integers(0, 3600),
    )
    def test_equals_the_merge_rule(self, event: StatusEvent, number: int, later: int) -> None:
        assume(event.status is not None and event.part is None)
        at = event.occurred_at - timedelta(seconds=later)
        fast = _queued_and_applied(number, "+12125550123", at, event)
        general = Attempt.queued(number=number, to="+12125550123", at=at).apply(event)
        assert _attempt_facts(fast) == _attempt_facts(general)


def _values_by_hand(recipient: Recipient) -> dict[str, str]:
    """A recipient's template values by the rule: contact fields, standard fields, own fields."""
    contact = recipient.contact
    values = {key: contact.fields[key] for key in contact.fields}
    values["first_name"] = contact.first_name
    values["last_name"] = contact.last_name
    values["full_name"] = contact.full_name
    values["email"] = contact.email
    values["phone"] = contact.phone.e164
    for key in recipient.fields:
        values[key] = recipient.fields[key]
    return values


class TestTemplateValues:
    """The values a body is rendered from are the contact's, overlaid with the recipient's."""

    @_SETTINGS
    @given(
        sms.recipients(with_sends=False),
        st.dictionaries(st.sampled_from(["survey_url", "first_name", "code"]), st.text(max_size=5)),
    )
    def test_values_follow_the_rule(self, recipient: Recipient, own: dict[str, str]) -> None:
        recipient = attrs.evolve(recipient, fields=own)
        values = recipient.template_values()
        assert list(values.items()) == list(_values_by_hand(recipient).items())


def _message_facts(message: OutboundMessage) -> tuple[Any, ...]:
    values = [getattr(message, f.name) for f in _MESSAGE_FIELDS]
    return (*values, *(type(v) for v in values))


_MESSAGE_FIELDS = attrs.fields(OutboundMessage)
_NAIVE = datetime(2026, 6, 2, 15, 0)


class TestOutboundMessage:
    """The message dispatch builds with its checks inline equals the checked one, or fails as it."""

    @_SETTINGS
    @given(sms.outbound_messages(), st.sampled_from([None, "https://example.com/status"]))
    def test_equals_the_checked_message(self, message: OutboundMessage, url: str | None) -> None:
        values = (message.to, message.sender, message.body, message.idempotency_key)
        fast = _outbound(*values, message.valid_until, url)
        checked = OutboundMessage(
            to=message.to,
            sender=message.sender,
            body=message.body,
            idempotency_key=message.idempotency_key,
            valid_until=message.valid_until,
            status_callback_url=url,
        )
        assert _message_facts(fast) == _message_facts(checked)

    @_SETTINGS
    @given(
        st.sampled_from(
            [
                {"to": "12125550123"},
                {"to": "+1 212 555 0123"},
                {"sender": ""},
                {"sender": "  "},
                {"body": 7},
                {"valid_until": _NAIVE},
                {"status_callback_url": 3},
            ]
        )
    )
    def test_bad_values_fail_as_in_the_checked_constructor(self, bad: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            "to": "+12125550123",
            "sender": "+12125550100",
            "body": "Hi",
            "idempotency_key": "c:invite:r:0:1",
            "valid_until": None,
            "status_callback_url": None,
            **bad,
        }
        with pytest.raises((ValueError, TypeError)) as checked:
            OutboundMessage(**values)
        with pytest.raises(type(checked.value)):
            _outbound(*values.values())


class TestQueuedSend:
    """A queued send is built as given, equal to the checked ``Send`` of the same values."""

    @_SETTINGS
    @given(sms.campaigns(), st.data())
    def test_equals_the_checked_send(self, campaign: Campaign, data: st.DataObject) -> None:
        recipient: Recipient = data.draw(sms.recipients(campaign=campaign))
        step = data.draw(st.sampled_from(campaign.steps))
        at = campaign.timeline[0].at + timedelta(hours=data.draw(st.integers(0, 1000)))
        runner = CampaignRunner(InMemoryStorage(), SimulatedGateway.ideal())
        try:
            body = step.render(recipient.template_values())
        except MissingField:
            assume(False)
        fast = runner._send_for(campaign, Decision(recipient, step), at)
        assert fast is not None
        checked = Send(
            campaign_id=campaign.id,
            recipient_id=recipient.id,
            step_id=step.id,
            to=recipient.phone.e164,
            created_at=at,
            body=body,
            policy=campaign.options.retry,
            id=f"{campaign.id}:{step.id}:{recipient.id}:{len(recipient.sends_for(step.id))}",
        )
        assert _send_facts(fast) == _send_facts(checked)
