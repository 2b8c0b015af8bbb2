"""Sends, attempts, status events and the merge rule."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscampaign import (
    Attempt,
    DeliveryStatus,
    FailureReason,
    InvalidEvent,
    InvalidTransition,
    NaiveDatetimeError,
    Permanence,
    RetryPolicy,
    Send,
    StatusEvent,
    derive_send_status,
)
from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._trusted import builder, evolver
from smscampaign.testing.strategies import EPOCH, attempts, sends, status_events

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=timezone.utc)


def event(status: str | None, minutes: int = 0, **fields: object) -> StatusEvent:
    return StatusEvent(
        provider="simulated",
        provider_message_id=str(fields.pop("mid", "m1")),
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        **fields,  # type: ignore[arg-type]
    )


def fresh() -> Attempt:
    return Attempt.queued(number=1, to="+12125550123", at=T0)


class TestMergeConvergence:
    """Any permutation or duplication of the same events gives the same attempt."""

    @given(st.lists(status_events(), max_size=6), st.randoms(use_true_random=False))
    def test_permutation_invariant(self, events: list[StatusEvent], rnd: object) -> None:
        shuffled = list(events)
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        assert fresh().apply_all(events) == fresh().apply_all(shuffled)

    @given(st.lists(status_events(), max_size=5), st.data())
    def test_duplication_invariant(self, events: list[StatusEvent], data: st.DataObject) -> None:
        extra = data.draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
        assert fresh().apply_all(events) == fresh().apply_all([*events, *extra, *events])

    @given(st.lists(status_events(parts=3), max_size=6), st.randoms(use_true_random=False))
    def test_multipart_permutation_invariant(self, events: list[StatusEvent], rnd: object) -> None:
        shuffled = list(events)
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        assert fresh().apply_all(events) == fresh().apply_all(shuffled)

    @given(st.lists(status_events(), min_size=1, max_size=6))
    def test_final_state_never_regresses(self, events: list[StatusEvent]) -> None:
        attempt = fresh()
        for e in events:
            before = attempt.status
            attempt = attempt.apply(e)
            if before.rank >= DeliveryStatus.SOFT_BOUNCED.rank:
                assert attempt.status.rank >= before.rank

    @given(st.lists(status_events(), max_size=6))
    def test_delivered_wins(self, events: list[StatusEvent]) -> None:
        attempt = fresh().apply_all([*events, event("delivered", 30)])
        assert attempt.status is DeliveryStatus.DELIVERED
        assert attempt.reason is None


class TestMergeExamples:
    """Hand-checked merges of events that arrive late, twice and out of order."""

    def test_delivered_before_sent_keeps_delivered_and_both_times(self) -> None:
        attempt = fresh().apply(event("delivered", 5)).apply(event("sent", 1))
        assert attempt.status is DeliveryStatus.DELIVERED
        assert attempt.sent_at == T0 + timedelta(minutes=1)
        assert attempt.delivered_at == T0 + timedelta(minutes=5)

    def test_failure_after_delivery_does_not_undo_it(self) -> None:
        attempt = (
            fresh()
            .apply(event("delivered", 5))
            .apply(event("hard_bounced", 9, reason="invalid_number"))
        )
        assert attempt.status is DeliveryStatus.DELIVERED

    def test_hard_bounce_beats_soft_bounce(self) -> None:
        attempt = (
            fresh()
            .apply(event("hard_bounced", 1, reason="landline"))
            .apply(event("soft_bounced", 2, reason="unreachable"))
        )
        assert attempt.status is DeliveryStatus.HARD_BOUNCED
        assert attempt.reason is FailureReason.LANDLINE

    def test_tie_resolves_to_the_later_event(self) -> None:
        a = event("soft_bounced", 1, reason="unreachable", provider_code="30003")
        b = event("soft_bounced", 2, reason="carrier_error", provider_code="30009")
        for order in itertools.permutations([a, b]):
            attempt = fresh().apply_all(order)
            assert attempt.reason is FailureReason.CARRIER_ERROR
            assert attempt.provider_code == "30009"

    def test_failure_without_reason_is_unknown(self) -> None:
        attempt = fresh().apply(event("soft_bounced", 1))
        assert attempt.reason is FailureReason.UNKNOWN

    def test_unmapped_status_changes_nothing(self) -> None:
        attempt = fresh().apply(event("sent", 1))
        assert attempt.apply(event(None, 2, provider_status="mystery")) == attempt

    def test_event_for_another_message_is_refused(self) -> None:
        attempt = fresh().apply(event("sent", 1))
        with pytest.raises(InvalidEvent, match="m2"):
            attempt.apply(event("delivered", 2, mid="m2"))

    def test_naive_event_time_is_refused(self) -> None:
        with pytest.raises(NaiveDatetimeError, match="occurred_at"):
            StatusEvent(
                provider="x",
                provider_message_id="m",
                status="sent",
                occurred_at=datetime(2026, 1, 1),
            )

    def test_send_only_statuses_cannot_be_events(self) -> None:
        with pytest.raises(InvalidEvent, match="skipped"):
            event("skipped")

    def test_failure_constructor_follows_permanence(self) -> None:
        soft = StatusEvent.failure(
            provider="p", provider_message_id="m", occurred_at=T0, reason=FailureReason.EXPIRED
        )
        hard = StatusEvent.failure(
            provider="p",
            provider_message_id="m",
            occurred_at=T0,
            reason=FailureReason.EXPIRED,
            permanent=True,
        )
        assert soft.status is DeliveryStatus.SOFT_BOUNCED
        assert hard.status is DeliveryStatus.HARD_BOUNCED

    def test_dedup_key_equal_for_redelivered_event(self) -> None:
        assert event("sent", 1).dedup_key == event("sent", 1).dedup_key
        assert event("sent", 1).dedup_key != event("delivered", 1).dedup_key


class TestMultipart:
    """A concatenated message is delivered only when every part is."""

    def part(self, status: str, n: int, minutes: int = 1, **fields: object) -> StatusEvent:
        return event(status, minutes, part=n, parts=2, **fields)

    def test_delivered_only_when_every_part_is(self) -> None:
        one = fresh().apply(self.part("delivered", 1))
        assert one.status is DeliveryStatus.SENT
        assert one.apply(self.part("delivered", 2)).status is DeliveryStatus.DELIVERED

    def test_any_part_failing_permanently_fails_the_message(self) -> None:
        attempt = (
            fresh()
            .apply(self.part("delivered", 1))
            .apply(self.part("hard_bounced", 2, reason="invalid_number"))
        )
        assert attempt.status is DeliveryStatus.HARD_BOUNCED
        assert attempt.reason is FailureReason.INVALID_NUMBER


class TestFailureReasons:
    """Each reason has a default permanence; bad-number reasons suppress."""

    def test_every_reason_has_a_permanence(self) -> None:
        for reason in FailureReason:
            assert reason.permanence in Permanence

    def test_bad_numbers_suppress(self) -> None:
        assert FailureReason.INVALID_NUMBER.suppresses
        assert FailureReason.LANDLINE.suppresses
        assert FailureReason.OPTED_OUT_AT_CARRIER.suppresses
        assert not FailureReason.CARRIER_FILTERED.suppresses
        assert not FailureReason.UNREACHABLE.suppresses


def new_send(**fields: object) -> Send:
    return Send(
        campaign_id="c1",
        recipient_id="r1",
        step_id="invite",
        to="+12125550123",
        created_at=T0,
        **fields,  # type: ignore[arg-type]
    )


def fail_once(send: Send, n: int, hours: float, reason: str = "unreachable") -> Send:
    at = T0 + timedelta(hours=hours)
    send = send.start_attempt(at=at)
    return send.apply(event("soft_bounced", int(hours * 60) + 1, mid=f"m{n}", reason=reason))


class TestSendLifecycle:
    """A send's status follows from its attempts and the retry policy."""

    def test_new_send_is_queued(self) -> None:
        assert new_send().status is DeliveryStatus.QUEUED

    def test_temporary_failure_with_retries_left_stays_in_flight(self) -> None:
        send = fail_once(new_send(), 1, 0)
        assert send.status is DeliveryStatus.QUEUED
        assert send.awaiting_retry

    def test_retries_exhausted_gives_soft_bounce(self) -> None:
        send = new_send()
        for n in range(1, 5):
            send = fail_once(send, n, n)
        assert send.retries_used == 3
        assert send.status is DeliveryStatus.SOFT_BOUNCED
        assert send.failure_reason is FailureReason.UNREACHABLE

    def test_retry_window_of_72_hours(self) -> None:
        send = fail_once(new_send(), 1, 0)
        send = fail_once(send, 2, 73)
        assert send.status is DeliveryStatus.SOFT_BOUNCED

    def test_permanent_failure_is_hard_bounce_at_once(self) -> None:
        send = new_send().start_attempt(at=T0)
        send = send.apply(event("hard_bounced", 1, reason="invalid_number"))
        assert send.status is DeliveryStatus.HARD_BOUNCED
        assert send.failure_reason is FailureReason.INVALID_NUMBER

    def test_late_delivery_of_an_earlier_attempt_wins(self) -> None:
        send = fail_once(new_send(), 1, 0)
        send = send.start_attempt(at=T0 + timedelta(hours=1))
        send = send.apply(event("sent", 61, mid="m2"))
        send = send.apply(event("delivered", 90, mid="m1"))
        assert send.status is DeliveryStatus.DELIVERED

    def test_skipped_carries_reasons_and_is_final(self) -> None:
        send = Send.skipped(
            campaign_id="c1",
            recipient_id="r1",
            step_id="invite",
            to="+12125550123",
            at=T0,
            reasons=["suppressed", "inactive"],
        )
        assert send.status is DeliveryStatus.SKIPPED
        assert send.skip_reasons == ("suppressed", "inactive")
        with pytest.raises(InvalidTransition):
            send.start_attempt(at=T0)

    def test_skipped_needs_a_reason(self) -> None:
        with pytest.raises(InvalidTransition, match="reason"):
            Send.skipped(campaign_id="c", recipient_id="r", step_id="s", to="+1", at=T0, reasons=[])

    def test_cancel_only_affects_sends_not_yet_out(self) -> None:
        assert new_send().cancel(at=T0).status is DeliveryStatus.CANCELED
        out = new_send().start_attempt(at=T0).apply(event("sent", 1))
        assert out.cancel(at=T0).status is DeliveryStatus.SENT

    def test_give_up_soft_bounces(self) -> None:
        send = fail_once(new_send(), 1, 0)
        assert send.give_up(at=T0 + timedelta(hours=2)).status is DeliveryStatus.SOFT_BOUNCED

    def test_cannot_start_attempt_while_one_is_in_flight(self) -> None:
        send = new_send().start_attempt(at=T0)
        with pytest.raises(InvalidTransition, match="sending"):
            send.start_attempt(at=T0)

    def test_policy_without_retries(self) -> None:
        send = fail_once(new_send(policy=RetryPolicy(max_retries=0)), 1, 0)
        assert send.status is DeliveryStatus.SOFT_BOUNCED

    @given(sends())
    def test_generated_sends_are_consistent(self, send: Send) -> None:
        if send.skip_reasons:
            assert send.status is DeliveryStatus.SKIPPED
        elif send.attempts:
            derived = derive_send_status(send.attempts, send.policy)
            assert send.status is derived or send.status in (
                DeliveryStatus.CANCELED,
                DeliveryStatus.SOFT_BOUNCED,
            )
        assert send.sent_on is None or send.sent_on >= EPOCH


