"""Inbound replies and what they mean: opt-out, opt-in, help, or an ordinary answer.

An :class:`InboundMessage` is a text a person sent back to one of our numbers.
:func:`classify_reply` sorts its body into a :class:`Keyword` and says which
:class:`MatchRule` decided it, so the caller can suppress the number on an
opt-out, lift a stop-word suppression on an opt-in, answer HELP, or record an
ordinary reply.

The keywords are data, not ``if`` chains: each :class:`KeywordSet` holds one
language's words with the source they come from and the date they were checked.
:data:`DEFAULT_KEYWORDS` holds English and French; campaigns may extend or
replace them (see ``docs/replies.md``).

Matching errs towards honoring an opt-out, because the FCC revocation rule
(47 CFR § 64.1200(a)(10), effective 11 April 2025) lets a consumer revoke consent
"by any reasonable means" and forbids a sender to insist on one exact form:

1. The body is normalized: Unicode compatibility forms folded (NFKD), accents
   dropped (ARRÊT = ARRET), case folded, curly apostrophes made straight and then
   removed (don’t = don't = dont), inner whitespace collapsed, and punctuation,
   symbols and emoji trimmed from both ends ("Stop.", " stop! ", "STOP!!!").
2. An opt-out keyword that is the whole body wins (``EXACT``); then opt-in and
   help keywords, which only ever match the whole body ("help me with the
   survey" is an ordinary reply).
3. A body whose first whole word(s) are an opt-out keyword is an opt-out
   (``LEADING``): "STOP 12345", "Stop texting me", "Stop. Thank you", and also
   "END of story". Words that merely begin with the same letters ("Endless",
   "Stopped by today", "Cancelled my order?") do not count.
4. A revocation phrase anywhere in the body is an opt-out (``PHRASE``): "please
   remove me", "take me off your list", "don't text me".
5. Anything else is ``OTHER``; if it contains an opt-out keyword as a whole word
   inside a sentence ("We have got to STOP this bill") it is flagged
   ``possible_opt_out`` for a human to look at.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from smscampaign._compat import StrEnum
from smscampaign.domain._frozen import FrozenMap, freeze
from smscampaign.domain._time import require_aware
from smscampaign.domain.phone import PhoneNumber
from smscampaign.errors import ConfigurationError, MalformedWebhook

__all__ = [
    "DEFAULT_KEYWORDS",
    "ENGLISH_KEYWORDS",
    "FRENCH_KEYWORDS",
    "InboundMessage",
    "Keyword",
    "KeywordSet",
    "MatchRule",
    "ReplyClassification",
    "classify_reply",
    "default_keyword_set",
]


class Keyword(StrEnum):
    """What a reply asks for; values are stable lower_snake strings, safe to store."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    OTHER = "other"


class MatchRule(StrEnum):
    """Which rule decided a classification.

    ``EXACT``: the whole (normalized) body is a keyword. ``LEADING``: the body
    begins with an opt-out keyword as a whole word ("STOP 12345"). ``PHRASE``: the
    body contains a revocation phrase ("remove me"). ``NONE``: nothing matched.
    """

    EXACT = "exact"
    LEADING = "leading"
    PHRASE = "phrase"
    NONE = "none"


# --- normalization -----------------------------------------------------------

