"""Tests for the HTML report (smscampaign.htmlreport): the data the page receives, and the page.

The campaign is a real one, run by the runner against the simulated carrier
on a virtual clock: two lists, a reminder, bounces, skips, replies and
opt-outs, a throttle that rolls invites over to the next day.
"""

from __future__ import annotations

import re
import zlib
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jinja2", reason='the HTML report needs the "report" extra')
pytest.importorskip("matplotlib", reason='the HTML report needs the "report" extra')

import jinja2
from jinja2 import nodes

from smscampaign.domain.campaign import Campaign, CampaignState, Step, StepKind
from smscampaign.domain.contact import Consent, Contact, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus
from smscampaign.domain.phone import PhoneNumber
from smscampaign.htmlreport import (
    STATUS_STYLES,
    ReportContext,
    ReportExtras,
    render_html,
    report_context,
    report_extras,
    write_html_report,
)
from smscampaign.providers.base import Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.reporting import COUNTS, CampaignStats, Rate, delivery_stats, view
from smscampaign.runner import CampaignRunner, SuspensionThresholds
from smscampaign.testing.simulation import run_simulation

UTC = timezone.utc
# Tuesday 3 March 2026, 14:00 UTC: 09:00 in New York.
T0 = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
# The example stays clear of the suspension guard: a hard-bounce rate near the
# default 5 % would stop it on some trajectories of the simulated carrier.
THRESHOLDS = SuspensionThresholds(min_sends=50, opt_out_rate=0.2, hard_bounce_rate=0.1)
STEPS = (
    Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, tell us about spring"),
    Step(id="reminder-1", kind=StepKind.REMINDER, body="A reminder", delay=timedelta(days=1)),
    Step(id="thank-you", kind=StepKind.THANK_YOU, body="Thank you!"),
)


def _contacts(first: int, count: int, consent: Consent = Consent.OPTED_IN) -> list[Contact]:
    return [
        Contact(
            id=f"k{i}",
            phone=PhoneNumber.parse(f"+1212736{i:04d}"),
            first_name=f"Name{i}",
            consent=consent,
        )
        for i in range(first, first + count)
    ]


def simulated_campaign(storage: Storage | None = None) -> tuple[Storage, datetime]:
    """Run the example campaign to its end on the simulated carrier; returns the storage and now.

    Shared with the browser test (``tests/test_report_browser.py``).
    """
    storage = storage if storage is not None else InMemoryStorage()
    clock = VirtualClock(T0)
    gateway = SimulatedGateway(seed=11, clock=clock, reply_rate=0.12)
    runner = CampaignRunner(storage, gateway, clock, thresholds=THRESHOLDS)
    campaign = Campaign.create(
        at=T0,
        id="spring",
        name="Spring survey",
        steps=STEPS,
        sender="+12125550100",
        time_zone="America/New_York",
        send_window="mon-fri 09:00-17:00",
        throttle="12/h",
    )
    storage.add_campaign(campaign)
    runner.add_recipients("spring", _contacts(0, 90), list_name="spring.csv")
    runner.add_recipients(
        "spring",
        _contacts(90, 25) + _contacts(115, 3, Consent.OPTED_OUT),
        list_name="late.csv",
    )
    runner.schedule("spring")

    def host_app(_now: datetime, _tick: Any) -> None:
        # Every recipient whose invite was delivered answers the survey with a
        # one-in-three chance, decided by their id (deterministic).
        done = [
            (send.recipient_id, ResponseStatus.COMPLETE)
            for send in storage.iter_sends("spring", step_id="invite")
            if send.status is DeliveryStatus.DELIVERED
            and zlib.crc32(send.recipient_id.encode()) % 3 == 0
            and storage.get_recipient("spring", send.recipient_id).response
            is not ResponseStatus.COMPLETE
        ]
        runner.update_responses("spring", done)

    run_simulation(
        runner,
        gateway,
        clock,
        until=T0 + timedelta(days=4),
        max_step=timedelta(hours=2),
        on_tick=host_app,
    )
    return storage, clock.now()


@pytest.fixture(scope="module")
def world() -> tuple[Storage, datetime]:
    """The example campaign, run once for the module."""
    return simulated_campaign()


