"""The LLM client against a real local HTTP server speaking the OpenAI protocol (tests/openai_stub.py).

Every path goes through real sockets: streaming, usage, retries, and each failure a user can meet
(server down, slow, rate-limited, failing, cut off, answering garbage or nothing).
"""
from __future__ import annotations

import base64
import email.utils
import json
import pickle
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from openai_stub import (ScriptedOpenAIServer, cut_stream, delay, error, garbage, rate_limited, reply,
                         when)

from rag.calllog import recent_calls
from rag.config import Settings
from rag.errors import LLMError, RequestError, UserFacingError
from rag.llm import LLMClient, RemoteEndpoint, get_llm, llm_hooks
from rag.tokens import count_message_tokens, count_tokens, fit_to_budget

KEY = "sk-test-Secret-7f3a9c21"
MESSAGES = [{"role": "system", "content": "你是公文写作助手。"},
            {"role": "user", "content": "请写一句关于基层卫生工作的总结。"}]
CJK = re.compile(r"[\u4e00-\u9fff]")


def make_settings(settings: Settings, base_url: str, **overrides) -> Settings:
    return settings.model_copy(update={"llm_base_url": base_url, "llm_model": "stub-model",
                                       "llm_api_key": SecretStr(KEY),
                                       **overrides})


def make_client(settings: Settings, base_url: str, **overrides) -> LLMClient:
    """A client with a short backoff so retry tests do not sleep for seconds."""
    s = make_settings(settings, base_url, **overrides)
    return LLMClient(s, RemoteEndpoint(base_url, s.llm_model), api_key=s.llm_api_key,
                     max_retries=3, retry_delay=0.01)


def chat_error(client: LLMClient, **kwargs) -> LLMError:
    with pytest.raises(LLMError) as info:
        client.chat(MESSAGES, purpose="test", **kwargs)
    message = str(info.value)
    assert CJK.search(message), message
    assert KEY not in message
    return info.value


def last_call(settings: Settings):
    return recent_calls(settings, 1)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- success paths ---------------------------------------------------------------------------

def test_streamed_tokens_arrive_in_order_and_usage_is_logged(settings):
    text = "全区卫生健康系统坚持以人民健康为中心，扎实推进各项工作。"
    with ScriptedOpenAIServer([reply(text, chunk_chars=3)]) as stub:
        client = make_client(settings, stub.base_url)
        tokens: list[str] = []
        result = client.chat(MESSAGES, on_token=tokens.append, temperature=0.1, max_tokens=99,
                             purpose="section")
        request = stub.chat_requests[0]
        auth = stub.requests[0]["headers"]["authorization"]

    assert len(tokens) == len(range(0, len(text), 3)) and "".join(tokens) == text
    assert result.text == text and result.finish_reason == "stop" and result.model == "stub-model"
    prompt_chars = sum(len(m["content"]) for m in MESSAGES)  # the stub counts characters
    assert (result.prompt_tokens, result.completion_tokens) == (prompt_chars, len(text))
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert (request["temperature"], request["max_tokens"], request["model"]) == (0.1, 99, "stub-model")
    assert request["messages"] == MESSAGES
    assert auth == f"Bearer {KEY}"

    row = last_call(client.settings)
    assert (row.outcome, row.purpose, row.usage_source, row.attempts) == ("ok", "section", "server", 1)
    assert row.messages == MESSAGES and row.response == text
    assert (row.prompt_tokens, row.completion_tokens) == (prompt_chars, len(text))
    assert row.error is None and row.finish_reason == "stop"


def test_defaults_come_from_settings(settings):
    with ScriptedOpenAIServer([reply("好")]) as stub:
        make_client(settings, stub.base_url, llm_temperature=0.7, llm_max_tokens=321).chat(MESSAGES)
        request = stub.chat_requests[0]
    assert (request["temperature"], request["max_tokens"]) == (0.7, 321)


