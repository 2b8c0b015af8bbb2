"""``smscampaign demo``, end to end: the list, the import, the run within the law, the files."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from smscampaign import CampaignState, DeliveryStatus
from smscampaign._demo import CAMPAIGN_ID, CSV_HEADER, write_recipient_list
from smscampaign.providers.simulated import SimulatedGateway
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.runner import CampaignRunner

RECIPIENTS = 300


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of ``python -m smscampaign demo`` with a small list."""
    folder = tmp_path_factory.mktemp("demo") / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "smscampaign",
            "demo",
            "--dir",
            str(folder),
            "--recipients",
            str(RECIPIENTS),
            "--evaluation-interval",
            "180",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {"result": result, "folder": folder}


class TestDemoCommand:
    """The demo runs a whole campaign and says where its files are."""

    def test_succeeds_and_prints_every_part(self, demo: dict[str, Any]) -> None:
        result = demo["result"]
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "Traceback" not in result.stderr
        assert "imported " in out
        assert "duplicate" in out
        assert "invalid" in out
        assert "Plan the invitations followed" in out
        assert "requested " in out
        assert "Campaign Spring customer survey (spring-survey)" in out
        assert "step reminder-1" in out
        assert "Timeline" in out

    def test_names_the_database_and_the_status_log(self, demo: dict[str, Any]) -> None:
        out = demo["result"].stdout
        folder: Path = demo["folder"]
        assert f"Campaign file:  {folder / 'demo.db'}" in out
        assert f"Status log:     {folder / 'status-log.csv'}" in out
        assert (folder / "demo.db").is_file()

    def test_writes_and_names_the_html_report(self, demo: dict[str, Any]) -> None:
        out = demo["result"].stdout
        report = demo["folder"] / "report.html"
        assert f"HTML report:    {report.resolve()}" in out
        assert "<svg" in report.read_text(encoding="utf-8")

    def test_status_log_has_one_row_per_recipient(self, demo: dict[str, Any]) -> None:
        folder: Path = demo["folder"]
        with open(folder / "status-log.csv", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        with SQLiteStorage(folder / "demo.db") as storage:
            recipients = sum(storage.count_recipients(CAMPAIGN_ID, by=()).values())
        assert len(rows) == recipients
        assert len({row["Phone (Mobile)"] for row in rows}) == recipients
        assert {row["Initial Send Status"] for row in rows} >= {"Delivered", "Skipped"}

    def test_campaign_went_through_every_step(self, demo: dict[str, Any]) -> None:
        with SQLiteStorage(demo["folder"] / "demo.db") as storage:
            campaign = storage.get_campaign(CAMPAIGN_ID)
            counts = storage.count_sends(CAMPAIGN_ID, by=("step", "status"))
        assert campaign.state is CampaignState.COMPLETED
        delivered = {step: n for (step, status), n in counts.items() if status == "delivered"}
        assert delivered["invite"] > RECIPIENTS * 0.8
        assert delivered["reminder-1"] > 0
        assert delivered["thank-you"] > 0

    def test_nothing_was_sent_outside_the_recipients_hours(self, demo: dict[str, Any]) -> None:
        with SQLiteStorage(demo["folder"] / "demo.db") as storage:
            campaign = storage.get_campaign(CAMPAIGN_ID)
            schedule = CampaignRunner(storage, SimulatedGateway()).schedule_for(campaign)
            checked = 0
            for recipient in storage.iter_recipients(CAMPAIGN_ID):
                for send in recipient.sends:
                    for attempt in send.attempts:
                        sent = attempt.queued_at
                        allowed = schedule.next_send_time(recipient, sent)
                        assert allowed.at == sent, (recipient.phone.e164, sent, allowed)
                        checked += 1
        assert checked > RECIPIENTS

    def test_no_suppressed_number_got_anything_after(self, demo: dict[str, Any]) -> None:
        with SQLiteStorage(demo["folder"] / "demo.db") as storage:
            suppressed = {s.e164: s.at for s in storage.iter_suppressions()}
            late = [
                (send.to, attempt.queued_at)
                for send in storage.iter_sends(CAMPAIGN_ID)
                if send.to in suppressed
                for attempt in send.attempts
                if attempt.queued_at > suppressed[send.to]
            ]
        assert suppressed, "the demo's carrier produces some opt-outs and hard bounces"
        assert late == []

    def test_landlines_and_nameless_rows_were_skipped(self, demo: dict[str, Any]) -> None:
        with SQLiteStorage(demo["folder"] / "demo.db") as storage:
            skipped = [
                s
                for s in storage.iter_sends(CAMPAIGN_ID, step_id="invite")
                if s.status is DeliveryStatus.SKIPPED
            ]
        reasons = {r for s in skipped for r in s.skip_reasons}
        assert {"not_sms_capable", "missing_field"} <= reasons


class TestRecipientList:
    """The generated list: valid numbers across countries, plus bad rows planted on purpose."""

    def test_rows_and_planted_mistakes(self, tmp_path: Path) -> None:
        generated = write_recipient_list(tmp_path / "list.csv", 400, seed=3)
        with open(generated.path, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == generated.rows
        assert list(rows[0]) == list(CSV_HEADER)
        valid = 0
        regions = set()
        for row in rows:
            try:
                number = phonenumbers.parse(row["Phone (Mobile)"], "US")
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                valid += 1
                regions.add(phonenumbers.region_code_for_number(number))
        assert valid >= generated.valid + generated.landlines
        assert {"US", "FR", "GB"} <= regions
        assert generated.invalid >= 2
        assert generated.duplicates >= 1
        assert generated.landlines >= 1
        assert generated.missing_first_name >= 1

    def test_same_seed_same_list(self, tmp_path: Path) -> None:
        one = write_recipient_list(tmp_path / "a.csv", 60, seed=11)
        two = write_recipient_list(tmp_path / "b.csv", 60, seed=11)
        assert one.path.read_bytes() == two.path.read_bytes()

    def test_too_few_recipients(self, tmp_path: Path) -> None:
        from smscampaign.errors import ConfigurationError

        with pytest.raises(ConfigurationError, match="at least 20"):
            write_recipient_list(tmp_path / "a.csv", 5)
