"""Tests for inbound replies: keyword tables, classification rules, InboundMessage."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from smscampaign.domain.phone import PhoneNumber
from smscampaign.domain.replies import (
    DEFAULT_KEYWORDS,
    ENGLISH_KEYWORDS,
    FRENCH_KEYWORDS,
    InboundMessage,
    Keyword,
    KeywordSet,
    MatchRule,
    ReplyClassification,
    classify_reply,
    default_keyword_set,
)
from smscampaign.errors import ConfigurationError, MalformedWebhook, NaiveDatetimeError
from smscampaign.testing.strategies import (
    _reply_type_strategies,
    inbound_messages,
    reply_texts,
)

ALL_OPT_OUT = sorted({w for k in DEFAULT_KEYWORDS for w in k.opt_out})
ALL_OPT_IN = sorted({w for k in DEFAULT_KEYWORDS for w in k.opt_in})
ALL_HELP = sorted({w for k in DEFAULT_KEYWORDS for w in k.help})
ALL_PHRASES = sorted({p for k in DEFAULT_KEYWORDS for p in k.revocation_phrases})
FCC_WORDS = {"STOP", "QUIT", "END", "REVOKE", "OPT OUT", "CANCEL", "UNSUBSCRIBE"}
CTIA_WORDS = {"STOP", "END", "CANCEL", "QUIT", "UNSUBSCRIBE", "STOPALL"}
TRAILING = [".", "!", "?", "!!!", "...", "…", " 🙏", ",", ")", "?!"]
SPACES = ["", " ", "  ", "\n", "\t", "\u00a0"]


def classify(text: str, **kwargs: object) -> tuple[Keyword, MatchRule, str | None]:
    result = classify_reply(text, **kwargs)  # type: ignore[arg-type]
    return result.keyword, result.rule, result.matched


class TestKeywordTables:
    """The default tables hold the FCC, CTIA, provider and French keywords with sources."""

    def test_english_then_french(self) -> None:
        assert [k.language for k in DEFAULT_KEYWORDS] == ["en", "fr"]
        assert DEFAULT_KEYWORDS == (ENGLISH_KEYWORDS, FRENCH_KEYWORDS)

    def test_fcc_revocation_words(self) -> None:
        assert ENGLISH_KEYWORDS.opt_out >= FCC_WORDS

    def test_ctia_and_provider_words(self) -> None:
        assert ENGLISH_KEYWORDS.opt_out >= CTIA_WORDS
        assert {"STOP ALL", "OPTOUT", "OPT-OUT", "REMOVE"} <= ENGLISH_KEYWORDS.opt_out
        assert ENGLISH_KEYWORDS.opt_in == {"START", "UNSTOP"}
        assert ENGLISH_KEYWORDS.help == {"HELP", "INFO"}
        assert ENGLISH_KEYWORDS.yes == {"YES"}

    def test_french_words(self) -> None:
        assert {"STOP", "ARRET", "ARRÊT", "ARRETE", "ARRETT", "TD"} <= FRENCH_KEYWORDS.opt_out
        assert {"AIDE", "CONTACT"} <= FRENCH_KEYWORDS.help

    def test_revocation_phrases(self) -> None:
        for phrase in ("remove me", "take me off your list", "unsubscribe me", "don't text me"):
            assert phrase in ENGLISH_KEYWORDS.revocation_phrases

    @pytest.mark.parametrize("keyword_set", DEFAULT_KEYWORDS, ids=lambda k: k.language)
    def test_sources_cite_and_date(self, keyword_set: KeywordSet) -> None:
        assert re.search(r"Checked \d{4}-\d{2}-\d{2}", keyword_set.source)
        assert ("FCC" in keyword_set.source) == (keyword_set.language == "en")

    @pytest.mark.parametrize("word", ALL_OPT_OUT)
    def test_every_opt_out_word_is_exact(self, word: str) -> None:
        assert classify(word)[:2] == (Keyword.OPT_OUT, MatchRule.EXACT)

    @pytest.mark.parametrize("word", ALL_OPT_IN)
    def test_every_opt_in_word_is_exact(self, word: str) -> None:
        assert classify(word)[:2] == (Keyword.OPT_IN, MatchRule.EXACT)

    @pytest.mark.parametrize("word", ALL_HELP)
    def test_every_help_word_is_exact(self, word: str) -> None:
        assert classify(word)[:2] == (Keyword.HELP, MatchRule.EXACT)

    @pytest.mark.parametrize("phrase", ALL_PHRASES)
    def test_every_phrase_opts_out_inside_a_sentence(self, phrase: str) -> None:
        assert classify(f"Hello, {phrase} thanks")[:2] == (Keyword.OPT_OUT, MatchRule.PHRASE)

    def test_default_keyword_set_lookup(self) -> None:
        assert default_keyword_set("FR") is FRENCH_KEYWORDS
        with pytest.raises(LookupError, match="'de'"):
            default_keyword_set("de")


class TestNormalization:
    """Case, surrounding spaces and punctuation, inner spacing, accents and quotes are ignored."""

    @pytest.mark.parametrize(
        "text",
        ["STOP", "stop", "Stop.", " stop! ", "STOP!!!", "sToP", "\tSTOP\n", '"STOP"', "STOP 🙏"],
    )
    def test_stop_variants(self, text: str) -> None:
        assert classify(text) == (Keyword.OPT_OUT, MatchRule.EXACT, "stop")

    def test_inner_whitespace_collapsed(self) -> None:
        assert classify("STOP  ALL") == (Keyword.OPT_OUT, MatchRule.EXACT, "stop all")
        assert classify("opt\u00a0 out") == (Keyword.OPT_OUT, MatchRule.EXACT, "opt out")

    @pytest.mark.parametrize("text", ["ARRET", "ARRÊT", "arrêt", "Arret!"])
    def test_accents_folded(self, text: str) -> None:
        result = classify_reply(text)
        assert (result.keyword, result.matched, result.language) == (
            Keyword.OPT_OUT,
            "arret",
            "fr",
        )

    def test_fullwidth_and_zero_width(self) -> None:
        assert classify("ＳＴＯＰ")[0] is Keyword.OPT_OUT
        assert classify("ST\u200bOP")[0] is Keyword.OPT_OUT

    @pytest.mark.parametrize(
        "text", ["Don’t text me", "don‘t text me", "dont text me", "DON'T TEXT ME"]
    )
    def test_apostrophe_variants(self, text: str) -> None:
        assert classify(text) == (Keyword.OPT_OUT, MatchRule.PHRASE, "don't text me")

    @pytest.mark.parametrize("text", ["", "   ", "\n\t", "!!!", "🙏"])
    def test_empty_is_other(self, text: str) -> None:
        assert classify_reply(text) == ReplyClassification(Keyword.OTHER, MatchRule.NONE)

    def test_text_must_be_str(self) -> None:
        with pytest.raises(TypeError):
            classify_reply(None)  # type: ignore[arg-type]


class TestLeadingOptOut:
    """A message whose first whole word(s) are a stop word opts out by the LEADING rule."""

    @pytest.mark.parametrize(
        ("text", "matched"),
        [
            ("STOP 12345", "stop"),
            ("Stop texting me", "stop"),
            ("Stop. Thank you", "stop"),
            ("stop, please", "stop"),
            ("END of story", "end"),
            ("Cancel my order", "cancel"),
            ("stop all messages", "stop all"),
            ("unsubscribe me", "unsubscribe"),
            ("Arrêt 36123", "arret"),
        ],
    )
    def test_leading(self, text: str, matched: str) -> None:
        assert classify(text) == (Keyword.OPT_OUT, MatchRule.LEADING, matched)

    @pytest.mark.parametrize(
        "text", ["Endless", "Stopped by today", "Cancelled my order?", "stop-gap", "Quitting"]
    )
    def test_whole_words_only(self, text: str) -> None:
        result = classify_reply(text)
        assert result.keyword is Keyword.OTHER
        assert not result.possible_opt_out


class TestPhrases:
    """Revocation phrases anywhere in a message opt out by the PHRASE rule."""

    @pytest.mark.parametrize(
        ("text", "matched"),
        [
            ("Please remove me", "remove me"),
            ("Can you take me off your list?", "take me off your list"),
            ("pls don't text me again", "don't text me"),
            ("Please do not text me", "do not text me"),
            ("Merci de me désabonner", "me desabonner"),
        ],
    )
    def test_phrase(self, text: str, matched: str) -> None:
        assert classify(text) == (Keyword.OPT_OUT, MatchRule.PHRASE, matched)

    def test_phrase_needs_whole_words(self) -> None:
        assert classify("I will remove media files")[0] is Keyword.OTHER


class TestPrecedence:
    """Exact beats leading beats phrase; opt-out beats opt-in and help on a tie."""

    def test_exact_before_leading_before_phrase(self) -> None:
        assert classify("stop")[1] is MatchRule.EXACT
        assert classify("stop texting me")[1] is MatchRule.LEADING
        assert classify("remove me")[1] is MatchRule.LEADING  # REMOVE is an AWS stop word
        assert classify("please remove me")[1] is MatchRule.PHRASE

    def test_opt_out_wins_over_opt_in_in_custom_sets(self) -> None:
        odd = ENGLISH_KEYWORDS.with_opt_in("STOP")
        assert classify("stop", keywords=[odd])[0] is Keyword.OPT_OUT

    def test_first_set_names_the_language(self) -> None:
        assert classify_reply("STOP").language == "en"
        fr_first = (FRENCH_KEYWORDS, ENGLISH_KEYWORDS)
        assert classify_reply("STOP", keywords=fr_first).language == "fr"


class TestHelpAndOptIn:
    """HELP and START match only as the whole message; YES only when accepted."""

    @pytest.mark.parametrize("text", ["HELP", "help?", "Info.", "aide", "CONTACT"])
    def test_help(self, text: str) -> None:
        assert classify(text)[:2] == (Keyword.HELP, MatchRule.EXACT)

    @pytest.mark.parametrize("text", ["Start", "UNSTOP!", " start "])
    def test_opt_in(self, text: str) -> None:
        assert classify(text)[:2] == (Keyword.OPT_IN, MatchRule.EXACT)

    @pytest.mark.parametrize("text", ["help me with the survey", "Start me up", "info please"])
    def test_not_alone_is_other(self, text: str) -> None:
        assert classify(text)[0] is Keyword.OTHER

    def test_yes_only_when_accepted(self) -> None:
        assert classify("YES")[0] is Keyword.OTHER
        assert classify("Yes!", accept_yes=True) == (Keyword.OPT_IN, MatchRule.EXACT, "yes")
        assert classify("yes please", accept_yes=True)[0] is Keyword.OTHER


class TestPossibleOptOut:
    """A stop word inside an ordinary sentence is OTHER but flagged possible_opt_out."""

    @pytest.mark.parametrize(
        "text", ["We have got to STOP this bill", "I quit smoking", "see you at the end"]
    )
    def test_flagged(self, text: str) -> None:
        result = classify_reply(text)
        assert (result.keyword, result.possible_opt_out) == (Keyword.OTHER, True)

    def test_not_flagged_for_plain_replies(self) -> None:
        assert not classify_reply("See you tomorrow").possible_opt_out
        assert not classify_reply("STOP").possible_opt_out


class TestKeywordSet:
    """Keyword sets validate their words and can be extended or overridden per campaign."""

    def test_words_are_frozen_and_hashable(self) -> None:
        custom = KeywordSet("ES", ["NO MAS", "  BASTA "], [], ["AYUDA"], ["no me escriban"], "ours")
        assert custom.language == "es"
        assert custom.opt_out == frozenset({"NO MAS", "BASTA"})
        assert hash(custom) == hash(attrs.evolve(custom))

    def test_custom_language(self) -> None:
        spanish = KeywordSet("es", {"NO MAS", "BASTA"}, set(), {"AYUDA"}, (), "ours")
        result = classify_reply("No más", keywords=(*DEFAULT_KEYWORDS, spanish))
        assert (result.keyword, result.matched, result.language) == (
            Keyword.OPT_OUT,
            "no mas",
            "es",
        )

    def test_with_helpers_extend(self) -> None:
        extended = (
            ENGLISH_KEYWORDS.with_opt_out("HALT", source="campaign 42")
            .with_opt_in("RESUME")
            .with_help("SUPPORT")
            .with_revocation_phrases("wrong number")
        )
        assert extended.source.endswith("; campaign 42")
        keywords = [extended]
        assert classify("halt", keywords=keywords)[0] is Keyword.OPT_OUT
        assert classify("resume", keywords=keywords)[0] is Keyword.OPT_IN
        assert classify("support", keywords=keywords)[0] is Keyword.HELP
        assert classify("sorry wrong number", keywords=keywords)[1] is MatchRule.PHRASE

    def test_merged_unions_and_keeps_provenance(self) -> None:
        both = ENGLISH_KEYWORDS.merged(FRENCH_KEYWORDS)
        assert both.language == "en"
        assert both.opt_out == ENGLISH_KEYWORDS.opt_out | FRENCH_KEYWORDS.opt_out
        assert FRENCH_KEYWORDS.source in both.source

    def test_without_removes_normalized(self) -> None:
        fewer = FRENCH_KEYWORDS.without("arret", "td")
        assert not {"ARRET", "ARRÊT", "TD"} & fewer.opt_out
        assert classify("ARRÊT", keywords=[fewer])[0] is Keyword.OTHER

    def test_override_with_evolve(self) -> None:
        strict = attrs.evolve(ENGLISH_KEYWORDS, revocation_phrases=())
        assert classify("please remove me", keywords=[strict])[0] is Keyword.OTHER

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"opt_out": "STOP"},
            {"opt_out": ["!!!"]},
            {"revocation_phrases": "remove me"},
            {"language": " "},
        ],
    )
    def test_bad_values_raise(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError):
            attrs.evolve(ENGLISH_KEYWORDS, **kwargs)

    def test_non_str_word_raises(self) -> None:
        with pytest.raises(TypeError):
            attrs.evolve(ENGLISH_KEYWORDS, help=[1])  # type: ignore[list-item]


class TestReplyClassification:
    """A classification's fields must agree with each other."""

    @pytest.mark.parametrize(
        "args",
        [
            (Keyword.OTHER, MatchRule.EXACT, "stop"),
            (Keyword.OPT_OUT, MatchRule.NONE, None),
            (Keyword.OPT_OUT, MatchRule.EXACT, None),
            (Keyword.HELP, MatchRule.LEADING, "help"),
            (Keyword.HELP, MatchRule.EXACT, "help", True),
        ],
    )
    def test_contradictions_raise(self, args: tuple[object, ...]) -> None:
        with pytest.raises(ValueError, match="got ReplyClassification"):
            ReplyClassification(*args)  # type: ignore[arg-type]

    def test_values_are_strings_and_convert(self) -> None:
        result = ReplyClassification("opt_out", "exact", "stop")
        assert result.keyword is Keyword.OPT_OUT
        assert result.is_opt_out
        assert str(result.rule) == "exact"


