"""Run campaigns on a virtual clock against the simulated carrier.

:func:`run_simulation` is the loop ``smscampaign demo`` runs, and the one your
own tests can run: tick the runner, hand it every webhook the simulated
carrier has due (through the same signed-request path real providers use),
let the host application react (e.g. survey responses), and jump the clock
to the next moment something can happen. Time jumps, so days of campaign
run in seconds; nothing waits on the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from smscampaign.domain._time import require_aware
from smscampaign.domain.campaign import CampaignState
from smscampaign.domain.delivery import StatusEvent
from smscampaign.providers.simulated import SimulatedGateway, VirtualClock
from smscampaign.runner import CampaignRunner, TickReport

__all__ = ["SimulationReport", "run_simulation"]

_SETTLED = frozenset({CampaignState.COMPLETED, CampaignState.STOPPED, CampaignState.SUSPENDED})


@attrs.define(kw_only=True)
class SimulationReport:
    """What a simulation did, added up over its ticks."""

    started_at: datetime
    ended_at: datetime
    ticks: int = 0
    sent: int = 0
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    receipts: int = 0
    """Sends changed by status callbacks (a send changed twice in one round counts once)."""
    replies: int = 0
    settled: bool = False
    """True when every campaign ended (completed, stopped or suspended) before ``until``."""

    def add(self, tick: TickReport) -> None:
        """Count one tick."""
        self.ticks += 1
        self.sent += tick.sent
        self.queued += tick.queued
        self.skipped += tick.skipped
        self.failed += tick.failed
        self.blocked += tick.blocked


def run_simulation(
    runner: CampaignRunner,
    gateway: SimulatedGateway,
    clock: VirtualClock,
    *,
    until: datetime,
    min_step: timedelta = timedelta(seconds=1),
    max_step: timedelta = timedelta(minutes=15),
    on_tick: Callable[[datetime, TickReport], None] | None = None,
    stop_when_settled: bool = True,
    before_tick: Callable[[datetime], None] | None = None,
) -> SimulationReport:
    """Drive ``runner`` on ``clock`` until ``until`` (or until every campaign has ended).

    Each round calls ``before_tick`` (the host application's changes the
    tick should see), ticks the runner, delivers the carrier's due callbacks as
    signed webhook requests (status callbacks verified and parsed by the
    runner's gateway, as :meth:`~CampaignRunner.handle_status` does, and
    applied together through :meth:`~CampaignRunner.apply_events`; inbound
    messages to :meth:`~CampaignRunner.handle_inbound`, in their place in the
    sequence), calls ``on_tick`` (where a test
    or the demo plays the host application), then moves the clock to the
    earliest of: the next deferred send, the next callback, ``max_step``
    ahead; never less than ``min_step`` ahead.

    Args:
        runner: The runner; its clock should be ``clock``.
        gateway: The simulated carrier the runner sends through.
        clock: The virtual clock both share.
        until: When to stop at the latest (aware).
        min_step: The least the clock moves per round.
        max_step: The most the clock moves per round.
        on_tick: Called after each round with the time and the tick's report.
        stop_when_settled: Stop early once no campaign is scheduled or running.
        before_tick: Called with the time at the start of each round, before the
            tick: what it changes (e.g. survey responses) is evaluated in that
            tick, instead of in a second evaluation one round later.

    Returns:
        The totals.
    """
    require_aware(until, "until")
    report = SimulationReport(started_at=clock.now(), ended_at=clock.now())
    while True:
        now = clock.now()
        if before_tick is not None:
            before_tick(now)
        tick = runner.tick(now)
        report.add(tick)
        # Status callbacks are verified and parsed one by one, as handle_status
        # does, and each run of them between two replies is applied in one unit
        # of work: the merge makes that the same as one at a time, in far fewer
        # transactions. Replies are handled in their place in the sequence.
        events: list[StatusEvent] = []
        for request in gateway.deliver_due(now):
            if request.url == gateway.inbound_url:
                report.receipts += _apply(runner, events, now)
                report.replies += len(runner.handle_inbound(request, now=now))
            else:
                events.extend(runner.gateway.parse_status(request))
        report.receipts += _apply(runner, events, now)
        if on_tick is not None:
            on_tick(now, tick)
        report.ended_at = now
        if stop_when_settled and _settled(runner) and not gateway.pending:
            report.settled = True
            return report
        if now >= until:
            return report
        candidates = [now + max_step, until]
        for moment in (tick.next_due, gateway.next_due()):
            if moment is not None and moment > now:
                candidates.append(moment)
        clock.set(max(min(candidates), now + min_step))


def _apply(runner: CampaignRunner, events: list[StatusEvent], now: datetime) -> int:
    """Apply and clear the parsed status events; returns how many sends they changed."""
    if not events:
        return 0
    changed = len(runner.apply_events(events, now=now))
    events.clear()
    return changed


def _settled(runner: CampaignRunner) -> bool:
    campaigns = list(runner.storage.iter_campaigns())
    return bool(campaigns) and all(c.state in _SETTLED for c in campaigns)
