"""GSM-7 / UCS-2 encoding and segment counting for SMS bodies.

An SMS carries 140 octets of user data. A body written only with the GSM 03.38
default alphabet travels as 7-bit septets (160 per message); one character
outside it switches the *whole* body to UCS-2, 16 bits per UTF-16 code unit
(70 per message). A longer body is cut into concatenated segments, each of which
gives 6 octets to a User Data Header, leaving 153 septets or 67 UCS-2 units.
Providers bill per segment, so this module counts them exactly as the network
would, on the rendered text of each message.

:func:`analyze` returns a :class:`SegmentInfo` with the encoding, the cost in
units, the segment count and the text cut into its segments. The cuts never
separate the two septets of an extension-table character (``€``, ``[`` …) nor
the two UTF-16 units of an astral character (most emoji).

:func:`suggest_gsm7` proposes a GSM-7 spelling of typographic characters
(curly quotes, dashes, ellipsis, exotic spaces) that would otherwise force
UCS-2; the caller decides whether to use it.

Sources (see ``docs/segments.md`` for the full list):

- Alphabet: GSM 03.38 / 3GPP TS 23.038 basic and extension tables, as given in
  https://developers.sinch.com/docs/sms/smpp/message-encoding and the
  ``UnicodeToGSM.ts`` table of TwilioDevEd/message-segment-calculator
  (checked 2024).
- Limits 160/153 and 70/67 (6-octet UDH): Twilio's UCS-2 glossary,
  https://www.twilio.com/docs/glossary/what-is-ucs-2-character-encoding
- Segmentation rules and test vectors: TwilioDevEd/message-segment-calculator
  (``src/libs/SegmentedMessage.ts``, ``Segment.ts``, ``tests/index.test.js``).
- Transliteration: Twilio Smart Encoding and Telnyx smart encoding
  (https://developers.telnyx.com/docs/messaging/messages/smart-encoding).
"""

from __future__ import annotations

import re

import attrs

from smscampaign._compat import StrEnum

__all__ = [
    "GSM7_BASIC_CHARACTERS",
    "GSM7_EXTENSION_CHARACTERS",
    "Encoding",
    "SegmentInfo",
    "analyze",
    "count_segments",
    "encoding_of",
    "is_gsm7",
    "suggest_gsm7",
]


# --- The GSM 03.38 default alphabet (3GPP TS 23.038 § 6.2.1) -----------------
# Source: https://developers.sinch.com/docs/sms/smpp/message-encoding (full hex
# table), cross-checked against TwilioDevEd/message-segment-calculator
# src/libs/UnicodeToGSM.ts. Listed in code-point order 0x00..0x7F, one row per
# 16 septets. 0x1B is ESC, the escape to the extension table, and is *not* a
# character a body may contain, so it is left out: 127 characters.
GSM7_BASIC_CHARACTERS = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x10 (ESC at 0x1B omitted)
    " !\"#¤%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60
    "pqrstuvwxyzäöñüà"  # 0x70
)

# The extension table, reached by ESC (0x1B) + one septet, so each of these
# costs 2 septets: form feed (1B 0A), ^ (1B 14), { (1B 28), } (1B 29),
# \ (1B 2F), [ (1B 3C), ~ (1B 3D), ] (1B 3E), | (1B 40), € (1B 65).
# Source: sinch page above; https://developer.cloudnumbering.com/docs/sms-encoding
GSM7_EXTENSION_CHARACTERS = "\f^{}\\[~]|€"

# Capacity of one segment in units, from 140 octets = 1120 bits:
# 1120/7 = 160 septets, 1120/16 = 70 UTF-16 units; with the 6-octet
# concatenation header, (1120-48)/7 = 153 and (1120-48)/16 = 67.
_GSM7_SINGLE = 160
_GSM7_CONCATENATED = 153
_UCS2_SINGLE = 70
_UCS2_CONCATENATED = 67


def _char_class(chars: str) -> str:
    return "[" + "".join(re.escape(c) for c in chars) + "]"


# Precompiled so the common case (a plain GSM body) costs one C-level scan.
_GSM7_BASIC_RE = re.compile(_char_class(GSM7_BASIC_CHARACTERS) + "*")
_GSM7_ANY_RE = re.compile(_char_class(GSM7_BASIC_CHARACTERS + GSM7_EXTENSION_CHARACTERS) + "*")
_NON_GSM7_RE = re.compile("[^" + _char_class(GSM7_BASIC_CHARACTERS + GSM7_EXTENSION_CHARACTERS)[1:])
_EXTENSION_RE = re.compile(_char_class(GSM7_EXTENSION_CHARACTERS))
# A Python str holds code points; one above U+FFFF is two UTF-16 units.
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_EXTENSION_SET = frozenset(GSM7_EXTENSION_CHARACTERS)


