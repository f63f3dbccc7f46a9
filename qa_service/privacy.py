"""Masks personal contact details before anything is logged or stored."""

from __future__ import annotations

import re

# 18-digit resident ID (last char may be X), mobile numbers, landlines, e-mail addresses.
_ID_CARD = re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_DIGITS = re.compile(r"(?<!\d)\d{11,}(?!\d)")  # bank cards, social-security numbers


def mask_personal(text: str) -> str:
    """Replace ID numbers, phone numbers, e-mails and long digit runs with placeholders."""
    text = _ID_CARD.sub("[身份证号]", text)
    text = _MOBILE.sub("[手机号]", text)
    text = _LANDLINE.sub("[电话]", text)
    text = _EMAIL.sub("[邮箱]", text)
    return _LONG_DIGITS.sub("[号码]", text)
