"""The cleaned corpus: raw pages → articles → chunks, written as reproducible JSONL.

`process_document` handles one file (a scraped seed page or a user's own report);
`build_corpus` runs it over corpus/raw and drops duplicates across files. Every removal is in
the audit, so `corpus/audit.jsonl` says what was dropped and why.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from rag.chunk import chunk_article, content_hash
from rag.clean import (MASK, Auditor, Line, RawArticle, clean_body, clean_title, split_document,
                       with_placeholder_flag)
from rag.config import PROJECT_ROOT
from rag.errors import InputFileError
from rag.label import EXPLICIT_YEAR_EVIDENCE, PLAN_HEADING, is_off_domain, is_spun, label_text, spun_marker_count, year_of
from rag.schema import Article, AuditEntry, Chunk
from rag.textio import read_text_file
from rag.textnorm import normalize_for_copy, parse_chinese_numeral

CORPUS_DIR = PROJECT_ROOT / "corpus"
RAW_SUFFIXES = (".txt", ".md")
SHINGLE = 13            # chars; copied passages share ≥ 21 normalized chars, stock phrases ≤ 18
DUPLICATE_SHARE = 0.8   # share of the shorter article's shingles found in the other one
MERGED_FLAG = "split_from_merged"


@dataclass
class ProcessedDocument:
    source: str
    articles: list[Article]
    chunks: list[Chunk]
    audit: list[AuditEntry]


@dataclass
class CorpusBuild:
    articles: list[Article] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)


# ---------------------------------------------------------------- article-level steps

def _split_merged(lines: list[Line]) -> list[list[Line]]:
    """Two documents glued together: the top-level numbering restarts at 一、 (000-篇3)."""
    pieces: list[list[Line]] = [[]]
    top = 0
    for line in lines:
        m = re.match(r"^([一二三四五六七八九十]+)、", line.text)
        n = parse_chinese_numeral(m.group(1)) if m else None
        if n == 1 and top >= 2:
            pieces.append([])
        if n:
            top = n
        pieces[-1].append(line)
    return [p for p in pieces if p]


def _shingles(text: str) -> set[str]:
    s = normalize_for_copy(text.replace(MASK, ""))
    return {s[i:i + SHINGLE] for i in range(max(len(s) - SHINGLE + 1, 0))}


def _keep_priority(article: Article) -> tuple:
    # Keep the whole article over a piece of a merged one, the cleaner copy, the longer, the first.
    return (MERGED_FLAG in article.flags, article.text.count(MASK), -len(article.text), article.id)


def select_articles(articles: Sequence[Article], existing: Sequence[Article] = ()) -> tuple[list[Article], list[AuditEntry]]:
    """Drop near-duplicates (DEDUP). `existing` articles are always kept and only compared
    against, so a user's re-upload of a corpus text is caught."""
    kept: list[tuple[Article, set[str]]] = [(a, _shingles(a.text)) for a in existing]
    base = len(kept)
    audit: list[AuditEntry] = []
    for art in sorted(articles, key=_keep_priority):
        sh = _shingles(art.text)
        dup = None
        for other, osh in kept:
            small = min(len(sh), len(osh))
            if small and len(sh & osh) / small >= DUPLICATE_SHARE:
                dup = (other, len(sh & osh) / small)
                break
        if dup:
            audit.append(AuditEntry(art.source, "drop_article", "DEDUP", None, f"{art.id}《{art.title}》",
                                    "", f"与 {dup[0].id}《{dup[0].title}》重复（{dup[1]:.0%} 的 {SHINGLE} 字片段相同），保留后者"))
        else:
            kept.append((art, sh))
    chosen = {a.id for a, _ in kept[base:]}
    return [a for a in articles if a.id in chosen], audit


def _split_summary_plan(art: Article) -> list[Article]:
    """A 总结 with a next-year plan section (一、…主要工作… / 二、…工作思路) → two articles."""
    lines = art.text.split("\n")
    at = next((i for i, line in enumerate(lines) if i and PLAN_HEADING.match(line)), None)
    if art.genre != "工作总结" or at is None:
        return [art]
    summary_text, plan_text = "\n".join(lines[:at]), "\n".join(lines[at:])
    parts = []
    for part, genre, text in (("总结", "工作总结", summary_text), ("谋划", "工作计划", plan_text)):
        year, evidence = year_of(text, art.title)
        if part == "谋划" and not evidence.startswith(EXPLICIT_YEAR_EVIDENCE) and art.year is not None:
            year, evidence = art.year + 1, f"总结部分约 {art.year} 年，计划为次年"
        if part == "总结" and year is None:
            year, evidence = art.year, art.year_evidence
        flags = with_placeholder_flag(art.flags, text)
        parts.append(Article(id=f"{art.id}-{part}", source=art.source, title=art.title, text=text, genre=genre,
                             topic=art.topic, level=art.level, year=year, year_evidence=evidence, part=part,
                             flags=flags, content_hash=content_hash(text)))
    return parts


