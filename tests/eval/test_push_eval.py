"""The push labeller measured on push-dev: floors a little under the measured figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.push import evaluate, main


@pytest.fixture(scope="module")
def report(shared_dir: Path) -> dict:
    return evaluate(shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl", today="2026-11-29")


def test_field_quality_floors(report: dict) -> None:
    assert report["n_documents"] == 116
    assert report["audience"]["accuracy"] >= 0.73
    assert report["jurisdiction"]["exact_accuracy"] >= 0.93
    assert report["jurisdiction"]["level_accuracy"] >= 0.93
    assert report["groups"]["f1"] >= 0.77
    assert report["groups"]["recall"] >= 0.80
    assert report["groups"]["precision"] >= 0.73
    assert report["topics"]["f1"] >= 0.77
    assert report["expired"]["accuracy"] >= 0.97


def test_match_quality_floor_and_gold_upper_bound(report: dict) -> None:
    assert report["match_upper_bound"]["f1"] == 1.0
    assert report["match"]["f1"] >= 0.80
    assert report["match"]["precision"] >= 0.85
    assert report["match"]["recall"] >= 0.74
    assert len(report["worst_documents"]) == 10


def test_audience_confusion_accounts_for_every_document(report: dict) -> None:
    confusion = report["audience"]["confusion"]
    assert sum(n for row in confusion.values() for n in row.values()) == 116
    diagonal = sum(row.get(gold, 0) for gold, row in confusion.items())
    assert diagonal / 116 == pytest.approx(report["audience"]["accuracy"])
    assert set(confusion) <= {"resident", "enterprise", "enterprise+resident", "none"}


def test_every_evidence_quote_is_verbatim(report: dict) -> None:
    assert report["evidence"]["quotes"] > 80
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
