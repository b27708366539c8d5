"""Errors the user can act on. Their message is Chinese and is shown as is (CLI, UI)."""
from rag.config import redact_credentials


class UserFacingError(Exception):
    """Base for problems the user can fix: bad input, a server that is down, a missing file."""


class RequestError(UserFacingError, ValueError):
    """A malformed drafting request."""


class InputFileError(UserFacingError, ValueError):
    """A file the product cannot read or use."""


LLM_ERROR_KINDS = {
    "down": "the endpoint cannot be reached (refused, DNS, embedded server not starting)",
    "timeout": "no answer (or no new text) within GONGWEN_LLM_TIMEOUT, or no end within GONGWEN_LLM_TOTAL_TIMEOUT",
    "cut": "the answer stopped mid-stream (connection dropped, no finish)",
    "empty": "the answer finished with no text",
    "auth": "HTTP 401/403: the key was refused",
    "rate": "HTTP 429, or a Retry-After longer than GONGWEN_LLM_RETRY_AFTER_MAX",
    "server": "HTTP 5xx",
    "garbage": "the answer is not the OpenAI protocol (HTML page, broken JSON)",
    "request": "HTTP 400/404 and other 4xx: model name, URL or prompt size",
    "length": "the token limit was reached before any text",
    "filtered": "the provider's content filter stopped the answer",
    "setup": "the embedded model is not installed or cannot be written",
    "other": "anything else",
}
# Faults that a second attempt can cure; after the bounded retries they are still worth keeping
# the parts of a draft already written (the drafter decides by `LLMError.kind`).
TRANSIENT_LLM_ERRORS = frozenset({"timeout", "cut", "empty", "rate", "server"})


class LLMError(UserFacingError):
    """The language model endpoint failed (down, slow, refused, or answered garbage).

    `kind` (one of LLM_ERROR_KINDS) says which, for code; the message says it for people, with
    any credential it quotes (Authorization values, URL passwords) redacted.
    `attempts` is how many HTTP requests the call made (1 when it was not retried); the tokens are
    those the failed call used, as logged (None when unknown), so a caller can count its cost.
    """

    def __init__(self, message: str, *, kind: str = "other", attempts: int = 1):
        if kind not in LLM_ERROR_KINDS:
            raise ValueError(f"unknown LLMError kind {kind!r}")
        super().__init__(redact_credentials(message))
        self.kind = kind
        self.attempts = attempts
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def __reduce__(self):  # keep kind and attempts across processes (multiprocessing, pickle)
        return _rebuild_llm_error, (str(self), self.kind, self.attempts)

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_LLM_ERRORS


def _rebuild_llm_error(message: str, kind: str, attempts: int) -> LLMError:
    return LLMError(message, kind=kind, attempts=attempts)


def run_cli(parser, argv: list[str] | None = None) -> int:
    """Run an argparse command whose `func` does the work: a UserFacingError becomes one Chinese
    line on stderr and exit status 2, Ctrl+C exit status 130, never a traceback."""
    import sys

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserFacingError as e:
        print(f"错误：{redact_credentials(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130
