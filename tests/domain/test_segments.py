"""Tests for GSM-7 / UCS-2 encoding and segment counting."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from smscampaign.domain.segments import (
    GSM7_BASIC_CHARACTERS,
    GSM7_EXTENSION_CHARACTERS,
    Encoding,
    SegmentInfo,
    analyze,
    count_segments,
    encoding_of,
    is_gsm7,
    suggest_gsm7,
)
from smscampaign.testing.strategies import sms_texts

EMOJI = "\U0001f600"  # 😀, U+1F600: two UTF-16 code units
WINK = "\U0001f61c"  # 😜, used by the Twilio calculator's own test

# Short bodies are drawn most often; the long branches make sure concatenated
# GSM-7 and UCS-2 bodies, where parts are cut, are exercised on every run.
BODIES = st.one_of(
    sms_texts(),
    sms_texts(alphabet="gsm7", min_size=150, max_size=400),
    sms_texts(min_size=60, max_size=400),
)


def units_of(part: str, encoding: Encoding) -> int:
    """Count a part's units independently of the module under test."""
    if encoding is Encoding.GSM_7:
        return sum(2 if c in GSM7_EXTENSION_CHARACTERS else 1 for c in part)
    return len(part.encode("utf-16-le")) // 2


class TestAlphabet:
    """The GSM 03.38 tables held in the code match compliance.md § 4.1."""

    def test_basic_table_has_127_characters_without_escape(self) -> None:
        # 128 code points, 0x1B being ESC, which is not a character (compliance.md 4.1).
        assert len(GSM7_BASIC_CHARACTERS) == 127
        assert len(set(GSM7_BASIC_CHARACTERS)) == 127
        assert "\x1b" not in GSM7_BASIC_CHARACTERS

    def test_extension_table_has_the_ten_escaped_characters(self) -> None:
        # compliance.md 4.1: FF ^ { } \ [ ~ ] | € via ESC 0x1B.
        assert set(GSM7_EXTENSION_CHARACTERS) == set("\f^{}\\[~]|€")
        assert not set(GSM7_EXTENSION_CHARACTERS) & set(GSM7_BASIC_CHARACTERS)

    @pytest.mark.parametrize("char", ["`", "ç", "“", "”", "’", "—", "–", "…", "\u00a0", EMOJI])
    def test_known_non_gsm_characters(self, char: str) -> None:
        # compliance.md 4.1: backtick, lowercase ç (only Ç is mapped), curly quotes, em dash.
        assert not is_gsm7(char)
        assert encoding_of(char) is Encoding.UCS_2

    @pytest.mark.parametrize("char", ["Ç", "é", "è", "à", "Ø", "Δ", "Ω", "¤", "§", "¿", "\n", "\r"])
    def test_notable_gsm_basic_characters(self, char: str) -> None:
        assert is_gsm7(char)
        info = analyze(char)
        assert (info.encoding, info.units) == (Encoding.GSM_7, 1)


