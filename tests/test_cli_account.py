"""The account commands end to end on a SQLite campaign file: log, consent, suppressions,
contact, campaigns and test-send, through ``main()`` and through a subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smscampaign.cli import main
from smscampaign.domain.contact import Consent, Recipient, Suppression
from smscampaign.domain.delivery import FailureReason, Send, StatusEvent
from smscampaign.domain.replies import InboundMessage
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.reporting import OVERVIEW_HEADER, campaigns_overview
from smscampaign.testing.contracts import T0, make_campaign, make_contact

N1 = make_contact(1).phone.e164
N3 = make_contact(3).phone.e164


def _send(campaign_id: str, n: int, minutes: int, outcome: str | None = None) -> Send:
    send = Send(
        campaign_id=campaign_id,
        recipient_id=f"c{n}",
        step_id="invite",
        to=make_contact(n).phone.e164,
        created_at=T0 + timedelta(minutes=minutes),
        body=f"Hi {n}",
        id=f"{campaign_id}:{n}",
    )
    if outcome is None:
        return send
    at = T0 + timedelta(minutes=minutes)
    send = send.start_attempt(at=at).apply(
        StatusEvent(
            provider="simulated",
            provider_message_id=f"m{campaign_id}{n}",
            status="sending",
            occurred_at=at,
        )
    )
    if outcome == "failed":
        return send.apply(
            StatusEvent.failure(
                provider="simulated",
                provider_message_id=f"m{campaign_id}{n}",
                occurred_at=at,
                reason=FailureReason.INVALID_NUMBER,
                provider_code="30005",
            )
        )
    return send.apply(
        StatusEvent(
            provider="simulated",
            provider_message_id=f"m{campaign_id}{n}",
            status=outcome,
            occurred_at=at,
        )
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two campaigns of the default account with sends, replies, suppressions, pending contacts."""
    path = tmp_path / "account.db"
    with SQLiteStorage(path) as storage:
        for campaign_id in ("a", "b"):
            storage.add_campaign(make_campaign(campaign_id).schedule(at=T0).start(at=T0))
        storage.add_recipients(
            Recipient(campaign_id="a", contact=make_contact(n, consent=Consent.OPTED_IN))
            for n in range(1, 5)
        )
        storage.add_recipients(
            Recipient(campaign_id="b", contact=make_contact(n)) for n in range(1, 3)
        )
        storage.save_contacts([make_contact(n, consent=Consent.PENDING_OPT_IN) for n in (5, 6)])
        storage.save_sends(
            [
                _send("a", 1, 0, "delivered"),
                _send("a", 2, 1, "failed"),
                _send("a", 3, 2, "sent"),
                _send("a", 4, 3),
                _send("b", 1, 10, "delivered"),
                _send("b", 2, 11),
            ]
        )
        storage.record_inbound(
            InboundMessage(
                provider="simulated",
                provider_message_id="in1",
                sender=make_contact(1).phone,
                recipient="+12125550199",
                body="STOP",
                received_at=T0 + timedelta(minutes=30),
                raw={},
            )
        )
        storage.suppress(
            Suppression(
                e164=N1,
                cause="stop_word",
                at=T0 + timedelta(minutes=30),
                detail="STOP",
                campaign_id="b",
                by="simulated",
            )
        )
        storage.suppress(Suppression(e164=N3, cause="manual", at=T0, detail="asked", by="ops"))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Any:
    status, out, err = run(capsys, *args, "--json")
    assert status == 0, err
    return json.loads(out)


