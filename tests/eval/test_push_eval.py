"""The push labeller measured on push-dev: floors a little under the measured figures.

push-dev grew from 116 to 276 documents (round 2 labelled later by the same guide); the counts
follow the files and the floors are the rule-based labeller's figures on all 276 (2026-12-01:
audience 0.692, jurisdiction 0.931, groups F1 0.675, topics F1 0.739, match P 0.564 / R 0.674).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.push import evaluate, main


@pytest.fixture(scope="module")
def labels(shared_dir: Path) -> Path:
    return shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl"


@pytest.fixture(scope="module")
def n_labelled(labels: Path) -> int:
    return sum(1 for line in labels.open(encoding="utf-8") if line.strip())


@pytest.fixture(scope="module")
def report(labels: Path) -> dict:
    return evaluate(labels, today="2026-11-29")


def test_field_quality_floors(report: dict, n_labelled: int) -> None:
    assert report["n_documents"] == n_labelled >= 276
    assert report["audience"]["accuracy"] >= 0.67
    assert report["jurisdiction"]["exact_accuracy"] >= 0.91
    assert report["jurisdiction"]["level_accuracy"] >= 0.91
    assert report["groups"]["f1"] >= 0.65
    assert report["groups"]["recall"] >= 0.69
    assert report["groups"]["precision"] >= 0.62
    assert report["topics"]["f1"] >= 0.72
    assert report["expired"]["accuracy"] >= 0.97


def test_match_quality_floor_and_gold_upper_bound(report: dict) -> None:
    assert report["match_upper_bound"]["f1"] == 1.0
    assert report["match"]["f1"] >= 0.59
    assert report["match"]["precision"] >= 0.54
    assert report["match"]["recall"] >= 0.65
    assert len(report["worst_documents"]) == 10


def test_audience_confusion_accounts_for_every_document(report: dict, n_labelled: int) -> None:
    confusion = report["audience"]["confusion"]
    assert sum(n for row in confusion.values() for n in row.values()) == n_labelled
    diagonal = sum(row.get(gold, 0) for gold, row in confusion.items())
    assert diagonal / n_labelled == pytest.approx(report["audience"]["accuracy"])
    assert set(confusion) <= {"resident", "enterprise", "enterprise+resident", "none"}


def test_every_evidence_quote_is_verbatim(report: dict) -> None:
    assert report["evidence"]["quotes"] > 180
    assert report["evidence"]["invalid"] == 0, report["evidence"]["problems"]


def test_cli_prints_and_writes_json(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "push.json"
    lines: list[str] = []
    labels = shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl"
    assert main(["--labels", str(labels), "--json", str(out)], print_fn=lines.append) == 0
    assert "match" in lines[0]
    assert "audience confusion" in lines[0]
    assert json.loads(out.read_text(encoding="utf-8"))["primary_metric"] == "match.f1"


def test_cli_missing_labels(tmp_path: Path) -> None:
    lines: list[str] = []
    assert main(["--labels", str(tmp_path / "nope.jsonl")], print_fn=lines.append) == 2
    assert "not found" in lines[0]
