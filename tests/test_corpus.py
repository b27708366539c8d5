"""The cleaned seed corpus, checked against /work/shared/research/seeds-analysis.md.

Runs the real pipeline over the real corpus/raw files; expected labels come from the analysis
table (§1), noise regexes from §4.
"""
from __future__ import annotations

import json
import re

import pytest

from rag.chunk import CHUNK_MAX, split_text
from rag.clean import MASK, Auditor, clean_body, clean_text, split_document
from rag.config import PROJECT_ROOT
from rag.corpus import (build_corpus, check_corpus, load_articles, load_chunks, process_document,
                        select_articles)
from rag.schema import GENRES, ROLES
from rag.textio import decode_bytes
from rag.textnorm import HAN, to_simplified

RAW = PROJECT_ROOT / "corpus" / "raw"
COMMITTED = PROJECT_ROOT / "corpus"
S = "000_89d13becceec202a"

# seeds-analysis.md §1 — genre by content and unit level of every article that is kept.
EXPECTED = {
    f"{S}#1": ("工作总结", "市"),          # 篇1 (篇2 is its duplicate)
    f"{S}#3.2": ("工作计划", "市"),        # 篇3 part B (part A is 篇4)
    f"{S}#4": ("工作计划", "市"),
    f"{S}#5": ("工作汇报", "市"),
    f"{S}#6": ("工作总结", "县"),
    f"{S}#7": ("述职报告", "县"),
    f"{S}#9-总结": ("工作总结", "区"),     # 总结+谋划
    f"{S}#9-谋划": ("工作计划", "区"),
    f"{S}#10": ("工作总结", "市"),
    f"{S}#11": ("工作总结", "县"),
    f"{S}#12": ("工作计划", "县"),         # titled 年终工作总结, content is a plan
    f"{S}#13": ("工作汇报", "县"),         # titled 年终工作总结, content is a half-year 汇报
    "001_09ef0af2f794b9a9#1-总结": ("工作总结", "区"),
    "001_09ef0af2f794b9a9#1-谋划": ("工作计划", "区"),
    "002_19759b5c08a3105d#1": ("工作计划", "市"),
    "002_19759b5c08a3105d#3": ("工作计划", "市"),
    "002_19759b5c08a3105d#4": ("工作计划", "县"),
    "002_19759b5c08a3105d#5": ("工作计划", "市"),
    "003_631ca9e5d1f166ae#1": ("经验交流材料", "县"),
    "004_5928ad22fc79e100#1": ("工作总结", "区"),
}
DROPPED = {
    f"{S}#2": "DEDUP", f"{S}#3.1": "DEDUP", f"{S}#8": "SPUN", "002_19759b5c08a3105d#2": "OFFDOMAIN",
}

# seeds-analysis.md §4: regexes that must not match the cleaned text.
NOISE = {
    "N01": r"由网友“[^”]*”投稿提供",
    "N02": r"(?:下面是|今天)小编",
    "N03": r"浏览量",
    "N04": r"^更新时间[:：]?\s*$",
    "N05": r"^\s*\S+(?:\s*>\s*\S+){2,}\s*$",
    "N06": r"^\s*前言[:：]\s*本站",
    "N07": r"[（(]+(?:精选|通用)\d+篇[)）]+",
    "N08": r"^篇(\d+)[:：](.+)$|^\s*(\S.*?)\s+篇(\d+)\s*$",
    "N10": r"^\s*\[[^\]]*范文\]\s*$",
    "N11": r"^\s*★",
    "N12": r"相关文章[:：]\s*$",
    "N13": r"^\S{2,40}\d{4}-\d{2}-\d{2}\s*$",
    "N14": r"推荐访问|最新推荐|推荐度|点击下载|精选图文",
    "N15": r"^\s*•|(?:\.\.\.)\s*$",
    "N16": f"(?<=[{HAN}“”])[.`'](?=[{HAN}“”])",
    "N17": r"(?<=[^\s\d])(\d+)[、。](\d+)",
    "N19a": r"20[Xx*]{2}",
    "N19b": r"(?<!20)[Xx]{2,}",
    "N19c": r"(?<![A-Za-z])[Xx](?=[市县区镇乡村局届中年月日帮])",
    "N19d": r"\*",
    "N19e": r"_{2,}|＿{2,}",
    "N19f": r"□",
    "N19g": r"对地名",
    # N19h in its unmasked sense: a measure word with no number (or 〔缺〕) before it.
    "N19h": r"(?<![\d一二三四五六七八九十百千万两几多余数每各整〕])[个名](?=党)|(?:军人|人员|机关|医院)\s*名[，,、.。]",
    "N20": "\ufffd",
    "N21": r"步队|当真|优抚东西|构造带领|大家卫生|传抱病|查抄|批示部|斥候|经过议定|交易骨干|紧张议事日程|唆使精神",
    "N22": r"支部(?=全市|大型|市级|医务|党员|“|对我市|奖)",
    "N23": f"(?<=[{HAN}“”])[,;:!?()]|[,;:!?()](?=[{HAN}“”])",
    "N24": r"％|㎡|\d+m2|万m2",
    "N26c": r"^([一二三四五六七八九十]+、[^。\n]{4,40}。)(.+)$",
    "N27": r"^[ \t\u3000]+|[ \t\u3000]+$|^$",
    "N28": f"(?<=[{HAN},，。])[ \u3000]+(?=[{HAN}\\d])|(?<=\\d) +(?=[{HAN}])",
    "N29": r"[,，][。.]|。\s*。",
}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    return build_corpus(RAW, out), out


