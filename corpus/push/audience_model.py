"""A learned audience classifier for push labels: who a document is for, with a probability per side.

Two logistic regressions, p(resident | x) and p(enterprise | x); a side is in the audience when
its probability reaches 0.5, and an empty audience means nobody (internal procedure, news).
The features of a document (`audience_features`) are what the machinery already computes:

- the rule cues of `corpus.push.audience.audience_cues` (counts, densities, benefit sentences,
  title kind) and the rules' own decision, plus the sides the rule-labelled groups imply;
- the addressee line of a notice (各区县人民政府、市政府各部门： vs 各企业、各有关单位： vs 广大市民：)
  and how often the text speaks to government bodies (各级人民政府, 财政部门…);
- doc type and issuer words of the title, issuer and opening (复函, 通报, 条例, 国务院, 新华社…);
- optionally the e5 document embedding of `corpus.push.topics.embedding_features` (title, mean
  and max of the first passages), appended after the hand features.

Features are standardised at training time and the scaling folded into the weights, so the
artifact is a plain weight matrix: `<stem>.json` (feature names, bias, provenance) + `<stem>.npy`
(weights), no pickle. `train_audience_model` picks C on inner folds (exact audience accuracy,
log loss breaking ties) and returns the inner out-of-fold probabilities it chose it on.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.artifacts import load_artifact, save_artifact
from corpus.push.audience import audience_cues
from corpus.push.groups import groups_of
from corpus.push.taxonomy import BUSINESS_GROUPS, Audience

log = logging.getLogger(__name__)

__all__ = [
    "SIDES",
    "HAND_FEATURES",
    "AudienceModel",
    "audience_features",
    "hand_features",
    "fit_audience",
    "train_audience_model",
    "exact_accuracy",
]

FORMAT_VERSION = 1
SIDES: tuple[Audience, ...] = (Audience.RESIDENT, Audience.ENTERPRISE)
DEFAULT_CS = (0.01, 0.03, 0.1, 0.3, 1.0)
THRESHOLD = 0.5

# The addressee line: 各…： near the top of a notice (主送机关).
_ADDRESSEE_RE = re.compile(r"(?:^|[\s　])((?:各|全[市省区县]|广大|尊敬的)[^：:\n。]{1,80})[：:]")
_GOV_ADDRESSEE_RE = re.compile(r"人民政府|政府|部门|厅|局|委|办公室|办事处|机构|指挥部|党委|党组|中心支行|分行|监管")
_ENT_ADDRESSEE_RE = re.compile(r"企业|公司|单位|银行|商户|纳税人|经营|协会|医疗机构|学校|集团")
_RES_ADDRESSEE_RE = re.compile(r"市民|居民|群众|朋友|职工|家长|同学|村民|旅客|乘客|车主|消费者")
# The text speaking to government bodies: internal work, not something residents act on.
_GOV_RE = re.compile(
    r"各级人民政府|地方各级|各地区|各部门|各有关部门|财政部门|主管部门|人民政府|各省|自治区|直辖市|计划单列市|"
    r"督查|考核|党委|党组|工作机制|统筹|部署"
)
_NEWS_RE = re.compile(r"新华社|记者|讯|获悉|发布会|据了解|日电|报道|通讯员")
# Title / issuer words: (feature name, pattern), read over title + issuer + doc type.
_KIND_WORDS: tuple[tuple[str, str], ...] = (
    ("t_notice", r"通知"),
    ("t_measures", r"办法|规定|细则|措施|指引|指南"),
    ("t_regulation", r"条例"),
    ("t_opinion", r"意见|方案|规划|计划"),
    ("t_announcement", r"通告|公告|告知书|提示"),
    ("t_reply", r"复函|答复|批复|函$|函〔"),
    ("t_report", r"通报|报告|表扬|总结|会议|讲话"),
    ("t_print", r"印发|转发"),
    ("i_state_council", r"国务院"),
    ("i_ministry", r"部|总局|委员会|国家"),
    ("i_government", r"人民政府|政府办公厅|政府办公室"),
    ("i_congress", r"人民代表大会|人大常委会"),
    ("i_tax", r"税务|财政"),
    ("i_hr", r"人力资源|人社|社会保障"),
    ("i_market", r"市场监督|市场监管|商务"),
    ("i_health", r"卫生|卫健|疾病"),
)
_KIND_RES = tuple((name, re.compile(p)) for name, p in _KIND_WORDS)

HAND_FEATURES: tuple[str, ...] = (
    "internal_title",
    "instrument_title",
    "log_chars",
    "log_res",
    "log_ent",
    "log_both",
    "res_per_k",
    "ent_per_k",
    "res_share",
    "measures_per_k",
    "log_res_benefit",
    "log_ent_benefit",
    "rule_none",
    "rule_res",
    "rule_ent",
    "group_res",
    "group_ent",
    "addressee",
    "addressee_gov",
    "addressee_ent",
    "addressee_res",
    "log_gov",
    "gov_per_k",
    "news_opening",
    *(name for name, _ in _KIND_WORDS),
)


def hand_features(doc: Document) -> np.ndarray:
    """(len(HAND_FEATURES),) float32: the rule cues, addressee line and kind words of `doc`."""
    title, text = doc.title or "", doc.text or ""
    cues = audience_cues(title, text)
    rule = cues.decision()
    groups = groups_of(title, text)[0] if rule is not None else ()
    per_k = 1000 / max(len(text), 1)
    opening = text[:400]
    addressees = _ADDRESSEE_RE.findall(opening)
    line = "、".join(addressees)
    gov = len(_GOV_RE.findall(text))
    kind = " ".join(x for x in (title, doc.issuer or "", doc.doc_type or "") if x)
    values = [
        float(cues.internal_title),
        float(cues.instrument_title),
        math.log1p(cues.text_chars),
        math.log1p(cues.res),
        math.log1p(cues.ent),
        math.log1p(cues.both),
        min(cues.res * per_k, 50.0),
        min(cues.ent * per_k, 50.0),
        cues.res / max(cues.res + cues.ent, 1),
        min(cues.measures_per_k, 50.0),
        math.log1p(cues.res_benefit),
        math.log1p(cues.ent_benefit),
        float(rule is None),
        float(rule is not None and Audience.RESIDENT in rule),
        float(rule is not None and Audience.ENTERPRISE in rule),
        float(any(g not in BUSINESS_GROUPS for g in groups)),
        float(any(g in BUSINESS_GROUPS for g in groups)),
        float(bool(addressees)),
        float(bool(_GOV_ADDRESSEE_RE.search(line))),
        float(bool(_ENT_ADDRESSEE_RE.search(line))),
        float(bool(_RES_ADDRESSEE_RE.search(line))),
        math.log1p(gov),
        min(gov * per_k, 50.0),
        float(bool(_NEWS_RE.search(title + opening[:200]))),
        *(float(bool(p.search(kind))) for _, p in _KIND_RES),
    ]
    return np.asarray(values, dtype=np.float32)


def audience_features(docs: Sequence[Document], embeddings: np.ndarray | None = None) -> np.ndarray:
    """(n, len(HAND_FEATURES) [+ embedding dim]) float32: hand features, then the embeddings when given."""
    hand = np.stack([hand_features(d) for d in docs]) if docs else np.zeros((0, len(HAND_FEATURES)), np.float32)
    if embeddings is None:
        return hand
    if len(embeddings) != len(docs):
        raise ValueError(f"embeddings must have one row per document ({len(docs)}), got {len(embeddings)}")
    return np.hstack([hand, np.asarray(embeddings, dtype=np.float32)])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class AudienceModel:
    """p(side | x) = sigmoid(x @ weights.T + bias), side in SIDES; the embedding follows the hand features."""

    weights: np.ndarray  # (2, n_features) float32
    bias: np.ndarray  # (2,) float32
    embedding_dim: int = 0  # 0: hand features only
    threshold: float = THRESHOLD
    info: dict[str, Any] = field(default_factory=dict, compare=False)  # encoder, C, training data...

    def __post_init__(self) -> None:
        n = len(HAND_FEATURES) + self.embedding_dim
        if self.weights.shape != (len(SIDES), n):
            raise ValueError(f"weights must be ({len(SIDES)}, {n}) for embedding_dim {self.embedding_dim}, "
                             f"got {self.weights.shape}")  # fmt: skip
        if self.bias.shape != (len(SIDES),):
            raise ValueError(f"bias must be ({len(SIDES)},), got {self.bias.shape}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")

    @property
    def uses_embedding(self) -> bool:
        return self.embedding_dim > 0

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, 2) probabilities of resident and enterprise for (n, n_features) features."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        if x.shape[1] != self.weights.shape[1]:
            raise ValueError(f"features must have {self.weights.shape[1]} columns, got {x.shape[1]}")
        return _sigmoid(x @ self.weights.T + self.bias)

    def decode(self, probs: np.ndarray) -> list[tuple[Audience, ...]]:
        """The sides whose probability reaches the threshold, per row (empty: nobody)."""
        return [self.decode_row(row, self.threshold) for row in np.atleast_2d(probs)]

    @staticmethod
    def decode_row(probs: Sequence[float], threshold: float = THRESHOLD) -> tuple[Audience, ...]:
        return tuple(s for s, p in zip(SIDES, probs, strict=True) if p >= threshold)

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write `<stem>.json` and `<stem>.npy` (each via a temp file renamed into place)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "sides": [s.value for s in SIDES],
            "hand_features": list(HAND_FEATURES),
            "embedding_dim": self.embedding_dim,
            "threshold": self.threshold,
            "bias": [float(b) for b in self.bias],
            "info": self.info,
        }
        return save_artifact(stem, meta, self.weights)

    @classmethod
    def load(cls, stem: str | Path) -> AudienceModel:
        meta, weights, js = load_artifact(stem, "audience model", FORMAT_VERSION)
        if tuple(meta.get("hand_features") or ()) != HAND_FEATURES:
            raise ValueError(
                f"{js}: hand features differ from this code's; rebuild with {meta.get('info', {}).get('rebuild')}"
            )
        return cls(
            weights=weights,
            bias=np.asarray(meta["bias"], dtype=np.float32),
            embedding_dim=int(meta["embedding_dim"]),
            threshold=float(meta["threshold"]),
            info=dict(meta.get("info") or {}),
        )


# ---------------------------------------------------------------- training


def audience_matrix(audiences: Sequence[Sequence[Audience]]) -> np.ndarray:
    """(n, 2) 0/1: resident, enterprise."""
    return np.array([[s in set(a) for s in SIDES] for a in audiences], dtype=np.int8).reshape(-1, len(SIDES))


def exact_accuracy(probs: np.ndarray, y: np.ndarray, threshold: float = THRESHOLD) -> float:
    return float(((probs >= threshold) == (y > 0)).all(axis=1).mean()) if len(y) else 0.0


def fit_audience(x: np.ndarray, y: np.ndarray, c: float = 0.1, embedding_dim: int = 0) -> AudienceModel:
    """Two L2 logistic regressions on standardised features; the scaling is folded into the weights."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # training only: prediction is numpy
        raise ImportError("training the audience model needs scikit-learn: pip install 'scikit-learn>=1.4'") from e
    if x.ndim != 2 or y.shape != (len(x), len(SIDES)):
        raise ValueError(f"x must be (n, d) and y (n, {len(SIDES)}) with the same n, got {x.shape} and {y.shape}")
    x = x.astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    z = (x - mu) / sd
    w = np.zeros((len(SIDES), x.shape[1]), dtype=np.float64)
    b = np.zeros(len(SIDES), dtype=np.float64)
    for j in range(len(SIDES)):
        if 0 < y[:, j].sum() < len(y):
            clf = LogisticRegression(C=c, max_iter=5000, solver="lbfgs")
            clf.fit(z, y[:, j])
            w[j], b[j] = clf.coef_[0] / sd, clf.intercept_[0] - (clf.coef_[0] * mu / sd).sum()
        else:  # one class only: a constant
            b[j] = 10.0 if y[:, j].all() else -10.0
    return AudienceModel(w.astype(np.float32), b.astype(np.float32), embedding_dim, info={"C": c})


