"""Phone numbers: parsed, validated and normalized to E.164 with libphonenumber.

Every number in smscampaign is a :class:`PhoneNumber`: its E.164 form (the key
of the suppression list and of duplicate detection), the region it belongs to,
its :class:`NumberKind` (mobile, fixed line, ...), whether libphonenumber
considers it valid, and the candidate time zones the scheduler intersects for
legal quiet hours.

The numbering-plan knowledge is Google's libphonenumber, through its Python
port ``phonenumbers`` (https://github.com/google/libphonenumber,
https://github.com/daviddrysdale/python-phonenumbers). Numbering plans change
every month somewhere in the world; that metadata is maintained upstream and
updated by upgrading the package, never by editing code here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import attrs
import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
)
from phonenumbers import timezone as _pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from smscampaign._compat import StrEnum
from smscampaign.domain._checks import to_enum
from smscampaign.errors import InvalidPhoneNumber

__all__ = ["NO_SMS_KINDS", "NumberKind", "PhoneNumber"]


class NumberKind(StrEnum):
    """What kind of line a number belongs to, as libphonenumber classifies it.

    The members mirror libphonenumber's ``PhoneNumberType`` one for one, with
    stable lower_snake values that are safe to store. ``FIXED_LINE_OR_MOBILE``
    is what libphonenumber answers where the numbering plan does not tell the
    two apart -- most of the North American plan (US, CA), for instance.
    ``UNKNOWN`` is the kind of every number libphonenumber does not consider
    valid.
    """

    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"

    @property
    def can_receive_sms(self) -> bool:
        """Whether a campaign may send an SMS to a number of this kind.

        False for the kinds listed in :data:`NO_SMS_KINDS` (fixed line, premium
        rate, shared cost, UAN, voicemail); True otherwise, including
        ``FIXED_LINE_OR_MOBILE`` (most US numbers) and ``UNKNOWN`` (an
        unverified number is given the benefit of the doubt; the carrier's
        answer decides).
        """
        return self not in NO_SMS_KINDS


#: Kinds of number a campaign never sends to. Source: smscampaign DESIGN.md,
#: "Eligibility" (fixed line, premium, shared cost, UAN, voicemail cannot take
#: SMS; FIXED_LINE_OR_MOBILE is allowed because most US numbers are that).
NO_SMS_KINDS: frozenset[NumberKind] = frozenset(
    {
        NumberKind.FIXED_LINE,
        NumberKind.PREMIUM_RATE,
        NumberKind.SHARED_COST,
        NumberKind.UAN,
        NumberKind.VOICEMAIL,
    }
)

# libphonenumber's integer PhoneNumberType -> our enum; the names match one for one.
_KIND_FOR_TYPE: dict[int, NumberKind] = {
    getattr(PhoneNumberType, kind.name): kind for kind in NumberKind
}

# NumberParseException.error_type -> InvalidPhoneNumber.reason, with an explanation.
_PARSE_ERRORS: dict[int, tuple[str, str]] = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        "invalid_country_code",
        "no valid country calling code; start with + and the country code, "
        "or pass the region it is dialled from (e.g. region='US')",
    ),
    NumberParseException.NOT_A_NUMBER: ("not_a_number", "it does not look like a phone number"),
    NumberParseException.TOO_SHORT_AFTER_IDD: (
        "too_short",
        "too few digits after the international prefix",
    ),
    NumberParseException.TOO_SHORT_NSN: ("too_short", "too few digits"),
    NumberParseException.TOO_LONG: ("too_long", "too many digits"),
}

# is_possible_number_with_reason() result -> InvalidPhoneNumber.reason, with an explanation.
# IS_POSSIBLE_LOCAL_ONLY counts as too short: a number diallable only inside its
# area (no area code) cannot be reached by an SMS gateway.
_POSSIBILITY_ERRORS: dict[int, tuple[str, str]] = {
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
        "too_short",
        "diallable only locally; include the area code",
    ),
    ValidationResult.INVALID_COUNTRY_CODE: ("invalid_country_code", "unknown country code"),
    ValidationResult.TOO_SHORT: ("too_short", "too few digits for its country"),
    ValidationResult.TOO_LONG: ("too_long", "too many digits for its country"),
    ValidationResult.INVALID_LENGTH: (
        "not_possible",
        "no number of that length exists in its country",
    ),
}

_UNKNOWN_TIME_ZONE = "Etc/Unknown"  # libphonenumber's answer when it does not know
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_REGION = re.compile(r"[A-Z]{2}")
_SUPPORTED_REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)
_NON_GEOGRAPHIC_REGION = "001"  # libphonenumber's region code for +800, +882, ...


def _number_kind(value: NumberKind | str) -> NumberKind:
    """A :class:`NumberKind` from a member or its value; anything else is an InvalidPhoneNumber."""
    return to_enum(NumberKind, value, InvalidPhoneNumber)


def _validate_e164(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or _E164.fullmatch(value) is None:
        raise InvalidPhoneNumber(
            f"{attribute.name} must be an E.164 number ('+' then up to 15 digits), got {value!r}",
            value=value,
            reason="not_a_number",
        )


def _validate_region(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or _REGION.fullmatch(value) is None):
        raise InvalidPhoneNumber(
            f"{attribute.name} must be None or an upper-case ISO 3166-1 alpha-2 code, "
            f"got {value!r}",
            value=value,
            reason="invalid_country_code",
        )


def _to_zones(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


class _LookedUpZones:
    """The slot where a :class:`PhoneNumber` keeps the zones it looked up.

    Outside the attrs fields, so a lookup never shows in equality, ``astuple``
    or ``evolve``; and not a ``functools.cached_property``, which attrs
    supports on slotted classes by adding a ``__getattr__`` that sends every
    attribute read of every number down CPython's slow path (an eligibility
    pass reads three per recipient; bench/eligibility.py).
    """

    __slots__ = ("_looked_up_zones",)
    _looked_up_zones: tuple[str, ...]


@attrs.frozen(eq=False)
class PhoneNumber(_LookedUpZones):
    """A phone number, normalized to E.164 and classified by libphonenumber.

    Build one with :meth:`parse` (what people type) or :meth:`from_e164`
    (what storage kept); the constructor takes the fields as they are and
    only checks their shape. Two numbers are equal, hash alike and sort by
    their E.164 form alone: ``"(212) 555-0123"`` in the US and
    ``"+1 212-555-0123"`` are the same number.

    Attributes:
        e164: The number in E.164 form, e.g. ``"+12125550123"``.
        region: The ISO 3166-1 alpha-2 region the number belongs to (``"US"``),
            or None for non-geographic numbers (+800, +882, ...) and for
            unverified numbers whose country code spans several regions
            (+1, +7, +44 ...).
        kind: What kind of line it is; ``UNKNOWN`` for unverified numbers.
        verified: True when libphonenumber says the number is valid; False
            for numbers accepted by lenient parsing, which have a possible
            length but match no known numbering range.
        time_zones: Every IANA zone the number may be in, from libphonenumber;
            empty when it does not know (non-geographic numbers). Looked up
            on first use and kept, unless given to the constructor (as
            storage does with the zones it kept).
    """

    e164: str = attrs.field(validator=_validate_e164)
    region: str | None = attrs.field(validator=_validate_region)
    kind: NumberKind = attrs.field(kw_only=True, converter=_number_kind)
    verified: bool = attrs.field(kw_only=True, validator=attrs.validators.instance_of(bool))
    # The zones as given to the constructor; None (the default, and what
    # parse() gives) means "look them up when first asked" (time_zones below).
    # Most numbers parsed (imports, webhooks) are never asked for their zones.
    _given_zones: tuple[str, ...] | None = attrs.field(
        default=None, kw_only=True, alias="time_zones", converter=_to_zones, repr=False
    )

    @property
    def time_zones(self) -> tuple[str, ...]:
        """Every IANA zone the number may be in, from libphonenumber (empty if unknown)."""
        if self._given_zones is not None:
            return self._given_zones
        try:
            return self._looked_up_zones
        except AttributeError:
            zones = _zones_for(self.e164, self.country_code, self.kind, self.verified)
            object.__setattr__(self, "_looked_up_zones", zones)
            return zones

    @classmethod
    def parse(cls, text: str, region: str | None = None, *, lenient: bool = False) -> PhoneNumber:
        """Parse a number the way people write it.

        Accepts national spellings given the region they are dialled from
        (``"(212) 555-0123"`` with ``region="US"``), international ones
        (``"+33 6 12 34 56 78"``, ``"0044 7911 123456"``: a leading ``00`` is
        read as ``+`` even without a region, or when the region's own
        international prefix is another), ``tel:`` URIs (RFC 3966, e.g.
        ``"tel:+1-212-555-0123;ext=5"``) and surrounding whitespace. An
        extension, in a URI or written as ``"x12"``, is dropped: an SMS cannot
        reach one.

        Strict parsing (the default) accepts only numbers libphonenumber
        considers valid. Lenient parsing also accepts numbers whose length is
        possible for their country but which match no known range (new
        ranges, test numbers such as ``+1 123 123 1234``); they come back with
        ``verified=False`` and kind ``UNKNOWN``.

        Args:
            text: The number as typed.
            region: Where the number is dialled from, an ISO 3166-1 alpha-2
                code in any case (``"us"``, ``"GB"``); needed only for numbers
                written without ``+`` and a country code.
            lenient: Accept possible-but-not-valid numbers as unverified.

        Returns:
            The parsed number.

        Raises:
            TypeError: ``text`` or ``region`` is not a string.
            InvalidPhoneNumber: The text is empty or is not a number
                (``reason`` ``not_a_number``), has no usable country code
                (``invalid_country_code``, also for an unknown ``region``), has
                too few or too many digits (``too_short``, ``too_long``), has a
                length no number of its country has (``not_possible``), or, in
                strict mode, is possible but matches no known range
                (``not_valid_for_region``).
        """
        if not isinstance(text, str):
            raise TypeError(f"phone number must be a str, got {type(text).__name__}: {text!r}")
        default_region = _check_region(region)
        stripped = text.strip()
        if not stripped:
            raise InvalidPhoneNumber(
                f"{text!r} is not a phone number: it is empty", value=text, reason="not_a_number"
            )
        # A leading "00" is the international prefix in most of the world;
        # libphonenumber knows that only when the region's own prefix is "00".
        idd_retry = stripped.startswith("00")
        if idd_retry and default_region is None:
            stripped = "+" + stripped[2:]
            idd_retry = False
        try:
            return cls._from_parsed(_parse(stripped, default_region, text), text, lenient)
        except InvalidPhoneNumber as error:
            if not idd_retry:
                raise
            first_error = error
        # e.g. "0044 7911 123456" with region="US", whose international prefix is "011":
        # read the "00" as "+", and if that fails too, report the first reading's error.
        try:
            return cls._from_parsed(_parse("+" + stripped[2:], None, text), text, lenient)
        except InvalidPhoneNumber:
            raise first_error from None

    @classmethod
    def from_e164(cls, e164: str, *, verified: bool = True) -> PhoneNumber:
        """Rebuild a number from its E.164 form, as storage keeps it.

        The text must be exactly the canonical form :attr:`e164` produces.
        Region, kind and time zones are looked up again from libphonenumber,
        so they follow its current metadata.

        Args:
            e164: The number in E.164 form, e.g. ``"+12125550123"``.
            verified: The ``verified`` flag the number was stored with. True
                requires a number libphonenumber considers valid; False also
                accepts possible-but-not-valid numbers, as lenient
                :meth:`parse` does. Either way the returned number's
                ``verified`` is what libphonenumber says today.

        Returns:
            The number.

        Raises:
            TypeError: ``e164`` is not a string.
            InvalidPhoneNumber: ``e164`` is not in canonical E.164 form
                (``reason`` ``not_a_number``) or fails the checks of
                :meth:`parse`.
        """
        if not isinstance(e164, str):
            raise TypeError(f"E.164 number must be a str, got {type(e164).__name__}: {e164!r}")
        if _E164.fullmatch(e164) is None:
            raise InvalidPhoneNumber(
                f"{e164!r} is not an E.164 number: expected '+' then up to 15 digits, "
                "e.g. '+12125550123'",
                value=e164,
                reason="not_a_number",
            )
        number = cls._from_parsed(_parse(e164, None, e164), e164, not verified)
        if number.e164 != e164:
            raise InvalidPhoneNumber(
                f"{e164!r} is not a canonical E.164 number; did you mean {number.e164!r}?",
                value=e164,
                reason="not_a_number",
            )
        return number

    @classmethod
    def _from_parsed(
        cls, parsed: phonenumbers.PhoneNumber, text: str, lenient: bool
    ) -> PhoneNumber:
        possibility = phonenumbers.is_possible_number_with_reason(parsed)
        if possibility != ValidationResult.IS_POSSIBLE:
            reason, why = _POSSIBILITY_ERRORS.get(possibility, ("not_possible", "not possible"))
            raise InvalidPhoneNumber(
                f"{text!r} is not a valid phone number: {why}", value=text, reason=reason
            )
        # The type is UNKNOWN exactly when is_valid_number() is False:
        # libphonenumber defines validity as "matches one type's pattern".
        region, number_type = _region_and_type(
            int(parsed.country_code or 0), phonenumbers.national_significant_number(parsed)
        )
        verified = number_type != PhoneNumberType.UNKNOWN
        if not verified and not lenient:
            raise InvalidPhoneNumber(
                f"{text!r} is not a valid phone number: it has a possible length but matches "
                "no number range in use in its country (parse with lenient=True to accept it "
                "unverified)",
                value=text,
                reason="not_valid_for_region",
            )
        if region == _NON_GEOGRAPHIC_REGION:
            region = None
        return cls(
            phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
            region,
            kind=_KIND_FOR_TYPE.get(number_type, NumberKind.UNKNOWN),
            verified=verified,
        )

    @property
    def country_code(self) -> int:
        """The country calling code, e.g. 1 for ``+12125550123``."""
        # Country calling codes are prefix-free, so the first prefix of one to
        # three digits that is a known code is the code (libphonenumber's own
        # extract_country_code() does the same).
        for length in (1, 2, 3):
            code = int(self.e164[1 : 1 + length])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                return code
        return int(self.e164[1:4])  # unreachable for numbers built by parse()/from_e164()

    @property
    def national_format(self) -> str:
        """The number as dialled inside its country, e.g. ``"(212) 555-0123"``."""
        return phonenumbers.format_number(
            phonenumbers.parse(self.e164, None), PhoneNumberFormat.NATIONAL
        )

    @property
    def international_format(self) -> str:
        """The number as written for the world, e.g. ``"+1 212-555-0123"``."""
        return phonenumbers.format_number(
            phonenumbers.parse(self.e164, None), PhoneNumberFormat.INTERNATIONAL
        )

    def __str__(self) -> str:
        return self.e164

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PhoneNumber):
            return NotImplemented
        return self.e164 == other.e164

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, PhoneNumber):
            return NotImplemented
        return self.e164 != other.e164

    def __hash__(self) -> int:
        return hash(self.e164)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PhoneNumber):
            return NotImplemented
        return self.e164 < other.e164

    def __le__(self, other: object) -> bool:
        if not isinstance(other, PhoneNumber):
            return NotImplemented
        return self.e164 <= other.e164

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, PhoneNumber):
            return NotImplemented
        return self.e164 > other.e164

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, PhoneNumber):
            return NotImplemented
        return self.e164 >= other.e164


def _check_region(region: str | None) -> str | None:
    """Normalize a region argument to upper case and check libphonenumber knows it."""
    if region is None:
        return None
    if not isinstance(region, str):
        raise TypeError(f"region must be a str or None, got {type(region).__name__}: {region!r}")
    code = region.strip().upper()
    if code not in _SUPPORTED_REGIONS:
        raise InvalidPhoneNumber(
            f"region {region!r} is not a region code libphonenumber knows; "
            "expected an ISO 3166-1 alpha-2 code such as 'US' or 'GB'",
            value=region,
            reason="invalid_country_code",
        )
    return code


def _parse(text: str, region: str | None, original: str) -> phonenumbers.PhoneNumber:
    """``phonenumbers.parse(text, region)``, translating its exception into ours.

    The commonest spelling in North American lists (``"(212) 555-0123"``,
    ``"212-555-0123"``, ``"+1 212 555 0123"``, ``"1-212-555-0123"``) takes a
    short cut to the same result; see :func:`_parse_nanp`.
    """
    if region in _NANP_PARSE_REGIONS or text[:1] == "+":
        parsed = _parse_nanp(text)
        if parsed is not None:
            return parsed
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason, why = _PARSE_ERRORS.get(exc.error_type, ("not_a_number", str(exc)))
        raise InvalidPhoneNumber(
            f"{original!r} is not a valid phone number: {why}", value=original, reason=reason
        ) from exc


# --- short cuts: libphonenumber's answers, computed with less work ----------------
#
# Each function below returns exactly what the libphonenumber call it names
# returns (tests/domain/test_phone.py compares them on generated input); they
# exist because an import parses every row of a list, and these calls are most
# of its cost.

# A ten-digit North American number with the usual separators, optionally after
# "+1" or "1": area code and exchange, then the line number. Area codes start
# with 2-9, so the digits can never be read as an international prefix ("011"),
# a national prefix ("1") or, without "+", as a country code.
_NANP_SPELLING = re.compile(
    r"(\+1[ .-]?|1[ .-]?)?\(?([2-9][0-9]{2})\)?[ .-]?([0-9]{3})[ .-]?([0-9]{4})"
)


def _nanp_parse_regions() -> frozenset[str]:
    """Default regions in which :func:`_parse_nanp` reads text as libphonenumber does.

    Those of country code 1 that dial out with 011, strip only a leading "1"
    as their national prefix, and have no number longer than ten digits (so
    "1" and ten digits is read as country code and number). Other regions of
    the plan (e.g. Antigua, whose prefix rules also rewrite seven-digit local
    numbers) take the general path.
    """
    found = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ()):
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if (
            metadata is not None
            and metadata.country_code == 1
            and metadata.international_prefix == "011"
            and metadata.national_prefix_for_parsing == "1"
            and metadata.general_desc is not None
            and max(metadata.general_desc.possible_length, default=0) == 10
        ):
            found.add(region)
    return frozenset(found)


_NANP_PARSE_REGIONS: frozenset[str] = _nanp_parse_regions()


def _parse_nanp(text: str) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse(text, region)`` for a North American spelling, else None.

    Only for ``text`` starting with "+" or a ``region`` in
    :data:`_NANP_PARSE_REGIONS` (the caller checks): libphonenumber reads
    such a text as country code 1 and its ten digits, whatever else it does
    with other spellings.
    """
    match = _NANP_SPELLING.fullmatch(text)
    if match is None:
        return None
    _, area, exchange, line = match.groups()
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(area + exchange + line))


