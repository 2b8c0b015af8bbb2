"""Tests for smscampaign.scheduling: windows, legal hours, zones, throttle, plans, retries."""

from __future__ import annotations

import zoneinfo
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import attrs
import pytest
import pytz
from dateutil import tz as dateutil_tz
from hypothesis import given, settings
from hypothesis import strategies as st

from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import NaiveDatetimeError, ScheduleError
from smscampaign.scheduling import (
    LEGAL_HOURS,
    LEGAL_HOURS_AS_OF,
    PROVIDER_REPORTED_RULES,
    QuietHoursRule,
    Schedule,
    SendWindow,
    SendWindowZone,
    Throttle,
    UnreachedReason,
    ZoneGroup,
    ZoneReason,
    delivery_deadline,
    next_send_time,
    plan,
    retry_schedule,
    retry_time,
    simulate,
    us_state_of,
)
from smscampaign.testing.strategies import send_windows, throttles, zone_names

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = timezone.utc


@attrs.frozen
class Person:
    """A minimal recipient: a phone and an optional explicit zone."""

    phone: PhoneNumber
    time_zone: str | None = None


def person(number: str, time_zone: str | None = None) -> Person:
    return Person(PhoneNumber.parse(number, lenient=True), time_zone)


@attrs.frozen
class FakePhone:
    """A phone whose candidate zones are chosen by the test."""

    e164: str
    time_zones: tuple[str, ...]


def local(instant: datetime | None, zone: zoneinfo.ZoneInfo) -> datetime:
    assert instant is not None
    return instant.astimezone(zone)


def allowed_by_wall_clock(window: SendWindow, zone: str, instant: datetime) -> bool:
    """An independent oracle: read the instant on the zone's clock and check the window."""
    tz = zoneinfo.ZoneInfo(zone)
    here = instant.astimezone(tz)
    day = here.date()
    if window.is_closed_on(day):
        return False
    seconds = here.hour * 3600 + here.minute * 60 + here.second + here.microsecond / 1e6
    # A repeated (fall-back) reading counts once: its second occurrence is closed
    # unless the window is open all day.
    repeated = here.fold == 1 or (
        here.replace(fold=1).utcoffset() != here.replace(fold=0).utcoffset()
        and here.utcoffset() == here.replace(fold=1).utcoffset()
    )
    segments = window.local_segments(day)
    if repeated and segments != [(0, 86_400)]:
        return False
    return any(start <= seconds < end for start, end in segments)


# A week around every 2026 and 2027 DST transition of the zones tested, plus ordinary days.
def _transitions(zone: str) -> list[datetime]:
    tz = zoneinfo.ZoneInfo(zone)
    out = []
    t = datetime(2026, 1, 1, tzinfo=UTC)
    previous = t.astimezone(tz).utcoffset()
    while t.year < 2028:
        t += timedelta(hours=1)
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            out.append(t)
            previous = offset
    return out


ZONES = ("America/New_York", "Europe/Paris", "Australia/Sydney", "America/Boise", "UTC")
TRANSITIONS = sorted({t for z in ZONES for t in _transitions(z)})
instants = st.one_of(
    st.sampled_from(TRANSITIONS).flatmap(
        lambda t: st.integers(-3 * 86_400, 3 * 86_400).map(lambda s: t + timedelta(seconds=s))
    ),
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
)


