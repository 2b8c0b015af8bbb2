"""SQLiteStorage: the embedded default Storage, one file, no server.

The database runs in WAL mode (readers never wait for the writer, and a
process killed inside a unit of work leaves the file as it was before it),
with foreign keys on, a busy timeout, ``synchronous=NORMAL`` and a
``schema_version`` table that forward migrations advance one version at a
time. Every statement is parameterized. Each thread gets its own connection,
so one storage object may be shared by threads; other processes open their
own :class:`SQLiteStorage` on the same path.

Domain objects are kept as JSON documents beside the columns that queries
filter, group and sort on; times are stored as fixed-width UTC ISO-8601
strings (``2025-06-25T13:00:00.000000+00:00``), which sort like the instants
they name. Serialization lives here and nowhere else.
"""

from __future__ import annotations

import heapq
import json
import json.scanner
import operator
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from os import PathLike
from typing import Any, NamedTuple, TypeVar

import attrs

from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._trusted import builder
from smscampaign.domain.campaign import (
    Campaign,
    CampaignOptions,
    Step,
    TimelineEntry,
)
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
    Suppression,
)
from smscampaign.domain.delivery import (
    Attempt,
    DeliveryStatus,
    Evidence,
    FailureReason,
    RetryPolicy,
    Send,
    StatusEvent,
    _attempt_as_given,
    _dedup_key,
    _evidence,
    _new_send_as_given,
    _outcome_values,
    _send_as_given,
    fold_event,
    send_status_from,
)
from smscampaign.domain.phone import NumberKind, PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.eligibility import (
    Decision,
    Eligibility,
    ReasonCounts,
    ReasonLike,
    Rule,
    StepSummary,
)
from smscampaign.errors import AlreadyExists, NotFound, SchemaError, StorageError
from smscampaign.providers._sql_eligibility import StepQuery, step_request
from smscampaign.providers.base import (
    CONTACT_GROUPS,
    DEFAULT_LEASE,
    RECIPIENT_GROUPS,
    SEND_GROUPS,
    EventOutcome,
    LogCursor,
    LogFilter,
    RecipientFacts,
    SuppressionRemoval,
    check_claim,
    check_groups,
    check_limit,
    check_period,
    needs_follow_up,
    send_reason,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStorage"]

T = TypeVar("T")

_UTC = timezone.utc
_BATCH = 500  # rows per keyset page and per IN (...) list (SQLite allows 32766 params)

# Forward migrations: version N is reached by running MIGRATIONS[N - 1] on version N - 1.
# Never edit a released migration; append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE contacts (
            pk INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            id TEXT NOT NULL,
            e164 TEXT NOT NULL,
            region TEXT,
            kind TEXT NOT NULL,
            verified INTEGER NOT NULL,
            zones TEXT NOT NULL,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            email TEXT NOT NULL,
            fields TEXT NOT NULL,
            consent TEXT NOT NULL,
            time_zone TEXT,
            UNIQUE (account, id)
        )""",
        """CREATE TABLE suppressions (
            account TEXT NOT NULL,
            e164 TEXT NOT NULL,
            cause TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT NOT NULL,
            campaign_id TEXT,
            by TEXT NOT NULL,
            PRIMARY KEY (account, e164)
        ) WITHOUT ROWID""",
        """CREATE TABLE suppression_removals (
            pk INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            e164 TEXT NOT NULL,
            cause TEXT NOT NULL,
            suppressed_at TEXT NOT NULL,
            detail TEXT NOT NULL,
            campaign_id TEXT,
            suppressed_by TEXT NOT NULL,
            removed_at TEXT NOT NULL,
            removed_by TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        """CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            state TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE recipients (
            pk INTEGER PRIMARY KEY,
            campaign_id TEXT NOT NULL REFERENCES campaigns (id),
            contact_pk INTEGER NOT NULL REFERENCES contacts (pk),
            contact_id TEXT NOT NULL,
            status TEXT NOT NULL,
            response TEXT NOT NULL,
            list_name TEXT NOT NULL,
            fields TEXT NOT NULL,
            UNIQUE (campaign_id, contact_id)
        )""",
        """CREATE TABLE sends (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            campaign_id TEXT NOT NULL,
            recipient_id TEXT NOT NULL,
            step_id TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL,
            due_at TEXT,
            sent_on TEXT,
            claimed_by TEXT,
            claim_until TEXT,
            data TEXT NOT NULL,
            FOREIGN KEY (campaign_id, recipient_id) REFERENCES recipients (campaign_id, contact_id)
        )""",
        """CREATE TABLE send_messages (
            provider TEXT NOT NULL,
            message_id TEXT NOT NULL,
            send_pk INTEGER NOT NULL REFERENCES sends (pk) ON DELETE CASCADE,
            PRIMARY KEY (provider, message_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE events (
            pk INTEGER PRIMARY KEY,
            dedup_key TEXT NOT NULL UNIQUE,
            provider TEXT NOT NULL,
            message_id TEXT NOT NULL,
            parked INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE inbound (
            pk INTEGER PRIMARY KEY,
            provider TEXT NOT NULL,
            message_id TEXT NOT NULL,
            account TEXT NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (provider, message_id)
        )""",
    ),
    (
        # Indexes for every query the runner and the reports make.
        "CREATE INDEX contacts_by_number ON contacts (account, e164)",
        "CREATE INDEX recipients_by_contact ON recipients (contact_pk)",
        "CREATE INDEX sends_by_recipient ON sends (campaign_id, recipient_id)",
        "CREATE INDEX sends_by_step ON sends (campaign_id, step_id, status)",
        "CREATE INDEX sends_due ON sends (coalesce(due_at, created_at), id) "
        "WHERE status = 'queued'",
        "CREATE INDEX send_messages_by_send ON send_messages (send_pk)",
        "CREATE INDEX events_by_message ON events (provider, message_id)",
        "CREATE INDEX events_parked ON events (message_id) WHERE parked = 1",
        "CREATE INDEX inbound_by_account ON inbound (account)",
        "CREATE INDEX campaigns_by_account ON campaigns (account)",
    ),
    # 2: counts take each recipient's latest send of a step; this index answers
    # "the latest send per (recipient, step)" from the index alone.
    ("CREATE INDEX sends_latest ON sends (campaign_id, recipient_id, step_id)",),
    # Version 4: the account views (smscampaign.account): the SMS log in (created_at, id)
    # order per campaign and per number, replies by time and by sender, contacts
    # by consent. A send's number and a reply's sender and time become columns.
    (
        "ALTER TABLE sends ADD COLUMN to_e164 TEXT NOT NULL DEFAULT ''",
        "UPDATE sends SET to_e164 = json_extract(data, '$.to')",
        "CREATE INDEX sends_log ON sends (campaign_id, created_at, id)",
        "CREATE INDEX sends_log_by_number ON sends (to_e164, created_at, id)",
        "ALTER TABLE inbound ADD COLUMN sender TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE inbound ADD COLUMN received_at TEXT NOT NULL DEFAULT ''",
        "UPDATE inbound SET sender = json_extract(data, '$.from'), "
        "received_at = json_extract(data, '$.at')",
        "CREATE INDEX inbound_by_time ON inbound (account, received_at, pk)",
        "CREATE INDEX inbound_by_sender ON inbound (account, sender, received_at, pk)",
        "CREATE INDEX contacts_by_consent ON contacts (account, consent, id)",
    ),
    # Version 5: eligibility in SQL (providers/_sql_eligibility.py) reads a
    # campaign's recipients in the order they were added, so the contacts and
    # sends it looks up next lie close to the last ones read.
    ("CREATE INDEX recipients_in_order ON recipients (campaign_id, pk)",),
    # Version 6: sends_by_recipient (campaign, recipient) is the head of
    # sends_latest (campaign, recipient, step), which answers every query it
    # did; each saved send wrote both.
    ("DROP INDEX sends_by_recipient",),
)

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this library writes."""


# --- serialization ---------------------------------------------------------------


# The last two instants _ts wrote and their text. A tick's sends share its time
# (created, queued) and a receipt's, and isoformat() formats through printf,
# about a tenth of what saving a send costs. Datetimes are immutable and the
# pairs keep them alive, so the same object always has the same text; each
# pair is replaced whole, so threads never see one half-written.
_TS_LAST: tuple[datetime | None, str] = (None, "")
_TS_BEFORE: tuple[datetime | None, str] = (None, "")


def _ts(moment: datetime) -> str:
    global _TS_LAST, _TS_BEFORE
    last = _TS_LAST
    # The same object, or an equal instant (a send read back has its own
    # datetime objects): equal aware instants have the same UTC text.
    if moment is last[0] or moment == last[0]:
        return last[1]
    before = _TS_BEFORE
    if moment is before[0] or moment == before[0]:
        _TS_LAST, _TS_BEFORE = before, last
        return before[1]
    text = moment.astimezone(_UTC).isoformat(timespec="microseconds")
    _TS_LAST, _TS_BEFORE = (moment, text), last
    return text


def _ots(moment: datetime | None) -> str | None:
    return None if moment is None else _ts(moment)


def _utc_iso_of(stored: str) -> str:
    """The domain's UTC ISO text of an instant (``isoformat()``) from :func:`_ts`'s text.

    ``isoformat()`` leaves out a zero microsecond field; :func:`_ts` keeps it.
    """
    return stored[:19] + stored[26:] if stored[19:26] == ".000000" else stored


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _odt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _td(delta: timedelta) -> list[int]:
    return [delta.days, delta.seconds, delta.microseconds]


def _otd(parts: Sequence[int]) -> timedelta:
    return timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2])


def _json(value: Any) -> str:
    return _ENCODER.encode(value)


def _fields_json(fields: Mapping[str, str]) -> str:
    if not fields:
        return "{}"
    return _compact_json(fields.to_dict() if isinstance(fields, FrozenMap) else dict(fields))


def _json_default(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return value.to_dict()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} {value!r} as JSON")


# One encoder, built once: json.dumps() with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)

# The C encoder _ENCODER uses, built once too (JSONEncoder.encode() builds one
# per call): what record_events writes per event. Without a markers dict it
# skips the check for circular references, which documents of plain values
# built here never have. None where the interpreter has no C accelerator.
_C_ENCODE: Any = (
    None
    if getattr(json.encoder, "c_make_encoder", None) is None
    else json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _json_default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


# The C scanner json.loads() ends in, built once: loading a document this
# adapter wrote (one JSON value, no surrounding space) needs none of the
# Python-level checks json.loads() makes around it. None without the accelerator.
_C_SCAN: Any = getattr(json.scanner, "c_make_scanner", None)
if _C_SCAN is not None:
    _C_SCAN = _C_SCAN(json.JSONDecoder())


def _load_doc(text: str) -> Any:
    """``json.loads(text)`` for a document this adapter wrote."""
    if _C_SCAN is None:
        return json.loads(text)
    return _C_SCAN(text, 0)[0]


def _scan(text: str, index: int) -> tuple[Any, int]:
    """The JSON value starting at ``text[index]`` and the index just past it."""
    if _C_SCAN is None:
        return _DECODER.raw_decode(text, index)
    return _C_SCAN(text, index)  # type: ignore[no-any-return]


_DECODER = json.JSONDecoder()


def _compact_json(value: Any) -> str:
    """``_json(value)``, the same text, with the encoder built once."""
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def _policy_doc(policy: RetryPolicy) -> list[Any]:
    return [policy.max_retries, _td(policy.within), _td(policy.backoff)]


def _policy(doc: Sequence[Any]) -> RetryPolicy:
    return RetryPolicy(max_retries=doc[0], within=_otd(doc[1]), backoff=_otd(doc[2]))


_DEFAULT_POLICY = RetryPolicy()  # immutable, so every send read without a policy shares it
_DEFAULT_POLICY_DOC = _policy_doc(_DEFAULT_POLICY)


def _attempt_doc(a: Attempt) -> dict[str, Any]:
    doc: dict[str, Any] = {"n": a.number, "to": a.to, "q": _ts(a.queued_at)}
    for key, value in (
        ("p", a.provider),
        ("id", a.provider_message_id),
        ("r", a.reason.value if a.reason else None),
        ("pc", a.provider_code),
        ("pt", a.provider_text),
        ("sub", _ots(a.submitted_at)),
        ("snt", _ots(a.sent_at)),
        ("dlv", _ots(a.delivered_at)),
        ("fld", _ots(a.failed_at)),
        ("seg", a.segments),
        ("pr", None if a.price is None else str(a.price)),
        ("pts", a.parts),
        ("pids", list(a.part_ids) or None),
    ):
        if value is not None:
            doc[key] = value
    if a.status.value != "queued":
        doc["s"] = a.status.value
    if a.provider_status:
        doc["ps"] = a.provider_status
    if a.evidence:
        doc["ev"] = {k: list(v) for k, v in a.evidence.items()}
    return doc


def _attempt(doc: Mapping[str, Any]) -> Attempt:
    ev = doc.get("ev")
    return Attempt(
        number=doc["n"],
        to=doc["to"],
        queued_at=_dt(doc["q"]),
        provider=doc.get("p"),
        provider_message_id=doc.get("id"),
        status=DeliveryStatus(doc.get("s", "queued")),
        reason=FailureReason(doc["r"]) if "r" in doc else None,
        provider_status=doc.get("ps", ""),
        provider_code=doc.get("pc"),
        provider_text=doc.get("pt"),
        submitted_at=_odt(doc.get("sub")),
        sent_at=_odt(doc.get("snt")),
        delivered_at=_odt(doc.get("dlv")),
        failed_at=_odt(doc.get("fld")),
        segments=doc.get("seg"),
        price=doc.get("pr"),
        parts=doc.get("pts"),
        evidence=_evidence_map(ev),
        part_ids=doc.get("pids", ()),
    )


def _evidence_map(doc: Mapping[str, Sequence[Any]] | None) -> FrozenMap[Evidence]:
    if not doc:
        return FrozenMap()
    return FrozenMap({k: tuple(v) for k, v in doc.items()})


def _send_document(s: Send) -> dict[str, Any]:
    """A send's document: the general form, which :func:`_send_doc` writes as text directly."""
    doc: dict[str, Any] = {
        "c": s.campaign_id,
        "r": s.recipient_id,
        "st": s.step_id,
        "to": s.to,
        "at": _ts(s.created_at),
        "id": s.id,
    }
    if s.body:
        doc["b"] = s.body
    if s.attempts:
        doc["a"] = [_attempt_doc(a) for a in s.attempts]
    if s.skip_reasons:
        doc["sk"] = list(s.skip_reasons)
    for key, value in (
        ("cx", _ots(s.canceled_at)),
        ("gu", _ots(s.gave_up_at)),
        ("due", _ots(s.due_at)),
    ):
        if value is not None:
            doc[key] = value
    if s.policy is not _DEFAULT_POLICY:
        policy = _policy_doc(s.policy)
        if policy != _DEFAULT_POLICY_DOC:
            doc["pol"] = policy
    return doc