SENDER = PhoneNumber.parse("+12125550123")
WHEN = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def make_message(**overrides: object) -> InboundMessage:
    fields: dict[str, object] = {
        "provider": "twilio",
        "provider_message_id": "SM123",
        "sender": SENDER,
        "recipient": "+12125550100",
        "body": "Stop.",
        "received_at": WHEN,
        "raw": {"MessageSid": "SM123", "Body": "Stop."},
    }
    fields.update(overrides)
    return InboundMessage(**fields)  # type: ignore[arg-type]


class TestInboundMessage:
    """An inbound message keeps its raw payload read-only and is identified by provider id."""

    def test_builds_and_classifies(self) -> None:
        message = make_message()
        assert message.account == "default"
        assert message.classify().keyword is Keyword.OPT_OUT
        assert message.classify(keywords=[FRENCH_KEYWORDS]).language == "fr"

    def test_raw_is_read_only_copy(self) -> None:
        payload = {"MessageSid": "SM123"}
        message = make_message(raw=payload)
        payload["MessageSid"] = "changed"
        assert message.raw["MessageSid"] == "SM123"
        with pytest.raises(TypeError):
            message.raw["x"] = 1  # type: ignore[index]

    def test_eq_and_hash_by_provider_id(self) -> None:
        first = make_message()
        again = make_message(body="different", received_at=WHEN + timedelta(seconds=5))
        assert first == again
        assert len({first, again, make_message(provider_message_id="SM124")}) == 2
        assert first != make_message(provider="vonage")

    def test_naive_datetime_raises(self) -> None:
        with pytest.raises(NaiveDatetimeError):
            make_message(received_at=datetime(2025, 6, 1, 12, 0))

    @pytest.mark.parametrize("field", ["provider", "provider_message_id", "recipient", "account"])
    def test_empty_identifiers_raise(self, field: str) -> None:
        with pytest.raises(MalformedWebhook, match=field):
            make_message(**{field: " "})

    def test_sender_must_be_phone_number(self) -> None:
        with pytest.raises(TypeError):
            make_message(sender="+12125550123")


