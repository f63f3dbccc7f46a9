"""Benchmark of /api/ask: latency in process, then req/s and latency percentiles with N concurrent clients
on loopback (real HTTP, uvicorn in a thread of this process).

    python -m qa_service.bench --corpus corpus/demo --corpus ../shared/data/corpus/policies.jsonl \
        --index-dir /tmp/bench-index --encoder onnx --clients 16,64 --requests 640 \
        --remove-fraction 0.6 --compare-dense-paths

Several `--corpus` paths are served as one corpus. `--remove-fraction` removes that share of the
documents before serving, so the dense side searches under a partial mask (issue 8: with 1.5k-20k
live rows the old search scored them with a numpy/BLAS mat-vec that thrashed under concurrency).
`--compare-dense-paths` measures every client count twice in the same run: first with that old
search put back (the reference), then with the faiss bitmap-selector search the service uses.
`--compare-ask-paths` (issue 10) measures only in process, interleaved in the same run: /api/ask with
faiss' exact search on its OpenMP team (the reference) and on the calling thread (the service's):

    python -m qa_service.bench --corpus ../shared/data/corpus/policies.jsonl --index-dir var/index-cache \
        --encoder onnx --compare-ask-paths

Questions are the resident-qa-dev questions if found, else a built-in list. No generator.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index import engine
from index.dense import EXACT_FALLBACK_ROWS, DenseIndex
from qa_service.settings import REPO_ROOT, Settings

_FALLBACK = [
    "居住证怎么办理",
    "恶意拨打120会怎么处罚",
    "独生子女父母奖励费每月多少",
    "房屋买卖合同可以解除吗",
    "劳动合同试用期最长多久",
    "未成年人可以打工吗",
    "交通事故逃逸怎么处罚",
    "你好",
]


def _questions() -> list[str]:
    path = REPO_ROOT.parent / "shared" / "data" / "eval" / "resident-qa-dev" / "queries.jsonl"
    if path.is_file():
        return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return _FALLBACK


def _pct(xs: Sequence[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _one_corpus(paths: Sequence[Path], root: Path) -> Path:
    """One path as is; several as a folder of symlinks to their files (stable, so the index is reused)."""
    if len(paths) == 1:
        return paths[0]
    folder = root / "corpus"
    for i, src in enumerate(paths):
        files = [src] if src.is_file() else sorted(f for f in src.rglob("*") if f.is_file())
        for f in files:
            link = folder / str(i) / (f.name if f == src else f.relative_to(src))
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(f.resolve())
    return folder


def _remove_share(index, fraction: float) -> int:
    """Remove about `fraction` of the documents (chosen by a hash of the id: the same ones every run)."""
    if fraction <= 0:
        return 0
    ids = [i for i in index.documents if int(hashlib.sha1(i.encode()).hexdigest()[:8], 16) % 1000 < fraction * 1000]
    index.remove(ids)
    return len(ids)


# The reference: DenseIndex.search and scores_for as they were before issue 8 was fixed.
_FAISS_SEARCH, _FAISS_SCORES = DenseIndex.search, DenseIndex.scores_for


def _numpy_matvec_search(self: DenseIndex, query: np.ndarray, k: int, mask: np.ndarray):
    n_allowed = int(mask.sum())
    if 0 < min(k, n_allowed) and n_allowed <= EXACT_FALLBACK_ROWS and n_allowed < len(self.vectors):
        k = min(k, n_allowed)
        rows = np.flatnonzero(mask)
        sims = self.vectors[rows] @ np.ascontiguousarray(query, dtype=np.float32).ravel()
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return rows[top], sims[top]
    return _FAISS_SEARCH(self, query, k, mask)


def _numpy_matvec_scores(self: DenseIndex, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return self.vectors[rows] @ np.asarray(query, dtype=np.float32).ravel()


DENSE_PATHS = {
    "numpy-matvec (before)": (_numpy_matvec_search, _numpy_matvec_scores),
    "faiss-selector (after)": (_FAISS_SEARCH, _FAISS_SCORES),
}


@contextmanager
def _dense_path(name: str) -> Iterator[None]:
    DenseIndex.search, DenseIndex.scores_for = DENSE_PATHS[name]  # type: ignore[method-assign]
    try:
        yield
    finally:
        DenseIndex.search, DenseIndex.scores_for = _FAISS_SEARCH, _FAISS_SCORES  # type: ignore[method-assign]


# Issue 10: the ask path's exact dense search ran faiss' OpenMP team of two on two busy cores (5x
# slower than one thread at 40k rows); index.engine now runs it on the calling thread only.
_ONE_FAISS_THREAD = engine._one_faiss_thread
ASK_PATHS = {
    "faiss OpenMP team (before)": contextlib.nullcontext,
    "one faiss thread (after)": _ONE_FAISS_THREAD,
}


@contextmanager
def _ask_path(name: str) -> Iterator[None]:
    engine._one_faiss_thread = ASK_PATHS[name]  # type: ignore[assignment]
    try:
        yield
    finally:
        engine._one_faiss_thread = _ONE_FAISS_THREAD


@dataclass
class LoadResult:
    requests: int
    ok: int = 0
    errors: int = 0  # non-200 answers and failed requests, timeouts included
    timeouts: int = 0
    wall_s: float = 0.0
    latency_ms: list[float] = field(default_factory=list)

    def line(self) -> str:
        lat = self.latency_ms or [float("nan")]
        return (
            f"{self.ok}/{self.requests} ok in {self.wall_s:.1f}s = {self.ok / self.wall_s:.1f} req/s; "
            f"p50 {statistics.median(lat):.0f} ms, p95 {_pct(lat, 95):.0f} ms, p99 {_pct(lat, 99):.0f} ms; "
            f"errors {self.errors} (timeouts {self.timeouts})"
        )


def _load(url: str, qs: Sequence[str], clients: int, requests: int, timeout: float) -> LoadResult:
    import httpx

    res = LoadResult(requests)
    lock = threading.Lock()

    def worker(i: int) -> None:
        with httpx.Client(timeout=timeout) as hc:
            for k in range(i, requests, clients):
                t = time.perf_counter()
                try:
                    good = hc.post(url, json={"question": qs[k % len(qs)]}).status_code == 200
                    timed_out = False
                except httpx.TimeoutException:
                    good, timed_out = False, True
                except httpx.HTTPError:
                    good, timed_out = False, False
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    res.latency_ms.append(ms)
                    res.ok += good
                    res.errors += not good
                    res.timeouts += timed_out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, range(clients)))
    res.wall_s = time.perf_counter() - t0
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qa_service.bench")
    ap.add_argument("--corpus", type=Path, action="append", required=True, help="repeat to serve several as one")
    ap.add_argument("--index-dir", type=Path, default=REPO_ROOT / "var" / "bench-index")
    ap.add_argument("--encoder", default="none")
    ap.add_argument("--clients", default="16", help="concurrent clients; a comma list runs each in turn")
    ap.add_argument("--requests", type=int, default=400, help="requests per client count (and per dense path)")
    ap.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, seconds")
    ap.add_argument("--remove-fraction", type=float, default=0.0, help="share of documents removed before serving")
    ap.add_argument("--compare-dense-paths", action="store_true", help="also measure the pre-fix dense search")
    ap.add_argument(
        "--compare-ask-paths",
        action="store_true",
        help="in process only: /api/ask with faiss' OpenMP team (before issue 10) and with one thread (after)",
    )
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args(argv)
    client_counts = [int(c) for c in str(args.clients).split(",")]
    if not 0.0 <= args.remove_fraction < 1.0:
        ap.error(f"--remove-fraction must be in [0, 1), got {args.remove_fraction}")

    import uvicorn
    from fastapi.testclient import TestClient

    from qa_service.app import build_state, create_app
    from qa_service.loading import load_encoder, open_index
    from qa_service.store import Store

    data = Path(time.strftime("/tmp/qa-bench-%Y%m%d%H%M%S"))
    settings = Settings(
        corpus_path=_one_corpus(args.corpus, args.index_dir),
        index_dir=args.index_dir,
        data_dir=data,
        encoder=args.encoder,
        rate_limit_per_minute=10**7,
        rate_limit_burst=10**6,
        faq_path=data / "none.jsonl",
        push_deliver_interval_seconds=0,
    )
    t0 = time.perf_counter()
    index = open_index(settings, load_encoder(settings))
    removed = _remove_share(index, args.remove_fraction)
    state = build_state(settings, index=index, store=Store(":memory:"))
    snap = state.snapshot()
    load_s = time.perf_counter() - t0
    kind = "none" if index.dense is None else ("HNSW" if index.dense.is_approximate else "flat")
    dense = kind if index.dense is None else f"{index.dense.dim}-d, {kind}"
    print(
        f"loaded {len(snap.index.documents)} documents ({removed} removed), {len(snap.index)} live of "
        f"{len(snap.index.passages)} passages (dense: {dense}) in {load_s:.1f}s"
    )
    paths = list(DENSE_PATHS) if args.compare_dense_paths else ["faiss-selector (after)"]
    app = create_app(state=state)
    qs = _questions()
    if args.compare_ask_paths:
        with TestClient(app) as c:
            _compare_ask_paths(c, qs, rounds=3)
        return 0
    with TestClient(app) as c:
        for path in paths:
            with _dense_path(path):
                for q in qs[:10]:  # warm-up
                    c.post("/api/ask", json={"question": q})
                lat: list[float] = []
                abstained = 0
                for q in qs:
                    t = time.perf_counter()
                    r = c.post("/api/ask", json={"question": q})
                    lat.append((time.perf_counter() - t) * 1000)
                    abstained += bool(r.json().get("abstained"))
            print(
                f"in-process /api/ask over {len(lat)} questions, dense {path}: p50 {statistics.median(lat):.1f} ms, "
                f"p95 {_pct(lat, 95):.1f} ms, max {max(lat):.1f} ms; abstained {abstained}"
            )

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{args.port}/api/ask"
    try:
        for clients in client_counts:
            for path in paths:
                with _dense_path(path):
                    _load(url, qs, clients, min(2 * clients, args.requests), args.timeout)  # warm-up
                    res = _load(url, qs, clients, args.requests, args.timeout)
                print(f"loopback, {clients} concurrent clients, dense {path}: {res.line()}", flush=True)
    finally:
        server.should_exit = True
        th.join(timeout=10)
    return 0


def _compare_ask_paths(c, qs: Sequence[str], rounds: int) -> None:
    """Each path in turn, `rounds` times interleaved (a busy machine's load drifts), one client."""
    for q in qs[:10]:  # warm-up
        c.post("/api/ask", json={"question": q})
    lat: dict[str, list[float]] = {name: [] for name in ASK_PATHS}
    for _ in range(rounds):
        for name in ASK_PATHS:
            with _ask_path(name):
                for q in qs:
                    t = time.perf_counter()
                    c.post("/api/ask", json={"question": q})
                    lat[name].append((time.perf_counter() - t) * 1000)
    for name, xs in lat.items():
        print(
            f"in-process /api/ask, {name}: {len(xs)} requests, p50 {statistics.median(xs):.1f} ms, "
            f"p95 {_pct(xs, 95):.1f} ms, max {max(xs):.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    raise SystemExit(main())
