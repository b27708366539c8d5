"""One way to talk to a language model: the OpenAI chat protocol, always streamed.

Provider seam (in the style of simonw/llm): an endpoint is a base URL, a key and a model name, so
DeepSeek (https://api.deepseek.com/v1), Qwen via DashScope compatible mode
(https://dashscope.aliyuncs.com/compatible-mode/v1), GLM (https://open.bigmodel.cn/api/paas/v4),
Moonshot (https://api.moonshot.cn/v1), vLLM, Ollama (http://127.0.0.1:11434/v1) and llama.cpp
servers all go through the same code. With no base URL, `get_llm` uses the embedded model
(`rag.local_model`), whose server starts in the background on first use.

Every failure becomes an `LLMError` whose Chinese message says what happened and what to do and
whose `kind` says it for code. Transient faults — 429, 5xx, a stream cut before its end, an
empty answer, no first token within the timeout — are retried a bounded number of times with
backoff; a Retry-After up to `Settings.llm_retry_after_max` seconds is waited out. Every wait is
told through `on_notice`; a retry after text was already streamed to `on_token` is told through
`on_restart(discarded_text)` so a caller showing the stream can take that text back. Both can be
passed to `chat` or set for a block of code with `llm_hooks(...)` (e.g. around `draft_report`);
without either, the notice goes to the `rag.llm` logger (stderr in the CLI). Every call is logged
(`rag.calllog`). The API key is only handed to the HTTP client: it, and credentials inside URLs,
are redacted from error texts and never logged.
"""
from __future__ import annotations

import contextlib
import contextvars
import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import openai
from pydantic import SecretStr

from rag.calllog import CallRecord, log_call
from rag.config import Settings, redact_credentials, redact_url, strip_url_credentials
from rag.errors import TRANSIENT_LLM_ERRORS, LLMError
from rag.local_model import parse_model_list
from rag.tokens import count_message_tokens, count_tokens

OnToken = Callable[[str], None]
OnNotice = Callable[[str], None]    # a Chinese sentence for the user, e.g. a wait before a retry
OnRestart = Callable[[str], None]   # the text already streamed to on_token that is now void

MAX_BACKOFF_S = 8.0
STATUS_CACHE_S = 15.0      # the UI asks for status on every rerun; remote checks are not free


@dataclass
class ChatResult:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str | None
    attempts: int = 1     # HTTP requests made, retries included
    restarts: int = 0     # retries after text had already gone to on_token (see on_restart)


@dataclass
class CallHooks:
    """Optional callbacks of one chat call (see the module docstring)."""
    on_notice: OnNotice | None = None
    on_restart: OnRestart | None = None


_hooks: contextvars.ContextVar[CallHooks] = contextvars.ContextVar("llm_hooks", default=CallHooks())
log = logging.getLogger("rag.llm")


@contextlib.contextmanager
def llm_hooks(*, on_notice: OnNotice | None = None,
              on_restart: OnRestart | None = None) -> Iterator[None]:
    """Callbacks for every chat call made in this block (this thread / task), for callers that
    cannot pass them to `chat` themselves, e.g. `with llm_hooks(on_notice=progress):
    draft_report(...)`. Arguments given to `chat` take precedence."""
    token = _hooks.set(CallHooks(on_notice, on_restart))
    try:
        yield
    finally:
        _hooks.reset(token)


@dataclass
class LLMStatus:
    state: str   # "starting" | "ready" | "unreachable"
    label: str   # which model, for the UI, e.g. "已配置接口 deepseek-chat @ api.deepseek.com"
    detail: str  # Chinese; says how to fix it when unreachable


def _host_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    return (parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname
            else redact_url(base_url))


URL_CREDENTIALS_NOTICE = ("接口地址（GONGWEN_LLM_BASE_URL）里的用户名密码或密钥参数已去掉，不会发送给接口；"
                          "如接口需要密钥，请写在 GONGWEN_LLM_API_KEY 中。")


