"""SimulatedGateway: a deterministic carrier model for demos and tests.

It behaves like a real provider in the ways that break campaign software,
and it does so reproducibly:

* **Outcomes** per number: :class:`CarrierRule` objects match an exact
  number, a prefix, a regular expression or a :class:`~smscampaign.NumberKind`;
  every other number gets an :class:`Outcome` drawn from probabilities
  (:data:`DEFAULT_OUTCOMES`: 92 % delivered, 3 % temporary failures, 2 %
  invalid, 1 % landline, 1 % carrier-filtered, 1 % opted out at the carrier).
  Invalid numbers and carrier opt-outs are refused synchronously, as Twilio
  does with errors 21211 and 21610; every other failure arrives later as a
  status callback.
* **Receipts** arrive after a latency, some late, some twice, some out of
  order (``delivered`` before ``sent``), and some before ``send`` has even
  returned (a receipt "available immediately").
* **Replies** come back from delivered numbers: STOP, HELP, START and free
  text. A STOP makes the carrier refuse further messages to that number (error
  21610) until START, as Twilio's default opt-out handling does.
* **A virtual clock** (:class:`VirtualClock`) drives all of it; nothing sleeps.
* **Callbacks are real** :class:`~smscampaign.providers.gateway.WebhookRequest`
  objects in the simulator's own signed JSON format, so an application
  exercises the same verify-and-parse path as with a real provider.

Determinism: every random choice about a message comes from a BLAKE2 hash of
``(seed, to, idempotency_key)``, and choices about a number (is it a
landline?) from ``(seed, to)``, never from a shared random generator. The same
messages give the same outcomes, ids and timings whatever order they are sent
in and however many workers send them. Two things depend on history, as they
do with a real carrier: a number that replied STOP is refused until it replies
START, and with a ``throughput`` limit a message waits behind the ones its
sender sent before it.

The error codes and statuses mirror Twilio's (its Message status values and
error reference, https://www.twilio.com/docs/api/errors, read 2026-08); the
simulator's own table, :data:`ERROR_CODES`, is the single place they are mapped.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import hmac
import json
import math
import os
import re
import sqlite3
import struct
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import IO, Any, NamedTuple

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._frozen import FrozenMap
from smscampaign.domain._time import require_aware
from smscampaign.domain._trusted import builder
from smscampaign.domain.delivery import DeliveryStatus, FailureReason, StatusEvent
from smscampaign.domain.phone import NumberKind, PhoneNumber
from smscampaign.domain.replies import InboundMessage, Keyword, classify_reply
from smscampaign.domain.segments import count_segments
from smscampaign.errors import (
    ConfigurationError,
    GatewayError,
    InvalidPhoneNumber,
    MalformedWebhook,
    PermanentGatewayError,
    SmsCampaignError,
    TemporaryGatewayError,
)
from smscampaign.providers.gateway import (
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
    verify_any,
    webhook_verification_error,
)

if sys.platform != "win32":
    import fcntl
else:  # pragma: no cover - Windows: SQLite's own locking alone
    fcntl = None

__all__ = [
    "DEFAULT_OUTCOMES",
    "DEFAULT_REPLIES",
    "ERROR_CODES",
    "MAGIC_NUMBERS",
    "SIGNATURE_HEADER",
    "SIMULATION_START",
    "CarrierLedger",
    "CarrierRule",
    "Latency",
    "Outcome",
    "SimulatedGateway",
    "VirtualClock",
]

_UTC = timezone.utc

SIMULATION_START = datetime(2026, 3, 2, 9, 0, tzinfo=_UTC)
"""Where a :class:`VirtualClock` starts unless told otherwise: Monday 2 March 2026, 09:00 UTC."""

SIGNATURE_HEADER = "X-Simulated-Signature"
"""The header carrying ``hex(HMAC-SHA256(secret, raw body))`` on every simulated callback."""


# --- the virtual clock ----------------------------------------------------------


class VirtualClock:
    """A clock that moves only when told to; call it (or :meth:`now`) for the time.

    Pass it wherever a ``clock: Callable[[], datetime]`` is taken, so the
    gateway, the runner and your test agree on what time it is.

    Args:
        start: The first instant (aware); :data:`SIMULATION_START` by default.

    Raises:
        NaiveDatetimeError: ``start`` has no time zone.
    """

    __slots__ = ("_now",)

    def __init__(self, start: datetime = SIMULATION_START) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> datetime:
        """The current virtual time."""
        return self._now

    __call__ = now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time.

        Raises:
            ValueError: ``delta`` is negative.
        """
        if delta < timedelta(0):
            raise ValueError(f"a virtual clock only moves forward, got delta={delta}")
        self._now = self._now + delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Move the clock forward to ``moment`` and return it.

        Raises:
            NaiveDatetimeError: ``moment`` has no time zone.
            ValueError: ``moment`` is before the current time.
        """
        require_aware(moment, "moment")
        if moment < self._now:
            raise ValueError(
                f"a virtual clock only moves forward: {moment.isoformat()} is before "
                f"{self._now.isoformat()}"
            )
        self._now = moment
        return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()})"


# --- outcomes -------------------------------------------------------------------


class Outcome(StrEnum):
    """What the simulated carrier does with one message."""

    DELIVERED = "delivered"
    """Sent, then delivered."""
    UNREACHABLE = "unreachable"
    """Sent, then undelivered: handset off or out of coverage (30003, temporary)."""
    CARRIER_ERROR = "carrier_error"
    """Sent, then undelivered: a transient network error (30008, temporary)."""
    INVALID_NUMBER = "invalid_number"
    """Refused by ``send``: the number does not exist (21211, permanent)."""
    LANDLINE = "landline"
    """Sent, then undelivered: a landline cannot take SMS (30006, permanent)."""
    CARRIER_FILTERED = "carrier_filtered"
    """Sent, then undelivered: the carrier filtered it as spam (30007, permanent)."""
    OPTED_OUT_AT_CARRIER = "opted_out_at_carrier"
    """Refused by ``send``: the recipient texted STOP to the carrier (21610, permanent)."""
    QUEUE_OVERFLOW = "queue_overflow"
    """Refused by ``send`` for now: the sender's queue is full (21611, temporary)."""
    PROVIDER_ERROR = "provider_error"
    """Refused by ``send`` for now: the provider is having an outage (HTTP 503, temporary)."""
    NO_RECEIPT = "no_receipt"
    """Sent, and then nothing: no final receipt ever comes ("sent" stays the last word)."""


class _Manifest(NamedTuple):
    """How an outcome shows: refused by ``send`` or reported by a final callback."""

    synchronous: bool
    provider_status: str  # the final callback's status word ("" when there is none)
    code: str | None
    text: str | None
    reason: FailureReason | None
    permanent: bool


