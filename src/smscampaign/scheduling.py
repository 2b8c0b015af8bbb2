"""Send windows, legal quiet hours, throttling and roll-over plans.

Scheduling is a calculator: it answers *when* messages may go, never sends
them. Everything is computed on the UTC timeline:

1. A :class:`SendWindow` (weekly wall-clock hours, excluded dates, public
   holidays) and every applicable :class:`QuietHoursRule` of the
   :class:`LegalHoursTable` are turned, zone by zone and day by day, into
   half-open UTC intervals ``[start, end)``. Wall-clock times that do not exist
   (spring forward) move to the instant the clocks jump; ambiguous ones (fall
   back) are read once, at their first occurrence, so ``09:00-17:00`` is eight
   real hours on every day.
2. The intervals of every zone a recipient may be in are intersected: a
   message may go only when it is allowed everywhere the recipient might be.
3. :func:`plan` sweeps the open intervals of every zone group on one timeline
   with one shared :class:`Throttle`; its cost grows with the number of
   windows times groups, never with the number of recipients.

Internally instants are integers, microseconds since the Unix epoch, so the
closed-form plan and the message-by-message reference :func:`simulate` agree
exactly.

Sources for the legal table are in :data:`LEGAL_HOURS` itself and in
``docs/scheduling.md``.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol, Union

import attrs
import holidays as _holidays
import phonenumbers

from smscampaign._compat import StrEnum
from smscampaign.domain._time import require_aware
from smscampaign.domain._zones import get_zone, zone_name
from smscampaign.domain.delivery import RetryPolicy
from smscampaign.errors import ConfigurationError, ScheduleError

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "LEGAL_HOURS",
    "LEGAL_HOURS_AS_OF",
    "PROVIDER_REPORTED_RULES",
    "Addressee",
    "DayTotal",
    "GroupTotal",
    "LegalHoursTable",
    "Plan",
    "PlanSlot",
    "QuietHoursRule",
    "RateLimit",
    "RetryPolicy",
    "Schedule",
    "SendTime",
    "SendWindow",
    "SendWindowZone",
    "Throttle",
    "UnreachedReason",
    "WeeklyInterval",
    "ZoneChoice",
    "ZoneGroup",
    "ZoneReason",
    "delivery_deadline",
    "next_send_time",
    "plan",
    "retry_schedule",
    "retry_time",
    "simulate",
    "us_state_of",
]

# --------------------------------------------------------------------------
# Time arithmetic: instants are int microseconds since 1970-01-01T00:00Z.
# --------------------------------------------------------------------------

_US = timedelta(microseconds=1)
_SECOND = 1_000_000
_DAY = 86_400 * _SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How far ahead :func:`next_send_time` and open-ended plans look for a window.
_SEARCH_DAYS = 400
#: The days over which candidate zones are tested for an empty intersection.
_INTERSECTION_PROBE_DAYS = 14

Interval = tuple[int, int]


def _to_us(value: datetime, name: str) -> int:
    require_aware(value, name)
    return (value - _EPOCH) // _US


def _from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class _Clock:
    """Wall-clock to UTC conversion for one zone, exact across DST.

    A day whose two local midnights have the same UTC offset has no
    transition inside it (tzdata never puts two cancelling transitions in one
    day), so conversion is plain arithmetic; only transition days take the
    slow path through :mod:`zoneinfo`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.tz = get_zone(name)
        self._midnight: dict[int, int] = {}

    def _offset_at_local(self, naive: datetime) -> int:
        offset = naive.replace(tzinfo=self.tz).utcoffset()
        assert offset is not None
        return offset // _US

    def offset_at(self, instant: int) -> int:
        offset = _from_us(instant).astimezone(self.tz).utcoffset()
        assert offset is not None
        return offset // _US

    def midnight_offset(self, ordinal: int) -> int:
        cached = self._midnight.get(ordinal)
        if cached is None:
            cached = self._offset_at_local(datetime.fromordinal(ordinal))
            self._midnight[ordinal] = cached
        return cached

    def to_utc(self, ordinal: int, local: int) -> int:
        """The first instant at or after wall-clock ``local`` µs into day ``ordinal``."""
        naive = (ordinal - _EPOCH_ORDINAL) * _DAY + local
        before = self.midnight_offset(ordinal)
        if before == self.midnight_offset(ordinal + 1):
            return naive - before
        return self._slow_to_utc(naive)

    def local_of(self, instant: int) -> int:
        return instant + self.offset_at(instant)

    def _slow_to_utc(self, naive: int) -> int:
        wall = datetime(1970, 1, 1) + timedelta(microseconds=naive)
        first = naive - self._offset_at_local(wall.replace(fold=0))
        if self.local_of(first) == naive:
            return first  # exists; fold=0 is the earlier of two readings
        second = naive - self._offset_at_local(wall.replace(fold=1))
        lo, hi = min(first, second), max(first, second)
        # Inside a gap: the clocks jump at the smallest instant whose local
        # reading is past ``naive``; it lies between the two readings.
        while lo < hi:
            mid = (lo + hi) // 2
            if self.local_of(mid) > naive:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def repeated(self, ordinal: int) -> Interval | None:
        """The instants of day ``ordinal`` whose wall-clock reading came before (fall back)."""
        before = self.midnight_offset(ordinal)
        after = self.midnight_offset(ordinal + 1)
        if before <= after:
            return None
        lo = (ordinal - _EPOCH_ORDINAL) * _DAY - before
        hi = (ordinal + 1 - _EPOCH_ORDINAL) * _DAY - after
        while lo < hi:
            mid = (lo + hi) // 2
            if self.offset_at(mid) == after:
                hi = mid
            else:
                lo = mid + 1
        return lo, lo + before - after

    def local_ordinal(self, instant: int) -> int:
        return self.local_of(instant) // _DAY + _EPOCH_ORDINAL


@functools.lru_cache(maxsize=512)
def _clock(name: str) -> _Clock:
    return _Clock(name)


def _normalize_zone(value: Any, field: str = "time_zone") -> str:
    try:
        return zone_name(value)
    except ConfigurationError as error:
        raise ScheduleError(f"{field}: {error.message}", value=value) from error


# --------------------------------------------------------------------------
# Interval algebra on sorted, disjoint, half-open integer intervals.
# --------------------------------------------------------------------------


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _clip(intervals: Sequence[Interval], lo: int, hi: int) -> list[Interval]:
    return _intersect(intervals, [(lo, hi)]) if lo < hi else []


# --------------------------------------------------------------------------
# Send windows
# --------------------------------------------------------------------------


class SendWindowZone(StrEnum):
    """Whose clock a :class:`SendWindow` is read on."""

    CAMPAIGN = "campaign"
    RECIPIENT = "recipient"


def _hhmm(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _parse_time(text: str, spec: str) -> int:
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ScheduleError(f"send window {spec!r}: {text!r} is not a time like 09:30", value=spec)
    hours, minutes, secs = int(match[1]), int(match[2]), int(match[3] or 0)
    total = hours * 3600 + minutes * 60 + secs
    if minutes > 59 or secs > 59 or total > 86_400:
        raise ScheduleError(f"send window {spec!r}: {text!r} is not a time of day", value=spec)
    return total


def _check_interval(instance: WeeklyInterval, attribute: Any, value: int) -> None:
    if not 0 <= instance.weekday <= 6:
        raise ScheduleError(
            f"weekday must be 0 (Monday) to 6, got {instance.weekday}", value=instance
        )
    if not 0 <= instance.start < 86_400:
        raise ScheduleError(
            f"start must be in [0, 86400) seconds, got {instance.start}", value=instance
        )
    if not 0 < instance.end <= 86_400 or instance.end == instance.start:
        raise ScheduleError(
            f"end must be in (0, 86400] seconds and differ from start, got {instance.end}",
            value=instance,
        )


@attrs.frozen(order=True)
class WeeklyInterval:
    """Wall-clock hours on one weekday: ``[start, end)`` seconds after midnight.

    An ``end`` at or before ``start`` crosses midnight: ``fri 22:00-02:00``
    runs from Friday 22:00 to Saturday 02:00. ``end`` may be 86400 (24:00).

    Attributes:
        weekday: 0 for Monday to 6 for Sunday (the day the interval starts).
        start: Seconds after local midnight, 0 to 86399.
        end: Seconds after local midnight, 1 to 86400.
    """

    weekday: int
    start: int
    end: int = attrs.field(validator=_check_interval)

    @property
    def crosses_midnight(self) -> bool:
        """Whether the interval ends on the next day."""
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _to_dates(value: Iterable[date | str]) -> frozenset[date]:
    out = set()
    for item in value:
        if isinstance(item, datetime):
            raise ScheduleError(f"excluded dates must be dates, got datetime {item!r}", value=item)
        if isinstance(item, str):
            try:
                item = date.fromisoformat(item.strip())
            except ValueError as error:
                raise ScheduleError(
                    f"{item!r} is not a date like 2026-12-25", value=item
                ) from error
        out.add(item)
    return frozenset(out)


def _to_calendars(value: Iterable[str]) -> tuple[str, ...]:
    out = []
    for code in value:
        code = code.strip().upper()
        country, _, subdiv = code.partition("-")
        try:
            _holidays.country_holidays(country, subdiv=subdiv or None, years=2026)
        except (NotImplementedError, KeyError) as error:
            raise ScheduleError(
                f"no public holiday calendar for {code!r}; use an ISO country code "
                "like 'FR' or 'US-LA' that the holidays package knows",
                value=code,
            ) from error
        out.append(code)
    return tuple(sorted(set(out)))


@functools.lru_cache(maxsize=256)
def _holiday_dates(code: str, year: int) -> frozenset[date]:
    country, _, subdiv = code.partition("-")
    return frozenset(_holidays.country_holidays(country, subdiv=subdiv or None, years=year))


def _sorted_intervals(value: Iterable[WeeklyInterval]) -> tuple[WeeklyInterval, ...]:
    return tuple(sorted(set(value)))


def _sorted_limits(value: Iterable[RateLimit]) -> tuple[RateLimit, ...]:
    return tuple(sorted(set(value)))


def _sorted_keys(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(value)))


