"""Chinese tokenization for BM25: jieba with a policy-term dictionary and stopwords.

The tokenizer's identity (jieba version, dictionary and stopword hashes, mode) is
recorded in an index's params so an index is never queried with a different one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing as mp
import re
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import jieba

from corpus.models import ChoiceEnum

logger = logging.getLogger(__name__)

_RESOURCES = resources.files("index") / "resources"
# A token must hold at least one CJK character, letter or digit; punctuation is dropped.
_WORDLIKE = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)
# jieba's own dictionary loads quietly; its default logger prints to stderr.
jieba.setLogLevel(logging.WARNING)


class TokenizerMode(ChoiceEnum):
    """`search` adds the sub-words of long words (高校毕业生 -> 高校, 毕业, 毕业生)."""

    SEARCH = "search"
    PRECISE = "precise"


def _read_resource(name: str) -> str:
    return (_RESOURCES / name).read_text(encoding="utf-8")


class Tokenizer:
    """jieba tokenizer with a user dictionary and a stopword list.

    Its own `jieba.Tokenizer` instance keeps the user dictionary out of the
    process-wide default one.
    """

    def __init__(
        self,
        userdict: str | Path | None = None,
        stopwords: str | Path | Iterable[str] | None = None,
        mode: TokenizerMode | str = TokenizerMode.SEARCH,
    ) -> None:
        self.mode = mode if isinstance(mode, TokenizerMode) else TokenizerMode.from_str(mode)
        userdict_text = Path(userdict).read_text(encoding="utf-8") if userdict else _read_resource("userdict.txt")
        if stopwords is None:
            stop_list = _read_resource("stopwords.txt").split()
        elif isinstance(stopwords, (str, Path)):
            stop_list = Path(stopwords).read_text(encoding="utf-8").split()
        else:
            stop_list = list(stopwords)
        self.stopwords = frozenset(w.strip().lower() for w in stop_list if w.strip())
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for line in userdict_text.splitlines():
            parts = line.strip().split()
            if not parts:
                continue
            freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            # jieba splits text on punctuation before lookup, so 双随机、一公开 only
            # matters through its pieces, which the dictionary also lists.
            self._jieba.add_word(parts[0], freq=freq)
        self._userdict_hash = hashlib.sha1(userdict_text.encode()).hexdigest()[:12]
        self._stop_hash = hashlib.sha1("\n".join(sorted(self.stopwords)).encode()).hexdigest()[:12]

    @property
    def signature(self) -> dict[str, str]:
        return {
            "engine": f"jieba-{jieba.__version__}",
            "mode": self.mode.value,
            "userdict_sha1": self._userdict_hash,
            "stopwords_sha1": self._stop_hash,
        }

    def normalize(self, text: str) -> str:
        # NFKC folds full-width letters/digits (１２３４５, ＡＢＣ) to their ASCII forms.
        return unicodedata.normalize("NFKC", text).lower()

    def tokenize(self, text: str) -> list[str]:
        """Tokens for indexing and querying: no punctuation, no stopwords."""
        text = self.normalize(text)
        if self.mode is TokenizerMode.SEARCH:
            raw = self._jieba.cut_for_search(text, HMM=True)
        else:
            raw = self._jieba.cut(text, HMM=True)
        out = []
        for tok in raw:
            tok = tok.strip()
            if tok and tok not in self.stopwords and _WORDLIKE.search(tok):
                out.append(tok)
        return out

    def tokenize_many(self, texts: Sequence[str], workers: int = 1) -> list[list[str]]:
        """Tokenize many texts; with workers > 1, forked processes share the loaded dictionary."""
        if workers <= 1 or len(texts) < PARALLEL_MIN_TEXTS or "fork" not in mp.get_all_start_methods():
            return [self.tokenize(t) for t in texts]
        global _WORKER_TOKENIZER
        _WORKER_TOKENIZER = self
        step = max(1, len(texts) // (workers * 8))
        parts = [texts[i : i + step] for i in range(0, len(texts), step)]
        with mp.get_context("fork").Pool(workers) as pool:
            out: list[list[str]] = []
            for chunk in pool.imap(_tokenize_chunk, parts):
                out.extend(chunk)
        return out


@functools.lru_cache(maxsize=4)
def default_tokenizer(mode: str = TokenizerMode.SEARCH.value) -> Tokenizer:
    """The shipped dictionary and stopwords, loaded once per process (jieba takes ~1 s to load)."""
    return Tokenizer(mode=mode)


# Below this many texts a process pool costs more than it saves.
PARALLEL_MIN_TEXTS = 5_000
_WORKER_TOKENIZER: Tokenizer | None = None


def _tokenize_chunk(texts: Sequence[str]) -> list[list[str]]:
    assert _WORKER_TOKENIZER is not None
    return [_WORKER_TOKENIZER.tokenize(t) for t in texts]