class Encoding(StrEnum):
    """The data coding an SMS body travels in.

    ``GSM_7`` packs characters of the GSM 03.38 alphabet in 7-bit septets;
    ``UCS_2`` spends 16 bits per UTF-16 code unit and carries any text.
    """

    GSM_7 = "gsm_7"
    UCS_2 = "ucs_2"


@attrs.frozen(kw_only=True)
class SegmentInfo:
    """How a message body encodes and how many segments it is billed as.

    Built by :func:`analyze`; not meant to be constructed by hand.

    Attributes:
        text: The body that was analysed, unchanged.
        encoding: ``GSM_7`` if every character is in the GSM 03.38 alphabet,
            else ``UCS_2``.
        units: The body's cost: septets for GSM-7 (extension-table characters
            count 2), UTF-16 code units for UCS-2 (astral characters such as
            most emoji count 2).
        segments: How many SMS the body is sent as. An empty body counts as
            1, because carriers bill an empty SMS as one message.
        per_segment: The capacity of each segment in units: 160 or 70 for a
            single-segment body, 153 or 67 once it is concatenated.
        parts: The body cut into its segments; ``"".join(parts) == text``.
            A cut never separates an escape pair or a surrogate pair. An empty
            body has the single part ``""``.
        non_gsm_characters: The distinct characters that forced UCS-2, in the
            order they first appear; empty for a GSM-7 body.
    """

    text: str
    encoding: Encoding
    units: int
    segments: int
    per_segment: int
    parts: tuple[str, ...]
    non_gsm_characters: tuple[str, ...]

    @property
    def remaining(self) -> int:
        """Units still free in the last segment before another one is needed.

        For a concatenated body this is measured against the concatenated
        capacity (153 or 67), so adding ``remaining`` GSM basic characters
        (or BMP characters, for UCS-2) never adds a segment.
        """
        if self.segments == 1:
            return self.per_segment - self.units
        return self.per_segment - _units(self.parts[-1], self.encoding)


def _units(text: str, encoding: Encoding) -> int:
    """Return the cost of ``text`` in units of ``encoding``."""
    doubles = _EXTENSION_RE if encoding is Encoding.GSM_7 else _ASTRAL_RE
    return len(text) + len(doubles.findall(text))


def _split(text: str, per_segment: int, doubles: re.Pattern[str]) -> tuple[str, ...]:
    """Cut ``text`` greedily into chunks of at most ``per_segment`` units.

    Characters matched by ``doubles`` cost 2 units and are never cut in half:
    when one does not fit, it opens the next chunk (which is how the Twilio
    calculator and handsets behave). Each chunk is found with a few slices and
    C-level counts rather than a Python loop over every character.
    """
    parts: list[str] = []
    start = 0
    length = len(text)
    while start < length:
        end = min(start + per_segment, length)
        cost = end - start + len(doubles.findall(text, start, end))
        if cost > per_segment:
            # Dropping k characters saves at least k units, so this fits...
            end -= cost - per_segment
            cost = end - start + len(doubles.findall(text, start, end))
            # ...but may leave room, when some dropped ones were doubles.
            while end < length:
                step = 2 if doubles.match(text, end) else 1
                if cost + step > per_segment:
                    break
                cost += step
                end += 1
        parts.append(text[start:end])
        start = end
    return tuple(parts)


def _check_str(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"an SMS body must be a str, not {type(text).__name__}: {text!r}")