@pytest.fixture(scope="module")
def articles(build):
    return build[0].articles


@pytest.fixture(scope="module")
def chunks(build):
    return build[0].chunks


@pytest.mark.parametrize("rule", sorted(NOISE))
def test_noise_pattern_absent(rule, articles, chunks):
    rx = re.compile(NOISE[rule], re.M)
    hits = [(a.id, m.group(0)) for a in articles for m in rx.finditer(a.text)]
    hits += [(c.id, m.group(0)) for c in chunks for m in rx.finditer(c.text)]
    hits += [(a.id, m.group(0)) for a in articles for m in rx.finditer(a.title)]
    assert hits == []


def test_no_reversed_quotes(articles):
    """N25: outside a quotation a ” never comes before its “."""
    for a in articles:
        for line in a.text.split("\n"):
            depth = 0
            for ch in line:
                depth += {"“": 1, "”": -1}.get(ch, 0)
                assert depth >= 0, (a.id, line[:40])


def test_broken_lines_repaired(articles):
    text = "\n".join(a.text for a in articles)
    # N26a: the three mid-word breaks of 000-篇5 are joined.
    for joined in ("核心的双拥宣传", "烈士陵园，参观国防教育基地", "组织各医疗卫生单位认真落实"):
        assert joined in text
    # N26b: no paragraph ends in a semicolon unless a heading follows.
    for a in articles:
        lines = a.text.split("\n")
        for line, nxt in zip(lines, lines[1:]):
            if line.endswith("；"):
                assert re.match(r"^（[一二三四五六七八九十]+）|^[一二三四五六七八九十]+、|^\d+\.", nxt), (a.id, line[-20:])


def test_lost_percent_flagged_and_masked(articles, chunks):
    """N18: rates that lost their "%" mark the article; its chunks carry no bare figures."""
    lost = re.compile(r"率(?:达到|达|为)?\d+(?:\.\d+)?(?![\d.%％‰/、])")
    flagged = {a.id for a in articles if lost.search(a.text)}
    assert flagged == {"002_19759b5c08a3105d#1"}
    assert all("numbers_unreliable" in a.flags for a in articles if a.id in flagged)
    for c in chunks:
        if c.article_id in flagged:
            assert "numbers_unreliable" in c.flags and not lost.search(c.text)


def test_placeholders_masked_and_flagged(articles):
    for a in articles:
        assert ("has_placeholder" in a.flags) == (MASK in a.text), a.id
    by_id = {a.id: a for a in articles}
    assert "下辖〔缺〕个党支部，〔缺〕名党员" in by_id["003_631ca9e5d1f166ae#1"].text
    assert "党的〔缺〕届〔缺〕中全会" in by_id[f"{S}#4"].text
    assert "政办发" not in by_id[f"{S}#13"].text  # N20: the mojibake document number is dropped


def test_traditional_converted(articles, chunks):
    for text in [a.text for a in articles] + [a.title for a in articles] + [c.text for c in chunks]:
        assert all(to_simplified(ch) == ch for ch in text)
    assert any(a.title == "卫生局完善服务宣传经验交流" for a in articles)


def test_decimals_repaired(articles):
    text = "\n".join(a.text for a in articles)
    for fixed in ("1.38亿元", "562.11万人", "13.40‰", "93.5%"):
        assert fixed in text
    assert "1、38" not in text and "562、11" not in text
    assert "13、50以上" in text  # an item number, not a decimal (002:43)


def test_zhibu_restored(articles):
    a = next(a for a in articles if a.id == f"{S}#10")
    assert "组织全市卫生局分管副局长" in a.text and "支部党员到邛崃" not in a.text