# json's own string encoder (the C one where there is one), as JSONEncoder uses
# it with ensure_ascii=False: _send_doc writes each string exactly as it would.
_STR: Callable[[str], str] = json.encoder.encode_basestring


def _value_text(value: Any) -> str:
    """The JSON text of one value of a document, as :func:`_compact_json` writes it."""
    if type(value) is str:
        return _STR(value)
    if type(value) is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    return _compact_json(value)


def _attempt_text(a: Attempt) -> str:
    """``_compact_json(_attempt_doc(a))``, written directly: same keys, same order, same text."""
    out = [f'{{"n":{_value_text(a.number)},"to":{_value_text(a.to)},"q":"{_ts(a.queued_at)}"']
    if a.provider is not None:
        out.append(f',"p":{_value_text(a.provider)}')
    if a.provider_message_id is not None:
        out.append(f',"id":{_value_text(a.provider_message_id)}')
    # ``_value_``: an enum's value without the ``value`` property's Python-level call.
    if a.reason:
        out.append(f',"r":{_value_text(a.reason._value_)}')
    if a.provider_code is not None:
        out.append(f',"pc":{_value_text(a.provider_code)}')
    if a.provider_text is not None:
        out.append(f',"pt":{_value_text(a.provider_text)}')
    # Times are _ts texts: digits and "-:.+T", nothing JSON escapes.
    if a.submitted_at is not None:
        out.append(f',"sub":"{_ts(a.submitted_at)}"')
    if a.sent_at is not None:
        out.append(f',"snt":"{_ts(a.sent_at)}"')
    if a.delivered_at is not None:
        out.append(f',"dlv":"{_ts(a.delivered_at)}"')
    if a.failed_at is not None:
        out.append(f',"fld":"{_ts(a.failed_at)}"')
    if a.segments is not None:
        out.append(f',"seg":{_value_text(a.segments)}')
    if a.price is not None:
        out.append(f',"pr":{_STR(str(a.price))}')
    if a.parts is not None:
        out.append(f',"pts":{_value_text(a.parts)}')
    if a.part_ids:
        out.append(f',"pids":{_compact_json(list(a.part_ids))}')
    if a.status._value_ != "queued":
        out.append(f',"s":{_value_text(a.status._value_)}')
    if a.provider_status:
        out.append(f',"ps":{_value_text(a.provider_status)}')
    if a.evidence:
        out.append(f',"ev":{_compact_json({k: list(v) for k, v in a.evidence.items()})}')
    out.append("}")
    return "".join(out)


def _send_doc(s: Send) -> str:
    """``_compact_json(_send_document(s))``, written directly: the text every adapter stores.

    A send is written twice on its way out (queued, then with its attempt);
    building the document as a dict and encoding it was about a fourteenth of
    a send's instructions. Strings go through json's own encoder, numbers
    through ``int.__repr__`` as json writes them, times as the fixed texts
    :func:`_ts` makes, and anything else through :func:`_compact_json`;
    ``tests/storage/test_storage_sqlite.py`` proves the text identical.
    """
    out = [
        f'{{"c":{_value_text(s.campaign_id)},"r":{_value_text(s.recipient_id)},'
        f'"st":{_value_text(s.step_id)},"to":{_value_text(s.to)},"at":"{_ts(s.created_at)}",'
        f'"id":{_value_text(s.id)}'
    ]
    if s.body:
        out.append(f',"b":{_value_text(s.body)}')
    if s.attempts:
        out.append(f',"a":[{",".join([_attempt_text(a) for a in s.attempts])}]')
    if s.skip_reasons:
        out.append(f',"sk":{_compact_json(list(s.skip_reasons))}')
    if s.canceled_at is not None:
        out.append(f',"cx":"{_ts(s.canceled_at)}"')
    if s.gave_up_at is not None:
        out.append(f',"gu":"{_ts(s.gave_up_at)}"')
    if s.due_at is not None:
        out.append(f',"due":"{_ts(s.due_at)}"')
    if s.policy is not _DEFAULT_POLICY:
        policy = _policy_doc(s.policy)
        if policy != _DEFAULT_POLICY_DOC:
            out.append(f',"pol":{_compact_json(policy)}')
    out.append("}")
    return "".join(out)


def _send(text: str) -> Send:
    return _send_from(json.loads(text))


def _send_values(doc: Mapping[str, Any], attempts: tuple[Attempt, ...]) -> dict[str, Any]:
    """A send's ``__init__`` values from its stored document, with its attempts as given.

    The one reading of a send document (:func:`_send_doc` writes it); the
    readers differ only in how they build the attempts and the send.
    """
    return {
        "campaign_id": doc["c"],
        "recipient_id": doc["r"],
        "step_id": doc["st"],
        "to": doc["to"],
        "created_at": _dt(doc["at"]),
        "body": doc.get("b", ""),
        "attempts": attempts,
        "skip_reasons": tuple(doc.get("sk", ())),
        "canceled_at": _odt(doc.get("cx")),
        "gave_up_at": _odt(doc.get("gu")),
        "due_at": _odt(doc.get("due")),
        "policy": _policy(doc["pol"]) if "pol" in doc else _DEFAULT_POLICY,
        "id": doc["id"],
    }


def _send_from(doc: Mapping[str, Any]) -> Send:
    return Send(**_send_values(doc, tuple(_attempt(a) for a in doc.get("a", ()))))


_STATUSES = {s.value: s for s in DeliveryStatus}
_REASONS = {r.value: r for r in FailureReason}


def _stored_attempt(doc: Mapping[str, Any]) -> Attempt:
    """``_attempt(doc)`` without re-checking the values: ``doc`` is one this adapter wrote."""
    reason = doc.get("r")
    price = doc.get("pr")
    return _attempt_as_given(
        number=doc["n"],
        to=doc["to"],
        queued_at=_dt(doc["q"]),
        provider=doc.get("p"),
        provider_message_id=doc.get("id"),
        status=_STATUSES[doc.get("s", "queued")],
        reason=None if reason is None else _REASONS[reason],
        provider_status=doc.get("ps", ""),
        provider_code=doc.get("pc"),
        provider_text=doc.get("pt"),
        submitted_at=_odt(doc.get("sub")),
        sent_at=_odt(doc.get("snt")),
        delivered_at=_odt(doc.get("dlv")),
        failed_at=_odt(doc.get("fld")),
        segments=doc.get("seg"),
        price=None if price is None else Decimal(price),
        parts=doc.get("pts"),
        evidence=_evidence_map(doc.get("ev")),
        part_ids=tuple(doc.get("pids", ())),
    )


def _stored_send(doc: Mapping[str, Any]) -> Send:
    """``_send_from(doc)`` without re-checking the values: ``doc`` is one this adapter wrote.

    Every value in it came from a checked :class:`Send` through :func:`_send_doc`
    (times with their offset, statuses and reasons by value), so rebuilding it
    needs no converter or validator; at a hundred thousand receipts they would
    be most of the cost.
    """
    return _send_as_given(
        **_send_values(doc, tuple([_stored_attempt(a) for a in doc.get("a", ())]))
    )


# What a send's document holds besides its attempts (see _send_doc).
_SEND_DOC_FIELDS = operator.attrgetter(
    "campaign_id", "recipient_id", "step_id", "to", "created_at", "body", "skip_reasons",
    "canceled_at", "gave_up_at", "due_at", "policy", "id",
)  # fmt: skip


def _patched_send_doc(doc: dict[str, Any], before: Send, after: Send) -> str:
    """``_send_doc(after)``, reusing ``doc``, the stored document ``before`` was read from.

    Provider events change attempts and nothing else (:meth:`Send.apply`), so
    only the attempts that changed are serialized again; anything else falls
    back to :func:`_send_doc`. ``doc`` is updated in place.
    """
    attempts = doc.get("a")
    if (
        attempts is None
        or len(attempts) != len(after.attempts)
        or len(before.attempts) != len(after.attempts)
        or _SEND_DOC_FIELDS(before) != _SEND_DOC_FIELDS(after)
    ):
        return _send_doc(after)
    for index, (old, new) in enumerate(zip(before.attempts, after.attempts, strict=True)):
        if old is not new:
            attempts[index] = _patched_attempt_doc(attempts[index], old, new)
    return _compact_json(doc)


