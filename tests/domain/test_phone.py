"""Tests for smscampaign.domain.phone: parsing, validation and classification of numbers."""

from __future__ import annotations

import itertools

import attrs
import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from phonenumbers import timezone as pn_timezone

from smscampaign.domain import phone as phone_module
from smscampaign.domain.phone import NO_SMS_KINDS, NumberKind, PhoneNumber
from smscampaign.errors import InvalidPhoneNumber, SmsCampaignError
from smscampaign.testing.strategies import (
    _phone_type_strategies,
    phone_numbers,
    phone_texts,
)


class TestParseExamples:
    """What people type parses to the right E.164 number."""

    @pytest.mark.parametrize(
        ("text", "region", "e164"),
        [
            ("(212) 555-0123", "US", "+12125550123"),
            ("(212) 555-0123", "us", "+12125550123"),
            ("212.555.0123", "US", "+12125550123"),
            ("+1 212-555-0123", None, "+12125550123"),
            ("+33 6 12 34 56 78", None, "+33612345678"),
            ("06 12 34 56 78", "FR", "+33612345678"),
            ("0044 7911 123456", None, "+447911123456"),
            ("0044 7911 123456", "GB", "+447911123456"),
            ("0044 7911 123456", "US", "+447911123456"),
            ("011 44 7911 123456", "US", "+447911123456"),
            ("tel:+1-212-555-0123", None, "+12125550123"),
            ("TEL:+1-212-555-0123;ext=42", None, "+12125550123"),
            ("tel:555-0123;phone-context=+1-212", None, "+12125550123"),
            ("  +1 212 555 0123\n", None, "+12125550123"),
            ("212-555-0123 x12", "US", "+12125550123"),
            ("+39 06 1234 5678", None, "+390612345678"),
        ],
    )
    def test_parses(self, text: str, region: str | None, e164: str) -> None:
        assert PhoneNumber.parse(text, region).e164 == e164

    def test_fields_of_a_us_number(self) -> None:
        number = PhoneNumber.parse("(212) 555-0123", "US")
        assert number == PhoneNumber(
            "+12125550123",
            "US",
            kind=NumberKind.FIXED_LINE_OR_MOBILE,
            verified=True,
            time_zones=("America/New_York",),
        )
        assert (number.region, number.kind, number.verified) == (
            "US",
            NumberKind.FIXED_LINE_OR_MOBILE,
            True,
        )
        assert number.time_zones == ("America/New_York",)
        assert number.country_code == 1
        assert number.national_format == "(212) 555-0123"
        assert number.international_format == "+1 212-555-0123"
        assert str(number) == "+12125550123"

    def test_fields_of_a_french_mobile(self) -> None:
        number = PhoneNumber.parse("+33 6 12 34 56 78")
        assert (number.region, number.kind, number.country_code) == ("FR", NumberKind.MOBILE, 33)
        assert number.time_zones == ("Europe/Paris",)

    def test_non_geographic_number_has_no_region_and_no_zones(self) -> None:
        number = PhoneNumber.parse("+800 1234 5678")
        assert number.region is None
        assert number.kind is NumberKind.TOLL_FREE
        assert number.country_code == 800
        # libphonenumber answers "Etc/Unknown"; we answer "no candidate zone".
        assert pn_timezone.time_zones_for_number(phonenumbers.parse("+80012345678")) == (
            "Etc/Unknown",
        )
        assert number.time_zones == ()