class TestReceiptsUnderPartIds:
    """A receipt named by one part's own id counts for that part of the attempt."""

    def attempt(self) -> Attempt:
        return Attempt.queued(number=1, to="+12125550123", at=T0).apply(
            event("sending", 0, mid="p1")
        )

    def with_parts(self) -> Attempt:
        import attrs

        return attrs.evolve(
            Attempt.queued(number=1, to="+12125550123", at=T0), part_ids=("p1", "p2", "p3")
        )

    def test_delivered_only_when_every_part_is(self) -> None:
        parts = [event("delivered", 2, mid=m) for m in ("p1", "p2", "p3")]
        for order in itertools.permutations(parts):
            attempt = self.with_parts().apply(event("sending", 0, mid="p1"))
            partial = attempt.apply_all(order[:2])
            assert partial.status is not DeliveryStatus.DELIVERED
            assert partial.apply(order[2]).status is DeliveryStatus.DELIVERED
            assert partial.apply(order[2]).provider_message_id == "p1"

    def test_a_part_failing_permanently_fails_the_message(self) -> None:
        attempt = self.with_parts().apply_all(
            [
                event("delivered", 2, mid="p1"),
                event("hard_bounced", 3, mid="p3", reason="invalid_number"),
                event("delivered", 4, mid="p2"),
            ]
        )
        assert attempt.status is DeliveryStatus.HARD_BOUNCED

    def test_send_routes_a_part_receipt_to_its_attempt(self) -> None:
        send = new_send().start_attempt(at=T0).with_part_ids(["p1", "p2"])
        send = send.apply(event("sending", 0, mid="p1"))
        send = send.apply(event("delivered", 1, mid="p2")).apply(event("delivered", 1, mid="p1"))
        assert send.status is DeliveryStatus.DELIVERED

    def test_an_unknown_id_is_still_refused(self) -> None:
        with pytest.raises(InvalidEvent, match="p9"):
            self.with_parts().apply(event("sending", 0, mid="p1")).apply(event("sent", 1, mid="p9"))


