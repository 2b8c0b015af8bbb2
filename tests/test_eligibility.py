"""Tests for smscampaign.eligibility: seed examples, every rule and option, properties."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain.campaign import Campaign, CampaignOptions, Step, StepKind
from smscampaign.domain.contact import Consent, Contact, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import Attempt, DeliveryStatus, FailureReason, Send
from smscampaign.domain.phone import NumberKind, PhoneNumber
from smscampaign.eligibility import (
    DEFAULT_RULES,
    Decision,
    Eligibility,
    Finding,
    PreviousOutcome,
    Reason,
    Rule,
    RuleContext,
    count_reasons,
    decide,
    explain,
    pending,
)
from smscampaign.errors import ConfigurationError, InvalidCampaign, NaiveDatetimeError
from smscampaign.testing.strategies import campaigns, contacts, recipients, skip_reasons

ET = ZoneInfo("America/New_York")  # seed 000: "All times shown are in Eastern Time (ET)".
UTC = timezone.utc
NOW = datetime(2019, 7, 15, 12, 0, tzinfo=ET)

CAMPAIGN = Campaign(
    id="survey",
    name="Customer survey",
    steps=(
        Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, our survey: {link}"),
        Step(
            id="reminder-1",
            kind=StepKind.REMINDER,
            body="Hi {first_name}, a reminder: {link}",
            delay=timedelta(days=1),
        ),
        Step(
            id="reminder-2",
            kind=StepKind.REMINDER,
            body="Last chance: {link}",
            delay=timedelta(days=2),
        ),
        Step(id="thanks", kind=StepKind.THANK_YOU, body="Thank you {first_name}!"),
    ),
)


# -- builders ---------------------------------------------------------------------------

_counter = itertools.count()


def phone(e164: str | None = None, **fields: Any) -> PhoneNumber:
    """A US number (unique unless given), with its kind and verified flag overridable."""
    number = e164 or f"+1212555{next(_counter) % 10000:04d}"
    values = {"kind": NumberKind.FIXED_LINE_OR_MOBILE, "verified": True, "time_zones": ()}
    values.update(fields)
    return PhoneNumber(number, "US", **values)


def send(
    step_id: str,
    status: DeliveryStatus,
    sent_on: datetime | None = None,
    *,
    to: str,
    recipient_id: str = "r",
    reason: FailureReason | None = None,
) -> Send:
    """A send of ``step_id`` in ``status``, with one attempt when it went out."""
    sent_on = sent_on or NOW - timedelta(days=10)
    base: dict[str, Any] = {
        "campaign_id": CAMPAIGN.id,
        "recipient_id": recipient_id,
        "step_id": step_id,
        "to": to,
        "created_at": sent_on - timedelta(minutes=1),
    }
    if status is DeliveryStatus.SKIPPED:
        return Send(**base, skip_reasons=("inactive",))
    if status is DeliveryStatus.CANCELED:
        return Send(**base, canceled_at=sent_on)
    if status is DeliveryStatus.QUEUED:
        return Send(**base)
    fields: dict[str, Any] = {"status": status}
    if status is not DeliveryStatus.SENDING:
        fields["sent_at"] = sent_on
    else:
        fields["submitted_at"] = sent_on
    if status is DeliveryStatus.DELIVERED:
        fields["delivered_at"] = sent_on + timedelta(seconds=3)
    extra: dict[str, Any] = {}
    if status is DeliveryStatus.HARD_BOUNCED:
        fields.update(reason=reason or FailureReason.INVALID_NUMBER, failed_at=sent_on)
    elif status is DeliveryStatus.SOFT_BOUNCED:
        fields.update(reason=reason or FailureReason.UNREACHABLE, failed_at=sent_on)
        extra["gave_up_at"] = sent_on + timedelta(hours=72)
    attempt = Attempt(number=1, to=to, queued_at=base["created_at"], **fields)
    result = Send(**base, attempts=(attempt,), **extra)
    assert result.status is status
    return result


def recipient(
    rid: str = "r",
    *,
    number: PhoneNumber | None = None,
    status: ContactStatus = ContactStatus.ACTIVE,
    response: ResponseStatus = ResponseStatus.NOT_STARTED,
    consent: Consent = Consent.OPTED_IN,
    sends: Sequence[tuple[Any, ...]] = (),
    link: str | None = "https://s.example/x",
    first_name: str = "Ann",
) -> Recipient:
    """A recipient of CAMPAIGN; ``sends`` are (step, status[, sent_on[, to]]) tuples."""
    number = number or phone()
    built = []
    for item in sends:
        step_id, status_, *rest = item
        sent_on = rest[0] if rest else None
        to = rest[1] if len(rest) > 1 else number.e164
        built.append(send(step_id, status_, sent_on, to=to, recipient_id=rid))
    return Recipient(
        campaign_id=CAMPAIGN.id,
        contact=Contact(id=rid, phone=number, first_name=first_name, consent=consent),
        status=status,
        response=response,
        fields={"link": link} if link is not None else {},
        sends=built,
    )


def one(step: str, r: Recipient, **kwargs: Any) -> Decision:
    """The decision for a single recipient, checked against rule-by-rule evaluation."""
    campaign = kwargs.pop("campaign", CAMPAIGN)
    kwargs.setdefault("now", NOW)
    compiled = next(decide(campaign, step, [r], **kwargs))
    reference = next(Eligibility(campaign, step, **kwargs).decide_by_rules([r]))
    assert compiled == reference
    return compiled


def with_options(**options: Any) -> Campaign:
    return attrs.evolve(CAMPAIGN, options=CampaignOptions(**options))


# -- seed 000 ---------------------------------------------------------------------------

# Seed 000 (Alchemer, "Monitor SMS Campaign Contacts' Progress"), the Status Log
# example: Response Status, Contact Status, Initial Send Status, Initial Sent On.
# The header is row 1, so the data rows are 2..17. "If you were to send a
# reminder message at this point the following contacts would receive the
# reminder message: 4, 10, 14, 15, 16, 17".
SEED_000_STATUS_LOG = """\
Not started	Active	Failed	6/25/19
Not started	Active	Failed	6/26/19
Partial	Active	Delivered	6/27/19
Not started	Active	Failed	6/28/19
Not started	Active	Failed	6/29/19
Not started	Unsubscribed	Delivered	6/30/19
Not started	Active	Failed	7/1/19
Not started	Active	Failed	7/2/19
Not started	Active	Delivered	7/3/19
Complete	Active	Delivered	7/4/19
Not started	Inactive	Delivered	7/5/19
Complete	Active	Delivered	7/6/19
Not started	Active	Delivered	7/7/19
Not started	Active	Delivered	7/8/19
Not started	Active	Delivered	7/9/19
Not started	Active	Delivered	7/10/19
"""

_RESPONSES = {
    "Not started": ResponseStatus.NOT_STARTED,
    "Partial": ResponseStatus.PARTIAL,
    "Complete": ResponseStatus.COMPLETE,
    "Disqualified": ResponseStatus.DISQUALIFIED,
    "": ResponseStatus.NOT_STARTED,
}
_STATUSES = {
    "Active": ContactStatus.ACTIVE,
    "Inactive": ContactStatus.INACTIVE,
    "Unsubscribed": ContactStatus.UNSUBSCRIBED,
    "Removed": ContactStatus.REMOVED,
}


def status_log(text: str) -> list[Recipient]:
    """Recipients from seed-000 Status Log rows; recipient ids are the sheet's row numbers."""
    rows = []
    for index, line in enumerate(text.splitlines(), start=2):
        response, contact_status, send_status, sent_on = [*line.split("\t"), "", "", ""][:4]
        sends: list[tuple[Any, ...]] = []
        if sent_on:
            month, day, year = (int(part) for part in sent_on.split("/"))
            moment = datetime(2000 + year, month, day, 10, 0, tzinfo=ET)
            # "Failed": alternate the two ways a send fails for good.
            failed = DeliveryStatus.HARD_BOUNCED if index % 2 else DeliveryStatus.SOFT_BOUNCED
            status = DeliveryStatus.DELIVERED if send_status == "Delivered" else failed
            sends.append(("invite", status, moment))
        rows.append(
            recipient(
                str(index),
                status=_STATUSES[contact_status],
                response=_RESPONSES[response],
                sends=sends,
            )
        )
    return rows


