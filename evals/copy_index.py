"""COPY-01: longest verbatim run shared by a draft and the example corpus.

The index is built once (at ingest, via rebuild_copy_index) and loaded for every check:
a dict from each 20-character gram of a document's COPY-01 form (rag.textnorm.normalize_for_copy)
to where it occurs. A draft is looked up gram by gram; a hit is extended left-maximal and
right as far as draft and document agree, so the reported length is the exact run length.
Runs shorter than the gram length are below every threshold and never need finding.

Near-linear on any draft: a gram keeps at most MAX_HITS_PER_GRAM places (one that recurs more
often is boilerplate or junk, e.g. a file of “卫生、” repeated, where one gram had 30,000 places
and each draft position scanned them all), and a hit whose run could not beat the longest found
is not extended. A run that begins in such a saturated gram may be measured from a later start,
so it can come out shorter than it is, never longer. Junk files are refused at ingest
(rag.textio.cut_repeated_runs) before they reach the index.
"""
from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import PROJECT_ROOT, Settings
from rag.errors import InputFileError
from rag.textio import read_text_file
from rag.textnorm import normalize_for_copy

from rag.textnorm import MappedText, copy_form

GRAM = 20                 # = the COPY-01 minor threshold
# The seed corpus's most frequent gram has 4 places; a gram in more places than this is the same
# boilerplate in many uploads, or junk, and more of its places would tell nothing new.
MAX_HITS_PER_GRAM = 16
INDEX_FILE = "copy_index.pkl"
FORMAT_VERSION = 1
ARTICLES_JSONL = PROJECT_ROOT / "corpus" / "articles.jsonl"
RAW_DIR = PROJECT_ROOT / "corpus" / "raw"


@dataclass(frozen=True)
class CopyMatch:
    """The longest run; offsets are into the draft given to longest_match (raw text)."""
    length: int = 0           # characters of the normalized run
    source: str = ""          # the corpus document it comes from
    start: int = 0
    end: int = 0
    text: str = ""            # the normalized run

    def __bool__(self) -> bool:
        return self.length > 0


@dataclass
class CopyIndex:
    sources: list[str] = field(default_factory=list, repr=False)
    texts: list[str] = field(default_factory=list, repr=False)          # normalized documents
    grams: dict[str, list[tuple[int, int]]] = field(default_factory=dict, repr=False)
    saturated: set[str] = field(default_factory=set, repr=False)   # grams with places left out
    gram: int = GRAM

    @classmethod
    def build(cls, docs: Iterable[tuple[str, str]], gram: int = GRAM) -> "CopyIndex":
        """Index (source, text) pairs; identical normalized documents are kept once."""
        index = cls(gram=gram)
        seen: set[str] = set()
        for source, text in docs:
            norm = normalize_for_copy(text)
            if len(norm) >= gram and norm not in seen:
                seen.add(norm)
                index._add(source, norm)
        return index

    def _add(self, source: str, norm: str) -> None:
        doc = len(self.texts)
        self.sources.append(source)
        self.texts.append(norm)
        for pos in range(len(norm) - self.gram + 1):
            key = norm[pos:pos + self.gram]
            hits = self.grams.setdefault(key, [])
            if len(hits) < MAX_HITS_PER_GRAM:
                hits.append((doc, pos))
            else:
                self.saturated.add(key)

    def __len__(self) -> int:
        return len(self.texts)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"version": FORMAT_VERSION, "gram": self.gram, "sources": self.sources,
                         "texts": self.texts}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> "CopyIndex":
        """Load a saved index; the gram table is rebuilt from the stored texts (fast, smaller file)."""
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = pickle.load(fh)
        except FileNotFoundError:
            raise InputFileError(f"找不到抄袭检查索引：{p}") from None
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
            raise InputFileError(f"抄袭检查索引 {p} 已损坏（{type(e).__name__}），请重新导入语料。") from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise InputFileError(f"抄袭检查索引 {p} 的格式版本不符，请重新导入语料。")
        index = cls(gram=data["gram"])
        for source, norm in zip(data["sources"], data["texts"]):
            index._add(source, norm)
        return index

    def longest_match(self, draft: str, exclude: list[str] | None = None) -> CopyMatch:
        """Longest run (≥ gram chars) shared with one document, ignoring runs inside `exclude`.

        `exclude` holds texts the user supplied (facts); a run that lies inside one of them,
        after normalization, is the user's own wording and not a copy.
        """
        return self.longest_match_mapped(copy_form(draft), exclude)

    def longest_match_mapped(self, mapped: MappedText, exclude: list[str] | None = None) -> CopyMatch:
        """longest_match for a draft already in COPY-01 form (offsets map back to its source)."""
        d = mapped.text
        excluded = [normalize_for_copy(x) for x in exclude or []]
        best = (0, -1, 0)          # length, doc, draft start
        g = self.gram
        for i in range(len(d) - g + 1):
            hits = self.grams.get(d[i:i + g])
            if not hits:
                continue
            # every place of the previous gram was looked at, so a run through it is measured
            left_seen = i > 0 and d[i - 1:i - 1 + g] not in self.saturated
            for doc, pos in hits:
                t = self.texts[doc]
                if left_seen and pos > 0 and d[i - 1] == t[pos - 1]:
                    continue       # not left-maximal: the run was measured from an earlier start
                if min(len(d) - i, len(t) - pos) <= best[0]:
                    continue       # too near an end to beat the longest run found
                n = g
                while i + n < len(d) and pos + n < len(t) and d[i + n] == t[pos + n]:
                    n += 1
                if n > best[0] and not any(d[i:i + n] in x for x in excluded):
                    best = (n, doc, i)
        n, doc, i = best
        if n == 0:
            return CopyMatch()
        s, e = mapped.source_span(i, i + n)
        return CopyMatch(n, self.sources[doc], s, e, d[i:i + n])


def index_path(settings: Settings) -> Path:
    return settings.path(INDEX_FILE)


def rebuild_copy_index(settings: Settings, docs: Iterable[tuple[str, str]]) -> CopyIndex:
    """Build from (source, text) of all corpus articles and save under the data dir (ingest calls this)."""
    index = CopyIndex.build(docs)
    index.save(index_path(settings))
    return index


def committed_corpus_docs() -> list[tuple[str, str]]:
    """(source, text) of the committed corpus: corpus/articles.jsonl, else the raw seed files."""
    if ARTICLES_JSONL.exists():
        from rag.corpus import load_articles
        return [(a.id, a.text) for a in load_articles()]
    return [(p.name, read_text_file(p)) for p in sorted(RAW_DIR.glob("*.txt"))]


_loaded: dict[tuple[str, int, int], CopyIndex] = {}


def load_copy_index(settings: Settings) -> CopyIndex:
    """The saved index from the data dir if present, else one built from the committed corpus.

    Loaded indexes are kept per file version, so repeated checks in one process load once.
    """
    p = index_path(settings)
    if p.exists():
        st = p.stat()
        key = (str(p), st.st_mtime_ns, st.st_size)
    else:
        src = ARTICLES_JSONL if ARTICLES_JSONL.exists() else RAW_DIR
        key = (str(src), src.stat().st_mtime_ns if src.exists() else 0, 0)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = CopyIndex.load(p) if p.exists() else CopyIndex.build(committed_corpus_docs())
    return _loaded[key]
