"""`python -m eval push`: the push labeller on a labelled set, as shipped or out of fold.

    python -m eval push --labels DIR [--corpus FILE] --out DIR [--cv K] [--heads logreg,prototype]
    python -m eval push train-topics --labels DIR --out corpus/resources/push_topics
    python -m eval push train-groups --labels DIR --out corpus/resources/push_groups  (eval.push_groups)
    python -m eval push train-audience --labels DIR --out corpus/resources/push_audience  (eval.push_models;
        also writes push_confidence.json and push_match.json; run it after train-topics and train-groups)

DIR is laid out like push-dev (doc_labels.jsonl, profiles.jsonl, matches.tsv); FILE defaults to
../shared/data/corpus/policies.jsonl. Results go to OUT/metrics.json: flat figures (match P/R/F1
with a 95 % bootstrap interval over documents, audience, jurisdiction, groups, topics) for the
primary labeller, the same for every variant under `variants`, and `primary_metric`.

- Without --cv: the shipped labeller (`--topics rules`, the service default), or the rules with
  the shipped topic model (`--topics learned`, in sample on the set it was trained on).
- With --cv K: documents are split into K folds by id (`assign_folds`, fixed seed); the learned
  parts (the topic model: C and threshold chosen on inner folds of the training part) are trained
  on K-1 folds and predict the held-out one. The rules have nothing to train and are reported
  beside them (`variants.rules`), on the same bootstrap draws, with the paired F1 difference.

Scoring is `eval.push.score`; document features are cached under var/push-topics/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.labels import label_document
from corpus.push.matching import match
from corpus.push.targeting import Targeting
from corpus.push.taxonomy import TOPICS
from corpus.push.topics import (
    HEADS,
    MAX_PASSAGES,
    TopicClassifier,
    TopicModel,
    embedding_features,
    rule_features,
    train_topic_model,
)
from eval.push import DEFAULT_TODAY, PushSet, load_push_set, score
from eval.push_models import LEARNED_PRIMARY, learned_variants
from eval.push_report import markdown_report
from eval.push_shipped import shipped_metrics, suggestions

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "corpus" / "policies.jsonl"
DEFAULT_TOPIC_MODEL = REPO / "corpus" / "resources" / "push_topics"
DEFAULT_CACHE = REPO / "var" / "push-topics"
DEFAULT_MODEL = REPO / "models" / "multilingual-e5-small"
SEED = 20261201
BOOTSTRAP_DRAWS = 1000
INNER_FOLDS = 5


def assign_folds(doc_ids: Sequence[str], k: int, seed: int = SEED) -> dict[str, int]:
    """Fold 0..k-1 of each distinct document id: ids sorted, shuffled with `seed`, dealt round-robin.

    Grouped by document (every row of one id lands in one fold) and independent of input order.
    """
    ids = sorted(set(doc_ids))
    if not 2 <= k <= len(ids):
        raise ValueError(f"k must be 2..{len(ids)} (the number of documents), got {k}")
    random.Random(seed).shuffle(ids)
    return {d: i % k for i, d in enumerate(ids)}


class _FixedTopics:
    """A topic hook that returns precomputed (out-of-fold) topics."""

    def __init__(self, topics: dict[str, tuple[str, ...]]) -> None:
        self.topics = topics

    def predict(self, doc: Document) -> tuple[str, ...]:
        return self.topics[doc.id]


def cached_features(docs: list[Document], encoder: Any, cache_dir: Path | None, max_passages: int) -> np.ndarray:
    """`corpus.push.topics.document_features` of `docs`; the embeddings are cached in cache_dir, keyed by
    encoder, passage cap and texts (the rule features are cheap and always recomputed)."""
    h = hashlib.sha256(f"{encoder.name}|{max_passages}|".encode())
    for d in docs:
        h.update(f"{d.id}\0{d.title}\0{d.text}\0".encode())
    path = cache_dir / f"features-{h.hexdigest()[:16]}.npz" if cache_dir else None
    if path and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if list(z["ids"]) == [d.id for d in docs]:
                return np.hstack([z["x"], rule_features(docs)])
    log.info("embedding %d documents (first %d passages each)", len(docs), max_passages)
    x = embedding_features(docs, encoder, max_passages)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, ids=np.array([d.id for d in docs]), x=x)
        tmp.replace(path)
    return np.hstack([x, rule_features(docs)])


def topic_matrix(gold: list[Targeting], topics: tuple[str, ...] = TOPICS) -> np.ndarray:
    return np.array([[t in g.topics for t in topics] for g in gold], dtype=np.int8)


def out_of_fold_topics(
    ids: list[str], x: np.ndarray, y: np.ndarray, k: int, head: str, seed: int = SEED
) -> tuple[dict[str, tuple[str, ...]], list[dict[str, Any]]]:
    """Topics of each document from a model trained without its fold; and each fold's chosen settings."""
    folds = assign_folds(ids, k, seed)
    fold = np.array([folds[i] for i in ids])
    topics: dict[str, tuple[str, ...]] = {}
    settings = []
    for f in range(k):
        train, test = fold != f, fold == f
        train_ids = [i for i, m in zip(ids, train, strict=True) if m]
        inner = assign_folds(train_ids, min(INNER_FOLDS, len(train_ids)), seed + 1 + f)
        model = train_topic_model(x[train], y[train], np.array([inner[i] for i in train_ids]), head=head)
        test_ids = [i for i, m in zip(ids, test, strict=True) if m]
        for doc_id, row in zip(test_ids, model.decode(model.predict_proba(x[test])), strict=True):
            topics[doc_id] = tuple(t for t, _ in row)
        settings.append({"fold": f, "n_test": len(test_ids), "threshold": model.threshold, **model.info})
    return topics, settings


