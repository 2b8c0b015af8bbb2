"""Reply forwarding (seed 004 "Forwarded"): hooks on the runner get every reply, classified.

A hook gets each handled reply with what it answers; its failure is logged and
contained, and never loses the reply, which is stored before any hook runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign.domain.contact import Recipient
from smscampaign.domain.delivery import Send, StatusEvent
from smscampaign.domain.replies import InboundMessage, Keyword
from smscampaign.providers.base import Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.runner import CampaignRunner, ReplyOutcome
from smscampaign.testing.contracts import T0, make_campaign, make_contact
from smscampaign.testing.strategies import reply_texts

FACTORIES: dict[str, Callable[[], Storage]] = {
    "memory": InMemoryStorage,
    "sqlite": lambda: SQLiteStorage(":memory:"),
}
BOTH = pytest.mark.parametrize("make", list(FACTORIES.values()), ids=list(FACTORIES))


def _went_out(campaign_id: str, n: int, at: datetime) -> Send:
    send = Send(
        campaign_id=campaign_id,
        recipient_id=f"c{n}",
        step_id="invite",
        to=make_contact(n).phone.e164,
        created_at=at,
        body="Hi",
        id=f"{campaign_id}:{n}",
    ).start_attempt(at=at)
    return send.apply(
        StatusEvent(
            provider="simulated",
            provider_message_id=f"m-{campaign_id}-{n}",
            status="sent",
            occurred_at=at,
        )
    )


def _world(make: Callable[[], Storage]) -> Storage:
    """Campaign a messaged c1 at T0, campaign b messaged c1 an hour later."""
    storage = make()
    for campaign_id, minutes in (("a", 0), ("b", 60)):
        storage.add_campaign(make_campaign(campaign_id).schedule(at=T0).start(at=T0))
        storage.add_recipients([Recipient(campaign_id=campaign_id, contact=make_contact(1))])
        storage.save_sends([_went_out(campaign_id, 1, T0 + timedelta(minutes=minutes))])
    return storage


def _reply(body: str, minutes: int, message_id: str) -> InboundMessage:
    return InboundMessage(
        provider="simulated",
        provider_message_id=message_id,
        sender=make_contact(1).phone,
        recipient="+12125550199",
        body=body,
        received_at=T0 + timedelta(minutes=minutes),
        raw={},
    )


class TestReplyHooks:
    """Hooks registered on the runner receive each reply, classified, with what it answers."""

    @BOTH
    def test_hook_gets_the_classified_reply_and_its_campaign(
        self, make: Callable[[], Storage]
    ) -> None:
        """The reply answers the latest message that went out before it, across campaigns."""
        storage = _world(make)
        runner = CampaignRunner(storage, SimulatedGateway.ideal())
        seen: list[ReplyOutcome] = []
        runner.add_reply_hook(seen.append)
        runner.handle_reply(_reply("Who is this?", 30, "r1"), now=T0 + timedelta(minutes=30))
        runner.handle_reply(_reply("stop", 90, "r2"), now=T0 + timedelta(minutes=90))
        runner.handle_reply(_reply("stop", 90, "r2"), now=T0 + timedelta(minutes=91))
        assert [o.message.provider_message_id for o in seen] == ["r1", "r2"]
        assert [o.classification.keyword for o in seen] == [Keyword.OTHER, Keyword.OPT_OUT]
        assert [o.in_reply_to.campaign_id if o.in_reply_to else None for o in seen] == ["a", "b"]
        entry = storage.get_suppression(make_contact(1).phone.e164)
        assert entry is not None
        assert entry.campaign_id == "b"  # the suppression list says where the STOP came from

    @BOTH
    def test_a_reply_before_any_message_answers_nothing(self, make: Callable[[], Storage]) -> None:
        """A reply earlier than every message that went out has no campaign."""
        storage = _world(make)
        runner = CampaignRunner(storage, SimulatedGateway.ideal())
        outcome = runner.handle_reply(_reply("hello", -5, "r0"), now=T0)
        assert outcome.in_reply_to is None

    def test_hooks_run_in_order_and_a_failure_is_contained(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """on_reply first, then added hooks; one failing is logged, the next still runs."""
        storage = _world(InMemoryStorage)
        calls: list[str] = []

        def broken(_outcome: ReplyOutcome) -> None:
            calls.append("broken")
            raise RuntimeError("host bug")

        runner = CampaignRunner(
            storage, SimulatedGateway.ideal(), on_reply=lambda o: calls.append("on_reply")
        )
        runner.add_reply_hook(broken)
        runner.add_reply_hook(lambda o: calls.append("forward"))
        with caplog.at_level(logging.ERROR, logger="smscampaign.runner"):
            outcome = runner.handle_reply(_reply("Thanks!", 120, "r3"), now=T0)
        assert calls == ["on_reply", "broken", "forward"]
        assert "on_reply hook failed for r3" in caplog.text
        assert outcome.in_reply_to is not None
        assert [m.provider_message_id for m in storage.iter_inbound()] == ["r3"]


class _HookError(Exception):
    """What a host's broken hook raises."""


@BOTH
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bodies=st.lists(reply_texts(), min_size=1, max_size=4),
    failing=st.lists(st.booleans(), min_size=1, max_size=3),
    errors=st.sampled_from([_HookError, ValueError, KeyError, RuntimeError]),
)
def test_a_failing_hook_never_loses_a_reply(
    make: Callable[[], Storage],
    bodies: list[str],
    failing: list[bool],
    errors: type[Exception],
) -> None:
    """Whatever the replies and however the hooks fail, each reply is stored and every hook runs."""
    storage = _world(make)
    runner = CampaignRunner(storage, SimulatedGateway.ideal())
    seen: list[list[str]] = [[] for _ in failing]
    stored_first: list[bool] = []

    def hook(index: int, fails: bool) -> Callable[[ReplyOutcome], None]:
        def call(outcome: ReplyOutcome) -> None:
            seen[index].append(outcome.message.provider_message_id)
            # Stored before any hook runs (an assert here would be contained: record it).
            stored_first.append(storage.record_inbound(outcome.message) is False)
            if fails:
                raise errors("host bug")

        return call

    for index, fails in enumerate(failing):
        runner.add_reply_hook(hook(index, fails))
    ids = [f"r{i}" for i in range(len(bodies))]
    for i, body in enumerate(bodies):
        outcome = runner.handle_reply(_reply(body, 30 + i, ids[i]), now=T0 + timedelta(hours=2))
        assert outcome.message.provider_message_id == ids[i]
    assert [m.provider_message_id for m in storage.iter_inbound()] == ids
    assert seen == [ids for _ in failing]
    assert stored_first == [True] * len(ids) * len(failing)
