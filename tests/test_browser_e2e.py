"""End to end in a real browser: `streamlit run app.py` and the scripted OpenAI-protocol server
as separate processes, Debian's Chromium driven by Playwright.

A person fills in the request, drafts, reads the evaluation, runs a repair, downloads the .docx,
reloads the page and finds the work still there. The finished page is saved as
test-artifacts/e2e-final.png.
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
# Outline JSON → one paragraph per sub-heading → repairs keep the text (it stays too short,
# so the evaluation keeps a length finding and the repair button stays useful).
SCRIPT = {
    "repeat_last": True,
    "models": ["stub-model"],
    "steps": [{
        "when": [
            ["拟定", {"reply": json.dumps({"items": [
                {"heading": "免疫规划工作扎实推进", "facts": [1, 2]},
                {"heading": "重大疾病防控成效明显", "facts": [3, 4]}]}, ensure_ascii=False)}],
            ["检查发现了问题", {"reply": PARAGRAPH, "chunk_chars": 6}],
            ["修改意见", {"reply": PARAGRAPH, "chunk_chars": 6}],
            ["写开头段", {"reply": "今年以来，我局在县委、县政府的正确领导下，扎实推进各项工作，现将有关情况总结如下：",
                      "chunk_chars": 6}],
        ],
        "otherwise": {"reply": "完成肺结核患者筛查4.6万人，新发现患者92例；新建标准化预防接种门诊3个"
                               "（城关镇、石桥镇、龙口乡），群众接种更加便捷。", "chunk_chars": 6},
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


@pytest.mark.skipif(CHROMIUM is None, reason="未安装 Chromium（make test 会用 scripts/test-system-deps.sh 安装）")
def test_draft_repair_download_reload(servers, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, app_log = servers
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=LAUNCH_ARGS, accept_downloads=True, viewport={"width": 1440, "height": 1000},
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

            sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="起草部分").click()
            page.get_by_role("option", name="主要工作及成效").click()
            sidebar.get_by_role("textbox", name="单位名称").fill("青山县卫生健康局")
            sidebar.get_by_role("textbox", name="单位名称").press("Enter")
            facts = sidebar.get_by_role("textbox", name="事实材料（每行一条）")
            facts.fill("\n".join(f"{i}.\t{f}" for i, f in enumerate(FACTS, 1)))
            sidebar.get_by_role("textbox", name="单位名称").click()  # leaving the box commits it
            expect(sidebar.get_by_text("已识别 4 条事实")).to_be_visible()

            sidebar.get_by_role("button", name="起草", exact=True).click()
            # The first draft also builds the example index (a minute or two on 2 cores).
            expect(page.get_by_text("评估未通过").or_(page.get_by_text("评估通过")).first
                   ).to_be_visible(timeout=600_000)
            doc = page.locator(".gw-doc").first
            expect(doc).to_contain_text("全年报告法定传染病12类1386例")
            expect(page.get_by_text("第1版 · 起草").first).to_be_visible()

            repair = page.get_by_role("button", name="按评估意见修复")
            expect(repair).to_be_enabled()
            repair.click()
            expect(page.get_by_text("第2版 · 修复").first).to_be_visible(timeout=300_000)
            # Until the rerun ends, Streamlit keeps the first version's stale buttons on the page
            # beside the new ones; the page settles with one set, under the working version.
            download_word = page.get_by_role("button", name="下载 Word")
            expect(download_word).to_have_count(1)
            expect(download_word).to_be_visible()

            with page.expect_download() as download_info:
                download_word.click()
            download = download_info.value
            assert download.suggested_filename.endswith("-第2版.docx")
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            paragraphs = [para.text for para in docx.Document(str(saved)).paragraphs]
            assert any("1386例" in t for t in paragraphs), paragraphs

            page.goto(session_url)
            expect(page.get_by_text("第2版 · 修复").first).to_be_visible(timeout=120_000)
            expect(page.locator(".gw-doc").first).to_contain_text("1386例")
            expect(sidebar.get_by_role("textbox", name="单位名称")).to_have_value("青山县卫生健康局")
            page.get_by_text("版本对比").click()
            expect(page.locator(".gw-diff")).to_be_visible()
            # Tall enough to show the whole page (Streamlit scrolls inside its own container).
            page.set_viewport_size({"width": 1440, "height": 3200})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "e2e-final.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "e2e-failure.png"), full_page=True)
            print(app_log.read_text(errors="replace")[-4000:])
            raise
        finally:
            browser.close()
    assert "Traceback" not in app_log.read_text(errors="replace")