# The simulator's codes copy Twilio's error reference: 21xxx come back from the
# create call, 30xxx arrive on callbacks.
_MANIFESTS: dict[Outcome, _Manifest] = {
    Outcome.DELIVERED: _Manifest(False, "delivered", None, None, None, False),
    Outcome.UNREACHABLE: _Manifest(
        False,
        "undelivered",
        "30003",
        "Unreachable destination handset",
        FailureReason.UNREACHABLE,
        False,
    ),
    Outcome.CARRIER_ERROR: _Manifest(
        False, "undelivered", "30008", "Unknown error", FailureReason.CARRIER_ERROR, False
    ),
    Outcome.INVALID_NUMBER: _Manifest(
        True, "", "21211", "Invalid 'To' Phone Number", FailureReason.INVALID_NUMBER, True
    ),
    Outcome.LANDLINE: _Manifest(
        False,
        "undelivered",
        "30006",
        "Landline or unreachable carrier",
        FailureReason.LANDLINE,
        True,
    ),
    Outcome.CARRIER_FILTERED: _Manifest(
        False, "undelivered", "30007", "Message filtered", FailureReason.CARRIER_FILTERED, True
    ),
    Outcome.OPTED_OUT_AT_CARRIER: _Manifest(
        True,
        "",
        "21610",
        "Attempt to send to unsubscribed recipient",
        FailureReason.OPTED_OUT_AT_CARRIER,
        True,
    ),
    Outcome.QUEUE_OVERFLOW: _Manifest(
        True,
        "",
        "21611",
        "This 'From' number has exceeded the maximum number of queued messages",
        FailureReason.QUEUE_OVERFLOW,
        False,
    ),
    Outcome.PROVIDER_ERROR: _Manifest(
        True, "", "20503", "Service Unavailable", FailureReason.PROVIDER_ERROR, False
    ),
    Outcome.NO_RECEIPT: _Manifest(False, "", None, None, None, False),
}

# A message whose validity period ran out before the carrier took it (Twilio 30036).
_EXPIRED = _Manifest(
    False, "failed", "30036", "Validity Period Expired", FailureReason.EXPIRED, False
)

# Outcomes that belong to the number rather than to one message: a landline stays a
# landline however often it is retried.
_NUMBER_OUTCOMES = frozenset(
    {Outcome.INVALID_NUMBER, Outcome.LANDLINE, Outcome.OPTED_OUT_AT_CARRIER}
)

ERROR_CODES: Mapping[str, tuple[FailureReason, bool]] = {
    **{m.code: (m.reason, m.permanent) for m in _MANIFESTS.values() if m.code and m.reason},
    _EXPIRED.code or "": (FailureReason.EXPIRED, False),
    # Accepted on callbacks although the simulator never sends it: Twilio's
    # "unknown destination handset".
    "30005": (FailureReason.INVALID_NUMBER, True),
}
"""The simulator's error codes: code -> (normalized reason, permanent?).

A code not in the table parses as ``FailureReason.UNKNOWN``.
"""

# The simulator's status words -> our status; "undelivered" and "failed" are
# failures whose reason the error code gives.
_STATUS_WORDS: dict[str, DeliveryStatus | None] = {
    "accepted": DeliveryStatus.SENDING,
    "queued": DeliveryStatus.SENDING,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": None,
    "failed": None,
}
_FAILURE_WORDS = frozenset({"undelivered", "failed"})

DEFAULT_OUTCOMES: Mapping[Outcome, float] = {
    Outcome.DELIVERED: 0.92,
    Outcome.UNREACHABLE: 0.02,
    Outcome.CARRIER_ERROR: 0.01,
    Outcome.INVALID_NUMBER: 0.02,
    Outcome.LANDLINE: 0.01,
    Outcome.CARRIER_FILTERED: 0.01,
    Outcome.OPTED_OUT_AT_CARRIER: 0.01,
}
"""The outcome probabilities of a number no rule matches."""

DEFAULT_REPLIES: Sequence[tuple[str, float]] = (
    ("STOP", 3.0),
    ("stop.", 1.0),
    ("HELP", 1.0),
    ("START", 0.5),
    ("Yes, happy to take the survey", 2.0),
    ("Who is this?", 1.0),
    ("Thanks!", 1.5),
)
"""Reply bodies and their relative weights, drawn for numbers that reply."""

MAGIC_NUMBERS: Mapping[str, Outcome] = {
    "+15005550001": Outcome.INVALID_NUMBER,
    "+15005550004": Outcome.OPTED_OUT_AT_CARRIER,
    "+15005550006": Outcome.DELIVERED,
    "+15005550009": Outcome.LANDLINE,
}
"""Numbers with a fixed outcome, after Twilio's test-credential magic numbers.

Twilio's test credentials answer ``+15005550001`` with 21211 (invalid),
``+15005550004`` with 21610 (opted out), ``+15005550009`` with 21614 (not a
mobile number) and ``+15005550006`` with success. Your own
:class:`CarrierRule` objects take precedence over these.
"""


@functools.lru_cache(maxsize=65536)
def _kind_of(e164: str) -> NumberKind:
    try:
        return PhoneNumber.from_e164(e164, verified=False).kind
    except InvalidPhoneNumber:
        return NumberKind.UNKNOWN


def _optional_kind(value: NumberKind | str | None) -> NumberKind | None:
    return None if value is None else NumberKind(value)


@attrs.frozen(kw_only=True)
class CarrierRule:
    """Fix the outcome for numbers that match, instead of drawing it.

    Every matcher given must match (give at least one). Rules are tried in
    order and the first that matches wins.

    Args:
        outcome: What happens to messages to a matching number.
        number: An exact E.164 number.
        prefix: An E.164 prefix, e.g. ``"+33"`` or ``"+1555"``.
        pattern: A regular expression the whole E.164 number must match.
        kind: The kind of number libphonenumber says it is (e.g. ``FIXED_LINE``).
        reply: A reply the number sends after a delivered message (e.g. ``"STOP"``).
        reply_after: How long after delivery the reply comes.

    Raises:
        ConfigurationError: No matcher is given, or ``pattern`` is not a valid regex.
    """

    outcome: Outcome = attrs.field(converter=Outcome)
    number: str | None = None
    prefix: str | None = None
    pattern: str | None = None
    kind: NumberKind | None = attrs.field(default=None, converter=_optional_kind)
    reply: str | None = None
    reply_after: timedelta = attrs.field(
        default=timedelta(minutes=5), validator=attrs.validators.ge(timedelta(0))
    )
    _regex: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)

    @_regex.default
    def _compile(self) -> re.Pattern[str] | None:
        if (self.number, self.prefix, self.pattern, self.kind) == (None, None, None, None):
            raise ConfigurationError(
                "a CarrierRule needs number=, prefix=, pattern= or kind=", value=self
            )
        if self.pattern is None:
            return None
        try:
            return re.compile(self.pattern)
        except re.error as error:
            raise ConfigurationError(
                f"pattern {self.pattern!r} is not a regular expression: {error}",
                value=self.pattern,
            ) from error

    def matches(self, to: str) -> bool:
        """Whether messages to the E.164 number ``to`` follow this rule."""
        if self.number is not None and to != self.number:
            return False
        if self.prefix is not None and not to.startswith(self.prefix):
            return False
        if self._regex is not None and self._regex.fullmatch(to) is None:
            return False
        return self.kind is None or _kind_of(to) is self.kind


def _latency_range(value: timedelta | tuple[timedelta, timedelta]) -> tuple[timedelta, timedelta]:
    if isinstance(value, timedelta):
        return (value, value)
    low, high = value
    return (low, high)


def _check_range(
    _instance: object,
    attribute: attrs.Attribute[tuple[timedelta, timedelta]],
    value: tuple[timedelta, timedelta],
) -> None:
    low, high = value
    if not timedelta(0) <= low <= high:
        raise ConfigurationError(
            f"Latency.{attribute.name} must be a range 0 <= low <= high, got {value!r}",
            value=value,
        )


_S = timedelta(seconds=1)
_ZERO = timedelta(0)


