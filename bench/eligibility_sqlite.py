"""Benchmark eligibility pushed into SQL: 1,000,000 recipients of a reminder step in SQLite.

``eligibility-sqlite``: the recipients of ``bench/eligibility.py`` (the same
mix of statuses, consents, responses, invite outcomes, duplicates,
suppressed numbers, landlines, unverified numbers and a missing field) are
stored in a :class:`~smscampaign.providers.sqlite.SQLiteStorage` file, with
the unsubscribed numbers on the suppression list. The question timed is what
an operator asks before sending the first reminder: *who gets it, and how many
does each reason exclude?*

``ours_s`` times :meth:`SQLiteStorage.summarize_step`: one query computes
every recipient's reasons and streams its id and reason mask; the pending ids
and the count per reason come from that one pass. ``two_queries_s`` times the
same answer from :meth:`SQLiteStorage.count_step_reasons` (one ``GROUP BY``)
plus :meth:`SQLiteStorage.pending_step_ids` (one query streaming the ids),
for information.

The baseline is what a user would hand-write with pandas (the ``dev``
extra): ``pandas.read_sql`` of the same tables (recipients joined to
contacts, the campaign's sends of the invite and the reminder with the
columns the rules read, the suppression list), then one boolean mask per
rule, the pending ids and the count per reason: the same output as ours,
per recipient and not only counts. It is favoured, if anything: it covers
only what this data set needs (e.g. it takes a received invite's
``sent_on`` without the delivery-time fallback, and a first name from the
contact without looking for one among the recipient's own fields). Both
answers are compared before anything is printed.

``ratio`` is ``baseline_s / ours_s`` (bench/_common.py's convention), so
the target "ours no slower than pandas" is ``ratio >= 1.0``;
``ours_over_baseline`` gives the same figure the other way up (target <= 1.0).
``decide_s`` adds the time of the full :meth:`SQLiteStorage.decide_step`
stream (decisions with their recipient objects), for information.

Building the file through the storage's own write path takes a minute or
two (``build_s``); pass ``--db PATH`` to build it once and reuse it (the file
is built only when missing).

Run: ``.venv/bin/python bench/eligibility_sqlite.py [N] [--db PATH]``
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eligibility as memory_bench
from _common import emit, peak_mb

from smscampaign.domain.contact import Recipient, Suppression, SuppressionCause
from smscampaign.domain.phone import NO_SMS_KINDS
from smscampaign.eligibility import Reason, ReasonCounts
from smscampaign.providers.sqlite import SQLiteStorage

N = memory_bench.N
STEP = "reminder-1"
CHUNK = 50_000


def _chunk(start: int, stop: int) -> list[Recipient]:
    out = []
    for i in range(start, stop):
        recipient = memory_bench._recipient(i)
        # The memory bench's clones share their prototype's send ids; a store needs their own.
        sends = tuple(
            memory_bench._clone(s, id=f"{recipient.id}:{s.step_id}") for s in recipient.sends
        )
        out.append(memory_bench._clone(recipient, sends=sends))
    return out


def build(path: Path, n: int) -> None:
    """Store the campaign, ``n`` recipients with their sends, and the suppression list."""
    storage = SQLiteStorage(path)
    storage.add_campaign(memory_bench.CAMPAIGN)
    for start in range(0, n, CHUNK):
        chunk = _chunk(start, min(n, start + CHUNK))
        storage.add_recipients(chunk)
        storage.save_sends([s for r in chunk for s in r.sends])
    with storage.transaction():
        for e164 in sorted(memory_bench.suppression_list(n)):
            storage.suppress(
                Suppression(e164=e164, cause=SuppressionCause.STOP_WORD, at=memory_bench.NOW)
            )
    storage.close()


def ours(storage: SQLiteStorage) -> tuple[ReasonCounts, list[str]]:
    """Counts per reason and the pending ids, from one query (summarize_step)."""
    summary = storage.summarize_step(memory_bench.CAMPAIGN, STEP, now=memory_bench.NOW)
    return summary.counts, list(summary.pending)


def two_queries(storage: SQLiteStorage) -> tuple[ReasonCounts, list[str]]:
    """The same from two queries: counts per reason (GROUP BY), then the pending ids."""
    campaign = memory_bench.CAMPAIGN
    counts = storage.count_step_reasons(campaign, STEP, now=memory_bench.NOW)
    pending = list(storage.pending_step_ids(campaign, STEP, now=memory_bench.NOW))
    return counts, pending


def pandas_path(path: Path) -> tuple[dict[Reason, int], list[str]]:
    """The hand-written pandas version: read_sql of the same tables, one mask per rule."""
    import sqlite3

    import pandas as pd

    campaign = memory_bench.CAMPAIGN
    step = campaign.step(STEP)
    cutoff = (memory_bench.NOW - step.delay).isoformat(timespec="microseconds")
    conn = sqlite3.connect(path)
    try:
        people = pd.read_sql(
            "SELECT r.contact_id, r.status, r.response, c.e164, c.kind, c.verified, c.consent, "
            "c.first_name, coalesce(json_extract(r.fields, '$.survey_link'), "
            "json_extract(c.fields, '$.survey_link')) AS survey_link "
            "FROM recipients r JOIN contacts c ON c.pk = r.contact_pk "
            "WHERE r.campaign_id = ? ORDER BY r.pk",
            conn,
            params=(campaign.id,),
        )
        sends = pd.read_sql(
            "SELECT recipient_id, step_id, status, reason, sent_on, created_at, "
            "to_e164 AS to_ FROM sends "
            "WHERE campaign_id = ? AND step_id IN (?, ?) ORDER BY pk",
            conn,
            params=(campaign.id, "invite", STEP),
        )
        suppressed = pd.read_sql(
            "SELECT e164 FROM suppressions WHERE account = ?", conn, params=(campaign.account,)
        )
    finally:
        conn.close()

    masks: dict[Reason, Any] = {
        Reason.INACTIVE: people.status == "inactive",
        Reason.REMOVED: people.status == "removed",
        Reason.UNSUBSCRIBED: people.status == "unsubscribed",
        Reason.SUPPRESSED: people.e164.isin(suppressed.e164),
        Reason.NOT_OPTED_IN: people.consent == "pending_opt_in",
        Reason.OPTED_OUT: people.consent == "opted_out",
        Reason.NOT_SMS_CAPABLE: people.kind.isin([k.value for k in NO_SMS_KINDS]),
        Reason.UNVERIFIED_NUMBER: people.verified == 0,
        Reason.DUPLICATE_NUMBER: people.e164.duplicated(keep="first"),
    }
    this = sends[(sends.step_id == STEP) & ~sends.status.isin(["skipped", "canceled"])]
    this = this.merge(people[["contact_id", "e164"]], left_on="recipient_id", right_on="contact_id")
    permanent = (this.status == "hard_bounced") | (
        (this.status == "soft_bounced")
        & this.reason.isin(
            ["invalid_number", "landline", "carrier_filtered", "opted_out_at_carrier"]
        )
    )
    counted = this[(this.to_ == this.e164) | ~permanent]
    masks[Reason.ALREADY_SENT] = people.contact_id.isin(counted.recipient_id)
    link = people.survey_link.fillna("").str.strip() == ""
    name = people.first_name.fillna("").str.strip() == ""
    masks[Reason.MISSING_FIELD] = link | name
    masks[Reason.RESPONSE_COMPLETE] = people.response == "complete"
    masks[Reason.DISQUALIFIED] = people.response == "disqualified"
    invites = sends[(sends.step_id == "invite") & (sends.status == "delivered")]
    invites = invites.drop_duplicates("recipient_id", keep="last")
    received = invites.sent_on.fillna(invites.created_at)
    received_on = people.contact_id.map(pd.Series(received.values, index=invites.recipient_id))
    masks[Reason.PREVIOUS_NOT_RECEIVED] = received_on.isna()
    masks[Reason.NOT_YET_DUE] = received_on.notna() & (received_on > cutoff)

    excluded = pd.concat(masks, axis=1).any(axis=1)
    pending = people.contact_id[~excluded].tolist()
    return {reason: int(mask.sum()) for reason, mask in masks.items() if mask.any()}, pending


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    """Build (or reuse) the file, measure both paths, check they agree, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=N)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "eligibility.db"
        build_s = None
        if not path.exists():
            start = time.perf_counter()
            build(path, args.n)
            build_s = round(time.perf_counter() - start, 1)
        storage = SQLiteStorage(path)
        ours_s, (counts, pending) = _best(lambda: ours(storage), args.repeat)
        baseline_s, (base_counts, base_pending) = _best(lambda: pandas_path(path), args.repeat)
        two_s, (two_counts, two_pending) = _best(lambda: two_queries(storage), 1)
        if pending != base_pending or dict(counts.by_reason) != base_counts:
            raise SystemExit(
                f"SQL and pandas disagree: {len(pending)} vs {len(base_pending)} pending, "
                f"{dict(counts.by_reason)} vs {base_counts}"
            )
        if (two_counts, two_pending) != (counts, pending):
            raise SystemExit("summarize_step and count_step_reasons + pending_step_ids disagree")
        start = time.perf_counter()
        decided = sum(
            1 for _ in storage.decide_step(memory_bench.CAMPAIGN, STEP, now=memory_bench.NOW)
        )
        decide_s = time.perf_counter() - start
        peak = peak_mb(lambda: ours(storage))
        storage.close()
    emit(
        "eligibility-sqlite",
        n=counts.total,
        ours_s=ours_s,
        baseline="pandas: read_sql of recipients+contacts, sends and suppressions, "
        "one boolean mask per default rule, pending ids and counts per reason",
        baseline_s=baseline_s,
        target="ours no slower than the pandas path: ours/baseline <= 1.0 (ratio >= 1.0)",
        peak_mb=peak,
        ours_over_baseline=round(ours_s / baseline_s, 2),
        two_queries_s=round(two_s, 3),
        build_s=build_s,
        eligible=counts.eligible,
        decide_s=round(decide_s, 3),
        decided=decided,
        met=ours_s <= baseline_s,
    )


if __name__ == "__main__":
    main()
