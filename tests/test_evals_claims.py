"""CLAIM-01, HOLLOW-01, REPEAT-01, STR-04's lone 一是 and YEAR-02 in every plan part, on drafts
written for these tests (控烟, 口腔健康, 康复医疗; units that are in no evalset): several passing and
failing examples per rule, and the per-sentence functions the drafting guards call."""
from __future__ import annotations

import random
import re
import tomllib
from dataclasses import replace

import pytest

from evals.check import evaluate
from evals.context import CheckContext
from evals.rules.claims import (CLAIM_WORDS_FILE, REPEAT_MIN_CHARS, REPEAT_OVERLAP, _pairs, _triggers,
                                claim_words, done_cues, find_claims, first_near_duplicates, hollow_phrases,
                                near_duplicate, unsupported_claims)
from rag.schema import DraftRequest
from tests.test_evals_rules import mutate

NEW_RULES = {"CLAIM-01", "HOLLOW-01", "REPEAT-01", "YEAR-02", "STR-04"}

SUMMARY = """松岩县卫生健康局2024年控烟工作总结

2024年，松岩县卫生健康局坚持预防为主，把控烟作为健康松岩建设的重要内容，压实控烟责任，加强执法巡查，全县无烟环境建设稳步推进。现将全年工作总结如下：

一、主要工作及成效

（一）加强公共场所控烟巡查。联合相关部门开展公共场所控烟巡查1260家次，劝阻吸烟行为3400余人次，室内公共场所吸烟现象有所减少。

（二）推进无烟单位建设。召开全县控烟工作推进会2次，推动党政机关、医疗卫生机构和学校建设无烟单位，全县建成无烟医疗卫生机构41家。

（三）提供戒烟帮扶服务。在县人民医院开设戒烟门诊，全年为860名吸烟者提供戒烟咨询和干预，帮助吸烟者科学戒烟。

二、存在问题

一是部分餐饮场所控烟措施落实不到位；二是戒烟门诊的群众知晓度还不高。

三、2025年工作打算

（一）开展无烟家庭创建。力争创建无烟家庭500户，引导群众主动远离烟草。

（二）强化控烟执法。将控烟巡查纳入日常监督，对违法吸烟行为依法处理。
"""
SUMMARY_REQ = DraftRequest(genre="工作总结", section="全文", unit="松岩县卫生健康局", year=2024, facts=[
    "公共场所控烟巡查1260家次，劝阻吸烟行为3400余人次",
    "召开全县控烟工作推进会2次",
    "全县建成无烟医疗卫生机构41家",
    "县人民医院开设戒烟门诊，全年为860名吸烟者提供戒烟咨询和干预",
    "存在问题：部分餐饮场所控烟措施落实不到位，戒烟门诊知晓度不高",
    "2025年计划：创建无烟家庭500户"], length_chars=(380, 600))

PLAN = """鸣泉市卫生健康委员会2025年口腔健康工作计划

2025年，我委将以提高群众口腔健康水平为目标，坚持预防为主、防治结合，完善口腔健康服务网络，推动口腔健康融入基本公共卫生服务，为全市群众提供连续的口腔健康服务。

一、上年工作回顾

全市完成儿童窝沟封闭2.1万颗，儿童口腔健康工作取得了积极成效。

二、主要任务

（一）扩大儿童口腔疾病综合干预。为适龄儿童免费实施窝沟封闭2.4万颗，加强学校口腔健康教育。

（二）提升基层口腔服务能力。在社区卫生服务中心新增口腔诊室12间，开展基层口腔医生培训150人次。

（三）加强老年人口腔健康管理。将口腔检查纳入老年人健康体检，力争老年人口腔健康知晓率明显提高。

三、保障措施

（一）加强组织协调。明确各部门职责，定期调度工作进展。

（二）落实经费保障。统筹口腔健康项目资金320万元，确保各项任务按期完成。
"""
PLAN_REQ = DraftRequest(genre="工作计划", section="全文", unit="鸣泉市卫生健康委员会", year=2025, facts=[
    "上年完成儿童窝沟封闭2.1万颗",
    "2025年为适龄儿童免费实施窝沟封闭2.4万颗",
    "社区卫生服务中心新增口腔诊室12间",
    "开展基层口腔医生培训150人次",
    "口腔健康项目资金320万元"], length_chars=(350, 600))