def _to_strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _to_rules(value: Iterable[QuietHoursRule]) -> tuple[QuietHoursRule, ...]:
    return tuple(value)


def _to_window(value: SendWindow | str) -> SendWindow:
    return SendWindow.parse(value) if isinstance(value, str) else value


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else require_aware(value, "starts_at/ends_at")


_DAY_ALIASES = {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}


def _parse_days(text: str, spec: str) -> list[int]:
    text = text.strip().lower()
    if text in _DAY_ALIASES:
        return list(_DAY_ALIASES[text])
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            lo = _WEEKDAYS.index(first[:3])
            hi = _WEEKDAYS.index(last[:3]) if last else lo
        except ValueError:
            raise ScheduleError(
                f"send window {spec!r}: {part!r} is not a weekday or range like mon-fri",
                value=spec,
            ) from None
        day = lo
        while True:  # ranges may wrap: sat-mon
            days.append(day)
            if day == hi:
                break
            day = (day + 1) % 7
    return days


@attrs.frozen(cache_hash=True)
class SendWindow:
    """When a campaign may send: weekly wall-clock hours minus excluded dates.

    Read on the campaign's clock or on each recipient's (``zone``). An
    excluded date, or a public holiday of one of ``holiday_calendars``,
    closes the whole local day, including the part of an interval spilling
    over from the evening before. Build one with :meth:`parse`.

    Attributes:
        intervals: The weekly hours, sorted. Empty means never open.
        excluded_dates: Local dates on which nothing may be sent.
        holiday_calendars: Public-holiday calendars (``"FR"``, ``"US-LA"``) of
            the ``holidays`` package whose dates are excluded too.
        zone: ``campaign`` (default) or ``recipient``.
    """

    intervals: tuple[WeeklyInterval, ...] = attrs.field(default=(), converter=_sorted_intervals)
    excluded_dates: frozenset[date] = attrs.field(default=frozenset(), converter=_to_dates)
    holiday_calendars: tuple[str, ...] = attrs.field(default=(), converter=_to_calendars)
    zone: SendWindowZone = attrs.field(default=SendWindowZone.CAMPAIGN, converter=SendWindowZone)

    @classmethod
    def always(cls, *, zone: SendWindowZone | str = SendWindowZone.CAMPAIGN) -> SendWindow:
        """Open around the clock, every day."""
        return cls(tuple(WeeklyInterval(d, 0, 86_400) for d in range(7)), zone=SendWindowZone(zone))

    @classmethod
    def parse(cls, spec: str) -> SendWindow:
        """Read a window from text such as ``"mon-fri 09:00-20:00; sat 10:00-14:00"``.

        Clauses are separated by ``;``:

        - ``<days> <hh:mm-hh:mm>[, <hh:mm-hh:mm>...]`` -- days are ``mon``..``sun``,
          ranges ``mon-fri``, lists ``sat,sun``, or ``daily``/``weekdays``/``weekends``;
          ``22:00-02:00`` crosses midnight, ``24:00`` ends a day;
        - ``except 2026-12-24, 2026-12-31`` -- excluded local dates;
        - ``holidays FR`` or ``holidays US-LA`` -- public holidays closed;
        - ``in recipient zone`` or ``in campaign zone`` -- whose clock;
        - ``never`` -- no weekly hours at all.

        An empty spec (or one with only ``except``/``holidays``/zone clauses)
        is open around the clock on the days not excluded.

        Raises:
            ScheduleError: The text cannot be read; the message quotes it.
        """
        if not isinstance(spec, str):
            raise ScheduleError(f"a send window spec must be text, got {spec!r}", value=spec)
        intervals: list[WeeklyInterval] = []
        excluded: list[date | str] = []
        calendars: list[str] = []
        zone = SendWindowZone.CAMPAIGN
        has_hours = False
        for raw in spec.split(";"):
            clause = " ".join(raw.split())
            if not clause:
                continue
            lower = clause.lower()
            if lower.startswith("except "):
                excluded.extend(p for p in clause[7:].split(",") if p.strip())
            elif lower.startswith("holidays "):
                calendars.extend(p for p in re.split(r"[ ,]+", clause[9:]) if p)
            elif lower == "never":
                has_hours = True
            elif lower in {"in recipient zone", "in campaign zone"}:
                zone = SendWindowZone(lower.split()[1])
            else:
                days_text, _, ranges = clause.partition(" ")
                if not ranges:
                    raise ScheduleError(
                        f"send window {spec!r}: clause {clause!r} needs days and hours, "
                        "e.g. 'mon-fri 09:00-20:00'",
                        value=spec,
                    )
                has_hours = True
                for day in _parse_days(days_text, spec):
                    for part in ranges.split(","):
                        start_text, sep, end_text = part.partition("-")
                        if not sep:
                            raise ScheduleError(
                                f"send window {spec!r}: {part.strip()!r} is not a range "
                                "like 09:00-17:00",
                                value=spec,
                            )
                        start, end = _parse_time(start_text, spec), _parse_time(end_text, spec)
                        if start == 86_400 or (end == 0 and start == 0):
                            start, end = start % 86_400, 86_400
                        if end == start:
                            raise ScheduleError(
                                f"send window {spec!r}: {part.strip()!r} is empty", value=spec
                            )
                        intervals.append(WeeklyInterval(day, start, end or 86_400))
        if not has_hours:
            intervals = list(cls.always().intervals)
        return cls(intervals, excluded, calendars, zone)

    @property
    def spec(self) -> str:
        """The canonical text of this window; ``SendWindow.parse(w.spec) == w``."""
        by_day: dict[int, tuple[str, ...]] = dict.fromkeys(range(7), ())
        for interval in self.intervals:
            by_day[interval.weekday] += (str(interval),)
        clauses: list[str] = []
        day = 0
        while day < 7:
            ranges = by_day[day]
            last = day
            while last + 1 < 7 and by_day[last + 1] == ranges:
                last += 1
            if ranges:
                days = _WEEKDAYS[day] if day == last else f"{_WEEKDAYS[day]}-{_WEEKDAYS[last]}"
                clauses.append(f"{days} {', '.join(ranges)}")
            day = last + 1
        if not self.intervals:
            clauses.append("never")
        if self.excluded_dates:
            clauses.append(
                "except " + ", ".join(d.isoformat() for d in sorted(self.excluded_dates))
            )
        if self.holiday_calendars:
            clauses.append("holidays " + " ".join(self.holiday_calendars))
        if self.zone is SendWindowZone.RECIPIENT:
            clauses.append("in recipient zone")
        return "; ".join(clauses)

    def __str__(self) -> str:
        return self.spec

    def is_closed_on(self, day: date) -> bool:
        """Whether ``day`` (a local date) is excluded or a listed public holiday."""
        if day in self.excluded_dates:
            return True
        return any(day in _holiday_dates(code, day.year) for code in self.holiday_calendars)

    def local_segments(self, day: date) -> list[tuple[int, int]]:
        """The open wall-clock stretches of one local date, in seconds, merged."""
        if self.is_closed_on(day):
            return []
        return list(_weekly_segments(self)[day.weekday()])

    def utc_intervals(self, zone: str, lo: int, hi: int) -> list[Interval]:
        """The open UTC intervals (µs) of this window on ``zone``'s clock within ``[lo, hi)``."""
        clock = _clock(zone)
        return _window_utc(self, clock, lo, hi)


