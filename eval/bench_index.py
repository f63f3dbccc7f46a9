"""Speed and memory benchmark of the index on a large corpus (default: the 86k-article law corpus).

    python -m eval.bench_index --corpus ../shared/data/corpus/law_articles.jsonl [--encoder onnx]

Prints, side by side from one run: build time and peak RSS; BM25 query latency
p50/p95 against rank-bm25 on the same queries (on a subset of the corpus if
rank-bm25 is too slow, said so); with an encoder, dense and hybrid latency
(query encoding included), the peak RSS of a process that only loads and serves
the index, and the time to add 1,000 passages; with a learned ranker artifact, a second
serving process times hybrid search with and without the ranker alternating per query
(and the ranker's features and scoring apart), and reports its own peak RSS.
Each phase runs in its own process so its peak RSS is its own. Writes JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from corpus.loaders import load_corpus
from index.config import IndexConfig, SearchMode

REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _latency(fn, queries: list[str]) -> dict[str, float]:
    fn(queries[0])  # warm caches
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(_pct(times, 95), 2), "n": len(times)}


class SyntheticPassages:
    """Real query encoder, random unit vectors for passages.

    Encoding 86k passages with e5 on two cores takes about an hour; search latency and
    memory depend on the number and size of vectors, not on their content (random
    vectors are, if anything, harder for HNSW), so the scale benchmark can skip it.
    """

    def __init__(self, real) -> None:
        import numpy as np

        self._real, self._rng = real, np.random.default_rng(0)
        self.dim, self.name = real.dim, f"{real.name}+synthetic-passages"

    def encode_queries(self, texts):
        return self._real.encode_queries(texts)

    def encode_passages(self, texts):
        import numpy as np

        x = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def _encoder(kind: str | None, model: str | None, synthetic: bool = False):
    if not kind:
        return None
    from index.encoders import load_encoder

    enc = load_encoder(kind, model)
    return SyntheticPassages(enc) if synthetic else enc


def make_queries(corpus: Path, n: int, seed: int = 0) -> list[str]:
    """Question-like queries from the corpus itself: a clause of a random passage plus its law's short name."""
    rng = random.Random(seed)
    docs = [d for _, d in zip(range(3000), load_corpus(corpus), strict=False)]
    out = []
    for _ in range(n):
        d = rng.choice(docs)
        line = rng.choice([x for x in d.text.splitlines() if len(x) > 20] or [d.text])
        start = rng.randrange(0, max(1, len(line) - 16))
        out.append(f"{d.title[:8]} {line[start : start + 16]}")
    return out


