"""Importing CSV recipient lists: every row accounted for, nothing reset on re-import."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscampaign.domain.contact import Consent, Contact, ContactStatus, Recipient, Suppression
from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import ImportFailed, SmsCampaignError
from smscampaign.importing import Outcome, import_recipients
from smscampaign.providers.base import Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.testing.contracts import T0, make_campaign
from smscampaign.testing.strategies import phone_texts

LIST = (
    "Phone (Mobile),First Name,Last Name,Email,Survey Link\r\n"
    "(212) 555-0101,Jon,Smith,jon@example.com,https://s/1\r\n"
    "+1 212 555 0102,Tom,Jones,,https://s/2\r\n"
    "\r\n"
    "212-555-0101,Jon,Again,,\r\n"
    "not a number,Bad,Row,,\r\n"
    ",Empty,Phone,,\r\n"
    '"2125550103","Ann ""Q""","Multi\r\nLine",,x\r\n'
)


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Both adapters, with the sample campaign stored."""
    store: Storage = (
        InMemoryStorage() if request.param == "memory" else SQLiteStorage(tmp_path / "db")
    )
    store.add_campaign(make_campaign())
    return store


def _write(
    tmp_path: Path, text: str, name: str = "spring list.csv", encoding: str = "utf-8"
) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


class TestOutcomes:
    """Every row ends imported, updated, duplicate, invalid or suppressed."""

    def test_every_row_accounted_for(self, storage: Storage, tmp_path: Path) -> None:
        """The sample list gives each outcome with its line, column, value and reason."""
        errors = tmp_path / "errors.csv"
        summary = import_recipients(
            _write(tmp_path, LIST), storage, campaign_id="spring", errors_csv=errors
        )
        assert (summary.rows, summary.imported, summary.duplicates, summary.invalid) == (6, 3, 1, 2)
        assert summary.accounted == summary.rows
        assert summary.blank_lines == 1
        assert summary.list_name == "spring list.csv"
        with errors.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [(r["line"], r["outcome"], r["duplicate_of"]) for r in rows] == [
            ("5", "duplicate", "2"),
            ("6", "invalid", ""),
            ("7", "invalid", ""),
        ]
        assert rows[1]["column"] == "Phone (Mobile)"
        assert rows[1]["value"] == "not a number"
        assert rows[1]["reason"].startswith("not_a_number")
        assert rows[2]["reason"].startswith("missing")
        recipients = list(storage.iter_recipients("spring"))
        assert [r.phone.e164 for r in recipients] == [
            "+12125550101",
            "+12125550102",
            "+12125550103",
        ]
        jon, _, ann = recipients
        assert (jon.contact.first_name, jon.contact.fields["survey_link"]) == ("Jon", "https://s/1")
        assert (ann.contact.first_name, ann.contact.last_name) == ('Ann "Q"', "Multi\r\nLine")
        assert jon.list_name == "spring list.csv"

    def test_suppressed_numbers_are_not_added(self, storage: Storage, tmp_path: Path) -> None:
        """A number on the account's suppression list is reported suppressed and not added."""
        storage.suppress(Suppression(e164="+12125550102", cause="stop_word", at=T0))
        summary = import_recipients(_write(tmp_path, LIST), storage, campaign_id="spring")
        assert summary.suppressed == 1
        assert [p.line for p in summary.problems if p.outcome is Outcome.SUPPRESSED] == [3]
        assert "+12125550102" not in {r.phone.e164 for r in storage.iter_recipients("spring")}

    def test_reimport_keeps_consent_status_and_suppression(
        self, storage: Storage, tmp_path: Path
    ) -> None:
        """Uploading the same list again updates names but never resets what happened since."""
        path = _write(tmp_path, LIST)
        import_recipients(path, storage, campaign_id="spring")
        jon = storage.get_recipient("spring", "+12125550101")
        storage.save_contacts([jon.contact.with_consent(Consent.OPTED_IN)])
        storage.update_recipients([jon.with_status(ContactStatus.INACTIVE)])
        storage.suppress(Suppression(e164="+12125550102", cause="stop_word", at=T0))
        summary = import_recipients(path, storage, campaign_id="spring")
        assert (summary.imported, summary.updated, summary.suppressed) == (0, 2, 1)
        again = storage.get_recipient("spring", "+12125550101")
        assert again.contact.consent is Consent.OPTED_IN
        assert again.status is ContactStatus.INACTIVE
        assert storage.get_suppression("+12125550102") is not None

    def test_id_column_matches_contacts(self, storage: Storage, tmp_path: Path) -> None:
        """With an id column, contacts are matched by id and a repeated id is a duplicate."""
        text = "Contact ID,Cell\nA1,2125550101\nA2,2125550102\nA1,2125550103\n"
        summary = import_recipients(
            _write(tmp_path, text), storage, campaign_id="spring", id_column="contact id"
        )
        assert (summary.imported, summary.duplicates) == (2, 1)
        assert storage.get_contact("A1").phone.e164 == "+12125550101"
        text2 = "Contact ID,Cell\nA1,2125550109\n"
        summary2 = import_recipients(
            _write(tmp_path, text2, "b.csv"), storage, id_column="Contact ID"
        )
        assert summary2.updated == 1
        assert storage.get_contact("A1").phone.e164 == "+12125550109"


