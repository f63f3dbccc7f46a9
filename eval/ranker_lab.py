"""Variants of the learned ranker, judged out of fold on candidates collected once.

    python -m eval.ranker_lab collect --out DIR [--sets ...] [--bm25-only SET]   # features + labels per set
    python -m eval.ranker_lab compare --cache DIR [--variants a,b] [--nested]    # OOF table per variant

`collect` runs retrieval once per judged query (what `PolicyIndex.candidates` returns, the
features the engine computes, labels, stale and lookup flags, the judged unit of every
candidate) and the BM25-only and dense-only searches, as eval/ranker.py does. `compare`
re-orders those candidates exactly as `PolicyIndex.search` would for a given score (sigmoid,
stale penalty, lookup bonus, top 100, units by best passage), so a variant's out-of-fold figure
is what the service would return with it; today's fusion is re-ordered the same way and checked
against the real search. Folds are eval/ranker.py's (grouped by query, same seed). `--nested`
picks the variant inside each outer fold by an inner CV on its training queries, so the
figure of "the chosen variant" carries no selection bias.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval import metrics as M
from eval import ranker_models as RM
from eval.ranker import REPORT_METRICS, TOP_K, folds_of
from eval.ranker_models import VARIANTS, Model, QData, Variant
from index.engine import LOOKUP_BONUS
from index.ranking import FEATURES, sigmoid

log = logging.getLogger(__name__)
COL = {f: i for i, f in enumerate(FEATURES)}


@dataclass
class SetCache:
    name: str
    level: str
    qids: list[str]
    qrels: dict[str, dict[str, int]]
    q: list[QData]
    ref: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # bm25/dense/fusion online runs


# ---------------------------------------------------------------- collect
def collect(args: argparse.Namespace) -> int:
    from eval import harness
    from eval.beir import dataset_paths, load_set
    from eval.ranker import _labels, _open, _ranked
    from index.config import SearchMode
    from index.encoders import load_encoder

    encoder = load_encoder(args.encoder, args.model)
    bm25_only = {n for n in args.bm25_only.split(",") if n}
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    opened: dict[tuple[str, bool], Any] = {}
    for name in [n for n in args.sets.split(",") if n]:
        t0 = time.perf_counter()
        qp, rp, cp = dataset_paths(name, args.shared)
        data = load_set(qp, rp, cp, name=name)
        key = (str(cp), name in bm25_only)
        if key not in opened:
            opened[key] = _open(data, args.index_dir, None if name in bm25_only else encoder)
        index = opened[key]
        sources = {s for p in index.passages for s in p.source_ids}
        level = harness.judgment_level(data.qrels, index.documents.keys(), sources)
        index.ranker = None
        recs, arrays = [], {}
        for i, qid in enumerate(data.judged_ids()):
            got = index.candidates(data.queries[qid].text, TOP_K, None, SearchMode.HYBRID)
            if got is None:
                recs.append({"qid": qid, "units": []})
                continue
            c, _ = got
            X = index._features.features(c, index.passages, index.documents)
            arrays[f"X{i}"] = X
            arrays[f"y{i}"] = _labels(index, c.rows, data.qrels[qid], level)
            arrays[f"f{i}"] = np.asarray(c.fused, dtype=np.float64)
            arrays[f"s{i}"] = index._stale_rows(c.rows)
            arrays[f"l{i}"] = np.asarray(c.looked_up, dtype=bool)
            ps = [index.passages[int(r)] for r in c.rows]
            recs.append({"qid": qid, "units": [[p.doc_id] if level == "document" else list(p.source_ids) for p in ps]})
        ref = {}
        for mode in (SearchMode.BM25, SearchMode.DENSE, SearchMode.HYBRID):
            if mode is SearchMode.DENSE and index.dense is None:
                continue
            nm = "fusion" if mode is SearchMode.HYBRID else mode.value
            ref[nm] = {r["qid"]: _ranked(index, data.queries[r["qid"]].text, mode, level) for r in recs}
        np.savez_compressed(out / f"{name}.npz", **arrays)
        meta = {
            "name": name,
            "level": level,
            "stale_penalty": index.config.stale_penalty,
            "dense": index.dense is not None,
            "qrels": {r["qid"]: data.qrels[r["qid"]] for r in recs},
            "queries": recs,
            "ref": ref,
        }
        (out / f"{name}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        log.info("%s: %d queries, %s, %.0fs", name, len(recs), level, time.perf_counter() - t0)
    return 0


def load_cache(d: Path, names: Sequence[str]) -> list[SetCache]:
    sets = []
    for name in names:
        meta = json.loads((d / f"{name}.json").read_text(encoding="utf-8"))
        z = np.load(d / f"{name}.npz")
        qs = []
        for i, r in enumerate(meta["queries"]):
            if f"X{i}" not in z:
                qs.append(QData(np.zeros((0, len(FEATURES))), np.zeros(0, int), *(np.zeros(0),) * 3, []))
                continue
            qs.append(QData(z[f"X{i}"], z[f"y{i}"], z[f"f{i}"], z[f"s{i}"], z[f"l{i}"], [tuple(u) for u in r["units"]]))
        sc = SetCache(name, meta["level"], [r["qid"] for r in meta["queries"]], meta["qrels"], qs, meta["ref"])
        sc.stale_penalty = meta["stale_penalty"]  # type: ignore[attr-defined]
        sets.append(sc)
    return sets


# ---------------------------------------------------------------- ordering as PolicyIndex.search does
def ordered_run(q: QData, score: np.ndarray, penalty: float, squash: bool) -> dict[str, float]:
    if not len(q.units):
        return {}
    s = sigmoid(score) if squash else score.astype(np.float64)
    if penalty < 1.0:
        s = np.where(q.stale, s * penalty, s)
    if q.looked.any():
        s = s + q.looked * LOOKUP_BONUS * max(1.0, float(np.abs(s).max()))
    order = np.argsort(-s, kind="stable")[:TOP_K]
    best: dict[str, float] = {}
    for i in order:
        for u in q.units[i]:
            if u not in best or s[i] > best[u]:
                best[u] = float(s[i])
    ranked = M.rank(best)[:TOP_K]
    return {u: best[u] for u in ranked}


def query_weights(sets: list[SetCache], scheme: str) -> dict[str, list[float]]:
    ws = RM.query_weights([len(s.q) for s in sets], scheme)
    return {s.name: [w] * len(s.q) for s, w in zip(sets, ws, strict=True)}


# ---------------------------------------------------------------- CV
def oof_scores(
    sets: list[SetCache], v: Variant, fold: dict[str, int], k: int, only: Callable[[str], bool] = lambda key: True
) -> dict[str, list[np.ndarray | None]]:
    w = query_weights(sets, v.weights)
    out: dict[str, list[np.ndarray | None]] = {s.name: [None] * len(s.q) for s in sets}
    for f in range(k):
        tr_q, tr_w = [], []
        for s in sets:
            for i, qid in enumerate(s.qids):
                key = f"{s.name}\t{qid}"
                if only(key) and fold[key] != f:
                    tr_q.append(s.q[i])
                    tr_w.append(w[s.name][i])
        model = Model(v).fit(tr_q, tr_w)
        for s in sets:
            for i, qid in enumerate(s.qids):
                key = f"{s.name}\t{qid}"
                if only(key) and fold[key] == f:
                    out[s.name][i] = model.score(s.q[i])
    return out


def runs_of(s: SetCache, scores: list[np.ndarray | None], squash: bool) -> dict[str, dict[str, float]]:
    pen = s.stale_penalty  # type: ignore[attr-defined]
    return {
        qid: ordered_run(q, sc if sc is not None else q.fused, pen, squash if sc is not None else False)
        for qid, q, sc in zip(s.qids, s.q, scores, strict=True)
    }


def per_query(s: SetCache, run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return M.evaluate_run(run, {q: s.qrels[q] for q in s.qids})


def summary(pq: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: round(float(np.mean([v[m] for v in pq.values()])), 4) for m in REPORT_METRICS}


def compare(args: argparse.Namespace) -> int:
    names = [n for n in args.sets.split(",") if n]
    sets = load_cache(args.cache, names)
    keys = [f"{s.name}\t{q}" for s in sets for q in s.qids]
    fold = folds_of(keys, args.folds, args.seed)
    variants = [VARIANTS[n] for n in (args.variants.split(",") if args.variants else VARIANTS)]
    table: dict[str, dict[str, Any]] = {s.name: {} for s in sets}
    pqs: dict[str, dict[str, dict[str, dict[str, float]]]] = {s.name: {} for s in sets}
    for s in sets:
        for nm, run in s.ref.items():
            pqs[s.name][nm] = per_query(s, run)
        emu = per_query(s, runs_of(s, [q.fused for q in s.q], squash=False))
        pqs[s.name]["fusion_emulated"] = emu
        diff = max(abs(emu[q]["ndcg@10"] - pqs[s.name]["fusion"][q]["ndcg@10"]) for q in s.qids)
        log.info("%s: emulated fusion vs real search, max |d nDCG@10| = %.2e", s.name, diff)
    for v in variants:
        t0 = time.perf_counter()
        sc = oof_scores(sets, v, fold, args.folds)
        for s in sets:
            pqs[s.name][v.name] = per_query(s, runs_of(s, sc[s.name], squash=True))
        log.info("variant %s: %.0fs", v.name, time.perf_counter() - t0)
    if args.nested:
        chosen = nested(sets, variants, fold, args.folds, args.seed)
        for s in sets:
            pqs[s.name]["nested_choice"] = per_query(s, runs_of(s, chosen["scores"][s.name], squash=True))
        table["_nested_picks"] = chosen["picks"]
    for s in sets:
        for nm, pq in pqs[s.name].items():
            d = [pq[q]["ndcg@10"] - pqs[s.name]["fusion"][q]["ndcg@10"] for q in s.qids]
            table[s.name][nm] = {
                **summary(pq),
                "vs_fusion": [int(sum(x > 1e-9 for x in d)), int(sum(x < -1e-9 for x in d))],
            }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lab.json").write_text(json.dumps({"table": table, "per_query": pqs}, ensure_ascii=False))
    print(markdown(table))
    return 0


def nested(sets: list[SetCache], variants: list[Variant], fold: dict[str, int], k: int, seed: int) -> dict[str, Any]:
    """For each outer fold: inner CV over its training queries picks the variant with the best
    mean over sets of nDCG@10 (every set counts the same), then that variant trained on all the
    fold's training queries scores the held-out fold."""
    picks = []
    out: dict[str, list[np.ndarray | None]] = {s.name: [None] * len(s.q) for s in sets}
    for f in range(k):
        train_keys = [key for key, ff in fold.items() if ff != f]
        inner = folds_of(train_keys, k - 1, seed + 1 + f)
        inner_full = {**{key: -1 for key in fold}, **inner}
        best, best_v = -1.0, variants[0]
        for v in variants:
            sc = oof_scores(sets, v, inner_full, k - 1, only=lambda key, f=f: fold[key] != f)
            means = []
            for s in sets:
                idx = [i for i, q in enumerate(s.qids) if fold[f"{s.name}\t{q}"] != f]
                sub = SetCache(s.name, s.level, [s.qids[i] for i in idx], s.qrels, [s.q[i] for i in idx])
                sub.stale_penalty = s.stale_penalty  # type: ignore[attr-defined]
                pq = per_query(sub, runs_of(sub, [sc[s.name][i] for i in idx], squash=True))
                means.append(np.mean([x["ndcg@10"] for x in pq.values()]))
            if float(np.mean(means)) > best:
                best, best_v = float(np.mean(means)), v
        picks.append(best_v.name)
        log.info("outer fold %d: picked %s (inner %.4f)", f, best_v.name, best)
        w = query_weights(sets, best_v.weights)
        tr = [(s.q[i], w[s.name][i]) for s in sets for i, q in enumerate(s.qids) if fold[f"{s.name}\t{q}"] != f]
        model = Model(best_v).fit([a for a, _ in tr], [b for _, b in tr])
        for s in sets:
            for i, q in enumerate(s.qids):
                if fold[f"{s.name}\t{q}"] == f:
                    out[s.name][i] = model.score(s.q[i])
    return {"picks": picks, "scores": out}


