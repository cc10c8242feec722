"""Every setting the app reads, in one place.

Each field is read from the environment variable of the same name (upper case), which is also
the name of the Function App's application setting in Azure and of the entry in
`local.settings.json.example`. Nothing else in the code reads `os.environ`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.memory.runlog_events import DEFAULT_TTL_SECONDS as DEFAULT_RUN_EVENTS_TTL

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ModelProvider = Literal["azure", "openai", "offline"]


class Settings(BaseSettings):
    """Application settings; see the README's configuration table for each one."""

    model_config = SettingsConfigDict(
        env_file=None,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        protected_namespaces=(),
        env_ignore_empty=True,
    )

    # --- Models -------------------------------------------------------------------------
    model_provider: ModelProvider | None = Field(
        default=None,
        description="azure | openai | offline. Unset: azure if AZURE_OPENAI_ENDPOINT is set, "
        "openai if OPENAI_BASE_URL is set, else offline.",
    )
    azure_openai_endpoint: str = ""
    azure_openai_chat_deployment: str = "gpt-5.4-mini"
    azure_openai_api_version: str = Field(
        default="v1",
        description="v1: the v1 API ({endpoint}/openai/v1/, no api-version). A dated version "
        "(e.g. 2024-10-21): the classic /openai/deployments/{name} path, for older resources.",
    )
    azure_openai_api_key: SecretStr | None = None
    openai_base_url: str = ""
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-5.4-mini"
    # Sent only when set: reasoning deployments (gpt-5 family, o-series) refuse a temperature
    # other than 1, classic ones (gpt-4.1) refuse a reasoning effort.
    model_temperature: float | None = Field(default=None, ge=0, le=2)
    model_reasoning_effort: Literal["", "none", "minimal", "low", "medium", "high"] = ""
    # The reasoning effort of calls that only decide or write tool arguments (the supervisor's
    # first call, a specialist's first call after an @mention); unset: MODEL_REASONING_EFFORT.
    model_decision_reasoning_effort: Literal["", "none", "minimal", "low", "medium", "high"] = ""
    model_max_output_tokens: int | None = Field(default=None, ge=1)
    model_timeout_seconds: float = 120.0
    model_max_retries: int = 2

    # --- Thread memory ------------------------------------------------------------------
    data_dir: Path = PROJECT_ROOT / ".data"
    azure_cosmosdb_endpoint: str = ""
    azure_cosmosdb_key: SecretStr | None = None
    azure_cosmosdb_database: str = "smartbot"
    azure_cosmosdb_container: str = "threads"
    azure_cosmosdb_create_if_missing: bool = False
    thread_ttl_seconds: int = Field(default=60 * 60 * 24 * 30, ge=-1)
    checkpoint_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    checkpoint_durability: Literal["exit", "async", "sync"] = "exit"
    # One turn at a time per thread, across instances (a lease in the thread store):
    # a turn on a busy thread is refused (409) or waits for it, at most the given time.
    thread_busy: Literal["reject", "wait"] = "reject"
    thread_busy_wait_seconds: float = Field(default=30.0, ge=0)
    thread_lease_seconds: float = Field(default=30.0, ge=1)
    # How long a streamed run's events are kept in the thread store, to rejoin it.
    run_events_ttl_seconds: int = Field(default=DEFAULT_RUN_EVENTS_TTL, ge=60)

    # --- docsearch ----------------------------------------------------------------------
    docs_dir: Path = PROJECT_ROOT / "docs"
    docsearch_top_k: int = Field(default=4, ge=1, le=50)
    azure_search_endpoint: str = ""
    azure_search_key: SecretStr | None = None
    azure_search_indexes: str = ""
    azure_search_semantic_config: str = "default"
    azure_search_vector_fields: str = "contentVector"
    azure_search_reranker_threshold: float = 1.5

    # --- sqlsearch ----------------------------------------------------------------------
    sql_database_url: str = ""
    sql_max_rows: int = Field(default=50, ge=1, le=10_000)
    # A statement's time limit; also the longest a query waits for a free slot in its lane.
    sql_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # Queries of this process running at once (their own threads and connections).
    sql_max_concurrent_queries: int = Field(default=4, ge=1, le=32)

    # --- apisearch ----------------------------------------------------------------------
    apisearch_openapi_spec: str = ""
    # Comma-separated operationIds offered as tools (empty: every GET operation, at most 128).
    apisearch_operations: str = ""
    outbound_allow_private: bool = False
    outbound_timeout_seconds: float = 15.0
    outbound_max_bytes: int = 1_000_000

    # --- websearch ----------------------------------------------------------------------
    websearch_provider: Literal["", "searxng", "tavily", "brave"] = ""
    websearch_endpoint: str = ""
    websearch_api_key: SecretStr | None = None

    # --- HTTP limits and streaming --------------------------------------------------------
    max_input_chars: int = Field(default=8000, ge=1)
    max_batch_questions: int = Field(default=25, ge=1)
    batch_concurrency: int = Field(default=4, ge=1)
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # The Functions front end cuts an HTTP response after 230 s; /invoke and /batch answer
    # before that (504, or the finished batch items with the rest marked timed out).
    request_deadline_seconds: float = Field(default=200.0, gt=0)
    tool_preview_chars: int = Field(default=500, ge=50)

    # --- Tool calls a person approves first (agent.approvals) ----------------------------
    # Comma-separated specialist or tool names (`sqlsearch,apisearch`, `sql_query`): their
    # calls wait for a person's decision. Empty: none. Checked against the bot's specialists
    # and tools when it is built.
    approve_tools: str = ""

    # --- Who may read a thread, and what telemetry records --------------------------------
    # easyauth: the caller is the user App Service Authentication signed in (the
    # X-MS-CLIENT-PRINCIPAL header it sets); each thread belongs to the user who created it.
    # Only with Easy Auth on in front of the app: elsewhere anyone could send that header.
    auth_mode: Literal["none", "easyauth"] = "none"
    # Prompts, answers and tool inputs/outputs in spans (off: counts, names and timings only).
    telemetry_capture_content: bool = False

    # --- Local dev server (not used in Azure) -------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=7071, ge=1, le=65535)
    log_level: str = "INFO"

    @field_validator("azure_openai_endpoint", "openai_base_url", "azure_cosmosdb_endpoint",
                     "azure_search_endpoint", "websearch_endpoint")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("approve_tools")
    @classmethod
    def _approve_tools(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",")]
        if any(not name for name in names) and value.strip():
            raise ValueError("must be comma-separated specialist or tool names, none empty "
                             "(e.g. 'sqlsearch,apisearch')")
        return ",".join(name for name in names if name)

    @property
    def approval_names(self) -> tuple[str, ...]:
        """The names in APPROVE_TOOLS (specialists or tools whose calls wait for a person)."""
        return tuple(self.approve_tools.split(",")) if self.approve_tools else ()

    @field_validator("thread_ttl_seconds")
    @classmethod
    def _ttl(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (never expire) or a number of seconds above 0")
        return value

    @property
    def provider(self) -> ModelProvider:
        """The model provider in effect (explicit setting, else inferred)."""
        if self.model_provider:
            return self.model_provider
        if self.azure_openai_endpoint:
            return "azure"
        if self.openai_base_url:
            return "openai"
        return "offline"

    @property
    def thread_store(self) -> Literal["cosmos", "sqlite"]:
        """Cosmos DB when an endpoint is configured, SQLite otherwise."""
        return "cosmos" if self.azure_cosmosdb_endpoint else "sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


class PlatformSettings(BaseSettings):
    """Settings of the platform (the Functions host reads them too) that the telemetry reads.

    Not part of `Settings`: Bicep sets them for the host, and they keep their platform names.
    """

    model_config = SettingsConfigDict(env_file=None, case_sensitive=False, extra="ignore",
                                      frozen=True, env_ignore_empty=True)

    # Where spans go (Application Insights); unset: no telemetry, nothing imported for it.
    applicationinsights_connection_string: str = ""
    # `ClientId=<managed identity client id>;Authorization=AAD`: ingest with an Entra token.
    applicationinsights_authentication_string: str = ""


@lru_cache(maxsize=1)
def get_platform_settings() -> PlatformSettings:
    """The platform's telemetry settings, read from the environment once."""
    return PlatformSettings()
