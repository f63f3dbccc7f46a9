"""Push matching at district scale: the columnar matcher on N generated profiles against a bare matvec.

    python -m eval bench-push --profiles 1000000 --out var/bench/push

Generates N profiles with a district's mix (most in 历城区's streets, the rest of 济南 and a few
elsewhere; residents and businesses; groups and topics with uneven popularity) and a random unit
description vector each (384 dims: the cost of a product does not depend on the content), loads
them into `corpus.push.columnar.ColumnarMatcher`, and prints, measured in the same run:

- matching one document (bitmap algebra + the vector product over its candidates, ranked), median
  over the first `--docs` labelled push-dev documents with their gold labels as the Targeting,
  beside a bare numpy N × dim fp32 matrix-vector product over the same vectors (interleaved, so
  the machine's load hits both alike), plus the time to turn the matches into reasons;
- the matcher's peak memory while it is built (peak RSS minus RSS before, the kernel's high-water
  mark reset first; an upper bound, freed temporaries included) and its resident size;
- build time; and a check against the reference `match()` on the first profiles.

Then (unless `--no-store`) it runs the store's half in a subprocess, `python -m qa_service.push bench`
(eval never imports qa_service): the time to plan one city-wide document into the outbox on
SQLite and PostgreSQL and the delivery throughput to a loopback webhook receiver with 1 and 4
workers, over the same generated profiles (`corpus.push.synthetic`, same seed), merged into
DIR/metrics.json. Without it (or with `--no-store`) those keys are null.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import match
from corpus.push.synthetic import CITYWIDE, profile_columns, profiles_of, read_targetings, unit_vectors
from corpus.push.targeting import Targeting

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_LABELS = SHARED_DATA / "eval" / "push-dev" / "doc_labels.jsonl"
DEFAULT_STREETS = SHARED_DATA / "regions" / "jinan_streets.csv"
T = TypeVar("T")
STORE_BENCH = REPO / "qa_service" / "push" / "bench.py"
# Written by the store's bench in its own process (eval never imports qa_service); null without it.
STORE_KEYS = tuple(
    f"{k}_{b}_{v}" for b in ("sqlite", "postgres") for k, v in (("plan_outbox", "s"), ("plan_outbox", "rows_per_s"))
) + tuple(f"deliver_{b}_{w}_per_s" for b in ("sqlite", "postgres") for w in ("1_worker", "4_workers"))


class UsageError(Exception):
    pass


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so the next VmHWM is this phase's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def load_targetings(path: Path, limit: int) -> list[Targeting]:
    try:
        return read_targetings(path, limit)
    except FileNotFoundError:
        raise UsageError(f"no labelled documents at {path} (give --labels doc_labels.jsonl)") from None


def _ms(fn: Callable[[], T]) -> tuple[float, T]:
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def run(n: int, out_dir: Path, labels: Path, streets: Path, n_docs: int, dim: int, seed: int, dtype: str) -> dict:
    docs = load_targetings(labels, n_docs)
    cols = profile_columns(n, seed, docs, streets)
    vectors = unit_vectors(n, dim, seed + 1)
    queries = unit_vectors(len(docs) + 1, dim, seed + 2)

    peak_reset = _reset_peak()
    rss0 = _status_mb("VmRSS")
    t0 = time.perf_counter()
    matcher = ColumnarMatcher.build(profiles_of(cols), vectors, vector_dtype=dtype)
    build_s = time.perf_counter() - t0
    peak, rss1 = _status_mb("VmHWM"), _status_mb("VmRSS")
    matcher_peak_mb = (peak - rss0) if (peak_reset and peak and rss0) else matcher.nbytes() / 2**20
    resident_mb = (rss1 - rss0) if (rss1 and rss0) else None

    matcher.match(docs[0], queries[0])  # warm up both paths
    _ = vectors @ queries[0]
    match_ms, matvec_ms, reasons_ms, sizes = [], [], [], []
    for t, q in zip(docs, queries, strict=False):
        ms, got = _ms(lambda t=t, q=q: matcher.match(t, q))
        match_ms.append(ms)
        sizes.append(len(got))
        matvec_ms.append(_ms(lambda q=q: vectors @ q)[0])
        reasons_ms.append(_ms(got.reasons)[0])

    city_ms, city = _ms(lambda: matcher.match(CITYWIDE, queries[-1]))

    # the matcher's pairs against the reference on the first profiles
    k = min(n, 2000)
    head = list(profiles_of(cols, k))
    head_ids = {p.profile_id for p in head}
    mismatches = 0
    for t in docs:
        want = {p.profile_id: r for p in head if (r := match(p, t)) is not None}
        got = {r.profile_id: r for r in matcher.match(t).reasons() if r.profile_id in head_ids}
        mismatches += len(set(want.items()) ^ set(got.items()))

    metrics = {
        "profiles": n,
        "documents": len(docs),
        "dim": dim,
        "vector_dtype": dtype,
        "match_ms_median": round(statistics.median(match_ms), 3),
        "match_ms_p95": round(sorted(match_ms)[int(0.95 * (len(match_ms) - 1))], 3),
        "match_ms_max": round(max(match_ms), 3),
        "matvec_ms_median": round(statistics.median(matvec_ms), 3),
        "match_to_matvec": round(statistics.median(match_ms) / max(statistics.median(matvec_ms), 1e-9), 3),
        "reasons_ms_median": round(statistics.median(reasons_ms), 3),
        "matches_median": statistics.median(sizes),
        "matches_max": max(sizes),
        "citywide_matches": len(city),
        "citywide_match_ms": round(city_ms, 3),
        "matcher_peak_mb": round(matcher_peak_mb, 1),
        "matcher_peak_method": "VmHWM - VmRSS before build" if peak_reset else "nbytes estimate",
        "matcher_resident_mb": None if resident_mb is None else round(resident_mb, 1),
        "matcher_nbytes_mb": round(matcher.nbytes() / 2**20, 1),
        "build_s": round(build_s, 2),
        "reference_checked_profiles": k,
        "reference_mismatches": mismatches,
        **dict.fromkeys(STORE_KEYS),  # filled by the store's bench (`python -m qa_service.push bench`)
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(out_dir / "metrics.json")
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval bench-push", description=__doc__.split("\n")[0])
    p.add_argument("--profiles", type=int, default=1_000_000, help="generated profiles (default 1,000,000)")
    p.add_argument("--out", type=Path, required=True, help="folder for metrics.json")
    p.add_argument("--docs", type=int, default=100, help="labelled documents matched (default 100)")
    p.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="push-dev doc_labels.jsonl")
    p.add_argument("--streets", type=Path, default=DEFAULT_STREETS, help="jinan_streets.csv")
    p.add_argument("--dim", type=int, default=384, help="description vector dimensions (default 384, e5-small)")
    p.add_argument("--vector-dtype", default="int8", choices=("int8", "float16"))
    p.add_argument("--seed", type=int, default=20261201)
    store = p.add_argument_group("the store's half (python -m qa_service.push bench, in a subprocess)")
    store.add_argument("--store", action=argparse.BooleanOptionalAction, default=STORE_BENCH.is_file(),
                       help="plan-to-outbox and delivery too (default: on when qa_service is there)")  # fmt: skip
    store.add_argument("--store-profiles", type=int, default=None, help="profiles stored (default: --profiles)")
    store.add_argument("--messages", type=int, default=2000, help="webhook messages delivered per run (default 2,000)")
    store.add_argument("--no-postgres", action="store_true", help="the store's half on SQLite only")
    store.add_argument("--pg-url", default=None, help="a PostgreSQL server for the store's half (default: throw-away)")
    args = p.parse_args(argv)
    try:
        if args.profiles < 1 or args.docs < 1 or args.dim < 1:
            raise UsageError("--profiles, --docs and --dim must be >= 1")
        if args.store and not STORE_BENCH.is_file():
            raise UsageError(f"--store needs {STORE_BENCH.relative_to(REPO)} (qa_service is not in this checkout)")
        m = run(args.profiles, args.out, args.labels, args.streets, args.docs, args.dim, args.seed, args.vector_dtype)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{m['profiles']:,} profiles, {m['documents']} documents: match {m['match_ms_median']:.2f} ms median "
        f"(p95 {m['match_ms_p95']:.2f}, max {m['match_ms_max']:.2f}; {m['matches_median']:.0f} matches median, "
        f"{m['matches_max']:,} max) vs bare fp32 matvec {m['matvec_ms_median']:.2f} ms "
        f"(ratio {m['match_to_matvec']:.3f}); reasons {m['reasons_ms_median']:.2f} ms median\n"
        f"city-wide document: {m['citywide_matches']:,} matches in {m['citywide_match_ms']:.1f} ms\n"
        f"matcher: peak {m['matcher_peak_mb']:.0f} MB ({m['matcher_peak_method']}), resident "
        f"{m['matcher_resident_mb']} MB, {m['matcher_nbytes_mb']:.0f} MB by its arrays; built in {m['build_s']:.1f} s\n"
        f"reference check on {m['reference_checked_profiles']:,} profiles: {m['reference_mismatches']} mismatches"
    )
    if not args.store:
        print(f"store's half skipped (--no-store): null {', '.join(STORE_KEYS)}")
        print(f"metrics in {args.out / 'metrics.json'}")
        return 0
    return run_store(args)


def run_store(args: argparse.Namespace) -> int:
    """The store's bench in its own process; it merges its keys into the same metrics.json and prints its table."""
    cmd = [sys.executable, "-m", "qa_service.push", "bench", "--out", str(args.out),
           "--profiles", str(args.store_profiles or args.profiles), "--messages", str(args.messages),
           "--labels", str(args.labels), "--docs", str(args.docs), "--streets", str(args.streets),
           "--seed", str(args.seed)]  # fmt: skip
    if args.no_postgres:
        cmd.append("--no-postgres")
    if args.pg_url:
        cmd += ["--pg-url", args.pg_url]
    sys.stdout.flush()
    rc = subprocess.run(cmd, cwd=REPO, check=False).returncode  # noqa: S603 (our own module)
    if rc != 0:
        print(f"error: the store's bench exited with {rc}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
