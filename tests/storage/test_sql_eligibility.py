"""Eligibility pushed into SQL: SQLiteStorage decides a step exactly as the in-memory engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscampaign.domain.campaign import Campaign, Step, StepKind
from smscampaign.domain.contact import Consent, Contact, Recipient, Suppression
from smscampaign.domain.delivery import Send
from smscampaign.domain.phone import PhoneNumber
from smscampaign.eligibility import DEFAULT_RULES, Eligibility, Finding, Reason, Rule, RuleContext
from smscampaign.errors import InvalidCampaign, NaiveDatetimeError
from smscampaign.providers._sql_eligibility import BLANK
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.testing import strategies as sms
from smscampaign.testing.strategies import EPOCH

# A small pool of numbers, so generated recipients share numbers (duplicates)
# and suppressions hit them; verified and unverified, of several kinds.
_PHONES = st.lists(sms.phone_numbers(verified=None), min_size=1, max_size=6, unique_by=str)

# Bodies naming standard and custom fields, so MISSING_FIELD is exercised.
_BODIES = (
    "Hi {first_name} {last_name}: {survey_link}",
    "{full_name}, your code is {code} ({email}, {phone})",
    "Reminder for {city}: {survey_link} {city}",
    "Plain text",
)


@st.composite
def _steps(draw: st.DrawFn) -> tuple[Step, ...]:
    steps = list(draw(sms.steps()))
    return tuple(
        Step(id=s.id, kind=s.kind, body=draw(st.sampled_from(_BODIES)), delay=s.delay)
        for s in steps
    )


def _fields() -> st.SearchStrategy[dict[str, str]]:
    values = st.sampled_from(("", " ", "\u3000\t", "x", "https://s.example/a", " y "))
    return st.dictionaries(st.sampled_from(("survey_link", "city", "code", "first_name")), values)


@st.composite
def _scenario(
    draw: st.DrawFn,
) -> tuple[Campaign, list[Recipient], list[Suppression], datetime]:
    campaign = draw(sms.campaigns(step_sequences=_steps()))
    phones = draw(_PHONES)
    contact_strategy = sms.contacts(phones=st.sampled_from(phones))
    people = draw(
        st.lists(
            sms.recipients(campaign=campaign, contact_strategy=contact_strategy),
            max_size=8,
            unique_by=lambda r: r.id,
        )
    )
    recipients = []
    for person in people:
        contact = person.contact
        contact = Contact(
            id=contact.id,
            phone=contact.phone,
            first_name=draw(st.sampled_from((contact.first_name, "", " "))),
            last_name=contact.last_name,
            email=draw(st.sampled_from(("", "a@example.com"))),
            fields=draw(_fields()),
            consent=contact.consent,
            account=contact.account,
        )
        sends = list(person.sends)
        # Extra sends: a second send of a step, some to another number.
        for step in campaign.steps:
            if draw(st.integers(0, 3)) == 0:
                to = draw(st.sampled_from([str(p.e164) for p in phones]))
                extra = draw(
                    sms.sends(
                        campaign_id=campaign.id, recipient_id=contact.id, step_id=step.id, to=to
                    )
                )
                sends.append(extra)
        recipients.append(
            Recipient(
                campaign_id=campaign.id,
                contact=contact,
                status=person.status,
                response=person.response,
                list_name=person.list_name,
                fields=draw(_fields()),
                sends=sends,
            )
        )
    suppressions = draw(
        st.lists(
            sms.suppressions(phones=st.sampled_from(phones)), max_size=3, unique_by=lambda s: s.e164
        )
    )
    now = draw(sms.aware_datetimes(min_value=EPOCH, max_value=EPOCH + timedelta(days=14)))
    return campaign, recipients, suppressions, now


def _store(
    campaign: Campaign, recipients: Sequence[Recipient], suppressions: Sequence[Suppression]
) -> SQLiteStorage:
    storage = SQLiteStorage(":memory:")
    storage.add_campaign(campaign)
    storage.add_recipients(recipients)
    sends: dict[str, Send] = {}
    for recipient in recipients:
        for send in recipient.sends:
            sends[send.id] = send
    storage.save_sends(sends.values())
    for suppression in suppressions:
        storage.suppress(suppression)
    return storage


def _reference(
    storage: SQLiteStorage, campaign: Campaign, step: Step, now: datetime
) -> Eligibility:
    suppressed = {s.e164 for s in storage.iter_suppressions(account=campaign.account)}
    return Eligibility(campaign, step, now=now, suppressed=suppressed)


class TestAgreement:
    """On generated campaigns, the SQL query decides every step as the in-memory engine does."""

    @settings(max_examples=60, deadline=None)
    @given(_scenario())
    def test_decisions_and_counts_agree(
        self, scenario: tuple[Campaign, list[Recipient], list[Suppression], datetime]
    ) -> None:
        """Same reasons in the same order, same specifics, same counts, same pending ids."""
        campaign, recipients, suppressions, now = scenario
        storage = _store(campaign, recipients, suppressions)
        for step in campaign.steps:
            reference = _reference(storage, campaign, step, now)
            expected = list(reference.decide(storage.iter_recipients(campaign.id)))
            got = list(storage.decide_step(campaign, step, now=now))
            assert got == expected
            by_rules = _reference(storage, campaign, step, now).decide_by_rules(
                storage.iter_recipients(campaign.id)
            )
            assert got == list(by_rules)
            assert [d.findings for d in got] == [d.findings for d in expected]
            counts = _reference(storage, campaign, step, now).counts(
                storage.iter_recipients(campaign.id)
            )
            sql_counts = storage.count_step_reasons(campaign, step.id, now=now)
            assert sql_counts == counts
            assert list(sql_counts.by_reason) == list(counts.by_reason)
            pending = [d.recipient.id for d in expected if d.eligible]
            assert list(storage.pending_step_ids(campaign, step, now=now)) == pending
            summary = storage.summarize_step(campaign, step, now=now)
            assert summary == reference.summarize(storage.iter_recipients(campaign.id))
            assert summary.pending == tuple(pending)
            assert summary.counts == counts
            assert list(summary.counts.by_reason) == list(counts.by_reason)


class _Quiet(Rule):
    """A host rule: nobody named Tom gets anything."""

    name = "quiet"
    reasons = (Reason.INACTIVE,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        """INACTIVE for Tom."""
        return Finding(Reason.INACTIVE) if recipient.contact.first_name == "Tom" else None


def _campaign() -> Campaign:
    return Campaign.create(
        at=EPOCH,
        id="c1",
        name="Survey",
        steps=(
            Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}"),
            Step(id="reminder-1", kind=StepKind.REMINDER, body="Again", delay=timedelta(days=1)),
        ),
        sender="+15005550006",
        time_zone="UTC",
    )


def _recipient(contact_id: str, e164: str, first_name: str) -> Recipient:
    phone = PhoneNumber.from_e164(e164)
    contact = Contact(id=contact_id, phone=phone, first_name=first_name, consent=Consent.OPTED_IN)
    return Recipient(campaign_id="c1", contact=contact)


class TestHostRules:
    """A rule list other than the defaults falls back to the in-memory engine."""

    def test_custom_rules_run_in_python(self) -> None:
        """The host rule's reason appears, after the default ones."""
        campaign = _campaign()
        people = [_recipient("a", "+12125550101", "Tom"), _recipient("b", "+12125550102", "Ann")]
        storage = _store(campaign, people, [])
        rules = [*DEFAULT_RULES, _Quiet()]
        got = list(storage.decide_step(campaign, "invite", now=EPOCH, rules=rules))
        assert [d.reasons for d in got] == [(Reason.INACTIVE,), ()]
        counts = storage.count_step_reasons(campaign, "invite", now=EPOCH, rules=rules)
        assert (counts.total, counts.eligible, counts[Reason.INACTIVE]) == (2, 1, 1)
        summary = storage.summarize_step(campaign, "invite", now=EPOCH, rules=rules)
        assert summary.pending == ("b",)
        assert summary.combinations == {(Reason.INACTIVE,): 1, (): 1}

    def test_default_rules_given_explicitly_stay_in_sql(self) -> None:
        """Passing DEFAULT_RULES is the same as passing nothing."""
        campaign = _campaign()
        storage = _store(campaign, [_recipient("a", "+12125550101", "Tom")], [])
        got = list(storage.decide_step(campaign, "invite", now=EPOCH, rules=DEFAULT_RULES))
        assert got == list(storage.decide_step(campaign, "invite", now=EPOCH))


class TestArguments:
    """Bad arguments fail at the call, as the in-memory engine's do."""

    def test_unknown_step(self) -> None:
        """A step the campaign lacks raises InvalidCampaign."""
        storage = _store(_campaign(), [], [])
        with pytest.raises(InvalidCampaign):
            storage.decide_step(_campaign(), "nope", now=EPOCH)
        with pytest.raises(InvalidCampaign):
            storage.pending_step_ids(_campaign(), "nope", now=EPOCH)

    def test_naive_now(self) -> None:
        """A naive ``now`` raises NaiveDatetimeError."""
        storage = _store(_campaign(), [], [])
        with pytest.raises(NaiveDatetimeError):
            storage.count_step_reasons(_campaign(), "invite", now=datetime(2026, 3, 2))


class TestBlank:
    """The characters SQL trims are exactly those ``str.strip()`` removes."""

    def test_blank_is_isspace(self) -> None:
        """BLANK lists every ``str.isspace`` character once."""
        expected = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
        assert expected == BLANK
