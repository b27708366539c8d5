"""End to end in a real browser: `streamlit run app.py` and the scripted OpenAI-protocol server
as separate processes, Debian's Chromium driven by Playwright.

A clerk fills in the request and drafts; while the draft is written she clicks 起草 again
(refused), reloads the page (the partial version is there, 写作中), stops it (what was written
stays), continues it to the end; asks for a repair that changes nothing (said, no version), a
revision of the first part only (the second part stays word for word), edits the text by hand
(re-checked, and the Word file carries the edit), starts a 新建文稿 (unit and year kept) and
reopens the first one from 我的文稿. Each state is saved as test-artifacts/e2e-NN-*.png.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docx
import pytest

from rag.config import PROJECT_ROOT
from rag.sessions import SessionStore

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FACTS = [
    "全县适龄儿童国家免疫规划疫苗接种率保持在95%以上",
    "全年报告法定传染病12类1386例，报告及时率100%",
    "完成肺结核患者筛查4.6万人，新发现患者92例",
    "新建标准化预防接种门诊3个（城关镇、石桥镇、龙口乡）",
]
PARAGRAPH = ("我局坚持预防为主、防治结合，全县适龄儿童国家免疫规划疫苗接种率保持在95%以上，"
             "全年报告法定传染病12类1386例，报告及时率100%。")
SECOND = ("完成肺结核患者筛查4.6万人，新发现患者92例；新建标准化预防接种门诊3个"
          "（城关镇、石桥镇、龙口乡），群众接种更加便捷。")
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


@pytest.mark.skipif(CHROMIUM is None, reason="未安装 Chromium（make test 会用 scripts/test-system-deps.sh 安装）")
def test_a_clerks_day(servers, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, app_log = servers
    store = SessionStore(tmp_path / "data" / "sessions.sqlite")
    ARTIFACTS.mkdir(exist_ok=True)
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

            sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="起草部分").click()
            page.get_by_role("option", name="主要工作及成效").click()
            sidebar.get_by_role("textbox", name="单位名称").fill("青山县卫生健康局")
            sidebar.get_by_role("textbox", name="单位名称").press("Enter")
            facts = sidebar.get_by_role("textbox", name="事实材料（每行一条）")
            facts.fill("\n".join(f"{i}.\t{f}" for i, f in enumerate(FACTS, 1)))
            sidebar.get_by_role("textbox", name="单位名称").click()  # leaving the box commits it
            expect(sidebar.get_by_text("已识别 4 条事实")).to_be_visible()

            # 1. drafting: the version being written is on the page
            draft_button = sidebar.get_by_role("button", name="起草", exact=True)
            draft_button.click()
            # The first draft also builds the example index (a minute or two on 2 cores).
            partial = page.locator(".gw-doc.gw-partial")
            expect(partial).to_contain_text("肺结核", timeout=600_000)
            expect(page.get_by_text("写作中").first).to_be_visible()
            _shot(page, "01-drafting")

            # 2. a second 起草 while drafting is refused, the first goes on
            draft_button.click()
            expect(page.get_by_text("第1版正在写作中").first).to_be_visible()
            _shot(page, "02-second-draft-refused")
            assert [v.version for v in store.drafts(sid)] == [1]

            # 3. reload while drafting: the partial version and its state are back
            page.goto(session_url)
            expect(page.locator(".gw-doc.gw-partial")).to_contain_text("肺结核", timeout=120_000)
            expect(page.get_by_text("写作中").first).to_be_visible()
            _shot(page, "03-reload-while-drafting")

            # 4. stop: what was written stays, with 继续起草
            page.get_by_role("button", name="停止").click()
            expect(page.get_by_text("已停止").first).to_be_visible()
            resume = page.get_by_role("button", name="继续起草")
            expect(resume).to_be_visible()
            stopped = store.drafts(sid)[-1]
            assert stopped.status == "stopped" and stopped.text
            _shot(page, "04-stopped")

            # 5. continue to the end
            resume.click()
            expect(page.get_by_text("评估未通过").or_(page.get_by_text("评估通过")).first
                   ).to_be_visible(timeout=300_000)
            expect(page.locator(".gw-doc").first).to_contain_text("全年报告法定传染病12类1386例")
            v1 = store.drafts(sid)[-1]
            assert (v1.version, v1.status) == (1, "done")
            _shot(page, "05-draft-done")

            # 6. a repair that changes nothing says so and makes no version
            repair = page.get_by_role("button", name="按评估意见修复")
            expect(repair).to_be_enabled()
            repair.click()
            expect(page.get_by_text("稿件没有变化，未生成新版本").first).to_be_visible(timeout=300_000)
            expect(page.get_by_role("button", name="按评估意见修复")).to_be_disabled()
            assert [v.version for v in store.drafts(sid)] == [1]
            _shot(page, "06-repair-changed-nothing")

            # 7. a revision aimed at the first part leaves the second word for word
            chat = page.get_by_role("textbox", name="提出修改意见")
            chat.fill("第一部分再精炼一些")
            chat.press("Enter")
            expect(page.get_by_text("第2版 · 修改").first).to_be_visible(timeout=300_000)
            expect(page.get_by_text("其余部分一字未动").first).to_be_visible()
            v2 = store.drafts(sid)[-1]
            second_old = next(line for line in v1.text.split("\n") if line.startswith("（二）"))
            assert second_old in v2.text.split("\n"), v2.text
            assert v2.text != v1.text
            _shot(page, "07-targeted-revision")

            # 8. a hand edit: a new version marked 手工修改, checked again, in the Word file
            edit = page.get_by_text("直接修改这一版")
            expect(edit).to_have_count(1)  # the page has settled: one working version
            edit.click()
            box = page.locator('[data-testid="stTextArea"] textarea').last
            edited = box.input_value().replace("新发现患者92例", "新发现患者92例，均已纳入规范治疗")
            box.fill(edited)
            box.press("Control+Enter")
            page.get_by_role("button", name="保存为新版本（手工修改）并重新检查").click()
            expect(page.get_by_text("第3版 · 手工修改").first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("已保存并重新检查").first).to_be_visible()
            newest_doc = page.locator(".gw-doc:not(.gw-diff)").last  # earlier versions sit above it
            expect(newest_doc).to_contain_text("均已纳入规范治疗")
            v3 = store.drafts(sid)[-1]
            assert v3.kind == "edit" and v3.evaluation is not None
            download_word = page.get_by_role("button", name="下载 Word")
            expect(download_word).to_have_count(1)
            with page.expect_download() as download_info:
                download_word.click()
            download = download_info.value
            assert download.suggested_filename.endswith("-第3版.docx")
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            paragraphs = [para.text for para in docx.Document(str(saved)).paragraphs]
            assert any("均已纳入规范治疗" in t for t in paragraphs), paragraphs
            expect(page.frame_locator("iframe").first.get_by_role("button", name="复制全文")).to_be_visible()
            _shot(page, "08-hand-edit")

            # the comparison starts at the latest two versions
            page.get_by_text("版本对比").click()
            expect(page.locator(".gw-diff")).to_be_visible()
            expect(page.get_by_text("第2版 · 修改").first).to_be_visible()
            _shot(page, "09-compare")

            # 9. 新建文稿 keeps unit and year; 我的文稿 reopens the first one
            sidebar.get_by_role("button", name="新建文稿").click()
            page.wait_for_url(lambda u: "s=" in u and sid not in u)
            expect(sidebar.get_by_role("textbox", name="单位名称")).to_have_value("青山县卫生健康局")
            expect(sidebar.get_by_role("textbox", name="事实材料（每行一条）")).to_have_value("")
            page.get_by_role("tab", name="我的文稿").click()
            # the innermost block holding this 文稿's line and its 打开 button
            card = page.locator('[data-testid="stVerticalBlock"]').filter(
                has_text="青山县卫生健康局").filter(has_text="工作总结（主要工作及成效）").filter(
                has_text="3 个版本").filter(has=page.get_by_role("button", name="打开")).last
            expect(card).to_be_visible()
            _shot(page, "10-my-documents")
            card.get_by_role("button", name="打开").click()
            page.wait_for_url(f"**s={sid}")
            page.get_by_role("tab", name="当前文稿").click()
            expect(page.get_by_text("第3版 · 手工修改").first).to_be_visible()
            expect(sidebar.get_by_role("textbox", name="事实材料（每行一条）")).to_have_value(
                "\n".join(f"{i}.\t{f}" for i, f in enumerate(FACTS, 1)))

            # 10. the example library, in Chinese only
            page.get_by_role("tab", name="范文库").click()
            expect(page.get_by_text("内置范文").first).to_be_visible()
            visible = page.locator("section.stMain, [data-testid='stMain']").first.inner_text()
            for word in ENGLISH_WIDGET_TEXT:
                assert word not in visible, word
            _shot(page, "11-library")
        except Exception:
            _shot(page, "failure")
            print(app_log.read_text(errors="replace")[-4000:])
            raise
        finally:
            browser.close()
    assert "Traceback" not in app_log.read_text(errors="replace")