def _weekly_segments(window: SendWindow) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per weekday, the merged open stretches of a day that is not excluded."""
    days: list[tuple[tuple[int, int], ...]] = []
    for weekday in range(7):
        previous = (weekday - 1) % 7
        out: list[tuple[int, int]] = []
        for interval in window.intervals:
            if interval.weekday == weekday:
                out.append((interval.start, 86_400 if interval.crosses_midnight else interval.end))
            elif interval.weekday == previous and interval.crosses_midnight:
                out.append((0, interval.end))
        days.append(tuple(_merge(out)))
    return tuple(days)


def _window_utc(window: SendWindow, clock: _Clock, lo: int, hi: int) -> list[Interval]:
    if lo >= hi:
        return []
    first = clock.local_ordinal(lo) - 1
    last = clock.local_ordinal(hi) + 1
    out: list[Interval] = []
    weekly = _weekly_segments(window)
    closable = bool(window.excluded_dates or window.holiday_calendars)
    for ordinal in range(first, last + 1):
        day = date.fromordinal(ordinal)
        segments = () if closable and window.is_closed_on(day) else weekly[day.weekday()]
        repeated = clock.repeated(ordinal) if segments else None
        for start, end in segments:
            a = clock.to_utc(ordinal, start * _SECOND)
            b = clock.to_utc(ordinal, end * _SECOND)
            if repeated and (start, end) != (0, 86_400):
                # A wall-clock reading that repeats (fall back) counts once, at
                # its first occurrence; a window open all day stays open.
                out.extend(_intersect([(a, b)], [(a, repeated[0]), (repeated[1], b)]))
            elif a < b:
                out.append((a, b))
    return _clip(_merge(out), lo, hi)


# --------------------------------------------------------------------------
# Legal quiet hours
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class QuietHoursRule:
    """One jurisdiction's sending hours for marketing messages.

    The hours are read on the recipient's local clock (every candidate zone of
    the number). All rules that match a number apply together.

    Attributes:
        key: A stable id, ``"US"``, ``"US-FL"``, ``"FR"``.
        region: The ISO 3166-1 country the number must belong to.
        subdivision: A US state code matched through the number's area code
            (libphonenumber's geocoder), or None for the whole country.
        allowed: When messages may go, as a :class:`SendWindow` (its ``zone``
            is ignored: legal hours are always the recipient's).
        summary: The rule in words.
        law: The statute, regulation or code it comes from.
        sources: Where the rule was read (URLs).
        as_of: When the sources were last checked.
        note: Caveats (conflicting sources, exemptions).
    """

    key: str
    region: str
    subdivision: str | None = None
    allowed: SendWindow = attrs.field(converter=_to_window)
    summary: str
    law: str = ""
    sources: tuple[str, ...] = attrs.field(default=(), converter=_to_strings)
    as_of: date
    note: str = ""


#: When the default table was last checked against its sources.
LEGAL_HOURS_AS_OF = date(2026, 3, 1)


def _rule(
    key: str,
    allowed: str,
    summary: str,
    law: str,
    sources: tuple[str, ...],
    note: str = "",
) -> QuietHoursRule:
    region, _, subdivision = key.partition("-")
    return QuietHoursRule(
        key=key,
        region=region,
        subdivision=subdivision or None,
        allowed=allowed,
        summary=summary,
        law=law,
        sources=sources,
        as_of=LEGAL_HOURS_AS_OF,
        note=note,
    )


_DEFAULT_RULES = (
    _rule(
        "US",
        "daily 08:00-21:00",
        "No telephone solicitation before 8 a.m. or after 9 p.m., called party's local time.",
        "47 CFR § 64.1200(c)(1) (TCPA); FTC Telemarketing Sales Rule 16 CFR § 310.4",
        (
            "https://www.nwdebtresolution.com/post/telephone-consumer-protection-act-call-time-restrictions",
            "https://legalclarity.org/how-late-can-a-telemarketer-call-you",
            "https://twilio.com/docs/api/errors/30610",
        ),
        "Twilio rejects non-essential messages outside these hours (error 30610).",
    ),
    _rule(
        "US-FL",
        "daily 08:00-20:00",
        "8 a.m. to 8 p.m. recipient local time.",
        "Fla. Stat. § 501.616(6)(a), amended by SB 1120 (2021)",
        (
            "http://www.lawserver.com/law/state/florida/statutes/florida_statutes_501-616",
            "https://flsenate.gov/Session/Bill/2021/1120/BillText/Filed/HTML",
        ),
    ),
    _rule(
        "US-OK",
        "daily 08:00-20:00",
        "8 a.m. to 8 p.m.; the Oklahoma Telephone Solicitation Act covers SMS.",
        "Oklahoma Telephone Solicitation Act (OTSA), effective Nov 1, 2022",
        (
            "https://www.dinsmore.com/publications/more-states-adding-tougher-telephone-consumer-protection-act-statutes/",
        ),
    ),
    _rule(
        "US-WA",
        "daily 08:00-20:00",
        "Not before 8:00 a.m. or after 8:00 p.m. at the call recipient's local time.",
        "RCW 19.158.040(2), HB 1497 (effective June 9, 2022)",
        ("https://app.leg.wa.gov/RCW/default.aspx?cite=19.158.040",),
    ),
    _rule(
        "US-MD",
        "daily 08:00-20:00",
        "8 a.m. to 8 p.m. for calls and texts.",
        "Maryland Stop the Spam Calls Act of 2023 (effective Jan 1, 2024)",
        (
            "https://www.wmar2news.com/local/law-to-prevent-spam-calls-takes-effect-first-of-the-year",
        ),
    ),
    _rule(
        "US-TX",
        "mon-sat 09:00-21:00; sun 12:00-21:00",
        "Monday-Saturday 9 a.m. to 9 p.m.; Sunday noon to 9 p.m.",
        "Tex. Bus. & Com. Code § 301.051; SB 140 (effective Sept 1, 2025) includes texts",
        (
            "https://www.attentive.com/blog/sms-compliance-texas-amendments",
            "https://help.listrak.com/en/articles/12150768-sms-compliance-for-state-level-regulations-in-the-classic-platform",
        ),
    ),
    _rule(
        "US-CT",
        "daily 09:00-20:00",
        "9 a.m. to 8 p.m.",
        "Conn. Gen. Stat. § 42-288a as amended by SB 1058 (effective Oct 1, 2023)",
        (
            "https://usestello.com/compliance",
            "https://support.referrizer.com/en/category/text-campaigns/article/tcpa-quiet-hours-and-state-specific-rules-for-text-campaigns",
        ),
    ),
    _rule(
        "US-KY",
        "daily 10:00-21:00",
        "10 a.m. to 9 p.m.",
        "KRS 367.46955(3)",
        ("https://usestello.com/compliance", "https://www.dropcowboy.com/state-compliance"),
        "Vendor compilations citing the statute.",
    ),
    _rule(
        "US-MI",
        "daily 09:00-21:00",
        "9 a.m. to 9 p.m.",
        "MCL 750.540e",
        ("https://www.dropcowboy.com/state-compliance", "https://usestello.com/compliance"),
        "Vendor compilations citing the statute.",
    ),
    _rule(
        "US-MN",
        "daily 09:00-21:00",
        "9 a.m. to 9 p.m.",
        "Minn. Stat. § 325E.30",
        ("https://www.dropcowboy.com/state-compliance", "https://usestello.com/compliance"),
        "Vendor compilations citing the statute.",
    ),
    _rule(
        "US-CA",
        "daily 09:00-21:00",
        "9 a.m. to 9 p.m.",
        "Cal. Pub. Util. Code § 2872(c)",
        ("https://usestello.com/compliance",),
        "Single vendor source citing the statute.",
    ),
    _rule(
        "US-LA",
        "mon-sat 08:00-20:00; holidays US-LA",
        "8 a.m. to 8 p.m. Monday-Saturday; no Sundays or legal holidays.",
        "Louisiana PSC General Order R-29617",
        ("https://www.dropcowboy.com/state-compliance", "https://dnc.com/holiday-alerts?year=2023"),
        "Legal holidays taken from the holidays package's Louisiana calendar.",
    ),
    _rule(
        "FR",
        "mon-sat 08:00-20:00; holidays FR",
        "Monday-Saturday 8:00 to 20:00; never Sundays or French public holidays.",
        "af2m Business Messaging charter (operators' binding code); operator practice",
        (
            "https://af2m.org/charte-business-messaging-2026-laf2m-renforce-les-regles-du-jeu",
            "https://help.brevo.com/hc/en-us/articles/11884482521234",
            "https://developers.brevo.com/reference/sendtransacsms",
            "https://clients.txtnation.com/hc/en-us/articles/218719438-France-SMS-Network-Restrictions",
            "https://help.cmtelecom.com/en/text/countries/sending-sms-to-france",
        ),
        "Sources conflict (af2m 2026: 08:00-21:30, Sundays tolerated; Brevo 08:00-22:00 "
        "Mon-Sat; SFR and Bouygues 08:00-20:00 Mon-Sat): the most conservative is used.",
    ),
)

#: Rules read only in vendor compilations, without statute text; not in the
#: default table. Add them with ``LEGAL_HOURS.with_rules(*PROVIDER_REPORTED_RULES)``.
PROVIDER_REPORTED_RULES = (
    _rule(
        "US-NJ",
        "daily 08:00-20:00",
        "8 a.m. to 8 p.m.",
        "",
        (
            "https://support.referrizer.com/en/category/text-campaigns/article/tcpa-quiet-hours-and-state-specific-rules-for-text-campaigns",
        ),
        "Single vendor source.",
    ),
    _rule(
        "US-MA",
        "daily 08:00-20:00",
        "8 a.m. to 8 p.m.",
        "",
        ("https://www.dropcowboy.com/state-compliance", "https://usestello.com/compliance"),
    ),
    _rule(
        "US-MS",
        "mon-sat 08:00-20:00",
        "8 a.m. to 8 p.m.; no Sunday calls.",
        "",
        ("https://www.dropcowboy.com/state-compliance",),
    ),
    _rule(
        "US-AL",
        "mon-sat 08:00-20:00; holidays US-AL",
        "8 a.m. to 8 p.m.; no Sundays or holidays.",
        "",
        ("https://www.dropcowboy.com/state-compliance", "https://usestello.com/compliance"),
    ),
    _rule(
        "US-NV",
        "daily 09:00-20:00",
        "9 a.m. to 8 p.m.",
        "",
        ("https://www.dropcowboy.com/state-compliance",),
    ),
    _rule(
        "US-RI",
        "mon-fri 09:00-18:00; sat-sun 10:00-17:00; holidays US-RI",
        "9 a.m. to 6 p.m. weekdays, 10 a.m. to 5 p.m. weekends; holidays restricted.",
        "",
        (
            "https://support.referrizer.com/en/category/text-campaigns/article/tcpa-quiet-hours-and-state-specific-rules-for-text-campaigns",
        ),
    ),
    _rule(
        "CA",
        "daily 08:00-20:00",
        "Quiet hours 20:00 to 08:00 every day.",
        "",
        (
            "https://docs.bird.com/applications/channels/channels/supported-channels/sms/concepts/choose-the-right-sender-availability-and-restrictions-by-country/sms-country-information-guide-north-america",
        ),
        "Provider-documented (Bird), not a statute.",
    ),
)


def _check_rules(
    instance: LegalHoursTable, attribute: Any, value: tuple[QuietHoursRule, ...]
) -> None:
    keys = [rule.key for rule in value]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ScheduleError(f"legal hours table has duplicate keys {duplicates}", value=duplicates)


@attrs.frozen
class LegalHoursTable:
    """The legal sending hours the scheduler enforces, as data.

    Immutable: :meth:`with_rules` and :meth:`without` return new tables, so a
    campaign can extend or override the default :data:`LEGAL_HOURS`.

    Attributes:
        rules: The rules, each with its sources and as-of date.
    """

    rules: tuple[QuietHoursRule, ...] = attrs.field(converter=_to_rules, validator=_check_rules)

    def with_rules(self, *rules: QuietHoursRule) -> LegalHoursTable:
        """A table with ``rules`` added; a rule replaces one with the same key."""
        keys = {rule.key for rule in rules}
        return LegalHoursTable((*(r for r in self.rules if r.key not in keys), *rules))

    def without(self, *keys: str) -> LegalHoursTable:
        """A table without the rules whose keys are given (unknown keys are an error)."""
        missing = set(keys) - {rule.key for rule in self.rules}
        if missing:
            raise ScheduleError(f"no legal hours rule with keys {sorted(missing)}", value=keys)
        return LegalHoursTable(r for r in self.rules if r.key not in keys)

    def __getitem__(self, key: str) -> QuietHoursRule:
        for rule in self.rules:
            if rule.key == key:
                return rule
        raise KeyError(key)

    def rules_for(
        self, region: str | None, subdivision: str | None = None
    ) -> tuple[QuietHoursRule, ...]:
        """Every rule that applies to a number of ``region`` (and US state ``subdivision``)."""
        return tuple(
            rule
            for rule in self.rules
            if rule.region == region and rule.subdivision in (None, subdivision)
        )


#: The default table: US federal, the US states whose statutes are cited, France.
LEGAL_HOURS = LegalHoursTable(_DEFAULT_RULES)


# --------------------------------------------------------------------------
# Numbers: region, US state, geographic or not
# --------------------------------------------------------------------------

_US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington State": "WA",
    "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
_STATE_CODES = frozenset(_US_STATES.values())

_NON_GEOGRAPHIC_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
        phonenumbers.PhoneNumberType.PAGER,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.VOICEMAIL,
    }
)


@attrs.frozen
class _NumberFacts:
    region: str | None
    state: str | None
    geographic: bool
    valid: bool


@functools.lru_cache(maxsize=65_536)
def _number_facts(e164: str) -> _NumberFacts:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return _NumberFacts(None, None, False, False)
    valid = phonenumbers.is_valid_number(number)
    region = phonenumbers.region_code_for_number(number)
    region = None if region in (None, "ZZ", "001") else region
    kind = phonenumbers.number_type(number)
    geographic = valid and region is not None and kind not in _NON_GEOGRAPHIC_TYPES
    state = None
    if region == "US" and geographic:
        # The geocoder's data takes about half a second to load: only a US
        # number's state needs it, so it is imported on first use, not with
        # the package.
        from phonenumbers import geocoder

        state = _state_from_description(geocoder.description_for_valid_number(number, "en"))
    return _NumberFacts(region, state, geographic, valid)


def _state_from_description(text: str) -> str | None:
    # libphonenumber's English geocoder names a US area code either by state
    # ("Florida", "Washington State") or by city and postal code ("Miami, FL").
    if text in _US_STATES:
        return _US_STATES[text]
    _, comma, code = text.rpartition(", ")
    if comma and code in _STATE_CODES:
        return code
    return None


def us_state_of(e164: str) -> str | None:
    """The US state (postal code) libphonenumber's geocoder gives for a number, if any.

    It is the state of the area code (or exchange), not where the person is:
    ported and moved numbers keep their old area code.
    """
    return _number_facts(e164).state


# --------------------------------------------------------------------------
# Recipient zone
# --------------------------------------------------------------------------


class _PhoneLike(Protocol):
    @property
    def e164(self) -> str: ...

    @property
    def time_zones(self) -> tuple[str, ...]: ...


class Addressee(Protocol):
    """Anything with a ``phone`` (E.164 and candidate zones) and an optional ``time_zone``.

    :class:`~smscampaign.Contact` and :class:`~smscampaign.Recipient` qualify.
    """

    @property
    def phone(self) -> _PhoneLike: ...

    @property
    def time_zone(self) -> str | None: ...


class ZoneReason(StrEnum):
    """Why a recipient's messages are timed on the zone(s) chosen."""

    EXPLICIT = "explicit"
    NUMBER = "number"
    NON_GEOGRAPHIC = "non_geographic"
    UNKNOWN = "unknown"
    EMPTY_INTERSECTION = "empty_intersection"
    CAMPAIGN = "campaign"


def _to_zone_names(value: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({_normalize_zone(z, "zones") for z in value}))


@attrs.frozen
class ZoneGroup:
    """A zone signature: recipients timed alike, planned together.

    Attributes:
        zones: The zones whose clocks all must allow a send (sorted names).
        rules: The keys of the legal rules that apply (``("US", "US-FL")``).
    """

    zones: tuple[str, ...] = attrs.field(converter=_to_zone_names)
    rules: tuple[str, ...] = attrs.field(default=(), converter=_sorted_keys)

    @zones.validator
    def _check_zones(self, attribute: Any, value: tuple[str, ...]) -> None:
        if not value:
            raise ScheduleError("a zone group needs at least one zone", value=value)

    def __str__(self) -> str:
        rules = f" [{', '.join(self.rules)}]" if self.rules else ""
        return " & ".join(self.zones) + rules


@attrs.frozen
class ZoneChoice:
    """Which zone(s) a recipient is timed on, and why.

    Attributes:
        group: The zones and legal rules used.
        reason: Why these zones.
        candidates: The zones libphonenumber gave for the number (may be more
            than ``group.zones`` when it fell back to the campaign zone).
        region: The number's country, if known.
        subdivision: The US state of its area code, if known.
    """

    group: ZoneGroup
    reason: ZoneReason
    candidates: tuple[str, ...] = ()
    region: str | None = None
    subdivision: str | None = None

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones used."""
        return self.group.zones

    def __str__(self) -> str:
        return f"{', '.join(self.zones)} ({self.reason.value})"


# --------------------------------------------------------------------------
# Throttle
# --------------------------------------------------------------------------

_PERIODS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86_400, "day": 86_400, "days": 86_400,
}  # fmt: skip
_PERIOD_NAMES = {1: "s", 60: "min", 3600: "h", 86_400: "day"}


def _positive(instance: Any, attribute: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ScheduleError(
            f"{attribute.name} must be a positive integer, got {value!r}", value=value
        )


@attrs.frozen(order=True)
class RateLimit:
    """At most ``count`` messages per ``period`` seconds (1, 60, 3600 or 86400)."""

    count: int = attrs.field(validator=_positive)
    period: int = attrs.field(validator=attrs.validators.in_(tuple(_PERIOD_NAMES)))

    def __str__(self) -> str:
        return f"{self.count}/{_PERIOD_NAMES[self.period]}"


@attrs.frozen
class Throttle:
    """How fast one campaign may send: a pace and a daily cap, shared by all recipients.

    Per-second, per-minute and per-hour limits become one even pace: message
    ``k`` goes no sooner than ``spacing`` after message ``k-1``, with
    ``spacing`` the largest of ``period / count`` (rounded up to a whole
    microsecond), so no sliding interval of any limit's length ever holds
    more than its count. A per-day limit caps the messages of each calendar
    day of the campaign's zone. A sender's carrier rate (e.g. 10DLC MPS) is
    the usual per-second figure.

    Attributes:
        limits: The limits, sorted. Empty means unlimited.
    """

    limits: tuple[RateLimit, ...] = attrs.field(default=(), converter=_sorted_limits)

    @classmethod
    def parse(cls, spec: str) -> Throttle:
        """Read ``"10/s; 5000/day"`` (units s, min, h, day; ``""`` is unlimited).

        Raises:
            ScheduleError: The text cannot be read.
        """
        if not isinstance(spec, str):
            raise ScheduleError(f"a throttle spec must be text, got {spec!r}", value=spec)
        limits = []
        for raw in re.split(r"[;,]", spec):
            part = raw.strip().lower()
            if not part:
                continue
            match = re.fullmatch(r"(\d+)\s*(?:/|per\s+)\s*([a-z]+)", part)
            if not match or match[2] not in _PERIODS or int(match[1]) < 1:
                raise ScheduleError(
                    f"throttle {spec!r}: {raw.strip()!r} is not a limit like 10/s or 5000/day",
                    value=spec,
                )
            limits.append(RateLimit(int(match[1]), _PERIODS[match[2]]))
        return cls(limits)

    @property
    def spec(self) -> str:
        """The canonical text; ``Throttle.parse(t.spec) == t``."""
        return "; ".join(str(limit) for limit in self.limits)

    def __str__(self) -> str:
        return self.spec or "unlimited"

    @property
    def spacing(self) -> timedelta:
        """The least time between two messages (zero when only a daily cap is set)."""
        return timedelta(microseconds=self._spacing_us)

    @property
    def _spacing_us(self) -> int:
        return max(
            (
                -(-limit.period * _SECOND // limit.count)
                for limit in self.limits
                if limit.period < 86_400
            ),
            default=0,
        )

    @property
    def daily_cap(self) -> int | None:
        """The most messages per campaign-zone calendar day, or None."""
        return min((limit.count for limit in self.limits if limit.period == 86_400), default=None)


# --------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------


DEFAULT_RETRY_POLICY = RetryPolicy()


# --------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------


class UnreachedReason(StrEnum):
    """Why a send time or a part of a plan could not be found."""

    CAMPAIGN_ENDED = "campaign_ended"
    NO_OPEN_WINDOW = "no_open_window"
    RETRIES_EXHAUSTED = "retries_exhausted"
    RETRY_WINDOW_PASSED = "retry_window_passed"


@attrs.frozen
class SendTime:
    """The answer of :meth:`Schedule.next_send_time`.

    Attributes:
        at: The instant (UTC), or None when there is none.
        reason: Why there is none (None when ``at`` is set).
        zone: The zone choice it was computed with.
        window_closes: The close of the open window ``at`` lies in.
    """

    at: datetime | None
    reason: UnreachedReason | None
    zone: ZoneChoice
    window_closes: datetime | None = None

    def __bool__(self) -> bool:
        return self.at is not None


@attrs.frozen
class PlanSlot:
    """A run of messages to one zone group at the throttle's even pace.

    Messages go at ``start``, ``start + spacing``, ... ``end`` (inclusive):
    ``count`` of them, all inside one open window and one campaign day.

    Attributes:
        group: The zone group.
        start: The first message's instant (UTC).
        end: The last message's instant (UTC).
        count: How many messages.
    """

    group: ZoneGroup
    start: datetime
    end: datetime
    count: int


@attrs.frozen
class DayTotal:
    """One calendar day of the campaign's zone in a plan.

    Attributes:
        day: The date in the campaign's zone.
        sent: Messages planned that day.
        carried_over: Messages still waiting at the end of the day.
    """

    day: date
    sent: int
    carried_over: int


@attrs.frozen
class GroupTotal:
    """One zone group's share of a plan."""

    group: ZoneGroup
    requested: int
    sent: int
    completion: datetime | None

    @property
    def unreached(self) -> int:
        """Messages of this group that cannot go before the end."""
        return self.requested - self.sent


@attrs.frozen
class Plan:
    """When a campaign's messages will go.

    Attributes:
        start: The plan's first instant.
        end: The campaign's end, or the search horizon when it has none.
        requested: How many messages were asked for.
        sent: How many fit before ``end`` (``min(requested, capacity)``).
        slots: Runs of messages, in time order.
        days: Per-day totals (campaign zone), from the start day to the
            last day with a message (or the end).
        groups: Per-group totals.
        spacing: The throttle's pace.
        unreached_reason: Why ``unreached`` is not zero, if it is not.
    """

    start: datetime
    end: datetime
    requested: int
    sent: int
    slots: tuple[PlanSlot, ...]
    days: tuple[DayTotal, ...]
    groups: tuple[GroupTotal, ...]
    spacing: timedelta
    unreached_reason: UnreachedReason | None

    @property
    def unreached(self) -> int:
        """Messages that cannot go before the campaign's end."""
        return self.requested - self.sent

    @property
    def completion(self) -> datetime | None:
        """The last message's instant when every message fits, else None."""
        return self.last_send if self.unreached == 0 else None

    @property
    def last_send(self) -> datetime | None:
        """The last planned message's instant."""
        return self.slots[-1].end if self.slots else None

    @property
    def rolled_over(self) -> int:
        """Messages sent on a later day than the first day with any message."""
        first = next((d.sent for d in self.days if d.sent), 0)
        return self.sent - first

    def progress(self, at: datetime) -> tuple[int, int]:
        """``(sent so far, requested)`` at an instant, like "7/11"."""
        moment = _to_us(at, "at")
        spacing = self.spacing // _US
        done = 0
        for slot in self.slots:
            first = _to_us(slot.start, "start")
            if first > moment:
                break
            if spacing == 0:
                done += slot.count
            else:
                done += min(slot.count, (moment - first) // spacing + 1)
        return done, self.requested

    def send_times(self) -> Iterator[tuple[datetime, ZoneGroup]]:
        """Every message's instant and group, expanded from the slots (slow; for tests)."""
        for slot in self.slots:
            for k in range(slot.count):
                yield slot.start + k * self.spacing, slot.group

    def render(self, zone: Any = "UTC", *, max_slots: int = 12) -> str:
        """A plain-text report: totals, days and the first slots, in ``zone``."""
        tz = get_zone(_normalize_zone(zone))
        lines = [
            f"requested {self.requested}, sent {self.sent}, unreached {self.unreached}"
            + (f" ({self.unreached_reason.value})" if self.unreached_reason else ""),
            f"rolled over to later days {self.rolled_over}; completion "
            + (self.completion.astimezone(tz).isoformat() if self.completion else "-"),
            "day         sent  carried over",
        ]
        lines += [f"{d.day}  {d.sent:5d}  {d.carried_over:5d}" for d in self.days]
        lines.append("first slots:")
        for slot in self.slots[:max_slots]:
            lines.append(
                f"  {slot.start.astimezone(tz):%a %Y-%m-%d %H:%M:%S} .. "
                f"{slot.end.astimezone(tz):%H:%M:%S}  {slot.count:5d}  {slot.group}"
            )
        if len(self.slots) > max_slots:
            lines.append(f"  ... {len(self.slots) - max_slots} more")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# The schedule
# --------------------------------------------------------------------------

PlanInput = Union[int, Mapping[ZoneGroup, int], Iterable[Addressee]]  # noqa: UP007 (3.10 alias)


def _throttle_converter(value: Throttle | str) -> Throttle:
    return Throttle.parse(value) if isinstance(value, str) else value


@attrs.frozen(kw_only=True)
class Schedule:
    """Everything that decides when a campaign's messages may go.

    Attributes:
        time_zone: The campaign's zone (IANA name; pytz, zoneinfo and dateutil
            zones are accepted and normalized).
        window: The campaign's send window (``""``: no restriction beyond the law).
        throttle: The campaign's throttle (``""``: unlimited).
        starts_at: No message before this instant.
        ends_at: No message at or after this instant.
        transactional: Lift legal quiet hours. Only for non-marketing traffic
            (delivery notices, one-time codes, user-initiated replies) -- the
            rules in :data:`LEGAL_HOURS` cover marketing and solicitation.
        legal_hours: The table of legal hours to enforce.
        retry: The retry policy for temporary failures.
    """

    time_zone: str = attrs.field(converter=_normalize_zone)
    window: SendWindow = attrs.field(factory=SendWindow.always, converter=_to_window)
    throttle: Throttle = attrs.field(factory=Throttle, converter=_throttle_converter)
    starts_at: datetime | None = attrs.field(default=None, converter=_aware_or_none)
    ends_at: datetime | None = attrs.field(default=None, converter=_aware_or_none)
    transactional: bool = False
    legal_hours: LegalHoursTable = LEGAL_HOURS
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    _cache: dict[Any, Any] = attrs.field(factory=dict, init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ScheduleError(
                f"ends_at {self.ends_at.isoformat()} is not after starts_at "
                f"{self.starts_at.isoformat()}",
                value=self.ends_at,
            )

    @classmethod
    def from_spec(
        cls,
        *,
        time_zone: Any,
        window: str = "",
        throttle: str = "",
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        transactional: bool = False,
        legal_hours: LegalHoursTable = LEGAL_HOURS,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
    ) -> Schedule:
        """A schedule from a campaign's fields (window and throttle as text).

        Raises:
            ScheduleError: A field is malformed; the message names it.
            NaiveDatetimeError: ``starts_at`` or ``ends_at`` has no zone.
        """
        return cls(
            time_zone=time_zone,
            window=window,
            throttle=throttle,
            starts_at=starts_at,
            ends_at=ends_at,
            transactional=transactional,
            legal_hours=legal_hours,
            retry=retry,
        )

    # -- zones -------------------------------------------------------------

    def group_for(
        self, zones: Iterable[Any] | None = None, *, region: str | None = None,
        subdivision: str | None = None,
    ) -> ZoneGroup:  # fmt: skip
        """A zone group for numbers of ``region`` (and US state) on ``zones``.

        ``zones`` defaults to the campaign's zone.
        """
        rules = () if self.transactional else self.legal_hours.rules_for(region, subdivision)
        return ZoneGroup(zones or (self.time_zone,), tuple(r.key for r in rules))

    def zone_choice(self, recipient: Addressee, at: datetime | None = None) -> ZoneChoice:
        """Which zones time ``recipient``'s messages, and why.

        The explicit zone wins; else every zone libphonenumber gives for the
        number, intersected; else the campaign zone (non-geographic or unknown
        number, or candidate zones that are never open together in the 14 days
        from ``at``, default the schedule's start).
        """
        moment = at if at is not None else self.starts_at
        if moment is None:
            raise ScheduleError("zone_choice needs `at` when the schedule has no starts_at")
        lo = _to_us(moment, "at")
        facts = _number_facts(recipient.phone.e164)
        rules = () if self.transactional else self.legal_hours.rules_for(facts.region, facts.state)
        keys = tuple(rule.key for rule in rules)
        candidates = tuple(
            z for z in (recipient.phone.time_zones or ()) if z and z != "Etc/Unknown"
        )

        def choice(zones: tuple[str, ...], reason: ZoneReason) -> ZoneChoice:
            return ZoneChoice(ZoneGroup(zones, keys), reason, candidates, facts.region, facts.state)

        explicit = getattr(recipient, "time_zone", None)
        if explicit:
            return choice((_normalize_zone(explicit, "recipient.time_zone"),), ZoneReason.EXPLICIT)
        if not facts.valid or not candidates:
            return choice((self.time_zone,), ZoneReason.UNKNOWN)
        if not facts.geographic:
            return choice((self.time_zone,), ZoneReason.NON_GEOGRAPHIC)
        zones = _to_zone_names(candidates)
        if len(zones) > 1 and self._empty_intersection(zones, keys, lo // _DAY):
            return choice((self.time_zone,), ZoneReason.EMPTY_INTERSECTION)
        return choice(zones, ZoneReason.NUMBER)

    def _empty_intersection(self, zones: tuple[str, ...], keys: tuple[str, ...], day: int) -> bool:
        cache_key = ("empty", zones, keys, day)
        if cache_key not in self._cache:
            lo = day * _DAY
            hi = lo + _INTERSECTION_PROBE_DAYS * _DAY
            alone = [self._raw_intervals(ZoneGroup((z,), keys), lo, hi) for z in zones]
            together = self._raw_intervals(ZoneGroup(zones, keys), lo, hi)
            self._cache[cache_key] = not together and all(alone)
        return bool(self._cache[cache_key])

    # -- intervals ---------------------------------------------------------

    def _window_utc(self, window: SendWindow, zone: str, lo: int, hi: int) -> list[Interval]:
        # Zone groups share zones and rules; compute each (window, zone) once per span.
        key = ("window", window, zone, lo, hi)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _window_utc(window, _clock(zone), lo, hi)
        return list(found)

    def _raw_intervals(self, group: ZoneGroup, lo: int, hi: int) -> list[Interval]:
        """Open intervals of ``group`` in ``[lo, hi)``, ignoring starts_at/ends_at."""
        if self.window.zone is SendWindowZone.CAMPAIGN:
            out = self._window_utc(self.window, self.time_zone, lo, hi)
        else:
            out = [(lo, hi)]
            for zone in group.zones:
                out = _intersect(out, self._window_utc(self.window, zone, lo, hi))
        for key in group.rules:
            if self.transactional:
                break
            try:
                rule = self.legal_hours[key]
            except KeyError:
                raise ScheduleError(
                    f"zone group names legal rule {key!r}, which the table does not have",
                    value=key,
                ) from None
            for zone in group.zones:
                if not out:
                    return out
                out = _intersect(out, self._window_utc(rule.allowed, zone, lo, hi))
        return out

    def _bounds(self, lo: int, hi: int) -> tuple[int, int]:
        if self.starts_at is not None:
            lo = max(lo, _to_us(self.starts_at, "starts_at"))
        if self.ends_at is not None:
            hi = min(hi, _to_us(self.ends_at, "ends_at"))
        return lo, hi

    def _intervals(self, group: ZoneGroup, lo: int, hi: int) -> list[Interval]:
        lo, hi = self._bounds(lo, hi)
        if lo >= hi:
            return []
        return self._raw_intervals(group, lo, hi)

    def open_intervals(
        self, group: ZoneGroup, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The instants ``group`` may be messaged in ``[start, end)``, as UTC intervals."""
        lo, hi = _to_us(start, "start"), _to_us(end, "end")
        return [(_from_us(a), _from_us(b)) for a, b in self._intervals(group, lo, hi)]

    def _open_interval_at_or_after(self, group: ZoneGroup, moment: int) -> Interval | None:
        lo = moment
        _, hard_end = self._bounds(moment, moment + _SEARCH_DAYS * _DAY)
        step = 8 * _DAY
        while lo < hard_end:
            hi = min(lo + step, hard_end)
            # Look a day past the chunk so an interval open at `hi` is not cut short.
            intervals = self._intervals(group, moment, min(hi + _DAY, hard_end))
            for a, b in intervals:
                if b > moment and a < hi:
                    return max(a, moment), b
            lo = hi
            step *= 2
        return None

    # -- questions ----------------------------------------------------------

    def next_send_time(
        self, recipient: Addressee, after: datetime, *, now: datetime | None = None
    ) -> SendTime:
        """The first instant at or after ``after`` (and ``now``) the recipient may get a message.

        Throttling is not considered here (the plan paces messages). A step
        whose due time has passed is given ``now`` too: it goes at the next
        open window, never "now" outside hours, never past the campaign's end.

        Raises:
            NaiveDatetimeError: ``after`` or ``now`` has no zone.
        """
        moment = _to_us(after, "after")
        if now is not None:
            moment = max(moment, _to_us(now, "now"))
        choice = self.zone_choice(recipient, _from_us(moment))
        return self._next_for_group(choice, moment)

    def _next_for_group(self, choice: ZoneChoice, moment: int) -> SendTime:
        if self.ends_at is not None and moment >= _to_us(self.ends_at, "ends_at"):
            return SendTime(None, UnreachedReason.CAMPAIGN_ENDED, choice)
        found = self._open_interval_at_or_after(choice.group, moment)
        if found is None:
            reason = (
                UnreachedReason.CAMPAIGN_ENDED
                if self.ends_at is not None
                and _to_us(self.ends_at, "ends_at") <= moment + _SEARCH_DAYS * _DAY
                else UnreachedReason.NO_OPEN_WINDOW
            )
            return SendTime(None, reason, choice)
        return SendTime(_from_us(found[0]), None, choice, _from_us(found[1]))

    def delivery_deadline(self, recipient: Addressee, sent_at: datetime) -> datetime | None:
        """The latest instant a message sent at ``sent_at`` may still be delivered.

        The close of the open window ``sent_at`` lies in (or the campaign's
        end, if sooner): give providers ``deadline - sent_at`` as the validity
        period and a backlog can never deliver at night. None when ``sent_at``
        is outside every open window.
        """
        moment = _to_us(sent_at, "sent_at")
        answer = self.next_send_time(recipient, sent_at)
        if answer.at is None or _to_us(answer.at, "at") != moment:
            return None
        return answer.window_closes

    def validity_period(
        self, recipient: Addressee, sent_at: datetime, *, maximum: timedelta = timedelta(hours=10)
    ) -> timedelta | None:
        """``delivery_deadline - sent_at``, capped at ``maximum`` (Twilio allows 10 h)."""
        deadline = self.delivery_deadline(recipient, sent_at)
        return None if deadline is None else min(deadline - sent_at, maximum)

    def retry_time(
        self,
        recipient: Addressee,
        failed_at: datetime,
        *,
        attempt: int = 1,
        first_failed_at: datetime | None = None,
    ) -> SendTime:
        """When retry ``attempt`` (1-based) of a temporarily failed message may go.

        Due ``retry.delay_before(attempt)`` after ``failed_at``, moved into the next
        open window; none when the attempt exceeds ``retry.max_retries`` or would
        go past ``retry.within`` after ``first_failed_at`` (default
        ``failed_at``) or past the campaign's end.
        """
        first = first_failed_at if first_failed_at is not None else failed_at
        limit = _to_us(first, "first_failed_at") + self.retry.within // _US
        due = _to_us(failed_at, "failed_at") + self.retry.delay_before(max(attempt, 1)) // _US
        choice = self.zone_choice(recipient, _from_us(due))
        if attempt > self.retry.max_retries:
            return SendTime(None, UnreachedReason.RETRIES_EXHAUSTED, choice)
        answer = self._next_for_group(choice, due)
        if answer.at is not None and _to_us(answer.at, "at") >= limit:
            return SendTime(None, UnreachedReason.RETRY_WINDOW_PASSED, choice)
        return answer

    def retry_schedule(self, recipient: Addressee, failed_at: datetime) -> tuple[datetime, ...]:
        """The retry instants if every retry fails at once (at most ``retry.max_retries``)."""
        out: list[datetime] = []
        last = failed_at
        for attempt in range(1, self.retry.max_retries + 1):
            answer = self.retry_time(recipient, last, attempt=attempt, first_failed_at=failed_at)
            if answer.at is None:
                break
            out.append(answer.at)
            last = answer.at
        return tuple(out)

    # -- planning -------------------------------------------------------------

    def groups(
        self, recipients: Iterable[Addressee], at: datetime | None = None
    ) -> dict[ZoneGroup, int]:
        """Count recipients by zone group, in order of first appearance."""
        counts: dict[ZoneGroup, int] = {}
        for recipient in recipients:
            group = self.zone_choice(recipient, at).group
            counts[group] = counts.get(group, 0) + 1
        return counts

    def _plan_groups(self, recipients: PlanInput, start: datetime) -> list[tuple[ZoneGroup, int]]:
        if isinstance(recipients, bool):
            raise ScheduleError(f"cannot plan {recipients!r} recipients", value=recipients)
        if isinstance(recipients, int):
            if recipients < 0:
                raise ScheduleError(f"cannot plan {recipients} recipients", value=recipients)
            return [(self.group_for(), recipients)]
        if isinstance(recipients, Mapping):
            pairs = list(recipients.items())
        else:
            pairs = list(self.groups(recipients, start).items())
        for group, count in pairs:
            if not isinstance(group, ZoneGroup) or not isinstance(count, int) or count < 0:
                raise ScheduleError(f"bad plan entry {group!r}: {count!r}", value=(group, count))
        return pairs

    def _plan_start(self, start: datetime | None) -> int:
        if start is None:
            if self.starts_at is None:
                raise ScheduleError("plan needs `start` when the schedule has no starts_at")
            return _to_us(self.starts_at, "starts_at")
        return _to_us(start, "start")

    def plan(self, recipients: PlanInput, *, start: datetime | None = None) -> Plan:
        """When ``recipients`` will be messaged, one message each, from ``start``.

        ``recipients`` is a count (timed on the campaign zone with no legal
        rule; use a mapping and :meth:`group_for` to name a region), a mapping
        of :class:`ZoneGroup` to counts (planned in its order), or recipients
        (grouped with :meth:`zone_choice` at ``start``).

        Allocation, shared by :func:`simulate`: messages go in time order at
        the throttle's pace; at each instant the message goes to the open
        group, with messages left, whose current window opened first (ties:
        the group listed first); the daily cap counts campaign-zone days.
        Without ``ends_at`` the plan looks up to 400 days ahead.
        """
        lo = self._plan_start(start)
        pairs = self._plan_groups(recipients, _from_us(lo))
        return _sweep(self, pairs, lo)


def _day_bounds(schedule: Schedule, lo: int, hi: int) -> list[int]:
    """Campaign-zone midnights (as instants) from the day containing ``lo`` past ``hi``."""
    clock = _clock(schedule.time_zone)
    first = clock.local_ordinal(lo)
    out = []
    ordinal = first
    while True:
        instant = clock.to_utc(ordinal, 0)
        out.append(instant)
        if instant > hi:
            return out
        ordinal += 1


def _horizons(schedule: Schedule, lo: int) -> Iterator[tuple[int, bool]]:
    """Horizons to try: the campaign end, or growing windows up to the search limit."""
    if schedule.ends_at is not None:
        yield _to_us(schedule.ends_at, "ends_at"), True
        return
    limit = lo + _SEARCH_DAYS * _DAY
    span = 16 * _DAY
    while lo + span < limit:
        yield lo + span, False
        span *= 4
    yield limit, True


def _sweep(schedule: Schedule, pairs: list[tuple[ZoneGroup, int]], lo: int) -> Plan:
    for hi, final in _horizons(schedule, lo):
        result = _sweep_until(schedule, pairs, lo, hi)
        if final or result.unreached == 0:
            return result
    raise AssertionError("unreachable")  # pragma: no cover


def _sweep_until(schedule: Schedule, pairs: list[tuple[ZoneGroup, int]], lo: int, hi: int) -> Plan:
    spacing = schedule.throttle._spacing_us
    cap = schedule.throttle.daily_cap
    remaining = [count for _, count in pairs]
    requested = sum(remaining)
    # Events: (instant, kind, group index, interval start). Kind 0 closes a
    # group's interval, 1 is a campaign-zone midnight, 2 opens an interval;
    # at one instant closes come first, so a touching pair does not overlap.
    events: list[tuple[int, int, int, int]] = []
    interval_cache: dict[ZoneGroup, list[Interval]] = {}
    for index, (group, count) in enumerate(pairs):
        if count == 0:
            continue
        if group not in interval_cache:
            interval_cache[group] = schedule._intervals(group, lo, hi)
        for a, b in interval_cache[group]:
            events.append((a, 2, index, a))
            events.append((b, 0, index, a))
    days = _day_bounds(schedule, lo, hi)
    events.extend((d, 1, -1, 0) for d in days[1:])
    events.sort()

    day_index = 0
    day_sent = [0]
    unlimited = requested
    day_left = cap if cap is not None else unlimited
    active: list[tuple[int, int]] = []  # open groups in allocation order: (opened at, index)
    next_allowed = lo
    # Slots as [group index, first, last, count, day index]; a run continues
    # while the same group gets the very next message on the same day.
    slots: list[list[int]] = []
    total_left = requested
    position = 0
    n_events = len(events)
    while position < n_events and total_left:
        instant = events[position][0]
        while position < n_events and events[position][0] == instant:
            _, kind, index, opened = events[position]
            if kind == 2:
                if remaining[index]:
                    bisect.insort(active, (opened, index))
            elif kind == 0:
                entry = (opened, index)
                at = bisect.bisect_left(active, entry)
                if at < len(active) and active[at] == entry:
                    del active[at]
            else:
                day_index += 1
                day_sent.append(0)
                day_left = cap if cap is not None else unlimited
            position += 1
        if not active or not day_left:
            continue
        segment_end = events[position][0] if position < n_events else hi
        moment = max(instant, next_allowed)
        if moment >= segment_end:
            continue
        room = -(-(segment_end - moment) // spacing) if spacing else total_left
        budget = min(room, day_left, sum(remaining[i] for _, i in active))
        day_left -= budget
        total_left -= budget
        day_sent[day_index] += budget
        while budget:
            index = active[0][1]
            take = min(budget, remaining[index])
            last = moment + (take - 1) * spacing
            run = slots[-1] if slots else None
            if run and run[0] == index and run[2] + spacing == moment and run[4] == day_index:
                run[2] = last
                run[3] += take
            else:
                slots.append([index, moment, last, take, day_index])
            remaining[index] -= take
            budget -= take
            moment = last + spacing
            if not remaining[index]:
                del active[0]
        next_allowed = moment
    return _finish(schedule, pairs, lo, hi, spacing, remaining, slots, day_sent, days)


def _finish(
    schedule: Schedule,
    pairs: list[tuple[ZoneGroup, int]],
    lo: int,
    hi: int,
    spacing: int,
    remaining: list[int],
    slots: list[list[int]],
    day_sent: list[int],
    days: list[int],
) -> Plan:
    requested = sum(count for _, count in pairs)
    in_horizon = bisect.bisect_left(days, hi)  # campaign days that start before `hi`
    day_sent = (day_sent + [0] * in_horizon)[:in_horizon]
    sent = requested - sum(remaining)
    first_day = _clock(schedule.time_zone).local_ordinal(lo)
    last_day = len(day_sent) - 1
    if sent == requested:
        while last_day > 0 and day_sent[last_day] == 0:
            last_day -= 1
    totals = []
    left = requested
    for offset in range(last_day + 1):
        left -= day_sent[offset]
        totals.append(DayTotal(date.fromordinal(first_day + offset), day_sent[offset], left))
    group_done: list[int | None] = [None] * len(pairs)
    for index, _, last, _, _ in slots:
        group_done[index] = last
    groups = tuple(
        GroupTotal(
            group,
            count,
            count - remaining[i],
            _from_us(done) if done is not None and remaining[i] == 0 and count else None,
        )
        for i, ((group, count), done) in enumerate(zip(pairs, group_done, strict=True))
    )
    reason = None
    if sent < requested:
        reason = (
            UnreachedReason.CAMPAIGN_ENDED
            if schedule.ends_at is not None
            else UnreachedReason.NO_OPEN_WINDOW
        )
    return Plan(
        start=_from_us(lo),
        end=_from_us(hi),
        requested=requested,
        sent=sent,
        slots=tuple(
            PlanSlot(pairs[index][0], _from_us(first), _from_us(last), count)
            for index, first, last, count, _ in slots
        ),
        days=tuple(totals),
        groups=groups,
        spacing=timedelta(microseconds=spacing),
        unreached_reason=reason,
    )


def simulate(schedule: Schedule, recipients: PlanInput, *, start: datetime | None = None) -> Plan:
    """The same plan as :meth:`Schedule.plan`, computed one message at a time.

    A reference implementation for tests and the benchmark: for each message
    it finds the next instant allowed by the pace, the daily cap and some
    open group, and gives it to the group whose window opened first. Its cost
    grows with the number of messages.
    """
    lo = schedule._plan_start(start)
    pairs = schedule._plan_groups(recipients, _from_us(lo))
    for hi, final in _horizons(schedule, lo):
        result = _simulate_until(schedule, pairs, lo, hi)
        if final or result.unreached == 0:
            return result
    raise AssertionError("unreachable")  # pragma: no cover


def _simulate_until(
    schedule: Schedule, pairs: list[tuple[ZoneGroup, int]], lo: int, hi: int
) -> Plan:
    spacing = schedule.throttle._spacing_us
    cap = schedule.throttle.daily_cap
    remaining = [count for _, count in pairs]
    intervals = [schedule._intervals(group, lo, hi) for group, _ in pairs]
    starts = [[a for a, _ in ivs] for ivs in intervals]
    days = _day_bounds(schedule, lo, hi)
    day_sent = [0] * len(days)
    slots: list[list[int]] = []
    t = lo
    while sum(remaining) and t < hi:
        day = bisect.bisect_right(days, t) - 1
        if cap is not None and day_sent[day] >= cap:
            t = max(t, days[day + 1])
            continue
        best: tuple[int, int] | None = None
        soonest = hi
        for index, ivs in enumerate(intervals):
            if not remaining[index]:
                continue
            k = bisect.bisect_right(starts[index], t) - 1
            if k >= 0 and ivs[k][0] <= t < ivs[k][1]:
                if best is None or (ivs[k][0], index) < best:
                    best = (ivs[k][0], index)
            elif k + 1 < len(ivs):
                soonest = min(soonest, ivs[k + 1][0])
        if best is None:
            t = soonest
            continue
        index = best[1]
        run = slots[-1] if slots else None
        if run and run[0] == index and run[2] + spacing == t and run[4] == day:
            run[2] = t
            run[3] += 1
        else:
            slots.append([index, t, t, 1, day])
        remaining[index] -= 1
        day_sent[day] += 1
        t += spacing
    return _finish(schedule, pairs, lo, hi, spacing, remaining, slots, day_sent, days)


# --------------------------------------------------------------------------
# Module-level verbs
# --------------------------------------------------------------------------


def plan(schedule: Schedule, recipients: PlanInput, *, start: datetime | None = None) -> Plan:
    """Plan ``recipients`` on ``schedule``; see :meth:`Schedule.plan`."""
    return schedule.plan(recipients, start=start)


def next_send_time(
    schedule: Schedule, recipient: Addressee, after: datetime, *, now: datetime | None = None
) -> SendTime:
    """The next instant ``recipient`` may get a message; see :meth:`Schedule.next_send_time`."""
    return schedule.next_send_time(recipient, after, now=now)


def retry_time(
    schedule: Schedule,
    recipient: Addressee,
    failed_at: datetime,
    *,
    attempt: int = 1,
    first_failed_at: datetime | None = None,
) -> SendTime:
    """When a retry may go; see :meth:`Schedule.retry_time`."""
    return schedule.retry_time(
        recipient, failed_at, attempt=attempt, first_failed_at=first_failed_at
    )


def retry_schedule(
    schedule: Schedule, recipient: Addressee, failed_at: datetime
) -> tuple[datetime, ...]:
    """Every retry instant if each fails; see :meth:`Schedule.retry_schedule`."""
    return schedule.retry_schedule(recipient, failed_at)


def delivery_deadline(
    schedule: Schedule, recipient: Addressee, sent_at: datetime
) -> datetime | None:
    """The latest delivery instant; see :meth:`Schedule.delivery_deadline`."""
    return schedule.delivery_deadline(recipient, sent_at)
