"""The ``smscampaign`` command: a campaign file, its recipients, its plan, its run and its reports.

A campaign file is one SQLite database (:class:`~smscampaign.providers.sqlite.SQLiteStorage`)
holding one or more campaigns; every command but ``demo`` takes its path
first. When the file holds one campaign the commands find it; with several,
``--campaign ID`` names one.

Commands: ``init``, ``import``, ``plan``, ``eligible``, ``run``, ``report``,
``export``, ``suppress``, ``unsuppress``, ``timeline``, ``serve`` and ``demo``;
and, across every campaign of an account, ``log``, ``consent``,
``suppressions``, ``contact``, ``campaigns`` and ``test-send``. Output is
plain text, with tables and progress bars from ``rich`` when it is installed
(``pip install "smscampaign[cli]"``) and the output is a terminal; ``--json``
gives machine-readable output where a script would want it. A user mistake
(missing file, unknown campaign, bad window, bad CSV...) prints one line,
``smscampaign: error: ...``, on stderr and exits with status 1 (2 for a
malformed command line); never a traceback.

The only gateway that exists today is the simulated carrier
(:class:`~smscampaign.providers.simulated.SimulatedGateway`): ``run`` sends
through it, on a virtual clock with ``--until`` or on the real clock without.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from smscampaign import __version__
from smscampaign._demo import record_import
from smscampaign.account import (
    CONSENT_LABELS,
    SUPPRESSION_CAUSE_LABELS,
    LogEntry,
    NumberStatus,
    consent_totals,
    contact_timeline,
    export_consent,
    export_sms_log,
    export_suppressions,
    iter_pending_opt_in,
    iter_suppression_list,
    lift_suppression,
    lookup_number,
    sms_log_page,
    stage_statuses,
)
from smscampaign.domain._zones import get_zone
from smscampaign.domain.campaign import Campaign, CampaignOptions, CampaignState, Step
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    Consent,
    Contact,
    Suppression,
    SuppressionCause,
    validate_time_zone,
)
from smscampaign.domain.delivery import DeliveryStatus
from smscampaign.domain.phone import PhoneNumber
from smscampaign.eligibility import Eligibility
from smscampaign.errors import InvalidPhoneNumber, NotFound, SmsCampaignError
from smscampaign.importing import ImportSummary, import_recipients
from smscampaign.providers.base import LogCursor, LogFilter
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.reporting import (
    OVERVIEW_HEADER,
    CampaignOverview,
    campaigns_overview,
    delivery_stats,
    export_status_log,
    overview_rows,
    overview_to_dict,
    render_table,
    stats_to_csv_rows,
    stats_to_dict,
)
from smscampaign.runner import CampaignRunner, SystemClock, TickReport
from smscampaign.scheduling import Plan
from smscampaign.testing.simulation import SimulationReport, run_simulation

__all__ = ["UserError", "build_parser", "main"]

PROG = "smscampaign"

_SETTLED = frozenset({CampaignState.COMPLETED, CampaignState.STOPPED, CampaignState.SUSPENDED})


class UserError(Exception):
    """A mistake on the command line or in its files: one line for the user, and an exit status.

    Args:
        message: What was wrong, naming the value.
        status: The exit status (1, or 2 for a malformed option value).
    """

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# --- output ------------------------------------------------------------------------------


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


_NUMBER = re.compile(r"-?[\d.,]+%?( \([\d.]+%\))?")


class _Output:
    """Where a command writes: plain lines, or ``rich`` tables and bars on a terminal."""

    def __init__(self, stream: TextIO, *, fancy: bool) -> None:
        self.stream = stream
        self.console: Any = None
        if fancy:
            from rich.console import Console

            self.console = Console(file=stream, highlight=False)

    def line(self, text: str = "") -> None:
        """Write one line (or several, joined by newlines), exactly as given."""
        if self.console is not None:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.stream)

    def text(self, block: str) -> None:
        """Write a preformatted block (a table already laid out), without its final newline."""
        self.line(block.rstrip("\n"))

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str = ""
    ) -> None:
        """A table: ``rich``'s on a terminal, aligned plain text otherwise."""
        cells = [[str(c) for c in row] for row in rows]
        if self.console is not None:
            from rich.table import Table

            table = Table(title=title or None, title_justify="left")
            for index, header in enumerate(headers):
                right = bool(cells) and all(_NUMBER.fullmatch(row[index]) for row in cells)
                table.add_column(header, justify="right" if right else "left")
            for row in cells:
                table.add_row(*row)
            self.console.print(table)
            return
        if title:
            self.line(title)
        grid = [list(headers), *cells]
        widths = [max(len(row[i]) for row in grid) for i in range(len(headers))]
        numeric = [bool(cells) and all(_NUMBER.fullmatch(row[i]) for row in cells)
                   for i in range(len(headers))]  # fmt: skip
        for index, row in enumerate(grid):
            parts = [
                c.rjust(w) if right else c.ljust(w)
                for c, w, right in zip(row, widths, numeric, strict=True)
            ]
            self.line("  ".join(parts).rstrip())
            if index == 0:
                self.line("  ".join("-" * w for w in widths))

    def progress(self, total: int, label: str, *, quiet: bool = False) -> _Progress:
        """A progress display of ``total`` units (a bar on a terminal, a few lines otherwise).

        A ``quiet`` one shows nothing (for ``--json``).
        """
        return _Progress(self, total, label, quiet=quiet)