DEBRIEF = """云杉县卫生健康局副局长2024年述职报告

各位领导、同志们：

2024年，我分管康复医疗和护理工作，在局党组的领导下认真履行职责，推动分管工作取得新进展。现将履职情况述职如下：

一、推动康复医疗服务扩面

牵头成立康复医疗工作专班，推动县人民医院设置康复医学科，全县康复床位增加到180张，群众就近康复更加方便。

二、存在的不足和今后打算

一年来，康复医疗工作虽然取得了一定成效，但基层康复服务能力仍然薄弱。今后，我将推动乡镇卫生院开展康复服务，加强康复专业人员培训。

以上述职，请予评议。
"""
DEBRIEF_REQ = DraftRequest(genre="述职报告", section="全文", unit="云杉县卫生健康局副局长", year=2024, facts=[
    "成立康复医疗工作专班",
    "县人民医院设置康复医学科",
    "全县康复床位增加到180张",
    "不足：基层康复服务能力薄弱"], length_chars=(200, 400))

BASES = [(SUMMARY, SUMMARY_REQ), (PLAN, PLAN_REQ), (DEBRIEF, DEBRIEF_REQ)]


def rules(draft: str, request: DraftRequest = SUMMARY_REQ) -> set[str]:
    return evaluate(draft, request).rule_ids()


@pytest.mark.parametrize("draft,request_", BASES, ids=["总结", "计划", "述职"])
def test_clean_drafts_pass_every_rule(draft, request_):
    ev = evaluate(draft, request_)
    assert ev.violations == [] and ev.passed


# --- the data file --------------------------------------------------------------------------------

def test_every_word_list_entry_gives_its_reason():
    with open(CLAIM_WORDS_FILE, "rb") as f:
        data = tomllib.load(f)
    entries = [e for key in ("claim", "hollow", "done", "future", "past") for e in data[key]]
    assert len(entries) > 20 and all(e["reason"].strip() for e in entries)
    assert all(data["quoted"][f"{k}_reason"].strip() for k in ("name_suffix", "launch_verb", "contrast", "slogan"))
    with pytest.raises(ValueError):
        _triggers([{"kind": "event", "pattern": "召开"}])
    assert claim_words().claims      # the file compiles


# --- unsupported_claims: the per-sentence test ---------------------------------------------------

FACTS = ["全县公共场所控烟巡查1260家次", "举办口腔健康论坛1场", "召开全县控烟工作推进会2次",
         "开展口腔义诊活动32场", "成立康复医疗工作专班", "推行“无烟护航”行动", "印发《松岩县控烟工作方案》"]


@pytest.mark.parametrize("sentence,kinds", [
    ("我局成功组织了一次国际传染病防控研讨会。", {"event"}),
    ("召开安全生产工作会议，部署节前检查。", {"event"}),
    ("全县控烟工作荣获全省健康促进先进集体称号。", {"honour"}),
    ("控烟工作得到了上级部门的高度评价和充分肯定。", {"honour"}),
    ("戒烟门诊受到群众好评。", {"honour"}),
    ("为全球口腔公共卫生事业贡献了力量。", {"scope"}),
    ("我县控烟工作位居全省前列，填补了全县康复医疗的空白。", {"scope"}),
    ("在全省率先推行控烟积分制。", {"scope"}),
    ("成立了由局长任组长的控烟工作领导小组。", {"organisation"}),
    ("成立由分管副局长任组长的康复医疗工作专班。", {"organisation"}),   # the fact names no leader
    ("通过实施“优质服务工程”，群众满意度明显提高。", {"name"}),
    ("通过实施‘健康守门人工程’，筛查更加及时。", {"name"}),          # single quotes too
    ("全县成功创建省级健康促进县。", {"honour"}),
    ("县人民医院获批省级重点专科。", {"honour"}),
    ("打造“口腔健康守护者”服务品牌。", {"name"}),
    ("印发《松岩县口腔健康促进实施方案》。", {"title"}),
    ("会同县财政局、县医保局联合推进控烟工作。", {"organisation"}),     # partner departments
    ("成立了由疾控中心、社区卫生服务中心和学校组成的控烟巡查小组。", {"organisation"}),
    ("通过控烟巡查，有效降低了吸烟相关疾病发病率。", {"outcome"}),  # a rate no fact gives
])
def test_claims_no_fact_gives_are_reported(sentence, kinds):
    claims = unsupported_claims(sentence, FACTS)
    assert {c.kind for c in claims} == kinds
    for c in claims:
        assert sentence[c.span[0]:c.span[1]] == c.text and c.reason


