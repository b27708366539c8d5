"""What a draft costs against what the model needs to type it, measured in one run.

    OMP_WAIT_POLICY=passive .venv/bin/python bench/draft_cost.py [--runs 1]

For a whole-report request and a section request, the product drafts with the embedded model
(its llama.cpp server, as the app uses it). The floor is measured in the same run with raw
`llama_cpp.Llama` on the same GGUF file: the first-token time of one prompt as long as the
draft's first writing call, plus the draft's completion tokens at the generation rate measured
on the same machine. Printed per request: wall time, calls, prompt and completion tokens,
first-token time of the first and of the later calls (the shared prefix is reused from the
second call on), the floor and the ratio product/floor. Figures depend on machine load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import get_settings  # noqa: E402
from rag.draft import draft_report  # noqa: E402
from rag.local_model import ensure_model_file  # noqa: E402
from rag.normalize import parse_request

WHOLE = {"genre": "工作总结", "section": "全文", "unit": "青岚县卫生健康局", "year": 2024, "topic": "妇幼健康",
         "facts": ["全县孕产妇系统管理率达到93.6%，3岁以下儿童系统管理率达到92.1%",
                   "为1.2万名适龄妇女开展“两癌”免费筛查，查出并转诊早期病例17例",
                   "新建县妇幼保健院儿童早期发展中心，服务儿童4800人次",
                   "开展新生儿疾病筛查5260例，筛查率99.2%",
                   "基层妇幼专业人员仅有43人，部分乡镇没有专职妇幼医生",
                   "2025年将在全县推广孕产妇健康管理“一人一档”"],
         "length_chars": [1200, 1800]}
SECTION = {"genre": "工作计划", "section": "主要任务", "unit": "青岚县卫生健康局", "year": 2025, "topic": "慢病管理",
           "facts": ["高血压患者规范管理率达到65%以上", "糖尿病患者规范管理率达到62%以上",
                     "在每个乡镇卫生院建成慢病管理门诊1个", "为35岁以上首诊患者测量血压不少于8万人次"],
           "length_chars": [500, 800]}


def floor_seconds(model_path: Path, prompt_tokens: int, completion_tokens: int, threads: int) -> dict:
    """Raw llama.cpp: first-token time of a prompt of `prompt_tokens` tokens (fresh cache) and the
    generation rate; the floor is one prompt plus the draft's tokens at that rate."""
    from llama_cpp import Llama
    llm = Llama(model_path=str(model_path), n_ctx=4096, n_threads=threads, verbose=False)
    filler = "卫生健康工作坚持以人民健康为中心，"
    text = ""
    while len(llm.tokenize(text.encode())) < prompt_tokens:
        text += filler
    messages = [{"role": "user", "content": text + "请用一段话概括上述内容。"}]
    t0 = time.monotonic()
    first = None
    n = 0
    for chunk in llm.create_chat_completion(messages=messages, max_tokens=200, stream=True, temperature=0.3):
        delta = chunk["choices"][0].get("delta", {}).get("content")
        if delta:
            n += 1
            if first is None:
                first = time.monotonic() - t0
    total = time.monotonic() - t0
    rate = max(1, n - 1) / max(1e-6, total - (first or 0))
    return {"first_token_s": first or total, "tokens_per_s": rate,
            "floor_s": (first or total) + completion_tokens / rate}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    settings = get_settings()
    if not settings.uses_embedded_llm:
        print("这个基准只测内置模型：请不要设置 GONGWEN_LLM_BASE_URL。", file=sys.stderr)
        return 2
    model_path = ensure_model_file(settings)
    print(f"machine: {os.cpu_count()} cores; model {model_path.name}")
    rows = []
    for name, data in (("whole report", WHOLE), ("section", SECTION)):
        for _ in range(args.runs):
            t0 = time.monotonic()
            result = draft_report(parse_request(data), settings)
            wall = time.monotonic() - t0
            calls = result.usage.per_call
            first_calls = [c for c in calls if c["purpose"].startswith("item")]
            rows.append((name, wall, result, calls, first_calls[0]["prompt_tokens"] if first_calls else 500))
    # the floor after the product runs, so the server is idle and both see the same machine
    threads = settings.local_model_threads
    for name, wall, result, calls, first_prompt in rows:
        floor = floor_seconds(model_path, first_prompt, result.usage.completion_tokens, threads)
        ttfts = [c["first_token_s"] for c in calls if c["first_token_s"] is not None]
        later = statistics.median(ttfts[1:]) if len(ttfts) > 1 else float("nan")
        print(f"{name:12} wall {wall:6.1f} s  calls {result.usage.calls:2}  prompt {result.usage.prompt_tokens:5} "
              f"completion {result.usage.completion_tokens:4} tokens  first token: call 1 {ttfts[0] if ttfts else 0:5.1f} s, "
              f"later median {later:5.1f} s  | floor {floor['floor_s']:6.1f} s "
              f"(first token {floor['first_token_s']:.1f} s for {first_prompt} prompt tokens, "
              f"{floor['tokens_per_s']:.1f} tokens/s)  ratio {wall / floor['floor_s']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
