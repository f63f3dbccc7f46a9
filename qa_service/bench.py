"""Benchmark of /api/ask: latency p50/p95 in process, then requests/s with N concurrent clients on loopback.

    python -m qa_service.bench --corpus ../shared/data/corpus/law_articles.jsonl --index-dir var/bench-index \
        [--encoder none] [--clients 16] [--requests 400] [--port 8765]

Questions are the resident-qa-dev questions if found, else a built-in list. No generator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qa_service.bench")
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--index-dir", type=Path, default=REPO_ROOT / "var" / "bench-index")
    ap.add_argument("--encoder", default="none")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args(argv)

    import httpx
    import uvicorn
    from fastapi.testclient import TestClient

    from qa_service.app import build_state, create_app
    from qa_service.store import Store

    data = Path(time.strftime("/tmp/qa-bench-%Y%m%d%H%M%S"))
    settings = Settings(
        corpus_path=args.corpus,
        index_dir=args.index_dir,
        data_dir=data,
        encoder=args.encoder,
        rate_limit_per_minute=10**7,
        rate_limit_burst=10**6,
        faq_path=data / "none.jsonl",
    )
    t0 = time.perf_counter()
    state = build_state(settings, store=Store(":memory:"))
    snap = state.snapshot()
    load_s = time.perf_counter() - t0
    print(f"loaded {len(snap.index.documents)} documents, {len(snap.index)} passages in {load_s:.1f}s")
    app = create_app(state=state)
    qs = _questions()
    lat: list[float] = []
    abstained = 0
    with TestClient(app) as c:
        for q in qs[:10]:  # warm-up
            c.post("/api/ask", json={"question": q})
        for q in qs:
            t = time.perf_counter()
            r = c.post("/api/ask", json={"question": q})
            lat.append((time.perf_counter() - t) * 1000)
            abstained += bool(r.json().get("abstained"))
    print(
        f"in-process /api/ask over {len(lat)} questions: p50 {statistics.median(lat):.1f} ms, "
        f"p95 {_pct(lat, 95):.1f} ms, max {max(lat):.1f} ms; abstained {abstained}"
    )

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{args.port}/api/ask"
    client_lat: list[float] = []

    def worker(i: int) -> int:
        with httpx.Client(timeout=60) as hc:
            n = 0
            for k in range(i, args.requests, args.clients):
                t = time.perf_counter()
                r = hc.post(url, json={"question": qs[k % len(qs)]})
                client_lat.append((time.perf_counter() - t) * 1000)
                n += r.status_code == 200
            return n

    t = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as ex:
        ok = sum(ex.map(worker, range(args.clients)))
    wall = time.perf_counter() - t
    server.should_exit = True
    th.join(timeout=10)
    print(
        f"loopback, {args.clients} concurrent clients: {ok}/{args.requests} ok in {wall:.1f}s = "
        f"{ok / wall:.1f} req/s; client-side p50 {statistics.median(client_lat):.0f} ms, "
        f"p95 {_pct(client_lat, 95):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