class RemoteEndpoint:
    """A configured OpenAI-compatible endpoint. Credentials inside its URL are taken out before
    any client sees it (the HTTP client would send them as Basic authentication); `secrets` keeps
    them for redaction and `notice` says so once."""

    def __init__(self, base_url: str, model: str):
        self._base_url, self.secrets = strip_url_credentials(base_url.rstrip("/"))
        self.notice = URL_CREDENTIALS_NOTICE if self.secrets else None
        self.model = model
        self.name = f"{model} @ {_host_of(self._base_url)}"
        self.label = f"已配置接口 {self.name}"

    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"RemoteEndpoint({redact_url(self._base_url)!r}, {self.model!r})"

    def startup_state(self) -> tuple[str, str] | None:
        """None: nothing to start; the client checks reachability itself."""
        return None

    def unreachable_hint(self) -> str:
        return ("请确认服务已启动、接口地址（GONGWEN_LLM_BASE_URL，通常以 /v1 结尾）正确，"
                "并检查网络和代理设置。")


class EmbeddedEndpoint:
    """The embedded model's local server; `base_url()` waits until it is ready."""

    secrets: list[str] = []
    notice = None

    def __init__(self, settings: Settings):
        from rag.local_model import MODEL_LABEL, shared_server

        self._shared = shared_server(settings)
        self.model = settings.llm_model
        self.name = "内置模型"
        self.label = MODEL_LABEL

    def base_url(self) -> str:
        return self._shared.wait_ready()

    def startup_state(self) -> tuple[str, str] | None:
        return self._shared.state()

    def unreachable_hint(self) -> str:
        state, detail = self._shared.state()
        if state == "unreachable":
            return detail
        return "内置模型服务没有响应，请稍后重试；若反复出现，请重启程序。"


Endpoint = RemoteEndpoint | EmbeddedEndpoint


@dataclass
class _CallState:
    """What one chat call has seen so far; survives retries and feeds the log on failure."""
    pieces: list[str] = field(default_factory=list)
    model: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    attempts: int = 0
    restarts: int = 0
    unrecognized_events: int = 0
    streamed: bool = False   # some of `pieces` went to on_token
    deadline: float = math.inf   # time.monotonic() by which the whole call must be over

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def new_attempt(self) -> None:
        self.attempts += 1
        self.pieces, self.finish_reason, self.usage = [], None, None
        self.unrecognized_events, self.streamed = 0, False