# libphonenumber's number types in the order its _number_type_helper() tries them.
_TYPES_IN_ORDER: tuple[tuple[str, int], ...] = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)

# A number description: the lengths it allows (None: any) and its compiled
# pattern (None: it matches nothing).
_Desc = tuple[frozenset[int] | None, re.Pattern[str] | None]


def _desc(desc: Any) -> _Desc | None:
    if desc is None:
        return None
    lengths = frozenset(desc.possible_length) if desc.possible_length else None
    pattern = desc.national_number_pattern
    return lengths, (re.compile(pattern) if pattern else None)


def _matches(desc: _Desc | None, nsn: str) -> bool:
    """libphonenumber's ``_is_number_matching_desc()``, with the pattern compiled once."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths is not None and len(nsn) not in lengths:
        return False
    return pattern is not None and pattern.fullmatch(nsn) is not None


@attrs.frozen
class _TypeTable:
    """One region's number descriptions, compiled, for :func:`_number_type`."""

    general: _Desc | None
    ordered: tuple[tuple[int, _Desc | None], ...]
    fixed_line: _Desc | None
    mobile: _Desc | None
    same_mobile_and_fixed_line: bool
    leading_digits: re.Pattern[str] | None


def _type_table(metadata: Any) -> _TypeTable:
    return _TypeTable(
        general=_desc(metadata.general_desc),
        ordered=tuple(
            (number_type, _desc(getattr(metadata, name))) for name, number_type in _TYPES_IN_ORDER
        ),
        fixed_line=_desc(metadata.fixed_line),
        mobile=_desc(metadata.mobile),
        same_mobile_and_fixed_line=bool(metadata.same_mobile_and_fixed_line_pattern),
        leading_digits=(
            None if metadata.leading_digits is None else re.compile(metadata.leading_digits)
        ),
    )


