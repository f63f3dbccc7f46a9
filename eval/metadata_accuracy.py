"""Accuracy of metadata extraction against the sources that carry the field.

    python -m eval.metadata_accuracy [--shared DIR] [--out metrics.json]

For each field the extractor sees only title and text (never the source field) and is
scored on the documents whose source has the field:
- govcn-sc-* (State Council): doc_number, issuer, publish_date (written_date also accepted);
- sdreg-* (Shandong regulations): effective_date against `valid_from`;
- ptc-* : doc_number found in the text is checked for form only (no gold field);
- ptc-*: the source `issuer` is a place name, checked against the extracted region;
- policy_metadata.jsonl (43k titles of 12 governments): region from titles that name
  their government; doc_type and region coverage on all titles.
Caveat: sdreg `valid_from` is often the latest amendment's date while the text keeps the
original 自…起施行 date, so that row measures agreement more than accuracy.

accuracy = correct / (rows with a gold value); coverage = extracted / rows with a gold value.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.metadata import (
    extract_doc_number,
    extract_doc_type,
    extract_effective_date,
    extract_issuer,
    extract_publish_date,
    extract_region,
    normalize_doc_number,
)

_GOVERNMENTS = {
    "Shanghai Municipal Government": "上海市",
    "Guangdong Provincial Government": "广东省",
    "Shanxi Provincial Government": "山西省",
    "Henan Provincial Government": "河南省",
    "Yunnan Provincial Government": "云南省",
    "Sichuan Provincial Government": "四川省",
    "Liaoning Provincial Government": "辽宁省",
    "Hainan Provincial Government": "海南省",
    "Hubei Provincial Government": "湖北省",
    "Ningxia Provincial Government": "宁夏回族自治区",
    "Chongqing Municipal Government": "重庆市",
}
DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@dataclass
class FieldScore:
    source: str
    field: str
    n_gold: int = 0
    extracted: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n_gold if self.n_gold else 0.0

    @property
    def coverage(self) -> float:
        return self.extracted / self.n_gold if self.n_gold else 0.0

    def add(self, predicted: str | None, ok: bool) -> None:
        self.n_gold += 1
        self.extracted += predicted is not None
        self.correct += bool(predicted is not None and ok)


def _rows(path: Path) -> Iterable[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _same_issuer(pred: str | None, gold: str) -> bool:
    if pred is None:
        return False
    split = re.compile(r"[、，,\s]+")
    return set(split.split(pred)) == set(split.split(gold))


def evaluate(shared: Path, metadata_limit: int | None = None) -> list[FieldScore]:
    corpus = shared / "data" / "corpus" / "policies.jsonl"
    scores: dict[tuple[str, str], FieldScore] = {}

    def score(source: str, field: str) -> FieldScore:
        return scores.setdefault((source, field), FieldScore(source, field))

    for row in _rows(corpus):
        rid, title, text = row["_id"], row.get("title") or "", row["text"]
        if rid.startswith("govcn-sc-"):
            num = extract_doc_number(title, text)
            score("govcn-sc", "doc_number").add(num, num == normalize_doc_number(row["doc_number"]))
            iss = extract_issuer(title, text, num)
            score("govcn-sc", "issuer").add(iss, _same_issuer(iss, row["issuer"]))
            date = extract_publish_date(title, text)
            # the text's signature date is the 成文日期; the portal's 发布日期 comes days later
            gold_dates = {row.get("written_date"), row.get("publish_date")}
            score("govcn-sc", "date (written or publish)").add(date, date in gold_dates)
        elif rid.startswith("sdreg-") and row.get("valid_from"):
            eff = extract_effective_date(text)
            score("sdreg", "effective_date").add(eff, eff == row["valid_from"])
        if row.get("issuer") and rid.startswith("ptc-"):
            # ptc "issuer" is a place name (北京): check the extracted region names it
            reg = extract_region(title, extract_issuer(title, text))
            score("ptc", "region").add(reg, bool(reg and row["issuer"] in reg))

    meta = shared / "data" / "metadata" / "policy_metadata.jsonl"
    if meta.exists():
        for i, row in enumerate(_rows(meta)):
            if metadata_limit is not None and i >= metadata_limit:
                break
            title = row.get("title") or ""
            province = _GOVERNMENTS.get(row.get("government", ""))
            if province and title.startswith(province[:2]):
                # titles naming their government: the extracted region must start with that province
                reg = extract_region(title)
                score("policy_metadata", "region (titles naming it)").add(reg, bool(reg and reg.startswith(province)))
            dt = extract_doc_type(title)
            s = score("policy_metadata", "doc_type (coverage only)")
            s.add(dt, True)
            reg = extract_region(title)
            s = score("policy_metadata", "region (coverage only)")
            s.add(reg, True)
    return list(scores.values())


def _format(scores: list[FieldScore]) -> str:
    lines = [f"{'source':<18} {'field':<28} {'n':>6} {'coverage':>9} {'accuracy':>9}"]
    for s in scores:
        lines.append(f"{s.source:<18} {s.field:<28} {s.n_gold:>6} {s.coverage:>9.3f} {s.accuracy:>9.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, print_fn: Callable[[str], None] = print) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.metadata_accuracy", description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared/ folder (default: ../shared)")
    ap.add_argument("--out", type=Path, help="write per-field figures as JSON here")
    ap.add_argument("--limit", type=int, default=None, help="read at most this many policy_metadata rows")
    args = ap.parse_args(argv)
    if not (args.shared / "data" / "corpus" / "policies.jsonl").exists():
        print_fn(f"shared data not found under {args.shared} (expected data/corpus/policies.jsonl)")
        return 2
    scores = evaluate(args.shared, args.limit)
    print_fn(_format(scores))
    if args.out:
        payload = {
            "fields": [{**asdict(s), "accuracy": s.accuracy, "coverage": s.coverage} for s in scores],
            "primary_metric": "govcn-sc/doc_number accuracy",
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
