"""Hypothesis strategies for smscampaign's domain objects.

Import from here in your own tests::

    from smscampaign.testing.strategies import contacts, phone_numbers

Every strategy takes keyword-only arguments for what may vary, raises
:class:`hypothesis.errors.InvalidArgument` for arguments that make no sense,
and says in its docstring what it shrinks towards. The types are also
registered with :func:`hypothesis.strategies.register_type_strategy`, so
``st.from_type(Contact)`` works once Hypothesis is imported (through the
``hypothesis`` entry point this package declares).
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__: list[str] = ["type_strategies"]


# --- phone numbers (domain/phone.py) ---------------------------------------
__all__ += ["phone_numbers", "phone_texts"]

import functools  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import phonenumbers  # noqa: E402
from hypothesis.errors import InvalidArgument as _PhoneInvalidArgument  # noqa: E402

from smscampaign.domain.phone import NumberKind, PhoneNumber  # noqa: E402
from smscampaign.errors import InvalidPhoneNumber  # noqa: E402

#: Regions ``phone_numbers()`` draws from by default; shrinks towards the first.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "FR", "DE", "ES", "IT", "AU", "IN", "BR", "MX", "JP",
    "NL", "SE", "CH", "IE", "ZA", "NG", "SG", "NZ",
)  # fmt: skip

# The order kinds shrink in: what an SMS campaign sends to most comes first.
_PHONE_KIND_ORDER: tuple[NumberKind, ...] = (
    NumberKind.MOBILE,
    NumberKind.FIXED_LINE_OR_MOBILE,
    NumberKind.FIXED_LINE,
    NumberKind.VOIP,
    NumberKind.PERSONAL_NUMBER,
    NumberKind.PAGER,
    NumberKind.TOLL_FREE,
    NumberKind.PREMIUM_RATE,
    NumberKind.SHARED_COST,
    NumberKind.UAN,
    NumberKind.VOICEMAIL,
    NumberKind.UNKNOWN,
)

# Seeds for unverified numbers where we know a good one: the sample
# "+1 123 123 1234" (area codes never start with 1 in the North American plan).
_UNVERIFIED_SEEDS: dict[str, str] = {"US": "1231231234", "CA": "1231231234"}


@functools.cache
def _phone_examples(region: str) -> tuple[tuple[NumberKind, int, str], ...]:
    """libphonenumber's example numbers of ``region``: (kind, country code, national number).

    One per kind, in shrinking order, keeping only examples that are valid and
    belong to ``region`` itself (Canada's toll-free example is a US number).
    """
    found: dict[NumberKind, tuple[NumberKind, int, str]] = {}
    for kind in NumberKind:
        number_type = getattr(phonenumbers.PhoneNumberType, kind.name)
        example = phonenumbers.example_number_for_type(region, number_type)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        try:
            number = PhoneNumber.from_e164(e164)
        except InvalidPhoneNumber:
            continue
        if number.region == region and number.kind not in found:
            nsn = phonenumbers.national_significant_number(example)
            found[number.kind] = (number.kind, number.country_code, nsn)
    return tuple(found[kind] for kind in _PHONE_KIND_ORDER if kind in found)


@functools.cache
def _unverified_seed(region: str) -> tuple[int, str] | None:
    """A possible-but-invalid number of ``region``'s country: (country code, national number).

    Found deterministically by changing the leading digits of the region's
    first example number; None when no such change gives one.
    """
    examples = _phone_examples(region)
    if not examples:
        return None
    _, country_code, nsn = examples[0]
    candidates = [_UNVERIFIED_SEEDS.get(region, "")]
    candidates += [a + nsn[1:] for a in "0123456789"]
    candidates += [a + b + nsn[2:] for a in "0123456789" for b in "0123456789"]
    for candidate in candidates:
        if candidate and _unverified_number(country_code, candidate) is not None:
            return country_code, candidate
    return None


def _unverified_number(country_code: int, nsn: str) -> PhoneNumber | None:
    try:
        number = PhoneNumber.from_e164(f"+{country_code}{nsn}", verified=False)
    except InvalidPhoneNumber:
        return None
    return None if number.verified else number


def _check_phone_regions(regions: Sequence[str] | None) -> tuple[str, ...]:
    if regions is None:
        return DEFAULT_PHONE_REGIONS
    if isinstance(regions, str) or not isinstance(regions, Sequence):
        raise _PhoneInvalidArgument(
            f"regions must be a sequence of region codes such as ['US', 'GB'], got {regions!r}"
        )
    if not regions:
        raise _PhoneInvalidArgument("regions must not be empty")
    checked: list[str] = []
    for region in regions:
        code = region.upper() if isinstance(region, str) else region
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise _PhoneInvalidArgument(
                f"regions contains {region!r}, which is not a region code libphonenumber knows"
            )
        if code not in checked:
            checked.append(code)
    return tuple(checked)


def _check_phone_kinds(kinds: Sequence[NumberKind] | None) -> frozenset[NumberKind] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise _PhoneInvalidArgument(
            f"kinds must be a sequence of NumberKind members, got {kinds!r}"
        )
    if not kinds:
        raise _PhoneInvalidArgument("kinds must not be empty")
    for kind in kinds:
        if not isinstance(kind, NumberKind):
            raise _PhoneInvalidArgument(f"kinds contains {kind!r}, which is not a NumberKind")
    return frozenset(kinds)


def phone_numbers(
    *,
    regions: Sequence[str] | None = None,
    kinds: Sequence[NumberKind] | None = None,
    verified: bool | None = True,
) -> st.SearchStrategy[PhoneNumber]:
    """Generate phone numbers, valid by default, as :meth:`PhoneNumber.parse` returns them.

    Valid numbers start from libphonenumber's example number for a region and
    kind and change up to their last four digits, keeping the change only if
    the number stays valid, in that region and of that kind. Unverified
    numbers (``verified=False``) have a possible length but match no number
    range (the kind lenient parsing accepts), e.g. ``+1 123 123 1234``.

    Shrinks towards the first region (``"US"`` by default), then towards a
    mobile number (``FIXED_LINE_OR_MOBILE`` in the US), then towards the
    example number itself; with ``verified=None``, towards a valid number.

    Args:
        regions: ISO 3166-1 alpha-2 codes to draw from, in shrinking order;
            default :data:`DEFAULT_PHONE_REGIONS`. Non-geographic numbers
            (+800, ...) are not generated.
        kinds: Only numbers of these kinds; default any kind the regions have.
            Unverified numbers are of kind ``UNKNOWN``.
        verified: True for valid numbers only, False for unverified ones
            only, None for either.

    Returns:
        A strategy for :class:`PhoneNumber`.

    Raises:
        hypothesis.errors.InvalidArgument: An argument is malformed, names an
            unknown region, or no number fits them all (e.g. ``regions=["US"],
            kinds=[NumberKind.MOBILE]``: US mobiles are ``FIXED_LINE_OR_MOBILE``).
    """
    region_codes = _check_phone_regions(regions)
    kind_set = _check_phone_kinds(kinds)
    if verified not in (True, False, None):
        raise _PhoneInvalidArgument(f"verified must be True, False or None, got {verified!r}")
    choices: list[st.SearchStrategy[PhoneNumber]] = []
    if verified is not False:
        seeds = [
            (region, kind, country_code, nsn)
            for region in region_codes
            for kind, country_code, nsn in _phone_examples(region)
            if kind_set is None or kind in kind_set
        ]
        if seeds:
            choices.append(_valid_phone_numbers(tuple(seeds)))
        elif verified:
            raise _PhoneInvalidArgument(
                f"no valid number of kinds {sorted(kind_set or ())} in regions {region_codes}"
            )
    if verified is not True and (kind_set is None or NumberKind.UNKNOWN in kind_set):
        unverified_seeds = [
            seed for seed in map(_unverified_seed, region_codes) if seed is not None
        ]
        if unverified_seeds:
            choices.append(_unverified_phone_numbers(tuple(unverified_seeds)))
    if not choices:
        raise _PhoneInvalidArgument(
            f"no number fits regions={region_codes}, kinds={kinds!r}, verified={verified!r} "
            "(unverified numbers are all of kind UNKNOWN)"
        )
    return st.one_of(choices)


@st.composite
def _valid_phone_numbers(
    draw: st.DrawFn, seeds: tuple[tuple[str, NumberKind, int, str], ...]
) -> PhoneNumber:
    region, kind, country_code, nsn = draw(st.sampled_from(seeds))
    example = PhoneNumber.from_e164(f"+{country_code}{nsn}")
    changed = draw(st.integers(0, min(4, len(nsn) - 2)))
    if not changed:
        return example
    tail = draw(st.text("0123456789", min_size=changed, max_size=changed))
    try:
        number = PhoneNumber.from_e164(f"+{country_code}{nsn[:-changed]}{tail}")
    except InvalidPhoneNumber:
        return example
    # Keep the change only when it leaves a number of the same region and kind.
    return number if (number.region, number.kind) == (region, kind) else example


@st.composite
def _unverified_phone_numbers(draw: st.DrawFn, seeds: tuple[tuple[int, str], ...]) -> PhoneNumber:
    country_code, nsn = draw(st.sampled_from(seeds))
    seed = _unverified_number(country_code, nsn)
    assert seed is not None  # _unverified_seed() checked it
    # Keep the first digit, which is usually what makes the seed invalid.
    changed = draw(st.integers(0, len(nsn) - 1))
    if not changed:
        return seed
    tail = draw(st.text("0123456789", min_size=changed, max_size=changed))
    number = _unverified_number(country_code, nsn[:-changed] + tail)
    return seed if number is None else number


def phone_texts(
    *,
    regions: Sequence[str] | None = None,
    kinds: Sequence[NumberKind] | None = None,
) -> st.SearchStrategy[tuple[str, str | None, PhoneNumber]]:
    """Generate what people type for a valid number, with the number it means.

    Each example is ``(text, region, expected)``:
    ``PhoneNumber.parse(text, region)`` must equal ``expected``. The spellings
    are the E.164 form, the international and national formats, a ``tel:``
    URI (sometimes with an extension), a ``00`` international prefix, digits
    with spaces, dashes or dots, all with optional surrounding whitespace.

    Shrinks towards the E.164 spelling, without a region or whitespace, of
    what :func:`phone_numbers` shrinks towards.

    Args:
        regions: As for :func:`phone_numbers`.
        kinds: As for :func:`phone_numbers`.

    Returns:
        A strategy for ``(text, region or None, expected PhoneNumber)`` tuples.

    Raises:
        hypothesis.errors.InvalidArgument: As for :func:`phone_numbers`.
    """
    return _phone_texts(phone_numbers(regions=regions, kinds=kinds, verified=True))


@st.composite
def _phone_texts(
    draw: st.DrawFn, numbers: st.SearchStrategy[PhoneNumber]
) -> tuple[str, str | None, PhoneNumber]:
    number = draw(numbers)
    parsed = phonenumbers.parse(number.e164, None)
    spelling = draw(
        st.sampled_from(["e164", "international", "national", "tel", "idd", "separated"])
    )
    region: str | None = None
    if spelling == "international":
        text = number.international_format
    elif spelling == "national" and number.region is not None:
        text, region = number.national_format, number.region
        if draw(st.booleans()):
            region = region.lower()
    elif spelling == "tel":
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.RFC3966)
        if draw(st.booleans()):
            text += f";ext={draw(st.integers(1, 9999))}"
    elif spelling == "idd":
        text = "00" + number.international_format[1:]
    elif spelling == "separated":
        digits = phonenumbers.national_significant_number(parsed)
        separators = draw(
            st.lists(
                st.sampled_from(["", " ", "-", "."]), min_size=len(digits), max_size=len(digits)
            )
        )
        spaced = "".join(sep + digit for sep, digit in zip(separators, digits, strict=True))
        body = spaced.lstrip(" -.")
        text = f"+{number.country_code} {body}"
    else:
        text = number.e164
    before = draw(st.sampled_from(["", " ", "\t", "  "]))
    after = draw(st.sampled_from(["", " ", "\n", "  "]))
    return before + text + after, region, number


def _phone_type_strategies() -> list[tuple[type, st.SearchStrategy[object]]]:
    """The phone-number types and their strategies, for ``_TYPE_STRATEGIES()``."""
    return [(PhoneNumber, st.deferred(phone_numbers))]


# --- end phone numbers ------------------------------------------------------

# --- replies (domain/replies.py) -------------------------------------------
__all__ += ["inbound_messages", "reply_texts"]

# Generic names are imported under private aliases: every section of this module
# shares one namespace, and a second plain import of the same name would shadow it.
from collections.abc import Sequence as _Sequence  # noqa: E402
from datetime import datetime as _datetime  # noqa: E402
from datetime import timedelta as _timedelta  # noqa: E402
from datetime import timezone as _timezone  # noqa: E402
from typing import Any as _Any  # noqa: E402

from hypothesis.errors import InvalidArgument as _InvalidArgument  # noqa: E402

from smscampaign.domain.phone import PhoneNumber as _PhoneNumber  # noqa: E402
from smscampaign.domain.replies import (  # noqa: E402
    DEFAULT_KEYWORDS,
    InboundMessage,
    Keyword,
    KeywordSet,
    ReplyClassification,
    classify_reply,
)


def _sorted_words(words: _Any) -> list[str]:
    # Shortest first, so drawn keywords shrink towards "END"/"STOP", not "UNSUBSCRIBE".
    return sorted(set(words), key=lambda w: (len(w), w))


_REPLY_OPT_OUT = _sorted_words(w for k in DEFAULT_KEYWORDS for w in k.opt_out)
_REPLY_OPT_IN = _sorted_words(w for k in DEFAULT_KEYWORDS for w in k.opt_in)
_REPLY_HELP = _sorted_words(w for k in DEFAULT_KEYWORDS for w in k.help)
_REPLY_PHRASES = _sorted_words(p for k in DEFAULT_KEYWORDS for p in k.revocation_phrases)
_REPLY_SPACES = ("", " ", "  ", "\n", "\t", "\u00a0")
_REPLY_TRAILERS = ("", ".", "!", "?", "!!!", "...", "…", " 🙏", ",", ")")
_REPLY_APOSTROPHES = ("'", "\u2019", "\u2018", "")
_REPLY_TAILS = ("please", "12345", "thank you", "texting me", "now!", "merci", "pls", "x")
_REPLY_PREFIXES = ("", "Please ", "pls ", "Hi, ", "OK ", "Sorry but ")
_REPLY_SUFFIXES = ("", " thanks", "!", " asap", " please.", " 🙏")
# Ordinary replies, several built to trip naive matchers (prefixes of stop words,
# stop words inside a sentence, HELP inside a sentence).
_REPLY_FREE = (
    "Ok",
    "No",
    "5",
    "Maybe later",
    "Thanks!",
    "Who is this?",
    "Endless",
    "Stopped by today",
    "Cancelled my order?",
    "We have got to STOP this bill",
    "help me with the survey",
    "Can you tell me more info about the event",
    "I will be there at the end of the day",
    "Starting next week works for me",
    "Très bien, merci",
)


@st.composite
def _noisy_keyword(draw: st.DrawFn, word: str) -> str:
    """Dress a keyword in case changes, odd spacing and trailing punctuation."""
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    cased = "".join(c.swapcase() if flip else c for c, flip in zip(word, flips, strict=True))
    inner = draw(st.sampled_from((" ", "  ", "\u00a0")))
    cased = inner.join(cased.split(" "))
    apostrophe = draw(st.sampled_from(_REPLY_APOSTROPHES))
    cased = cased.replace("'", apostrophe)
    before = draw(st.sampled_from(_REPLY_SPACES))
    trailer = draw(st.sampled_from(_REPLY_TRAILERS))
    after = draw(st.sampled_from(_REPLY_SPACES))
    return f"{before}{cased}{trailer}{after}"


@st.composite
def _leading_stop(draw: st.DrawFn) -> str:
    word = draw(_noisy_keyword(draw(st.sampled_from(_REPLY_OPT_OUT))))
    tail = draw(st.sampled_from(_REPLY_TAILS) | st.text(min_size=1, max_size=20))
    return f"{word.rstrip()} {tail}"


@st.composite
def _phrase_reply(draw: st.DrawFn) -> str:
    phrase = draw(_noisy_keyword(draw(st.sampled_from(_REPLY_PHRASES))))
    prefix = draw(st.sampled_from(_REPLY_PREFIXES))
    suffix = draw(st.sampled_from(_REPLY_SUFFIXES))
    return f"{prefix}{phrase.strip()}{suffix}"


def _is_other(text: str) -> bool:
    return classify_reply(text).keyword is Keyword.OTHER


def _reply_kind_strategy(kind: Keyword) -> st.SearchStrategy[str]:
    if kind is Keyword.OPT_OUT:
        exact = st.sampled_from(_REPLY_OPT_OUT).flatmap(_noisy_keyword)
        return exact | _leading_stop() | _phrase_reply()
    if kind is Keyword.OPT_IN:
        return st.sampled_from(_REPLY_OPT_IN).flatmap(_noisy_keyword)
    if kind is Keyword.HELP:
        return st.sampled_from(_REPLY_HELP).flatmap(_noisy_keyword)
    return st.sampled_from(_REPLY_FREE) | st.text(max_size=40).filter(_is_other)


def reply_texts(*, kinds: _Sequence[Keyword] | None = None) -> st.SearchStrategy[str]:
    """Realistic reply bodies of the given kinds, as :func:`classify_reply` sees them.

    Opt-outs are stop words with noise (case, spacing, trailing punctuation and
    emoji), stop words followed by more text ("STOP please"), and revocation
    phrases inside a sentence; opt-ins and help requests are their keywords with
    noise; ordinary replies are a fixed list of tricky sentences ("Stopped by
    today", "We have got to STOP this bill") and random text that classifies as
    ``OTHER``. Every text classifies as its kind under the default keyword sets
    with ``accept_yes=False`` (YES is never drawn).

    Shrinks towards the first kind given (by default ``OTHER``, then
    ``OPT_OUT``, ``OPT_IN``, ``HELP``), the shortest keyword, and no noise.

    Args:
        kinds: Which classes of reply to draw; all four by default.

    Returns:
        A strategy for reply bodies.

    Raises:
        InvalidArgument: ``kinds`` is empty or holds something other than a
            :class:`~smscampaign.domain.replies.Keyword`.
    """
    if kinds is None:
        kinds = (Keyword.OTHER, Keyword.OPT_OUT, Keyword.OPT_IN, Keyword.HELP)
    if isinstance(kinds, str) or not kinds:
        raise _InvalidArgument(f"kinds must be a non-empty sequence of Keyword, got {kinds!r}")
    for kind in kinds:
        if not isinstance(kind, Keyword):
            raise _InvalidArgument(f"kinds must hold Keyword members, got {kind!r}")
    return st.one_of([_reply_kind_strategy(kind) for kind in dict.fromkeys(kinds)])


# Fixed valid numbers used when the phone section offers no ``phone_numbers()``.
_REPLY_SENDER_TEXTS = ("+12125550123", "+14155552671", "+33612345678", "+4915112345678")
_REPLY_PROVIDERS = ("simulated", "twilio", "vonage", "plivo")
_REPLY_RECIPIENTS = ("+12125550100", "+33612345600", "36123", "MyBrand")
_REPLY_ZONES = (_timezone.utc, _timezone(_timedelta(hours=1)), _timezone(_timedelta(hours=-5)))


def _default_senders() -> st.SearchStrategy[_PhoneNumber]:
    phone_numbers_ = globals().get("phone_numbers")
    if callable(phone_numbers_):
        strategy: st.SearchStrategy[_PhoneNumber] = phone_numbers_()
        return strategy
    return st.sampled_from([_PhoneNumber.parse(text) for text in _REPLY_SENDER_TEXTS])


@st.composite
def _inbound_message(
    draw: st.DrawFn,
    senders: st.SearchStrategy[_PhoneNumber],
    bodies: st.SearchStrategy[str],
    providers: _Sequence[str],
) -> InboundMessage:
    provider = draw(st.sampled_from(providers))
    message_id = "SM" + draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    sender = draw(senders)
    recipient = draw(st.sampled_from(_REPLY_RECIPIENTS))
    body = draw(bodies)
    received_at = draw(
        st.datetimes(
            min_value=_datetime(2020, 1, 1),
            max_value=_datetime(2035, 12, 31),
            timezones=st.sampled_from(_REPLY_ZONES),
        )
    )
    raw = {"MessageSid": message_id, "From": sender.e164, "To": recipient, "Body": body}
    return InboundMessage(
        provider=provider,
        provider_message_id=message_id,
        sender=sender,
        recipient=recipient,
        body=body,
        received_at=received_at,
        raw=raw,
    )


def inbound_messages(
    *,
    senders: st.SearchStrategy[_PhoneNumber] | None = None,
    bodies: st.SearchStrategy[str] | None = None,
    providers: _Sequence[str] | None = None,
) -> st.SearchStrategy[InboundMessage]:
    """Inbound replies with aware timestamps and a Twilio-shaped raw payload.

    The raw payload mirrors the normalized fields (``MessageSid``, ``From``,
    ``To``, ``Body``). Timestamps are aware, between 2020 and 2035, in UTC or a
    fixed offset. Shrinks towards the first provider, the first recipient, an
    all-zero message id, the earliest timestamp and whatever ``senders`` and
    ``bodies`` shrink towards.

    Args:
        senders: Who replies; by default ``phone_numbers()`` when this module
            has it, otherwise a few fixed valid numbers.
        bodies: The message texts; :func:`reply_texts` by default.
        providers: Provider slugs to draw from; four by default.

    Returns:
        A strategy for :class:`~smscampaign.domain.replies.InboundMessage`.

    Raises:
        InvalidArgument: ``providers`` is empty or holds an empty slug.
    """
    if providers is None:
        providers = _REPLY_PROVIDERS
    if (
        isinstance(providers, str)
        or not providers
        or not all(isinstance(p, str) and p.strip() for p in providers)
    ):
        raise _InvalidArgument(f"providers must be non-empty slugs, got {providers!r}")
    return _inbound_message(
        senders if senders is not None else _default_senders(),
        bodies if bodies is not None else reply_texts(),
        tuple(providers),
    )


def _reply_type_strategies() -> list[tuple[type, st.SearchStrategy[object]]]:
    """The replies types and their strategies, for ``register_type_strategy``."""
    return [
        (InboundMessage, inbound_messages()),
        (ReplyClassification, reply_texts().map(classify_reply)),
        (KeywordSet, st.sampled_from(DEFAULT_KEYWORDS)),
    ]


# --- end replies ------------------------------------------------------------

# --- segments (domain/segments.py) -----------------------------------------
__all__ += ["sms_texts"]

from typing import Literal  # noqa: E402

from hypothesis.errors import InvalidArgument  # noqa: E402

from smscampaign.domain.segments import (  # noqa: E402
    GSM7_BASIC_CHARACTERS,
    GSM7_EXTENSION_CHARACTERS,
)

# The GSM basic table, reordered so ``sampled_from`` shrinks towards "a", then
# plain ASCII, before the rarer accented, Greek and control characters.
_SMS_BASIC = "".join(
    sorted(GSM7_BASIC_CHARACTERS, key=lambda c: (not c.isascii() or not c.isalnum(), c != "a", c))
)
# Characters that force UCS-2 and matter in practice: typography a smart
# encoder would fix, a letter it would not (ç), astral emoji (2 UTF-16 units).
_SMS_NON_GSM = "ç’“”—–…\u00a0`😀👍🎉🇫🇷"


def sms_texts(
    *,
    alphabet: Literal["gsm7", "gsm7_basic", "any"] = "any",
    min_size: int = 0,
    max_size: int = 400,
) -> st.SearchStrategy[str]:
    """Generate SMS bodies, from short plain GSM text to long emoji-laden Unicode.

    ``"gsm7_basic"`` draws only from the GSM 03.38 basic table (1 septet each);
    ``"gsm7"`` adds the extension table (``€ [ ] { } \\ ^ ~ |``, form feed: 2
    septets each); ``"any"`` adds characters that force UCS-2, including
    astral emoji that cost 2 UTF-16 units, and arbitrary Unicode.

    Sizes count code points. Shrinks towards short text of ``"a"`` and plain
    ASCII, then basic GSM characters, before extension and non-GSM ones.

    Args:
        alphabet: Which characters may appear.
        min_size: The fewest code points.
        max_size: The most code points.

    Returns:
        A strategy for ``str``.

    Raises:
        InvalidArgument: ``alphabet`` is unknown, or the sizes are negative or
            out of order.
    """
    if alphabet not in ("gsm7", "gsm7_basic", "any"):
        raise InvalidArgument(f"alphabet must be 'gsm7', 'gsm7_basic' or 'any', not {alphabet!r}")
    if min_size < 0:
        raise InvalidArgument(f"min_size={min_size} must be at least 0")
    if max_size < min_size:
        raise InvalidArgument(f"max_size={max_size} must be at least min_size={min_size}")
    characters: st.SearchStrategy[str] = st.sampled_from(_SMS_BASIC)
    if alphabet != "gsm7_basic":
        characters = characters | st.sampled_from(GSM7_EXTENSION_CHARACTERS)
    if alphabet == "any":
        # codec="utf-8" leaves out lone surrogates, which no real body holds.
        characters = characters | st.sampled_from(_SMS_NON_GSM) | st.characters(codec="utf-8")
    return st.text(characters, min_size=min_size, max_size=max_size)


# --- end segments -----------------------------------------------------------

# --- scheduling (scheduling.py) ---------------------------------------------
__all__ += ["send_windows", "throttles", "zone_names"]

from collections.abc import Sequence as _SchSequence  # noqa: E402
from datetime import date as _SchDate  # noqa: E402

from hypothesis.errors import InvalidArgument as _SchInvalidArgument  # noqa: E402

from smscampaign.scheduling import (  # noqa: E402
    RateLimit as _SchRateLimit,
)
from smscampaign.scheduling import (  # noqa: E402
    SendWindow as _SchSendWindow,
)
from smscampaign.scheduling import (  # noqa: E402
    SendWindowZone as _SchSendWindowZone,
)
from smscampaign.scheduling import (  # noqa: E402
    Throttle as _SchThrottle,
)
from smscampaign.scheduling import (  # noqa: E402
    WeeklyInterval as _SchWeeklyInterval,
)

#: Zones with DST in both directions, no DST, half-hour offsets, and a
#: southern-hemisphere summer; the first shrinks first.
_SCH_ZONES = (
    "America/New_York",
    "Europe/Paris",
    "America/Los_Angeles",
    "America/Boise",
    "America/Phoenix",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "UTC",
)


def zone_names(*, zones: _SchSequence[str] | None = None) -> st.SearchStrategy[str]:
    """IANA zone names, by default a fixed set covering DST quirks; shrinks to New York."""
    choices = tuple(zones) if zones is not None else _SCH_ZONES
    if not choices:
        raise _SchInvalidArgument("zones must not be empty")
    return st.sampled_from(choices)


def send_windows(
    *,
    max_intervals: int = 4,
    zone: str | None = None,
    granularity_minutes: int = 15,
) -> st.SearchStrategy[_SchSendWindow]:
    """Send windows with up to ``max_intervals`` weekly intervals (midnight-crossing too).

    Times fall on multiples of ``granularity_minutes``. Some windows exclude
    dates in 2026-2027. ``zone`` fixes whose clock (``"campaign"`` or
    ``"recipient"``). Shrinks towards a single Monday interval from midnight,
    read on the campaign's clock, with no excluded dates.
    """
    if max_intervals < 1:
        raise _SchInvalidArgument(f"max_intervals must be >= 1, got {max_intervals}")
    if granularity_minutes < 1 or 1440 % granularity_minutes:
        raise _SchInvalidArgument(
            f"granularity_minutes must divide 1440, got {granularity_minutes}"
        )
    if zone is not None and zone not in ("campaign", "recipient"):
        raise _SchInvalidArgument(f"zone must be 'campaign' or 'recipient', got {zone!r}")
    steps = 1440 // granularity_minutes
    step = granularity_minutes * 60

    @st.composite
    def interval(draw: st.DrawFn) -> _SchWeeklyInterval:
        weekday = draw(st.integers(0, 6))
        start = draw(st.integers(0, steps - 1))
        length = draw(st.integers(1, steps - 1))
        end = (start + length) % steps or steps
        return _SchWeeklyInterval(weekday, start * step, end * step)

    zones = (
        st.just(_SchSendWindowZone(zone))
        if zone is not None
        else st.sampled_from(tuple(_SchSendWindowZone))
    )
    return st.builds(
        _SchSendWindow,
        intervals=st.lists(interval(), min_size=1, max_size=max_intervals),
        excluded_dates=st.frozensets(
            st.dates(_SchDate(2026, 1, 1), _SchDate(2027, 12, 31)), max_size=3
        ),
        zone=zones,
    )


def throttles(
    *, max_per_second: int = 50, daily_cap: bool | None = None
) -> st.SearchStrategy[_SchThrottle]:
    """Throttles with a per-second, per-minute or per-hour pace and maybe a daily cap.

    Shrinks towards ``1/s`` with no daily cap. ``daily_cap`` forces one
    (True) or forbids it (False).
    """
    if max_per_second < 1:
        raise _SchInvalidArgument(f"max_per_second must be >= 1, got {max_per_second}")
    pace = st.one_of(
        st.builds(_SchRateLimit, st.integers(1, max_per_second), st.just(1)),
        st.builds(_SchRateLimit, st.integers(1, 60 * max_per_second), st.just(60)),
        st.builds(_SchRateLimit, st.integers(1, 3600 * max_per_second), st.just(3600)),
    )
    cap = st.builds(_SchRateLimit, st.integers(1, 100_000), st.just(86_400))
    if daily_cap is True:
        caps = st.lists(cap, min_size=1, max_size=1)
    elif daily_cap is False:
        caps = st.just([])
    else:
        caps = st.lists(cap, max_size=1)
    return st.builds(lambda p, c: _SchThrottle([p, *c]), pace, caps)


# --- end scheduling -----------------------------------------------------------

# --- eligibility (eligibility.py) ---
__all__ += ["skip_reasons"]

from smscampaign.eligibility import Reason as _EligibilityReason  # noqa: E402


def skip_reasons(*, min_size: int = 1, max_size: int = 3) -> st.SearchStrategy[tuple[str, ...]]:
    """Skip reasons as a SKIPPED send stores them: distinct eligibility reason values.

    The values are :class:`smscampaign.eligibility.Reason` values in the order
    the default rules report them. Shrinks towards one reason, ``"inactive"``.

    Args:
        min_size: The fewest reasons (at least 1: a skipped send needs one).
        max_size: The most reasons.

    Returns:
        A strategy for tuples of lower_snake reason values.

    Raises:
        InvalidArgument: ``min_size`` is below 1 or above ``max_size``.
    """
    if min_size < 1 or max_size < min_size:
        raise _InvalidArgument(
            f"need 1 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}"
        )
    order = list(_EligibilityReason)
    drawn = st.lists(st.sampled_from(order), min_size=min_size, max_size=max_size, unique=True)
    return drawn.map(lambda reasons: tuple(r.value for r in sorted(reasons, key=order.index)))


# --- end eligibility ---

# --- gateways (providers/gateway.py) ---
__all__ += ["outbound_messages", "send_receipts", "webhook_requests"]

from collections.abc import Sequence as _GwSequence  # noqa: E402
from datetime import datetime as _GwDatetime  # noqa: E402
from datetime import timedelta as _GwTimedelta  # noqa: E402
from datetime import timezone as _GwTimezone  # noqa: E402
from decimal import Decimal as _GwDecimal  # noqa: E402

from hypothesis.errors import InvalidArgument as _GwInvalidArgument  # noqa: E402

from smscampaign.domain.delivery import DeliveryStatus as _GwStatus  # noqa: E402
from smscampaign.domain.phone import PhoneNumber as _GwPhoneNumber  # noqa: E402
from smscampaign.providers.gateway import (  # noqa: E402
    RECEIPT_STATUSES,
    OutboundMessage,
    SendReceipt,
    WebhookRequest,
)
from smscampaign.providers.simulated import ERROR_CODES as _GW_ERROR_CODES  # noqa: E402
from smscampaign.providers.simulated import SimulatedGateway as _GwSimulated  # noqa: E402

_GW_START = _GwDatetime(2026, 3, 2, 9, 0, tzinfo=_GwTimezone.utc)
_GW_SENDERS = ("+12125550100", "36123", "MyBrand")
_GW_PROVIDERS = ("simulated", "twilio", "vonage", "plivo")
_GW_RECEIPT_ORDER = (_GwStatus.SENDING, _GwStatus.QUEUED, _GwStatus.SENT)
_GW_WORDS = ("sent", "delivered", "undelivered", "failed")
_GW_KINDS = ("status", "inbound")
_GW_HEX = "0123456789abcdef"


def _gw_times() -> st.SearchStrategy[_GwDatetime]:
    # Whole seconds over about a month from 2026-03-02 09:00 UTC; shrinks towards that instant.
    return st.integers(0, 30 * 86_400).map(lambda s: _GW_START + _GwTimedelta(seconds=s))


def _gw_choices(
    name: str, values: _GwSequence[str] | None, default: tuple[str, ...]
) -> tuple[str, ...]:
    if values is None:
        return default
    if (
        isinstance(values, str)
        or not values
        or not all(isinstance(v, str) and v.strip() for v in values)
    ):
        raise _GwInvalidArgument(f"{name} must be a non-empty sequence of non-empty strings")
    return tuple(values)


@st.composite
def _outbound_message(
    draw: st.DrawFn,
    to: st.SearchStrategy[_GwPhoneNumber | str],
    senders: tuple[str, ...],
    bodies: st.SearchStrategy[str],
    valid_until: bool,
) -> OutboundMessage:
    deadline = draw(st.none() | _gw_times()) if valid_until else None
    return OutboundMessage(
        to=draw(to),
        sender=draw(st.sampled_from(senders)),
        body=draw(bodies),
        idempotency_key=draw(st.text(_GW_HEX, min_size=1, max_size=32)),
        valid_until=deadline,
        status_callback_url=draw(st.none() | st.just("https://app.example/hooks/sms")),
        metadata=draw(
            st.dictionaries(st.sampled_from(("campaign", "step", "tag")), st.text(max_size=8))
        ),
    )


def outbound_messages(
    *,
    to: st.SearchStrategy[_GwPhoneNumber | str] | None = None,
    senders: _GwSequence[str] | None = None,
    bodies: st.SearchStrategy[str] | None = None,
    valid_until: bool = True,
) -> st.SearchStrategy[OutboundMessage]:
    """Messages ready to hand to a gateway.

    Shrinks towards a message to what ``to`` shrinks towards (a US number by
    default), from the first sender, with what ``bodies`` shrinks towards (an
    empty body by default), idempotency key ``"0"``, no ``valid_until``, no
    callback URL and no metadata.

    Args:
        to: The recipients; :func:`phone_numbers` by default.
        senders: Senders to draw from (a long code, a short code and an
            alphanumeric id by default).
        bodies: The texts; :func:`sms_texts` by default.
        valid_until: Whether messages may carry a deadline (aware, in March 2026).

    Returns:
        A strategy for :class:`~smscampaign.providers.gateway.OutboundMessage`.

    Raises:
        InvalidArgument: ``senders`` is empty or holds an empty string.
    """
    return _outbound_message(
        to if to is not None else phone_numbers(),
        _gw_choices("senders", senders, _GW_SENDERS),
        bodies if bodies is not None else sms_texts(),
        bool(valid_until),
    )


@st.composite
def _send_receipt(
    draw: st.DrawFn, providers: tuple[str, ...], statuses: tuple[_GwStatus, ...]
) -> SendReceipt:
    message_id = "SM" + draw(st.text(_GW_HEX, min_size=32, max_size=32))
    parts = draw(st.integers(1, 4))
    per_part = parts > 1 and draw(st.booleans())
    price = draw(st.none() | st.integers(1, 10_000).map(lambda n: _GwDecimal(n) / 10_000))
    return SendReceipt(
        provider=draw(st.sampled_from(providers)),
        provider_message_id=message_id,
        accepted_at=draw(_gw_times()),
        status=draw(st.sampled_from(statuses)),
        part_ids=(message_id, *(f"{message_id}-{n}" for n in range(2, parts + 1)))
        if per_part
        else (),
        segments=draw(st.none() | st.just(parts)),
        price=price,
        currency="USD" if price is not None else None,
        raw={"sid": message_id},
    )


def send_receipts(
    *,
    providers: _GwSequence[str] | None = None,
    statuses: _GwSequence[_GwStatus] | None = None,
) -> st.SearchStrategy[SendReceipt]:
    """Receipts a gateway may return from ``send``, single- and multipart.

    Shrinks towards a ``SENDING`` receipt from the first provider, at
    2026-03-02 09:00 UTC, with an all-zero id, one part, no segment count and
    no price.

    Args:
        providers: Provider slugs to draw from; four by default.
        statuses: Receipt statuses to draw from, a subset of
            :data:`~smscampaign.providers.gateway.RECEIPT_STATUSES`.

    Returns:
        A strategy for :class:`~smscampaign.providers.gateway.SendReceipt`.

    Raises:
        InvalidArgument: ``providers`` is empty, or ``statuses`` is empty or
            holds a status a receipt cannot report.
    """
    pool: tuple[_GwStatus, ...] = _GW_RECEIPT_ORDER if statuses is None else tuple(statuses)
    if not pool or not set(pool) <= RECEIPT_STATUSES:
        allowed = sorted(s.value for s in RECEIPT_STATUSES)
        raise _GwInvalidArgument(
            f"statuses must be a non-empty subset of {allowed}, got {statuses!r}"
        )
    return _send_receipt(_gw_choices("providers", providers, _GW_PROVIDERS), pool)


@st.composite
def _webhook_request(
    draw: st.DrawFn, gateway: _GwSimulated, kinds: tuple[str, ...]
) -> WebhookRequest:
    kind = draw(st.sampled_from(kinds))
    at = draw(_gw_times())
    if kind == "inbound":
        sender = draw(phone_numbers())
        return gateway.inbound_request(sender.e164, draw(reply_texts()), at=at)
    word = draw(st.sampled_from(_GW_WORDS))
    failed = word in ("undelivered", "failed")
    code = draw(st.sampled_from(sorted(_GW_ERROR_CODES))) if failed else None
    parts = draw(st.integers(1, 3))
    part = draw(st.none() | st.integers(1, parts)) if parts > 1 else None
    return gateway.status_request(
        "SM" + draw(st.text(_GW_HEX, min_size=32, max_size=32)),
        word,
        occurred_at=at,
        error_code=code,
        part=part,
        parts=parts if part else None,
        segments=parts,
    )


def webhook_requests(
    *,
    gateway: _GwSimulated | None = None,
    kinds: _GwSequence[str] | None = None,
) -> st.SearchStrategy[WebhookRequest]:
    """Signed callbacks in the simulated provider's format, status and inbound.

    Every request verifies with ``gateway`` and parses: status callbacks with
    :meth:`~smscampaign.providers.simulated.SimulatedGateway.parse_status`
    (sent, delivered and failures with a code from its table, sometimes per
    part), inbound ones with ``parse_inbound`` (bodies from
    :func:`reply_texts`). Shrinks towards a ``sent`` status callback for an
    all-zero message id at 2026-03-02 09:00 UTC.

    Args:
        gateway: The simulator whose secret and URLs to use; a default
            :class:`~smscampaign.providers.simulated.SimulatedGateway` otherwise.
        kinds: ``"status"``, ``"inbound"`` or both (the default).

    Returns:
        A strategy for :class:`~smscampaign.providers.gateway.WebhookRequest`.

    Raises:
        InvalidArgument: ``kinds`` is empty or names another kind.
    """
    chosen = _gw_choices("kinds", kinds, _GW_KINDS)
    if not set(chosen) <= set(_GW_KINDS):
        raise _GwInvalidArgument(f"kinds must be 'status' and/or 'inbound', got {kinds!r}")
    return _webhook_request(gateway if gateway is not None else _GwSimulated(), chosen)


def _gateway_type_strategies() -> list[tuple[type, st.SearchStrategy[object]]]:
    """The gateway value types and their strategies, for ``type_strategies()``."""
    return [
        (OutboundMessage, outbound_messages()),
        (SendReceipt, send_receipts()),
        (WebhookRequest, webhook_requests()),
    ]


# --- end gateways ---

# --- contacts, campaigns, deliveries ----------------------------------------
__all__ += [
    "attempts",
    "aware_datetimes",
    "campaigns",
    "contacts",
    "recipients",
    "send_histories",
    "sends",
    "status_events",
    "steps",
    "suppressions",
]

import datetime as _dt  # noqa: E402
from collections.abc import Sequence as _DSequence  # noqa: E402

import attrs as _dattrs  # noqa: E402
from hypothesis.errors import InvalidArgument as _DInvalidArgument  # noqa: E402

from smscampaign.domain.campaign import (  # noqa: E402
    Campaign,
    CampaignOptions,
    CampaignState,
    Step,
    StepKind,
)
from smscampaign.domain.contact import (  # noqa: E402
    Consent,
    Contact,
    ContactStatus,
    Recipient,
    ResponseStatus,
    Suppression,
    SuppressionCause,
)
from smscampaign.domain.delivery import (  # noqa: E402
    ATTEMPT_STATUSES,
    Attempt,
    DeliveryStatus,
    FailureReason,
    RetryPolicy,
    Send,
    StatusEvent,
)

#: The instant generated times shrink towards.
EPOCH = _dt.datetime(2026, 3, 2, 9, 0, tzinfo=_dt.timezone.utc)

_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/Paris",
    "Europe/London",
)
_NAMES = ("Ann", "Tom", "Jon", "Zoë", "Li", "María", "Olu")
_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


def aware_datetimes(
    *, min_value: _dt.datetime = EPOCH, max_value: _dt.datetime | None = None
) -> st.SearchStrategy[_dt.datetime]:
    """Aware UTC datetimes at whole seconds; shrinks towards ``min_value``.

    Args:
        min_value: The earliest (aware) instant; defaults to 2026-03-02 09:00 UTC.
        max_value: The latest; defaults to 60 days after ``min_value``.
    """
    if min_value.tzinfo is None or (max_value is not None and max_value.tzinfo is None):
        raise _DInvalidArgument("aware_datetimes() takes aware bounds")
    upper = max_value or min_value + _dt.timedelta(days=60)
    if upper < min_value:
        raise _DInvalidArgument(f"max_value={upper!r} is before min_value={min_value!r}")
    span = int((upper - min_value).total_seconds())
    return st.integers(0, span).map(lambda s: min_value + _dt.timedelta(seconds=s))


@st.composite
def contacts(
    draw: st.DrawFn,
    *,
    phones: st.SearchStrategy[PhoneNumber] | None = None,
    consents: _DSequence[Consent] | None = None,
    account: str = "default",
    with_time_zone: bool | None = None,
) -> Contact:
    """Contacts with valid numbers; shrinks towards an opted-in US contact with no fields.

    Args:
        phones: Where numbers come from (default: :func:`phone_numbers`).
        consents: The consents to draw from (default: all, OPTED_IN first).
        account: The account every contact belongs to.
        with_time_zone: True always sets an explicit zone, False never, None either.
    """
    consent_pool = (
        tuple(consents)
        if consents is not None
        else (
            Consent.OPTED_IN,
            Consent.PENDING_OPT_IN,
            Consent.OPTED_OUT,
        )
    )
    if not consent_pool:
        raise _DInvalidArgument("consents must not be empty")
    zone = None
    if with_time_zone or (with_time_zone is None and draw(st.booleans())):
        zone = draw(st.sampled_from(_ZONES))
    fields = draw(
        st.dictionaries(
            st.sampled_from(("survey_link", "city", "team", "code")),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/:.", max_size=20),
            max_size=3,
        )
    )
    return Contact(
        id=draw(_IDS),
        phone=draw(phones if phones is not None else phone_numbers()),
        first_name=draw(st.sampled_from(_NAMES)),
        last_name=draw(st.sampled_from(("", "Smith", "Jones", "Dupont"))),
        fields=fields,
        consent=draw(st.sampled_from(consent_pool)),
        time_zone=zone,
        account=account,
    )


_BODIES = (
    "Hi {first_name}, take our survey: {survey_link}",
    "Reminder: the survey closes soon. Reply STOP to opt out.",
    "Thank you {first_name}!",
    "Plain text with no placeholders",
)


@st.composite
def steps(
    draw: st.DrawFn, *, reminders: int | None = None, thank_you: bool | None = None
) -> tuple[Step, ...]:
    """A valid step sequence: an invite, reminders, maybe a thank-you; shrinks to an invite.

    Args:
        reminders: Exactly this many reminders (default: 0 to 3).
        thank_you: Force a thank-you step on or off (default: either).
    """
    if reminders is not None and reminders < 0:
        raise _DInvalidArgument(f"reminders={reminders} must be >= 0")
    count = reminders if reminders is not None else draw(st.integers(0, 3))
    result = [Step(id="invite", kind=StepKind.INVITE, body=draw(st.sampled_from(_BODIES)))]
    for index in range(1, count + 1):
        delay = _dt.timedelta(hours=draw(st.integers(0, 96)))
        result.append(
            Step(
                id=f"reminder-{index}",
                kind=StepKind.REMINDER,
                body=draw(st.sampled_from(_BODIES)),
                delay=delay,
            )
        )
    if thank_you or (thank_you is None and draw(st.booleans())):
        result.append(Step(id="thank-you", kind=StepKind.THANK_YOU, body="Thank you!"))
    return tuple(result)


@st.composite
def campaigns(
    draw: st.DrawFn,
    *,
    states: _DSequence[CampaignState] | None = None,
    options: st.SearchStrategy[CampaignOptions] | None = None,
    step_sequences: st.SearchStrategy[tuple[Step, ...]] | None = None,
) -> Campaign:
    """Campaigns reached through legal transitions; shrinks towards a draft with only an invite.

    Args:
        states: The states to draw from (each reached through its real transitions).
        options: Where options come from (default: every combination of the switches).
        step_sequences: Where steps come from (default: :func:`steps`).
    """
    pool = tuple(states) if states is not None else tuple(CampaignState)
    if not pool:
        raise _DInvalidArgument("states must not be empty")
    target = draw(st.sampled_from(pool))
    at = draw(aware_datetimes())
    chosen_options = draw(
        options
        if options is not None
        else st.builds(
            CampaignOptions,
            allow_pending_opt_in=st.booleans(),
            accept_sent_as_received=st.booleans(),
            remind_disqualified=st.booleans(),
            deduplicate_numbers=st.booleans(),
            allow_unverified_numbers=st.booleans(),
            transactional=st.just(False),
        )
    )
    campaign = Campaign.create(
        at=at,
        id=draw(_IDS),
        name=draw(st.sampled_from(("Survey", "Reminder drive", "Outreach"))),
        steps=draw(step_sequences if step_sequences is not None else steps()),
        sender="+15005550006",
        time_zone=draw(st.sampled_from(_ZONES)),
        options=chosen_options,
    )
    for action in _PATH_TO[target]:
        at += _dt.timedelta(minutes=draw(st.integers(0, 600)))
        campaign = getattr(campaign, action)(at=at, cause="generated")
    return campaign


_PATH_TO: dict[CampaignState, tuple[str, ...]] = {
    CampaignState.DRAFT: (),
    CampaignState.SCHEDULED: ("schedule",),
    CampaignState.IN_PROGRESS: ("schedule", "start"),
    CampaignState.SUSPENDED: ("schedule", "start", "suspend"),
    CampaignState.COMPLETED: ("schedule", "start", "complete"),
    CampaignState.STOPPED: ("schedule", "start", "stop"),
}


@st.composite
def status_events(
    draw: st.DrawFn,
    *,
    provider: str = "simulated",
    provider_message_ids: st.SearchStrategy[str] | None = None,
    statuses: _DSequence[DeliveryStatus | None] | None = None,
    parts: int | None = None,
) -> StatusEvent:
    """Provider status events, failures with reasons; shrinks towards a QUEUED event at EPOCH.

    Args:
        provider: The provider slug.
        provider_message_ids: Where message ids come from (default: ``"m1"``).
        statuses: Statuses to draw from (``None`` stands for an unmappable provider status).
        parts: When set, events may be per-part receipts for a message of this many parts.
    """
    pool = (
        tuple(statuses)
        if statuses is not None
        else (
            DeliveryStatus.QUEUED,
            DeliveryStatus.SENDING,
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.SOFT_BOUNCED,
            DeliveryStatus.HARD_BOUNCED,
            None,
        )
    )
    if not pool:
        raise _DInvalidArgument("statuses must not be empty")
    if parts is not None and parts < 1:
        raise _DInvalidArgument(f"parts={parts} must be >= 1")
    status = draw(st.sampled_from(pool))
    reason = None
    if status in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED):
        reason = draw(st.sampled_from(tuple(FailureReason)))
    part = draw(st.none() | st.integers(1, parts)) if parts else None
    code = draw(st.sampled_from((None, "30003", "30005", "21610", "1")))
    return StatusEvent(
        provider=provider,
        provider_message_id=draw(
            provider_message_ids if provider_message_ids is not None else st.just("m1")
        ),
        status=status,
        occurred_at=draw(aware_datetimes(max_value=EPOCH + _dt.timedelta(hours=6))),
        reason=reason,
        provider_status=status.value if status else "mystery",
        provider_code=code if reason else None,
        part=part,
        parts=parts if part else None,
        segments=draw(st.none() | st.integers(1, 3)),
    )


@st.composite
def attempts(
    draw: st.DrawFn, *, number: int = 1, to: str = "+12125550123", max_events: int = 4
) -> Attempt:
    """An attempt folded from a few generated events; shrinks towards a bare QUEUED attempt.

    Args:
        number: The attempt's number.
        to: The number it went to.
        max_events: At most this many events are applied.
    """
    if number < 1 or max_events < 0:
        raise _DInvalidArgument("number must be >= 1 and max_events >= 0")
    attempt = Attempt.queued(number=number, to=to, at=EPOCH)
    events = draw(
        st.lists(
            status_events(provider_message_ids=st.just(f"m-{to}-{number}")), max_size=max_events
        )
    )
    return attempt.apply_all(events)


@st.composite
def sends(
    draw: st.DrawFn,
    *,
    campaign_id: str = "c1",
    recipient_id: str = "r1",
    step_id: str = "invite",
    to: str = "+12125550123",
    statuses: _DSequence[DeliveryStatus] | None = None,
) -> Send:
    """Sends in every status, reached through the real methods; shrinks towards QUEUED.

    Args:
        campaign_id: The campaign id.
        recipient_id: The recipient id.
        step_id: The step id.
        to: The number.
        statuses: Only sends whose status is one of these (default: any).
    """
    pool = frozenset(statuses) if statuses is not None else None
    if pool is not None and not pool:
        raise _DInvalidArgument("statuses must not be empty")
    created = draw(aware_datetimes(max_value=EPOCH + _dt.timedelta(days=7)))
    base = Send(
        campaign_id=campaign_id,
        recipient_id=recipient_id,
        step_id=step_id,
        to=to,
        created_at=created,
        body="Hello",
        id=f"{campaign_id}:{step_id}:{recipient_id}:{draw(st.integers(0, 9999))}",
    )
    how = draw(st.sampled_from(("queued", "skipped", "canceled", "attempts")))
    send = base
    if how == "skipped":
        send = Send.skipped(
            campaign_id=campaign_id,
            recipient_id=recipient_id,
            step_id=step_id,
            to=to,
            at=created,
            reasons=draw(st.lists(st.sampled_from(("suppressed", "inactive")), min_size=1)),
            id=base.id,
        )
    elif how == "canceled":
        send = base.cancel(at=created)
    elif how == "attempts":
        for n in range(1, draw(st.integers(1, 4)) + 1):
            if send.status is not DeliveryStatus.QUEUED:
                break
            at = created + _dt.timedelta(hours=n)
            send = send.start_attempt(at=at)
            outcome = draw(
                st.sampled_from(
                    (
                        DeliveryStatus.SENDING,
                        DeliveryStatus.SENT,
                        DeliveryStatus.DELIVERED,
                        DeliveryStatus.SOFT_BOUNCED,
                        DeliveryStatus.HARD_BOUNCED,
                    )
                )
            )
            pid = f"{send.id}-{n}"
            send = send.apply(
                StatusEvent(
                    provider="simulated", provider_message_id=pid, status="sending", occurred_at=at
                )
            )
            if outcome is not DeliveryStatus.SENDING:
                reason = (
                    draw(st.sampled_from(tuple(FailureReason)))
                    if outcome in (DeliveryStatus.SOFT_BOUNCED, DeliveryStatus.HARD_BOUNCED)
                    else None
                )
                send = send.apply(
                    StatusEvent(
                        provider="simulated",
                        provider_message_id=pid,
                        status=outcome,
                        occurred_at=at + _dt.timedelta(minutes=1),
                        reason=reason,
                    )
                )
    if pool is not None:
        from hypothesis import assume

        assume(send.status in pool)
    return send


# The attempt statuses, in the enum's order (sampled_from shrinks towards the first).
_OPEN_STATUSES = tuple(status for status in DeliveryStatus if status in ATTEMPT_STATUSES)


@st.composite
def send_histories(draw: st.DrawFn, *, max_events: int = 6) -> tuple[Send, list[StatusEvent]]:
    """A send and provider events about it, as providers deliver them.

    The send comes from :func:`sends`; when it may, a new attempt is started
    (it has no provider id until its first event), sometimes with per-part
    ids. The events name its attempts' ids, a part's id or an id it does not
    have, from its provider or another, with any status (or one that cannot
    be mapped), whole or per part, with segments and prices, at times with
    microseconds and in other offsets than UTC; some are delivered twice and
    the order is shuffled. Shrinks towards a queued send and no events.

    Args:
        max_events: At most this many distinct events (before repeats).
    """
    if max_events < 0:
        raise _DInvalidArgument(f"max_events={max_events} must be >= 0")
    # Mostly sends that can take events; skipped and canceled ones now and then.
    pools = (_OPEN_STATUSES, _OPEN_STATUSES, _OPEN_STATUSES, None)
    send = draw(st.sampled_from(pools).flatmap(lambda pool: sends(statuses=pool)))
    if send.status is DeliveryStatus.QUEUED and not send.skip_reasons:
        send = send.start_attempt(at=send.created_at + _dt.timedelta(days=1))
        if draw(st.booleans()):
            send = send.with_part_ids([f"{send.id}-p1", f"{send.id}-p2"])
    ids = [
        message_id
        for a in send.attempts
        for message_id in (a.provider_message_id, *a.part_ids)
        if message_id is not None
    ]
    ids = [*ids, *ids, "unknown-id"]  # mostly ids the send has
    events = draw(
        st.lists(
            st.sampled_from(("simulated", "simulated", "simulated", "other")).flatmap(
                lambda provider: status_events(
                    provider=provider,
                    provider_message_ids=st.sampled_from(ids),
                    parts=draw(st.sampled_from((None, 2))),
                )
            ),
            max_size=max_events,
        )
    )
    varied = []
    for event in events:
        at = event.occurred_at + _dt.timedelta(microseconds=draw(st.sampled_from((0, 1, 250000))))
        offset = _dt.timezone(_dt.timedelta(hours=draw(st.sampled_from((0, -5, 2)))))
        price = draw(st.none() | st.decimals(min_value=0, max_value=1, places=4))
        varied.append(_dattrs.evolve(event, occurred_at=at.astimezone(offset), price=price))
    repeats = draw(st.lists(st.sampled_from(varied), max_size=2)) if varied else []
    return send, draw(st.permutations(varied + repeats))


@st.composite
def recipients(
    draw: st.DrawFn,
    *,
    campaign: Campaign | None = None,
    contact_strategy: st.SearchStrategy[Contact] | None = None,
    with_sends: bool = True,
) -> Recipient:
    """Recipients of a campaign with plausible sends; shrinks towards an ACTIVE, NOT_STARTED one.

    Args:
        campaign: The campaign whose steps sends may be for (default: a two-step one).
        contact_strategy: Where contacts come from (default: :func:`contacts`).
        with_sends: Whether sends for the campaign's steps may be drawn.
    """
    contact = draw(contact_strategy if contact_strategy is not None else contacts())
    campaign_id = campaign.id if campaign is not None else "c1"
    step_ids = [s.id for s in campaign.steps] if campaign is not None else ["invite", "reminder-1"]
    drawn: list[Send] = []
    if with_sends:
        for step_id in step_ids:
            if not draw(st.booleans()):
                break
            drawn.append(
                draw(
                    sends(
                        campaign_id=campaign_id,
                        recipient_id=contact.id,
                        step_id=step_id,
                        to=contact.phone.e164,
                    )
                )
            )
    return Recipient(
        campaign_id=campaign_id,
        contact=contact,
        status=draw(st.sampled_from(tuple(ContactStatus))),
        response=draw(st.sampled_from(tuple(ResponseStatus))),
        list_name=draw(st.sampled_from(("", "list.csv", "Spring 2026.csv"))),
        sends=drawn,
    )


@st.composite
def suppressions(
    draw: st.DrawFn,
    *,
    phones: st.SearchStrategy[PhoneNumber] | None = None,
    account: str = "default",
) -> Suppression:
    """Suppression-list entries of every cause; shrinks towards a STOP-word entry at EPOCH.

    Args:
        phones: Where numbers come from (default: :func:`phone_numbers`).
        account: The account.
    """
    phone = draw(phones if phones is not None else phone_numbers())
    cause = draw(st.sampled_from(tuple(SuppressionCause)))
    return Suppression(
        e164=phone.e164,
        cause=cause,
        at=draw(aware_datetimes()),
        account=account,
        detail=draw(st.sampled_from(("STOP", "30005", "operator note", ""))),
        by=draw(st.sampled_from(("", "ops@example.com", "twilio"))),
    )


def _domain_type_strategies() -> list[tuple[type, st.SearchStrategy[object]]]:
    return [
        (Contact, contacts()),
        (Campaign, campaigns()),
        (Recipient, recipients()),
        (Send, sends()),
        (Attempt, attempts()),
        (StatusEvent, status_events()),
        (Suppression, suppressions()),
        (RetryPolicy, st.builds(RetryPolicy, max_retries=st.integers(0, 5))),
    ]


# --- end contacts, campaigns, deliveries -------------------------------------


def type_strategies() -> dict[type, st.SearchStrategy[object]]:
    """The strategy for each domain type; the ``hypothesis`` entry point registers them all."""
    return dict(
        [
            *_phone_type_strategies(),
            *_reply_type_strategies(),
            *_gateway_type_strategies(),
            *_domain_type_strategies(),
        ]
    )


# --- account views (smscampaign.account) --------------------------------------
# A whole account's history, to load into any storage: campaigns sharing a pool
# of contacts and numbers, their sends at scattered times, and replies.

__all__ += ["AccountHistory", "account_histories", "log_filters"]

import attrs as _attrs  # noqa: E402
from hypothesis.errors import InvalidArgument as _AcInvalidArgument  # noqa: E402

from smscampaign.providers.base import LogFilter as _LogFilter  # noqa: E402
from smscampaign.providers.base import Storage as _Storage  # noqa: E402


@_attrs.frozen
class AccountHistory:
    """Campaigns of one account with their recipients, sends and replies, ready to load.

    Args:
        account: The account.
        campaigns: The campaigns.
        recipients: Their recipients, each with its sends.
        replies: Replies from the account's numbers (and maybe a stranger's).
    """

    account: str
    campaigns: tuple[Campaign, ...]
    recipients: tuple[Recipient, ...]
    replies: tuple[InboundMessage, ...]

    @property
    def sends(self) -> list[Send]:
        """Every send of every recipient."""
        return [send for recipient in self.recipients for send in recipient.sends]

    def load(self, storage: _Storage) -> None:
        """Store everything: campaigns, recipients, sends, then replies."""
        with storage.transaction():
            for campaign in self.campaigns:
                storage.add_campaign(campaign)
            storage.add_recipients(self.recipients)
            storage.save_sends(self.sends)
            for message in self.replies:
                storage.record_inbound(message)


@st.composite
def account_histories(
    draw: st.DrawFn,
    *,
    account: str = "default",
    max_campaigns: int = 3,
    max_contacts: int = 5,
    max_replies: int = 6,
) -> AccountHistory:
    """An account's history; shrinks towards one campaign, one contact, no send and no reply.

    Contacts come from a pool of at most four numbers (so numbers are shared,
    and replies hit several campaigns); each campaign takes some of the pool
    (at least one) as recipients, with sends drawn by :func:`sends` (every
    status, times scattered over a week). Replies come from the pool's numbers
    or a stranger's, with bodies from :func:`reply_texts`, over ten days.

    Args:
        account: The account everything belongs to.
        max_campaigns: At most this many campaigns (at least one).
        max_contacts: At most this many contacts in the pool (at least one).
        max_replies: At most this many replies.
    """
    if max_campaigns < 1 or max_contacts < 1 or max_replies < 0:
        raise _AcInvalidArgument("max_campaigns and max_contacts must be >= 1 and max_replies >= 0")
    phones = draw(st.lists(phone_numbers(), min_size=1, max_size=4, unique_by=lambda p: p.e164))
    pool = draw(
        st.lists(
            contacts(phones=st.sampled_from(phones), account=account),
            min_size=1,
            max_size=max_contacts,
            unique_by=lambda c: c.id,
        )
    )
    count = draw(st.integers(1, max_campaigns))
    chosen_campaigns: list[Campaign] = []
    members: list[Recipient] = []
    for index in range(count):
        campaign = draw(
            campaigns(
                states=(
                    CampaignState.IN_PROGRESS,
                    CampaignState.COMPLETED,
                    CampaignState.SUSPENDED,
                )
            )
        )
        campaign = _attrs.evolve(campaign, id=f"k{index}", account=account)
        chosen_campaigns.append(campaign)
        chosen = st.lists(st.sampled_from(pool), min_size=1, unique_by=lambda c: c.id)
        for contact in draw(chosen):
            recipient = draw(recipients(campaign=campaign, contact_strategy=st.just(contact)))
            members.append(recipient)
    stranger = draw(phone_numbers())
    senders = st.sampled_from([*phones, stranger])
    replies = draw(
        st.lists(
            st.builds(
                InboundMessage,
                provider=st.just("simulated"),
                provider_message_id=st.text("0123456789abcdef", min_size=8, max_size=8),
                sender=senders,
                recipient=st.just("+15005550006"),
                body=reply_texts(),
                received_at=aware_datetimes(max_value=EPOCH + _dt.timedelta(days=10)),
                raw=st.just({}),
                account=st.just(account),
            ),
            max_size=max_replies,
            unique_by=lambda m: m.provider_message_id,
        )
    )
    return AccountHistory(
        account=account,
        campaigns=tuple(chosen_campaigns),
        recipients=tuple(members),
        replies=tuple(replies),
    )


@st.composite
def log_filters(
    draw: st.DrawFn,
    *,
    campaign_ids: _DSequence[str] = ("k0", "k1"),
    step_ids: _DSequence[str] = ("invite", "reminder-1", "thank-you"),
    numbers: st.SearchStrategy[str] | None = None,
    contact_ids: st.SearchStrategy[str] | None = None,
) -> _LogFilter:
    """SMS log filters; shrinks towards the empty filter (the whole log).

    Args:
        campaign_ids: Campaign ids a filter may name.
        step_ids: Step ids a filter may name.
        numbers: E.164 numbers a filter may name (default: none).
        contact_ids: Contact ids a filter may name (default: none).
    """
    since = draw(st.none() | aware_datetimes(max_value=EPOCH + _dt.timedelta(days=7)))
    until = draw(st.none() | aware_datetimes(max_value=EPOCH + _dt.timedelta(days=8)))
    if since is not None and until is not None and until <= since:
        until = since + _dt.timedelta(hours=draw(st.integers(1, 72)))
    statuses = draw(st.none() | st.sets(st.sampled_from(tuple(DeliveryStatus)), min_size=1))
    return _LogFilter(
        since=since,
        until=until,
        campaign_id=draw(st.none() | st.sampled_from(tuple(campaign_ids))),
        step_id=draw(st.none() | st.sampled_from(tuple(step_ids))),
        statuses=statuses,
        to=draw(st.none() | numbers) if numbers is not None else None,
        contact_id=draw(st.none() | contact_ids) if contact_ids is not None else None,
    )
