"""`python -m eval push` on a tiny hand-labelled folder, fold assignment, bootstrap; one slow run on push-dev."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.__main__ import main as eval_main
from eval.push_cv import assign_folds, bootstrap_draws, bootstrap_interval
from eval.push_models import LEARNED_PRIMARY

JINAN = {"level": "municipal", "province": "山东省", "city": "济南市", "district": None}
DOCS = [
    {
        "_id": "a",
        "title": "济南市高校毕业生就业补贴办法",
        "text": "第一条 本市行政区域内高校毕业生到企业就业的，可以申请就业补贴。\n"
        "第二条 高校毕业生申请补贴应当提交毕业证书。",
    },
    {
        "_id": "b",
        "title": "济南市城市道路停车管理规定",
        "text": "第一条 本市行政区域内机动车停车适用本规定。\n"
        "第二条 市民和单位和个人应当遵守停车规定，不得占用道路停车。",
    },
    {"_id": "c", "title": "济南市人民政府关于规范性文件备案的复函", "text": "经研究，同意备案。"},
]
# Gold labels. The rules predict (checked by hand against corpus.push.labels):
#   a: resident, 济南, 高校毕业生, topics 就业创业      (gold adds 教育: one missed topic)
#   b: resident+enterprise, 济南, no group, 交通出行    (gold: resident only -> audience wrong)
#   c: no audience (复函), 济南, 公共服务
LABELS = [
    {
        "_id": "a",
        "audience": ["resident"],
        "jurisdiction": JINAN,
        "groups": ["高校毕业生"],
        "topics": ["就业创业", "教育"],
    },
    {"_id": "b", "audience": ["resident"], "jurisdiction": JINAN, "groups": [], "topics": ["交通出行"]},
    {"_id": "c", "audience": [], "jurisdiction": JINAN, "groups": [], "topics": ["公共服务"]},
]
PROFILES = [
    {
        "profile_id": "P1",
        "kind": "resident",
        "province": "山东省",
        "city": "济南市",
        "district": "历城区",
        "groups": ["高校毕业生"],
        "topics": ["教育"],
        "description": "我是应届高校毕业生，想了解就业补贴。",
    },
    {"profile_id": "P2", "kind": "resident", "province": "山东省", "city": "济南市", "topics": ["交通出行"]},
    {"profile_id": "P3", "kind": "enterprise", "province": "山东省", "city": "济南市", "topics": ["交通出行"]},
]
# Gold rule on the gold labels: P1-a (group), P2-b (topic); P3 is an enterprise and b is for residents.
MATCHES = "profile_id\t_id\tsplit\nP1\ta\tdev\nP2\tb\tdev\n"


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "push"
    d.mkdir()
    (d / "doc_labels.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LABELS), "utf-8")
    (d / "profiles.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PROFILES), "utf-8")
    (d / "matches.tsv").write_text(MATCHES, encoding="utf-8")
    corpus = tmp_path / "policies.jsonl"
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in DOCS), encoding="utf-8")
    return d, corpus


KEYS = {
    "match_precision",
    "match_recall",
    "match_f1",
    "match_precision_ci95",
    "match_recall_ci95",
    "match_f1_ci95",
    "audience_accuracy",
    "jurisdiction_accuracy",
    "groups_precision",
    "groups_recall",
    "topics_precision",
    "topics_recall",
    "primary_metric",
}


def test_cli_writes_metrics_with_hand_derived_values(folder: tuple[Path, Path], tmp_path: Path) -> None:
    labels, corpus = folder
    out = tmp_path / "out"
    assert eval_main(["push", "--labels", str(labels), "--corpus", str(corpus), "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert KEYS <= set(m)
    assert m["primary_metric"] == "match_f1" and m["labeller"] == "rules"
    # predicted pairs: P1-a (group), P2-b and P3-b (topic 交通出行; b predicted for enterprises too)
    # tp 2 (P1-a, P2-b), fp 1 (P3-b), fn 0 -> P 2/3, R 1, F1 = 2 * (2/3) / (5/3) = 0.8
    assert m["match_precision"] == pytest.approx(2 / 3)
    assert m["match_recall"] == 1.0
    assert m["match_f1"] == pytest.approx(0.8)
    assert m["audience_accuracy"] == pytest.approx(2 / 3)  # b is wrong
    assert m["jurisdiction_accuracy"] == 1.0
    assert (m["groups_precision"], m["groups_recall"]) == (1.0, 1.0)
    # topics: tp 3 (就业创业, 交通出行, 公共服务), fp 0, fn 1 (教育)
    assert (m["topics_precision"], m["topics_recall"]) == (1.0, 0.75)
    lo, hi = m["match_f1_ci95"]
    assert lo <= m["match_f1"] <= hi
    assert m["per_document"]["b"]["match_tp_fp_fn"] == [1, 1, 0]


def test_cli_cv_with_fake_encoder_reports_rules_beside_learned(folder: tuple[Path, Path], tmp_path: Path) -> None:
    labels, corpus = folder
    out = tmp_path / "out"
    argv = ["push", "--labels", str(labels), "--corpus", str(corpus), "--out", str(out), "--cv", "3"]
    argv += ["--encoder", "fake", "--cache", str(tmp_path / "cache"), "--quiet"]
    assert eval_main(argv) == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert KEYS | {"auto_precision", "auto_share"} <= set(m) and m["labeller"] == LEARNED_PRIMARY
    assert set(m["variants"]) == {"rules", "logreg", "audience_hand", "groups_model"}
    assert m["variants"]["rules"]["match_f1"] == pytest.approx(0.8)
    assert len(m["run"]["folds"]["logreg"]) == len(m["run"]["folds"]["audience_hand"]) == 3
    assert 0.0 <= m["auto_share"] <= 1.0 and all(0 <= d["confidence"] <= 1 for d in m["per_document"].values())
    assert list((tmp_path / "cache").glob("features-*.npz"))
    assert all("groups" in d for d in m["per_document"].values()) and m["match_reliability"]
    table = (out / "metrics.md").read_text(encoding="utf-8")
    assert "| rules (before) |" in table and "(shipped)" in table and "auto_share" in table
    suggested = m["run"]["profile_suggestions"]  # only P1 describes themselves: 高校毕业生 is named
    assert suggested["profiles"] == 1 and suggested["groups_all_candidates"]["recall"] == 1.0


def test_train_audience_writes_the_models(folder: tuple[Path, Path], tmp_path: Path) -> None:
    from corpus.push.audience_model import AudienceModel
    from corpus.push.confidence import ConfidenceModel
    from corpus.push.match_model import MatchModel

    labels, corpus = folder
    stem = tmp_path / "res" / "push_audience"
    argv = ["push", "train-audience", "--labels", str(labels), "--corpus", str(corpus), "--out", str(stem)]
    assert eval_main(argv + ["--cv", "3", "--encoder", "fake", "--cache", str(tmp_path / "c"), "--quiet"]) == 0
    am = AudienceModel.load(stem)
    assert am.embedding_dim == 0 and am.info["encoder"].startswith("fake") and "train-audience" in am.info["rebuild"]
    assert 0.0 <= ConfidenceModel.load(tmp_path / "res" / "push_confidence").auto_threshold <= 1.0
    assert 0.0 <= MatchModel.load(tmp_path / "res" / "push_match").auto_threshold <= 1.0


def test_train_groups_writes_the_model(folder: tuple[Path, Path], tmp_path: Path) -> None:
    from corpus.push.group_model import GroupModel

    labels, corpus = folder
    stem = tmp_path / "res" / "push_groups"
    argv = ["push", "train-groups", "--labels", str(labels), "--corpus", str(corpus), "--out", str(stem), "--cv", "3"]
    assert eval_main(argv) == 0
    m = GroupModel.load(stem)
    # one candidate (高校毕业生 in a), and it is gold: a single class gives its smoothed rate
    assert m.info["n_candidates"] == 1 and "train-groups" in m.info["rebuild"]
    assert m.groups("", DOCS[0]["text"])[0] == ("高校毕业生",)


@pytest.mark.parametrize("argv, message", [(["--cv", "1"], "--cv must be >= 2"), (["--cv", "9"], "k must be 2..3")])
def test_cli_rejects_bad_folds(
    folder: tuple[Path, Path], tmp_path: Path, argv: list[str], message: str, capsys
) -> None:
    labels, corpus = folder
    base = ["push", "--labels", str(labels), "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--quiet"]
    assert eval_main(base + argv + ["--encoder", "fake", "--cache", str(tmp_path / "c")]) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_folder(tmp_path: Path, capsys) -> None:
    assert eval_main(["push", "--labels", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "not found" in capsys.readouterr().err


def test_folds_are_grouped_by_document_deterministic_and_balanced() -> None:
    ids = [f"d{i:02d}" for i in range(23)]
    folds = assign_folds(ids + ids[:5], 5)  # repeated ids (several rows of one document) share a fold
    assert set(folds) == set(ids)
    assert folds == assign_folds(list(reversed(ids)), 5) == assign_folds(ids, 5)
    sizes = sorted(np.bincount(list(folds.values())).tolist())
    assert sizes == [4, 4, 5, 5, 5]
    assert assign_folds(ids, 5, seed=1) != folds


@pytest.mark.parametrize("k", [1, 24])
def test_folds_reject_bad_k(k: int) -> None:
    with pytest.raises(ValueError, match="k must be 2..23"):
        assign_folds([f"d{i}" for i in range(23)], k)


def test_bootstrap_interval_brackets_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, size=(60, 3))
    draws = bootstrap_draws(60, 1000, seed=7)
    assert draws.shape == (1000, 60)
    assert (draws == bootstrap_draws(60, 1000, seed=7)).all()
    tp, fp, fn = counts.sum(axis=0)
    p, r = tp / (tp + fp), tp / (tp + fn)
    point = [p, r, 2 * p * r / (p + r)]
    ci = bootstrap_interval(counts, draws)
    for j in range(3):
        assert ci[j, 0] < point[j] < ci[j, 1]


@pytest.mark.slow
@pytest.mark.shared
def test_out_of_fold_on_push_dev(shared_dir: Path, tmp_path: Path) -> None:
    """5-fold out of fold on push-dev, one run for every learned part (2026-12-02): topics F1 0.774 vs rules
    0.739; learned audience 0.717 vs 0.692; learned groups F1 0.700 vs rules 0.675 and match F1 0.699 vs
    0.660 with the rule groups (rules alone 0.635); P(match) auto-send far from the goal (see README)."""
    import shutil

    from eval.push_cv import DEFAULT_CACHE

    cache = tmp_path / "c"
    if DEFAULT_CACHE.is_dir():  # reuse the embeddings, never write into the working tree
        shutil.copytree(DEFAULT_CACHE, cache)
    out = tmp_path / "cv"
    labels = shared_dir / "data" / "eval" / "push-dev"
    argv = ["push", "--labels", str(labels), "--out", str(out), "--cv", "5", "--cache", str(cache), "--quiet"]
    assert eval_main(argv) == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    v = m["variants"]
    rules, topics, audience, shipped = v["rules"], v["logreg"], v["audience_hand"], v["groups_model"]
    assert m["n_documents"] >= 276 and m["labeller"] == "groups_model"
    assert topics["topics_f1"] >= 0.76 and topics["topics_f1_delta_ci95"][0] > 0
    assert audience["audience_accuracy"] > rules["audience_accuracy"]
    assert shipped["groups_f1"] > rules["groups_f1"] + 0.01
    assert shipped["match_f1"] >= 0.68 and shipped["match_f1"] > audience["match_f1"] > rules["match_f1"]
    assert 0.0 <= m["auto_share"] <= 1.0 and m["match_reliability"]
    s = m["run"]["profile_suggestions"]
    assert s["profiles"] == 48 and s["groups_all_candidates"]["precision"] >= 0.8
    assert "(shipped)" in (out / "metrics.md").read_text(encoding="utf-8")


def test_shipped_labeller_needs_the_models_encoder(folder: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    labels, corpus = folder
    argv = ["push", "--labels", str(labels), "--corpus", str(corpus), "--out", str(tmp_path / "o")]
    assert eval_main(argv + ["--topics", "shipped", "--encoder", "fake", "--quiet"]) == 2
    assert "not trained on encoder" in capsys.readouterr().err