class TestSendWindowSpec:
    """Send windows read from and written back to text."""

    def test_readable_spec(self) -> None:
        window = SendWindow.parse("mon-fri 09:00-20:00; sat 10:00-14:00")
        assert window.spec == "mon-fri 09:00-20:00; sat 10:00-14:00"
        assert window.local_segments(date(2026, 3, 7)) == [(36_000, 50_400)]  # a Saturday
        assert window.local_segments(date(2026, 3, 8)) == []  # a Sunday

    def test_several_intervals_and_midnight_crossing(self) -> None:
        window = SendWindow.parse("mon 09:00-12:00, 13:00-17:00; fri 22:00-02:00")
        assert window.local_segments(date(2026, 3, 2)) == [(32_400, 43_200), (46_800, 61_200)]
        assert window.local_segments(date(2026, 3, 6)) == [(79_200, 86_400)]
        assert window.local_segments(date(2026, 3, 7)) == [(0, 7_200)]

    def test_excluded_dates_and_holidays(self) -> None:
        window = SendWindow.parse("daily 09:00-17:00; except 2026-03-03; holidays FR")
        assert window.local_segments(date(2026, 3, 3)) == []
        assert window.local_segments(date(2026, 5, 1)) == []  # Fête du Travail
        assert window.local_segments(date(2026, 5, 4)) == [(32_400, 61_200)]

    def test_empty_spec_is_always_open(self) -> None:
        assert SendWindow.parse("") == SendWindow.always()

    def test_recipient_zone_clause(self) -> None:
        assert (
            SendWindow.parse("daily 09:00-17:00; in recipient zone").zone
            is SendWindowZone.RECIPIENT
        )

    @pytest.mark.parametrize(
        "spec", ["mon 9-17", "funday 09:00-10:00", "mon 09:00", "mon 25:00-26:00", "except x"]
    )
    def test_bad_specs_raise(self, spec: str) -> None:
        with pytest.raises(ScheduleError, match=r"spec|send window|date|weekday"):
            SendWindow.parse(spec)

    @given(send_windows())
    def test_spec_round_trips(self, window: SendWindow) -> None:
        assert SendWindow.parse(window.spec) == window


class TestThrottleSpec:
    """Throttles read from text and turned into a pace and a daily cap."""

    def test_parse(self) -> None:
        throttle = Throttle.parse("10/s; 5000/day")
        assert throttle.spacing == timedelta(milliseconds=100)
        assert throttle.daily_cap == 5000
        assert Throttle.parse(throttle.spec) == throttle

    def test_strictest_pace_wins(self) -> None:
        assert Throttle.parse("10/s; 300/min").spacing == timedelta(milliseconds=200)

    def test_unlimited(self) -> None:
        assert Throttle.parse("") == Throttle()
        assert Throttle().spacing == timedelta(0)
        assert Throttle().daily_cap is None

    @pytest.mark.parametrize("spec", ["ten/s", "10/fortnight", "0/s", "10"])
    def test_bad_specs_raise(self, spec: str) -> None:
        with pytest.raises(ScheduleError, match="throttle"):
            Throttle.parse(spec)

    @given(throttles())
    def test_spec_round_trips(self, throttle: Throttle) -> None:
        assert Throttle.parse(throttle.spec) == throttle


