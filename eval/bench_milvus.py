"""The Milvus backend beside the embedded one on a large corpus (default: the 86k-article law corpus).

    python -m eval.bench_milvus --encoder onnx --model models/multilingual-e5-small --synthetic-passages

Same corpus, same passages, same (synthetic, as `make bench`) passage vectors and real query
encoder for both backends, measured in one run, each phase in its own process so its peak RSS is
its own: build time and ingest throughput (passages/s, and the Milvus insert alone), query latency
p50 / p95 per mode (bm25, dense, hybrid; query encoding included), serving RSS, bytes on disk,
and the time to add and then remove ~1,000 passages. `--uri` points at a Milvus server instead of
Milvus Lite (a local path). Writes JSON with --out.

    python -m eval.bench_milvus parity --dataset ncp-dev --dataset resident-qa-dev --encoder onnx \
        --model models/multilingual-e5-small [--native] --out var/eval/milvus-parity

ranks the dev sets with both backends in one run (every mode; the embedded index and the
embedding cache under --index-dir are reused), writes each configuration's metrics.json (eval.harness)
and the nDCG@10 gaps; --native adds Milvus' own BM25 function with its jieba analyzer beside this
project's BM25 as a sparse vector.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import time
from pathlib import Path

from eval.bench_index import _encoder, _latency, _rss_mb, bench_docs, make_queries
from index.config import IndexConfig, SearchMode

REPO = Path(__file__).resolve().parents[1]
MODES = (SearchMode.BM25, SearchMode.DENSE, SearchMode.HYBRID)


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _extra_docs(args) -> list:
    from corpus.chunking import chunk_document
    from corpus.loaders import load_corpus
    from corpus.models import Document

    extra, n = [], 0
    for _, d in zip(range(400), load_corpus(args.corpus), strict=False):
        extra.append(Document(id=f"bench-{d.id}", title=d.title, text=d.text))
        n += len(chunk_document(d))
        if n >= 1000:
            break
    return extra


def _serve(idx, args, enc) -> dict:
    queries = make_queries(args.corpus, args.queries)
    out: dict = {}
    for m in MODES:
        if m is SearchMode.BM25 or enc is not None:
            out[m.value] = _latency(lambda s, m=m: idx.search(s, mode=m), queries)
    extra = _extra_docs(args)
    t = time.perf_counter()
    idx.add(extra)
    out["add_1000_passages_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    idx.remove([d.id for d in extra])
    out["remove_them_s"] = round(time.perf_counter() - t, 2)
    return out


def phase(args, backend: str, q: mp.Queue) -> None:
    enc = _encoder(args.encoder, args.model, args.synthetic_passages)
    docs = bench_docs(args)
    t = time.perf_counter()
    if backend == "embedded":
        from index.engine import PolicyIndex

        idx = PolicyIndex.build(docs, IndexConfig(), encoder=enc, cache_dir=args.work / "embeddings")
        n_passages, insert_s = len(idx.passages), None
    else:
        from index.milvus import MilvusIndex, MilvusOptions

        idx = MilvusIndex(IndexConfig(), args.uri, enc, MilvusOptions(collection="bench", index_type=args.index_type))
        idx.reset()
        idx.use_embedding_cache(args.work / "embeddings")
        timings: dict[str, float] = {}
        last = [time.perf_counter()]

        def progress(stage: str, done: int, total: int) -> None:  # time spent in Milvus inserts only
            now = time.perf_counter()
            if stage == "milvus insert":
                timings["insert"] = timings.get("insert", 0.0) + now - last[0]
            last[0] = now

        idx.add(docs, progress=progress)
        n_passages, insert_s = len(idx), timings.get("insert")
    build_s = time.perf_counter() - t
    out = {
        "backend": backend,
        "documents": len(docs),
        "passages": n_passages,
        "build_s": round(build_s, 1),
        "passages_per_s": round(n_passages / build_s, 1),
        "build_peak_rss_mb": round(_rss_mb()),
    }
    if insert_s is not None:
        out["milvus_insert_s"] = round(insert_s, 1)
        out["milvus_insert_passages_per_s"] = round(n_passages / max(insert_s, 1e-9), 1)
    out.update(_serve(idx, args, enc))
    out["peak_rss_mb"] = round(_rss_mb())
    if backend == "milvus" and not args.uri.startswith("http"):
        out["disk_mb"] = round(_dir_bytes(Path(args.uri)) / 2**20, 1)
    elif backend == "embedded":
        idx.save(args.work / "index")
        out["disk_mb"] = round(_dir_bytes(args.work / "index") / 2**20, 1)
    q.put(out)


def _run(args, backend: str) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=phase, args=(args, backend, q))
    p.start()
    res = q.get()
    p.join()
    return res


def table(report: dict) -> str:
    e, m = report["embedded"], report["milvus"]
    rows = [
        "| measure | embedded | milvus |",
        "|---|---|---|",
        f"| passages | {e['passages']} | {m['passages']} |",
        f"| build (s) | {e['build_s']} | {m['build_s']} |",
        f"| ingest (passages/s, whole build) | {e['passages_per_s']} | {m['passages_per_s']} |",
        f"| Milvus insert alone (passages/s) | – | {m.get('milvus_insert_passages_per_s', '–')} |",
    ]
    for mode in ("bm25", "dense", "hybrid"):
        if mode in e:
            rows.append(
                f"| {mode} p50 / p95 (ms) | {e[mode]['p50_ms']} / {e[mode]['p95_ms']} | "
                f"{m[mode]['p50_ms']} / {m[mode]['p95_ms']} |"
            )
    rows += [
        f"| add ~1,000 passages (s) | {e['add_1000_passages_s']} | {m['add_1000_passages_s']} |",
        f"| remove them (s) | {e['remove_them_s']} | {m['remove_them_s']} |",
        f"| peak RSS (MB) | {e['peak_rss_mb']} | {m['peak_rss_mb']} |",
        f"| on disk (MB) | {e.get('disk_mb', '–')} | {m.get('disk_mb', '–')} |",
    ]
    return "\n".join(rows)


def parity(argv: list[str]) -> int:
    """Embedded and Milvus side by side on the dev sets, one run: nDCG@10 per mode and the gap."""
    from corpus.library import link_documents
    from eval import harness
    from eval.beir import dataset_paths, load_set
    from index.engine import PolicyIndex
    from index.milvus import MilvusIndex, MilvusOptions

    ap = argparse.ArgumentParser(prog="python -m eval.bench_milvus parity")
    ap.add_argument("--dataset", action="append", required=True, help="named dev set (repeatable, one corpus)")
    ap.add_argument("--index-dir", type=Path, default=REPO / "var/index-cache", help="as python -m eval")
    ap.add_argument("--milvus-uri", help="default: INDEX_DIR/milvus.db")
    ap.add_argument("--encoder", default=None, help="encoder kind (e.g. onnx); none = BM25 only")
    ap.add_argument("--model", default=None)
    ap.add_argument("--modes", default="bm25,dense,hybrid")
    ap.add_argument("--native", action="store_true", help="also Milvus' own BM25 function (jieba analyzer)")
    ap.add_argument("--limit", type=int, help="only the first N queries of each set")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    shared = REPO.parent / "shared" / "data"
    sets = [load_set(*dataset_paths(name, shared), name=name) for name in args.dataset]
    if args.limit:
        sets = [s.limit(args.limit) for s in sets]
    if len({str(s.corpus_path) for s in sets}) != 1:
        raise SystemExit("the datasets must share one corpus")
    corpus = sets[0].corpus_path
    enc = _encoder(args.encoder, args.model)
    modes = [SearchMode.from_str(m) for m in args.modes.split(",")]
    if enc is None:
        modes = [SearchMode.BM25]
    cfg, uri = IndexConfig(), args.milvus_uri or str(args.index_dir / "milvus.db")
    t = time.perf_counter()
    emb = PolicyIndex.open_or_build(corpus, args.index_dir, cfg, encoder=enc, prepare=link_documents)
    timing = {"embedded_open_s": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    mil = MilvusIndex.open_or_build(corpus, uri, cfg, enc, cache_root=args.index_dir, prepare=link_documents)
    timing["milvus_open_s"] = round(time.perf_counter() - t, 1)
    indexes: dict[str, object] = {"embedded": emb, "milvus": mil}
    configs = [
        harness.Config(f"{b}-{m.value}", harness.ModeRetriever(i, m), {"backend": b, "retriever": m.value})
        for m in modes
        for b, i in indexes.items()
    ]
    if args.native:
        uri_native = str(Path(uri).with_name("milvus-native.db"))
        opts = MilvusOptions(collection="native", native_bm25=True)
        nat = MilvusIndex.open_or_build(corpus, uri_native, cfg, None, prepare=link_documents, options=opts)
        configs.append(harness.Config("milvus_native-bm25", harness.ModeRetriever(nat, SearchMode.BM25), {}))
    summary: dict = {"timing": timing}
    for data in sets:
        evals = harness.run(configs, data, args.out / data.name, top_k=100)
        nd = {ev.name: round(ev.metrics["ndcg@10"], 4) for ev in evals}
        gaps = {m.value: round(nd[f"milvus-{m.value}"] - nd[f"embedded-{m.value}"], 4) for m in modes}
        summary[data.name] = {"ndcg@10": nd, "milvus_minus_embedded": gaps}
        print(data.name, json.dumps(summary[data.name]), file=sys.stderr, flush=True)
    print(json.dumps(summary, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["parity"]:
        return parity(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m eval.bench_milvus", description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/corpus/law_articles.jsonl")
    ap.add_argument("--work", type=Path, default=REPO / "var/bench-milvus")
    ap.add_argument("--uri", help="Milvus URI (default: Milvus Lite at WORK/milvus.db)")
    ap.add_argument("--index-type", default="HNSW", choices=("HNSW", "IVF_FLAT", "FLAT"))
    ap.add_argument("--encoder", default=None, help="encoder kind for dense/hybrid (e.g. onnx); none = BM25 only")
    ap.add_argument("--model", default=None)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--unit", choices=("article", "document"), default="document")
    ap.add_argument("--limit-docs", type=int, help="only the first N documents (a quick run)")
    ap.add_argument("--synthetic-passages", action="store_true", help="random passage vectors, real query encoder")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    if args.limit_docs:
        from corpus.loaders import load_corpus

        cut = args.work / "corpus.jsonl"
        with cut.open("w", encoding="utf-8") as f:
            for _, d in zip(range(args.limit_docs), load_corpus(args.corpus), strict=False):
                f.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")
        args.corpus = cut
    if not args.uri:
        args.uri = str(args.work / "milvus.db")
        shutil.rmtree(args.uri, ignore_errors=True)
    report: dict = {"corpus": str(args.corpus), "encoder": args.encoder, "synthetic_passages": args.synthetic_passages}
    for backend in ("embedded", "milvus"):
        print(f"{backend} ...", file=sys.stderr)
        report[backend] = _run(args, backend)
        print(json.dumps(report[backend]), file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    print(table(report))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
