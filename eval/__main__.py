"""Command line: `python -m eval run|compare|answers|push ...`.

    python -m eval run --dataset ncp-dev --retriever bm25 --out var/eval/ncp-bm25
    python -m eval compare --dataset resident-qa-dev --retrievers bm25,dense,hybrid --out var/eval/rq
    python -m eval answers ...            (see eval/answers.py)
    python -m eval push --labels DIR --out var/eval/push [--cv 5]   (see eval/push_cv.py)
    python -m eval bench-push --profiles 1000000 --out var/bench/push   (see eval/bench_push.py)
    python -m eval train-ranker --out var/eval/ranker [--save index/resources/ranker.json]   (eval/ranker.py)

Exit codes: 0 ok, 2 bad arguments or input files (one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval import harness
from eval.beir import DATASETS, BeirFormatError, BeirSet, dataset_paths, load_set
from index.config import IndexConfig, SearchMode
from index.types import Encoder

log = logging.getLogger("eval")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_CACHE = REPO / "var" / "index-cache"
# Same defaults as the service's Settings (eval must not import qa_service).
DEFAULT_ENCODER = "onnx"
DEFAULT_MODEL = REPO / "models" / "multilingual-e5-small"
RANKER_PATH = REPO / "index" / "resources" / "ranker.json"


class UsageError(Exception):
    """Bad arguments or inputs: reported in one line, exit code 2."""


class StderrProgress:
    """`stage: done/total (pct%)` on stderr: redrawn in place on a terminal, one line per 10% otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last: tuple[str, int] | None = None
        self._t0 = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        pct = int(100 * done / total) if total > 0 else 100
        step = pct if self.tty else pct // 10 * 10
        if self._last is None or self._last[0] != stage:
            self._t0 = time.perf_counter()
        elif self._last[1] == step and done < total:
            return
        self._last = (stage, step)
        line = f"{stage}: {done}/{total} ({pct}%) {time.perf_counter() - self._t0:.0f}s"
        if self.tty:
            self.stream.write(f"\r{line}" + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval", description="Retrieval and answer evaluation on BEIR sets.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("run", "evaluate one retriever configuration"),
        ("compare", "evaluate several configurations side by side"),
    ):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--dataset", choices=sorted(DATASETS), help=f"named set under {SHARED_DATA}")
        s.add_argument("--corpus", type=Path, help="corpus.jsonl, policies/law JSONL or a folder")
        s.add_argument("--queries", type=Path, help="queries.jsonl")
        s.add_argument("--qrels", type=Path, help="qrels.tsv")
        s.add_argument("--out", type=Path, required=True, help="output folder")
        if name == "run":
            s.add_argument("--retriever", help="bm25, dense or hybrid (default hybrid, bm25 if no encoder)")
        else:
            s.add_argument("--retrievers", required=True, help="comma-separated, first is the baseline")
        s.add_argument("--top-k", type=int, default=100, help="documents ranked per query (default 100)")
        s.add_argument("--passages", type=int, help="passages retrieved per query (default: --top-k)")
        s.add_argument("--limit", type=int, help="evaluate only the first N queries")
        s.add_argument("--index-dir", type=Path, default=DEFAULT_CACHE, help="index cache root")
        s.add_argument("--encoder", default=DEFAULT_ENCODER, help=f"encoder kind (default {DEFAULT_ENCODER})")
        s.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="local model folder (make model)")
        s.add_argument("--quiet", action="store_true", help="no progress on stderr")
        s.add_argument(
            "--ranker",
            type=Path,
            nargs="?",
            const=RANKER_PATH,
            help=f"also hybrid + learned ranker (default {RANKER_PATH})",
        )
        s.add_argument("--backend", choices=("embedded", "milvus"), default="embedded", help="index backend")
        s.add_argument(
            "--milvus-uri",
            help="milvus backend: local .db path (Milvus Lite) or http://host:19530 (default: under --index-dir)",
        )
    sub.add_parser("answers", add_help=False, help="answer evaluation (eval.answers); run `python -m eval answers -h`")
    sub.add_parser("train-ranker", add_help=False, help="learned ranker, out of fold (eval.ranker); `-h` for options")
    sub.add_parser("push", add_help=False, help="push labels and matches (eval.push_cv); run `python -m eval push -h`")
    sub.add_parser("bench-push", add_help=False, help="push matching at scale (eval.bench_push); `-h` for options")
    return p


def _resolve_set(args: argparse.Namespace) -> BeirSet:
    queries, qrels, corpus = args.queries, args.qrels, args.corpus
    if args.dataset:
        dq, dr, dc = dataset_paths(args.dataset, SHARED_DATA)
        queries, qrels, corpus = queries or dq, qrels or dr, corpus or dc
    missing = [n for n, v in (("--corpus", corpus), ("--queries", queries), ("--qrels", qrels)) if v is None]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (give the files or --dataset {'|'.join(DATASETS)})")
    data = load_set(queries, qrels, corpus, name=args.dataset or "")
    if args.limit is not None:
        data = data.limit(args.limit)
    return data


def _parse_modes(text: str) -> list[SearchMode]:
    modes = [SearchMode.from_str(t) for t in text.split(",") if t.strip()]
    if not modes:
        raise UsageError("--retrievers needs at least one of bm25, dense, hybrid")
    if len(set(modes)) != len(modes):
        raise UsageError(f"--retrievers lists a mode twice: {text}")
    return modes