class TestTimeZones:
    """Time zones are every candidate libphonenumber gives, as it gives them."""

    def test_idaho_area_code_spans_two_zones(self) -> None:
        # Area code 208 covers Idaho, split between Mountain and Pacific time.
        number = PhoneNumber.parse("+1 208-555-0123")
        assert number.time_zones == ("America/Boise", "America/Los_Angeles")

    def test_uk_mobile_has_the_country_level_list(self) -> None:
        # UK mobiles are not geographic: libphonenumber lists the whole +44 zone set.
        number = PhoneNumber.parse("+44 7911 123456")
        assert number.time_zones == pn_timezone.time_zones_for_number(
            phonenumbers.parse("+447911123456")
        )
        assert "Europe/London" in number.time_zones

    def test_unverified_number_gets_its_country_zones(self) -> None:
        number = PhoneNumber.parse("+1 123 123 1234", lenient=True)
        assert "America/New_York" in number.time_zones
        assert "America/Los_Angeles" in number.time_zones

    def test_zones_are_looked_up_on_first_use_and_kept(self) -> None:
        """Parsing does not compute zones; the first access does, once."""
        number = PhoneNumber.parse("(212) 555-0123", "US")
        assert number._given_zones is None
        assert number.time_zones == ("America/New_York",)
        assert number.time_zones is number.time_zones

    def test_given_zones_win(self) -> None:
        """Zones passed to the constructor (as storage keeps them) are used as given."""
        number = PhoneNumber(
            "+12125550123", "US", kind="fixed_line_or_mobile", verified=True, time_zones=["X/Y"]
        )
        assert number.time_zones == ("X/Y",)
        assert attrs.evolve(number, time_zones=()).time_zones == ()

    def test_constructor_without_zones_looks_them_up(self) -> None:
        """Zones left out of the constructor come from libphonenumber, as parse() gives them."""
        for text in ("+1 208-555-0123", "+44 7911 123456", "+800 1234 5678", "+33 6 12 34 56 78"):
            parsed = PhoneNumber.parse(text)
            built = PhoneNumber(parsed.e164, parsed.region, kind=parsed.kind, verified=True)
            assert built.time_zones == parsed.time_zones

    def test_zones_do_not_change_equality(self) -> None:
        """Whether zones were looked up yet never shows in equality or hashing."""
        a = PhoneNumber.parse("+1 208-555-0123")
        b = PhoneNumber.parse("+1 208-555-0123")
        assert a.time_zones
        assert a == b
        assert hash(a) == hash(b)
        assert attrs.astuple(a) == attrs.astuple(b)


class TestErrors:
    """Every way to fail raises InvalidPhoneNumber naming the input and the reason."""

    @pytest.mark.parametrize(
        ("text", "region", "reason"),
        [
            ("", None, "not_a_number"),
            ("   ", "US", "not_a_number"),
            ("hello", "US", "not_a_number"),
            ("2125550123", None, "invalid_country_code"),
            ("+999 1234 5678", None, "invalid_country_code"),
            ("+1 212", None, "too_short"),
            ("+1 555 0123", None, "too_short"),
            ("+44 1", None, "too_short"),
            ("+1 212 555 0123 4567 89", None, "too_long"),
            ("+1" + "2" * 20, None, "too_long"),
            ("+49 12", None, "too_short"),
            ("+14321321321", None, "not_valid_for_region"),
            ("+11231231234", None, "not_valid_for_region"),
            ("(123) 123-1234", "US", "not_valid_for_region"),
            ("2125550123", "XX", "invalid_country_code"),
        ],
    )
    def test_reason(self, text: str, region: str | None, reason: str) -> None:
        with pytest.raises(InvalidPhoneNumber) as excinfo:
            PhoneNumber.parse(text, region)
        assert excinfo.value.reason == reason

    def test_message_names_the_input_and_why(self) -> None:
        with pytest.raises(InvalidPhoneNumber, match=r"'\+1 212' .*too few digits") as excinfo:
            PhoneNumber.parse("+1 212")
        assert excinfo.value.value == "+1 212"

    def test_not_possible_length(self) -> None:
        # A length between two lengths the country uses is "not possible".
        numbers = [f"+{cc}{'2' * n}" for cc in (49, 33, 44, 61, 81) for n in range(2, 15)]
        reasons = set()
        for text in numbers:
            try:
                PhoneNumber.parse(text, lenient=True)
            except InvalidPhoneNumber as error:
                reasons.add(error.reason)
        assert "not_possible" in reasons

    def test_unknown_region_names_the_region(self) -> None:
        with pytest.raises(InvalidPhoneNumber, match="'XX'") as excinfo:
            PhoneNumber.parse("+12125550123", "XX")
        assert excinfo.value.reason == "invalid_country_code"

    def test_is_a_value_error_and_ours(self) -> None:
        with pytest.raises(ValueError, match="empty"):
            PhoneNumber.parse("")
        with pytest.raises(SmsCampaignError):
            PhoneNumber.parse("")

    @pytest.mark.parametrize("value", [None, 2125550123, b"+12125550123"])
    def test_non_str_text_is_a_type_error(self, value: object) -> None:
        with pytest.raises(TypeError, match="must be a str"):
            PhoneNumber.parse(value)  # type: ignore[arg-type]

    def test_non_str_region_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="region"):
            PhoneNumber.parse("+12125550123", 1)  # type: ignore[arg-type]