def _number_type(nsn: str, table: _TypeTable) -> int:
    """libphonenumber's ``_number_type_helper(nsn, metadata)``."""
    if not _matches(table.general, nsn):
        return PhoneNumberType.UNKNOWN
    for number_type, desc in table.ordered:
        if _matches(desc, nsn):
            return number_type
    if _matches(table.fixed_line, nsn):
        if table.same_mobile_and_fixed_line or _matches(table.mobile, nsn):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not table.same_mobile_and_fixed_line and _matches(table.mobile, nsn):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


def _region_and_type(country_code: int, nsn: str) -> tuple[str | None, int]:
    """``(region_code_for_number(n), number_type(n))`` for the number ``+{country_code}{nsn}``.

    ``number_type()`` finds the region again and then types the number;
    ``region_code_for_number()`` already types it against each candidate
    region without a leading-digits rule (the US first, for +1), so one pass
    gives both.
    """
    candidates = _candidates(country_code)
    if len(candidates) == 1:
        region, table = candidates[0]
        return region, (PhoneNumberType.UNKNOWN if table is None else _number_type(nsn, table))
    for region, table in candidates:
        if table is None:
            continue
        if table.leading_digits is not None:
            if table.leading_digits.match(nsn):
                return region, _number_type(nsn, table)
        else:
            number_type = _number_type(nsn, table)
            if number_type != PhoneNumberType.UNKNOWN:
                return region, number_type
    return None, PhoneNumberType.UNKNOWN


