"""COPY-01 index: build, save, load, longest match, calibration on the committed corpus."""
from __future__ import annotations

import pickle

import pytest

from evals.copy_index import (INDEX_FILE, CopyIndex, committed_corpus_docs, load_copy_index,
                              rebuild_copy_index)
from rag.errors import InputFileError
from rag.textnorm import normalize_for_copy

ARTICLE = ("我们切实把为部队排忧解难作为开展军民共建工作的立足点，把为部队办好事、办实事当作共建工作的重要内容抓好落实，"
           "做到组织健全、政策落实、活动经常、关系融洽、注重实效。")


def test_exact_run_length_and_offsets():
    index = CopyIndex.build([("a", "前言无关。" + ARTICLE + "后记无关。"), ("b", "完全不同的一篇文章内容，讲的是妇幼健康。")])
    draft = "本局认真履职。" + ARTICLE.replace("，", ",") + "另起一段。"
    m = index.longest_match(draft)
    assert m.source == "a"
    assert m.length == len(normalize_for_copy(ARTICLE))
    assert normalize_for_copy(draft[m.start:m.end]) == m.text == normalize_for_copy(ARTICLE)


def test_short_overlap_is_no_match_and_traditional_is_normalized():
    index = CopyIndex.build([("a", ARTICLE)])
    assert not index.longest_match("把为部队办好事、办实事当作共建工作")      # < 20 chars
    assert index.longest_match("我們切實把為部隊排憂解難作為開展軍民共建工作的立足點").length >= 20


def test_runs_inside_user_facts_are_ignored():
    index = CopyIndex.build([("a", ARTICLE)])
    run = "把为部队办好事、办实事当作共建工作的重要内容抓好落实"
    assert index.longest_match(run).length >= 20
    assert not index.longest_match(run, exclude=["我局" + run + "。"])


def test_save_load_roundtrip(tmp_path):
    index = CopyIndex.build([("a", ARTICLE), ("dup", ARTICLE + "　")])
    assert len(index) == 1                       # identical normalized documents kept once
    path = index.save(tmp_path / "x" / INDEX_FILE)
    loaded = CopyIndex.load(path)
    assert loaded.sources == index.sources and loaded.grams == index.grams
    assert loaded.longest_match(ARTICLE) == index.longest_match(ARTICLE)


def test_load_errors_are_chinese(tmp_path):
    with pytest.raises(InputFileError, match="找不到"):
        CopyIndex.load(tmp_path / "none.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(InputFileError, match="损坏"):
        CopyIndex.load(bad)
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps({"version": -1}))
    with pytest.raises(InputFileError, match="版本"):
        CopyIndex.load(old)


def test_rebuild_saves_to_data_dir_and_load_prefers_it(settings):
    default = load_copy_index(settings)          # nothing saved yet: built from the committed corpus
    assert len(default) == len({normalize_for_copy(t) for _, t in committed_corpus_docs()
                                if len(normalize_for_copy(t)) >= 20})
    rebuilt = rebuild_copy_index(settings, [("mine", ARTICLE)])
    assert (settings.data_dir / INDEX_FILE).exists()
    loaded = load_copy_index(settings)
    assert loaded.sources == ["mine"] == rebuilt.sources


def test_calibration_unrelated_articles_share_under_20_chars():
    """seeds-analysis.md §1: copies share ≥ 21 normalized chars; the known copied pairs are found."""
    docs = committed_corpus_docs()
    longest = {}
    for i, (a, ta) in enumerate(docs):
        for b, tb in docs[i + 1:]:
            m = CopyIndex.build([(b, tb)]).longest_match(ta)
            if m:
                longest[(a, b)] = m.length
    assert all(n >= 21 for n in longest.values())
    assert max(longest.values()) >= 82          # 000 篇1 / 篇7 结对共建 paragraph (or longer)
    assert len(longest) < len(docs) * (len(docs) - 1) // 2 // 5
