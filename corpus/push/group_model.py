"""A learned decision for push target groups: the lexicon proposes, a logistic model decides.

Every group whose lexicon (`corpus.push.groups.GROUP_CUES`) names it in a document is a
candidate. Each mention is read in its clause, together with the list lead-in that carries the
measure ("下列人员免费乘车：" before "（一）年满七十周岁的老年人；") and the heading above it
(`mention_features`); the mentions of one group are pooled (max and mean) with document-level
cues (in the title, how often, the rules' own decision, which group) into one row
(`candidate_features`). One L2 logistic regression turns the row into p(the document addresses
the group: a benefit, duty or eligibility rule made for it) against p(it is only mentioned).
A group is labelled when p reaches `threshold`; its evidence is the verbatim quote of its most
addressed mention (`corpus.push.groups.evidence_for`), so what residents read is the text.

Pure numpy at prediction time; the artifact is one `<stem>.json` (feature names, weights, bias,
threshold, provenance). Trained by `python -m eval push train-groups` (`eval.push_groups`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.audience import BENEFIT_RE
from corpus.push.groups import (
    _ACTION_RE,
    _ALL_GROUPS_RE,
    _INSTITUTION_RE,
    _OVERSIGHT_RE,
    _VIOLATION_RE,
    GROUP_CUES,
    _clause_span,
    _evidence,
    _sole,
    _targeted,
    groups_of,
)
from corpus.push.sentences import HEADING_RE, sentence_span
from corpus.push.taxonomy import BUSINESS_GROUPS, GROUPS

__all__ = ["GROUP_FEATURES", "GroupCandidate", "GroupModel", "candidates", "candidate_features", "fit_groups"]

FORMAT_VERSION = 1
THRESHOLD = 0.5
MAX_MENTIONS = 40  # a group named hundreds of times is read in its first 40 mentions

_DUTY_RE = re.compile(r"应当|必须|须|不得|禁止|严禁|应|负责")
_ELIGIBLE_RE = re.compile(r"符合|条件|资格|申请|申领|认定|凭|持|年满|周岁|登记|参保|户籍")
_MEASURE_WORDS_RE = re.compile(r"可以|可|享受|给予|提供|纳入|优先|免|减|补")
_STAT_RE = re.compile(r"\d+(?:\.\d+)?(?:例|人次|万人|名|户|个|%|％)")
_ITEM_RE = re.compile(r"[ \t\u3000]*(?:[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[、．.](?!\d)|[①-⑳])")

# Per mention: what its clause, sentence, list lead-in and heading say.
MENTION_FEATURES: tuple[str, ...] = (
    "action",  # the sentence grants, requires or admits (groups._ACTION_RE)
    "benefit",  # money, tax or fee relief in the sentence
    "duty",
    "eligible",
    "measure",
    "targeted",  # the rules' "sole target of a measure" (对高校毕业生…)
    "sole",  # no other group in its clause
    "in_item",  # the mention's line is a list item
    "leadin",  # a lead-in (…：) stands before it in the same passage
    "leadin_action",
    "leadin_benefit",
    "heading_group",  # the heading above names the group too
    "heading_action",
    "violation",
    "oversight",
    "institution",  # 养老院, 幼儿园: a place, not people
    "statistic",  # counts (外地来沪人员62例)
    "n_groups_clause",
    "position",  # relative position in the text
)
_DOC_FEATURES: tuple[str, ...] = ("in_title", "log_mentions", "mentions_per_k", "rule_says", "log_chars", "business")
GROUP_FEATURES: tuple[str, ...] = (
    *_DOC_FEATURES,
    *(f"max_{f}" for f in MENTION_FEATURES),
    *(f"mean_{f}" for f in MENTION_FEATURES),
    *(f"g_{g}" for g in GROUPS),
)


@dataclass(frozen=True)
class GroupCandidate:
    """A group the lexicon names in a document: its feature row and the best verbatim quote."""

    group: str
    features: np.ndarray
    evidence: str | None


def _lead_in(text: str, start: int) -> str:
    """The list lead-in of a mention: the sentence ending in a colon before it, with no full stop between."""
    lo = max(0, start - 400)
    window = text[lo:start]
    cut = max(window.rfind("："), window.rfind(":"))
    if cut < 0 or "。" in window[cut:]:
        return ""
    colon = lo + cut
    a, _ = sentence_span(text, colon, colon)
    return text[max(a, colon - 120) : colon]


def _heading(text: str, start: int) -> str:
    """The nearest heading line above the mention (一、…, 第X章…, （一）…) without a comma: a title line."""
    pos = text.rfind("\n", 0, start)
    seen = 0
    while pos > 0 and seen < 60:
        prev = text.rfind("\n", 0, pos)
        line = text[prev + 1 : pos].strip(" \t\u3000")
        if line and len(line) <= 40 and HEADING_RE.match(line) and not re.search(r"[，,。]", line):
            return line
        pos, seen = prev, seen + 1
    return ""


def mention_features(text: str, hit: re.Match[str], cue: re.Pattern[str]) -> np.ndarray:
    a, b = sentence_span(text, hit.start(), hit.end())
    sentence = text[a:b]
    lo, hi = _clause_span(text, hit)
    clause = text[lo:hi]
    line_start = text.rfind("\n", 0, hit.start()) + 1
    lead = _lead_in(text, hit.start())
    heading = _heading(text, hit.start())
    values = [
        bool(_ACTION_RE.search(sentence)),
        bool(BENEFIT_RE.search(sentence)),
        bool(_DUTY_RE.search(sentence)),
        bool(_ELIGIBLE_RE.search(sentence)),
        bool(_MEASURE_WORDS_RE.search(sentence)),
        _targeted(text, hit),
        _sole(text, hit),
        bool(_ITEM_RE.match(text, line_start) or _ITEM_RE.match(text, a)),
        bool(lead),
        bool(lead and _ACTION_RE.search(lead)),
        bool(lead and BENEFIT_RE.search(lead)),
        bool(heading and cue.search(heading)),
        bool(heading and _ACTION_RE.search(heading)),
        bool(_VIOLATION_RE.search(clause)),
        bool(_OVERSIGHT_RE.search(clause)),
        bool(_INSTITUTION_RE.search(hit.group(0))),
        bool(_STAT_RE.search(clause)),
        min(len(_ALL_GROUPS_RE.findall(clause)), 5) / 5,
        hit.start() / max(len(text), 1),
    ]
    return np.asarray(values, dtype=np.float32)


_CUE_RES = {g: re.compile(p) for g, p in GROUP_CUES.items()}


def candidates(title: str, text: str) -> list[GroupCandidate]:
    """Every group the lexicon names in the text, with its feature row (GROUP_FEATURES) and evidence."""
    rule_groups = set(groups_of(title, text)[0])
    out = []
    for group in GROUPS:
        cue = _CUE_RES[group]
        hits = list(cue.finditer(text))[:MAX_MENTIONS]
        in_title = bool(cue.search(title))
        if not hits:  # evidence must be quoted from the text: a group named in the title only has none
            continue
        n_all = len(cue.findall(text))
        m = np.stack([mention_features(text, h, cue) for h in hits])
        mx, mean = m.max(axis=0), m.mean(axis=0)
        # evidence: the mention whose clause reads most like a measure for the group
        order = np.argsort(-(m[:, 0] + m[:, 1] + m[:, 5] + m[:, 9] + m[:, 10] - m[:, 13] - m[:, 16]), kind="stable")
        quote = next((q for q in (_evidence(text, hits[k]) for k in order[:8]) if q), None)
        doc = [
            float(in_title),
            math.log1p(n_all),
            min(n_all * 1000 / max(len(text), 1), 50.0),
            float(group in rule_groups),
            math.log1p(len(text)),
            float(group in BUSINESS_GROUPS),
        ]
        onehot = [float(g == group) for g in GROUPS]
        out.append(GroupCandidate(group, np.concatenate([doc, mx, mean, onehot]).astype(np.float32), quote))
    return out


def candidate_features(docs: Sequence[Document]) -> tuple[list[tuple[str, str]], np.ndarray, list[str | None]]:
    """(doc id, group) keys, (n, len(GROUP_FEATURES)) features and evidence of every candidate of `docs`."""
    keys, rows, quotes = [], [], []
    for d in docs:
        for c in candidates(d.title or "", d.text or ""):
            keys.append((d.id, c.group))
            rows.append(c.features)
            quotes.append(c.evidence)
    x = np.stack(rows) if rows else np.zeros((0, len(GROUP_FEATURES)), np.float32)
    return keys, x, quotes


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class GroupModel:
    """p(addressed) = sigmoid(x @ weights + bias) over GROUP_FEATURES; a group is labelled at >= threshold."""

    weights: np.ndarray  # (len(GROUP_FEATURES),) float32
    bias: float
    threshold: float = THRESHOLD
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.weights.shape != (len(GROUP_FEATURES),):
            raise ValueError(f"weights must be ({len(GROUP_FEATURES)},), got {self.weights.shape}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != len(GROUP_FEATURES):
            raise ValueError(f"features must have {len(GROUP_FEATURES)} columns, got {x.shape[1]}")
        return _sigmoid(x @ self.weights.astype(np.float64) + self.bias)

    def scored(self, title: str, text: str) -> list[tuple[str, float, str | None]]:
        """(group, probability, evidence) of every candidate of the text, in taxonomy order."""
        cands = candidates(title, text)
        if not cands:
            return []
        p = self.predict_proba(np.stack([c.features for c in cands]))
        return [(c.group, float(q), c.evidence) for c, q in zip(cands, p, strict=True)]

    def groups(self, title: str, text: str) -> tuple[tuple[str, ...], dict[str, str], dict[str, float]]:
        """(groups, evidence, probability of every candidate): groups at >= threshold with a verbatim quote."""
        scored = self.scored(title, text)
        keep = [(g, q) for g, p, q in scored if p >= self.threshold and q]
        return tuple(g for g, _ in keep), dict(keep), {g: p for g, p, _ in scored}

    def save(self, stem: str | Path) -> Path:
        js = Path(stem).with_suffix(".json")
        js.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "features": list(GROUP_FEATURES),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": float(self.bias),
            "threshold": self.threshold,
            "info": self.info,
        }
        tmp = js.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(js)
        return js

    @classmethod
    def load(cls, stem: str | Path) -> GroupModel:
        js = Path(stem).with_suffix(".json")
        if not js.is_file():
            raise FileNotFoundError(f"group model file not found: {js}")
        meta = json.loads(js.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION or tuple(meta.get("features") or ()) != GROUP_FEATURES:
            raise ValueError(f"{js}: format or features differ from this code's; rebuild it "
                             f"({(meta.get('info') or {}).get('rebuild')})")  # fmt: skip
        return cls(np.asarray(meta["weights"], np.float32), float(meta["bias"]), float(meta["threshold"]),
                   dict(meta.get("info") or {}))  # fmt: skip


def fit_groups(x: np.ndarray, y: np.ndarray, c: float = 0.3, threshold: float = THRESHOLD) -> GroupModel:
    """L2 logistic regression on standardised features; the scaling is folded into the weights."""
    if x.ndim != 2 or x.shape[1] != len(GROUP_FEATURES) or len(y) != len(x):
        raise ValueError(f"x must be (n, {len(GROUP_FEATURES)}) and y (n,), got {x.shape} and {np.shape(y)}")
    if len(y) == 0 or y.min() == y.max():
        rate = (float(np.sum(y)) + 0.5) / (len(y) + 1.0)
        return GroupModel(np.zeros(len(GROUP_FEATURES), np.float32), math.log(rate / (1 - rate)), threshold)
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # training only: prediction is numpy
        raise ImportError("training the group model needs scikit-learn: pip install 'scikit-learn>=1.4'") from e
    x = x.astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    clf = LogisticRegression(C=c, max_iter=5000).fit((x - mu) / sd, y)
    w = clf.coef_[0] / sd
    bias = float(clf.intercept_[0] - (clf.coef_[0] * mu / sd).sum())
    return GroupModel(w.astype(np.float32), bias, threshold, {"C": c, "n_train": len(y)})
