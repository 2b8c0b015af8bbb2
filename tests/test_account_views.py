"""Account views end to end on InMemoryStorage and SQLiteStorage.

The SMS log (seed 001), the consent report (seed 001 "SMS Status"), the
suppression list and its lifting (seed 004), a contact's timeline (seed 002)
and the campaigns overview (seed 003), through the Python API.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign.account import (
    CONSENT_HEADER,
    SMS_LOG_HEADER,
    SUPPRESSION_HEADER,
    consent_totals,
    contact_timeline,
    export_consent,
    export_sms_log,
    export_suppressions,
    iter_pending_opt_in,
    iter_sms_log,
    iter_suppression_list,
    lift_suppression,
    log_entry,
    lookup_number,
    sms_log_page,
    stage_statuses,
)
from smscampaign.domain.contact import Consent, ContactStatus, Recipient, Suppression
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, Send, StatusEvent
from smscampaign.domain.replies import InboundMessage, Keyword
from smscampaign.errors import (
    ConfigurationError,
    NaiveDatetimeError,
    NotFound,
    SuppressionLiftRefused,
)
from smscampaign.providers.base import LogCursor, LogFilter, Storage
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.reporting import (
    OVERVIEW_COUNTS,
    OVERVIEW_HEADER,
    campaigns_overview,
    delivery_stats,
    overview_rows,
)
from smscampaign.testing.contracts import T0, make_campaign, make_contact
from smscampaign.testing.strategies import (
    EPOCH,
    AccountHistory,
    account_histories,
    log_filters,
    reply_texts,
)

FACTORIES: dict[str, Callable[[], Storage]] = {
    "memory": InMemoryStorage,
    "sqlite": lambda: SQLiteStorage(":memory:"),
}
BOTH = pytest.mark.parametrize("make", list(FACTORIES.values()), ids=list(FACTORIES))
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=list(FACTORIES))
def storage(request: pytest.FixtureRequest) -> Storage:
    """An empty storage of each kind."""
    return FACTORIES[request.param]()


def _add(storage: Storage, campaign_id: str, numbers: range, account: str = "default") -> None:
    campaign = make_campaign(campaign_id, account=account).schedule(at=T0).start(at=T0)
    storage.add_campaign(campaign)
    storage.add_recipients(
        Recipient(campaign_id=campaign_id, contact=make_contact(n, account=account))
        for n in numbers
    )


def _send(campaign_id: str, n: int, step: str = "invite", minutes: int = 0, **kw: object) -> Send:
    return Send(
        campaign_id=campaign_id,
        recipient_id=f"c{n}",
        step_id=step,
        to=make_contact(n).phone.e164,
        created_at=T0 + timedelta(minutes=minutes),
        body=f"Hi {n}",
        id=f"{campaign_id}:{step}:{n}",
        **kw,  # type: ignore[arg-type]
    )


def _went_out(send: Send, message_id: str, at: datetime, status: str = "delivered") -> Send:
    send = send.start_attempt(at=at)
    send = send.apply(
        StatusEvent(
            provider="simulated", provider_message_id=message_id, status="sending", occurred_at=at
        )
    )
    if status == "hard_bounced":
        return send.apply(
            StatusEvent.failure(
                provider="simulated",
                provider_message_id=message_id,
                occurred_at=at,
                reason=FailureReason.LANDLINE,
                provider_code="30006",
            )
        )
    return send.apply(
        StatusEvent(
            provider="simulated", provider_message_id=message_id, status=status, occurred_at=at
        )
    )


def _reply(
    n: int, body: str, at: datetime, message_id: str, account: str = "default"
) -> InboundMessage:
    return InboundMessage(
        provider="simulated",
        provider_message_id=message_id,
        sender=make_contact(n).phone,
        recipient="+12125550199",
        body=body,
        received_at=at,
        raw={},
        account=account,
    )


def _expected_log(history: AccountHistory, where: LogFilter) -> list[Send]:
    """The log computed from the history alone: the reference for every adapter."""
    latest = {s.id: s for s in history.sends}
    return sorted(
        (s for s in latest.values() if where.matches(s)), key=lambda s: (s.created_at, s.id)
    )


# --- the SMS log ------------------------------------------------------------------------


class TestSmsLogPages:
    """Pages of the log, read through cursors, join up into the whole log in time order."""

    @BOTH
    @HYPOTHESIS
    @given(
        history=account_histories(),
        data=st.data(),
        size=st.integers(1, 7),
    )
    def test_pages_concatenate_to_the_log(
        self, make: Callable[[], Storage], history: AccountHistory, data: st.DataObject, size: int
    ) -> None:
        """For any filter and page size, the pages are the unpaginated log, in log order."""
        numbers = st.sampled_from(sorted({r.contact.phone.e164 for r in history.recipients}))
        contacts = st.sampled_from(sorted({r.id for r in history.recipients}))
        where = data.draw(log_filters(numbers=numbers, contact_ids=contacts))
        storage = make()
        history.load(storage)
        whole = list(storage.iter_sms_log(where))
        assert whole == _expected_log(history, where)
        keys = [(s.created_at, s.id) for s in whole]
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)
        pages: list[Send] = []
        after: LogCursor | None = None
        while True:
            page = sms_log_page(storage, where, size=size, after=after)
            assert len(page.entries) <= size
            pages += [entry.send for entry in page.entries]
            if page.next is None:
                break
            assert len(page.entries) == size
            after = LogCursor.parse(page.next.token)  # a client hands the token back
        assert pages == whole
        assert [e.send for e in iter_sms_log(storage, where)] == whole
        assert list(storage.iter_sms_log(where, account="another")) == []

    def test_a_page_names_campaigns_and_the_next_cursor(self, storage: Storage) -> None:
        """A page carries each message's campaign name; the last page has no next cursor."""
        _add(storage, "a", range(3))
        storage.save_sends([_send("a", n, minutes=n) for n in range(3)])
        first = sms_log_page(storage, size=2)
        assert [e.send.id for e in first.entries] == ["a:invite:0", "a:invite:1"]
        assert {e.campaign_name for e in first.entries} == {"Campaign a"}
        assert first.next == LogCursor.after(first.entries[-1].send)
        last = sms_log_page(storage, size=2, after=first.next)
        assert [e.send.id for e in last.entries] == ["a:invite:2"]
        assert last.next is None
        with pytest.raises(ConfigurationError):
            sms_log_page(storage, size=0)


