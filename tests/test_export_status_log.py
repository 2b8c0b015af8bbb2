"""The status-log export of seed 000: one row per recipient, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from smscampaign.domain.contact import ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Send, StatusEvent
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.reporting import export_status_log, neutralize_cell
from smscampaign.testing.contracts import T0, make_campaign, make_contact


def _sent(send: Send, message_id: str) -> Send:
    started = send.start_attempt(at=T0)
    return started.apply(
        StatusEvent(
            provider="simulated",
            provider_message_id=message_id,
            status=DeliveryStatus.SENT,
            occurred_at=T0,
        )
    )


def _storage(storage: InMemoryStorage | SQLiteStorage) -> InMemoryStorage | SQLiteStorage:
    campaign = make_campaign().schedule(at=T0).start(at=T0)
    storage.add_campaign(campaign)
    storage.add_recipients(
        [
            Recipient(
                campaign_id="spring",
                contact=make_contact(1, first_name='=HYPERLINK("x")'),
                list_name="list.csv",
                response=ResponseStatus.PARTIAL,
            ),
            Recipient(
                campaign_id="spring",
                contact=make_contact(2, last_name="@SUM(A1)"),
                list_name="-list.csv",
                status=ContactStatus.UNSUBSCRIBED,
            ),
        ]
    )
    first = _sent(
        Send(
            campaign_id="spring",
            recipient_id="c1",
            step_id="invite",
            to="+12125550101",
            created_at=T0,
            id="s1",
        ),
        "m1",
    )
    second = _sent(
        Send(
            campaign_id="spring",
            recipient_id="c2",
            step_id="invite",
            to="+12125550102",
            created_at=T0,
            id="s2",
        ),
        "m2",
    )
    storage.save_sends([first, second])
    storage.record_events(
        [
            StatusEvent(provider="simulated", provider_message_id="m1",
                        status=DeliveryStatus.DELIVERED, occurred_at=T0 + timedelta(minutes=1)),
            StatusEvent.failure(provider="simulated", provider_message_id="m2",
                                occurred_at=T0, reason=FailureReason.LANDLINE,
                                provider_code="30006"),
        ]
    )  # fmt: skip
    return storage


class TestExportStatusLog:
    """Columns, values, zone, BOM and formula neutralization."""

    def test_rows_and_columns(self, tmp_path: Path) -> None:
        """One row per recipient with the seed's columns and words, times in Eastern Time."""
        storage = _storage(SQLiteStorage(tmp_path / "db"))
        out = tmp_path / "log.csv"
        assert export_status_log(storage, "spring", out) == 2
        with out.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0][:9] == [
            "Phone (Mobile)",
            "First Name",
            "Last Name",
            "List Name",
            "Response Status",
            "Contact Status",
            "Initial Send Status",
            "Initial Sent On",
            "Initial Failure Reason",
        ]
        assert rows[0][9:] == [
            "Reminder 1 Send Status",
            "Reminder 1 Sent On",
            "Reminder 1 Failure Reason",
            "Thank You Send Status",
            "Thank You Sent On",
            "Thank You Failure Reason",
        ]
        first, second = rows[1], rows[2]
        assert first[4:8] == ["Partial", "Active", "Delivered", "2025-06-25 09:00 EDT"]
        assert first[9:] == [""] * 6
        assert second[5:9] == ["Unsubscribed", "Failed", "2025-06-25 09:00 EDT", "landline (30006)"]

    def test_formula_injection_is_neutralized(self) -> None:
        """Cells starting with = + - @ tab or CR are made text, phones included."""
        storage = _storage(InMemoryStorage())
        buffer = io.StringIO()
        export_status_log(storage, "spring", buffer, time_zone="UTC")
        rows = list(csv.reader(io.StringIO(buffer.getvalue())))
        assert rows[1][0] == "'+12125550101"
        assert rows[1][1] == '\'=HYPERLINK("x")'
        assert rows[2][2] == "'@SUM(A1)"
        assert rows[2][3] == "'-list.csv"
        assert rows[1][7] == "2025-06-25 13:00 UTC"
        for cell in ("=1", "+1", "-1", "@x", "\tx", "\rx"):
            assert neutralize_cell(cell) == "'" + cell
        assert neutralize_cell("plain") == "plain"

    def test_bom_option(self, tmp_path: Path) -> None:
        """With bom=True the file starts with a UTF-8 byte-order mark for Excel."""
        storage = _storage(InMemoryStorage())
        export_status_log(storage, "spring", tmp_path / "a.csv", bom=True)
        export_status_log(storage, "spring", tmp_path / "b.csv")
        assert (tmp_path / "a.csv").read_bytes().startswith(b"\xef\xbb\xbfPhone")
        assert (tmp_path / "b.csv").read_bytes().startswith(b"Phone")
