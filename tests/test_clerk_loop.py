"""The clerk's own loop at the drafting layer: material given where a draft asks for it is
written into that paragraph only; what the clerk typed is theirs (never called invented, never
removed by a repair); a revision changes only its target and cannot duplicate or lose a part.
Against the scripted OpenAI-protocol server; requests are made up."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from openai_stub import ScriptedOpenAIServer
from rag.config import PROJECT_ROOT, Settings
from rag.draft import DraftResult, draft_report, edit_draft, fill_paragraph, repair_draft, revise_draft
from rag.normalize import parse_request
from test_drafting_contract import Model, fenced

RURAL = {"genre": "工作总结", "section": "主要工作及成效", "unit": "柳溪县卫生健康局", "year": 2024, "topic": "基层卫生",
         "facts": ["新建标准化村卫生室14所，村卫生室达标率提高到92%",
                   "为乡村医生开展轮训3期，培训340人次",
                   "开通县乡远程心电诊断，全年诊断2600例"],
         "length_chars": [400, 900]}
MATERIAL = "全年争取上级补助资金1860万元，用于村卫生室标准化建设"


def bare_items(facts: list[str], prompt: str) -> str:
    # a model that writes only the facts: every paragraph comes out short and asks for material
    return "。".join(facts) + "。"


def settings_for(settings: Settings, stub) -> Settings:
    return settings.model_copy(update={"llm_base_url": stub.base_url, "llm_timeout": 5.0})


def first_draft(settings: Settings) -> DraftResult:
    with ScriptedOpenAIServer([Model(item=bare_items, grow=lambda f, p: "")], repeat_last=True) as stub:
        return draft_report(parse_request(RURAL), settings_for(settings, stub), retriever=lambda *a: [], embed=None)


def items(result: DraftResult) -> dict[str, str]:
    return {b.marker: b.render() for b in result.blocks if b.kind == "item"}


def test_material_answering_a_mark_rewrites_only_that_paragraph(settings):
    draft = first_draft(settings)
    before = items(draft)
    target = next(m for m, text in before.items() if "【待补充" in text)

    def writer(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        assert MATERIAL in fenced(prompt, "用户补充的内容")
        original = fenced(prompt, "原文")
        return re.sub(r"【待补充：[^】]*】", "", original) + "全年争取上级补助资金1860万元，重点用于村卫生室标准化建设。"

    with ScriptedOpenAIServer([writer], repeat_last=True) as stub:
        result = fill_paragraph(parse_request(RURAL), draft.draft, target, MATERIAL, settings_for(settings, stub),
                                blocks=draft.blocks, plan=draft.plan)
    after = items(result)
    assert "1860万元" in after[target] and "【待补充" not in after[target]
    assert {m: t for m, t in after.items() if m != target} == {m: t for m, t in before.items() if m != target}
    assert MATERIAL in result.request.facts            # the answer is a fact of the new version
    assert not [v for v in result.evaluation.violations if v.severity in ("blocker", "major") and "1860" in v.evidence]
    assert any(e.guard == "user-material" for e in result.edits)


def test_material_the_model_leaves_out_is_written_in_as_the_users_own(settings):
    draft = first_draft(settings)
    target = next(b.marker for b in draft.blocks if b.kind == "item")

    def forgetful(body: dict) -> str:
        return fenced(body["messages"][-1]["content"], "原文")   # the material is not written in

    with ScriptedOpenAIServer([forgetful], repeat_last=True) as stub:
        result = fill_paragraph(parse_request(RURAL), draft.draft, target, MATERIAL, settings_for(settings, stub),
                                blocks=draft.blocks, plan=draft.plan)
    users = [s for s in result.sentences if s.origin == "user"]
    assert users and "1860万元" in users[0].text


def test_a_hand_edit_is_the_clerks_and_repair_keeps_it(settings):
    draft = first_draft(settings)
    target = next(b for b in draft.blocks if b.kind == "item")
    typed = "全年争取上级补助资金1860万元。"
    edited_text = draft.draft.replace(target.render(), target.render() + typed)
    edited = edit_draft(parse_request(RURAL), edited_text, settings, blocks=draft.blocks, plan=draft.plan)
    assert any(s.origin == "user" and "1860万元" in s.text for s in edited.sentences)
    assert not [v for v in edited.evaluation.violations if "1860" in v.evidence and v.severity in ("blocker", "major")]
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        repaired = repair_draft(parse_request(RURAL), edited.draft, settings_for(settings, stub),
                                blocks=edited.blocks, plan=draft.plan)
    assert typed in repaired.draft


def test_a_revision_whose_answer_drops_a_fact_keeps_every_part_once(settings):
    draft = first_draft(settings)
    target = next(b for b in draft.blocks if b.kind == "item" and len(b.sentences) > 1)

    def careless(body: dict) -> str:
        return "坚持规范管理，持续改善基层就医条件。"      # the rewrite drops the paragraph's facts

    with ScriptedOpenAIServer([careless], repeat_last=True) as stub:
        result = revise_draft(parse_request(RURAL), draft.draft, f"{target.marker}再精炼一些",
                              settings_for(settings, stub), blocks=draft.blocks, plan=draft.plan)
    markers = [b.marker for b in result.blocks if b.kind in ("item", "part")]
    assert markers == [b.marker for b in draft.blocks if b.kind in ("item", "part")]   # no part twice or lost
    for fact in RURAL["facts"]:
        assert result.draft.count(fact.split("，")[0]) == 1, fact
    others = [b.render() for b in draft.blocks if b.kind == "item" and b.marker != target.marker]
    assert all(o in result.draft for o in others)


def test_cli_fill_prints_the_new_version_with_its_request(settings, tmp_path):
    draft = first_draft(settings)
    (tmp_path / "request.json").write_text(json.dumps(RURAL, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "draft.json").write_text(json.dumps(draft.to_json(), ensure_ascii=False), encoding="utf-8")

    def writer(body: dict) -> str:
        return fenced(body["messages"][-1]["content"], "原文") + "全年争取上级补助资金1860万元。"

    with ScriptedOpenAIServer([writer], repeat_last=True) as stub:
        env = {"GONGWEN_LLM_BASE_URL": stub.base_url, "GONGWEN_DATA_DIR": str(tmp_path / "data"),
               "GONGWEN_LLM_TIMEOUT": "10", "OMP_WAIT_POLICY": "passive", "PATH": "/usr/bin:/bin"}
        proc = subprocess.run([sys.executable, "-m", "rag", "fill", "--request", str(tmp_path / "request.json"),
                               "--draft", str(tmp_path / "draft.json"), "--at", "（一）", "--text", MATERIAL, "--json"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "1860万元" in out["draft"] and MATERIAL in out["request"]["facts"]


def elaborated_draft(settings: Settings) -> DraftResult:
    def item(facts: list[str], prompt: str) -> str:
        return "".join(f"{f}，有效改善了群众就医条件。" for f in facts)
    with ScriptedOpenAIServer([Model(item=item)], repeat_last=True) as stub:
        return draft_report(parse_request(RURAL), settings_for(settings, stub), retriever=lambda *a: [], embed=None)


def test_elaboration_can_be_confirmed_dropped_and_is_highlighted_in_word(settings):
    import io

    import docx
    from docx.enum.text import WD_COLOR_INDEX

    from rag.document import confirm_elaboration, drop_elaboration, elaboration_texts
    from rag.export import export_docx, export_markdown
    from rag.compose import render_blocks

    result = elaborated_draft(settings)
    marked = elaboration_texts(result.blocks)
    assert marked and all("改善了群众就医条件" in t for t in marked)
    doc = docx.Document(io.BytesIO(export_docx(result.draft, elaboration=marked)))
    green = [r.text for p in doc.paragraphs for r in p.runs if r.font.highlight_color == WD_COLOR_INDEX.BRIGHT_GREEN]
    assert green and all(g in marked for g in green)
    assert "<mark>" in export_markdown(result.draft, elaboration=marked)

    assert confirm_elaboration(result.blocks, [marked[0]]) == 1
    dropped = drop_elaboration(result.blocks)          # every unconfirmed one goes, the confirmed stays
    assert dropped == len(marked) - 1
    text = render_blocks(result.blocks)
    assert text.count("改善了群众就医条件") == 1
    for fact in RURAL["facts"]:
        assert fact.split("，")[0] in text
    assert "，。" not in text and not re.search(r"，\s*$", text, re.M)


def test_material_for_a_paragraph_part_keeps_its_lead_in_and_is_the_clerks(settings):
    request = {**RURAL, "section": "全文", "length_chars": [600, 1200]}
    with ScriptedOpenAIServer([Model(item=bare_items, grow=lambda f, p: "")], repeat_last=True) as stub:
        draft = draft_report(parse_request(request), settings_for(settings, stub), retriever=lambda *a: [], embed=None)
    part = next(b for b in draft.blocks if b.kind == "paragraph" and b.key.startswith("problems"))
    lead = part.sentences[0].text
    material = "村医队伍年龄偏大，远程心电设备维护人员不足"

    def writer(body: dict) -> str:
        original = re.sub(r"【待补充：[^】]*】", "", fenced(body["messages"][-1]["content"], "原文"))
        return original + "当前，村医队伍年龄偏大，远程心电设备维护人员不足，基层服务能力与群众期待相比仍有差距。"

    with ScriptedOpenAIServer([writer], repeat_last=True) as stub:
        result = fill_paragraph(parse_request(request), draft.draft, "存在问题", material, settings_for(settings, stub),
                                blocks=draft.blocks, plan=draft.plan)
    after = next(b for b in result.blocks if b.key == part.key)
    assert after.sentences[0].text == lead and after.sentences[0].origin == "phrase"
    assert any(s.origin == "user" and "村医队伍年龄偏大" in s.text for s in after.sentences)
    assert "【待补充" not in after.render()


def test_a_lead_in_the_model_rewords_or_leaves_out_stays_ours_once(settings):
    request = {**RURAL, "section": "全文", "length_chars": [600, 1200]}
    with ScriptedOpenAIServer([Model(item=bare_items, grow=lambda f, p: "")], repeat_last=True) as stub:
        draft = draft_report(parse_request(request), settings_for(settings, stub), retriever=lambda *a: [], embed=None)
    lead = next(b for b in draft.blocks if b.kind == "paragraph" and b.key.startswith("problems")).sentences[0].text
    material = "村医队伍年龄偏大，远程心电设备维护人员不足"
    for reply in ("在肯定成绩的同时，我们也看到工作中还有一些不容忽视的问题：村医队伍年龄偏大，远程心电设备维护人员不足。",
                  "村医队伍年龄偏大，远程心电设备维护人员不足。"):
        with ScriptedOpenAIServer([lambda body, r=reply: r], repeat_last=True) as stub:
            result = fill_paragraph(parse_request(request), draft.draft, "存在问题", material,
                                    settings_for(settings, stub), blocks=draft.blocks, plan=draft.plan)
        after = next(b for b in result.blocks if b.kind == "paragraph" and b.key.startswith("problems"))
        assert after.sentences[0].text == lead and after.sentences[0].origin == "phrase"
        assert after.render().count("问题：") == 1 and "村医队伍年龄偏大" in after.render()