@attrs.frozen(kw_only=True)
class Latency:
    """How long things take on the simulated network, each as a uniform ``(low, high)`` range.

    A single :class:`~datetime.timedelta` means exactly that long.

    Args:
        to_sent: From acceptance (or from leaving the sender's queue) to the carrier taking it.
        to_final: From the carrier taking it to delivery or failure.
        callback: From an event to its callback reaching you.
        late: Extra delay for the receipts that arrive late.
        duplicate: How long after a callback its duplicate comes.
        reply: From delivery to a reply.

    Raises:
        ConfigurationError: A range is negative or upside down.
    """

    to_sent: tuple[timedelta, timedelta] = attrs.field(
        default=(_S / 5, 3 * _S), converter=_latency_range, validator=_check_range
    )
    to_final: tuple[timedelta, timedelta] = attrs.field(
        default=(_S, 30 * _S), converter=_latency_range, validator=_check_range
    )
    callback: tuple[timedelta, timedelta] = attrs.field(
        default=(_ZERO, 2 * _S), converter=_latency_range, validator=_check_range
    )
    late: tuple[timedelta, timedelta] = attrs.field(
        default=(timedelta(minutes=30), timedelta(hours=12)),
        converter=_latency_range,
        validator=_check_range,
    )
    duplicate: tuple[timedelta, timedelta] = attrs.field(
        default=(30 * _S, timedelta(minutes=10)), converter=_latency_range, validator=_check_range
    )
    reply: tuple[timedelta, timedelta] = attrs.field(
        default=(30 * _S, timedelta(hours=2)), converter=_latency_range, validator=_check_range
    )

    @classmethod
    def zero(cls) -> Latency:
        """No latency at all: every receipt and reply is due the moment the message is sent."""
        return cls(
            to_sent=_ZERO, to_final=_ZERO, callback=_ZERO, late=_ZERO, duplicate=_ZERO, reply=_ZERO
        )


# --- the gateway ------------------------------------------------------------------

_MICROSECOND = timedelta(microseconds=1)
_ONE = 2**32  # the hash-derived draws are 32-bit integers: r / _ONE is uniform in [0, 1)
_UNPACK = struct.Struct(">16I").unpack
_ORIGIN = datetime(1970, 1, 1, tzinfo=_UTC)


def _us(moment: datetime) -> int:
    return (moment - _ORIGIN) // _MICROSECOND


def _at(us: int) -> datetime:
    return _ORIGIN + timedelta(microseconds=us)


def _span(span: tuple[timedelta, timedelta]) -> tuple[int, int]:
    """A latency range as ``(low, width)`` in microseconds."""
    low, high = span
    return (low // _MICROSECOND, (high - low) // _MICROSECOND)


_UNDECIDED: Any = object()
_NAME = "simulated"
_receipt_as_given = builder(SendReceipt)
_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_BUCKET = 1_000_000  # microseconds of due time per timeline bucket


class _Timeline:
    """Pending callbacks by due time: cheap to add to, popped in (due, sequence) order.

    Entries are tuples starting ``(due, sequence, ...)``. They go into
    one-second buckets (a dict append) rather than one big heap, so ``send``
    stays cheap with millions pending; popping sorts what falls due.
    """

    __slots__ = ("_buckets", "_keys", "_size")

    def __init__(self) -> None:
        self._buckets: dict[int, list[Any]] = {}
        self._keys: list[int] = []  # a heap of the bucket keys in use
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, entry: Any) -> None:
        key = entry[0] // _BUCKET
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [entry]
            heapq.heappush(self._keys, key)
        else:
            bucket.append(entry)
        self._size += 1

    def earliest(self) -> int | None:
        if not self._keys:
            return None
        due: int = min(entry[0] for entry in self._buckets[self._keys[0]])
        return due

    def latest(self) -> int | None:
        if not self._keys:
            return None
        due: int = max(entry[0] for entry in self._buckets[max(self._keys)])
        return due

    def pop_until(self, limit: int) -> list[Any]:
        """Remove and return the entries due at or before ``limit``, in order."""
        out: list[Any] = []
        keys, buckets = self._keys, self._buckets
        last = limit // _BUCKET
        while keys and keys[0] <= last:
            key = keys[0]
            bucket = buckets[key]
            if key < last:
                out.extend(bucket)
            else:
                ready = [entry for entry in bucket if entry[0] <= limit]
                if len(ready) < len(bucket):
                    buckets[key] = [entry for entry in bucket if entry[0] > limit]
                    out.extend(ready)
                    break
                out.extend(bucket)
            heapq.heappop(keys)
            del buckets[key]
        self._size -= len(out)
        out.sort(key=_due_order)
        return out


def _due_order(entry: Any) -> tuple[int, int]:
    return entry[0], entry[1]


# A pending callback, of plain values only (the garbage collector stops tracking a
# tuple of strings and numbers, so the millions a long run keeps pending are never
# walked again): (due, sequence, message id, status word, occurred, part, error
# code, error text, parts, segments, price, to, from, status callback URL).
_StatusEntry = tuple[
    int, int, str, str, int, int, str | None, str | None, int, int, Decimal | None,
    str, str, str | None,
]  # fmt: skip
# A pending reply: (due, sequence, from, to, body, message id).
_ReplyEntry = tuple[int, int, str, str, str, str]


def _receipt_raw(message_id: str, message: OutboundMessage, segments: int) -> dict[str, Any]:
    return {
        "sid": message_id,
        "status": "accepted",
        "to": message.to,
        "from": message.sender,
        "num_segments": segments,
    }