@pytest.mark.parametrize("sentence", [
    "召开控烟工作推进会2次，研究部署无烟单位建设。",            # a fact gives the meeting
    "成功举办口腔健康论坛，邀请专家讲解口腔保健知识。",
    "组织医务人员深入社区开展口腔义诊活动。",                  # 组织 … 开展: the fact's event
    "牵头成立由局领导牵头的康复医疗工作专班。",
    "持续推行“无烟护航”行动。",                               # a quoted name a fact gives
    "严格落实《松岩县控烟工作方案》。",
    "推动控烟工作由“要我控”变为“我要控”。",                   # a before/after figure of speech
    "引导医共体从“以治病为中心”向“以健康为中心”转变。",
    "努力实现“小病在社区、康复回社区”。",                       # a slogan, not a name
    "坚持“以人民健康为中心”的发展思想。",
    "力争创建省级健康促进县。",                                   # a target, not an honour
    "推行“一站式”服务，落实“两个责任”。",                      # short common policy words
    "做到组织健全、责任明确，加强组织领导。",                   # 组织 as a noun
    "利用国际护士节、世界无烟日开展控烟宣传。",                 # days, not scope
    "面对疫情全球蔓延的形势，加强口岸卫生检疫协作。",
    "局领导率先垂范，带头遵守控烟规定。",
    "推行预约诊疗等便民措施，减少群众排队等候时间。",           # what a measure is for, in words
])
def test_grounded_or_rhetorical_text_is_not_a_claim(sentence):
    assert unsupported_claims(sentence, FACTS) == []


def test_an_event_a_fact_gives_can_still_carry_an_invented_scope():
    claims = unsupported_claims("我局成功举办了一次国际口腔健康论坛。", FACTS)
    assert [(c.kind, c.text) for c in claims] == [("scope", "国际")]
    assert {c.kind for c in find_claims("我局成功举办了一次国际口腔健康论坛。")} == {"event", "scope"}


def test_grounding_needs_the_modifier_not_only_the_head_word():
    # the fact has a 推进会, but not on this subject
    assert unsupported_claims("召开全县安全生产推进会。", FACTS)
    assert not unsupported_claims("召开全县控烟推进会。", FACTS)


def test_facts_in_traditional_script_or_with_full_width_digits_still_ground():
    facts = ["舉辦口腔健康論壇１場", "榮獲全省控煙示範縣稱號"]
    assert unsupported_claims("我局成功举办口腔健康论坛，全县荣获全省控烟示范县称号。", facts) == []
    assert unsupported_claims("我局成功举办口腔健康论坛。", []) != []


def test_the_unit_given_as_a_fact_may_be_named_in_a_quote():
    s = "持续擦亮“松岩县口腔健康服务中心”品牌。"
    assert unsupported_claims(s, []) and not unsupported_claims(s, ["松岩县口腔健康服务中心"])


# --- CLAIM-01 on whole drafts --------------------------------------------------------------------

@pytest.mark.parametrize("old,new", [
    ("室内公共场所吸烟现象有所减少", "荣获全省控烟示范县称号"),
    ("帮助吸烟者科学戒烟", "成功举办全县戒烟大赛"),
    ("推进无烟单位建设。召开", "推进无烟单位建设。成立控烟工作领导小组，召开"),
    ("压实控烟责任", "实施“无烟松岩工程”"),
])
def test_claim01_flags_invented_claims_in_a_draft(old, new):
    ev = evaluate(mutate(SUMMARY, old, new), SUMMARY_REQ)
    found = [v for v in ev.violations if v.rule == "CLAIM-01"]
    assert found and all(v.severity == "major" for v in found) and not ev.passed
    draft = mutate(SUMMARY, old, new)
    assert all(draft[v.start:v.end] in new for v in found)


def test_claim01_accepts_claims_the_request_gives():
    draft = mutate(SUMMARY, "室内公共场所吸烟现象有所减少", "全县荣获全省控烟示范县称号")
    req = replace(SUMMARY_REQ, facts=SUMMARY_REQ.facts + ["荣获全省控烟示范县称号"])
    assert "CLAIM-01" not in rules(draft, req)


# --- HOLLOW-01 -----------------------------------------------------------------------------------

