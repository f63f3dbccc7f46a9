"""Train and judge the learned ranker (index/ranking.py) over several BEIR sets at once.

    python -m eval train-ranker --out runs/ranker [--sets ncp-dev,resident-qa-dev,stard-dev]
        [--folds 5] [--seed 0] [--bm25-only stard-dev] [--save index/resources/ranker.json]

One model for all sets. Each judged query contributes its hybrid candidates (features from
`PolicyIndex.candidates`, labels from the qrels at the set's judgment level: documents or
articles). Queries are split into folds (grouped by query, fixed seed); each fold's queries
are searched by the real index with the model trained on the other folds, so the figures
are out of fold and measured on exactly what the service would return. BM25, dense and
today's fusion are measured in the same run on the same queries. The shipped model is then
trained on every query and saved with its parameters, figures and this command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval import harness
from eval import metrics as M
from eval import ranker_models as RM
from eval.beir import DATASETS, BeirSet, dataset_paths, load_set
from index.config import IndexConfig, SearchMode
from index.ranking import DEFAULT_RANKER_PATH, FEATURES, LearnedRanker

log = logging.getLogger(__name__)

# Fixed before any figure was seen (not tuned): small trees, many rows per leaf, so the model
# learns how to weigh signals rather than which questions are in the dev sets.
PARAMS: dict[str, Any] = RM.BASE_PARAMS  # the same parameters the recipes of ranker_models train with
NUM_ROUNDS = 150  # prediction cost grows with trees: 150 keeps the ranker to a few ms per query
# Chosen out of fold among the recipes of eval/ranker_models.py (python -m eval.ranker_lab compare):
# every set weighs the same (112 resident questions are not drowned by 1,393 others), and only the
# fusion's best 100 candidates are re-ordered (the rest keep the fusion's order below them), so
# recall@100 stays the fusion's and the trees walk 100 rows, not ~400.
WEIGHTS = "set"  # "none": one query, one weight
RERANK_TOP = 100
BLEND_FUSED = 0.0  # boost from this multiple of the normalised fusion score
LINEAR = False  # a linear listwise model instead of trees
MAX_LABEL = 3
TOP_K = 100
REPORT_METRICS = ("ndcg@10", "recall@5", "recall@10", "recall@100")


@dataclass
class SetData:
    name: str
    data: BeirSet
    index: Any
    level: str
    queries: list[str]  # judged query ids
    X: list[np.ndarray]  # per query: features of its candidates
    y: list[np.ndarray]


def _labels(index: Any, rows: np.ndarray, qrel: dict[str, int], level: str) -> np.ndarray:
    out = np.zeros(len(rows), dtype=np.int32)
    for i, r in enumerate(rows):
        p = index.passages[int(r)]
        units = (p.doc_id,) if level == "document" else p.source_ids
        out[i] = min(MAX_LABEL, max((qrel.get(u, 0) for u in units), default=0))
    return out


def collect(name: str, data: BeirSet, index: Any, level: str) -> SetData:
    sd = SetData(name, data, index, level, [], [], [])
    for qid in data.judged_ids():
        got = index.candidates(data.queries[qid].text, TOP_K, None, SearchMode.HYBRID)
        if got is None:
            X, y = np.zeros((0, len(FEATURES))), np.zeros(0, dtype=np.int32)
        else:
            c, _ = got
            X = index._features.features(c, index.passages, index.documents)
            y = _labels(index, c.rows, data.qrels[qid], level)
        sd.queries.append(qid)
        sd.X.append(X)
        sd.y.append(y)
    return sd


def recipe() -> RM.Variant:
    """The shipped recipe, read from the module constants at call time."""
    return RM.Variant(
        "shipped",
        params=PARAMS,
        rounds=NUM_ROUNDS,
        weights=WEIGHTS,
        init_fused=BLEND_FUSED,
        linear=LINEAR,
        rerank_top=RERANK_TOP,
    )


def train(
    X: list[np.ndarray],
    y: list[np.ndarray],
    info: dict[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> LearnedRanker:
    # a query with no relevant candidate teaches nothing
    if not any(len(yi) and yi.max() > 0 for yi in y):
        raise ValueError("no query has a relevant candidate to learn from")
    empty = np.zeros(0)
    qs = [RM.QData(Xi, yi, empty, empty, empty, []) for Xi, yi in zip(X, y, strict=True)]
    model = RM.Model(recipe()).fit(qs, list(weights) if weights is not None else [1.0] * len(qs))
    return RM.to_ranker(model, info)


def set_weights(sets: Sequence[SetData]) -> dict[str, float]:
    """Weight of one query of each set under the recipe's scheme."""
    return dict(zip([s.name for s in sets], RM.query_weights([len(s.queries) for s in sets], WEIGHTS), strict=True))