class TestLogCommand:
    """``log`` pages through the account's SMS log; ``--csv`` writes all of it."""

    def test_pages_join_up_and_match_the_csv(
        self, db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Pages of two, each continuing after the last cursor, make the whole CSV export."""
        ids: list[str] = []
        after: list[str] = []
        while True:
            page = run_json(capsys, "log", db, "--limit", "2", *after)
            ids += [e["send_id"] for e in page["entries"]]
            if page["next"] is None:
                break
            after = ["--after", page["next"]]
        assert ids == ["a:1", "a:2", "a:3", "a:4", "b:1", "b:2"]
        status, out, _ = run(capsys, "log", db, "--csv", "-")
        assert status == 0
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["Campaign"] + ":" + r["Contact ID"][1:] for r in rows] == ids
        assert rows[1]["Delivery Result"] == "Failed to Send"
        assert rows[1]["Cause"] == "Account suspended, invalid or gone"
        assert rows[1]["Detail"] == "invalid_number (30005)"

    def test_filters(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """By stage, status, campaign, number, contact and period (in the zone given)."""

        def ids(*args: str) -> list[str]:
            return [e["send_id"] for e in run_json(capsys, "log", db, *args)["entries"]]

        assert ids("--stage", "Not Sent Yet") == ["a:4", "b:2"]
        assert ids("--stage", "Sent") == ["a:1", "a:3", "b:1"]
        assert ids("--status", "delivered", "--stage", "Sent") == ["a:1", "b:1"]
        assert ids("--campaign", "b") == ["b:1", "b:2"]
        assert ids("--number", "(212) 555-0101") == ["a:1", "b:1"]
        assert ids("--contact", "c2", "--step", "invite") == ["a:2", "b:2"]
        since = (T0 + timedelta(minutes=2)).astimezone().isoformat()
        assert ids("--since", since, "--until", "2025-06-25T13:10:00+00:00") == ["a:3", "a:4"]
        assert ids("--since", "2025-06-25 09:05", "--zone", "America/New_York") == ["b:1", "b:2"]

    def test_table_and_mistakes(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A table with the next cursor; bad options are one error line each."""
        status, out, _ = run(capsys, "log", db, "--limit", "3")
        assert status == 0
        assert "Failed to Send" in out
        assert "more: add --after " in out
        for args, code in (
            (["--status", "bounced"], 2),
            (["--stage", "Bounced"], 2),
            (["--status", "queued", "--stage", "Sent"], 2),
            (["--after", "garbage"], 1),
            (["--limit", "0"], 2),
            (["--since", "tomorrow-ish"], 2),
        ):
            status, _, err = run(capsys, "log", db, *args)
            assert status == code, (args, err)
            assert err.startswith("smscampaign: error: ")
            assert len(err.strip().splitlines()) == 1


class TestConsentCommand:
    """``consent``: totals, one number, the Pending Opt-In list, and the CSV."""

    def test_totals_lookup_and_pending(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Totals per status; a number's status; the pending contacts for another channel."""
        data = run_json(capsys, "consent", db)
        assert data["totals"] == {"pending_opt_in": 2, "opted_in": 4, "opted_out": 0}
        assert data["total"] == 6
        number = run_json(capsys, "consent", db, "--number", N1)
        assert (number["label"], number["suppressed"]["cause"]) == ("Opted Out", "stop_word")
        assert [c["id"] for c in run_json(capsys, "consent", db, "--pending")] == ["c5", "c6"]
        status, out, _ = run(capsys, "consent", db)
        assert status == 0
        assert "Pending Opt-In" in out
        status, out, _ = run(capsys, "consent", db, "--pending", "--csv", "-")
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [(r["Contact ID"], r["SMS Status"]) for r in rows] == [
            ("c5", "Pending Opt-In"),
            ("c6", "Pending Opt-In"),
        ]


class TestSuppressionCommands:
    """``suppressions`` lists and exports; ``unsuppress`` never undoes a STOP by hand."""

    def test_list_export_and_guarded_removal(
        self, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """STOP refused with one error line; a manual entry lifted and logged."""
        entries = run_json(capsys, "suppressions", db)
        assert [(e["number"], e["cause"], e["campaign"]) for e in entries] == [
            (N1, "stop_word", "b"),
            (N3, "manual", None),
        ]
        target = tmp_path / "unsubscribes.csv"
        status, out, _ = run(capsys, "suppressions", db, "--csv", target)
        assert status == 0
        assert "wrote 2 suppressed numbers" in out
        with open(target, encoding="utf-8", newline="") as handle:
            assert [r["Cause"] for r in csv.DictReader(handle)] == [
                "Replied a stop word",
                "Added by hand",
            ]
        status, _, err = run(capsys, "unsuppress", db, N1, "--reason", "they called")
        assert status == 1
        assert "only the number itself can undo that" in err
        assert len(err.strip().splitlines()) == 1
        status, _, err = run(capsys, "unsuppress", db, N3, "--reason", "mistake", "--by", "ann")
        assert status == 0, err
        removals = run_json(capsys, "suppressions", db, "--removals")
        assert [(r["number"], r["by"], r["reason"]) for r in removals] == [(N3, "ann", "mistake")]
        with SQLiteStorage(db) as storage:
            assert storage.get_suppression(N1) is not None


class TestContactAndCampaigns:
    """``contact`` shows one conversation; ``campaigns`` the account's overview."""

    def test_contact_by_id_or_number(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Both campaigns' messages and the STOP, in time order."""
        data = run_json(capsys, "contact", db, "c1")
        assert [(i["direction"], i["campaign"], i["body"]) for i in data["timeline"]] == [
            ("outbound", "a", "Hi 1"),
            ("outbound", "b", "Hi 1"),
            ("reply", None, "STOP"),
        ]
        assert run_json(capsys, "contact", db, "212-555-0101")["contact"] == "c1"
        status, _, err = run(capsys, "contact", db, "+12125550177")
        assert status == 1
        assert "no contact" in err

    def test_campaigns_overview(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """One row per campaign, as campaigns_overview computes it; CSV with the same rows."""
        data = run_json(capsys, "campaigns", db)
        with SQLiteStorage(db) as storage:
            expected = campaigns_overview(storage)
        assert [c["campaign"]["id"] for c in data["campaigns"]] == ["a", "b"]
        for row, got in zip(expected, data["campaigns"], strict=True):
            assert got["recipients"] == row.count("recipients")
            assert got["delivered"] == row.count("delivered")
            assert got["progress"]["text"] == row.progress.text
        assert data["campaigns"][0]["hard_bounced"] == 1
        assert data["campaigns"][1]["opted_out"] == 1  # the STOP answered campaign b
        status, out, _ = run(capsys, "campaigns", db, "--csv", "-")
        assert status == 0
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[0] == list(OVERVIEW_HEADER)
        assert [r[0] for r in rows[1:]] == ["a", "b"]


class TestTestSendCommand:
    """``test-send`` sends and records a test, never to a suppressed number."""

    def test_sent_and_recorded_but_not_counted(
        self, db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The message goes out; the timeline records it; the campaign's counts do not move."""
        with SQLiteStorage(db) as storage:
            before = storage.count_sends("a", by=("step", "status"))
        data = run_json(
            capsys,
            "test-send",
            db,
            "--campaign",
            "a",
            "--step",
            "invite",
            "--to",
            "2125550150",
            "--contact",
            "c2",
        )
        assert (data["to"], data["body"], data["provider"]) == (
            "+12125550150",
            "Hi First2: https://example.com/s/2",
            "simulated",
        )
        with SQLiteStorage(db) as storage:
            assert storage.count_sends("a", by=("step", "status")) == before
            entry = storage.get_campaign("a").timeline[-1]
        assert entry.action.value == "test_sent"
        assert data["message_id"] in entry.detail
        status, _, err = run(
            capsys,
            "test-send",
            db,
            "--campaign",
            "a",
            "--step",
            "invite",
            "--to",
            N3,
            "--contact",
            "c2",
        )
        assert status == 1
        assert "suppression list" in err


def test_log_through_a_subprocess(db: Path) -> None:
    """``python -m smscampaign log`` prints a JSON page a script can read."""
    result = subprocess.run(
        [sys.executable, "-m", "smscampaign", "log", str(db), "--limit", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    assert [e["send_id"] for e in page["entries"]] == ["a:1"]
    assert page["next"]