class TestFormats:
    """Encodings, delimiters and headers as spreadsheets write them."""

    @pytest.mark.parametrize(
        ("header", "field"),
        [("Mobile", "phone"), ("CELL", "phone"), (" phone ", "phone"), ("Phone Number", "phone")],
    )
    def test_phone_header_spellings(self, tmp_path: Path, header: str, field: str) -> None:
        """The usual phone headers are recognized whatever their case and spacing."""
        summary = import_recipients(
            _write(tmp_path, f"{header},first name\n2125550101,Jo\n"), InMemoryStorage()
        )
        assert (header.strip(), field) in summary.columns
        assert summary.imported == 1

    def test_bom_semicolons_and_region(self, tmp_path: Path) -> None:
        """A UTF-8 BOM, semicolons and national French numbers with region FR."""
        text = "\ufeffTéléphone;Prénom;Mobile\n;Zoë;06 12 34 56 78\n"
        storage = InMemoryStorage()
        summary = import_recipients(_write(tmp_path, text), storage, region="FR")
        assert (summary.encoding, summary.delimiter, summary.imported) == ("utf-8-sig", ";", 1)
        contact = storage.get_contact("+33612345678")
        assert "Zoë" in contact.fields.values()

    def test_windows_1252_fallback_warns(self, tmp_path: Path) -> None:
        """A Windows-1252 file is read as such, with a warning."""
        path = _write(tmp_path, "Phone\tFirst Name\n2125550101\tJosé\n", encoding="cp1252")
        storage = InMemoryStorage()
        summary = import_recipients(path, storage)
        assert summary.encoding == "cp1252"
        assert summary.delimiter == "\t"
        assert "Windows-1252" in summary.warnings[0]
        assert storage.get_contact("+12125550101").first_name == "José"


class TestFailures:
    """A file that cannot be used raises, naming the file, and writes nothing."""

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that does not exist raises ImportFailed naming it."""
        with pytest.raises(ImportFailed, match=r"nope\.csv"):
            import_recipients(tmp_path / "nope.csv", InMemoryStorage())

    def test_no_phone_column_writes_nothing(self, storage: Storage, tmp_path: Path) -> None:
        """Without a phone column nothing is written and the error lists the columns."""
        path = _write(tmp_path, "Name,Email\nJo,jo@example.com\n")
        with pytest.raises(SmsCampaignError, match=r"no phone column.*'Name', 'Email'"):
            import_recipients(path, storage, campaign_id="spring")
        assert list(storage.iter_recipients("spring")) == []

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty file raises ImportFailed."""
        with pytest.raises(ImportFailed, match="empty"):
            import_recipients(_write(tmp_path, ""), InMemoryStorage())

    def test_unknown_campaign_writes_nothing(self, tmp_path: Path) -> None:
        """Importing into a campaign that does not exist writes no contact."""
        storage = InMemoryStorage()
        with pytest.raises(LookupError):
            import_recipients(_write(tmp_path, LIST), storage, campaign_id="nope")
        assert storage.find_contacts(["+12125550101"]) == {}


class _RecordingStorage(InMemoryStorage):
    """The in-memory storage, keeping the objects the importer hands it as they came."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[Contact | Recipient] = []

    def save_contacts(self, contacts: Iterable[Contact]) -> int:
        contacts = list(contacts)
        self.handed += contacts
        return super().save_contacts(contacts)

    def add_recipients(self, recipients: Iterable[Recipient]) -> int:
        recipients = list(recipients)
        self.handed += recipients
        return super().add_recipients(recipients)


_CELLS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)


class TestUncheckedObjects:
    """The contacts and recipients the importer builds without attrs' checks are checked ones."""

    @given(
        st.lists(
            st.tuples(phone_texts(regions=["US", "FR"]), _CELLS, _CELLS, _CELLS, _CELLS),
            min_size=1,
            max_size=6,
        ),
        st.sampled_from(["spring", None]),
        st.sampled_from(list(Consent)),
    )
    def test_equal_to_checked_construction(
        self,
        rows: list[tuple[tuple[str, str | None, PhoneNumber], str, str, str, str]],
        campaign_id: str | None,
        consent: Consent,
    ) -> None:
        storage = _RecordingStorage()
        storage.add_campaign(make_campaign())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "list.csv"
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["Phone", "First Name", "Last Name", "Email", "Team Name"])
                for (text, _, number), *cells in rows:
                    writer.writerow([number.e164 if text.strip() != text else text, *cells])
            summary = import_recipients(
                path, storage, campaign_id=campaign_id, consent=consent.value, region="FR"
            )
        assert summary.accounted == summary.rows
        made_type = Contact if campaign_id is None else Recipient
        assert len([m for m in storage.handed if type(m) is made_type]) == summary.imported
        for made in storage.handed:
            _same(made, attrs.evolve(made))
            if isinstance(made, Recipient):
                _same(made.contact, attrs.evolve(made.contact))

    def test_bad_consent_or_account_writes_nothing(self, tmp_path: Path) -> None:
        storage = InMemoryStorage()
        path = _write(tmp_path, LIST)
        with pytest.raises(SmsCampaignError, match="Consent"):
            import_recipients(path, storage, consent="maybe")  # type: ignore[arg-type]
        with pytest.raises(SmsCampaignError, match="account"):
            import_recipients(path, storage, account=" ")
        assert list(storage.iter_contacts()) == []


def _same(x: object, y: object) -> None:
    """``x`` and ``y`` hold equal values of the same types in every field."""
    assert type(x) is type(y)
    if attrs.has(type(x)):
        for field in attrs.fields(type(x)):
            _same(getattr(x, field.name), getattr(y, field.name))
    else:
        assert x == y
