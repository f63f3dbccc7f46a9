"""Generated subscribers for the push benchmarks: a district's realistic mix, deterministic from a seed.

Shared by `python -m eval bench-push` (matching) and `python -m qa_service.push bench` (outbox and
delivery), which must see the same profiles but may not import each other. Pure: numpy and the
push types only; the streets table is read from the CSV given (districts only without it).

Mix: 80% in 历城区's streets, 14% elsewhere in 济南, 6% outside (the labelled documents' own
areas, so some of them reach someone); 8% businesses; groups and topics drawn by an uneven
popularity. Description vectors are random unit vectors (a product's cost does not depend on
the content).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from corpus import regions
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import BUSINESS_GROUPS, Audience

Place = tuple[str | None, str | None, str | None, str | None]  # province, city, district, street

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

# The benchmarks' city-wide document: a 济南 policy for residents on two common topics.
CITYWIDE = Targeting(
    "citywide",
    (Audience.RESIDENT,),
    Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市"),
    topics=("社会保险", "医疗卫生"),
)


def read_targetings(path: Path, limit: int | None = None) -> list[Targeting]:
    """Gold labels (push-dev `doc_labels.jsonl`), the first `limit`; FileNotFoundError when missing."""
    if not path.is_file():
        raise FileNotFoundError(path)
    with path.open(encoding="utf-8") as f:
        docs = [Targeting.from_dict(json.loads(line)) for line in f if line.strip()]
    return docs if limit is None else docs[:limit]


def places(streets_csv: Path | None) -> tuple[list[Place], list[Place]]:
    """(province, city, district, street) of 历城区 and of the rest of 济南 (districts only without the CSV)."""
    if streets_csv is not None and streets_csv.is_file():
        with streets_csv.open(encoding="utf-8") as f:
            rows: list[Place] = [(r["province"], r["city"], r["district"], r["street"]) for r in csv.DictReader(f)]
    else:
        rows = [("山东省", "济南市", d, None) for d in regions.JINAN_DISTRICTS]
    return [r for r in rows if r[2] == "历城区"], [r for r in rows if r[2] != "历城区"]


def elsewhere(docs: Sequence[Targeting]) -> list[Place]:
    """Places outside 济南 for the few subscribers who live elsewhere: the documents' own areas."""
    out: list[Place] = [("山东省", "青岛市", "市南区", None)]
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


def profile_columns(n: int, seed: int, docs: Sequence[Targeting], streets_csv: Path | None) -> dict[str, list]:
    """N profiles as columns (cheap to hold): 80% 历城区, 14% elsewhere in 济南, 6% outside; 8% businesses."""
    rng = np.random.default_rng(seed)
    licheng, jinan = places(streets_csv)
    outside = elsewhere(docs)
    where = rng.random(n)
    place_idx = rng.integers(0, 1 << 30, n)
    at = [
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
    return {"kind": kinds, "place": at, "groups": groups, "topics": topics}


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
