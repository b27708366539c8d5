"""Property tests: defects injected into the good labelled drafts are always found, and no
input of any kind makes the evaluator crash or report offsets outside the draft."""
from __future__ import annotations

import re
from functools import lru_cache

import opencc
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from evals.check import evaluate
from evals.context import CheckContext
from evals.copy_index import CopyIndex, committed_corpus_docs
from evals.labelled import load_labelled
from rag.schema import GENRES, DraftRequest

GOODS = [d for d in load_labelled() if d.kind == "good"]
HAN = re.compile(r"[\u4e00-\u9fff]")
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def corpus_index() -> CopyIndex:
    return CopyIndex.build(committed_corpus_docs())


@lru_cache(maxsize=1)
def s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def test_goods_are_clean_to_start_with():
    for d in GOODS:
        assert evaluate(d.text, d.request).violations == [], d.name


@SLOW
@given(good=st.sampled_from(GOODS), data=st.data(),
       value=st.one_of(st.integers(min_value=0, max_value=10**7).map(str),
                       st.decimals(min_value=0, max_value=10**5, places=1).map(str)),
       unit=st.sampled_from(["", "个", "人次", "%", "万元", "家", "名", "项", "例", "场", "万人次", "‰"]))
def test_inserting_an_invented_number_triggers_fact03(good, data, value, unit):
    facts = CheckContext(good.text, good.request).fact_values
    assume(str(float(value)).rstrip("0").rstrip(".") not in facts and value not in facts)
    # a bare 19xx/20xx is read as a year, which YEAR-01 judges, not FACT-03
    assume(unit or not re.fullmatch(r"(?:19|20)\d\d", value))
    ends = [m.start() for m in re.finditer("。", good.text)]
    at = data.draw(st.sampled_from(ends))
    draft = good.text[:at] + f"，另新增{value}{unit}" + good.text[at:]
    assert "FACT-03" in evaluate(draft, good.request).rule_ids()


METRICS = ["重点人群签约率", "老年人健康管理率", "儿童系统管理率", "孕产妇系统管理率", "新生儿听力筛查率",
           "患者满意度得分", "电子档案开放率", "结核病治疗成功率"]


@SLOW
@given(pair=st.lists(st.sampled_from(METRICS), min_size=2, max_size=2, unique=True),
       values=st.lists(st.decimals(min_value=10, max_value=99, places=1).map(str), min_size=2, max_size=2,
                       unique=True))
def test_swapping_two_fact_values_triggers_fact04(pair, values):
    (m1, m2), (v1, v2) = pair, values
    facts = [f"全县{m1}{v1}%", f"全县{m2}{v2}%"]
    req = DraftRequest(genre="工作总结", section="主要工作及成效", unit="青山县卫生健康局", year=2024,
                       facts=facts, length_chars=(30, 200))
    right = f"（一）指标稳步提升。全县{m1}{v1}%，{m2}{v2}%。\n（二）服务持续改善。群众满意。\n"
    swapped = f"（一）指标稳步提升。全县{m1}{v2}%，{m2}{v1}%。\n（二）服务持续改善。群众满意。\n"
    assert "FACT-04" not in evaluate(right, req).rule_ids()
    assert "FACT-04" in evaluate(swapped, req).rule_ids()


@SLOW
@given(good=st.sampled_from(GOODS), data=st.data())
def test_ascii_comma_for_dunhao_triggers_punc01(good, data):
    spots = [m.start() for m in re.finditer("、", good.text)
             if HAN.match(good.text, m.start() + 1) or HAN.match(good.text, m.start() - 1)]
    at = data.draw(st.sampled_from(spots))
    draft = good.text[:at] + "," + good.text[at + 1:]
    assert "PUNC-01" in evaluate(draft, good.request).rule_ids()


@SLOW
@given(good=st.sampled_from(GOODS), data=st.data())
def test_traditional_slice_triggers_lang01_exactly_when_it_changes(good, data):
    i = data.draw(st.integers(min_value=0, max_value=len(good.text) - 1))
    j = data.draw(st.integers(min_value=i + 1, max_value=min(len(good.text), i + 80)))
    converted = s2t().convert(good.text[i:j])
    assume(len(converted) == j - i)
    draft = good.text[:i] + converted + good.text[j:]
    found = "LANG-01" in evaluate(draft, good.request).rule_ids()
    assert found == (converted != good.text[i:j])


