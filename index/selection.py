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
from index.answer_model import LogisticModel
from index.query_terms import question_types, sentence_types
from index.sentences import (
    COVER_NOTE,
    MIN_SENTENCE_CHARS,
    Unit,
    bigrams,
    near_duplicate,
    preceding_heading,
    sentence_heading_path,
    units,
)
from index.types import Hit

_AMOUNT = re.compile(r"\d+(\.\d+)?\s*(万元|元|%|％|个工作日|工作日|日|天|个月|月|年|岁|平方米)")
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
    out: list[Candidate] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits[:answer_passages]):
        p = hit.passage
        doc = get_document(p.doc_id)
        context_cov, _ = coverage(terms, " ".join((p.title, *p.heading_path)))
        rel = max(hit.score / top, 0.0) if top > 0 else 1.0 / (rank + 1)
        in_force = 1.0 if (doc is None or doc.status.in_force) else 0.0
        dense = float(hit.scores.get("dense", 0.0)) if hit.scores else 0.0
        interp = 1.0 if doc is not None and (doc.interprets or (doc.doc_type or "").endswith("解读")) else 0.0
        us = units(p.text, max_chars)
        for u in us:
            if u.heading or len(u.text) < MIN_SENTENCE_CHARS or u.text in seen:
                continue
            seen.add(u.text)
            text = u.text if len(u.text) <= max_chars else u.text[:max_chars] + "…"
            cov, _ = coverage(terms, text)
            heading = preceding_heading(us, u.position)
            head_cov, _ = coverage(terms, heading) if heading else (0.0, 0.0)
            s_types = sentence_types(text)
            rule = (0.6 * cov + 0.1 * context_cov + 0.3 * rel) * (1.0 if in_force else 0.85)
            if len(u.text) > max_chars:
                rule *= 0.9
            feats = {
                "cov": cov,
                "bm25": _bm25(terms, text),
                "context_cov": context_cov,
                "heading_cov": max(head_cov, context_cov if sentence_types(heading) & q_types else 0.0),
                "rel": rel,
                "inv_rank": 1.0 / (1 + rank),
                "dense": dense,
                "position": 1.0 - math.exp(-u.position / 4.0),
                "type_match": 1.0 if q_types & (s_types | sentence_types(heading)) else 0.0,
                "type_miss": 1.0 if q_types and not (q_types & s_types) else 0.0,
                "has_amount": 1.0 if _AMOUNT.search(text) else 0.0,
                "length": math.log1p(len(text)) / 5.0,
                "in_force": in_force,
                "interpretation": interp,
                "cover_note": 1.0 if COVER_NOTE.search(text) else 0.0,
                "lead_in": 1.0 if u.lead_in else 0.0,
                "item": 1.0 if u.item else 0.0,
                "rule": rule,
            }
            out.append(Candidate(replace(u, text=text), hit, rank, doc, feats, rule, bigrams(text)))
    return out


def score(cands: Sequence[Candidate], ranker: LogisticModel | None) -> list[Candidate]:
    """Candidates with their score (the ranker's probability, or the rule), best first."""
    if ranker is not None:
        cands = [replace(c, score=ranker.prob(c.features)) for c in cands]
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
        dup = next(
            (i for i, (p, _) in enumerate(picked) if near_duplicate(c.grams, p.grams) or _overlaps(c, p)),
            None,
        )
        if dup is not None:
            p, others = picked[dup]
            if _overlaps(c, p):
                continue  # a list item inside a picked list, or the list around a picked item
            if _preference(c) > _preference(p):
                picked[dup] = (replace(c, score=max(c.score, p.score)), [p, *others])
            else:
                others.append(c)
            continue
        if len(picked) >= max_sentences or c.score < best * follow_ratio:
            continue
        picked.append((c, []))
    return picked


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.hit.passage.id == b.hit.passage.id and a.unit.start < b.unit.end and b.unit.start < a.unit.end


def heading_path_of(c: Candidate) -> tuple[str, ...]:
    return sentence_heading_path(c.hit.passage, c.unit.start)
