"""The HTML report: a campaign's dashboard in one self-contained, offline page.

:func:`render_html` turns a :class:`~smscampaign.reporting.CampaignStats` (and,
optionally, :class:`ReportExtras` read from storage) into one HTML document:
the campaign header (state, window, zone, progress, timeline), Brevo's summary
cards (seed 003), a doughnut of message statuses per step (seed 004), a
delivery funnel per step, the bounce and opt-out rates against the runner's
suspension thresholds, the per-list metrics, sends per day against the
roll-over plan (seed 002), skip reasons and the top failure reasons with the
providers' codes. :func:`write_html_report` does it all from a storage and a
campaign id, for ``smscampaign report --html`` and ``smscampaign demo``.

Every number on the page is a :class:`~smscampaign.reporting.DeliveryStats`
count or :class:`~smscampaign.reporting.Rate` (or, for what the statistics do
not hold - sends per day, the plan, provider codes - a :class:`ReportExtras`
field); :func:`report_context` only selects and labels them, and the template
only prints them. Charts are static SVG drawn by Matplotlib, inlined in the
page; no script runs and a Content-Security-Policy forbids every request.

Needs the ``report`` extra: ``pip install "smscampaign[report]"`` (Jinja2 and
Matplotlib). Importing this module does not import them.
"""

from __future__ import annotations

import importlib
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from smscampaign.domain.campaign import Campaign, TimelineAction, TimelineEntry
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Send
from smscampaign.errors import MissingDependency
from smscampaign.providers.base import Storage
from smscampaign.reporting import _LABELS as _COUNT_LABELS
from smscampaign.reporting import (
    COUNTS,
    CampaignStats,
    DeliveryStats,
    Rate,
    ViewRow,
    delivery_stats,
    view,
)
from smscampaign.runner import SuspensionThresholds
from smscampaign.scheduling import LEGAL_HOURS, LegalHoursTable, Plan, Schedule

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "OKABE_ITO",
    "STATUS_STYLES",
    "Chart",
    "DailySends",
    "FailureCode",
    "ReportContext",
    "ReportExtras",
    "StatusStyle",
    "StepSection",
    "Table",
    "ThresholdCheck",
    "render_html",
    "report_context",
    "report_extras",
    "write_html_report",
]

_EXTRA = 'pip install "smscampaign[report]"'

#: Okabe & Ito's palette, distinguishable with every common colour-vision
#: deficiency (Okabe and Ito, "Color Universal Design", 2002; also Wong,
#: Nature Methods 8:441, 2011). Colour is never the only cue: every chart
#: also carries a hatch pattern, a label and a data table.
OKABE_ITO: Mapping[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}


@attrs.frozen
class StatusStyle:
    """How a send status is drawn: its words, colour and hatch pattern.

    Args:
        label: The status in words.
        colour: The fill colour (from :data:`OKABE_ITO`).
        hatch: A Matplotlib hatch pattern, so colour is never the only cue.
    """

    label: str
    colour: str
    hatch: str


_P = OKABE_ITO
STATUS_STYLES: Mapping[DeliveryStatus, StatusStyle] = {
    # In the order the doughnut draws them: the good news first, then what is
    # under way, then what did not arrive, then what never went.
    # Dotted and circled hatches are left out: Matplotlib draws them as
    # thousands of SVG paths (70-150 kB a chart); line hatches stay small.
    DeliveryStatus.DELIVERED: StatusStyle("Delivered", _P["bluish_green"], ""),
    DeliveryStatus.SENT: StatusStyle("Sent, no receipt yet", _P["blue"], "||"),
    DeliveryStatus.SENDING: StatusStyle("Sending", _P["sky_blue"], "\\|"),
    DeliveryStatus.QUEUED: StatusStyle("Queued", _P["yellow"], "--"),
    DeliveryStatus.SOFT_BOUNCED: StatusStyle("Soft bounce", _P["orange"], "//"),
    DeliveryStatus.HARD_BOUNCED: StatusStyle("Hard bounce", _P["vermillion"], "xx"),
    DeliveryStatus.SKIPPED: StatusStyle("Skipped", _P["grey"], "\\\\"),
    DeliveryStatus.CANCELED: StatusStyle("Canceled", _P["reddish_purple"], "++"),
}
"""Every send status's words, colour and hatch, in the doughnut's order."""


# -- extras read from storage ---------------------------------------------------------