def test_hollow01_two_in_a_sentence_or_three_in_a_paragraph():
    two = mutate(SUMMARY, "室内公共场所吸烟现象有所减少", "控烟工作取得了显著成效，得到了社会各界的一致好评")
    assert "HOLLOW-01" in rules(two)
    three = mutate(SUMMARY, "帮助吸烟者科学戒烟。",
                   "戒烟服务全面提升。戒烟工作成效显著。为全县控烟工作做出了重要贡献。")
    ev = evaluate(three, SUMMARY_REQ)
    assert [v.severity for v in ev.violations if v.rule == "HOLLOW-01"] == ["minor"]


@pytest.mark.parametrize("old,new", [
    ("室内公共场所吸烟现象有所减少", "控烟工作取得了显著成效"),                     # one alone
    ("帮助吸烟者科学戒烟。", "戒烟服务全面提升。戒烟工作成效显著。"),              # two in a paragraph
    ("室内公共场所吸烟现象有所减少", "控烟工作取得了一定成效，巡查质量明显提高"),   # modest wording
])
def test_hollow01_leaves_single_or_modest_praise(old, new):
    assert "HOLLOW-01" not in rules(mutate(SUMMARY, old, new))


def test_hollow_phrases_lists_spans_in_order():
    text = "控烟工作取得了显著成效，得到了高度评价，做出了重要贡献。"
    found = hollow_phrases(text)
    assert [c.text for c in found] == ["取得了显著成效", "高度评价", "重要贡献"]
    assert all(text[c.span[0]:c.span[1]] == c.text for c in found)


# --- REPEAT-01 -----------------------------------------------------------------------------------

def test_repeat01_same_sentence_in_another_part():
    said = "在县人民医院开设戒烟门诊，全年为860名吸烟者提供戒烟咨询和干预，帮助吸烟者科学戒烟。"
    draft = mutate(SUMMARY, "对违法吸烟行为依法处理。", "对违法吸烟行为依法处理。" + said)
    ev = evaluate(draft, SUMMARY_REQ)
    found = [v for v in ev.violations if v.rule == "REPEAT-01"]
    assert len(found) == 1 and found[0].severity == "major"
    assert draft[found[0].start:found[0].end] == said and found[0].start > draft.index("三、")


def test_repeat01_near_duplicate_with_small_insertions():
    draft = mutate(SUMMARY, "对违法吸烟行为依法处理。",
                   "对违法吸烟行为依法处理。将控烟巡查进一步纳入日常监督，对违法吸烟行为依法严肃处理。")
    assert "REPEAT-01" in rules(draft)


def test_repeat01_a_clause_said_three_times():
    clause = "，增强了群众对控烟工作的理解和支持"
    draft = SUMMARY
    for end in ("室内公共场所吸烟现象有所减少", "全县建成无烟医疗卫生机构41家", "帮助吸烟者科学戒烟"):
        draft = mutate(draft, end, end + clause)
    assert "REPEAT-01" in rules(draft)
    twice = mutate(mutate(SUMMARY, "有所减少", "有所减少" + clause), "科学戒烟", "科学戒烟" + clause)
    assert "REPEAT-01" not in rules(twice)


def test_repeat01_same_lead_sentence_twice_in_a_row():
    draft = mutate(SUMMARY, "一是部分餐饮场所", "主要问题有：\n\n主要问题有：一是部分餐饮场所")
    assert "REPEAT-01" in rules(draft)


def test_repeat01_leaves_a_changed_number_and_short_lines():
    # the same wording with another number states another fact (FACT-03 judges the number)
    other_number = mutate(SUMMARY, "对违法吸烟行为依法处理。", "对违法吸烟行为依法处理。召开全县控烟工作推进会3次，"
                          "推动党政机关、医疗卫生机构和学校建设无烟单位。")
    assert "REPEAT-01" not in rules(other_number)
    short = mutate(SUMMARY, "科学戒烟。", "科学戒烟。持续推进。").replace("远离烟草。", "远离烟草。持续推进。")
    assert short.count("持续推进。") == 2 and "REPEAT-01" not in rules(short)


def test_repeat_threshold_both_sides():
    base = "控烟志愿者每周深入车站商场劝阻吸烟行为并发放宣传材料"
    one_char = base.replace("劝阻", "劝止")          # 23 of 25 character pairs kept: 0.92
    two_chars = base.replace("商场", "超市")        # 22 of 25: 0.88
    share = lambda a, b: len(_pairs(a) & _pairs(b)) / len(_pairs(a))   # noqa: E731
    assert share(base, one_char) >= REPEAT_OVERLAP > share(base, two_chars)
    assert near_duplicate(base, one_char) and not near_duplicate(base, two_chars)
    assert near_duplicate(base, "，" + base + "！")           # punctuation does not count
    assert not near_duplicate(base, base.replace("每周", "每周3次"))   # a number the other lacks



