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

Plan-to-outbox (SQLite / PostgreSQL) and delivery throughput need the SQLAlchemy store, which lives
in qa_service (eval never imports it): their keys are written as null until that bench exists.
Writes DIR/metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from corpus import regions
from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import BUSINESS_GROUPS, Audience

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_LABELS = SHARED_DATA / "eval" / "push-dev" / "doc_labels.jsonl"
DEFAULT_STREETS = SHARED_DATA / "regions" / "jinan_streets.csv"
T = TypeVar("T")
PENDING = ("plan_outbox_sqlite_s", "plan_outbox_postgres_s", "deliver_per_s_1_worker", "deliver_per_s_4_workers")

# Popularity of groups and topics among residents (a district's subscribers: families, workers, the old).
RESIDENT_GROUP_WEIGHT = {"老年人": 8, "学生及家长": 10, "育儿家庭": 8, "外来务工与新市民": 6, "灵活就业人员": 5,
                         "高校毕业生": 4, "失业人员": 3, "农民工": 3, "农民": 4, "困难群众": 3, "残疾人": 2,
                         "退役军人": 2, "医护人员": 2, "个体工商户": 1, "中小微企业": 0.5}  # fmt: skip
RESIDENT_TOPIC_WEIGHT = {"社会保险": 10, "医疗卫生": 9, "教育": 9, "住房保障": 6, "就业创业": 6, "养老服务": 6,
                         "公共服务": 5, "交通出行": 4, "城市更新": 3, "户籍与居住证": 3, "社会救助": 3,
                         "文化体育": 3, "消费促进": 2, "生态环境": 2, "疫情防控与应急": 1, "农业农村": 2,
                         "税费": 1, "市场监管": 1, "规划与土地": 1, "惠企与营商环境": 0.5}  # fmt: skip
BUSINESS_TOPICS = {"惠企与营商环境": 10, "税费": 8, "市场监管": 5, "就业创业": 3, "社会保险": 3, "消费促进": 2,
                   "农业农村": 1, "规划与土地": 1, "生态环境": 1, "交通出行": 1}  # fmt: skip


class UsageError(Exception):
    pass


def _places(streets_csv: Path) -> tuple[list[tuple[str, str, str, str | None]], list[tuple[str, str, str, str | None]]]:
    """(province, city, district, street) of 历城区 and of the rest of 济南 (districts only without the CSV)."""
    if streets_csv.is_file():
        with streets_csv.open(encoding="utf-8") as f:
            rows = [(r["province"], r["city"], r["district"], r["street"]) for r in csv.DictReader(f)]
    else:
        rows = [("山东省", "济南市", d, None) for d in regions.JINAN_DISTRICTS]
    return [r for r in rows if r[2] == "历城区"], [r for r in rows if r[2] != "历城区"]


def _elsewhere(docs: Sequence[Targeting]) -> list[tuple[str, str | None, str | None, None]]:
    """Places outside 济南 for the few subscribers who live elsewhere: the documents' own areas."""
    out: list[tuple[str, str | None, str | None, None]] = [("山东省", "青岛市", "市南区", None)]
    for t in docs:
        j = t.jurisdiction
        if j.province and j.city != "济南市":
            out.append((j.province, j.city, j.districts[0] if j.districts else None, None))
    return list(dict.fromkeys(out))


def _pick(rng: np.random.Generator, weights: dict[str, float], k: np.ndarray) -> list[tuple[str, ...]]:
    """k[i] distinct names per row, drawn by weight without replacement (Gumbel top-k, vectorised)."""
    names = list(weights)
    logw = np.log(np.array([weights[n] for n in names], dtype=np.float32))
    out: list[tuple[str, ...]] = []
    for s in range(0, len(k), 65536):
        keys = logw - np.log(-np.log(rng.random((min(65536, len(k) - s), len(names)), dtype=np.float32) + 1e-12))
        order = np.argsort(-keys, axis=1).tolist()
        out.extend(tuple(names[j] for j in row[:n]) for row, n in zip(order, k[s : s + 65536].tolist(), strict=True))
    return out


def profile_columns(n: int, seed: int, docs: Sequence[Targeting], streets_csv: Path) -> dict[str, list]:
    """N profiles as columns (cheap to hold): 80% 历城区, 14% elsewhere in 济南, 6% outside; 8% businesses."""
    rng = np.random.default_rng(seed)
    licheng, jinan = _places(streets_csv)
    outside = _elsewhere(docs)
    where = rng.random(n)
    place_idx = rng.integers(0, 1 << 30, n)
    places = [
        licheng[i % len(licheng)] if w < 0.80 else jinan[i % len(jinan)] if w < 0.94 else outside[i % len(outside)]
        for w, i in zip(where.tolist(), place_idx.tolist(), strict=True)
    ]
    business = rng.random(n) < 0.08
    n_groups = rng.choice([0, 1, 2, 3], size=n, p=[0.3, 0.4, 0.2, 0.1])
    n_topics = rng.choice([1, 2, 3, 4], size=n, p=[0.35, 0.35, 0.2, 0.1])
    groups = _pick(rng, RESIDENT_GROUP_WEIGHT, n_groups)
    topics = _pick(rng, RESIDENT_TOPIC_WEIGHT, n_topics)
    b_groups = _pick(rng, dict.fromkeys(BUSINESS_GROUPS, 1.0), rng.choice([0, 1], size=n, p=[0.3, 0.7]))
    b_topics = _pick(rng, BUSINESS_TOPICS, n_topics)
    kinds = [Audience.ENTERPRISE if b else Audience.RESIDENT for b in business.tolist()]
    groups = [bg if b else g for b, g, bg in zip(business.tolist(), groups, b_groups, strict=True)]
    topics = [bt if b else t for b, t, bt in zip(business.tolist(), topics, b_topics, strict=True)]
    return {"kind": kinds, "place": places, "groups": groups, "topics": topics}


def profile_id(i: int) -> str:
    # the service's shape (p- and 16 hex digits); an odd multiplier mod 2**64 keeps them unique
    return f"p-{(i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF:016x}"


def profiles_of(cols: dict[str, list], stop: int | None = None) -> Iterator[Profile]:
    for i in range(len(cols["kind"]) if stop is None else stop):
        province, city, district, street = cols["place"][i]
        yield Profile(profile_id(i), cols["kind"][i], province, city, district, street, cols["groups"][i],
                      cols["topics"][i])  # fmt: skip


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 65536):
        block = rng.standard_normal((min(65536, n - s), dim), dtype=np.float32)
        out[s : s + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


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
    if not path.is_file():
        raise UsageError(f"no labelled documents at {path} (give --labels doc_labels.jsonl)")
    with path.open(encoding="utf-8") as f:
        docs = [Targeting.from_dict(json.loads(line)) for line in f if line.strip()]
    return docs[:limit]


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

    jinan = Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市")
    citywide = Targeting("citywide", (Audience.RESIDENT,), jinan, topics=("社会保险", "医疗卫生"))
    city_ms, city = _ms(lambda: matcher.match(citywide, queries[-1]))

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
        **dict.fromkeys(PENDING),  # filled by the store's bench (SQLAlchemy outbox, workers)
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
    args = p.parse_args(argv)
    try:
        if args.profiles < 1 or args.docs < 1 or args.dim < 1:
            raise UsageError("--profiles, --docs and --dim must be >= 1")
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
        f"reference check on {m['reference_checked_profiles']:,} profiles: {m['reference_mismatches']} mismatches\n"
        f"not measured here yet: {', '.join(PENDING)}\n"
        f"metrics in {args.out / 'metrics.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
