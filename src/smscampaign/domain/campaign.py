"""Campaigns, their steps and message templates, their states and their timeline."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._checks import checked, to_enum
from smscampaign.domain._time import optional_aware, require_aware
from smscampaign.domain._zones import zone_name
from smscampaign.domain.contact import (
    DEFAULT_ACCOUNT,
    STANDARD_FIELDS,
    normalize_field_name,
)
from smscampaign.domain.delivery import RetryPolicy
from smscampaign.errors import (
    ConfigurationError,
    InvalidCampaign,
    InvalidStep,
    InvalidTransition,
    MissingField,
    TemplateError,
)

__all__ = [
    "Campaign",
    "CampaignOptions",
    "CampaignState",
    "Step",
    "StepKind",
    "Template",
    "TimelineAction",
    "TimelineEntry",
]


class StepKind(StrEnum):
    """What a step is for."""

    INVITE = "invite"
    REMINDER = "reminder"
    THANK_YOU = "thank_you"


_FORMATTER = string.Formatter()


def _to_step_kind(value: Any) -> StepKind:
    return to_enum(StepKind, value, InvalidStep)


@attrs.frozen
class Template:
    """A message body with ``{placeholders}`` filled strictly from a recipient's values.

    ``{{`` and ``}}`` stand for literal braces. Placeholder names are
    normalized like CSV columns (``{First Name}`` means ``{first_name}``);
    attribute access, indexing and format specs are refused, so a template
    cannot reach into Python objects.

    Raises:
        TemplateError: The text has unbalanced braces or a placeholder that is
            not a plain name.
    """

    text: str
    _pieces: tuple[tuple[str, str | None], ...] = attrs.field(init=False, repr=False, eq=False)

    @_pieces.default
    def _parse(self) -> tuple[tuple[str, str | None], ...]:
        try:
            parsed = list(_FORMATTER.parse(self.text))
        except ValueError as exc:
            raise TemplateError(
                f"template {self.text!r} is malformed: {exc}", value=self.text
            ) from exc
        pieces: list[tuple[str, str | None]] = []
        for literal, field, spec, conversion in parsed:
            if field is None:
                pieces.append((literal, None))
                continue
            name = normalize_field_name(field)
            if not name or spec or conversion or any(c in field for c in ".[]"):
                raise TemplateError(
                    f"template {self.text!r} has placeholder {{{field}}}: "
                    "use a plain field name such as {first_name}",
                    value=field,
                )
            pieces.append((literal, name))
        return tuple(pieces)

    @property
    def placeholders(self) -> frozenset[str]:
        """The normalized field names the template uses."""
        return frozenset(name for _, name in self._pieces if name is not None)

    def missing(self, values: Mapping[str, str]) -> tuple[str, ...]:
        """The placeholders ``values`` cannot fill (absent or blank), in template order."""
        seen: list[str] = []
        for _, name in self._pieces:
            if name is not None and not (values.get(name) or "").strip() and name not in seen:
                seen.append(name)
        return tuple(seen)

    def render(self, values: Mapping[str, str]) -> str:
        """Fill every placeholder from ``values``.

        Raises:
            MissingField: A placeholder has no value, or only a blank one; the
                error names the first such field.
        """
        out: list[str] = []
        for literal, name in self._pieces:
            out.append(literal)
            if name is None:
                continue
            value = values.get(name)
            if value is None or not value.strip():
                raise MissingField(
                    f"template needs {{{name}}} but the recipient has no value for it",
                    value=values,
                    field=name,
                )
            out.append(value)
        return "".join(out)


def _template(value: Template | str) -> Template:
    return value if isinstance(value, Template) else Template(value)


def _non_negative(_instance: Any, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value < timedelta(0):
        raise InvalidStep(f"{attribute.name} must not be negative, got {value}", value=value)


@attrs.frozen(kw_only=True)
class Step:
    """One message of a campaign.

    Args:
        id: The step's id, unique in the campaign (e.g. ``invite``, ``reminder-1``).
        kind: INVITE, REMINDER or THANK_YOU.
        body: The message template.
        delay: For a reminder, how long after the previous message's sent-on it
            is due; for a thank-you, how long after completion. Zero for an invite.
    """

    id: str = attrs.field(validator=checked(attrs.validators.min_len(1), InvalidStep))
    kind: StepKind = attrs.field(converter=_to_step_kind)
    body: Template = attrs.field(converter=_template)
    delay: timedelta = attrs.field(default=timedelta(0), validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.kind is StepKind.INVITE and self.delay:
            raise InvalidStep(f"the invite {self.id!r} cannot have a delay", value=self.delay)

    def render(self, values: Mapping[str, str]) -> str:
        """The step's text for one recipient; see :meth:`Template.render`."""
        return self.body.render(values)


