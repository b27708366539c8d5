"""Unit kinds (prompts/units.toml): self reference, level and scope words read from a unit's name."""
from __future__ import annotations

import pytest

from rag.prompting import unit_voice
from rag.units import fix_unit_words, localize_unit_words, unit_kind, wrong_unit_words


@pytest.mark.parametrize("name,key,self_ref,level,scope", [
    ("石桥县卫生健康局", "bureau", "我局", "县", ("全县",)),
    ("临江市卫生健康委员会", "commission", "我委", "市", ("全市",)),
    ("兴安盟卫生健康委员会", "commission", "我委", "盟", ("全盟",)),
    ("湘西土家族苗族自治州卫生健康委员会", "commission", "我委", "州", ("全州",)),
    ("科尔沁右翼中旗卫生健康委员会", "commission", "我委", "旗", ("全旗",)),
    ("海东省卫生健康委员会", "commission", "我委", "省", ("全省",)),
    ("东河区卫健局", "bureau", "我局", "区", ("全区",)),
    ("白沙县疾病预防控制中心", "cdc", "我中心", "县", ("全县", "全中心")),
    ("红河州疾控中心", "cdc", "我中心", "州", ("全州", "全中心")),
    ("白沙县卫生健康综合监督执法大队", "supervision_brigade", "我队", "县", ("全县", "全队")),
    ("北湖区卫生监督所", "supervision_institute", "我所", "区", ("全区", "全所")),
    ("白沙县人民医院", "hospital", "我院", "县", ("全院",)),
    ("白沙县中医医院", "hospital", "我院", "县", ("全院",)),
    ("临江市第二人民医院", "hospital", "我院", "市", ("全院",)),
    ("白沙县妇幼保健院", "hospital", "我院", "县", ("全院",)),
    ("白沙县河口镇卫生院", "township_health_center", "我院", "镇", ("全镇", "全院")),
    ("白沙县石门乡中心卫生院", "township_health_center", "我院", "乡", ("全乡", "全院")),
    ("北湖区城南街道社区卫生服务中心", "community_health_center", "我中心", "区", ("全中心",)),
])
def test_kind_self_reference_level_and_scope_follow_the_name(name, key, self_ref, level, scope):
    kind = unit_kind(name)
    assert (kind.key, kind.self_ref, kind.level, kind.scope_words) == (key, self_ref, level, scope)


def test_a_title_after_the_unit_is_ignored_and_traditional_names_are_read():
    assert unit_kind("白沙县疾病预防控制中心主任").key == "cdc"
    assert unit_kind("临江市人民医院党委书记、院长").self_ref == "我院"
    assert unit_kind("白沙縣衛生健康局黨組書記、局長").place == "白沙县"
    # the leftmost organisation word decides: a bureau head remains a bureau's voice
    assert unit_kind("白沙县卫生健康局副局长兼县医院院长").key == "bureau"


def test_a_name_without_a_level_guesses_none():
    kind = unit_kind("卫生健康局")
    assert kind.level == "" and kind.scope_words == () and "县" not in kind.leaders
    assert kind.scope_word == "本辖区"
    assert wrong_unit_words("全市、全区、全县的医疗机构", kind) == []
    other = unit_kind("白沙县医疗保障局")
    assert (other.key, other.self_ref, other.level) == ("unknown", "我单位", "县")
    # an unknown kind's self reference is not judged; its level still is
    assert [w.word for w in wrong_unit_words("我局推动全区改革", other)] == ["全区"]


def test_leaders_follow_the_level():
    assert unit_kind("科尔沁右翼中旗卫生健康委员会").leaders == "旗委、旗政府"
    assert unit_kind("白沙县河口镇卫生院").leaders.startswith("镇党委、镇政府")
    assert unit_kind("海东省卫生健康委员会").leaders == "省委、省政府"


def test_unit_voice_reads_the_kind():
    cdc = unit_voice("白沙县疾病预防控制中心")
    assert (cdc.self_ref, cdc.level_word, cdc.level) == ("我中心", "全县", "县")
    banner = unit_voice("科尔沁右翼中旗卫生健康局")
    assert (banner.self_ref, banner.level_word, banner.leaders) == ("我局", "全旗", "旗委、旗政府")
    hospital = unit_voice("白沙县人民医院")
    assert (hospital.self_ref, hospital.level_word) == ("我院", "全院")
    assert hospital.kind is not None and hospital.kind.key == "hospital"


def test_wrong_words_for_a_hospital_and_their_fixes():
    kind = unit_kind("白沙县人民医院")
    text = "我局组织全院职工开展培训，在全市排名第一，带动全区基层医疗机构，我委将继续推进。"
    found = {(w.word, w.replacement) for w in wrong_unit_words(text, kind)}
    # 全市 is the city above the county: a county hospital may name it
    assert found == {("我局", "我院"), ("全区", "全县"), ("我委", "我院")}
    assert fix_unit_words(text, kind) == "我院组织全院职工开展培训，在全市排名第一，带动全县基层医疗机构，我院将继续推进。"


def test_words_the_facts_use_are_the_users_own():
    kind = unit_kind("白沙县河口镇卫生院")
    # a town's health centre speaks for its town, not as the county
    text = "全县排名第二，我县推广，我中心负责，全镇覆盖。"
    assert {w.word for w in wrong_unit_words(text, kind)} == {"全县", "我县", "我中心"}
    assert wrong_unit_words(text, kind, facts="全县排名第二；经验由我县推广；由我中心负责") == []


def test_a_county_may_tell_of_one_towns_coverage():
    assert wrong_unit_words("河口镇实现全镇签约全覆盖，全县推广。", unit_kind("白沙县卫生健康局")) == []


def test_words_that_only_look_like_level_words_are_left_alone():
    kind = unit_kind("临江市卫生健康委员会")
    assert wrong_unit_words("覆盖全区域，规范全市场，推进全乡镇卫生院建设，坚持以自我中心为戒", kind) == []


def test_another_units_text_is_put_in_this_units_voice():
    text = "在市委、市政府的领导下，我委推动全市医疗机构改革，本市成效明显。"
    assert (localize_unit_words(text, unit_kind("白沙县河口镇卫生院"))
            == "在镇党委、镇政府和上级卫生健康部门的领导下，我院推动全镇医疗机构改革，本镇成效明显。")
    # without a level in the name the level words are left as they are, never made 全县
    assert localize_unit_words(text, unit_kind("卫生健康局")) == (
        "在上级党委、政府的领导下，我局推动全市医疗机构改革，本市成效明显。")
    # the drafter's UnitVoice serves as well
    assert localize_unit_words(text, unit_voice("白沙县疾病预防控制中心")) == (
        "在县委、县政府和上级卫生健康部门的领导下，我中心推动全县医疗机构改革，本县成效明显。")