class TestLenientMode:
    """Lenient parsing accepts possible-but-invalid numbers, marked unverified."""

    @pytest.mark.parametrize("text", ["+14321321321", "+11231231234"])
    def test_seed_samples_parse_leniently(self, text: str) -> None:
        number = PhoneNumber.parse(text, lenient=True)
        assert number.e164 == text
        assert number.verified is False
        assert number.kind is NumberKind.UNKNOWN
        assert number.region is None  # +1 spans many regions; libphonenumber cannot tell

    def test_strict_is_the_default(self) -> None:
        with pytest.raises(InvalidPhoneNumber) as excinfo:
            PhoneNumber.parse("+14321321321")
        assert excinfo.value.reason == "not_valid_for_region"
        assert "lenient=True" in str(excinfo.value)

    def test_valid_numbers_stay_verified(self) -> None:
        assert PhoneNumber.parse("+12125550123", lenient=True).verified is True

    def test_lenient_still_rejects_impossible_numbers(self) -> None:
        with pytest.raises(InvalidPhoneNumber) as excinfo:
            PhoneNumber.parse("+1 212", lenient=True)
        assert excinfo.value.reason == "too_short"

    def test_single_region_country_keeps_its_region(self) -> None:
        number = PhoneNumber.parse("+33 0 12 34 56 78", lenient=True)
        assert (number.region, number.verified) == ("FR", False)


class TestFromE164:
    """from_e164 rebuilds stored numbers and accepts only canonical E.164."""

    def test_round_trip(self) -> None:
        number = PhoneNumber.parse("(212) 555-0123", "US")
        again = PhoneNumber.from_e164(number.e164)
        assert attrs.astuple(again) == attrs.astuple(number)

    def test_unverified_needs_verified_false(self) -> None:
        assert PhoneNumber.from_e164("+11231231234", verified=False).verified is False
        with pytest.raises(InvalidPhoneNumber) as excinfo:
            PhoneNumber.from_e164("+11231231234")
        assert excinfo.value.reason == "not_valid_for_region"

    @pytest.mark.parametrize(
        "text", ["12125550123", "+1 212 555 0123", "+1-212-555-0123", "+012125550123", ""]
    )
    def test_rejects_non_e164(self, text: str) -> None:
        with pytest.raises(InvalidPhoneNumber, match=r"E\.164") as excinfo:
            PhoneNumber.from_e164(text)
        assert excinfo.value.reason == "not_a_number"

    def test_rejects_non_canonical_and_suggests(self) -> None:
        with pytest.raises(InvalidPhoneNumber, match=r"did you mean '\+447911123456'"):
            PhoneNumber.from_e164("+4407911123456")

    def test_non_str_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            PhoneNumber.from_e164(12125550123)  # type: ignore[arg-type]


class TestEquality:
    """Numbers are equal, hash alike and sort by their E.164 form alone."""

    def test_same_number_two_spellings(self) -> None:
        a = PhoneNumber.parse("(212) 555-0123", "US")
        b = PhoneNumber.parse("+1 212-555-0123")
        assert a == b
        assert hash(a) == hash(b)
        assert len({a, b}) == 1

    def test_other_fields_do_not_count(self) -> None:
        a = PhoneNumber.parse("+12125550123")
        b = attrs.evolve(a, kind=NumberKind.UNKNOWN, verified=False, time_zones=())
        assert a == b
        assert hash(a) == hash(b)

    def test_not_equal_to_its_string(self) -> None:
        number = PhoneNumber.parse("+12125550123")
        assert number != "+12125550123"
        assert str(number) == "+12125550123"

    def test_sorts_by_e164(self) -> None:
        numbers = [PhoneNumber.parse(t) for t in ("+33612345678", "+12125550123", "+447911123456")]
        assert [n.e164 for n in sorted(numbers)] == [
            "+12125550123",
            "+33612345678",
            "+447911123456",
        ]
        assert numbers[1] < numbers[0] <= numbers[0]
        assert numbers[2] > numbers[0] >= numbers[0]

    def test_ordering_against_other_types_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            _ = PhoneNumber.parse("+12125550123") < "+2"

    def test_is_frozen(self) -> None:
        number = PhoneNumber.parse("+12125550123")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            number.e164 = "+12125550124"  # type: ignore[misc]


