"""Whether a policy has expired: metadata, 已废止/已失效, or a stated validity period that ended."""

from __future__ import annotations

import datetime as _dt
import re

from corpus.metadata import parse_date
from corpus.models import Document, Status
from corpus.push.sentences import sentence_at, sentence_span

_SELF_RE = r"本(?:办法|细则|实施细则|规定|意见|通知|方案|条例|决定|指引|公告|通告|标准|指标|规则|措施|文件|政策|指南)"
_DATE = r"(?:(?:19|20)\d\d\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|(?:19|20)\d\d[-./]\d{1,2}[-./]\d{1,2})"
_VALID_UNTIL_RE = re.compile(rf"有效期(?:至|到|截至)\s*({_DATE})")
_FROM_TO_RE = re.compile(rf"自\s*{_DATE}\s*(?:起\s*)?至\s*({_DATE})\s*(?:止\s*)?(?:施行|执行|实施|有效)")
_VALID_YEARS_RE = re.compile(
    r"有效期(?:为)?\s*([0-9一二三四五六七八九十两]{1,3})\s*年(?:[（(]\s*((?:19|20)\d\d)\s*年起)?"
)
_START_RE = re.compile(rf"自\s*({_DATE}|[^，。；\n]{{0,12}}之日)\s*起\s*(?:正式)?(?:施行|执行|实施|生效)")
_REPEALED_RE = re.compile(
    r"(?:已|已经)(?:被[^。；\n]{0,40})?(?:全文)?(?:废止|失效)|(?:废止|失效)日期\s*[:：]?\s*(?:19|20)\d\d"
)
_CN_NUMBER = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def expiry_of(doc: Document, today: str) -> tuple[bool, str | None]:
    if doc.status is Status.EXPIRED or doc.metadata.get("expired") is True:
        return True, "元数据标注已失效"
    title, text = doc.title or "", doc.text or ""
    if re.search(r"已废止|已失效|（废止）|\(废止\)|（失效）", title):
        return True, "标题注明已废止或失效"
    m = _REPEALED_RE.search(text[:400])
    if m:
        return True, f"正文写明：{sentence_at(text, m.start(), m.end()).strip()[:40]}"
    end = _validity_end(doc)
    if end and end < today:
        return True, f"有效期已于{end}届满"
    return False, None


def _validity_end(doc: Document) -> str | None:
    """The end of the document's own validity period, if the text states one."""
    text = doc.text or ""
    for m in _VALID_UNTIL_RE.finditer(text):
        if _about_self(text, m.start()):
            return parse_date(m.group(1))
    for m in _FROM_TO_RE.finditer(text):
        if _about_self(text, m.start()):
            return parse_date(m.group(1))
    for m in _VALID_YEARS_RE.finditer(text):
        if not _about_self(text, m.start()):
            continue
        years = _cn_int(m.group(1))
        if years is None:
            continue
        start = None
        if m.group(2):
            start = f"{m.group(2)}-01-01"
        else:
            sentence = sentence_at(text, m.start(), m.end())
            s = _START_RE.search(sentence)
            if s:
                start = parse_date(s.group(1))
            start = start or doc.effective_date or doc.publish_date
        if start:
            y, rest = int(start[:4]), start[4:]
            end = f"{y + years}{rest}"
            try:
                return (_dt.date.fromisoformat(end) - _dt.timedelta(days=1)).isoformat()
            except ValueError:
                return f"{y + years}-12-31"
    return None


def _about_self(text: str, pos: int) -> bool:
    """True when the validity clause at pos speaks of this document (本办法…, 现予发布…), not of a licence."""
    sentence_start = sentence_span(text, pos, pos)[0]
    before = text[sentence_start:pos]
    return bool(
        re.search(_SELF_RE, before)
        or re.search(r"现予(?:发布|印发|公布)|自发布之日起|起(?:正式)?(?:施行|实施|执行)", before)
    )


def _cn_int(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    if s in _CN_NUMBER:
        return _CN_NUMBER[s]
    if s.startswith("十") and len(s) == 2:
        return 10 + _CN_NUMBER.get(s[1], 0)
    return None