def test_whole_good_drafts_in_traditional_trigger_lang01_only_as_blocker():
    for d in GOODS:
        ev = evaluate(s2t().convert(d.text), d.request)
        assert any(v.rule == "LANG-01" and v.severity == "blocker" for v in ev.violations), d.name


def assert_well_formed(draft: str, request: DraftRequest, copy_index: CopyIndex | None) -> None:
    ev = evaluate(draft, request, copy_index)
    assert 0 <= ev.score <= 100
    assert ev.passed == (not any(v.severity in ("blocker", "major") for v in ev.violations))
    for v in ev.violations:
        assert v.severity in ("blocker", "major", "minor", "warn")
        assert 0 <= v.start <= v.end <= len(draft)
        assert isinstance(v.message, str) and v.message and "\n" not in v.message
    data = ev.to_json()
    assert set(data) == {"passed", "score", "violations"}


OFFICIAL_ALPHABET = list("一二三四五六七八九十、（）().1234567890１２%％‰万亿人次名个是。，；：\n \u3000"
                         "我你！“”《》XxＸ＊*□率党员卫生健康局委县区市全本年月第篇小编—-～·衛醫")
requests = st.builds(
    DraftRequest,
    genre=st.sampled_from(GENRES),
    section=st.sampled_from(["全文", "主要工作及成效", "存在问题及下一步工作打算", "主要任务"]),
    unit=st.sampled_from(["青山县卫生健康局", "云岭市卫生健康委员会", "白鹭湾区卫健局", "某单位", "x"]),
    year=st.integers(min_value=1990, max_value=2035),
    facts=st.lists(st.text(alphabet=OFFICIAL_ALPHABET, max_size=60) | st.text(max_size=40), max_size=6),
    length_chars=st.tuples(st.integers(1, 500), st.integers(500, 3000)),
    key_figures=st.lists(st.text(alphabet=OFFICIAL_ALPHABET, max_size=20), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draft=st.text(max_size=400), request=requests)
def test_arbitrary_unicode_never_crashes(draft, request):
    assert_well_formed(draft, request, corpus_index())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draft=st.text(alphabet=OFFICIAL_ALPHABET, max_size=600), request=requests)
def test_report_like_noise_never_crashes(draft, request):
    assert_well_formed(draft, request, corpus_index())


@pytest.mark.parametrize("draft", ["", "\n\n\n", "\r\n一、\r\n（一）\r\n", "1.", "（1）①", "\ufffd" * 3, "\x00\x01",
                                   "2024年" * 200, "率" + "9" * 400])
def test_edge_drafts(draft):
    req = DraftRequest(genre="工作总结", section="全文", unit="青山县卫生健康局", year=2024, facts=[])
    assert_well_formed(draft, req, corpus_index())


# The numeral and bracket patterns without the guards that made them linear on long runs: the
# guarded ones must find the same numerals, and bracket pairs on exactly the same lines.
RUN_GUARD = "(?<![一二三四五六七八九十两])"
OLD_CN_QUANTITY = re.compile(r"(?<!第)([一二三四五六七八九十两]+)(项|个|家|所|名|人|次|台|场|期)")


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="第一二两十三个项方面制度次会议全确立，", max_size=40))
def test_numeral_quantities_and_sets_are_found_as_before(text):
    from evals.rules.facts import CN_FIXED_RE, CN_QUANTITY_RE
    assert RUN_GUARD in CN_FIXED_RE.pattern
    unguarded = re.compile(CN_FIXED_RE.pattern.replace(RUN_GUARD, ""))
    assert [m.span() for m in CN_FIXED_RE.finditer(text)] == [m.span() for m in unguarded.finditer(text)]
    assert [m.span() for m in CN_QUANTITY_RE.finditer(text)] == [m.span() for m in OLD_CN_QUANTITY.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="【】[]{}待补充\n", max_size=40))
def test_bracket_placeholders_are_found_on_the_same_lines_as_before(text):
    from evals.rules.clean import PLACEHOLDER_RE
    guards = {r"【[^【】\n]*】": r"【[^】\n]*】", r"\[[^\[\]\n]*\]": r"\[[^\]\n]*\]", r"\{[^{}\n]*\}": r"\{[^}\n]*\}"}
    old = PLACEHOLDER_RE.pattern
    for new, before in guards.items():
        assert new in old
        old = old.replace(new, before)

    def lines_with(pattern: re.Pattern[str]) -> set[int]:
        return {text.count("\n", 0, m.start()) for m in pattern.finditer(text) if m.group(0)[0] in "【[{"}
    assert lines_with(PLACEHOLDER_RE) == lines_with(re.compile(old))