def _load_encoder(kind: str, model: Path) -> Encoder:
    try:
        from index.encoders import load_encoder
    except ImportError as e:
        raise RuntimeError(f"index.encoders is not available ({e})") from e
    if kind != "fake" and not model.exists():
        raise FileNotFoundError(f"no model at {model} (convert it with `make model`)")
    return load_encoder(kind, model)


def _open_index(data: BeirSet, args: argparse.Namespace, encoder: Encoder | None, progress: Any) -> Any:
    from index.engine import PolicyIndex

    assert data.corpus_path is not None
    from corpus.library import link_documents

    # Linked as the service links them, so a superseded law version is marked (and ranked) as such.
    if getattr(args, "backend", "embedded") == "milvus":
        from index.backend import open_or_build

        uri = args.milvus_uri or str(args.index_dir / "milvus.db")
        return open_or_build(
            "milvus", data.corpus_path, args.index_dir, IndexConfig(), encoder, progress, link_documents, uri
        )
    return PolicyIndex.open_or_build(
        data.corpus_path, args.index_dir, IndexConfig(), encoder=encoder, progress=progress, prepare=link_documents
    )


def _judged_on(index: Any, data: BeirSet) -> str:
    """Documents or articles, whichever the qrels name (eval.harness.judgment_level)."""
    passages = getattr(index, "passages", None)
    if passages is None:  # a backend that only lists passages per document
        passages = [p for d in index.documents for p in index.passages_of(d)]
    sources = {s for p in passages for s in p.source_ids}
    return harness.judgment_level(data.qrels, index.documents.keys(), sources)


def _configs(index: Any, modes: Sequence[SearchMode], data: BeirSet, encoder: Encoder | None) -> list[harness.Config]:
    configs = []
    for m in modes:
        desc = {
            "retriever": m.value,
            "encoder": getattr(encoder, "name", None) if m != SearchMode.BM25 else None,
            "corpus": str(data.corpus_path),
            "index": {k: v for k, v in index.config.to_dict().items() if k != "mode"},
        }
        configs.append(harness.Config(m.value, harness.ModeRetriever(index, m), desc))
    return configs


def _ranker_config(index: Any, path: Path, data: BeirSet, encoder: Encoder | None) -> harness.Config:
    from index.ranking import LearnedRanker

    ranker = LearnedRanker.load(path)
    desc = {
        "retriever": "hybrid+ranker",
        "ranker": str(path),
        "encoder": getattr(encoder, "name", None),
        "corpus": str(data.corpus_path),
        "index": {k: v for k, v in index.config.to_dict().items() if k != "mode"},
    }
    return harness.Config("ranker", harness.RankerRetriever(index, ranker), desc)


def _evaluate(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {args.top_k}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    if args.passages is not None and args.passages < args.top_k:
        raise UsageError(f"--passages must be >= --top-k ({args.top_k}), got {args.passages}")
    data = _resolve_set(args)
    explicit = args.retriever if args.command == "run" else args.retrievers
    modes = _parse_modes(explicit or SearchMode.HYBRID.value)

    encoder = None
    if any(m != SearchMode.BM25 for m in modes):
        try:
            encoder = _load_encoder(args.encoder, args.model)
        except Exception as e:  # any failure to load a model means "no encoder here"
            if explicit:
                raise UsageError(
                    f"{','.join(m.value for m in modes)} needs an encoder, which failed to load: {e}"
                ) from e
            print(f"encoder not available ({e}); falling back to --retriever bm25", file=sys.stderr)
            modes = [SearchMode.BM25]

    progress = None if args.quiet else StderrProgress()
    t0 = time.perf_counter()
    index = _open_index(data, args, encoder, progress)
    log.info("index ready in %.1fs", time.perf_counter() - t0)
    judged_on = _judged_on(index, data)
    log.info("judged on %s ids", judged_on)
    configs = _configs(index, modes, data, encoder)
    if args.ranker is not None:
        configs.append(_ranker_config(index, args.ranker, data, encoder))
    evals = harness.run(configs, data, args.out, args.top_k, progress, args.passages, judged_on)
    for ev in evals:
        lat = ev.latency_ms
        print(
            f"{ev.name}: ndcg@10={ev.metrics.get('ndcg@10', float('nan')):.4f} "
            f"mrr@10={ev.metrics.get('mrr@10', float('nan')):.4f} "
            f"recall@100={ev.metrics.get('recall@100', float('nan')):.4f} "
            f"p50={lat['p50']:.1f}ms p95={lat['p95']:.1f}ms "
            f"({ev.n_judged} judged, {ev.n_unjudged} unjudged)"
        )
    print(f"results in {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["answers"]:
        from eval import answers

        return answers.main(argv[1:])
    if argv[:1] == ["train-ranker"]:
        from eval import ranker

        return ranker.main(argv[1:])
    if argv[:1] == ["push"]:
        from eval import push_cv

        return push_cv.main(argv[1:])
    if argv[:1] == ["bench-push"]:
        from eval import bench_push

        return bench_push.main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.quiet:
        log.setLevel(logging.INFO)
    try:
        return _evaluate(args)
    except (UsageError, BeirFormatError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
