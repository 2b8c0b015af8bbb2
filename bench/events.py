"""Benchmark ``events``: 100,000 status receipts applied through SQLiteStorage.

A campaign with 100,000 sends, each with one attempt the provider accepted
(a provider message id), receives one DELIVERED receipt per send.
``ours_s`` is :meth:`SQLiteStorage.record_events` on all of them: dedup
against the append-only log, lookup of each attempt by provider message id,
the domain's merge rule, the log rows and the send rows written. The
outcome's changed sends are built only on request; after the timing every
send is read back from the database and checked DELIVERED.

The baseline, timed in the same run on a copy of the same database file, is
the raw ``sqlite3`` floor for the same writes: ``executemany`` of the log
inserts and of the send updates (status, reason, sent-on, document), with
every value precomputed outside the timing. Target: ours <= 2.0 x baseline
(reported ``ratio`` = baseline / ours >= 0.5).

Run: ``.venv/bin/python bench/events.py [N]``
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import attrs
from _common import emit, peak_mb

from smscampaign.domain.contact import Recipient
from smscampaign.domain.delivery import DeliveryStatus, Send, StatusEvent
from smscampaign.providers.base import send_reason
from smscampaign.providers.sqlite import SQLiteStorage, _event_doc, _ots, _send_doc
from smscampaign.testing.contracts import T0, make_campaign, make_contact

N = 100_000
TARGET = "ours <= 2.0 x raw executemany (ratio >= 0.5)"


def build(path: Path, n: int) -> list[StatusEvent]:
    """A database with n accepted sends, and one DELIVERED receipt for each."""
    storage = SQLiteStorage(path)
    campaign = make_campaign("bench").schedule(at=T0).start(at=T0)
    base = make_contact(0)
    template = Send(
        campaign_id="bench", recipient_id="c0", step_id="invite", to=base.phone.e164, created_at=T0
    ).start_attempt(at=T0)
    accepted = StatusEvent(
        provider="simulated", provider_message_id="x", status="sending", occurred_at=T0
    )
    with storage.transaction():
        storage.add_campaign(campaign)
        storage.add_recipients(
            Recipient(campaign_id="bench", contact=attrs.evolve(base, id=f"c{i}")) for i in range(n)
        )
        storage.save_sends(
            attrs.evolve(template, recipient_id=f"c{i}", id=f"s{i}").apply(
                attrs.evolve(accepted, provider_message_id=f"m{i}")
            )
            for i in range(n)
        )
    storage.close()
    at = T0 + timedelta(minutes=1)
    return [
        StatusEvent(
            provider="simulated",
            provider_message_id=f"m{i}",
            status=DeliveryStatus.DELIVERED,
            occurred_at=at,
            provider_status="delivered",
            raw={"MessageSid": f"m{i}", "MessageStatus": "delivered"},
        )
        for i in range(n)
    ]


def main() -> None:
    """Measure and print one JSON line."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    with tempfile.TemporaryDirectory() as tmp:
        ours_db, floor_db = Path(tmp) / "ours.db", Path(tmp) / "floor.db"
        events = build(ours_db, n)
        shutil.copy(ours_db, floor_db)
        peak_db = Path(tmp) / "peak.db"
        shutil.copy(ours_db, peak_db)

        storage = SQLiteStorage(ours_db)
        start = time.perf_counter()
        outcome = storage.record_events(events)
        ours_s = time.perf_counter() - start
        # Checked outside the timing: every send changed, none needs follow-up,
        # and every send reads back DELIVERED from the database.
        assert outcome.stored == n
        assert len(outcome.send_ids) == n
        assert outcome.follow_up == ()
        sends = list(storage.iter_sends("bench"))
        assert len(sends) == n
        assert all(s.status is DeliveryStatus.DELIVERED for s in sends)
        storage.close()

        # The same writes, every value computed beforehand.
        log_rows = [
            (e.dedup_key, e.provider, e.provider_message_id, 0, _event_doc(e)) for e in events
        ]
        send_rows = [
            (s.status.value, send_reason(s), _ots(s.sent_on), _send_doc(s), s.id) for s in sends
        ]
        conn = sqlite3.connect(floor_db, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO events (dedup_key, provider, message_id, parked, data) "
            "VALUES (?, ?, ?, ?, ?)",
            log_rows,
        )
        conn.executemany(
            "UPDATE sends SET status = ?, reason = ?, sent_on = ?, data = ? WHERE id = ?",
            send_rows,
        )
        conn.execute("COMMIT")
        floor_s = time.perf_counter() - start
        conn.close()

        peak_storage = SQLiteStorage(peak_db)
        peak = peak_mb(lambda: peak_storage.record_events(events))
        peak_storage.close()
    emit(
        "events",
        n=n,
        ours_s=ours_s,
        baseline="raw sqlite3 executemany of the same log inserts and send updates, "
        "values precomputed, same schema",
        baseline_s=floor_s,
        target=TARGET,
        peak_mb=peak,
        met=ours_s <= 2.0 * floor_s,
    )


if __name__ == "__main__":
    main()