def _validate_steps(_instance: Any, _attribute: Any, steps: tuple[Step, ...]) -> None:
    if not steps:
        raise InvalidStep("a campaign needs at least its invite step", value=steps)
    if steps[0].kind is not StepKind.INVITE:
        raise InvalidStep(
            f"the first step must be the invite, got {steps[0].kind.value} {steps[0].id!r}",
            value=steps,
        )
    ids: set[str] = set()
    for index, step in enumerate(steps):
        if step.id in ids:
            raise InvalidStep(f"step id {step.id!r} is used twice", value=step.id)
        ids.add(step.id)
        if index == 0:
            continue
        if step.kind is StepKind.INVITE:
            raise InvalidStep(f"only the first step may be an invite, not {step.id!r}", value=step)
        if step.kind is StepKind.THANK_YOU and index != len(steps) - 1:
            raise InvalidStep(f"the thank-you {step.id!r} must be the last step", value=step)


class CampaignState(StrEnum):
    """A campaign's life (seed 002's Scheduled / In Progress / Completed / Stopped)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    STOPPED = "stopped"

    @property
    def is_terminal(self) -> bool:
        """True for STOPPED (nothing more can happen) ."""
        return self is CampaignState.STOPPED


class TimelineAction(StrEnum):
    """Every kind of entry on a campaign's timeline (seed 003's campaign history)."""

    CREATED = "created"
    EDITED = "edited"
    SCHEDULED = "scheduled"
    STARTED = "started"
    RECIPIENTS_ADDED = "recipients_added"
    REQUEUED = "requeued"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    STOPPED = "stopped"
    COMPLETED = "completed"
    TEST_SENT = "test_sent"
    """A step was sent to one number as a test (seed 000 "Test"), outside the campaign's counts."""


def _to_timeline_action(value: Any) -> TimelineAction:
    return to_enum(TimelineAction, value)


def _to_campaign_state(value: Any) -> CampaignState:
    return to_enum(CampaignState, value)


# (action, from-state) -> to-state. Anything else raises InvalidTransition.
# Beyond the states' obvious path: a suspended campaign may be stopped, and a
# completed one re-opens when the operator requeues a step (seed 003 "Requeue").
TRANSITIONS: Mapping[tuple[TimelineAction, CampaignState], CampaignState] = {
    (TimelineAction.SCHEDULED, CampaignState.DRAFT): CampaignState.SCHEDULED,
    (TimelineAction.STARTED, CampaignState.SCHEDULED): CampaignState.IN_PROGRESS,
    (TimelineAction.SUSPENDED, CampaignState.IN_PROGRESS): CampaignState.SUSPENDED,
    (TimelineAction.RESUMED, CampaignState.SUSPENDED): CampaignState.IN_PROGRESS,
    (TimelineAction.COMPLETED, CampaignState.IN_PROGRESS): CampaignState.COMPLETED,
    (TimelineAction.STOPPED, CampaignState.SCHEDULED): CampaignState.STOPPED,
    (TimelineAction.STOPPED, CampaignState.IN_PROGRESS): CampaignState.STOPPED,
    (TimelineAction.STOPPED, CampaignState.SUSPENDED): CampaignState.STOPPED,
    (TimelineAction.REQUEUED, CampaignState.IN_PROGRESS): CampaignState.IN_PROGRESS,
    (TimelineAction.REQUEUED, CampaignState.COMPLETED): CampaignState.IN_PROGRESS,
}

