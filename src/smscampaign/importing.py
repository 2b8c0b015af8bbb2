"""CSV recipient lists into contacts and campaign recipients, every row accounted for.

:func:`import_recipients` reads a list the way people export them from
spreadsheets and CRMs (seed 002: recipients come from an uploaded CSV whose
file name stays with them as the list name):

* the header is matched by name, ignoring case, spaces and punctuation, with
  the usual spellings (``Phone (Mobile)``, ``Mobile``, ``Phone``, ``Cell``,
  ``First Name``, ``Last Name``, ``Email``); any other column becomes a custom
  field, usable in templates as ``{survey_link}`` for ``Survey Link``;
* numbers written nationally are read in a default region;
* UTF-8 with or without a byte-order mark, else Windows-1252 with a warning;
  the delimiter is sniffed (comma, semicolon, tab, pipe); quoted fields may
  hold newlines; blank lines are skipped.

Every input row ends in exactly one :class:`RowOutcome`: imported (a new
contact), updated (a known contact, matched by E.164 or by an id column),
duplicate (of an earlier row of the same file), invalid (line, column, value,
reason) or suppressed (the number is on the account's suppression list). The
:class:`ImportSummary` counts them and the rows that were not imported go to
an errors CSV. Re-importing a list never resets consent, a recipient's status
or a suppression. The file is streamed: a million rows import in bounded
memory, inside one unit of work, so a failure leaves storage untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._checks import to_enum
from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._trusted import builder
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
    normalize_field_name,
)
from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import ConfigurationError, ImportFailed, InvalidPhoneNumber
from smscampaign.providers.base import Storage, hold_campaign

__all__ = [
    "HEADER_ALIASES",
    "ImportSummary",
    "Outcome",
    "RowOutcome",
    "import_recipients",
]


class Outcome(StrEnum):
    """What became of one input row."""

    IMPORTED = "imported"
    """A new contact (and recipient) was created."""
    UPDATED = "updated"
    """A known contact was updated; consent, status and suppression were kept."""
    DUPLICATE = "duplicate"
    """The same number (or id) appeared on an earlier row of the file."""
    INVALID = "invalid"
    """The row could not be used; ``column``, ``value`` and ``reason`` say why."""
    SUPPRESSED = "suppressed"
    """The number is on the account's suppression list; it was not added."""


@attrs.frozen(kw_only=True)
class RowOutcome:
    """The fate of one input row.

    Args:
        line: The file line the row starts on (the header is line 1).
        outcome: What became of it.
        e164: The number, when it could be read.
        contact_id: The contact it created or updated.
        column: For an invalid row, the offending column as headed in the file.
        value: For an invalid row, the offending value.
        reason: Why the row was not imported, in words.
        duplicate_of: For a duplicate, the line of the row it repeats.
    """

    line: int
    outcome: Outcome
    e164: str = ""
    contact_id: str = ""
    column: str = ""
    value: str = ""
    reason: str = ""
    duplicate_of: int | None = None


@attrs.frozen(kw_only=True)
class ImportSummary:
    """The counts of an import and where its errors went.

    Args:
        file: The file imported.
        list_name: The list name given to recipients (the file name by default).
        encoding: ``utf-8``, ``utf-8-sig`` (with a BOM) or ``cp1252``.
        delimiter: The delimiter found.
        columns: How each header was read: the file's header → ``phone``,
            ``first_name``, ``last_name``, ``email``, ``id`` or a custom field name.
        rows: Input rows (blank lines excluded).
        imported: New contacts.
        updated: Known contacts updated.
        duplicates: Rows repeating an earlier row's number or id.
        invalid: Rows that could not be used.
        suppressed: Rows whose number is suppressed.
        blank_lines: Blank lines skipped.
        warnings: Things the operator should know (e.g. the encoding fallback).
        errors_csv: Where rows not imported were written, if anywhere.
        problems: The first rows not imported (at most ``keep_problems``).
    """

    file: str
    list_name: str
    encoding: str
    delimiter: str
    columns: tuple[tuple[str, str], ...]
    rows: int = 0
    imported: int = 0
    updated: int = 0
    duplicates: int = 0
    invalid: int = 0
    suppressed: int = 0
    blank_lines: int = 0
    warnings: tuple[str, ...] = ()
    errors_csv: str | None = None
    problems: tuple[RowOutcome, ...] = ()

    @property
    def accounted(self) -> int:
        """Rows with an outcome; always equal to :attr:`rows`."""
        return self.imported + self.updated + self.duplicates + self.invalid + self.suppressed