class TestZones:
    """Zones given as names or pytz, zoneinfo and dateutil objects are all accepted."""

    @pytest.mark.parametrize(
        "zone",
        [
            "Europe/Paris",
            zoneinfo.ZoneInfo("Europe/Paris"),
            pytz.timezone("Europe/Paris"),
            dateutil_tz.gettz("Europe/Paris"),
        ],
    )
    def test_zone_objects_normalize(self, zone: object) -> None:
        assert Schedule(time_zone=zone).time_zone == "Europe/Paris"

    def test_unknown_zone_raises(self) -> None:
        with pytest.raises(ScheduleError, match="Mars/Olympus"):
            Schedule(time_zone="Mars/Olympus")

    def test_naive_datetime_is_a_clear_error(self) -> None:
        schedule = Schedule(time_zone="UTC")
        with pytest.raises(NaiveDatetimeError, match="after"):
            schedule.next_send_time(person("+33612345678"), datetime(2026, 3, 1, 12))
        with pytest.raises(NaiveDatetimeError):
            Schedule(time_zone="UTC", ends_at=datetime(2026, 3, 1))

    def test_pytz_and_dateutil_instants_are_accepted(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris")
        after = pytz.timezone("Europe/Paris").localize(datetime(2026, 3, 1, 12))
        other = datetime(2026, 3, 1, 12, tzinfo=dateutil_tz.gettz("Europe/Paris"))
        recipient = person("+33612345678")
        assert (
            schedule.next_send_time(recipient, after).at
            == schedule.next_send_time(recipient, other).at
        )


class TestDst:
    """Wall-clock windows are exact across daylight-saving transitions."""

    @pytest.mark.parametrize("zone", ZONES)
    def test_nine_to_five_is_eight_hours_every_day(self, zone: str) -> None:
        window = SendWindow.parse("daily 09:00-17:00")
        lo = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 10**6
        hi = int(datetime(2028, 1, 1, tzinfo=UTC).timestamp()) * 10**6
        intervals = [(a, b) for a, b in window.utc_intervals(zone, lo, hi) if a > lo and b < hi]
        assert all(b - a == 8 * 3600 * 10**6 for a, b in intervals)
        assert len(intervals) in (728, 729, 730)

    def test_nonexistent_start_is_skipped_to_the_jump(self) -> None:
        schedule = Schedule(
            time_zone="America/New_York", window="sun 02:30-05:00", transactional=True
        )
        answer = schedule.next_send_time(
            person("+12125550123"), datetime(2026, 3, 8, 0, tzinfo=NEW_YORK)
        )
        assert local(answer.at, NEW_YORK) == datetime(2026, 3, 8, 3, 0, tzinfo=NEW_YORK)

    def test_ambiguous_hour_is_counted_once(self) -> None:
        schedule = Schedule(
            time_zone="America/New_York",
            window="sun 00:00-04:00",
            throttle="1/min",
            starts_at=datetime(2026, 11, 1, tzinfo=NEW_YORK),
            ends_at=datetime(2026, 11, 2, tzinfo=NEW_YORK),
        )
        result = schedule.plan(10_000)
        assert result.sent == 4 * 60  # four hours of wall clock, not five
        assert result == simulate(schedule, 10_000)

    def test_fall_back_plan_terminates_without_end(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris", window="daily 02:00-03:00", throttle="1/s")
        result = schedule.plan(20_000, start=datetime(2026, 10, 24, tzinfo=PARIS))
        assert result.unreached == 0
        assert result.days[0].sent == 3600

    @settings(max_examples=60)
    @given(window=send_windows(max_intervals=3), zone=zone_names(zones=ZONES), after=instants)
    def test_next_send_time_is_inside_the_window(
        self, window: SendWindow, zone: str, after: datetime
    ) -> None:
        schedule = Schedule(time_zone=zone, window=window)
        answer = schedule.next_send_time(person("+447700900123"), after)  # unknown: campaign zone
        if answer.at is None:
            return
        assert answer.at >= after
        assert allowed_by_wall_clock(window, zone, answer.at)
        # Nothing between `after` and the answer was open.
        probe = after + (answer.at - after) / 2
        if probe < answer.at:
            assert not allowed_by_wall_clock(window, zone, probe) or probe == after


class TestLegalHours:
    """The quiet-hours table is data with sources, enforced on the recipient's clock."""

    def test_every_rule_has_sources_and_an_as_of_date(self) -> None:
        for rule in (*LEGAL_HOURS.rules, *PROVIDER_REPORTED_RULES):
            assert rule.sources
            assert rule.summary
            assert rule.as_of == LEGAL_HOURS_AS_OF
        for key in ("US", "US-FL", "US-OK", "US-WA", "US-MD", "US-TX", "US-CT", "FR"):
            assert LEGAL_HOURS[key].law

    def test_state_windows(self) -> None:
        assert LEGAL_HOURS["US-FL"].allowed.spec == "mon-sun 08:00-20:00"
        assert LEGAL_HOURS["US-TX"].allowed.spec == "mon-sat 09:00-21:00; sun 12:00-21:00"
        assert LEGAL_HOURS["US-CT"].allowed.spec == "mon-sun 09:00-20:00"
        assert LEGAL_HOURS["FR"].allowed.spec == "mon-sat 08:00-20:00; holidays FR"

    @pytest.mark.parametrize(
        ("number", "state"),
        [
            ("+13055551234", "FL"),
            ("+14055551234", "OK"),
            ("+12065551234", "WA"),
            ("+14105551234", "MD"),
            ("+12145551234", "TX"),
            ("+12035551234", "CT"),
            ("+12125551234", "NY"),  # geocoder says "New York, NY"
            ("+18005551234", None),  # toll-free
        ],
    )
    def test_state_from_area_code(self, number: str, state: str | None) -> None:
        assert us_state_of(number) == state

    def test_french_number_on_sunday_moves_to_monday_eight(self) -> None:
        schedule = Schedule(time_zone="America/New_York")
        after = datetime(2026, 3, 1, 11, tzinfo=PARIS)  # a Sunday
        answer = next_send_time(schedule, person("+33612345678"), after)
        assert local(answer.at, PARIS) == datetime(2026, 3, 2, 8, 0, tzinfo=PARIS)
        assert answer.zone.group.rules == ("FR",)

    def test_french_public_holiday_is_skipped(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris")
        after = datetime(2026, 4, 30, 20, 30, tzinfo=PARIS)  # eve of 1 May, a Friday
        answer = schedule.next_send_time(person("+33612345678"), after)
        assert local(answer.at, PARIS) == datetime(2026, 5, 2, 8, 0, tzinfo=PARIS)

    def test_florida_at_half_past_eight_waits_for_morning(self) -> None:
        schedule = Schedule(time_zone="America/Los_Angeles")
        after = datetime(2026, 3, 4, 20, 30, tzinfo=NEW_YORK)
        answer = schedule.next_send_time(person("+13055551234"), after)
        assert local(answer.at, NEW_YORK) == datetime(2026, 3, 5, 8, 0, tzinfo=NEW_YORK)
        # A New York number may still go at 20:30 (federal 21:00 applies).
        assert schedule.next_send_time(person("+12125551234"), after).at == after

    def test_texas_sunday_noon(self) -> None:
        chicago = zoneinfo.ZoneInfo("America/Chicago")
        schedule = Schedule(time_zone="America/Chicago")
        answer = schedule.next_send_time(
            person("+12145551234"), datetime(2026, 3, 8, 9, 30, tzinfo=chicago)
        )
        assert local(answer.at, chicago) == datetime(2026, 3, 8, 12, 0, tzinfo=chicago)

    def test_legal_hours_intersect_the_campaign_window(self) -> None:
        schedule = Schedule(time_zone="America/New_York", window="daily 06:00-23:00")
        answer = schedule.next_send_time(
            person("+12035551234"), datetime(2026, 3, 4, 6, 0, tzinfo=NEW_YORK)
        )
        assert local(answer.at, NEW_YORK).hour == 9  # Connecticut 09:00
        assert local(answer.window_closes, NEW_YORK).hour == 20

    def test_transactional_lifts_legal_hours(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris", transactional=True)
        after = datetime(2026, 3, 1, 23, 0, tzinfo=PARIS)
        assert schedule.next_send_time(person("+33612345678"), after).at == after

    def test_table_can_be_overridden_and_extended(self) -> None:
        stricter = QuietHoursRule(
            key="FR",
            region="FR",
            allowed="mon-fri 10:00-18:00",
            summary="company policy",
            as_of=date(2026, 1, 1),
        )
        table = LEGAL_HOURS.with_rules(stricter, *PROVIDER_REPORTED_RULES)
        assert table["FR"] is stricter
        assert table["US-NJ"].region == "US"
        schedule = Schedule(time_zone="Europe/Paris", legal_hours=table)
        answer = schedule.next_send_time(
            person("+33612345678"), datetime(2026, 3, 7, 9, tzinfo=PARIS)
        )
        assert local(answer.at, PARIS) == datetime(2026, 3, 9, 10, 0, tzinfo=PARIS)
        assert "FR" not in [r.key for r in LEGAL_HOURS.without("FR").rules]
        with pytest.raises(ScheduleError):
            LEGAL_HOURS.without("XX")


class TestZoneChoice:
    """The recipient's zone: explicit, else all candidates intersected, else the campaign's."""

    def test_explicit_zone_wins(self) -> None:
        choice = Schedule(time_zone="UTC").zone_choice(
            person("+12125551234", "Europe/Berlin"), datetime(2026, 3, 1, tzinfo=UTC)
        )
        assert choice.zones == ("Europe/Berlin",)
        assert choice.reason is ZoneReason.EXPLICIT

    def test_split_area_code_uses_every_candidate(self) -> None:
        schedule = Schedule(time_zone="America/New_York")
        idaho = person("+12085550100")
        choice = schedule.zone_choice(idaho, datetime(2026, 3, 1, tzinfo=UTC))
        assert choice.zones == ("America/Boise", "America/Los_Angeles")
        assert choice.reason is ZoneReason.NUMBER
        # 08:00 in Boise is 07:00 in Los Angeles: wait for 08:00 Los Angeles.
        boise = zoneinfo.ZoneInfo("America/Boise")
        answer = schedule.next_send_time(idaho, datetime(2026, 3, 4, 8, 0, tzinfo=boise))
        assert local(answer.at, boise) == datetime(2026, 3, 4, 9, 0, tzinfo=boise)
        # 20:30 in Los Angeles is 21:30 in Boise: closed.
        closes = answer.window_closes
        assert local(closes, boise) == datetime(2026, 3, 4, 21, 0, tzinfo=boise)

    def test_toll_free_falls_back_to_campaign_zone(self) -> None:
        schedule = Schedule(time_zone="America/Chicago")
        choice = schedule.zone_choice(person("+18005551234"), datetime(2026, 3, 1, tzinfo=UTC))
        assert choice.zones == ("America/Chicago",)
        assert choice.reason is ZoneReason.NON_GEOGRAPHIC
        assert choice.group.rules == ("US",)
        assert len(choice.candidates) > 1

    def test_unknown_number_falls_back(self) -> None:
        choice = Schedule(time_zone="Europe/Paris").zone_choice(
            person("+447700900123"), datetime(2026, 3, 1, tzinfo=UTC)
        )
        assert choice.reason is ZoneReason.UNKNOWN
        assert choice.zones == ("Europe/Paris",)

    def test_empty_intersection_falls_back(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris", window="daily 09:00-10:00; in recipient zone")
        recipient = Person(FakePhone("+12125551234", ("America/New_York", "Asia/Tokyo")))  # type: ignore[arg-type]
        choice = schedule.zone_choice(recipient, datetime(2026, 3, 1, tzinfo=UTC))
        assert choice.reason is ZoneReason.EMPTY_INTERSECTION
        assert choice.zones == ("Europe/Paris",)
        assert "empty_intersection" in str(choice)


class TestSeed002:
    """Gladly's proactive SMS: progress, roll-over to the next day, an end date set too soon."""

    def schedule(self, **kwargs: object) -> Schedule:
        return Schedule.from_spec(
            time_zone="America/New_York",
            window="mon-fri 09:00-17:00",
            throttle="1/min",
            starts_at=datetime(2026, 3, 2, 9, 0, tzinfo=NEW_YORK),
            **kwargs,  # type: ignore[arg-type]
        )

    def test_progress_seven_of_eleven(self) -> None:
        result = self.schedule().plan(11)
        assert result.progress(datetime(2026, 3, 2, 9, 6, 30, tzinfo=NEW_YORK)) == (7, 11)
        assert result.completion == datetime(2026, 3, 2, 9, 10, tzinfo=NEW_YORK)

    def test_list_larger_than_a_day_rolls_over(self) -> None:
        result = self.schedule().plan(1000)  # 480 a day fit
        assert [d.sent for d in result.days] == [480, 480, 40]
        assert [d.carried_over for d in result.days] == [520, 40, 0]
        assert result.rolled_over == 520
        assert local(result.slots[1].start, NEW_YORK) == datetime(2026, 3, 3, 9, 0, tzinfo=NEW_YORK)

    def test_end_date_too_soon_leaves_the_rest_unreached(self) -> None:
        result = self.schedule(ends_at=datetime(2026, 3, 3, 12, 0, tzinfo=NEW_YORK)).plan(1000)
        assert result.sent == 480 + 180
        assert result.unreached == 340
        assert result.unreached_reason is UnreachedReason.CAMPAIGN_ENDED
        assert result.completion is None
        assert "unreached 340" in result.render("America/New_York")


class TestNextSendTime:
    """The next allowed instant, never before `after`, never past the end."""

    def test_follow_up_past_due_goes_to_next_window_not_now(self) -> None:
        schedule = Schedule(time_zone="America/New_York", window="mon-fri 09:00-17:00")
        due = datetime(2026, 3, 2, 10, tzinfo=NEW_YORK)  # already past
        now = datetime(2026, 3, 2, 22, tzinfo=NEW_YORK)  # outside hours
        answer = schedule.next_send_time(person("+12125551234"), due, now=now)
        assert local(answer.at, NEW_YORK) == datetime(2026, 3, 3, 9, tzinfo=NEW_YORK)

    def test_never_past_the_end(self) -> None:
        schedule = Schedule(
            time_zone="America/New_York",
            window="mon-fri 09:00-17:00",
            ends_at=datetime(2026, 3, 3, 8, tzinfo=NEW_YORK),
        )
        after = datetime(2026, 3, 2, 18, tzinfo=NEW_YORK)
        answer = schedule.next_send_time(person("+12125551234"), after)
        assert answer.at is None
        assert answer.reason is UnreachedReason.CAMPAIGN_ENDED
        assert not answer
        late = schedule.next_send_time(person("+12125551234"), after + timedelta(days=3))
        assert late.reason is UnreachedReason.CAMPAIGN_ENDED

    def test_never_open(self) -> None:
        schedule = Schedule(time_zone="UTC", window="never")
        answer = schedule.next_send_time(person("+12125551234"), datetime(2026, 3, 1, tzinfo=UTC))
        assert answer.reason is UnreachedReason.NO_OPEN_WINDOW


class TestRetries:
    """Retries go inside the recipient's window, within 72 hours, at most three."""

    def test_default_three_retries_each_in_window(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris")
        recipient = person("+33612345678")
        failed = datetime(2026, 3, 6, 19, 30, tzinfo=PARIS)  # Friday evening
        retries = retry_schedule(schedule, recipient, failed)
        assert [local(r, PARIS) for r in retries] == [
            datetime(2026, 3, 7, 8, 0, tzinfo=PARIS),  # +1 h is 20:30: next morning
            datetime(2026, 3, 7, 12, 0, tzinfo=PARIS),  # +4 h
            datetime(2026, 3, 9, 8, 0, tzinfo=PARIS),  # +16 h is a Sunday
        ]
        assert all(r - failed <= timedelta(hours=72) for r in retries)

    def test_retry_past_the_limit_is_dropped(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris")
        failed = datetime(2026, 3, 6, 19, 30, tzinfo=PARIS)
        answer = retry_time(
            schedule,
            person("+33612345678"),
            failed + timedelta(hours=70),
            attempt=3,
            first_failed_at=failed,
        )
        assert answer.reason is UnreachedReason.RETRY_WINDOW_PASSED
        assert schedule.retry_time(person("+33612345678"), failed, attempt=4).reason is (
            UnreachedReason.RETRIES_EXHAUSTED
        )

    def test_delivery_deadline_is_the_window_close(self) -> None:
        schedule = Schedule(time_zone="Europe/Paris")
        sent = datetime(2026, 3, 4, 18, 0, tzinfo=PARIS)
        deadline = delivery_deadline(schedule, person("+33612345678"), sent)
        assert local(deadline, PARIS) == datetime(2026, 3, 4, 20, 0, tzinfo=PARIS)
        assert schedule.validity_period(person("+33612345678"), sent) == timedelta(hours=2)
        night = datetime(2026, 3, 4, 22, 0, tzinfo=PARIS)
        assert schedule.delivery_deadline(person("+33612345678"), night) is None


# ---------------------------------------------------------------------------
# Plans against the per-message reference and the wall-clock oracle
# ---------------------------------------------------------------------------

GROUP_CHOICES = (
    (("America/New_York",), ("US",)),
    (("America/New_York",), ("US", "US-FL")),
    (("America/Chicago",), ("US", "US-TX")),
    (("America/Boise", "America/Los_Angeles"), ("US",)),
    (("Europe/Paris",), ("FR",)),
    (("Australia/Sydney",), ()),
    (("UTC",), ()),
)


COMMON_WINDOWS = (
    "",
    "daily 07:00-22:00",
    "mon-fri 09:00-17:00; sat 10:00-14:00",
    "daily 20:00-10:00",
    "mon-sat 08:30-12:00, 13:30-19:00; in recipient zone",
    "daily 00:00-03:00, 09:00-21:00; sun 01:30-02:30; in recipient zone",
)


@st.composite
def small_plans(draw: st.DrawFn) -> tuple[Schedule, dict[ZoneGroup, int], datetime]:
    zone = draw(zone_names(zones=ZONES))
    window = draw(
        st.one_of(
            st.sampled_from([SendWindow.parse(spec) for spec in COMMON_WINDOWS]),
            send_windows(max_intervals=3, granularity_minutes=30),
        )
    )
    throttle = draw(
        st.sampled_from(
            ["1/min", "2/h", "3/min; 40/day", "1/h", "7/h; 10/day", "20/day", "1/min; 30/day"]
        )
    )
    transactional = draw(st.booleans())
    start = draw(instants)
    days = draw(st.integers(1, 6))
    chosen = draw(st.lists(st.sampled_from(GROUP_CHOICES), min_size=1, max_size=3, unique=True))
    counts = draw(st.lists(st.integers(0, 120), min_size=len(chosen), max_size=len(chosen)))
    schedule = Schedule(
        time_zone=zone,
        window=window,
        throttle=throttle,
        starts_at=start,
        ends_at=start + timedelta(days=days),
        transactional=transactional,
    )
    groups = {ZoneGroup(z, r): n for (z, r), n in zip(chosen, counts, strict=True)}
    return schedule, groups, start


def _legal_ok(schedule: Schedule, group: ZoneGroup, instant: datetime) -> bool:
    for zone in group.zones:
        for key in () if schedule.transactional else group.rules:
            if not allowed_by_wall_clock(schedule.legal_hours[key].allowed, zone, instant):
                return False
        if schedule.window.zone is SendWindowZone.RECIPIENT and not allowed_by_wall_clock(
            schedule.window, zone, instant
        ):
            return False
    if schedule.window.zone is SendWindowZone.CAMPAIGN:
        return allowed_by_wall_clock(schedule.window, schedule.time_zone, instant)
    return True


class TestPlanProperties:
    """`plan` agrees with the per-message simulation and never breaks a window or the throttle."""

    @settings(max_examples=80)
    @given(small_plans())
    def test_plan_equals_naive_simulation(
        self, case: tuple[Schedule, dict[ZoneGroup, int], datetime]
    ) -> None:
        schedule, groups, _ = case
        assert schedule.plan(groups) == simulate(schedule, groups)

    @settings(max_examples=60)
    @given(small_plans())
    def test_every_send_is_inside_every_candidate_zone_window(
        self, case: tuple[Schedule, dict[ZoneGroup, int], datetime]
    ) -> None:
        schedule, groups, start = case
        result = schedule.plan(groups)
        assert schedule.ends_at is not None
        for instant, group in result.send_times():
            assert start <= instant < schedule.ends_at
            assert _legal_ok(schedule, group, instant), (instant, group)

    @settings(max_examples=60)
    @given(small_plans())
    def test_throttle_never_exceeded_in_any_sliding_interval(
        self, case: tuple[Schedule, dict[ZoneGroup, int], datetime]
    ) -> None:
        schedule, groups, _ = case
        times = [t for t, _ in schedule.plan(groups).send_times()]
        for limit in schedule.throttle.limits:
            if limit.period == 86_400:
                continue
            width = timedelta(seconds=limit.period)
            left = 0
            for right, instant in enumerate(times):
                while instant - times[left] >= width:
                    left += 1
                assert right - left + 1 <= limit.count
        cap = schedule.throttle.daily_cap
        if cap is not None:
            tz = zoneinfo.ZoneInfo(schedule.time_zone)
            per_day = Counter(t.astimezone(tz).date() for t in times)
            assert max(per_day.values(), default=0) <= cap
            assert [d.sent for d in schedule.plan(groups).days if d.sent] == [
                per_day[d] for d in sorted(per_day)
            ]

    @settings(max_examples=60)
    @given(small_plans(), st.integers(0, 400))
    def test_totals_are_min_of_n_and_capacity(
        self, case: tuple[Schedule, dict[ZoneGroup, int], datetime], n: int
    ) -> None:
        schedule, groups, _ = case
        group = next(iter(groups))
        capacity = schedule.plan({group: 10**9}).sent
        result = plan(schedule, {group: n})
        assert result.sent == min(n, capacity)
        assert sum(d.sent for d in result.days) == result.sent
        assert sum(s.count for s in result.slots) == result.sent


class TestPlanShapes:
    """Plans from counts, groups or recipients, and their errors."""

    def test_recipients_are_grouped_by_zone_signature(self) -> None:
        schedule = Schedule(
            time_zone="America/New_York",
            throttle="1/s",
            starts_at=datetime(2026, 3, 2, 7, tzinfo=NEW_YORK),
            ends_at=datetime(2026, 3, 3, tzinfo=NEW_YORK),
        )
        people = [person("+13055551234"), person("+12125551234"), person("+13055550100")]
        groups = schedule.groups(people)
        assert list(groups.values()) == [2, 1]
        result = schedule.plan(people)
        assert result.sent == 3
        # Both groups open at 08:00 New York; Florida was listed first.
        assert [s.group.rules for s in result.slots] == [("US", "US-FL"), ("US",)]

    def test_plan_needs_a_start(self) -> None:
        with pytest.raises(ScheduleError, match="start"):
            Schedule(time_zone="UTC").plan(3)

    def test_negative_count_raises(self) -> None:
        with pytest.raises(ScheduleError):
            Schedule(time_zone="UTC").plan(-1, start=datetime(2026, 1, 1, tzinfo=UTC))

    def test_end_before_start_raises(self) -> None:
        with pytest.raises(ScheduleError, match="ends_at"):
            Schedule(
                time_zone="UTC",
                starts_at=datetime(2026, 1, 2, tzinfo=UTC),
                ends_at=datetime(2026, 1, 1, tzinfo=UTC),
            )

    def test_unlimited_throttle_sends_at_window_open(self) -> None:
        schedule = Schedule(time_zone="UTC", window="mon-fri 09:00-17:00", throttle="100/day")
        result = schedule.plan(250, start=datetime(2026, 3, 2, tzinfo=UTC))
        assert [d.sent for d in result.days] == [100, 100, 50]
        assert result.slots[0].start == result.slots[0].end == datetime(2026, 3, 2, 9, tzinfo=UTC)
