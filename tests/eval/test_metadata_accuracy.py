from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.metadata_accuracy import main

REPO = Path(__file__).resolve().parents[2]


def test_cli_reports_fields_and_writes_json(tmp_path: Path) -> None:
    shared = REPO.parent / "shared"
    if not (shared / "data" / "corpus" / "policies.jsonl").exists():
        pytest.skip(f"shared data not found at {shared}")
    out = tmp_path / "m.json"
    lines: list[str] = []
    assert main(["--shared", str(shared), "--out", str(out), "--limit", "2000"], print_fn=lines.append) == 0
    payload = json.loads(out.read_text(encoding="utf-8"))
    fields = {(f["source"], f["field"]): f for f in payload["fields"]}
    num = fields[("govcn-sc", "doc_number")]
    assert num["n_gold"] == 60 and num["accuracy"] >= 0.9
    assert fields[("govcn-sc", "issuer")]["accuracy"] >= 0.9
    assert "govcn-sc" in lines[0] or "govcn-sc" in "\n".join(lines)


def test_cli_missing_shared(tmp_path: Path) -> None:
    lines: list[str] = []
    assert main(["--shared", str(tmp_path)], print_fn=lines.append) == 2
    assert "shared data not found" in lines[0]