def _pairwise_first_repeats(texts: list[str]) -> list[int | None]:
    """REPEAT-01 as its docstring defines it, every earlier sentence tested (the oracle)."""
    def key(t: str) -> str:
        return re.sub(r"[^\u4e00-\u9fff0-9A-Za-z]", "", t)

    def marks(t: str) -> tuple[set[str], set[str]]:
        return set(re.findall(r"\d+(?:\.\d+)?", t)), set(re.findall(r"[“‘]([^“”‘’\n]{2,30})[”’]", t))

    out: list[int | None] = []
    for j, b in enumerate(texts):
        hit = None
        for i, a in enumerate(texts[:j] if len(key(b)) >= REPEAT_MIN_CHARS else []):
            short, long_ = sorted((key(a), key(b)), key=len)
            if key(a) == key(b) or (len(short) >= REPEAT_MIN_CHARS and len(short) >= 0.6 * len(long_)
                                    and marks(a) == marks(b)
                                    and len(_pairs(short) & _pairs(long_)) >= REPEAT_OVERLAP * len(_pairs(short))):
                hit = i
                break
        out.append(hit)
    return out


def test_repeat_candidates_give_the_verdicts_of_comparing_every_pair():
    rng = random.Random(20)
    for alphabet in ("一二三是", "社区巡诊随访服务到家", "志愿者每周深入车站商场劝阻吸烟并发放宣传材料"):
        for _ in range(60):
            bases = ["".join(rng.choice(alphabet) for _ in range(rng.randint(6, 28))) for _ in range(4)]
            texts = []
            for _ in range(rng.randint(2, 30)):
                t = list(rng.choice(bases))
                for _ in range(rng.randint(0, 3)):
                    k = rng.randrange(len(t))
                    op = rng.random()
                    if op < 0.3:
                        t[k] = rng.choice(alphabet + "7“”")
                    elif op < 0.7:
                        t.insert(k, rng.choice(alphabet + "5，"))
                    else:
                        del t[k]
                texts.append("".join(t) + "。")
            assert first_near_duplicates(texts) == _pairwise_first_repeats(texts), texts


def test_repeat01_work_grows_with_the_draft_not_its_square(monkeypatch):
    """A long draft of random marks, digits and a few characters is not checked pair by pair:
    counted are the pair sets built and the candidate sentences compared."""
    import evals.rules.claims as claims
    rng = random.Random(4)
    junk = "".join(rng.choice("（）、一二三是，。；：“”0123456789") for _ in range(40_000))
    sentences = claims.sentences_in(junk, 0, len(junk))
    work = []
    real_pairs, real_count = claims._pairs, claims.np.bitwise_count
    monkeypatch.setattr(claims, "_pairs", lambda key: work.append(1) or real_pairs(key))
    monkeypatch.setattr(claims.np, "bitwise_count", lambda a: work.append(len(a)) or real_count(a))
    draft = SUMMARY.replace("现将全年工作总结如下：", "现将全年工作总结如下：" + junk.replace("\n", ""))
    list(claims.no_repeats(CheckContext(draft, SUMMARY_REQ)))
    assert len(sentences) > 3000 and sum(work) < 3 * len(sentences)

# --- STR-04: 一是 without 二是 --------------------------------------------------------------------

def test_str04_lone_first_item():
    assert "STR-04" in rules(mutate(SUMMARY, "；二是戒烟门诊", "，戒烟门诊"))
    # a complete enumeration, then a lone 一是 in the same block
    draft = mutate(SUMMARY, "知晓度还不高。", "知晓度还不高。一是人员不足。")
    assert "STR-04" in rules(draft)


def test_str04_complete_enumerations_pass():
    draft = mutate(SUMMARY, "知晓度还不高。", "知晓度还不高。改进措施：一是加强培训，二是扩大宣传。")
    assert "STR-04" not in rules(draft)


# --- YEAR-02: every plan part of every genre ------------------------------------------------------

@pytest.mark.parametrize("old,new", [
    ("力争老年人口腔健康知晓率明显提高", "有效提升了老年人口腔健康知晓率"),
    ("加强学校口腔健康教育", "进一步加强了学校口腔健康教育"),
    ("定期调度工作进展", "已完成各项工作调度"),
])
def test_year02_plan_written_as_done(old, new):
    ev = evaluate(mutate(PLAN, old, new), PLAN_REQ)
    assert [v.severity for v in ev.violations if v.rule == "YEAR-02"] == ["minor"]


