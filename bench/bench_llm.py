"""Speed of the embedded model: load time, first-token latency and generation speed.

    OMP_WAIT_POLICY=passive .venv/bin/python bench/bench_llm.py [--runs 3] [--max-tokens 120]

Starts its own llama.cpp server on a free port (never reuses one already running), then streams a
short Chinese prompt through `rag.llm.LLMClient` several times. Each run's prompt starts
differently, so llama.cpp's prompt cache cannot skip the prompt and every first-token latency
includes processing the whole prompt. Token counts of the answers are the
model's own (llama.cpp's /extras/tokenize), not an estimate. Figures depend on machine load.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import get_settings  # noqa: E402
from rag.llm import LLMClient, RemoteEndpoint  # noqa: E402
from rag.local_model import LocalModelServer, ensure_model_file  # noqa: E402

PROMPT = [
    {"role": "system", "content": "你是卫生健康局的公文写作助手，用规范、简洁的书面语写作。"},
    {"role": "user", "content": "请用两三句话概括今年家庭医生签约服务的主要成效：签约12.3万人，"
                                "重点人群签约率达到78%，开展上门随访2.1万人次。"},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_tokens(base_url: str, text: str) -> int:
    """Token count by the served model's own tokenizer."""
    root = base_url.removesuffix("/v1")
    request = urllib.request.Request(f"{root}/extras/tokenize",
                                     data=json.dumps({"input": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return len(json.loads(resp.read())["tokens"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=120)
    args = parser.parse_args()
    settings = get_settings()

    started = time.monotonic()
    model_path = ensure_model_file(settings, progress=lambda m: print(m, file=sys.stderr))
    print(f"model file ready:        {time.monotonic() - started:6.2f} s  ({model_path})")

    started = time.monotonic()
    with LocalModelServer(settings, model_path=model_path, port=free_port()) as server:
        print(f"server load (to ready):  {time.monotonic() - started:6.2f} s")
        client = LLMClient(settings, RemoteEndpoint(server.base_url, server.alias),
                           api_key=settings.llm_api_key)
        prompt_tokens = model_tokens(server.base_url, "".join(m["content"] for m in PROMPT))
        first_token_s, gen_rates, totals = [], [], []
        for run in range(1, args.runs + 1):
            arrivals: list[float] = []
            messages = [{"role": "system", "content": f"第{run}次。" + PROMPT[0]["content"]},
                        PROMPT[1]]
            t0 = time.monotonic()
            result = client.chat(messages, on_token=lambda _p: arrivals.append(time.monotonic()),
                                 max_tokens=args.max_tokens, temperature=0.3, purpose="bench")
            total = time.monotonic() - t0
            n = model_tokens(server.base_url, result.text)
            first = arrivals[0] - t0
            rate = (n - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else float("nan")
            first_token_s.append(first)
            gen_rates.append(rate)
            totals.append(total)
            print(f"run {run}: first token {first:5.2f} s, {n:3d} tokens "
                  f"({len(result.text)} chars) in {total:5.2f} s, generation {rate:5.1f} tok/s, "
                  f"finish={result.finish_reason}")
        print(f"prompt: {prompt_tokens} model tokens (+ chat template)")
        print(f"first-token latency: median {statistics.median(first_token_s):.2f} s")
        print(f"generation speed:    median {statistics.median(gen_rates):.1f} tok/s")
        print(f"whole answer:        median {statistics.median(totals):.2f} s")
        print(f"sample answer: {result.text}")


if __name__ == "__main__":
    main()