def _patched_attempt_doc(doc: Mapping[str, Any], before: Attempt, after: Attempt) -> dict[str, Any]:
    """``_attempt_doc(after)``, reusing from ``doc`` (``before``'s) the times it shares.

    Formatting a time is the costly part of an attempt's document, and an
    event changes at most one of them. Same keys, in the same order.
    """
    a = after
    new_doc: dict[str, Any] = {
        "n": a.number,
        "to": a.to,
        "q": doc["q"] if a.queued_at is before.queued_at else _ts(a.queued_at),
    }
    if a.provider is not None:
        new_doc["p"] = a.provider
    if a.provider_message_id is not None:
        new_doc["id"] = a.provider_message_id
    if a.reason is not None:
        new_doc["r"] = a.reason.value
    if a.provider_code is not None:
        new_doc["pc"] = a.provider_code
    if a.provider_text is not None:
        new_doc["pt"] = a.provider_text
    for key, old, new in (
        ("sub", before.submitted_at, a.submitted_at),
        ("snt", before.sent_at, a.sent_at),
        ("dlv", before.delivered_at, a.delivered_at),
        ("fld", before.failed_at, a.failed_at),
    ):
        if new is not None:
            new_doc[key] = doc[key] if new is old and key in doc else _ts(new)
    if a.segments is not None:
        new_doc["seg"] = a.segments
    if a.price is not None:
        new_doc["pr"] = str(a.price)
    if a.parts is not None:
        new_doc["pts"] = a.parts
    if a.part_ids:
        new_doc["pids"] = list(a.part_ids)
    if a.status is not DeliveryStatus.QUEUED:
        new_doc["s"] = a.status.value
    if a.provider_status:
        new_doc["ps"] = a.provider_status
    if a.evidence:
        new_doc["ev"] = {k: list(v) for k, v in a.evidence.items()}
    return new_doc


def _fold_into_doc(doc: dict[str, Any], event: StatusEvent, at: str) -> bool:
    """Apply ``event`` to its send's stored document in place, when that is the plain case.

    The merge is :func:`fold_event`, the rule :meth:`Attempt.apply` runs, here
    on the document's own values (times as the fixed-width UTC strings
    ``at`` is, from :func:`_ts`), so no :class:`Send` is rebuilt nor its
    document encoded field by field. The plain case: the send is not skipped,
    canceled or given up; the attempt :meth:`Send.apply` would pick has the
    event's provider and message id already (the event changes no id, so the
    message index stays as it is), no per-part ids and evidence for the whole
    message only; the event is not a per-part receipt. Anything else returns
    False, changing nothing, and the caller applies the event through
    :meth:`Send.apply`.
    """
    attempts = doc.get("a")
    if attempts is None or "sk" in doc or "cx" in doc or "gu" in doc:
        return False
    return _fold_into_attempts(attempts, event, at)


def _fold_into_attempts(attempts: list[dict[str, Any]], event: StatusEvent, at: str) -> bool:
    """:func:`_fold_into_doc` on the attempts of a send neither skipped, canceled nor given up."""
    if event.part is not None:
        return False
    message_id = event.provider_message_id
    provider = event.provider
    for a in attempts:  # the attempt Send.apply picks: the first that answers
        if a.get("id") == message_id or ("pids" in a and message_id in a["pids"]):
            named = a.get("p")
            if named is None or named == provider:
                break
    else:
        return False
    if named != provider or "pids" in a or a.get("id") != message_id:
        return False
    ev = a.get("ev")
    if ev is None:
        evidence: dict[str, Evidence] = {}
    elif len(ev) == 1 and _WHOLE in ev:
        evidence = {_WHOLE: tuple(ev[_WHOLE])}
    else:
        return False
    if event.status is None:  # kept in the log, changes nothing
        return True
    get = a.get
    times = [get("sub"), get("snt"), get("dlv"), get("fld")]
    price = get("pr")
    counts = [get("seg"), None if price is None else Decimal(price), get("pts")]
    fold_event(evidence, times, counts, event, at, _evidence(event, _utc_iso_of(at)))
    submitted, sent, delivered, failed = times
    if submitted is not None:
        a["sub"] = submitted
    if sent is not None:
        a["snt"] = sent
    if delivered is not None:
        a["dlv"] = delivered
    if failed is not None:
        a["fld"] = failed
    segments, price, parts = counts
    if segments is not None:
        a["seg"] = segments
    if price is not None:
        a["pr"] = str(price)
    if parts is not None:
        a["pts"] = parts
    winner = evidence[_WHOLE]
    a["ev"] = {_WHOLE: list(winner)}
    # The outcome _derive_outcome reads from whole-message evidence alone, as
    # the document stores it (values; the queued status and empty texts left out).
    status, reason, provider_status, code, text = _outcome_values(winner)
    _put(a, "s", None if status == "queued" else status)
    _put(a, "r", reason)
    _put(a, "ps", provider_status or None)
    _put(a, "pc", code)
    _put(a, "pt", text)
    return True


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    """Set ``doc[key]``, or leave the key out for ``None``, as the document encoders do."""
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value


_WHOLE = "*"  # the evidence key of the whole message (domain/delivery.py)


def _doc_columns(doc: Mapping[str, Any]) -> tuple[DeliveryStatus, str, str | None]:
    """A send's status, reason and sent-on columns from its document.

    For documents :func:`_fold_into_doc` folds into (not skipped, canceled or
    given up, with attempts): :func:`send_status_from` on the attempts'
    statuses, then :func:`send_reason` and :attr:`Send.sent_on` on plain values.
    """
    return _attempts_columns(doc["a"], _policy(doc["pol"]) if "pol" in doc else _DEFAULT_POLICY)


def _attempts_columns(
    attempts: Sequence[Mapping[str, Any]], policy: RetryPolicy
) -> tuple[DeliveryStatus, str, str | None]:
    """:func:`_doc_columns` from the document's attempts and the send's retry policy."""
    statuses = [_STATUSES[a.get("s", "queued")] for a in attempts]
    first, last = attempts[0], attempts[-1]
    status = send_status_from(
        statuses, policy, lambda: _dt(last.get("fld") or last["q"]) - _dt(first["q"])
    )
    reason = ""
    if status is DeliveryStatus.SOFT_BOUNCED or status is DeliveryStatus.HARD_BOUNCED:
        # Send.failure_reason: the newest attempt that bounced the same way.
        deciding = next(
            (a for a, s in zip(reversed(attempts), reversed(statuses), strict=True) if s is status),
            last,
        )
        reason = deciding.get("r", "")
    sent_on = None
    for a in attempts:
        at = a.get("snt") or a.get("sub")
        if at is not None and (sent_on is None or at < sent_on):
            sent_on = at
    return status, reason, sent_on


class _Split(NamedTuple):
    """A stored send document cut around its attempts, which are decoded (:func:`_split_doc`)."""

    head: str  # the text before the attempts' "["
    attempts: list[dict[str, Any]]
    tail: str  # the text after the attempts' "]"
    policy: RetryPolicy

    def text(self) -> str:
        """The document's text with the attempts as they are now: ``_compact_json`` of it."""
        return f"{self.head}{_compact_json(self.attempts)}{self.tail}"


_ATTEMPTS_KEY = ',"a":['


def _split_doc(text: str) -> _Split | None:
    """A stored document with only its attempts decoded, for :func:`_fold_into_attempts`.

    A receipt changes a send's attempts and nothing else, so the rest of the
    text is kept as it was rather than decoded and encoded again (that was a
    sixth of a receipt's instructions). The cut is exact: in JSON text a
    quote inside a string is escaped, so ``,"a":[`` (and ``,"sk":``...) can
    only be a key, and of the document itself, whose other containers (skip
    reasons, the policy) hold no objects. None for a document that is not
    this adapter's compact text or whose send is skipped, canceled or given
    up (:func:`_fold_into_doc` never applies to it), or with a policy
    written before its attempts.
    """
    if not text.startswith('{"c":'):
        return None
    start = text.find(_ATTEMPTS_KEY)
    if start < 0:
        return None
    start += len(_ATTEMPTS_KEY) - 1
    head = text[:start]
    if ',"sk":' in head or ',"cx":' in head or ',"gu":' in head or ',"pol":' in head:
        return None
    attempts, end = _scan(text, start)
    tail = text[end:]
    if ',"sk":' in tail or ',"cx":' in tail or ',"gu":' in tail:
        return None
    policy = _policy(_load_doc("{" + tail[1:])["pol"]) if ',"pol":' in tail else _DEFAULT_POLICY
    return _Split(head, attempts, tail, policy)


def _event_document(e: StatusEvent, at: str | None = None) -> dict[str, Any]:
    """An event's log document: the general form, which :func:`_event_doc` writes as text."""
    return {
        "p": e.provider,
        "id": e.provider_message_id,
        "s": e.status.value if e.status else None,
        "at": _ts(e.occurred_at) if at is None else at,
        "r": e.reason.value if e.reason else None,
        "perm": e.permanent,
        "ps": e.provider_status,
        "pc": e.provider_code,
        "pt": e.provider_text,
        "seg": e.segments,
        "pr": None if e.price is None else str(e.price),
        "part": e.part,
        "parts": e.parts,
        "raw": e.raw.to_dict(),
    }


def _event_doc(e: StatusEvent, at: str | None = None) -> str:
    """``_compact_json(_event_document(e, at))``, written directly: the log row's text.

    ``at`` is ``_ts(e.occurred_at)`` when the caller has it. Every receipt is
    logged, and encoding the document as a dict cost about as much as the
    log row's insert; ``tests/storage/test_storage_sqlite.py`` proves the
    text identical.
    """
    status, reason, price = e.status, e.reason, e.price
    # The optional values are mostly None: "null" without a call for those.
    permanent, code, text = e.permanent, e.provider_code, e.provider_text
    segments, part, parts = e.segments, e.part, e.parts
    return (
        f'{{"p":{_value_text(e.provider)},"id":{_value_text(e.provider_message_id)},'
        f'"s":{"null" if status is None else _STR(status._value_)},'
        f'"at":"{_ts(e.occurred_at) if at is None else at}",'
        f'"r":{"null" if reason is None else _STR(reason._value_)},'
        f'"perm":{"null" if permanent is None else _value_text(permanent)},'
        f'"ps":{_value_text(e.provider_status)},'
        f'"pc":{"null" if code is None else _value_text(code)},'
        f'"pt":{"null" if text is None else _value_text(text)},'
        f'"seg":{"null" if segments is None else _value_text(segments)},'
        f'"pr":{"null" if price is None else _STR(str(price))},'
        f'"part":{"null" if part is None else _value_text(part)},'
        f'"parts":{"null" if parts is None else _value_text(parts)},'
        f'"raw":{_mapping_text(e.raw.to_dict())}}}'
    )


def _mapping_text(value: dict[str, Any]) -> str:
    """``_compact_json(value)``, with a dict of strings to strings written directly."""
    parts = []
    for key, item in value.items():
        if type(key) is not str or type(item) is not str:
            return _compact_json(value)
        parts.append(f"{_STR(key)}:{_STR(item)}")
    return f"{{{','.join(parts)}}}"


def _event(text: str) -> StatusEvent:
    doc = json.loads(text)
    return StatusEvent(
        provider=doc["p"],
        provider_message_id=doc["id"],
        status=doc["s"],
        occurred_at=_dt(doc["at"]),
        reason=doc["r"],
        permanent=doc["perm"],
        provider_status=doc["ps"],
        provider_code=doc["pc"],
        provider_text=doc["pt"],
        segments=doc["seg"],
        price=doc["pr"],
        part=doc["part"],
        parts=doc["parts"],
        raw=doc["raw"],
    )


def _inbound_doc(m: InboundMessage) -> str:
    return _json(
        {
            "p": m.provider,
            "id": m.provider_message_id,
            "from": m.sender.e164,
            "fv": m.sender.verified,
            "to": m.recipient,
            "b": m.body,
            "at": _ts(m.received_at),
            "raw": m.raw,
            "acc": m.account,
        }
    )