def _flip_ascii_case(text: str, flips: list[bool]) -> str:
    return "".join(
        c.swapcase() if c.isascii() and flip else c
        for c, flip in zip(text, flips + [False] * len(text), strict=False)
    )


KEYWORD_TEXTS = st.sampled_from(ALL_OPT_OUT + ALL_OPT_IN + ALL_HELP)
VOCABULARY = [
    "stopped", "endless", "cancelled", "starting", "helpful", "quitter", "unsubscribed",
    "restop", "ending", "removed", "information", "yes", "no", "maybe", "see", "you",
    "the", "at", "tomorrow", "survey", "order", "bill", "arrete-toi", "help", "start",
]  # fmt: skip


def _has_whole_stop_word(text: str) -> bool:
    """Independent oracle: does the text hold a default stop word or phrase as whole words?"""
    words = re.findall(r"[\w-]+", text.casefold().replace("'", ""))
    padded = f" {' '.join(words)} "
    targets = [w.casefold().replace("ê", "e") for w in ALL_OPT_OUT]
    targets += [
        p.casefold().replace("'", "").replace("é", "e").replace("ê", "e") for p in ALL_PHRASES
    ]
    return any(f" {target} " in padded for target in targets)


class TestProperties:
    """Classification is stable under noise and whole-word stop words always decide."""

    @given(
        KEYWORD_TEXTS,
        st.lists(st.booleans()),
        st.sampled_from(SPACES),
        st.sampled_from(SPACES),
        st.sampled_from(["", *TRAILING]),
    )
    def test_exact_keywords_invariant_under_noise(
        self, word: str, flips: list[bool], before: str, after: str, trailer: str
    ) -> None:
        noisy = f"{before}{_flip_ascii_case(word, flips)}{trailer}{after}"
        assert classify_reply(noisy) == classify_reply(word)

    @given(reply_texts(), st.lists(st.booleans()))
    def test_replies_invariant_under_ascii_case(self, text: str, flips: list[bool]) -> None:
        assert classify_reply(_flip_ascii_case(text, flips)) == classify_reply(text)

    @given(st.sampled_from(ALL_OPT_OUT), st.text())
    def test_stop_word_then_anything_opts_out(self, word: str, rest: str) -> None:
        assert classify_reply(f"{word} {rest}").keyword is Keyword.OPT_OUT

    @given(
        st.lists(
            st.sampled_from(VOCABULARY)
            | st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=8),
            max_size=8,
        ),
        st.sampled_from([" ", ", ", ". ", "! ", "\n"]),
    )
    def test_text_without_stop_words_never_opts_out(self, words: list[str], sep: str) -> None:
        text = sep.join(words)
        assume(not _has_whole_stop_word(text))
        assert classify_reply(text).keyword is not Keyword.OPT_OUT

    @given(reply_texts(kinds=[Keyword.HELP, Keyword.OPT_IN]), st.booleans())
    def test_help_and_start_never_opt_out(self, text: str, accept_yes: bool) -> None:
        assert classify_reply(text, accept_yes=accept_yes).keyword in (Keyword.HELP, Keyword.OPT_IN)


