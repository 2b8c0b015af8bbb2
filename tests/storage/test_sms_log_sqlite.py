"""SQLiteStorage's account views: the schema migration that adds them, and their query plans."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from smscampaign.domain.contact import Recipient
from smscampaign.domain.delivery import Send
from smscampaign.domain.replies import InboundMessage
from smscampaign.providers.base import LogFilter
from smscampaign.providers.sqlite import (
    MIGRATIONS,
    SQLiteStorage,
    _campaign_doc,
    _contact_row,
    _inbound_doc,
    _send_row,
)
from smscampaign.testing.contracts import T0, make_campaign, make_contact

# The migration that adds the account views: the first one naming the new column.
VIEWS = next(i for i, step in enumerate(MIGRATIONS) if any("to_e164" in s for s in step))


def _send(n: int, minutes: int) -> Send:
    return Send(
        campaign_id="spring",
        recipient_id=f"c{n}",
        step_id="invite",
        to=make_contact(n).phone.e164,
        created_at=T0 + timedelta(minutes=minutes),
        body="Hi",
        id=f"s{n}-{minutes}",
    )


def _reply(n: int, minutes: int) -> InboundMessage:
    return InboundMessage(
        provider="simulated",
        provider_message_id=f"in-{n}-{minutes}",
        sender=make_contact(n).phone,
        recipient="+12125550199",
        body="Who is this?",
        received_at=T0 + timedelta(minutes=minutes),
        raw={},
    )


class TestMigration:
    """A file from before the account views gains them, its rows readable through them."""

    def test_rows_written_before_are_found_by_number_and_sender(self, tmp_path: Path) -> None:
        """Existing sends get their number, existing replies their sender and time."""
        path = tmp_path / "old.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, step in enumerate(MIGRATIONS[:VIEWS], start=1):
            for statement in step:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
        campaign = make_campaign().schedule(at=T0).start(at=T0)
        conn.execute(
            "INSERT INTO campaigns VALUES ('spring', 'default', 'in_progress', ?)",
            (_campaign_doc(campaign),),
        )
        for n in (1, 2):
            conn.execute(
                "INSERT INTO contacts (account, id, e164, region, kind, verified, zones, "
                "first_name, last_name, email, fields, consent, time_zone) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _contact_row(make_contact(n)),
            )
            conn.execute(
                "INSERT INTO recipients (campaign_id, contact_pk, contact_id, status, response, "
                "list_name, fields) SELECT 'spring', pk, id, 'active', 'not_started', '', '{}' "
                "FROM contacts WHERE id = ?",
                (f"c{n}",),
            )
        old_sends = [_send(2, 5), _send(1, 3), _send(1, 9)]
        for send in old_sends:
            conn.execute(
                "INSERT INTO sends (id, campaign_id, recipient_id, step_id, status, reason, "
                "created_at, due_at, sent_on, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _send_row(send)[:10],
            )
        for message in (_reply(1, 20), _reply(2, 10), _reply(1, 4)):
            conn.execute(
                "INSERT INTO inbound (provider, message_id, account, data) VALUES (?, ?, ?, ?)",
                ("simulated", message.provider_message_id, "default", _inbound_doc(message)),
            )
        conn.commit()
        conn.close()
        with SQLiteStorage(path) as storage:
            mine = LogFilter(to=make_contact(1).phone.e164)
            assert [s.id for s in storage.iter_sms_log(mine)] == ["s1-3", "s1-9"]
            assert [s.id for s in storage.iter_sms_log()] == ["s1-3", "s2-5", "s1-9"]
            sender = make_contact(1).phone.e164
            got = [m.provider_message_id for m in storage.iter_replies(sender=sender)]
            assert got == ["in-1-4", "in-1-20"]
            after = [
                m.provider_message_id for m in storage.iter_replies(since=T0 + timedelta(minutes=5))
            ]
            assert after == ["in-2-10", "in-1-20"]


class TestQueryPlans:
    """The account views read through their indexes: never a scan of a whole table."""

    def test_views_use_indexes(self, tmp_path: Path) -> None:
        """Log by campaign, number and contact; replies by time and sender; contacts by consent."""
        with SQLiteStorage(tmp_path / "db") as storage:
            conn = storage._conn
            log = (
                "SELECT s.created_at, s.id, s.data FROM sends s INDEXED BY {index} WHERE {scope} "
                "AND (s.created_at, s.id) > ('', '') AND s.status IN ('sent') "
                "ORDER BY s.created_at, s.id LIMIT 50"
            )
            account = "s.campaign_id IN (SELECT id FROM campaigns WHERE account = 'd')"
            plans = {
                "log page of a campaign": log.format(
                    index="sends_log", scope="s.campaign_id = 'k'"
                ),
                "replies by time": "SELECT pk FROM inbound WHERE account = 'd' "
                "AND (received_at, pk) > ('', 0) ORDER BY received_at, pk LIMIT 500",
                "replies by sender": "SELECT pk FROM inbound WHERE account = 'd' AND sender = 'x' "
                "AND (received_at, pk) > ('', 0) ORDER BY received_at, pk LIMIT 500",
                "pending opt-in": "SELECT id FROM contacts WHERE account = 'd' "
                "AND consent = 'pending_opt_in' AND id > '' ORDER BY id LIMIT 500",
                "consent counts": "SELECT consent, count(*) FROM contacts WHERE account = 'd' "
                "GROUP BY consent",
            }
            plans["log by number"] = log.format(
                index="sends_log_by_number", scope=f"s.to_e164 = 'x' AND {account}"
            )
            plans["log by contact"] = log.format(
                index="sends_latest", scope=f"s.recipient_id = 'c1' AND {account}"
            )
            for name, sql in plans.items():
                details = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
                assert all("USING" in d for d in details if d.startswith(("SCAN", "SEARCH"))), (
                    name,
                    details,
                )
                if name in ("log page of a campaign", "replies by time", "pending opt-in"):
                    assert not any("TEMP B-TREE" in d for d in details), (name, details)

    def test_a_first_page_reads_a_page_per_campaign(self, tmp_path: Path) -> None:
        """The account's log merges its campaigns: a page costs a page from each, not all rows."""
        with SQLiteStorage(tmp_path / "db") as storage:
            for campaign_id in ("a", "b"):
                storage.add_campaign(make_campaign(campaign_id))
                storage.add_recipients(
                    Recipient(campaign_id=campaign_id, contact=make_contact(n)) for n in range(300)
                )
                storage.save_sends(
                    Send(
                        campaign_id=campaign_id,
                        recipient_id=f"c{n}",
                        step_id="invite",
                        to=make_contact(n).phone.e164,
                        created_at=T0 + timedelta(seconds=n),
                        id=f"{campaign_id}{n:04d}",
                    )
                    for n in range(300)
                )
            read: list[int] = []
            real = storage._read

            def counting(sql: str, params: object = ()) -> list[object]:
                rows = real(sql, params)  # type: ignore[arg-type]
                if "FROM sends" in sql:
                    read.append(len(rows))
                return rows

            storage._read = counting  # type: ignore[method-assign]
            page = list(storage.iter_sms_log(limit=10))
            assert [s.id for s in page] == [f"{c}{n:04d}" for n in range(5) for c in "ab"]
            assert sum(read) <= 2 * 10
