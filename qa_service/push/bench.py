"""Push store at district scale: plan one city-wide document into the outbox, then deliver to a webhook.

    python -m qa_service.push bench --profiles 1000000 --out var/bench/push [--pg-url URL]

The other half of `python -m eval bench-push` (which measures the columnar matcher and runs this
as a subprocess: eval never imports qa_service). Same generated profiles (`corpus.push.synthetic`,
same seed, streets and labels); measured in one run, on SQLite (a temp file) and on PostgreSQL
(a throw-away server, `qa_service.push.pg_temp`, fsync on; or databases created on `--pg-url`):

- plan: the city-wide document (`synthetic.CITYWIDE`: 济南, residents, 社会保险 / 医疗卫生) against
  N stored profiles: `planner.match_entries` with the columnar matcher (matching + building the
  entries) then `PushStore.enqueue` (batched inserts; COPY on PostgreSQL), rows written, rows/s.
  70% of profiles are inbox only, 20% add e-mail, 10% SMS, so a match writes 1.3 rows on average.
  The profiles are bulk-loaded first (setup, timed apart: the store has no bulk subscribe).
- deliver: `--messages` webhook rows for as many matching profiles, delivered by
  `worker.run(..., WorkerConfig(workers=w), once=True)` through the real `WebhookChannel` to an HTTP
  receiver on 127.0.0.1 started here (in-process threads), which checks each signature and counts
  idempotency keys: each must arrive exactly once. Reference in the same run: the same channel
  posting as many messages straight to the receiver, no store (`deliver_reference_post_per_s`).

Merges its keys into DIR/metrics.json (written atomically) and prints a table. Without PostgreSQL
the `*_postgres_*` keys are null and `postgres_unavailable` says why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from corpus.models import Document
from corpus.push import synthetic
from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import match
from corpus.push.profiles import Profile
from qa_service.push.channels._http import HttpConfig
from qa_service.push.channels.webhook import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    WebhookConfig,
    verify_signature,
)
from qa_service.push.pg_temp import TempPostgres, find_pg_bin, unavailable
from qa_service.push.planner import match_entries
from qa_service.push.records import (
    Contact,
    ContactChannel,
    OutboxEntry,
    PushMessage,
    hash_token,
    outbox_key,
    profile_values,
)
from qa_service.push.store import PushStore
from qa_service.push.worker import WorkerConfig, run

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
SECRET = "whsec-bench-loopback"  # the receiver's check of the real signatures
DOC = Document("bench-citywide", "济南市城乡居民医疗保险参保缴费通知（基准测试）", "基准测试用的全市性政策。")
VERSION = "bench-v1"
CONTACTS = (
    (Contact(),) * 7
    + (Contact(ContactChannel.EMAIL, "bench@example.invalid"),) * 2
    + (Contact(ContactChannel.SMS, "13800000000"),)
)


# -- the loopback receiver -------------------------------------------------------------------------
class Receiver:
    """An HTTP server on 127.0.0.1 that accepts signed webhook POSTs and counts their idempotency keys."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.bad_signatures = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify_signature(SECRET, body, self.headers.get(SIGNATURE_HEADER),
                                      self.headers.get(TIMESTAMP_HEADER), time.time())  # fmt: skip
                with receiver._lock:
                    receiver.keys[self.headers.get(KEY_HEADER, "")] += ok
                    receiver.bad_signatures += not ok
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: Any) -> None:  # no line per request
                pass

        ThreadingHTTPServer.request_queue_size = 128
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, name="bench-receiver", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self._lock:
            self.keys.clear()
            self.bad_signatures = 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- stores ----------------------------------------------------------------------------------------
