"""SimulatedGateway: a deterministic carrier with late, duplicate and out-of-order receipts."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from smscampaign import (
    Attempt,
    ConfigurationError,
    DeliveryStatus,
    FailureReason,
    MalformedWebhook,
    NaiveDatetimeError,
    NumberKind,
    PermanentGatewayError,
    TemporaryGatewayError,
    WebhookVerificationError,
)
from smscampaign.domain._frozen import FrozenMap
from smscampaign.providers.gateway import OutboundMessage, SendReceipt, WebhookRequest
from smscampaign.providers.simulated import (
    DEFAULT_OUTCOMES,
    SIGNATURE_HEADER,
    SIMULATION_START,
    CarrierRule,
    Latency,
    Outcome,
    SimulatedGateway,
    VirtualClock,
)
from smscampaign.testing import strategies as S

T0 = SIMULATION_START
SENDER = "+12125550100"


def message(to: str = "+12125550123", key: str = "k1", **fields: object) -> OutboundMessage:
    values: dict[str, object] = {
        "to": to,
        "sender": SENDER,
        "body": "Hello",
        "idempotency_key": key,
    }
    values.update(fields)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def numbers(count: int) -> list[str]:
    return [f"+1212555{n:04d}" for n in range(count)]


def outcome_of(gateway: SimulatedGateway, msg: OutboundMessage) -> str:
    """Send ``msg`` and return how it ended: a refusal's reason or the final callback's status."""
    try:
        receipt = gateway.send(msg)
    except (PermanentGatewayError, TemporaryGatewayError) as error:
        return f"refused:{error.reason}"
    events = [
        e
        for e in gateway.receipts_due(T0 + timedelta(days=30))
        if e.provider_message_id == receipt.provider_message_id
    ]
    attempt = Attempt.queued(number=1, to=msg.to, at=T0).apply(receipt.to_event())
    return attempt.apply_all(events).status.value


class TestVirtualClock:
    """The virtual clock starts where told, moves only forward and only when told."""

    def test_starts_and_advances(self) -> None:
        clock = VirtualClock()
        assert clock() == clock.now() == SIMULATION_START
        assert clock.advance(timedelta(minutes=5)) == T0 + timedelta(minutes=5)
        assert clock.set(T0 + timedelta(hours=1)) == clock()

    def test_refuses_to_go_back(self) -> None:
        clock = VirtualClock(T0)
        with pytest.raises(ValueError, match="forward"):
            clock.advance(timedelta(seconds=-1))
        with pytest.raises(ValueError, match="forward"):
            clock.set(T0 - timedelta(seconds=1))

    def test_refuses_naive_times(self) -> None:
        with pytest.raises(NaiveDatetimeError):
            VirtualClock(datetime(2026, 1, 1))
        with pytest.raises(NaiveDatetimeError):
            VirtualClock().set(datetime(2027, 1, 1))

    def test_a_clock_giving_naive_times_is_named(self) -> None:
        gateway = SimulatedGateway.ideal(clock=lambda: datetime(2026, 6, 1, 12))
        with pytest.raises(NaiveDatetimeError, match="clock"):
            gateway.send(message())


class TestDeterminism:
    """Outcomes, ids and timings depend on the seed and the message, not on call order."""

    def _run(self, seed: int, order: list[int]) -> dict[str, tuple[str, list[str]]]:
        gateway = SimulatedGateway(seed=seed)
        msgs = [message(to, key=f"k{n}") for n, to in enumerate(numbers(200))]
        result: dict[str, tuple[str, list[str]]] = {}
        ids: dict[str, str] = {}
        for index in order:
            try:
                receipt = gateway.send(msgs[index])
                ids[receipt.provider_message_id] = msgs[index].idempotency_key
                result[msgs[index].idempotency_key] = (receipt.provider_message_id, [])
            except PermanentGatewayError as error:
                result[msgs[index].idempotency_key] = (str(error.provider_code), [])
        for request in gateway.deliver_due(T0 + timedelta(days=3)):
            if request.url == gateway.status_url:
                body = json.loads(request.body)
                key = ids[body["message_id"]]
                result[key][1].append(f"{body['status']}@{body['occurred_at']}")
        return {k: (v[0], sorted(v[1])) for k, v in result.items()}

    def test_call_order_does_not_matter(self) -> None:
        forwards = self._run(3, list(range(200)))
        backwards = self._run(3, list(reversed(range(200))))
        assert forwards == backwards

    def test_seeds_give_different_runs(self) -> None:
        assert self._run(3, list(range(200))) != self._run(4, list(range(200)))

    def test_same_seed_same_callbacks(self) -> None:
        runs = []
        for _ in range(2):
            gateway = SimulatedGateway(seed=11)
            for n, to in enumerate(numbers(50)):
                with contextlib.suppress(PermanentGatewayError):
                    gateway.send(message(to, key=f"k{n}"))
            runs.append([(r.url, r.body) for r in gateway.deliver_all()])
        assert runs[0] == runs[1]


class TestOutcomes:
    """Rules, magic numbers and probabilities decide what happens to each message."""

    def test_default_probabilities_are_roughly_kept(self) -> None:
        gateway = SimulatedGateway(seed=5, reply_rate=0.0)
        counts = Counter(
            outcome_of(gateway, message(to, key=f"k{n}")) for n, to in enumerate(numbers(4000))
        )
        total = sum(counts.values())
        assert counts["delivered"] / total == pytest.approx(
            DEFAULT_OUTCOMES[Outcome.DELIVERED], abs=0.02
        )
        assert counts["refused:invalid_number"] / total == pytest.approx(0.02, abs=0.01)
        assert counts["hard_bounced"] / total == pytest.approx(0.02, abs=0.01)
        assert counts["soft_bounced"] / total == pytest.approx(0.03, abs=0.015)

    def test_number_fates_stick_across_retries(self) -> None:
        gateway = SimulatedGateway(seed=5, outcomes={Outcome.LANDLINE: 1, Outcome.DELIVERED: 1})
        for to in numbers(20):
            fates = {outcome_of(gateway, message(to, key=f"{to}-{n}")) for n in range(4)}
            assert len(fates) == 1

    @pytest.mark.parametrize(
        ("rule", "matching", "other"),
        [
            (
                CarrierRule(number="+12125550001", outcome="landline"),
                "+12125550001",
                "+12125550002",
            ),
            (CarrierRule(prefix="+33", outcome="landline"), "+33612345678", "+12125550002"),
            (
                CarrierRule(pattern=r"\+1212555000[0-4]", outcome="landline"),
                "+12125550003",
                "+12125550007",
            ),
            (
                CarrierRule(kind=NumberKind.FIXED_LINE, outcome="landline"),
                "+33123456789",
                "+33612345678",
            ),
        ],
    )
    def test_rules_match_numbers(self, rule: CarrierRule, matching: str, other: str) -> None:
        gateway = SimulatedGateway(
            rules=[rule, CarrierRule(prefix="+", outcome="delivered")], reply_rate=0.0
        )
        assert outcome_of(gateway, message(matching, key="a")) == "hard_bounced"
        assert outcome_of(gateway, message(other, key="b")) == "delivered"

    def test_a_rule_needs_a_matcher(self) -> None:
        with pytest.raises(ConfigurationError):
            CarrierRule(outcome="delivered")
        with pytest.raises(ConfigurationError):
            CarrierRule(pattern="(", outcome="delivered")

    @pytest.mark.parametrize(
        ("to", "reason", "code"),
        [
            ("+15005550001", FailureReason.INVALID_NUMBER, "21211"),
            ("+15005550004", FailureReason.OPTED_OUT_AT_CARRIER, "21610"),
        ],
    )
    def test_magic_numbers_are_refused_synchronously(
        self, to: str, reason: FailureReason, code: str
    ) -> None:
        gateway = SimulatedGateway()
        with pytest.raises(PermanentGatewayError) as caught:
            gateway.send(message(to))
        assert (caught.value.reason, caught.value.provider_code) == (reason, code)
        assert gateway.sent == []
        assert gateway.rejected[0][1] is caught.value
        assert gateway.attempts_by_number[to] == 1

    @pytest.mark.parametrize(
        ("outcome", "reason"),
        [
            (Outcome.QUEUE_OVERFLOW, FailureReason.QUEUE_OVERFLOW),
            (Outcome.PROVIDER_ERROR, FailureReason.PROVIDER_ERROR),
        ],
    )
    def test_temporary_refusals_can_be_retried(
        self, outcome: Outcome, reason: FailureReason
    ) -> None:
        gateway = SimulatedGateway(rules=[CarrierRule(prefix="+1", outcome=outcome)])
        for _ in range(2):
            with pytest.raises(TemporaryGatewayError) as caught:
                gateway.send(message())
            assert caught.value.reason is reason
        assert gateway.attempts_by_number["+12125550123"] == 2

    def test_no_receipt_leaves_the_message_sent(self) -> None:
        gateway = SimulatedGateway(rules=[CarrierRule(prefix="+1", outcome="no_receipt")])
        assert outcome_of(gateway, message()) == "sent"

    @pytest.mark.parametrize(
        ("outcome", "status", "reason"),
        [
            ("unreachable", "soft_bounced", FailureReason.UNREACHABLE),
            ("carrier_error", "soft_bounced", FailureReason.CARRIER_ERROR),
            ("landline", "hard_bounced", FailureReason.LANDLINE),
            ("carrier_filtered", "hard_bounced", FailureReason.CARRIER_FILTERED),
        ],
    )
    def test_later_failures_arrive_as_receipts(
        self, outcome: str, status: str, reason: FailureReason
    ) -> None:
        gateway = SimulatedGateway(rules=[CarrierRule(prefix="+1", outcome=outcome)])
        gateway.send(message())
        failures = [e for e in gateway.receipts_due(T0 + timedelta(days=1)) if e.reason]
        assert {(e.status.value if e.status else None, e.reason) for e in failures} == {
            (status, reason)
        }

    def test_bad_configuration_is_refused(self) -> None:
        with pytest.raises(ConfigurationError):
            SimulatedGateway(duplicate_rate=1.5)
        with pytest.raises(ConfigurationError):
            SimulatedGateway(outcomes={Outcome.DELIVERED: 0})
        with pytest.raises(ConfigurationError):
            SimulatedGateway(outcomes={Outcome.DELIVERED: -1, Outcome.LANDLINE: 2})
        with pytest.raises(ConfigurationError):
            SimulatedGateway(throughput=0)
        with pytest.raises(ConfigurationError):
            Latency(to_sent=(timedelta(seconds=2), timedelta(seconds=1)))


class TestReceipts:
    """Receipts come late, twice, out of order and before send returns, and still converge."""

    def _everything(self, **options: object) -> tuple[SimulatedGateway, list[OutboundMessage]]:
        gateway = SimulatedGateway(
            seed=21,
            outcomes={Outcome.DELIVERED: 1.0},
            reply_rate=0.0,
            **options,  # type: ignore[arg-type]
        )
        msgs = [message(to, key=f"k{n}") for n, to in enumerate(numbers(300))]
        for msg in msgs:
            gateway.send(msg)
        return gateway, msgs

    def test_nothing_is_due_before_its_time(self) -> None:
        gateway = SimulatedGateway(
            outcomes={Outcome.DELIVERED: 1.0}, early_rate=0.0, reply_rate=0.0
        )
        gateway.send(message())
        assert gateway.deliver_due() == []
        assert gateway.pending in (2, 3)
        due = gateway.next_due()
        assert due is not None
        assert due > T0
        assert gateway.advance(timedelta(minutes=1))

    def test_zero_latency_makes_everything_due_at_once(self) -> None:
        gateway = SimulatedGateway.ideal()
        receipt = gateway.send(message())
        events = gateway.receipts_due()
        assert [e.status for e in events] == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
        assert all(e.occurred_at == receipt.accepted_at for e in events)
        assert gateway.pending == 0

    def test_duplicates_share_their_dedup_key(self) -> None:
        gateway, _ = self._everything(duplicate_rate=1.0)
        events = gateway.receipts_due(T0 + timedelta(days=2))
        keys = Counter(e.dedup_key for e in events)
        assert len(events) == 3 * 300
        assert sorted(Counter(keys.values()).items()) == [(1, 300), (2, 300)]

    def test_reordered_receipts_put_delivered_first(self) -> None:
        gateway, _ = self._everything(reorder_rate=1.0, duplicate_rate=0.0)
        events = gateway.receipts_due(T0 + timedelta(days=2))
        first: dict[str, DeliveryStatus | None] = {}
        for event in events:
            first.setdefault(event.provider_message_id, event.status)
        assert set(first.values()) == {DeliveryStatus.DELIVERED}

    def test_late_receipts_come_hours_later(self) -> None:
        gateway, _ = self._everything(
            late_rate=1.0, early_rate=0.0, duplicate_rate=0.0, reorder_rate=0.0
        )
        soon = gateway.receipts_due(T0 + timedelta(minutes=10))
        assert {e.status for e in soon} == {DeliveryStatus.SENT}
        later = gateway.receipts_due(T0 + timedelta(days=1))
        assert len(later) == 300
        assert all(e.status is DeliveryStatus.DELIVERED for e in later)

    def test_early_receipts_are_due_when_send_returns(self) -> None:
        gateway = SimulatedGateway(early_rate=1.0, outcomes={Outcome.DELIVERED: 1.0})
        receipt = gateway.send(message())
        events = gateway.receipts_due()
        assert {e.status for e in events} >= {DeliveryStatus.DELIVERED}
        assert all(e.provider_message_id == receipt.provider_message_id for e in events)

    def test_every_quirk_at_once_converges(self) -> None:
        gateway, msgs = self._everything(
            duplicate_rate=0.5, reorder_rate=0.5, late_rate=0.5, early_rate=0.5
        )
        attempts = {
            r.provider_message_id: Attempt.queued(number=1, to=r.raw["to"], at=T0).apply(
                r.to_event()
            )
            for r in gateway.receipts
        }
        for request in gateway.deliver_due(T0 + timedelta(days=2)):
            for event in gateway.parse_status(request):
                pid = event.provider_message_id
                attempts[pid] = attempts[pid].apply(event)
        assert {a.status for a in attempts.values()} == {DeliveryStatus.DELIVERED}
        assert gateway.pending == 0
        assert len(gateway.webhooks) >= 2 * len(msgs)

    def test_multipart_messages_get_per_part_receipts(self) -> None:
        gateway = SimulatedGateway.ideal(per_part_receipts=True)
        receipt = gateway.send(message(body="x" * 400))
        assert receipt.segments == 3
        assert receipt.part_ids == (
            receipt.provider_message_id,
            f"{receipt.provider_message_id}-2",
            f"{receipt.provider_message_id}-3",
        )
        events = gateway.receipts_due()
        assert sorted(e.part or 0 for e in events) == [0, 1, 2, 3]
        attempt = Attempt.queued(number=1, to="+12125550123", at=T0).apply(receipt.to_event())
        partial = attempt.apply_all(events[:-1])
        assert partial.status is not DeliveryStatus.DELIVERED
        assert attempt.apply_all(events).status is DeliveryStatus.DELIVERED

    def test_expired_validity_fails_with_expired(self) -> None:
        gateway = SimulatedGateway(
            outcomes={Outcome.DELIVERED: 1.0}, throughput=1.0, early_rate=0.0, reply_rate=0.0
        )
        deadline = T0 + timedelta(seconds=30)
        for n in range(60):
            gateway.send(message(key=f"k{n}", valid_until=deadline))
        events = gateway.receipts_due(T0 + timedelta(days=1))
        expired = [e for e in events if e.reason is FailureReason.EXPIRED]
        assert expired
        assert all(e.provider_code == "30036" for e in expired)
        assert all(e.occurred_at == deadline for e in expired)

    def test_throughput_limit_overflows_the_queue(self) -> None:
        gateway = SimulatedGateway(
            outcomes={Outcome.DELIVERED: 1.0}, throughput=1.0, max_queue=timedelta(seconds=10)
        )
        for n in range(11):
            gateway.send(message(key=f"k{n}"))
        with pytest.raises(TemporaryGatewayError) as caught:
            gateway.send(message(key="k-over"))
        assert caught.value.provider_code == "21611"


class TestIdempotency:
    """The same idempotency key sends once, and records show exactly what was sent."""

    def test_same_key_same_receipt_counted_once(self) -> None:
        gateway = SimulatedGateway.ideal()
        first = gateway.send(message())
        assert gateway.send(message()) is first
        assert gateway.sent == [message()]
        assert gateway.messages_by_number["+12125550123"] == 1
        assert gateway.attempts_by_number["+12125550123"] == 2
        assert len(gateway.receipts_due()) == 2

    def test_permanent_refusals_replay(self) -> None:
        gateway = SimulatedGateway()
        for _ in range(2):
            with pytest.raises(PermanentGatewayError):
                gateway.send(message("+15005550001"))
        assert len(gateway.rejected) == 1

    def test_key_reuse_for_another_message_is_refused(self) -> None:
        gateway = SimulatedGateway.ideal()
        gateway.send(message())
        with pytest.raises(PermanentGatewayError) as caught:
            gateway.send(message(body="Something else"))
        assert caught.value.provider_code == "idempotency_key_reused"


class TestReplies:
    """Delivered numbers reply; STOP makes the carrier refuse the number until START."""

    def test_replies_follow_delivery(self) -> None:
        gateway = SimulatedGateway(seed=2, outcomes={Outcome.DELIVERED: 1.0}, reply_rate=1.0)
        for n, to in enumerate(numbers(100)):
            gateway.send(message(to, key=f"k{n}"))
        replies = gateway.replies_due(T0 + timedelta(days=1))
        assert len(replies) == 100
        bodies = Counter(r.body for r in replies)
        assert {"STOP", "HELP"} <= set(bodies)
        assert all(r.received_at > T0 and r.recipient == SENDER for r in replies)
        assert len(gateway.carrier_opt_outs) == bodies["STOP"] + bodies["stop."] - sum(
            1 for r in replies if r.body == "START" and r.sender.e164 in gateway.carrier_opt_outs
        )

    def test_rule_replies_and_carrier_opt_out(self) -> None:
        gateway = SimulatedGateway.ideal(
            rules=[CarrierRule(number="+12125550123", outcome="delivered", reply="Stop.")]
        )
        gateway.send(message())
        assert gateway.replies_due() == []
        gateway.advance(timedelta(minutes=5))
        assert "+12125550123" in gateway.carrier_opt_outs
        with pytest.raises(PermanentGatewayError) as caught:
            gateway.send(message(key="k2"))
        assert caught.value.reason is FailureReason.OPTED_OUT_AT_CARRIER
        gateway.inject_reply("+12125550123", "START")
        [start] = gateway.replies_due()
        assert start.classify().keyword.value == "opt_in"
        assert gateway.send(message(key="k3")).provider_message_id

    def test_opt_outs_can_be_ignored(self) -> None:
        gateway = SimulatedGateway.ideal(honour_opt_outs=False)
        gateway.inject_reply("+12125550123", "STOP")
        gateway.deliver_due()
        assert gateway.carrier_opt_outs == frozenset()
        assert gateway.send(message())

    def test_injected_replies_wait_for_their_time(self) -> None:
        gateway = SimulatedGateway()
        gateway.inject_reply("+12125550123", "Who is this?", at=T0 + timedelta(hours=1))
        assert gateway.deliver_due() == []
        [request] = gateway.advance(timedelta(hours=1))
        assert request.url == gateway.inbound_url
        [reply] = gateway.parse_inbound(request)
        assert (reply.body, reply.sender.e164) == ("Who is this?", "+12125550123")

    def test_advance_needs_a_virtual_clock(self) -> None:
        gateway = SimulatedGateway(clock=lambda: T0)
        with pytest.raises(TypeError):
            gateway.advance(timedelta(seconds=1))


class TestWebhooks:
    """Callbacks are signed JSON; parsing verifies first and maps codes through the table."""

    def test_signature_covers_the_body(self) -> None:
        gateway = SimulatedGateway()
        request = gateway.status_request("SM1", "delivered")
        assert request.headers[SIGNATURE_HEADER] == gateway.sign(request.body)
        forged = WebhookRequest(
            method="POST",
            url=request.url,
            headers={SIGNATURE_HEADER: SimulatedGateway(secret="other").sign(request.body)},
            body=request.body,
        )
        with pytest.raises(WebhookVerificationError):
            gateway.parse_status(forged)

    def test_rotated_secrets_still_verify(self) -> None:
        old = SimulatedGateway(secret="old")
        new = SimulatedGateway(secret="new", previous_secrets=["old"])
        assert new.parse_status(old.status_request("SM1", "sent"))

    def test_unknown_words_and_codes_degrade(self) -> None:
        gateway = SimulatedGateway()
        [unknown] = gateway.parse_status(gateway.status_request("SM1", "mystery"))
        assert (unknown.status, unknown.provider_status) == (None, "mystery")
        [failed] = gateway.parse_status(gateway.status_request("SM1", "failed", error_code="99999"))
        assert failed.reason is FailureReason.UNKNOWN
        assert failed.status is DeliveryStatus.SOFT_BOUNCED

    @pytest.mark.parametrize(
        "payload",
        [
            [1, 2],
            {"type": "message.inbound"},
            {"type": "message.status", "status": "sent", "occurred_at": "2026-03-02T09:00:00Z"},
            {"type": "message.status", "message_id": "SM1", "status": "sent",
             "occurred_at": "noon"},
            {"type": "message.status", "message_id": "SM1", "status": "sent",
             "occurred_at": "2026-03-02T09:00:00"},
            {"type": "message.status", "message_id": "SM1", "status": "sent",
             "occurred_at": "2026-03-02T09:00:00Z", "segments": "two"},
            {"type": "message.status", "message_id": "SM1", "status": "sent",
             "occurred_at": "2026-03-02T09:00:00Z", "part": 0},
            {"type": "message.status", "message_id": "SM1", "status": "sent",
             "occurred_at": "2026-03-02T09:00:00Z", "price": "cheap"},
        ],
    )  # fmt: skip
    def test_malformed_status_bodies(self, payload: object) -> None:
        gateway = SimulatedGateway()
        request = gateway.signed_request(json.dumps(payload))
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(request)

    @pytest.mark.parametrize(
        "payload",
        [
            {"type": "message.status"},
            {"type": "message.inbound", "message_id": "MO1", "from": "not a number", "to": "x",
             "body": "hi", "received_at": "2026-03-02T09:00:00Z"},
            {"type": "message.inbound", "message_id": "MO1", "from": "+12125550123", "to": "x",
             "body": 5, "received_at": "2026-03-02T09:00:00Z"},
        ],
    )  # fmt: skip
    def test_malformed_inbound_bodies(self, payload: object) -> None:
        gateway = SimulatedGateway()
        with pytest.raises(MalformedWebhook):
            gateway.parse_inbound(gateway.signed_request(json.dumps(payload)))

    def test_get_requests_are_malformed(self) -> None:
        gateway = SimulatedGateway()
        body = b'{"type":"message.status"}'
        request = WebhookRequest(
            method="GET", url="u", headers={SIGNATURE_HEADER: gateway.sign(body)}, body=body
        )
        with pytest.raises(MalformedWebhook):
            gateway.parse_status(request)

    def test_callbacks_go_to_the_message_url(self) -> None:
        gateway = SimulatedGateway.ideal()
        gateway.send(message(status_callback_url="https://app.example/hooks/sms?c=1"))
        assert {r.url for r in gateway.deliver_due()} == {"https://app.example/hooks/sms?c=1"}


class TestStrategies:
    """The gateway strategies draw valid messages, receipts and signed requests."""

    @settings(max_examples=30)
    @given(S.outbound_messages())
    def test_outbound_messages(self, value: OutboundMessage) -> None:
        assert value.to.startswith("+")
        assert value.valid_until is None or value.valid_until.utcoffset() is not None

    @settings(max_examples=30)
    @given(S.send_receipts())
    def test_send_receipts_fold_into_attempts(self, value: object) -> None:
        attempt = Attempt.queued(number=1, to="+12125550123", at=T0)
        assert attempt.apply(value.to_event()).provider_message_id  # type: ignore[attr-defined]

    @settings(max_examples=30)
    @given(S.webhook_requests())
    def test_webhook_requests_parse(self, request: WebhookRequest) -> None:
        gateway = SimulatedGateway()
        if request.url == gateway.status_url:
            assert gateway.parse_status(request)
        else:
            assert gateway.parse_inbound(request)

    @pytest.mark.parametrize(
        "make",
        [
            lambda: S.outbound_messages(senders=[]),
            lambda: S.send_receipts(statuses=[DeliveryStatus.DELIVERED]),
            lambda: S.send_receipts(providers=[]),
            lambda: S.webhook_requests(kinds=["carrier_pigeon"]),
        ],
    )
    def test_bad_arguments(self, make: object) -> None:
        @given(st.data())
        def check(data: st.DataObject) -> None:
            data.draw(make())  # type: ignore[operator]

        with pytest.raises(InvalidArgument):
            check()


def _same_values(x: object, y: object) -> None:
    """``x`` and ``y`` hold equal values of the same types in every field, raw payloads included."""
    assert type(x) is type(y)
    if attrs.has(type(x)):
        for field in attrs.fields(type(x)):
            _same_values(getattr(x, field.name), getattr(y, field.name))
    elif isinstance(x, FrozenMap):
        assert isinstance(y, FrozenMap)
        assert list(x.items()) == list(y.items())
        for key in x:
            _same_values(x[key], y[key])
    elif isinstance(x, tuple):
        assert isinstance(y, tuple)
        assert len(x) == len(y)
        for a, b in zip(x, y, strict=True):
            _same_values(a, b)
    else:
        assert x == y


class TestReceiptsAsGiven:
    """The receipt send() builds without re-checking is the one the checked constructor gives."""

    @given(
        st.lists(S.outbound_messages(bodies=S.sms_texts()), min_size=1, max_size=4),
        st.booleans(),
        st.sampled_from([None, Decimal("0.0079"), 0.01]),
        st.sampled_from(["simulated", "my-carrier"]),
    )
    def test_receipt_is_the_checked_one(
        self,
        messages: list[OutboundMessage],
        per_part: bool,
        price: Decimal | float | None,
        name: str,
    ) -> None:
        gateway = SimulatedGateway.ideal(
            per_part_receipts=per_part, price_per_segment=price, clock=VirtualClock(T0)
        )
        gateway.name = name
        for m in messages:
            try:
                receipt = gateway.send(m)
            except PermanentGatewayError:  # a magic number the carrier refuses
                continue
            checked = SendReceipt(
                **{f.name: getattr(receipt, f.name) for f in attrs.fields(SendReceipt)}
            )
            _same_values(receipt, checked)
            assert receipt.provider == name