# Apostrophe look-alikes people's phones produce for "don't": right single quote
# (iOS smart punctuation), left single quote, modifier letter apostrophe, prime,
# grave accent, fullwidth apostrophe.
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u2032`\uff07", "'"))
# Categories trimmed from both ends of a body: punctuation, symbols (emoji
# included), separators.
_TRIM_CATEGORIES = frozenset("PSZ")
# A keyword ends where the next character is not part of a word. Hyphens count
# as part of a word, so "stop-gap" and "end-user" are not "stop" or "end".
_WORD_END = r"(?![\w-])"
_WORD_START = r"(?<![\w-])"


def _canonical(text: str) -> str:
    """Return ``text`` folded for comparison, apostrophes kept (the form we report)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept = []
    for ch in folded:
        category = unicodedata.category(ch)
        # Combining marks are the accents NFKD split off (ARRÊT -> ARRET); format
        # characters are zero-width spaces, joiners, soft hyphens and BOMs.
        if category in ("Mn", "Me", "Cf") or (category == "Cc" and not ch.isspace()):
            continue
        kept.append(ch)
    collapsed = " ".join("".join(kept).translate(_APOSTROPHES).split())
    start, end = 0, len(collapsed)
    while start < end and unicodedata.category(collapsed[start])[0] in _TRIM_CATEGORIES:
        start += 1
    while end > start and unicodedata.category(collapsed[end - 1])[0] in _TRIM_CATEGORIES:
        end -= 1
    return collapsed[start:end].strip()


def _key(canonical: str) -> str:
    """Return the matching form of a canonical text: apostrophes removed (don't = dont)."""
    return " ".join(canonical.replace("'", "").split())


def _normalize(text: str) -> str:
    return _key(_canonical(text))


# --- keyword sets ------------------------------------------------------------


def _word_set(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ConfigurationError(
            f"keywords must be a collection of words, not the single string {value!r}",
            value=value,
        )
    return frozenset(" ".join(_require_str(word).split()) for word in value)


def _phrase_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ConfigurationError(
            f"revocation_phrases must be a collection of phrases, not the string {value!r}",
            value=value,
        )
    seen: dict[str, None] = {}
    for phrase in value:
        seen.setdefault(" ".join(_require_str(phrase).split()), None)
    return tuple(seen)


def _require_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"keywords and phrases must be str, got {value!r}")
    return value


def _language(value: str) -> str:
    return _require_str(value).strip().lower()


def _check_language(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise ConfigurationError(
            f"{attribute.name} must be a language tag such as 'en' or 'fr', got {value!r}",
            value=value,
        )


def _check_words(_instance: object, attribute: attrs.Attribute[Any], value: Iterable[str]) -> None:
    for word in value:
        if not _normalize(word):
            raise ConfigurationError(
                f"{attribute.name} holds {word!r}, which is empty once case, accents "
                "and surrounding punctuation are ignored",
                value=word,
            )


@attrs.frozen
class KeywordSet:
    """One language's reply keywords, with where they come from.

    Words are stored as written (``"ARRÊT"``); matching folds case, accents,
    whitespace and surrounding punctuation, so ``"arret"`` and ``"ARRÊT"`` are
    the same keyword. A set is plain data: build your own, or extend a default
    with :meth:`merged` and the ``with_*`` helpers.

    Args:
        language: A language tag (``"en"``, ``"fr"``), lower-cased.
        opt_out: Words that revoke consent, alone or as a message's first word(s).
        opt_in: Words that restore consent, only as the whole message.
        help: Words asking for help or contact details, only as the whole message.
        revocation_phrases: Phrases that revoke consent anywhere in a message.
        source: Where the words come from, with the date they were checked.
        yes: Words that count as opt-in only when the caller passes
            ``accept_yes=True`` (``"YES"``), because people answer questions with them.

    Raises:
        ConfigurationError: A word is empty once normalized, a collection is
            given as a single string, or the language tag is empty.
        TypeError: A word is not a string.
    """

    language: str = attrs.field(converter=_language, validator=_check_language)
    opt_out: frozenset[str] = attrs.field(converter=_word_set, validator=_check_words)
    opt_in: frozenset[str] = attrs.field(converter=_word_set, validator=_check_words)
    help: frozenset[str] = attrs.field(converter=_word_set, validator=_check_words)
    revocation_phrases: tuple[str, ...] = attrs.field(
        converter=_phrase_tuple, validator=_check_words
    )
    source: str = attrs.field(validator=attrs.validators.instance_of(str))
    yes: frozenset[str] = attrs.field(
        default=frozenset(), converter=_word_set, validator=_check_words
    )

    def merged(self, other: KeywordSet) -> KeywordSet:
        """Return a set holding the words of both sets.

        The language stays this set's; the sources are joined so the provenance
        of every word is kept.

        Args:
            other: The set whose words are added.

        Returns:
            A new :class:`KeywordSet`.
        """
        return KeywordSet(
            language=self.language,
            opt_out=self.opt_out | other.opt_out,
            opt_in=self.opt_in | other.opt_in,
            help=self.help | other.help,
            revocation_phrases=self.revocation_phrases + other.revocation_phrases,
            source=_join_sources(self.source, other.source),
            yes=self.yes | other.yes,
        )

    def with_opt_out(self, *words: str, source: str | None = None) -> KeywordSet:
        """Return a copy with more opt-out words.

        Args:
            *words: Words to add, e.g. ``"NO MAS"``.
            source: Why they were added; appended to :attr:`source`.

        Returns:
            A new :class:`KeywordSet`.
        """
        return attrs.evolve(
            self, opt_out=self.opt_out | set(words), source=_join_sources(self.source, source)
        )

    def with_opt_in(self, *words: str, source: str | None = None) -> KeywordSet:
        """Return a copy with more opt-in words (matched only as a whole message).

        Args:
            *words: Words to add.
            source: Why they were added; appended to :attr:`source`.

        Returns:
            A new :class:`KeywordSet`.
        """
        return attrs.evolve(
            self, opt_in=self.opt_in | set(words), source=_join_sources(self.source, source)
        )

    def with_help(self, *words: str, source: str | None = None) -> KeywordSet:
        """Return a copy with more help words (matched only as a whole message).

        Args:
            *words: Words to add.
            source: Why they were added; appended to :attr:`source`.

        Returns:
            A new :class:`KeywordSet`.
        """
        return attrs.evolve(
            self, help=self.help | set(words), source=_join_sources(self.source, source)
        )

    def with_revocation_phrases(self, *phrases: str, source: str | None = None) -> KeywordSet:
        """Return a copy with more revocation phrases (matched anywhere in a message).

        Args:
            *phrases: Phrases to add, e.g. ``"wrong number"``.
            source: Why they were added; appended to :attr:`source`.

        Returns:
            A new :class:`KeywordSet`.
        """
        return attrs.evolve(
            self,
            revocation_phrases=self.revocation_phrases + phrases,
            source=_join_sources(self.source, source),
        )

    def without(self, *words: str) -> KeywordSet:
        """Return a copy with ``words`` removed from every list, compared normalized.

        Removing a word the FCC names (STOP, QUIT, END, REVOKE, OPT OUT, CANCEL,
        UNSUBSCRIBE) from a set used for US recipients breaks the revocation rule;
        this method does not stop you, the docs warn you.

        Args:
            *words: Words or phrases to remove; ``"arret"`` removes ``"ARRÊT"``.

        Returns:
            A new :class:`KeywordSet`.
        """
        drop = {_normalize(word) for word in words}
        return attrs.evolve(
            self,
            opt_out={w for w in self.opt_out if _normalize(w) not in drop},
            opt_in={w for w in self.opt_in if _normalize(w) not in drop},
            help={w for w in self.help if _normalize(w) not in drop},
            revocation_phrases=[p for p in self.revocation_phrases if _normalize(p) not in drop],
            yes={w for w in self.yes if _normalize(w) not in drop},
        )


def _join_sources(first: str, second: str | None) -> str:
    if not second or second == first:
        return first
    return f"{first}; {second}"


ENGLISH_KEYWORDS = KeywordSet(
    language="en",
    opt_out=frozenset(
        {
            # FCC 24-24, 47 CFR § 64.1200(a)(10): per se reasonable revocation words.
            "STOP",
            "QUIT",
            "END",
            "REVOKE",
            "OPT OUT",
            "CANCEL",
            "UNSUBSCRIBE",
            # CTIA Short Code Monitoring Handbook (via Plum): the carrier-reserved set.
            "STOPALL",
            # Telnyx default set spells it with a space.
            "STOP ALL",
            # Twilio from 14 May 2025 (no spaces allowed there); AWS End User Messaging.
            "OPTOUT",
            # AWS End User Messaging US/CA defaults.
            "OPT-OUT",
            "REMOVE",
        }
    ),
    opt_in=frozenset({"START", "UNSTOP"}),
    help=frozenset({"HELP", "INFO"}),
    revocation_phrases=(
        # Our own list of natural-language revocations, which the FCC rule says
        # must be honored under a "totality of the circumstances" test; Braze's
        # fuzzy opt-out gives "leave me alone" as an example.
        "remove me",
        "take me off your list",
        "take me off",
        "unsubscribe me",
        "opt me out",
        "don't text me",
        "do not text me",
        "don't message me",
        "do not message me",
        "don't contact me",
        "do not contact me",
        "stop texting me",
        "stop messaging me",
        "stop sending me",
        "no more texts",
        "no more messages",
        "leave me alone",
    ),
    yes=frozenset({"YES"}),
    source=(
        "FCC Report and Order FCC 24-24 (CG Docket 02-278), 47 CFR § 64.1200(a)(10), "
        "effective 2025-04-11; CTIA Short Code Monitoring Handbook (STOP, END, CANCEL, "
        "QUIT, UNSUBSCRIBE, STOPALL; START, UNSTOP, YES; HELP, INFO) via "
        "docs.plumvoice.com; Twilio default opt-out keywords incl. REVOKE and OPTOUT "
        "from 2025-05-14; Telnyx default set (STOP ALL); AWS End User Messaging US/CA "
        "required keywords (OPT-OUT, OPTOUT, REMOVE); revocation phrases are "
        "smscampaign's own list. Checked 2026-11-22."
    ),
)
"""English keywords: FCC, CTIA and provider defaults, plus common revocation phrases."""

FRENCH_KEYWORDS = KeywordSet(
    language="fr",
    opt_out=frozenset(
        {
            # STOP is the opt-out word on French SMS (af2m charter; mandatory on
            # Twilio France short codes).
            "STOP",
            # AWS End User Messaging US/CA defaults (ARRET, TD); Twilio Proxy
            # (ARRET, ARRETE, ARRETT). ARRÊT folds to ARRET when matching.
            "ARRET",
            "ARRÊT",
            "ARRETE",
            "ARRETT",
            "TD",
        }
    ),
    opt_in=frozenset(),
    # CONTACT is mandatory on Twilio France short codes; AIDE is our own choice.
    help=frozenset({"AIDE", "CONTACT"}),
    revocation_phrases=(
        # smscampaign's own list: the FCC rule expects other languages to be honored.
        "désabonnez-moi",
        "me désabonner",
        "désinscrivez-moi",
        "me désinscrire",
        "retirez-moi",
        "ne plus recevoir",
        "arrêtez de m'envoyer",
    ),
    source=(
        "af2m Charte Business Messaging 2026 (STOP keyword); Twilio France Short Code "
        "Best Practices (STOP, CONTACT mandatory); AWS End User Messaging US/CA required "
        "keywords (ARRET, TD); Twilio Proxy opt-out keywords (ARRET, ARRETE, ARRETT); "
        "AIDE and the revocation phrases are smscampaign's own. Checked 2026-11-22."
    ),
)
"""French keywords: STOP and the ARRÊT variants, CONTACT/AIDE, common phrases."""

DEFAULT_KEYWORDS: tuple[KeywordSet, ...] = (ENGLISH_KEYWORDS, FRENCH_KEYWORDS)
"""The keyword sets :func:`classify_reply` uses unless told otherwise, English first."""


def default_keyword_set(language: str) -> KeywordSet:
    """Return the default :class:`KeywordSet` for a language, to extend or override.

    Args:
        language: A language tag such as ``"en"`` or ``"fr"``; case is ignored.

    Returns:
        The default set for that language.

    Raises:
        LookupError: There is no default set for ``language``.
    """
    wanted = language.strip().lower()
    for keyword_set in DEFAULT_KEYWORDS:
        if keyword_set.language == wanted:
            return keyword_set
    known = ", ".join(k.language for k in DEFAULT_KEYWORDS)
    raise LookupError(f"no default keyword set for language {language!r}; have {known}")


# --- matching ----------------------------------------------------------------


class _Matcher:
    """One :class:`KeywordSet` precompiled: normalized lookups and regexes."""

    __slots__ = (
        "anywhere",
        "help",
        "language",
        "leading",
        "opt_in",
        "opt_out",
        "phrase",
        "phrases",
        "yes",
    )

    language: str
    opt_out: dict[str, str]
    opt_in: dict[str, str]
    help: dict[str, str]
    yes: dict[str, str]
    phrases: dict[str, str]
    leading: re.Pattern[str] | None
    anywhere: re.Pattern[str] | None
    phrase: re.Pattern[str] | None

    def __init__(self, keyword_set: KeywordSet) -> None:
        self.language = keyword_set.language
        self.opt_out = _lookup(keyword_set.opt_out)
        self.opt_in = _lookup(keyword_set.opt_in)
        self.help = _lookup(keyword_set.help)
        self.yes = _lookup(keyword_set.yes)
        alternatives = _alternation(self.opt_out)
        self.phrases = phrases = _lookup(keyword_set.revocation_phrases)
        self.leading = re.compile(rf"(?:{alternatives}){_WORD_END}") if self.opt_out else None
        self.anywhere = (
            re.compile(rf"{_WORD_START}(?:{alternatives}){_WORD_END}") if self.opt_out else None
        )
        self.phrase = (
            re.compile(rf"{_WORD_START}(?:{_alternation(phrases)}){_WORD_END}") if phrases else None
        )


def _lookup(words: Iterable[str]) -> dict[str, str]:
    """Map each word's matching key to its canonical (reported) form."""
    return {_key(_canonical(word)): _canonical(word) for word in words}


def _alternation(lookup: Mapping[str, str]) -> str:
    # Longest first, so "stop all" wins over "stop" and the report names the whole keyword.
    return "|".join(re.escape(key) for key in sorted(lookup, key=lambda k: (-len(k), k)))


@functools.lru_cache(maxsize=256)
def _matcher(keyword_set: KeywordSet) -> _Matcher:
    return _Matcher(keyword_set)


@functools.lru_cache(maxsize=64)
def _matchers(keyword_sets: tuple[KeywordSet, ...]) -> tuple[_Matcher, ...]:
    return tuple(_matcher(keyword_set) for keyword_set in keyword_sets)


@attrs.frozen
class ReplyClassification:
    """What a reply means, and why.

    Args:
        keyword: The class of the reply.
        rule: Which rule decided it; ``NONE`` exactly when ``keyword`` is ``OTHER``.
        matched: The keyword or phrase that matched, normalized (case folded,
            accents dropped: ``"arret"``), or ``None`` for ``OTHER``.
        possible_opt_out: For ``OTHER`` replies, whether an opt-out keyword stands
            as a whole word inside the text ("We have got to STOP this bill"), so a
            person may want to look at it.
        language: The language of the keyword set that matched, or ``None``.

    Raises:
        ValueError: The fields contradict each other (e.g. ``OTHER`` with a rule).
    """

    keyword: Keyword = attrs.field(converter=Keyword)
    rule: MatchRule = attrs.field(converter=MatchRule)
    matched: str | None = None
    possible_opt_out: bool = False
    language: str | None = None

    def __attrs_post_init__(self) -> None:
        is_other = self.keyword is Keyword.OTHER
        if is_other != (self.rule is MatchRule.NONE):
            raise ValueError(f"rule NONE goes with keyword OTHER only, got {self!r}")
        if is_other != (self.matched is None):
            raise ValueError(f"matched is None exactly when nothing matched, got {self!r}")
        if self.possible_opt_out and not is_other:
            raise ValueError(f"possible_opt_out applies to OTHER replies only, got {self!r}")
        if self.rule in (MatchRule.LEADING, MatchRule.PHRASE) and not self.is_opt_out:
            raise ValueError(f"only opt-outs match by {self.rule}, got {self!r}")

    @property
    def is_opt_out(self) -> bool:
        """Whether the reply revokes consent."""
        return self.keyword is Keyword.OPT_OUT


_NOTHING = ReplyClassification(Keyword.OTHER, MatchRule.NONE)


def classify_reply(
    text: str,
    *,
    keywords: Iterable[KeywordSet] = DEFAULT_KEYWORDS,
    accept_yes: bool = False,
) -> ReplyClassification:
    """Classify an inbound reply as opt-out, opt-in, help, or an ordinary answer.

    The body is normalized (case, accents, apostrophe variants, inner whitespace,
    surrounding punctuation and emoji), then the rules apply in this order, each
    across every keyword set in turn (the first set wins ties and names the
    language): an exact opt-out keyword; an exact opt-in keyword (or a ``yes``
    word when ``accept_yes``); an exact help keyword; an opt-out keyword as the
    first whole word(s); a revocation phrase anywhere. Otherwise the reply is
    ``OTHER``, flagged ``possible_opt_out`` if it holds an opt-out keyword as a
    whole word.

    Args:
        text: The message body as received.
        keywords: The keyword sets to use, in order of preference.
        accept_yes: Treat YES (each set's ``yes`` words) as an opt-in. Off by
            default: YES is also how people answer survey questions.

    Returns:
        The :class:`ReplyClassification`.

    Raises:
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {text!r}")
    matchers = _matchers(tuple(keywords))
    body = _normalize(text)
    if not body:
        return _NOTHING
    for m in matchers:
        if body in m.opt_out:
            return ReplyClassification(
                Keyword.OPT_OUT, MatchRule.EXACT, m.opt_out[body], False, m.language
            )
    for m in matchers:
        found = m.opt_in.get(body) or (m.yes.get(body) if accept_yes else None)
        if found is not None:
            return ReplyClassification(Keyword.OPT_IN, MatchRule.EXACT, found, False, m.language)
    for m in matchers:
        if body in m.help:
            return ReplyClassification(
                Keyword.HELP, MatchRule.EXACT, m.help[body], False, m.language
            )
    for m in matchers:
        if m.leading is not None and (hit := m.leading.match(body)):
            return ReplyClassification(
                Keyword.OPT_OUT, MatchRule.LEADING, m.opt_out[hit.group()], False, m.language
            )
    for m in matchers:
        if m.phrase is not None and (hit := m.phrase.search(body)):
            return ReplyClassification(
                Keyword.OPT_OUT, MatchRule.PHRASE, m.phrases[hit.group()], False, m.language
            )
    if any(m.anywhere is not None and m.anywhere.search(body) for m in matchers):
        return ReplyClassification(Keyword.OTHER, MatchRule.NONE, None, True, None)
    return _NOTHING


# --- inbound messages --------------------------------------------------------


def _non_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str, got {value!r}")
    if not value.strip():
        raise MalformedWebhook(f"{attribute.name} must not be empty, got {value!r}", value=value)


def _aware(_instance: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    require_aware(value, attribute.name)


def _freeze_raw(value: Mapping[str, Any]) -> FrozenMap[Any]:
    return freeze(value)


@attrs.frozen(kw_only=True)
class InboundMessage:
    """A text a person sent to one of our numbers, normalized, with the raw payload.

    Two messages are equal (and hash alike) when they have the same provider and
    provider message id, so a webhook delivered twice is recognized as one reply.

    Args:
        provider: The provider's slug (``"twilio"``, ``"simulated"``).
        provider_message_id: The provider's id for the message (Twilio ``MessageSid``).
        sender: The person replying.
        recipient: Our number or sender id the reply was sent to, as the provider gave it.
        body: The text as received; may be empty (e.g. a picture message).
        received_at: When the provider received it; must be timezone-aware.
        raw: The provider's payload, untouched; stored as a read-only mapping.
        account: Which of our provider accounts received it.

    Raises:
        NaiveDatetimeError: ``received_at`` has no time zone.
        MalformedWebhook: ``provider``, ``provider_message_id``, ``recipient`` or
            ``account`` is empty.
        TypeError: A field has the wrong type.
    """

    provider: str = attrs.field(validator=_non_empty)
    provider_message_id: str = attrs.field(validator=_non_empty)
    sender: PhoneNumber = attrs.field(eq=False, validator=attrs.validators.instance_of(PhoneNumber))
    recipient: str = attrs.field(eq=False, validator=_non_empty)
    body: str = attrs.field(eq=False, validator=attrs.validators.instance_of(str))
    received_at: datetime = attrs.field(eq=False, validator=_aware)
    raw: Mapping[str, Any] = attrs.field(eq=False, converter=_freeze_raw)
    account: str = attrs.field(default="default", eq=False, validator=_non_empty)

    def classify(
        self,
        *,
        keywords: Iterable[KeywordSet] = DEFAULT_KEYWORDS,
        accept_yes: bool = False,
    ) -> ReplyClassification:
        """Classify this message's body; see :func:`classify_reply`.

        Args:
            keywords: The keyword sets to use, in order of preference.
            accept_yes: Treat YES as an opt-in.

        Returns:
            The :class:`ReplyClassification` of :attr:`body`.
        """
        return classify_reply(self.body, keywords=keywords, accept_yes=accept_yes)