class TestConstruction:
    """The constructor checks the shape of its fields."""

    def test_kind_accepts_its_value(self) -> None:
        number = PhoneNumber("+12125550123", "US", kind="mobile", verified=True, time_zones=[])
        assert number.kind is NumberKind.MOBILE
        assert number.time_zones == ()

    @pytest.mark.parametrize("e164", ["12125550123", "+1 212", "+", "+1234567890123456"])
    def test_rejects_bad_e164(self, e164: str) -> None:
        with pytest.raises(InvalidPhoneNumber, match="e164"):
            PhoneNumber(e164, None, kind=NumberKind.UNKNOWN, verified=False, time_zones=())

    @pytest.mark.parametrize("region", ["us", "USA", "", "001"])
    def test_rejects_bad_region(self, region: str) -> None:
        with pytest.raises(InvalidPhoneNumber, match="region"):
            PhoneNumber(
                "+12125550123", region, kind=NumberKind.MOBILE, verified=True, time_zones=()
            )


class TestNumberKind:
    """NumberKind mirrors libphonenumber and knows which kinds can take an SMS."""

    def test_mirrors_phonenumbertype(self) -> None:
        for kind in NumberKind:
            assert kind.value == kind.name.lower()
            assert isinstance(getattr(phonenumbers.PhoneNumberType, kind.name), int)
        assert len(NumberKind) == len(phonenumbers.PhoneNumberType.values())

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            (NumberKind.MOBILE, True),
            (NumberKind.FIXED_LINE_OR_MOBILE, True),
            (NumberKind.VOIP, True),
            (NumberKind.TOLL_FREE, True),
            (NumberKind.PERSONAL_NUMBER, True),
            (NumberKind.PAGER, True),
            (NumberKind.UNKNOWN, True),
            (NumberKind.FIXED_LINE, False),
            (NumberKind.PREMIUM_RATE, False),
            (NumberKind.SHARED_COST, False),
            (NumberKind.UAN, False),
            (NumberKind.VOICEMAIL, False),
        ],
    )
    def test_can_receive_sms(self, kind: NumberKind, expected: bool) -> None:
        assert kind.can_receive_sms is expected
        assert (kind in NO_SMS_KINDS) is not expected

    def test_is_a_stable_string(self) -> None:
        assert str(NumberKind.FIXED_LINE_OR_MOBILE) == "fixed_line_or_mobile"
        assert NumberKind("voip") is NumberKind.VOIP


class TestProperties:
    """Round trips hold for every number the shipped strategies generate."""

    @given(phone_numbers())
    def test_e164_round_trip(self, number: PhoneNumber) -> None:
        again = PhoneNumber.parse(number.e164)
        assert again == number
        assert attrs.astuple(again) == attrs.astuple(number)

    @given(phone_numbers(verified=None))
    def test_from_e164_round_trip(self, number: PhoneNumber) -> None:
        again = PhoneNumber.from_e164(number.e164, verified=number.verified)
        assert attrs.astuple(again) == attrs.astuple(number)

    @given(phone_numbers(verified=False))
    def test_lenient_round_trip(self, number: PhoneNumber) -> None:
        assert not number.verified
        assert number.kind is NumberKind.UNKNOWN
        again = PhoneNumber.parse(number.e164, lenient=True)
        assert attrs.astuple(again) == attrs.astuple(number)
        with pytest.raises(InvalidPhoneNumber):
            PhoneNumber.parse(number.e164)

    @given(phone_numbers())
    def test_national_format_round_trip(self, number: PhoneNumber) -> None:
        assert number.region is not None
        assert PhoneNumber.parse(number.national_format, number.region) == number

    @given(phone_numbers(verified=None))
    def test_international_format_round_trip(self, number: PhoneNumber) -> None:
        again = PhoneNumber.parse(number.international_format, lenient=True)
        assert attrs.astuple(again) == attrs.astuple(number)

    @given(phone_numbers(verified=None))
    def test_agrees_with_libphonenumber(self, number: PhoneNumber) -> None:
        parsed = phonenumbers.parse(number.e164)
        assert number.verified == phonenumbers.is_valid_number(parsed)
        assert number.kind.name == _type_name(phonenumbers.number_type(parsed))
        assert number.country_code == parsed.country_code
        if number.verified:
            zones = pn_timezone.time_zones_for_number(parsed)
            assert number.time_zones == ((), zones)[zones != ("Etc/Unknown",)]

    @given(phone_texts())
    def test_human_spellings_parse(self, example: tuple[str, str | None, PhoneNumber]) -> None:
        text, region, expected = example
        assert PhoneNumber.parse(text, region) == expected


