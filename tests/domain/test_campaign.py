"""Campaigns: steps, templates, the state machine and the timeline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscampaign import (
    Campaign,
    CampaignState,
    ConfigurationError,
    InvalidCampaign,
    InvalidStep,
    InvalidTransition,
    MissingField,
    NaiveDatetimeError,
    Step,
    StepKind,
    Template,
    TemplateError,
    TimelineAction,
)
from smscampaign.domain.campaign import TRANSITIONS
from smscampaign.testing.strategies import campaigns, steps

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=timezone.utc)

INVITE = Step(id="invite", kind="invite", body="Hi {first_name}: {survey_link}")
REMINDER = Step(id="r1", kind="reminder", body="Reminder", delay=timedelta(days=2))
THANKS = Step(id="ty", kind="thank_you", body="Thanks {first_name}")


def make(**fields: object) -> Campaign:
    base: dict[str, object] = {
        "id": "c1",
        "name": "Survey",
        "steps": [INVITE, REMINDER, THANKS],
        "sender": "+15005550006",
    }
    base.update(fields)
    return Campaign.create(at=T0, **base)


class TestSteps:
    """One INVITE first, REMINDERs after, at most one THANK_YOU last; anything else raises."""

    def test_valid_sequence(self) -> None:
        campaign = make()
        assert campaign.invite is INVITE
        assert campaign.reminders == (REMINDER,)
        assert campaign.thank_you is THANKS
        assert campaign.previous_step("r1") is INVITE
        assert campaign.previous_step("invite") is None

    @pytest.mark.parametrize(
        ("sequence", "message"),
        [
            ([], "at least"),
            ([REMINDER], "first step must be the invite"),
            ([INVITE, INVITE], "used twice"),
            ([INVITE, Step(id="i2", kind="invite", body="x")], "only the first"),
            ([INVITE, THANKS, REMINDER], "must be the last"),
            ([INVITE, THANKS, Step(id="t2", kind="thank_you", body="x")], "must be the last"),
        ],
    )
    def test_invalid_sequences_raise(self, sequence: list[Step], message: str) -> None:
        with pytest.raises(InvalidStep, match=message):
            make(steps=sequence)

    def test_invite_has_no_delay(self) -> None:
        with pytest.raises(InvalidStep, match="delay"):
            Step(id="invite", kind=StepKind.INVITE, body="x", delay=timedelta(hours=1))

    def test_negative_delay_refused(self) -> None:
        with pytest.raises(InvalidStep, match="negative"):
            Step(id="r", kind=StepKind.REMINDER, body="x", delay=timedelta(hours=-1))

    def test_unknown_step_is_named(self) -> None:
        with pytest.raises(InvalidCampaign, match="'nope'"):
            make().step("nope")

    @given(steps())
    def test_generated_sequences_are_valid(self, sequence: tuple[Step, ...]) -> None:
        campaign = make(steps=sequence)
        assert campaign.steps[0].kind is StepKind.INVITE
        kinds = [s.kind for s in campaign.steps]
        assert kinds.count(StepKind.THANK_YOU) <= 1


class TestTemplate:
    """Rendering is strict: a missing field is an error, never a hole in the message."""

    def test_renders_normalized_placeholders(self) -> None:
        assert Template("Hi {First Name}!").render({"first_name": "Tom"}) == "Hi Tom!"

    def test_literal_braces(self) -> None:
        assert Template("{{not a field}} {x}").render({"x": "1"}) == "{not a field} 1"

    def test_missing_field_raises_naming_it(self) -> None:
        with pytest.raises(MissingField, match="survey_link") as info:
            INVITE.render({"first_name": "Tom"})
        assert info.value.field == "survey_link"

    def test_blank_value_counts_as_missing(self) -> None:
        assert Template("Hi {first_name}").missing({"first_name": "  "}) == ("first_name",)

    @pytest.mark.parametrize("text", ["Hi {", "Hi }", "{a.b}", "{a[0]}", "{a!r}", "{a:>10}", "{}"])
    def test_malformed_templates_refused(self, text: str) -> None:
        with pytest.raises(TemplateError):
            Template(text)

    def test_placeholders(self) -> None:
        assert make().placeholders == {"first_name", "survey_link"}


class TestStateMachine:
    """Every transition is a timeline entry; an illegal one raises and changes nothing."""

    def test_happy_path_timeline(self) -> None:
        campaign = make()
        campaign = campaign.schedule(at=T0, available_fields=["survey_link"])
        campaign = campaign.start(at=T0 + timedelta(hours=1))
        campaign = campaign.suspend(at=T0 + timedelta(hours=2), cause="hard-bounce rate 6% > 5%")
        campaign = campaign.resume(at=T0 + timedelta(hours=3))
        campaign = campaign.complete(at=T0 + timedelta(days=3), cause="everyone reached")
        assert campaign.state is CampaignState.COMPLETED
        assert [e.action for e in campaign.timeline] == [
            TimelineAction.CREATED,
            TimelineAction.SCHEDULED,
            TimelineAction.STARTED,
            TimelineAction.SUSPENDED,
            TimelineAction.RESUMED,
            TimelineAction.COMPLETED,
        ]
        assert campaign.timeline[3].cause == "hard-bounce rate 6% > 5%"

    def test_schedule_rejects_fields_no_recipient_has(self) -> None:
        with pytest.raises(InvalidCampaign, match="survey_link"):
            make().schedule(at=T0, available_fields=["city"])

    def test_stopped_is_terminal(self) -> None:
        stopped = make().schedule(at=T0).stop(at=T0)
        for action in ("schedule", "start", "resume", "complete"):
            with pytest.raises(InvalidTransition, match="stopped"):
                getattr(stopped, action)(at=T0, cause="x")

    def test_requeue_reopens_a_completed_campaign(self) -> None:
        done = make().schedule(at=T0).start(at=T0).complete(at=T0, cause="done")
        again = done.requeue(at=T0, cause="resend soft bounces")
        assert again.state is CampaignState.IN_PROGRESS

    def test_timeline_cannot_go_back_in_time(self) -> None:
        with pytest.raises(InvalidTransition, match="earlier"):
            make().schedule(at=T0 - timedelta(seconds=1))

    def test_naive_time_refused(self) -> None:
        with pytest.raises(NaiveDatetimeError):
            make().schedule(at=datetime(2026, 6, 1))

    @given(
        campaigns(),
        st.lists(st.sampled_from(list(TimelineAction)), max_size=8),
    )
    def test_no_path_reaches_an_illegal_state(
        self, campaign: Campaign, actions: list[TimelineAction]
    ) -> None:
        at = campaign.timeline[-1].at
        for action in actions:
            before = campaign
            try:
                campaign = campaign.record(action, at=at, cause="property")
            except InvalidTransition:
                assert campaign is before
                continue
            expected = TRANSITIONS.get((action, before.state), before.state)
            assert campaign.state is expected
            assert campaign.timeline[-1].state is campaign.state
            assert len(campaign.timeline) == len(before.timeline) + 1
        if campaign.state is CampaignState.STOPPED:
            assert campaign.timeline[-1].action is TimelineAction.STOPPED or any(
                e.action is TimelineAction.STOPPED for e in campaign.timeline
            )


class TestCampaignFields:
    """Zones, dates and options are checked when the campaign is built."""

    @pytest.mark.parametrize("sender", ["", "   "])
    def test_a_draft_may_wait_for_its_sender_but_is_not_scheduled_without_one(
        self, sender: str
    ) -> None:
        draft = make(sender=sender)
        with pytest.raises(InvalidCampaign, match="'c1' has no sender"):
            draft.schedule(at=T0)
        assert draft.state is CampaignState.DRAFT
        assert make(sender="ACME").schedule(at=T0).state is CampaignState.SCHEDULED

    @pytest.mark.parametrize("sender", [None, 15005550006, b"+15005550006"])
    def test_a_sender_that_is_not_text_is_refused(self, sender: object) -> None:
        with pytest.raises(InvalidCampaign, match="sender must be text"):
            make(sender=sender)

    def test_unknown_zone(self) -> None:
        with pytest.raises(ConfigurationError, match="Mars/Olympus"):
            make(time_zone="Mars/Olympus")

    def test_zone_objects_become_names(self) -> None:
        import pytz
        from dateutil import tz

        assert make(time_zone=pytz.timezone("Europe/Paris")).time_zone == "Europe/Paris"
        assert make(time_zone=tz.gettz("America/Chicago")).time_zone == "America/Chicago"

    def test_end_before_start(self) -> None:
        with pytest.raises(InvalidCampaign, match="ends"):
            make(starts_at=T0, ends_at=T0 - timedelta(days=1))

    def test_options_fixed_once_started(self) -> None:
        running = make().schedule(at=T0).start(at=T0)
        with pytest.raises(ConfigurationError, match="in_progress"):
            running.with_options(transactional=True)
        assert make().with_options(transactional=True).options.transactional