class TestTwilioVectors:
    """Every known vector of compliance.md § 4.5 and § 4.4 gives the same count."""

    # Source: compliance.md 4.5, "Derived examples" table (a re-implementation of
    # TwilioDevEd/message-segment-calculator src/libs/SegmentedMessage.ts).
    @pytest.mark.parametrize(
        ("text", "encoding", "segments", "part_lengths"),
        [
            ("a" * 160, Encoding.GSM_7, 1, [160]),
            ("a" * 161, Encoding.GSM_7, 2, [153, 8]),
            ("a" * 307, Encoding.GSM_7, 3, [153, 153, 1]),
            ("€" * 80, Encoding.GSM_7, 1, [80]),
            ("€" * 81, Encoding.GSM_7, 2, [76, 5]),
            ("é" * 70, Encoding.GSM_7, 1, [70]),
            ("ç" * 70, Encoding.UCS_2, 1, [70]),
            # The calculator gives (66, 5): a quirk it has, see docs/segments.md.
            ("ç" * 71, Encoding.UCS_2, 2, [67, 4]),
            (EMOJI * 35, Encoding.UCS_2, 1, [35]),
            ("a" * 149 + EMOJI, Encoding.UCS_2, 3, [67, 67, 16]),
            ("a" * 1600, Encoding.GSM_7, 11, [153] * 10 + [70]),
        ],
    )
    def test_vector(
        self, text: str, encoding: Encoding, segments: int, part_lengths: list[int]
    ) -> None:
        info = analyze(text)
        assert info.encoding is encoding
        assert info.segments == segments
        assert count_segments(text) == segments
        assert [len(p) for p in info.parts] == part_lengths

    def test_wink_plus_68_ascii_is_one_segment(self) -> None:
        # compliance.md 4.4: TwilioDevEd/message-segment-calculator tests/index.test.js,
        # "😜" + 68 ASCII characters = 70 units -> 1 segment.
        info = analyze(WINK + "a" * 68)
        assert (info.encoding, info.units, info.segments) == (Encoding.UCS_2, 70, 1)

    def test_wink_plus_69_ascii_is_two_segments(self) -> None:
        # compliance.md 4.4: same test, one more character -> 2 segments.
        info = analyze(WINK + "a" * 69)
        assert (info.units, info.segments) == (71, 2)

    def test_35_two_unit_emoji_fill_one_part(self) -> None:
        # compliance.md 4.4: "35 two-unit emoji fill one part" (Twilio glossary).
        assert analyze(EMOJI * 35).remaining == 0
        assert count_segments(EMOJI * 36) == 2


class TestLimits:
    """The capacities of compliance.md § 4.2 apply at exactly their boundaries."""

    # compliance.md 4.2: GSM-7 160 single / 153 concatenated; UCS-2 70 / 67.
    def test_160_gsm_characters_are_one_segment(self) -> None:
        info = analyze("x" * 160)
        assert (info.segments, info.per_segment, info.remaining) == (1, 160, 0)

    def test_161_gsm_characters_are_two_segments(self) -> None:
        info = analyze("x" * 161)
        assert (info.segments, info.per_segment) == (2, 153)

    def test_306_and_307_gsm_characters(self) -> None:
        assert count_segments("x" * 306) == 2
        assert count_segments("x" * 307) == 3

    def test_70_ucs2_characters_are_one_segment(self) -> None:
        info = analyze("ж" * 70)
        assert (info.encoding, info.segments, info.per_segment) == (Encoding.UCS_2, 1, 70)

    def test_71_ucs2_characters_are_two_segments(self) -> None:
        info = analyze("ж" * 71)
        assert (info.segments, info.per_segment) == (2, 67)

    def test_134_and_135_ucs2_characters(self) -> None:
        assert count_segments("ж" * 134) == 2
        assert count_segments("ж" * 135) == 3

    def test_empty_text_is_one_segment_of_nothing(self) -> None:
        info = analyze("")
        assert info == SegmentInfo(
            text="",
            encoding=Encoding.GSM_7,
            units=0,
            segments=1,
            per_segment=160,
            parts=("",),
            non_gsm_characters=(),
        )
        assert info.remaining == 160
        assert count_segments("") == 1


class TestEncodingSwitch:
    """One non-GSM character switches the whole body to UCS-2 (compliance.md § 4.3)."""

    def test_one_curly_quote_more_than_doubles_the_cost(self) -> None:
        plain = "Hello, it's your survey: " + "x" * 100
        curly = plain.replace("'", "’")
        assert count_segments(plain) == 1
        assert count_segments(curly) == 2
        assert analyze(curly).non_gsm_characters == ("’",)

    def test_gsm_characters_cost_one_unit_inside_ucs2(self) -> None:
        # compliance.md 4.5: "GSM chars in a UCS-2 message = 16 bits", i.e. one unit each.
        assert analyze("€ç").units == 2

    def test_non_gsm_characters_are_distinct_in_first_appearance_order(self) -> None:
        info = analyze("ç—ç" + EMOJI + "—€ñ`")
        assert info.non_gsm_characters == ("ç", "—", EMOJI, "`")

    def test_crlf_stays_gsm7(self) -> None:
        # CR and LF are both in the basic table (compliance.md 4.1); we count code
        # points, not grapheme clusters, so "\r\n" does not force UCS-2.
        assert analyze("a\r\nb").encoding is Encoding.GSM_7