def _type_name(number_type: int) -> str:
    return next(
        name
        for name in vars(phonenumbers.PhoneNumberType)
        if name.isupper() and getattr(phonenumbers.PhoneNumberType, name) == number_type
    )


class TestStrategies:
    """The shipped phone strategies honour their arguments and reject bad ones."""

    @given(phone_numbers(regions=["gb", "FR"], kinds=[NumberKind.MOBILE]))
    def test_regions_and_kinds(self, number: PhoneNumber) -> None:
        assert number.region in {"GB", "FR"}
        assert number.kind is NumberKind.MOBILE
        assert number.verified

    @given(phone_numbers(verified=None))
    def test_either(self, number: PhoneNumber) -> None:
        assert number.verified == (number.kind is not NumberKind.UNKNOWN)

    def test_shrinks_towards_a_us_number(self) -> None:
        from hypothesis import find

        number = find(phone_numbers(), lambda n: True)
        assert number.region == "US"
        assert number.kind is NumberKind.FIXED_LINE_OR_MOBILE

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"regions": "US"},
            {"regions": []},
            {"regions": ["XX"]},
            {"regions": [1]},
            {"kinds": []},
            {"kinds": ["mobile"]},
            {"kinds": NumberKind.MOBILE},
            {"verified": "yes"},
            {"regions": ["US"], "kinds": [NumberKind.MOBILE]},
            {"kinds": [NumberKind.MOBILE], "verified": False},
            {"kinds": [NumberKind.UNKNOWN], "verified": True},
        ],
    )
    def test_invalid_arguments(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidArgument):
            phone_numbers(**kwargs)  # type: ignore[arg-type]

    def test_type_registration(self) -> None:
        [(type_, strategy)] = _phone_type_strategies()
        assert type_ is PhoneNumber
        assert isinstance(strategy, st.SearchStrategy)

    @given(st.data())
    def test_registered_strategy_draws_numbers(self, data: st.DataObject) -> None:
        [(_, strategy)] = _phone_type_strategies()
        assert isinstance(data.draw(strategy), PhoneNumber)