def _log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def train_audience_model(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, embedding_dim: int = 0, cs: Sequence[float] = DEFAULT_CS
) -> tuple[AudienceModel, np.ndarray]:
    """Fit on all of (x, y) with C chosen on the out-of-fold probabilities of `folds`; also returns those
    probabilities (n, 2) for the chosen C, which a calibrator downstream may train on."""
    if len(folds) != len(x) or len(set(folds.tolist())) < 2:
        raise ValueError("folds must give each row a fold, with at least two folds")
    best: tuple[float, float, float, np.ndarray] | None = None  # (accuracy, -log loss, C, oof)
    for c in cs:
        oof = np.zeros(y.shape, dtype=np.float32)
        for k in sorted(set(folds.tolist())):
            test = folds == k
            oof[test] = fit_audience(x[~test], y[~test], c, embedding_dim).predict_proba(x[test])
        acc, loss = exact_accuracy(oof, y), _log_loss(oof, y)
        log.info("audience model C=%s: inner out-of-fold accuracy %.3f, log loss %.3f", c, acc, loss)
        if best is None or (acc, -loss) > (best[0], best[1]):
            best = (acc, -loss, c, oof)
    assert best is not None
    acc, neg_loss, c, oof = best
    model = fit_audience(x, y, c, embedding_dim)
    info = {**model.info, "inner_accuracy": round(acc, 4), "inner_log_loss": round(-neg_loss, 4), "n_train": len(x)}
    return AudienceModel(model.weights, model.bias, embedding_dim, model.threshold, info), oof