class TestExtensionCharacters:
    """Extension-table characters cost two septets and are never split."""

    @pytest.mark.parametrize("char", list(GSM7_EXTENSION_CHARACTERS))
    def test_costs_two_septets(self, char: str) -> None:
        info = analyze("a" + char)
        assert (info.encoding, info.units) == (Encoding.GSM_7, 3)

    def test_eighty_euros_fill_one_message(self) -> None:
        assert analyze("€" * 80).remaining == 0

    def test_escape_pair_at_boundary_moves_to_next_part(self) -> None:
        # 152 septets, then "€" would need septets 153 and 154 of the first part.
        text = "a" * 152 + "€" + "b" * 10
        info = analyze(text)
        assert info.parts == ("a" * 152, "€" + "b" * 10)
        assert info.segments == 2

    def test_escape_pair_that_exactly_fits_stays(self) -> None:
        text = "a" * 151 + "€" + "b" * 10
        assert analyze(text).parts == ("a" * 151 + "€", "b" * 10)

    def test_remaining_counts_in_the_concatenated_capacity(self) -> None:
        info = analyze("€" * 81)
        assert info.remaining == 153 - 10


class TestSurrogatePairs:
    """Astral characters cost two UTF-16 units and are never split (compliance.md § 4.4)."""

    def test_emoji_costs_two_units(self) -> None:
        assert analyze(EMOJI).units == 2

    def test_emoji_at_boundary_moves_to_next_part(self) -> None:
        text = "ж" * 66 + EMOJI + "ж" * 10
        info = analyze(text)
        assert info.parts == ("ж" * 66, EMOJI + "ж" * 10)
        assert info.remaining == 67 - 12

    def test_emoji_that_exactly_fits_stays(self) -> None:
        text = "ж" * 65 + EMOJI + "ж" * 10
        assert analyze(text).parts == ("ж" * 65 + EMOJI, "ж" * 10)

    def test_all_emoji_parts_hold_33(self) -> None:
        info = analyze(EMOJI * 40)
        assert [len(p) for p in info.parts] == [33, 7]


class TestAnalyzeErrors:
    """Non-string input is refused with a TypeError."""

    @pytest.mark.parametrize("func", [analyze, count_segments, encoding_of, is_gsm7, suggest_gsm7])
    def test_bytes_are_refused(self, func: object) -> None:
        with pytest.raises(TypeError, match="bytes"):
            func(b"hello")  # type: ignore[operator]


