"""A street table for service tests: Jinan's 164 official streets from ../shared, written in the npm
table's format (corpus.streets) into a test's own regions directory, so no test needs `make regions`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from corpus.streets import STREETS_FILE


def jinan_rows(shared_dir: Path) -> list[dict[str, str]]:
    with (shared_dir / "data" / "regions" / "jinan_streets.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_jinan_table(shared_dir: Path, regions_dir: Path) -> Path:
    rows = [
        {
            "code": r["street_code"],
            "name": r["street"],
            "areaCode": r["district_code"],
            "cityCode": r["district_code"][:4],
            "provinceCode": r["district_code"][:2],
        }
        for r in jinan_rows(shared_dir)
    ]
    regions_dir.mkdir(parents=True, exist_ok=True)
    path = regions_dir / STREETS_FILE
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path