class TestSmsLogWords:
    """Each message reads in seed 001's words: stage, result and cause."""

    def test_every_status_has_its_stage(self) -> None:
        """Not Sent Yet, Sending, Sent, and Undelivered split into Ineligible / Failed."""
        queued = _send("a", 1)
        skipped = Send.skipped(
            campaign_id="a",
            recipient_id="c2",
            step_id="invite",
            to=make_contact(2).phone.e164,
            at=T0,
            reasons=["suppressed", "not_opted_in"],
        )
        bounced = _went_out(_send("a", 3), "m3", T0, "hard_bounced")
        delivered = _went_out(_send("a", 4), "m4", T0)
        canceled = _send("a", 5).cancel(at=T0)
        words = {
            s.status: (e.stage, e.result, e.cause, e.detail)
            for s in (queued, skipped, bounced, delivered, canceled)
            for e in [log_entry(s)]
        }
        assert words[DeliveryStatus.QUEUED] == ("Not Sent Yet", "Not Sent Yet", "", "")
        assert words[DeliveryStatus.CANCELED][:2] == ("Not Sent Yet", "Not Sent Yet")
        assert words[DeliveryStatus.DELIVERED][:2] == ("Sent", "Sent")
        assert words[DeliveryStatus.SKIPPED] == (
            "Undelivered",
            "Ineligible to Send",
            "On a block list; Not opted in, or consent pending",
            "suppressed; not_opted_in",
        )
        assert words[DeliveryStatus.HARD_BOUNCED] == (
            "Undelivered",
            "Failed to Send",
            "No SMS capability",
            "landline (30006)",
        )

    def test_stage_words_select_statuses(self) -> None:
        """Seed 001's words filter the log; an unknown word is refused, naming the choices."""
        assert stage_statuses(["failed to send"]) == {
            DeliveryStatus.SOFT_BOUNCED,
            DeliveryStatus.HARD_BOUNCED,
        }
        assert stage_statuses([" Sent ", "Not Sent Yet"]) == {
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.QUEUED,
            DeliveryStatus.CANCELED,
        }
        with pytest.raises(ConfigurationError, match="Bounced"):
            stage_statuses(["Bounced"])

    def test_bad_filters_are_typed_errors(self) -> None:
        """Naive bounds, an empty period, no statuses, a bad number or cursor: each named."""
        with pytest.raises(NaiveDatetimeError):
            LogFilter(since=datetime(2025, 1, 1))
        with pytest.raises(ConfigurationError, match="after since"):
            LogFilter(since=T0, until=T0)
        with pytest.raises(ConfigurationError, match="at least one"):
            LogFilter(statuses=[])
        with pytest.raises(ConfigurationError, match="nope"):
            LogFilter(statuses=["nope"])
        with pytest.raises(ConfigurationError, match=r"E\.164"):
            LogFilter(to="5550123")
        with pytest.raises(ConfigurationError, match="empty"):
            LogFilter(campaign_id="")
        with pytest.raises(ConfigurationError, match="not a log cursor"):
            LogCursor.parse("not-a-cursor")