def analyze(text: str) -> SegmentInfo:
    """Work out the encoding, cost and segments of one SMS body.

    Counts code points of the Python string: a GSM basic character costs one
    septet, an extension-table character (``€ [ ] { } \\ ^ ~ |`` and form
    feed) two. One character outside the GSM 03.38 alphabet switches the whole
    body to UCS-2, where every BMP character costs one UTF-16 unit and every
    astral one (most emoji) two. A body that fits 160 septets / 70 units is one
    segment; a longer one is cut into segments of at most 153 / 67 units.

    Pure GSM basic text, the usual case, is recognized with a single regular
    expression match and split by slicing.

    Args:
        text: The rendered message body.

    Returns:
        A :class:`SegmentInfo`. An empty body is 0 units in 1 GSM-7 segment.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    _check_str(text)
    length = len(text)
    if _GSM7_BASIC_RE.fullmatch(text):
        if length <= _GSM7_SINGLE:
            return SegmentInfo(
                text=text,
                encoding=Encoding.GSM_7,
                units=length,
                segments=1,
                per_segment=_GSM7_SINGLE,
                parts=(text,),
                non_gsm_characters=(),
            )
        parts = tuple(
            text[i : i + _GSM7_CONCATENATED] for i in range(0, length, _GSM7_CONCATENATED)
        )
        return SegmentInfo(
            text=text,
            encoding=Encoding.GSM_7,
            units=length,
            segments=len(parts),
            per_segment=_GSM7_CONCATENATED,
            parts=parts,
            non_gsm_characters=(),
        )

    found = _NON_GSM7_RE.findall(text)
    if found:
        encoding = Encoding.UCS_2
        doubles = _ASTRAL_RE
        single, concatenated = _UCS2_SINGLE, _UCS2_CONCATENATED
        non_gsm = tuple(dict.fromkeys(found))
    else:
        encoding = Encoding.GSM_7
        doubles = _EXTENSION_RE
        single, concatenated = _GSM7_SINGLE, _GSM7_CONCATENATED
        non_gsm = ()
    double_count = len(doubles.findall(text))
    units = length + double_count
    if units <= single:
        parts, per_segment = (text,), single
    elif double_count == 0:
        parts = tuple(text[i : i + concatenated] for i in range(0, length, concatenated))
        per_segment = concatenated
    else:
        parts, per_segment = _split(text, concatenated, doubles), concatenated
    return SegmentInfo(
        text=text,
        encoding=encoding,
        units=units,
        segments=len(parts),
        per_segment=per_segment,
        parts=parts,
        non_gsm_characters=non_gsm,
    )


def count_segments(text: str) -> int:
    """Return how many SMS segments ``text`` is sent and billed as.

    Same rules as :func:`analyze`; an empty body counts as 1.

    Args:
        text: The rendered message body.

    Returns:
        The number of segments, at least 1.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    _check_str(text)
    if _GSM7_BASIC_RE.fullmatch(text):
        length = len(text)
        if length <= _GSM7_SINGLE:
            return 1
        return -(-length // _GSM7_CONCATENATED)
    return analyze(text).segments


def is_gsm7(text: str) -> bool:
    """Tell whether every character of ``text`` is in the GSM 03.38 alphabet.

    Both the basic and the extension table count; the empty string is GSM-7.

    Args:
        text: The message body.

    Returns:
        ``True`` if the body can travel as GSM-7.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    _check_str(text)
    return _GSM7_ANY_RE.fullmatch(text) is not None


def encoding_of(text: str) -> Encoding:
    """Return the encoding a body travels in: GSM-7 if it can, else UCS-2.

    Args:
        text: The message body.

    Returns:
        :attr:`Encoding.GSM_7` or :attr:`Encoding.UCS_2`.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    return Encoding.GSM_7 if is_gsm7(text) else Encoding.UCS_2


# --- Transliteration ("smart encoding") ---------------------------------------
# Typographic characters that force UCS-2 although a GSM-7 spelling reads the
# same. Twilio's Smart Encoding and Telnyx' smart encoding replace e.g. smart
# quotes with ", an em dash with -, an ellipsis with ... (sources in the module
# docstring). Our own selection: every key is outside the GSM alphabet and every
# value is made of GSM basic characters only, which keeps the mapping
# idempotent. Nothing maps to "": invisible characters (zero-width space, soft
# hyphen, ...) are kept so the caller sees them in non_gsm_characters.
_SUGGESTIONS: dict[str, str] = {
    # Double quotation marks.
    "\u00ab": '"',  # « LEFT-POINTING DOUBLE ANGLE QUOTATION MARK
    "\u00bb": '"',  # » RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK
    "\u201c": '"',  # “ LEFT DOUBLE QUOTATION MARK
    "\u201d": '"',  # ” RIGHT DOUBLE QUOTATION MARK
    "\u201e": '"',  # „ DOUBLE LOW-9 QUOTATION MARK
    "\u201f": '"',  # ‟ DOUBLE HIGH-REVERSED-9 QUOTATION MARK
    "\u2033": '"',  # ″ DOUBLE PRIME
    "\u301d": '"',  # 〝 REVERSED DOUBLE PRIME QUOTATION MARK
    "\u301e": '"',  # 〞 DOUBLE PRIME QUOTATION MARK
    # Single quotation marks and apostrophes.
    "\u0060": "'",  # ` GRAVE ACCENT (backtick)
    "\u00b4": "'",  # ´ ACUTE ACCENT
    "\u02b9": "'",  # ʹ MODIFIER LETTER PRIME
    "\u02bb": "'",  # ʻ MODIFIER LETTER TURNED COMMA
    "\u02bc": "'",  # ʼ MODIFIER LETTER APOSTROPHE
    "\u02bd": "'",  # ʽ MODIFIER LETTER REVERSED COMMA
    "\u2018": "'",  # ‘ LEFT SINGLE QUOTATION MARK
    "\u2019": "'",  # ’ RIGHT SINGLE QUOTATION MARK
    "\u201a": "'",  # ‚ SINGLE LOW-9 QUOTATION MARK
    "\u201b": "'",  # ‛ SINGLE HIGH-REVERSED-9 QUOTATION MARK
    "\u2032": "'",  # ′ PRIME
    "\u2039": "'",  # ‹ SINGLE LEFT-POINTING ANGLE QUOTATION MARK
    "\u203a": "'",  # › SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
    # Dashes, hyphens and bullets.
    "\u2010": "-",  # ‐ HYPHEN
    "\u2011": "-",  # ‑ NON-BREAKING HYPHEN
    "\u2012": "-",  # ‒ FIGURE DASH
    "\u2013": "-",  # – EN DASH
    "\u2014": "-",  # — EM DASH
    "\u2015": "-",  # ― HORIZONTAL BAR
    "\u2043": "-",  # ⁃ HYPHEN BULLET
    "\u2212": "-",  # − MINUS SIGN
    "\ufe63": "-",  # ﹣ SMALL HYPHEN-MINUS
    "\u2022": "-",  # • BULLET
    # Spaces and line breaks.
    "\t": " ",  # CHARACTER TABULATION
    "\u00a0": " ",  # NO-BREAK SPACE
    "\u2000": " ",  # EN QUAD
    "\u2001": " ",  # EM QUAD
    "\u2002": " ",  # EN SPACE
    "\u2003": " ",  # EM SPACE
    "\u2004": " ",  # THREE-PER-EM SPACE
    "\u2005": " ",  # FOUR-PER-EM SPACE
    "\u2006": " ",  # SIX-PER-EM SPACE
    "\u2007": " ",  # FIGURE SPACE
    "\u2008": " ",  # PUNCTUATION SPACE
    "\u2009": " ",  # THIN SPACE
    "\u200a": " ",  # HAIR SPACE
    "\u202f": " ",  # NARROW NO-BREAK SPACE
    "\u205f": " ",  # MEDIUM MATHEMATICAL SPACE
    "\u3000": " ",  # IDEOGRAPHIC SPACE
    "\u2028": "\n",  # LINE SEPARATOR
    "\u2029": "\n",  # PARAGRAPH SEPARATOR
    # Other punctuation and symbols.
    "\u2026": "...",  # … HORIZONTAL ELLIPSIS
    "\u203c": "!!",  # ‼ DOUBLE EXCLAMATION MARK
    "\u00bc": "1/4",  # ¼ VULGAR FRACTION ONE QUARTER
    "\u00bd": "1/2",  # ½ VULGAR FRACTION ONE HALF
    "\u00be": "3/4",  # ¾ VULGAR FRACTION THREE QUARTERS
    "\u00f7": "/",  # ÷ DIVISION SIGN
    "\u2044": "/",  # ⁄ FRACTION SLASH
    "\u2215": "/",  # ∕ DIVISION SLASH
    "\u00d7": "x",  # × MULTIPLICATION SIGN
    "\u00a9": "(C)",  # © COPYRIGHT SIGN
    "\u00ae": "(R)",  # ® REGISTERED SIGN
    "\u2122": "TM",  # ™ TRADE MARK SIGN
    "\u3001": ",",  # 、 IDEOGRAPHIC COMMA
    "\u3002": ".",  # 。 IDEOGRAPHIC FULL STOP
}
# Fullwidth forms U+FF01..U+FF5E mirror ASCII 0x21..0x7E; keep those whose
# ASCII twin is a GSM basic character (the backtick's twin, for one, is not).
_SUGGESTIONS.update(
    {
        chr(code): chr(code - 0xFEE0)
        for code in range(0xFF01, 0xFF5F)
        if chr(code - 0xFEE0) in GSM7_BASIC_CHARACTERS
    }
)
_SUGGESTION_TABLE = str.maketrans(_SUGGESTIONS)


def suggest_gsm7(text: str) -> str:
    """Suggest a GSM-7 spelling of the typographic characters in ``text``.

    Curly quotes become straight ones, dashes and bullets ``-``, the ellipsis
    ``...``, non-breaking and other exotic spaces a plain space, fullwidth
    forms their ASCII twin, and so on (the table is ``_SUGGESTIONS`` in this
    module). Only characters outside the GSM alphabet are replaced, and only by
    GSM basic characters, so applying it twice changes nothing more. Characters
    it has no spelling for (letters such as ``ç``, emoji, invisible
    characters) are kept, never dropped: the result may still need UCS-2, and
    :func:`analyze` on it names what remains.

    Twilio and Telnyx apply such a substitution themselves when enabled; doing
    it here lets the campaign author see, and pay for, what is actually sent.

    Args:
        text: The message body.

    Returns:
        The suggested body; ``text`` itself when it is already GSM-7.

    Raises:
        TypeError: ``text`` is not a ``str``.
    """
    _check_str(text)
    if _GSM7_ANY_RE.fullmatch(text):
        return text
    return text.translate(_SUGGESTION_TABLE)
