"""eval/abstention_cv.py: the threshold rule, calibration on the asked mix, and nested out-of-fold-ness."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from eval.abstention_cv import Row, choose_threshold, evaluate, fit_calibrated, fold_of, label_of, nested
from eval.answers import Judged


def _j(qid: str, answerable: bool, conf: float, rule: float | None = None, correct: bool = True) -> Judged:
    rel = frozenset({"d1"}) if answerable else frozenset()
    signals = {"rule_conf": conf if rule is None else rule}
    return Judged(qid, "q", answerable, None, rel, conf, ("s",), "d1" if correct else "d9", signals)


def test_threshold_is_the_most_recall_at_precision_090_and_far_005():
    judged = [_j(f"a{i}", True, 0.3 + 0.007 * i) for i in range(100)]
    judged += [_j(f"u{i}", False, 0.02 * i) for i in range(10)] + [_j("u-hi", False, 0.9), _j("u-hi2", False, 0.95)]
    t, curve = choose_threshold(judged)
    assert 0.18 < t <= 0.3, "abstains on the ten low ones, none of the answerable"
    at = next(m for m in curve if m["threshold"] == t)
    assert at["abstain_precision"] == 1.0 and at["abstain_recall"] == pytest.approx(10 / 12, abs=1e-4)
    # The unanswerable ones score above most answerable: within 5 % false abstention the best is
    # the most precise point (two of five caught among five false), not an empty one.
    hard = [_j(f"a{i}", True, i / 100) for i in range(100)] + [_j(f"u{i}", False, 0.01 * i + 0.035) for i in range(5)]
    t2, curve2 = choose_threshold(hard)
    m2 = next(m for m in curve2 if m["threshold"] == t2)
    assert m2["false_abstention_rate"] <= 0.05 and m2["abstain_precision"] < 0.9 and m2["abstained_correctly"] > 0


def _rows(n: int = 240, seed: int = 3) -> list[Row]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        answerable = rnd.random() < 0.9
        rule = min(max(rnd.gauss(0.65 if answerable else 0.35, 0.12), 0.0), 1.0)
        j = _j(f"q{i}", answerable, rule)
        rows.append(Row(j, f"g{i // 2}", label_of(j, False)))
        if answerable:  # its masked twin: same topic, no answer
            twin = _j(f"q{i}#masked", False, min(max(rnd.gauss(0.4, 0.12), 0.0), 1.0))
            rows.append(Row(twin, f"g{i // 2}", 0, masked=True))
    return rows


def test_calibration_matches_the_asked_mix_not_the_masked_training_mix():
    rows = _rows()
    model = fit_calibrated(rows, ("rule_conf",))
    asked = [r for r in rows if not r.masked]
    mean_p = sum(model.prob(r.judged.signals) for r in asked) / len(asked)
    observed = sum(r.label for r in asked) / len(asked)
    assert mean_p == pytest.approx(observed, abs=0.04)
    assert model.meta["platt"][0] > 0, "monotone in the rule confidence"


def test_nested_predictions_never_see_their_own_fold():
    rows = _rows()
    got, thresholds = nested(rows, ("rule_conf",), k=3, inner=2)
    assert len(thresholds) == 3 and len(got) == sum(1 for r in rows if not r.masked)
    # Flip the labels of fold 0: fold 0's own judgements must not move, the others' may.
    flipped = [replace(r, label=1 - r.label) if fold_of(r.group, 3) == 0 and r.label is not None else r for r in rows]
    again, _ = nested(flipped, ("rule_conf",), k=3, inner=2)
    asked = [r for r in rows if not r.masked]
    for r, a, b in zip(asked, got, again, strict=True):
        if fold_of(r.group, 3) == 0:
            assert a.confidence == b.confidence
    assert any(a.confidence != b.confidence for a, b in zip(got, again, strict=True)), "the flip is seen elsewhere"


def test_wrong_answers_are_not_fitted_and_evaluate_reports_before_and_candidates():
    wrong = _j("w", True, 0.7, correct=False)
    assert label_of(wrong, False) is None and label_of(wrong, True) == 0
    report, detail = evaluate(_rows(120), {"rule_calibrated": ("rule_conf",)}, 0.48, k=3, inner=2)
    assert report["before_rule"]["threshold"] == 0.48 and report["better_out_of_fold"] == "rule_calibrated"
    entry = report["candidates"]["rule_calibrated"]
    assert {"abstain_precision", "abstain_recall", "false_abstention_rate"} <= set(entry["nested"])
    assert [p["threshold"] for p in entry["curve_oof"]] == sorted(p["threshold"] for p in entry["curve_oof"])
    assert len(detail["rule_calibrated"][0]) == report["rows"]["asked"]


def test_train_abstention_cli_writes_the_better_candidate_with_its_oof_threshold(tmp_path):
    import json

    from eval.answers import main
    from index.answer_model import load_model

    topics = [
        ("租房补贴", "每月发放租房补贴800元，最长发放36个月", "每月多少"),
        ("就业补贴", "给予一次性就业补贴5000元", "补贴多少钱"),
        ("加装电梯", "每部电梯给予财政补贴20万元", "补贴多少"),
        ("居住证", "申请人应当提交居民身份证和近期照片", "需要什么材料"),
        ("公租房", "申请人家庭人均收入低于上年度人均可支配收入", "申请条件"),
        ("创业贷款", "个人创业担保贷款最高额度为30万元", "最高多少"),
    ]
    docs, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for i, (topic, fact, ask) in enumerate(topics):
        text = f"第一条 为做好{topic}工作，制定本办法。\n第二条 {fact}。\n第三条 本办法自发布之日起施行。"
        docs.append({"_id": f"d{i}", "title": f"历城区{topic}管理办法", "text": text})
        queries.append({"_id": f"q{i}", "text": f"{topic}{ask}", "answer": fact})
        qrels.append(f"q{i}\td{i}\t1")
    queries += [{"_id": "u1", "text": "宠物医院几点开门"}, {"_id": "u2", "text": "你好"}]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs), encoding="utf-8")
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in queries), encoding="utf-8")
    (tmp_path / "r.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    out, res = tmp_path / "out", tmp_path / "res"
    args = ["train-abstention", "--corpus", str(tmp_path / "c.jsonl"), "--queries", str(tmp_path / "q.jsonl")]
    args += ["--qrels", str(tmp_path / "r.tsv"), "--out", str(out), "--index-dir", str(tmp_path / "idx")]
    args += ["--mode", "bm25", "--abstention-folds", "2", "--inner-folds", "2", "--write", "--resources-dir", str(res)]
    assert main(args) == 0
    report = json.loads((out / "abstention_report.json").read_text(encoding="utf-8"))
    assert report["rows"]["asked"] == 8 and report["rows"]["masked"] == 6, "each answerable question masked once"
    best = report["better_out_of_fold"]
    model = load_model(res / "abstention.json", "unused")
    assert model.meta["candidate"] == best and model.threshold == report["candidates"][best]["threshold_oof"]
    assert model.meta["encoder"] is None and "platt" in model.meta
