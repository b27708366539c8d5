"""Everything a rule may read about one (draft, request) pair, computed lazily and once."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from rag.schema import DraftRequest
from rag.textnorm import normalize_for_compare
from rag.units import UnitKind, unit_kind

from evals.document import Draft
from evals.facts import FactClasses, FactConflict, classify_facts, find_conflicts
from rag.text import LATIN_TOKEN_RE, KeyedToken, NumberToken, extract_numbers, is_year_token, keyed_tokens

if TYPE_CHECKING:
    from evals.copy_index import CopyIndex


@dataclass(frozen=True)
class Span:
    """Where a stretch of the draft came from (rag.guards.Sentence, as the checker sees it)."""
    text: str
    origin: str              # fact | phrase | model | elaboration | plan | user
    confirmed: bool = False


class CheckContext:
    def __init__(self, draft: str, request: DraftRequest, copy_index: "CopyIndex | None" = None,
                 provenance: "list[Span] | None" = None):
        self.draft = Draft(draft)
        self.request = request
        self.copy_index = copy_index
        self.provenance = list(provenance or [])

    # --- request, normalized with S() (INPUT-04) ---
    @cached_property
    def genre(self) -> str:
        return normalize_for_compare(self.request.genre)

    @cached_property
    def section(self) -> str:
        return normalize_for_compare(self.request.section).strip()

    @cached_property
    def unit(self) -> str:
        return normalize_for_compare(self.request.unit).strip()

    @cached_property
    def unit_kind(self) -> UnitKind:
        """Kind, level and self reference of the requesting unit (prompts/units.toml)."""
        return unit_kind(self.unit)

    @cached_property
    def classes(self) -> FactClasses:
        return classify_facts(self.request)

    @cached_property
    def mandatory_facts(self) -> list[str]:
        return [normalize_for_compare(f) for f in self.classes.mandatory]

    @cached_property
    def key_figures(self) -> list[str]:
        return [normalize_for_compare(f) for f in self.request.key_figures]

    @cached_property
    def all_facts(self) -> list[str]:
        """S() of every fact of any class plus key_figures (FACT-03 'occurs in some fact')."""
        return [normalize_for_compare(f) for f in self.request.facts] + self.key_figures

    @cached_property
    def all_fact_text(self) -> str:
        return "\n".join(self.all_facts)

    @cached_property
    def fact_latin_tokens(self) -> frozenset[str]:
        """Latin tokens the user's own facts use (1+1+N, CMI, DRG): a draft may keep them. An
        injected instruction is not a fact, so its English words are not among them."""
        usable = self.classes.mandatory + self.classes.overlong + list(self.request.key_figures)
        return frozenset(m.group(0) for f in usable for m in LATIN_TOKEN_RE.finditer(normalize_for_compare(f)))

    @cached_property
    def fact_values(self) -> set[str]:
        return {t.canonical for f in self.all_facts for t in extract_numbers(f)}

    @cached_property
    def fact_years(self) -> set[int]:
        return {int(t.value) for f in self.all_facts for t in extract_numbers(f) if is_year_token(t, f)}

    @cached_property
    def required_tokens(self) -> list[tuple[str, NumberToken]]:
        """FACT-01: (fact text, token) for mandatory facts and key_figures."""
        return [(f, t) for f in self.mandatory_facts + self.key_figures for t in extract_numbers(f)]

    @cached_property
    def keyed(self) -> list[KeyedToken]:
        """Mandatory-fact tokens with FACT-04 keys."""
        return keyed_tokens(self.mandatory_facts)

    @cached_property
    def conflicts(self) -> list[FactConflict]:
        return find_conflicts(self.mandatory_facts, unit=self.request.unit, year=self.request.year)

    @cached_property
    def conflict_pairs(self) -> set[tuple[str, str]]:
        return {p for c in self.conflicts for p in c.pairs}

    def excerpt(self, start: int, end: int, context: int = 8) -> str:
        return self.draft.excerpt(start, end, context)
