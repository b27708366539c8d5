"""End to end in a real browser: `streamlit run app.py` and the scripted OpenAI-protocol server
as separate processes, Debian's Chromium driven by Playwright.

A clerk fills in a whole 工作总结 and looks at the plan first; she rewords a sub-heading and
reloads the page (the edit is there), then drafts; while the draft is written she clicks 起草
again (refused), reloads the page (the partial version is there, 写作中), stops it (only the
finished, checked parts stay), continues it to the end (with her heading); the short draft says
未达字数; she downloads the Word file; asks for a repair that changes nothing (said, no version),
a revision of (一) only (the rest stays word for word), edits the text by hand (re-checked, and
the Word file carries the edit), makes the first version current again (恢复此版本, and its Word
file is the first version's), starts a 新建文稿 (unit and year kept; 我的文稿 tells the two
apart) and reopens the first one. Each state is saved as test-artifacts/e2e-NN-*.png; the clicks
and keys from pasted facts to the downloaded Word file go to test-artifacts/e2e-effort.json.
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

from rag.config import PROJECT_ROOT
from rag.sessions import SessionStore

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
# Headings → one paragraph per sub-heading, streamed slowly (two characters every 0.6 s) so the
# test can act while a draft is written; a repair answers with English (worse than the draft, so
# the draft is kept and nothing changes); a revision answers with one paragraph.
SCRIPT = {
    "repeat_last": True,
    "models": ["stub-model"],
    "steps": [{
        "when": [
            ["拟小标题", {"reply": json.dumps(["免疫规划工作扎实推进", "重大疾病防控成效明显"], ensure_ascii=False)}],
            ["检查发现了问题", {"reply": "Sorry, here is the revised text.", "chunk_chars": 6}],
            ["修改意见", {"reply": "（一）免疫规划工作扎实推进。" + PARAGRAPH, "chunk_chars": 6}],
        ],
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
HEADING = "健全接种服务网络"


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


def _download_word(page, tmp_path: Path, effort: "Effort | None" = None) -> tuple[str, list[str]]:
    """Click the one 下载 Word button on the page: (the file's name, its paragraphs)."""
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
    return download.suggested_filename, [para.text for para in docx.Document(str(saved)).paragraphs]


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
            n1 = len(re.sub(r"\s", "", v1.text))
            expect(page.get_by_text(f"未达字数 {n1:,}/600 字").first).to_be_visible()
            expect(page.get_by_text("调低目标字数").first).to_be_visible()
            expect(page.get_by_text("${")).to_have_count(0)
            _shot(page, "07-draft-done-short")

            # 8. the Word file of this version: the end of the clerk's way
            name, paragraphs = _download_word(page, tmp_path, effort)
            assert name.endswith("-第1版.docx") and any("1247例" in t for t in paragraphs)
            record = {"from pasted facts to a downloaded Word file": asdict(effort),
                      "editing one sub-heading of the plan adds": asdict(with_plan),
                      "draft characters": n1, "lower bound": 600,
                      "characters still to write to reach the range": max(0, 600 - n1)}
            (ARTIFACTS / "e2e-effort.json").write_text(json.dumps(record, ensure_ascii=False, indent=1))
            print("effort:", json.dumps(record, ensure_ascii=False))

            # 9. a repair that changes nothing says so and makes no version
            repair = page.get_by_role("button", name="按评估意见修复")
            expect(repair).to_be_enabled()
            repair.click()
            expect(page.get_by_text("稿件没有变化，未生成新版本").first).to_be_visible(timeout=300_000)
            expect(page.get_by_role("button", name="按评估意见修复")).to_be_disabled()
            assert [v.version for v in store.drafts(sid)] == [1]
            _shot(page, "08-repair-changed-nothing")

            # 10. a revision aimed at (一) leaves the rest word for word
            chat = page.get_by_role("textbox", name="提出修改意见")
            chat.fill("（一）再精炼一些")
            chat.press("Enter")
            expect(page.get_by_text("第2版 · 修改").first).to_be_visible(timeout=300_000)
            # the revised paragraph goes through the guards (rewrites at the slow scripted pace)
            expect(page.get_by_text("其余部分一字未动").first).to_be_visible(timeout=300_000)
            v2 = store.drafts(sid)[-1]
            second_old = next(line for line in v1.text.split("\n") if line.startswith("（二）"))
            assert second_old in v2.text.split("\n"), v2.text
            assert v2.text != v1.text
            _shot(page, "09-targeted-revision")

            # 11. a hand edit: a new version marked 手工修改, checked again, in the Word file
            edit = page.get_by_text("直接修改这一版")
            expect(edit).to_have_count(1)  # the page has settled: one working version
            edit.click()
            box = page.locator('[data-testid="stTextArea"] textarea').last
            edited = box.input_value().replace("新发现患者87例", "新发现患者87例，均已纳入规范治疗")
            box.fill(edited)
            box.press("Control+Enter")
            page.get_by_role("button", name="保存为新版本（手工修改）并重新检查").click()
            expect(page.get_by_text("第3版 · 手工修改").first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("已保存并重新检查").first).to_be_visible()
            newest_doc = page.locator(".gw-doc:not(.gw-diff)").last  # earlier versions sit above it
            expect(newest_doc).to_contain_text("均已纳入规范治疗")
            v3 = store.drafts(sid)[-1]
            assert v3.kind == "edit" and v3.evaluation is not None
            name, paragraphs = _download_word(page, tmp_path)
            assert name.endswith("-第3版.docx") and any("均已纳入规范治疗" in t for t in paragraphs), paragraphs
            expect(page.frame_locator("iframe").first.get_by_role("button", name="复制全文")).to_be_visible()
            _shot(page, "10-hand-edit")

            # the comparison starts at the latest two versions
            page.get_by_text("版本对比").click()
            expect(page.locator(".gw-diff")).to_be_visible()
            expect(page.get_by_text("第2版 · 修改").first).to_be_visible()
            _shot(page, "11-compare")

            # 12. 恢复此版本: the first version is current again (no copy) and is what downloads
            page.get_by_text("展开查看这一版").first.click()
            page.get_by_role("button", name="恢复此版本").first.click()
            expect(page.get_by_text("已恢复第1版为当前版本").first).to_be_visible()
            assert store.current_draft_id(sid) == v1.id and len(store.drafts(sid)) == 3
            expect(page.get_by_text("当前版本", exact=True).first).to_be_visible()
            name, paragraphs = _download_word(page, tmp_path)
            assert name.endswith("-第1版.docx")
            assert any("1247例" in t for t in paragraphs) and not any("均已纳入规范治疗" in t for t in paragraphs)
            _shot(page, "12-restored")

            # 13. 新建文稿 keeps unit and year; 我的文稿 tells the two apart and reopens the first
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
                has_text=title).filter(has_text="3 个版本").filter(
                has=page.get_by_role("button", name="打开")).last
            expect(card).to_be_visible()
            _shot(page, "13-my-documents")
            card.get_by_role("button", name="打开").click()
            page.wait_for_url(f"**s={sid}")
            page.get_by_role("tab", name="当前文稿").click()
            expect(page.get_by_text("第3版 · 手工修改").first).to_be_visible()
            expect(sidebar.get_by_role("textbox", name="事实材料（每行一条）")).to_have_value(
                "\n".join(f"{i}.\t{f}" for i, f in enumerate(FACTS, 1)))

            # 14. the example library, in Chinese only
            page.get_by_role("tab", name="范文库").click()
            expect(page.get_by_text("内置范文").first).to_be_visible()
            visible = page.locator("section.stMain, [data-testid='stMain']").first.inner_text()
            for word in ENGLISH_WIDGET_TEXT:
                assert word not in visible, word
            _shot(page, "14-library")
        except Exception:
            _shot(page, "failure")
            print(app_log.read_text(errors="replace")[-4000:])
            raise
        finally:
            browser.close()
    assert "Traceback" not in app_log.read_text(errors="replace")