def test_usage_is_counted_locally_when_the_server_reports_none(settings):
    text = "加强公共卫生体系建设。"
    with ScriptedOpenAIServer([reply(text, usage=False)]) as stub:
        client = make_client(settings, stub.base_url)
        result = client.chat(MESSAGES)
    assert result.completion_tokens == count_tokens(text)
    assert result.prompt_tokens == count_message_tokens(MESSAGES)
    assert last_call(client.settings).usage_source == "estimated"


def test_server_rejecting_stream_options_is_retried_without_them(settings):
    with ScriptedOpenAIServer([reply("第一次"), reply("第二次")], supports_stream_options=False) as stub:
        client = make_client(settings, stub.base_url)
        first = client.chat(MESSAGES)
        second = client.chat(MESSAGES)
        requests = stub.chat_requests
    assert (first.text, second.text) == ("第一次", "第二次")
    # the rejected request, its retry without stream_options, then the next call goes straight through
    assert ["stream_options" in r for r in requests] == [True, False, False]
    assert first.completion_tokens == count_tokens("第一次")


def test_server_ignoring_stream_flag_still_works(settings):
    completion = {"id": "x", "object": "chat.completion", "model": "stub-model",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "整段回答"},
                               "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}
    with ScriptedOpenAIServer([garbage(json.dumps(completion), "application/json")]) as stub:
        tokens: list[str] = []
        result = make_client(settings, stub.base_url).chat(MESSAGES, on_token=tokens.append)
    assert tokens == ["整段回答"] and result.text == "整段回答"
    assert (result.prompt_tokens, result.completion_tokens) == (11, 4)


def test_rate_limit_then_success_after_retry(settings):
    with ScriptedOpenAIServer([error(429), error(429, headers={"Retry-After": "0"}),
                               reply("重试后成功")]) as stub:
        client = make_client(settings, stub.base_url)
        result = client.chat(MESSAGES)
        assert len(stub.chat_requests) == 3
    assert result.text == "重试后成功"
    assert last_call(client.settings).attempts == 3


def test_server_error_then_success_after_retry(settings):
    with ScriptedOpenAIServer([error(502), reply("好了")]) as stub:
        assert make_client(settings, stub.base_url).chat(MESSAGES).text == "好了"


def test_retry_after_is_waited_out_and_told(settings):
    notices: list[str] = []
    with ScriptedOpenAIServer([rate_limited(1), rate_limited(1, status=503), reply("等过之后成功")]) as stub:
        client = make_client(settings, stub.base_url, llm_retry_after_max=5)
        result = client.chat(MESSAGES, on_notice=notices.append)
    assert result.text == "等过之后成功" and result.attempts == 3
    assert notices == ["模型服务繁忙，按服务要求等待1秒后重试（第1次）…",
                       "模型服务繁忙，按服务要求等待1秒后重试（第2次）…"]


def test_retry_after_longer_than_the_maximum_ends_the_call_at_once(settings):
    notices: list[str] = []
    with ScriptedOpenAIServer([rate_limited(120)], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url, llm_retry_after_max=30)
        err = chat_error(client, on_notice=notices.append)
        assert len(stub.chat_requests) == 1
    assert "120 秒" in str(err) and "30 秒" in str(err) and "GONGWEN_LLM_RETRY_AFTER_MAX" in str(err)
    assert err.kind == "rate" and notices == []


def test_retry_after_as_an_http_date(settings):
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with ScriptedOpenAIServer([rate_limited(in_an_hour)], repeat_last=True) as stub:
        err = chat_error(make_client(settings, stub.base_url, llm_retry_after_max=60))
        assert len(stub.chat_requests) == 1
    assert re.search(r"要求等待 (3599|3600) 秒", str(err)), str(err)