class _Server:
    """Creates and drops the bench's databases on a PostgreSQL server given by URL (needs CREATEDB)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, make_url

        self._url = make_url(url)
        self._engine = create_engine(self._url, isolation_level="AUTOCOMMIT")

    def create_database(self, name: str) -> str:
        from sqlalchemy import text

        with self._engine.connect() as c:
            c.execute(text(f"CREATE DATABASE {name}"))
        return self._url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name: str) -> None:
        from sqlalchemy import text

        with self._engine.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def stop(self) -> None:
        self._engine.dispose()


@contextmanager
def opened(backend: str, name: str, tmp: Path, pg: Any) -> Iterator[PushStore]:
    """A fresh, empty store for one measurement; removed afterwards."""
    if backend == "sqlite":
        path = tmp / f"{name}.sqlite3"
        store = PushStore(path)
        try:
            yield store
        finally:
            store.close()
            for p in tmp.glob(f"{name}.sqlite3*"):
                p.unlink()
        return
    db = f"bench_push_{name}_{int(time.time() * 1000) % 10**9}"
    store = PushStore(url=pg.create_database(db))
    try:
        yield store
    finally:
        store.close()
        pg.drop_database(db)


def load_profiles(store: PushStore, profiles: Iterable[tuple[Profile, Contact]], batch: int = 20_000) -> int:
    """Bulk subscribe (setup only; the service subscribes one at a time): create_profile's row, batched."""
    from sqlalchemy import text

    now, n, rows = time.time(), 0, []
    cols: list[str] = []

    def flush() -> None:
        if not rows:
            return
        with store.engine.begin() as db:
            if store.sqlite:
                names = ", ".join(":" + c for c in cols)
                db.execute(text(f"INSERT INTO profiles ({', '.join(cols)}) VALUES ({names})"), rows)
            else:
                with db.connection.driver_connection.cursor().copy(
                    f"COPY profiles ({', '.join(cols)}) FROM STDIN"
                ) as copy:
                    for r in rows:
                        copy.write_row([r[c] for c in cols])
        rows.clear()

    for p, contact in profiles:
        values = {"id": p.profile_id, "token_hash": hash_token("bench-" + p.profile_id),
                  **profile_values(p, contact), "created": now, "updated": now}  # fmt: skip
        cols = cols or list(values)
        rows.append(values)
        n += 1
        if len(rows) >= batch:
            flush()
    flush()
    return n


# -- the measurements ------------------------------------------------------------------------------
def bench_plan(store: PushStore, cols: dict[str, list], matcher: ColumnarMatcher) -> dict[str, Any]:
    t0 = time.perf_counter()
    pairs = zip(synthetic.profiles_of(cols), (CONTACTS[i % 10] for i in range(len(cols["kind"]))), strict=True)
    load_profiles(store, pairs)
    load_s = time.perf_counter() - t0
    cpu0, t0 = time.process_time(), time.perf_counter()
    entries = match_entries(DOC, VERSION, synthetic.CITYWIDE, matcher)
    t1 = time.perf_counter()
    rows = store.enqueue(DOC.id, VERSION, entries)
    t2, cpu = time.perf_counter(), time.process_time() - cpu0  # this process only (not PostgreSQL's server)
    stored = store.status_counts()["pending"]
    if stored != rows:
        raise RuntimeError(f"enqueue reported {rows} rows, the outbox holds {stored}")
    return {"load_profiles_s": load_s, "matches": len(entries), "match_entries_s": t1 - t0, "enqueue_s": t2 - t1,
            "s": t2 - t0, "cpu_s": cpu, "rows": rows}  # fmt: skip


def delivery_profiles(m: int, seed: int, docs: Sequence[Any], streets: Path | None) -> list[Profile]:
    """The first `m` generated profiles the city-wide document reaches."""
    out: list[Profile] = []
    n = 4 * m
    while len(out) < m:
        cols = synthetic.profile_columns(n, seed, docs, streets)
        out = [p for p in synthetic.profiles_of(cols) if match(p, synthetic.CITYWIDE) is not None][:m]
        n *= 2
    return out


def _channel() -> WebhookChannel:
    return WebhookChannel(WebhookConfig(HttpConfig(allow_loopback=True)))


def bench_deliver(store: PushStore, people: list[Profile], workers: int, receiver: Receiver) -> dict[str, Any]:
    contact = Contact(channels=("webhook",), webhook_url=receiver.url, webhook_secret=SECRET)
    load_profiles(store, ((p, contact) for p in people))
    entries = [OutboxEntry(p.profile_id, DOC.id, VERSION, DOC.title, "/doc/bench", "基准测试。") for p in people]
    store.enqueue(DOC.id, VERSION, entries)
    want = {outbox_key(p.profile_id, DOC.id, VERSION, "webhook") for p in people}
    receiver.reset()
    t0 = time.perf_counter()
    run(store, {"webhook": _channel()}, WorkerConfig(workers=workers, interval=0.05), once=True)
    elapsed = time.perf_counter() - t0
    got = receiver.keys
    sent = sum(r["sent"] for r in store.status_by_document(DOC.id) if r["channel"] == "webhook")
    once = set(got) == want and all(c == 1 for c in got.values()) and receiver.bad_signatures == 0 and sent == len(want)
    return {"s": elapsed, "per_s": len(want) / elapsed, "received": sum(got.values()), "distinct": len(got),
            "exactly_once": once, "bad_signatures": receiver.bad_signatures}  # fmt: skip