class TestSmsLogExport:
    """The log exports as CSV, streamed, with every cell safe from formula injection."""

    def test_export_is_formula_safe(self, storage: Storage, tmp_path: Path) -> None:
        """A body or a name starting with = + - @ gets an apostrophe; times in the zone given."""
        _add(storage, "a", range(2))
        evil = attrs.evolve(_send("a", 0), body='=HYPERLINK("http://x")')
        storage.save_sends([evil, _went_out(_send("a", 1, minutes=5), "m1", T0)])
        path = tmp_path / "log.csv"
        assert export_sms_log(storage, path, time_zone="America/New_York", bom=True) == 2
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == list(SMS_LOG_HEADER)
        assert rows[1][SMS_LOG_HEADER.index("Message")] == '\'=HYPERLINK("http://x")'
        assert rows[1][0] == "2025-06-25 09:00 EDT"
        assert rows[2][SMS_LOG_HEADER.index("Delivery Stage")] == "Sent"
        buffer = io.StringIO()
        where = LogFilter(statuses=[DeliveryStatus.DELIVERED])
        assert export_sms_log(storage, buffer, where) == 1


# --- consent (seed 001 "SMS Status") ----------------------------------------------------


class TestConsent:
    """Totals per SMS status, one number's status, and the Pending Opt-In list."""

    @BOTH
    @HYPOTHESIS
    @given(consents=st.lists(st.sampled_from(Consent), max_size=30))
    def test_totals_count_every_contact(
        self, make: Callable[[], Storage], consents: list[Consent]
    ) -> None:
        """The totals are the contacts per consent, every status listed, counted in storage."""
        storage = make()
        storage.save_contacts(make_contact(n, consent=c) for n, c in enumerate(consents))
        storage.save_contacts([make_contact(99, account="other")])
        expected = Counter(consents)
        assert consent_totals(storage) == {c: expected[c] for c in Consent}
        assert list(consent_totals(storage)) == [
            Consent.PENDING_OPT_IN,
            Consent.OPTED_IN,
            Consent.OPTED_OUT,
        ]
        pending = [c.id for c in iter_pending_opt_in(storage)]
        assert pending == sorted(
            f"c{n}" for n, c in enumerate(consents) if c is Consent.PENDING_OPT_IN
        )

    def test_one_number_looked_up(self, storage: Storage) -> None:
        """Every contact of the number; the strictest consent; a STOP makes it Opted Out."""
        storage.save_contacts(
            [make_contact(1), make_contact(101, consent=Consent.PENDING_OPT_IN), make_contact(2)]
        )
        status = lookup_number(storage, make_contact(1).phone.e164)
        assert [c.id for c in status.contacts] == ["c1", "c101"]
        assert status.consent is Consent.PENDING_OPT_IN
        assert status.label == "Pending Opt-In"
        assert lookup_number(storage, "(212) 555-0102", region="US").label == "Opted In"
        storage.suppress(
            Suppression(e164=make_contact(2).phone.e164, cause="stop_word", at=T0, detail="STOP")
        )
        assert lookup_number(storage, make_contact(2).phone).label == "Opted Out"
        unknown = lookup_number(storage, "+12125550177")
        assert (unknown.consent, unknown.label, unknown.contacts) == (None, "Unknown number", ())

    def test_export_lists_status_and_suppression(self, storage: Storage) -> None:
        """One row per contact with seed 001's words; with a consent, only those contacts."""
        storage.save_contacts(
            [
                make_contact(1, consent=Consent.PENDING_OPT_IN, email="=cmd@x"),
                make_contact(2),
                make_contact(3, consent=Consent.OPTED_OUT),
            ]
        )
        storage.suppress(Suppression(e164=make_contact(3).phone.e164, cause="stop_word", at=T0))
        out = io.StringIO()
        assert export_consent(storage, out) == 3
        rows = list(csv.reader(io.StringIO(out.getvalue())))
        assert rows[0] == list(CONSENT_HEADER)
        assert [r[5] for r in rows[1:]] == ["Pending Opt-In", "Opted In", "Opted Out"]
        assert rows[1][4] == "'=cmd@x"
        assert rows[3][6] == "Replied a stop word"
        pending = io.StringIO()
        assert export_consent(storage, pending, consent=Consent.PENDING_OPT_IN) == 1


