"""Exact metric values, with the arithmetic written out (as sentence-transformers' IR evaluator tests do)."""

from __future__ import annotations

import math

import pytest

from eval import metrics as M

LOG2_3 = math.log2(3)  # discount at rank 2
LOG2_5 = math.log2(5)  # discount at rank 4

# Ranked run for one query: d2 > d1 > d4 > d3. Relevant: d1, d3 and d9 (never retrieved).
RUN = {"d2": 0.9, "d1": 0.8, "d4": 0.7, "d3": 0.6}
QRELS = {"d1": 1, "d3": 1, "d9": 1}


def test_rank_sorts_by_score_and_keeps_insertion_order_on_ties():
    assert M.rank({"x": 1.0, "a": 2.0, "b": 1.0, "c": 3.0}) == ["c", "a", "x", "b"]


def test_recall():
    ranked = M.rank(RUN)
    assert M.recall_at_k(ranked, QRELS, 1) == 0.0  # d2 is not relevant
    assert M.recall_at_k(ranked, QRELS, 2) == pytest.approx(1 / 3)  # d1 of {d1, d3, d9}
    assert M.recall_at_k(ranked, QRELS, 5) == pytest.approx(2 / 3)  # d1, d3; d9 never retrieved
    assert M.recall_at_k(ranked, QRELS, 100) == pytest.approx(2 / 3)


def test_mrr():
    ranked = M.rank(RUN)
    assert M.mrr_at_k(ranked, QRELS, 10) == 0.5  # first relevant (d1) at rank 2
    assert M.mrr_at_k(ranked, QRELS, 1) == 0.0  # cut-off before it
    assert M.mrr_at_k(["d3", "d1"], QRELS, 10) == 1.0


def test_ndcg_binary():
    # DCG  = 0/log2(2) + 1/log2(3) + 0/log2(4) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
    # IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4)             = 1 + 0.63093 + 0.5  = 2.13093
    expected = (1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3 + 0.5)
    assert expected == pytest.approx(0.498190, abs=1e-6)
    assert M.ndcg_at_k(M.rank(RUN), QRELS, 10) == pytest.approx(expected)
    # At k=2 only d1 counts: DCG = 1/log2(3); IDCG = 1 + 1/log2(3).
    assert M.ndcg_at_k(M.rank(RUN), QRELS, 2) == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))


def test_ndcg_graded_and_binary_gains_differ():
    rel = {"a": 2, "b": 1}
    ranked = ["b", "c", "a"]
    # graded: DCG = 1/1 + 0 + 2/log2(4) = 2.0; IDCG = 2/1 + 1/log2(3) = 2.63093 -> 0.760188
    assert M.ndcg_at_k(ranked, rel, 10) == pytest.approx(2.0 / (2 + 1 / LOG2_3))
    assert M.ndcg_at_k(ranked, rel, 10) == pytest.approx(0.760188, abs=1e-6)
    # binary: DCG = 1 + 0 + 1/2 = 1.5; IDCG = 1 + 1/log2(3) = 1.63093 -> 0.919720
    assert M.ndcg_at_k(ranked, rel, 10, graded=False) == pytest.approx(1.5 / (1 + 1 / LOG2_3))
    assert M.ndcg_at_k(ranked, rel, 10, graded=False) == pytest.approx(0.919720, abs=1e-6)


def test_ndcg_ideal_is_cut_at_k():
    # 12 relevant docs, the top 10 all relevant: ideal DCG@10 is also 10 relevant -> 1.0, not 10/12.
    rel = {f"d{i}": 1 for i in range(12)}
    assert M.ndcg_at_k([f"d{i}" for i in range(10)], rel, 10) == pytest.approx(1.0)


def test_zero_relevance_judgments_count_as_not_relevant():
    rel = {"d1": 0, "d2": 1}
    assert M.mrr_at_k(["d1", "d2"], rel, 10) == 0.5
    assert M.ndcg_at_k(["d1", "d2"], rel, 10) == pytest.approx(1 / LOG2_3)


@pytest.mark.parametrize("fn", [M.recall_at_k, M.ndcg_at_k])
def test_undefined_without_relevant_docs(fn):
    with pytest.raises(ValueError, match="without relevant"):
        fn(["d1"], {"d1": 0}, 10)


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.mrr_at_k(["d1"], {"d1": 1}, k)


def test_answer_hit_ignores_whitespace():
    passages = [
        "北京市对因疫情影响暂停举办的展会项目给予支持。",
        "如年内继续在京举办的，补助金额 不超过\n50万元。",
    ]
    answer = "补助金额不超过 50万元"
    assert M.answer_hit_at_k(passages, answer, 1) == 0.0  # first passage lacks the span
    assert M.answer_hit_at_k(passages, answer, 5) == 1.0  # second has it once spaces are dropped
    assert M.answer_metrics(passages, answer) == {"answer_hit@1": 0.0, "answer_hit@5": 1.0, "answer_hit@10": 1.0}
    assert M.answer_hit_at_k([], answer, 10) == 0.0


def test_answer_hit_needs_answer_text():
    with pytest.raises(ValueError, match="answer must contain"):
        M.answer_hit_at_k(["任意文本"], " \n", 1)


def test_evaluate_run_and_mean():
    run = {"q1": RUN, "q2": {"d7": 1.0, "d8": 0.5}}
    qrels = {
        "q1": QRELS,
        "q2": {"d8": 1},
        "q3": {"d1": 1},  # judged but missing from the run: scores 0
        "q4": {"d1": 0},  # no relevant doc: left out
    }
    original = {q: dict(v) for q, v in run.items()}
    per_query = M.evaluate_run(run, qrels)
    assert run == original  # inputs are not mutated
    assert set(per_query) == {"q1", "q2", "q3"}
    assert per_query["q2"]["mrr@10"] == 0.5
    assert per_query["q2"]["ndcg@10"] == pytest.approx(1 / LOG2_3)  # relevant at rank 2, ideal 1
    assert per_query["q3"] == {k: 0.0 for k in per_query["q3"]}
    mean = M.mean(per_query)
    # mrr@10: (0.5 + 0.5 + 0) / 3
    assert mean["mrr@10"] == pytest.approx(1 / 3)
    # recall@100: (2/3 + 1 + 0) / 3
    assert mean["recall@100"] == pytest.approx((2 / 3 + 1) / 3)
    assert set(mean) == {"ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"}
