"""The default eligibility rules compiled into one SQLite query per step.

:mod:`smscampaign.eligibility` compiles the default rules into one fused
Python pass; this module compiles the same rules into SQL, so
:class:`~smscampaign.providers.sqlite.SQLiteStorage` can decide a step where
the rows live: one query streams a mask of reasons per recipient (in the
order recipients were added), and one ``GROUP BY`` over the same query counts
them. The rule objects stay the reference: a property-based test
(``tests/storage/test_sql_eligibility.py``) checks that the query decides
exactly as :class:`~smscampaign.eligibility.Eligibility` does over
:meth:`~smscampaign.providers.sqlite.SQLiteStorage.iter_recipients`.

How each rule reads the schema
------------------------------
* contact status, response: ``recipients.status`` / ``.response``.
* suppression: ``suppressions`` (primary key ``(account, e164)``) for the
  campaign's account, probed once per recipient.
* consent, number kind, verified flag: ``contacts`` columns.
* duplicates: the numbers held by more than one recipient of the campaign
  and each one's first holder (lowest ``recipients.pk``: the stream order)
  are found by one ``GROUP BY ... HAVING count(*) > 1``, small in practice.
* already sent: the step's sends (``sends.status``, and ``sends.reason`` for
  the permanence of a soft bounce's failure reason); the address a send went
  to is read from its JSON document only for a send that failed permanently.
* missing field: ``json_extract`` on the recipient's and the contact's
  ``fields`` documents, one per placeholder, with the standard fields read
  from their columns; blank means only Python's ``str.isspace`` characters.
* previous received / not yet due: the newest received send of the previous
  step, through the index of sends by recipient; its "sent on" is
  ``sends.sent_on``, else the earliest attempt delivery time in the JSON
  document, else ``sends.created_at``. Stored times are fixed-width UTC
  strings, so "received at least the delay ago" is one string comparison.

No schema change is needed: every column read above already exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from smscampaign.domain.campaign import Campaign, Step, StepKind
from smscampaign.domain.contact import Consent, ContactStatus, Recipient, ResponseStatus
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Permanence
from smscampaign.domain.phone import NO_SMS_KINDS
from smscampaign.eligibility import Decision, PreviousOutcome, Reason, ReasonLike, due_after

__all__ = ["BLANK", "StepQuery"]

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


class _Params:
    """Named parameters collected while the SQL text is written."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"

    def many(self, values: tuple[str, ...]) -> str:
        return ", ".join(self.add(value) for value in values)


