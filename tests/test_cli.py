"""The ``smscampaign`` command, end to end: through a subprocess and through ``main()``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from smscampaign import Consent, DeliveryStatus
from smscampaign._demo import write_recipient_list
from smscampaign.cli import main, parse_delay, parse_reminder, parse_when
from smscampaign.providers.sqlite import SQLiteStorage

# Campaign dates come after today so the campaign's own "created" entry (real
# time) precedes its virtual run.
START = date.today() + timedelta(days=40)
END = START + timedelta(days=30)
UNTIL = START + timedelta(days=4)


def smscampaign(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m smscampaign`` with ``args``; never raises on a non-zero status."""
    return subprocess.run(
        [sys.executable, "-m", "smscampaign", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def init_args(db: Path, *extra: str) -> list[str]:
    return [
        "init",
        str(db),
        "--name",
        "Spring survey",
        "--zone",
        "America/New_York",
        "--window",
        "mon-fri 09:00-20:00",
        "--throttle",
        "10/s",
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
        "--sender",
        "+15005550006",
        "--invite",
        "Hi {first_name}, 2 minutes for our survey? {survey_link}",
        "--reminder",
        "2d: Last call, {first_name}: {survey_link}",
        "--thank-you",
        "Thanks, {first_name}!",
        *extra,
    ]


def assert_user_error(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The command failed with ``status`` and one ``smscampaign: error:`` line, no traceback."""
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smscampaign: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def recipients_csv(folder: Path) -> Path:
    path = folder / "list.csv"
    write_recipient_list(path, 24, seed=7)
    return path


@pytest.fixture(scope="module")
def ran(folder: Path, recipients_csv: Path) -> dict[str, Any]:
    """A campaign file made through the command: init, import, suppress one number, run."""
    db = folder / "survey.db"
    steps: dict[str, Any] = {"db": db}
    steps["init"] = smscampaign(*init_args(db), "--json")
    steps["import"] = smscampaign("import", db, recipients_csv, "--json")
    with open(recipients_csv, encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    steps["number"] = first["Phone (Mobile)"]
    steps["suppress"] = smscampaign("suppress", db, first["Phone (Mobile)"], "--reason", "asked")
    steps["plan"] = smscampaign("plan", db, "--json")
    steps["run"] = smscampaign("run", db, "--until", UNTIL.isoformat(), "--json")
    return steps


class TestInit:
    """``init`` creates a draft campaign in a new campaign file."""

    def test_creates_the_campaign(self, ran: dict[str, Any]) -> None:
        result = ran["init"]
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["id"] == "spring-survey"
        assert data["state"] == "draft"
        assert [s["id"] for s in data["steps"]] == ["invite", "reminder-1", "thank-you"]
        assert data["steps"][1]["delay_seconds"] == 2 * 86400
        assert data["ends_at"].startswith(END.isoformat())

    def test_plain_output_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(init_args(tmp_path / "x.db")) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("created campaign spring-survey (Spring survey)")

    def test_bad_window_is_one_line_through_the_command(self, tmp_path: Path) -> None:
        args = init_args(tmp_path / "x.db")
        args[args.index("--window") + 1] = "mon-fri 9-5pm"
        line = assert_user_error(smscampaign(*args))
        assert "send window" in line

    def test_same_id_twice_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "x.db"
        assert main(init_args(db)) == 0
        assert main(init_args(db)) == 1
        assert "smscampaign: error:" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("option", "value", "status"),
        [
            ("--zone", "Mars/Olympus", 1),
            ("--end", "next tuesday", 2),
            ("--reminder", "Reminder without a delay", 2),
            ("--invite", "Hi {first_name", 1),
        ],
    )
    def test_bad_values(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        option: str,
        value: str,
        status: int,
    ) -> None:
        args = init_args(tmp_path / "x.db")
        args[args.index(option) + 1] = value
        assert main(args) == status
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert err[0].startswith("smscampaign: error: ")
        assert not (tmp_path / "x.db").exists() or option != "--zone"


class TestImport:
    """``import`` reads a CSV list into the campaign and accounts for every row."""

    def test_summary_json(self, ran: dict[str, Any]) -> None:
        result = ran["import"]
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["campaign"] == "spring-survey"
        assert data["rows"] == 24
        assert data["imported"] + data["duplicates"] + data["invalid"] == data["rows"]
        assert data["duplicates"] >= 1
        assert data["invalid"] >= 1
        assert data["columns"]["Phone (Mobile)"] == "phone"

    def test_records_the_list_on_the_timeline(self, ran: dict[str, Any]) -> None:
        result = smscampaign("timeline", ran["db"], "--json")
        assert result.returncode == 0, result.stderr
        actions = [e["action"] for e in json.loads(result.stdout)["timeline"]]
        assert actions[:2] == ["created", "recipients_added"]

    def test_missing_csv(self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["import", str(ran["db"]), "nowhere.csv"]) == 1
        assert "no CSV file at nowhere.csv" in capsys.readouterr().err

    def test_csv_without_phone_column(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "x.db"
        main(init_args(db))
        bad = tmp_path / "bad.csv"
        bad.write_text("Name,Email\nAnn,ann@example.com\n", encoding="utf-8")
        capsys.readouterr()
        assert main(["import", str(db), str(bad)]) == 1
        err = capsys.readouterr().err
        assert "has no phone column" in err
        assert len(err.strip().splitlines()) == 1

    def test_plain_output(
        self, tmp_path: Path, recipients_csv: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "x.db"
        main(init_args(db))
        capsys.readouterr()
        assert main(["import", str(db), str(recipients_csv), "--consent", "pending"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("imported ")
        assert "of 24 rows of list.csv into spring-survey" in out[0]
        assert any("duplicate" in line for line in out[1:])
        with SQLiteStorage(db) as storage:
            consents = {r.contact.consent for r in storage.iter_recipients("spring-survey")}
        assert consents == {Consent.PENDING_OPT_IN}


class TestPlan:
    """``plan`` shows the roll-over plan of the pending invitations."""

    def test_json(self, ran: dict[str, Any]) -> None:
        result = ran["plan"]
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["requested"] >= 15
        assert data["unreached"] == 0
        assert data["days"][0]["day"] == START.isoformat() or data["days"][0]["sent"] == 0
        assert sum(d["sent"] for d in data["days"]) == data["sent"] == data["requested"]
        assert data["completion"] is not None

    def test_end_date_cuts_the_plan_short(
        self, tmp_path: Path, recipients_csv: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "x.db"
        args = init_args(db)
        args[args.index("--throttle") + 1] = "5/day"
        args[args.index("--end") + 1] = (START + timedelta(days=2)).isoformat()
        main(args)
        main(["import", str(db), str(recipients_csv)])
        capsys.readouterr()
        assert main(["plan", str(db)]) == 0
        out = capsys.readouterr().out
        assert "unreached" in out
        assert "campaign_ended" in out
        assert "rolled over to later days" in out


class TestEligible:
    """``eligible`` counts who is pending for a step and explains the rest."""

    def test_counts_and_explanations(self, ran: dict[str, Any]) -> None:
        result = smscampaign(
            "eligible", ran["db"], "--step", "invite", "--at", START.isoformat(), "--explain",
            "--json",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["total"] == data["eligible"] + data["ineligible"]
        assert data["ineligible"] == len(data["explanations"])
        assert "suppressed" in data["by_reason"]
        assert "not_sms_capable" in data["by_reason"]
        assert all("is not eligible for invite" in e["explanation"] for e in data["explanations"])

    def test_explain_one_recipient_by_number(
        self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["eligible", str(ran["db"]), "--step", "invite", "--explain",
                     ran["number"]]) == 0  # fmt: skip
        out = capsys.readouterr().out
        assert "suppressed" in out.lower()

    def test_unknown_step(self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["eligible", str(ran["db"]), "--step", "reminder-9"]) == 1
        assert "has no step 'reminder-9'" in capsys.readouterr().err


class TestRun:
    """``run --until`` runs the campaign on a virtual clock against the simulated carrier."""

    def test_json(self, ran: dict[str, Any]) -> None:
        result = ran["run"]
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["clock"] == "virtual"
        assert data["state"] == "in_progress"
        assert data["sent"] > 0
        assert 0 < data["progress"]["sent"] <= data["progress"]["recipients"]

    def test_nothing_goes_to_the_suppressed_number(self, ran: dict[str, Any]) -> None:
        assert ran["suppress"].returncode == 0, ran["suppress"].stderr
        assert ran["suppress"].stdout.startswith("suppressed +1")
        with SQLiteStorage(ran["db"]) as storage:
            manual = [s for s in storage.iter_suppressions() if s.cause == "manual"]
            assert len(manual) == 1
            e164 = manual[0].e164
            sends = [s for s in storage.iter_sends("spring-survey") if s.to == e164]
        assert sends
        assert all(not s.attempts for s in sends)
        assert {s.status for s in sends} == {DeliveryStatus.SKIPPED}

    def test_until_before_start(
        self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["run", str(ran["db"]), "--until", START.isoformat()]) == 1
        assert "is not after the run's start" in capsys.readouterr().err

    def test_real_clock_for_a_moment(
        self, tmp_path: Path, recipients_csv: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "x.db"
        args = init_args(db)
        for option in ("--start", "--end", "--window"):
            index = args.index(option)
            del args[index : index + 2]
        main(args)
        main(["import", str(db), str(recipients_csv)])
        capsys.readouterr()
        assert main(["run", str(db), "--interval", "0.05", "--duration", "0.3", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["clock"] == "real"
        assert data["state"] == "in_progress"
        assert data["ticks"] >= 1


class TestReport:
    """``report`` prints the delivery statistics as a table, JSON or CSV."""

    def test_table(self, ran: dict[str, Any]) -> None:
        result = smscampaign("report", ran["db"])
        assert result.returncode == 0, result.stderr
        assert "Campaign Spring survey (spring-survey)" in result.stdout
        assert "Delivered" in result.stdout
        assert "Timeline" in result.stdout

    def test_json(self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["report", str(ran["db"]), "--format", "json", "--vocabulary", "gladly"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["campaign"]["id"] == "spring-survey"
        assert data["total"]["delivered"] > 0
        assert data["view"]["vocabulary"] == "gladly"
        assert set(data["by_step"]) == {"invite", "reminder-1", "thank-you"}

    def test_csv(self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["report", str(ran["db"]), "--format", "csv", "--vocabulary", "seed-003"]) == 0
        rows = list(csv.reader(capsys.readouterr().out.splitlines()))
        assert rows[0] == ["scope", "name", "metric", "count", "rate", "base", "over"]
        assert len(rows) > 5

    def test_unknown_vocabulary(
        self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["report", str(ran["db"]), "--vocabulary", "klingon"]) == 1
        assert "unknown vocabulary 'klingon'" in capsys.readouterr().err


class TestHtmlReport:
    """``report --html`` writes the self-contained HTML report."""

    def test_html(self, ran: dict[str, Any], tmp_path: Path) -> None:
        target = tmp_path / "report.html"
        result = smscampaign("report", ran["db"], "--html", target)
        assert result.returncode == 0, result.stderr
        assert str(target) in result.stdout
        page = target.read_text(encoding="utf-8")
        assert "<svg" in page
        assert "Spring survey" in page


class TestServe:
    """``serve`` receives signed callbacks over real HTTP and refuses unsigned ones."""

    def test_serves_signed_callbacks(self, ran: dict[str, Any]) -> None:
        import os
        import urllib.error
        import urllib.request

        from smscampaign.providers.simulated import SimulatedGateway

        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smscampaign",
                "serve",
                str(ran["db"]),
                "--provider",
                "simulated",
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            base = line.split(" at ")[1].split("/simulated/status")[0]
            signer = SimulatedGateway()
            signed = signer.status_request("unknown-message", "delivered")

            def post(body: bytes, headers: dict[str, str]) -> int:
                request = urllib.request.Request(
                    f"{base}/simulated/status", data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        return int(response.status)
                except urllib.error.HTTPError as error:
                    return int(error.code)

            assert post(signed.body, dict(signed.headers)) == 200
            tampered = {**dict(signed.headers)}
            assert post(signed.body + b" ", tampered) == 403
        finally:
            process.terminate()
            process.communicate(timeout=10)

    def test_missing_credentials(self, ran: dict[str, Any]) -> None:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        result = subprocess.run(
            [sys.executable, "-m", "smscampaign", "serve", str(ran["db"]), "--provider", "twilio"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert "TWILIO_ACCOUNT_SID" in assert_user_error(result)


class TestExport:
    """``export`` writes the status log, one row per recipient."""

    def test_writes_the_csv(self, ran: dict[str, Any], folder: Path) -> None:
        target = folder / "log.csv"
        result = smscampaign("export", ran["db"], "--out", target, "--json")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        with open(target, encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        assert data["rows"] == len(rows) - 1 == json.loads(ran["import"].stdout)["imported"]
        assert rows[0][:3] == ["Phone (Mobile)", "First Name", "Last Name"]

    def test_to_stdout(self, ran: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["export", str(ran["db"]), "--out", "-"]) == 0
        assert capsys.readouterr().out.startswith("Phone (Mobile),First Name")


class TestSuppression:
    """``suppress`` and ``unsuppress`` keep the suppression list, removals logged."""

    def test_round_trip(self, tmp_path: Path) -> None:
        db = tmp_path / "x.db"
        assert main(init_args(db)) == 0
        added = smscampaign("suppress", db, "(212) 555-0123", "--json")
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout) == {
            "number": "+12125550123",
            "added": True,
            "cause": "manual",
            "since": json.loads(added.stdout)["since"],
        }
        removed = smscampaign("unsuppress", db, "+1 212 555 0123", "--reason", "re-subscribed")
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.startswith("unsuppressed +12125550123 (was manual")
        again = smscampaign("unsuppress", db, "+12125550123", "--reason", "twice")
        assert "is not on the suppression list" in assert_user_error(again)
        with SQLiteStorage(db) as storage:
            log = list(storage.iter_suppression_removals())
        assert [r.reason for r in log] == ["re-subscribed"]

    def test_bad_number(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        db = tmp_path / "x.db"
        main(init_args(db))
        capsys.readouterr()
        assert main(["suppress", str(db), "not a number"]) == 1
        assert "is not a phone number" in capsys.readouterr().err

    def test_unsuppress_needs_a_reason(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(["unsuppress", str(tmp_path / "x.db"), "+12125550123"])
        assert exit_info.value.code == 2
        assert "--reason" in capsys.readouterr().err


class TestTimeline:
    """``timeline`` lists every action on the campaign."""

    def test_plain(self, ran: dict[str, Any]) -> None:
        result = smscampaign("timeline", ran["db"])
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "spring-survey (Spring survey): in_progress"
        assert any("scheduled" in line and "smscampaign run" in line for line in lines)
        assert any("started" in line for line in lines)


class TestCampaignChoice:
    """Commands find the file's only campaign, and ask for ``--campaign`` when there are several."""

    def test_several_campaigns(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        db = tmp_path / "x.db"
        main(init_args(db))
        main(init_args(db, "--id", "autumn"))
        capsys.readouterr()
        assert main(["timeline", str(db)]) == 1
        err = capsys.readouterr().err
        assert "holds 2 campaigns (autumn, spring-survey); choose one with --campaign" in err
        assert main(["timeline", str(db), "--campaign", "autumn"]) == 0
        assert main(["timeline", str(db), "--campaign", "winter"]) == 1
        assert "has no campaign 'winter'" in capsys.readouterr().err

    def test_missing_file_through_the_command(self, tmp_path: Path) -> None:
        line = assert_user_error(smscampaign("report", tmp_path / "nope.db"))
        assert "no campaign file at" in line
        assert not (tmp_path / "nope.db").exists()

    def test_not_a_database(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        fake = tmp_path / "notes.db"
        fake.write_text("just text, no SQLite here\n" * 100, encoding="utf-8")
        assert main(["timeline", str(fake)]) == 1
        assert capsys.readouterr().err.startswith("smscampaign: error: ")

    def test_usage_error_exits_2(self) -> None:
        result = smscampaign("frobnicate")
        assert result.returncode == 2
        assert "invalid choice" in result.stderr
        assert "Traceback" not in result.stderr


class TestValues:
    """Option values are read strictly, with one-line messages."""

    def test_delays(self) -> None:
        assert parse_delay("2d") == timedelta(days=2)
        assert parse_delay("1d12h") == timedelta(days=1, hours=12)
        assert parse_delay("90m") == timedelta(minutes=90)
        assert parse_reminder("36h: Last call") == (timedelta(hours=36), "Last call")

    def test_when(self) -> None:
        assert parse_when("2026-07-01", "Europe/Paris", "--end") == datetime(
            2026, 6, 30, 22, 0, tzinfo=timezone.utc
        )
        assert parse_when("2026-07-01T09:30+00:00", "Europe/Paris", "--end").hour == 9
