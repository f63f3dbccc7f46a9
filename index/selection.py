"""Answer selection: candidate sentences of the top passages, their features, and the pick.

Each candidate gets the cheap features of `index.answer_model.SENTENCE_FEATURES` (no model call:
the one e5 similarity used is the passage's, already computed by retrieval). The learned ranker
orders them when its artifact is present, else the hand-weighted `rule` score does. Near-duplicate
sentences (a policy quoted by its 解读, or by an earlier version) are said once, from the
preferred document, with the others as extra citations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from corpus.models import Document
from index.answer_model import AnswerModel
from index.query_terms import heading_types, question_types, sentence_types
from index.sentences import (
    COVER_NOTE,
    LIST_ITEM,
    MIN_SENTENCE_CHARS,
    Unit,
    bigrams,
    near_duplicate,
    sentence_heading_path,
    units,
)
from index.types import Hit

_AMOUNT = re.compile(r"\d+(\.\d+)?\s*(万元|元|%|％|个工作日|工作日|日|天|个月|月|年|岁|平方米)")
# What answers the asked type outright: money for 金额, a duration or date for 时限, a phone or address for 地点.
_MONEY = re.compile(r"\d+(\.\d+)?\s*(万元|亿元|元|%|％)|[一二三四五六七八九十百千万]+元")
_TIME = re.compile(
    r"\d+\s*(个)?(工作日|日|天|周|月|年|小时)|[一二三四五六七八九十]+(个)?(工作日|日|天|周|月|年)"
    r"|\d{4}年\d{1,2}月|日内|之日起|截至|截止"
)
_PLACE = re.compile(r"\d{7,}|\d{3,4}-\d{7,8}|路\d+号|号楼|大厅|窗口|服务中心|地址|网址|www\.|https?://")
_BM25_K1, _BM25_B, _AVG_CHARS = 1.2, 0.75, 45.0


@dataclass(frozen=True)
class Candidate:
    unit: Unit
    hit: Hit
    rank: int  # the passage's rank in retrieval
    doc: Document | None
    features: dict[str, float]
    score: float = 0.0
    grams: frozenset[str] = frozenset()


def coverage(terms: Mapping[str, float], text: str) -> tuple[float, float]:
    """(share of the query's term weight found in `text`, absolute weight found)."""
    low = text.lower()
    total = sum(terms.values()) or 1.0
    found = sum(w for t, w in terms.items() if t in low)
    return found / total, found


def _bm25(terms: Mapping[str, float], text: str) -> float:
    low = text.lower()
    norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * len(text) / _AVG_CHARS)
    total = sum(terms.values()) or 1.0
    s = 0.0
    for t, w in terms.items():
        tf = low.count(t)
        if tf:
            s += w * tf * (_BM25_K1 + 1) / (tf + norm)
    return s / total


def candidates(
    question: str,
    hits: Sequence[Hit],
    terms: Mapping[str, float],
    get_document: Callable[[str], Document | None],
    answer_passages: int,
    max_chars: int,
) -> list[Candidate]:
    """Every non-heading unit of the first `answer_passages` passages, with its features."""
    if not hits:
        return []
    top = hits[0].score or 1.0
    q_types = question_types(question)
    q_grams = _question_grams(question, terms)
    out: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    for rank, hit in enumerate(hits[:answer_passages]):
        p = hit.passage
        doc = get_document(p.doc_id)
        context_cov, _ = coverage(terms, " ".join((p.title, *p.heading_path)))
        rel = max(hit.score / top, 0.0) if top > 0 else 1.0 / (rank + 1)
        in_force = 1.0 if (doc is None or doc.status.in_force) else 0.0
        dense = float(hit.scores.get("dense", 0.0)) if hit.scores else 0.0
        interp = 1.0 if doc is not None and (doc.interprets or (doc.doc_type or "").endswith("解读")) else 0.0
        # The asked type named by the document title or the passage's heading path ("补贴标准", "所需材料").
        title_type = 1.0 if q_types & heading_types((doc.title if doc else None) or p.title or "") else 0.0
        path_type = 1.0 if q_types & heading_types(" ".join(p.heading_path)) else 0.0
        us = units(p.text, max_chars)
        heading = p.heading_path[-1] if p.heading_path else ""
        cut = ""  # the nearest title cut off inside the passage (heading_cov, type_match)
        for u in us:
            if u.heading:
                heading = cut = u.text  # the nearest title before the units that follow
                continue
            if len(u.text) < MIN_SENTENCE_CHARS or (p.doc_id, u.text) in seen:
                continue
            seen.add((p.doc_id, u.text))  # the same words in another document: `pick` says them once
            text = u.text if len(u.text) <= max_chars else u.text[:max_chars] + "…"
            cov, _ = coverage(terms, text)
            head_cov, _ = coverage(terms, cut) if cut else (0.0, 0.0)
            s_types = sentence_types(text)
            grams = bigrams(text)
            head_type = 1.0 if q_types & heading_types(heading) else 0.0
            listed = 1.0 if (u.item or u.lead_in or LIST_ITEM.match(text)) else 0.0
            rule = (0.6 * cov + 0.1 * context_cov + 0.3 * rel) * (1.0 if in_force else 0.85)
            if len(u.text) > max_chars:
                rule *= 0.9
            feats = {
                "cov": cov,
                "bm25": _bm25(terms, text),
                "context_cov": context_cov,
                "heading_cov": max(head_cov, context_cov if sentence_types(cut) & q_types else 0.0),
                "rel": rel,
                "inv_rank": 1.0 / (1 + rank),
                "dense": dense,
                "position": 1.0 - math.exp(-u.position / 4.0),
                "type_match": 1.0 if q_types & (s_types | sentence_types(cut)) else 0.0,
                "type_miss": 1.0 if q_types and not (q_types & s_types) else 0.0,
                "has_amount": 1.0 if _AMOUNT.search(text) else 0.0,
                "length": math.log1p(len(text)) / 5.0,
                "in_force": in_force,
                "interpretation": interp,
                "cover_note": 1.0 if COVER_NOTE.search(text) else 0.0,
                "lead_in": 1.0 if u.lead_in else 0.0,
                "item": 1.0 if u.item else 0.0,
                "rule": rule,
                # Question type x where the sentence stands and what it says.
                "sent_type": 1.0 if q_types & s_types else 0.0,
                "head_type": head_type,
                "path_type": path_type,
                "title_type": title_type,
                "head_item": head_type * listed,
                "listed": listed,
                "asked_money": 1.0 if "金额" in q_types and _MONEY.search(text) else 0.0,
                "asked_time": 1.0 if "时限" in q_types and _TIME.search(text) else 0.0,
                "asked_place": 1.0 if "地点" in q_types and _PLACE.search(text) else 0.0,
                "q_types": float(len(q_types)),
                "grams": len(q_grams & grams) / len(q_grams) if q_grams else 0.0,
                "doc_first": 1.0 if p.doc_id == hits[0].passage.doc_id else 0.0,
            }
            out.append(Candidate(replace(u, text=text), hit, rank, doc, feats, rule, grams))
    # Relative to the question's best candidate: a pointwise model then compares within the question.
    for name in ("cov", "bm25", "grams"):
        best = max((c.features[name] for c in out), default=0.0) or 1.0
        for c in out:
            c.features[name + "_rel"] = c.features[name] / best
    return out