class TestSuggestGsm7:
    """suggest_gsm7 transliterates typography (compliance.md § 4.6) and keeps the rest."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # compliance.md 4.6 (Telnyx): smart quotes -> ", em dash -> -, ellipsis -> ...
            ("“Hi”", '"Hi"'),
            ("it’s", "it's"),
            ("a — b – c", "a - b - c"),
            ("wait…", "wait..."),
            ("10\u00a0h", "10 h"),
            ("«\u202foui\u202f»", '" oui "'),
            ("`code`", "'code'"),
            ("ＡＢＣ！", "ABC!"),
            ("½", "1/2"),
        ],
    )
    def test_examples(self, text: str, expected: str) -> None:
        assert suggest_gsm7(text) == expected
        assert is_gsm7(suggest_gsm7(text))

    def test_keeps_what_it_cannot_spell(self) -> None:
        text = "ça va ’ " + EMOJI + " \u200b"
        assert suggest_gsm7(text) == "ça va ' " + EMOJI + " \u200b"

    def test_gsm_text_is_returned_unchanged(self) -> None:
        text = "Prix: 5€ [promo] ~ {ok}"
        assert suggest_gsm7(text) is text

    def test_can_save_segments(self) -> None:
        text = "Thanks — we’ll text you soon… " * 3
        assert count_segments(text) == 2
        assert count_segments(suggest_gsm7(text)) == 1


class TestProperties:
    """Invariants that hold for every body, checked with Hypothesis."""

    @given(BODIES, sms_texts(min_size=1, max_size=40))
    def test_segments_never_decrease_when_appending(self, text: str, more: str) -> None:
        assert count_segments(text + more) >= count_segments(text)

    @given(BODIES, st.sampled_from(["a", "€", "ç", EMOJI]))
    def test_segments_never_decrease_one_char_at_a_time(self, text: str, char: str) -> None:
        assert count_segments(text + char) >= count_segments(text)

    @given(BODIES)
    @example("a" * 152 + "€")
    @example("ж" * 66 + EMOJI)
    def test_parts_rebuild_the_text(self, text: str) -> None:
        assert "".join(analyze(text).parts) == text

    @given(BODIES)
    @example("€" * 81)
    @example(EMOJI * 40)
    def test_each_part_fits_its_segment(self, text: str) -> None:
        info = analyze(text)
        for part in info.parts:
            assert units_of(part, info.encoding) <= info.per_segment
        assert 0 <= info.remaining <= info.per_segment

    @given(BODIES)
    def test_no_part_could_have_taken_its_successors_first_char(self, text: str) -> None:
        info = analyze(text)
        for part, after in zip(info.parts, info.parts[1:], strict=False):
            assert units_of(part + after[0], info.encoding) > info.per_segment

    @given(BODIES)
    def test_segments_equal_number_of_parts(self, text: str) -> None:
        info = analyze(text)
        assert info.segments == len(info.parts) == count_segments(text)

    @given(BODIES)
    def test_units_are_the_sum_over_parts(self, text: str) -> None:
        info = analyze(text)
        assert info.units == sum(units_of(p, info.encoding) for p in info.parts)

    @given(BODIES)
    def test_no_part_ends_in_a_lone_surrogate(self, text: str) -> None:
        for part in analyze(text).parts:
            part.encode("utf-16-le")  # raises on a split surrogate pair

    @given(BODIES)
    def test_gsm7_iff_no_non_gsm_characters(self, text: str) -> None:
        info = analyze(text)
        assert (info.encoding is Encoding.GSM_7) == (info.non_gsm_characters == ())
        assert (info.encoding is Encoding.GSM_7) == is_gsm7(text)
        assert encoding_of(text) is info.encoding
        assert set(info.non_gsm_characters) == {c for c in text if not is_gsm7(c)}

    @given(sms_texts(alphabet="gsm7"))
    def test_gsm7_strategy_gives_gsm7_texts(self, text: str) -> None:
        assert analyze(text).encoding is Encoding.GSM_7

    @given(sms_texts(alphabet="gsm7_basic"))
    def test_basic_texts_cost_one_septet_per_character(self, text: str) -> None:
        assert analyze(text).units == len(text)

    @given(BODIES)
    def test_suggestion_never_adds_non_gsm_characters(self, text: str) -> None:
        before = analyze(text).non_gsm_characters
        after = analyze(suggest_gsm7(text)).non_gsm_characters
        assert set(after) <= set(before)

    @given(BODIES)
    def test_suggestion_is_idempotent(self, text: str) -> None:
        once = suggest_gsm7(text)
        assert suggest_gsm7(once) == once

    @given(BODIES)
    def test_suggestion_drops_no_character(self, text: str) -> None:
        # Every character of the input is either kept or replaced by a non-empty spelling.
        assert len(suggest_gsm7(text)) >= len(text)


class TestSmsTextsStrategy:
    """The shipped sms_texts() strategy validates its arguments and honours sizes."""

    @pytest.mark.parametrize(
        "kwargs",
        [{"alphabet": "latin"}, {"min_size": -1}, {"min_size": 5, "max_size": 4}],
    )
    def test_bad_arguments_are_refused(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidArgument):
            sms_texts(**kwargs)  # type: ignore[arg-type]

    @given(sms_texts(min_size=3, max_size=5))
    def test_sizes_are_honoured(self, text: str) -> None:
        assert 3 <= len(text) <= 5