def _ranked(index: Any, query: str, mode: SearchMode, level: str) -> dict[str, float]:
    try:
        hits = index.search(query, TOP_K, None, mode=mode)
    except ValueError:
        hits = []
    return dict(harness.documents_from_hits(hits, level)[:TOP_K])


def _recipe_info() -> dict[str, Any]:
    r = recipe()
    return {
        "kind": "linear" if r.linear else "trees",
        "params": None if r.linear else r.params,
        "rounds": None if r.linear else r.rounds,
        "query_weights": r.weights,
        "blend_fused": r.init_fused,
        "rerank_top": r.rerank_top,
    }


def folds_of(keys: Sequence[str], k: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    return {keys[int(j)]: i % k for i, j in enumerate(order)}


def run(sets: list[SetData], k: int, seed: int) -> dict[str, Any]:
    """Out-of-fold ranker runs beside BM25, dense and fusion on every set; per-query figures."""
    keys = [f"{s.name}\t{q}" for s in sets for q in s.queries]
    fold = folds_of(keys, k, seed)
    runs: dict[str, dict[str, dict[str, dict[str, float]]]] = {s.name: {} for s in sets}
    sw = set_weights(sets)
    for s in sets:
        for mode in (SearchMode.BM25, SearchMode.DENSE, SearchMode.HYBRID):
            if mode is SearchMode.DENSE and s.index.dense is None:
                continue
            name = "fusion" if mode is SearchMode.HYBRID else mode.value
            s.index.ranker = None
            runs[s.name][name] = {q: _ranked(s.index, s.data.queries[q].text, mode, s.level) for q in s.queries}
        runs[s.name]["ranker"] = {}
    for f in range(k):
        tr = [(s, i) for s in sets for i, q in enumerate(s.queries) if fold[f"{s.name}\t{q}"] != f]
        model = train([s.X[i] for s, i in tr], [s.y[i] for s, i in tr], weights=[sw[s.name] for s, _ in tr])
        for s in sets:
            s.index.ranker = model
            for q in s.queries:
                if fold[f"{s.name}\t{q}"] == f:
                    runs[s.name]["ranker"][q] = _ranked(s.index, s.data.queries[q].text, SearchMode.HYBRID, s.level)
            s.index.ranker = None
        log.info("fold %d/%d done", f + 1, k)
    report: dict[str, Any] = {"folds": k, "seed": seed, "recipe": _recipe_info(), "sets": {}}
    for s in sets:
        qrels = {q: s.data.qrels[q] for q in s.queries}
        per_cfg = {}
        per_query = {}
        for name, run_ in runs[s.name].items():
            pq = M.evaluate_run(run_, qrels)
            per_query[name] = pq
            per_cfg[name] = {m: round(float(np.mean([v[m] for v in pq.values()])), 4) for m in REPORT_METRICS}
        wl = {}
        for base in ("bm25", "fusion"):
            d = [per_query["ranker"][q]["ndcg@10"] - per_query[base][q]["ndcg@10"] for q in s.queries]
            wl[f"ranker_vs_{base}"] = {
                "wins": int(sum(x > 1e-9 for x in d)),
                "losses": int(sum(x < -1e-9 for x in d)),
                "ties": int(sum(abs(x) <= 1e-9 for x in d)),
            }
        n_rel_cand = sum(1 for y in s.y if len(y) and y.max() > 0)
        report["sets"][s.name] = {
            "judged_on": s.level,
            "queries": len(s.queries),
            "queries_with_relevant_candidate": n_rel_cand,
            "dense": s.index.dense is not None,
            "metrics": per_cfg,
            "wins_losses_ndcg@10": wl,
            "per_query_ndcg@10": {
                q: {name: round(per_query[name][q]["ndcg@10"], 4) for name in per_query} for q in s.queries
            },
        }
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Learned ranker, out of fold ({report['folds']} folds grouped by query, seed {report['seed']})",
        "",
        "| set | judged on | retriever | " + " | ".join(REPORT_METRICS) + " |",
        "|---|---|---|" + "---|" * len(REPORT_METRICS),
    ]
    for name, s in report["sets"].items():
        for cfg, m in s["metrics"].items():
            lines.append(
                f"| {name} | {s['judged_on']} | {cfg} | " + " | ".join(f"{m[k]:.3f}" for k in REPORT_METRICS) + " |"
            )
    lines.append("")
    for name, s in report["sets"].items():
        for vs, wl in s["wins_losses_ndcg@10"].items():
            lines.append(f"- {name}, {vs}: {wl['wins']} wins / {wl['losses']} losses / {wl['ties']} ties (nDCG@10)")
    return "\n".join(lines) + "\n"


