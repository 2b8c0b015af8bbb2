"""The data and the flow of ``smscampaign demo``: a survey campaign on a simulated carrier.

:func:`write_recipient_list` writes a CSV recipient list the way a CRM
exports one (``First Name``, ``Last Name``, ``Phone (Mobile)``, ``Email``,
``Survey Link``): a few thousand valid mobile numbers across US states with
stricter legal hours than the federal ones (Florida, Texas, Washington,
Oklahoma, Maryland, Connecticut, California...), New York, France, the United
Kingdom and a few other countries, written nationally or internationally as
people type them, plus a handful of deliberately bad rows (unreadable numbers,
a blank phone, repeated numbers, landlines, a missing first name) so the
import summary and the report have something to show.

:func:`run_demo` then goes through the public API as an application would:
it creates the campaign in a SQLite campaign file, imports the list through
:func:`~smscampaign.importing.import_recipients`, plans the invitations
(:meth:`~smscampaign.scheduling.Schedule.plan`), and runs invite → survey
responses → reminder → thank-you with :func:`~smscampaign.testing.simulation.run_simulation`
on a virtual clock against :class:`~smscampaign.providers.simulated.SimulatedGateway`.
The host application's part (people completing the survey some hours after a
message reached them) is played in the simulation's ``on_tick`` hook through
:meth:`~smscampaign.runner.CampaignRunner.update_responses`.

Everything is derived from the seed: the same seed gives the same list and
the same campaign, message for message.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import phonenumbers

from smscampaign.domain.campaign import Campaign, CampaignState, Step, TimelineAction
from smscampaign.domain.contact import Consent, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus
from smscampaign.eligibility import Eligibility
from smscampaign.errors import ConfigurationError
from smscampaign.importing import ImportSummary, import_recipients
from smscampaign.providers.base import hold_campaign
from smscampaign.providers.simulated import Outcome, SimulatedGateway, VirtualClock
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.reporting import CampaignStats, delivery_stats, export_status_log
from smscampaign.runner import CampaignRunner, SuspensionThresholds, TickReport
from smscampaign.scheduling import Plan
from smscampaign.testing.simulation import SimulationReport, run_simulation

__all__ = [
    "CAMPAIGN_ID",
    "DEFAULT_EVALUATION_INTERVAL",
    "DEFAULT_RECIPIENTS",
    "DEFAULT_SEED",
    "DEMO_START",
    "DemoProgress",
    "DemoResult",
    "GeneratedList",
    "demo_campaign",
    "demo_gateway",
    "run_demo",
    "write_recipient_list",
]

DEFAULT_RECIPIENTS = 3000
DEFAULT_SEED = 2026
DEFAULT_EVALUATION_INTERVAL = timedelta(hours=4)
"""How often the demo's runner looks at the steps again (and hears of survey answers).

Reminders are due a day after the invitation, so going out up to four hours
after that is in keeping with how a survey tool batches its reminders; a
shorter interval costs a full eligibility pass per step each time.
"""
CAMPAIGN_ID = "spring-survey"

DEMO_START = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
"""Monday 1 June 2026, 12:00 UTC: 08:00 in New York, 14:00 in Paris, 05:00 in Seattle."""

DEMO_DAYS = 5
"""The campaign's end date is this many days after its start."""

# Area codes per US state, from libphonenumber's geocoder. The states with
# legal hours stricter than the federal 08:00-21:00 come first (see
# smscampaign.scheduling.LEGAL_HOURS); New York and Illinois have only the
# federal rule.
US_AREA_CODES: dict[str, tuple[int, ...]] = {
    "FL": (305, 407, 813, 904, 954),
    "TX": (214, 512, 713, 210, 817),
    "WA": (206, 253, 425, 509),
    "OK": (405, 918),
    "MD": (301, 410, 443),
    "CT": (203, 860),
    "CA": (213, 415, 619, 916),
    "NY": (212, 718, 518, 716),
    "IL": (312, 773),
}

