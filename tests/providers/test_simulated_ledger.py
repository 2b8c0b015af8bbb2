"""CarrierLedger: simulated gateways in one or many processes honour idempotency keys together."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smscampaign import PermanentGatewayError
from smscampaign.providers.gateway import OutboundMessage
from smscampaign.providers.simulated import (
    SIMULATION_START,
    CarrierLedger,
    SimulatedGateway,
    VirtualClock,
)
from smscampaign.testing import strategies as S

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _message(n: int, key: str | None = None, body: str = "Hi") -> OutboundMessage:
    return OutboundMessage(
        to=f"+1212555{n % 10_000:04d}",
        sender="+12125550100",
        body=body,
        idempotency_key=key or f"k{n}",
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[CarrierLedger]:
    """A fresh ledger file."""
    ledger = CarrierLedger(tmp_path / "carrier.db")
    yield ledger
    ledger.close()


def _gateway(ledger: CarrierLedger | Path, seed: int = 0) -> SimulatedGateway:
    return SimulatedGateway.ideal(seed=seed, clock=VirtualClock(SIMULATION_START), ledger=ledger)


class TestOneProcess:
    """Two gateways on one ledger behave as one carrier."""

    def test_a_key_accepted_by_one_is_a_replay_for_the_other(self, ledger: CarrierLedger) -> None:
        """The second gateway returns the first receipt and sends nothing."""
        first, second = _gateway(ledger), _gateway(ledger, seed=7)
        receipt = first.send(_message(1))
        again = second.send(_message(1))
        assert again == receipt
        assert again.raw == receipt.raw
        assert (len(first.sent), len(second.sent)) == (1, 0)
        assert second.pending == 0  # no callbacks for a replay
        assert len(ledger) == 1
        assert ledger.messages_by_number() == Counter({_message(1).to: 1})
        assert ledger.replays() == {"k1": 1}

    def test_a_key_reused_for_another_message_is_refused(self, ledger: CarrierLedger) -> None:
        """The same key with another body raises, whichever gateway first took it."""
        _gateway(ledger).send(_message(1))
        with pytest.raises(PermanentGatewayError) as info:
            _gateway(ledger).send(_message(1, body="Other"))
        assert info.value.provider_code == "idempotency_key_reused"
        assert len(ledger) == 1

    def test_a_path_opens_a_ledger(self, tmp_path: Path) -> None:
        """Giving a path builds the ledger; it survives the gateway."""
        gateway = _gateway(tmp_path / "carrier.db")
        gateway.send(_message(3))
        assert gateway.ledger is not None
        gateway.ledger.close()
        reopened = CarrierLedger(tmp_path / "carrier.db")
        assert reopened.messages_by_number() == Counter({_message(3).to: 1})
        reopened.close()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        messages=st.lists(S.outbound_messages(valid_until=False), min_size=1, max_size=8),
        calls=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 7)), max_size=30),
    )
    def test_each_key_goes_out_once_whoever_sends_it(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        messages: list[OutboundMessage],
        calls: list[tuple[int, int]],
    ) -> None:
        """Any interleaving of three gateways accepts each key once, with one receipt."""
        ledger = CarrierLedger(tmp_path_factory.mktemp("ledger") / "carrier.db")
        gateways = [_gateway(ledger, seed=i) for i in range(3)]
        by_key = {m.idempotency_key: m for m in messages}
        receipts: dict[str, set[str]] = {}
        for which, index in calls:
            message = messages[index % len(messages)]
            message = by_key[message.idempotency_key]  # the same key always means one message
            try:
                receipt = gateways[which].send(message)
            except PermanentGatewayError:
                continue
            receipts.setdefault(message.idempotency_key, set()).add(receipt.provider_message_id)
        assert all(len(ids) == 1 for ids in receipts.values())
        accepted = sum(len(g.sent) for g in gateways)
        assert accepted == len(ledger) == len(receipts)
        expected = Counter(by_key[k].to for k in receipts)
        assert ledger.messages_by_number() == expected
        ledger.close()


_SENDER = textwrap.dedent(
    """
    import sys, json
    sys.path.insert(0, {src!r})
    from smscampaign.providers.gateway import OutboundMessage
    from smscampaign.providers.simulated import SimulatedGateway
    gateway = SimulatedGateway.ideal(seed=int(sys.argv[2]), ledger=sys.argv[1])
    ids = []
    for n in range(int(sys.argv[3]), int(sys.argv[4])):
        message = OutboundMessage(
            to=f"+1212555{{n:04d}}", sender="+12125550100", body="Hi", idempotency_key=f"k{{n}}"
        )
        ids.append(gateway.send(message).provider_message_id)
    print(json.dumps([len(gateway.sent), ids]))
    """
)


class TestProcesses:
    """Processes sharing a ledger file send each key once between them."""

    def test_overlapping_keys_from_three_processes(self, tmp_path: Path) -> None:
        """Ranges that overlap: every key accepted once, every process gets the same ids."""
        path = tmp_path / "carrier.db"
        CarrierLedger(path).close()
        script = _SENDER.format(src=SRC)
        ranges = [(0, 300), (150, 450), (100, 400)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(path), str(seed), str(lo), str(hi)],
                stdout=subprocess.PIPE,
            )
            for seed, (lo, hi) in enumerate(ranges)
        ]
        results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0]
        assert sum(sent for sent, _ in results) == 450
        ids: dict[int, set[str]] = {}
        for (lo, _), (_, got) in zip(ranges, results, strict=True):
            for offset, message_id in enumerate(got):
                ids.setdefault(lo + offset, set()).add(message_id)
        assert all(len(found) == 1 for found in ids.values())
        ledger = CarrierLedger(path)
        assert len(ledger) == 450
        assert set(ledger.messages_by_number().values()) == {1}
        assert sum(ledger.replays().values()) == 900 - 450
        ledger.close()
