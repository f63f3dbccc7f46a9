"""eval/answer_train.py: out-of-fold training of the sentence ranker and the support model."""

from __future__ import annotations

import json

from eval.answer_train import main
from index.answer_model import LogisticModel, TreeModel, load_model

TOPICS = [
    ("租房补贴", "每月发放租房补贴800元，最长发放36个月", "每月多少"),
    ("就业补贴", "给予一次性就业补贴5000元", "补贴多少钱"),
    ("加装电梯", "每部电梯给予财政补贴20万元", "补贴多少"),
    ("居住证", "申请人应当提交居民身份证和近期照片", "需要什么材料"),
    ("公租房", "申请人家庭人均收入低于上年度人均可支配收入", "申请条件"),
    ("创业贷款", "个人创业担保贷款最高额度为30万元", "最高多少"),
]


def test_train_reports_before_and_after_out_of_fold_and_writes_models(tmp_path):
    docs, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for i, (topic, fact, ask) in enumerate(TOPICS):
        text = f"第一条 为做好{topic}工作，制定本办法。\n第二条 {fact}。\n第三条 本办法自发布之日起施行。"
        docs.append({"_id": f"d{i}", "title": f"历城区{topic}管理办法", "text": text})
        queries.append({"_id": f"q{i}", "text": f"{topic}{ask}", "answer": fact})
        qrels.append(f"q{i}\td{i}\t1")
    queries.append({"_id": "u1", "text": "宠物医院几点开门"})
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs), encoding="utf-8")
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in queries), encoding="utf-8")
    (tmp_path / "r.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    out, res = tmp_path / "out", tmp_path / "res"
    args = ["--corpus", str(tmp_path / "c.jsonl"), "--queries", str(tmp_path / "q.jsonl"), "--qrels"]
    args += [str(tmp_path / "r.tsv"), "--out", str(out), "--index-dir", str(tmp_path / "idx"), "--mode", "bm25"]
    assert main([*args, "--folds", "2", "--write", "--resources-dir", str(res)]) == 0
    report = json.loads((out / "train_report.json").read_text(encoding="utf-8"))
    for key in ("before_rules", "after_oof", "rule_confidence_threshold_chosen_oof"):
        assert report[key]["all"]["queries"] == 7
        assert 0.0 <= report[key]["all"]["answer_hit@1"] <= 1.0
    assert report["with_masked_negatives_oof"]["queries"] == 13, "each answerable question asked again, masked"
    curve = [p["threshold"] for p in report["curve"]]
    assert curve == sorted(curve) and {0.0, 0.05, 0.5, 1.0, report["after_oof"]["threshold"]} <= set(curve)
    ranker = load_model(res / "answer_ranker.json", "unused")
    # Every sentence ranker was measured out of fold in the same run; the best one was written.
    assert set(report["rankers_oof_no_abstention"]) == {"logistic-base", "logistic", "lambdarank-base", "lambdarank"}
    assert ranker.meta["ranker"] == report["ranker_chosen"]
    assert isinstance(ranker, LogisticModel if report["ranker_chosen"].startswith("logistic") else TreeModel)
    assert ranker.features[0] == "cov"
    # Abstention is reported for the OOF ranker; it is written by `train-abstention`, not here.
    best = report["abstention"]["better_out_of_fold"]
    assert report["support_model_better_than_rules"] is (best == "model")
    assert report["after_oof"]["threshold"] == report["abstention"]["candidates"][best]["threshold_oof"]
    assert not (res / "abstention.json").exists() and not (res / "answer_support.json").exists()
    assert ranker.meta["encoder"] is None and "oof" in ranker.meta
