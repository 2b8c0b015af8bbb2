"""Sends per second with 1, 2 and 4 worker processes sharing one PostgreSQL.

``scaleout``: one campaign of 20,000 recipients (``n``) is queued, then sent
by ``k`` runner processes (``CampaignRunner`` on ``PostgresStorage``, each
with its own simulated carrier at zero latency, no receipts, as in
``bench/dispatch.py``), for k = 1, 2 and 4. Every worker first evaluates the
campaign (the sends are queued once, by whichever worker gets there first)
and waits; the clock starts when all of them are released to claim and
send, and stops at the last send. The baseline is the 1-worker time, so
``ratio`` is the speed-up: the target is at least 3x at 4 workers on a
machine with at least 4 spare cores (the workers and the server share the
machine's cores; ``cpus`` and ``load_1m`` say what this one had, and
``worker_cpu_s`` the CPU seconds the workers spent sending).

The server is a throwaway one started for the run
(:class:`smscampaign.testing.postgres_server.PostgresServer`), or the one
``$SMSCAMPAIGN_TEST_POSTGRES_URL`` names.

Run: ``python bench/scaleout.py [n]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import emit

from smscampaign import Campaign, Consent, Contact, PhoneNumber, Step
from smscampaign.domain.delivery import Send
from smscampaign.providers.postgres import PostgresStorage
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.runner import CampaignRunner
from smscampaign.testing.postgres_server import server_url

START = datetime(2026, 6, 2, 15, 0, tzinfo=timezone.utc)  # 11:00 in New York, a Tuesday
CAMPAIGN = "scaleout"
WORKERS = (1, 2, 4)


def contacts(n: int) -> list[Contact]:
    """``n`` valid New York numbers (one zone group), as bench/dispatch.py uses."""
    people = []
    for i in range(n):
        number = f"+1212{200 + (i // 10_000) % 700:03d}{i % 10_000:04d}"
        phone = PhoneNumber.parse(number, lenient=True)
        people.append(Contact(id=f"c{i}", phone=phone, first_name="Ann", consent=Consent.OPTED_IN))
    return people


class Gate:
    """A storage whose claims come back empty until the ``go`` file exists."""

    def __init__(self, inner: PostgresStorage, go: Path) -> None:
        self.inner = inner
        self.go = go
        self.open = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim_due_sends(self, worker: str, now: datetime, limit: int, **kw: Any) -> list[Send]:
        if not self.open:
            return []
        return self.inner.claim_due_sends(worker, now, limit, **kw)


def worker(url: str, schema: str, name: str, folder: Path) -> None:
    """One worker process: evaluate, say ready, wait for go, send until nothing is left to claim."""
    go = folder / "go"
    with PostgresStorage(url, schema=schema, max_size=2) as storage:
        gate = Gate(storage, go)
        clock = VirtualClock(START)
        runner = CampaignRunner(
            gate,  # type: ignore[arg-type]
            SimulatedGateway.ideal(clock=clock.now),
            clock,
            worker=name,
        )
        runner.tick(START)  # evaluates the campaign; claims nothing yet
        (folder / f"ready-{name}").touch()
        while not go.exists():
            time.sleep(0.01)
        gate.open = True
        sent = 0
        last = time.time()
        cpu = time.process_time()
        # A tick claims until nothing due is left, so a tick that sends nothing
        # means every queued send is out or in another worker's hands.
        while sent_now := runner.tick(START).sent:
            sent += sent_now
            last = time.time()
        cpu = time.process_time() - cpu
    print(json.dumps({"worker": name, "sent": sent, "last": last, "cpu": cpu}), flush=True)


def setup(url: str, n: int) -> str:
    """A fresh schema holding the campaign, scheduled, with ``n`` recipients."""
    schema = f"scaleout_{uuid.uuid4().hex[:8]}"
    with PostgresStorage(url, schema=schema) as storage:
        runner = CampaignRunner(storage, SimulatedGateway.ideal(), VirtualClock(START))
        campaign = Campaign.create(
            at=START,
            id=CAMPAIGN,
            name="Scale-out",
            sender="+15005550006",
            time_zone="America/New_York",
            steps=[Step(id="invite", kind="invite", body="Hi {first_name}, one question?")],
        )
        runner.create(campaign.with_options(allow_unverified_numbers=True))
        runner.add_recipients(CAMPAIGN, contacts(n), now=START)
        runner.schedule(CAMPAIGN, now=START)
    return schema


def run(url: str, n: int, k: int) -> tuple[float, float]:
    """Seconds ``k`` workers take to send the ``n`` queued messages, and their CPU seconds."""
    schema = setup(url, n)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", url, schema, f"w{i}", str(folder)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(k)
        ]
        while len(list(folder.glob("ready-*"))) < k:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker ended before it was ready")
            time.sleep(0.01)
        started = time.time()
        (folder / "go").touch()
        results = [json.loads(p.communicate(timeout=3600)[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed: {[p.returncode for p in procs]}")
    sent = sum(r["sent"] for r in results)
    if sent != n:
        raise SystemExit(f"{k} workers sent {sent} of {n} messages")
    with PostgresStorage(url, schema=schema) as storage:
        sends = list(storage.iter_sends(CAMPAIGN))
        if len(sends) != n or any(len(s.attempts) != 1 for s in sends):
            raise SystemExit("a message was sent twice or not at all")
    return max(r["last"] for r in results) - started, sum(r["cpu"] for r in results)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with server_url() as url:
        runs = {k: run(url, n, k) for k in WORKERS}
    for k in WORKERS:
        elapsed, cpu = runs[k]
        emit(
            "scaleout",
            n=n,
            ours_s=elapsed,
            baseline="1 worker process",
            baseline_s=runs[1][0],
            target=">= 3x the 1-worker rate at 4 workers (given 4+ spare cores)",
            peak_mb=0.0,  # several processes: see bench/dispatch.py for one runner's memory
            workers=k,
            sends_per_s=round(n / elapsed),
            # CPU the workers spent sending (the server's is not counted): when it
            # stays flat as workers are added, the run was short of cores, not of work.
            worker_cpu_s=round(cpu, 2),
            cpus=os.cpu_count(),
            load_1m=round(os.getloadavg()[0], 2),
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5]))
    else:
        main()