def _same(x: object, y: object) -> None:
    """``x`` and ``y`` hold equal values of the same types in every field (derived ones too)."""
    assert type(x) is type(y)
    if attrs.has(type(x)):
        for field in attrs.fields(type(x)):
            _same(getattr(x, field.name), getattr(y, field.name))
    elif isinstance(x, tuple):
        assert isinstance(y, tuple)
        assert len(x) == len(y)
        for a, b in zip(x, y, strict=True):
            _same(a, b)
    elif isinstance(x, FrozenMap):
        assert isinstance(y, FrozenMap)
        assert list(x) == list(y)
        for key in x:
            _same(x[key], y[key])
    else:
        assert x == y


_MESSAGE = "m-+12125550123-1"  # the provider message id of attempts() with its defaults


@st.composite
def _receipts(draw: st.DrawFn) -> list[StatusEvent]:
    """Receipts for the attempt attempts() builds: whole or per part, some priced."""
    parts = draw(st.sampled_from((None, 2, 3)))
    events = draw(
        st.lists(status_events(provider_message_ids=st.just(_MESSAGE), parts=parts), max_size=5)
    )
    prices = draw(
        st.lists(
            st.none() | st.decimals(min_value=0, max_value=1, places=4),
            min_size=len(events),
            max_size=len(events),
        )
    )
    return [
        e if p is None else attrs.evolve(e, price=p) for e, p in zip(events, prices, strict=True)
    ]