def bench_reference(people: list[Profile], receiver: Receiver) -> float:
    """Messages/s of the same channel posting straight to the receiver, one thread, no store."""
    contact = Contact(channels=("webhook",), webhook_url=receiver.url, webhook_secret=SECRET)
    channel = _channel()
    receiver.reset()
    t0 = time.perf_counter()
    for i, p in enumerate(people):
        channel.send(PushMessage(i, f"ref-{i}", p.profile_id, DOC.id, VERSION, DOC.title, "/doc/bench", "基准测试。",
                                 None, (), False, 0, contact, "webhook", webhook_url=receiver.url,
                                 webhook_secret=SECRET))  # fmt: skip
    return len(people) / (time.perf_counter() - t0)


def _progress(what: str) -> None:
    # on stderr: the table on stdout stays clean, and a long run shows where it is
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def _worker_key(backend: str, w: int) -> str:
    return f"deliver_{backend}_{w}_worker{'s' if w > 1 else ''}"


def backend_keys(b: str, workers: Sequence[int], plan: dict[str, Any] | None, deliver: dict[int, dict]) -> dict:
    """The metrics of one backend; all null when it was not measured."""
    p = plan or {}
    out: dict[str, Any] = {
        f"plan_outbox_{b}_s": p.get("s"),
        f"plan_outbox_{b}_client_cpu_s": p.get("cpu_s"),
        f"plan_outbox_{b}_rows": p.get("rows"),
        f"plan_outbox_{b}_rows_per_s": round(p["rows"] / p["s"]) if p else None,
        f"plan_{b}_match_entries_s": p.get("match_entries_s"),
        f"plan_{b}_enqueue_s": p.get("enqueue_s"),
        f"load_profiles_{b}_s": p.get("load_profiles_s"),
    }
    for w in workers:
        d = deliver.get(w, {})
        k = _worker_key(b, w)
        out.update({k + "_per_s": d.get("per_s"), k + "_s": d.get("s"), k + "_exactly_once": d.get("exactly_once"),
                    k + "_received": d.get("received")})  # fmt: skip
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def _postgres(args: argparse.Namespace) -> tuple[Any, str | None]:
    """(server the bench creates its databases on, None) or (None, why PostgreSQL is not measured)."""
    if args.no_postgres:
        return None, "skipped (--no-postgres)"
    if args.pg_url:
        return _Server(args.pg_url), None
    pg_bin = args.pg_bin or find_pg_bin()
    reason = unavailable(pg_bin)
    if reason is not None or pg_bin is None:
        return None, reason
    try:
        return TempPostgres(pg_bin, fsync=True).start(), None
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return None, f"the throw-away server did not start: {type(exc).__name__}: {exc}"[:300]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    try:
        docs = synthetic.read_targetings(args.labels, args.docs)
    except FileNotFoundError:
        docs = []  # the labels only add the few places outside 济南; the eval half requires them
    cols = synthetic.profile_columns(args.profiles, args.seed, docs, args.streets)
    t0 = time.perf_counter()
    matcher = ColumnarMatcher.build(synthetic.profiles_of(cols))
    out: dict[str, Any] = {
        "store_profiles": args.profiles,
        "store_matcher_build_s": round(time.perf_counter() - t0, 2),
        "plan_document": "citywide: 济南市, residents, 社会保险/医疗卫生",
    }
    people = delivery_profiles(args.messages, args.seed + 7, docs, args.streets)
    pg, out["postgres_unavailable"] = _postgres(args)
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory(prefix="push-bench-") as tmp:
            for b in ("sqlite", "postgres"):
                plan, deliver = None, {}
                if b == "sqlite" or pg is not None:
                    with opened(b, "plan", Path(tmp), pg) as store:
                        plan = bench_plan(store, cols, matcher)
                    out["plan_matches"] = plan["matches"]
                    _progress(f"{b}: {args.profiles:,} profiles loaded in {plan['load_profiles_s']:.0f} s, "
                              f"{plan['rows']:,} rows planned in {plan['s']:.1f} s")  # fmt: skip
                    for w in args.workers:
                        with opened(b, f"deliver{w}", Path(tmp), pg) as store:
                            deliver[w] = bench_deliver(store, people, w, receiver)
                        _progress(f"{b}: {len(people):,} messages, {w} worker(s): {deliver[w]['s']:.1f} s")
                out.update(backend_keys(b, args.workers, plan, deliver))
        out["deliver_messages"] = len(people)
        out["deliver_reference_post_per_s"] = round(bench_reference(people, receiver), 1)
    finally:
        receiver.close()
        if pg is not None:
            pg.stop()
    return out