def _pair_counts(data: PushSet, pred: dict[str, Targeting], ids: list[str]) -> np.ndarray:
    """(n_docs, 3) true, false and missed profile-document pairs per document."""
    out = np.zeros((len(ids), 3), dtype=np.int64)
    for r, doc_id in enumerate(ids):
        pairs = {(p.profile_id, doc_id) for p in data.profiles if match(p, pred[doc_id]) is not None}
        gold = {pair for pair in data.gold_pairs if pair[1] == doc_id}
        out[r] = (len(pairs & gold), len(pairs - gold), len(gold - pairs))
    return out


def _set_counts(pred: dict[str, Targeting], data: PushSet, ids: list[str], field: str) -> np.ndarray:
    out = np.zeros((len(ids), 3), dtype=np.int64)
    for r, doc_id in enumerate(ids):
        p, g = set(getattr(pred[doc_id], field)), set(getattr(data.gold[doc_id], field))
        out[r] = (len(p & g), len(p - g), len(g - p))
    return out


def _prf(c: np.ndarray) -> np.ndarray:
    """(..., 3) counts summed over documents -> (..., 3) precision, recall, F1 (0 where undefined)."""
    tp, fp, fn = c[..., 0].astype(float), c[..., 1].astype(float), c[..., 2].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return np.stack([p, r, f], axis=-1)


def bootstrap_draws(n_docs: int, draws: int = BOOTSTRAP_DRAWS, seed: int = SEED) -> np.ndarray:
    """(draws, n_docs) document indices resampled with replacement: pairs cluster by document."""
    return np.random.default_rng(seed).integers(0, n_docs, size=(draws, n_docs))


