"""The default eligibility rules compiled into SQL, one statement per question and step.

:mod:`smscampaign.eligibility` compiles the default rules into one fused
Python pass; this module compiles the same rules into SQL, so
:class:`~smscampaign.providers.sqlite.SQLiteStorage` can decide a step where
the rows live. :class:`StepQuery` writes four statements over the same
rules: every recipient's decision row (:attr:`~StepQuery.decisions_sql`),
every recipient's id and mask of reasons (:attr:`~StepQuery.masks_sql`, the
pending ids and the counts from one pass), the pending ids alone
(:attr:`~StepQuery.pending_sql`) and one ``GROUP BY`` per combination of
reasons (:attr:`~StepQuery.counts_sql`), each in the order recipients were
added. The rule objects stay the reference: a property-based test
(``tests/storage/test_sql_eligibility.py``) checks that the queries decide
exactly as :class:`~smscampaign.eligibility.Eligibility` does, compiled and
rule by rule, over
:meth:`~smscampaign.providers.sqlite.SQLiteStorage.iter_recipients`.
:class:`~smscampaign.providers.postgres.PostgresStorage` runs the same queries
in its :class:`Dialect` (``tests/storage/test_sql_eligibility_postgres.py``).

How each rule reads the schema
------------------------------
* the recipients: ``recipients_in_order`` (campaign, pk; schema version 5),
  so each contact row, and each recipient's sends in the index below, are
  read near the previous ones.
* contact status, response: ``recipients.status`` / ``.response``.
* suppression: the account's ``suppressions``, read once into a lookup table
  (``e164 IN (SELECT ...)``).
* consent, number kind, verified flag: ``contacts`` columns.
* duplicates: the numbers held by more than one recipient of the campaign
  and each one's first holder (lowest ``recipients.pk``: the stream order)
  are found by one ``GROUP BY ... HAVING count(*) > 1``, small in practice.
* already sent: the step's sends (``sends.status``, ``sends.reason`` for the
  permanence of a soft bounce's failure reason, ``sends.to_e164``).
* missing field: ``json_extract`` on the recipient's and the contact's
  ``fields`` documents, one per placeholder, with the standard fields read
  from their columns; blank means only Python's ``str.isspace`` characters.
* previous received / not yet due: the newest received send of the previous
  step; its "sent on" is ``sends.sent_on``, else the earliest attempt
  delivery time in the JSON document, else ``sends.created_at``. Stored
  times are fixed-width UTC strings, so "received at least the delay ago" is
  one string comparison.

A recipient's sends are read through ``sends_latest`` (campaign, recipient,
step, then pk): a few adjacent index entries per recipient, oldest first.

Cost
----
Every statement evaluates each correlated subquery once per recipient. The
decision rows need values (the received time, which fields are missing), so
:attr:`~StepQuery.decisions_sql` computes them in an inner query kept from
being flattened. The other three need only the mask, whose terms each
mention their subquery once, so they are flat; in the counting statements
one walk over a recipient's sends gives both ALREADY_SENT and the previous
step's bits, and :attr:`~StepQuery.pending_sql` tests the terms cheapest
first and stops at the first reason found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from smscampaign.domain._time import require_aware
from smscampaign.domain.campaign import Campaign, Step, StepKind
from smscampaign.domain.contact import Consent, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Permanence
from smscampaign.domain.phone import NO_SMS_KINDS
from smscampaign.eligibility import (
    DEFAULT_RULES,
    Decision,
    PreviousOutcome,
    Reason,
    ReasonLike,
    Rule,
    StepSummary,
    checked_step,
    due_after,
)

__all__ = ["BLANK", "SQLITE", "Dialect", "StepQuery", "step_request"]

_UTC = timezone.utc

#: The characters ``str.strip()`` removes (``str.isspace``), for SQL's ``trim``:
#: a value made only of these is blank, as :meth:`Template.missing` says.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# One bit per reason, in report order (the same layout as the fused Python pass).
_BIT: Mapping[Reason, int] = {reason: 1 << index for index, reason in enumerate(Reason)}

# A standard placeholder's value when the recipient's own fields lack it.
_STANDARD_SQL: Mapping[str, str] = {
    "first_name": "c.first_name",
    "last_name": "c.last_name",
    "email": "c.email",
    "phone": "c.e164",
    "full_name": "(CASE WHEN c.first_name <> '' AND c.last_name <> '' "
    "THEN c.first_name || ' ' || c.last_name ELSE c.first_name || c.last_name END)",
}

_OUTCOMES: Mapping[str | None, PreviousOutcome] = {
    None: PreviousOutcome.NOT_SENT,
    DeliveryStatus.SENT.value: PreviousOutcome.NO_RECEIPT,
    DeliveryStatus.QUEUED.value: PreviousOutcome.IN_PROGRESS,
    DeliveryStatus.SENDING.value: PreviousOutcome.IN_PROGRESS,
    DeliveryStatus.SOFT_BOUNCED.value: PreviousOutcome.FAILED,
    DeliveryStatus.HARD_BOUNCED.value: PreviousOutcome.FAILED,
}

_NOT_YET_DUE = _BIT[Reason.NOT_YET_DUE]
_PREVIOUS_NOT_RECEIVED = _BIT[Reason.PREVIOUS_NOT_RECEIVED]

_PERMANENT_REASONS = tuple(
    reason.value for reason in FailureReason if reason.permanence is Permanence.PERMANENT
)


def _ts(moment: datetime) -> str:
    # The storage's time format: fixed-width UTC, so strings sort like instants.
    return moment.astimezone(_UTC).isoformat(timespec="microseconds")


class Dialect:
    """What the rules' SQL says differently in one database: SQLite here.

    :class:`StepQuery` writes one query for every SQL storage; a subclass
    overrides the few expressions its database writes otherwise
    (PostgreSQL's is in :mod:`smscampaign.providers.postgres`).
    """

    def mark(self, name: str) -> str:
        """The placeholder of a named parameter."""
        return f":{name}"

    def json_key(self, name: str) -> str:
        """The parameter value naming a top-level key for :meth:`json_text`."""
        return f'$."{name}"'

    def json_text(self, document: str, key: str) -> str:
        """The text under key ``key`` (a placeholder) of a JSON column."""
        return f"json_extract({document}, {key})"

    def trim(self, text: str, characters: str) -> str:
        """``text`` without the ``characters`` (a placeholder) at either end."""
        return f"trim({text}, {characters})"

    def blank(self, text: str, characters: str) -> str:
        """True when ``text`` is made only of ``characters`` (a placeholder), or empty."""
        return f"{self.trim(text, characters)} = ''"

    def first_delivery(self, send: str) -> str:
        """The earliest delivery time in the attempts of send alias ``send``'s document."""
        return f"(SELECT min(json_extract(a.value, '$.dlv')) FROM json_each({send}.data, '$.a') a)"

    def sent_to(self, send: str) -> str:
        """The number send alias ``send`` went to."""
        return f"{send}.to_e164"

    def indexed_by(self, index: str) -> str:
        """The clause naming the index a table is read through (nothing where none is)."""
        return f" INDEXED BY {index}"

    def modulo(self, number: str, divisor: str) -> str:
        """The remainder of ``number`` divided by ``divisor`` (both SQL expressions)."""
        return f"({number} % {divisor})"


class _SQLiteDialect(Dialect):
    """SQLite's own refinements of the portable expressions above."""

    def blank(self, text: str, characters: str) -> str:
        # Not blank when some character is outside the set. GLOB stops at the
        # first such character; trim() decodes the set afresh for every value
        # and was a tenth of the query's cost. The pattern is built once.
        return f"NOT ({text} GLOB '*[^' || {characters} || ']*')"


SQLITE: Dialect = _SQLiteDialect()
"""SQLiteStorage's dialect."""


class _Params:
    """Named parameters collected while the SQL text is written."""

    def __init__(self, dialect: Dialect) -> None:
        self.values: dict[str, Any] = {}
        self.mark = dialect.mark

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return self.mark(name)

    def many(self, values: tuple[str, ...]) -> str:
        return ", ".join(self.add(value) for value in values)


def step_request(
    campaign: Campaign,
    step: Step | str,
    *,
    now: datetime,
    suppressed_account: str | None,
    rules: Sequence[Rule] | None = None,
) -> tuple[Step, str, tuple[Rule, ...] | None]:
    """What an adapter's step query needs, checked as :class:`Eligibility` checks it.

    Returns:
        The campaign's step, the account whose suppression list applies (the
        campaign's by default), and the rules to evaluate in Python instead
        of SQL: None for the default rules, the only ones pushed into SQL.

    Raises:
        InvalidCampaign: The step is not one of the campaign's.
        NaiveDatetimeError: ``now`` is naive.
    """
    the_step = checked_step(campaign, step)
    require_aware(now, "now")
    account = campaign.account if suppressed_account is None else suppressed_account
    custom = None if rules is None or tuple(rules) == DEFAULT_RULES else tuple(rules)
    return the_step, account, custom


class StepQuery:
    """The default rules for one step of one campaign, as SQL over SQLiteStorage's schema.

    PostgresStorage's schema is the same; ``dialect`` says how its SQL differs.

    Args:
        campaign: The campaign (its options and steps are read from here).
        step: The step decided (one of the campaign's).
        now: The moment of the decision (aware).
        account: The account whose suppression list applies.
        recipient_columns: The recipient and contact columns to select before
            the decision columns (``r.`` and ``c.`` prefixed).
        dialect: The database's :class:`Dialect` (SQLite's by default).

    Attributes:
        params: The named parameters of every statement below.
        decisions_sql: Every recipient's decision row (:meth:`decision` reads it).
        masks_sql: Every recipient's ``(contact_id, mask)`` (:meth:`summary` reads them).
        pending_sql: The pending recipients' ids.
        counts_sql: ``(mask, count, first pk)`` per combination of reasons.
    """

    def __init__(
        self,
        campaign: Campaign,
        step: Step,
        *,
        now: datetime,
        account: str,
        recipient_columns: str,
        dialect: Dialect = SQLITE,
    ) -> None:
        self.campaign = campaign
        self.step = step
        self.previous = campaign.previous_step(step.id)
        self.now = now
        options = campaign.options
        self.dedup = options.deduplicate_numbers
        self.is_reminder = step.kind is StepKind.REMINDER
        self.delay = step.delay
        self.placeholders = step.body.missing({})
        p = _Params(dialect)
        d = dialect
        campaign_id = p.add(campaign.id)
        b = _BIT

        status_bits = " ".join(
            f"WHEN {p.add(status.value)} THEN {b[reason]}"
            for status, reason in (
                (ContactStatus.INACTIVE, Reason.INACTIVE),
                (ContactStatus.REMOVED, Reason.REMOVED),
                (ContactStatus.UNSUBSCRIBED, Reason.UNSUBSCRIBED),
            )
        )
        pending_bit = 0 if options.allow_pending_opt_in else b[Reason.NOT_OPTED_IN]
        # Terms read from the recipient's and contact's own columns, then terms
        # that look rows up elsewhere: pending_sql tests them in this order and
        # stops at the first that excludes a recipient.
        static = [
            f"(CASE r.status {status_bits} ELSE 0 END)",
            f"(CASE c.consent WHEN {p.add(Consent.OPTED_OUT.value)} THEN {b[Reason.OPTED_OUT]} "
            f"WHEN {p.add(Consent.PENDING_OPT_IN.value)} THEN {pending_bit} ELSE 0 END)",
            f"(CASE WHEN c.kind IN ({p.many(tuple(sorted(k.value for k in NO_SMS_KINDS)))}) "
            f"THEN {b[Reason.NOT_SMS_CAPABLE]} ELSE 0 END)",
        ]
        if not options.allow_unverified_numbers:
            static.append(f"(CASE WHEN c.verified THEN 0 ELSE {b[Reason.UNVERIFIED_NUMBER]} END)")
        # The suppression list is read once into a lookup table, not probed by
        # (account, e164) for every recipient.
        lookups = [
            f"(CASE WHEN c.e164 IN (SELECT x.e164 FROM suppressions x WHERE x.account = "
            f"{p.add(account)}) THEN {b[Reason.SUPPRESSED]} ELSE 0 END)"
        ]
        # A recipient's sends of one step, oldest first, straight from the index.
        sends_of_step = (
            f"FROM sends s{d.indexed_by('sends_latest')} WHERE s.campaign_id = {campaign_id} "
            "AND s.recipient_id = r.contact_id AND s.step_id = "
        )
        # A send of this step counts unless skipped or canceled; one to an earlier
        # number counts unless it failed permanently (eligibility.counts_as_sent).
        this_step = p.add(step.id)
        counts_as_sent = (
            f"s.status NOT IN ({p.many(('skipped', 'canceled'))}) "
            f"AND ((s.status <> {p.add('hard_bounced')} "
            f"AND NOT (s.status = {p.add('soft_bounced')} "
            f"AND s.reason IN ({p.many(_PERMANENT_REASONS)}))) "
            f"OR {d.sent_to('s')} = c.e164)"
        )
        already_sent = (
            f"(CASE WHEN EXISTS (SELECT 1 {sends_of_step}{this_step} AND {counts_as_sent}) "
            f"THEN {b[Reason.ALREADY_SENT]} ELSE 0 END)"
        )
        if self.is_reminder:
            disqualified_bit = 0 if options.remind_disqualified else b[Reason.DISQUALIFIED]
            static.append(
                f"(CASE r.response WHEN {p.add(ResponseStatus.COMPLETE.value)} "
                f"THEN {b[Reason.RESPONSE_COMPLETE]} "
                f"WHEN {p.add(ResponseStatus.DISQUALIFIED.value)} THEN {disqualified_bit} "
                "ELSE 0 END)"
            )
        elif step.kind is StepKind.THANK_YOU:
            static.append(
                f"(CASE WHEN r.response = {p.add(ResponseStatus.COMPLETE.value)} "
                f"THEN 0 ELSE {b[Reason.NOT_COMPLETE]} END)"
            )

        blank = p.add(BLANK) if self.placeholders else ""
        missing_terms = []
        for index, name in enumerate(self.placeholders):
            path = p.add(d.json_key(name))
            fallback = _STANDARD_SQL.get(name, d.json_text("c.fields", path))
            value = f"coalesce({d.json_text('r.fields', path)}, {fallback}, '')"
            missing_terms.append(
                f"(CASE WHEN {d.blank(value, blank)} THEN {1 << index} ELSE 0 END)"
            )
        missing = " | ".join(missing_terms) or "0"

        received = "NULL"
        outcome = "NULL"
        previous_bits = "0"
        sends_term = already_sent
        self.cutoff = ""
        if self.is_reminder and self.previous is not None:
            previous_id = p.add(self.previous.id)
            received_statuses = (
                ("delivered", "sent") if options.accept_sent_as_received else ("delivered",)
            )
            other_statuses = tuple(
                status
                for status in ("sent", "queued", "sending", "soft_bounced", "hard_bounced")
                if status not in received_statuses
            )
            self.cutoff = _ts(now.astimezone(_UTC) - step.delay)
            cutoff = p.add(self.cutoff)
            # The newest received send's "sent on" (eligibility.received_on).
            received_on = f"coalesce(s.sent_on, {d.first_delivery('s')}, s.created_at)"
            newest_received = (
                f"{sends_of_step}{previous_id} AND s.status IN ({p.many(received_statuses)}) "
                "ORDER BY s.pk DESC LIMIT 1"
            )
            received = f"(SELECT {received_on} {newest_received})"
            # What became of the newest send that went out, when none was received.
            outcome = (
                "(CASE WHEN received_on IS NULL THEN (SELECT s.status FROM sends s"
                f"{d.indexed_by('sends_latest')} WHERE s.campaign_id = {campaign_id} "
                f"AND s.recipient_id = contact_id AND s.step_id = {previous_id} "
                f"AND s.status IN ({p.many(other_statuses)}) ORDER BY s.pk DESC LIMIT 1) END)"
            )
            previous_bits = (
                f"(CASE WHEN received_on IS NULL THEN {b[Reason.PREVIOUS_NOT_RECEIVED]} "
                f"WHEN received_on > {cutoff} THEN {b[Reason.NOT_YET_DUE]} ELSE 0 END)"
            )
            # For the flat queries, ALREADY_SENT and the previous step's bits from
            # one walk over the recipient's sends: the newest received send is the
            # one with the highest pk, so the highest 2 * pk + (1 if not yet due)
            # finds it, and its parity says whether it is due.
            newest_received = (
                f"max(CASE WHEN s.step_id = {previous_id} "
                f"AND s.status IN ({p.many(received_statuses)}) THEN 2 * s.pk "
                f"+ (CASE WHEN {received_on} > {cutoff} THEN 1 ELSE 0 END) END)"
            )
            sends_term = (
                f"(SELECT coalesce(max(CASE WHEN s.step_id = {this_step} AND {counts_as_sent} "
                f"THEN {b[Reason.ALREADY_SENT]} ELSE 0 END), 0) "
                f"| coalesce({d.modulo(newest_received, '2')} "
                f"* {b[Reason.NOT_YET_DUE]}, {b[Reason.PREVIOUS_NOT_RECEIVED]}) "
                f"FROM sends s{d.indexed_by('sends_latest')} "
                f"WHERE s.campaign_id = {campaign_id} AND s.recipient_id = r.contact_id)"
            )

        in_order = d.indexed_by("recipients_in_order")
        duplicate_bit = "0"
        duplicate_term = ""
        first_holder = "CAST(NULL AS BIGINT)"
        duplicates = ""
        join_duplicates = ""
        if self.dedup:
            duplicates = (
                "WITH dup AS MATERIALIZED (SELECT c.e164 AS e164, min(r.pk) AS first_pk "
                f"FROM recipients r{in_order} JOIN contacts c ON c.pk = r.contact_pk "
                f"WHERE r.campaign_id = {campaign_id} GROUP BY c.e164 HAVING count(*) > 1) "
            )
            first_holder = "d.first_pk"
            join_duplicates = " LEFT JOIN dup d ON d.e164 = c.e164"
            duplicate_bit = (
                f"(CASE WHEN first_pk IS NOT NULL AND first_pk <> pk "
                f"THEN {b[Reason.DUPLICATE_NUMBER]} ELSE 0 END)"
            )
            duplicate_term = (
                f"(CASE WHEN d.first_pk IS NOT NULL AND d.first_pk <> r.pk "
                f"THEN {b[Reason.DUPLICATE_NUMBER]} ELSE 0 END)"
            )
        # Recipients in the order they were added (recipients_in_order: campaign,
        # pk), so each contact row and each recipient's sends lie near the last.
        recipients = (
            f"FROM recipients r{in_order} JOIN contacts c ON c.pk = r.contact_pk"
            f"{join_duplicates} WHERE r.campaign_id = {campaign_id}"
        )
        missing_term = (
            f"(CASE WHEN {missing} <> 0 THEN {b[Reason.MISSING_FIELD]} ELSE 0 END)"
            if missing_terms
            else ""
        )

        # Decisions need the inner query's values (the received time, the missing
        # fields) as well as the mask. The inner query reads each recipient once;
        # its window function keeps SQLite (and PostgreSQL) from flattening it
        # into the outer one, which would evaluate each correlated subquery once
        # per mention, not per row.
        def inner(columns: str) -> str:
            return (
                f"SELECT r.pk AS pk, r.contact_id AS contact_id, {columns}"
                f"{' | '.join([*static, *lookups, already_sent])} AS static_mask, "
                f"{missing} AS missing, "
                f"{first_holder} AS first_pk, {received} AS received_on, "
                f"row_number() OVER () AS fence {recipients}"
            )

        mask = (
            f"static_mask | {duplicate_bit} | {previous_bits} "
            f"| (CASE WHEN missing <> 0 THEN {b[Reason.MISSING_FIELD]} ELSE 0 END)"
        )
        holder = (
            "(CASE WHEN first_pk IS NOT NULL AND first_pk <> pk "
            "THEN (SELECT h.contact_id FROM recipients h WHERE h.pk = first_pk) END)"
        )
        # Counts and pending ids need only the mask, each of whose terms mentions
        # its subquery once: one flat query, no inner one to buffer. Pending tests
        # the terms cheapest first and stops at the first reason it finds.
        terms = [*static, duplicate_term, missing_term, *lookups, sends_term]
        terms = [term for term in terms if term]
        self.params = p.values
        #: How many leading columns of a decision row are the recipient's.
        self.recipient_width = 2 + len(recipient_columns.split(","))
        self.decisions_sql = (
            f"{duplicates}SELECT *, {mask} AS mask, {holder} AS duplicate_of, "
            f"{outcome} AS outcome FROM ({inner(recipient_columns + ', ')}) q ORDER BY pk"
        )
        self.pending_sql = (
            f"{duplicates}SELECT r.contact_id {recipients} "
            f"AND {' AND '.join(f'{term} = 0' for term in terms)} ORDER BY r.pk"
        )
        self.counts_sql = (
            f"{duplicates}SELECT {' | '.join(terms)} AS mask, count(*), min(r.pk) {recipients} "
            "GROUP BY mask"
        )
        #: Every recipient's id and mask, in order: pending ids and counts from one pass.
        self.masks_sql = (
            f"{duplicates}SELECT r.contact_id, {' | '.join(terms)} AS mask {recipients} "
            "ORDER BY r.pk"
        )
        self._reasons: dict[int, tuple[ReasonLike, ...]] = {0: ()}

    def decision(self, recipient: Recipient, row: Sequence[Any]) -> Decision:
        """The decision for one row of :attr:`decisions_sql` and its recipient."""
        w = self.recipient_width
        mask = row[w + 5]
        if not mask:
            return Decision(recipient, self.step)
        reasons = self.reasons(mask)
        due_at = self.due_at(row[w + 3]) if mask & _NOT_YET_DUE else None
        duplicate_of = row[w + 6]
        missing = self.missing_fields(row[w + 1]) if row[w + 1] else ()
        previous = self.outcome(row[w + 7]) if mask & _PREVIOUS_NOT_RECEIVED else None
        if duplicate_of is None and not missing and previous is None:
            return Decision(recipient, self.step, reasons, due_at)
        return Decision(
            recipient, self.step, reasons, due_at, (duplicate_of, missing, previous, None)
        )

    def summary(self, rows: Iterable[Sequence[Any]]) -> StepSummary:
        """The step's summary from the ``(contact_id, mask)`` rows of :attr:`masks_sql`."""
        pending: list[str] = []
        tally: dict[int, int] = {}
        get = tally.get
        for contact_id, mask in rows:
            if not mask:
                pending.append(contact_id)
            tally[mask] = get(mask, 0) + 1
        return StepSummary(
            tuple(pending), {self.reasons(mask): count for mask, count in tally.items()}
        )

    def reasons(self, mask: int) -> tuple[ReasonLike, ...]:
        """The reasons a mask stands for, in report order (one shared tuple per mask)."""
        found = self._reasons.get(mask)
        if found is None:
            found = self._reasons[mask] = tuple(r for r in Reason if mask & _BIT[r])
        return found

    def missing_fields(self, bits: int) -> tuple[str, ...]:
        """The placeholders a missing-field mask stands for, in template order."""
        return tuple(name for index, name in enumerate(self.placeholders) if bits >> index & 1)

    @staticmethod
    def outcome(status: str | None) -> PreviousOutcome:
        """What happened to the previous message, from its newest send's status."""
        return _OUTCOMES[status]

    def due_at(self, received_on: str) -> datetime:
        """When the step becomes due, from the previous message's stored "sent on"."""
        return due_after(datetime.fromisoformat(received_on), self.delay)

    def ordered_counts(self, rows: Iterable[Sequence[int]]) -> dict[ReasonLike, int]:
        """Counts per reason from ``(mask, count, first pk)`` groups, in first-met order."""
        by_reason: dict[ReasonLike, int] = {}
        for mask, count, _ in sorted(rows, key=lambda row: row[2]):
            for reason in self.reasons(mask):
                by_reason[reason] = by_reason.get(reason, 0) + count
        return by_reason
