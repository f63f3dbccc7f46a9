from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """<repo>/../shared, the read-only real data; skipped only when it is absent (CI always has it)."""
    path = REPO.parent / "shared"
    if not (path / "data" / "corpus" / "policies.jsonl").exists():
        pytest.skip(f"shared data not found at {path} (needed for real-data tests)")
    return path


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return REPO / "corpus" / "demo"