class TestSeed000StatusLog:
    """Seed 000's 16-row Status Log gives exactly rows 4, 10, 14-17 for the reminder."""

    def test_pending_rows_for_the_reminder(self) -> None:
        rows = status_log(SEED_000_STATUS_LOG)
        assert [r.id for r in pending(CAMPAIGN, "reminder-1", rows, now=NOW)] == [
            "4",
            "10",
            "14",
            "15",
            "16",
            "17",
        ]

    def test_every_other_row_has_its_reason(self) -> None:
        rows = status_log(SEED_000_STATUS_LOG)
        decisions = {d.recipient.id: d for d in decide(CAMPAIGN, "reminder-1", rows, now=NOW)}
        failed = {"2", "3", "5", "6", "8", "9"}
        for row in failed:
            assert decisions[row].reasons == (Reason.PREVIOUS_NOT_RECEIVED,)
            assert decisions[row].previous is PreviousOutcome.FAILED
        assert decisions["7"].reasons == (Reason.UNSUBSCRIBED,)
        assert decisions["12"].reasons == (Reason.INACTIVE,)
        assert decisions["11"].reasons == (Reason.RESPONSE_COMPLETE,)
        assert decisions["13"].reasons == (Reason.RESPONSE_COMPLETE,)

    def test_counts_per_reason(self) -> None:
        counts = count_reasons(CAMPAIGN, "reminder-1", status_log(SEED_000_STATUS_LOG), now=NOW)
        assert (counts.total, counts.eligible, counts.ineligible) == (16, 6, 10)
        assert counts[Reason.PREVIOUS_NOT_RECEIVED] == 6
        assert counts[Reason.RESPONSE_COMPLETE] == 2
        assert counts[Reason.UNSUBSCRIBED] == counts[Reason.INACTIVE] == 1
        assert counts[Reason.SUPPRESSED] == 0

    def test_an_unsubscribed_row_on_the_suppression_list_gives_both_reasons(self) -> None:
        rows = status_log(SEED_000_STATUS_LOG)
        row7 = rows[5]
        decision = one("reminder-1", row7, suppressed={row7.phone.e164})
        assert decision.reasons == (Reason.UNSUBSCRIBED, Reason.SUPPRESSED)

    def test_compiled_and_rule_by_rule_agree_on_the_log(self) -> None:
        rows = status_log(SEED_000_STATUS_LOG)
        for step in CAMPAIGN.steps:
            compiled = list(decide(CAMPAIGN, step, rows, now=NOW))
            reference = list(Eligibility(CAMPAIGN, step, now=NOW).decide_by_rules(rows))
            assert compiled == reference