@pytest.fixture(scope="module")
def stats(world: tuple[Storage, datetime]) -> CampaignStats:
    """Its statistics."""
    storage, now = world
    return delivery_stats(storage, "spring", now=now, price_per_segment="0.0079")


@pytest.fixture(scope="module")
def extras(world: tuple[Storage, datetime]) -> ReportExtras:
    """Its extras."""
    return report_extras(world[0], "spring")


@pytest.fixture(scope="module")
def context(stats: CampaignStats, extras: ReportExtras) -> ReportContext:
    """The data the template receives."""
    return report_context(stats, extras, thresholds=THRESHOLDS)


@pytest.fixture(scope="module")
def html(stats: CampaignStats, extras: ReportExtras) -> str:
    """The rendered page."""
    return render_html(stats, extras, thresholds=THRESHOLDS)


class TestTheExampleCampaign:
    """The simulated campaign has something in every part of the report."""

    def test_it_has_every_kind_of_outcome(self, stats: CampaignStats) -> None:
        total = stats.total
        assert total.recipients == 118
        assert total.delivered > 0
        assert total.hard_bounced > 0
        assert total.skipped > 0
        assert total.replied > 0
        assert total.completed > 0
        assert set(stats.by_list) == {"late.csv", "spring.csv"}

    def test_the_plan_rolls_over(self, extras: ReportExtras) -> None:
        assert extras.plan is not None
        assert extras.plan.rolled_over > 0
        assert len(extras.daily) >= 2


class TestContextNumbers:
    """Every number the template receives is a DeliveryStats count or rate, not recomputed."""

    def test_summary_is_brevos_view(self, context: ReportContext, stats: CampaignStats) -> None:
        assert list(context.summary) == view(stats.total, "brevo")
        labels = [row.label for row in context.summary]
        assert labels == [
            "Delivered",
            "Soft bounce",
            "Hard bounce",
            "Processing",
            "Replied",
            "Unsubscribed",
        ]

    def test_one_section_per_step_with_its_own_slice(
        self, context: ReportContext, stats: CampaignStats
    ) -> None:
        assert [s.stats for s in context.steps] == list(stats.by_step.values())

    def test_doughnut_rows_are_the_steps_status_counts_and_rates(
        self, context: ReportContext
    ) -> None:
        for section in context.steps:
            step = section.stats
            expected = [
                (style.label, step.count(status.value), step.rate(status.value))
                for status, style in STATUS_STYLES.items()
                if step.count(status.value)
            ]
            assert list(section.doughnut.table.rows) == expected
            assert sum(row[1] for row in expected) == step.messages

    def test_funnel_is_recipients_sent_delivered_replied_completed(
        self, context: ReportContext
    ) -> None:
        for section in context.steps:
            step = section.stats
            assert list(section.funnel.table.rows) == [
                ("Recipients", step.recipients, None),
                ("Sent", step.progress.sent, step.progress.rate),
                ("Delivered", step.delivered, step.rate("delivered")),
                ("Replied", step.replied, step.rate("replied")),
                ("Completed", step.completed, step.rate("completed")),
            ]

    def test_threshold_checks_use_the_runners_bases(
        self, context: ReportContext, stats: CampaignStats
    ) -> None:
        total = stats.total
        soft, hard, opt_out = context.checks
        assert soft.rate == total.rate("soft_bounced")
        assert hard.rate == total.rate("hard_bounced")
        carrier = total.hard_bounced_by_reason.get("opted_out_at_carrier", 0)
        assert opt_out.rate == Rate(total.opted_out + carrier, total.went_out, "went_out")
        assert (soft.limit, hard.limit, opt_out.limit) == (0.10, 0.10, 0.2)
        assert all(check.judged for check in context.checks)

    def test_lists_are_the_by_list_slices(
        self, context: ReportContext, stats: CampaignStats
    ) -> None:
        assert [part for part, _ in context.lists] == list(stats.by_list.values())
        for part, rows in context.lists:
            assert list(rows) == view(part, "brevo")

    def test_skip_reasons_come_from_skipped_by_reason(
        self, context: ReportContext, stats: CampaignStats
    ) -> None:
        chart = context.skips_chart
        assert chart is not None
        total = stats.total
        assert {row[0]: row[1] for row in chart.table.rows} == {
            reason.replace("_", " "): n for reason, n in total.skipped_by_reason.items()
        }
        assert all(
            row[2] == total.skipped_rates[str(row[0]).replace(" ", "_")] for row in chart.table.rows
        )

    def test_failure_reasons_come_from_the_bounce_counts(
        self, context: ReportContext, stats: CampaignStats
    ) -> None:
        chart = context.failures_chart
        assert chart is not None
        total = stats.total
        for reason, soft, hard, both, codes in chart.table.rows:
            key = str(reason).replace(" ", "_")
            assert soft == total.soft_bounced_by_reason.get(key, 0)
            assert hard == total.hard_bounced_by_reason.get(key, 0)
            assert both == total.bounced_by_reason[key]
            assert isinstance(codes, str)
            assert codes  # the simulated carrier gives a code for every bounce

    def test_provider_codes_add_up_to_the_bounces(
        self, extras: ReportExtras, stats: CampaignStats
    ) -> None:
        by_reason: dict[str, int] = {}
        for code in extras.failure_codes:
            by_reason[code.reason] = by_reason.get(code.reason, 0) + code.count
        assert by_reason == dict(stats.total.bounced_by_reason)

    def test_daily_sends_add_up_to_what_went_out(
        self, extras: ReportExtras, stats: CampaignStats
    ) -> None:
        assert sum(d.first_step for d in extras.daily) == stats.by_step["invite"].went_out
        assert sum(d.messages for d in extras.daily) == stats.total.went_out

    def test_daily_chart_sets_the_plan_beside_the_sends(
        self, context: ReportContext, extras: ReportExtras
    ) -> None:
        chart = context.daily_chart
        assert chart is not None
        assert extras.plan is not None
        planned = {row[0]: row[1] for row in chart.table.rows if row[1] is not None}
        assert planned == {d.day.isoformat(): d.sent for d in extras.plan.days}
        sent = {row[0]: row[3] for row in chart.table.rows if row[3]}
        assert sent == {d.day.isoformat(): d.first_step for d in extras.daily if d.first_step}

    def test_without_extras_the_storage_parts_are_left_out(self, stats: CampaignStats) -> None:
        context = report_context(stats)
        assert context.daily_chart is None
        assert context.campaign is None
        assert context.failures_chart is not None  # reasons come from the statistics
        assert context.thresholds == SuspensionThresholds()