class TestStrategies:
    """The shipped reply strategies draw what they promise and reject bad arguments."""

    @pytest.mark.parametrize("kind", list(Keyword))
    def test_reply_texts_classify_as_their_kind(self, kind: Keyword) -> None:
        @given(reply_texts(kinds=[kind]))
        def check(text: str) -> None:
            assert classify_reply(text).keyword is kind

        check()

    @pytest.mark.parametrize("kinds", [[], ["opt_out"], "opt_out"])
    def test_reply_texts_bad_kinds(self, kinds: object) -> None:
        with pytest.raises(InvalidArgument):
            reply_texts(kinds=kinds)  # type: ignore[arg-type]

    @given(inbound_messages())
    def test_inbound_messages_are_valid(self, message: InboundMessage) -> None:
        assert message.received_at.tzinfo is not None
        assert message.raw["From"] == message.sender.e164
        assert attrs.evolve(message) == message

    @given(inbound_messages(senders=st.just(SENDER), bodies=st.just("STOP"), providers=["x"]))
    def test_inbound_messages_arguments(self, message: InboundMessage) -> None:
        assert (message.sender, message.body, message.provider) == (SENDER, "STOP", "x")

    def test_inbound_messages_bad_providers(self) -> None:
        with pytest.raises(InvalidArgument):
            inbound_messages(providers=[])

    def test_type_strategies(self) -> None:
        pairs = dict(_reply_type_strategies())
        assert set(pairs) == {InboundMessage, ReplyClassification, KeywordSet}

        @given(pairs[ReplyClassification], pairs[InboundMessage])
        def check(classification: object, message: object) -> None:
            assert isinstance(classification, ReplyClassification)
            assert isinstance(message, InboundMessage)

        check()