class TestSeed000OtherExamples:
    """Seed 000's Initial Invite, Reminders and Thank You examples, row by row."""

    def test_initial_invite_blank_sent_on_is_pending(self) -> None:
        # "Any contacts where this field is blank are pending for the Initial Invite send."
        rows = status_log(
            "\tActive\t\t\n"
            "\tActive\tDelivered\t6/25/19\n"
            "\tActive\tFailed\t6/25/19\n"
            "\tUnsubscribed\tDelivered\t6/25/19\n"
            "\tActive\tFailed\t6/25/19\n"
        )
        decisions = list(decide(CAMPAIGN, "invite", rows, now=NOW))
        assert [d.reasons for d in decisions] == [
            (),
            (Reason.ALREADY_SENT,),
            (Reason.ALREADY_SENT,),
            (Reason.UNSUBSCRIBED, Reason.ALREADY_SENT),
            (Reason.ALREADY_SENT,),
        ]

    def test_reminder_example_only_the_two_who_received_the_invite(self) -> None:
        rows = status_log(
            "Not started\tActive\tDelivered\t6/25/19\n"
            "Not started\tActive\tDelivered\t6/25/19\n"
            "Partial\tActive\t\t\n"
            "Not started\tActive\tFailed\t6/25/19\n"
            "Not started\tActive\t\t\n"
            "Not started\tUnsubscribed\tDelivered\t6/25/19\n"
            "Not started\tActive\tFailed\t6/25/19\n"
        )
        decisions = list(decide(CAMPAIGN, "reminder-1", rows, now=NOW))
        assert [d.eligible for d in decisions] == [True, True] + [False] * 5
        assert [d.previous for d in decisions] == [
            None,
            None,
            PreviousOutcome.NOT_SENT,
            PreviousOutcome.FAILED,
            PreviousOutcome.NOT_SENT,
            None,
            PreviousOutcome.FAILED,
        ]
        assert decisions[5].reasons == (Reason.UNSUBSCRIBED,)

    def test_thank_you_only_complete(self) -> None:
        rows = status_log(
            "Not started\tActive\tDelivered\t6/25/19\n"
            "Not started\tActive\tDelivered\t6/25/19\n"
            "Partial\tActive\t\t\n"
            "Not started\tActive\tFailed\t6/25/19\n"
            "Not started\tActive\t\t\n"
            "Complete\tActive\tDelivered\t6/25/19\n"
            "Not started\tActive\tFailed\t6/25/19\n"
        )
        decisions = list(decide(CAMPAIGN, "thanks", rows, now=NOW))
        assert [d.recipient.id for d in decisions if d.eligible] == ["7"]
        assert all(d.reasons == (Reason.NOT_COMPLETE,) for d in decisions if not d.eligible)


# -- seed 001 ---------------------------------------------------------------------------


class TestSeed001IneligibleToSend:
    """Each cause seed 001 lists under "Ineligible to Send" gives its own reason."""

    def test_not_opted_in(self) -> None:
        r = recipient(consent=Consent.PENDING_OPT_IN)
        assert one("invite", r).reasons == (Reason.NOT_OPTED_IN,)

    def test_on_the_block_list(self) -> None:
        r = recipient()
        assert one("invite", r, suppressed={r.phone.e164}).reasons == (Reason.SUPPRESSED,)

    def test_consent_denied(self) -> None:
        assert one("invite", recipient(consent=Consent.OPTED_OUT)).reasons == (Reason.OPTED_OUT,)

    def test_no_sms_capable_number(self) -> None:
        for kind in (NumberKind.FIXED_LINE, NumberKind.PREMIUM_RATE, NumberKind.VOICEMAIL):
            r = recipient(number=phone(kind=kind))
            assert one("invite", r).reasons == (Reason.NOT_SMS_CAPABLE,)

    def test_duplicate_number(self) -> None:
        shared = phone()
        rows = [recipient("first", number=shared), recipient("second", number=shared)]
        decisions = list(decide(CAMPAIGN, "invite", rows, now=NOW))
        assert decisions[0].eligible
        assert decisions[1].reasons == (Reason.DUPLICATE_NUMBER,)
        assert decisions[1].duplicate_of == "first"
        assert "recipient first" in decisions[1].explain()


# -- the rules one by one -------------------------------------------------------------


class TestContactAndNumberRules:
    """Status, consent, number kind and verification each give their own reason."""

    @pytest.mark.parametrize(
        ("status", "reason"),
        [
            (ContactStatus.INACTIVE, Reason.INACTIVE),
            (ContactStatus.REMOVED, Reason.REMOVED),
            (ContactStatus.UNSUBSCRIBED, Reason.UNSUBSCRIBED),
        ],
    )
    def test_status(self, status: ContactStatus, reason: Reason) -> None:
        assert one("invite", recipient(status=status)).reasons == (reason,)

    def test_fixed_line_or_mobile_and_unknown_kinds_are_allowed(self) -> None:
        assert one("invite", recipient(number=phone(kind=NumberKind.MOBILE))).eligible
        assert one("invite", recipient()).eligible

    def test_unverified_number_needs_the_option(self) -> None:
        r = recipient(number=phone(kind=NumberKind.UNKNOWN, verified=False))
        assert one("invite", r).reasons == (Reason.UNVERIFIED_NUMBER,)
        assert one("invite", r, campaign=with_options(allow_unverified_numbers=True)).eligible

    def test_every_reason_at_once_in_rule_order(self) -> None:
        r = recipient(
            status=ContactStatus.INACTIVE,
            consent=Consent.OPTED_OUT,
            number=phone(kind=NumberKind.FIXED_LINE, verified=False),
            response=ResponseStatus.COMPLETE,
            link=None,
            sends=[("reminder-1", DeliveryStatus.DELIVERED)],
        )
        decision = one("reminder-1", r, suppressed={r.phone.e164})
        assert decision.reasons == (
            Reason.INACTIVE,
            Reason.SUPPRESSED,
            Reason.OPTED_OUT,
            Reason.NOT_SMS_CAPABLE,
            Reason.UNVERIFIED_NUMBER,
            Reason.ALREADY_SENT,
            Reason.MISSING_FIELD,
            Reason.RESPONSE_COMPLETE,
            Reason.PREVIOUS_NOT_RECEIVED,
        )
        assert decision.skip_reasons[0] == "inactive"