# (region, share of the list). The US share is split evenly across the states above.
COUNTRY_MIX: tuple[tuple[str, float], ...] = (
    ("US", 0.70),
    ("FR", 0.12),
    ("GB", 0.10),
    ("DE", 0.03),
    ("ES", 0.03),
    ("CA", 0.02),
)

_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("Emma", "Liam", "Olivia", "Noah", "Ava", "Mason", "Sophia", "Lucas", "Mia", "Ethan"),
    "CA": ("Chloe", "Jacob", "Zoe", "Owen", "Léa", "Félix"),
    "FR": ("Camille", "Léo", "Chloé", "Hugo", "Inès", "Louis", "Manon", "Jules", "Zoé", "Théo"),
    "GB": ("Oliver", "Amelia", "George", "Isla", "Harry", "Freya", "Jack", "Poppy"),
    "DE": ("Lena", "Felix", "Hannah", "Jonas", "Lea", "Paul"),
    "ES": ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Pablo"),
}
_LAST_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("Smith", "Johnson", "Garcia", "Brown", "Davis", "Miller", "Lopez", "Wilson", "Moore"),
    "CA": ("Tremblay", "Roy", "Gagnon", "Martin", "Smith"),
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    "GB": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans"),
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber"),
    "ES": ("García", "Fernández", "González", "Rodríguez", "López"),
}

CSV_HEADER = ("First Name", "Last Name", "Phone (Mobile)", "Email", "Survey Link")

# The simulated carrier: mostly delivered, some temporary failures (retried),
# and permanent failures well under the runner's 5 % hard-bounce suspension.
DEMO_OUTCOMES: dict[Outcome, float] = {
    Outcome.DELIVERED: 0.955,
    Outcome.UNREACHABLE: 0.015,
    Outcome.CARRIER_ERROR: 0.01,
    Outcome.INVALID_NUMBER: 0.005,
    Outcome.LANDLINE: 0.005,
    Outcome.CARRIER_FILTERED: 0.005,
    Outcome.OPTED_OUT_AT_CARRIER: 0.005,
}
# What people text back: a few STOPs (kept under the 2 % opt-out suspension), HELP, chatter.
DEMO_REPLIES: tuple[tuple[str, float], ...] = (
    ("STOP", 2.0),
    ("Stop.", 0.5),
    ("HELP", 1.0),
    ("Yes, happy to help", 2.0),
    ("Who is this?", 1.0),
    ("Thanks!", 2.0),
)

# How people answer the survey (the host application's side). Each recipient
# draws one number u in [0, 1): after the invite reaches them, u < 0.30
# completes and 0.30 <= u < 0.36 starts without finishing; after the reminder,
# u < 0.50 completes (the partial ones included); 0.50 <= u < 0.52 is screened
# out (disqualified). Answers come 20 minutes to 9 hours after the message.
_COMPLETE_AFTER_INVITE = 0.30
_PARTIAL_AFTER_INVITE = 0.36
_COMPLETE_AFTER_REMINDER = 0.50
_DISQUALIFIED_AFTER_REMINDER = 0.52
_ANSWER_DELAY = (timedelta(minutes=20), timedelta(hours=9))


@attrs.frozen(kw_only=True)
class GeneratedList:
    """The recipient list the demo wrote, and the bad rows planted in it."""

    path: Path
    rows: int
    valid: int
    invalid: int
    duplicates: int
    landlines: int
    missing_first_name: int
    countries: dict[str, int]


@attrs.frozen(kw_only=True)
class DemoProgress:
    """Where the demo is, for a progress bar (seed 002's "7/11")."""

    at: datetime
    """The virtual time."""
    invited: int
    """Invitations that went out so far."""
    recipients: int
    """Recipients imported."""
    messages: int
    """Messages of every step that went out so far."""
    completed: int
    """Survey responses completed so far."""
    state: CampaignState


