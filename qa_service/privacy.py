"""Masks personal contact details wherever text leaves a request: logs, stores, exports, outbound calls.

`mask_personal` is the one function for this. Residents write numbers in many ways
("139.1234.5678", "(0531)88575126", "+86 133 1234 5678", full-width "１３３…", ID cards in
groups), so matching runs on a folded copy of the text (full-width forms, other Unicode digits,
dashes and spaces mapped to ASCII, one character for one) and the matched spans are replaced in
the original. Policy text stays as it is: 文号 such as 济政发〔2019〕3号, dates, amounts and the
12345 hotline have too few digits, or the wrong shape, to match.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable

_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_FOLD = {0xFF01 + i: 0x21 + i for i in range(0x5E)}  # full-width ASCII forms: ！..～ -> !..~
_FOLD.update({ord(c): " " for c in _SPACES})
_FOLD.update({ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63"})
_FOLD.update({ord(c): "." for c in "\u00b7\u30fb\uff61\u3002"})  # 139·1234·5678, 139。1234。5678
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def fold(text: str) -> str:
    """`text` with the same length, full-width forms, Unicode digits, dashes and spaces as ASCII."""
    return _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), text.translate(_FOLD))


# Patterns run on folded text (ASCII only). A separator between digit groups: up to 3 of " -.".
_S = r"[ \-.]{0,3}"
_START = r"(?<![0-9])(?<![0-9][ \-.])"  # not the middle of a longer number written in groups
_ID_CARD = re.compile(rf"(?<![0-9])(?:[0-9]{_S}){{17}}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(rf"{_START}(?<!\+)(?:\(?(?:\+|00)?{_S}86\)?{_S})?1[3-9][0-9](?:{_S}[0-9]){{8}}(?![0-9])")
_LANDLINE = re.compile(
    rf"{_START}(?:\( ?0[1-9][0-9]{{1,2}} ?\)|0[1-9][0-9]{{1,2}}){_S}[1-9][0-9]{{2,3}}{_S}[0-9]{{4}}"
    r"(?: ?(?:转|分机|ext\.?|x|-) ?[0-9]{1,5})?(?![0-9])"  # an extension needs its marker: "-801", "转801"
)
_INTL = re.compile(rf"(?:\+|(?<![0-9])00){_S}86(?:{_S}[0-9]){{9,12}}(?![0-9])")
# A 7-8 digit local number alone is masked only after a contact word (8 digits may be a date or file number).
_CONTACT_LOCAL = re.compile(
    rf"(?:电话|座机|手机|联系方式|号码|tel|qq|微信)号?(?:码)?[:： ]*([1-9][0-9]{{2,3}}{_S}[0-9]{{4}})(?![0-9])",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_GROUPED = re.compile(r"(?<![0-9])[0-9]{3,}(?:[ \-][0-9]{3,})+(?![0-9])")  # cards written in groups
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{11,}(?![0-9])")  # bank cards, social-security numbers

_Rule = tuple[re.Pattern[str], str, int, Callable[[str], bool]]


def _always(_: str) -> bool:
    return True


def _eleven_digits(span: str) -> bool:
    return sum(c.isdigit() for c in span) >= 11


_BIRTH = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")


def _born(span: str) -> bool:
    """An ID card's digits 7-14 are a birth date; 18 digits in groups without one are something else."""
    return bool(_BIRTH.fullmatch(re.sub(r"[^0-9]", "", span)[6:14]))


_RULES: tuple[_Rule, ...] = (
    (_EMAIL, "[邮箱]", 0, _always),
    (_ID_CARD, "[身份证号]", 0, _born),
    (_MOBILE, "[手机号]", 0, _always),
    (_INTL, "[电话]", 0, _always),
    (_LANDLINE, "[电话]", 0, _always),
    (_CONTACT_LOCAL, "[电话]", 1, _always),
    (_GROUPED, "[号码]", 0, _eleven_digits),
    (_LONG_DIGITS, "[号码]", 0, _always),
)


def _apply(text: str, pattern: re.Pattern[str], label: str, group: int, keep: Callable[[str], bool]) -> str:
    folded = fold(text)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(folded):
        start, end = m.span(group)
        if not keep(folded[start:end]):
            continue
        out.append(text[last:start])
        out.append(label)
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def mask_personal(text: str) -> str:
    """Replace e-mails, ID numbers, phone numbers and long digit runs with placeholders such as [手机号]."""
    for pattern, label, group, keep in _RULES:
        text = _apply(text, pattern, label, group, keep)
    return text


class MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks the whole line (message, arguments and any traceback).

    Installed by `python -m qa_service` on its log handler, so no log line of any module, the
    server's included, can carry a phone number, e-mail or ID number.
    """

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal(super().format(record))