@functools.cache
def _candidates(country_code: int) -> tuple[tuple[str | None, _TypeTable | None], ...]:
    """The regions of a country code, in libphonenumber's order, with their type tables.

    ``((None, None),)`` for a code no region has.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return ((None, None),)
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
        return ((regions[0], None if metadata is None else _type_table(metadata)),)
    found: list[tuple[str | None, _TypeTable | None]] = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        found.append((region, None if metadata is None else _type_table(metadata)))
    return tuple(found)


_TYPE_FOR_KIND: dict[NumberKind, int] = {
    kind: number_type for number_type, kind in _KIND_FOR_TYPE.items()
}


def _zones_for(e164: str, country_code: int, kind: NumberKind, verified: bool) -> tuple[str, ...]:
    """The zones of a number, as ``timezone.time_zones_for_number()`` gives them.

    Its logic, from what a :class:`PhoneNumber` already knows (the E.164 text
    and the type) instead of parsing the number and computing its type again.
    Unverified numbers get their country's zones, so the scheduler intersects
    all of them. libphonenumber's "unknown" answer becomes ``()``.
    """
    if verified and phonenumbers.is_number_type_geographical(_TYPE_FOR_KIND[kind], country_code):
        # timezone.time_zones_for_geographical_number(): the longest prefix of
        # the E.164 digits that the time zone table knows.
        zones: tuple[str, ...] = (_UNKNOWN_TIME_ZONE,)
        for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
            found = TIMEZONE_DATA.get(e164[1 : 1 + length])
            if found is not None:
                zones = found
                break
    else:
        zones = _country_time_zones(country_code)
    return () if _UNKNOWN_TIME_ZONE in zones else tuple(zones)


@functools.cache
def _country_time_zones(country_code: int) -> tuple[str, ...]:
    """Every zone of a country calling code (cached: there are about 250 of them)."""
    # libphonenumber has no public function for the country-level list that
    # time_zones_for_number() falls back to for non-geographic kinds.
    return tuple(
        _pn_timezone._country_level_time_zones_for_number(
            phonenumbers.PhoneNumber(country_code=country_code)
        )
    )