class LLMClient:
    """Chat with one endpoint. Create through `get_llm(settings)`."""

    def __init__(self, settings: Settings, endpoint: Endpoint, *, api_key: SecretStr,
                 max_retries: int = 3, retry_delay: float = 1.0):
        self.settings = settings
        self.endpoint = endpoint
        self.model = endpoint.model
        self._api_key = api_key
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self._include_usage = True   # switched off for servers that reject stream_options
        self._clients: dict[str, openai.OpenAI] = {}
        self._lock = threading.Lock()
        self._status_cache: tuple[float, LLMStatus] | None = None
        self._notice_pending = endpoint.notice   # told with the first call

    def __repr__(self) -> str:
        return f"LLMClient({self.endpoint.name!r}, api_key='***')"

    # --- helpers -----------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return redact_credentials(text, [self._api_key.get_secret_value(), *self.endpoint.secrets])

    def _client_for(self, base_url: str) -> openai.OpenAI:
        with self._lock:
            client = self._clients.get(base_url)
            if client is None:
                timeout = self.settings.llm_timeout
                client = self._clients[base_url] = openai.OpenAI(
                    base_url=base_url, api_key=self._api_key.get_secret_value(), max_retries=0,
                    timeout=openai.Timeout(timeout, connect=min(10.0, timeout)))
            return client

    def _error(self, message: str, kind: str) -> LLMError:
        return LLMError(self._redact(message), kind=kind)

    def _server_message(self, err: openai.APIStatusError) -> str:
        body = err.body
        if isinstance(body, dict):
            message = body.get("message") or body.get("msg") or json.dumps(body, ensure_ascii=False)
        elif body:
            message = str(body)
        else:
            message = err.response.text
        return " ".join(str(message).split())[:200]

    # --- chat --------------------------------------------------------------------------------
    def chat(self, messages: list[dict], *, on_token: OnToken | None = None,
             temperature: float | None = None, max_tokens: int | None = None,
             purpose: str = "", on_notice: OnNotice | None = None,
             on_restart: OnRestart | None = None) -> ChatResult:
        """Stream a chat completion; `on_token(delta)` gets each piece of text as it arrives.

        `on_notice(sentence)` is told of every wait before a retry. When a retry starts over after
        pieces already went to `on_token`, `on_restart(discarded_text)` is called first: the
        pieces of the new attempt follow, so a caller showing the stream should take the
        discarded text back (`ChatResult.restarts` counts these). Both default to `llm_hooks`.
        """
        started = time.monotonic()
        context = _hooks.get()
        hooks = CallHooks(on_notice or context.on_notice, on_restart or context.on_restart)
        self._tell_pending_notice(hooks)
        state = _CallState(model=self.model, deadline=started + self.settings.llm_total_timeout)
        params = {
            "model": self.model, "messages": messages, "stream": True,
            "temperature": self.settings.llm_temperature if temperature is None else temperature,
            "max_tokens": self.settings.llm_max_tokens if max_tokens is None else max_tokens,
        }
        try:
            self._chat_with_retries(params, on_token, hooks, state)
        except LLMError as e:
            e.attempts = state.attempts
            failed = self._log(messages, purpose, state, started, error=str(e))
            if state.usage or state.pieces:    # the prompt was read: the call cost tokens
                e.prompt_tokens, e.completion_tokens = failed.prompt_tokens, failed.completion_tokens
            raise
        except BaseException as e:  # e.g. the caller's on_token stopped the stream: log, re-raise
            self._log(messages, purpose, state, started,
                      error=self._redact(f"调用中止：{type(e).__name__}: {e}"))
            raise
        record = self._log(messages, purpose, state, started, error=None)
        return ChatResult(text=state.text, model=state.model, prompt_tokens=record.prompt_tokens,
                          completion_tokens=record.completion_tokens, latency_s=record.latency_s,
                          finish_reason=state.finish_reason, attempts=state.attempts,
                          restarts=state.restarts)

    def _tell_pending_notice(self, hooks: CallHooks) -> None:
        with self._lock:
            notice, self._notice_pending = self._notice_pending, None
        if notice:
            if hooks.on_notice is not None:
                hooks.on_notice(notice)
            else:
                log.warning(notice)

    def _log(self, messages: list[dict], purpose: str, state: _CallState, started: float,
             error: str | None) -> CallRecord:
        usage = state.usage or {}
        server_usage = usage.get("completion_tokens") is not None
        record = CallRecord(
            endpoint=self.endpoint.name, model=state.model, purpose=purpose,
            messages=messages,
            response=self._redact(state.text),
            prompt_tokens=usage.get("prompt_tokens") if server_usage
            else count_message_tokens(messages),
            completion_tokens=usage.get("completion_tokens") if server_usage
            else count_tokens(state.text),
            usage_source="server" if server_usage else "estimated",
            latency_s=round(time.monotonic() - started, 3), finish_reason=state.finish_reason,
            attempts=state.attempts, outcome="error" if error else "ok", error=error)
        record.id = log_call(self.settings, record)
        return record

    def _chat_with_retries(self, params: dict, on_token: OnToken | None, hooks: CallHooks,
                           state: _CallState) -> None:
        base_url = self.endpoint.base_url()
        client = self._client_for(base_url)
        retries = 0
        while True:
            state.new_attempt()
            asked: float | None = None   # seconds the server asked us to wait (Retry-After)
            status: int | None = None
            try:
                self._stream_once(self._bounded(client, state), params, on_token, state)
                return
            except openai.BadRequestError as err:
                if self._include_usage and "stream_options" in self._server_message(err):
                    self._include_usage = False  # this server predates usage in streams
                    continue
                raise self._status_error(err, retries) from None
            except openai.APIStatusError as err:
                # built with the retries so far: if this is the last straw, the count is right
                failure, counted, asked = self._status_error(err, retries), True, _retry_after(err)
                status = err.status_code
            except openai.APITimeoutError:
                failure, counted = self._deadline_error(state) if state.left() <= 0 else self._error(
                    f"模型接口 {_host_of(base_url)} 在 {self.settings.llm_timeout:g} 秒内没有开始回答"
                    f"（超时）。模型可能过慢或过忙：请稍后重试、减少材料，或调大超时设置"
                    f"（GONGWEN_LLM_TIMEOUT）。", "timeout"), False
            except openai.APIConnectionError as err:
                raise self._error(
                    f"无法连接到模型接口 {base_url}（{_connection_reason(err)}）。"
                    f"{self.endpoint.unreachable_hint()}", "down") from None
            except LLMError as err:   # classified while reading the answer
                failure, counted = err, False
            if failure.kind not in TRANSIENT_LLM_ERRORS or state.left() <= 0:
                raise failure
            if retries >= self.max_retries:
                if retries and not counted:
                    raise LLMError(f"{failure}（已重试 {retries} 次仍失败）", kind=failure.kind)
                raise failure
            limit = self.settings.llm_retry_after_max
            if asked is not None and asked > limit:
                raise self._error(
                    f"模型服务繁忙，要求等待 {asked:.0f} 秒后再试，超过了允许的最长等待 {limit:g} 秒"
                    f"（GONGWEN_LLM_RETRY_AFTER_MAX）。请稍后再试，或调大该设置。（{failure}）",
                    failure.kind)
            retries += 1
            wait = asked if asked is not None else self._backoff(retries)
            if wait >= state.left():
                raise LLMError(f"{failure}（再等 {wait:.0f} 秒重试就超过了每次调用的总时限 "
                               f"{self.settings.llm_total_timeout:g} 秒，GONGWEN_LLM_TOTAL_TIMEOUT）",
                               kind=failure.kind)
            self._announce_retry(failure.kind, status, wait, asked is not None, retries, hooks, state)
            time.sleep(wait)

    def _announce_retry(self, kind: str, status: int | None, wait: float, asked: bool, retry: int,
                        hooks: CallHooks, state: _CallState) -> None:
        when = f"{wait:.0f}秒后" if wait >= 0.5 else "稍后"
        if asked:
            notice = f"模型服务繁忙，按服务要求{'等待' if wait >= 0.5 else ''}{when}重试（第{retry}次）…"
        else:
            reason = _RETRY_REASON[kind] + (f"（HTTP {status}）" if status else "")
            notice = f"{reason}，{when}重试（第{retry}次）…"
        if state.streamed:
            state.restarts += 1
            notice += f"已输出的{len(state.text)}个字作废，将重新生成。"
            if hooks.on_restart is not None:
                hooks.on_restart(state.text)
        if hooks.on_notice is not None:
            hooks.on_notice(notice)
        else:
            log.warning(notice)

    def _bounded(self, client: openai.OpenAI, state: _CallState) -> openai.OpenAI:
        """The client, with its timeouts cut to what is left of the call's total time."""
        left = state.left()
        if left >= self.settings.llm_timeout:
            return client
        left = max(left, 0.01)
        return client.with_options(timeout=openai.Timeout(left, connect=min(10.0, left)))

    def _deadline_error(self, state: _CallState) -> LLMError:
        return self._error(
            f"模型在每次调用的总时限 {self.settings.llm_total_timeout:g} 秒内没有写完回答（已收到 "
            f"{len(state.text)} 个字），已停止等待。模型可能过慢或过忙：请稍后重试、减少材料，或调大总时限"
            f"（GONGWEN_LLM_TOTAL_TIMEOUT）。", "timeout")

    def _backoff(self, retry: int) -> float:
        return min(self.retry_delay * 2 ** (retry - 1), MAX_BACKOFF_S)

    def _status_error(self, err: openai.APIStatusError, retries: int) -> LLMError:
        code = err.status_code
        kind = ("auth" if code in (401, 403) else "rate" if code == 429 else
                "server" if code >= 500 else "request")
        server = self._server_message(err)
        tried = f"，已重试 {retries} 次仍失败" if retries else ""
        if code in (401, 403):
            text = (f"模型接口拒绝了 API 密钥（HTTP {code}：{server}）。请检查密钥"
                    f"（GONGWEN_LLM_API_KEY）是否正确、是否过期，账户是否有权限或余额。")
        elif code == 404:
            text = (f"模型接口找不到模型“{self.model}”或接口地址不对（HTTP 404：{server}）。"
                    f"请核对模型名称（GONGWEN_LLM_MODEL）和接口地址（通常以 /v1 结尾）。")
        elif code == 429:
            text = (f"模型接口限流（HTTP 429{tried}）：{server}。请稍后再试，"
                    f"或检查账户的额度和并发限制。")
        elif code >= 500:
            text = (f"模型接口内部错误（HTTP {code}{tried}）：{server}。请稍后再试；"
                    f"如果是自己部署的服务，请查看服务日志。")
        elif code == 400:
            text = (f"模型接口拒绝了请求（HTTP 400）：{server}。如果提示上下文或长度超限，"
                    f"请减少事实材料或范文，或换用上下文更长的模型。")
        else:
            text = f"模型接口返回错误（HTTP {code}）：{server}。"
        return self._error(text, kind)

    def _stream_once(self, client: openai.OpenAI, params: dict, on_token: OnToken | None,
                     state: _CallState) -> None:
        kwargs = dict(params)
        if self._include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        with client.chat.completions.with_streaming_response.create(**kwargs) as response:
            content_type = response.headers.get("content-type", "")
            if "event-stream" not in content_type:
                # Not SSE: a server that ignored stream=True, or something that is not the protocol.
                self._take_whole_body(response.read(), content_type, on_token, state)
            else:
                self._read_stream(response.parse(), on_token, state)
        self._check_complete(state)

    def _read_stream(self, stream: openai.Stream, on_token: OnToken | None,
                     state: _CallState) -> None:
        try:
            for chunk in stream:
                self._take_chunk(chunk.to_dict() if hasattr(chunk, "to_dict") else chunk,
                                 on_token, state)
        except openai.APITimeoutError:
            if state.left() <= 0:
                raise self._deadline_error(state) from None
            raise self._error(
                f"模型在生成过程中超过 {self.settings.llm_timeout:g} 秒没有输出新内容（超时，已收到 "
                f"{len(state.text)} 个字）。模型可能过忙，请稍后重试或调大超时设置（GONGWEN_LLM_TIMEOUT）。",
                "timeout") from None
        except openai.APIConnectionError as err:
            raise self._error(
                f"模型的回答在中途被中断（已收到 {len(state.text)} 个字，{_connection_reason(err)}）。"
                f"可能是服务崩溃或网络断开，请重试。{self._hint_if_embedded()}", "cut") from None
        except json.JSONDecodeError as err:
            raise self._error(
                f"模型接口返回的流式数据不是合法 JSON（{err.msg}，位置 {err.pos}）。请检查接口地址"
                f"是否指向兼容 OpenAI 协议的服务。", "garbage") from None
        except openai.APIError as err:  # an {"error": …} event inside the stream
            raise self._error(f"模型接口在生成过程中报错：{err.message}。请稍后重试。",
                              "server") from None

    def _hint_if_embedded(self) -> str:
        return self.endpoint.unreachable_hint() if isinstance(self.endpoint, EmbeddedEndpoint) else ""

    def _take_chunk(self, data: object, on_token: OnToken | None, state: _CallState) -> None:
        if state.left() <= 0:       # a stream that trickles on: the total time bounds it
            raise self._deadline_error(state)
        if not isinstance(data, dict) or not ("choices" in data or "usage" in data):
            state.unrecognized_events += 1
            return
        if data.get("model"):
            state.model = data["model"]
        if data.get("usage"):
            state.usage = data["usage"]
        for choice in data.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                state.pieces.append(piece)
                if on_token is not None:
                    state.streamed = True
                    on_token(piece)
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]

    def _take_whole_body(self, body: bytes, content_type: str, on_token: OnToken | None,
                         state: _CallState) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("choices"), list) and data["choices"]:
            choice = data["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
            if text:
                state.pieces.append(text)
                if on_token is not None:
                    state.streamed = True
                    on_token(text)
            state.finish_reason = choice.get("finish_reason") or "stop"
            state.model = data.get("model") or state.model
            state.usage = data.get("usage") or None
            return
        if isinstance(data, dict) and data.get("error"):
            error = data["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise self._error(f"模型接口报错：{message}。", "server")
        snippet = " ".join(body.decode("utf-8", "replace").split())[:80] or "（空）"
        raise self._error(
            f"模型接口返回的内容不是 OpenAI 协议格式（{content_type or '未知类型'}：“{snippet}”）。"
            f"请检查接口地址（GONGWEN_LLM_BASE_URL）是否指向兼容 OpenAI 的 /v1 地址，"
            f"以及网络中是否有代理或登录页面拦截。", "garbage")

    def _check_complete(self, state: _CallState) -> None:
        if state.finish_reason is None:
            if not state.pieces:
                raise self._error(
                    "模型接口没有返回任何可识别的内容（流式数据为空或格式不符）。请检查接口地址"
                    "是否指向兼容 OpenAI 协议的服务，或稍后重试。",
                    "garbage" if state.unrecognized_events else "empty")
            raise self._error(
                f"模型的回答没有正常结束（已收到 {len(state.text)} 个字后数据流就结束了）。"
                f"可能是服务中途出错，请重试。", "cut")
        if not state.text.strip():
            if state.finish_reason == "length":
                raise self._error("模型还没写出内容就达到了长度上限。请减少材料或范文，"
                                  "或调大 GONGWEN_LLM_MAX_TOKENS。", "length")
            if state.finish_reason == "content_filter":
                raise self._error("模型接口的内容审核拦截了这次回答。请调整材料中的敏感表述后重试。",
                                  "filtered")
            raise self._error("模型返回了空回答。请重试；若反复出现，请检查提示是否过长，"
                              "或换用其他模型。", "empty")

    # --- status ------------------------------------------------------------------------------
    def status(self) -> LLMStatus:
        """Whether the endpoint can answer now, for the UI; never blocks for long."""
        startup = self.endpoint.startup_state()
        if startup is not None:
            state, detail = startup
            return LLMStatus(state, self.endpoint.label, detail)
        cached = self._status_cache
        if cached is not None and time.monotonic() - cached[0] < STATUS_CACHE_S:
            return cached[1]
        status = self._check_remote()
        if status.state == "ready":
            self._status_cache = (time.monotonic(), status)
        return status

    def _check_remote(self) -> LLMStatus:
        label = self.endpoint.label
        base_url = self.endpoint.base_url()
        client = self._client_for(base_url).with_options(timeout=5.0, max_retries=0)
        try:
            raw = client.models.with_raw_response.list()
        except openai.NotFoundError:
            return LLMStatus("ready", label, "接口可以连接（它不提供模型列表，无法预先核对模型名称）。")
        except openai.APIStatusError as err:
            return LLMStatus("unreachable", label, str(self._status_error(err, 0)))
        except openai.APITimeoutError:
            return LLMStatus("unreachable", label,
                             f"模型接口 {_host_of(base_url)} 5 秒内没有响应。{self.endpoint.unreachable_hint()}")
        except openai.APIConnectionError as err:
            return LLMStatus("unreachable", label,
                             self._redact(f"无法连接到 {base_url}（{_connection_reason(err)}）。"
                                          f"{self.endpoint.unreachable_hint()}"))
        models = parse_model_list(raw.text)
        if models is None:
            return LLMStatus("unreachable", label,
                             "接口的回答不是 OpenAI 协议格式。请检查接口地址（GONGWEN_LLM_BASE_URL）"
                             "是否指向兼容 OpenAI 的 /v1 地址。")
        if self.model not in models:
            listed = "、".join(models[:8]) or "（空）"
            return LLMStatus("ready", label,
                             f"接口可以连接，但它的模型列表里没有“{self.model}”（列出的有：{listed}）。"
                             f"若起草时报 404，请修改 GONGWEN_LLM_MODEL。")
        return LLMStatus("ready", label, f"接口 {redact_url(base_url)} 可以连接。")


_RETRY_REASON = {"rate": "模型服务繁忙", "server": "模型服务出错",
                 "cut": "模型的回答在中途中断", "empty": "模型返回了空回答",
                 "timeout": "模型迟迟没有输出（超时）"}


def _retry_after(err: openai.APIStatusError) -> float | None:
    """Seconds the server asks to wait (Retry-After-Ms, Retry-After in seconds or as a date)."""
    headers = err.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue  # unreadable: our own backoff
        return max(0.0, when.timestamp() - time.time())
    return None


def _connection_reason(err: openai.APIConnectionError) -> str:
    cause = str(err.__cause__ or err)
    lowered = cause.lower()
    if "refused" in lowered:
        return "连接被拒绝，服务可能没有启动"
    if "name or service not known" in lowered or "nodename nor servname" in lowered \
            or "temporary failure in name resolution" in lowered:
        return "域名无法解析，请检查地址拼写或网络"
    if "incomplete" in lowered or "peer closed" in lowered or "disconnected" in lowered:
        return "连接被对方关闭"
    if "ssl" in lowered or "certificate" in lowered:
        return f"安全连接失败：{cause[:120]}"
    return cause[:160]


_clients_lock = threading.Lock()
_clients: dict[tuple, LLMClient] = {}


def get_llm(settings: Settings) -> LLMClient:
    """The client for the configured endpoint, or for the embedded model when no base URL is set.

    Clients are shared per configuration, so the UI's reruns reuse connections and the embedded
    server is started (in the background) only once per process.
    """
    key = (settings.llm_base_url, settings.llm_model, settings.llm_api_key.get_secret_value(),
           settings.model_dump_json())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            endpoint: Endpoint = (EmbeddedEndpoint(settings) if settings.uses_embedded_llm
                                  else RemoteEndpoint(settings.llm_base_url, settings.llm_model))
            client = _clients[key] = LLMClient(settings, endpoint, api_key=settings.llm_api_key)
        return client