class TestOptions:
    """Each campaign option changes exactly what DESIGN.md says; suppression never moves."""

    def test_defaults_match_design(self) -> None:
        options = CampaignOptions()
        assert not options.allow_pending_opt_in
        assert not options.accept_sent_as_received
        assert not options.remind_disqualified
        assert options.deduplicate_numbers
        assert not options.allow_unverified_numbers

    def test_allow_pending_opt_in_but_never_opted_out(self) -> None:
        campaign = with_options(allow_pending_opt_in=True)
        assert one("invite", recipient(consent=Consent.PENDING_OPT_IN), campaign=campaign).eligible
        denied = one("invite", recipient(consent=Consent.OPTED_OUT), campaign=campaign)
        assert denied.reasons == (Reason.OPTED_OUT,)

    def test_accept_sent_as_received(self) -> None:
        r = recipient(sends=[("invite", DeliveryStatus.SENT)])
        decision = one("reminder-1", r)
        assert decision.reasons == (Reason.PREVIOUS_NOT_RECEIVED,)
        assert decision.previous is PreviousOutcome.NO_RECEIPT
        assert one("reminder-1", r, campaign=with_options(accept_sent_as_received=True)).eligible

    def test_remind_disqualified(self) -> None:
        r = recipient(
            response=ResponseStatus.DISQUALIFIED, sends=[("invite", DeliveryStatus.DELIVERED)]
        )
        assert one("reminder-1", r).reasons == (Reason.DISQUALIFIED,)
        assert one("reminder-1", r, campaign=with_options(remind_disqualified=True)).eligible

    def test_deduplicate_off_considers_everyone(self) -> None:
        shared = phone()
        rows = [recipient("a", number=shared), recipient("b", number=shared)]
        campaign = with_options(deduplicate_numbers=False)
        assert all(d.eligible for d in decide(campaign, "invite", rows, now=NOW))

    def test_no_option_lets_a_suppressed_number_through(self) -> None:
        campaign = with_options(
            allow_pending_opt_in=True,
            accept_sent_as_received=True,
            remind_disqualified=True,
            deduplicate_numbers=False,
            allow_unverified_numbers=True,
            transactional=True,
        )
        r = recipient()
        for step in campaign.steps:
            decision = one(step.id, r, campaign=campaign, suppressed={r.phone.e164})
            assert Reason.SUPPRESSED in decision.reasons


class TestAlreadySent:
    """A step goes once; skipped and canceled sends do not count; corrected numbers reopen."""

    @pytest.mark.parametrize(
        "status",
        [
            DeliveryStatus.QUEUED,
            DeliveryStatus.SENDING,
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.SOFT_BOUNCED,
            DeliveryStatus.HARD_BOUNCED,
        ],
    )
    def test_any_send_to_the_current_number_counts(self, status: DeliveryStatus) -> None:
        r = recipient(sends=[("invite", status)])
        assert one("invite", r).reasons == (Reason.ALREADY_SENT,)

    @pytest.mark.parametrize("status", [DeliveryStatus.SKIPPED, DeliveryStatus.CANCELED])
    def test_skipped_and_canceled_sends_do_not_block(self, status: DeliveryStatus) -> None:
        assert one("invite", recipient(sends=[("invite", status)])).eligible

    def test_a_delivered_invite_to_an_old_number_still_counts(self) -> None:
        r = recipient(sends=[("invite", DeliveryStatus.DELIVERED, None, "+12125550999")])
        assert one("invite", r).reasons == (Reason.ALREADY_SENT,)

    def test_a_hard_bounce_on_a_mistyped_number_does_not(self) -> None:
        r = recipient(sends=[("invite", DeliveryStatus.HARD_BOUNCED, None, "+12125550999")])
        assert one("invite", r).eligible

    def test_a_soft_bounce_on_an_old_number_still_counts(self) -> None:
        r = recipient(sends=[("invite", DeliveryStatus.SOFT_BOUNCED, None, "+12125550999")])
        assert one("invite", r).reasons == (Reason.ALREADY_SENT,)


class TestReminders:
    """Reminders need the previous message received and its delay elapsed."""

    def test_not_yet_due_carries_the_due_time(self) -> None:
        sent_on = NOW - timedelta(hours=5)
        r = recipient(sends=[("invite", DeliveryStatus.DELIVERED, sent_on)])
        decision = one("reminder-1", r)
        assert decision.reasons == (Reason.NOT_YET_DUE,)
        assert decision.due_at == sent_on + timedelta(days=1)
        assert decision.due_at.isoformat() in decision.explain()

    def test_due_exactly_at_the_delay(self) -> None:
        r = recipient(sends=[("invite", DeliveryStatus.DELIVERED, NOW - timedelta(days=1))])
        assert one("reminder-1", r).eligible

    def test_delay_is_elapsed_time_across_dst(self) -> None:
        # 2019-11-03 is the US fall-back night: "a day later" on the wall clock would be
        # 25 hours; the delay is elapsed time, so 24.5 hours later the reminder is due.
        sent_on = datetime(2019, 11, 2, 12, 0, tzinfo=ET)
        r = recipient(sends=[("invite", DeliveryStatus.DELIVERED, sent_on)])
        at = datetime(2019, 11, 3, 11, 30, tzinfo=ET)  # 24.5 hours later in elapsed time
        assert one("reminder-1", r, now=at).eligible

    def test_second_reminder_follows_the_first(self) -> None:
        r = recipient(
            sends=[
                ("invite", DeliveryStatus.DELIVERED),
                ("reminder-1", DeliveryStatus.HARD_BOUNCED),
            ]
        )
        decision = one("reminder-2", r)
        assert decision.reasons == (Reason.PREVIOUS_NOT_RECEIVED,)
        assert decision.previous is PreviousOutcome.FAILED

    def test_previous_in_progress(self) -> None:
        r = recipient(sends=[("invite", DeliveryStatus.SENDING)])
        assert one("reminder-1", r).previous is PreviousOutcome.IN_PROGRESS

    def test_delivered_without_sent_time_uses_delivery_time(self) -> None:
        delivered_at = NOW - timedelta(hours=2)
        attempt = Attempt(
            number=1,
            to="+12125550111",
            queued_at=delivered_at,
            status=DeliveryStatus.DELIVERED,
            delivered_at=delivered_at,
        )
        invite = Send(
            campaign_id=CAMPAIGN.id,
            recipient_id="r",
            step_id="invite",
            to="+12125550111",
            created_at=delivered_at,
            attempts=(attempt,),
        )
        r = attrs.evolve(recipient(number=phone("+12125550111")), sends=(invite,))
        assert one("reminder-1", r).due_at == delivered_at + timedelta(days=1)


