"""eval/answers.py: hit rules, the abstention counts, and the CLI end to end on a tiny corpus."""

from __future__ import annotations

import json

import pytest

from eval.answers import Judged, calibrate, char_f1, main, metrics_at, span_hit


def test_char_f1_arithmetic():
    # pred 每月800元 (6 chars), gold 每月发放800元 (8 chars): 6 common -> P=1, R=0.75, F1=6/7.
    assert char_f1("每月800元", "每月发放800元") == pytest.approx(6 / 7)
    assert char_f1("abc", "xyz") == 0.0


def test_span_hit_contains_or_f1():
    sents = ["第二条 每月发放租房补贴800元。", "最长36个月。"]
    assert span_hit(sents, "租房补贴800元", 1)
    assert not span_hit(sents, "最长36个月", 1) and span_hit(sents, "最长 36 个月", 2)
    assert not span_hit(sents, "一次性就业补贴5000元", 2)


def _j(qid, answerable, conf, doc_ok, sents=("s",)):
    rel = frozenset({"d1"}) if answerable else frozenset()
    return Judged(qid, "q", answerable, None, rel, conf, tuple(sents), "d1" if doc_ok else "d9", {})


def test_metrics_at_counts_each_outcome():
    judged = [
        _j("a", True, 0.9, True),
        _j("b", True, 0.9, False),
        _j("c", True, 0.3, True),
        _j("u", False, 0.2, False),
        _j("v", False, 0.8, False),
    ]
    m = metrics_at(judged, 0.5)
    # answered: a (ok), b (wrong doc), v (unanswerable -> wrong); abstained: c (false), u (correct).
    assert (m["answered_correctly"], m["wrong_answers"], m["false_abstentions"], m["abstained_correctly"]) == (
        1,
        2,
        1,
        1,
    )
    assert m["abstain_precision"] == 0.5 and m["abstain_recall"] == 0.5
    assert m["false_abstention_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["citation_doc_hit@1"] == pytest.approx(1 / 3, abs=1e-4)
    best, table = calibrate(judged)
    assert 0.2 < best <= 0.3 and len(table) == 101  # abstains on u only, keeps c


def test_cli_writes_metrics(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    docs = [
        {
            "_id": "d1",
            "title": "历城区高校毕业生租房补贴办法",
            "text": "第二条 在区内就业的毕业生，每月发放租房补贴800元，最长发放36个月。",
        },
        {"_id": "d2", "title": "济南市城市供水条例", "text": "第十条 供水企业应当保证城市供水水质符合国家标准。"},
    ]
    corpus.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs), encoding="utf-8")
    queries = tmp_path / "queries.jsonl"
    qs = [
        {"_id": "q1", "text": "毕业生租房补贴每月多少", "answer": "每月发放租房补贴800元"},
        {"_id": "q2", "text": "你好"},
    ]
    queries.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in qs), encoding="utf-8")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = main(
        [
            "--corpus",
            str(corpus),
            "--queries",
            str(queries),
            "--qrels",
            str(qrels),
            "--out",
            str(out),
            "--index-dir",
            str(tmp_path / "idx"),
            "--mode",
            "bm25",
            "--threshold",
            "0.3",
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["answer_hit_rule"] == "contains_or_char_f1>=0.5"
    assert m["answer_hit@1"] == 1.0 and m["citation_doc_hit@1"] == 1.0
    assert m["abstain_recall"] == 1.0 and m["false_abstention_rate"] == 0.0
    assert (
        main(
            [
                "--corpus",
                str(tmp_path / "missing.jsonl"),
                "--queries",
                str(queries),
                "--qrels",
                str(qrels),
                "--out",
                str(out),
            ]
        )
        == 2
    )