class TestUncheckedRebuilds:
    """Folding events in without re-running attrs' checks gives what the checked path gives.

    ``attrs.evolve(x)`` rebuilds ``x`` through the checked constructor (converters,
    validators, post-init, derived fields): when that gives back the same values
    of the same types, storing them as given was exactly the checked result.
    """

    @given(attempts(), _receipts())
    def test_attempt_apply(self, attempt: Attempt, events: list[StatusEvent]) -> None:
        for e in events:
            attempt = attempt.apply(e)
            _same(attempt, attrs.evolve(attempt))

    @given(sends(), _receipts(), st.data())
    def test_send_apply(self, send: Send, events: list[StatusEvent], data: st.DataObject) -> None:
        if send.status is DeliveryStatus.QUEUED and not send.skip_reasons:
            send = send.start_attempt(at=send.created_at + timedelta(days=1))
            if data.draw(st.booleans()):
                send = send.with_part_ids(["p1", "p2"])
                _same(send, attrs.evolve(send))
        for e in events:
            if not send.attempts:
                break
            message_id = send.attempts[-1].provider_message_id or _MESSAGE
            send = send.apply(attrs.evolve(e, provider_message_id=message_id))
            _same(send, attrs.evolve(send))

    @given(attempts(), attempts(number=2, to="+33612345678"))
    def test_evolver_and_builder_store_what_attrs_would(self, a: Attempt, b: Attempt) -> None:
        changes = {f.name: getattr(b, f.name) for f in attrs.fields(Attempt) if f.name < "p"}
        _same(evolver(Attempt)(a, **changes), attrs.evolve(a, **changes))
        _same(builder(Attempt)(**attrs.asdict(a, recurse=False)), a)

    def test_only_slotted_classes(self) -> None:
        @attrs.frozen(slots=False)
        class Plain:
            x: int

        with pytest.raises(TypeError, match="slotted"):
            builder(Plain)
        with pytest.raises(TypeError, match="slotted"):
            evolver(Plain)