@attrs.frozen
class DailySends:
    """Messages that went out on one day of the campaign's zone.

    Args:
        day: The date in the campaign's zone.
        first_step: Messages of the first step (the invite) that went out that day.
        messages: Messages of every step that went out that day.
    """

    day: date
    first_step: int
    messages: int


@attrs.frozen
class FailureCode:
    """A provider's own code for a bounce, and how many bounces carried it.

    Args:
        reason: The normalized :class:`~smscampaign.domain.delivery.FailureReason` value.
        code: The provider's code (``"30003"``), or ``""`` when it gave none.
        text: The provider's text for it, the first one seen.
        count: Bounced sends whose last attempt carried that code.
    """

    reason: str
    code: str
    text: str
    count: int


def _daily_tuple(value: Iterable[DailySends]) -> tuple[DailySends, ...]:
    return tuple(value)


def _codes_tuple(value: Iterable[FailureCode]) -> tuple[FailureCode, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ReportExtras:
    """What the HTML report shows beyond :class:`~smscampaign.reporting.CampaignStats`.

    Args:
        campaign: The campaign, for its window, zone, throttle and dates.
        plan: The roll-over plan of the first step, to set sends per day against.
        daily: Messages that went out per day, oldest first.
        failure_codes: Provider codes of the bounces, most frequent first.
    """

    campaign: Campaign | None = None
    plan: Plan | None = None
    daily: tuple[DailySends, ...] = attrs.field(default=(), converter=_daily_tuple)
    failure_codes: tuple[FailureCode, ...] = attrs.field(default=(), converter=_codes_tuple)


def _started_at(campaign: Campaign) -> datetime | None:
    for entry in campaign.timeline:
        if entry.action is TimelineAction.STARTED:
            return entry.at
    return campaign.starts_at


_WENT_OUT = frozenset(
    {
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.SOFT_BOUNCED,
        DeliveryStatus.HARD_BOUNCED,
    }
)


def _went_out_at(send: Send) -> datetime | None:
    """When a send that went out (as the statistics count it) first left us.

    A message the provider refused at once (an invalid number) has no sent-on
    time; it counts on the day of its first attempt's refusal.
    """
    if send.status not in _WENT_OUT:
        return None
    if send.sent_on is not None:
        return send.sent_on
    for attempt in send.attempts:
        moment = attempt.submitted_at or attempt.failed_at or attempt.sent_at
        if moment is not None:
            return moment
    return send.attempts[0].queued_at if send.attempts else None


def report_extras(
    storage: Storage,
    campaign_id: str,
    *,
    legal_hours: LegalHoursTable = LEGAL_HOURS,
    with_plan: bool = True,
) -> ReportExtras:
    """Read what the report needs beyond the statistics, in one streamed pass over the sends.

    Sends per day count the sends that went out (as the statistics count
    them) by the day, in the campaign's zone, each first left us. Provider
    codes are the last attempt's of every bounced send. The plan is the
    first step's for every recipient, from when the campaign started (or its
    start time), on the schedule the campaign's fields describe (as the
    runner builds it, with ``legal_hours``).

    Args:
        storage: Where the campaign is kept.
        campaign_id: The campaign.
        legal_hours: The legal-hours table the runner uses.
        with_plan: Compute the plan (one more pass over the recipients).

    Returns:
        The extras.

    Raises:
        NotFound: The storage has no such campaign.
    """
    campaign = storage.get_campaign(campaign_id)
    zone = ZoneInfo(campaign.time_zone)
    first_step = campaign.invite.id
    per_day: Counter[date] = Counter()
    first_per_day: Counter[date] = Counter()
    codes: Counter[tuple[str, str]] = Counter()
    texts: dict[tuple[str, str], str] = {}
    for send in storage.iter_sends(campaign_id):
        went_out = _went_out_at(send)
        if went_out is not None:
            day = went_out.astimezone(zone).date()
            per_day[day] += 1
            if send.step_id == first_step:
                first_per_day[day] += 1
        if send.status in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED):
            attempt = send.last_attempt
            reason = (send.failure_reason or FailureReason.UNKNOWN).value
            code = (attempt.provider_code if attempt is not None else None) or ""
            key = (reason, code)
            codes[key] += 1
            if key not in texts:
                texts[key] = (attempt.provider_text if attempt is not None else None) or ""
    daily = tuple(DailySends(d, first_per_day[d], per_day[d]) for d in sorted(per_day))
    failure_codes = tuple(
        FailureCode(reason, code, texts[(reason, code)], n)
        for (reason, code), n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    plan = None
    start = _started_at(campaign)
    if with_plan and start is not None:
        schedule = Schedule.from_spec(
            time_zone=campaign.time_zone,
            window=campaign.send_window,
            throttle=campaign.throttle,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            transactional=campaign.options.transactional,
            legal_hours=legal_hours,
            retry=campaign.options.retry,
        )
        plan = schedule.plan(storage.iter_recipients(campaign_id, with_sends=False), start=start)
    return ReportExtras(campaign=campaign, plan=plan, daily=daily, failure_codes=failure_codes)


# -- the data the template receives -------------------------------------------------

Cell = int | str | Rate | None
"""A table cell: a count, words, a rate (printed with its base), or empty."""


@attrs.frozen
class Table:
    """A chart's data table: its text equivalent, and the page's table layout.

    Args:
        head: Column headings.
        rows: Rows of cells; a :class:`Rate` cell prints as a percentage with its base.
    """

    head: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@attrs.frozen
class Chart:
    """One chart: its SVG, and the same numbers as words and as a table.

    Args:
        key: A page-unique id (``"doughnut-invite"``).
        title: Its heading.
        summary: One sentence that says what it shows (the SVG's accessible name).
        table: The numbers it draws.
        svg: The inline SVG (empty when there is nothing to draw).
    """

    key: str
    title: str
    summary: str
    table: Table
    svg: str = ""


@attrs.frozen
class StepSection:
    """One step's part of the page: its statistics, doughnut and funnel."""

    title: str
    stats: DeliveryStats
    doughnut: Chart
    funnel: Chart


@attrs.frozen
class ThresholdCheck:
    """One suspension rate against its threshold.

    Args:
        label: The rate in words.
        rate: The rate, over the sends that went out (as the runner judges it).
        limit: The threshold (a fraction).
        judged: True once enough sends went out for the runner to judge.
        detail: How the count is made up, in words.
    """

    label: str
    rate: Rate
    limit: float
    judged: bool
    detail: str = ""

    @property
    def above(self) -> bool:
        """True when the rate is above its threshold."""
        value = self.rate.value
        return value is not None and value > self.limit

    @property
    def limit_text(self) -> str:
        """The threshold as a percentage."""
        return f"{self.limit * 100:.1f}%"


@attrs.frozen(kw_only=True)
class ReportContext:
    """Everything the template prints; it computes nothing itself.

    Args:
        title: The page title.
        stats: The statistics every number comes from.
        campaign: The campaign, when known (window, zone, throttle, dates).
        thresholds: The suspension thresholds the rates are set against.
        summary: Brevo's summary rows for the whole campaign (seed 003).
        steps: One section per step.
        thresholds_chart: The bounce and opt-out rates against the thresholds.
        checks: The same, as rows.
        lists: Each list's statistics with its Brevo rows.
        daily_chart: Sends per day against the plan, or None without extras.
        plan: The plan, when known.
        skips_chart: Skip reasons, or None when nothing was skipped.
        failures_chart: Failure reasons with provider codes, or None without bounces.
        timeline: The campaign's timeline.
        zone: The zone times are shown in.
        generated_at: When the statistics were computed, in ``zone``.
    """

    title: str
    stats: CampaignStats
    campaign: Campaign | None
    thresholds: SuspensionThresholds
    summary: tuple[ViewRow, ...]
    steps: tuple[StepSection, ...]
    thresholds_chart: Chart
    checks: tuple[ThresholdCheck, ...]
    lists: tuple[tuple[DeliveryStats, tuple[ViewRow, ...]], ...]
    daily_chart: Chart | None
    plan: Plan | None
    skips_chart: Chart | None
    failures_chart: Chart | None
    timeline: tuple[TimelineEntry, ...]
    zone: tzinfo
    generated_at: datetime

    def charts(self) -> list[Chart]:
        """Every chart on the page, in page order."""
        found: list[Chart | None] = []
        for step in self.steps:
            found += [step.doughnut, step.funnel]
        found += [self.thresholds_chart, self.daily_chart, self.skips_chart, self.failures_chart]
        return [chart for chart in found if chart is not None]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "none"


def _doughnut(step: DeliveryStats, title: str) -> Chart:
    rows: list[tuple[Cell, ...]] = []
    for status, style in STATUS_STYLES.items():
        count = step.count(status.value)
        if count:
            rows.append((style.label, count, step.rate(status.value)))
    parts = ", ".join(f"{row[1]} {str(row[0]).lower()}" for row in rows) or "no messages yet"
    return Chart(
        key=f"doughnut-{_slug(step.name)}",
        title=f"{title}: message statuses",
        summary=f"{title}: {step.messages} messages: {parts}.",
        table=Table(("Status", "Messages", "Rate"), tuple(rows)),
    )


def _funnel(step: DeliveryStats, title: str) -> Chart:
    # Each stage's rate is the statistics' own: sent over recipients (seed 002's
    # progress), delivered over what went out, replied over delivered,
    # completed over recipients (seed 003's bases).
    stages: tuple[tuple[str, int, Rate | None], ...] = (
        ("Recipients", step.recipients, None),
        ("Sent", step.progress.sent, step.progress.rate),
        ("Delivered", step.delivered, step.rate("delivered")),
        ("Replied", step.replied, step.rate("replied")),
        ("Completed", step.completed, step.rate("completed")),
    )
    words = ", ".join(f"{label.lower()} {count}" for label, count, _ in stages)
    return Chart(
        key=f"funnel-{_slug(step.name)}",
        title=f"{title}: delivery funnel",
        summary=f"{title}: {words}.",
        table=Table(("Stage", "Count", "Rate"), stages),
    )


_CARRIER_OPT_OUT = FailureReason.OPTED_OUT_AT_CARRIER.value


def _checks(total: DeliveryStats, thresholds: SuspensionThresholds) -> tuple[ThresholdCheck, ...]:
    judged = total.went_out >= thresholds.min_sends
    carrier = total.hard_bounced_by_reason.get(_CARRIER_OPT_OUT, 0)
    # The runner counts opt-outs as replies plus carrier opt-outs over the
    # sends that went out (runner._suspension_cause); the statistics keep both.
    opt_outs = Rate(total.opted_out + carrier, total.went_out, "went_out")
    return (
        ThresholdCheck(
            "Soft bounces", _rate(total, "soft_bounced"), thresholds.soft_bounce_rate, judged
        ),
        ThresholdCheck(
            "Hard bounces", _rate(total, "hard_bounced"), thresholds.hard_bounce_rate, judged
        ),
        ThresholdCheck(
            "Opt-outs",
            opt_outs,
            thresholds.opt_out_rate,
            judged,
            detail=f"{total.opted_out} by reply + {carrier} at the carrier",
        ),
    )


def _rate(stats: DeliveryStats, name: str) -> Rate:
    rate = stats.rate(name)
    assert rate is not None  # every count but "replies" has one
    return rate


def _thresholds_chart(checks: Sequence[ThresholdCheck], min_sends: int, went_out: int) -> Chart:
    rows = tuple(
        (
            c.label,
            c.rate,
            c.limit_text,
            ("above" if c.above else "within") if c.judged else "not judged yet",
        )
        for c in checks
    )
    words = "; ".join(
        f"{c.label.lower()} {c.rate.percent} against a {c.limit_text} threshold" for c in checks
    )
    judged = (
        "judged"
        if went_out >= min_sends
        else f"not judged until {min_sends} sends went out ({went_out} so far)"
    )
    return Chart(
        key="thresholds",
        title="Bounce and opt-out rates against the suspension thresholds",
        summary=f"Over the {went_out} messages that went out: {words} ({judged}).",
        table=Table(("Rate", "Value", "Threshold", "Status"), rows),
    )


def _daily_chart(extras: ReportExtras) -> Chart | None:
    planned = {d.day: d for d in extras.plan.days} if extras.plan is not None else {}
    sent = {d.day: d for d in extras.daily}
    days = sorted(set(planned) | set(sent))
    if not days:
        return None
    rows: list[tuple[Cell, ...]] = []
    for day in days:
        plan_day = planned.get(day)
        sent_day = sent.get(day)
        rows.append(
            (
                day.isoformat(),
                plan_day.sent if plan_day else None,
                plan_day.carried_over if plan_day else None,
                sent_day.first_step if sent_day else 0,
                sent_day.messages if sent_day else 0,
            )
        )
    summary = "; ".join(f"{r[0]}: planned {r[1] or 0}, invites sent {r[3]}" for r in rows)
    return Chart(
        key="daily",
        title="Sends per day against the roll-over plan",
        summary=f"First-step messages per day, planned and sent: {summary}.",
        table=Table(
            ("Day", "Planned", "Carried over", "First step sent", "All messages sent"),
            tuple(rows),
        ),
    )


def _skips_chart(total: DeliveryStats) -> Chart | None:
    if not total.skipped:
        return None
    rates = total.skipped_rates
    rows = tuple(
        (reason.replace("_", " "), n, rates[reason])
        for reason, n in sorted(total.skipped_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    words = ", ".join(f"{r[0]} {r[1]}" for r in rows)
    return Chart(
        key="skips",
        title="Why messages were skipped",
        summary=f"{total.skipped} messages skipped (never charged): {words}.",
        table=Table(("Reason", "Skipped", "Rate"), rows),
    )


def _failures_chart(total: DeliveryStats, codes: Sequence[FailureCode]) -> Chart | None:
    bounced = total.bounced_by_reason
    if not bounced:
        return None
    by_reason: dict[str, list[FailureCode]] = {}
    for code in codes:
        by_reason.setdefault(code.reason, []).append(code)
    rows = []
    for reason, n in sorted(bounced.items(), key=lambda kv: (-kv[1], kv[0])):
        listed = "; ".join(
            f"{c.code or '(no code)'}{' ' + c.text if c.text else ''} × {c.count}"
            for c in by_reason.get(reason, ())
        )
        rows.append(
            (
                reason.replace("_", " "),
                total.soft_bounced_by_reason.get(reason, 0),
                total.hard_bounced_by_reason.get(reason, 0),
                n,
                listed,
            )
        )
    words = ", ".join(f"{r[0]} {r[3]}" for r in rows)
    return Chart(
        key="failures",
        title="Top failure reasons",
        summary=f"Bounces by reason: {words}.",
        table=Table(("Reason", "Soft", "Hard", "Total", "Provider codes"), tuple(rows)),
    )


def _step_title(campaign: Campaign | None, step_id: str) -> str:
    if campaign is not None:
        for index, step in enumerate(campaign.steps):
            if step.id == step_id:
                kind = step.kind.value.replace("_", " ")
                same = step_id.replace("-", " ").replace("_", " ") == kind
                return f"Step {index + 1}: {step_id}" + ("" if same else f" ({kind})")
    return f"Step {step_id}"


def report_context(
    stats: CampaignStats,
    extras: ReportExtras | None = None,
    *,
    thresholds: SuspensionThresholds | None = None,
    title: str | None = None,
    time_zone: str | tzinfo | None = None,
) -> ReportContext:
    """The data the template receives: the statistics' numbers, selected and labelled.

    Charts here have no SVG yet; :func:`render_html` draws them from these
    same tables.

    Args:
        stats: The campaign's statistics.
        extras: What the statistics do not hold (see :func:`report_extras`).
        thresholds: The runner's suspension thresholds (the defaults if None).
        title: The page title (default: the campaign's name).
        time_zone: The zone times are shown in (default: the campaign's, else UTC).

    Returns:
        The context.
    """
    extras = extras or ReportExtras()
    limits = thresholds or SuspensionThresholds()
    campaign = extras.campaign
    if time_zone is None:
        time_zone = campaign.time_zone if campaign is not None else "UTC"
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    steps = tuple(
        StepSection(
            title=_step_title(campaign, step_id),
            stats=step,
            doughnut=_doughnut(step, _step_title(campaign, step_id)),
            funnel=_funnel(step, _step_title(campaign, step_id)),
        )
        for step_id, step in stats.by_step.items()
    )
    checks = _checks(stats.total, limits)
    return ReportContext(
        title=title or f"{stats.campaign_name}: campaign report",
        stats=stats,
        campaign=campaign,
        thresholds=limits,
        summary=tuple(view(stats.total, "brevo")),
        steps=steps,
        thresholds_chart=_thresholds_chart(checks, limits.min_sends, stats.total.went_out),
        checks=checks,
        lists=tuple((part, tuple(view(part, "brevo"))) for part in stats.by_list.values()),
        daily_chart=_daily_chart(extras),
        plan=extras.plan,
        skips_chart=_skips_chart(stats.total),
        failures_chart=_failures_chart(stats.total, extras.failure_codes),
        timeline=stats.timeline,
        zone=zone,
        generated_at=stats.computed_at.astimezone(zone),
    )


# -- drawing ----------------------------------------------------------------------------


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependency(
            f"the HTML report needs {name.split('.')[0]}: {_EXTRA}", value=name
        ) from exc


_INK = "#222222"
_RC = {
    # Text stays text (searchable, scalable, read by screen readers and
    # printed crisply) instead of glyph outlines.
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 10,
    "hatch.linewidth": 0.8,
    "hatch.color": _INK,
    "text.color": _INK,
    "axes.edgecolor": "#666666",
    "axes.labelcolor": _INK,
    "xtick.color": _INK,
    "ytick.color": _INK,
}


def _figure(width: float, height: float, **margins: float) -> Figure:
    # Fixed margins rather than a layout engine: a layout engine draws the
    # figure again to measure it, which doubles the time of a page.
    figure_module = _import("matplotlib.figure")
    figure: Figure = figure_module.Figure(figsize=(width, height))
    figure.subplots_adjust(**{"left": 0.2, "right": 0.97, "top": 0.95, "bottom": 0.2, **margins})
    return figure


def _svg(figure: Figure, key: str, summary: str) -> str:
    """The figure as an inline ``<svg>`` with an accessible name and page-unique ids."""
    matplotlib = _import("matplotlib")
    buffer = io.StringIO()
    # The hash salt makes the ids of clip paths and hatch patterns unique to
    # this chart (several SVGs share one HTML document) and repeatable.
    with matplotlib.rc_context({**_RC, "svg.hashsalt": key, "svg.id": f"svg-{key}"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)
    # Matplotlib names every group after its artist ("axes_1", "line2d_3"),
    # the same in every chart; nothing refers to them, and a page must not
    # repeat an id. Referenced ids (clip paths, hatches, markers) are hashed
    # with the salt above, so they stay unique.
    text = re.sub(r'(<g) id="[^"]*"', r"\1", text)
    label = _escape(summary)
    return text.replace(
        "<svg ",
        f'<svg role="img" aria-labelledby="svg-{key}-title" ',
        1,
    ).replace(">", f'><title id="svg-{key}-title">{label}</title>', 1)


def _escape(text: str) -> str:
    markupsafe = _import("markupsafe")
    return str(markupsafe.escape(text))


def _no_data(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def _draw_doughnut(chart: Chart, step: DeliveryStats) -> str:
    figure = _figure(4.6, 3.0, left=0.0, right=0.5, top=1.0, bottom=0.0)
    axes = figure.add_subplot()
    styles = [(s, st) for s, st in STATUS_STYLES.items() if step.count(s.value)]
    if not styles:
        _no_data(axes, "No messages yet")
        return _svg(figure, chart.key, chart.summary)
    counts = [step.count(s.value) for s, _ in styles]
    wedges, _texts = axes.pie(
        counts,
        colors=[st.colour for _, st in styles],
        hatch=[st.hatch for _, st in styles],
        startangle=90,
        counterclock=False,
        wedgeprops={"width": 0.38, "edgecolor": "white", "linewidth": 1.2},
    )
    axes.text(0, 0.08, f"{step.messages}", ha="center", va="center", fontsize=16, weight="bold")
    axes.text(0, -0.18, "messages", ha="center", va="center", fontsize=9)
    axes.set_aspect("equal")
    axes.legend(
        wedges,
        [f"{st.label}: {n}" for (_, st), n in zip(styles, counts, strict=True)],
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
        handleheight=1.6,
        handlelength=2.2,
    )
    return _svg(figure, chart.key, chart.summary)


def _int(value: Cell) -> int:
    return value if isinstance(value, int) else 0


def _bar_labels(axes: Axes, bars: Any, labels: Sequence[str]) -> None:
    axes.bar_label(bars, labels=list(labels), padding=3, fontsize=9)


def _draw_funnel(chart: Chart, step: DeliveryStats) -> str:
    figure = _figure(4.6, 2.6, left=0.2, bottom=0.2)
    axes = figure.add_subplot()
    stages = chart.table.rows
    labels = [str(row[0]) for row in stages]
    counts = [_int(row[1]) for row in stages]
    colours = [_P["sky_blue"], _P["blue"], _P["bluish_green"], _P["orange"], _P["reddish_purple"]]
    hatches = ["", "||", "", "//", "xx"]
    bars = axes.barh(labels, counts, color=colours, hatch=hatches, edgecolor=_INK, linewidth=0.6)
    axes.invert_yaxis()
    texts = []
    for row in stages:
        rate = row[2]
        texts.append(f"{row[1]}" + (f" ({rate.percent})" if isinstance(rate, Rate) else ""))
    _bar_labels(axes, bars, texts)
    axes.set_xlim(0, max(max(counts), 1) * 1.35)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_xlabel("recipients / messages")
    return _svg(figure, chart.key, chart.summary)


def _draw_thresholds(chart: Chart, checks: Sequence[ThresholdCheck]) -> str:
    figure = _figure(6.4, 2.2, left=0.17, bottom=0.22, top=0.9)
    axes = figure.add_subplot()
    labels = [c.label for c in checks]
    values = [(c.rate.value or 0.0) * 100 for c in checks]
    colours = [_P["vermillion"] if c.above else _P["bluish_green"] for c in checks]
    hatches = ["xx" if c.above else "" for c in checks]
    bars = axes.barh(labels, values, color=colours, hatch=hatches, edgecolor=_INK, linewidth=0.6)
    for index, check in enumerate(checks):
        limit = check.limit * 100
        axes.plot([limit, limit], [index - 0.42, index + 0.42], color=_INK, linestyle="--")
        axes.text(limit, index - 0.46, f"limit {check.limit_text}", ha="center", fontsize=8)
    _bar_labels(
        axes,
        bars,
        [f"{c.rate.percent}" + (" (above)" if c.above else "") for c in checks],
    )
    top = max([*values, *(c.limit * 100 for c in checks)])
    axes.set_xlim(0, top * 1.35 or 1)
    axes.invert_yaxis()
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_xlabel("% of messages that went out")
    return _svg(figure, chart.key, chart.summary)


def _draw_daily(chart: Chart) -> str:
    rows = chart.table.rows
    figure = _figure(6.4, 2.8, left=0.1, bottom=0.12, top=0.95)
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    planned = [_int(row[1]) for row in rows]
    sent = [_int(row[3]) for row in rows]
    width = 0.4
    axes.bar(
        [p - width / 2 for p in positions],
        planned,
        width,
        label="Planned (first step)",
        color=_P["sky_blue"],
        hatch="//",
        edgecolor=_INK,
        linewidth=0.6,
    )
    bars = axes.bar(
        [p + width / 2 for p in positions],
        sent,
        width,
        label="Sent (first step)",
        color=_P["blue"],
        edgecolor=_INK,
        linewidth=0.6,
    )
    _bar_labels(axes, bars, [str(n) for n in sent])
    axes.set_xticks(positions, [str(row[0])[5:] for row in rows])
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_ylabel("messages")
    axes.legend(frameon=False, loc="upper right")
    axes.set_ylim(0, max([*planned, *sent, 1]) * 1.25)
    return _svg(figure, chart.key, chart.summary)


def _draw_reasons(chart: Chart, columns: Sequence[tuple[int, str, str, str]]) -> str:
    rows = chart.table.rows
    height = 0.6 + 0.42 * max(len(rows), 2)
    figure = _figure(6.4, height, left=0.27, bottom=0.5 / height, top=1 - 0.1 / height)
    axes = figure.add_subplot()
    labels = [str(row[0]) for row in rows]
    left = [0] * len(rows)
    for column, label, colour, hatch in columns:
        values = [_int(row[column]) for row in rows]
        axes.barh(
            labels,
            values,
            left=left,
            label=label,
            color=colour,
            hatch=hatch,
            edgecolor=_INK,
            linewidth=0.6,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    for index, total in enumerate(left):
        axes.text(total, index, f" {total}", va="center", fontsize=9)
    axes.invert_yaxis()
    axes.set_xlim(0, max([*left, 1]) * 1.2)
    axes.spines[["top", "right"]].set_visible(False)
    if len(columns) > 1:
        axes.legend(frameon=False, loc="lower right")
    return _svg(figure, chart.key, chart.summary)


def _draw(context: ReportContext) -> ReportContext:
    steps = tuple(
        attrs.evolve(
            step,
            doughnut=attrs.evolve(step.doughnut, svg=_draw_doughnut(step.doughnut, step.stats)),
            funnel=attrs.evolve(step.funnel, svg=_draw_funnel(step.funnel, step.stats)),
        )
        for step in context.steps
    )
    thresholds = attrs.evolve(
        context.thresholds_chart, svg=_draw_thresholds(context.thresholds_chart, context.checks)
    )
    daily = context.daily_chart
    if daily is not None:
        daily = attrs.evolve(daily, svg=_draw_daily(daily))
    skips = context.skips_chart
    if skips is not None:
        skips = attrs.evolve(skips, svg=_draw_reasons(skips, [(1, "Skipped", _P["grey"], "\\\\")]))
    failures = context.failures_chart
    if failures is not None:
        columns = [
            (1, "Soft bounce", _P["orange"], "//"),
            (2, "Hard bounce", _P["vermillion"], "xx"),
        ]
        failures = attrs.evolve(failures, svg=_draw_reasons(failures, columns))
    return attrs.evolve(
        context,
        steps=steps,
        thresholds_chart=thresholds,
        daily_chart=daily,
        skips_chart=skips,
        failures_chart=failures,
    )


# -- rendering --------------------------------------------------------------------------


def _when(value: datetime | None, zone: tzinfo) -> str:
    return "-" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _duration(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} hours"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.4f}"


_BASE_WORDS: Mapping[str, str] = {
    "recipients": "recipients",
    "messages": "messages",
    "went_out": "sent",
    "delivered": "delivered",
}


def _environment() -> Any:
    jinja2 = _import("jinja2")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("smscampaign", "templates"),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["rate"] = lambda value: isinstance(value, Rate)
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.filters["money"] = _money
    env.globals["counts"] = COUNTS
    env.globals["count_labels"] = _COUNT_LABELS
    env.globals["base_words"] = _BASE_WORDS
    markupsafe = _import("markupsafe")
    # Our own SVG, built from numbers and escaped labels: safe to inline.
    env.filters["svg"] = markupsafe.Markup
    return env


def render_html(
    stats: CampaignStats,
    extras: ReportExtras | None = None,
    *,
    thresholds: SuspensionThresholds | None = None,
    title: str | None = None,
    time_zone: str | tzinfo | None = None,
) -> str:
    """A campaign's report as one self-contained HTML document.

    The page needs no network and runs no script: styles and SVG charts are
    inline, and its Content-Security-Policy forbids every request. It prints
    (a print stylesheet) and reads on a phone-width screen; each chart has an
    accessible name, a sentence and a data table, and uses the Okabe-Ito
    palette with hatch patterns so colour is never the only cue.

    Args:
        stats: The campaign's statistics (:func:`~smscampaign.reporting.delivery_stats`).
        extras: The campaign, plan, sends per day and provider codes
            (:func:`report_extras`); without them those parts are left out.
        thresholds: The suspension thresholds to set the rates against.
        title: The page title.
        time_zone: The zone times are shown in (default: the campaign's).

    Returns:
        The HTML text.

    Raises:
        MissingDependency: Jinja2 or Matplotlib is not installed (the ``report`` extra).
    """
    env = _environment()
    context = _draw(
        report_context(stats, extras, thresholds=thresholds, title=title, time_zone=time_zone)
    )
    template = env.get_template("report.html.j2")
    html: str = template.render(report=context, css=env.loader.get_source(env, "report.css")[0])
    return html


def write_html_report(
    storage: Storage,
    campaign_id: str,
    path: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    thresholds: SuspensionThresholds | None = None,
    price_per_segment: Decimal | int | str | None = None,
    legal_hours: LegalHoursTable = LEGAL_HOURS,
    time_zone: str | tzinfo | None = None,
) -> Path:
    """Compute a campaign's statistics and extras, and write its HTML report to ``path``.

    Args:
        storage: Where the campaign is kept.
        campaign_id: The campaign.
        path: The file to write (UTF-8).
        now: The instant to report for (default: now).
        thresholds: The runner's suspension thresholds.
        price_per_segment: The price of a segment, for the cost.
        legal_hours: The legal-hours table the runner uses (for the plan).
        time_zone: The zone times are shown in (default: the campaign's).

    Returns:
        The path written, absolute.

    Raises:
        NotFound: The storage has no such campaign.
        MissingDependency: The ``report`` extra is not installed.
    """
    stats = delivery_stats(storage, campaign_id, now=now, price_per_segment=price_per_segment)
    extras = report_extras(storage, campaign_id, legal_hours=legal_hours)
    html = render_html(stats, extras, thresholds=thresholds, time_zone=time_zone)
    target = Path(path).absolute()
    target.write_text(html, encoding="utf-8")
    return target
