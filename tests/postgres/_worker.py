"""One campaign worker process for the reliability test: a runner on PostgreSQL until done.

Usage: ``python _worker.py URL SCHEMA LEDGER WORKER ORIGIN RECIPIENTS [PAUSE_AFTER MARKER]``.

The runner ticks on a clock shared by every worker (the test's start instant
plus the seconds since ``ORIGIN``, a ``time.time()`` value), sends through a
simulated carrier whose ledger file every worker shares, applies the
receipts its carrier hands back, and stops when the campaign has a send for
each of its ``RECIPIENTS`` and none is left queued. With ``PAUSE_AFTER``, the
worker stops dead right after the carrier accepted its ``PAUSE_AFTER``-th
message, before the runner saves it, and writes that message's idempotency
key to ``MARKER``: the test kills it there.

Claims are made at the current time, one batch per tick.
:meth:`CampaignRunner.tick` makes every claim of a tick at the tick's start
time and goes on claiming until no due send is left; a tick that runs longer
than the lease (the first one evaluates the whole campaign) would hand out
claims whose lease has already run out, for other workers to take over while
this one still sends them. The worker's storage claims at the clock's time,
and one fewer than the runner asks for, which ends the tick after one batch.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from smscampaign.domain.delivery import Send
from smscampaign.providers.gateway import OutboundMessage, SendReceipt
from smscampaign.providers.postgres import PostgresStorage
from smscampaign.providers.simulated import SimulatedGateway
from smscampaign.runner import CampaignRunner

START = datetime(2026, 6, 2, 15, 0, tzinfo=timezone.utc)  # 11:00 in New York, a Tuesday
CAMPAIGN = "reliability"
LEASE = timedelta(seconds=4)
BATCH = 200


class SharedClock:
    """START plus the wall-clock seconds since the test's origin: the same in every worker."""

    def __init__(self, origin: float) -> None:
        self.origin = origin

    def now(self) -> datetime:
        return START + timedelta(seconds=time.time() - self.origin)


class StopsDead:
    """A gateway that freezes after its n-th accepted message, as a process about to be killed."""

    def __init__(self, inner: SimulatedGateway, after: int, marker: Path) -> None:
        self.inner = inner
        self.after = after
        self.marker = marker
        self.accepted = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send(self, message: OutboundMessage) -> SendReceipt:
        receipt = self.inner.send(message)
        self.accepted += 1
        if self.accepted == self.after:
            self.marker.write_text(message.idempotency_key)
            time.sleep(3600)
        return receipt


class FreshClaims:
    """A storage that claims at the clock's time, one short, so a tick sends one batch."""

    def __init__(self, inner: PostgresStorage, clock: SharedClock) -> None:
        self.inner = inner
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim_due_sends(
        self, worker: str, now: datetime, limit: int, *, lease: timedelta
    ) -> list[Send]:
        return self.inner.claim_due_sends(worker, self.clock.now(), limit - 1, lease=lease)


def main(argv: list[str]) -> None:
    url, schema, ledger, worker, origin, recipients = argv[:6]
    clock = SharedClock(float(origin))
    carrier = SimulatedGateway.ideal(seed=0, clock=clock.now, ledger=ledger)
    gateway: Any = carrier
    if len(argv) > 6:
        gateway = StopsDead(carrier, int(argv[6]), Path(argv[7]))
    total = int(recipients)
    with PostgresStorage(url, schema=schema, min_size=1, max_size=2) as storage:
        runner = CampaignRunner(
            FreshClaims(storage, clock),  # type: ignore[arg-type]
            gateway,
            clock,
            worker=worker,
            batch_size=BATCH + 1,
            claim_lease=LEASE,
            # Nothing changes the recipients behind the workers' backs: one evaluation each.
            evaluation_interval=timedelta(hours=1),
        )
        while True:
            report = runner.tick()
            receipts = carrier.receipts_due(clock.now())
            if receipts:
                runner.apply_events(receipts)
            if report.sent:
                continue
            counts = storage.count_sends(CAMPAIGN, by=("status",))
            if not counts.get(("queued",)) and sum(counts.values()) >= total:
                return
            time.sleep(0.2)


if __name__ == "__main__":
    main(sys.argv[1:])