def _article(source: str, art_id: str, title: str, lines: list[Line], flags: list[str]) -> Article:
    text = "\n".join(line.text for line in lines)
    labels = label_text(text, title)
    if not title:
        unit = f"{labels.level}卫生局" if labels.level in ("市", "县", "区") else ""
        title = f"{unit}{labels.genre}（原文无标题）"
    return Article(id=art_id, source=source, title=title, text=text, genre=labels.genre, topic=labels.topic,
                   level=labels.level, year=labels.year, year_evidence=labels.year_evidence,
                   flags=with_placeholder_flag(flags, text), content_hash=content_hash(text))


def process_document(source: str, text: str) -> ProcessedDocument:
    """One file's decoded text → cleaned, labelled, chunked articles and the audit of changes."""
    audit = Auditor(source)
    stem = Path(source).stem
    candidates: list[tuple[Article, int | None]] = []
    raws: list[RawArticle] = split_document(text, audit)
    for raw in raws:
        body = clean_body(raw.lines, audit)
        if not body.lines:
            continue
        title = clean_title(raw.title)
        pieces = _split_merged(body.lines)
        if len(pieces) > 1:
            audit.add("flag", "MERGED", pieces[1][0].no, pieces[1][0].text[:30], "",
                      f"一级标题序号从“一、”重新开始：两篇文章粘连，拆成 {len(pieces)} 篇")
        for k, piece in enumerate(pieces, 1):
            art_id = f"{stem}#{raw.number}" + (f".{k}" if len(pieces) > 1 else "")
            flags = body.flags + ([MERGED_FLAG] if len(pieces) > 1 else [])
            candidates.append((_article(source, art_id, title, piece, flags), piece[0].no))

    kept: list[Article] = []
    for art, first_line in candidates:
        if is_spun(art.text):
            audit.add("drop_article", "SPUN", first_line, f"{art.id}《{art.title}》", "",
                      f"同义词替换的“伪原创”文本（{spun_marker_count(art.text)} 处替换词，如“步队”“当真”）")
        elif is_off_domain(art.text):
            audit.add("drop_article", "OFFDOMAIN", first_line, f"{art.id}《{art.title}》", "",
                      "不是卫生健康部门的单位材料（无“我局/全市/全县”等单位口吻或卫生内容）")
        else:
            kept.append(art)
    kept, dedup = select_articles(kept)
    audit.entries += dedup

    articles = [part for art in kept for part in _split_summary_plan(art)]
    chunks = [c for art in articles for c in chunk_article(art)]
    return ProcessedDocument(source, articles, chunks, audit.entries)


# ---------------------------------------------------------------- the committed corpus

def _jsonl(records: Iterable) -> str:
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def _build(raw_dir: Path) -> CorpusBuild:
    files = sorted(p for p in Path(raw_dir).iterdir() if p.suffix.lower() in RAW_SUFFIXES)
    if not files:
        raise InputFileError(f"{raw_dir} 里没有 .txt/.md 原始语料文件。")
    build = CorpusBuild()
    for path in files:
        doc = process_document(path.name, read_text_file(path))
        build.articles += doc.articles
        build.chunks += doc.chunks
        build.audit += doc.audit
    build.articles, dedup = select_articles(build.articles)
    if dedup:
        kept = {a.id for a in build.articles}
        build.chunks = [c for c in build.chunks if c.article_id in kept]
        build.audit += dedup
    return build


def _outputs(build: CorpusBuild) -> dict[str, str]:
    return {"articles.jsonl": _jsonl(build.articles), "chunks.jsonl": _jsonl(build.chunks),
            "audit.jsonl": _jsonl(build.audit)}


def build_corpus(raw_dir: Path, out_dir: Path) -> CorpusBuild:
    build = _build(raw_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in _outputs(build).items():
        (out_dir / name).write_text(content, encoding="utf-8", newline="\n")
    return build


def check_corpus(raw_dir: Path, out_dir: Path) -> list[str]:
    """Regenerate in memory and compare byte for byte with the files in out_dir."""
    diffs: list[str] = []
    for name, content in _outputs(_build(raw_dir)).items():
        path = Path(out_dir) / name
        if not path.exists():
            diffs.append(f"{name}：文件不存在")
            continue
        old = path.read_bytes().decode("utf-8").splitlines()
        new = content.splitlines()
        for i, (a, b) in enumerate(zip(old, new), 1):
            if a != b:
                diffs.append(f"{name} 第 {i} 行不同")
        if len(old) != len(new):
            diffs.append(f"{name}：提交的有 {len(old)} 行，重新生成的有 {len(new)} 行")
        elif path.read_bytes() != content.encode("utf-8") and not diffs:
            diffs.append(f"{name}：换行或结尾与重新生成的不同")
    return diffs


def _load(path: Path, cls):
    if not path.exists():
        raise InputFileError(f"找不到语料文件 {path}，请先运行 python -m rag build-corpus。")
    return [cls.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_articles(path: Path | None = None) -> list[Article]:
    return _load(Path(path) if path else CORPUS_DIR / "articles.jsonl", Article)


def load_chunks(path: Path | None = None) -> list[Chunk]:
    return _load(Path(path) if path else CORPUS_DIR / "chunks.jsonl", Chunk)
