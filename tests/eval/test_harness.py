"""The harness on a tiny Chinese set with fake retrievers whose rankings can be worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from corpus.models import Passage
from eval.beir import BeirSet, Query
from eval.harness import Config, documents_from_hits, evaluate, run, wins_losses
from index.types import Filters, Hit, Retriever

LOG2_3 = math.log2(3)

# Passage texts are pre-segmented with spaces so the fake's matching is obvious to a reader.
PASSAGES = [
    Passage("A#0", "A", 0, "灵活就业人员 可按年度 缴纳 职工医保 费用。", 0, 22, "灵活就业人员医保缴费通知"),
    Passage("A#1", "A", 1, "缴费 基数 为 上年度 社会平均工资 的 60%。", 22, 44, "灵活就业人员医保缴费通知"),
    Passage("B#0", "B", 0, "高校毕业生 到 中小微企业 就业 的 给予 一次性 就业补贴。", 0, 30, "高校毕业生就业补贴"),
    Passage("C#0", "C", 0, "80周岁以上 老年人 每月 发放 高龄津贴 100元。", 0, 26, "高龄津贴发放办法"),
    Passage("D#0", "D", 0, "65周岁以上 老年人 免费 乘坐 公交车。", 0, 20, "老年人乘车优惠"),
]

QUERIES = {
    q.id: q
    for q in [
        Query("q1", "老年人 公交 免费", answer="免费乘坐公交车"),
        Query("q2", "老年人 免费 乘坐 津贴", answer="高龄津贴 100元"),
        Query("q3", "医保 缴费 基数"),
        Query("q4", "创业 担保 贷款"),  # no qrels: unjudged
        Query("q5", "高校毕业生 补贴"),
    ]
}
QRELS = {"q1": {"D": 1}, "q2": {"C": 1}, "q3": {"A": 1}, "q5": {"B": 2, "E": 1}}
DATA = BeirSet(queries=QUERIES, qrels=QRELS, name="tiny")


class KeywordRetriever:
    """Score = how many of the query's space-separated terms occur in the passage; 0 never returned."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, Filters | None]] = []

    def search(self, query: str, top_k: int = 10, filters: Filters | None = None) -> list[Hit]:
        self.calls.append((query, top_k, filters))
        if len(query) > 30:
            raise ValueError("query must be at most 30 characters")
        terms = query.split()
        scored = [(sum(t in p.text for t in terms), p) for p in PASSAGES]
        hits = [Hit(p, float(s)) for s, p in scored if s > 0]
        return sorted(hits, key=lambda h: -h.score)[:top_k]


class FixedOrderRetriever:
    """Returns every passage in one fixed order whatever the query: C#0, D#0, B#0, A#1, A#0."""

    ORDER = ["C#0", "D#0", "B#0", "A#1", "A#0"]

    def search(self, query: str, top_k: int = 10, filters: Filters | None = None) -> list[Hit]:
        by_id = {p.id: p for p in PASSAGES}
        return [Hit(by_id[pid], 5.0 - i) for i, pid in enumerate(self.ORDER)][:top_k]


def test_fakes_are_retrievers():
    assert isinstance(KeywordRetriever(), Retriever) and isinstance(FixedOrderRetriever(), Retriever)


def test_documents_from_hits_takes_best_passage():
    a0, a1, b0 = PASSAGES[0], PASSAGES[1], PASSAGES[2]
    hits = [Hit(a0, 0.4), Hit(b0, 0.7), Hit(a1, 0.9)]
    assert documents_from_hits(hits) == [("A", 0.9), ("B", 0.7)]


def test_evaluate_metrics_by_hand():
    retriever = KeywordRetriever()
    ev = evaluate(Config("keyword", retriever, {"kind": "fake"}), DATA, top_k=100)
    assert [c[:2] for c in retriever.calls] == [(q.text, 100) for q in QUERIES.values()]
    assert all(c[2] is None for c in retriever.calls)
    pq = ev.per_query
    # q1: D#0 matches 3 terms, C#0 one (老年人) -> D, C; relevant D first.
    assert pq["q1"]["ndcg@10"] == 1.0 and pq["q1"]["answer_hit@1"] == 1.0
    # q2: D#0 matches 3 (老年人 免费 乘坐), C#0 2 (老年人 津贴) -> relevant C at rank 2.
    assert pq["q2"]["mrr@10"] == 0.5 and pq["q2"]["ndcg@10"] == pytest.approx(1 / LOG2_3)
    assert pq["q2"]["recall@1"] == 0.0 and pq["q2"]["recall@5"] == 1.0
    # answer "高龄津贴 100元" is in C#0 (rank 2) once whitespace is dropped.
    assert (pq["q2"]["answer_hit@1"], pq["q2"]["answer_hit@5"]) == (0.0, 1.0)
    # q3: A#1 (缴费 基数) and A#0 (医保) are one document A at rank 1.
    assert ev.runs["q3"].docs == (("A", 2.0),) and pq["q3"]["ndcg@10"] == 1.0
    # q5: B (gain 2) at rank 1, E (gain 1) never retrieved: 2 / (2 + 1/log2(3)).
    assert pq["q5"]["ndcg@10"] == pytest.approx(2 / (2 + 1 / LOG2_3)) and pq["q5"]["recall@1"] == 0.5
    assert "q4" not in pq  # unjudged, no answer
    assert ev.n_queries == 5 and ev.n_judged == 4 and ev.n_unjudged == 1 and ev.n_answers == 2
    assert ev.metrics["ndcg@10"] == pytest.approx((1 + 1 / LOG2_3 + 1 + 2 / (2 + 1 / LOG2_3)) / 4, abs=1e-6)
    assert ev.metrics["answer_hit@1"] == 0.5 and ev.metrics["answer_hit@5"] == 1.0


