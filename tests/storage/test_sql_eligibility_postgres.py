"""Eligibility pushed into SQL: PostgresStorage decides a step exactly as the in-memory engine.

The scenarios are ``test_sql_eligibility``'s (the SQLite comparison); here
they are stored in PostgreSQL, one schema emptied between examples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

import pytest

pytest.importorskip("psycopg", reason="needs the postgres extra: pip install -e '.[postgres]'")

from hypothesis import HealthCheck, given, settings
from test_sql_eligibility import _campaign, _Quiet, _recipient, _reference, _scenario

from smscampaign.domain.campaign import Campaign
from smscampaign.domain.contact import Recipient, Suppression
from smscampaign.eligibility import DEFAULT_RULES, Reason
from smscampaign.errors import InvalidCampaign, NaiveDatetimeError
from smscampaign.providers.postgres import PostgresStorage
from smscampaign.testing.strategies import EPOCH

pytestmark = pytest.mark.postgres

_TABLES = (
    "lapsed_claims, inbound, events, message_locks, send_messages, sends, recipients, "
    "campaigns, suppression_removals, suppressions, contacts"
)


@pytest.fixture(scope="module")
def shared(postgres_url: str, postgres_schema: Callable[[], str]) -> Iterator[PostgresStorage]:
    """One storage for the module's examples, in a schema of its own."""
    storage = PostgresStorage(postgres_url, schema=postgres_schema(), max_size=2)
    yield storage
    storage.close()


def _store(
    storage: PostgresStorage,
    campaign: Campaign,
    recipients: Sequence[Recipient],
    suppressions: Sequence[Suppression],
) -> PostgresStorage:
    """The storage emptied, then holding the scenario."""
    with storage._connection() as conn:
        conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY")  # type: ignore[call-overload]
    storage.add_campaign(campaign)
    storage.add_recipients(recipients)
    storage.save_sends({s.id: s for r in recipients for s in r.sends}.values())
    for suppression in suppressions:
        storage.suppress(suppression)
    return storage


class TestAgreement:
    """On generated campaigns, the PostgreSQL query decides every step as the in-memory engine."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_scenario())
    def test_decisions_and_counts_agree(
        self,
        shared: PostgresStorage,
        scenario: tuple[Campaign, list[Recipient], list[Suppression], datetime],
    ) -> None:
        """Same reasons in the same order, same specifics, same counts, same pending ids."""
        campaign, recipients, suppressions, now = scenario
        storage = _store(shared, campaign, recipients, suppressions)
        for step in campaign.steps:
            reference = _reference(storage, campaign, step, now)
            expected = list(reference.decide(storage.iter_recipients(campaign.id)))
            got = list(storage.decide_step(campaign, step, now=now))
            assert got == expected
            assert [d.findings for d in got] == [d.findings for d in expected]
            counts = _reference(storage, campaign, step, now).counts(
                storage.iter_recipients(campaign.id)
            )
            sql_counts = storage.count_step_reasons(campaign, step.id, now=now)
            assert sql_counts == counts
            assert list(sql_counts.by_reason) == list(counts.by_reason)
            combinations: dict[tuple[object, ...], int] = {}
            for decision in expected:
                combinations[decision.reasons] = combinations.get(decision.reasons, 0) + 1
            assert storage.count_step_combinations(campaign, step, now=now) == combinations
            pending = [d.recipient.id for d in expected if d.eligible]
            assert list(storage.pending_step_ids(campaign, step, now=now)) == pending


class TestRulesAndArguments:
    """Host rules run in Python; bad arguments fail at the call; pages stream past one page."""

    def test_custom_rules_run_in_python(self, shared: PostgresStorage) -> None:
        """The host rule's reason appears; the default rules given explicitly stay in SQL."""
        campaign = _campaign()
        people = [_recipient("a", "+12125550101", "Tom"), _recipient("b", "+12125550102", "Ann")]
        storage = _store(shared, campaign, people, [])
        rules = [*DEFAULT_RULES, _Quiet()]
        got = list(storage.decide_step(campaign, "invite", now=EPOCH, rules=rules))
        assert [d.reasons for d in got] == [(Reason.INACTIVE,), ()]
        counts = storage.count_step_reasons(campaign, "invite", now=EPOCH, rules=rules)
        assert (counts.total, counts.eligible, counts[Reason.INACTIVE]) == (2, 1, 1)
        explicit = list(storage.decide_step(campaign, "invite", now=EPOCH, rules=DEFAULT_RULES))
        assert explicit == list(storage.decide_step(campaign, "invite", now=EPOCH))

    def test_bad_arguments(self, shared: PostgresStorage) -> None:
        """An unknown step raises InvalidCampaign, a naive time NaiveDatetimeError."""
        storage = _store(shared, _campaign(), [], [])
        with pytest.raises(InvalidCampaign):
            storage.decide_step(_campaign(), "nope", now=EPOCH)
        with pytest.raises(InvalidCampaign):
            storage.pending_step_ids(_campaign(), "nope", now=EPOCH)
        with pytest.raises(NaiveDatetimeError):
            storage.count_step_reasons(_campaign(), "invite", now=datetime(2026, 3, 2))

    def test_decisions_stream_past_a_page(self, shared: PostgresStorage) -> None:
        """More recipients than a cursor page: every decision, in order, with its recipient."""
        campaign = _campaign()
        people = [_recipient(f"r{n:04d}", f"+1212555{n:04d}", "Ann") for n in range(1234)]
        storage = _store(shared, campaign, people, [])
        got = list(storage.decide_step(campaign, "invite", now=EPOCH))
        assert [d.recipient.id for d in got] == [p.id for p in people]
        assert all(d.eligible for d in got)
        assert list(storage.pending_step_ids(campaign, "invite", now=EPOCH)) == [
            p.id for p in people
        ]
