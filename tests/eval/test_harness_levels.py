"""Judgment at the level of the qrels: documents for policies, articles for the law corpus."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from corpus.models import Passage
from eval.__main__ import main
from eval.beir import BeirSet, Query
from eval.harness import Config, documents_from_hits, judgment_level, run
from index.types import Hit


def _p(pid: str, doc: str, article: str) -> Passage:
    return Passage(pid, doc, 0, "x", 0, 1, "某法", ("第一章", article), source_ids=(f"{doc}-{article}",))


# Law L (articles 1 and 2), law M (article 1); passage L#1 is a second piece of article 1.
HITS = [
    Hit(_p("L#2", "L", "2"), 0.9),
    Hit(_p("M#0", "M", "1"), 0.8),
    Hit(_p("L#0", "L", "1"), 0.7),
    Hit(_p("L#1", "L", "1"), 0.75),
]


def test_articles_ranked_by_their_best_passage() -> None:
    assert documents_from_hits(HITS, "article") == [("L-2", 0.9), ("M-1", 0.8), ("L-1", 0.75)]
    assert documents_from_hits(HITS, "document") == [("L", 0.9), ("M", 0.8)]
    with pytest.raises(ValueError, match="document, article"):
        documents_from_hits(HITS, "law")


def test_judgment_level_follows_the_qrels() -> None:
    docs, sources = {"L", "M"}, {"L-1", "L-2", "M-1"}
    assert judgment_level({"q": {"L-1": 1}, "r": {"M-1": 1}}, docs, sources) == "article"
    assert judgment_level({"q": {"L": 1}}, docs, sources) == "document"
    # a policy corpus: every passage's source is its document, so both name it: documents win the tie
    assert judgment_level({"q": {"A": 1}}, {"A"}, {"A"}) == "document"
    with pytest.raises(ValueError, match="no judged id"):
        judgment_level({"q": {"Z-9": 1}}, docs, sources)


class _Fixed:
    def search(self, query, top_k=10, filters=None):
        return HITS[:top_k]


def test_article_level_run_scores_articles_and_says_so(tmp_path) -> None:
    data = BeirSet(queries={"q": Query("q", "问题")}, qrels={"q": {"L-1": 1}}, name="law")
    (ev,) = run([Config("fixed", _Fixed())], data, tmp_path, top_k=10, judged_on="article")
    # L-1 is third among articles: nDCG@10 = 1 / log2(4) = 0.5; judged at document level it would be first
    assert ev.metrics["ndcg@10"] == pytest.approx(1 / math.log2(4))
    assert json.loads((tmp_path / "metrics.json").read_text())["judged_on"] == "article"


@pytest.mark.slow
def test_stard_subset_end_to_end(shared_dir: Path, tmp_path: Path) -> None:
    """Real lay legal questions over every article of the laws they cite (BM25, no encoding)."""
    stard = shared_dir / "data" / "eval" / "stard-dev"
    qrels = [ln.split("\t") for ln in (stard / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    qids = list(dict.fromkeys(q for q, _, _ in qrels))[:40]
    wanted = {a for q, a, _ in qrels if q in qids}
    law_of = {}
    rows = []
    with (shared_dir / "data" / "corpus" / "law_articles.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            rows.append(row)
            if row["_id"] in wanted:
                law_of[row["law_id"]] = True
    subset = [r for r in rows if r["law_id"] in law_of]
    corpus = tmp_path / "laws.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset), encoding="utf-8")
    queries = tmp_path / "queries.jsonl"
    lines = (stard / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    by_id = {json.loads(ln)["_id"]: ln for ln in lines}
    queries.write_text("\n".join(by_id[q] for q in qids) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    rc = main(
        [
            "run",
            *("--corpus", str(corpus), "--queries", str(queries), "--qrels", str(stard / "qrels.tsv")),
            *("--retriever", "bm25", "--out", str(out), "--index-dir", str(tmp_path / "cache"), "--quiet"),
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["judged_on"] == "article" and m["n_judged"] == len(qids)
    # judged on law documents this scored 0.000 (ranked laws, judged articles); now articles are found
    assert m["recall@100"] > 0.5 and m["ndcg@10"] > 0.2
    run_lines = (out / "run.trec").read_text(encoding="utf-8").splitlines()
    assert all(line.split()[2] in {r["_id"] for r in subset} for line in itertools.islice(run_lines, 200))
    assert len(subset) > len(wanted)