class _Progress:
    """Progress of sent against recipients (seed 002's "7/11"), as a bar or as plain lines.

    Plain lines are written at most every tenth of the way, so a log stays short.
    """

    def __init__(self, out: _Output, total: int, label: str, *, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self.note = ""
        self._next_line = 0
        self._bar: Any = None
        self._task: Any = None
        if out.console is not None and not quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                console=out.console,
                transient=False,
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total or None, note="")
        return self

    def update(self, done: int, note: str = "") -> None:
        """Show ``done`` of the total, with a short note (the virtual time, counts...)."""
        self.done, self.note = done, note
        if self._bar is not None:
            self._bar.update(self._task, total=self.total or None, completed=done, note=note)
            return
        if not self.quiet and done >= self._next_line:
            self._emit()
            step = max(1, self.total // 10)
            self._next_line = (done // step + 1) * step

    def _emit(self) -> None:
        extra = f"  {self.note}" if self.note else ""
        self.out.line(f"{self.label}: {self.done}/{self.total}{extra}")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif not self.quiet and self.done < self._next_line and exc[0] is None:
            self._emit()


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


# --- parsing values ----------------------------------------------------------------------

_DELAY = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?", re.IGNORECASE)


def parse_delay(text: str, option: str = "--reminder") -> timedelta:
    """Read ``2d``, ``36h``, ``1d12h`` or ``90m`` as a duration.

    Raises:
        UserError: The text is not such a duration (exit status 2).
    """
    match = _DELAY.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise UserError(
            f"{option}: {text.strip()!r} is not a delay like 2d, 36h, 1d12h or 90m", status=2
        )
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def parse_reminder(text: str) -> tuple[timedelta, str]:
    """Read ``--reminder "2d: Reminder text"`` as (delay, text).

    Raises:
        UserError: There is no delay before the colon, or no text after it.
    """
    delay, colon, body = text.partition(":")
    if not colon or not body.strip():
        raise UserError(
            f"--reminder: {text!r} should be '<delay>: <text>', "
            "e.g. '2d: Last call, {first_name}!'",
            status=2,
        )
    return parse_delay(delay), body.strip()


def parse_when(text: str, zone: str, option: str) -> datetime:
    """Read a date (midnight in ``zone``), a date and time (``zone`` unless an offset is given),
    or ``now``.

    Raises:
        UserError: The text is none of these (exit status 2).
    """
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(timezone.utc)
    tz = get_zone(zone)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise UserError(
            f"{option}: {text!r} is not a date (2026-07-01), a date and time "
            "(2026-07-01T09:30, optionally with +02:00) or 'now'",
            status=2,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "campaign"


# --- the campaign file -------------------------------------------------------------------


def _open(path: str, *, create: bool = False) -> SQLiteStorage:
    """Open a campaign file; unless ``create``, it must exist already."""
    file = Path(path)
    if not create and not file.is_file():
        raise UserError(f"no campaign file at {path} (create one with: {PROG} init {path} ...)")
    if create and file.parent and not file.parent.is_dir():
        raise UserError(f"cannot create {path}: the folder {file.parent} does not exist")
    return SQLiteStorage(file)


def _campaign(storage: SQLiteStorage, wanted: str | None, path: str) -> Campaign:
    """The campaign named by ``--campaign``, or the file's only campaign."""
    if wanted:
        try:
            return storage.get_campaign(wanted)
        except NotFound:
            known = [c.id for c in storage.iter_campaigns()]
            raise UserError(
                f"{path} has no campaign {wanted!r}; it has {', '.join(known) or 'none'}"
            ) from None
    campaigns = list(storage.iter_campaigns())
    if not campaigns:
        raise UserError(f"{path} holds no campaign yet (create one with: {PROG} init {path} ...)")
    if len(campaigns) > 1:
        ids = ", ".join(c.id for c in campaigns)
        raise UserError(
            f"{path} holds {len(campaigns)} campaigns ({ids}); choose one with --campaign"
        )
    return campaigns[0]


def _runner(
    storage: SQLiteStorage,
    gateway: SimulatedGateway | None = None,
    clock: Any = None,
    *,
    evaluation_interval: timedelta = timedelta(minutes=1),
) -> CampaignRunner:
    return CampaignRunner(
        storage,
        gateway if gateway is not None else SimulatedGateway(),
        clock,
        worker="cli",
        evaluation_interval=evaluation_interval,
    )


# --- commands ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, out: _Output) -> int:
    """Create a campaign (a draft) in a campaign file, creating the file if needed."""
    zone = validate_time_zone(args.zone)
    steps = [Step(id="invite", kind="invite", body=args.invite)]
    for index, spec in enumerate(args.reminder or (), start=1):
        delay, body = parse_reminder(spec)
        steps.append(Step(id=f"reminder-{index}", kind="reminder", body=body, delay=delay))
    if args.thank_you:
        steps.append(Step(id="thank-you", kind="thank_you", body=args.thank_you))
    starts_at = parse_when(args.start, zone, "--start") if args.start else None
    ends_at = parse_when(args.end, zone, "--end") if args.end else None
    now = datetime.now(timezone.utc)
    campaign = Campaign.create(
        at=now,
        cause="smscampaign init",
        id=args.id or _slug(args.name),
        name=args.name,
        sender=args.sender,
        time_zone=zone,
        send_window=args.window or "",
        throttle=args.throttle or "",
        starts_at=starts_at,
        ends_at=ends_at,
        steps=steps,
        options=CampaignOptions(allow_pending_opt_in=args.allow_pending_opt_in),
    )
    with _open(args.db, create=True) as storage:
        runner = _runner(storage)
        runner.create(campaign)
        schedule = runner.schedule_for(campaign)
    if args.json:
        out.line(_dump(_campaign_dict(campaign)))
        return 0
    when = []
    if starts_at:
        when.append(f"from {starts_at.isoformat()}")
    if ends_at:
        when.append(f"until {ends_at.isoformat()}")
    out.line(
        f"created campaign {campaign.id} ({campaign.name}) in {args.db}: "
        f"{len(steps)} steps ({', '.join(s.id for s in steps)}), zone {zone}, "
        f"window {schedule.window.spec or 'any time the law allows'}, "
        f"throttle {schedule.throttle}" + (f", {' '.join(when)}" if when else "")
    )
    return 0


def _campaign_dict(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "state": campaign.state.value,
        "sender": campaign.sender,
        "time_zone": campaign.time_zone,
        "send_window": campaign.send_window,
        "throttle": campaign.throttle,
        "starts_at": campaign.starts_at.isoformat() if campaign.starts_at else None,
        "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else None,
        "steps": [
            {
                "id": s.id,
                "kind": s.kind.value,
                "delay_seconds": s.delay.total_seconds(),
                "body": s.body.text,
            }
            for s in campaign.steps
        ],
    }


def _summary_dict(summary: ImportSummary) -> dict[str, Any]:
    return {
        "file": summary.file,
        "list_name": summary.list_name,
        "encoding": summary.encoding,
        "delimiter": summary.delimiter,
        "columns": dict(summary.columns),
        "rows": summary.rows,
        "imported": summary.imported,
        "updated": summary.updated,
        "duplicates": summary.duplicates,
        "invalid": summary.invalid,
        "suppressed": summary.suppressed,
        "blank_lines": summary.blank_lines,
        "warnings": list(summary.warnings),
        "errors_csv": summary.errors_csv,
        "problems": [
            {
                "line": p.line,
                "outcome": p.outcome.value,
                "column": p.column,
                "value": p.value,
                "reason": p.reason,
                "duplicate_of": p.duplicate_of,
            }
            for p in summary.problems
        ],
    }


def summary_line(summary: ImportSummary, campaign_id: str) -> str:
    """One line saying what became of every row of an import."""
    return (
        f"imported {summary.imported} of {summary.rows} rows of {summary.list_name} into "
        f"{campaign_id}: {summary.updated} updated, {summary.duplicates} duplicate, "
        f"{summary.invalid} invalid, {summary.suppressed} suppressed"
    )


def _print_problems(out: _Output, summary: ImportSummary, limit: int = 5) -> None:
    for problem in summary.problems[:limit]:
        where = f" {problem.column}={problem.value!r}" if problem.column else ""
        out.line(f"  line {problem.line}: {problem.outcome.value}{where}: {problem.reason}")
    hidden = summary.rows - summary.imported - summary.updated - min(limit, len(summary.problems))
    if hidden > 0:
        extra = f" (see {summary.errors_csv})" if summary.errors_csv else ""
        out.line(f"  ... {hidden} more rows not imported{extra}")
    for warning in summary.warnings:
        out.line(f"  warning: {warning}")


def cmd_import(args: argparse.Namespace, out: _Output) -> int:
    """Import a CSV recipient list into a campaign."""
    if not Path(args.csv).is_file():
        raise UserError(f"no CSV file at {args.csv}")
    consent = {"opted-in": Consent.OPTED_IN, "pending": Consent.PENDING_OPT_IN}[args.consent]
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        summary = import_recipients(
            args.csv,
            storage,
            campaign_id=campaign.id,
            region=args.region or None,
            list_name=args.list,
            consent=consent,
            errors_csv=args.errors,
        )
        record_import(_runner(storage), campaign.id, summary, at=_now_after(campaign))
    if args.json:
        out.line(_dump({"campaign": campaign.id, **_summary_dict(summary)}))
        return 0
    out.line(summary_line(summary, campaign.id))
    _print_problems(out, summary)
    return 0


def _now_after(campaign: Campaign) -> datetime:
    """Now, or the last timeline entry's time if that is later (a virtual run went ahead)."""
    now = datetime.now(timezone.utc)
    last = campaign.timeline[-1].at if campaign.timeline else now
    return max(now, last)


def _campaign_now(storage: SQLiteStorage, campaign: Campaign) -> datetime:
    """The campaign's present: now, unless a virtual run took it further (then its last event).

    A run on a virtual clock leaves timeline entries and sends in the future
    of the real clock; reports and decisions default to where that run ended.
    """
    now = _now_after(campaign)
    if now <= datetime.now(timezone.utc):
        return now
    for send in storage.iter_sends(campaign.id):
        moments = [send.created_at, send.canceled_at, send.gave_up_at]
        for attempt in send.attempts:
            moments += [attempt.queued_at, attempt.sent_at, attempt.delivered_at, attempt.failed_at]
        now = max([now, *(m for m in moments if m is not None)])
    return now


def _suppressed(storage: SQLiteStorage, account: str) -> frozenset[str]:
    return frozenset(s.e164 for s in storage.iter_suppressions(account=account))


def _invite_plan(storage: SQLiteStorage, campaign: Campaign, start: datetime) -> Plan:
    runner = _runner(storage)
    engine = Eligibility(
        campaign, campaign.invite, now=start, suppressed=_suppressed(storage, campaign.account)
    )
    pending = engine.pending(storage.iter_recipients(campaign.id))
    return runner.schedule_for(campaign).plan(pending, start=start)


def _plan_dict(plan: Plan, slots: int) -> dict[str, Any]:
    return {
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        "requested": plan.requested,
        "sent": plan.sent,
        "unreached": plan.unreached,
        "unreached_reason": plan.unreached_reason.value if plan.unreached_reason else None,
        "completion": plan.completion.isoformat() if plan.completion else None,
        "rolled_over": plan.rolled_over,
        "spacing_seconds": plan.spacing.total_seconds(),
        "days": [
            {"day": d.day.isoformat(), "sent": d.sent, "carried_over": d.carried_over}
            for d in plan.days
        ],
        "groups": [
            {
                "group": str(g.group),
                "requested": g.requested,
                "sent": g.sent,
                "unreached": g.unreached,
                "completion": g.completion.isoformat() if g.completion else None,
            }
            for g in plan.groups
        ],
        "slots": [
            {
                "group": str(s.group),
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "count": s.count,
            }
            for s in plan.slots[:slots]
        ],
    }


def cmd_plan(args: argparse.Namespace, out: _Output) -> int:
    """Show when the invitations still pending will go: per day, roll-over, completion."""
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        if args.start:
            start = parse_when(args.start, campaign.time_zone, "--start")
        else:
            start = _campaign_now(storage, campaign)
            if campaign.starts_at is not None:
                start = max(start, campaign.starts_at)
        plan = _invite_plan(storage, campaign, start)
    if args.json:
        out.line(_dump({"campaign": campaign.id, **_plan_dict(plan, args.slots)}))
        return 0
    out.line(
        f"plan for {campaign.id}: {plan.requested} invitations pending from "
        f"{start.astimezone(get_zone(campaign.time_zone)):%a %Y-%m-%d %H:%M %Z} "
        f"(times in {campaign.time_zone})"
    )
    out.text(plan.render(campaign.time_zone, max_slots=args.slots))
    return 0


def _find_recipient(storage: SQLiteStorage, campaign: Campaign, who: str, region: str) -> str:
    """A recipient's id from its id or its phone number as typed."""
    try:
        return storage.get_recipient(campaign.id, who).id
    except NotFound:
        pass
    try:
        e164 = PhoneNumber.parse(who, region or None, lenient=True).e164
    except InvalidPhoneNumber:
        raise UserError(f"campaign {campaign.id} has no recipient {who!r}") from None
    for recipient in storage.iter_recipients(campaign.id, with_sends=False):
        if recipient.phone.e164 == e164:
            return recipient.id
    raise UserError(f"campaign {campaign.id} has no recipient {who!r} ({e164})")


def cmd_eligible(args: argparse.Namespace, out: _Output) -> int:
    """Who is pending for a step, how many each reason excludes, and why (``--explain``)."""
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        step = campaign.step(args.step)
        at = (
            parse_when(args.at, campaign.time_zone, "--at")
            if args.at
            else _campaign_now(storage, campaign)
        )
        suppressed = _suppressed(storage, campaign.account)
        engine = Eligibility(campaign, step, now=at, suppressed=suppressed)
        counts = engine.counts(storage.iter_recipients(campaign.id))
        explanations: list[dict[str, Any]] = []
        if args.explain is not None:
            wanted = (
                None
                if args.explain == "*"
                else _find_recipient(storage, campaign, args.explain, args.region)
            )
            fresh = Eligibility(campaign, step, now=at, suppressed=suppressed)
            for decision in fresh.decide_by_rules(storage.iter_recipients(campaign.id)):
                if wanted is None and not decision.reasons:
                    continue
                if wanted is not None and decision.recipient.id != wanted:
                    continue
                explanations.append(
                    {
                        "recipient": decision.recipient.id,
                        "phone": decision.recipient.phone.e164,
                        "eligible": not decision.reasons,
                        "reasons": list(decision.skip_reasons),
                        "explanation": decision.explain(),
                    }
                )
                if args.limit and len(explanations) >= args.limit:
                    break
    by_reason = {str(reason): n for reason, n in counts.by_reason.items()}
    if args.json:
        data: dict[str, Any] = {
            "campaign": campaign.id,
            "step": step.id,
            "at": at.isoformat(),
            "total": counts.total,
            "eligible": counts.eligible,
            "ineligible": counts.ineligible,
            "by_reason": by_reason,
        }
        if args.explain is not None:
            data["explanations"] = explanations
        out.line(_dump(data))
        return 0
    out.line(
        f"{step.id}: {counts.eligible} of {counts.total} recipients pending "
        f"at {at.astimezone(get_zone(campaign.time_zone)):%Y-%m-%d %H:%M %Z}, "
        f"{counts.ineligible} not"
    )
    if by_reason:
        out.table(
            ["reason", "recipients"],
            sorted(by_reason.items(), key=lambda kv: -kv[1]),
        )
    for item in explanations:
        out.line(item["explanation"])
    return 0


def _progress_counts(storage: SQLiteStorage, campaign: Campaign) -> tuple[int, int, int]:
    """(invitations that went out, recipients, messages that went out) from storage."""
    went_out = {"sending", "sent", "delivered", "soft_bounced", "hard_bounced"}
    sends = storage.count_sends(campaign.id, by=("step", "status"))
    invited = sum(n for (step, status), n in sends.items() if step == campaign.invite.id
                  and status in went_out)  # fmt: skip
    messages = sum(n for (_, status), n in sends.items() if status in went_out)
    recipients = sum(storage.count_recipients(campaign.id, by=()).values())
    return invited, recipients, messages


def _prepare_run(runner: CampaignRunner, campaign: Campaign, at: datetime) -> Campaign:
    if campaign.state is CampaignState.DRAFT:
        campaign = runner.schedule(campaign.id, now=at, cause="smscampaign run")
    return campaign


def _simulation_dict(report: SimulationReport) -> dict[str, Any]:
    return {
        "started_at": report.started_at.isoformat(),
        "ended_at": report.ended_at.isoformat(),
        "ticks": report.ticks,
        "sent": report.sent,
        "queued": report.queued,
        "skipped": report.skipped,
        "failed": report.failed,
        "blocked": report.blocked,
        "receipts": report.receipts,
        "replies": report.replies,
        "settled": report.settled,
    }


def cmd_run(args: argparse.Namespace, out: _Output) -> int:
    """Run a campaign against the simulated carrier, on a virtual clock or on the real one."""
    interval = timedelta(minutes=args.evaluation_interval)
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        if campaign.state in (CampaignState.COMPLETED, CampaignState.STOPPED):
            raise UserError(f"campaign {campaign.id} is {campaign.state.value}: nothing to run")
        if args.until:
            return _run_virtual(args, out, storage, campaign, interval)
        return _run_real(args, out, storage, campaign, interval)


def _run_virtual(
    args: argparse.Namespace,
    out: _Output,
    storage: SQLiteStorage,
    campaign: Campaign,
    interval: timedelta,
) -> int:
    zone = campaign.time_zone
    until = parse_when(args.until, zone, "--until")
    if args.start:
        start = parse_when(args.start, zone, "--start")
    else:
        start = campaign.starts_at or datetime.now(timezone.utc)
    last = campaign.timeline[-1].at if campaign.timeline else start
    start = max(start, last)
    if until <= start:
        raise UserError(
            f"--until {until.isoformat()} is not after the run's start {start.isoformat()}"
        )
    from smscampaign._demo import demo_gateway

    clock = VirtualClock(start)
    gateway = demo_gateway(clock, seed=args.seed)
    runner = _runner(storage, gateway, clock, evaluation_interval=interval)
    campaign = _prepare_run(runner, campaign, start)
    _, recipients, _ = _progress_counts(storage, campaign)
    label = f"{campaign.id}: invited"
    refreshed = [0.0]
    with out.progress(recipients, label, quiet=args.json) as bar:

        def on_tick(now: datetime, tick: TickReport) -> None:
            wall = time.monotonic()
            if wall - refreshed[0] < 0.2 and not (tick.completed or tick.suspended):
                return
            refreshed[0] = wall
            invited, _, messages = _progress_counts(storage, campaign)
            local = now.astimezone(get_zone(zone))
            bar.update(invited, f"{local:%a %d %b %H:%M}  {messages} messages")

        report = run_simulation(runner, gateway, clock, until=until, max_step=interval,
                                on_tick=on_tick)  # fmt: skip
        invited, _, messages = _progress_counts(storage, campaign)
        bar.update(invited, f"{messages} messages")
    final = storage.get_campaign(campaign.id)
    return _run_summary(args, out, final, report, invited, recipients, virtual=True)


def _run_summary(
    args: argparse.Namespace,
    out: _Output,
    campaign: Campaign,
    report: SimulationReport,
    invited: int,
    recipients: int,
    *,
    virtual: bool,
) -> int:
    if args.json:
        out.line(
            _dump(
                {
                    "campaign": campaign.id,
                    "state": campaign.state.value,
                    "clock": "virtual" if virtual else "real",
                    "progress": {"sent": invited, "recipients": recipients},
                    **_simulation_dict(report),
                }
            )
        )
        return 0
    tz = get_zone(campaign.time_zone)
    out.line(
        f"ran {campaign.id} on the {'virtual' if virtual else 'real'} clock from "
        f"{report.started_at.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{report.ended_at.astimezone(tz):%Y-%m-%d %H:%M %Z}: {report.sent} sent, "
        f"{report.receipts} receipts, {report.replies} replies; progress {invited}/{recipients}; "
        f"state {campaign.state.value}"
    )
    return 0


def _run_real(
    args: argparse.Namespace,
    out: _Output,
    storage: SQLiteStorage,
    campaign: Campaign,
    interval: timedelta,
) -> int:
    from smscampaign._demo import demo_gateway

    clock = _WallClock()
    gateway = demo_gateway(clock, seed=args.seed)  # type: ignore[arg-type]
    runner = _runner(storage, gateway, SystemClock(), evaluation_interval=interval)
    campaign = _prepare_run(runner, campaign, clock.now())
    report = SimulationReport(started_at=clock.now(), ended_at=clock.now())
    _, recipients, _ = _progress_counts(storage, campaign)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    with out.progress(recipients, f"{campaign.id}: invited", quiet=args.json) as bar:
        try:
            while True:
                now = clock.now()
                tick = runner.tick(now)
                report.add(tick)
                for request in gateway.deliver_due(now):
                    if request.url == gateway.inbound_url:
                        report.replies += len(runner.handle_inbound(request, now=now))
                    else:
                        report.receipts += len(runner.handle_status(request, now=now))
                report.ended_at = now
                invited, _, messages = _progress_counts(storage, campaign)
                bar.update(invited, f"{messages} messages")
                if storage.get_campaign(campaign.id).state in _SETTLED and not gateway.pending:
                    report.settled = True
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(args.interval)
        except KeyboardInterrupt:
            out.line("interrupted: the campaign stays as it is; run again to carry on")
    final = storage.get_campaign(campaign.id)
    invited, recipients, _ = _progress_counts(storage, final)
    return _run_summary(args, out, final, report, invited, recipients, virtual=False)


class _WallClock:
    """The system clock as the simulated carrier's ``clock`` callable."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    __call__ = now


def cmd_report(args: argparse.Namespace, out: _Output) -> int:
    """Print a campaign's delivery statistics: a table, JSON or CSV."""
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        at = (
            parse_when(args.at, campaign.time_zone, "--at")
            if args.at
            else _campaign_now(storage, campaign)
        )
        stats = delivery_stats(storage, campaign.id, now=at)
        if args.html:
            from smscampaign.htmlreport import write_html_report

            path = write_html_report(storage, campaign.id, args.html, now=at)
            out.line(f"HTML report written to {path}")
            return 0
    if args.format == "json":
        data = stats_to_dict(stats)
        if args.vocabulary:
            from smscampaign.reporting import view

            data["view"] = {
                "vocabulary": args.vocabulary,
                "rows": [
                    {
                        "label": r.label,
                        "count": r.count,
                        "rate": None if r.rate is None else r.rate.value,
                    }
                    for r in view(stats, args.vocabulary)
                ],
            }
        out.line(_dump(data))
    elif args.format == "csv":
        writer = csv.writer(out.stream, lineterminator="\n")
        writer.writerows(stats_to_csv_rows(stats, args.vocabulary))
    else:
        out.text(render_table(stats, args.vocabulary))
    return 0


def cmd_export(args: argparse.Namespace, out: _Output) -> int:
    """Write the status log CSV (seed 000's "Export Contacts with Send Status")."""
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        zone = args.zone or None
        if args.out == "-":
            rows = export_status_log(storage, campaign.id, out.stream, time_zone=zone)
            return 0
        target = args.out or str(Path(args.db).with_name(f"{Path(args.db).stem}-status-log.csv"))
        rows = export_status_log(storage, campaign.id, target, time_zone=zone, bom=args.bom)
    if args.json:
        out.line(_dump({"campaign": campaign.id, "path": target, "rows": rows}))
    else:
        out.line(f"wrote the status log of {campaign.id} to {target}: {rows} recipients")
    return 0


def _number(text: str, region: str) -> str:
    try:
        return PhoneNumber.parse(text, region or None, lenient=True).e164
    except InvalidPhoneNumber as exc:
        raise UserError(f"{text!r} is not a phone number: {exc.message}") from None


def cmd_suppress(args: argparse.Namespace, out: _Output) -> int:
    """Add a number to the account's suppression list (nothing is ever sent to it again)."""
    e164 = _number(args.number, args.region)
    with _open(args.db) as storage:
        at = datetime.now(timezone.utc)
        added = storage.suppress(
            Suppression(
                e164=e164,
                cause=SuppressionCause.MANUAL,
                at=at,
                account=args.account,
                detail=args.reason or "",
                by=args.by,
            )
        )
        entry = storage.get_suppression(e164, account=args.account)
    if args.json:
        out.line(
            _dump(
                {
                    "number": e164,
                    "added": added,
                    "cause": entry.cause.value if entry else None,
                    "since": entry.at.isoformat() if entry else None,
                }
            )
        )
        return 0
    if added:
        out.line(f"suppressed {e164}: nothing will be sent to it in any campaign of {args.account}")
    elif entry is not None:
        out.line(
            f"{e164} was already suppressed "
            f"({entry.cause.value} since {entry.at:%Y-%m-%d %H:%M %Z})"
        )
    return 0


def cmd_unsuppress(args: argparse.Namespace, out: _Output) -> int:
    """Take a number off the suppression list: an explicit act, logged with who and why."""
    e164 = _number(args.number, args.region)
    with _open(args.db) as storage:
        try:
            # A stop word is lifted only after the number's own START (SuppressionLiftRefused).
            removal = lift_suppression(
                storage, e164, account=args.account, by=args.by, reason=args.reason
            )
        except NotFound:
            raise UserError(f"{e164} is not on the suppression list of {args.account}") from None
    if args.json:
        out.line(
            _dump(
                {
                    "number": e164,
                    "removed": True,
                    "cause": removal.suppression.cause.value,
                    "suppressed_at": removal.suppression.at.isoformat(),
                    "reason": removal.reason,
                    "by": removal.by,
                }
            )
        )
        return 0
    out.line(
        f"unsuppressed {e164} (was {removal.suppression.cause.value} since "
        f"{removal.suppression.at:%Y-%m-%d %H:%M %Z}); logged: {removal.reason!r} by {removal.by}"
    )
    return 0


def cmd_timeline(args: argparse.Namespace, out: _Output) -> int:
    """Every action on a campaign, oldest first (seed 003's timeline)."""
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
    entries = [
        {
            "at": e.at.isoformat(),
            "action": e.action.value,
            "state": e.state.value,
            "cause": e.cause,
            "detail": e.detail,
        }
        for e in campaign.timeline
    ]
    if args.json:
        out.line(_dump({"campaign": campaign.id, "state": campaign.state.value,
                        "timeline": entries}))  # fmt: skip
        return 0
    tz = get_zone(campaign.time_zone)
    out.line(f"{campaign.id} ({campaign.name}): {campaign.state.value}")
    out.table(
        ["at", "action", "state", "cause"],
        [
            [
                f"{e.at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
                e.action.value,
                e.state.value,
                e.cause + (f" ({e.detail})" if e.detail else ""),
            ]
            for e in campaign.timeline
        ],
    )
    return 0


# --- account views -------------------------------------------------------------------------


def _csv_target(out: _Output, path: str, bom: bool, write: Callable[[Any], int]) -> int:
    """Run an export to ``path`` (``-`` for stdout); returns the rows written."""
    if path == "-":
        return write(out.stream)
    folder = Path(path).parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist")
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        return write(handle)


def _log_filter(args: argparse.Namespace) -> LogFilter:
    zone = args.zone
    statuses: set[DeliveryStatus] = set()
    for value in args.status or ():
        try:
            statuses.add(DeliveryStatus(value))
        except ValueError:
            choices = ", ".join(s.value for s in DeliveryStatus)
            raise UserError(f"--status: {value!r} is not one of {choices}", status=2) from None
    if args.stage:
        try:
            stage = stage_statuses(args.stage)
        except SmsCampaignError as exc:
            raise UserError(f"--stage: {exc.message}", status=2) from None
        statuses = (statuses & stage) if args.status else set(stage)
        if not statuses:
            raise UserError("--status and --stage together match no status", status=2)
    return LogFilter(
        since=parse_when(args.since, zone, "--since") if args.since else None,
        until=parse_when(args.until, zone, "--until") if args.until else None,
        campaign_id=args.campaign or None,
        step_id=args.step or None,
        statuses=statuses or None,
        to=_number(args.number, args.region) if args.number else None,
        contact_id=args.contact or None,
    )


def _entry_dict(entry: LogEntry) -> dict[str, Any]:
    send = entry.send
    return {
        "created_at": send.created_at.isoformat(),
        "sent_on": send.sent_on.isoformat() if send.sent_on else None,
        "campaign": send.campaign_id,
        "campaign_name": entry.campaign_name,
        "step": send.step_id,
        "to": send.to,
        "contact": send.recipient_id,
        "status": send.status.value,
        "stage": entry.stage,
        "result": entry.result,
        "cause": entry.cause,
        "detail": entry.detail,
        "send_id": send.id,
    }


def cmd_log(args: argparse.Namespace, out: _Output) -> int:
    """The SMS log of an account across campaigns, by date range (seed 001)."""
    validate_time_zone(args.zone)
    if args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}", status=2)
    where = _log_filter(args)
    after = LogCursor.parse(args.after) if args.after else None
    with _open(args.db) as storage:
        if args.csv:
            rows = _csv_target(
                out,
                args.csv,
                args.bom,
                lambda handle: export_sms_log(
                    storage, handle, where, account=args.account, time_zone=args.zone
                ),
            )
            if args.csv != "-":
                if args.json:
                    out.line(_dump({"path": args.csv, "rows": rows}))
                else:
                    out.line(f"wrote the SMS log of {args.account} to {args.csv}: {rows} messages")
            return 0
        page = sms_log_page(storage, where, account=args.account, size=args.limit, after=after)
    token = page.next.token if page.next else None
    if args.json:
        out.line(_dump({"entries": [_entry_dict(e) for e in page.entries], "next": token}))
        return 0
    tz = get_zone(args.zone)
    out.table(
        ["created", "campaign", "step", "phone", "stage", "result", "cause"],
        [
            [
                f"{e.at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
                e.send.campaign_id,
                e.send.step_id,
                e.send.to,
                e.stage,
                e.result if e.result != e.stage else "",
                f"{e.cause} ({e.detail})" if e.cause == "Other" else e.cause,
            ]
            for e in page.entries
        ],
    )
    if not page.entries:
        out.line("no message matches")
    if token:
        out.line(f"more: add --after {token}")
    return 0


def cmd_consent(args: argparse.Namespace, out: _Output) -> int:
    """Contacts' SMS status (seed 001): totals, one number, the Pending Opt-In list, or a CSV."""
    with _open(args.db) as storage:
        if args.number:
            status = lookup_number(storage, _number(args.number, args.region), account=args.account)
            return _print_number(out, status, json_out=args.json)
        consent = Consent.PENDING_OPT_IN if args.pending else None
        if args.csv:
            rows = _csv_target(
                out,
                args.csv,
                args.bom,
                lambda handle: export_consent(
                    storage, handle, account=args.account, consent=consent
                ),
            )
            if args.csv != "-":
                if args.json:
                    out.line(_dump({"path": args.csv, "rows": rows}))
                else:
                    out.line(f"wrote the SMS status of {rows} contacts to {args.csv}")
            return 0
        if args.pending:
            contacts = list(
                itertools.islice(iter_pending_opt_in(storage, account=args.account), args.limit)
            )
            return _print_pending(out, contacts, args.limit, json_out=args.json)
        totals = consent_totals(storage, account=args.account)
    if args.json:
        out.line(_dump({"account": args.account,
                        "totals": {c.value: n for c, n in totals.items()},
                        "total": sum(totals.values())}))  # fmt: skip
        return 0
    out.table(
        ["SMS Status", "Contacts"],
        [*[[CONSENT_LABELS[c], n] for c, n in totals.items()], ["Total", sum(totals.values())]],
    )
    return 0


def _print_number(out: _Output, status: NumberStatus, *, json_out: bool) -> int:
    entry = status.suppression
    if json_out:
        out.line(
            _dump(
                {
                    "number": status.e164,
                    "status": status.consent.value if status.consent else None,
                    "label": status.label,
                    "contacts": [
                        {"id": c.id, "name": c.full_name, "consent": c.consent.value}
                        for c in status.contacts
                    ],
                    "suppressed": None
                    if entry is None
                    else {"cause": entry.cause.value, "since": entry.at.isoformat()},
                }
            )
        )
        return 0
    out.line(f"{status.e164}: {status.label}")
    for c in status.contacts:
        out.line(f"  contact {c.id} ({c.full_name or 'no name'}): {CONSENT_LABELS[c.consent]}")
    if entry is not None:
        out.line(
            f"  suppressed: {SUPPRESSION_CAUSE_LABELS[entry.cause].lower()} "
            f"since {entry.at:%Y-%m-%d %H:%M %Z}"
        )
    return 0


def _print_pending(out: _Output, contacts: list[Contact], limit: int, *, json_out: bool) -> int:
    if json_out:
        rows = [
            {"id": c.id, "phone": c.phone.e164, "first_name": c.first_name,
             "last_name": c.last_name, "email": c.email}
            for c in contacts
        ]  # fmt: skip
        out.line(_dump(rows))
        return 0
    out.table(
        ["contact", "phone", "name", "email"],
        [[c.id, c.phone.e164, c.full_name, c.email] for c in contacts],
        title="Pending Opt-In",
    )
    if len(contacts) == limit:
        out.line(f"(first {limit}; --csv - lists them all)")
    return 0


def cmd_suppressions(args: argparse.Namespace, out: _Output) -> int:
    """The account's suppression list (seed 004 "Unsubscribes"), or its removal log."""
    with _open(args.db) as storage:
        if args.removals:
            removals = list(storage.iter_suppression_removals(account=args.account))
            return _print_removals(out, removals, json_out=args.json)
        if args.csv:
            rows = _csv_target(
                out,
                args.csv,
                args.bom,
                lambda handle: export_suppressions(storage, handle, account=args.account),
            )
            if args.csv != "-":
                if args.json:
                    out.line(_dump({"path": args.csv, "rows": rows}))
                else:
                    out.line(f"wrote {rows} suppressed numbers to {args.csv}")
            return 0
        causes = args.cause or None
        entries = list(
            itertools.islice(
                iter_suppression_list(storage, account=args.account, causes=causes), args.limit
            )
        )
    if args.json:
        out.line(
            _dump(
                [
                    {
                        "number": e.suppression.e164,
                        "cause": e.suppression.cause.value,
                        "detail": e.suppression.detail,
                        "since": e.suppression.at.isoformat(),
                        "campaign": e.suppression.campaign_id,
                        "by": e.suppression.by,
                        "contact": e.contact.id if e.contact else None,
                    }
                    for e in entries
                ]
            )
        )
        return 0
    out.table(
        ["phone", "cause", "detail", "since", "campaign", "by", "contact"],
        [
            [
                e.suppression.e164,
                e.label,
                e.suppression.detail,
                f"{e.suppression.at:%Y-%m-%d %H:%M %Z}",
                e.suppression.campaign_id or "",
                e.suppression.by,
                e.contact.id if e.contact else "",
            ]
            for e in entries
        ],
        title=f"Suppression list of {args.account}",
    )
    if len(entries) == args.limit:
        out.line(f"(first {args.limit}; --csv - lists them all)")
    return 0


def _print_removals(out: _Output, removals: list[Any], *, json_out: bool) -> int:
    if json_out:
        out.line(_dump([{"number": r.suppression.e164, "cause": r.suppression.cause.value,
                         "removed_at": r.at.isoformat(), "by": r.by, "reason": r.reason}
                        for r in removals]))  # fmt: skip
        return 0
    out.table(
        ["phone", "was", "removed", "by", "reason"],
        [
            [
                r.suppression.e164,
                SUPPRESSION_CAUSE_LABELS[r.suppression.cause],
                f"{r.at:%Y-%m-%d %H:%M %Z}",
                r.by,
                r.reason,
            ]
            for r in removals
        ],
        title="Removed from the suppression list",
    )
    return 0


def cmd_contact(args: argparse.Namespace, out: _Output) -> int:
    """One contact's conversation across campaigns: every message and reply, in time order."""
    tz = get_zone(validate_time_zone(args.zone))
    with _open(args.db) as storage:
        contact_id = args.who
        try:
            storage.get_contact(contact_id, account=args.account)
        except NotFound:
            e164 = _number(args.who, args.region)
            holders = list(storage.iter_contacts(account=args.account, e164=e164, limit=10))
            if not holders:
                raise UserError(f"no contact {args.who!r} in {args.account}") from None
            if len(holders) > 1:
                ids = ", ".join(c.id for c in holders)
                raise UserError(f"{e164} belongs to several contacts ({ids}); name one") from None
            contact_id = holders[0].id
        items = contact_timeline(storage, contact_id, account=args.account)
    if args.json:
        out.line(
            _dump(
                {
                    "contact": contact_id,
                    "timeline": [
                        {
                            "at": i.at.isoformat(),
                            "direction": i.direction,
                            "number": i.number,
                            "campaign": i.campaign_id,
                            "step": i.send.step_id if i.send else None,
                            "status": i.status.value if i.status else None,
                            "result": i.result,
                            "keyword": i.keyword.value if i.keyword else None,
                            "body": i.body,
                        }
                        for i in items
                    ],
                }
            )
        )
        return 0
    out.table(
        ["at", "", "campaign", "step", "status", "text"],
        [
            [
                f"{i.at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
                "->" if i.direction == "outbound" else "<-",
                i.campaign_id or "",
                i.send.step_id if i.send else "",
                i.result if i.send else (i.keyword.value if i.keyword else ""),
                i.body,
            ]
            for i in items
        ],
        title=f"Conversation with {contact_id}",
    )
    return 0


_OVERVIEW_COLUMNS = ("campaign", "state", "recipients", "progress", "delivered", "soft", "hard",
                     "replied", "opted out")  # fmt: skip


def cmd_campaigns(args: argparse.Namespace, out: _Output) -> int:
    """Every campaign of an account, one row each (seed 003 "Campaigns > Statistics")."""
    with _open(args.db) as storage:
        rows = campaigns_overview(storage, account=args.account)
    if args.csv:

        def write(handle: Any) -> int:
            writer = csv.writer(handle)
            writer.writerow(OVERVIEW_HEADER)
            writer.writerows(overview_rows(rows))
            return len(rows)

        _csv_target(out, args.csv, args.bom, write)
        if args.csv != "-":
            out.line(f"wrote {len(rows)} campaigns to {args.csv}")
        return 0
    if args.json:
        out.line(_dump({"account": args.account, "campaigns": [overview_to_dict(r) for r in rows]}))
        return 0

    def pct(row: CampaignOverview, name: str) -> str:
        rate = row.rate(name)
        return f"{row.count(name)} ({rate.percent})" if rate is not None else str(row.count(name))

    out.table(
        _OVERVIEW_COLUMNS,
        [
            [
                r.campaign_id,
                r.state.value,
                r.count("recipients"),
                r.progress.text,
                pct(r, "delivered"),
                pct(r, "soft_bounced"),
                pct(r, "hard_bounced"),
                pct(r, "replied"),
                pct(r, "opted_out"),
            ]
            for r in rows
        ],
        title=f"Campaigns of {args.account}",
    )
    return 0


def _values(pairs: Sequence[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or ():
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise UserError(f"--set: {pair!r} should be FIELD=VALUE", status=2)
        values[name.strip()] = value
    return values


def cmd_test_send(args: argparse.Namespace, out: _Output) -> int:
    """Send one step to one number as a test, outside the campaign's counts (seed 000 "Test")."""
    to = _number(args.to, args.region)
    values = _values(args.set)
    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        gateway = _gateway(args.provider, campaign.sender, None)
        runner = CampaignRunner(storage, gateway, worker="cli-test")
        sent = runner.test_send(
            campaign.id, args.step, to, contact_id=args.contact, values=values, by=args.by
        )
    if args.json:
        out.line(_dump({"campaign": sent.campaign_id, "step": sent.step_id, "to": sent.to,
                        "body": sent.body, "contact": sent.contact_id,
                        "provider": sent.receipt.provider,
                        "message_id": sent.receipt.provider_message_id,
                        "at": sent.at.isoformat()}))  # fmt: skip
        return 0
    who = f"as {sent.contact_id}" if sent.contact_id else "with the given values"
    out.line(
        f"sent a test of {sent.campaign_id}/{sent.step_id} to {sent.to} {who} through "
        f"{sent.receipt.provider} ({sent.receipt.provider_message_id}): {sent.body}"
    )
    return 0


# Where each provider's credentials come from: environment variables, so they
# never appear in a shell history or a process list.
_PROVIDER_ENV: dict[str, tuple[str, ...]] = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    "vonage": ("VONAGE_API_KEY", "VONAGE_API_SECRET", "VONAGE_SIGNATURE_SECRET"),
    "plivo": ("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"),
    "simulated": (),
}


def _gateway(provider: str, sender: str, public_url: str | None) -> Any:
    """The gateway ``serve`` verifies callbacks with, from the environment's credentials."""
    import os

    missing = [name for name in _PROVIDER_ENV[provider] if not os.environ.get(name)]
    if missing:
        raise UserError(
            f"--provider {provider} needs the environment variables {', '.join(missing)}"
        )
    env = os.environ
    callback = f"{public_url.rstrip('/')}/{provider}/status" if public_url else None
    if provider == "twilio":
        from smscampaign.providers.twilio import TwilioGateway

        return TwilioGateway(
            env["TWILIO_ACCOUNT_SID"],
            env["TWILIO_AUTH_TOKEN"],
            from_=sender or None,
            status_callback=callback,
            public_url=public_url,
        )
    if provider == "vonage":
        from smscampaign.providers.vonage import VonageGateway

        return VonageGateway(
            env["VONAGE_API_KEY"],
            env["VONAGE_API_SECRET"],
            from_=sender or "smscampaign",
            signature_secret=env["VONAGE_SIGNATURE_SECRET"],
            status_callback=callback,
        )
    if provider == "plivo":
        from smscampaign.providers.plivo import PlivoGateway

        return PlivoGateway(
            env["PLIVO_AUTH_ID"],
            env["PLIVO_AUTH_TOKEN"],
            src=sender or None,
            status_callback=callback,
        )
    from smscampaign.providers.simulated import SimulatedGateway

    return SimulatedGateway(secret=env.get("SMSCAMPAIGN_SIMULATED_SECRET", "simulated-secret"))


def cmd_serve(args: argparse.Namespace, out: _Output) -> int:
    """Receive a provider's status callbacks and replies for a campaign file, over HTTP."""
    from smscampaign.runner import CampaignRunner
    from smscampaign.webhooks import make_app, make_webhook_server

    with _open(args.db) as storage:
        campaign = _campaign(storage, args.campaign, args.db)
        gateway = _gateway(args.provider, campaign.sender, args.public_url)
        runner = CampaignRunner(storage, gateway, worker=f"serve-{args.provider}")
        app = make_app(runner, [gateway], trust_forwarded=args.trust_forwarded)
        with make_webhook_server(app, args.host, args.port) as server:
            base = f"http://{args.host}:{server.server_port}"
            out.line(
                f"Receiving {args.provider} callbacks for {campaign.id} at "
                f"{base}/{args.provider}/status and {base}/{args.provider}/inbound (Ctrl-C stops)"
            )
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                out.line("Stopped.")
    return 0


def cmd_demo(args: argparse.Namespace, out: _Output) -> int:
    """Generate a list, import it, and run a whole survey campaign on the simulated carrier."""
    from smscampaign import _demo

    if args.recipients < 20:
        raise UserError(f"--recipients must be at least 20, got {args.recipients}", status=2)
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--dir {args.dir} exists and is not a folder")
    if not args.json:
        out.line(
            f"smscampaign demo: {args.recipients} recipients, seed {args.seed}, files in {folder}"
        )
    zone = get_zone("America/New_York")
    with out.progress(args.recipients, "invited", quiet=args.json) as bar:

        def on_progress(p: _demo.DemoProgress) -> None:
            bar.total = p.recipients
            bar.update(
                p.invited,
                f"{p.at.astimezone(zone):%a %d %b %H:%M %Z}  {p.messages} messages, "
                f"{p.completed} surveys completed",
            )

        result = _demo.run_demo(
            folder,
            recipients=args.recipients,
            seed=args.seed,
            on_progress=None if args.json else _throttled(on_progress),
            evaluation_interval=timedelta(minutes=args.evaluation_interval),
        )
        progress = result.stats.progress
        bar.total = progress.recipients
        bar.update(progress.sent, f"{result.stats.total.count('completed')} surveys completed")
    if args.json:
        out.line(_dump(_demo_dict(result)))
        return 0
    _print_demo(out, result)
    return 0


def _throttled(fn: Callable[[Any], None], seconds: float = 0.1) -> Callable[[Any], None]:
    """``fn``, called at most every ``seconds`` of wall time (later calls are dropped)."""
    last = [0.0]

    def call(value: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            fn(value)

    return call


def _demo_dict(result: Any) -> dict[str, Any]:
    return {
        "directory": str(result.directory),
        "database": str(result.database),
        "recipient_list": str(result.recipient_list),
        "status_log": str(result.status_log),
        "import_errors": str(result.import_errors),
        "status_log_rows": result.status_log_rows,
        "html_report": None if result.html_report is None else str(result.html_report),
        "wall_seconds": result.wall_seconds,
        "phases": result.phases,
        "import": _summary_dict(result.summary),
        "plan": _plan_dict(result.plan, 12),
        "simulation": _simulation_dict(result.simulation),
        "report": stats_to_dict(result.stats),
    }


def _print_demo(out: _Output, result: Any) -> None:
    generated = result.generated
    zone = result.campaign.time_zone
    out.line()
    out.line(
        f"Recipient list: {result.recipient_list} ({generated.rows} rows from "
        f"{len(generated.countries)} countries; planted: {generated.invalid} unreadable or "
        f"blank numbers, {generated.duplicates} duplicates, {generated.landlines} landlines, "
        f"{generated.missing_first_name} without a first name)"
    )
    out.line(summary_line(result.summary, result.campaign.id))
    _print_problems(out, result.summary, limit=4)
    out.line()
    out.line(f"Plan the invitations followed (roll-over by day; times in {zone}):")
    out.text(result.plan.render(zone, max_slots=8))
    out.line()
    out.text(render_table(result.stats))
    out.line()
    out.line(f"Campaign file:  {result.database}")
    out.line(f"Status log:     {result.status_log} ({result.status_log_rows} recipients)")
    out.line(f"Import errors:  {result.import_errors}")
    if result.html_report is not None:
        out.line(f"HTML report:    {result.html_report}")
    else:
        out.line('HTML report:    not written (pip install "smscampaign[report]")')
    out.line(
        f"Finished in {result.wall_seconds:.1f} s of wall time "
        f"({result.simulation.ticks} ticks of the virtual clock). Try: "
        f"{PROG} report {result.database} --vocabulary gladly"
    )


# --- the parser -------------------------------------------------------------------------------

_Handler = Callable[[argparse.Namespace, _Output], int]


def build_parser() -> argparse.ArgumentParser:
    """The ``smscampaign`` argument parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="SMS campaigns from the shell: a campaign file (SQLite), its recipients, "
        "its plan, a simulated run and its reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str,
        handler: _Handler,
        help_text: str,
        *,
        db: bool = True,
        campaign: bool = True,
        json_flag: bool = True,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if db:
            p.add_argument("db", metavar="CAMPAIGN_FILE", help="the campaign file (SQLite)")
        if campaign:
            p.add_argument(
                "--campaign", metavar="ID", help="the campaign, when the file has several"
            )
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=handler)
        return p

    p = command("init", cmd_init, "create a campaign (a draft) in a campaign file", campaign=False)
    p.add_argument("--name", required=True, help="the campaign's name")
    p.add_argument("--id", help="the campaign's id (default: from the name)")
    p.add_argument("--zone", default="UTC", help="the campaign's IANA time zone")
    p.add_argument("--window", default="", help='send window, e.g. "mon-fri 09:00-20:00"')
    p.add_argument("--throttle", default="", help='throttle, e.g. "10/s; 5000/day"')
    p.add_argument("--start", help="no message before (date or date and time)")
    p.add_argument("--end", help="the end date: nothing is sent from then on")
    p.add_argument(
        "--sender", required=True, help="the number, short code or sender id it sends from"
    )
    p.add_argument("--invite", required=True, help="the invitation's text, e.g. 'Hi {first_name}'")
    p.add_argument("--reminder", action="append", metavar="DELAY: TEXT",
                   help="a reminder, e.g. '2d: Last call, {first_name}!' (repeatable)")  # fmt: skip
    p.add_argument("--thank-you", help="the thank-you text for completed responses")
    p.add_argument("--allow-pending-opt-in", action="store_true",
                   help="also send to contacts whose opt-in is pending")  # fmt: skip

    p = command("import", cmd_import, "import a CSV recipient list into a campaign")
    p.add_argument("csv", metavar="CSV", help="the recipient list")
    p.add_argument("--region", default="US", help="where national numbers are dialled (ISO code)")
    p.add_argument("--consent", choices=("opted-in", "pending"), default="opted-in",
                   help="the consent of new contacts (default: opted-in)")  # fmt: skip
    p.add_argument("--list", help="the list name (default: the file name)")
    p.add_argument("--errors", metavar="PATH", help="write the rows not imported to this CSV")

    p = command("plan", cmd_plan, "when the pending invitations will go: per day and roll-over")
    p.add_argument("--start", help="plan from (default: now or the campaign's start)")
    p.add_argument("--slots", type=int, default=12, help="how many slots to list")

    p = command("eligible", cmd_eligible, "who is pending for a step, and why the others are not")
    p.add_argument("--step", required=True, help="the step id (invite, reminder-1, thank-you...)")
    p.add_argument("--at", help="decide at this time (default: now)")
    p.add_argument("--explain", nargs="?", const="*", metavar="RECIPIENT",
                   help="explain every recipient not pending, or one (id or number)")  # fmt: skip
    p.add_argument("--limit", type=int, default=0, help="explain at most this many")
    p.add_argument("--region", default="US", help="region of a number given to --explain")

    p = command("run", cmd_run, "run the campaign against the simulated carrier")
    p.add_argument("--until", help="run on a virtual clock up to this date or time")
    p.add_argument("--start", help="virtual clock start (default: the campaign's start, or now)")
    p.add_argument("--seed", type=int, default=0, help="the simulated carrier's seed")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between ticks on the real clock")  # fmt: skip
    p.add_argument("--duration", type=float, help="stop a real-clock run after so many seconds")
    p.add_argument("--evaluation-interval", type=float, default=60.0, metavar="MINUTES",
                   help="how often the steps are re-evaluated (default: 60)")  # fmt: skip

    p = command("report", cmd_report, "delivery statistics with rates", json_flag=False)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--vocabulary", metavar="NAME",
                   help="a product's words: alchemer, school, gladly, brevo, activity-messenger "
                   "(or seed-000 ... seed-004)")  # fmt: skip
    p.add_argument("--at", help="compute for this time (default: now)")
    p.add_argument("--html", metavar="PATH",
                   help="write a self-contained HTML report to PATH instead")  # fmt: skip

    p = command("export", cmd_export, "write the status log CSV (one row per recipient)")
    p.add_argument("--out", help="the CSV path, or - for stdout "
                   "(default: <campaign file>-status-log.csv)")  # fmt: skip
    p.add_argument("--zone", help="show times in this zone (default: the campaign's)")
    p.add_argument("--bom", action="store_true", help="start with a BOM so Excel reads UTF-8")

    for name, handler, text in (
        ("suppress", cmd_suppress, "add a number to the suppression list"),
        ("unsuppress", cmd_unsuppress, "take a number off the suppression list (logged)"),
    ):
        p = command(name, handler, text, campaign=False)
        p.add_argument("number", metavar="NUMBER", help="the phone number")
        p.add_argument("--region", default="US", help="region of a national number")
        p.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account")
        p.add_argument("--by", default="cli", help="who does it (logged)")
        p.add_argument("--reason", required=name == "unsuppress", help="why (logged)")

    command("timeline", cmd_timeline, "every action on the campaign, oldest first")

    # Account views: every campaign of an account at once.
    def account_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account")

    def csv_options(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--csv", metavar="PATH", help=f"write {what} as CSV to PATH (- for stdout)")
        p.add_argument("--bom", action="store_true", help="start the CSV with a BOM for Excel")

    p = command("log", cmd_log, "the SMS log of the account across campaigns, by date range",
                campaign=False)  # fmt: skip
    account_option(p)
    p.add_argument("--since", help="from this date or time (in --zone)")
    p.add_argument("--until", help="up to (not including) this date or time (in --zone)")
    p.add_argument("--campaign", metavar="ID", help="only this campaign's messages")
    p.add_argument("--step", help="only this step's messages (invite, reminder-1...)")
    p.add_argument("--status", action="append", metavar="STATUS",
                   help="only this status: queued, sending, sent, delivered, soft_bounced, "
                   "hard_bounced, skipped, canceled (repeatable)")  # fmt: skip
    p.add_argument("--stage", action="append", metavar="WORDS",
                   help="only this SMS Log stage: 'Not Sent Yet', Sending, Sent, Undelivered, "
                   "'Ineligible to Send', 'Failed to Send' (repeatable)")  # fmt: skip
    p.add_argument("--number", help="only messages to this number")
    p.add_argument("--contact", metavar="ID", help="only messages to this contact")
    p.add_argument("--region", default="US", help="region of a national --number")
    p.add_argument("--zone", default="UTC", help="the zone of --since, --until and the times shown")
    p.add_argument("--limit", type=int, default=50, help="messages per page (default 50)")
    p.add_argument("--after", metavar="CURSOR", help="the page after this cursor (printed as more)")
    csv_options(p, "every matching message")

    p = command("consent", cmd_consent, "contacts' SMS status: totals, one number, Pending Opt-In",
                campaign=False)  # fmt: skip
    account_option(p)
    p.add_argument("--number", help="look up the status of one number")
    p.add_argument("--region", default="US", help="region of a national number")
    p.add_argument("--pending", action="store_true", help="list the Pending Opt-In contacts")
    p.add_argument("--limit", type=int, default=50, help="list at most this many (default 50)")
    csv_options(p, "every contact's status (with --pending: those pending)")

    p = command("suppressions", cmd_suppressions, "the suppression list, with causes",
                campaign=False)  # fmt: skip
    account_option(p)
    p.add_argument("--cause", action="append", choices=[c.value for c in SuppressionCause],
                   help="only entries with this cause (repeatable)")  # fmt: skip
    p.add_argument("--removals", action="store_true", help="list the logged removals instead")
    p.add_argument("--limit", type=int, default=50, help="list at most this many (default 50)")
    csv_options(p, "the whole list")

    p = command("contact", cmd_contact, "one contact's messages and replies across campaigns",
                campaign=False)  # fmt: skip
    p.add_argument("who", metavar="CONTACT", help="the contact's id, or its phone number")
    account_option(p)
    p.add_argument("--region", default="US", help="region of a national number")
    p.add_argument("--zone", default="UTC", help="show times in this zone")

    p = command("campaigns", cmd_campaigns, "every campaign of the account with its statistics",
                campaign=False)  # fmt: skip
    account_option(p)
    csv_options(p, "the overview")

    p = command("test-send", cmd_test_send, "send one step to one number as a test (not counted)")
    p.add_argument("--step", required=True, help="the step to send (invite, reminder-1...)")
    p.add_argument("--to", required=True, help="the number to send the test to")
    p.add_argument("--contact", metavar="ID", help="fill the template from this contact")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="a template value (repeatable), e.g. survey_link=https://...")  # fmt: skip
    p.add_argument("--provider", choices=sorted(_PROVIDER_ENV), default="simulated",
                   help="send through it (credentials from the environment)")  # fmt: skip
    p.add_argument("--region", default="US", help="region of a national --to")
    p.add_argument("--by", default="cli", help="who sends the test (on the timeline)")

    p = command("serve", cmd_serve, "receive provider callbacks (receipts, replies) over HTTP",
                json_flag=False)  # fmt: skip
    p.add_argument("--provider", choices=sorted(_PROVIDER_ENV), default="twilio",
                   help="whose callbacks; credentials come from the environment")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8080, help="the port (0 picks a free one)")
    p.add_argument("--public-url", help="the URL the provider calls, when behind a proxy")
    p.add_argument("--trust-forwarded", action="store_true",
                   help="trust X-Forwarded-Proto/Host from a proxy in front")  # fmt: skip

    from smscampaign._demo import DEFAULT_EVALUATION_INTERVAL, DEFAULT_RECIPIENTS, DEFAULT_SEED

    every = DEFAULT_EVALUATION_INTERVAL.total_seconds() / 60

    p = command("demo", cmd_demo, "run a whole survey campaign on the simulated carrier",
                db=False, campaign=False)  # fmt: skip
    p.add_argument("--dir", default="smscampaign-demo", help="where the files go")
    p.add_argument("--recipients", type=int, default=DEFAULT_RECIPIENTS, help="rows in the list")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seeds everything")
    p.add_argument("--evaluation-interval", type=float, default=every, metavar="MINUTES",
                   help="how often the steps are re-evaluated (default: %(default)g)")  # fmt: skip
    return parser


def _fancy(args: argparse.Namespace, stream: TextIO) -> bool:
    if getattr(args, "json", False) or getattr(args, "format", "table") != "table":
        return False
    return stream.isatty() and _rich_available()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0, 1 for a user mistake, 2 for bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = _Output(sys.stdout, fancy=_fancy(args, sys.stdout))
    handler: _Handler = args.handler
    try:
        return handler(args, out)
    except UserError as exc:
        return _fail(str(exc), exc.status)
    except SmsCampaignError as exc:
        return _fail(exc.message, 1)
    except BrokenPipeError:
        # The reader went away (``smscampaign report ... | head``): stop quietly, as
        # command-line tools do on SIGPIPE, and keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{':' if where else ''}{where}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(message: str, status: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"{PROG}: error: {first}", file=sys.stderr)
    return status