@pytest.mark.parametrize("old,new", [
    ("加强学校口腔健康教育", "将进一步加强学校口腔健康教育"),                   # future cue first
    ("加强学校口腔健康教育", "目前已建成学校口腔健康教育网络，要继续用好"),     # a baseline
    ("加强学校口腔健康教育", "加强了解学生口腔健康需求"),                       # 了解 is not 了
])
def test_year02_future_and_baseline_wording_pass(old, new):
    assert "YEAR-02" not in rules(mutate(PLAN, old, new), PLAN_REQ)


def test_year02_review_part_and_fact_given_completion_pass():
    assert "YEAR-02" not in rules(PLAN, PLAN_REQ)    # 一、上年工作回顾 says 取得了积极成效
    unreviewed = mutate(PLAN, "一、上年工作回顾", "一、夯实儿童口腔保健")
    assert "YEAR-02" in rules(unreviewed, PLAN_REQ)
    draft = mutate(PLAN, "加强学校口腔健康教育", "市口腔医院新院区已完成主体建设")
    assert "YEAR-02" in rules(draft, PLAN_REQ)
    req = replace(PLAN_REQ, facts=PLAN_REQ.facts + ["市口腔医院新院区已完成主体建设"])
    assert "YEAR-02" not in rules(draft, req)


def test_year02_next_steps_part_of_a_summary():
    in_plan_part = mutate(SUMMARY, "将控烟巡查纳入日常监督", "进一步加强了控烟巡查")
    assert "YEAR-02" in rules(in_plan_part)
    in_work_part = mutate(SUMMARY, "推动党政机关", "进一步加强了控烟巡查，推动党政机关")
    assert "YEAR-02" not in rules(in_work_part)


def test_year02_joined_problems_and_plans_heading_checks_only_the_plans():
    assert "YEAR-02" not in rules(DEBRIEF, DEBRIEF_REQ)   # 虽然取得了一定成效 precedes 今后
    draft = mutate(DEBRIEF, "加强康复专业人员培训", "进一步加强了康复专业人员培训")
    assert "YEAR-02" in rules(draft, DEBRIEF_REQ)


def test_year02_plan_paragraph_without_heading_and_plan_section():
    no_headings = mutate(DEBRIEF, "二、存在的不足和今后打算\n\n", "")
    assert "YEAR-02" not in rules(no_headings, DEBRIEF_REQ)
    assert "YEAR-02" in rules(mutate(no_headings, "一年来，康复医疗工作", "下一步，进一步加强了康复人才培训。一年来，康复医疗工作"),
                              DEBRIEF_REQ)
    section_req = replace(SUMMARY_REQ, section="下一步工作打算")
    section = "（一）强化控烟执法。进一步加强了控烟巡查。\n\n（二）开展无烟家庭创建。力争创建无烟家庭500户。\n"
    assert "YEAR-02" in rules(section, section_req)


@pytest.mark.parametrize("sentence,cues", [
    ("进一步加强了与相关部门的协作。", ["进一步加强了"]),
    ("各项任务已完成。", ["已完成"]),
    ("口腔健康工作取得了明显成效。", ["取得了明显成效"]),
    ("力争年底前取得明显成效。", []),
    ("要进一步加强部门协作。", []),
    ("截至目前已建成口腔诊室12间。", []),
    ("2024年已完成窝沟封闭2.1万颗。", []),
])
def test_done_cues_for_a_2025_plan(sentence, cues):
    assert [c.text for c in done_cues(sentence, 2025)] == cues


def test_new_rules_leave_every_clean_base_alone():
    for draft, req in BASES:
        assert not rules(draft, req) & NEW_RULES


def test_repeat01_leaves_the_assistants_own_reminders_alone():
    from evals.check import evaluate
    from rag.schema import DraftRequest
    request = DraftRequest(genre="工作总结", section="主要工作及成效", unit="松岩县卫生健康局", year=2024,
                           facts=["开展控烟宣传进机关活动12场", "建成无烟医疗机构9家"], length_chars=(60, 400))
    draft = ("一、主要工作及成效\n（一）推进控烟宣传。开展控烟宣传进机关活动12场。【待补充：该项工作的具体做法和成效】\n"
             "（二）建设无烟环境。建成无烟医疗机构9家。【待补充：该项工作的具体做法和成效】")
    assert "REPEAT-01" not in evaluate(draft, request).rule_ids()