def test_run_writes_metrics_run_file_and_report(tmp_path):
    [ev] = run([Config("keyword", KeywordRetriever(), {"kind": "fake"})], DATA, tmp_path / "out", top_k=10)
    out = tmp_path / "out"
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for key in (
        "ndcg@10",
        "mrr@10",
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@100",
        "answer_hit@1",
        "answer_hit@5",
        "answer_hit@10",
    ):
        assert m[key] == pytest.approx(ev.metrics[key])
    assert m["primary_metric"] == "ndcg@10"
    assert (m["n_queries"], m["n_judged"], m["n_unjudged"], m["n_errors"]) == (5, 4, 1, 0)
    assert m["config"] == {"kind": "fake"} and m["top_k"] == 10
    assert set(m["per_query"]) == {"q1", "q2", "q3", "q5"}
    assert m["per_query"]["q2"]["mrr@10"] == 0.5
    assert set(m["latency_ms"]) == {"p50", "p95", "mean"} and m["latency_ms"]["p95"] >= m["latency_ms"]["p50"]
    trec = (out / "run.trec").read_text(encoding="utf-8").splitlines()
    assert trec[:2] == ["q1 Q0 D 1 3.000000 keyword", "q1 Q0 C 2 1.000000 keyword"]
    assert "q3 Q0 A 1 2.000000 keyword" in trec and not any(line.startswith("q4 ") for line in trec)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| ndcg@10 |" in report and "1 unjudged" in report


def test_rejected_query_is_recorded_not_fatal(tmp_path):
    long_q = Query("q9", "老年人" * 11, answer="免费乘坐公交车")  # 33 chars: the fake rejects it
    data = BeirSet(queries={**QUERIES, "q9": long_q}, qrels={**QRELS, "q9": {"D": 1}})
    ev = evaluate(Config("keyword", KeywordRetriever()), data)
    assert ev.runs["q9"].error == "query must be at most 30 characters"
    assert ev.per_query["q9"]["ndcg@10"] == 0.0 and ev.per_query["q9"]["answer_hit@10"] == 0.0
    assert ev.to_json()["n_errors"] == 1


def test_wins_and_losses_against_baseline(tmp_path):
    configs = [Config("keyword", KeywordRetriever()), Config("fixed", FixedOrderRetriever())]
    evals = run(configs, DATA, tmp_path, top_k=100)
    assert (tmp_path / "keyword" / "metrics.json").is_file() and (tmp_path / "fixed" / "run.trec").is_file()
    wl = wins_losses(evals[0], evals[1], DATA)
    # fixed order C, D, B, A:  q1 (D) rank 2 -> 0.631 vs 1   loss -0.369
    #                          q2 (C) rank 1 -> 1 vs 0.631   win  +0.369
    #                          q3 (A) rank 4 -> 1/log2(5)=0.431 vs 1   loss -0.569
    #                          q5 (B:2) rank 3 -> (2/2)/(2+0.631)=0.380 vs 0.760   loss -0.380
    assert (wl["wins"], wl["losses"], wl["ties"]) == (1, 3, 0)
    assert [d["query_id"] for d in wl["top_wins"]] == ["q2"]
    assert [d["query_id"] for d in wl["top_losses"]] == ["q3", "q5", "q1"]
    assert wl["top_losses"][0]["delta"] == pytest.approx(1 / math.log2(5) - 1)
    assert wl["top_losses"][0]["text"] == "医保 缴费 基数"
    cmp = json.loads((tmp_path / "comparison.json").read_text(encoding="utf-8"))
    assert cmp["baseline"] == "keyword" and list(cmp["configs"]) == ["keyword", "fixed"]
    assert cmp["vs_baseline"]["fixed"]["losses"] == 3
    assert cmp["configs"]["fixed"]["metrics"]["ndcg@10"] == pytest.approx(evals[1].metrics["ndcg@10"])
    md = (tmp_path / "comparison.md").read_text(encoding="utf-8")
    assert "## fixed vs keyword (ndcg@10)" in md and "wins 1, losses 3, ties 0" in md and "医保 缴费 基数" in md


@pytest.mark.parametrize("name", ["", "a/b", "has space", ".hidden"])
def test_config_name_must_be_a_folder_name(name):
    with pytest.raises(ValueError, match="config name"):
        Config(name, KeywordRetriever())


def test_run_rejects_duplicate_names_and_bad_top_k(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        run([Config("a", KeywordRetriever()), Config("a", FixedOrderRetriever())], DATA, tmp_path)
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        evaluate(Config("a", KeywordRetriever()), DATA, top_k=0)