def _inbound(text: str) -> InboundMessage:
    doc = json.loads(text)
    return InboundMessage(
        provider=doc["p"],
        provider_message_id=doc["id"],
        sender=PhoneNumber.from_e164(doc["from"], verified=doc["fv"]),
        recipient=doc["to"],
        body=doc["b"],
        received_at=_dt(doc["at"]),
        raw=doc["raw"],
        account=doc["acc"],
    )


def _campaign_doc(c: Campaign) -> str:
    options: dict[str, Any] = {}
    for field in attrs.fields(CampaignOptions):
        value = getattr(c.options, field.name)
        options[field.name] = _policy_doc(value) if isinstance(value, RetryPolicy) else value
    return _json(
        {
            "id": c.id,
            "name": c.name,
            "steps": [[s.id, s.kind.value, s.body.text, _td(s.delay)] for s in c.steps],
            "sender": c.sender,
            "tz": c.time_zone,
            "window": c.send_window,
            "throttle": c.throttle,
            "starts": _ots(c.starts_at),
            "ends": _ots(c.ends_at),
            "options": options,
            "state": c.state.value,
            "timeline": [
                [_ts(t.at), t.action.value, t.cause, t.state.value, t.detail] for t in c.timeline
            ],
            "account": c.account,
        }
    )


def _campaign(text: str) -> Campaign:
    doc = json.loads(text)
    options: dict[str, Any] = {
        name: _policy(value) if name == "retry" else value for name, value in doc["options"].items()
    }
    return Campaign(
        id=doc["id"],
        name=doc["name"],
        steps=tuple(Step(id=i, kind=k, body=b, delay=_otd(d)) for i, k, b, d in doc["steps"]),
        sender=doc["sender"],
        time_zone=doc["tz"],
        send_window=doc["window"],
        throttle=doc["throttle"],
        starts_at=_odt(doc["starts"]),
        ends_at=_odt(doc["ends"]),
        options=CampaignOptions(**options),
        state=doc["state"],
        timeline=tuple(
            TimelineEntry(at=_dt(at), action=a, cause=c, state=s, detail=d)
            for at, a, c, s, d in doc["timeline"]
        ),
        account=doc["account"],
    )


_CONTACT_COLUMNS = (
    "c.id, c.e164, c.region, c.kind, c.verified, c.zones, c.first_name, c.last_name, "
    "c.email, c.fields, c.consent, c.time_zone, c.account"
)


def _contact_row(c: Contact) -> tuple[Any, ...]:
    p = c.phone
    return (
        c.account,
        c.id,
        p.e164,
        p.region,
        p.kind.value,
        int(p.verified),
        "\n".join(p.time_zones) if p.time_zones else "",
        c.first_name,
        c.last_name,
        c.email,
        _fields_json(c.fields),
        c.consent.value,
        c.time_zone,
    )


# Contacts and recipients are read back without re-checking their values (see
# domain/_trusted.py): every column was written by _contact_row or add_recipients
# from a checked object (an E.164 number, a region code or NULL, enum values,
# normalized field names, a known zone name), so the converters and validators
# would only repeat those checks, three times per send at dispatch.
# tests/runner/test_trusted_reads.py proves the objects equal checked ones.
_phone_as_given = builder(PhoneNumber)
_contact_as_given = builder(Contact)
_recipient_as_given = builder(Recipient)
_KINDS = {k.value: k for k in NumberKind}
_CONSENTS = {c.value: c for c in Consent}
_CONTACT_STATUSES = {s.value: s for s in ContactStatus}
_RESPONSES = {r.value: r for r in ResponseStatus}
_NO_FIELDS_JSON = "{}"
_NO_FIELDS: FrozenMap[str] = FrozenMap()  # immutable: every object without fields shares it


def _fields_map(text: str) -> FrozenMap[str]:
    """A stored fields document as a map (normalized keys, text values, as written)."""
    return _NO_FIELDS if text == _NO_FIELDS_JSON else FrozenMap(json.loads(text))


def _contact(row: Sequence[Any]) -> Contact:
    cid, e164, region, kind, verified, zones, first, last, email, fields, consent, tz, acc = row
    try:
        number_kind = _KINDS[kind]
        consent_value = _CONSENTS[consent]
    except KeyError:  # not a value this adapter writes: the checks say what is wrong
        return _checked_contact(row)
    phone = _phone_as_given(
        e164=e164,
        region=region,
        kind=number_kind,
        verified=bool(verified),
        _given_zones=tuple(zones.split("\n")) if zones else (),
    )
    return _contact_as_given(
        id=cid,
        phone=phone,
        first_name=first,
        last_name=last,
        email=email,
        fields=_fields_map(fields),
        consent=consent_value,
        time_zone=tz,
        account=acc,
    )


def _checked_contact(row: Sequence[Any]) -> Contact:
    """:func:`_contact` through the checked constructors (for a row it cannot read as given)."""
    cid, e164, region, kind, verified, zones, first, last, email, fields, consent, tz, acc = row
    phone = PhoneNumber(
        e164,
        region,
        kind=kind,
        verified=bool(verified),
        time_zones=tuple(zones.split("\n")) if zones else (),
    )
    return Contact(
        id=cid,
        phone=phone,
        first_name=first,
        last_name=last,
        email=email,
        fields=FrozenMap(json.loads(fields)),
        consent=consent,
        time_zone=tz,
        account=acc,
    )


def _suppression(row: Sequence[Any]) -> Suppression:
    account, e164, cause, at, detail, campaign_id, by = row
    return Suppression(
        e164=e164,
        cause=cause,
        at=_dt(at),
        account=account,
        detail=detail,
        campaign_id=campaign_id,
        by=by,
    )


def _chunks(items: Sequence[T], size: int = _BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count: int) -> str:
    return ",".join("?" * count)


def _message_keys(send: Send) -> list[tuple[str, str]]:
    # Every id the provider may name an attempt by: its own, and each part's.
    return [
        (a.provider or "", message_id)
        for a in send.attempts
        if a.provider_message_id is not None
        for message_id in dict.fromkeys((a.provider_message_id, *a.part_ids))
    ]


def _claimed_send(doc: Mapping[str, Any]) -> Send:
    """``_stored_send(doc)`` for a claimed send's document; one never tried is built directly.

    A document with no attempts, skip reasons, cancellation or give-up is a
    send not tried yet, QUEUED with no sent-on as :func:`_stored_send` would
    derive them: the derivation is left out (most claims are first attempts),
    and its values are written out here rather than gathered by
    :func:`_send_values`, whose dictionary costs dispatch about 0.8% of its
    instructions.
    tests/runner/test_trusted_reads.py proves both give the same send.
    """
    if "a" in doc or "sk" in doc or "cx" in doc or "gu" in doc:
        return _stored_send(doc)
    due = doc.get("due")
    return _new_send_as_given(
        campaign_id=doc["c"],
        recipient_id=doc["r"],
        step_id=doc["st"],
        to=doc["to"],
        created_at=_dt(doc["at"]),
        body=doc.get("b", ""),
        attempts=(),
        skip_reasons=(),
        canceled_at=None,
        gave_up_at=None,
        due_at=None if due is None else _dt(due),
        policy=_policy(doc["pol"]) if "pol" in doc else _DEFAULT_POLICY,
        id=doc["id"],
    )


def _send_row(send: Send) -> tuple[Any, ...]:
    return (
        send.id,
        send.campaign_id,
        send.recipient_id,
        send.step_id,
        send.status._value_,
        send_reason(send),
        _ts(send.created_at),
        _ots(send.due_at),
        _ots(send.sent_on),
        _send_doc(send),
        send.to,
    )


def _event_sends(
    conn: sqlite3.Connection, events: Iterable[StatusEvent]
) -> tuple[dict[tuple[str, str], int], dict[int, tuple[str, str]]]:
    """The sends a batch of events names: ``(provider, message id) -> pk``, ``pk -> (id, data)``.

    An attempt indexed without a provider is under ``""``. One query: by the
    primary key of ``send_messages`` (provider and message id), then the sends.
    """
    providers = {e.provider for e in events}
    providers.add("")
    ids = list({e.provider_message_id for e in events})
    where: dict[tuple[str, str], int] = {}
    data: dict[int, tuple[str, str]] = {}
    if not ids:
        return where, data
    for provider, message_id, pk, send_id, text in conn.execute(
        "SELECT m.provider, m.message_id, m.send_pk, s.id, s.data FROM send_messages m "
        "JOIN sends s ON s.pk = m.send_pk "
        f"WHERE m.provider IN ({_marks(len(providers))}) AND m.message_id IN ({_marks(len(ids))})",
        [*providers, *ids],
    ):
        where[provider, message_id] = pk
        data[pk] = (send_id, text)
    return where, data


# --- the adapter -------------------------------------------------------------------


class _Local(threading.local):
    connection: sqlite3.Connection | None = None
    depth: int = 0