class TestMissingField:
    """A placeholder the recipient cannot fill excludes it, naming the field."""

    def test_missing_custom_field(self) -> None:
        decision = one("invite", recipient(link=None))
        assert decision.reasons == (Reason.MISSING_FIELD,)
        assert decision.missing_fields == ("link",)
        assert "{link}" in decision.explain()

    def test_a_field_given_as_none_in_a_frozen_map_is_blank_for_both_engines(self) -> None:
        """A recipient's own field left None is blank, not a fall-back to the contact's."""
        base = recipient()
        contact = attrs.evolve(base.contact, fields={"link": "https://s.example/contact"})
        own = Recipient(campaign_id=CAMPAIGN.id, contact=contact, fields=FrozenMap({"link": None}))
        decision = one("invite", own)  # the fused pass and rule by rule agree
        assert decision.reasons == (Reason.MISSING_FIELD,)
        assert decision.missing_fields == ("link",)

    def test_blank_standard_field(self) -> None:
        decision = one("invite", recipient(first_name="  "))
        assert decision.missing_fields == ("first_name",)

    def test_contact_custom_field_and_phone_fill_placeholders(self) -> None:
        step = Step(id="invite", kind=StepKind.INVITE, body="{phone} {city} {full_name}")
        campaign = attrs.evolve(CAMPAIGN, steps=(step,))
        contact = Contact(
            id="r",
            phone=phone(),
            first_name="Ann",
            fields={"City": "Paris"},
            consent=Consent.OPTED_IN,
        )
        r = Recipient(campaign_id=CAMPAIGN.id, contact=contact)
        assert one("invite", r, campaign=campaign).eligible
        r = Recipient(campaign_id=CAMPAIGN.id, contact=contact, fields={"city": ""})
        assert one("invite", r, campaign=campaign).missing_fields == ("city",)

    @pytest.mark.parametrize(
        "name", ["first_name", "last_name", "email", "phone", "full_name", "city"]
    )
    def test_a_blank_own_field_wins_over_the_contact(self, name: str) -> None:
        step = Step(id="invite", kind=StepKind.INVITE, body="Hello {" + name + "}")
        campaign = attrs.evolve(CAMPAIGN, steps=(step,))
        contact = Contact(
            id="r",
            phone=phone(),
            first_name="Ann",
            last_name="Lee",
            email="ann@example.com",
            fields={"city": "Paris"},
            consent=Consent.OPTED_IN,
        )
        r = Recipient(campaign_id=CAMPAIGN.id, contact=contact, fields={name: ""})
        assert one("invite", r, campaign=campaign).missing_fields == (name,)
        r = Recipient(campaign_id=CAMPAIGN.id, contact=contact, fields={name: " x "})
        assert one("invite", r, campaign=campaign).eligible

    @settings(max_examples=300)
    @given(campaigns(), st.data())
    def test_the_fast_pass_reads_placeholders_as_the_template_does(
        self, campaign: Campaign, data: st.DataObject
    ) -> None:
        """Own fields win even when blank; then the contact's attribute or custom field."""
        body = data.draw(st.sampled_from(_ONE_FIELD_BODIES + _BODIES))
        campaign = attrs.evolve(
            campaign, steps=tuple(attrs.evolve(s, body=body) for s in campaign.steps)
        )
        step = data.draw(st.sampled_from(campaign.steps))
        person = data.draw(recipients(campaign=campaign))
        names = sorted(step.body.placeholders)
        contact = attrs.evolve(
            person.contact,
            first_name=data.draw(_NAMES),
            last_name=data.draw(_NAMES),
            email=data.draw(_NAMES),
            fields=data.draw(_fields_for(names)),
        )
        person = attrs.evolve(person, contact=contact, fields=data.draw(_fields_for(names)))
        decision = next(Eligibility(campaign, step, now=NOW).decide([person]))
        expected = step.body.missing(person.template_values())
        assert decision.missing_fields == expected
        assert (Reason.MISSING_FIELD in decision.reasons) is bool(expected)


class TestDecisionAndReasons:
    """Reasons are stable lower_snake values with one-sentence explanations."""

    def test_values_and_explanations(self) -> None:
        for reason in Reason:
            assert reason.value == reason.name.lower()
            assert reason.explanation.endswith(".")
            assert reason.explanation.count(". ") == 0
        for outcome in PreviousOutcome:
            assert outcome.explanation.endswith(".")

    def test_explain_eligible_and_not(self) -> None:
        ok = one("invite", recipient("tom"))
        assert ok.explain().startswith("Recipient tom (")
        assert "is eligible for invite 'invite'" in ok.explain()
        failed = one(
            "reminder-1", recipient("tom", sends=[("invite", DeliveryStatus.HARD_BOUNCED)])
        )
        text = failed.explain()
        assert "not eligible for reminder 'reminder-1' (1 reason)" in text
        assert PreviousOutcome.FAILED.explanation in text

    def test_explain_helper_finds_tom_among_recipients(self) -> None:
        shared = phone()
        rows = [recipient("ann", number=shared), recipient("tom", number=shared)]
        text = explain(CAMPAIGN, "invite", "tom", recipients=rows, now=NOW)
        assert "recipient ann" in text
        assert "tom" in explain(CAMPAIGN, "invite", rows[1], now=NOW)
        with pytest.raises(ConfigurationError):
            explain(CAMPAIGN, "invite", "nobody", recipients=rows, now=NOW)

    def test_findings_round_trip(self) -> None:
        r = recipient(link=None, sends=[("invite", DeliveryStatus.SENT)])
        decision = one("reminder-1", r)
        assert decision.findings == (
            Finding(Reason.MISSING_FIELD, missing_fields=("link",)),
            Finding(Reason.PREVIOUS_NOT_RECEIVED, previous=PreviousOutcome.NO_RECEIPT),
        )

    def test_bad_arguments(self) -> None:
        with pytest.raises(InvalidCampaign):
            Eligibility(CAMPAIGN, "nope", now=NOW)
        with pytest.raises(NaiveDatetimeError):
            Eligibility(CAMPAIGN, "invite", now=datetime(2019, 7, 1))
        with pytest.raises(ConfigurationError):
            Eligibility(CAMPAIGN, "invite", now=NOW, rules=[object()])  # type: ignore[list-item]


