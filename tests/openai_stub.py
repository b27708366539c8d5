"""A scripted server speaking the OpenAI chat wire protocol, for tests and end-to-end runs.

`ScriptedOpenAIServer` is a real `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) that
answers `POST /v1/chat/completions` (a JSON body, or Server-Sent Events when the request has
`"stream": true`) and `GET /v1/models`. Each chat request consumes the next step of its script;
every request (path, lower-cased headers, JSON body) is recorded in `.requests`.

    with ScriptedOpenAIServer([reply("你好"), error(429), reply("第二次")]) as stub:
        settings = Settings(llm_base_url=stub.base_url, ...)   # base_url ends in /v1

Script format. A script is a list of steps; in a JSON file it is either that list or
`{"steps": [...], "repeat_last": true, "models": ["name"]}`. A step is a dict (the helpers below build
them), or — in process only — a callable `(request_json) -> step | str` (a str is a reply):

  {"reply": "text", "finish_reason": "stop", "usage": true, "chunk_chars": 4, "chunk_delay": 0,
   "first_token_delay": 0}
      A normal answer. Streamed in pieces of `chunk_chars` characters with `chunk_delay` seconds
      between them; with `first_token_delay` the headers and the empty role chunk go out at once
      and the first piece of text only after that many seconds (a model stuck before its first
      token, as opposed to `delay`, which holds back even the HTTP headers). With `"usage": true`
      and `stream_options.include_usage` in the request, a final usage chunk follows (tokens
      counted as characters: prompt = the characters of all message contents, completion = the
      reply's). `"usage": false` imitates a server that never reports usage. `reply("")` (or
      `empty_answer()`) is an answer that finishes normally with no text.
  {"error": 429, "body": {...} | "text", "headers": {"Retry-After": "0"}}
      An HTTP error status with a JSON (or plain-text) body; `rate_limited(45)` is a 429 with
      `Retry-After: 45`, `server_error(503)` a 5xx.
  {"delay": 2.5, "then": step}
      Wait before answering (wakes early when the server stops), then play `then`.
  {"cut_stream": 6, "text": "full text", "chunk_chars": 2}
      Stream the first `cut_stream` characters of `text` (pieces of `chunk_chars`, so
      `cut_stream(6)` sends 3 tokens), then drop the connection mid-body.
  {"garbage": "not json", "content_type": "text/html"}
      HTTP 200 whose body is not the protocol (a proxy's login page, a misconfigured URL);
      `broken_json()` is an event stream whose data lines are not valid JSON.
  {"when": [["substring", step], ...], "otherwise": step}
      Content-dependent answer for file scripts: the first substring found in the request's
      message contents picks the step.

When the script runs out the server answers 500 "stub script exhausted", unless `repeat_last`.
`ScriptedOpenAIServer(..., supports_stream_options=False)` answers 400 to any request that carries
`stream_options` (like some compatible servers) so the client's fallback can be tested;
`models=[...]` sets the ids `GET /v1/models` lists and `models_body="<html>…"` replaces that answer
with a raw non-protocol body.

As a process (the browser end-to-end test runs the app against it):

    python tests/openai_stub.py --port 0 --script script.json

prints `listening on http://127.0.0.1:PORT/v1` on stdout once it accepts connections.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Union

Step = Union[dict[str, Any], Callable[[dict[str, Any]], Union[dict[str, Any], str]]]


def reply(text: str, *, finish_reason: str = "stop", usage: bool = True, chunk_chars: int = 4,
          chunk_delay: float = 0.0, first_token_delay: float = 0.0) -> dict[str, Any]:
    step = {"reply": text, "finish_reason": finish_reason, "usage": usage,
            "chunk_chars": chunk_chars, "chunk_delay": chunk_delay}
    if first_token_delay:
        step["first_token_delay"] = first_token_delay
    return step


def empty_answer() -> dict[str, Any]:
    return reply("")


def error(status: int, body: dict[str, Any] | str | None = None,
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    if body is None:
        body = {"error": {"message": f"stub error {status}", "type": "stub_error", "code": status}}
    return {"error": status, "body": body, "headers": headers or {}}


def rate_limited(retry_after: float | str | None = None, status: int = 429) -> dict[str, Any]:
    """A 429 (or e.g. 503) asking the client to come back after `retry_after` seconds."""
    return error(status, headers={} if retry_after is None else {"Retry-After": str(retry_after)})


def server_error(status: int = 503, message: str = "服务暂时不可用") -> dict[str, Any]:
    return error(status, {"error": {"message": message, "type": "server_error", "code": status}})


def delay(seconds: float, then: Step) -> dict[str, Any]:
    return {"delay": seconds, "then": then}


def cut_stream(after_chars: int, text: str = "这是一段会在中途被截断的回答内容。",
               chunk_chars: int = 2) -> dict[str, Any]:
    return {"cut_stream": after_chars, "text": text, "chunk_chars": chunk_chars}


def garbage(body: str = "not json", content_type: str = "text/html") -> dict[str, Any]:
    return {"garbage": body, "content_type": content_type}


def broken_json() -> dict[str, Any]:
    return garbage('data: {"choices": [{"delta": {"content": "半\n\n', "text/event-stream")


def when(rules: list[tuple[str, Step]], otherwise: Step) -> dict[str, Any]:
    return {"when": [list(r) for r in rules], "otherwise": otherwise}


def _message_parts(request_json: dict[str, Any]) -> list[str]:
    parts = []
    for m in request_json.get("messages") or []:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return parts


def _message_text(request_json: dict[str, Any]) -> str:
    return "\n".join(_message_parts(request_json))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_StubHTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: tests read `.requests` instead of a request log on stderr."""

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    # --- routing -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.server.owner._record(self.path, self._headers(), None)
        owner = self.server.owner
        if self.path.rstrip("/") == "/v1/models" and owner.models_body is not None:
            self._send_bytes(200, owner.models_body.encode(), "text/html")
        elif self.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "stub"}
                    for m in owner.models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = {"_unparsable": raw.decode("utf-8", "replace")}
        record = self.server.owner._record(self.path, self._headers(), body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        owner = self.server.owner
        if not owner.supports_stream_options and "stream_options" in body:
            self._send_json(400, {"error": {"message": "Unrecognized request argument supplied: "
                                            "stream_options", "type": "invalid_request_error"}})
            return
        try:
            self._play(owner._next_step(), body, record)
        except (BrokenPipeError, ConnectionResetError):
            record["client_disconnected"] = True

    # --- steps ---------------------------------------------------------------------------------
    def _play(self, step: Step | None, body: dict[str, Any], record: dict[str, Any]) -> None:
        if step is None:
            self._send_json(500, {"error": {"message": "stub script exhausted"}})
            return
        if callable(step):
            step = step(body)
            if isinstance(step, str):
                step = reply(step)
        record["step"] = {k: v for k, v in step.items() if k != "then"}
        if "delay" in step:
            self.server.owner._stopping.wait(step["delay"])
            self._play(step["then"], body, record)
        elif "when" in step:
            text = _message_text(body)
            chosen = next((s for needle, s in step["when"] if needle in text), step["otherwise"])
            self._play(chosen, body, record)
        elif "error" in step:
            payload = step.get("body")
            if isinstance(payload, str):
                self._send_bytes(step["error"], payload.encode(), "text/plain; charset=utf-8",
                                 step.get("headers"))
            else:
                self._send_json(step["error"], payload, step.get("headers"))
        elif "garbage" in step:
            self._send_bytes(200, step["garbage"].encode(), step.get("content_type", "text/html"))
        elif "cut_stream" in step:
            self._stream(body, step["text"][:step["cut_stream"]], finish_reason=None, usage=False,
                         chunk_chars=step.get("chunk_chars", 2), chunk_delay=0.0, cut=True)
        elif "reply" in step:
            if body.get("stream"):
                self._stream(body, step["reply"], finish_reason=step.get("finish_reason", "stop"),
                             usage=step.get("usage", True), chunk_chars=step.get("chunk_chars", 4),
                             chunk_delay=step.get("chunk_delay", 0.0), cut=False,
                             first_token_delay=step.get("first_token_delay", 0.0))
            else:
                self._send_json(200, self._completion(body, step))
        else:
            raise ValueError(f"unknown stub step: {step!r}")

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = sum(len(part) for part in _message_parts(body))
        return {"prompt_tokens": prompt, "completion_tokens": len(text),
                "total_tokens": prompt + len(text)}

    def _completion(self, body: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
        text = step["reply"]
        out: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "stub-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": step.get("finish_reason", "stop")}],
        }
        if step.get("usage", True):
            out["usage"] = self._usage(body, text)
        return out

    def _stream(self, body: dict[str, Any], text: str, *, finish_reason: str | None, usage: bool,
                chunk_chars: int, chunk_delay: float, cut: bool,
                first_token_delay: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        model = body.get("model", "stub-model")

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        self._event(chunk({"role": "assistant", "content": ""}, None))
        if first_token_delay:
            self.server.owner._stopping.wait(first_token_delay)
        for i in range(0, len(text), max(1, chunk_chars)):
            if chunk_delay:
                self.server.owner._stopping.wait(chunk_delay)
            self._event(chunk({"content": text[i:i + chunk_chars]}, None))
        if cut:
            # Drop the connection inside the chunked body: the client sees an incomplete message.
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._event(chunk({}, finish_reason))
        if usage and (body.get("stream_options") or {}).get("include_usage"):
            self._event({"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": model, "choices": [], "usage": self._usage(body, text)})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode(),
                         "application/json", headers)

    def _send_bytes(self, status: int, data: bytes, content_type: str,
                    headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class _StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler may be inside a long delay step when the test ends

    def __init__(self, owner: "ScriptedOpenAIServer", port: int):
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a timed-out request, an exiting CLI's idle keep-alive
        connection) is part of the scripts, not a stub failure: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class ScriptedOpenAIServer:
    """Real HTTP server answering chat requests from a script; see the module docstring."""

    def __init__(self, script: list[Step], *, port: int = 0, repeat_last: bool = False,
                 models: list[str] | None = None, supports_stream_options: bool = True,
                 models_body: str | None = None):
        self._script = list(script)
        self._position = 0
        self.repeat_last = repeat_last
        self.models = models or ["stub-model"]
        self.supports_stream_options = supports_stream_options
        self.models_body = models_body  # raw (non-protocol) answer for GET /v1/models
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _StubHTTPServer(self, port)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completion requests received so far, in order."""
        with self._lock:
            return [r["json"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def extend(self, steps: list[Step]) -> None:
        with self._lock:
            self._script.extend(steps)

    def _next_step(self) -> Step | None:
        with self._lock:
            if self._position < len(self._script):
                step = self._script[self._position]
                self._position += 1
                return step
            return self._script[-1] if (self.repeat_last and self._script) else None

    def _record(self, path: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
        record = {"path": path, "headers": headers, "json": body}
        with self._lock:
            self.requests.append(record)
        return record

    def start(self) -> "ScriptedOpenAIServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-stub",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "ScriptedOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_script(path: Path) -> tuple[list[Step], bool, list[str] | None]:
    """Read a JSON script file: a list of steps or {"steps", "repeat_last", "models"}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        return data, False, None
    return data["steps"], bool(data.get("repeat_last", False)), data.get("models")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-protocol server for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, required=True)
    args = parser.parse_args(argv)
    steps, repeat_last, models = load_script(args.script)
    server = ScriptedOpenAIServer(steps, port=args.port, repeat_last=repeat_last, models=models)
    print(f"listening on {server.base_url}", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
