"""Curated FAQ matching: a question close enough to an approved one gets its approved answer.

Similarity mixes token Jaccard (the index's tokenizer, question words removed) and
character-bigram Dice, so both reworded and re-segmented questions match.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.query_terms import GENERIC_TERMS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaqItem:
    id: int
    question: str
    answer: str
    doc_id: str | None


@dataclass(frozen=True)
class FaqMatch:
    item: FaqItem
    score: float


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)}


def load_faq_file(path: Path) -> list[dict]:
    """Rows of a FAQ JSONL (`question`, `answer`, `doc_id`); [] if the file is absent."""
    if not path.is_file():
        logger.info("no FAQ file at %s", path)
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("skipping malformed FAQ line %d in %s", n, path)
            continue
        if isinstance(row, dict) and row.get("question") and row.get("answer"):
            rows.append(row)
    return rows


class FaqMatcher:
    """Immutable: rebuild it (cheap) when the FAQ changes, then swap the reference."""

    def __init__(self, items: Iterable[FaqItem], tokenize: Callable[[str], list[str]], threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.tokenize = tokenize
        self.threshold = threshold
        self.items: tuple[FaqItem, ...] = tuple(items)
        self._keys = [(self._terms(i.question), _bigrams(i.question)) for i in self.items]

    def _terms(self, text: str) -> frozenset[str]:
        return frozenset(t for t in self.tokenize(text) if t not in GENERIC_TERMS)

    def scores(self, question: str) -> list[FaqMatch]:
        terms, grams = self._terms(question), _bigrams(question)
        out = []
        for item, (k_terms, k_grams) in zip(self.items, self._keys, strict=True):
            jac = len(terms & k_terms) / len(terms | k_terms) if terms | k_terms else 0.0
            dice = 2 * len(grams & k_grams) / (len(grams) + len(k_grams)) if grams or k_grams else 0.0
            out.append(FaqMatch(item, round(0.5 * jac + 0.5 * dice, 4)))
        out.sort(key=lambda m: -m.score)
        return out

    def match(self, question: str) -> FaqMatch | None:
        best: Sequence[FaqMatch] = self.scores(question)[:1]
        return best[0] if best and best[0].score >= self.threshold else None
