"""Benchmark ``log-first-page``: the first page of an account's SMS log, 1,000,000 messages.

An account with ten campaigns (invite, reminder, thank-you) and 33,334
recipients each holds 1,000,020 messages spread over 30 days, in every status.
``ours_s`` is :func:`smscampaign.account.sms_log_page` for one week in the
middle of the range (50 messages, in seed 001's words, with the next cursor):
``SQLiteStorage.iter_sms_log`` merges the campaigns' pages read from the
``sends_log`` index (campaign, created_at, id).

The baseline, timed in the same run on the same file, is the same first page
without the indexes: one query over the account's campaigns with ``NOT
INDEXED`` (a scan of every message and a top-N sort in SQLite), decoded the
same way. Target: ours under 1 second.

The database is built fast, straight on the schema with ``executemany``
(contacts through ``save_contacts``; recipients and sends as raw rows whose
JSON documents come from one template send per status), so building takes
seconds rather than the minutes a million domain objects would.

Run: ``.venv/bin/python bench/log_first_page.py [N]`` (N messages, default 1,000,000).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import attrs
from _common import emit, peak_mb, timed

from smscampaign.account import log_entry, sms_log_page
from smscampaign.domain.contact import Contact
from smscampaign.domain.delivery import FailureReason, Send, StatusEvent
from smscampaign.providers.base import LogFilter, send_reason
from smscampaign.providers.sqlite import SQLiteStorage, _send, _send_doc, _ts
from smscampaign.testing.contracts import T0, make_campaign, make_contact

N = 1_000_000
CAMPAIGNS = 10
STEPS = ("invite", "reminder-1", "thanks")
SPAN = timedelta(days=30)
PAGE = 50
TARGET = "first page < 1 s"


def _templates() -> list[Send]:
    """One send per status the log shows, to copy documents from."""
    base = Send(
        campaign_id="k",
        recipient_id="c0",
        step_id="invite",
        to=make_contact(0).phone.e164,
        created_at=T0,
        body="Hi First0: https://example.com/s/0",
        id="template",
    )
    accepted = base.start_attempt(at=T0).apply(
        StatusEvent(provider="simulated", provider_message_id="m", status="sending", occurred_at=T0)
    )

    def event(status: str) -> StatusEvent:
        return StatusEvent(
            provider="simulated", provider_message_id="m", status=status, occurred_at=T0
        )

    bounced = StatusEvent.failure(
        provider="simulated",
        provider_message_id="m",
        occurred_at=T0,
        reason=FailureReason.INVALID_NUMBER,
        provider_code="30005",
    )
    skipped = Send.skipped(
        campaign_id="k", recipient_id="c0", step_id="invite", to=base.to, at=T0,
        reasons=["suppressed"], id="template",
    )  # fmt: skip
    delivered = accepted.apply(event("delivered"))
    # Mostly delivered, as a real log is; every other status present.
    return [delivered] * 6 + [accepted.apply(event("sent")), accepted.apply(bounced), skipped, base]


def build(path: Path, n: int) -> None:
    """A database of ``n`` messages (rounded up to whole recipients) in one account."""
    storage = SQLiteStorage(path)
    per_campaign = -(-n // (CAMPAIGNS * len(STEPS)))
    contacts = [make_contact(i) for i in range(per_campaign)]
    contacts = [attrs.evolve(c, id=f"c{i}") for i, c in enumerate(contacts)]
    storage.save_contacts(contacts)
    templates = [json.loads(_send_doc(t)) for t in _templates()]
    rows_per_template = [
        (t.status.value, send_reason(t), _ts(t.sent_on) if t.sent_on else None)
        for t in _templates()
    ]
    total = per_campaign * CAMPAIGNS * len(STEPS)
    step_s = SPAN.total_seconds() / total
    conn = storage._conn
    with storage.transaction():
        _fill(storage, conn, contacts, templates, rows_per_template, per_campaign, step_s)
    conn.execute("ANALYZE")
    storage.close()


def _fill(
    storage: SQLiteStorage,
    conn: sqlite3.Connection,
    contacts: list[Contact],
    templates: list[dict[str, Any]],
    rows_per_template: list[tuple[str, str, str | None]],
    per_campaign: int,
    step_s: float,
) -> None:
    for k in range(CAMPAIGNS):
        campaign = make_campaign(f"k{k}").schedule(at=T0).start(at=T0)
        storage.add_campaign(campaign)
        conn.executemany(
            "INSERT INTO recipients (campaign_id, contact_pk, contact_id, status, response, "
            "list_name, fields) SELECT ?, pk, id, 'active', 'not_started', 'list.csv', '{}' "
            "FROM contacts WHERE account = 'default' AND id = ?",
            [(campaign.id, c.id) for c in contacts],
        )
    rows = []
    index = 0
    for i in range(per_campaign):
        to = contacts[i].phone.e164
        for k in range(CAMPAIGNS):
            for step in STEPS:
                template = index % len(templates)
                doc = dict(templates[template])
                created = _ts(T0 + timedelta(seconds=index * step_s))
                send_id = f"k{k}:{step}:c{i}"
                doc.update(c=f"k{k}", r=f"c{i}", st=step, to=to, at=created, id=send_id)
                status, reason, sent_on = rows_per_template[template]
                rows.append(
                    (send_id, f"k{k}", f"c{i}", step, status, reason, created,
                     sent_on and created, json.dumps(doc, separators=(",", ":")), to)
                )  # fmt: skip
                index += 1
        if len(rows) >= 50_000:
            _insert(conn, rows)
            rows = []
    _insert(conn, rows)


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT INTO sends (id, campaign_id, recipient_id, step_id, status, reason, created_at, "
        "sent_on, data, to_e164) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.db"
        start = time.perf_counter()
        build(path, n)
        build_s = time.perf_counter() - start
        storage = SQLiteStorage(path)
        messages = storage._conn.execute("SELECT count(*) FROM sends").fetchone()[0]
        since, until = T0 + timedelta(days=12), T0 + timedelta(days=19)

        def ours() -> list[str]:
            page = sms_log_page(storage, LogFilter(since=since, until=until), size=PAGE)
            assert len(page.entries) == PAGE
            assert page.next is not None
            return [e.send.id for e in page.entries]

        def baseline() -> list[str]:
            rows = storage._conn.execute(
                "SELECT s.data FROM sends s NOT INDEXED "
                "WHERE s.campaign_id IN (SELECT id FROM campaigns WHERE account = 'default') "
                "AND s.created_at >= ? AND s.created_at < ? "
                "ORDER BY s.created_at, s.id LIMIT ?",
                (_ts(since), _ts(until), PAGE + 1),
            ).fetchall()
            names = {c.id: c.name for c in storage.iter_campaigns(account="default")}
            sends = [_send(row[0]) for row in rows[:PAGE]]
            return [log_entry(s, names[s.campaign_id]).send.id for s in sends]

        cold = time.perf_counter()
        first = ours()
        cold_s = time.perf_counter() - cold
        assert first == baseline(), "the indexed page and the scan disagree"
        ours_s = timed(ours, repeat=5)
        baseline_s = timed(baseline, repeat=3, warmup=1)
        emit(
            "log-first-page",
            n=messages,
            ours_s=ours_s,
            baseline="same query NOT INDEXED (scan + top-N sort)",
            baseline_s=baseline_s,
            target=TARGET,
            peak_mb=peak_mb(ours),
            cold_s=round(cold_s, 6),
            build_s=round(build_s, 1),
            build="save_contacts + executemany on the schema",
            load=os.getloadavg()[0],
            met=ours_s < 1.0,
        )
        storage.close()


if __name__ == "__main__":
    main()