# --- the suppression list (seed 004 "Unsubscribes") ------------------------------------


class TestSuppressionList:
    """Every suppressed number with its cause, when and where from; lifting is guarded."""

    def _entries(self, storage: Storage) -> None:
        storage.save_contacts([make_contact(1), make_contact(2)])
        for n, cause, detail, campaign in (
            (1, "stop_word", "STOP please", "a"),
            (2, "hard_bounce", "30006", "b"),
            (3, "manual", "=asked by phone", None),
        ):
            storage.suppress(
                Suppression(
                    e164=make_contact(n).phone.e164,
                    cause=cause,
                    at=T0,
                    detail=detail,
                    campaign_id=campaign,
                    by="ops" if cause == "manual" else "simulated",
                )
            )

    def test_list_and_export(self, storage: Storage) -> None:
        """Entries by number with their contact; a cause filter; a neutralized CSV."""
        self._entries(storage)
        entries = list(iter_suppression_list(storage))
        assert [(e.suppression.e164, e.label) for e in entries] == [
            (make_contact(1).phone.e164, "Replied a stop word"),
            (make_contact(2).phone.e164, "Bad number"),
            (make_contact(3).phone.e164, "Added by hand"),
        ]
        assert [e.contact.id if e.contact else None for e in entries] == ["c1", "c2", None]
        manual = list(iter_suppression_list(storage, causes=["manual"]))
        assert [e.suppression.by for e in manual] == ["ops"]
        out = io.StringIO()
        assert export_suppressions(storage, out) == 3
        rows = list(csv.reader(io.StringIO(out.getvalue())))
        assert rows[0] == list(SUPPRESSION_HEADER)
        assert rows[1][3:4] + rows[1][5:7] == ["STOP please", "a", "simulated"]
        assert rows[3][3] == "'=asked by phone"

    def test_hard_bounce_and_manual_entries_lift_with_a_reason(self, storage: Storage) -> None:
        """An operator lifts a bad number or a hand-made entry; the act is logged."""
        self._entries(storage)
        removal = lift_suppression(
            storage, make_contact(2).phone.e164, by="alice", reason="number fixed", now=T0
        )
        assert (removal.by, removal.reason, removal.suppression.detail) == (
            "alice",
            "number fixed",
            "30006",
        )
        lift_suppression(storage, make_contact(3).phone, by="bob", reason="typo", now=T0)
        assert [r.by for r in storage.iter_suppression_removals()] == ["alice", "bob"]
        with pytest.raises(NotFound, match="not on the suppression list"):
            lift_suppression(storage, make_contact(2).phone.e164, by="a", reason="again")
        with pytest.raises(ConfigurationError, match="who"):
            lift_suppression(storage, make_contact(1).phone.e164, by="a", reason=" ")

    def test_a_stop_is_not_lifted_by_hand(self, storage: Storage) -> None:
        """Without the number's own START, a STOP stays, and nothing is changed or logged."""
        self._entries(storage)
        e164 = make_contact(1).phone.e164
        storage.record_inbound(_reply(1, "START", T0 - timedelta(minutes=1), "before"))
        with pytest.raises(SuppressionLiftRefused, match="stop word") as info:
            lift_suppression(storage, e164, by="alice", reason="they called us")
        assert (info.value.e164, info.value.cause) == (e164, "stop_word")
        assert e164 in str(info.value)
        assert isinstance(info.value, PermissionError)
        assert storage.get_suppression(e164) is not None
        assert list(storage.iter_suppression_removals()) == []

    def test_a_stop_lifts_after_the_numbers_own_start(self, storage: Storage) -> None:
        """A START received after the STOP lets it go; contacts and recipients come back."""
        _add(storage, "a", range(2))
        e164 = make_contact(1).phone.e164
        storage.suppress(Suppression(e164=e164, cause="stop_word", at=T0, detail="STOP"))
        storage.save_contacts([make_contact(1, consent=Consent.OPTED_OUT)])
        unsubscribed = storage.get_recipient("a", "c1").with_status(ContactStatus.UNSUBSCRIBED)
        storage.update_recipients([unsubscribed])
        storage.record_inbound(_reply(1, "start", T0 + timedelta(hours=1), "back"))
        removal = lift_suppression(storage, e164, by="alice", reason="START on file")
        assert removal.reason.startswith("START on file (opted back in: 'start' at ")
        assert storage.get_suppression(e164) is None
        assert storage.get_contact("c1").consent is Consent.OPTED_IN
        assert storage.get_recipient("a", "c1").status is ContactStatus.ACTIVE

    @BOTH
    @HYPOTHESIS
    @given(
        cause=st.sampled_from(["stop_word", "carrier_opt_out"]),
        replies=st.lists(
            st.tuples(
                reply_texts(),
                st.integers(-600, 600),
                st.sampled_from(["default", "other"]),
                st.booleans(),
            ),
            max_size=5,
        ),
    )
    def test_a_stop_never_lifts_by_hand_without_a_start(
        self,
        make: Callable[[], Storage],
        cause: str,
        replies: list[tuple[str, int, str, bool]],
    ) -> None:
        """Lifting succeeds exactly when the number itself opted in after it was suppressed."""
        storage = make()
        e164 = make_contact(1).phone.e164
        entry = Suppression(e164=e164, cause=cause, at=T0, detail="STOP")
        storage.suppress(entry)
        for index, (body, minutes, account, same_number) in enumerate(replies):
            message = _reply(1 if same_number else 2, body, T0 + timedelta(minutes=minutes),
                             f"r{index}", account)  # fmt: skip
            storage.record_inbound(message)
        opted_back = any(
            same_number
            and account == "default"
            and minutes >= 0
            and _reply(1, body, T0, "x").classify().keyword is Keyword.OPT_IN
            for body, minutes, account, same_number in replies
        )
        try:
            lift_suppression(storage, e164, by="ops", reason="asked", now=T0 + timedelta(days=1))
        except SuppressionLiftRefused:
            assert not opted_back
            assert storage.get_suppression(e164) == entry
            assert list(storage.iter_suppression_removals()) == []
        else:
            assert opted_back
            assert storage.get_suppression(e164) is None


