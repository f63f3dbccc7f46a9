"""Index configuration: plain values, recorded in every saved index's params.json.

Nothing here reads the environment; the service's Settings builds an IndexConfig.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from corpus.models import ChoiceEnum


class SearchMode(ChoiceEnum):
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"


class Ranking(ChoiceEnum):
    """How hybrid candidates are ordered: today's fixed-weight fusion, or the learned ranker over them."""

    FUSION = "fusion"
    LEARNED = "learned"  # index/ranking.py; falls back to fusion when its artifact cannot be read


class FusionMethod(ChoiceEnum):
    RRF = "rrf"  # reciprocal-rank fusion
    SCORE = "score"  # normalised-score convex combination


@dataclass(frozen=True)
class IndexConfig:
    """How passages are cut, tokenized, scored and fused."""

    chunk_max_chars: int = 300
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_method: str = "lucene"
    tokenizer_mode: str = "search"
    mode: SearchMode = SearchMode.HYBRID
    fusion: FusionMethod = FusionMethod.SCORE
    # Weight of BM25 in the fused score (dense gets 1 - weight) is
    #   clip(bm25_weight + bm25_weight_slope * lexical_match, 0, 1),
    # where lexical_match = best BM25 score / sum of the query terms' IDF, in [0, ~1]: high when a
    # passage repeats the question's own words (lexical evidence is then reliable), low for
    # colloquial questions that share few words with the policy. A slope of 0 is a fixed weight.
    # Tuned on ncp-dev + resident-qa-dev together (README, "Evaluation"): w = 0.1 + 0.7 * match.
    bm25_weight: float = 0.1
    bm25_weight_slope: float = 0.7
    rrf_k: int = 60
    # Candidates taken from each side before fusion.
    candidates: int = 200
    # Above this many passages the dense side uses HNSW instead of exact search.
    ann_threshold: int = 50_000
    max_query_chars: int = 2_000
    # A superseded or expired passage's score is multiplied by this, so the current version ranks first.
    stale_penalty: float = 0.85
    # Hybrid candidates ordered by the learned ranker (artifact `ranker_path`, default
    # index/resources/ranker.json) or by the fusion above (the reference and fallback).
    ranking: Ranking = Ranking.FUSION
    ranker_path: str | None = None

    def __post_init__(self) -> None:
        if not 50 <= self.chunk_max_chars <= 5_000:
            raise ValueError(f"chunk_max_chars must be 50..5000, got {self.chunk_max_chars}")
        if not 0.0 <= self.bm25_weight <= 1.0:
            raise ValueError(f"bm25_weight must be in [0, 1], got {self.bm25_weight}")
        if not -2.0 <= self.bm25_weight_slope <= 2.0:
            raise ValueError(f"bm25_weight_slope must be in [-2, 2], got {self.bm25_weight_slope}")
        if self.rrf_k < 1:
            raise ValueError(f"rrf_k must be >= 1, got {self.rrf_k}")
        if not 10 <= self.candidates <= 5_000:
            raise ValueError(f"candidates must be 10..5000, got {self.candidates}")
        if not 0.0 < self.stale_penalty <= 1.0:
            raise ValueError(f"stale_penalty must be in (0, 1], got {self.stale_penalty}")
        if not isinstance(self.mode, SearchMode):
            object.__setattr__(self, "mode", SearchMode.from_str(str(self.mode)))
        if not isinstance(self.fusion, FusionMethod):
            object.__setattr__(self, "fusion", FusionMethod.from_str(str(self.fusion)))
        if not isinstance(self.ranking, Ranking):
            object.__setattr__(self, "ranking", Ranking.from_str(str(self.ranking)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mode"] = self.mode.value
        d["fusion"] = self.fusion.value
        d["ranking"] = self.ranking.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def build_key(self) -> dict[str, Any]:
        """The fields that change what is stored (a different value needs a rebuild)."""
        return {
            k: v
            for k, v in self.to_dict().items()
            if k in ("chunk_max_chars", "bm25_k1", "bm25_b", "bm25_method", "tokenizer_mode")
        }