def _status_by_the_rule(attempts: tuple[Attempt, ...], policy: RetryPolicy) -> DeliveryStatus:
    """A send's status from its attempts, as the design states the rule, written plainly."""
    if not attempts:
        return DeliveryStatus.QUEUED
    statuses = [a.status for a in attempts]
    if DeliveryStatus.DELIVERED in statuses:
        return DeliveryStatus.DELIVERED
    if DeliveryStatus.HARD_BOUNCED in statuses:
        return DeliveryStatus.HARD_BOUNCED
    last = attempts[-1]
    if last.status is DeliveryStatus.SOFT_BOUNCED:
        retries_left = len(attempts) - 1 < policy.max_retries
        in_time = (last.failed_at or last.queued_at) - attempts[0].queued_at < policy.within
        return DeliveryStatus.QUEUED if retries_left and in_time else DeliveryStatus.SOFT_BOUNCED
    return DeliveryStatus.SENT if last.status is DeliveryStatus.SENT else DeliveryStatus.SENDING


class TestDerivedStatus:
    """derive_send_status (with its one-attempt shortcut) is the rule, for any attempts."""

    @given(
        st.lists(attempts(), max_size=4).map(tuple),
        st.builds(
            RetryPolicy,
            max_retries=st.integers(0, 4),
            within=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
        ),
    )
    def test_status_is_the_rule(self, tried: tuple[Attempt, ...], policy: RetryPolicy) -> None:
        expected = _status_by_the_rule(tried, policy)
        assert derive_send_status(tried, policy) is expected
        assert derive_send_status(iter(tried), policy) is expected

    @given(
        st.sampled_from(list(DeliveryStatus)[:6]).flatmap(
            lambda status: status_events(provider_message_ids=st.just("m1"), statuses=[status])
        ),
        st.builds(
            RetryPolicy,
            max_retries=st.integers(0, 2),
            within=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=12)),
        ),
    )
    def test_one_attempt_in_every_status(self, event: StatusEvent, policy: RetryPolicy) -> None:
        tried = (Attempt.queued(number=1, to="+12125550123", at=EPOCH).apply(event),)
        assert derive_send_status(tried, policy) is _status_by_the_rule(tried, policy)
