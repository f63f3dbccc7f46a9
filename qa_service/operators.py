"""The operators' view: questions the service could not answer (or only weakly), grouped by similarity
as the FAQ's to-do list, and resident feedback as an evaluation set in BEIR form (queries + qrels).

Works on the masked rows of `qa_service.store.Store`; nothing here sees a contact detail.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from index.answer import GENERIC_TERMS

SIMILAR = 0.5  # Jaccard overlap of content characters for two questions to count as the same question


@dataclass
class QuestionGroup:
    question: str  # the most frequent wording, the first seen on a tie
    count: int = 0
    abstained: int = 0
    last_seen: float = 0.0
    examples: list[str] = field(default_factory=list)
    doc_ids: Counter[str] = field(default_factory=Counter)
    terms: frozenset[str] = frozenset()
    wordings: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "count": self.count,
            "abstained": self.abstained,
            "low_confidence": self.count - self.abstained,
            "last_seen": self.last_seen,
            "examples": self.examples,
            "doc_ids": [d for d, _ in self.doc_ids.most_common(3)],
        }


def _terms(question: str, tokenize: Callable[[str], list[str]]) -> frozenset[str]:
    """The characters of the question's content words: Chinese questions say the same thing with other
    segmentations (怎么养猫 / 猫咪怎么养), so whole tokens would split what residents mean as one."""
    words = [t for t in tokenize(question) if t not in GENERIC_TERMS]
    chars = frozenset(c for w in words for c in w if c.isalnum())
    return chars or frozenset({question.strip()})


def group_questions(
    rows: Iterable[dict], tokenize: Callable[[str], list[str]], max_examples: int = 5
) -> list[QuestionGroup]:
    """Greedy single pass, newest first: a question joins the first group whose words it shares enough
    of, else starts one. Largest groups first (then most recent)."""
    groups: list[QuestionGroup] = []
    for row in rows:
        q = str(row["question"]).strip()
        terms = _terms(q, tokenize)
        group = None
        for g in groups:
            if len(terms & g.terms) / len(terms | g.terms) >= SIMILAR:
                group = g
                break
        if group is None:
            group = QuestionGroup(question=q, terms=terms)
            groups.append(group)
        group.count += 1
        group.abstained += int(bool(row["abstained"]))
        group.last_seen = max(group.last_seen, float(row["created"]))
        group.wordings[q] += 1
        group.doc_ids.update(row.get("cited_doc_ids") or [])
        if q not in group.examples and len(group.examples) < max_examples:
            group.examples.append(q)
    for g in groups:
        best = max(g.wordings.values())
        g.question = next(w for w in g.wordings if g.wordings[w] == best)
    return sorted(groups, key=lambda g: (-g.count, -g.last_seen))


def beir_queries(rows: Sequence[dict]) -> str:
    """queries.jsonl: one line per feedback that judged at least one cited document."""
    lines = [json.dumps({"_id": r["_id"], "text": r["text"]}, ensure_ascii=False) for r in rows if r["qrels"]]
    return "".join(line + "\n" for line in lines)


def beir_qrels(rows: Sequence[dict]) -> str:
    """qrels.tsv: cited documents scored 1 (the answer was useful) or 0 (it was not)."""
    out = ["query-id\tcorpus-id\tscore"]
    for r in rows:
        for doc_id, score in r["qrels"].items():
            out.append(f"{r['_id']}\t{doc_id}\t{score}")
    return "\n".join(out) + "\n"
