"""Sections and fact checklists of each genre, as prompts/genres.toml defines them.

The one place the page reads the genre table; when rag.prompting gains genre_sections() and
section_checklist(), these two functions become calls to them.
"""
from __future__ import annotations

from rag.prompting import _genre_data, genre_guide, requested_parts
from rag.schema import WHOLE_REPORT

_NOT_A_SECTION = ("salutation", "opening", "closing")


def genre_sections(genre: str) -> list[str]:
    """全文, then each part a user can draft alone, then the combinations the table names
    (存在问题及下一步工作打算), each as a name requested_parts() maps back to that part."""
    guide = genre_guide(genre)
    table: dict[str, list[str]] = _genre_data()["sections"]
    keys = [p.key for p in guide.parts]
    names: list[str] = [WHOLE_REPORT]
    for part in guide.parts:
        if part.layout in _NOT_A_SECTION or not part.title:
            continue
        if table.get(part.title) == [part.key]:
            names.append(part.title)
        else:  # “${next_year}年工作打算”, “存在的不足”: the table's name for the same part
            alias = next((name for name, ks in table.items() if ks == [part.key]), None)
            names.append(alias or part.title)
    seen: set[tuple[str, ...]] = set()
    for name, ks in table.items():
        if len(ks) > 1 and all(k in keys for k in ks) and tuple(ks) not in seen:
            seen.add(tuple(ks))
            names.append(name)
    return list(dict.fromkeys(names))


def section_checklist(genre: str, section: str) -> list[str]:
    """What to put in the facts to draft this section (the parts' `needed` items)."""
    items = [item for part in requested_parts(genre, section or WHOLE_REPORT) for item in part.needed]
    return list(dict.fromkeys(items))
