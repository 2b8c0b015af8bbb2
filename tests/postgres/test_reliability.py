"""Four worker processes, one PostgreSQL, one carrier; one worker killed mid-batch and restarted.

The campaign has 20,000 recipients. Every worker is a real OS process
running ``CampaignRunner`` on its own ``PostgresStorage``; they share the
database and the simulated carrier's ledger (which honours idempotency keys
across processes, as a real carrier does). One worker freezes right after the
carrier accepted a message and before the runner saved its send, and is
killed there with SIGKILL; a new worker of the same name starts. Its claimed
sends wait out their lease, another worker takes them over and sends them
again under the same idempotency keys. Afterwards every recipient has been
sent the invite exactly once at the carrier, and the reports add up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg", reason="needs the postgres extra: pip install -e '.[postgres]'")

from smscampaign import Campaign, Consent, Contact, DeliveryStatus, PhoneNumber, Step
from smscampaign.providers.postgres import PostgresStorage
from smscampaign.providers.simulated import CarrierLedger, SimulatedGateway, VirtualClock
from smscampaign.reporting import delivery_stats
from smscampaign.runner import CampaignRunner

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKER = Path(__file__).with_name("_worker.py")
RECIPIENTS = 20_000
# The victim freezes inside its fourth batch (the worker claims 200 sends at a time).
PAUSE_AFTER = 3 * 200 + 57

sys.path.insert(0, str(WORKER.parent))
from _worker import BATCH, CAMPAIGN, START  # noqa: E402


def _contacts(n: int) -> list[Contact]:
    return [
        Contact(
            id=f"c{i}",
            phone=PhoneNumber.parse(f"+1212{200 + i // 10_000:03d}{i % 10_000:04d}", lenient=True),
            first_name="Ann",
            consent=Consent.OPTED_IN,
        )
        for i in range(n)
    ]


def _spawn(url: str, schema: str, ledger: Path, name: str, origin: float, *extra: str) -> Any:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, schema, str(ledger), name, repr(origin),
         str(RECIPIENTS), *extra],
    )  # fmt: skip


class TestKilledWorker:
    """SIGKILL between "the carrier accepted" and "the send was saved" loses and repeats nothing."""

    def test_every_recipient_gets_the_invite_exactly_once(
        self,
        postgres_url: str,
        make_postgres: Callable[..., PostgresStorage],
        tmp_path: Path,
    ) -> None:
        """Carrier ledger: one message per number; storage: one delivered invite per recipient."""
        storage = make_postgres(max_size=2)
        setup = CampaignRunner(storage, SimulatedGateway.ideal(), VirtualClock(START))
        campaign = Campaign.create(
            at=START,
            id=CAMPAIGN,
            name="Reliability",
            sender="+15005550006",
            time_zone="America/New_York",
            steps=[Step(id="invite", kind="invite", body="Hi {first_name}, one question?")],
        )
        setup.create(campaign.with_options(allow_unverified_numbers=True))
        people = _contacts(RECIPIENTS)
        setup.add_recipients(CAMPAIGN, people, now=START)
        setup.schedule(CAMPAIGN, now=START)
        ledger_path = tmp_path / "carrier.db"
        CarrierLedger(ledger_path).close()
        marker = tmp_path / "frozen"
        schema = storage.schema
        assert schema is not None

        started = time.monotonic()
        origin = time.time()
        victim = _spawn(
            postgres_url, schema, ledger_path, "w0", origin, str(PAUSE_AFTER), str(marker)
        )
        workers = [_spawn(postgres_url, schema, ledger_path, f"w{i}", origin) for i in range(1, 4)]
        try:
            deadline = time.monotonic() + 180
            while not marker.exists():
                assert victim.poll() is None, "the worker to kill ended on its own"
                assert time.monotonic() < deadline, "the worker to kill never reached its pause"
                time.sleep(0.05)
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
            workers.append(_spawn(postgres_url, schema, ledger_path, "w0", origin))
            codes = [w.wait(timeout=300) for w in workers]
        finally:
            for process in [victim, *workers]:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        elapsed = time.monotonic() - started
        assert codes == [0, 0, 0, 0]
        frozen_key = marker.read_text()
        frozen_send = frozen_key.rsplit(":", 1)[0]

        # At the carrier: every number got exactly one message, and the one the
        # killed worker had handed over unsaved was sent again under its key,
        # answered from the ledger rather than sent twice.
        ledger = CarrierLedger(ledger_path)
        try:
            by_number = ledger.messages_by_number()
            replays = ledger.replays()
            accepted = len(ledger)
        finally:
            ledger.close()
        assert accepted == RECIPIENTS
        assert set(by_number.values()) == {1}
        assert set(by_number) == {c.phone.e164 for c in people}
        assert frozen_key in replays

        # In storage: the killed worker's claims lapsed and were taken over.
        lapsed = list(storage.iter_lapsed_claims())
        assert lapsed
        assert {claim.previous_worker for claim in lapsed} == {"w0"}
        assert frozen_send in {claim.send_id for claim in lapsed}
        assert len(lapsed) <= BATCH

        # The reports add up: one invite per recipient, each with one attempt,
        # delivered, or still "sending" where the receipts went down with the
        # killed worker's carrier (at most the messages it accepted).
        sends = list(storage.iter_sends(CAMPAIGN))
        assert len(sends) == RECIPIENTS
        assert Counter(s.recipient_id for s in sends) == Counter(c.id for c in people)
        assert all(len(s.attempts) == 1 for s in sends)
        counts = storage.count_sends(CAMPAIGN, by=("step", "status"))
        assert counts == Counter(("invite", s.status.value) for s in sends)
        delivered = counts.get(("invite", DeliveryStatus.DELIVERED.value), 0)
        sending = counts.get(("invite", DeliveryStatus.SENDING.value), 0)
        assert delivered + sending == RECIPIENTS
        assert sending <= PAUSE_AFTER
        assert storage.count_recipients(CAMPAIGN) == {("active",): RECIPIENTS}
        stats = delivery_stats(storage, CAMPAIGN, now=START).total
        assert (stats.recipients, stats.pending) == (RECIPIENTS, 0)
        assert (stats.delivered, stats.sending) == (delivered, sending)
        print(f"\n4 workers, 1 killed and restarted: {RECIPIENTS} recipients in {elapsed:.1f} s")