# Header spellings, compared after removing case, spaces and punctuation.
# Sources: seed 000/001 (Alchemer "Phone (Mobile)", "First Name", "Last Name",
# "Email") and the usual CRM and spreadsheet exports (Mobile, Cell, Phone Number).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": (
        "phonemobile",
        "mobilephone",
        "mobile",
        "mobilenumber",
        "cell",
        "cellphone",
        "cellnumber",
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "sms",
        "smsnumber",
        "msisdn",
    ),
    "first_name": ("firstname", "first", "givenname", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "email": ("email", "emailaddress", "mail"),
}

_SQUASH = re.compile(r"[\W_]+", re.UNICODE)
_SNIFF_BYTES = 64 * 1024
_ERROR_HEADER = ("line", "outcome", "column", "value", "reason", "duplicate_of", "e164")


def _squash(name: str) -> str:
    return _SQUASH.sub("", name.casefold())


def import_recipients(
    source: str | os.PathLike[str],
    storage: Storage,
    *,
    campaign_id: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    region: str | None = "US",
    list_name: str | None = None,
    id_column: str | None = None,
    consent: Consent = Consent.PENDING_OPT_IN,
    allow_unverified: bool = False,
    errors_csv: str | os.PathLike[str] | None = None,
    keep_problems: int = 100,
    batch_size: int = 2000,
) -> ImportSummary:
    """Import a CSV recipient list into contacts and, optionally, a campaign.

    Args:
        source: The CSV file.
        storage: Where contacts and recipients go.
        campaign_id: The campaign the rows join as recipients; None imports
            contacts only.
        account: The account the contacts belong to.
        region: Where national numbers are dialled from (ISO code), or None to
            accept only international numbers.
        list_name: The recipients' list name; the file name by default.
        id_column: A column holding contact ids to match on instead of E.164.
        consent: The consent of new contacts (known contacts keep theirs).
        allow_unverified: Accept numbers of possible length that
            libphonenumber cannot verify (parsed leniently).
        errors_csv: Where to write the rows not imported; None writes nothing.
        keep_problems: How many rows not imported to keep in the summary.
        batch_size: Rows per storage batch.

    Returns:
        The summary: counts, encoding, delimiter, column mapping, warnings.

    Raises:
        ImportFailed: The file cannot be read, is empty, has no phone column
            (or no ``id_column``); nothing is written then.
        ConfigurationError: ``consent`` is not a Consent or ``account`` is empty.
        StorageError: Storage failed; the unit of work is rolled back.
    """
    # Checked once here, so each row's Contact need not check them again.
    consent = to_enum(Consent, consent)
    if not isinstance(account, str) or not account.strip():
        raise ConfigurationError(f"account must not be empty, got {account!r}", value=account)
    path = Path(source)
    name = str(path)
    encoding, warnings = _detect_encoding(path)
    try:
        handle = open(path, encoding=encoding, errors="replace", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ImportFailed(f"cannot read {name}: {exc.strerror or exc}", value=name) from exc
    with handle:
        sample = handle.read(_SNIFF_BYTES)
        handle.seek(0)
        delimiter = _sniff_delimiter(sample)
        reader = csv.reader(handle, delimiter=delimiter)
        header = _read_header(reader, name)
        mapping = _map_header(header, name, id_column)
        importer = _Importer(
            storage=storage,
            header=header,
            mapping=mapping,
            campaign_id=campaign_id,
            account=account,
            region=region,
            list_name=path.name if list_name is None else list_name,
            consent=consent,
            lenient=allow_unverified,
            keep_problems=keep_problems,
        )
        error_file: IO[str] | None = None
        try:
            if errors_csv is not None:
                error_file = open(errors_csv, "w", encoding="utf-8", newline="")  # noqa: SIM115
                importer.errors = csv.writer(error_file)
                importer.errors.writerow(_ERROR_HEADER)
            with storage.transaction():
                if campaign_id is not None:
                    storage.get_campaign(campaign_id)  # NotFound before any write
                    # Held as CampaignRunner.add_recipients holds it, so the
                    # import and a STOP from one of its recipients take turns.
                    hold_campaign(storage, campaign_id)
                for batch in _batches(reader, batch_size, importer):
                    importer.process(batch)
        except UnicodeDecodeError as exc:  # pragma: no cover - errors="replace" prevents it
            raise ImportFailed(f"cannot decode {name}: {exc}", value=name) from exc
        except csv.Error as exc:
            raise ImportFailed(
                f"cannot parse {name} as CSV near line {reader.line_num}: {exc}", value=name
            ) from exc
        finally:
            if error_file is not None:
                error_file.close()
    return ImportSummary(
        file=name,
        list_name=importer.list_name,
        encoding=encoding,
        delimiter=delimiter,
        columns=tuple(
            (header[i], field) for i, field in sorted(mapping.items(), key=lambda kv: kv[0])
        ),
        rows=importer.rows,
        imported=importer.counts[Outcome.IMPORTED],
        updated=importer.counts[Outcome.UPDATED],
        duplicates=importer.counts[Outcome.DUPLICATE],
        invalid=importer.counts[Outcome.INVALID],
        suppressed=importer.counts[Outcome.SUPPRESSED],
        blank_lines=importer.blank_lines,
        warnings=tuple(warnings),
        errors_csv=None if errors_csv is None else str(errors_csv),
        problems=tuple(importer.problems),
    )


def _detect_encoding(path: Path) -> tuple[str, list[str]]:
    """UTF-8 (BOM or not) when the whole file decodes as such, else Windows-1252."""
    name = str(path)
    try:
        with open(path, "rb") as raw:
            head = raw.read(4)
            if not head:
                raise ImportFailed(f"{name} is empty: expected a header row", value=name)
            bom = head.startswith(codecs.BOM_UTF8)
            raw.seek(0)
            decoder = codecs.getincrementaldecoder("utf-8")()
            offset = 0
            try:
                while chunk := raw.read(1 << 20):
                    decoder.decode(chunk)
                    offset += len(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                where = offset + exc.start
                return "cp1252", [
                    f"{name} is not valid UTF-8 (byte {where}); read as Windows-1252 instead. "
                    "Save it as 'CSV UTF-8' to be sure accented names come through."
                ]
    except OSError as exc:
        raise ImportFailed(f"cannot read {name}: {exc.strerror or exc}", value=name) from exc
    return ("utf-8-sig" if bom else "utf-8"), []


def _sniff_delimiter(sample: str) -> str:
    first_lines = "\n".join(sample.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(first_lines, delimiters=",;\t|").delimiter
    except csv.Error:
        header = sample.split("\n", 1)[0]
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _read_header(reader: Any, name: str) -> list[str]:
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    except csv.Error as exc:
        raise ImportFailed(f"cannot parse {name} as CSV: {exc}", value=name) from exc
    raise ImportFailed(f"{name} has no header row: the file holds only blank lines", value=name)


def _map_header(header: Sequence[str], name: str, id_column: str | None) -> dict[int, str]:
    """Column index → ``phone``/``first_name``/``last_name``/``email``/``id``/custom name."""
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    squashed = [_squash(h) for h in header]
    # Pick the best phone column: the earliest alias in HEADER_ALIASES order wins,
    # so "Phone (Mobile)" beats a "Phone" work number in the same file.
    for field, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            if alias in squashed:
                index = squashed.index(alias)
                if index not in mapping:
                    mapping[index] = field
                    taken.add(field)
                    break
    if id_column is not None:
        wanted = _squash(id_column)
        if wanted not in squashed:
            raise ImportFailed(
                f"{name} has no id column {id_column!r}; its columns are {list(header)}",
                value=id_column,
            )
        mapping[squashed.index(wanted)] = "id"
    if "phone" not in taken:
        raise ImportFailed(
            f"{name} has no phone column: expected one headed like 'Phone (Mobile)', "
            f"'Mobile', 'Phone' or 'Cell'; its columns are {list(header)}",
            value=list(header),
        )
    for index, title in enumerate(header):
        if index not in mapping and title:
            custom = normalize_field_name(title)
            if custom:
                mapping[index] = custom
    return mapping


def _batches(
    reader: Iterator[list[str]], size: int, importer: _Importer
) -> Iterator[list[tuple[int, list[str]]]]:
    batch: list[tuple[int, list[str]]] = []
    line = reader.line_num + 1  # type: ignore[attr-defined]
    for row in reader:
        start = line
        line = reader.line_num + 1  # type: ignore[attr-defined]
        if not row or not any(row):
            importer.blank_lines += 1
            continue
        batch.append((start, row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@attrs.define(slots=False)
class _Importer:
    storage: Storage
    header: list[str]
    mapping: dict[int, str]
    campaign_id: str | None
    account: str
    region: str | None
    list_name: str
    consent: Consent
    lenient: bool
    keep_problems: int
    errors: Any = None
    rows: int = 0
    blank_lines: int = 0
    counts: dict[Outcome, int] = attrs.Factory(lambda: dict.fromkeys(Outcome, 0))
    problems: list[RowOutcome] = attrs.Factory(list)
    # E.164 (as an int, to keep a million of them small) or id -> first line.
    seen: dict[Any, int] = attrs.Factory(dict)

    def __attrs_post_init__(self) -> None:
        by_field = {field: index for index, field in self.mapping.items()}
        self.phone_index = by_field["phone"]
        self.id_index = by_field.get("id")
        self.first_index = by_field.get("first_name")
        self.last_index = by_field.get("last_name")
        self.email_index = by_field.get("email")
        standard = {"phone", "id", "first_name", "last_name", "email"}
        self.custom = [(i, f) for i, f in sorted(self.mapping.items()) if f not in standard]

    def report(self, outcome: RowOutcome) -> None:
        self.counts[outcome.outcome] += 1
        if len(self.problems) < self.keep_problems:
            self.problems.append(outcome)
        if self.errors is not None:
            self.errors.writerow(
                (
                    outcome.line,
                    outcome.outcome.value,
                    outcome.column,
                    outcome.value,
                    outcome.reason,
                    "" if outcome.duplicate_of is None else outcome.duplicate_of,
                    outcome.e164,
                )
            )

    def process(self, batch: list[tuple[int, list[str]]]) -> None:
        self.rows += len(batch)
        parsed: list[tuple[int, PhoneNumber, list[str]]] = []
        phone_index = self.phone_index
        phone_title = self.header[phone_index]
        for line, row in batch:
            text = row[phone_index].strip() if phone_index < len(row) else ""
            if not text:
                self.report(
                    RowOutcome(
                        line=line,
                        outcome=Outcome.INVALID,
                        column=phone_title,
                        value=text,
                        reason="missing: the phone number is empty",
                    )
                )
                continue
            try:
                phone = PhoneNumber.parse(text, self.region, lenient=self.lenient)
            except InvalidPhoneNumber as exc:
                self.report(
                    RowOutcome(
                        line=line,
                        outcome=Outcome.INVALID,
                        column=phone_title,
                        value=text,
                        reason=f"{exc.reason}: {exc.message}",
                    )
                )
                continue
            key: Any
            if self.id_index is not None:
                key = row[self.id_index].strip() if self.id_index < len(row) else ""
                if not key:
                    self.report(
                        RowOutcome(
                            line=line,
                            outcome=Outcome.INVALID,
                            column=self.header[self.id_index],
                            value="",
                            reason="missing: the contact id is empty",
                            e164=phone.e164,
                        )
                    )
                    continue
            else:
                key = int(phone.e164[1:])
            first = self.seen.setdefault(key, line)
            if first != line:
                self.report(
                    RowOutcome(
                        line=line,
                        outcome=Outcome.DUPLICATE,
                        e164=phone.e164,
                        reason=f"same {'id' if self.id_index is not None else 'number'} "
                        f"as line {first}",
                        duplicate_of=first,
                    )
                )
                continue
            parsed.append((line, phone, row))
        if parsed:
            self._store(parsed)

    def _store(self, parsed: list[tuple[int, PhoneNumber, list[str]]]) -> None:
        storage = self.storage
        account = self.account
        if self.id_index is None:
            existing = storage.find_contacts((p.e164 for _, p, _ in parsed), account=account)
        else:
            existing = {}
            for _, _, row in parsed:
                cid = row[self.id_index].strip()
                with contextlib.suppress(LookupError):
                    existing[cid] = storage.get_contact(cid, account=account)
        suppressed = storage.find_suppressions((p.e164 for _, p, _ in parsed), account=account)
        contacts: list[Contact] = []  # contacts to save (all of them without a campaign)
        recipients: list[Recipient] = []
        campaign_id = self.campaign_id
        for line, phone, row in parsed:
            if phone.e164 in suppressed:
                self.report(
                    RowOutcome(
                        line=line,
                        outcome=Outcome.SUPPRESSED,
                        e164=phone.e164,
                        reason="the number is on the suppression list",
                    )
                )
                continue
            width = len(row)
            fields = {f: row[i].strip() for i, f in self.custom if i < width and row[i].strip()}
            first = _cell(row, self.first_index)
            last = _cell(row, self.last_index)
            email = _cell(row, self.email_index)
            if self.id_index is None:
                old = existing.get(phone.e164)
                contact_id = phone.e164
            else:
                contact_id = row[self.id_index].strip()
                old = existing.get(contact_id)
            if old is None:
                contact = _new_contact(
                    id=contact_id,
                    phone=phone,
                    first_name=first,
                    last_name=last,
                    email=email,
                    fields=FrozenMap(fields),
                    consent=self.consent,
                    time_zone=None,
                    account=account,
                )
                self.counts[Outcome.IMPORTED] += 1
                if campaign_id is None:
                    contacts.append(contact)  # else add_recipients() inserts it
            else:
                # Names and fields are refreshed; consent, time zone and id are kept.
                contact = attrs.evolve(
                    old,
                    phone=phone,
                    first_name=first or old.first_name,
                    last_name=last or old.last_name,
                    email=email or old.email,
                    fields=FrozenMap({**old.fields, **fields}),
                )
                self.counts[Outcome.UPDATED] += 1
                contacts.append(contact)
            if campaign_id is not None:
                recipients.append(
                    _new_recipient(
                        campaign_id=campaign_id,
                        contact=contact,
                        status=ContactStatus.ACTIVE,
                        response=ResponseStatus.NOT_STARTED,
                        list_name=self.list_name,
                        fields=_NO_FIELDS,
                        sends=(),
                    )
                )
        if contacts:
            storage.save_contacts(contacts)
        if recipients:
            storage.add_recipients(recipients)


# New contacts and their recipients are built from values already checked: a
# parsed number, an id that is the number or a non-empty cell, field names
# normalized when the header was read, the consent and account checked once
# per import, the rest plain text. attrs' per-field checks would repeat that
# for every row of a million-row list (tests/test_importing.py proves the
# objects equal checked ones).
_new_contact = builder(Contact)
_new_recipient = builder(Recipient)
_NO_FIELDS: FrozenMap[str] = FrozenMap()


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()