# Actions that record something without changing state, and where they may happen.
_RECORD_ONLY: Mapping[TimelineAction, frozenset[CampaignState]] = {
    TimelineAction.CREATED: frozenset({CampaignState.DRAFT}),
    TimelineAction.EDITED: frozenset({CampaignState.DRAFT, CampaignState.SCHEDULED}),
    TimelineAction.RECIPIENTS_ADDED: frozenset(
        {
            CampaignState.DRAFT,
            CampaignState.SCHEDULED,
            CampaignState.IN_PROGRESS,
            CampaignState.SUSPENDED,
        }
    ),
    TimelineAction.TEST_SENT: frozenset(CampaignState),
}


@attrs.frozen(kw_only=True)
class TimelineEntry:
    """One action on a campaign: what, when, why, and the state it left.

    Args:
        at: When it happened (aware).
        action: What happened.
        cause: Why, in words (``"operator"``, ``"hard-bounce rate 6.1% > 5%"``...).
        state: The campaign's state after the action.
        detail: Free details (e.g. how many recipients were added from which list).
    """

    at: datetime = attrs.field(validator=lambda _i, _a, v: require_aware(v, "TimelineEntry.at"))
    action: TimelineAction = attrs.field(converter=_to_timeline_action)
    cause: str
    state: CampaignState = attrs.field(converter=_to_campaign_state)
    detail: str = ""


@attrs.frozen(kw_only=True)
class CampaignOptions:
    """A campaign's switches; the defaults are DESIGN.md's.

    Args:
        allow_pending_opt_in: Send to PENDING_OPT_IN contacts (e.g. for the opt-in request).
        accept_sent_as_received: Treat SENT (no receipt) as received for reminders,
            for carriers that never send delivery receipts.
        remind_disqualified: Send reminders to DISQUALIFIED responses too.
        deduplicate_numbers: Only the first recipient holding a number is considered.
        allow_unverified_numbers: Accept numbers the lenient parser could not verify.
        transactional: Lifts legal quiet hours for non-marketing traffic (e.g. alerts
            the recipient asked for). Never lifts suppression.
        retry: How temporary failures are retried.
    """

    allow_pending_opt_in: bool = False
    accept_sent_as_received: bool = False
    remind_disqualified: bool = False
    deduplicate_numbers: bool = True
    allow_unverified_numbers: bool = False
    transactional: bool = False
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)


def _check_sender(_instance: Any, _attribute: Any, value: object) -> None:
    if not isinstance(value, str):
        raise InvalidCampaign(
            f"a campaign's sender must be text (a number, short code or sender id), got {value!r}",
            value=value,
        )


