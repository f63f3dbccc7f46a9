"""`python -m eval` end to end, in process, on a tiny BEIR set with the real PolicyIndex in BM25 mode."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.__main__ import StderrProgress, main

DOCS = [
    {
        "_id": "doc-elder",
        "title": "济南市老年人乘车优惠办法",
        "text": "65周岁以上老年人凭老年优待证免费乘坐城市公交车。",
    },
    {
        "_id": "doc-grad",
        "title": "高校毕业生就业补贴申领指南",
        "text": "高校毕业生到中小微企业就业，可申领一次性就业补贴三千元。",
    },
    {
        "_id": "doc-rent",
        "title": "公共租赁住房保障实施细则",
        "text": "符合条件的住房困难家庭可以申请公共租赁住房，租金按市场租金的六成确定。",
    },
]
QUERIES = [
    {"_id": "q1", "text": "老年人坐公交免费吗", "answer": "免费乘坐城市公交车"},
    # Judged against doc-rent on purpose: nothing in it matches, so every metric of q2 is 0.
    {"_id": "q2", "text": "毕业生就业补贴多少钱"},
    {"_id": "q3", "text": "公共租赁住房租金怎么定"},  # no qrels row: unjudged
]
QRELS = "query-id\tcorpus-id\tscore\nq1\tdoc-elder\t1\nq2\tdoc-rent\t1\n"


@pytest.fixture
def beir(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    (d / "corpus.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in DOCS), "utf-8")
    (d / "queries.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in QUERIES), "utf-8")
    (d / "qrels.tsv").write_text(QRELS, encoding="utf-8")
    return d


def _args(beir, tmp_path, *extra):
    return [
        "--corpus", str(beir / "corpus.jsonl"),
        "--queries", str(beir / "queries.jsonl"),
        "--qrels", str(beir / "qrels.tsv"),
        "--index-dir", str(tmp_path / "cache"),
        "--quiet",
        *extra,
    ]  # fmt: skip


def test_run_bm25_end_to_end_and_reuses_index(beir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *_args(beir, tmp_path, "--retriever", "bm25", "--out", str(out))]) == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    # q1 ranks doc-elder first (only it shares 老年人/公交/免费); q2's judged doc is never retrieved.
    assert m["per_query"]["q1"]["ndcg@10"] == 1.0 and m["per_query"]["q1"]["answer_hit@1"] == 1.0
    assert m["per_query"]["q2"]["ndcg@10"] == 0.0 and m["per_query"]["q2"]["recall@100"] == 0.0
    assert m["ndcg@10"] == 0.5 and m["recall@1"] == 0.5  # (1 + 0) / 2 judged queries
    assert (m["n_queries"], m["n_judged"], m["n_unjudged"]) == (3, 2, 1)
    assert m["config"]["retriever"] == "bm25" and m["config"]["encoder"] is None
    trec = (out / "run.trec").read_text(encoding="utf-8").splitlines()
    assert trec[0].startswith("q1 Q0 doc-elder 1 ") and any(line.startswith("q3 Q0 doc-rent 1 ") for line in trec)
    assert "bm25: ndcg@10=0.5000" in capsys.readouterr().out
    # Same corpus and config: the saved index is reused, not built again beside it.
    assert main(["run", *_args(beir, tmp_path, "--retriever", "bm25", "--out", str(tmp_path / "out2"))]) == 0
    assert len([p for p in (tmp_path / "cache").iterdir() if p.name.startswith("index-")]) == 1
    m2 = json.loads((tmp_path / "out2" / "metrics.json").read_text(encoding="utf-8"))
    assert m2["per_query"] == m["per_query"]


def test_default_hybrid_falls_back_to_bm25_without_encoder(beir, tmp_path, capsys):
    missing = tmp_path / "no-model"
    out = tmp_path / "out"
    assert main(["run", *_args(beir, tmp_path, "--model", str(missing), "--out", str(out))]) == 0
    assert "falling back to --retriever bm25" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["config"]["retriever"] == "bm25"


def test_explicit_dense_without_encoder_is_an_error(beir, tmp_path, capsys):
    args = _args(
        beir, tmp_path, "--retriever", "dense", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "o")
    )
    assert main(["run", *args]) == 2
    assert "dense needs an encoder" in capsys.readouterr().err


class CharBagEncoder:
    """Deterministic offline stand-in for the model: a bag of characters hashed into 64 dims."""

    name = "char-bag-64"
    dim = 64

    def _encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                out[i, ord(ch) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def encode_queries(self, texts):
        return self._encode(texts)

    def encode_passages(self, texts):
        return self._encode(texts)


def test_compare_three_modes_side_by_side(beir, tmp_path, monkeypatch):
    import eval.__main__ as cli

    monkeypatch.setattr(cli, "_load_encoder", lambda kind, model: CharBagEncoder())
    out = tmp_path / "cmp"
    assert main(["compare", *_args(beir, tmp_path, "--retrievers", "bm25,dense,hybrid", "--out", str(out))]) == 0
    for name in ("bm25", "dense", "hybrid"):
        assert (out / name / "metrics.json").is_file() and (out / name / "run.trec").is_file()
    cmp = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert cmp["baseline"] == "bm25" and list(cmp["configs"]) == ["bm25", "dense", "hybrid"]
    assert cmp["configs"]["bm25"]["metrics"]["ndcg@10"] == 0.5  # same as the single bm25 run
    assert cmp["configs"]["dense"]["config"]["encoder"] == "char-bag-64"
    dense = json.loads((out / "dense" / "metrics.json").read_text(encoding="utf-8"))
    # Dense has no score floor: on a 3-document corpus it returns every document, so q2's judged doc is found.
    assert dense["per_query"]["q2"]["recall@100"] == 1.0
    for name in ("dense", "hybrid"):
        wl = cmp["vs_baseline"][name]
        assert wl["wins"] + wl["losses"] + wl["ties"] == 2  # the two judged queries
    assert "| bm25 |" in (out / "comparison.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "qrels, reason",
    [
        ("q1\tdoc-elder\tyes\n", "qrels.tsv:1: score must be an integer"),
        ("q1\tdoc-elder\n", "qrels.tsv:1: expected 3 tab-separated columns"),
    ],
)
def test_malformed_qrels_exit_2_with_line(beir, tmp_path, capsys, qrels, reason):
    (beir / "qrels.tsv").write_text(qrels, encoding="utf-8")
    assert main(["run", *_args(beir, tmp_path, "--retriever", "bm25", "--out", str(tmp_path / "o"))]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "extra, reason",
    [
        (["--retriever", "rrf"], "search mode must be one of bm25, dense, hybrid, got 'rrf'"),
        (["--top-k", "0"], "--top-k must be >= 1, got 0"),
        (["--limit", "0"], "--limit must be >= 1, got 0"),
        (["--passages", "5", "--top-k", "10", "--retriever", "bm25"], "--passages must be >= --top-k (10), got 5"),
    ],
)
def test_bad_values_exit_2(beir, tmp_path, capsys, extra, reason):
    assert main(["run", *_args(beir, tmp_path, "--out", str(tmp_path / "o"), *extra)]) == 2
    assert reason in capsys.readouterr().err


def test_missing_inputs_exit_2(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "o"), "--queries", str(tmp_path / "q.jsonl")]) == 2
    assert "missing --corpus, --qrels" in capsys.readouterr().err


def test_unknown_option_exits_2():
    with pytest.raises(SystemExit) as e:
        main(["run", "--out", "x", "--frobnicate"])
    assert e.value.code == 2


def test_progress_lines_when_not_a_terminal():
    class Sink:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    sink = Sink()
    p = StderrProgress(sink)
    for i in range(1, 201):
        p("bm25 queries", i, 200)
    lines = sink.text.splitlines()
    # One line at the first call, then one per 10% step: 1, 20, 40, ..., 200.
    assert len(lines) == 11 and lines[0].startswith("bm25 queries: 1/200 (0%)")
    assert lines[-1].startswith("bm25 queries: 200/200 (100%)")