def markdown(table: dict[str, Any]) -> str:
    lines = ["| set | config | " + " | ".join(REPORT_METRICS) + " | vs fusion W/L |", "|---|---|" + "---|" * 5]
    for sname, rows in table.items():
        if sname.startswith("_"):
            continue
        for nm, m in rows.items():
            lines.append(
                f"| {sname} | {nm} | "
                + " | ".join(f"{m[k]:.3f}" for k in REPORT_METRICS)
                + f" | {m['vs_fusion'][0]}/{m['vs_fusion'][1]} |"
            )
    if "_nested_picks" in table:
        lines.append(f"\nnested picks per outer fold: {table['_nested_picks']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.ranker_lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--sets", default="ncp-dev,resident-qa-dev,stard-dev")
    c.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    c.add_argument("--index-dir", type=Path, default=Path("var/index-cache"))
    c.add_argument("--bm25-only", default="")
    c.add_argument("--encoder", default="onnx")
    c.add_argument(
        "--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "multilingual-e5-small"
    )
    c.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("compare")
    m.add_argument("--cache", type=Path, required=True)
    m.add_argument("--sets", default="ncp-dev,resident-qa-dev,stard-dev")
    m.add_argument("--variants", default="")
    m.add_argument("--folds", type=int, default=5)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--nested", action="store_true")
    m.add_argument("--out", type=Path, required=True)
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return collect(args) if args.cmd == "collect" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