def bench_docs(args) -> list:
    """The corpus as documents. `--unit article` makes each law article its own document, so the index
    holds one passage per article (86k on the law corpus) instead of merged neighbouring articles."""
    if args.unit == "document":
        return list(load_corpus(args.corpus))
    from corpus.models import Document

    docs = []
    with open(args.corpus, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            docs.append(
                Document(
                    id=row["_id"],
                    title=row.get("name") or row.get("title") or "",
                    text=row["text"],
                    collection=row.get("collection"),
                )
            )
    return docs


def phase_build(args, q: mp.Queue) -> None:
    from index.engine import PolicyIndex

    enc = _encoder(args.encoder, args.model, args.synthetic_passages)
    t = time.perf_counter()
    docs = bench_docs(args)
    t_load = time.perf_counter() - t
    idx = PolicyIndex.build(
        docs,
        IndexConfig(),
        encoder=enc,
        cache_dir=args.work / "embeddings",
        progress=_progress if args.progress else None,
    )
    t_build = time.perf_counter() - t
    idx.save(args.work / "index")
    q.put(
        {
            "documents": len(docs),
            "passages": len(idx.passages),
            "load_s": round(t_load, 1),
            "build_s": round(t_build, 1),
            "peak_rss_mb": round(_rss_mb()),
        }
    )


def phase_serve(args, q: mp.Queue) -> None:
    from index.engine import PolicyIndex

    enc = _encoder(args.encoder, args.model, args.synthetic_passages)
    t = time.perf_counter()
    idx = PolicyIndex.load(args.work / "index", encoder=enc)
    out: dict = {"load_s": round(time.perf_counter() - t, 1)}
    if args.serve_ranker:
        # the same process shape, plus the learned ranker over the hybrid candidates (its RSS is this one's)
        from index.ranking import LearnedRanker

        ranker = LearnedRanker.load(args.ranker)
        queries = make_queries(args.corpus, args.queries)
        out["ranker_kind"] = ranker.kind
        out.update(_fusion_vs_ranker(idx, ranker, queries))
        out["peak_rss_mb"] = round(_rss_mb())
        q.put(out)
        return
    queries = make_queries(args.corpus, args.queries)
    out["bm25"] = _latency(lambda s: idx.search(s, mode=SearchMode.BM25), queries)
    if enc is not None:
        out["dense"] = _latency(lambda s: idx.search(s, mode=SearchMode.DENSE), queries)
        out["hybrid"] = _latency(lambda s: idx.search(s, mode=SearchMode.HYBRID), queries)
        out["query_encode"] = _latency(lambda s: enc.encode_queries([s]), queries)
    out["peak_rss_mb"] = round(_rss_mb())
    # Adding 1,000 passages' worth of documents to the loaded index (no full rebuild).
    docs = [d for _, d in zip(range(400), load_corpus(args.corpus), strict=False)]
    from corpus.chunking import chunk_document
    from corpus.models import Document

    extra, n = [], 0
    for d in docs:
        extra.append(Document(id=f"bench-{d.id}", title=d.title, text=d.text))
        n += len(chunk_document(d))
        if n >= 1000:
            break
    t = time.perf_counter()
    idx.add(extra)
    out["add_1000_passages_s"] = round(time.perf_counter() - t, 2)
    out["added_passages"] = n
    q.put(out)


def _fusion_vs_ranker(idx, ranker, queries: list[str]) -> dict:
    """Hybrid latency with and without the ranker, alternating per query (which goes first
    alternates too), so load on the shared machine weighs on both alike; plus what the ranker
    adds: its features and its scoring, timed on the same candidates."""
    from index import ranking

    def search(s: str, r) -> None:
        idx.ranker = r
        try:
            idx.search(s, mode=SearchMode.HYBRID)
        finally:
            idx.ranker = None

    search(queries[0], ranker)  # warm caches
    t_f, t_r, t_feat, t_score = [], [], [], []
    for i, s in enumerate(queries):
        for r in (None, ranker) if i % 2 == 0 else (ranker, None):
            t = time.perf_counter()
            search(s, r)
            (t_f if r is None else t_r).append((time.perf_counter() - t) * 1000)
        got = idx.candidates(s, 10, None, SearchMode.HYBRID)
        if got is None:
            continue
        t = time.perf_counter()
        X = idx._features.features(got[0], idx.passages, idx.documents)
        t_feat.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        ranking.sigmoid(ranker.score(X))
        t_score.append((time.perf_counter() - t) * 1000)

    def summ(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": round(statistics.median(xs), 2), "p95_ms": round(_pct(xs, 95), 2), "n": len(xs)}

    return {
        "hybrid_fusion": summ(t_f),
        "hybrid_ranker": summ(t_r),
        "ranker_features": summ(t_feat),
        "ranker_scoring": summ(t_score),
    }


def phase_rank_bm25(args, q: mp.Queue) -> None:
    """rank-bm25 (pure Python) on the same tokens, on at most --ref-docs passages."""
    import rank_bm25

    from corpus.chunking import chunk_document
    from index.bm25 import BM25Index
    from index.tokenize import default_tokenizer

    tok = default_tokenizer()
    passages = []
    for d in bench_docs(args):
        passages.extend(chunk_document(d))
        if len(passages) >= args.ref_docs:
            break
    passages = passages[: args.ref_docs]
    tokens = tok.tokenize_many([p.index_text() for p in passages], workers=2)
    t = time.perf_counter()
    ref = rank_bm25.BM25Okapi(tokens)
    ref_build = time.perf_counter() - t
    t = time.perf_counter()
    ours = BM25Index()
    ours.add(tokens)
    our_build = time.perf_counter() - t
    queries = [tok.tokenize(s) for s in make_queries(args.corpus, min(args.queries, 100))]
    ref_lat = _latency(lambda s: ref.get_scores(s), queries)
    our_lat = _latency(lambda s: ours.scores(s), queries)
    q.put(
        {
            "passages": len(passages),
            "rank_bm25": {"build_s": round(ref_build, 2), **ref_lat},
            "bm25s": {"build_s": round(our_build, 2), **our_lat},
            "speedup_p50": round(ref_lat["p50_ms"] / max(our_lat["p50_ms"], 1e-6), 1),
        }
    )


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r  {stage}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _run(target, args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_index", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/corpus/law_articles.jsonl")
    ap.add_argument("--work", type=Path, default=REPO / "var/bench-index")
    ap.add_argument("--encoder", default=None, help="encoder kind for dense/hybrid (e.g. onnx); none = BM25 only")
    ap.add_argument("--model", default=None)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--ref-docs", type=int, default=20_000, help="passages for the rank-bm25 comparison")
    ap.add_argument(
        "--unit",
        choices=("article", "document"),
        default="document",
        help="document: the corpus loader's, as served (a law per document, one passage or more per article: "
        "90k on the law corpus); article: one document per JSONL line",
    )
    ap.add_argument(
        "--ranker",
        type=Path,
        default=REPO / "index" / "resources" / "ranker.json",
        help="learned ranker measured beside fusion-only (hybrid), if the file exists",
    )
    ap.add_argument(
        "--synthetic-passages",
        action="store_true",
        help="random passage vectors, real query encoder: search at scale without an hour of encoding",
    )
    ap.add_argument("--reuse-build", action="store_true", help="serve the index the last run built in --work")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    report = {"corpus": str(args.corpus), "encoder": args.encoder, "synthetic_passages": args.synthetic_passages}
    if args.reuse_build and (args.work / "build.json").exists():
        report["build"] = json.loads((args.work / "build.json").read_text(encoding="utf-8"))
        print("reusing the index built before (build figures from then)", file=sys.stderr)
    else:
        print("building ...", file=sys.stderr)
        report["build"] = _run(phase_build, args)
        (args.work / "build.json").write_text(json.dumps(report["build"]), encoding="utf-8")
    print(json.dumps(report["build"]), file=sys.stderr)
    args.serve_ranker = False
    report["serve"] = _run(phase_serve, args)
    print(json.dumps(report["serve"]), file=sys.stderr)
    if args.encoder and args.ranker.exists():
        args.serve_ranker = True
        report["serve_ranker"] = _run(phase_serve, args)
        print(json.dumps(report["serve_ranker"]), file=sys.stderr)
    report["reference"] = _run(phase_rank_bm25, args)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    b, s, r = report["build"], report["serve"], report["reference"]
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| passages | {b['passages']} |",
        f"| build (load+chunk+tokenize+index{'+encode' if args.encoder else ''}) | {b['build_s']} s |",
        f"| build peak RSS | {b['peak_rss_mb']} MB |",
        f"| serving process peak RSS | {s['peak_rss_mb']} MB |",
        f"| BM25 query p50 / p95 | {s['bm25']['p50_ms']} / {s['bm25']['p95_ms']} ms |",
    ]
    for k in ("dense", "hybrid", "query_encode"):
        if k in s:
            lines.append(f"| {k} query p50 / p95 | {s[k]['p50_ms']} / {s[k]['p95_ms']} ms |")
    if "serve_ranker" in report:
        sr = report["serve_ranker"]
        hf, hr = sr["hybrid_fusion"], sr["hybrid_ranker"]
        lines += [
            f"| hybrid, same process, alternating per query: fusion vs + {sr['ranker_kind']} ranker p50 / p95 "
            f"| {hf['p50_ms']} / {hf['p95_ms']} vs {hr['p50_ms']} / {hr['p95_ms']} ms |",
            f"| ranker features / scoring p50 | {sr['ranker_features']['p50_ms']} / "
            f"{sr['ranker_scoring']['p50_ms']} ms |",
            f"| serving process peak RSS with the ranker (fusion-only: {s['peak_rss_mb']} MB) "
            f"| {sr['peak_rss_mb']} MB |",
        ]
    lines += [
        f"| add {s['added_passages']} passages to the loaded index | {s['add_1000_passages_s']} s |",
        f"| rank-bm25 vs bm25s scoring p50 on {r['passages']} passages | {r['rank_bm25']['p50_ms']} vs "
        f"{r['bm25s']['p50_ms']} ms ({r['speedup_p50']}x) |",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