def _rate(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _threshold(rate: float) -> int:
    """The 32-bit draw below which an event of probability ``rate`` happens."""
    return round(rate * _ONE)


def _weights(name: str, pairs: Iterable[tuple[Any, float]]) -> list[tuple[Any, float]]:
    items = list(pairs)
    for key, weight in items:
        if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ConfigurationError(
                f"{name} weights must be finite and >= 0, got {weight!r} for {key!r}",
                value=weight,
            )
    total = float(sum(weight for _, weight in items))
    if total <= 0:
        raise ConfigurationError(f"{name} must give some choice a positive weight", value=items)
    return [(key, weight / total) for key, weight in items if weight > 0]


def _cumulative(choices: Sequence[tuple[Any, float]], scale: float = _ONE) -> list[tuple[Any, int]]:
    """Each choice with the 32-bit draw it covers up to, the last one reaching ``scale``."""
    out: list[tuple[Any, int]] = []
    total = 0.0
    for key, share in choices:
        total += share
        out.append((key, round(total * scale)))
    if out:
        out[-1] = (out[-1][0], round(scale))
    return out


def _pick(choices: Sequence[tuple[Any, int]], r: int) -> Any:
    """The first choice whose cumulative bound is above the draw ``r``."""
    for key, bound in choices:
        if r < bound:
            return key
    return choices[-1][0]


class CarrierLedger:
    """The messages a simulated carrier accepted, by idempotency key, in a file processes share.

    A real carrier honours an idempotency key whichever of your processes
    sends it. :class:`SimulatedGateway` objects given ledgers on the same
    file do too: a key one of them accepted is a replay for every other,
    which returns the first receipt and sends nothing. So a worker that dies
    after the carrier accepted a message and before the send was saved, and
    whose send another worker then retries with the same key, still gets
    each message to its number once, and a test can check it here.

    The file is SQLite (WAL); each accepted message is one row, written in
    its own transaction before ``send`` returns. Processes take turns through
    a lock file beside it (``<path>.lock``), which wakes a waiting process at
    once where SQLite's own busy handler would sleep. Callbacks and replies stay
    with the gateway that accepted the message; refusals are not recorded
    (they are decided again, the same way, from the same seed).

    Args:
        path: The ledger file (created when missing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = _LedgerLock(self.path + ".lock")
        self._conn = sqlite3.connect(
            self.path, timeout=60.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS accepted (key TEXT PRIMARY KEY, "
            "recipient TEXT NOT NULL, sender TEXT NOT NULL, body TEXT NOT NULL, "
            "receipt TEXT NOT NULL, replays INTEGER NOT NULL DEFAULT 0)"
        )

    def find(self, key: str) -> tuple[OutboundMessage, SendReceipt] | None:
        """The first message accepted under ``key`` and its receipt, counting a replay."""
        with self._lock:
            row = self._conn.execute(
                "SELECT key, recipient, sender, body, receipt FROM accepted WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            self._conn.execute("UPDATE accepted SET replays = replays + 1 WHERE key = ?", (key,))
        return _ledger_entry(row)

    def record(
        self, message: OutboundMessage, receipt: SendReceipt
    ) -> tuple[OutboundMessage, SendReceipt] | None:
        """Record an accepted message; None, or the entry another gateway recorded first."""
        doc = {
            "p": receipt.provider,
            "id": receipt.provider_message_id,
            "at": receipt.accepted_at.isoformat(),
            "s": receipt.status.value,
            "ps": receipt.provider_status,
            "parts": list(receipt.part_ids),
            "seg": receipt.segments,
            "price": None if receipt.price is None else str(receipt.price),
            "cur": receipt.currency,
            "raw": dict(receipt.raw),
        }
        key = message.idempotency_key
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO accepted (key, recipient, sender, body, receipt) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, message.to, message.sender, message.body, json.dumps(doc)),
            )
        return None if cursor.rowcount == 1 else self.find(key)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM accepted").fetchone()[0])

    def messages_by_number(self) -> Counter[str]:
        """How many distinct messages each number was sent (what its owner received)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT recipient, count(*) FROM accepted GROUP BY recipient"
            ).fetchall()
        return Counter(dict(rows))

    def replays(self) -> dict[str, int]:
        """The keys sent again after their first acceptance, with how many times."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, replays FROM accepted WHERE replays > 0 ORDER BY rowid"
            ).fetchall()
        return dict(rows)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
        self._lock.close()

    def __repr__(self) -> str:
        return f"CarrierLedger({self.path!r})"


class _LedgerLock:
    """A lock over threads and processes: a thread lock, then ``flock`` on a file (POSIX)."""

    def __init__(self, path: str) -> None:
        self._thread = threading.Lock()
        self._file: IO[bytes] | None = open(path, "a+b") if fcntl is not None else None  # noqa: SIM115

    def __enter__(self) -> None:
        self._thread.acquire()
        if self._file is not None and fcntl is not None:
            fcntl.flock(self._file, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._file is not None and fcntl is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._thread.release()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _ledger_entry(row: Sequence[Any]) -> tuple[OutboundMessage, SendReceipt]:
    key, recipient, sender, body, text = row
    doc = json.loads(text)
    message = OutboundMessage(to=recipient, sender=sender, body=body, idempotency_key=key)
    receipt = SendReceipt(
        provider=doc["p"],
        provider_message_id=doc["id"],
        accepted_at=datetime.fromisoformat(doc["at"]),
        status=doc["s"],
        provider_status=doc["ps"],
        part_ids=doc["parts"],
        segments=doc["seg"],
        price=doc["price"],
        currency=doc["cur"],
        raw=doc["raw"],
    )
    return message, receipt


class SimulatedGateway:
    """A simulated SMS provider with a deterministic carrier behind it.

    ``send`` decides everything about a message at once (outcome, timings,
    duplicates, a reply) and queues the callbacks; :meth:`deliver_due` hands
    out the callbacks that are due by the clock, as signed
    :class:`~smscampaign.providers.gateway.WebhookRequest` objects that
    :meth:`parse_status` and :meth:`parse_inbound` verify and read.

    Everything that happened is recorded for your assertions: :attr:`sent`,
    :attr:`attempts_by_number`, :attr:`messages_by_number`, :attr:`rejected`
    and :attr:`webhooks`.

    Args:
        seed: Seeds every random choice; the same seed gives the same run.
        clock: Gives the current time; a new :class:`VirtualClock` by default.
        rules: Fixed outcomes for matching numbers, tried in order before
            :data:`MAGIC_NUMBERS` and before the probabilities.
        outcomes: Outcome probabilities (relative weights) for other numbers;
            :data:`DEFAULT_OUTCOMES` by default.
        latency: Network timings; ``Latency()`` by default, ``Latency.zero()``
            makes every callback due at once.
        duplicate_rate: Share of messages with one callback delivered twice.
        reorder_rate: Share of messages whose final receipt arrives before their ``sent`` one.
        late_rate: Share of messages whose final receipt arrives late
            (:attr:`Latency.late`).
        early_rate: Share of messages whose receipts are due before ``send``
            returns (a delivery receipt racing the API response).
        reply_rate: Share of delivered messages that get a reply.
        replies: Reply bodies and weights; :data:`DEFAULT_REPLIES` by default.
        per_part_receipts: Report the final status of a multipart message once
            per part (as Vonage does), with one id per part on the receipt.
        throughput: Segments per second each sender may send; messages beyond
            it wait in the sender's queue. ``None``: no limit.
        max_queue: How long a sender's queue may be before ``send`` refuses with
            ``QUEUE_OVERFLOW`` (Twilio: 10 hours of messages).
        price_per_segment: Price of a segment, or ``None`` if not reported.
        currency: The price's currency.
        secret: The webhook signing secret.
        previous_secrets: Older secrets still accepted when verifying (key rotation).
        status_url: Where status callbacks go unless a message names its own.
        inbound_url: Where inbound messages go.
        number: Our number: the default ``to`` of injected replies.
        honour_opt_outs: Refuse messages to numbers that replied STOP (21610), until START.
        ledger: A :class:`CarrierLedger` (or the path of its file) shared with
            other gateways, in this process or others: idempotency keys are
            then honoured across all of them, as one carrier would.

    Raises:
        ConfigurationError: A rate is outside [0, 1], or the weights are unusable.
    """

    name = _NAME

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Callable[[], datetime] | None = None,
        rules: Iterable[CarrierRule] = (),
        outcomes: Mapping[Outcome, float] | None = None,
        latency: Latency | None = None,
        duplicate_rate: float = 0.05,
        reorder_rate: float = 0.05,
        late_rate: float = 0.02,
        early_rate: float = 0.02,
        reply_rate: float = 0.05,
        replies: Sequence[tuple[str, float]] | None = None,
        per_part_receipts: bool = False,
        throughput: float | None = None,
        max_queue: timedelta = timedelta(hours=10),
        price_per_segment: Decimal | None = Decimal("0.0079"),
        currency: str = "USD",
        secret: str = "simulated-secret",
        previous_secrets: Sequence[str] = (),
        status_url: str = "https://simulated.invalid/status",
        inbound_url: str = "https://simulated.invalid/inbound",
        number: str = "+12125550100",
        honour_opt_outs: bool = True,
        ledger: CarrierLedger | str | os.PathLike[str] | None = None,
    ) -> None:
        self.seed = int(seed)
        self.ledger = (
            ledger if ledger is None or isinstance(ledger, CarrierLedger) else CarrierLedger(ledger)
        )
        self.clock: Callable[[], datetime] = clock if clock is not None else VirtualClock()
        self.rules: tuple[CarrierRule, ...] = tuple(rules)
        for rule in self.rules:
            if not isinstance(rule, CarrierRule):
                raise ConfigurationError(f"rules must be CarrierRule objects, got {rule!r}")
        table = _weights(
            "outcomes", ((Outcome(k), v) for k, v in (outcomes or DEFAULT_OUTCOMES).items())
        )
        # A number's own fate (landline, invalid, opted out) is drawn from (seed, to);
        # a message's from (seed, to, key), conditional on the number being fine, so
        # each outcome's overall probability is the one asked for.
        number_outcomes = [(o, p) for o, p in table if o in _NUMBER_OUTCOMES]
        message_outcomes = [(o, p) for o, p in table if o not in _NUMBER_OUTCOMES]
        self._number_threshold = _threshold(sum(p for _, p in number_outcomes))
        self._number_outcomes = _cumulative(number_outcomes)
        message_share = sum(p for _, p in message_outcomes)
        self._message_outcomes = _cumulative([(o, p / message_share) for o, p in message_outcomes])
        self.latency = latency if latency is not None else Latency()
        lat = self.latency
        self._to_sent, self._to_final, self._callback = (
            _span(lat.to_sent),
            _span(lat.to_final),
            _span(lat.callback),
        )
        self._late, self._duplicate, self._reply = (
            _span(lat.late),
            _span(lat.duplicate),
            _span(lat.reply),
        )
        self.duplicate_rate = _rate("duplicate_rate", duplicate_rate)
        self.reorder_rate = _rate("reorder_rate", reorder_rate)
        self.late_rate = _rate("late_rate", late_rate)
        self.early_rate = _rate("early_rate", early_rate)
        self.reply_rate = _rate("reply_rate", reply_rate)
        self._t_duplicate = _threshold(self.duplicate_rate)
        self._t_reorder = _threshold(self.reorder_rate)
        self._t_late = _threshold(self.late_rate)
        self._t_early = _threshold(self.early_rate)
        self._t_reply = _threshold(self.reply_rate)
        self._replies = _cumulative(
            _weights("replies", replies if replies is not None else DEFAULT_REPLIES)
        )
        self._prices: dict[int, Decimal] = {}
        self._fates: dict[str, Outcome | None] = {}
        self._last_now: tuple[datetime, int] | None = None
        self.per_part_receipts = bool(per_part_receipts)
        if throughput is not None and not throughput > 0:
            raise ConfigurationError(f"throughput must be > 0, got {throughput!r}")
        self.throughput = throughput
        self.max_queue = max_queue
        self.price_per_segment = price_per_segment
        self.currency = currency
        self._secrets = tuple(s.encode("utf-8") for s in (secret, *previous_secrets))
        self.status_url = status_url
        self.inbound_url = inbound_url
        self.number = number
        self.honour_opt_outs = bool(honour_opt_outs)
        self._seed_prefix = f"{self.seed}\x1f".encode()
        self._lock = threading.Lock()
        # Per idempotency key, the first message and what it got. Two dicts
        # rather than a dict of pairs: each pair would be one more object per
        # message for the garbage collector to walk for as long as the gateway lives.
        self._first_by_key: dict[str, OutboundMessage] = {}
        self._result_by_key: dict[str, SendReceipt | GatewayError] = {}
        self._status_timeline = _Timeline()
        self._reply_timeline = _Timeline()
        self._sequence = 0
        self._sender_free: dict[str, int] = {}
        self._opted_out: set[str] = set()
        self.sent: list[OutboundMessage] = []
        """Every message accepted, in the order ``send`` accepted it (replays excluded)."""
        self.receipts: list[SendReceipt] = []
        """The receipt of every message in :attr:`sent`, in the same order."""
        self.attempts_by_number: Counter[str] = Counter()
        """How many times ``send`` was called per number, refusals and replays included."""
        self.messages_by_number: Counter[str] = Counter()
        """How many distinct messages were accepted per number (what the recipient receives)."""
        self.rejected: list[tuple[OutboundMessage, GatewayError]] = []
        """Every refused message with the error ``send`` raised."""
        self.webhooks: list[WebhookRequest] = []
        """Every callback handed out by :meth:`deliver_due` and friends, in order."""

    @classmethod
    def ideal(
        cls, *, seed: int = 0, clock: Callable[[], datetime] | None = None, **options: Any
    ) -> SimulatedGateway:
        """A carrier where everything is delivered at once, exactly once, in order.

        For benchmarks and for tests that are not about carrier trouble; any
        other constructor argument may still be given.
        """
        settings: dict[str, Any] = {
            "outcomes": {Outcome.DELIVERED: 1.0},
            "latency": Latency.zero(),
            "duplicate_rate": 0.0,
            "reorder_rate": 0.0,
            "late_rate": 0.0,
            "early_rate": 0.0,
            "reply_rate": 0.0,
        }
        settings.update(options)
        return cls(seed=seed, clock=clock, **settings)

    def __repr__(self) -> str:
        return (
            f"SimulatedGateway(seed={self.seed}, sent={len(self.sent)}, "
            f"rejected={len(self.rejected)}, pending={self.pending})"
        )

    # --- sending --------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendReceipt:
        """Accept a message, or refuse it as the simulated provider would.

        Sending a message whose idempotency key was seen before returns the
        first call's receipt (or raises its permanent error) and records
        nothing new but the attempt.

        Args:
            message: The message.

        Returns:
            The receipt, status ``SENDING``.

        Raises:
            PermanentGatewayError: The number is invalid (21211) or opted out at
                the carrier (21610); or the idempotency key was already used
                for a different message.
            TemporaryGatewayError: The sender's queue is full (21611) or the
                provider has an outage (20503).
        """
        with self._lock:
            to = message.to
            # get() then store: ``+= 1`` on a new key calls Counter.__missing__, in Python.
            self.attempts_by_number[to] = self.attempts_by_number.get(to, 0) + 1
            key = message.idempotency_key
            result = self._result_by_key.get(key)
            previous = None if result is None else (self._first_by_key[key], result)
            if self.ledger is not None and not isinstance(result, GatewayError):
                previous = self.ledger.find(key) or previous
            if previous is not None:
                return self._replay(message, *previous)
            now = self.clock()
            last = self._last_now
            if last is not None and last[0] is now:
                now_us = last[1]
            else:
                now_us = _us(require_aware(now, "the gateway's clock()"))
                self._last_now = (now, now_us)
            digest = hashlib.blake2b(
                self._seed_prefix + f"{to}\x1f{key}".encode(), digest_size=64
            ).digest()
            u = _UNPACK(digest)
            rule, outcome = self._outcome(to, u[0])
            if self.honour_opt_outs and to in self._opted_out:
                outcome = Outcome.OPTED_OUT_AT_CARRIER
            manifest = _MANIFESTS[outcome]
            if manifest.synchronous:
                raise self._refuse(message, manifest)
            segments = count_segments(message.body)
            handoff_us = now_us
            if self.throughput is not None:
                handoff_us = self._queue(message, segments, now_us)
            message_id = "SM" + digest[:16].hex()
            parts = segments if self.per_part_receipts and segments > 1 else 1
            price = self._price(segments)
            receipt = self._receipt(message, message_id, now, segments, parts, price)
            if self.ledger is not None:
                first = self.ledger.record(message, receipt)
                if first is not None:  # another gateway on the ledger accepted the key meanwhile
                    return self._replay(message, *first)
            self._schedule(
                message, message_id, segments, parts, price, manifest, rule, u, now_us, handoff_us
            )
            self._first_by_key[key] = message
            self._result_by_key[key] = receipt
            self.sent.append(message)
            self.receipts.append(receipt)
            self.messages_by_number[to] = self.messages_by_number.get(to, 0) + 1
            return receipt

    def _receipt(
        self,
        message: OutboundMessage,
        message_id: str,
        now: datetime,
        segments: int,
        parts: int,
        price: Decimal | None,
    ) -> SendReceipt:
        fields: dict[str, Any] = {
            "provider": self.name,
            "provider_message_id": message_id,
            "accepted_at": now,
            "status": DeliveryStatus.SENDING,
            "provider_status": "accepted",
            "part_ids": (
                (message_id, *(f"{message_id}-{n}" for n in range(2, parts + 1)))
                if parts > 1
                else ()
            ),
            "segments": segments,
            "price": price,
            "currency": self.currency if price is not None else None,
            "raw": FrozenMap(_receipt_raw(message_id, message, segments)),
        }
        if fields["provider"] is _NAME and (price is None or price.__class__ is Decimal):
            # SendReceipt(**fields) as given: the name is this class's own, the
            # id "SM" and hex digits, the part ids start with it, ``now`` is
            # aware (_us subtracted an aware instant from it), ``segments`` is
            # count_segments' (>= 1) and the price a Decimal already.
            # tests/providers/test_simulated.py proves it equal to the checked one.
            return _receipt_as_given(**fields)
        return SendReceipt(**fields)

    def _replay(
        self, message: OutboundMessage, first: OutboundMessage, result: SendReceipt | GatewayError
    ) -> SendReceipt:
        if (message.to, message.sender, message.body) != (first.to, first.sender, first.body):
            raise PermanentGatewayError(
                f"idempotency key {message.idempotency_key!r} was already used for another message",
                value=message,
                reason=FailureReason.PROVIDER_ERROR,
                provider_code="idempotency_key_reused",
                provider_text="Idempotency key reused with different parameters",
            )
        if isinstance(result, GatewayError):
            raise result
        return result

    def _price(self, segments: int) -> Decimal | None:
        if self.price_per_segment is None:
            return None
        price = self._prices.get(segments)
        if price is None:
            price = self._prices[segments] = self.price_per_segment * segments
        return price

    def _outcome(self, to: str, r: int) -> tuple[CarrierRule | None, Outcome]:
        for rule in self.rules:
            if rule.matches(to):
                return rule, rule.outcome
        magic = MAGIC_NUMBERS.get(to)
        if magic is not None:
            return None, magic
        if self._number_threshold > 0:
            fate = self._fates.get(to, _UNDECIDED)
            if fate is _UNDECIDED:
                fate = self._fates[to] = self._fate(to)
            if fate is not None:
                return None, fate
        return None, _pick(self._message_outcomes, r)

    def _fate(self, to: str) -> Outcome | None:
        """The outcome that belongs to the number itself, or ``None`` when it has none."""
        number_digest = hashlib.blake2b(
            self._seed_prefix + b"number\x1f" + to.encode(), digest_size=4
        ).digest()
        v = int.from_bytes(number_digest, "big")
        if v < self._number_threshold or not self._message_outcomes:
            outcome: Outcome = _pick(self._number_outcomes, v)
            return outcome
        return None

    def _refuse(self, message: OutboundMessage, manifest: _Manifest) -> GatewayError:
        error_type = PermanentGatewayError if manifest.permanent else TemporaryGatewayError
        error = error_type(
            f"simulated provider refused the message to {message.to}: "
            f"{manifest.code} {manifest.text}",
            value=message,
            reason=manifest.reason,
            provider_code=manifest.code,
            provider_text=manifest.text,
        )
        self.rejected.append((message, error))
        if manifest.permanent:
            self._first_by_key[message.idempotency_key] = message
            self._result_by_key[message.idempotency_key] = error
        return error

    def _queue(self, message: OutboundMessage, segments: int, now_us: int) -> int:
        assert self.throughput is not None
        handoff_us = max(self._sender_free.get(message.sender, now_us), now_us)
        if handoff_us - now_us > self.max_queue // _MICROSECOND:
            raise self._refuse(message, _MANIFESTS[Outcome.QUEUE_OVERFLOW])
        self._sender_free[message.sender] = handoff_us + int(segments / self.throughput * 1e6)
        return handoff_us

    def _schedule(
        self,
        message: OutboundMessage,
        message_id: str,
        segments: int,
        parts: int,
        price: Decimal | None,
        manifest: _Manifest,
        rule: CarrierRule | None,
        u: Sequence[int],
        now_us: int,
        handoff_us: int,
    ) -> None:
        low, width = self._to_sent
        sent_us = handoff_us + low + (width * u[1] >> 32)
        low, width = self._to_final
        final_us = sent_us + low + (width * u[2] >> 32)
        valid_until = message.valid_until
        if valid_until is not None and _us(valid_until) < sent_us:
            # The validity period ran out while the message waited (Twilio 30036).
            manifest = _EXPIRED
            sent_us = -1
            final_us = max(_us(valid_until), now_us)
        if u[3] < self._t_early:
            # The carrier answered before the API call returned: everything is due now.
            sent_due = final_due = now_us
            if sent_us >= 0:
                sent_us = now_us
            final_us = now_us
        else:
            low, width = self._callback
            sent_due = sent_us + low + (width * u[4] >> 32)
            final_due = final_us + low + (width * u[5] >> 32)
            if u[6] < self._t_late:
                low, width = self._late
                final_due += low + (width * u[7] >> 32)
        has_final = bool(manifest.provider_status)
        reorder = has_final and sent_us >= 0 and u[8] < self._t_reorder
        if reorder:
            # The final receipt overtakes the "sent" one: it is due first, and numbered
            # first for when both are due at the same moment.
            final_due, sent_due = min(sent_due, final_due), max(sent_due, final_due)
        # Entries are _StatusEntry tuples; the sequence breaks ties between
        # callbacks due at the same microsecond.
        to, sender, url = message.to, message.sender, message.status_callback_url
        sequence = self._sequence
        entries: list[_StatusEntry] = []
        if sent_us >= 0 and not reorder:
            sequence += 1
            entries.append(
                (sent_due, sequence, message_id, "sent", sent_us, 0, None, None,
                 parts, segments, price, to, sender, url)
            )  # fmt: skip
        if has_final:
            word, code, text = manifest.provider_status, manifest.code, manifest.text
            if parts > 1:
                # One final receipt per part instead of one for the whole message.
                for p in range(1, parts + 1):
                    sequence += 1
                    entries.append(
                        (final_due, sequence, message_id, word, final_us, p, code, text,
                         parts, segments, price, to, sender, url)
                    )  # fmt: skip
            else:
                sequence += 1
                entries.append(
                    (final_due, sequence, message_id, word, final_us, 0, code, text,
                     parts, segments, price, to, sender, url)
                )  # fmt: skip
        if reorder:
            sequence += 1
            entries.append(
                (sent_due, sequence, message_id, "sent", sent_us, 0, None, None,
                 parts, segments, price, to, sender, url)
            )  # fmt: skip
        self._sequence = sequence
        if entries and u[9] < self._t_duplicate:
            original = entries[len(entries) * u[10] >> 32]
            low, width = self._duplicate
            again = original[0] + low + (width * u[11] >> 32)
            entries.append((again, self._next(), *original[2:]))
        push = self._status_timeline.push
        for entry in entries:
            push(entry)
        if manifest is _MANIFESTS[Outcome.DELIVERED]:
            reply = rule.reply if rule is not None else None
            if reply is not None:
                assert rule is not None
                self._push_reply(
                    final_us + rule.reply_after // _MICROSECOND, message, reply, message_id
                )
            elif u[12] < self._t_reply:
                body = _pick(self._replies, u[13])
                low, width = self._reply
                self._push_reply(final_us + low + (width * u[14] >> 32), message, body, message_id)

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def _push_reply(
        self, due: int, message: OutboundMessage, body: str, in_reply_to: str | None
    ) -> None:
        origin = in_reply_to if in_reply_to is not None else f"{due}\x1f{body}"
        reply_id = (
            "MO"
            + hashlib.blake2b(
                self._seed_prefix + f"reply\x1f{origin}".encode(),
                digest_size=16,
            ).hexdigest()
        )
        self._reply_timeline.push((due, self._next(), message.to, message.sender, body, reply_id))

    # --- delivering callbacks -----------------------------------------------------------

    @property
    def pending(self) -> int:
        """How many callbacks (status and inbound) are waiting to be delivered."""
        return len(self._status_timeline) + len(self._reply_timeline)

    @property
    def carrier_opt_outs(self) -> frozenset[str]:
        """The numbers the carrier refuses because they replied STOP (and not START since)."""
        return frozenset(self._opted_out)

    def next_due(self) -> datetime | None:
        """When the next pending callback is due, or ``None`` when none is pending."""
        heads = [self._status_timeline.earliest(), self._reply_timeline.earliest()]
        dues = [due for due in heads if due is not None]
        return _at(min(dues)) if dues else None

    def deliver_due(self, until: datetime | None = None) -> list[WebhookRequest]:
        """Hand out every callback due by ``until``, status and inbound, in due order.

        Status callbacks go to the message's ``status_callback_url`` (else
        :attr:`status_url`), inbound ones to :attr:`inbound_url`; route them
        by URL, or by the body's ``type`` (``message.status`` /
        ``message.inbound``), as a web application would.

        Args:
            until: The time to deliver up to (aware); the clock's time by default.

        Returns:
            The signed requests, oldest due first.
        """
        with self._lock:
            limit = self._limit(until)
            due: list[tuple[int, int, WebhookRequest]] = []
            due.extend(self._pop_status(limit))
            due.extend(self._pop_replies(limit))
            due.sort(key=lambda item: (item[0], item[1]))
            requests = [request for _, _, request in due]
            self.webhooks.extend(requests)
            return requests

    def deliver_all(self) -> list[WebhookRequest]:
        """Hand out every pending callback, however far in the future it is due."""
        with self._lock:
            tails = [self._status_timeline.latest(), self._reply_timeline.latest()]
            dues = [due for due in tails if due is not None]
            if not dues:
                return []
            latest = max(dues)
        return self.deliver_due(_at(latest))

    def receipts_due(self, until: datetime | None = None) -> list[StatusEvent]:
        """Deliver the status callbacks due by ``until`` and parse them.

        A shortcut for ``parse_status`` over the status half of
        :meth:`deliver_due`; inbound messages stay pending.

        Args:
            until: The time to deliver up to; the clock's time by default.

        Returns:
            The events, oldest due first.
        """
        with self._lock:
            requests = [request for _, _, request in self._pop_status(self._limit(until))]
            self.webhooks.extend(requests)
        return [event for request in requests for event in self.parse_status(request)]

    def replies_due(self, until: datetime | None = None) -> list[InboundMessage]:
        """Deliver the inbound messages due by ``until`` and parse them.

        Args:
            until: The time to deliver up to; the clock's time by default.

        Returns:
            The messages, oldest first; status callbacks stay pending.
        """
        with self._lock:
            requests = [request for _, _, request in self._pop_replies(self._limit(until))]
            self.webhooks.extend(requests)
        return [message for request in requests for message in self.parse_inbound(request)]

    def advance(self, delta: timedelta) -> list[WebhookRequest]:
        """Move a :class:`VirtualClock` forward and deliver what fell due.

        Raises:
            TypeError: The gateway's clock is not a :class:`VirtualClock`.
        """
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance() needs the gateway to run on a VirtualClock")
        self.clock.advance(delta)
        return self.deliver_due()

    def _limit(self, until: datetime | None) -> int:
        return _us(require_aware(until, "until") if until is not None else self.clock())

    def _pop_status(self, limit: int) -> list[tuple[int, int, WebhookRequest]]:
        out = []
        for entry in self._status_timeline.pop_until(limit):
            out.append((entry[0], entry[1], self._status_from(entry)))
        return out

    def _pop_replies(self, limit: int) -> list[tuple[int, int, WebhookRequest]]:
        out = []
        for entry in self._reply_timeline.pop_until(limit):
            due, sequence, sender, to, body, reply_id = entry
            if self.honour_opt_outs:
                keyword = classify_reply(body).keyword
                if keyword is Keyword.OPT_OUT:
                    self._opted_out.add(sender)
                elif keyword is Keyword.OPT_IN:
                    self._opted_out.discard(sender)
            request = self.inbound_request(sender, body, to=to, at=_at(due), message_id=reply_id)
            out.append((due, sequence, request))
        return out

    def _status_from(self, entry: _StatusEntry) -> WebhookRequest:
        (_, _, message_id, word, occurred, part, code, text,
         parts, segments, price, to, sender, url) = entry  # fmt: skip
        return self.status_request(
            message_id,
            word,
            occurred_at=_at(occurred),
            error_code=code,
            error_text=text,
            part=part or None,
            parts=parts if part else None,
            part_id=(message_id if part <= 1 else f"{message_id}-{part}") if part else None,
            segments=segments,
            price=price,
            to=to,
            sender=sender,
            url=url,
        )

    # --- building and signing requests -----------------------------------------------------

    def sign(self, body: bytes) -> str:
        """The signature the simulator puts on ``body``: hex HMAC-SHA256 with the current secret."""
        return hmac.digest(self._secrets[0], body, "sha256").hex()

    def signed_request(
        self, body: bytes | str | Mapping[str, Any], *, url: str | None = None
    ) -> WebhookRequest:
        """A POST request carrying ``body``, signed as the simulator signs callbacks.

        Args:
            body: Raw bytes or text, or a mapping to encode as JSON.
            url: The URL; :attr:`status_url` by default.

        Returns:
            The request.
        """
        if isinstance(body, Mapping):
            raw = _ENCODE(body).encode()
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        else:
            raw = body
        return WebhookRequest(
            method="POST",
            url=url or self.status_url,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: self.sign(raw)},
            body=raw,
        )

    def status_request(
        self,
        provider_message_id: str,
        status: str = "delivered",
        *,
        occurred_at: datetime | None = None,
        error_code: str | None = None,
        error_text: str | None = None,
        part: int | None = None,
        parts: int | None = None,
        part_id: str | None = None,
        segments: int | None = None,
        price: Decimal | None = None,
        to: str | None = None,
        sender: str | None = None,
        url: str | None = None,
    ) -> WebhookRequest:
        """A signed status callback in the simulator's format, for tests.

        The body is JSON: ``type`` (``"message.status"``), ``event_id`` (equal
        for two deliveries of the same event), ``message_id``, ``status`` (one
        of ``sent``, ``delivered``, ``undelivered``, ``failed``; any other word
        parses as an unmapped status), ``occurred_at`` (ISO 8601),
        and when known ``error_code``, ``error_text``, ``part``, ``parts``,
        ``part_id``, ``segments``, ``price``, ``currency``, ``to``, ``from``.

        Args:
            provider_message_id: The message's id, as on its receipt.
            status: The status word.
            occurred_at: When it happened; the clock's time by default.
            error_code: For failures, a code from :data:`ERROR_CODES`.
            error_text: For failures, the description.
            part: For a per-part receipt, the 1-based part.
            parts: For a per-part receipt, the number of parts.
            part_id: For a per-part receipt, the part's own id.
            segments: Billed segments.
            price: The price.
            to: The recipient.
            sender: Our sender.
            url: The URL; :attr:`status_url` by default.

        Returns:
            The signed request.
        """
        moment = occurred_at if occurred_at is not None else self.clock()
        payload: dict[str, Any] = {
            "type": "message.status",
            "event_id": "EV"
            + hashlib.blake2b(
                f"{provider_message_id}\x1f{status}\x1f{part or ''}\x1f{error_code or ''}".encode(),
                digest_size=12,
            ).hexdigest(),
            "message_id": provider_message_id,
            "status": status,
            "occurred_at": moment.astimezone(_UTC).isoformat(),
        }
        optional = {
            "error_code": error_code,
            "error_text": error_text,
            "part": part,
            "parts": parts,
            "part_id": part_id,
            "segments": segments,
            "price": None if price is None else str(price),
            "currency": None if price is None else self.currency,
            "to": to,
            "from": sender,
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        return self.signed_request(payload, url=url or self.status_url)

    def inbound_request(
        self,
        from_number: str,
        body: str,
        *,
        to: str | None = None,
        at: datetime | None = None,
        message_id: str | None = None,
    ) -> WebhookRequest:
        """A signed inbound-message callback in the simulator's format, for tests.

        The body is JSON: ``type`` (``"message.inbound"``), ``message_id``,
        ``from``, ``to``, ``body``, ``received_at`` (ISO 8601).

        Args:
            from_number: Who wrote (E.164).
            body: What they wrote.
            to: Which of our numbers they wrote to; :attr:`number` by default.
            at: When; the clock's time by default.
            message_id: The message id; derived from the other fields by default.

        Returns:
            The signed request.
        """
        moment = (at if at is not None else self.clock()).astimezone(_UTC)
        recipient = to or self.number
        if message_id is None:
            message_id = (
                "MO"
                + hashlib.blake2b(
                    f"{from_number}\x1f{recipient}\x1f{body}\x1f{moment.isoformat()}".encode(),
                    digest_size=16,
                ).hexdigest()
            )
        payload = {
            "type": "message.inbound",
            "message_id": message_id,
            "from": from_number,
            "to": recipient,
            "body": body,
            "received_at": moment.isoformat(),
        }
        return self.signed_request(payload, url=self.inbound_url)

    def inject_reply(
        self,
        from_number: str,
        body: str,
        *,
        at: datetime | None = None,
        to: str | None = None,
    ) -> None:
        """Schedule an inbound message, as if ``from_number`` had texted ``body``.

        It is delivered by :meth:`deliver_due` (or :meth:`replies_due`) once
        due, and a STOP or START takes effect at the carrier at that moment.

        Args:
            from_number: Who writes (E.164).
            body: What they write.
            at: When it arrives; the clock's time by default.
            to: Which of our numbers they write to; :attr:`number` by default.
        """
        moment = at if at is not None else self.clock()
        due = _us(require_aware(moment, "at"))
        with self._lock:
            sequence = self._next()
            reply_id = (
                "MO"
                + hashlib.blake2b(
                    self._seed_prefix + f"inject\x1f{sequence}\x1f{from_number}".encode(),
                    digest_size=16,
                ).hexdigest()
            )
            self._reply_timeline.push(
                (due, sequence, from_number, to or self.number, body, reply_id)
            )

    # --- parsing ----------------------------------------------------------------------

    def _verified_payload(self, request: WebhookRequest, kind: str) -> dict[str, Any]:
        signature = request.headers.get(SIGNATURE_HEADER)
        candidates = (hmac.digest(s, request.body, "sha256").hex() for s in self._secrets)
        if not verify_any(candidates, signature):
            raise webhook_verification_error(request)
        if request.method != "POST":
            raise MalformedWebhook(f"expected a POST, got {request.method}", value=request)
        payload = request.json()
        if not isinstance(payload, dict):
            raise MalformedWebhook("webhook body is not a JSON object", value=request.body)
        if payload.get("type") != kind:
            raise MalformedWebhook(
                f"expected a {kind!r} callback, got type {payload.get('type')!r}",
                value=payload.get("type"),
            )
        return payload

    def parse_status(self, request: WebhookRequest) -> list[StatusEvent]:
        """Verify a simulated status callback and read its event.

        Unknown status words give an event with ``status=None`` (kept in the
        log, changing nothing); unknown error codes give ``UNKNOWN``.

        Args:
            request: The callback.

        Returns:
            One event.

        Raises:
            WebhookVerificationError: The signature is missing or wrong.
            MalformedWebhook: The body is not a simulated status callback.
        """
        payload = self._verified_payload(request, "message.status")
        try:
            message_id = _text(payload, "message_id")
            word = _text(payload, "status")
            occurred_at = _time(payload, "occurred_at")
            code = _optional_text(payload, "error_code")
            fields: dict[str, Any] = {
                "provider": self.name,
                "provider_message_id": message_id,
                "occurred_at": occurred_at,
                "provider_status": word,
                "provider_code": code,
                "provider_text": _optional_text(payload, "error_text"),
                "segments": _optional_int(payload, "segments"),
                "part": _optional_int(payload, "part"),
                "parts": _optional_int(payload, "parts"),
                "price": _optional_text(payload, "price"),
                "raw": payload,
            }
            if word in _FAILURE_WORDS:
                reason, permanent = ERROR_CODES.get(code or "", (FailureReason.UNKNOWN, None))
                return [StatusEvent.failure(reason=reason, permanent=permanent, **fields)]
            return [StatusEvent(status=_STATUS_WORDS.get(word), **fields)]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError, ArithmeticError) as error:
            raise MalformedWebhook(
                f"not a valid simulated status callback: {error}", value=payload
            ) from error

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Verify a simulated inbound-message callback and read its message.

        Args:
            request: The callback.

        Returns:
            One message.

        Raises:
            WebhookVerificationError: The signature is missing or wrong.
            MalformedWebhook: The body is not a simulated inbound callback.
        """
        payload = self._verified_payload(request, "message.inbound")
        try:
            body = payload.get("body", "")
            if not isinstance(body, str):
                raise MalformedWebhook(f"body must be text, got {body!r}", value=body)
            return [
                InboundMessage(
                    provider=self.name,
                    provider_message_id=_text(payload, "message_id"),
                    sender=PhoneNumber.parse(_text(payload, "from"), lenient=True),
                    recipient=_text(payload, "to"),
                    body=body,
                    received_at=_time(payload, "received_at"),
                    raw=payload,
                )
            ]
        except MalformedWebhook:
            raise
        except (SmsCampaignError, ValueError, TypeError) as error:
            raise MalformedWebhook(
                f"not a valid simulated inbound callback: {error}", value=payload
            ) from error


def _text(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedWebhook(f"{field} must be a non-empty string, got {value!r}", value=value)
    return value


def _optional_text(payload: Mapping[str, Any], field: str) -> str | None:
    value = payload.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedWebhook(f"{field} must be a string, got {value!r}", value=value)
    return value


def _optional_int(payload: Mapping[str, Any], field: str) -> int | None:
    value = payload.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedWebhook(f"{field} must be an integer, got {value!r}", value=value)
    return value


def _time(payload: Mapping[str, Any], field: str) -> datetime:
    text = _text(payload, field)
    try:
        # Python 3.10's fromisoformat() does not read a trailing "Z".
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError as error:
        raise MalformedWebhook(f"{field} is not an ISO 8601 time: {text!r}", value=text) from error
    if moment.tzinfo is None:
        raise MalformedWebhook(f"{field} has no time zone: {text!r}", value=text)
    return moment
