"""Description vectors for ranking a document's matches (the e5 query/passage convention).

A resident's self-description is what they look for, so it is encoded on the query side
(`encode_queries`, e5's "query: "); a policy is encoded on the passage side (title and opening text),
as the index encodes passages. Stored as int8 with one scale per row (the columnar matcher's own
quantisation, so loading re-quantises to the same bytes) and the encoder's name: a vector made by
another encoder is stale and re-encoded when the matcher loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus.models import Document

DOCUMENT_CHARS = 1000  # title plus the opening of the text: what e5's 512 tokens hold of a policy


@dataclass(frozen=True)
class DescriptionVector:
    encoder: str
    data: bytes  # int8, one byte per dimension
    scale: float

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.int8).astype(np.float32) * np.float32(self.scale)


def quantize(vector: np.ndarray, encoder: str) -> DescriptionVector:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    peak = float(np.abs(v).max()) if v.size else 0.0
    scale = peak / 127.0 if peak > 0 else 1.0
    return DescriptionVector(encoder, np.round(v / scale).astype(np.int8).tobytes(), scale)


def encode_descriptions(encoder: Any, texts: Sequence[str]) -> list[DescriptionVector | None]:
    """One vector per non-empty description (None for an empty one), in one encoder call."""
    wanted = [i for i, t in enumerate(texts) if t and t.strip()]
    out: list[DescriptionVector | None] = [None] * len(texts)
    if encoder is None or not wanted:
        return out
    vectors = np.asarray(encoder.encode_queries([texts[i] for i in wanted]), dtype=np.float32)
    for i, v in zip(wanted, vectors, strict=True):
        out[i] = quantize(v, encoder.name)
    return out


def document_text(doc: Document) -> str:
    return f"{doc.title or ''}\n{doc.text or ''}"[:DOCUMENT_CHARS]


def document_vector(encoder: Any, doc: Document) -> np.ndarray:
    return np.asarray(encoder.encode_passages([document_text(doc)]), dtype=np.float32)[0]


class Dequantized:
    """Stored int8 rows as the float32 matrix `ColumnarMatcher.build` reads, a slice at a time
    (a million profiles never exist as one float32 copy)."""

    def __init__(self, rows: np.ndarray, scales: np.ndarray) -> None:
        self._rows, self._scales = rows, scales
        self.shape = rows.shape

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: slice) -> np.ndarray:
        return self._rows[index].astype(np.float32) * self._scales[index, None]