def test_restart_after_streamed_text_is_reported(settings):
    partial = "一、今年以来我局"
    with ScriptedOpenAIServer([cut_stream(6, partial), reply("完整的回答。")]) as stub:
        client = make_client(settings, stub.base_url)
        shown: list[str] = []

        def take_back(discarded: str) -> None:  # what a UI showing the stream does
            assert "".join(shown).endswith(discarded)
            del shown[len(shown) - len(discarded):]

        notices: list[str] = []
        result = client.chat(MESSAGES, on_token=lambda t: shown.extend(t), on_restart=take_back,
                             on_notice=notices.append)
    assert "".join(shown) == "完整的回答。" == result.text
    assert (result.attempts, result.restarts) == (2, 1)
    assert notices == ["模型的回答在中途中断，稍后重试（第1次）…已输出的6个字作废，将重新生成。"]
    assert last_call(client.settings).response == "完整的回答。"


def test_hooks_can_be_set_around_a_block_of_calls(settings):
    notices: list[str] = []
    discarded: list[str] = []
    with ScriptedOpenAIServer([error(502), reply("甲"), cut_stream(4), reply("乙")]) as stub:
        client = make_client(settings, stub.base_url)
        with llm_hooks(on_notice=notices.append, on_restart=discarded.append):
            first = client.chat(MESSAGES).text
            second = client.chat(MESSAGES, on_token=lambda _t: None).text
        assert len(stub.chat_requests) == 4
    assert (first, second) == ("甲", "乙")
    assert notices[0] == "模型服务出错（HTTP 502），稍后重试（第1次）…" and len(notices) == 2
    assert discarded == ["这是一段"]


def test_llm_error_keeps_its_kind_across_processes():
    err = pickle.loads(pickle.dumps(LLMError("模型接口限流", kind="rate", attempts=4)))
    assert (str(err), err.kind, err.attempts, err.transient) == ("模型接口限流", "rate", 4, True)
    with pytest.raises(ValueError):
        LLMError("x", kind="no-such-kind")


def test_credentials_in_the_base_url_are_never_shown_or_logged(settings):
    password, query_key = "Pw-5d1e0b77", "QK-8c2a4e19"
    url = f"http://gongwen:{password}@127.0.0.1:{free_port()}/v1?api_key={query_key}"
    client = make_client(settings, url)
    err = chat_error(client)
    status = client.status()
    assert "无法连接" in str(err) and status.state == "unreachable"
    shown = "\n".join([str(err), status.detail, status.label, repr(client), repr(client.endpoint),
                       repr(client.settings), str(client.settings)])
    assert password not in shown and query_key not in shown and "gongwen:" not in shown
    dump = "\n".join(sqlite3.connect(client.settings.path("llm_calls.sqlite")).iterdump())
    assert password not in dump and query_key not in dump


def test_url_credentials_are_taken_out_before_the_client_is_built_and_the_user_is_told_once(settings):
    password, query_key = "Pw-9a0c33e1", "QK-1b7d55f2"
    notices: list[str] = []
    with ScriptedOpenAIServer([reply("好的。")], repeat_last=True) as stub:
        host = stub.base_url.split("://", 1)[1]
        url = f"http://alice:{password}@{host}?api_key={query_key}"
        client = make_client(settings, url)
        client.chat(MESSAGES, on_notice=notices.append)
        client.chat(MESSAGES, on_notice=notices.append)
        sent = stub.requests
    assert [r["headers"].get("authorization") for r in sent] == [f"Bearer {KEY}"] * 2
    assert all(r["path"] == "/v1/chat/completions" for r in sent)
    assert len(notices) == 1 and "GONGWEN_LLM_API_KEY" in notices[0] and "已去掉" in notices[0]
    assert password not in notices[0] and query_key not in notices[0]


def test_authorization_values_a_server_echoes_are_redacted_everywhere(settings):
    basic = base64.b64encode(b"alice:Pw-0c4e8a12").decode()
    echo = f"bad credentials: Authorization: Bearer {KEY}; earlier Basic {basic}; token Bearer sk-other-77aa19"
    with ScriptedOpenAIServer([reply(f"回答里回显了 {echo}"), error(401, {"error": {"message": echo}}),
                               error(400, echo), error(500, {"detail": echo})], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url)
        answer = client.chat(MESSAGES)
        errors = [str(chat_error(client)) for _ in range(3)]
    dump = "\n".join(sqlite3.connect(client.settings.path("llm_calls.sqlite")).iterdump())
    assert all("Bearer ***" in e and "Basic ***" in e for e in errors) and "Basic ***" in dump
    for text in [*errors, dump]:
        for secret in (KEY, basic, "sk-other-77aa19"):
            assert secret not in text, (secret, text[:300])
    assert basic in answer.text   # the answer itself is returned as written; what is shown or kept is not


