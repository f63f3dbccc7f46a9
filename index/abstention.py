"""Abstention: how likely an answer is supported, whether to give it, and what to offer instead.

- `support_signals`: features of retrieval and selection for one question (the hand-weighted rule
  confidence is one of them);
- `support_probability`: the shipped model's calibrated probability (index/resources/abstention.json,
  a standardised logistic with its Platt calibration folded into the weights), else the rule confidence;
- `abstains`: the decision at the threshold (chosen out of fold by `python -m eval answers train`);
- `closest_documents`: on abstention, the retrieved documents that really are about the question's
  subject (its most specific topic word), never merely near it.

No HTTP; the answerer turns these into an `Answer`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from index import selection
from index.answer_model import LogisticModel
from index.followup import topic_terms
from index.types import Hit

ABSTENTION_RESOURCE = "abstention.json"
NOT_FOUND_TEXT = "未找到相关政策"
# The rule confidence's threshold when no abstention model is shipped (tuned on the dev sets in
# sample before the model existed; the shipped artifact carries the out-of-fold one).
DEFAULT_ABSTAIN_THRESHOLD = 0.48

# What the support model reads (all in `support_signals`, each cheap: no model call). Not the
# sentence ranker's probabilities (`top_prob`, `prob_gap` stay in the signals for explanation): the
# ranker is retrained on its own and its scale changes with it (or is the rule score without it),
# which would silently shift a model reading them; out of fold they added nothing (BM25 run).
FEATURES = (
    "rule_conf",  # the hand-weighted confidence
    "coverage_top",  # IDF-weighted share of the query terms in the top passage
    "coverage_answer",  # ... in the answer sentences and their titles
    "coverage_sentence",  # ... in the first answer sentence alone
    "specificity",  # saturating matched IDF mass
    "missing_max",  # the most specific query term missing from the top passage, relative
    "score_ratio",  # second hit's score / top hit's
    "score_gap5",  # (top - fifth) / top
    "bm25_top",  # top passage's BM25 per unit of query weight
    "dense",  # top passage's embedding cosine (0 without an encoder)
    "dense_gap",  # top cosine minus the lowest of the top 5
    "doc_share",  # share of the top 5 passages from the first cited document
    "n_docs5",  # distinct documents in the top 5, / 5
    "subject_in_answer",  # the question's most specific topic word is in the cited passage
    "subject_missing",  # ... and it is in no retrieved passage at all
    "lookup_hit",  # the first cited document is one the question names (文号 or title)
    "asks_type",  # the question asks for a kind of answer (材料, 条件, 金额 …)
    "type_match",  # the first sentence is of that kind
    "n_terms",
)


class DenseScale(Protocol):
    """The part of AnswerConfig the rule confidence reads (how e5 cosines map to closeness)."""

    dense_weight: float
    dense_floor: float
    dense_span: float


def idf_scale(index: object, default_weights: bool) -> float:
    """Units of specificity: the largest possible IDF, ln(1 + passages), so the same scale holds for a
    20-document demo and an 86k-passage law corpus (about 1 per word for length-based weights)."""
    if default_weights:
        return 3.0
    try:
        n = len(index)  # type: ignore[arg-type]
    except TypeError:
        return 10.0
    return max(math.log1p(n), 1.0)


def subject_of(terms: Mapping[str, float], hits: Sequence[Hit]) -> list[str]:
    """The question's subject: its most specific topic word that some retrieved passage uses (a word
    the corpus never uses names nothing to suggest). [] when no topic word is found."""
    topics = set(topic_terms(list(terms)))
    found = " ".join(h.passage.index_text().lower() for h in hits)
    return sorted((t for t in terms if t in topics and t.lower() in found), key=lambda t: -terms[t])[:1]


def about_subject(hit: Hit, subject: Sequence[str]) -> bool:
    """The passage names the subject, not just a near word."""
    return not subject or subject[0].lower() in hit.passage.index_text().lower()


def closest_documents(hits: Sequence[Hit], terms: Mapping[str, float], limit: int = 3) -> list[Hit]:
    """The best hit of each of the first `limit` documents about the question's subject."""
    subject = subject_of(terms, hits)
    out: list[Hit] = []
    seen: set[str] = set()
    for h in hits:
        if h.doc_id in seen or not about_subject(h, subject):
            continue
        seen.add(h.doc_id)
        out.append(h)
        if len(out) == limit:
            break
    return out


def named_documents(index: object, query: str | None) -> frozenset[str]:
    """Ids of the documents the query names by 文号 or title (none for an index without lookup)."""
    lookup = getattr(index, "lookup", None)
    if not query or not callable(lookup):
        return frozenset()
    return frozenset(d.id for d in lookup(query))


def first_candidate(ranked: Sequence[selection.Candidate], key: tuple[str, str] | None) -> selection.Candidate | None:
    """The candidate quoted first ((passage id, text) of the first answer sentence), else the best."""
    if key is not None:
        for c in ranked:
            if (c.hit.passage.id, c.unit.text) == key:
                return c
    return ranked[0] if ranked else None


def abstention_text(hotline: str, with_suggestions: bool) -> str:
    if with_suggestions:
        return f"{NOT_FOUND_TEXT}。您可以查看下列相近文件，或拨打 {hotline} 政务服务便民热线咨询。"
    return f"{NOT_FOUND_TEXT}。建议拨打 {hotline} 政务服务便民热线咨询。"