def bootstrap_interval(counts: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """(3, 2) 95 % percentile intervals of precision, recall and F1 over the resampled documents."""
    stats = _prf(counts[draws].sum(axis=1))  # (draws, 3)
    return np.percentile(stats, [2.5, 97.5], axis=0).T


def flat_metrics(data: PushSet, pred: dict[str, Targeting], draws: np.ndarray, today: str) -> dict[str, Any]:
    """The metrics.json figures of one labeller; `_counts` (per-document pair counts) is popped by the caller."""
    r = score(data, pred, today=today)
    ids = list(data.gold)
    out: dict[str, Any] = {"n_documents": r["n_documents"]}
    for name, counts in (
        ("match", _pair_counts(data, pred, ids)),
        ("topics", _set_counts(pred, data, ids, "topics")),
        ("groups", _set_counts(pred, data, ids, "groups")),
    ):
        ci = bootstrap_interval(counts, draws)
        for j, m in enumerate(("precision", "recall", "f1")):
            out[f"{name}_{m}"] = r[name][m]
            out[f"{name}_{m}_ci95"] = [float(ci[j, 0]), float(ci[j, 1])]
        out[f"_{name}_counts"] = counts
    out["audience_accuracy"] = r["audience"]["accuracy"]
    out["jurisdiction_accuracy"] = r["jurisdiction"]["exact_accuracy"]
    for m in ("precision", "recall", "f1"):
        out[f"groups_{m}"] = r["groups"][m]
    out["expired_accuracy"] = r["expired"]["accuracy"]
    out["primary_metric"] = "match_f1"
    out["per_document"] = {
        i: {"match_tp_fp_fn": out["_match_counts"][k].tolist(), "topics": list(pred[i].topics)}
        for k, i in enumerate(ids)
    }
    return out


def _paired_delta(a: dict[str, Any], b: dict[str, Any], draws: np.ndarray) -> dict[str, list[float]]:
    """95 % intervals of a - b for match and topic F1 on the same bootstrap draws."""
    out = {}
    for name in ("match", "topics"):
        fa = _prf(a[f"_{name}_counts"][draws].sum(axis=1))[:, 2]
        fb = _prf(b[f"_{name}_counts"][draws].sum(axis=1))[:, 2]
        out[f"{name}_f1_delta_ci95"] = [float(x) for x in np.percentile(fa - fb, [2.5, 97.5])]
    return out


def _load_encoder(kind: str, model: Path) -> Any:
    from index.encoders import load_encoder

    return load_encoder(kind, model)


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_push_set(args.labels / "doc_labels.jsonl", corpus_path=args.corpus)
    ids = list(data.gold)
    docs = [data.docs[i] for i in ids]
    draws = bootstrap_draws(len(ids), seed=args.seed)
    rules = {i: label_document(data.docs[i], today=args.today) for i in ids}
    variants: dict[str, dict[str, Any]] = {"rules": flat_metrics(data, rules, draws, args.today)}
    info: dict[str, Any] = {"labels": str(args.labels), "cv": args.cv, "seed": args.seed, "bootstrap_draws": len(draws)}
    primary = "rules"
    if args.cv:
        heads = [h.strip() for h in args.heads.split(",") if h.strip()]
        bad = [h for h in heads if h not in HEADS]
        if bad or not heads:
            raise ValueError(f"--heads must list some of {', '.join(HEADS)}, got {args.heads!r}")
        encoder = _load_encoder(args.encoder, args.model)
        x = cached_features(docs, encoder, args.cache, args.max_passages)
        y = topic_matrix([data.gold[i] for i in ids])
        info.update(encoder=encoder.name, max_passages=args.max_passages, folds={})
        for head in heads:
            topics, settings = out_of_fold_topics(ids, x, y, args.cv, head, args.seed)
            hook = _FixedTopics(topics)
            pred = {i: label_document(data.docs[i], today=args.today, topic_predictor=hook) for i in ids}
            variants[head] = flat_metrics(data, pred, draws, args.today)
            variants[head].update(_paired_delta(variants[head], variants["rules"], draws))
            info["folds"][head] = settings
        primary = heads[0]
        # learned audience (without / with the embedding) and the labels' confidence: eval.push_models
        learned, learned_settings = learned_variants(data, x, y, args.cv, args.seed, args.today, draws)
        for name, v in learned.items():
            v.update(_paired_delta(v, variants["rules"], draws))
            variants[name] = v
            info["folds"][name] = learned_settings[name]
        primary = LEARNED_PRIMARY
    elif args.topics == "learned":
        model = TopicModel.load(args.topic_model)
        clf = TopicClassifier(model, _load_encoder(args.encoder, args.model))
        x = cached_features(docs, clf.encoder, args.cache, clf.max_passages)
        proba = model.decode(model.predict_proba(x))
        hook = _FixedTopics({i: tuple(t for t, _ in row) for i, row in zip(ids, proba, strict=True)})
        pred = {i: label_document(data.docs[i], today=args.today, topic_predictor=hook) for i in ids}
        variants["learned"] = flat_metrics(data, pred, draws, args.today)
        info.update(topic_model=str(args.topic_model), in_sample=model.info.get("labels_sha256") == _sha(args.labels))
        primary = "learned"
    elif args.topics == "shipped":
        variants["shipped"], shipped_info = shipped_metrics(data, _load_encoder(args.encoder, args.model), draws, args)
        info.update(shipped_info)
        primary = "shipped"
    if args.cv:
        info["profile_suggestions"] = suggestions(data, encoder)
    for v in variants.values():
        for name in ("match", "topics", "groups"):
            v.pop(f"_{name}_counts")
    top = {k: v for k, v in variants[primary].items() if k != "per_document"}
    return {
        **top,
        "labeller": primary,
        "variants": {k: {kk: vv for kk, vv in v.items() if kk != "per_document"} for k, v in variants.items()},
        "per_document": variants[primary]["per_document"],
        "run": info,
    }


def _sha(labels_dir: Path) -> str:
    return hashlib.sha256((labels_dir / "doc_labels.jsonl").read_bytes()).hexdigest()


def train(args: argparse.Namespace) -> TopicModel:
    """Fit the shipped topic model on every labelled document (C and threshold on `--cv` inner folds)."""
    data = load_push_set(args.labels / "doc_labels.jsonl", corpus_path=args.corpus)
    ids = list(data.gold)
    encoder = _load_encoder(args.encoder, args.model)
    x = cached_features([data.docs[i] for i in ids], encoder, args.cache, args.max_passages)
    y = topic_matrix([data.gold[i] for i in ids])
    folds = assign_folds(ids, args.cv, args.seed)
    m = train_topic_model(x, y, np.array([folds[i] for i in ids]), head=args.head)
    info = {
        **m.info,
        "encoder": encoder.name,
        "max_passages": args.max_passages,
        "labels": args.labels.name,
        "labels_sha256": _sha(args.labels),
        "rebuild": f"python -m eval push train-topics --labels DIR --out {args.out} --head {args.head}",
    }
    model = TopicModel(m.weights, m.bias, m.threshold, m.topics, m.head, m.normalize, m.max_topics, info)
    model.save(args.out)
    return model


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--labels", type=Path, required=True, help="folder with doc_labels.jsonl, profiles.jsonl, matches.tsv"
    )
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="policies.jsonl (default: ../shared)")
    p.add_argument("--encoder", default="onnx", help="encoder kind for the topic model (default onnx)")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="local model folder (make model)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="document feature cache (default var/push-topics)")
    p.add_argument("--max-passages", type=int, default=MAX_PASSAGES, help="passages embedded per document")
    p.add_argument("--seed", type=int, default=SEED, help="fold and bootstrap seed (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train-audience"]:
        from eval.push_models import train_main

        return train_main(argv[1:])
    if argv[:1] == ["train-groups"]:
        from eval.push_groups import train_main as train_groups

        return train_groups(argv[1:])
    training = argv[:1] == ["train-topics"]
    p = argparse.ArgumentParser(prog="python -m eval push" + (" train-topics" if training else ""), description=__doc__)
    _common(p)
    if training:
        argv = argv[1:]
        p.add_argument("--out", type=Path, required=True, help="model stem: writes STEM.json and STEM.npy")
        p.add_argument("--head", choices=HEADS, default="logreg")
        p.add_argument("--cv", type=int, default=5, help="folds that choose C and the threshold (default 5)")
    else:
        p.add_argument("--out", type=Path, required=True, help="output folder for metrics.json")
        p.add_argument("--cv", type=int, default=None, help="K-fold out-of-fold evaluation of the learned parts")
        p.add_argument("--heads", default="logreg", help=f"topic heads with --cv, first is primary ({','.join(HEADS)})")
        p.add_argument("--topics", choices=("rules", "learned", "shipped"), default="rules",
                       help="without --cv: rules, rules + the topic model, or the whole shipped labeller with "
                       "its review gate (default rules)")  # fmt: skip
        p.add_argument("--topic-model", type=Path, default=DEFAULT_TOPIC_MODEL, help="model stem for --topics learned")
        p.add_argument("--today", default=DEFAULT_TODAY, help="ISO date for validity periods (default %(default)s)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s")
    try:
        if args.cv is not None and args.cv < 2:
            raise ValueError(f"--cv must be >= 2, got {args.cv}")
        if args.max_passages < 1:
            raise ValueError(f"--max-passages must be >= 1, got {args.max_passages}")
        if training:
            model = train(args)
            print(f"topic model ({model.head}, threshold {model.threshold}) -> {args.out}.json/.npy")
            return 0
        result = run(args)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (args.out / "metrics.md").write_text(markdown_report(result), encoding="utf-8")
    for name, v in result["variants"].items():
        print(
            f"{name:<10} topics P {v['topics_precision']:.3f} R {v['topics_recall']:.3f} F1 {v['topics_f1']:.3f} "
            f"| match P {v['match_precision']:.3f} R {v['match_recall']:.3f} F1 {v['match_f1']:.3f} "
            f"[{v['match_f1_ci95'][0]:.3f}, {v['match_f1_ci95'][1]:.3f}] | audience {v['audience_accuracy']:.3f}"
            + (f" | auto P {v['auto_precision']:.3f} share {v['auto_share']:.3f}" if "auto_share" in v else "")
        )
    print(f"results in {args.out / 'metrics.json'} and {args.out / 'metrics.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
