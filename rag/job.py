"""One drafting job: the request, its facts and plan, the LLM and the retriever it uses, and
what its calls cost. Every writing call goes through `DraftJob.ask` (a shared prefix, then the
call's task) or `DraftJob.chat` (repairs and revisions, whose prompt carries its own material).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from string import Template
from typing import Any

from rag.config import Settings
from rag.errors import LLMError, UserFacingError
from rag.factsheet import FactSheet
from rag.headings import parse_heading
from rag.prompting import GenreGuide, UnitVoice, demo_exchange, fact_lines, mask_exemplar, render
from rag.schema import WHOLE_REPORT, DraftRequest, Exemplar
from rag.text import sentences_of
from rag.tokens import TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING, count_tokens

Progress = Callable[[str], None]
TokenSink = Callable[[str], None]
Retriever = Callable[[str, str, str | None, int], list[Exemplar]]

EXEMPLARS_PER_CALL = (2, 3)
# Measured (bench/run_evalset.py, stop 6): with 160–220-char exemplars the 1.5B model copied
# whole work items from them; a sentence or two teaches the voice well enough.
EXEMPLAR_CHARS = 90
# The smallest paragraph a writing call must have room to answer.
MIN_ITEM_CHARS = 200
# Answer room a writing call must keep for the worked example to be sent (a long fact list on a
# small context keeps the room for the answer instead).
DEMO_ROOM_CHARS = 2 * MIN_ITEM_CHARS


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached_calls: int = 0      # prompts already answered in this draft, not sent again
    failed_calls: int = 0      # calls that ended in an LLMError (not in `calls`)
    # per call: purpose, tokens, seconds to the first token and in all (prefix reuse shows here)
    per_call: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 1),
                "cached_calls": self.cached_calls, "failed_calls": self.failed_calls, "per_call": self.per_call}


# --- the job ----------------------------------------------------------------------------

@dataclass
class DraftJob:
    request: DraftRequest
    settings: Settings
    llm: Any
    guide: GenreGuide
    voice: UnitVoice
    facts: list[str]                        # usable fact texts (conflicting values withheld)
    retriever: Retriever
    on_token: TokenSink | None
    progress: Progress
    sheet: FactSheet | None = None
    sources: list[Exemplar] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    homes: dict[str, str] = field(default_factory=dict)   # fact text → its sub-heading (repairs)
    usage: Usage = field(default_factory=Usage)
    answered: dict[str, str] = field(default_factory=dict)
    retrieval_failed: bool = False

    @property
    def whole(self) -> bool:
        return self.request.section == WHOLE_REPORT

    @property
    def system(self) -> dict[str, str]:
        return {"role": "system", "content": render(
            "system", unit=self.request.unit, genre=self.request.genre,
            self_ref=self.voice.self_ref, level_word=self.voice.level_word)}

    @cached_property
    def prefix(self) -> str:
        """What every writing call of this draft starts with, byte for byte the same: llama.cpp
        reuses its cache for it, and remote endpoints bill a cached prefix cheaper. It holds no
        facts: each call lists its own. Shown every fact, the embedded model wrote other
        paragraphs' facts into a paragraph (a third of what it wrote was dropped for that)."""
        return render("context", genre=self.request.genre, unit=self.request.unit, year=self.request.year,
                      voice=self.guide.voice)

    @cached_property
    def demo(self) -> list[dict[str, str]]:
        """The worked example every writing call carries before its own task; left out (like the
        exemplars, it is help, not material) when with it a paragraph of DEMO_ROOM_CHARS would not fit."""
        demo = demo_exchange(self.request.genre)
        # measured with every fact in the task's own list: the largest a paragraph's list can be
        used = (self._base_tokens + _message_tokens(demo) + count_tokens(self.bare_task(all_facts=True))
                + 2 * TOKENS_PER_MESSAGE + TOKENS_REPLY_PRIMING)
        return demo if used + self.answer_tokens(DEMO_ROOM_CHARS) <= self.settings.llm_context_tokens else []

    def bare_task(self, all_facts: bool = False) -> str:
        """A writing task with nothing of its own (no heading, no exemplars), to measure what is left."""
        facts = fact_lines((f.id, f.text) for f in self.sheet.facts) if all_facts and self.sheet else ""
        return render("task_item", part_title="", heading="", chars=0, fact_refs="", fact_list=facts, guide="",
                      exemplars="")

    @cached_property
    def _base_tokens(self) -> int:
        """System prompt and shared prefix: what every writing call sends, example aside."""
        return count_tokens(self.system["content"]) + count_tokens(self.prefix + "\n\n")

    @cached_property
    def _fixed_tokens(self) -> int:
        return self._base_tokens + _message_tokens(self.demo)

    def fill(self, template: str) -> str:
        r = self.request
        return Template(template).safe_substitute(
            unit=r.unit, year=str(r.year), next_year=str(r.year + 1), topic=r.topic or "",
            self_ref=self.voice.self_ref, leaders=self.voice.leaders, genre=r.genre)

    def emit(self, text: str) -> None:
        if self.on_token:
            self.on_token(text)

    def answer_tokens(self, chars: int) -> int:
        """Room past the asked length (Qwen ≈ 0.8 tokens per Chinese character): a model that
        writes well overshoots “约N字” by a sentence or two, and a reply cut at the cap loses its
        last sentence (at 1.2× the replayed good drafts lost 35 replies' ends, at 1.5× 23); the
        draft's length is held by the over-length guard, not by cutting replies."""
        return min(self.settings.llm_max_tokens, int(chars * 1.5) + 60)

    def room(self, task: str) -> int:
        """Tokens left for the answer of a writing call with this task."""
        used = self._fixed_tokens + count_tokens(task)
        return self.settings.llm_context_tokens - used - 2 * TOKENS_PER_MESSAGE - TOKENS_REPLY_PRIMING

    def fits(self, task: str, answer_tokens: int) -> bool:
        return answer_tokens <= self.room(task)

    def _call(self, messages: list[dict], *, purpose: str, max_tokens: int, stream: bool,
              temperature: float | None, prose: bool) -> str:
        key = hashlib.sha256(repr((messages, max_tokens, temperature)).encode()).hexdigest()
        if key in self.answered:
            self.usage.cached_calls += 1   # the same prompt twice in one draft is never sent twice
            return self.answered[key]
        started, first = time.monotonic(), []

        def sink(piece: str) -> None:
            if not first:
                first.append(time.monotonic() - started)
            if stream and self.on_token:
                self.on_token(piece)

        try:
            result = self.llm.chat(messages, on_token=sink, temperature=temperature, max_tokens=max_tokens,
                                   purpose=purpose, on_notice=self.progress)
        except LLMError as e:      # a failed call is counted too, with the tokens it cost if known
            self.usage.failed_calls += 1
            self.usage.prompt_tokens += e.prompt_tokens or 0
            self.usage.completion_tokens += e.completion_tokens or 0
            raise
        self.usage.calls += 1
        self.usage.prompt_tokens += result.prompt_tokens
        self.usage.completion_tokens += result.completion_tokens
        self.usage.per_call.append({"purpose": purpose, "prompt_tokens": result.prompt_tokens,
                                    "completion_tokens": result.completion_tokens,
                                    "first_token_s": round(first[0], 2) if first else None,
                                    "seconds": round(time.monotonic() - started, 2)})
        text = result.text
        if prose and result.finish_reason == "length":
            # the token cap cut the reply mid-sentence: that sentence goes
            end = max(text.rfind(c) for c in "。！？；")
            text = text[:end + 1] if end >= 0 else text
        self.answered[key] = text
        return text

    def ask(self, task: str, *, purpose: str, max_tokens: int, stream: bool = False,
            temperature: float | None = None, prose: bool = True, demo: list[dict] | None = None) -> str:
        """A writing call: the shared prefix, then this call's task. `demo` is a worked example of
        this call's own kind, sent instead of the paragraph example when it fits."""
        user = {"role": "user", "content": self.prefix + "\n\n" + task}
        if demo is not None:
            used = (count_tokens(self.system["content"]) + _message_tokens(demo) + count_tokens(user["content"])
                    + 3 * TOKENS_PER_MESSAGE + TOKENS_REPLY_PRIMING)
            if used + max_tokens > self.settings.llm_context_tokens:
                demo = []
        messages = [self.system, *(self.demo if demo is None else demo), user]
        return self._call(messages, purpose=purpose, max_tokens=max_tokens, stream=stream,
                          temperature=temperature, prose=prose)

    def chat(self, user: str, *, purpose: str, max_tokens: int, stream: bool = False,
             temperature: float | None = None, prose: bool = True) -> str:
        """A repair or revision call, whose prompt carries its own paragraph and facts."""
        return self._call([self.system, {"role": "user", "content": user}], purpose=purpose,
                          max_tokens=max_tokens, stream=stream, temperature=temperature, prose=prose)

    @property
    def exemplars_wanted(self) -> int:
        """How many example passages a writing call carries (Settings.exemplars_per_call says why
        the embedded model gets none)."""
        n = self.settings.exemplars_per_call
        if n is None:
            return 0 if self.settings.uses_embedded_llm else EXEMPLARS_PER_CALL[1]
        return max(0, n)

    def exemplars(self, query: str, role: str | None) -> list[str]:
        """2–3 masked sentences of this genre's exemplars (and role, when the index has any).
        A store that fails mid-draft leaves the draft with the exemplars it already has."""
        wanted = self.exemplars_wanted
        if self.retrieval_failed or not wanted:
            return []
        try:
            hits = self.retriever(query, self.request.genre, role, wanted)
            if len(hits) < min(EXEMPLARS_PER_CALL[0], wanted) and role is not None:
                hits += [h for h in self.retriever(query, self.request.genre, None, wanted)
                         if h.chunk_id not in {x.chunk_id for x in hits}]
        except UserFacingError as e:
            self.retrieval_failed = True
            self.notices.append(f"范文检索出错（{e}），其余部分不再参照范文起草。")
            return []
        hits = hits[:wanted]
        for h in hits:
            if h.chunk_id not in {s.chunk_id for s in self.sources}:
                self.sources.append(h)
        passages = (_first_sentences(mask_exemplar(h.text, self.voice), EXEMPLAR_CHARS) for h in hits)
        return [p for p in passages if p]


def _first_sentences(text: str, limit: int) -> str:
    """Whole sentences of the passage (without heading lines) up to about `limit` characters."""
    body = "".join(l for l in text.splitlines() if not parse_heading(l) or "。" in l)
    out = ""
    for sentence in sentences_of(body) or [body]:
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence
    return out[: limit * 2]


def _message_tokens(messages: list[dict[str, str]]) -> int:
    return sum(count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in messages)