def rule_confidence(
    hits: Sequence[Hit], terms: Mapping[str, float], scale: float, dense: DenseScale
) -> tuple[float, dict[str, float]]:
    """The hand-weighted confidence (the 'before', and one feature of the model) and its parts."""
    top = hits[0].passage
    cov_top, mass = selection.coverage(terms, top.index_text())
    low = top.index_text().lower()
    missing = [w for t, w in terms.items() if t not in low]
    missing_max = max(missing, default=0.0) / (max(terms.values()) or 1.0)
    # Saturating: a question matched on one common word is weak evidence however well covered.
    specificity = 1.0 - math.exp(-mass / scale)
    conf = 0.3 * cov_top + 0.1 * (1.0 - missing_max) + 0.6 * specificity
    parts = {
        "missing_max": missing_max,
        "total_weight": sum(terms.values()),
        "coverage_top": cov_top,
        "matched_weight": mass,
        "specificity": specificity,
        "top_score": float(hits[0].score),
    }
    cos = hits[0].scores.get("dense") if hits[0].scores else None
    if cos is not None:
        # Words shared with the corpus alone cannot tell "asks about something we have" from "asks
        # about something near it"; the embedding's closeness can.
        closeness = min(max((float(cos) - dense.dense_floor) / dense.dense_span, 0.0), 1.0)
        conf = (1.0 - dense.dense_weight) * conf + dense.dense_weight * closeness
    return min(max(conf, 0.0), 1.0), parts


def support_signals(
    hits: Sequence[Hit],
    terms: Mapping[str, float],
    ranked: Sequence[selection.Candidate],
    first: selection.Candidate | None,
    answer_context: str,
    scale: float,
    dense: DenseScale,
    named_docs: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """Every feature of FEATURES (plus a few kept for explanation) for one answered question.
    `first` is the first answer sentence's candidate, `answer_context` the answer sentences with
    their titles, `named_docs` the documents the question names by 文号 or title."""
    rule, parts = rule_confidence(hits, terms, scale, dense)
    s = {k: round(v, 4) for k, v in parts.items()}
    s["rule_conf"] = round(rule, 4)
    s["n_terms"] = float(len(terms))
    s["coverage_answer"] = round(selection.coverage(terms, answer_context)[0], 4)
    s["coverage_sentence"] = round(first.features["cov"], 4) if first else 0.0
    s["top_prob"] = round(ranked[0].score, 4) if ranked else 0.0
    s["second_prob"] = round(ranked[1].score, 4) if len(ranked) > 1 else 0.0
    s["prob_gap"] = round(s["top_prob"] - s["second_prob"], 4)
    scores = [float(h.score) for h in hits[:5]]
    top = scores[0] if scores[0] > 0 else 1.0
    s["score_ratio"] = round(scores[1] / top, 4) if len(scores) > 1 else 0.0
    s["score_gap5"] = round((scores[0] - scores[-1]) / top, 4)
    bm25 = hits[0].scores.get("bm25") if hits[0].scores else None
    s["bm25_top"] = round(float(bm25 or 0.0) / (s["total_weight"] or 1.0), 4)
    cos = hits[0].scores.get("dense") if hits[0].scores else None
    if cos is not None:
        s["dense"] = round(float(cos), 4)
        d5 = [float(h.scores.get("dense", 0.0)) for h in hits[:5] if h.scores]
        s["dense_gap"] = round(float(cos) - min(d5), 4)
    cited = first.hit if first else hits[0]
    s["doc_share"] = round(sum(1 for h in hits[:5] if h.doc_id == cited.doc_id) / min(len(hits), 5), 4)
    s["n_docs5"] = len({h.doc_id for h in hits[:5]}) / 5.0
    topics = topic_terms(list(terms))
    subject = subject_of(terms, hits)
    s["subject_in_answer"] = 1.0 if subject and about_subject(cited, subject) else 0.0
    s["subject_missing"] = 1.0 if topics and not subject else 0.0
    s["lookup_hit"] = 1.0 if cited.doc_id in named_docs else 0.0
    f = first.features if first else {}
    s["asks_type"] = 1.0 if f.get("type_match") or f.get("type_miss") else 0.0
    s["type_match"] = float(f.get("type_match", 0.0))
    return s


def support_probability(signals: Mapping[str, float], model: LogisticModel | None) -> float:
    """The calibrated probability that the answer is supported (the rule confidence without a model)."""
    if model is None:
        return float(signals.get("rule_conf", 0.0))
    return round(model.prob(signals), 4)


def abstains(probability: float, threshold: float, has_sentences: bool) -> bool:
    """Abstain below the threshold (at it, answer), and always when there is nothing to quote."""
    return not has_sentences or probability < threshold


def threshold_of(model: LogisticModel | None) -> float:
    """The model's out-of-fold threshold, or the rules' default."""
    if model is not None and model.threshold is not None:
        return model.threshold
    return DEFAULT_ABSTAIN_THRESHOLD


def with_platt(model: LogisticModel, a: float, b: float) -> LogisticModel:
    """`model` whose probability is sigmoid(a * logit + b): Platt scaling folded into the weights, so
    the calibrated model is an ordinary standardised logistic (one artifact, no extra step)."""
    return replace(
        model,
        coef=tuple(a * c for c in model.coef),
        intercept=a * model.intercept + b,
        meta={**model.meta, "platt": [a, b]},
    )