class StepQuery:
    """The default rules for one step of one campaign, as SQL over SQLiteStorage's schema.

    Args:
        campaign: The campaign (its options and steps are read from here).
        step: The step decided (one of the campaign's).
        now: The moment of the decision (aware).
        account: The account whose suppression list applies.
        recipient_columns: The recipient and contact columns to select before
            the decision columns (``r.`` and ``c.`` prefixed).
    """

    def __init__(
        self,
        campaign: Campaign,
        step: Step,
        *,
        now: datetime,
        account: str,
        recipient_columns: str,
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
        p = _Params()
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
        static = [
            f"(CASE r.status {status_bits} ELSE 0 END)",
            f"(CASE WHEN EXISTS (SELECT 1 FROM suppressions x WHERE x.account = {p.add(account)} "
            f"AND x.e164 = c.e164) THEN {b[Reason.SUPPRESSED]} ELSE 0 END)",
            f"(CASE c.consent WHEN {p.add(Consent.OPTED_OUT.value)} THEN {b[Reason.OPTED_OUT]} "
            f"WHEN {p.add(Consent.PENDING_OPT_IN.value)} THEN {pending_bit} ELSE 0 END)",
            f"(CASE WHEN c.kind IN ({p.many(tuple(sorted(k.value for k in NO_SMS_KINDS)))}) "
            f"THEN {b[Reason.NOT_SMS_CAPABLE]} ELSE 0 END)",
        ]
        if not options.allow_unverified_numbers:
            static.append(f"(CASE WHEN c.verified THEN 0 ELSE {b[Reason.UNVERIFIED_NUMBER]} END)")
        # A send of this step counts unless skipped or canceled; one to an earlier
        # number counts unless it failed permanently (eligibility.counts_as_sent).
        static.append(
            "(CASE WHEN EXISTS (SELECT 1 FROM sends s INDEXED BY sends_by_recipient "
            f"WHERE s.campaign_id = {campaign_id} AND s.recipient_id = r.contact_id "
            f"AND s.step_id = {p.add(step.id)} "
            f"AND s.status NOT IN ({p.many(('skipped', 'canceled'))}) "
            f"AND ((s.status <> {p.add('hard_bounced')} "
            f"AND NOT (s.status = {p.add('soft_bounced')} "
            f"AND s.reason IN ({p.many(_PERMANENT_REASONS)}))) "
            f"OR json_extract(s.data, '$.to') = c.e164)) THEN {b[Reason.ALREADY_SENT]} ELSE 0 END)"
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
            path = p.add(f'$."{name}"')
            fallback = _STANDARD_SQL.get(name, f"json_extract(c.fields, {path})")
            missing_terms.append(
                f"(CASE WHEN trim(coalesce(json_extract(r.fields, {path}), {fallback}, ''), "
                f"{blank}) = '' THEN {1 << index} ELSE 0 END)"
            )
        missing = " | ".join(missing_terms) or "0"

        received = "NULL"
        outcome = "NULL"
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
            # The newest received send's "sent on" (eligibility.received_on).
            received = (
                "(SELECT coalesce(s.sent_on, (SELECT min(json_extract(a.value, '$.dlv')) "
                "FROM json_each(s.data, '$.a') a), s.created_at) "
                "FROM sends s INDEXED BY sends_by_recipient "
                f"WHERE s.campaign_id = {campaign_id} AND s.recipient_id = r.contact_id "
                f"AND s.step_id = {previous_id} AND s.status IN ({p.many(received_statuses)}) "
                "ORDER BY s.pk DESC LIMIT 1)"
            )
            # What became of the newest send that went out, when none was received.
            outcome = (
                "(CASE WHEN received_on IS NULL THEN (SELECT s.status FROM sends s "
                f"INDEXED BY sends_by_recipient WHERE s.campaign_id = {campaign_id} "
                f"AND s.recipient_id = contact_id AND s.step_id = {previous_id} "
                f"AND s.status IN ({p.many(other_statuses)}) ORDER BY s.pk DESC LIMIT 1) END)"
            )
            self.cutoff = _ts(now.astimezone(_UTC) - step.delay)
            previous_bits = (
                f"(CASE WHEN received_on IS NULL THEN {b[Reason.PREVIOUS_NOT_RECEIVED]} "
                f"WHEN received_on > {p.add(self.cutoff)} THEN {b[Reason.NOT_YET_DUE]} ELSE 0 END)"
            )
        else:
            previous_bits = "0"

        duplicate_bit = "0"
        first_holder = "NULL"
        duplicates = ""
        join_duplicates = ""
        if self.dedup:
            duplicates = (
                "WITH dup AS MATERIALIZED (SELECT c.e164 AS e164, min(r.pk) AS first_pk "
                "FROM recipients r JOIN contacts c ON c.pk = r.contact_pk "
                f"WHERE r.campaign_id = {campaign_id} GROUP BY c.e164 HAVING count(*) > 1) "
            )
            first_holder = "d.first_pk"
            join_duplicates = " LEFT JOIN dup d ON d.e164 = c.e164"
            duplicate_bit = (
                f"(CASE WHEN first_pk IS NOT NULL AND first_pk <> pk "
                f"THEN {b[Reason.DUPLICATE_NUMBER]} ELSE 0 END)"
            )

        # The inner query reads each recipient once; its window function keeps
        # SQLite from flattening it into the outer one, which would evaluate
        # each correlated subquery once per mention instead of once per row.
        def inner(columns: str) -> str:
            return (
                f"SELECT r.pk AS pk, r.contact_id AS contact_id, {columns}"
                f"{' | '.join(static)} AS static_mask, {missing} AS missing, "
                f"{first_holder} AS first_pk, {received} AS received_on, "
                "row_number() OVER () AS fence "
                "FROM recipients r JOIN contacts c ON c.pk = r.contact_pk"
                f"{join_duplicates} WHERE r.campaign_id = {campaign_id}"
            )

        mask = (
            f"static_mask | {duplicate_bit} | {previous_bits} "
            f"| (CASE WHEN missing <> 0 THEN {b[Reason.MISSING_FIELD]} ELSE 0 END)"
        )
        holder = (
            "(CASE WHEN first_pk IS NOT NULL AND first_pk <> pk "
            "THEN (SELECT h.contact_id FROM recipients h WHERE h.pk = first_pk) END)"
        )
        self.params = p.values
        #: How many leading columns of a decision row are the recipient's.
        self.recipient_width = 2 + len(recipient_columns.split(","))
        self.decisions_sql = (
            f"{duplicates}SELECT *, {mask} AS mask, {holder} AS duplicate_of, "
            f"{outcome} AS outcome FROM ({inner(recipient_columns + ', ')}) ORDER BY pk"
        )
        self.pending_sql = (
            f"{duplicates}SELECT contact_id FROM ({inner('')}) WHERE {mask} = 0 ORDER BY pk"
        )
        self.counts_sql = (
            f"{duplicates}SELECT {mask} AS mask, count(*), min(pk) FROM ({inner('')}) GROUP BY mask"
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