def _template_source(name: str) -> str:
    root = Path(__file__).parent.parent / "src" / "smscampaign" / "templates"
    return (root / name).read_text(encoding="utf-8")


class TestTemplateComputesNothing:
    """The template prints numbers; it has no arithmetic, so nothing is computed twice."""

    def test_no_arithmetic_in_the_template(self) -> None:
        tree = jinja2.Environment().parse(_template_source("report.html.j2"))
        arithmetic = (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod)
        assert not list(tree.find_all(arithmetic))
        filters = {f.name for f in tree.find_all(nodes.Filter)}
        assert not filters & {"sum", "round", "int", "float", "length", "count", "max", "min"}


class _Parsed(HTMLParser):
    """The tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if a.get("id")]  # type: ignore[misc]


def _parse(html: str) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(html)
    return parsed


class TestPage:
    """The page is one self-contained, accessible document with every section."""

    def test_self_contained(self, html: str) -> None:
        parsed = _parse(html)
        for tag, attributes in parsed.tags:
            assert tag not in {"script", "link", "img", "iframe", "object"}, tag
            for name in ("src", "href"):
                value = attributes.get(name) or ""
                assert not value or value.startswith("#"), (tag, name, value)
            assert not (attributes.get("xlink:href") or "#").lstrip("#").startswith("http")
        assert "http://" not in html.split("<body>", 1)[1].replace("http://www.w3.org/", "")
        assert "https://" not in html
        assert "default-src 'none'" in html

    def test_ids_are_unique(self, html: str) -> None:
        ids = _parse(html).ids()
        duplicates = {i for i in ids if ids.count(i) > 1}
        assert not duplicates

    def test_every_chart_has_an_accessible_name_and_a_table(
        self, html: str, context: ReportContext
    ) -> None:
        charts = context.charts()
        # Two charts per step, thresholds, per day, skips and failures.
        assert len(charts) == 2 * len(context.steps) + 4
        svgs = [a for tag, a in _parse(html).tags if tag == "svg"]
        assert len(svgs) == len(charts)
        for attributes in svgs:
            assert attributes.get("role") == "img"
            assert attributes.get("aria-labelledby")
        for chart in charts:
            assert f'id="{chart.key}"' in html
            assert f"{chart.title} (data)" in html

    def test_header_shows_state_window_zone_and_progress(
        self, html: str, stats: CampaignStats
    ) -> None:
        text = " ".join(_parse(html).text)
        assert stats.progress.text in text
        assert "mon-fri 09:00-17:00" in text
        assert "America/New_York" in text
        assert stats.state.value.replace("_", " ").capitalize() in text
        assert f'max="{stats.progress.recipients}"' in html

    def test_summary_cards_print_the_brevo_rows(self, html: str, stats: CampaignStats) -> None:
        for row in view(stats.total, "brevo"):
            assert row.label in html
            if row.rate is not None:
                assert f"{row.rate.percent} <span" in html

    def test_every_count_of_the_total_is_printed(self, html: str, stats: CampaignStats) -> None:
        table = html.split('<table class="data totals">', 1)[1].split("</table>", 1)[0]
        rows = re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', table)
        printed = dict(rows)
        assert printed["Delivered"] == str(stats.total.delivered)
        assert printed["Skipped"] == str(stats.total.skipped)
        assert printed["Completed"] == str(stats.total.completed)
        assert len(printed) == len(COUNTS)

    def test_timeline_is_listed(self, html: str, stats: CampaignStats) -> None:
        for entry in stats.timeline:
            assert entry.action.value.replace("_", " ") in html

    def test_print_and_phone_styles(self, html: str) -> None:
        assert "@media print" in html
        assert "@media (max-width: 600px)" in html
        assert 'name="viewport"' in html
        assert '"Segoe UI"' in html  # the stylesheet is inlined, not escaped

    def test_okabe_ito_colours_and_hatches(self, html: str) -> None:
        assert "#009e73" in html.lower()
        assert "<pattern" in html  # hatch patterns, so colour is not the only cue

    def test_rendering_is_repeatable(self) -> None:
        storage, now = _tiny()
        stats = delivery_stats(storage, "c0", now=now)
        extras = report_extras(storage, "c0")
        assert render_html(stats, extras) == render_html(stats, extras)

    def test_labels_are_escaped(self) -> None:
        import attrs

        storage, now = _tiny()
        stats = delivery_stats(storage, "c0", now=now)
        hostile = attrs.evolve(stats, campaign_name="<b>Spring</b> & co")
        page = render_html(hostile, title="x")
        assert "&lt;b&gt;Spring&lt;/b&gt; &amp; co" in page
        assert "<b>Spring</b>" not in page


def _tiny() -> tuple[Storage, datetime]:
    """A one-step campaign of three recipients, run on the ideal carrier."""
    storage = InMemoryStorage()
    clock = VirtualClock(T0)
    gateway = SimulatedGateway.ideal(clock=clock)
    runner = CampaignRunner(storage, gateway, clock)
    storage.add_campaign(
        Campaign.create(at=T0, id="c0", name="Tiny", steps=STEPS[:1], sender="+12125550100")
    )
    runner.add_recipients("c0", _contacts(0, 3), list_name="tiny.csv")
    runner.schedule("c0")
    run_simulation(runner, gateway, clock, until=T0 + timedelta(days=1))
    return storage, clock.now()


class TestEdgeCases:
    """Campaigns with nothing sent yet still render."""

    def test_a_scheduled_campaign_with_no_sends(self, tmp_path: Path) -> None:
        storage = InMemoryStorage()
        campaign = Campaign.create(at=T0, id="c0", name="Empty", steps=STEPS[:1])
        storage.add_campaign(campaign)
        stats = delivery_stats(storage, "c0", now=T0)
        assert stats.state is CampaignState.DRAFT
        path = write_html_report(storage, "c0", tmp_path / "empty.html", now=T0)
        page = path.read_text(encoding="utf-8")
        assert "No messages yet" in page
        assert "No message was skipped." in page
        assert "No message bounced." in page
        assert path.is_absolute()


class TestPackaging:
    """The templates are package data, found through the package, not the source tree."""

    def test_templates_load_from_the_package(self) -> None:
        loader = jinja2.PackageLoader("smscampaign", "templates")
        names = set(loader.list_templates())
        assert {"report.html.j2", "report.css"} <= names