class QuietListReason:
    """A host's own reason (a plain object with an explanation)."""

    explanation = "The contact asked us to pause all messages."

    def __str__(self) -> str:
        return "quiet_list"


QUIET = QuietListReason()


class QuietListRule(Rule):
    """A host rule: contacts whose first name is on a quiet list."""

    name = "quiet_list"
    reasons = (QUIET,)

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        if recipient.contact.first_name in self.names:
            return Finding(QUIET, detail=f"({recipient.contact.first_name} is on it.)")
        return None


class TestCustomRules:
    """A host rule appended to the defaults keeps the compiled pass; others go rule by rule."""

    def test_appended_rule_adds_its_reason_after_the_defaults(self) -> None:
        rules = [*DEFAULT_RULES, QuietListRule({"Zed"})]
        engine = Eligibility(CAMPAIGN, "invite", now=NOW, rules=rules)
        assert engine.compiled
        rows = [recipient(first_name="Zed", status=ContactStatus.INACTIVE), recipient()]
        decisions = list(engine.decide(rows))
        assert decisions[0].reasons == (Reason.INACTIVE, QUIET)
        assert "Zed is on it" in decisions[0].explain()
        assert decisions[1].eligible
        reference = list(
            Eligibility(CAMPAIGN, "invite", now=NOW, rules=rules).decide_by_rules(rows)
        )
        assert decisions == reference

    def test_dropping_a_default_rule_evaluates_rule_by_rule(self) -> None:
        rules = [rule for rule in DEFAULT_RULES if rule.name != "missing_field"]
        engine = Eligibility(CAMPAIGN, "invite", now=NOW, rules=rules)
        assert not engine.compiled
        assert next(engine.decide([recipient(link=None)])).eligible

    def test_rules_apply_only_to_their_step_kinds(self) -> None:
        invite = Eligibility(CAMPAIGN, "invite", now=NOW)
        assert all(rule.name != "previous_received" for rule in invite.rules)
        reminder = Eligibility(CAMPAIGN, "reminder-1", now=NOW)
        assert any(rule.name == "previous_received" for rule in reminder.rules)


class TestStreaming:
    """The engine consumes a stream lazily and keeps state across chunks."""

    def test_lazy_over_an_endless_stream(self) -> None:
        def endless() -> Iterator[Recipient]:
            for index in itertools.count():
                yield recipient(f"r{index}")

        first = list(itertools.islice(pending(CAMPAIGN, "invite", endless(), now=NOW), 3))
        assert [r.id for r in first] == ["r0", "r1", "r2"]

    def test_duplicates_are_found_across_chunks(self) -> None:
        shared = phone()
        engine = Eligibility(CAMPAIGN, "invite", now=NOW)
        assert next(engine.decide([recipient("a", number=shared)])).eligible
        later = next(engine.decide([recipient("b", number=shared)]))
        assert later.duplicate_of == "a"


# -- properties --------------------------------------------------------------------------

_POOL = [phone(f"+1212555{n:04d}") for n in range(1000, 1006)]
_POOL += [phone("+12125551900", kind=NumberKind.FIXED_LINE)]
_POOL += [phone("+11231231234", kind=NumberKind.UNKNOWN, verified=False)]
_SMALL_PHONES = st.sampled_from(_POOL)


# Bodies naming every standard field and custom ones, so the fast pass's
# lookup of each placeholder (recipient fields, then the contact) is exercised.
_BODIES = (
    "Hi {first_name}, take our survey: {survey_link}",
    "{full_name} ({last_name}, {email}, {phone}): your code is {code}",
    "For {city}: {survey_link} {city}",
    "Plain text",
)
# Values that fill a placeholder, or are blank in str.strip()'s sense.
_VALUES = st.sampled_from(("", " ", "\u3000\t", "\x1c", "x", "https://s.example/a", " y "))
_FIELDS = st.dictionaries(
    st.sampled_from(("survey_link", "city", "code", "first_name", "phone")), _VALUES, max_size=3
)


# One placeholder each, standard or custom; names that are blank, filled, or
# absent ("") as a contact's attribute.
_ONE_FIELD_BODIES = tuple(
    "Hello {" + name + "}"
    for name in ("first_name", "last_name", "email", "phone", "full_name", "city", "code")
)
_NAMES = st.sampled_from(("", " ", "\u3000", "Ann", " Lee "))