def _question_grams(question: str, terms: Mapping[str, float]) -> frozenset[str]:
    """Character bigrams of the question's informative words (tokenisation-proof overlap)."""
    return frozenset(g for t in terms for g in bigrams(t)) or bigrams(question)


def score(cands: Sequence[Candidate], ranker: AnswerModel | None) -> list[Candidate]:
    """Candidates with their score (the ranker's probability, or the rule), best first."""
    if ranker is not None and cands:
        probs = ranker.prob_many([c.features for c in cands])  # one batch: the trees score all rows at once
        cands = [replace(c, score=p) for c, p in zip(cands, probs, strict=True)]
    return sorted(cands, key=lambda c: (-c.score, c.rank, c.unit.start))


def _preference(c: Candidate) -> tuple:
    """Which of near-duplicates to quote: the in-force policy itself, then the newer, then the better."""
    d = c.doc
    return (
        c.features["in_force"],
        -c.features["interpretation"],
        (d.publish_date or "") if d else "",
        c.score,
    )


def pick(
    ranked: Sequence[Candidate], max_sentences: int, follow_ratio: float
) -> list[tuple[Candidate, list[Candidate]]]:
    """The best one to `max_sentences` candidates, each with the near-duplicates it stands for."""
    picked: list[tuple[Candidate, list[Candidate]]] = []
    if not ranked:
        return picked
    best = ranked[0].score
    for c in ranked:
        if any(_overlaps(c, p) or (c.unit.text == p.unit.text and not _related(c.doc, p.doc)) for p, _ in picked):
            continue  # a list item inside a picked list, the list around a picked item, or words already said
        # Said once: the same sentence in a related document (its 解读, another version). Alike
        # sentences of one document, or of unrelated ones (two cities' rules), are distinct answers.
        dup = next(
            (i for i, (p, _) in enumerate(picked) if _related(c.doc, p.doc) and near_duplicate(c.grams, p.grams)),
            None,
        )
        if dup is not None:
            p, others = picked[dup]
            if _preference(c) > _preference(p):
                picked[dup] = (replace(c, score=max(c.score, p.score)), [p, *others])
            else:
                others.append(c)
            continue
        if len(picked) >= max_sentences or c.score < best * follow_ratio:
            continue
        picked.append((c, []))
    return picked


def _related(a: Document | None, b: Document | None) -> bool:
    """Two documents that say the same policy: one interprets or supersedes the other, or both are
    versions of one policy."""
    if a is None or b is None or a.id == b.id:
        return False
    return (
        a.interprets == b.id
        or b.interprets == a.id
        or a.supersedes == b.id
        or b.supersedes == a.id
        or (a.version_group is not None and a.version_group == b.version_group)
    )


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.hit.passage.id == b.hit.passage.id and a.unit.start < b.unit.end and b.unit.start < a.unit.end


def heading_path_of(c: Candidate) -> tuple[str, ...]:
    return sentence_heading_path(c.hit.passage, c.unit.start)
