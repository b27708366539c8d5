"""COPY-01 index: build, save, load, longest match, calibration on the committed corpus."""
from __future__ import annotations

import pickle

import pytest

from evals.copy_index import (GRAM, INDEX_FILE, MAX_HITS_PER_GRAM, CopyIndex, committed_corpus_docs, load_copy_index,
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


def test_a_gram_in_thousands_of_places_keeps_a_few_and_runs_are_still_found():
    junk = "卫生、" * 5000
    index = CopyIndex.build([("junk", junk), ("a", ARTICLE)])
    assert max(len(hits) for hits in index.grams.values()) <= MAX_HITS_PER_GRAM
    m = index.longest_match("卫生、" * 300 + "。" + ARTICLE[:30])
    assert (m.source, m.length) == ("junk", 600)
    m = index.longest_match("另起。" + ARTICLE + "卫生、" * 5)
    assert (m.source, m.length) == ("a", len(normalize_for_copy(ARTICLE)))


def test_a_run_through_boilerplate_shared_by_many_reports_is_found_maybe_shorter_never_longer():
    boilerplate = "在县委县政府的坚强领导下我局认真贯彻落实上级决策部署扎实推进各项工作"
    tails = [f"全年新建村卫生室{n}个并为其中{n + 3}个配备了远程心电诊断设备" for n in range(MAX_HITS_PER_GRAM + 4)]
    index = CopyIndex.build([(f"r{n}", boilerplate + tail) for n, tail in enumerate(tails)])
    draft = "我局" + boilerplate + tails[-1] + "。"
    m = index.longest_match(draft)
    assert GRAM <= m.length <= len(normalize_for_copy(boilerplate + tails[-1]))
    assert m.text in index.texts[index.sources.index(m.source)] and m.text in normalize_for_copy(draft)