# --- a contact's timeline (seed 002 "Conversation Timeline") ---------------------------


class TestContactTimeline:
    """A contact's messages in every campaign and their replies, in time order."""

    def test_messages_and_replies_across_campaigns(self, storage: Storage) -> None:
        """Outbound by sent-on (or queue time), replies by arrival; other contacts left out."""
        _add(storage, "a", range(3))
        _add(storage, "b", range(2))
        storage.save_sends(
            [
                _went_out(_send("a", 1), "ma1", T0 + timedelta(minutes=1)),
                _went_out(_send("b", 1, minutes=2), "mb1", T0 + timedelta(hours=3)),
                _send("a", 1, "reminder-1", minutes=30),
                _went_out(_send("a", 2), "ma2", T0),
            ]
        )
        storage.record_inbound(_reply(1, "Who is this?", T0 + timedelta(hours=1), "r1"))
        storage.record_inbound(_reply(1, "STOP", T0 + timedelta(hours=4), "r2"))
        storage.record_inbound(_reply(2, "Hi", T0 + timedelta(hours=1), "r3"))
        storage.record_inbound(_reply(1, "hello", T0, "r4", account="other"))
        items = contact_timeline(storage, "c1")
        assert [(i.direction, i.campaign_id, i.body) for i in items] == [
            ("outbound", "a", "Hi 1"),
            ("outbound", "a", "Hi 1"),
            ("reply", None, "Who is this?"),
            ("outbound", "b", "Hi 1"),
            ("reply", None, "STOP"),
        ]
        assert [i.status for i in items if i.send] == [
            DeliveryStatus.DELIVERED,
            DeliveryStatus.QUEUED,
            DeliveryStatus.DELIVERED,
        ]
        assert items[1].send is not None
        assert items[1].send.step_id == "reminder-1"
        assert items[1].result == "Not Sent Yet"
        assert items[-1].keyword is Keyword.OPT_OUT
        with pytest.raises(NotFound):
            contact_timeline(storage, "nobody")


