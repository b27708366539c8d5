"""End to end in a real browser: `streamlit run app.py` and the scripted OpenAI-protocol server
as separate processes, Debian's Chromium driven by Playwright.

A clerk fills in a whole 工作总结 and looks at the plan first; she rewords a sub-heading and
reloads the page (the edit is there), then drafts; while the draft is written she clicks 起草
again (refused), reloads the page (the partial version is there, 写作中), stops it (only the
finished, checked parts stay), continues it to the end (with her heading); the short draft says
未达字数. She answers each 【待补充】 place in a few words (补充材料: only that paragraph changes,
and it holds her answer) until the report is in its range, and downloads the Word file with the
elaboration still to confirm highlighted (扩写（请核实）, bright green in the file) — the end of her
way — then once without it (不导出). She deletes one elaboration (a new version 删除扩写), then all
the rest (the same version); types a figure of her own in a hand edit (no 严重 finding) and asks
for a repair (the figure stays); asks for a revision of (一) whose reply drops a fact (the fact
goes back into (一), no part twice, the rest word for word); makes the first version current
again (恢复此版本, and its Word file is the first version's), starts a 新建文稿 (unit and year
kept; 我的文稿 tells the two apart) and reopens the first one. Each state is saved as
test-artifacts/e2e-NN-*.png; the clicks and keys from pasted facts to the Word file in range go
to test-artifacts/e2e-effort.json.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_COLOR_INDEX

from rag.config import PROJECT_ROOT
from rag.sessions import SessionStore
from rag.text import written_len

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FACTS = [
    "全县适龄儿童免疫规划疫苗接种率稳定在96%以上",
    "全年网络直报法定传染病11类1247例，报告及时率100%",
    "完成肺结核可疑症状者筛查2.7万人，新发现患者87例",
    "新建规范化预防接种门诊3个（东坪镇、柳溪镇、白鹭乡）",
]
PARAGRAPH = ("我局坚持预防为主、防治结合，全县适龄儿童免疫规划疫苗接种率稳定在96%以上，"
             "全年网络直报法定传染病11类1247例，报告及时率100%。")
SECOND = ("完成肺结核可疑症状者筛查2.7万人，新发现患者87例；新建规范化预防接种门诊3个"
          "（东坪镇、柳溪镇、白鹭乡），群众接种更加便捷。")
HEADING = "健全接种服务网络"
# 补充材料: what the clerk answers each 【待补充】 place with (made up), and the model's paragraph
# with it — the answer written in, with how the work was done and what it brought around it.
ANSWERS = [
    ("· （一）", "组织接种人员规范化培训4期，培训186人次",
     f"（一）{HEADING}。新建规范化预防接种门诊3个（东坪镇、柳溪镇、白鹭乡），群众接种更加便捷。"
     "全县适龄儿童免疫规划疫苗接种率稳定在96%以上。组织接种人员规范化培训4期，培训186人次，通过集中授课和现场带教，"
     "进一步规范了预防接种门诊的服务流程，提高了接种人员的业务能力和服务水平。同时加强预防接种门诊日常督导，"
     "及时发现和纠正接种服务中的薄弱环节，为群众提供安全、规范的预防接种服务。"),
    ("· （二）", "结核病患者规范管理率达到95%",
     "（二）重大疾病防控成效明显。全年网络直报法定传染病11类1247例，报告及时率100%，传染病监测预警更加及时。"
     "完成肺结核可疑症状者筛查2.7万人，新发现患者87例，结核病患者规范管理率达到95%，通过落实患者随访管理和督导服药，"
     "提高了患者治疗依从性，减少了结核病传播风险。同时加强传染病疫情分析研判，及时发布风险提示，做到早发现、早报告、早处置。"),
    ("存在问题", "部分乡镇接种门诊冷链设备老化",
     "在肯定成绩的同时，我们也清醒地看到，工作中还存在一些不容忽视的问题：部分乡镇接种门诊冷链设备老化，"
     "影响疫苗储存和运输的安全，预防接种服务保障能力有待进一步提升。"),
    ("工作打算", "更新乡镇接种门诊冷链设备",
     "我局将重点抓好以下工作：更新乡镇接种门诊冷链设备，完善疫苗储存和运输管理制度，"
     "加强接种人员业务培训和门诊日常督导，持续提升预防接种服务保障能力，巩固免疫规划和重大疾病防控工作成效。"),
]
ANSWER_NEEDLE = "【用户补充的内容】（照录其中的数字和名称）\n<<<\n"
TYPED = "全年投入冷链设备更新资金86万元。"   # a figure the clerk types in a hand edit
# Headings → one paragraph per sub-heading, streamed slowly (two characters every 0.6 s) so the
# test can act while a draft is written; a repair answers with English (worse than the draft, so
# the draft is kept and nothing changes); a revision of (一) answers with one paragraph that
# leaves out one of (一)'s facts and says one of (二)'s; 补充材料 answers with the paragraph above.
SCRIPT = {
    "repeat_last": True,
    "models": ["stub-model"],
    "steps": [{
        "when": [
            ["拟小标题", {"reply": json.dumps(["免疫规划工作扎实推进", "重大疾病防控成效明显"], ensure_ascii=False)}],
            ["检查发现了问题", {"reply": "Sorry, here is the revised text.", "chunk_chars": 6}],
            ["修改意见", {"reply": f"（一）{HEADING}。" + PARAGRAPH, "chunk_chars": 6}],
        ] + [[ANSWER_NEEDLE + answer, {"reply": paragraph, "chunk_chars": 6}] for _, answer, paragraph in ANSWERS],
        "otherwise": {"reply": SECOND, "chunk_chars": 2, "chunk_delay": 0.6},
    }],
}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline_s: float, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"process exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer in {deadline_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def servers(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT, ensure_ascii=False), encoding="utf-8")
    stub_log = (tmp_path / "stub.log").open("w+")
    stub = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "tests" / "openai_stub.py"),
                             "--port", "0", "--script", str(script)],
                            stdout=subprocess.PIPE, stderr=stub_log, text=True)
    app_log_path = tmp_path / "streamlit.log"
    app = None
    try:
        line = stub.stdout.readline()
        assert line.startswith("listening on "), line
        base_url = line.split("listening on ", 1)[1].strip()
        port = _free_port()
        env = {**os.environ, "GONGWEN_DATA_DIR": str(tmp_path / "data"),
               "GONGWEN_LLM_BASE_URL": base_url, "GONGWEN_LLM_MODEL": "stub-model",
               "OMP_WAIT_POLICY": "passive"}
        app = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=PROJECT_ROOT, env=env, stdout=app_log_path.open("w"), stderr=subprocess.STDOUT)
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 120, app, app_log_path)
        yield f"http://127.0.0.1:{port}/", app_log_path
    finally:
        for proc in (app, stub):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        stub_log.close()


def _shot(page, name: str) -> None:
    """The page once Streamlit has drawn it (no run going on, no loading placeholders left)."""
    for busy in ('[data-testid="stStatusWidget"]', '[data-testid="stSkeleton"]'):
        try:
            page.locator(busy).first.wait_for(state="detached", timeout=20_000)
        except Exception as e:  # a page still busy is photographed as it is; the test goes on
            print(f"screenshot {name}: page still busy ({busy}, {type(e).__name__})")
    page.wait_for_timeout(1500)  # Streamlit removes the previous run's leftover elements last
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True)


ENGLISH_WIDGET_TEXT = ("Upload", "Browse files", "Drag and drop", "per file", "not allowed")


@dataclass
class Effort:
    """What the clerk spends on the way from pasted facts to a downloaded Word file: clicks, keys
    typed (Enter included) and pastes. Only the steps of that way are counted, not the checks the
    walk makes on the side."""
    clicks: int = 0
    keys: int = 0
    pastes: int = 0

    def click(self, locator) -> None:
        locator.click()
        self.clicks += 1

    def type(self, locator, text: str) -> None:
        self.click(locator)   # into the box
        locator.fill(text)
        self.keys += len(text)

    def press(self, locator, key: str) -> None:
        locator.press(key)
        self.keys += 1

    def paste(self, locator, text: str) -> None:
        self.click(locator)
        locator.fill(text)
        self.pastes += 1


def _wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _download_word(page, tmp_path: Path, effort: "Effort | None" = None) -> tuple[str, list[str], str]:
    """Click the one 下载 Word button on the page: (the file's name, its paragraphs, the text of
    its runs highlighted bright green — elaboration still to confirm)."""
    from playwright.sync_api import expect
    button = page.get_by_role("button", name="下载 Word")
    expect(button).to_have_count(1)
    with page.expect_download() as download_info:
        if effort is not None:
            effort.click(button)
        else:
            button.click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    document = docx.Document(str(saved))
    green = "".join(run.text for para in document.paragraphs for run in para.runs
                    if run.font.highlight_color == WD_COLOR_INDEX.BRIGHT_GREEN)
    return download.suggested_filename, [para.text for para in document.paragraphs], green


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _chars(text: str) -> int:
    return len(re.sub(r"\s", "", text))


@pytest.mark.skipif(CHROMIUM is None, reason="未安装 Chromium（make test 会用 scripts/test-system-deps.sh 安装）")
def test_a_clerks_day(servers, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, app_log = servers
    store = SessionStore(tmp_path / "data" / "sessions.sqlite")
    ARTIFACTS.mkdir(exist_ok=True)
    effort, with_plan = Effort(), Effort()   # the plain way, and what editing the plan adds
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=LAUNCH_ARGS, accept_downloads=True, viewport={"width": 1440, "height": 2400},
            locale="zh-CN")
        page = browser.new_page()
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)  # the first page load imports the whole pipeline
        try:
            page.goto(url)
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar.get_by_text("起草要求")).to_be_visible()
            page.wait_for_url("**?s=*")
            session_url = page.url
            sid = session_url.split("s=", 1)[1]

            # a whole 工作总结 (the form's defaults: genre, 全文, this year, its length boxes)
            unit = sidebar.get_by_role("textbox", name="单位名称")
            effort.type(unit, "云岭县卫生健康局")
            effort.press(unit, "Enter")
            facts = sidebar.get_by_role("textbox", name="事实材料（每行一条）")
            effort.paste(facts, "\n".join(f"{i}.\t{f}" for i, f in enumerate(FACTS, 1)))
            effort.click(unit)  # leaving the box commits it
            expect(sidebar.get_by_text("已识别 4 条事实")).to_be_visible()
            expect(sidebar.get_by_role("spinbutton", name="最少字数")).to_have_value("600")

            # 1. the plan first: reword the first sub-heading; each sub-heading shows its budget
            with_plan.click(page.get_by_role("button", name="先看提纲"))
            heading_box = page.get_by_role("textbox", name="小标题").first
            # The first plan also builds the example index (a minute or two on 2 cores).
            expect(heading_box).to_be_visible(timeout=600_000)
            expect(page.get_by_text(re.compile(r"^约\d+字$")).first).to_be_visible()
            with_plan.type(heading_box, HEADING)
            with_plan.press(heading_box, "Enter")
            expect(page.get_by_text("${")).to_have_count(0)
            _wait_until(lambda: HEADING in json.dumps(store.load_plan(sid), ensure_ascii=False),
                        "the edited heading saved")
            _shot(page, "01-plan-edited")

            # 2. a reload keeps the edited plan (it is saved with the document)
            page.goto(session_url)
            heading_box = page.get_by_role("textbox", name="小标题").first
            expect(heading_box).to_have_value(HEADING, timeout=120_000)
            saved_items = [it for part in store.load_plan(sid)["plan"]["parts"] for it in part["items"]]
            assert (saved_items[0]["heading"], saved_items[0]["heading_source"]) == (HEADING, "user")
            _shot(page, "02-plan-after-reload")

            # 3. drafting follows the plan: the version being written is on the page
            draft_button = sidebar.get_by_role("button", name="起草", exact=True)
            effort.click(draft_button)
            partial = page.locator(".gw-doc.gw-partial")
            expect(partial).to_contain_text("肺结核", timeout=300_000)
            expect(page.get_by_text("写作中").first).to_be_visible()
            _shot(page, "03-drafting")

            # 4. a second 起草 while drafting is refused, the first goes on
            draft_button.click()
            expect(page.get_by_text("第1版正在写作中").first).to_be_visible()
            _shot(page, "04-second-draft-refused")
            assert [v.version for v in store.drafts(sid)] == [1]

            # 5. reload while drafting: the partial version and its state are back
            page.goto(session_url)
            expect(page.locator(".gw-doc.gw-partial")).to_contain_text("肺结核", timeout=120_000)
            expect(page.get_by_text("写作中").first).to_be_visible()
            _shot(page, "05-reload-while-drafting")

            # 6. stop: only what the drafter finished and checked stays (not the paragraph half
            # streamed), with 继续起草
            page.get_by_role("button", name="停止").click()
            expect(page.get_by_text("已停止").first).to_be_visible()
            resume = page.get_by_role("button", name="继续起草")
            expect(resume).to_be_visible()
            stopped = store.drafts(sid)[-1]
            assert stopped.status == "stopped" and "肺结核" not in stopped.text
            expect(page.locator(".gw-doc").first).not_to_contain_text("肺结核")
            _shot(page, "06-stopped")

            # 7. continue to the end, with the edited plan; the short draft says so
            resume.click()
            expect(page.get_by_text("评估未通过").or_(page.get_by_text("评估通过")).first
                   ).to_be_visible(timeout=300_000)
            expect(page.locator(".gw-doc").first).to_contain_text("全年网络直报法定传染病11类1247例")
            v1 = store.drafts(sid)[-1]
            assert (v1.version, v1.status) == (1, "done")
            assert f"（一）{HEADING}。" in v1.text, v1.text
            n1 = written_len(v1.text)
            expect(page.get_by_text(f"未达字数 {n1:,}/600 字").first).to_be_visible()
            expect(page.get_by_text("调低目标字数").first).to_be_visible()
            expect(page.get_by_text("${")).to_have_count(0)
            _shot(page, "07-draft-done-short")

            # 8. 补充材料: each 【待补充】 place answered in a few words; only that paragraph changes
            facts_box = sidebar.get_by_role("textbox", name="事实材料（每行一条）")
            before = v1
            for n, (where, answer, _paragraph) in enumerate(ANSWERS):
                box = page.get_by_role("textbox", name=re.compile(re.escape(where)))
                expect(box).to_have_count(1)
                effort.type(box, answer)
                effort.press(box, "Enter")
                row = page.locator('[data-testid="stHorizontalBlock"]').filter(has=box).last
                effort.click(row.get_by_role("button", name="补充", exact=True))
                expect(page.get_by_text(f"第{n + 2}版 · 补充材料").first).to_be_visible(timeout=300_000)
                _wait_until(lambda: store.drafts(sid)[-1].status == "done", "the 补充材料 version finished")
                after = store.drafts(sid)[-1]
                assert (after.version, after.kind, after.instruction) == (n + 2, "fill", answer)
                changed = [line for line in _lines(after.text) if line not in _lines(before.text)]
                assert len(changed) == 1 and answer in changed[0], changed
                assert [x for x in _lines(before.text) if x in _lines(after.text)] == \
                    [x for x in _lines(after.text) if x != changed[0]]       # every other paragraph as it was
                assert after.request["facts"][-1] == answer
                expect(facts_box).to_have_value(re.compile(re.escape(answer)))
                if n == 0:
                    expect(page.locator(".gw-doc:not(.gw-diff)").last).to_contain_text(answer)
                    _shot(page, "08-material-answered")
                if n + 1 < len(ANSWERS):   # the new version's places, not the ones shown before it
                    expect(page.get_by_text(f"补充材料（{len(ANSWERS) - n - 1} 处待补充）")).to_be_visible()
                before = after
            in_range = before
            n_range = _chars(in_range.text)
            assert 600 <= n_range <= 1000, in_range.text
            assert "【待补充" not in in_range.text

            # 9. the elaboration is highlighted and labelled; the Word file (标亮) is the end of the way
            newest = page.locator(".gw-doc:not(.gw-diff)").last
            from rag.document import elaboration_texts
            from ui.versioning import blocks_of, droppable, version_facts
            to_confirm = elaboration_texts(blocks_of(in_range))
            # what 删除 can take out: a span that says a fact word for word (her answer among them) stays
            can_go = droppable(blocks_of(in_range), version_facts(in_range))
            held = [t for t in to_confirm if t not in can_go]
            assert to_confirm and can_go, in_range.detail["sentences"]
            expect(newest.locator("sup.gw-elab-tag")).to_have_count(len(to_confirm))
            expect(newest.locator("sup.gw-elab-tag").first).to_have_text("扩写1")
            expect(page.get_by_text(f"扩写待确认 {len(to_confirm)} 句").first).to_be_visible()
            _shot(page, "09-in-range-elaboration-highlighted")
            name, paragraphs, green = _download_word(page, tmp_path, effort)
            assert name.endswith(f"-第{in_range.version}版.docx") and any("培训186人次" in t for t in paragraphs)
            assert all(t in green for t in to_confirm) and "1247例" not in green
            record = {"from pasted facts to a downloaded Word file in range": asdict(effort),
                      "editing one sub-heading of the plan adds": asdict(with_plan),
                      "first draft characters": n1, "range": [600, 1000],
                      "places answered (补充材料)": len(ANSWERS),
                      "characters typed in answers": sum(len(a) for _, a, _p in ANSWERS),
                      "draft characters at the download": n_range,
                      "elaboration sentences to confirm at the download": len(to_confirm)}
            (ARTIFACTS / "e2e-effort.json").write_text(json.dumps(record, ensure_ascii=False, indent=1))
            print("effort:", json.dumps(record, ensure_ascii=False))

            # 10. 不导出: the same version's Word file without the unconfirmed elaboration
            page.get_by_text("不导出", exact=True).click()
            page.wait_for_timeout(1500)
            _name, paragraphs, green = _download_word(page, tmp_path)
            body = "".join(paragraphs)
            assert not green and not any(t.rstrip("，。；") in body for t in can_go)
            assert all(t.rstrip("，。；") in body for t in held) and "培训186人次" in body and "1247例" in body
            page.get_by_text("标亮", exact=True).click()

            # 11. one elaboration deleted (a new version), then all the rest (the same version)
            first = can_go[0]
            page.get_by_role("button", name="删除", exact=True).nth(to_confirm.index(first)).click()
            expect(page.get_by_text(f"第{in_range.version + 1}版 · 删除扩写").first).to_be_visible(timeout=120_000)
            dropped = store.drafts(sid)[-1]
            assert dropped.kind == "drop" and first not in dropped.text
            assert all(t in dropped.text for t in to_confirm if t != first) and "培训186人次" in dropped.text
            newest = page.locator(".gw-doc:not(.gw-diff)").last
            expect(newest.locator("sup.gw-elab-tag")).to_have_count(len(to_confirm) - 1)
            _shot(page, "10-one-elaboration-deleted")
            page.get_by_role("button", name="删除全部未确认的扩写").click()
            expect(page.get_by_text(f"第{dropped.version}版删除了全部").first).to_be_visible(timeout=120_000)
            expect(page.locator(".gw-doc:not(.gw-diff)").last.locator("sup.gw-elab-tag")).to_have_count(len(held))
            cleared = store.drafts(sid)[-1]
            assert cleared.id == dropped.id and not any(t in cleared.text for t in can_go)
            assert all(t in cleared.text for t in held)
            assert all(a in cleared.text for _, a, _p in ANSWERS) and "1247例" in cleared.text
            assert store.draft(in_range.id).text == in_range.text          # the text before it is kept
            _shot(page, "11-elaboration-deleted")

            # 12. a figure of her own in a hand edit: no 严重 finding, and a repair keeps it
            edit = page.get_by_text("直接修改这一版")
            expect(edit).to_have_count(1)  # the page has settled: one working version
            edit.click()
            box = page.locator('[data-testid="stTextArea"] textarea').last
            lines = box.input_value().split("\n")
            at = next(i for i, line in enumerate(lines) if line.startswith("（二）"))
            lines[at] += TYPED
            box.fill("\n".join(lines))
            box.press("Control+Enter")
            page.get_by_role("button", name="保存为新版本（手工修改）并重新检查").click()
            edited_n = cleared.version + 1
            expect(page.get_by_text(f"第{edited_n}版 · 手工修改").first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("已保存并重新检查").first).to_be_visible()
            expect(page.locator(".gw-doc:not(.gw-diff)").last).to_contain_text("86万元")
            edited = store.drafts(sid)[-1]
            assert edited.kind == "edit" and TYPED in edited.text
            assert any(x["origin"] == "user" and "86万元" in x["text"] for x in edited.detail["sentences"])
            severe = [x for x in edited.evaluation["violations"] if x["severity"] in ("blocker", "major")]
            assert not any("86" in (x.get("evidence") or "") + x["message"] for x in severe), severe
            _shot(page, "12-hand-edit-own-figure")
            repair = page.get_by_role("button", name="按评估意见修复")
            if edited.evaluation["violations"]:
                expect(repair).to_be_enabled()
                repair.click()
                expect(page.get_by_text("稿件没有变化，未生成新版本").or_(page.get_by_text(f"第{edited_n + 1}版 · 修复"))
                       .first).to_be_visible(timeout=300_000)
                _wait_until(lambda: store.drafts(sid)[-1].status == "done", "the repair finished")
            else:
                # nothing to repair: the button says so by being off (the drafting-layer test
                # tests/test_clerk_loop.py covers a repair that runs over her figure)
                expect(repair).to_be_disabled()
            assert TYPED in store.draft(store.current_draft_id(sid)).text
            _shot(page, "13-repair-keeps-her-figure")

            # 13. a revision of (一) whose reply drops a fact: the fact goes back into (一), no part
            # twice, the rest word for word
            base = store.draft(store.current_draft_id(sid))
            chat = page.get_by_role("textbox", name="提出修改意见")
            chat.fill("（一）再精炼一些")
            chat.press("Enter")
            expect(page.get_by_text(f"第{base.version + 1}版 · 修改").first).to_be_visible(timeout=300_000)
            expect(page.get_by_text("其余部分一字未动").first).to_be_visible(timeout=300_000)
            revised = store.drafts(sid)[-1]
            new_lines = _lines(revised.text)
            assert [x[:3] for x in new_lines if x[:3] in ("（一）", "（二）")] == ["（一）", "（二）"], revised.text
            first = next(x for x in new_lines if x.startswith("（一）"))
            assert "新建规范化预防接种门诊3个" in first and "1247例" not in first   # own fact back, not (二)'s
            assert [x for x in _lines(base.text) if not x.startswith("（一）")] == \
                [x for x in new_lines if not x.startswith("（一）")]
            _shot(page, "14-revision-keeps-every-part-once")

            # the comparison starts at the latest two versions
            page.get_by_text("版本对比").click()
            expect(page.locator(".gw-diff")).to_be_visible()
            _shot(page, "15-compare")

            # 14. 恢复此版本: the first version is current again (no copy) and is what downloads
            count = len(store.drafts(sid))
            page.get_by_text("展开查看这一版").first.click()
            restore = page.get_by_role("button", name="恢复此版本").first
            expect(restore).to_be_visible()
            expect(restore).to_be_enabled()
            restore.click()
            expect(page.get_by_text("已恢复第1版为当前版本").first).to_be_visible()
            assert store.current_draft_id(sid) == v1.id and len(store.drafts(sid)) == count
            expect(page.get_by_text("当前版本", exact=True).first).to_be_visible()
            name, paragraphs, _green = _download_word(page, tmp_path)
            assert name.endswith("-第1版.docx")
            assert any("1247例" in t for t in paragraphs) and not any("培训186人次" in t for t in paragraphs)
            _shot(page, "16-restored")

            # 15. 新建文稿 keeps unit and year; 我的文稿 tells the two apart and reopens the first
            sidebar.get_by_role("button", name="新建文稿").click()
            page.wait_for_url(lambda u: "s=" in u and sid not in u)
            expect(sidebar.get_by_role("textbox", name="单位名称")).to_have_value("云岭县卫生健康局")
            expect(sidebar.get_by_role("textbox", name="事实材料（每行一条）")).to_have_value("")
            page.get_by_role("tab", name="我的文稿").click()
            title = f"云岭县卫生健康局{v1.request['year']}年工作总结"
            expect(page.get_by_text(f"{title}（2）").first).to_be_visible()
            expect(page.get_by_text(re.compile("创建于")).first).to_be_visible()
            # the innermost block holding this 文稿's line and its 打开 button
            card = page.locator('[data-testid="stVerticalBlock"]').filter(
                has_text=title).filter(has_text=f"{count} 个版本").filter(
                has=page.get_by_role("button", name="打开")).last
            expect(card).to_be_visible()
            _shot(page, "17-my-documents")
            card.get_by_role("button", name="打开").click()
            page.wait_for_url(f"**s={sid}")
            page.get_by_role("tab", name="当前文稿").click()
            expect(page.get_by_text(f"第{revised.version}版 · 修改").first).to_be_visible()
            pasted = "\n".join(f"{i}.\t{f}" for i, f in enumerate(FACTS, 1))
            expect(sidebar.get_by_role("textbox", name="事实材料（每行一条）")).to_have_value(
                "\n".join([pasted] + [a for _, a, _p in ANSWERS]) + "\n")

            # 14. the example library, in Chinese only
            page.get_by_role("tab", name="范文库").click()
            expect(page.get_by_text("内置范文").first).to_be_visible()
            visible = page.locator("section.stMain, [data-testid='stMain']").first.inner_text()
            for word in ENGLISH_WIDGET_TEXT:
                assert word not in visible, word
            _shot(page, "18-library")
        except Exception:
            _shot(page, "failure")
            print(app_log.read_text(errors="replace")[-4000:])
            raise
        finally:
            browser.close()
    assert "Traceback" not in app_log.read_text(errors="replace")
