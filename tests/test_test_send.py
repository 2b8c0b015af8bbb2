"""Test sends (seed 000's "Test" button): rendered, sent, recorded, and never counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign.account import send_test
from smscampaign.domain.campaign import TimelineAction
from smscampaign.domain.contact import Consent, Recipient, Suppression
from smscampaign.errors import (
    ConfigurationError,
    InvalidCampaign,
    MissingField,
    SuppressedNumber,
)
from smscampaign.providers.base import Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.reporting import delivery_stats
from smscampaign.runner import CampaignRunner
from smscampaign.testing.contracts import T0, make_campaign, make_contact
from smscampaign.testing.strategies import EPOCH, AccountHistory, account_histories

FACTORIES: dict[str, Callable[[], Storage]] = {
    "memory": InMemoryStorage,
    "sqlite": lambda: SQLiteStorage(":memory:"),
}
BOTH = pytest.mark.parametrize("make", list(FACTORIES.values()), ids=list(FACTORIES))
LATER = T0 + timedelta(hours=1)


@pytest.fixture(params=list(FACTORIES))
def storage(request: pytest.FixtureRequest) -> Storage:
    """A started sample campaign with recipients c1 (a personal link) and c2 (no link)."""
    storage = FACTORIES[request.param]()
    storage.add_campaign(make_campaign("k").schedule(at=T0).start(at=T0))
    storage.add_recipients(
        [
            Recipient(campaign_id="k", contact=make_contact(2, fields={})),
            Recipient(
                campaign_id="k", contact=make_contact(1), fields={"survey_link": "https://r/1"}
            ),
        ]
    )
    return storage


def _snapshot(storage: Storage, campaign_id: str) -> tuple[object, ...]:
    """Everything a campaign's counts are made of."""
    stats = delivery_stats(storage, campaign_id, now=LATER)
    return (
        list(storage.iter_sends(campaign_id)),
        storage.count_sends(campaign_id, by=("step", "status", "reason", "list")),
        stats.total,
        dict(stats.by_step),
        dict(stats.by_list),
    )