# --- the campaigns overview (seed 003 "Campaigns > Statistics") ------------------------


class TestCampaignsOverview:
    """One row per campaign, from storage counts, agreeing with each campaign's statistics."""

    @BOTH
    @HYPOTHESIS
    @given(history=account_histories(max_replies=8))
    def test_rows_agree_with_delivery_stats(
        self, make: Callable[[], Storage], history: AccountHistory
    ) -> None:
        """Each count is delivery_stats' total; pending and invites add up to recipients."""
        storage = make()
        history.load(storage)
        rows = campaigns_overview(storage, account=history.account)
        assert [r.campaign_id for r in rows] == sorted(c.id for c in history.campaigns)
        for row in rows:
            total = delivery_stats(storage, row.campaign_id, now=EPOCH).total
            assert {n: row.count(n) for n in OVERVIEW_COUNTS} == {
                n: total.count(n) for n in OVERVIEW_COUNTS
            }
            assert row.progress == total.progress
            assert row.rate("delivered") == total.rate("delivered")
            invites = storage.count_sends(row.campaign_id, by=("step",)).get(("invite",), 0)
            assert row.count("pending") + invites == row.count("recipients")
            assert row.count("recipients") == sum(
                1 for r in history.recipients if r.campaign_id == row.campaign_id
            )
        assert campaigns_overview(storage, account="another") == []

    def test_csv_rows_are_safe_and_complete(self, storage: Storage) -> None:
        """The overview as CSV: one row per campaign, names neutralized, rates as fractions."""
        campaign = attrs.evolve(make_campaign("a"), name="=1+1").schedule(at=T0).start(at=T0)
        storage.add_campaign(campaign)
        storage.add_recipients(
            Recipient(campaign_id="a", contact=make_contact(n)) for n in range(2)
        )
        storage.save_sends([_went_out(_send("a", 0), "m0", T0)])
        [row] = campaigns_overview(storage)
        assert row.state.value == "in_progress"
        with pytest.raises(ConfigurationError, match="sent_without_receipt"):
            row.count("sent_without_receipt")
        [cells] = overview_rows([row])
        assert len(cells) == len(OVERVIEW_HEADER)
        values = dict(zip(OVERVIEW_HEADER, cells, strict=True))
        assert values["Name"] == "'=1+1"
        assert values["State"] == "In Progress"
        assert (values["Recipients"], values["Progress"], values["Delivered rate"]) == (
            "2",
            "1/2",
            "1.000000",
        )


@BOTH
def test_account_histories_load_into_every_storage(make: Callable[[], Storage]) -> None:
    """The shipped account_histories() strategy draws histories every storage takes whole."""

    @settings(max_examples=10, deadline=None)
    @given(account_histories())
    def check(history: AccountHistory) -> None:
        storage = make()
        history.load(storage)
        assert len(list(storage.iter_replies())) == len(history.replies)
        assert sorted(s.id for s in storage.iter_sms_log()) == sorted(s.id for s in history.sends)

    check()
