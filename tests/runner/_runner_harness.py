"""A small world for runner tests: storage, virtual clock, simulated carrier and a recording proxy.

Shared by the runner test modules (imported as a plain module: ``tests/runner``
is on ``sys.path`` under pytest's default import mode). Nothing here reads
outside the repository.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from smscampaign.domain.campaign import Campaign, CampaignOptions, Step, StepKind
from smscampaign.domain.contact import Consent, Contact
from smscampaign.domain.delivery import StatusEvent
from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import InboundMessage
from smscampaign.errors import GatewayError
from smscampaign.providers.base import Storage
from smscampaign.providers.gateway import OutboundMessage, SendReceipt, WebhookRequest
from smscampaign.providers.memory import InMemoryStorage
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.providers.sqlite import SQLiteStorage
from smscampaign.runner import CampaignRunner, ReplyOutcome
from smscampaign.testing.simulation import SimulationReport, run_simulation

UTC = timezone.utc

# Tuesday 3 March 2026, 15:00 UTC: 10:00 in New York and Miami, 16:00 in Paris.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
SENDER = "+12125550100"

# Real-looking numbers libphonenumber accepts (US numbers are FIXED_LINE_OR_MOBILE).
NEW_YORK = ("+12127363100", "+12127363101", "+12127363102", "+12127363103", "+12127363104")
MIAMI = "+13053581234"
PARIS_MOBILE = "+33612345678"

INVITE_ONLY = (Step(id="invite", kind=StepKind.INVITE, body="Hi {first_name}, our survey"),)
WITH_REMINDER = (
    *INVITE_ONLY,
    Step(id="reminder-1", kind=StepKind.REMINDER, body="Reminder", delay=timedelta(days=1)),
)


def make_storage(kind: str, tmp_path: Path | None = None) -> Storage:
    """A fresh storage: ``"memory"``, ``"sqlite"`` (a file in ``tmp_path``) or ``"sqlite-mem"``."""
    if kind == "memory":
        return InMemoryStorage()
    if kind == "sqlite":
        assert tmp_path is not None
        return SQLiteStorage(tmp_path / "runner.db")
    if kind == "sqlite-mem":
        return SQLiteStorage(":memory:")
    raise ValueError(kind)


@attrs.frozen
class Call:
    """One ``send`` call seen by the recording proxy."""

    at: datetime
    message: OutboundMessage
    receipt: SendReceipt | None
    error: GatewayError | None

    @property
    def accepted(self) -> bool:
        """True when the provider accepted the message."""
        return self.receipt is not None

    @property
    def is_answer(self) -> bool:
        """True for an automatic answer (opt-out confirmation or HELP), not a campaign send."""
        return self.message.idempotency_key.startswith("answer:")

    @property
    def send_id(self) -> str:
        """The runner's send id (the idempotency key without its attempt number)."""
        return self.message.idempotency_key.rsplit(":", 1)[0]


