"""Sends per second through the whole runner: SQLite storage, simulated carrier, zero latency.

``dispatch``: 100,000 recipients of one campaign are queued and sent by
:meth:`CampaignRunner.tick` (eligibility, claiming, the last-line suppression
and consent checks, the window, the throttle, the gateway call, saving the
receipts). The baseline, measured in the same run, is the floor under it: the
simulated carrier's ``send`` alone over the same messages. Target: at least
5,000 sends per second through the runner (20x the fastest US 10DLC lane).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import emit

from smscampaign import Campaign, Consent, Contact, PhoneNumber, Step
from smscampaign.providers.gateway import OutboundMessage
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.runner import CampaignRunner

START = datetime(2026, 6, 2, 15, 0, tzinfo=timezone.utc)  # 11:00 in New York, a Tuesday


def contacts(n: int) -> list[Contact]:
    """``n`` valid New York mobile-or-landline numbers (one zone group)."""
    people = []
    for i in range(n):
        exchange = 200 + (i // 10_000) % 700
        phone = PhoneNumber.parse(f"+1212{exchange:03d}{i % 10_000:04d}", lenient=True)
        people.append(Contact(id=f"c{i}", phone=phone, first_name="Ann", consent=Consent.OPTED_IN))
    return people


def run(n: int, folder: Path) -> tuple[float, int]:
    clock = VirtualClock(START)
    gateway = SimulatedGateway.ideal(clock=clock.now)
    storage = SQLiteStorage(folder / "dispatch.db")
    runner = CampaignRunner(storage, gateway, clock, batch_size=1000)
    campaign = Campaign.create(
        at=START,
        id="bench",
        name="Dispatch",
        sender="+15005550006",
        time_zone="America/New_York",
        steps=[Step(id="invite", kind="invite", body="Hi {first_name}, one question?")],
    )
    runner.create(campaign.with_options(allow_unverified_numbers=True))
    runner.add_recipients("bench", contacts(n), now=START)
    runner.schedule("bench", now=START)
    started = time.perf_counter()
    sent = 0
    while True:
        report = runner.tick(START)
        sent += report.sent
        if not report.sent and not report.queued:
            break
    return time.perf_counter() - started, sent


def floor(n: int) -> float:
    gateway = SimulatedGateway.ideal()
    messages = [
        OutboundMessage(
            to=f"+1212{200 + (i // 10_000) % 700:03d}{i % 10_000:04d}",
            sender="+15005550006",
            body="Hi Ann, one question?",
            idempotency_key=f"floor:{i}",
        )
        for i in range(n)
    ]
    started = time.perf_counter()
    for message in messages:
        gateway.send(message)
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        ours, sent = run(n, Path(folder))
    if sent != n:
        raise SystemExit(f"dispatch sent {sent} of {n} messages")
    base = floor(n)
    emit(
        "dispatch",
        n=n,
        ours_s=ours,
        baseline="SimulatedGateway.send alone over the same messages",
        baseline_s=base,
        target=">= 5000 sends/s through the runner",
        # The process's peak resident memory (tracemalloc would slow the run it measures).
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        sends_per_s=round(n / ours),
    )


if __name__ == "__main__":
    main()