class TestShortCuts:
    """The parsing short cuts give exactly what libphonenumber's general path gives."""

    def test_north_american_regions_take_the_short_cut(self) -> None:
        assert {"US", "CA"} <= phone_module._NANP_PARSE_REGIONS
        # Antigua rewrites seven-digit local numbers: it keeps the general path.
        assert "AG" not in phone_module._NANP_PARSE_REGIONS

    @given(
        st.from_regex(phone_module._NANP_SPELLING, fullmatch=True),
        st.sampled_from(sorted(phone_module._NANP_PARSE_REGIONS)),
    )
    def test_nanp_spelling_parses_as_libphonenumber_does(self, text: str, region: str) -> None:
        for default in (region, None):
            if default is None and not text.startswith("+"):
                continue  # the short cut is not taken there
            parsed = phone_module._parse(text, default, text)
            assert parsed == phonenumbers.parse(text, default)
            assert phone_module._parse_nanp(text) == parsed

    def test_every_nanp_spelling_shape(self) -> None:
        """Each prefix, bracket and separator the short cut accepts, in every region it serves."""
        prefixes = ["", *(p + sep for p in ("+1", "1") for sep in ("", " ", ".", "-"))]
        seps = ["", " ", ".", "-"]
        for prefix, open_, close, sep1, sep2 in itertools.product(
            prefixes, ["", "("], ["", ")"], seps, seps
        ):
            for area, exchange, line in (("212", "555", "0123"), ("989", "000", "9999")):
                text = f"{prefix}{open_}{area}{close}{sep1}{exchange}{sep2}{line}"
                assert phone_module._NANP_SPELLING.fullmatch(text)
                for region in sorted(phone_module._NANP_PARSE_REGIONS):
                    assert phone_module._parse_nanp(text) == phonenumbers.parse(text, region)

    @given(
        st.from_regex(phone_module._NANP_SPELLING, fullmatch=True),
        st.sampled_from(sorted(phone_module._NANP_PARSE_REGIONS)),
        st.booleans(),
    )
    def test_nanp_spelling_gives_the_general_answer(
        self, text: str, region: str, lenient: bool
    ) -> None:
        expected = _general_parse(text, region, lenient)
        try:
            got: object = PhoneNumber.parse(text, region, lenient=lenient)
        except InvalidPhoneNumber as exc:
            got = exc.reason
        if isinstance(got, PhoneNumber):
            got = (got.e164, got.region, got.kind, got.verified)
        assert got == expected

    @given(phone_texts())
    def test_human_spellings_give_the_general_answer(
        self, example: tuple[str, str | None, PhoneNumber]
    ) -> None:
        text, region, _ = example
        number = PhoneNumber.parse(text, region)
        stripped, upper = text.strip(), region and region.upper()
        expected = _general_parse(stripped, upper, lenient=False)
        if stripped.startswith("00") and (upper is None or isinstance(expected, str)):
            expected = _general_parse("+" + stripped[2:], None, lenient=False)  # "00" read as "+"
        assert (number.e164, number.region, number.kind, number.verified) == expected

    @given(
        st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
        st.text("0123456789", min_size=2, max_size=14),
    )
    def test_region_and_type_of_any_digits(self, country_code: int, digits: str) -> None:
        number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(digits))
        nsn = phonenumbers.national_significant_number(number)
        assert phone_module._region_and_type(country_code, nsn) == (
            phonenumbers.region_code_for_number(number),
            phonenumbers.number_type(number),
        )

    @given(st.from_regex(r"[2-9][0-9]{9}", fullmatch=True))
    def test_region_and_type_across_the_north_american_plan(self, nsn: str) -> None:
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(nsn))
        assert phone_module._region_and_type(1, nsn) == (
            phonenumbers.region_code_for_number(number),
            phonenumbers.number_type(number),
        )

    @given(phone_numbers(verified=None))
    def test_region_and_type_of_generated_numbers(self, number: PhoneNumber) -> None:
        parsed = phonenumbers.parse(number.e164)
        nsn = phonenumbers.national_significant_number(parsed)
        assert phone_module._region_and_type(number.country_code, nsn) == (
            phonenumbers.region_code_for_number(parsed),
            phonenumbers.number_type(parsed),
        )


def _general_parse(
    text: str, region: str | None, lenient: bool
) -> tuple[str, str | None, NumberKind, bool] | str:
    """What PhoneNumber.parse means, through libphonenumber's public calls only.

    Returns the number's (E.164, region, kind, verified), or the reason it is refused.
    """
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return phone_module._PARSE_ERRORS.get(exc.error_type, ("not_a_number", ""))[0]
    possibility = phonenumbers.is_possible_number_with_reason(parsed)
    if possibility != phonenumbers.ValidationResult.IS_POSSIBLE:
        return phone_module._POSSIBILITY_ERRORS.get(possibility, ("not_possible", ""))[0]
    verified = phonenumbers.is_valid_number(parsed)
    if not verified and not lenient:
        return "not_valid_for_region"
    found = phonenumbers.region_code_for_number(parsed)
    kind = NumberKind[_type_name(phonenumbers.number_type(parsed))]
    return (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        None if found == "001" else found,
        kind,
        verified,
    )