class RecordingGateway:
    """A Gateway proxy that notes the virtual time of every ``send`` call, then delegates."""

    def __init__(self, inner: SimulatedGateway, clock: VirtualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.name = inner.name
        self.calls: list[Call] = []

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Send through the simulated carrier and record the call."""
        at = self.clock.now()
        try:
            receipt = self.inner.send(message)
        except GatewayError as error:
            self.calls.append(Call(at, message, None, error))
            raise
        self.calls.append(Call(at, message, receipt, None))
        return receipt

    def parse_status(self, request: WebhookRequest) -> list[StatusEvent]:
        """Delegate."""
        return self.inner.parse_status(request)

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Delegate."""
        return self.inner.parse_inbound(request)

    def campaign_calls(self, to: str | None = None) -> list[Call]:
        """The campaign sends (not automatic answers), optionally to one number."""
        return [c for c in self.calls if not c.is_answer and (to is None or c.message.to == to)]

    def answers(self, to: str | None = None) -> list[Call]:
        """The automatic answers, optionally to one number."""
        return [c for c in self.calls if c.is_answer and (to is None or c.message.to == to)]


class World:
    """Everything a runner test needs, sharing one virtual clock."""

    def __init__(
        self,
        storage: Storage,
        *,
        start: datetime = T0,
        gateway: SimulatedGateway | None = None,
        **runner_options: Any,
    ) -> None:
        self.clock = VirtualClock(start)
        self.storage = storage
        self.sim = gateway if gateway is not None else SimulatedGateway.ideal(clock=self.clock)
        self.sim.clock = self.clock
        self.gateway = RecordingGateway(self.sim, self.clock)
        self.replies: list[tuple[datetime, ReplyOutcome]] = []
        self._contacts: dict[str, str] = {}
        hook = runner_options.pop("on_reply", None)

        def on_reply(outcome: ReplyOutcome) -> None:
            self.replies.append((self.clock.now(), outcome))
            if hook is not None:
                hook(outcome)

        self.runner = CampaignRunner(
            storage, self.gateway, self.clock, on_reply=on_reply, **runner_options
        )

    # -- building ------------------------------------------------------------------

    def campaign(
        self,
        campaign_id: str = "c1",
        *,
        steps: Sequence[Step] = INVITE_ONLY,
        numbers: Iterable[str] = NEW_YORK[:2],
        consent: Consent = Consent.OPTED_IN,
        schedule: bool = True,
        options: CampaignOptions | None = None,
        **fields: Any,
    ) -> Campaign:
        """Create a campaign with one contact per number (see :meth:`contact_id`)."""
        fields.setdefault("sender", SENDER)
        campaign = Campaign.create(
            at=self.clock.now(),
            id=campaign_id,
            name=f"Campaign {campaign_id}",
            steps=steps,
            options=options or CampaignOptions(),
            **fields,
        )
        self.storage.add_campaign(campaign)
        contacts = [
            Contact(
                id=self.contact_id(number),
                phone=PhoneNumber.parse(number),
                first_name=f"Name {number[-4:]}",
                consent=consent,
            )
            for number in numbers
        ]
        self.runner.add_recipients(campaign_id, contacts, list_name="list.csv")
        if schedule:
            self.runner.schedule(campaign_id)
        return self.storage.get_campaign(campaign_id)

    def contact_id(self, number: str) -> str:
        """The account-wide contact id of a number: ``k0``, ``k1``... in order of first use."""
        return self._contacts.setdefault(number, f"k{len(self._contacts)}")

    # -- driving -------------------------------------------------------------------

    def deliver(self) -> int:
        """Hand the runner every callback due now; returns how many requests."""
        requests = self.sim.deliver_due(self.clock.now())
        for request in requests:
            if request.url == self.sim.inbound_url:
                self.runner.handle_inbound(request)
            else:
                self.runner.handle_status(request)
        return len(requests)

    def step(self, delta: timedelta = timedelta(0)) -> None:
        """Advance the clock, tick, and deliver what fell due."""
        self.clock.advance(delta)
        self.runner.tick()
        self.deliver()

    def run(self, duration: timedelta, **options: Any) -> SimulationReport:
        """Run the simulation loop for ``duration`` of virtual time."""
        return run_simulation(
            self.runner, self.sim, self.clock, until=self.clock.now() + duration, **options
        )

    def reply(self, number: str, body: str) -> None:
        """Have ``number`` text ``body`` now, through the carrier, and deliver it."""
        self.sim.inject_reply(number, body, at=self.clock.now())
        self.deliver()

    # -- reading -------------------------------------------------------------------

    def sends(self, campaign_id: str = "c1") -> list[Any]:
        """Every send of a campaign, sorted by id."""
        return sorted(self.storage.iter_sends(campaign_id), key=lambda s: s.id)

    def send_of(self, recipient_id: str, step_id: str = "invite", campaign_id: str = "c1") -> Any:
        """The latest send of one step to one recipient."""
        return self.storage.get_recipient(campaign_id, recipient_id).latest_send(step_id)