def test_a_stream_that_trickles_on_ends_at_the_total_deadline(settings):
    slow = reply("基层卫生服务能力稳步提升" * 20, chunk_chars=1, chunk_delay=0.2)
    with ScriptedOpenAIServer([slow], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url, llm_timeout=5.0, llm_total_timeout=1.5)
        err = chat_error(client)
        requests = len(stub.chat_requests)
    assert err.kind == "timeout" and "GONGWEN_LLM_TOTAL_TIMEOUT" in str(err) and "1.5 秒" in str(err)
    assert requests == 1     # no time is left for a retry
    logged = last_call(client.settings)
    assert logged.outcome == "error" and 0 < len(logged.response) < len(slow["reply"])
    assert err.prompt_tokens and err.completion_tokens    # what the failed call cost, for `usage`


# --- failures --------------------------------------------------------------------------------

def test_nothing_listening(settings):
    client = make_client(settings, f"http://127.0.0.1:{free_port()}/v1")
    err = chat_error(client)
    assert "无法连接" in str(err) and "连接被拒绝" in str(err) and "GONGWEN_LLM_BASE_URL" in str(err)
    assert (err.kind, err.attempts) == ("down", 1)
    row = last_call(client.settings)
    assert row.outcome == "error" and row.error == str(err)


def test_slow_server_times_out_after_bounded_retries(settings):
    with ScriptedOpenAIServer([delay(5, reply("太慢了"))], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url, llm_timeout=0.5)
        err = chat_error(client)
        assert len(stub.chat_requests) == client.max_retries + 1
    assert "超时" in str(err) and "GONGWEN_LLM_TIMEOUT" in str(err)
    assert f"已重试 {client.max_retries} 次" in str(err)
    assert (err.kind, err.attempts) == ("timeout", client.max_retries + 1)
    assert last_call(client.settings).outcome == "error"


def test_rate_limit_forever_gives_up_after_bounded_retries(settings):
    with ScriptedOpenAIServer([error(429)], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url)
        err = chat_error(client)
        assert len(stub.chat_requests) == client.max_retries + 1
    assert "429" in str(err) and "限流" in str(err) and f"重试 {client.max_retries} 次" in str(err)
    row = last_call(client.settings)
    assert (row.outcome, row.attempts) == ("error", client.max_retries + 1)


def test_internal_server_error_forever(settings):
    with ScriptedOpenAIServer([error(500, {"error": {"message": "GPU 内存不足"}})],
                              repeat_last=True) as stub:
        err = chat_error(make_client(settings, stub.base_url))
    assert "HTTP 500" in str(err) and "GPU 内存不足" in str(err)


def test_cut_stream_keeps_the_partial_text_in_the_log(settings):
    text = "一、主要工作及成效。今年以来，我局认真贯彻落实"
    with ScriptedOpenAIServer([cut_stream(8, text)], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url)
        tokens: list[str] = []
        discarded: list[str] = []
        err = chat_error(client, on_token=tokens.append, on_restart=discarded.append)
    assert "中途被中断" in str(err) and "已收到 8 个字" in str(err) and "已重试 3 次" in str(err)
    assert err.kind == "cut"
    # every attempt streamed the same 8 characters; each retry first took them back
    assert discarded == [text[:8]] * client.max_retries
    assert "".join(tokens) == text[:8] * (client.max_retries + 1)
    row = last_call(client.settings)
    assert row.outcome == "error" and row.response == text[:8]