def test_headings_normalized(articles):
    for a in articles:
        for line in a.text.split("\n"):
            assert not re.match(r"^\(|^（\d+\)|^[一二三四五六七八九十]+[.．]|^0\d\.|^第[一二三]、是", line), line[:20]
            # "1、" only survives where a number follows it ("13、50以上": a decimal point would lie).
            assert not re.match(r"^\d{1,2}、(?!\d)", line), line[:20]
    five = next(a for a in articles if a.id == f"{S}#5").text
    assert re.findall(r"(?m)^([一二三四五六七八九十]+)、", five) == ["一", "二", "三", "四"]


def test_labels_match_analysis(articles):
    got = {a.id: (a.genre, a.level) for a in articles}
    assert got == EXPECTED
    assert all(a.genre in GENRES for a in articles)
    parts = {a.id: a.part for a in articles if a.part}
    assert parts == {f"{S}#9-总结": "总结", f"{S}#9-谋划": "谋划",
                     "001_09ef0af2f794b9a9#1-总结": "总结", "001_09ef0af2f794b9a9#1-谋划": "谋划"}
    topics = {a.id: a.topic for a in articles}
    assert {topics[f"{S}#{n}"] for n in (1, 4, 5, 6, 7)} == {"双拥"}
    assert topics[f"{S}#13"] == "纠风行风"
    assert topics["003_631ca9e5d1f166ae#1"] == "学习实践科学发展观"


@pytest.mark.parametrize("art_id,low,high", [
    (f"{S}#9-总结", 2012, 2014), (f"{S}#10", 2004, 2006), (f"{S}#11", 2013, 2015),
    (f"{S}#13", 2004, 2006), ("001_09ef0af2f794b9a9#1-总结", 2022, 2022),
    ("001_09ef0af2f794b9a9#1-谋划", 2023, 2023), ("002_19759b5c08a3105d#3", 2014, 2016),
    ("002_19759b5c08a3105d#5", 2008, 2010), ("003_631ca9e5d1f166ae#1", 2009, 2009),
    ("004_5928ad22fc79e100#1", 2005, 2007),
])
def test_year_estimates(articles, art_id, low, high):
    a = next(a for a in articles if a.id == art_id)
    assert a.year is not None and low <= a.year <= high, (a.year, a.year_evidence)
    assert a.year_evidence


def test_drops_recorded_in_audit(build):
    corpus, out = build
    kept = {a.id for a in corpus.articles}
    assert not kept & set(DROPPED)
    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    dropped = {e["before"].split("《")[0]: e for e in audit if e["action"] == "drop_article"}
    assert {k: e["rule"] for k, e in dropped.items()} == DROPPED
    assert all(e["reason"] for e in dropped.values())
    rules = {e["rule"] for e in audit}
    for rule in ("N01", "N02", "N03", "N05", "N06", "N07", "N08", "N09", "N10", "N11", "N12", "N14",
                 "N16", "N17", "N18", "N19a", "N19d", "N19h", "N20", "N22", "N23", "N24", "N25",
                 "N26a", "N26b", "N26c", "N28", "N29", "T2S", "HEADING"):
        assert rule in rules, rule
    assert not {c.article_id for c in corpus.chunks} - kept


def test_duplicate_upload_caught(articles):
    """A user's copy of a corpus article (with small edits) is dropped against the corpus."""
    doc = process_document("我的上传.txt", "卫生局双拥工作汇报\n" + next(a for a in articles if a.id == f"{S}#5").text
                           .replace("近年来", "三年来"))
    kept, audit = select_articles(doc.articles, existing=articles)
    assert kept == [] and audit[0].rule == "DEDUP"


def test_chunks(chunks, articles):
    assert len({c.id for c in chunks}) == len(chunks)
    ids = {a.id: a for a in articles}
    for c in chunks:
        assert c.role in ROLES and c.genre in GENRES
        assert re.fullmatch(re.escape(c.article_id) + r"/\d+", c.id)
        assert c.genre == ids[c.article_id].genre and c.title == ids[c.article_id].title
        assert c.content_hash and c.text.strip() == c.text and c.text
        assert c.title in c.embed_text
    sizes = [len(c.text) for c in chunks]
    assert sum(60 <= n <= CHUNK_MAX + 150 for n in sizes) / len(sizes) >= 0.95
    ended = sum(bool(re.search(r"[。！？；：”）]$", c.text)) or len(c.text) <= 40 for c in chunks)
    assert ended / len(chunks) >= 0.95  # cut on sentence boundaries
    roles = {c.role for c in chunks}
    assert {"开头", "主要工作及成效", "做法", "存在问题", "下一步打算", "目标任务", "结尾"} <= roles
    by_section = {(c.article_id, c.section): c.role for c in chunks}
    assert by_section[("001_09ef0af2f794b9a9#1-总结", "二、存在的问题")] == "存在问题"
    assert by_section[(f"{S}#13", "五、下半年工作打算")] == "下一步打算"
    assert by_section[("003_631ca9e5d1f166ae#1", "二、主要做法")] == "做法"
    assert any(c.section.startswith("一、城乡卫生一体化加快步伐/（一）") for c in chunks)