def _open(data: BeirSet, cache: Path, encoder: Any) -> Any:
    from corpus.library import link_documents
    from index.engine import PolicyIndex

    assert data.corpus_path is not None
    return PolicyIndex.open_or_build(data.corpus_path, cache, IndexConfig(), encoder=encoder, prepare=link_documents)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval train-ranker", description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", default="ncp-dev,resident-qa-dev,stard-dev", help="comma-separated named sets")
    p.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    p.add_argument("--index-dir", type=Path, default=Path("var/index-cache"), help="index cache root")
    p.add_argument("--index-dir-for", action="append", default=[], metavar="SET=DIR", help="cache root of one set")
    p.add_argument("--bm25-only", default="", help="sets indexed without the encoder (comma-separated)")
    p.add_argument("--encoder", default="onnx")
    p.add_argument(
        "--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "multilingual-e5-small"
    )
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="first N judged queries of each set (for a quick run)")
    p.add_argument("--out", type=Path, required=True, help="folder for ranker-cv.json and ranker-cv.md")
    p.add_argument(
        "--save", type=Path, help=f"write the model trained on every query here (e.g. {DEFAULT_RANKER_PATH})"
    )
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    names = [n for n in args.sets.split(",") if n]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or args.folds < 2:
        print(f"error: sets must be among {sorted(DATASETS)} and --folds >= 2", file=sys.stderr)
        return 2
    bm25_only = {n for n in args.bm25_only.split(",") if n}
    dirs = dict(x.split("=", 1) for x in args.index_dir_for)
    from index.encoders import load_encoder

    encoder = load_encoder(args.encoder, args.model)
    sets: list[SetData] = []
    opened: dict[tuple[str, str, bool], Any] = {}
    t0 = time.perf_counter()
    for n in names:
        q, r, c = dataset_paths(n, args.shared)
        data = load_set(q, r, c, name=n)
        if args.limit:
            data = data.limit(args.limit)
        root = Path(dirs.get(n, args.index_dir))
        key = (str(c), str(root), n in bm25_only)
        if key not in opened:
            opened[key] = _open(data, root, None if n in bm25_only else encoder)
        index = opened[key]
        sources = {s for p_ in index.passages for s in p_.source_ids}
        level = harness.judgment_level(data.qrels, index.documents.keys(), sources)
        sets.append(collect(n, data, index, level))
        log.info(
            "%s: %d judged queries, judged on %s (%.0fs)", n, len(sets[-1].queries), level, time.perf_counter() - t0
        )
    report = run(sets, args.folds, args.seed)
    # the command that rebuilds it anywhere: where this machine kept its caches is left out
    command = (
        f"python -m eval train-ranker --sets {','.join(names)} --folds {args.folds} --seed {args.seed}"
        + (f" --bm25-only {','.join(sorted(bm25_only))}" if bm25_only else "")
        + (f" --limit {args.limit}" if args.limit else "")
        + " --out runs/ranker --save index/resources/ranker.json"
    )
    report["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranker-cv.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / "ranker-cv.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    if args.save:
        info = {
            "command": command,
            "trained_on": {s.name: len(s.queries) for s in sets},
            "dense": {s.name: s.index.dense is not None for s in sets},
            "recipe": _recipe_info(),
            "out_of_fold": {n: s["metrics"]["ranker"] for n, s in report["sets"].items()},
            "reference_fusion": {n: s["metrics"]["fusion"] for n, s in report["sets"].items()},
            "trained_at": time.strftime("%Y-%m-%d"),
        }
        sw = set_weights(sets)
        model = train(
            [x for s in sets for x in s.X],
            [y for s in sets for y in s.y],
            info,
            [sw[s.name] for s in sets for _ in s.X],
        )
        model.save(args.save)
        print(f"model saved to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