def test_stream_ending_without_finish_is_an_error(settings):
    body = ('data: {"choices": [{"index": 0, "delta": {"content": "半句"}, "finish_reason": null}]}'
            '\n\n')
    with ScriptedOpenAIServer([garbage(body, "text/event-stream")], repeat_last=True) as stub:
        err = chat_error(make_client(settings, stub.base_url))
    assert "没有正常结束" in str(err) and err.kind == "cut"


def test_html_page_instead_of_the_protocol(settings):
    with ScriptedOpenAIServer([garbage("<html><body>请先登录</body></html>")]) as stub:
        err = chat_error(make_client(settings, stub.base_url))
    assert "不是 OpenAI 协议格式" in str(err) and "请先登录" in str(err)
    assert (err.kind, err.attempts) == ("garbage", 1)  # a configuration fault: not retried


def test_stream_with_non_json_data(settings):
    with ScriptedOpenAIServer([garbage("data: this is not json\n\n", "text/event-stream")]) as stub:
        client = make_client(settings, stub.base_url)
        err = chat_error(client)
    assert "不是合法 JSON" in str(err)
    assert last_call(client.settings).outcome == "error"


def test_stream_of_unrecognised_events(settings):
    with ScriptedOpenAIServer([garbage('data: {"foo": 1}\n\ndata: 42\n\n', "text/event-stream")]) as stub:
        err = chat_error(make_client(settings, stub.base_url))
    assert "没有返回任何可识别的内容" in str(err)


def test_empty_answer(settings):
    with ScriptedOpenAIServer([reply("  ")], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url)
        err = chat_error(client)
    assert "空回答" in str(err) and (err.kind, err.attempts) == ("empty", client.max_retries + 1)
    assert last_call(client.settings).outcome == "error"


def test_length_limit_before_any_text(settings):
    with ScriptedOpenAIServer([reply("", finish_reason="length")]) as stub:
        err = chat_error(make_client(settings, stub.base_url))
    assert "长度上限" in str(err) and (err.kind, err.attempts) == ("length", 1)


def test_wrong_key_is_explained_and_never_echoed(settings):
    echoed = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    with ScriptedOpenAIServer([error(401, echoed)]) as stub:
        client = make_client(settings, stub.base_url)
        err = chat_error(client)
    assert "密钥" in str(err) and "GONGWEN_LLM_API_KEY" in str(err) and "***" in str(err)
    assert (err.kind, err.attempts) == ("auth", 1)
    assert KEY not in repr(client)


def test_unknown_model_name(settings):
    with ScriptedOpenAIServer([error(404, {"error": {"message": "model not found"}})]) as stub:
        err = chat_error(make_client(settings, stub.base_url))
    assert "stub-model" in str(err) and "GONGWEN_LLM_MODEL" in str(err)


def test_key_never_reaches_the_log_database(settings):
    echoed = {"error": {"message": f"bad key {KEY}"}}
    with ScriptedOpenAIServer([reply(f"回答里出现了密钥 {KEY}"), error(401, echoed), error(429)],
                              repeat_last=True) as stub:
        client = make_client(settings, stub.base_url)
        client.chat(MESSAGES)
        chat_error(client)
        chat_error(client)
    db = client.settings.path("llm_calls.sqlite")
    assert len(recent_calls(client.settings, 10)) == 3
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert KEY not in dump and KEY.encode() not in db.read_bytes()


def test_exception_from_on_token_is_logged_and_propagates(settings):
    def stop(_piece: str) -> None:
        raise KeyboardInterrupt

    with ScriptedOpenAIServer([reply("一段很长的回答")]) as stub:
        client = make_client(settings, stub.base_url)
        with pytest.raises(KeyboardInterrupt):
            client.chat(MESSAGES, on_token=stop)
    row = last_call(client.settings)
    assert row.outcome == "error" and "KeyboardInterrupt" in row.error


# --- status and configuration ----------------------------------------------------------------