@attrs.frozen(kw_only=True)
class DemoResult:
    """Everything the demo made, with the paths of its files."""

    directory: Path
    database: Path
    recipient_list: Path
    status_log: Path
    import_errors: Path
    generated: GeneratedList
    summary: ImportSummary
    campaign: Campaign
    plan: Plan
    stats: CampaignStats
    simulation: SimulationReport
    status_log_rows: int
    html_report: Path | None
    """The self-contained HTML report, or None when the ``report`` extra is missing."""
    wall_seconds: float
    phases: dict[str, float]
    """Wall seconds per phase: generate, import, plan, simulate, report."""


# --- the recipient list -------------------------------------------------------------


def _unit(seed: int, *parts: str) -> float:
    """A deterministic draw in [0, 1) from the seed and some names."""
    digest = hashlib.blake2b("\x1f".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _us_number(rng: random.Random, area_codes: Sequence[int]) -> Any:
    """A valid US number in one of ``area_codes`` (exchange 200-999, no N11, no 555)."""
    while True:
        exchange = rng.randint(200, 999)
        if exchange % 100 == 11 or exchange == 555:
            continue
        number = phonenumbers.parse(
            f"+1{rng.choice(area_codes)}{exchange}{rng.randint(0, 9999):04d}", None
        )
        if phonenumbers.is_valid_number(number):
            return number


def _mobile_number(rng: random.Random, region: str) -> Any:
    """A valid mobile number of ``region``: its example mobile with the last six digits varied."""
    example: Any = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    wanted = {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
    for _ in range(1000):
        digits = national[:-6] + f"{rng.randint(0, 999_999):06d}"
        number = phonenumbers.parse(f"+{example.country_code}{digits}", None)
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in wanted:
            return number
    raise ConfigurationError(f"cannot make a valid mobile number for {region}", value=region)


def _landline(rng: random.Random, region: str) -> Any:
    """A valid fixed-line number of ``region`` (imported, then skipped as not SMS-capable)."""
    example: Any = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.FIXED_LINE
    )
    national = str(example.national_number)
    for _ in range(1000):
        digits = national[:-4] + f"{rng.randint(0, 9999):04d}"
        number = phonenumbers.parse(f"+{example.country_code}{digits}", None)
        if (
            phonenumbers.is_valid_number(number)
            and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE
        ):
            return number
    raise ConfigurationError(f"cannot make a fixed-line number for {region}", value=region)


def _as_typed(rng: random.Random, number: Any) -> str:
    """The number as people type it: US ones nationally, others internationally."""
    if phonenumbers.region_code_for_number(number) == "US" and rng.random() < 0.8:
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def _regions(n: int) -> list[str]:
    """``n`` regions in :data:`COUNTRY_MIX` proportions (largest remainders)."""
    counts = {region: int(share * n) for region, share in COUNTRY_MIX}
    counts["US"] += n - sum(counts.values())
    return [region for region, count in counts.items() for _ in range(count)]


def write_recipient_list(path: Path, recipients: int, *, seed: int = DEFAULT_SEED) -> GeneratedList:
    """Write a demo recipient list of about ``recipients`` rows to ``path``.

    Of the rows, about 1 % are deliberately bad (at least one of each kind):
    unreadable numbers and a blank phone (invalid), numbers repeated from
    earlier rows (duplicates), landlines, and a missing first name.

    Args:
        path: Where to write the CSV (UTF-8).
        recipients: How many rows, bad ones included (at least 20).
        seed: Seeds every choice.

    Returns:
        What was written.

    Raises:
        ConfigurationError: ``recipients`` is below 20.
    """
    if recipients < 20:
        raise ConfigurationError(
            f"the demo needs at least 20 recipients, got {recipients}", value=recipients
        )
    rng = random.Random(seed)
    bad = max(1, recipients // 400)
    invalid, duplicates, landlines, nameless = bad + 1, bad, bad, bad
    good = recipients - invalid - duplicates - landlines
    states = list(US_AREA_CODES)
    seen: set[str] = set()
    rows: list[list[str]] = []
    countries: dict[str, int] = {}
    for index, region in enumerate(_regions(good)):
        while True:
            if region == "US":
                number = _us_number(rng, US_AREA_CODES[states[index % len(states)]])
            else:
                number = _mobile_number(rng, region)
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if e164 not in seen:
                seen.add(e164)
                break
        countries[region] = countries.get(region, 0) + 1
        first = rng.choice(_FIRST_NAMES[region])
        last = rng.choice(_LAST_NAMES[region])
        token = hashlib.blake2b(f"{seed}:{e164}".encode(), digest_size=5).hexdigest()
        rows.append(
            [
                first,
                last,
                _as_typed(rng, number),
                f"{first.lower()}.{last.lower()}{index}@example.com",
                f"https://survey.example.com/s/{token}",
            ]
        )
    for k in range(nameless):
        rows[(k * 7919 + 13) % len(rows)][0] = ""
    planted: list[list[str]] = []
    unreadable = ["555-01", "12345", "call me", "+1 (212) 555-01999", "+33 6 12"]
    for k in range(invalid - 1):
        planted.append(["Pat", "Typo", unreadable[k % len(unreadable)], "", ""])
    planted.append(["Sam", "Blank", "", "sam.blank@example.com", ""])
    for k in range(duplicates):
        # The same person twice, the second time written internationally.
        original = rows[(k * 104_729 + 1) % len(rows)]
        number = phonenumbers.parse(original[2], "US")
        planted.append([*original[:2], _as_typed(random.Random(k), number), *original[3:]])
    for k in range(landlines):
        region = ("GB", "FR")[k % 2]
        number = _landline(rng, region)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 in seen:
            continue
        seen.add(e164)
        planted.append(
            [
                "Lee",
                "Desk",
                _as_typed(rng, number),
                f"desk{k}@example.com",
                f"https://survey.example.com/s/desk{k}",
            ]
        )
    for row in planted:
        rows.insert(rng.randrange(len(rows) // 2, len(rows)), row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return GeneratedList(
        path=path,
        rows=len(rows),
        valid=good,
        invalid=invalid,
        duplicates=duplicates,
        landlines=sum(1 for row in planted if row[1] == "Desk"),
        missing_first_name=nameless,
        countries=countries,
    )


# --- the campaign and the carrier ----------------------------------------------------


def demo_campaign(start: datetime = DEMO_START) -> Campaign:
    """The demo's survey campaign: invite, a reminder a day later, and a thank-you.

    Sent Monday to Saturday, 09:00-20:00 in each recipient's own zone (and
    always within the legal hours of their state or country), at most 10 a
    second and 1,500 a day, so a list of 3,000 rolls over to a second day;
    it ends five days after it starts.
    """
    return Campaign.create(
        at=start,
        cause="smscampaign demo",
        id=CAMPAIGN_ID,
        name="Spring customer survey",
        sender="+15005550006",
        time_zone="America/New_York",
        send_window="mon-sat 09:00-20:00; in recipient zone",
        throttle="10/s; 1500/day",
        starts_at=start,
        ends_at=start + timedelta(days=DEMO_DAYS),
        steps=[
            Step(
                id="invite",
                kind="invite",
                body="Hi {first_name}, Northwind here. Could you spare 2 minutes for our "
                "spring survey? {survey_link} Reply STOP to opt out.",
            ),
            Step(
                id="reminder-1",
                kind="reminder",
                body="Hi {first_name}, a quick reminder: our 2-minute survey closes soon. "
                "{survey_link}",
                delay=timedelta(days=1),
            ),
            Step(
                id="thank-you",
                kind="thank_you",
                body="Thank you, {first_name}! Your answers help us improve.",
            ),
        ],
    )


def demo_gateway(clock: VirtualClock, *, seed: int = DEFAULT_SEED) -> SimulatedGateway:
    """The simulated carrier of the demo (see :data:`DEMO_OUTCOMES` and :data:`DEMO_REPLIES`)."""
    return SimulatedGateway(
        seed=seed,
        clock=clock.now,
        outcomes=DEMO_OUTCOMES,
        reply_rate=0.02,
        replies=DEMO_REPLIES,
    )


# --- the host application's side: survey responses ------------------------------------


@attrs.define
class _Respondents:
    """Plays the survey: people answer some hours after a message reaches them.

    Reads what the carrier accepted (``gateway.sent``) after each round,
    draws each recipient's behaviour from the seed, and reports answers
    through :meth:`CampaignRunner.update_responses` in batches, before a
    round's tick (each batch has the runner look at the campaign again, so
    batching keeps ticks cheap).
    """

    runner: CampaignRunner
    gateway: SimulatedGateway
    campaign: Campaign
    seed: int
    flush_every: timedelta
    read: int = 0
    refused: int = 0
    invited: int = 0
    messages: int = 0
    completed: int = 0
    last_flush: datetime | None = None
    due: list[tuple[datetime, str, str, str]] = attrs.Factory(list)

    def _step_and_recipient(self, key: str) -> tuple[str, str] | None:
        # The runner's idempotency keys are "<campaign>:<step>:<recipient>:<n>:<attempt>".
        parts = key.split(":")
        if len(parts) < 5 or parts[0] != self.campaign.id:
            return None
        return parts[1], ":".join(parts[2:-2])

    def _plan_answer(self, step_id: str, contact_id: str, sent_at: datetime) -> None:
        u = _unit(self.seed, "answer", contact_id)
        status: ResponseStatus | None = None
        if step_id == self.campaign.invite.id:
            if u < _COMPLETE_AFTER_INVITE:
                status = ResponseStatus.COMPLETE
            elif u < _PARTIAL_AFTER_INVITE:
                status = ResponseStatus.PARTIAL
        elif step_id in {s.id for s in self.campaign.reminders}:
            if _COMPLETE_AFTER_INVITE <= u < _COMPLETE_AFTER_REMINDER:
                status = ResponseStatus.COMPLETE
            elif _COMPLETE_AFTER_REMINDER <= u < _DISQUALIFIED_AFTER_REMINDER:
                status = ResponseStatus.DISQUALIFIED
        if status is None:
            return
        low, high = _ANSWER_DELAY
        delay = low + (high - low) * _unit(self.seed, "delay", step_id, contact_id)
        heapq.heappush(self.due, (sent_at + delay, contact_id, step_id, status.value))

    def __call__(self, now: datetime, tick: TickReport) -> None:
        """Note what went out this round and when its answers will come."""
        refused = self.gateway.rejected
        for message, _ in refused[self.refused :]:
            found = self._step_and_recipient(message.idempotency_key)
            if (
                found
                and found[0] == self.campaign.invite.id
                and message.idempotency_key.endswith(":1")
            ):
                self.invited += 1
        self.refused = len(refused)
        sent = self.gateway.sent
        for message in sent[self.read :]:
            found = self._step_and_recipient(message.idempotency_key)
            self.messages += 1
            if found is None:
                continue
            step_id, contact_id = found
            if step_id == self.campaign.invite.id and message.idempotency_key.endswith(":1"):
                self.invited += 1
            self._plan_answer(step_id, contact_id, now)
        self.read = len(sent)

    def flush(self, now: datetime) -> None:
        """Report the answers due by ``now``, every ``flush_every``, before the runner's tick.

        Answering before the tick lets the tick that re-evaluates the steps
        (its evaluation interval equals ``flush_every``) take them in, rather
        than a second evaluation one round later.
        """
        if self.last_flush is None:
            self.last_flush = now
        if now - self.last_flush < self.flush_every:
            return
        self.last_flush = now
        ready: list[tuple[str, str, str]] = []
        while self.due and self.due[0][0] <= now:
            _, contact_id, step_id, status = heapq.heappop(self.due)
            ready.append((contact_id, step_id, status))
        # One read for the flush: who may still answer, as storage has them now.
        recipients = self.runner.storage.get_recipients(
            self.campaign.id, [contact_id for contact_id, _, _ in ready], with_sends=True
        )
        answers: dict[str, ResponseStatus] = {}
        for contact_id, step_id, status in ready:
            recipient = recipients.get(contact_id)
            if recipient is not None and _may_answer(recipient, step_id):
                answers[contact_id] = ResponseStatus(status)
        if answers:
            self.completed += sum(1 for v in answers.values() if v is ResponseStatus.COMPLETE)
            self.runner.update_responses(self.campaign.id, answers.items())


def _may_answer(recipient: Recipient, step_id: str) -> bool:
    """Whether the step's message reached the person and they may still answer."""
    send = recipient.latest_send(step_id)
    return (
        send is not None
        and send.status is DeliveryStatus.DELIVERED
        and recipient.status is ContactStatus.ACTIVE
        and recipient.response not in (ResponseStatus.COMPLETE, ResponseStatus.DISQUALIFIED)
    )


# --- the flow ----------------------------------------------------------------------------

_DEMO_FILES = ("demo.db", "demo.db-wal", "demo.db-shm", "recipients.csv", "status-log.csv",
               "report.html",
               "import-errors.csv")  # fmt: skip


def _clear(directory: Path) -> None:
    """Remove the files of an earlier demo run in ``directory`` (and nothing else)."""
    for name in _DEMO_FILES:
        (directory / name).unlink(missing_ok=True)


def run_demo(
    directory: str | Path,
    *,
    recipients: int = DEFAULT_RECIPIENTS,
    seed: int = DEFAULT_SEED,
    on_progress: Callable[[DemoProgress], None] | None = None,
    evaluation_interval: timedelta = DEFAULT_EVALUATION_INTERVAL,
) -> DemoResult:
    """Run the whole demo in ``directory``; returns what it made.

    Args:
        directory: Where the campaign file, the list and the status log go
            (created if needed; files of an earlier demo there are replaced).
        recipients: Rows of the generated list.
        seed: Seeds the list, the carrier and the respondents.
        on_progress: Called after every simulated round.
        evaluation_interval: How often the runner re-evaluates the steps on
            the virtual clock (answers are reported to it as often).

    Returns:
        The result, with paths, the plan, the statistics and the timings.
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    _clear(folder)
    database = folder / "demo.db"
    list_path = folder / "recipients.csv"
    errors_path = folder / "import-errors.csv"
    log_path = folder / "status-log.csv"

    mark = time.perf_counter()
    generated = write_recipient_list(list_path, recipients, seed=seed)
    phases["generate"] = time.perf_counter() - mark

    clock = VirtualClock(DEMO_START)
    gateway = demo_gateway(clock, seed=seed)
    storage = SQLiteStorage(database)
    try:
        runner = CampaignRunner(
            storage,
            gateway,
            clock,
            thresholds=SuspensionThresholds(),
            evaluation_interval=evaluation_interval,
        )
        campaign = runner.create(demo_campaign(DEMO_START))

        mark = time.perf_counter()
        summary = import_recipients(
            list_path,
            storage,
            campaign_id=campaign.id,
            region="US",
            consent=Consent.OPTED_IN,
            errors_csv=errors_path,
        )
        record_import(runner, campaign.id, summary, at=DEMO_START)
        campaign = runner.schedule(campaign.id, now=DEMO_START, cause="smscampaign demo")
        phases["import"] = time.perf_counter() - mark

        mark = time.perf_counter()
        plan = plan_invites(runner, campaign, DEMO_START)
        phases["plan"] = time.perf_counter() - mark

        mark = time.perf_counter()
        respondents = _Respondents(
            runner=runner,
            gateway=gateway,
            campaign=campaign,
            seed=seed,
            flush_every=evaluation_interval,
        )
        imported = summary.imported + summary.updated
        state = [campaign.state]

        def on_tick(now: datetime, tick: TickReport) -> None:
            respondents(now, tick)
            if tick.started or tick.completed or tick.suspended:
                state[0] = storage.get_campaign(campaign.id).state
            if on_progress is not None:
                on_progress(
                    DemoProgress(
                        at=now,
                        invited=respondents.invited,
                        recipients=imported,
                        messages=respondents.messages,
                        completed=respondents.completed,
                        state=state[0],
                    )
                )

        simulation = run_simulation(
            runner,
            gateway,
            clock,
            until=DEMO_START + timedelta(days=DEMO_DAYS, hours=1),
            max_step=evaluation_interval,
            on_tick=on_tick,
            before_tick=respondents.flush,
        )
        phases["simulate"] = time.perf_counter() - mark

        mark = time.perf_counter()
        rows = export_status_log(storage, campaign.id, log_path)
        stats = delivery_stats(storage, campaign.id, now=clock.now())
        campaign = storage.get_campaign(campaign.id)
        phases["report"] = time.perf_counter() - mark
        mark = time.perf_counter()
        html_report = _write_html(storage, campaign.id, folder / "report.html", runner, clock.now())
        phases["html"] = time.perf_counter() - mark
    finally:
        storage.close()
    return DemoResult(
        directory=folder,
        database=database,
        recipient_list=list_path,
        status_log=log_path,
        import_errors=errors_path,
        generated=generated,
        summary=summary,
        campaign=campaign,
        plan=plan,
        stats=stats,
        simulation=simulation,
        status_log_rows=rows,
        html_report=html_report,
        wall_seconds=time.perf_counter() - started,
        phases=phases,
    )


def _write_html(
    storage: SQLiteStorage, campaign_id: str, path: Path, runner: CampaignRunner, now: datetime
) -> Path | None:
    """Write the HTML report, or return None when its libraries are not installed."""
    from smscampaign.errors import MissingDependency
    from smscampaign.htmlreport import write_html_report

    try:
        return write_html_report(storage, campaign_id, path, now=now, thresholds=runner.thresholds)
    except MissingDependency:
        return None


def record_import(
    runner: CampaignRunner, campaign_id: str, summary: ImportSummary, *, at: datetime
) -> Campaign:
    """Put an import on the campaign's timeline (``import_recipients`` writes rows only).

    Read and saved in one unit holding the campaign, as the runner's changes
    of a campaign are, so an entry another worker adds meanwhile is kept.
    """
    storage = runner.storage
    with storage.transaction():
        hold_campaign(storage, campaign_id)
        campaign = storage.get_campaign(campaign_id)
        if summary.imported or summary.updated:
            detail = f"{summary.imported + summary.updated} recipients from {summary.list_name}"
            campaign = campaign.record(
                TimelineAction.RECIPIENTS_ADDED, at=at, cause="import", detail=detail
            )
            storage.save_campaign(campaign)
    runner.mark_changed(campaign_id)
    return campaign


def pending_invitees(runner: CampaignRunner, campaign: Campaign, at: datetime) -> Iterator[Any]:
    """The recipients still pending for the campaign's invite at ``at``."""
    suppressed = frozenset(
        s.e164 for s in runner.storage.iter_suppressions(account=campaign.account)
    )
    engine = Eligibility(campaign, campaign.invite, now=at, suppressed=suppressed)
    return engine.pending(runner.storage.iter_recipients(campaign.id))


def plan_invites(runner: CampaignRunner, campaign: Campaign, at: datetime) -> Plan:
    """The roll-over plan of the invitations still pending at ``at``, grouped by zone."""
    schedule = runner.schedule_for(campaign)
    start = max(at, campaign.starts_at) if campaign.starts_at is not None else at
    return schedule.plan(pending_invitees(runner, campaign, at), start=start)