def test_split_text_never_cuts_sentences():
    text = "。".join(f"第{i}句话写的是一项具体工作的做法和成效" for i in range(40)) + "。"
    parts = split_text(text)
    assert "".join(parts) == text and all(p.endswith("。") for p in parts)
    assert all(len(p) <= CHUNK_MAX + 150 for p in parts) and len(parts) > 1


def test_check_corpus_identical():
    assert check_corpus(RAW, COMMITTED) == []


def test_build_is_deterministic_jsonl(build, tmp_path):
    _, out = build
    build_corpus(RAW, tmp_path)
    for name in ("articles.jsonl", "chunks.jsonl", "audit.jsonl"):
        data = (out / name).read_bytes()
        assert data == (tmp_path / name).read_bytes()
        assert data.endswith(b"\n")
        first = data.decode("utf-8").splitlines()[0]
        obj = json.loads(first)
        assert first == json.dumps(obj, ensure_ascii=False, sort_keys=True)


def test_check_corpus_reports_difference(tmp_path):
    build_corpus(RAW, tmp_path)
    path = tmp_path / "chunks.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")
    assert check_corpus(RAW, tmp_path)


def test_loaders_read_committed_files():
    assert {a.id for a in load_articles()} == set(EXPECTED)
    assert len(load_chunks()) > len(EXPECTED)


USER_REPORT = """XX区卫生健康局2024年上半年工作总结

今年以来,我局在区委、区政府的正确领导下,紧紧围绕全区卫生健康工作目标,扎实推进各项工作,取得了阶段性成效。现将上半年工作总结如下:

(一)公共卫生服务能力持续提升
1、全区65岁以上老年人健康管理率达到72.5%,较去年同期提高3.1个百分点。
2、完成适龄儿童疫苗接种12860剂次,接种率保持在95%以上。

(二)医疗服务质量稳步提高
区人民医院新开设胸痛中心,完成急诊PCI手术46例。全区基层医疗机构门诊量达到38.6万人次。

(三)存在的问题
一是基层人才短缺;二是信息化建设滞后。

下一步,我局将继续加强基层卫生人才队伍建设,推进全民健康信息平台建设,为全区群众提供更加优质的卫生健康服务。
"""


def test_process_document_user_report_gbk():
    text = decode_bytes(USER_REPORT.encode("gbk"), "总结.txt")
    doc = process_document("总结.txt", text)
    assert len(doc.articles) == 1
    art = doc.articles[0]
    assert art.title == "XX区卫生健康局2024年上半年工作总结"
    assert art.genre == "工作总结" and art.level == "区" and art.year == 2024
    assert "（一）公共卫生服务能力持续提升" in art.text and "\n1.全区65岁以上" in art.text
    assert "72.5%" in art.text and "12860剂次" in art.text  # the user's figures are untouched
    assert "," not in art.text and "(" not in art.text and MASK not in art.text
    assert not [e for e in doc.audit if e.action == "drop_article"]
    roles = {c.role for c in doc.chunks}
    assert {"开头", "主要工作及成效", "存在问题", "下一步打算"} <= roles
    assert all(c.article_id == art.id and c.source == "总结.txt" for c in doc.chunks)


def test_process_document_single_paragraph():
    doc = process_document("短文.txt", "我局今年完成了全县卫生院改造工作，群众就医条件明显改善。")
    assert len(doc.articles) == 1 and len(doc.chunks) == 1
    assert doc.articles[0].title.endswith("（原文无标题）")


def test_cleaning_is_idempotent(articles):
    for path in sorted(RAW.glob("*.txt")):
        audit = Auditor(path.name)
        for raw in split_document(path.read_text(encoding="utf-8"), audit):
            once = clean_body(raw.lines, audit).text
            assert clean_text(once) == once, (path.name, raw.number)
    for a in articles:
        if not a.part:
            again = process_document("again.txt", a.title + "\n" + a.text).articles
            assert [x.text for x in again] == [a.text], a.id