class SQLiteStorage:
    """The embedded default :class:`~smscampaign.providers.base.Storage`.

    Args:
        path: The database file (created when missing), or ``":memory:"``
            for a private in-memory database (one connection, no WAL).
        timeout: Seconds a writer waits for another writer before failing.

    Raises:
        SchemaError: The file's schema is newer than this library, or a
            migration failed.
        StorageError: The file cannot be opened as a database.
    """

    def __init__(self, path: str | PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._local = _Local()
        self._shared: sqlite3.Connection | None = None
        if self.path == ":memory:":
            self._shared = self._open()
        self._migrate()

    # -- connections -----------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT/SAVEPOINT ourselves
                check_same_thread=self.path != ":memory:",
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -32000")  # 32 MB of pages per connection
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        conn = self._local.connection
        if conn is None:
            conn = self._local.connection = self._open()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = self._shared or self._local.connection
        if conn is not None:
            conn.close()
        self._local.connection = None
        self._shared = None

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                current = row[0] or 0
                if current > SCHEMA_VERSION:
                    raise SchemaError(
                        f"{self.path!r} has schema version {current}, newer than the "
                        f"{SCHEMA_VERSION} this smscampaign knows; upgrade smscampaign",
                        value=current,
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[version - 1]:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise SchemaError(f"cannot migrate {self.path!r}: {exc}", value=self.path) from exc

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    # -- unit of work ----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Open a unit of work; a nested block is a savepoint.

        The outermost block takes SQLite's write lock at once (``BEGIN
        IMMEDIATE``), so two units never deadlock upgrading a read lock.

        Raises:
            StorageError: The database is locked longer than ``timeout``, or fails.
        """
        conn = self._conn
        local = self._local
        depth = local.depth
        name = f"sp{depth}"
        try:
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
        except sqlite3.Error as exc:
            raise _translate(exc, "begin a transaction") from exc
        local.depth = depth + 1
        try:
            yield
        except BaseException:
            local.depth = depth
            if depth == 0:
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        local.depth = depth
        try:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
        except sqlite3.Error as exc:
            if depth == 0 and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _translate(exc, "commit") from exc

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside a unit of work, translating driver errors."""
        with self.transaction():
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise _translate(exc, what) from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, "read") from exc

    # -- contacts --------------------------------------------------------------

    def save_contacts(self, contacts: Iterable[Contact]) -> int:
        """Insert or replace contacts, keyed by (account, id); returns how many."""

        def write(conn: sqlite3.Connection) -> int:
            count = 0
            for batch in _batched(contacts, 5000):
                conn.executemany(_UPSERT_CONTACT, [_contact_row(c) for c in batch])
                count += len(batch)
            return count

        return self._run("save contacts", write)

    def get_contact(self, contact_id: str, *, account: str = DEFAULT_ACCOUNT) -> Contact:
        """The contact with that id.

        Raises:
            NotFound: The account has no contact with that id.
        """
        rows = self._read(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts c WHERE c.account = ? AND c.id = ?",
            (account, contact_id),
        )
        if not rows:
            raise NotFound(f"no contact {contact_id!r} in account {account!r}", value=contact_id)
        return _contact(rows[0])

    def find_contacts(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Contact]:
        """Contacts by E.164 number; for a shared number, the contact saved first."""
        found: dict[str, Contact] = {}
        numbers = list(dict.fromkeys(e164s))
        for batch in _chunks(numbers):
            rows = self._read(
                f"SELECT {_CONTACT_COLUMNS}, c.pk FROM contacts c "
                f"WHERE c.account = ? AND c.e164 IN ({_marks(len(batch))}) ORDER BY c.pk",
                (account, *batch),
            )
            for row in rows:
                found.setdefault(row[1], _contact(row[:-1]))
        return found

    # -- suppression list ------------------------------------------------------

    def suppress(self, suppression: Suppression) -> bool:
        """Put a number on its account's list; False when it was there already."""
        s = suppression

        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO suppressions "
                "(account, e164, cause, at, detail, campaign_id, by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (s.account, s.e164, s.cause.value, _ts(s.at), s.detail, s.campaign_id, s.by),
            )
            return cursor.rowcount == 1

        return self._run("suppress", write)

    def unsuppress(
        self, e164: str, *, account: str = DEFAULT_ACCOUNT, at: datetime, by: str, reason: str = ""
    ) -> SuppressionRemoval | None:
        """Take a number off the list, logging the act; None when it was not on it."""

        def write(conn: sqlite3.Connection) -> SuppressionRemoval | None:
            row = conn.execute(
                "SELECT account, e164, cause, at, detail, campaign_id, by FROM suppressions "
                "WHERE account = ? AND e164 = ?",
                (account, e164),
            ).fetchone()
            if row is None:
                return None
            entry = _suppression(row)
            removal = SuppressionRemoval(suppression=entry, at=at, by=by, reason=reason)
            conn.execute("DELETE FROM suppressions WHERE account = ? AND e164 = ?", (account, e164))
            conn.execute(
                "INSERT INTO suppression_removals (account, e164, cause, suppressed_at, detail, "
                "campaign_id, suppressed_by, removed_at, removed_by, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, _ts(at), by, reason),
            )
            return removal

        return self._run("unsuppress", write)

    def get_suppression(self, e164: str, *, account: str = DEFAULT_ACCOUNT) -> Suppression | None:
        """The list entry for a number, or None."""
        rows = self._read(
            "SELECT account, e164, cause, at, detail, campaign_id, by FROM suppressions "
            "WHERE account = ? AND e164 = ?",
            (account, e164),
        )
        return _suppression(rows[0]) if rows else None

    def find_suppressions(
        self, e164s: Iterable[str], *, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Suppression]:
        """The list entries for several numbers at once, a page of numbers per query."""
        found: dict[str, Suppression] = {}
        numbers = list(dict.fromkeys(e164s))
        for batch in _chunks(numbers):
            for row in self._read(
                "SELECT account, e164, cause, at, detail, campaign_id, by FROM suppressions "
                f"WHERE account = ? AND e164 IN ({_marks(len(batch))})",
                (account, *batch),
            ):
                found[row[1]] = _suppression(row)
        return found

    def iter_suppressions(self, *, account: str = DEFAULT_ACCOUNT) -> Iterator[Suppression]:
        """Every entry of an account's list, by number."""
        last = ""
        while True:
            rows = self._read(
                "SELECT account, e164, cause, at, detail, campaign_id, by FROM suppressions "
                "WHERE account = ? AND e164 > ? ORDER BY e164 LIMIT ?",
                (account, last, _BATCH),
            )
            for row in rows:
                yield _suppression(row)
            if len(rows) < _BATCH:
                return
            last = rows[-1][1]

    def iter_suppression_removals(
        self, *, account: str = DEFAULT_ACCOUNT
    ) -> Iterator[SuppressionRemoval]:
        """The log of removals, oldest first."""
        last = 0
        while True:
            rows = self._read(
                "SELECT pk, account, e164, cause, suppressed_at, detail, campaign_id, "
                "suppressed_by, removed_at, removed_by, reason FROM suppression_removals "
                "WHERE account = ? AND pk > ? ORDER BY pk LIMIT ?",
                (account, last, _BATCH),
            )
            for row in rows:
                yield SuppressionRemoval(
                    suppression=_suppression(row[1:8]), at=_dt(row[8]), by=row[9], reason=row[10]
                )
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    # -- campaigns -------------------------------------------------------------

    def add_campaign(self, campaign: Campaign) -> None:
        """Store a new campaign.

        Raises:
            AlreadyExists: A campaign has that id.
        """

        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO campaigns (id, account, state, data) VALUES (?, ?, ?, ?)",
                    (campaign.id, campaign.account, campaign.state.value, _campaign_doc(campaign)),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(
                    f"campaign {campaign.id!r} exists already", value=campaign.id
                ) from exc

        self._run("add a campaign", write)

    def save_campaign(self, campaign: Campaign) -> None:
        """Replace a stored campaign.

        Raises:
            NotFound: No campaign has that id.
        """

        def write(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE campaigns SET account = ?, state = ?, data = ? WHERE id = ?",
                (campaign.account, campaign.state.value, _campaign_doc(campaign), campaign.id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no campaign {campaign.id!r}", value=campaign.id)

        self._run("save a campaign", write)

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with that id.

        Raises:
            NotFound: No campaign has that id.
        """
        rows = self._read("SELECT data FROM campaigns WHERE id = ?", (campaign_id,))
        if not rows:
            raise NotFound(f"no campaign {campaign_id!r}", value=campaign_id)
        return _campaign(rows[0][0])

    def iter_campaigns(self, *, account: str | None = None) -> Iterator[Campaign]:
        """Campaigns (of one account, or all), by id."""
        last = ""
        while True:
            rows = self._read(
                "SELECT id, data FROM campaigns WHERE (? IS NULL OR account = ?) AND id > ? "
                "ORDER BY id LIMIT ?",
                (account, account, last, _BATCH),
            )
            for row in rows:
                yield _campaign(row[1])
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    # -- recipients ------------------------------------------------------------

    def add_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Add recipients to their campaigns; returns how many were new.

        Raises:
            NotFound: A recipient's campaign is not stored.
        """

        def write(conn: sqlite3.Connection) -> int:
            added = 0
            known: set[str] = set()
            for batch in _batched(recipients, 5000):
                for campaign_id in {r.campaign_id for r in batch} - known:
                    if not conn.execute(
                        "SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)
                    ).fetchone():
                        raise NotFound(f"no campaign {campaign_id!r}", value=campaign_id)
                    known.add(campaign_id)
                # New contacts get the pks start, start + 1, ... in batch order.
                start = conn.execute("SELECT coalesce(max(pk), 0) + 1 FROM contacts").fetchone()[0]
                before = conn.total_changes
                conn.executemany(
                    _INSERT_CONTACT_AT,
                    [(start + i, *_contact_row(r.contact)) for i, r in enumerate(batch)],
                )
                rows: list[tuple[Any, ...]]
                if conn.total_changes - before == len(batch):
                    # Every contact was new (a fresh list): each recipient's
                    # contact pk is known, so no lookup per row.
                    sql, rows = _INSERT_RECIPIENT_AT, [
                        (r.campaign_id, start + i, r.contact.id, r.status.value,
                         r.response.value, r.list_name, _fields_json(r.fields))
                        for i, r in enumerate(batch)
                    ]  # fmt: skip
                else:
                    sql, rows = _INSERT_RECIPIENT, [
                        (r.campaign_id, r.contact.id, r.status.value, r.response.value,
                         r.list_name, _fields_json(r.fields), r.contact.account, r.contact.id)
                        for r in batch
                    ]  # fmt: skip
                before = conn.total_changes
                conn.executemany(sql, rows)
                added += conn.total_changes - before
            return added

        return self._run("add recipients", write)

    def update_recipients(self, recipients: Iterable[Recipient]) -> int:
        """Save status, response, list name and fields of existing recipients.

        Raises:
            NotFound: A recipient is not stored.
        """

        def write(conn: sqlite3.Connection) -> int:
            count = 0
            for r in recipients:
                cursor = conn.execute(
                    "UPDATE recipients SET status = ?, response = ?, list_name = ?, fields = ? "
                    "WHERE campaign_id = ? AND contact_id = ?",
                    (
                        r.status.value,
                        r.response.value,
                        r.list_name,
                        _fields_json(r.fields),
                        r.campaign_id,
                        r.id,
                    ),
                )
                if cursor.rowcount == 0:
                    raise NotFound(
                        f"no recipient {r.id!r} in campaign {r.campaign_id!r}", value=r.id
                    )
                count += 1
            return count

        return self._run("update recipients", write)

    def get_recipient(self, campaign_id: str, contact_id: str) -> Recipient:
        """One recipient with its current contact and its sends.

        Raises:
            NotFound: The campaign has no such recipient.
        """
        rows = self._read(
            f"{_SELECT_RECIPIENTS} WHERE r.campaign_id = ? AND r.contact_id = ?",
            (campaign_id, contact_id),
        )
        if not rows:
            raise NotFound(
                f"no recipient {contact_id!r} in campaign {campaign_id!r}", value=contact_id
            )
        return next(self._recipients(campaign_id, rows, True))

    def get_recipients(
        self, campaign_id: str, contact_ids: Iterable[str], *, with_sends: bool = False
    ) -> dict[str, Recipient]:
        """Several recipients at once, by contact id (ids not in the campaign are left out)."""
        found: dict[str, Recipient] = {}
        for chunk in _chunks(list(dict.fromkeys(contact_ids))):
            rows = self._read(
                f"{_SELECT_RECIPIENTS} WHERE r.campaign_id = ? "
                f"AND r.contact_id IN ({_marks(len(chunk))})",
                (campaign_id, *chunk),
            )
            for recipient in self._recipients(campaign_id, rows, with_sends):
                found[recipient.id] = recipient
        return found

    def recipient_facts(
        self, campaign_id: str, contact_ids: Iterable[str]
    ) -> dict[str, RecipientFacts]:
        """What dispatch checks of several recipients, read fresh without building them.

        Exactly ``RecipientFacts.of`` each recipient :meth:`get_recipients`
        gives (the ``RecipientFactsReader`` capability): nine columns instead
        of nineteen, and no contact, number or recipient object per send. A
        row holding a value this adapter never writes is read whole, so it
        fails as :meth:`get_recipients` fails.
        """
        found: dict[str, RecipientFacts] = {}
        zones_of: dict[str, tuple[str, ...]] = {"": ()}  # one tuple per distinct text
        odd: list[str] = []
        for chunk in _chunks(list(dict.fromkeys(contact_ids))):
            for cid, status, response, consent, tz, e164, region, kind, zones in self._read(
                "SELECT r.contact_id, r.status, r.response, c.consent, c.time_zone, c.e164, "
                "c.region, c.kind, c.zones "
                "FROM recipients r JOIN contacts c ON c.pk = r.contact_pk "
                f"WHERE r.campaign_id = ? AND r.contact_id IN ({_marks(len(chunk))})",
                (campaign_id, *chunk),
            ):
                try:
                    status_value = _CONTACT_STATUSES[status]
                    consent_value = _CONSENTS[consent]
                    kind_value = _KINDS[kind]
                    _RESPONSES[response]  # a recipient read whole would check it too
                except KeyError:  # not values this adapter writes: read whole (and checked)
                    odd.append(cid)
                    continue
                split = zones_of.get(zones)
                if split is None:
                    split = zones_of[zones] = tuple(zones.split("\n"))
                found[cid] = RecipientFacts(
                    status_value, consent_value, tz, e164, region, kind_value, split
                )
        if odd:
            for cid, recipient in self.get_recipients(campaign_id, odd).items():
                found[cid] = RecipientFacts.of(recipient)
        return found

    def iter_recipients(self, campaign_id: str, *, with_sends: bool = True) -> Iterator[Recipient]:
        """A campaign's recipients in the order they were added, streamed in pages."""
        last = 0
        while True:
            rows = self._read(
                f"{_SELECT_RECIPIENTS} WHERE r.campaign_id = ? AND r.pk > ? ORDER BY r.pk LIMIT ?",
                (campaign_id, last, _BATCH),
            )
            yield from self._recipients(campaign_id, rows, with_sends)
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    def _recipients(
        self, campaign_id: str, rows: list[Any], with_sends: bool
    ) -> Iterator[Recipient]:
        sends: dict[str, list[Send]] = {}
        if with_sends and rows:
            for (data,) in self._read(
                "SELECT data FROM sends WHERE campaign_id = ? "
                f"AND recipient_id IN ({_marks(len(rows))}) ORDER BY pk",
                (campaign_id, *(row[1] for row in rows)),
            ):
                send = _stored_send(_load_doc(data))
                sends.setdefault(send.recipient_id, []).append(send)
        # Built as given: see _contact.
        for row in rows:
            contact = _contact(row[6:])
            own = tuple(sends.get(row[1], ()))
            status = _CONTACT_STATUSES.get(row[2])
            response = _RESPONSES.get(row[3])
            if status is None or response is None:  # not values this adapter writes
                yield Recipient(
                    campaign_id=campaign_id,
                    contact=contact,
                    status=row[2],
                    response=row[3],
                    list_name=row[4],
                    fields=FrozenMap(json.loads(row[5])),
                    sends=own,
                )
                continue
            yield _recipient_as_given(
                campaign_id=campaign_id,
                contact=contact,
                status=status,
                response=response,
                list_name=row[4],
                fields=_fields_map(row[5]),
                sends=own,
            )

    # -- sends -----------------------------------------------------------------

    def save_sends(self, sends: Iterable[Send], *, new_only: bool = False) -> list[Send]:
        """Insert or replace sends; returns them as stored (parked events applied).

        With ``new_only``, sends whose ids are stored already are left as they
        are (one write transaction checks and inserts, so no writer comes between).

        Raises:
            NotFound: A send's recipient is not stored.
        """

        def write(conn: sqlite3.Connection) -> list[Send]:
            saved: list[Send] = []
            any_parked = conn.execute("SELECT 1 FROM events WHERE parked = 1 LIMIT 1").fetchone()
            for batch in _batched(sends, 2000):
                if new_only:
                    stored = {
                        row[0]
                        for chunk in _chunks([s.id for s in batch])
                        for row in conn.execute(
                            f"SELECT id FROM sends WHERE id IN ({_marks(len(chunk))})", chunk
                        )
                    }
                    batch = [s for s in batch if s.id not in stored]
                    if not batch:
                        continue
                if any_parked:
                    batch = [self._apply_parked(conn, s) for s in batch]
                rows = [_send_row(s) for s in batch]
                try:
                    # A saved send changes only in what happens to it: the cheap
                    # upsert leaves the indexes on its fixed columns alone. A row
                    # it skips (an id reused for another recipient, step, number
                    # or creation time) is replaced whole by the full upsert.
                    if conn.executemany(_SAVE_SEND, rows).rowcount != len(rows):
                        conn.executemany(_UPSERT_SEND, rows)
                except sqlite3.IntegrityError as exc:
                    raise NotFound(
                        f"a send's recipient is not stored ({exc})", value=batch
                    ) from exc
                # Re-index every saved send: one saved without an attempt it had
                # before must stop answering for that attempt's message id. A send
                # inserted new (new_only, checked in this transaction) had no row,
                # so nothing answers for it yet: a foreign key removes a deleted
                # send's entries with it.
                self._index_messages(conn, batch, fresh=new_only)
                saved.extend(batch)
            return saved

        return self._run("save sends", write)

    def _index_messages(
        self, conn: sqlite3.Connection, sends: Sequence[Send], *, fresh: bool = False
    ) -> None:
        """Point each attempt's provider message id at its send (replacing old entries).

        ``fresh``: every send was inserted just now, so none has old entries to remove.
        """
        if not fresh:
            for chunk in _chunks([s.id for s in sends]):
                conn.execute(
                    "DELETE FROM send_messages WHERE send_pk IN "
                    f"(SELECT pk FROM sends WHERE id IN ({_marks(len(chunk))}))",
                    chunk,
                )
        keys = [(p, m, s.id) for s in sends for p, m in _message_keys(s)]
        if keys:
            conn.executemany(
                "INSERT OR REPLACE INTO send_messages (provider, message_id, send_pk) "
                "SELECT ?, ?, pk FROM sends WHERE id = ?",
                keys,
            )

    def _apply_parked(self, conn: sqlite3.Connection, send: Send) -> Send:
        keys = _message_keys(send)
        if not keys:
            return send
        for provider, message_id in keys:
            rows = conn.execute(
                "SELECT pk, provider, data FROM events WHERE parked = 1 AND message_id = ? "
                "ORDER BY pk",
                (message_id,),
            ).fetchall()
            applied = []
            for pk, event_provider, data in rows:
                if provider in ("", event_provider):
                    send = send.apply(_event(data))
                    applied.append((pk,))
            conn.executemany("UPDATE events SET parked = 0 WHERE pk = ?", applied)
        return send

    def get_send(self, send_id: str) -> Send:
        """The send with that id.

        Raises:
            NotFound: No send has that id.
        """
        rows = self._read("SELECT data FROM sends WHERE id = ?", (send_id,))
        if not rows:
            raise NotFound(f"no send {send_id!r}", value=send_id)
        return _send(rows[0][0])

    def find_send(self, provider: str, provider_message_id: str) -> Send | None:
        """The send one of whose attempts has that provider message id."""
        rows = self._read(
            "SELECT s.data FROM send_messages m JOIN sends s ON s.pk = m.send_pk "
            "WHERE m.provider IN (?, '') AND m.message_id = ? ORDER BY m.provider DESC LIMIT 1",
            (provider, provider_message_id),
        )
        return _send(rows[0][0]) if rows else None

    def iter_sends(
        self,
        campaign_id: str,
        *,
        step_id: str | None = None,
        recipient_id: str | None = None,
    ) -> Iterator[Send]:
        """A campaign's sends (of one step and/or recipient), oldest first, in pages."""
        last = 0
        while True:
            rows = self._read(
                "SELECT pk, data FROM sends WHERE campaign_id = ? "
                "AND (? IS NULL OR step_id = ?) AND (? IS NULL OR recipient_id = ?) "
                "AND pk > ? ORDER BY pk LIMIT ?",
                (campaign_id, step_id, step_id, recipient_id, recipient_id, last, _BATCH),
            )
            for row in rows:
                yield _send(row[1])
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    def claim_due_sends(
        self, worker: str, now: datetime, limit: int, *, lease: timedelta = DEFAULT_LEASE
    ) -> list[Send]:
        """Atomically reserve up to ``limit`` due sends for one worker.

        One ``BEGIN IMMEDIATE`` unit selects and marks the sends, so two
        workers (threads or processes) never get the same one.

        Raises:
            ConfigurationError: ``limit`` is negative or ``lease`` not positive.
        """
        check_claim(limit, lease)
        at = _ts(now)

        def write(conn: sqlite3.Connection) -> list[Send]:
            rows = conn.execute(
                "SELECT s.pk, s.data FROM sends s JOIN campaigns c ON c.id = s.campaign_id "
                "WHERE s.status = 'queued' AND (s.due_at IS NULL OR s.due_at <= ?) "
                "AND c.state = 'in_progress' "
                "AND (s.claim_until IS NULL OR s.claim_until <= ?) "
                "ORDER BY coalesce(s.due_at, s.created_at), s.id LIMIT ?",
                (at, at, limit),
            ).fetchall()
            until = _ts(now + lease)
            # One statement per page of keys, not one per send.
            for chunk in _chunks([row[0] for row in rows]):
                conn.execute(
                    "UPDATE sends SET claimed_by = ?, claim_until = ? "
                    f"WHERE pk IN ({_marks(len(chunk))})",
                    (worker, until, *chunk),
                )
            # Documents this adapter wrote: rebuilt without re-checking (_claimed_send).
            return [_claimed_send(_load_doc(row[1])) for row in rows]

        return self._run("claim due sends", write)

    # -- provider events -------------------------------------------------------

    def record_events(self, events: Iterable[StatusEvent]) -> EventOutcome:
        """Append events to the log and apply each new one to its attempt.

        Works in batches of events: one query finds the sends their provider
        message ids name, with each send's document; one ``INSERT OR IGNORE``
        appends the batch to the log, a dedup key already there making a
        duplicate; each send folds in its new events in arrival order; one
        ``executemany`` writes the sends back.

        A receipt for an attempt that has its provider message id already (the
        common case) is folded into the send's document as it was read
        (:func:`_fold_into_doc`), with no :class:`Send` built; any other goes
        through :meth:`Send.apply`. The outcome keeps each changed send's
        document and builds :attr:`EventOutcome.sends` from them only on request.
        """

        def write(conn: sqlite3.Connection) -> EventOutcome:
            stored = duplicates = parked = 0
            texts: dict[int, str] = {}  # by send pk, first touched first: the stored document
            ids: dict[int, str] = {}
            follow_up: dict[int, Send] = {}
            for batch in _batched(events, _BATCH):
                # By dedup key, the first of each, with its time as stored (one
                # time formatting per event serves the key, the log and the merge).
                unique: dict[str, tuple[StatusEvent, str]] = {}
                for event in batch:
                    at = _ts(event.occurred_at)
                    unique.setdefault(_dedup_key(event, _utc_iso_of(at)), (event, at))
                duplicates += len(batch) - len(unique)
                where, data = _event_sends(conn, [e for e, _ in unique.values()])
                targets: list[int | None] = []
                log_rows = []
                # Explicit pks after the last row's: the rows that get theirs are
                # the new ones (INSERT OR IGNORE skips a dedup key already logged).
                last = conn.execute("SELECT coalesce(max(pk), 0) FROM events").fetchone()[0]
                for pk, (key, (event, at)) in enumerate(unique.items(), last + 1):
                    message_id = event.provider_message_id
                    send_pk = where.get((event.provider, message_id))
                    if send_pk is None:
                        send_pk = where.get(("", message_id))
                    targets.append(send_pk)
                    log_rows.append(
                        (
                            pk,
                            key,
                            event.provider,
                            message_id,
                            int(send_pk is None),
                            _event_doc(event, at),
                        )
                    )
                before_changes = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO events (pk, dedup_key, provider, message_id, parked, "
                    "data) VALUES (?, ?, ?, ?, ?, ?)",
                    log_rows,
                )
                new = conn.total_changes - before_changes
                stored += new
                duplicates += len(log_rows) - new
                logged = (
                    None  # all of them
                    if new == len(log_rows)
                    else {
                        pk for (pk,) in conn.execute("SELECT pk FROM events WHERE pk > ?", (last,))
                    }
                )
                # The new events of each send, in arrival order; sends in the
                # order first touched.
                per_send: dict[int, list[tuple[StatusEvent, str]]] = {}
                for row, send_pk, applied in zip(log_rows, targets, unique.values(), strict=True):
                    if logged is not None and row[0] not in logged:
                        continue
                    if send_pk is None:
                        parked += 1
                    else:
                        per_send.setdefault(send_pk, []).append(applied)
                if per_send:
                    self._save_applied(conn, per_send, data, where, texts, ids, follow_up)
            return EventOutcome(
                stored=stored,
                duplicates=duplicates,
                parked=parked,
                send_ids=tuple(ids.values()),
                follow_up=tuple(follow_up[pk] for pk in ids if pk in follow_up),
                loader=lambda: [_send(text) for text in texts.values()],
            )

        return self._run("record events", write)

    def _save_applied(
        self,
        conn: sqlite3.Connection,
        per_send: Mapping[int, Sequence[tuple[StatusEvent, str]]],
        data: Mapping[int, tuple[str, str]],
        where: Mapping[tuple[str, str], int],
        texts: dict[int, str],
        ids: dict[int, str],
        follow_up: dict[int, Send],
    ) -> None:
        """Fold each send's new events (with their :func:`_ts` times) in and write it back.

        ``data`` holds each send's id and document as stored before this
        batch. Each send written is recorded in ``texts`` (its new document),
        ``ids`` and, when it now needs follow-up, ``follow_up`` (all by send pk).
        """
        rows = []
        stale = []
        for pk, applied in per_send.items():
            send_id, stored = data[pk]
            split = _split_doc(stored)
            send = before = None  # the general path's send, once an event needs it
            for event, at in applied:
                if send is None:
                    if split is not None and _fold_into_attempts(split.attempts, event, at):
                        continue
                    doc = _load_doc(stored)
                    if split is not None:
                        doc["a"] = split.attempts  # with the events folded in so far
                    send = before = _stored_send(doc)
                send = send.apply(event)
            ids.setdefault(pk, send_id)
            if send is None:
                assert split is not None
                status, reason, sent_on = _attempts_columns(split.attempts, split.policy)
                text = split.text()
                if status is DeliveryStatus.HARD_BOUNCED or (
                    status is DeliveryStatus.QUEUED
                    and split.attempts[-1].get("s") == "soft_bounced"
                ):
                    follow_up[pk] = _stored_send(_load_doc(text))
                else:
                    follow_up.pop(pk, None)
            else:
                assert before is not None
                status, reason, sent_on = send.status, send_reason(send), _ots(send.sent_on)
                text = _send_doc(send)
                if needs_follow_up(send):
                    follow_up[pk] = send
                else:
                    follow_up.pop(pk, None)
                # An attempt without a provider gains one from its first event:
                # re-index a send unless its message ids are the ones it had and
                # all point to it.
                keys = _message_keys(send)
                if keys != _message_keys(before) or any(where.get(k) != pk for k in keys):
                    stale.append(send)
            texts[pk] = text
            rows.append((status._value_, reason, sent_on, text, pk))
        conn.executemany(
            "UPDATE sends SET status = ?, reason = ?, sent_on = ?, data = ? WHERE pk = ?", rows
        )
        if stale:
            self._index_messages(conn, stale)

    def iter_events(
        self, *, provider: str | None = None, provider_message_id: str | None = None
    ) -> Iterator[StatusEvent]:
        """The raw event log, in arrival order, in pages."""
        last = 0
        while True:
            rows = self._read(
                "SELECT pk, data FROM events WHERE (? IS NULL OR provider = ?) "
                "AND (? IS NULL OR message_id = ?) AND pk > ? ORDER BY pk LIMIT ?",
                (provider, provider, provider_message_id, provider_message_id, last, _BATCH),
            )
            for row in rows:
                yield _event(row[1])
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    def iter_parked_events(self) -> Iterator[StatusEvent]:
        """Events still waiting for an attempt with their provider message id."""
        last = 0
        while True:
            rows = self._read(
                "SELECT pk, data FROM events WHERE parked = 1 AND pk > ? ORDER BY pk LIMIT ?",
                (last, _BATCH),
            )
            for row in rows:
                yield _event(row[1])
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    # -- inbound messages ------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> bool:
        """Store a reply; False when the same (provider, id) was stored already."""

        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO inbound (provider, message_id, account, data, sender, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    message.provider,
                    message.provider_message_id,
                    message.account,
                    _inbound_doc(message),
                    message.sender.e164,
                    _ts(message.received_at),
                ),
            )
            return cursor.rowcount == 1

        return self._run("record an inbound message", write)

    def iter_inbound(self, *, account: str | None = None) -> Iterator[InboundMessage]:
        """Stored replies (of one account, or all), in arrival order, in pages."""
        last = 0
        while True:
            rows = self._read(
                "SELECT pk, data FROM inbound WHERE (? IS NULL OR account = ?) AND pk > ? "
                "ORDER BY pk LIMIT ?",
                (account, account, last, _BATCH),
            )
            for row in rows:
                yield _inbound(row[1])
            if len(rows) < _BATCH:
                return
            last = rows[-1][0]

    # -- aggregates ------------------------------------------------------------

    def count_sends(
        self, campaign_id: str, *, by: Sequence[str] = ("step", "status")
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's sends with one ``GROUP BY`` query.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, SEND_GROUPS)
        columns = [_SEND_GROUP_COLUMNS[n] for n in names]
        select = ", ".join([*columns, "count(*)"])
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        join = (
            " JOIN recipients r ON r.campaign_id = s.campaign_id AND r.contact_id = s.recipient_id"
            if "list" in names
            else ""
        )
        # Only each recipient's latest send of each step counts (a requeue or a
        # resend after START replaces the earlier outcome, it does not add one).
        # One grouped scan of the campaign's sends (sends_latest) finds the
        # latest of each recipient and step; the join fetches just those rows.
        latest = (
            " JOIN (SELECT max(pk) AS pk FROM sends WHERE campaign_id = ?"
            " GROUP BY recipient_id, step_id) latest ON latest.pk = s.pk"
        )
        rows = self._read(
            f"SELECT {select} FROM sends s{latest}{join} WHERE s.campaign_id = ?{group}",
            (campaign_id, campaign_id),
        )
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}

    def count_recipients(
        self, campaign_id: str, *, by: Sequence[str] = ("status",)
    ) -> dict[tuple[str, ...], int]:
        """Count a campaign's recipients with one ``GROUP BY`` query.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, RECIPIENT_GROUPS)
        columns = [_RECIPIENT_GROUP_COLUMNS[n] for n in names]
        select = ", ".join([*columns, "count(*)"])
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        rows = self._read(
            f"SELECT {select} FROM recipients WHERE campaign_id = ?{group}", (campaign_id,)
        )
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}

    # -- account views -----------------------------------------------------------
    # The SMS log is read in (created_at, id) order per campaign from sends_log
    # and the account's campaigns are merged, so a first page costs a page per
    # campaign whatever the number of messages. Filters by number or recipient
    # select few rows: one query over the account's campaigns.

    def iter_sms_log(
        self,
        where: LogFilter | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
        after: LogCursor | None = None,
        limit: int | None = None,
    ) -> Iterator[Send]:
        """An account's messages by ``(created_at, id)``, filtered, after a cursor, in pages.

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        check_limit(limit)
        return self._sms_log(where or LogFilter(), account, after, limit)

    def _sms_log(
        self, where: LogFilter, account: str, after: LogCursor | None, limit: int | None
    ) -> Iterator[Send]:
        if limit == 0:
            return
        conditions, params = _log_conditions(where)
        # The keyset starts at the later of the period's start and the cursor, so
        # the index range begins there instead of filtering everything before it.
        start = ("", "") if where.since is None else (_ts(where.since), "")
        if after is not None:
            start = max(start, (_ts(after.at), after.send_id))
        page = _BATCH if limit is None else min(limit, _BATCH)
        if where.to is not None or where.contact_id is not None:
            index = "sends_log_by_number" if where.to is not None else "sends_latest"
            streams = [
                self._log_rows(
                    "s.campaign_id IN (SELECT id FROM campaigns WHERE account = ?)",
                    [account],
                    conditions,
                    params,
                    start,
                    page,
                    index,
                )
            ]
        else:
            ids = [
                row[0]
                for row in self._read(
                    "SELECT id FROM campaigns WHERE account = ? AND (? IS NULL OR id = ?) "
                    "ORDER BY id",
                    (account, where.campaign_id, where.campaign_id),
                )
            ]
            streams = [
                self._log_rows(
                    "s.campaign_id = ?", [campaign_id], conditions, params, start, page, "sends_log"
                )
                for campaign_id in ids
            ]
        rows = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_log_key)
        for count, row in enumerate(rows, 1):
            yield _send(row[2])
            if count == limit:
                return

    def _log_rows(
        self,
        scope: str,
        scope_params: list[Any],
        conditions: str,
        params: list[Any],
        start: tuple[str, str],
        page: int,
        index: str | None = None,
    ) -> Iterator[tuple[str, str, str]]:
        """``(created_at, id, data)`` rows of one scope, in log order, a keyset page at a time."""
        indexed = f" INDEXED BY {index}" if index else ""
        sql = (
            f"SELECT s.created_at, s.id, s.data FROM sends s{indexed} WHERE {scope} "
            f"AND (s.created_at, s.id) > (?, ?){conditions} ORDER BY s.created_at, s.id LIMIT ?"
        )
        last = start
        while True:
            rows = self._read(sql, (*scope_params, *last, *params, page))
            yield from rows
            if len(rows) < page:
                return
            last = (rows[-1][0], rows[-1][1])

    def iter_replies(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        sender: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[InboundMessage]:
        """An account's replies by ``received_at``, then arrival, in pages.

        Raises:
            NaiveDatetimeError: A bound is naive.
            ConfigurationError: ``until`` is not after ``since``.
        """
        check_period(since, until)
        return self._replies(account, sender, since, until)

    def _replies(
        self, account: str, sender: str | None, since: datetime | None, until: datetime | None
    ) -> Iterator[InboundMessage]:
        conditions = ""
        params: list[Any] = [account]
        if sender is not None:
            conditions += " AND sender = ?"
            params.append(sender)
        if since is not None:
            conditions += " AND received_at >= ?"
            params.append(_ts(since))
        if until is not None:
            conditions += " AND received_at < ?"
            params.append(_ts(until))
        index = "inbound_by_time" if sender is None else "inbound_by_sender"
        # The keyset starts at ``since`` (pks start at 1), so the index range does too.
        last: tuple[str, int] = ("", 0) if since is None else (_ts(since), 0)
        while True:
            rows = self._read(
                f"SELECT received_at, pk, data FROM inbound INDEXED BY {index} "
                f"WHERE account = ?{conditions} "
                "AND (received_at, pk) > (?, ?) ORDER BY received_at, pk LIMIT ?",
                (*params, *last, _BATCH),
            )
            for row in rows:
                yield _inbound(row[2])
            if len(rows) < _BATCH:
                return
            last = (rows[-1][0], rows[-1][1])

    def iter_contacts(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        consent: Consent | None = None,
        e164: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Contact]:
        """An account's contacts by id, optionally of one consent or number, in pages.

        Raises:
            ConfigurationError: ``limit`` is negative.
        """
        check_limit(limit)
        return self._contacts(account, consent, e164, after, limit)

    def _contacts(
        self,
        account: str,
        consent: Consent | None,
        e164: str | None,
        after: str | None,
        limit: int | None,
    ) -> Iterator[Contact]:
        conditions = ""
        params: list[Any] = [account]
        if consent is not None:
            conditions += " AND c.consent = ?"
            params.append(Consent(consent).value)
        if e164 is not None:
            conditions += " AND c.e164 = ?"
            params.append(e164)
        # A number has few contacts: find them by number, then order those by id.
        indexed = " INDEXED BY contacts_by_number" if e164 is not None else ""
        last = after or ""
        left = limit
        while left is None or left > 0:
            page = _BATCH if left is None else min(left, _BATCH)
            rows = self._read(
                f"SELECT {_CONTACT_COLUMNS} FROM contacts c{indexed} "
                f"WHERE c.account = ?{conditions} AND c.id > ? ORDER BY c.id LIMIT ?",
                (*params, last, page),
            )
            for row in rows:
                yield _contact(row)
            if len(rows) < page:
                return
            last = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def count_contacts(
        self, *, account: str = DEFAULT_ACCOUNT, by: Sequence[str] = ("consent",)
    ) -> dict[tuple[str, ...], int]:
        """Count an account's contacts with one ``GROUP BY`` query.

        Raises:
            ConfigurationError: ``by`` names an unknown field.
        """
        names = check_groups(by, CONTACT_GROUPS)
        columns = [_CONTACT_GROUP_COLUMNS[n] for n in names]
        select = ", ".join([*columns, "count(*)"])
        group = f" GROUP BY {', '.join(columns)}" if columns else ""
        rows = self._read(f"SELECT {select} FROM contacts WHERE account = ?{group}", (account,))
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1]}

    # -- eligibility pushed into SQL --
    # The default rules as one query per step (providers/_sql_eligibility.py);
    # each method answers exactly what smscampaign.eligibility.Eligibility
    # answers over iter_recipients() with the account's suppression list.

    def decide_step(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> Iterator[Decision]:
        """Decide one step for every recipient of a campaign, in one query.

        The default rules run in SQLite: one query streams each recipient's
        reasons, in the order recipients were added; the recipients (with
        their sends) are built a page at a time. Finish reading before
        writing what you read.

        Args:
            campaign: The campaign (its steps and options are used as given).
            step: The step, or its id.
            now: The moment of the decision (aware).
            suppressed_account: The account whose suppression list applies
                (default: the campaign's).
            rules: The rules; any list other than :data:`DEFAULT_RULES` is
                evaluated in Python by :class:`Eligibility` over
                :meth:`iter_recipients`.

        Returns:
            A lazy iterator of decisions, as :meth:`Eligibility.decide` gives.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, custom = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account, rules=rules
        )
        if custom is not None:
            engine = self._in_python(campaign, the_step, now, account, custom)
            return engine.decide(self.iter_recipients(campaign.id))
        return self._decide_in_sql(self._step_query(campaign, the_step, now, account))

    def pending_step_ids(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
    ) -> Iterator[str]:
        """The ids of the recipients pending for a step, in order, from one query.

        The cheap form of :meth:`decide_step` for a runner that only needs
        who gets the message: no recipient objects are built.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, _ = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account
        )
        return self._pending_ids(self._step_query(campaign, the_step, now, account))

    def _pending_ids(self, query: StepQuery) -> Iterator[str]:
        cursor = self._cursor(query.pending_sql, query.params)
        try:
            while rows := cursor.fetchmany(_BATCH):
                for row in rows:
                    yield row[0]
        finally:
            cursor.close()

    def count_step_reasons(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> ReasonCounts:
        """Count who is pending for a step and how many each reason excludes, in SQL.

        One ``GROUP BY`` over the decision query: SQLite returns one row per
        distinct combination of reasons, never a row per recipient.

        Args:
            campaign: The campaign.
            step: The step, or its id.
            now: The moment of the decision (aware).
            suppressed_account: The account whose suppression list applies
                (default: the campaign's).
            rules: The rules; other than the defaults, counted in Python.

        Returns:
            The counts, as :meth:`Eligibility.counts` gives (reasons in first-met order).

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, custom = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account, rules=rules
        )
        if custom is not None:
            python = self._in_python(campaign, the_step, now, account, custom)
            return python.counts(self.iter_recipients(campaign.id))
        query = self._step_query(campaign, the_step, now, account)
        cursor = self._cursor(query.counts_sql, query.params)
        try:
            groups = cursor.fetchall()
        finally:
            cursor.close()
        total = sum(row[1] for row in groups)
        eligible = sum(row[1] for row in groups if row[0] == 0)
        return ReasonCounts(total, eligible, query.ordered_counts(groups))

    def summarize_step(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> StepSummary:
        """Who is pending for a step and how many each combination of reasons excludes, at once.

        :meth:`pending_step_ids` and :meth:`count_step_reasons` from one
        query instead of two: SQLite computes each recipient's reasons once and
        streams its id and a bit mask, in the order recipients were added.

        Args:
            campaign: The campaign.
            step: The step, or its id.
            now: The moment of the decision (aware).
            suppressed_account: The account whose suppression list applies
                (default: the campaign's).
            rules: The rules; other than the defaults, decided in Python.

        Returns:
            The summary, as :meth:`Eligibility.summarize` gives it.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, custom = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account, rules=rules
        )
        if custom is not None:
            python = self._in_python(campaign, the_step, now, account, custom)
            return python.summarize(self.iter_recipients(campaign.id))
        query = self._step_query(campaign, the_step, now, account)
        cursor = self._cursor(query.masks_sql, query.params)
        try:
            return query.summary(cursor)
        finally:
            cursor.close()

    def count_step_combinations(
        self,
        campaign: Campaign,
        step: Step | str,
        *,
        now: datetime,
        suppressed_account: str | None = None,
    ) -> dict[tuple[ReasonLike, ...], int]:
        """Count the recipients of a step per exact combination of reasons, in SQL.

        The same ``GROUP BY`` as :meth:`count_step_reasons`, with the
        combinations kept apart: a recipient excluded for two reasons counts
        once, under the pair; ``()`` counts the pending recipients. The
        runner compares these between evaluations to tell whether anyone's
        lasting reasons changed (see docs/runner.md).

        Returns:
            Recipients per tuple of reasons (in report order), as counting
            ``decision.reasons`` over :meth:`Eligibility.decide` gives.

        Raises:
            InvalidCampaign: The step is not one of the campaign's.
            NaiveDatetimeError: ``now`` is naive.
        """
        the_step, account, _ = step_request(
            campaign, step, now=now, suppressed_account=suppressed_account
        )
        query = self._step_query(campaign, the_step, now, account)
        cursor = self._cursor(query.counts_sql, query.params)
        try:
            groups = cursor.fetchall()
        finally:
            cursor.close()
        return {query.reasons(row[0]): row[1] for row in groups}

    def _step_query(self, campaign: Campaign, step: Step, now: datetime, account: str) -> StepQuery:
        return StepQuery(
            campaign,
            step,
            now=now,
            account=account,
            recipient_columns=f"r.status, r.response, r.list_name, r.fields, {_CONTACT_COLUMNS}",
        )

    def _cursor(self, sql: str, params: Mapping[str, Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _translate(exc, "read") from exc

    def _suppressed(self, account: str) -> frozenset[str]:
        return frozenset(row[0] for row in self._read(
            "SELECT e164 FROM suppressions WHERE account = ?", (account,)
        ))  # fmt: skip

    def _in_python(
        self, campaign: Campaign, step: Step, now: datetime, account: str, rules: Sequence[Rule]
    ) -> Eligibility:
        """The engine for a step with host rules, which SQL cannot decide.

        Built at the call, not on first read, so a rule list that is not
        Rules fails there.
        """
        suppressed = self._suppressed(account)
        return Eligibility(campaign, step, now=now, suppressed=suppressed, rules=rules)

    def _decide_in_sql(self, query: StepQuery) -> Iterator[Decision]:
        campaign_id = query.campaign.id
        width = query.recipient_width
        cursor = self._cursor(query.decisions_sql, query.params)
        try:
            while rows := cursor.fetchmany(_BATCH):
                recipients = self._recipients(campaign_id, [row[:width] for row in rows], True)
                for row, recipient in zip(rows, recipients, strict=True):
                    yield query.decision(recipient, row)
        finally:
            cursor.close()


# Column names come from these fixed tables, never from the caller.
_SEND_GROUP_COLUMNS = {"step": "s.step_id", "status": "s.status", "reason": "s.reason",
                       "list": "r.list_name"}  # fmt: skip
_RECIPIENT_GROUP_COLUMNS = {"status": "status", "response": "response", "list": "list_name"}
_CONTACT_GROUP_COLUMNS = {"consent": "consent"}


def _log_conditions(where: LogFilter) -> tuple[str, list[Any]]:
    """The SQL conditions (each starting `` AND``) and parameters of a log filter."""
    sql = ""
    params: list[Any] = []
    for column, value in (
        ("s.campaign_id = ?", where.campaign_id),
        ("s.step_id = ?", where.step_id),
        ("s.to_e164 = ?", where.to),
        ("s.recipient_id = ?", where.contact_id),
        ("s.created_at >= ?", _ots(where.since)),
        ("s.created_at < ?", _ots(where.until)),
    ):
        if value is not None:
            sql += f" AND {column}"
            params.append(value)
    if where.statuses is not None:
        statuses = sorted(s.value for s in where.statuses)
        sql += f" AND s.status IN ({_marks(len(statuses))})"
        params += statuses
    return sql, params


def _log_key(row: tuple[str, str, str]) -> tuple[str, str]:
    return (row[0], row[1])


_UPSERT_CONTACT = (
    "INSERT INTO contacts (account, id, e164, region, kind, verified, zones, first_name, "
    "last_name, email, fields, consent, time_zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account, id) DO UPDATE SET e164 = excluded.e164, region = excluded.region, "
    "kind = excluded.kind, verified = excluded.verified, zones = excluded.zones, "
    "first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email, "
    "fields = excluded.fields, consent = excluded.consent, time_zone = excluded.time_zone"
)
_INSERT_RECIPIENT = (
    "INSERT OR IGNORE INTO recipients (campaign_id, contact_pk, contact_id, status, response, "
    "list_name, fields) SELECT ?, pk, ?, ?, ?, ?, ? FROM contacts WHERE account = ? AND id = ?"
)
_INSERT_CONTACT_AT = (  # with the pk given
    "INSERT OR IGNORE INTO contacts (pk, account, id, e164, region, kind, verified, zones, "
    "first_name, last_name, email, fields, consent, time_zone) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_RECIPIENT_AT = (  # with the contact's pk given
    "INSERT OR IGNORE INTO recipients (campaign_id, contact_pk, contact_id, status, response, "
    "list_name, fields) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_SEND = (
    "INSERT INTO sends (id, campaign_id, recipient_id, step_id, status, reason, created_at, "
    "due_at, sent_on, data, to_e164) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET campaign_id = excluded.campaign_id, "
    "recipient_id = excluded.recipient_id, step_id = excluded.step_id, status = excluded.status, "
    "reason = excluded.reason, created_at = excluded.created_at, due_at = excluded.due_at, "
    "sent_on = excluded.sent_on, data = excluded.data, to_e164 = excluded.to_e164, "
    "claimed_by = NULL, claim_until = NULL"
)
# _UPSERT_SEND for a send whose fixed columns (campaign, recipient, step, creation
# time, number) are unchanged: the indexes on those columns are not rewritten.
_SAVE_SEND = (
    "INSERT INTO sends (id, campaign_id, recipient_id, step_id, status, reason, created_at, "
    "due_at, sent_on, data, to_e164) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, "
    "due_at = excluded.due_at, sent_on = excluded.sent_on, data = excluded.data, "
    "claimed_by = NULL, claim_until = NULL "
    "WHERE campaign_id = excluded.campaign_id AND recipient_id = excluded.recipient_id "
    "AND step_id = excluded.step_id AND created_at = excluded.created_at "
    "AND to_e164 = excluded.to_e164"
)
_SELECT_RECIPIENTS = (
    "SELECT r.pk, r.contact_id, r.status, r.response, r.list_name, r.fields, "
    f"{_CONTACT_COLUMNS} FROM recipients r JOIN contacts c ON c.pk = r.contact_pk"
)


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _translate(exc: sqlite3.Error, what: str) -> StorageError:
    """One of our errors for a driver error (the caller chains it with ``from``)."""
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        if "UNIQUE" in text or "PRIMARY KEY" in text:
            return AlreadyExists(f"cannot {what}: {text}", value=text)
        if "FOREIGN KEY" in text:
            return NotFound(f"cannot {what}: a referenced row is missing ({text})", value=text)
    return StorageError(f"cannot {what}: {exc}", value=str(exc))
