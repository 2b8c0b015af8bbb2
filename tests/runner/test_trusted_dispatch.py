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
)
from smscampaign.eligibility import Decision
from smscampaign.errors import MissingField
from smscampaign.providers.gateway import SendReceipt
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway
from smscampaign.runner import CampaignRunner, _receipt_event, _with_receipt
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
