"""Lay-to-legal query expansion on stard-dev, learned and judged out of fold.

    python -m eval.expansion_lab --out DIR [--bm25-only] [--folds 5] [--seed 0] [--write-table PATH]

No hand-written lexicon: one fitted by reading stard-dev questions would be tuned on them.
Instead, for each fold, the expansion table is mined from the *other* folds' questions and
the articles judged relevant to them: a question word t expands to a legal word u when u is
in the judged articles of at least MIN_SUPPORT training questions holding t, of at least
MIN_PRECISION of them, and MIN_LIFT times more often than in the judged articles of any
question. The table is applied as abbreviations.json is (index.query_terms.expand_terms: the
expansions join the BM25 query terms), to the held-out fold only. Thresholds are fixed here,
before any figure. BM25 (and the hybrid fusion when the index has an encoder) with and
without the expansion are measured on the same questions, with the dense side beside them:
what each recovers of the questions BM25 alone misses (no judged article in its top 10).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval import metrics as M
from eval.ranker import REPORT_METRICS, _open, _ranked, folds_of
from index.config import SearchMode
from index.query_terms import GENERIC_TERMS, abbreviations

log = logging.getLogger(__name__)

MIN_SUPPORT = 3  # training questions with t whose judged articles hold u
MIN_PRECISION = 0.4  # of the training questions holding t
MIN_LIFT = 3.0  # against u's rate over every training question's judged articles
MAX_EXPANSIONS = 3
MIN_IDF = 2.0  # u must be a specific word of the corpus, not 的 / 人民法院
# Article numbers (第一千零六十二条 -> 一千, 第七) co-occur with whole codes, not with any wording.
_NUMERAL = re.compile(r"^[第零〇一二三四五六七八九十百千万两条章节款项]+$")


def _informative(tokens: Sequence[str], vocab: Any) -> list[str]:
    return list(dict.fromkeys(t for t in tokens if len(t) >= 2 and t not in GENERIC_TERMS and t in vocab))


def mine(
    train: Sequence[str], q_tokens: Mapping[str, list[str]], rel_tokens: Mapping[str, set[str]]
) -> dict[str, tuple[str, ...]]:
    n = len(train)
    c_t: Counter[str] = Counter()
    c_u: Counter[str] = Counter()
    c_tu: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for q in train:
        qs = set(q_tokens[q])
        rs = rel_tokens[q]
        c_u.update(rs)
        for t in qs:
            c_t[t] += 1
            c_tu[t].update(u for u in rs if u not in qs)
    table: dict[str, tuple[str, ...]] = {}
    for t, cnt in c_tu.items():
        cands = []
        for u, k in cnt.items():
            prec = k / c_t[t]
            lift = prec / (c_u[u] / n)
            if k >= MIN_SUPPORT and prec >= MIN_PRECISION and lift >= MIN_LIFT and t not in u:
                cands.append((prec * np.log(lift), u))
        if cands:
            table[t] = tuple(u for _, u in sorted(cands, reverse=True)[:MAX_EXPANSIONS])
    return table


def main(argv: Sequence[str] | None = None) -> int:
    from eval.beir import dataset_paths, load_set
    from index import engine
    from index.encoders import load_encoder

    p = argparse.ArgumentParser(prog="python -m eval.expansion_lab")
    p.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    p.add_argument("--index-dir", type=Path, default=Path("var/index-cache"))
    p.add_argument("--bm25-only", action="store_true")
    p.add_argument("--corpus", type=Path, help="another law corpus than stard-dev's (e.g. only the cited laws)")
    p.add_argument(
        "--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "multilingual-e5-small"
    )
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--write-table", type=Path, help="mine the table from every question and write it here")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    qp, rp, cp = dataset_paths("stard-dev", args.shared)
    data = load_set(qp, rp, args.corpus or cp, name="stard-dev")
    index = _open(data, args.index_dir, None if args.bm25_only else load_encoder("onnx", args.model))
    index.ranker = None
    level = "article"
    qids = data.judged_ids()
    tok = index.tokenizer.tokenize
    vocab = index.bm25.vocab
    q_tokens = {q: _informative(tok(data.queries[q].text), vocab) for q in qids}
    by_source: defaultdict[str, list[int]] = defaultdict(list)
    for r, ps in enumerate(index.passages):
        for s in ps.source_ids:
            by_source[s].append(r)
    words = list(vocab)
    idf_all = dict(zip(words, index.bm25.idf_of([vocab[w] for w in words]).tolist(), strict=True))
    rel_tokens = {}
    for q in qids:
        toks: set[str] = set()
        for a, g in data.qrels[q].items():
            if g > 0:
                for r in by_source.get(a, ()):
                    toks.update(
                        t
                        for t in tok(index.passages[r].text)
                        if len(t) >= 2 and idf_all.get(t, 0) >= MIN_IDF and not _NUMERAL.match(t)
                    )
        rel_tokens[q] = toks
    fold = folds_of(qids, args.folds, args.seed)
    modes = [SearchMode.BM25] + ([] if index.dense is None else [SearchMode.DENSE, SearchMode.HYBRID])
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for m in modes:
        runs[m.value] = {q: _ranked(index, data.queries[q].text, m, level) for q in qids}
    orig = engine.expand_terms
    tables = []
    for f in range(args.folds):
        table = mine([q for q in qids if fold[q] != f], q_tokens, rel_tokens)
        tables.append(len(table))
        merged = {**abbreviations(), **table}  # the shipped abbreviations stay on, as in the service
        engine.expand_terms = lambda query, tokens, tokenize, _t=merged: orig(query, tokens, tokenize, _t)  # type: ignore[assignment]
        for m in modes:
            if m is SearchMode.DENSE:
                continue
            nm = f"{m.value}+expansion"
            runs.setdefault(nm, {})
            for q in qids:
                if fold[q] == f:
                    runs[nm][q] = _ranked(index, data.queries[q].text, m, level)
        engine.expand_terms = orig
        log.info("fold %d: %d table entries", f, len(table))
    qrels = {q: data.qrels[q] for q in qids}
    pq = {nm: M.evaluate_run(r, qrels) for nm, r in runs.items()}
    table_out = {
        nm: {m: round(float(np.mean([v[m] for v in x.values()])), 4) for m in REPORT_METRICS} for nm, x in pq.items()
    }
    miss = [q for q in qids if pq["bm25"][q]["recall@10"] == 0]
    recovered = {nm: sum(pq[nm][q]["recall@10"] > 0 for q in miss) for nm in pq if nm != "bm25"}
    wl = {}
    for nm, base in (("bm25+expansion", "bm25"), ("hybrid+expansion", "hybrid")):
        if nm in pq:
            d = [pq[nm][q]["ndcg@10"] - pq[base][q]["ndcg@10"] for q in qids]
            wl[f"{nm}_vs_{base}"] = [int(sum(x > 1e-9 for x in d)), int(sum(x < -1e-9 for x in d))]
    full = mine(qids, q_tokens, rel_tokens)
    report = {
        "queries": len(qids),
        "metrics": table_out,
        "bm25_misses_top10": len(miss),
        "recovered_top10": recovered,
        "wins_losses_ndcg@10": wl,
        "table_sizes_per_fold": tables,
        "table_from_all_sample": dict(list(sorted(full.items()))[:80]),
        "thresholds": {"support": MIN_SUPPORT, "precision": MIN_PRECISION, "lift": MIN_LIFT, "min_idf": MIN_IDF},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "expansion.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "table_from_all_sample"}, ensure_ascii=False, indent=1))
    if args.write_table:
        entries = [{"term": t, "expansions": list(e)} for t, e in sorted(full.items())]
        args.write_table.write_text(
            json.dumps({"version": 1, "entries": entries}, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