def merge_metrics(out_dir: Path, new: dict[str, Any]) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    metrics.update(new)
    tmp = path.with_suffix(f".json.{hashlib.sha1(str(time.time()).encode()).hexdigest()[:8]}.tmp")
    tmp.write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
    return metrics


def table(m: dict[str, Any], workers: Sequence[int]) -> str:
    def f(v: Any, spec: str) -> str:
        return "—" if v is None else format(v, spec)

    lines = [
        f"plan-to-outbox of one city-wide document over {m['store_profiles']:,} profiles "
        f"({m.get('plan_matches') or 0:,} matches); delivery of {m.get('deliver_messages') or 0:,} webhook "
        "messages to a loopback receiver",
        " ".join(
            [f"{'backend':<9}", f"{'plan s':>8}", f"{'rows':>9}", f"{'rows/s':>9}"]
            + [f"{f'{w} worker/s':>12}" for w in workers]
        ),  # fmt: skip
    ]
    for b in ("sqlite", "postgres"):
        cells = [
            f(m.get(f"plan_outbox_{b}_s"), ".2f"),
            f(m.get(f"plan_outbox_{b}_rows"), ",d"),
            f(m.get(f"plan_outbox_{b}_rows_per_s"), ",d"),
        ]
        cells += [f(m.get(_worker_key(b, w) + "_per_s"), ",.0f") for w in workers]
        once = [m.get(_worker_key(b, w) + "_exactly_once") for w in workers]
        note = "" if None in once else "  each message exactly once" if all(once) else "  MISSING OR DUPLICATED"
        row = [f"{b:<9}", f"{cells[0]:>8}", f"{cells[1]:>9}", f"{cells[2]:>9}", *(f"{c:>12}" for c in cells[3:])]
        lines.append(" ".join(row) + note)
    ref = f(m.get("deliver_reference_post_per_s"), ",.0f")
    lines.append(f"reference: the webhook channel posting straight to the receiver, no store: {ref}/s")
    if m.get("postgres_unavailable"):
        lines.append(f"postgres: {m['postgres_unavailable']}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profiles", type=int, default=1_000_000, help="generated profiles stored (default 1,000,000)")
    p.add_argument("--out", type=Path, required=True, help="folder of metrics.json (merged into)")
    p.add_argument("--messages", type=int, default=2000, help="webhook messages delivered per run (default 2,000)")
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4],
                   help="worker counts, comma-separated (default 1,4)")  # fmt: skip
    p.add_argument("--pg-url", default=None, help="a PostgreSQL server to create the bench's databases on "
                   "(CREATEDB needed); default: a throw-away server")  # fmt: skip
    p.add_argument("--pg-bin", type=Path, default=None, help="PostgreSQL bin dir (default: newest under /usr/lib)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--labels", type=Path, default=SHARED_DATA / "eval" / "push-dev" / "doc_labels.jsonl")
    p.add_argument("--docs", type=int, default=100, help="labelled documents read (their places), as eval's")
    p.add_argument("--streets", type=Path, default=SHARED_DATA / "regions" / "jinan_streets.csv")
    p.add_argument("--seed", type=int, default=20261201)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qa_service.push bench", description=__doc__.split("\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    if args.profiles < 1 or args.messages < 1 or not args.workers or min(args.workers) < 1:
        print("error: --profiles, --messages and --workers must be >= 1", file=sys.stderr)
        return 2
    m = merge_metrics(args.out, run_bench(args))
    print(table(m, args.workers))
    if "matvec_ms_median" in m:
        print(f"same run (eval bench-push): match {m.get('match_ms_median')} ms median vs bare fp32 matvec "
              f"{m['matvec_ms_median']} ms over {m.get('profiles', 0):,} profiles")  # fmt: skip
    print(f"metrics in {args.out / 'metrics.json'}")
    ok = all(m.get(_worker_key(b, w) + "_exactly_once") is not False for b in ("sqlite", "postgres")
             for w in args.workers)  # fmt: skip
    return 0 if ok else 1
