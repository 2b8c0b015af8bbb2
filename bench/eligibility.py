"""Benchmark eligibility: 1,000,000 recipients of a reminder step, as an in-memory stream.

``eligibility-memory``: a campaign's recipients, with a realistic mix of
contact statuses, consents, responses, invite outcomes (delivered long ago
or recently, failed, sent without receipt, never sent), reminders already
sent, duplicate and suppressed numbers, landlines, unverified numbers and a
missing template field, are decided for the first reminder.

The recipients are generated in chunks of 10,000 and the chunks are fed to
one :class:`~smscampaign.eligibility.Eligibility` session, so the numbers
seen carry over as in one stream. ``ours_s`` times only the engine's
:meth:`~smscampaign.eligibility.Eligibility.decide` (and the loop that reads
each decision), not the generation of the objects, which a storage adapter
would pay anyway. ``peak_mb`` is tracemalloc's peak over the whole run,
generation included: the current chunk, the decisions, the suppression list
and the engine's map of numbers seen.

Generating a million attrs objects through their validating constructors
takes about half a minute, so each shape of recipient is built once through
the real constructors and copied field for field with a fresh id and number
(:func:`_clone`); the copies are what the constructors would build.

The baseline is the same engine evaluated rule by rule
(:meth:`~smscampaign.eligibility.Eligibility.decide_by_rules`): one Python
call per rule per recipient, each rule returning a ``Finding`` object, all
reasons collected in a list; the naive implementation the compiled pass
replaces. It decides exactly alike (the test suite checks this).

Run: ``.venv/bin/python bench/eligibility.py``
"""

from __future__ import annotations

import gc
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import attrs
from _common import emit, peak_mb

from smscampaign.domain.campaign import Campaign, CampaignOptions, Step, StepKind
from smscampaign.domain.contact import (
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
)
from smscampaign.domain.delivery import Attempt, DeliveryStatus, FailureReason, Send
from smscampaign.domain.phone import NumberKind, PhoneNumber
from smscampaign.eligibility import Decision, Eligibility

N = 1_000_000
CHUNK = 10_000
TARGET = "<= 1.5 s and <= 200 MB peak for 1,000,000 recipients (reminder step)"
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=timezone.utc)
CAMPAIGN_ID = "spring-survey"

CAMPAIGN = Campaign(
    id=CAMPAIGN_ID,
    name="Spring survey",
    steps=(
        Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, tell us: {survey_link}"),
        Step(
            id="reminder-1",
            kind=StepKind.REMINDER,
            body="Hi {first_name}, a reminder: {survey_link}",
            delay=timedelta(days=2),
        ),
        Step(id="thanks", kind=StepKind.THANK_YOU, body="Thank you!"),
    ),
    options=CampaignOptions(),
)


def _send(step_id: str, status: DeliveryStatus, sent: datetime) -> Send:
    to = "+12125550100"
    if status is DeliveryStatus.QUEUED:
        return Send(
            campaign_id=CAMPAIGN_ID, recipient_id="proto", step_id=step_id, to=to, created_at=sent
        )
    fields: dict[str, Any] = {"status": status, "sent_at": sent}
    if status is DeliveryStatus.DELIVERED:
        fields["delivered_at"] = sent + timedelta(seconds=5)
    elif status is DeliveryStatus.HARD_BOUNCED:
        fields.update(reason=FailureReason.INVALID_NUMBER, failed_at=sent)
    elif status is DeliveryStatus.SOFT_BOUNCED:
        fields.update(reason=FailureReason.UNREACHABLE, failed_at=sent)
    attempt = Attempt(number=1, to=to, queued_at=sent - timedelta(seconds=1), **fields)
    extra: dict[str, Any] = {}
    if status is DeliveryStatus.SOFT_BOUNCED:
        extra["gave_up_at"] = sent + timedelta(hours=72)
    return Send(
        campaign_id=CAMPAIGN_ID,
        recipient_id="proto",
        step_id=step_id,
        to=to,
        created_at=sent - timedelta(seconds=1),
        attempts=(attempt,),
        **extra,
    )


_LONG_AGO = NOW - timedelta(days=5)
_RECENT = NOW - timedelta(days=1)
_DELIVERED = (DeliveryStatus.DELIVERED, _LONG_AGO)


def _shape(
    *,
    status: ContactStatus = ContactStatus.ACTIVE,
    consent: Consent = Consent.OPTED_IN,
    response: ResponseStatus = ResponseStatus.NOT_STARTED,
    invite: tuple[DeliveryStatus, datetime] | None = _DELIVERED,
    reminder: bool = False,
    kind: NumberKind = NumberKind.FIXED_LINE_OR_MOBILE,
    verified: bool = True,
    link: bool = True,
    duplicate: bool = False,
    suppressed: bool = False,
) -> tuple[Recipient, bool, bool]:
    """A prototype recipient, built through the validating constructors."""
    phone = PhoneNumber(
        "+12125550100",
        "US",
        kind=kind if verified else NumberKind.UNKNOWN,
        verified=verified,
        time_zones=("America/New_York",),
    )
    contact = Contact(id="proto", phone=phone, first_name="Ada", consent=consent)
    sends: list[Send] = []
    if invite is not None:
        sends.append(_send("invite", *invite))
    if reminder:
        sends.append(_send("reminder-1", DeliveryStatus.DELIVERED, _RECENT))
    recipient = Recipient(
        campaign_id=CAMPAIGN_ID,
        contact=contact,
        status=status,
        response=response,
        list_name="spring.csv",
        fields={"survey_link": "https://s.example/abc"} if link else {},
        sends=sends,
    )
    return recipient, duplicate, suppressed