def _fields_for(names: Sequence[str]) -> st.SearchStrategy[dict[str, str]]:
    """Own or contact fields for some of ``names``, each blank or filled."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, _VALUES))


@st.composite
def _bodied_campaigns(draw: st.DrawFn) -> Campaign:
    campaign = draw(campaigns())
    steps = tuple(attrs.evolve(s, body=draw(st.sampled_from(_BODIES))) for s in campaign.steps)
    return attrs.evolve(campaign, steps=steps)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Campaign, Step, list[Recipient], set[str], datetime]:
    """A campaign, one of its steps, recipients sharing a few numbers, a suppression list, now."""
    campaign = draw(st.one_of(campaigns(), _bodied_campaigns()))
    step = draw(st.sampled_from(campaign.steps))
    people = draw(
        st.lists(
            recipients(campaign=campaign, contact_strategy=contacts(phones=_SMALL_PHONES)),
            max_size=8,
        )
    )
    # Some sends to an earlier number, as after a correction; own and contact
    # fields, some blank; names and e-mail addresses, some blank.
    moved = []
    for person in people:
        if person.sends and draw(st.booleans()):
            old = draw(_SMALL_PHONES).e164
            sends = tuple(attrs.evolve(s, to=old) for s in person.sends)
            person = attrs.evolve(person, sends=sends)
        contact = attrs.evolve(
            person.contact,
            last_name=draw(st.sampled_from((person.contact.last_name, "", " "))),
            email=draw(st.sampled_from(("", "a@example.com"))),
            fields=draw(st.one_of(st.just(person.contact.fields), _FIELDS)),
        )
        person = attrs.evolve(person, contact=contact, fields=draw(_FIELDS))
        moved.append(person)
    suppressed = set(draw(st.lists(_SMALL_PHONES.map(lambda p: p.e164), max_size=3)))
    now = draw(
        st.datetimes(
            min_value=datetime(2026, 3, 1), max_value=datetime(2026, 4, 1), timezones=st.just(UTC)
        )
    )
    return campaign, step, moved, suppressed, now


def _decisions(scenario: Any, recipients_: Sequence[Recipient] | None = None) -> list[Decision]:
    campaign, step, people, suppressed, now = scenario
    rows = people if recipients_ is None else recipients_
    return list(decide(campaign, step, rows, now=now, suppressed=suppressed))


class TestProperties:
    """Invariants over generated campaigns, recipients and suppression lists."""

    @settings(max_examples=40)
    @given(scenarios())
    def test_compiled_equals_rule_by_rule(self, scenario: Any) -> None:
        campaign, step, people, suppressed, now = scenario
        compiled = _decisions(scenario)
        reference = list(
            Eligibility(campaign, step, now=now, suppressed=suppressed).decide_by_rules(people)
        )
        assert compiled == reference
        assert [c.findings for c in compiled] == [r.findings for r in reference]

    @settings(max_examples=40)
    @given(scenarios())
    def test_summary_is_the_decisions_tallied(self, scenario: Any) -> None:
        """One pass gives the pending ids and the count per combination, in first-met order."""
        campaign, step, people, suppressed, now = scenario
        decisions = _decisions(scenario)
        summary = Eligibility(campaign, step, now=now, suppressed=suppressed).summarize(people)
        assert summary.pending == tuple(d.recipient.id for d in decisions if d.eligible)
        tally: dict[tuple[Any, ...], int] = {}
        for decision in decisions:
            tally[decision.reasons] = tally.get(decision.reasons, 0) + 1
        assert list(summary.combinations.items()) == list(tally.items())
        counts = count_reasons(campaign, step, people, now=now, suppressed=suppressed)
        assert summary.counts == counts
        assert list(summary.counts.by_reason) == list(counts.by_reason)

    @settings(max_examples=40)
    @given(scenarios())
    def test_suppressed_is_never_eligible(self, scenario: Any) -> None:
        for decision in _decisions(scenario):
            if decision.recipient.phone.e164 in scenario[3]:
                assert not decision.eligible
                assert Reason.SUPPRESSED in decision.reasons

    @settings(max_examples=40)
    @given(scenarios())
    def test_reasons_empty_exactly_when_eligible(self, scenario: Any) -> None:
        for decision in _decisions(scenario):
            assert decision.eligible is (decision.reasons == ())
            assert len(set(decision.reasons)) == len(decision.reasons)
            assert (decision.due_at is not None) is (Reason.NOT_YET_DUE in decision.reasons)

    @settings(max_examples=40)
    @given(scenarios(), st.lists(st.integers(1, 4), max_size=4))
    def test_chunking_does_not_matter(self, scenario: Any, sizes: list[int]) -> None:
        campaign, step, people, suppressed, now = scenario
        engine = Eligibility(campaign, step, now=now, suppressed=suppressed)
        chunked: list[Decision] = []
        start = 0
        for size in [*sizes, len(people)]:
            chunked.extend(engine.decide(people[start : start + size]))
            start += size
        assert chunked == _decisions(scenario)

    @settings(max_examples=40)
    @given(scenarios(), st.data())
    def test_adding_a_recipient_changes_earlier_decisions_only_by_duplicates(
        self, scenario: Any, data: st.DataObject
    ) -> None:
        campaign, _, people, _, _ = scenario
        extra = data.draw(
            recipients(campaign=campaign, contact_strategy=contacts(phones=_SMALL_PHONES))
        )
        # A campaign holds each contact once: the new recipient is a new contact.
        assume(extra.id not in {p.id for p in people})
        index = data.draw(st.integers(0, len(people)))
        before = _decisions(scenario)
        after = _decisions(scenario, [*people[:index], extra, *people[index:]])
        assert after[:index] == before[:index]  # earlier ones never change
        for old, new in zip(before[index:], after[index + 1 :], strict=True):
            if old != new:
                # Only because the new recipient now owns this number.
                assert new.duplicate_of == extra.id
                assert new.reasons == tuple(
                    r for r in Reason if r in old.reasons or r is Reason.DUPLICATE_NUMBER
                )

    @settings(max_examples=20)
    @given(campaigns(), st.data())
    def test_a_host_rule_extends_the_fast_pass(
        self, campaign: Campaign, data: st.DataObject
    ) -> None:
        step = data.draw(st.sampled_from(campaign.steps))
        people = data.draw(st.lists(recipients(campaign=campaign), max_size=5))
        rules = [*DEFAULT_RULES, QuietListRule({"Tom", "Ann"})]
        engine = Eligibility(campaign, step, now=NOW, rules=rules)
        reference = Eligibility(campaign, step, now=NOW, rules=rules).decide_by_rules(people)
        compiled = list(engine.decide(people))
        assert compiled == list(reference)
        for decision in compiled:
            assert (QUIET in decision.reasons) is (
                decision.recipient.contact.first_name in {"Tom", "Ann"}
            )


class SharedDigitRule(Rule):
    """A host rule that fires often: numbers ending in an even digit, naming its duplicate."""

    name = "even_digit"
    reasons = (QUIET,)

    def check(self, recipient: Recipient, ctx: RuleContext) -> Finding | None:
        if int(recipient.phone.e164[-1]) % 2:
            return None
        return Finding(QUIET, detail=f"(first holder: {ctx.duplicate_of})")


_SWITCHES = (
    "allow_pending_opt_in",
    "accept_sent_as_received",
    "remind_disqualified",
    "deduplicate_numbers",
    "allow_unverified_numbers",
)


def _variety() -> tuple[list[Recipient], set[str]]:
    """Recipients meeting every branch of the fused pass, and a suppression list."""
    long_ago, recently = NOW - timedelta(days=5), NOW - timedelta(hours=2)
    shared = phone()
    old = phone()
    D = DeliveryStatus
    people = [
        recipient("ok", sends=[("invite", D.DELIVERED, long_ago)]),
        recipient("recent", sends=[("invite", D.DELIVERED, recently)]),
        recipient("sent", sends=[("invite", D.SENT, long_ago)]),
        recipient("queued", sends=[("invite", D.QUEUED)]),
        recipient("sending", sends=[("invite", D.SENDING, long_ago)]),
        recipient("bounced", sends=[("invite", D.HARD_BOUNCED, long_ago)]),
        recipient("soft", sends=[("invite", D.SOFT_BOUNCED, long_ago)]),
        recipient("skipped", sends=[("invite", D.SKIPPED), ("invite", D.CANCELED)]),
        recipient("never"),
        recipient(
            "moved",
            sends=[
                ("invite", D.HARD_BOUNCED, long_ago, old.e164),
                ("invite", D.DELIVERED, long_ago),
                ("reminder-1", D.HARD_BOUNCED, recently, old.e164),
            ],
        ),
        recipient(
            "reminded",
            sends=[("invite", D.DELIVERED, long_ago), ("reminder-1", D.DELIVERED, recently)],
        ),
        recipient("first", number=shared, sends=[("invite", D.DELIVERED, long_ago)]),
        recipient("second", number=shared, sends=[("invite", D.DELIVERED, long_ago)]),
        recipient("suppressed", number=phone("+12125550199")),
        recipient("pending", consent=Consent.PENDING_OPT_IN),
        recipient("out", consent=Consent.OPTED_OUT),
        recipient("landline", number=phone(kind=NumberKind.FIXED_LINE)),
        recipient("mobile", number=phone(kind=NumberKind.MOBILE)),
        recipient("unverified", number=phone(kind=NumberKind.UNKNOWN, verified=False)),
        recipient("nolink", link=None),
        recipient("blank", link=" ", first_name="\t"),
        recipient("complete", response=ResponseStatus.COMPLETE),
        recipient("dq", response=ResponseStatus.DISQUALIFIED),
        recipient("inactive", status=ContactStatus.INACTIVE),
        recipient("removed", status=ContactStatus.REMOVED),
    ]
    return people, {"+12125550199"}


class TestGeneratedPass:
    """The fused pass is written for each step and set of options; every version decides alike."""

    @pytest.mark.parametrize("switches", list(itertools.product((False, True), repeat=5)))
    @pytest.mark.parametrize("plain_thanks", [False, True])
    def test_every_version_decides_as_the_rules(
        self, switches: tuple[bool, ...], plain_thanks: bool
    ) -> None:
        campaign = with_options(**dict(zip(_SWITCHES, switches, strict=True)))
        if plain_thanks:
            steps = (*campaign.steps[:-1], attrs.evolve(campaign.steps[-1], body="Thank you!"))
            campaign = attrs.evolve(campaign, steps=steps)
        people, suppressed = _variety()
        for step in campaign.steps:
            for rules in (None, [*DEFAULT_RULES, SharedDigitRule()]):
                engine = Eligibility(campaign, step, now=NOW, suppressed=suppressed, rules=rules)
                assert engine.compiled
                reference = Eligibility(
                    campaign, step, now=NOW, suppressed=suppressed, rules=rules
                ).decide_by_rules(people)
                compiled = list(engine.decide(people))
                expected = list(reference)
                assert compiled == expected
                assert [d.findings for d in compiled] == [d.findings for d in expected]
                assert [d.explain() for d in compiled] == [d.explain() for d in expected]

    @settings(max_examples=40)
    @given(scenarios())
    def test_a_host_rule_after_the_defaults_decides_as_the_rules(self, scenario: Any) -> None:
        campaign, step, people, suppressed, now = scenario
        rules = [*DEFAULT_RULES, SharedDigitRule()]
        engine = Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)
        reference = Eligibility(
            campaign, step, now=now, suppressed=suppressed, rules=rules
        ).decide_by_rules(people)
        compiled = list(engine.decide(people))
        expected = list(reference)
        assert compiled == expected
        assert [d.findings for d in compiled] == [d.findings for d in expected]

    def test_one_compilation_per_version(self) -> None:
        """Engines for the same step and options share the compiled pass's code."""
        first = Eligibility(CAMPAIGN, "reminder-1", now=NOW)
        second = Eligibility(CAMPAIGN, "reminder-1", now=NOW + timedelta(days=1))
        assert first._pass.__code__ is second._pass.__code__  # type: ignore[attr-defined]
        assert first._pass is not second._pass


class TestSkipReasonsStrategy:
    """The shipped skip_reasons() strategy draws valid, ordered reason values."""

    @given(skip_reasons())
    def test_values_are_reasons_in_rule_order(self, values: tuple[str, ...]) -> None:
        reasons = [Reason(value) for value in values]
        assert 1 <= len(reasons) <= 3
        assert reasons == sorted(set(reasons), key=list(Reason).index)

    def test_bad_sizes(self) -> None:
        with pytest.raises(InvalidArgument):
            skip_reasons(min_size=0)