def _step_tuple(value: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(value)


def _timeline_tuple(value: Iterable[TimelineEntry]) -> tuple[TimelineEntry, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Campaign:
    """An SMS campaign: steps, schedule, options, state and timeline.

    Build one with :meth:`Campaign.create`, which records the CREATED entry;
    change its state with :meth:`schedule`, :meth:`start`, :meth:`suspend`,
    :meth:`resume`, :meth:`stop`, :meth:`complete` and :meth:`requeue`, each of
    which returns a new campaign with a timeline entry, or raises
    :class:`~smscampaign.errors.InvalidTransition`.

    Args:
        id: The campaign's id.
        name: Its name for people.
        steps: One INVITE, then REMINDERs, then at most one THANK_YOU.
        sender: The sender (number, short code, alphanumeric id or messaging service).
        time_zone: The campaign's IANA zone (its window, reports, fallbacks).
        send_window: A window spec for :class:`smscampaign.scheduling.SendWindow`
            (``"mon-fri 09:00-20:00"``); empty for "whenever the law allows".
        throttle: A throttle spec (``"10/s; 5000/day"``); empty for no limit.
        starts_at: The earliest send, if set.
        ends_at: The end date: nothing is sent at or after it.
        options: Eligibility and sending switches.
        state: The current state.
        timeline: Every action so far, oldest first.
        account: The account it belongs to.
    """

    id: str = attrs.field(validator=checked(attrs.validators.min_len(1), InvalidCampaign))
    name: str
    steps: tuple[Step, ...] = attrs.field(converter=_step_tuple, validator=_validate_steps)
    sender: str = attrs.field(default="", validator=_check_sender)
    time_zone: str = attrs.field(default="UTC", converter=zone_name)
    send_window: str = ""
    throttle: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    options: CampaignOptions = attrs.field(factory=CampaignOptions)
    state: CampaignState = attrs.field(default=CampaignState.DRAFT, converter=_to_campaign_state)
    timeline: tuple[TimelineEntry, ...] = attrs.field(default=(), converter=_timeline_tuple)
    account: str = DEFAULT_ACCOUNT

    def __attrs_post_init__(self) -> None:
        optional_aware(self.starts_at, "Campaign.starts_at")
        optional_aware(self.ends_at, "Campaign.ends_at")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise InvalidCampaign(
                f"campaign {self.id!r} ends ({self.ends_at.isoformat()}) before it starts "
                f"({self.starts_at.isoformat()})",
                value=self.ends_at,
            )

    @classmethod
    def create(cls, *, at: datetime, cause: str = "created", **fields: Any) -> Campaign:
        """A new DRAFT campaign whose timeline starts with CREATED.

        Args:
            at: When it was created.
            cause: Who or what created it.
            **fields: The campaign's fields (see the class).
        """
        campaign = cls(**fields)
        if campaign.state is not CampaignState.DRAFT or campaign.timeline:
            raise InvalidCampaign("Campaign.create makes a new draft; pass no state or timeline")
        return campaign.record(TimelineAction.CREATED, at=at, cause=cause)

    # -- steps -----------------------------------------------------------------

    def step(self, step_id: str) -> Step:
        """The step with that id.

        Raises:
            InvalidCampaign: No such step.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        raise InvalidCampaign(
            f"campaign {self.id!r} has no step {step_id!r}; it has {[s.id for s in self.steps]}",
            value=step_id,
        )

    def previous_step(self, step_id: str) -> Step | None:
        """The step before ``step_id`` (None for the invite)."""
        index = self.steps.index(self.step(step_id))
        return self.steps[index - 1] if index else None

    @property
    def invite(self) -> Step:
        """The invite step."""
        return self.steps[0]

    @property
    def reminders(self) -> tuple[Step, ...]:
        """The reminder steps, in order."""
        return tuple(s for s in self.steps if s.kind is StepKind.REMINDER)

    @property
    def thank_you(self) -> Step | None:
        """The thank-you step, if any."""
        return self.steps[-1] if self.steps[-1].kind is StepKind.THANK_YOU else None

    @property
    def placeholders(self) -> frozenset[str]:
        """Every field any step's template uses."""
        names: set[str] = set()
        for step in self.steps:
            names |= step.body.placeholders
        return frozenset(names)

    # -- state -----------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """True while the campaign may send (IN_PROGRESS)."""
        return self.state is CampaignState.IN_PROGRESS

    def record(
        self, action: TimelineAction, *, at: datetime, cause: str, detail: str = ""
    ) -> Campaign:
        """Append a timeline entry, changing state as the action demands.

        Raises:
            InvalidTransition: The action is not allowed in the current state.
        """
        require_aware(at, "at")
        target = TRANSITIONS.get((action, self.state))
        if target is None:
            allowed = _RECORD_ONLY.get(action)
            if allowed is None or self.state not in allowed:
                raise InvalidTransition(
                    f"campaign {self.id!r} cannot be {action.value} while {self.state.value}",
                    value=(action, self.state),
                )
            target = self.state
        if self.timeline and at < self.timeline[-1].at:
            raise InvalidTransition(
                f"timeline entry at {at.isoformat()} is earlier than the last one "
                f"({self.timeline[-1].at.isoformat()})",
                value=at,
            )
        entry = TimelineEntry(at=at, action=action, cause=cause, state=target, detail=detail)
        return attrs.evolve(self, state=target, timeline=(*self.timeline, entry))

    def schedule(
        self,
        *,
        at: datetime,
        cause: str = "operator",
        available_fields: Iterable[str] | None = None,
    ) -> Campaign:
        """DRAFT → SCHEDULED, after checking the templates can be filled.

        Args:
            at: When.
            cause: Who or why.
            available_fields: Every field a recipient may have (custom columns
                and per-recipient fields). The standard contact fields are
                always available. When None, the check is skipped.

        Raises:
            InvalidCampaign: The campaign has no sender, or a template names a
                field no recipient can have.
            InvalidTransition: The campaign is not a draft.
        """
        if not self.sender.strip():
            raise InvalidCampaign(
                f"campaign {self.id!r} has no sender: set the number, short code or sender "
                "id it sends from before scheduling it",
                value=self.sender,
            )
        if available_fields is not None:
            known = STANDARD_FIELDS | {normalize_field_name(f) for f in available_fields}
            unknown = sorted(self.placeholders - known)
            if unknown:
                raise InvalidCampaign(
                    f"campaign {self.id!r} uses {', '.join('{' + u + '}' for u in unknown)} "
                    f"which no recipient has; known fields: {sorted(known)}",
                    value=unknown,
                )
        return self.record(TimelineAction.SCHEDULED, at=at, cause=cause)

    def start(self, *, at: datetime, cause: str = "start time reached") -> Campaign:
        """SCHEDULED → IN_PROGRESS."""
        return self.record(TimelineAction.STARTED, at=at, cause=cause)

    def suspend(self, *, at: datetime, cause: str) -> Campaign:
        """IN_PROGRESS → SUSPENDED (e.g. a bounce rate passed its threshold)."""
        return self.record(TimelineAction.SUSPENDED, at=at, cause=cause)

    def resume(self, *, at: datetime, cause: str = "operator") -> Campaign:
        """SUSPENDED → IN_PROGRESS."""
        return self.record(TimelineAction.RESUMED, at=at, cause=cause)

    def stop(self, *, at: datetime, cause: str = "operator") -> Campaign:
        """SCHEDULED, IN_PROGRESS or SUSPENDED → STOPPED (terminal)."""
        return self.record(TimelineAction.STOPPED, at=at, cause=cause)

    def complete(self, *, at: datetime, cause: str, detail: str = "") -> Campaign:
        """IN_PROGRESS → COMPLETED (everyone reached, or the end passed)."""
        return self.record(TimelineAction.COMPLETED, at=at, cause=cause, detail=detail)

    def requeue(self, *, at: datetime, cause: str, detail: str = "") -> Campaign:
        """Record a requeue; a COMPLETED campaign goes back IN_PROGRESS."""
        return self.record(TimelineAction.REQUEUED, at=at, cause=cause, detail=detail)

    def with_options(self, **changes: Any) -> Campaign:
        """The same campaign with some options changed (drafts and scheduled only).

        Raises:
            ConfigurationError: The campaign already started.
        """
        if self.state not in (CampaignState.DRAFT, CampaignState.SCHEDULED):
            raise ConfigurationError(
                f"campaign {self.id!r} is {self.state.value}; options are fixed once it starts",
                value=self.state,
            )
        return attrs.evolve(self, options=attrs.evolve(self.options, **changes))