def test_status_ready_with_label(settings):
    with ScriptedOpenAIServer([], models=["stub-model", "other"]) as stub:
        status = make_client(settings, stub.base_url).status()
    assert status.state == "ready"
    assert status.label == f"已配置接口 stub-model @ 127.0.0.1:{stub.port}"


def test_status_warns_about_a_model_the_server_does_not_list(settings):
    with ScriptedOpenAIServer([], models=["qwen-plus"]) as stub:
        status = make_client(settings, stub.base_url).status()
    assert status.state == "ready" and "stub-model" in status.detail and "qwen-plus" in status.detail


def test_status_unreachable_says_how_to_fix(settings):
    status = make_client(settings, f"http://127.0.0.1:{free_port()}/v1").status()
    assert status.state == "unreachable"
    assert "GONGWEN_LLM_BASE_URL" in status.detail and CJK.search(status.detail)


def test_status_of_a_server_that_does_not_speak_the_protocol(settings):
    with ScriptedOpenAIServer([], models_body="<html>login</html>") as stub:
        status = make_client(settings, stub.base_url).status()
    assert status.state == "unreachable" and "不是 OpenAI 协议格式" in status.detail


def test_get_llm_shares_one_client_per_configuration(settings):
    a = make_settings(settings, "http://127.0.0.1:9/v1")
    b = make_settings(settings, "http://127.0.0.1:10/v1")
    assert get_llm(a) is get_llm(a.model_copy())
    assert get_llm(a) is not get_llm(b)
    assert get_llm(b).status().state == "unreachable"


def test_stub_runs_as_a_process_with_content_dependent_script(tmp_path: Path, settings):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"steps": [when([["大纲", reply('{"sections": []}')]],
                                                 otherwise=reply("正文段落"))],
                                  "repeat_last": True}, ensure_ascii=False), encoding="utf-8")
    stub_path = Path(__file__).with_name("openai_stub.py")
    process = subprocess.Popen([sys.executable, str(stub_path), "--port", "0", "--script", str(script)],
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        base_url = re.search(r"listening on (\S+)", line).group(1)
        client = make_client(settings, base_url)
        outline = client.chat([{"role": "user", "content": "请列出大纲"}])
        section = client.chat([{"role": "user", "content": "请写第一部分"}])
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (outline.text, section.text) == ('{"sections": []}', "正文段落")


# --- token budget ----------------------------------------------------------------------------

def test_chinese_token_counts_follow_o200k():
    text = "坚持以人民健康为中心，深化医药卫生体制改革，推进健康中国建设。" * 4
    assert 0.6 * len(text) < count_tokens(text) < 1.1 * len(text)
    assert count_tokens("") == 0
    # special-token text is counted, not rejected
    assert count_tokens("<|endoftext|>") > 0


def test_fit_to_budget_drops_optional_parts_first():
    facts = ["全年完成家庭医生签约12.3万人。", "新建社区卫生服务中心3个。"]
    exemplars = ["范文甲：" + "加强基层医疗卫生服务能力建设。" * 20,
                 "范文乙：推进医共体建设。",
                 "范文丙：" + "深化改革。" * 3]
    fact_tokens = sum(count_tokens(f) for f in facts)
    budget = fact_tokens + count_tokens(exemplars[1]) + count_tokens(exemplars[2]) + 2
    kept, dropped = fit_to_budget(facts, exemplars, budget)
    assert kept == exemplars[1:] and dropped == 1
    assert fit_to_budget(facts, exemplars, 10_000) == (exemplars, 0)
    assert fit_to_budget(facts, exemplars, fact_tokens) == ([], 3)


def test_fit_to_budget_never_drops_facts():
    facts = ["全年开展健康教育讲座" + "、".join(str(i) for i in range(200)) + "场。"]
    need = count_tokens(facts[0])
    with pytest.raises(RequestError) as info:
        fit_to_budget(facts, ["范文"], need - 5)
    assert isinstance(info.value, UserFacingError)
    assert "超出 5 个" in str(info.value) and str(need) in str(info.value)
