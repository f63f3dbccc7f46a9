"""Quality of the push labeller (`corpus.push.labels.label_document`) against push-dev gold labels.

    python -m eval.push [--labels path/to/doc_labels.jsonl] [--today 2026-11-29] [--json out.json]

Labels every document listed in doc_labels.jsonl (text from policies.jsonl) and reports:
- per field: audience exact match and a gold x predicted confusion table; jurisdiction exact
  and level accuracy; groups and topics micro P/R/F1; expired accuracy and P/R;
- evidence validity: every quote a verbatim substring of the text, 10-80 characters;
- matching: predicted labels x profiles.jsonl through `corpus.push.matching.match`, micro P/R/F1
  over (profile, document) pairs against matches.tsv, with the gold labels as the upper bound;
- the documents with the most wrong pairs.

The primary metric is match F1: it is what residents feel.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.loaders import load_jsonl
from corpus.models import Document
from corpus.push.groups import EVIDENCE_MAX, EVIDENCE_MIN
from corpus.push.labels import label_document
from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Targeting

DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_LABELS = DEFAULT_SHARED / "data" / "eval" / "push-dev" / "doc_labels.jsonl"
DEFAULT_TODAY = "2026-11-29"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _read_matches(path: Path) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and parts[0] == "profile_id":
                continue
            if len(parts) >= 2:
                pairs.add((parts[0], parts[1]))
    return pairs


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def _set_prf(pairs: Iterable[tuple[set[str], set[str]]]) -> dict[str, float]:
    tp = fp = fn = 0
    for pred, gold in pairs:
        tp += len(pred & gold)
        fp += len(pred - gold)
        fn += len(gold - pred)
    return _prf(tp, fp, fn)


def _matches(targetings: Iterable[Targeting], profiles: list[Profile]) -> set[tuple[str, str]]:
    return {(p.profile_id, t.doc_id) for t in targetings for p in profiles if match(p, t) is not None}


def evidence_problems(targeting: Targeting, text: str) -> list[str]:
    """Why each evidence quote is invalid (empty when all are verbatim and 10-80 characters)."""
    problems = []
    for group in targeting.groups:
        quote = targeting.evidence.get(group)
        if not quote:
            problems.append(f"{group}: no evidence")
        elif quote not in text:
            problems.append(f"{group}: not verbatim: {quote}")
        elif not EVIDENCE_MIN <= len(quote) <= EVIDENCE_MAX:
            problems.append(f"{group}: {len(quote)} characters: {quote}")
    return problems


@dataclass(frozen=True)
class PushSet:
    """A labelled push set: gold labels and texts of its documents, the profiles, the gold pairs."""

    gold: dict[str, Targeting]
    docs: dict[str, Document]
    profiles: list[Profile]
    gold_pairs: set[tuple[str, str]]


def load_push_set(
    labels_path: Path = DEFAULT_LABELS,
    corpus_path: Path | None = None,
    profiles_path: Path | None = None,
    matches_path: Path | None = None,
) -> PushSet:
    """Read doc_labels.jsonl, the texts from policies.jsonl, profiles.jsonl and matches.tsv (beside the labels)."""
    labels_path = Path(labels_path)
    base = labels_path.parent
    corpus_path = Path(corpus_path) if corpus_path else base.parents[1] / "corpus" / "policies.jsonl"
    profiles_path = Path(profiles_path) if profiles_path else base / "profiles.jsonl"
    matches_path = Path(matches_path) if matches_path else base / "matches.tsv"
    for p in (labels_path, corpus_path, profiles_path, matches_path):
        if not p.is_file():
            raise FileNotFoundError(f"push evaluation input not found: {p}")

    gold = {row["_id"]: Targeting.from_dict(row) for row in _read_jsonl(labels_path)}
    docs: dict[str, Document] = {d.id: d for d in load_jsonl(corpus_path) if d.id in gold}
    missing = sorted(set(gold) - set(docs))
    if missing:
        raise ValueError(f"{len(missing)} labelled documents are not in {corpus_path}: {missing[:5]}")
    profiles = [Profile.from_dict(r) for r in _read_jsonl(profiles_path)]
    gold_pairs = {pair for pair in _read_matches(matches_path) if pair[1] in gold}
    return PushSet(gold, docs, profiles, gold_pairs)


def evaluate(
    labels_path: Path = DEFAULT_LABELS,
    corpus_path: Path | None = None,
    profiles_path: Path | None = None,
    matches_path: Path | None = None,
    today: str = DEFAULT_TODAY,
    worst: int = 10,
) -> dict[str, Any]:
    """Label the gold documents and score every field and the resulting matches (see module doc)."""
    data = load_push_set(labels_path, corpus_path, profiles_path, matches_path)
    pred = {doc_id: label_document(data.docs[doc_id], today=today) for doc_id in data.gold}
    return score(data, pred, today=today, worst=worst)


def score(data: PushSet, pred: dict[str, Targeting], today: str = DEFAULT_TODAY, worst: int = 10) -> dict[str, Any]:
    """Score predicted labels (one per gold document) field by field and through the matching rule."""
    gold, docs, profiles, gold_pairs = data.gold, data.docs, data.profiles, data.gold_pairs
    if set(pred) != set(gold):
        raise ValueError(f"predictions must cover exactly the {len(gold)} gold documents, got {len(pred)}")
    ids = list(gold)
    n = len(ids)

    audience_ok = sum(set(pred[i].audience) == set(gold[i].audience) for i in ids)
    confusion: dict[str, Counter[str]] = {}
    for i in ids:
        confusion.setdefault(_audience_key(gold[i]), Counter())[_audience_key(pred[i])] += 1
    jur_exact = sum(_same_jurisdiction(pred[i], gold[i]) for i in ids)
    jur_level = sum(pred[i].jurisdiction.level is gold[i].jurisdiction.level for i in ids)
    exp_tp = sum(pred[i].expired and gold[i].expired for i in ids)
    exp_fp = sum(pred[i].expired and not gold[i].expired for i in ids)
    exp_fn = sum(gold[i].expired and not pred[i].expired for i in ids)
    exp = _prf(exp_tp, exp_fp, exp_fn)
    exp["accuracy"] = sum(pred[i].expired == gold[i].expired for i in ids) / n

    bad_evidence = {i: evidence_problems(pred[i], docs[i].text) for i in ids}
    bad_evidence = {i: p for i, p in bad_evidence.items() if p}
    n_quotes = sum(len(pred[i].groups) for i in ids)

    pred_pairs = _matches(pred.values(), profiles)
    upper_pairs = _matches(gold.values(), profiles)
    wrong: Counter[str] = Counter()
    for _, doc_id in pred_pairs ^ gold_pairs:
        wrong[doc_id] += 1
    worst_docs = [
        {
            "doc_id": doc_id,
            "title": docs[doc_id].title[:40],
            "wrong_pairs": k,
            "false_pairs": sum(1 for p in pred_pairs - gold_pairs if p[1] == doc_id),
            "missed_pairs": sum(1 for p in gold_pairs - pred_pairs if p[1] == doc_id),
            "predicted": pred[doc_id].to_dict(),
            "gold": gold[doc_id].to_dict(),
        }
        for doc_id, k in wrong.most_common(worst)
    ]

    return {
        "n_documents": n,
        "today": today,
        "audience": {
            "accuracy": audience_ok / n,
            # gold -> predicted -> documents; keys like "enterprise+resident", "none"
            "confusion": {g: dict(c) for g, c in sorted(confusion.items())},
        },
        "jurisdiction": {"exact_accuracy": jur_exact / n, "level_accuracy": jur_level / n},
        "groups": _set_prf((set(pred[i].groups), set(gold[i].groups)) for i in ids),
        "topics": _set_prf((set(pred[i].topics), set(gold[i].topics)) for i in ids),
        "expired": exp,
        "evidence": {
            "quotes": n_quotes,
            "invalid": sum(len(p) for p in bad_evidence.values()),
            "valid_rate": 1 - sum(len(p) for p in bad_evidence.values()) / n_quotes if n_quotes else 1.0,
            "problems": bad_evidence,
        },
        "match": _prf(len(pred_pairs & gold_pairs), len(pred_pairs - gold_pairs), len(gold_pairs - pred_pairs)),
        "match_upper_bound": _prf(
            len(upper_pairs & gold_pairs), len(upper_pairs - gold_pairs), len(gold_pairs - upper_pairs)
        ),
        "worst_documents": worst_docs,
        "primary_metric": "match.f1",
        "predictions": {i: pred[i].to_dict() for i in ids},
    }


def _audience_key(t: Targeting) -> str:
    return "+".join(sorted(a.value for a in t.audience)) or "none"


def _same_jurisdiction(a: Targeting, b: Targeting) -> bool:
    ja, jb = a.jurisdiction, b.jurisdiction
    return (ja.level, ja.province, ja.city, set(ja.districts)) == (jb.level, jb.province, jb.city, set(jb.districts))


def format_report(r: dict[str, Any]) -> str:
    def prf(d: dict[str, float]) -> str:
        return (
            f"P {d['precision']:.3f}  R {d['recall']:.3f}  F1 {d['f1']:.3f}  (tp {d['tp']}, fp {d['fp']}, fn {d['fn']})"
        )

    lines = [
        f"push labels on {r['n_documents']} documents (today = {r['today']})",
        f"  audience exact         {r['audience']['accuracy']:.3f}",
        f"  jurisdiction exact     {r['jurisdiction']['exact_accuracy']:.3f}",
        f"  jurisdiction level     {r['jurisdiction']['level_accuracy']:.3f}",
        f"  groups                 {prf(r['groups'])}",
        f"  topics                 {prf(r['topics'])}",
        f"  expired                acc {r['expired']['accuracy']:.3f}  {prf(r['expired'])}",
        f"  evidence               {r['evidence']['quotes']} quotes, {r['evidence']['invalid']} invalid",
        f"  match                  {prf(r['match'])}",
        f"  match (gold labels)    {prf(r['match_upper_bound'])}",
        "audience confusion (rows gold, columns predicted):",
    ]
    keys = {"resident": "res", "enterprise": "ent", "enterprise+resident": "both", "none": "none"}
    confusion = r["audience"]["confusion"]
    lines.append("  " + " " * 8 + "".join(f"{short:>6}" for short in keys.values()))
    for g, short in keys.items():
        row = confusion.get(g, {})
        lines.append(f"  {short:<8}" + "".join(f"{row.get(k, 0):>6}" for k in keys))
    lines.append("worst documents (wrong profile-document pairs):")
    for w in r["worst_documents"]:
        lines.append(
            f"  {w['wrong_pairs']:>3}  (+{w['false_pairs']} / -{w['missed_pairs']})  "
            f"{w['doc_id'][:24]:<24} {w['title']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, print_fn: Callable[[str], None] = print) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.push", description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="gold doc_labels.jsonl (default: push-dev)")
    ap.add_argument("--corpus", type=Path, default=None, help="policies.jsonl (default: ../../corpus beside the set)")
    ap.add_argument("--today", default=DEFAULT_TODAY, help="ISO date for validity periods (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="write the full report as JSON here")
    args = ap.parse_args(argv)
    try:
        report = evaluate(args.labels, corpus_path=args.corpus, today=args.today)
    except (FileNotFoundError, ValueError) as e:
        print_fn(str(e))
        return 2
    print_fn(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
