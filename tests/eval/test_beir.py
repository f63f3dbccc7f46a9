from __future__ import annotations

import json

import pytest

from eval.beir import BeirFormatError, dataset_paths, load_qrels, load_queries, load_set


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _queries(tmp_path, rows):
    return _write(tmp_path / "queries.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def test_load_queries_keeps_order_answer_style_and_extra_fields(tmp_path):
    p = _queries(
        tmp_path,
        [
            {"_id": "q2", "text": "济南 网约车 驾驶员证", "style": "keyword", "doc_id": "d9"},
            {"_id": "q1", "text": "  灵活就业人员如何缴纳医保？ ", "answer": "按年度缴纳"},
        ],
    )
    qs = load_queries(p)
    assert list(qs) == ["q2", "q1"]
    assert qs["q1"].text == "灵活就业人员如何缴纳医保？"
    assert qs["q1"].answer == "按年度缴纳" and qs["q2"].answer is None
    assert qs["q2"].style == "keyword" and qs["q2"].metadata == {"doc_id": "d9"}


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "invalid JSON"),
        ('["q1", "text"]', "expected a JSON object"),
        ('{"text": "问题"}', "missing or empty '_id'"),
        ('{"_id": "q1", "text": "  "}', "missing or empty 'text'"),
        ('{"_id": "q1", "text": "问题", "answer": 5}', "'answer' must be a string"),
    ],
)
def test_malformed_queries_name_the_line(tmp_path, line, reason):
    p = _write(tmp_path / "queries.jsonl", '{"_id": "q0", "text": "第一个问题"}\n' + line + "\n")
    with pytest.raises(BeirFormatError, match=r"queries\.jsonl:2: .*" + reason.replace("(", r"\(")):
        load_queries(p)


def test_duplicate_query_id(tmp_path):
    p = _queries(tmp_path, [{"_id": "q1", "text": "一"}, {"_id": "q1", "text": "二"}])
    with pytest.raises(BeirFormatError, match="2: duplicate query id 'q1'"):
        load_queries(p)


def test_load_qrels_with_and_without_header(tmp_path):
    p = _write(tmp_path / "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\n\nq2\td1\t0\n")
    assert load_qrels(p) == {"q1": {"d1": 1, "d2": 2}, "q2": {"d1": 0}}
    p2 = _write(tmp_path / "noheader.tsv", "q1\td1\t1\n")
    assert load_qrels(p2) == {"q1": {"d1": 1}}


@pytest.mark.parametrize(
    "body, reason",
    [
        ("q1\td1\n", "expected 3 tab-separated columns .* got 2"),
        ("q1 d1 1\n", "expected 3 tab-separated columns .* got 1"),
        ("q1\td1\thigh\n", "score must be an integer, got 'high'"),
        ("q1\t\t1\n", "empty query-id or corpus-id"),
        ("q1\td1\t1\nq1\td1\t2\n", "conflicting scores 1 and 2"),
    ],
)
def test_malformed_qrels(tmp_path, body, reason):
    p = _write(tmp_path / "qrels.tsv", "query-id\tcorpus-id\tscore\n" + body)
    with pytest.raises(BeirFormatError, match=r"qrels\.tsv:\d+: " + reason):
        load_qrels(p)


def test_missing_files(tmp_path):
    with pytest.raises(BeirFormatError, match="qrels file not found"):
        load_qrels(tmp_path / "nope.tsv")
    with pytest.raises(BeirFormatError, match="no judgments"):
        load_qrels(_write(tmp_path / "empty.tsv", "query-id\tcorpus-id\tscore\n"))


def test_load_set_drops_unknown_qrels_and_limits(tmp_path):
    q = _queries(tmp_path, [{"_id": "q1", "text": "一"}, {"_id": "q2", "text": "二"}, {"_id": "q3", "text": "三"}])
    r = _write(tmp_path / "qrels.tsv", "q1\td1\t1\nq3\td3\t0\nzz\td1\t1\n")
    s = load_set(q, r)
    assert s.qrels == {"q1": {"d1": 1}, "q3": {"d3": 0}}
    assert s.judged_ids() == ["q1"]  # q3 only has a non-relevant judgment
    assert list(s.limit(2).queries) == ["q1", "q2"] and s.limit(2).qrels == {"q1": {"d1": 1}}
    with pytest.raises(ValueError, match="limit must be >= 1"):
        s.limit(0)


def test_dataset_paths(tmp_path):
    q, r, c = dataset_paths("ncp-dev", tmp_path)
    assert q == tmp_path / "eval/ncp-dev/queries.jsonl" and c == tmp_path / "corpus/policies.jsonl"
    with pytest.raises(ValueError, match="ncp-dev, resident-qa-dev"):
        dataset_paths("msmarco", tmp_path)