# (weight per 1000, prototype): a reminder two days after an invite, mid-campaign.
_MIX: tuple[tuple[int, tuple[Recipient, bool, bool]], ...] = (
    (520, _shape()),
    (60, _shape(response=ResponseStatus.PARTIAL)),
    (80, _shape(invite=(DeliveryStatus.DELIVERED, _RECENT))),
    (40, _shape(invite=(DeliveryStatus.HARD_BOUNCED, _LONG_AGO))),
    (50, _shape(invite=(DeliveryStatus.SOFT_BOUNCED, _LONG_AGO))),
    (30, _shape(invite=(DeliveryStatus.SENT, _LONG_AGO))),
    (20, _shape(invite=None)),
    (70, _shape(response=ResponseStatus.COMPLETE)),
    (10, _shape(response=ResponseStatus.DISQUALIFIED)),
    (30, _shape(reminder=True)),
    (20, _shape(status=ContactStatus.UNSUBSCRIBED, suppressed=True)),
    (15, _shape(status=ContactStatus.INACTIVE)),
    (5, _shape(status=ContactStatus.REMOVED)),
    (15, _shape(consent=Consent.PENDING_OPT_IN)),
    (5, _shape(consent=Consent.OPTED_OUT)),
    (10, _shape(duplicate=True)),
    (10, _shape(link=False)),
    (5, _shape(kind=NumberKind.FIXED_LINE)),
    (5, _shape(verified=False)),
)
assert sum(weight for weight, _ in _MIX) == 1000

# One entry per 1/1000 of the mix; recipient i takes _TABLE[_SLOT[i % 9973] ...].
_TABLE: list[tuple[Recipient, bool, bool]] = [p for w, p in _MIX for _ in range(w)]
random.Random(20240610).shuffle(_TABLE)


def _shape_of(i: int) -> tuple[Recipient, bool, bool]:
    return _TABLE[(i * 7919) % 1000]


def _number(i: int) -> str:
    return f"+1212{i:07d}"


def _clone(obj: Any, **changes: Any) -> Any:
    """A field-for-field copy of a validated attrs object with some fields changed."""
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in attrs.fields(cls))
    new = object.__new__(cls)
    set_ = object.__setattr__
    for name in names:
        set_(new, name, getattr(obj, name))
    for name, value in changes.items():
        set_(new, name, value)
    return new


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _recipient(i: int) -> Recipient:
    proto, duplicate, _ = _shape_of(i)
    e164 = _number(i - 3 if duplicate and i >= 3 else i)
    rid = f"c{i}"
    contact = _clone(proto.contact, id=rid, phone=_clone(proto.contact.phone, e164=e164))
    sends = tuple(_clone(s, recipient_id=rid, to=e164) for s in proto.sends)
    recipient: Recipient = _clone(proto, contact=contact, sends=sends)
    return recipient


def chunks(n: int, size: int = CHUNK) -> Iterator[list[Recipient]]:
    """The stream of ``n`` recipients, in lists of ``size``."""
    for start in range(0, n, size):
        yield [_recipient(i) for i in range(start, min(n, start + size))]


def suppression_list(n: int) -> set[str]:
    """The numbers on the suppression list: the unsubscribed recipients' numbers."""
    return {_number(i) for i in range(n) if _shape_of(i)[2]}


def run(
    n: int, decide: Callable[[Eligibility, list[Recipient]], Iterator[Decision]]
) -> tuple[float, int]:
    """Decide ``n`` recipients in chunks; return (seconds spent deciding, eligible count)."""
    engine = Eligibility(CAMPAIGN, "reminder-1", now=NOW, suppressed=suppression_list(n))
    spent = 0.0
    eligible = 0
    for chunk in chunks(n):
        start = time.perf_counter()
        for decision in decide(engine, chunk):
            if not decision.reasons:
                eligible += 1
        spent += time.perf_counter() - start
    return spent, eligible


def _compiled(engine: Eligibility, chunk: list[Recipient]) -> Iterator[Decision]:
    return engine.decide(chunk)


def _by_rules(engine: Eligibility, chunk: list[Recipient]) -> Iterator[Decision]:
    return engine.decide_by_rules(chunk)


def main() -> None:
    """Measure and print one JSON line."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    gc.collect()
    ours_s, eligible = min(run(n, _compiled) for _ in range(2))
    baseline_s, baseline_eligible = run(n, _by_rules)
    if baseline_eligible != eligible:
        raise SystemExit(f"compiled and rule-by-rule disagree: {eligible} != {baseline_eligible}")
    peak = peak_mb(lambda: run(n, _compiled))
    emit(
        "eligibility-memory",
        n=n,
        ours_s=ours_s,
        baseline="the same rules evaluated one Python call per rule per recipient, "
        "collecting every reason (Eligibility.decide_by_rules), same stream",
        baseline_s=baseline_s,
        target=TARGET,
        peak_mb=peak,
        eligible=eligible,
        met=ours_s <= 1.5 and peak <= 200,
    )


if __name__ == "__main__":
    main()