class TestTestSend:
    """A step rendered for a contact, sent to any number, outside the campaign's counts."""

    def test_named_contact_fills_the_template(self, storage: Storage) -> None:
        """A recipient's own fields fill it; the timeline records the test; no count moves."""
        gateway = SimulatedGateway.ideal()
        before = _snapshot(storage, "k")
        sent = send_test(storage, gateway, "k", "invite", "+12125550150", contact_id="c1",
                         now=LATER, by="alice")  # fmt: skip
        assert sent.body == "Hi First1: https://r/1"
        assert [m.to for m in gateway.sent] == ["+12125550150"]
        assert gateway.sent[0].sender == "+12125550199"
        assert gateway.sent[0].status_callback_url is None
        assert _snapshot(storage, "k") == before
        entry = storage.get_campaign("k").timeline[-1]
        assert (entry.action, entry.cause, entry.at) == (TimelineAction.TEST_SENT, "alice", LATER)
        assert "+12125550150" in entry.detail
        assert sent.receipt.provider_message_id in entry.detail
        assert storage.get_campaign("k").state.value == "in_progress"

    def test_sample_is_the_first_recipient_who_fills_it(self, storage: Storage) -> None:
        """Without a contact, the first recipient whose values fill the template is used."""
        sent = send_test(
            storage, SimulatedGateway.ideal(), "k", "invite", "+12125550150", now=LATER
        )
        assert (sent.contact_id, sent.body) == ("c1", "Hi First1: https://r/1")
        plain = send_test(storage, SimulatedGateway.ideal(), "k", "thanks", "+12125550150",
                          now=LATER)  # fmt: skip
        assert (plain.contact_id, plain.body) == ("c2", "Thank you!")

    def test_given_values_win_and_a_hole_is_refused(self, storage: Storage) -> None:
        """Values given overlay the contact's; a field nobody has is a MissingField, not sent."""
        gateway = SimulatedGateway.ideal()
        sent = send_test(storage, gateway, "k", "invite", "+12125550150", contact_id="c2",
                         values={"Survey Link": "https://sample"}, now=LATER)  # fmt: skip
        assert sent.body == "Hi First2: https://sample"
        with pytest.raises(MissingField, match="survey_link") as info:
            send_test(storage, gateway, "k", "reminder-1", "+12125550150", contact_id="c2")
        assert info.value.field == "survey_link"
        assert len(gateway.sent) == 1

    def test_refusals(self, storage: Storage) -> None:
        """Suppressed or opted-out numbers, landlines, unknown steps and no sender: typed errors."""
        gateway = SimulatedGateway.ideal()
        e164 = make_contact(3).phone.e164
        storage.suppress(Suppression(e164=e164, cause="stop_word", at=T0, detail="STOP"))
        timeline = storage.get_campaign("k").timeline
        with pytest.raises(SuppressedNumber, match="suppression list") as info:
            send_test(storage, gateway, "k", "invite", e164, contact_id="c1")
        assert (info.value.e164, info.value.cause) == (e164, "stop_word")
        storage.save_contacts([make_contact(4, consent=Consent.OPTED_OUT)])
        with pytest.raises(SuppressedNumber, match="opted out"):
            send_test(storage, gateway, "k", "invite", make_contact(4).phone, contact_id="c1")
        with pytest.raises(InvalidCampaign):
            send_test(storage, gateway, "k", "nope", "+12125550150", contact_id="c1")
        with pytest.raises(ConfigurationError, match="cannot take SMS"):
            send_test(storage, gateway, "k", "invite", "+442079460000", contact_id="c1")
        storage.add_campaign(attrs.evolve(make_campaign("silent"), sender=""))
        with pytest.raises(ConfigurationError, match="no sender"):
            send_test(storage, gateway, "silent", "thanks", "+12125550150")
        assert gateway.sent == []
        assert storage.get_campaign("k").timeline == timeline

    def test_runner_sends_through_its_gateway_and_clock(self, storage: Storage) -> None:
        """CampaignRunner.test_send uses the runner's gateway and clock."""
        clock = VirtualClock(LATER)
        gateway = SimulatedGateway.ideal(clock=clock)
        runner = CampaignRunner(storage, gateway, clock)
        sent = runner.test_send("k", "invite", "2125550150", region="US", contact_id="c1")
        assert (sent.to, sent.at) == ("+12125550150", LATER)
        assert [m.body for m in gateway.sent] == [sent.body]


@BOTH
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=account_histories(max_replies=0), data=st.data())
def test_a_test_send_never_reaches_a_suppressed_number_nor_moves_stats(
    make: Callable[[], Storage], history: AccountHistory, data: st.DataObject
) -> None:
    """Any target, any suppressions: suppressed numbers get nothing; counts never move."""
    storage = make()
    history.load(storage)
    phones = {r.contact.phone.e164: r.contact.phone for r in history.recipients}
    numbers = sorted(phones)
    for e164 in data.draw(st.lists(st.sampled_from(numbers), unique=True)):
        storage.suppress(Suppression(e164=e164, cause="manual", at=EPOCH, by="ops"))
    campaign = data.draw(st.sampled_from(history.campaigns))
    target = data.draw(st.sampled_from(numbers))
    gateway = SimulatedGateway.ideal()
    before = {c.id: _snapshot(storage, c.id) for c in history.campaigns}
    blocked = storage.get_suppression(target) is not None or any(
        c.consent is Consent.OPTED_OUT for c in storage.iter_contacts(e164=target)
    )
    try:
        send_test(storage, gateway, campaign.id, campaign.invite.id, target,
                  values={"first_name": "Sam", "survey_link": "https://s"}, now=LATER)  # fmt: skip
    except SuppressedNumber:
        assert blocked
    except ConfigurationError:  # a premium-rate or fixed line: no SMS at all
        assert not phones[target].kind.can_receive_sms
        assert gateway.sent == []
    else:
        assert not blocked
        assert [m.to for m in gateway.sent] == [target]
    assert all(storage.get_suppression(m.to) is None for m in gateway.sent)
    assert {c.id: _snapshot(storage, c.id) for c in history.campaigns} == before
