"""Export: .docx laid out per GB/T 9704-2012, Markdown, plain text.

The .docx is reopened with python-docx and its XML read back; when LibreOffice is installed
it is also rendered to PDF and the page size, the 22 × 28 grid and the page numbers at the
outer edge are checked on paper.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from rag.export import (CHARS_PER_LINE, LINES_PER_PAGE, STYLE_NAMES, export_docx, export_markdown,
                        export_text, parse_draft)

DRAFT = """青山县卫生健康局2024年工作总结
2024年，在县委、县政府的正确领导下，我局紧紧围绕健康青山建设目标，现将有关情况总结如下：
一、主要工作及成效
（一）免疫规划扎实推进。全县适龄儿童国家免疫规划疫苗接种率保持在95%以上。
1.加强接种门诊建设。新建标准化预防接种门诊3个。
（1）城关镇门诊。已投入使用。
二、存在问题
基层人员力量仍显薄弱。
2024年12月20日"""


def _open(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def _east_asia(run, paragraph) -> str | None:
    """The run's effective East-Asian font: run → paragraph style chain → None."""
    rfonts = run._r.rPr.rFonts if run._r.rPr is not None else None
    if rfonts is not None and rfonts.get(qn("w:eastAsia")):
        return rfonts.get(qn("w:eastAsia"))
    style = paragraph.style
    while style is not None:
        rpr = style.element.rPr
        if rpr is not None and rpr.rFonts is not None and rpr.rFonts.get(qn("w:eastAsia")):
            return rpr.rFonts.get(qn("w:eastAsia"))
        style = style.base_style
    return None


def _size(run, paragraph):
    if run.font.size is not None:
        return run.font.size
    style = paragraph.style
    while style is not None:
        if style.font.size is not None:
            return style.font.size
        style = style.base_style
    return None


def _by_text(document, start: str):
    return next(p for p in document.paragraphs if p.text.startswith(start))


def test_page_setup_is_a4_with_gb_margins():
    section = _open(export_docx(DRAFT)).sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(0.1)
    assert abs(section.page_height - Mm(297)) < Mm(0.1)
    for got, want in ((section.top_margin, 37), (section.bottom_margin, 35),
                      (section.left_margin, 28), (section.right_margin, 26)):
        assert abs(got - Mm(want)) < Mm(0.1)


def test_line_grid_gives_22_lines_per_page():
    document = _open(export_docx(DRAFT))
    normal = document.styles["Normal"].paragraph_format
    assert normal.line_spacing_rule == WD_LINE_SPACING.EXACTLY
    text_height_pt = (297 - 37 - 35) * 72 / 25.4
    assert normal.line_spacing.pt * 22 <= text_height_pt < normal.line_spacing.pt * 23
    assert normal.line_spacing.pt == pytest.approx(28.95, abs=0.05)
    grid = document.sections[0]._sectPr.find(qn("w:docGrid"))
    assert int(grid.get(qn("w:linePitch"))) == round(normal.line_spacing.pt * 20)
    # 28 characters per line: 156 mm text width, 16 pt characters condensed to fit.
    spacing = document.styles["Normal"].element.rPr.find(qn("w:spacing"))
    char_pt = 16 + int(spacing.get(qn("w:val"))) / 20
    text_width_pt = (210 - 28 - 26) * 72 / 25.4
    assert char_pt * 28 <= text_width_pt < char_pt * 29


def test_title_centred_not_bold_22pt_xiaobiaosong():
    document = _open(export_docx(DRAFT))
    title = document.paragraphs[0]
    assert title.text == "青山县卫生健康局2024年工作总结"
    assert title.style.name == STYLE_NAMES["title"]
    assert title.style.paragraph_format.alignment == WD_ALIGN_PARAGRAPH.CENTER
    run = title.runs[0]
    assert not run.bold and not title.style.font.bold
    assert _size(run, title) == Pt(22)
    assert _east_asia(run, title) == "方正小标宋简体"
    assert document.paragraphs[1].text == ""  # blank line under the title


def test_body_fangsong_16pt_two_char_indent():
    document = _open(export_docx(DRAFT))
    body = _by_text(document, "2024年，在县委")
    assert body.style.name == "Normal"
    assert _east_asia(body.runs[0], body) == "仿宋_GB2312"
    assert _size(body.runs[0], body) == Pt(16)
    normal_pf = document.styles["Normal"].paragraph_format
    assert normal_pf.first_line_indent == Pt(32)
    ind = document.styles["Normal"].element.pPr.find(qn("w:ind"))
    assert ind.get(qn("w:firstLineChars")) == "200"
    rfonts = document.styles["Normal"].element.rPr.rFonts
    assert rfonts.get(qn("w:eastAsiaTheme")) is None  # a theme font would override the name


def test_verify_mark_is_highlighted():
    document = _open(export_docx("一、主要工作\n（一）推进医共体。县域内就诊率达到【待核实】，下派医师【待核实：人数】。"
                                 "【待补充：该项工作的具体做法和成效】"))
    body = _by_text(document, "（一）推进医共体")
    marked = [r.text for r in body.runs if r.font.highlight_color == WD_COLOR_INDEX.YELLOW]
    assert marked == ["【待核实】", "【待核实：人数】", "【待补充：该项工作的具体做法和成效】"]
    assert body.text == ("（一）推进医共体。县域内就诊率达到【待核实】，下派医师【待核实：人数】。"
                         "【待补充：该项工作的具体做法和成效】")


@pytest.mark.parametrize("start, style_key, heading_font, body_font", [
    ("一、主要工作及成效", "h1", "黑体", None),
    ("（一）免疫规划扎实推进。", "h2", "楷体_GB2312", "仿宋_GB2312"),
    ("1.加强接种门诊建设。", "h3", "仿宋_GB2312", None),
    ("（1）城关镇门诊。", "h4", "仿宋_GB2312", None),
])
def test_heading_levels(start, style_key, heading_font, body_font):
    document = _open(export_docx(DRAFT))
    p = _by_text(document, start)
    assert p.style.name == STYLE_NAMES[style_key]
    assert _east_asia(p.runs[0], p) == heading_font
    assert _size(p.runs[0], p) == Pt(16)
    assert not p.runs[0].bold and not p.style.font.bold
    if body_font:  # run-in heading: the sentence after it is body text
        assert p.runs[0].text == start
        assert _east_asia(p.runs[1], p) == body_font
    outline = p.style.element.pPr.find(qn("w:outlineLvl"))
    assert outline.get(qn("w:val")) == str(["h1", "h2", "h3", "h4"].index(style_key))


def test_date_line_right_aligned():
    p = _by_text(_open(export_docx(DRAFT)), "2024年12月20日")
    assert p.alignment == WD_ALIGN_PARAGRAPH.RIGHT


def _page_number_runs(paragraph) -> None:
    assert "PAGE" in "".join(t.text for t in paragraph._p.iter(qn("w:instrText")))
    assert [f.get(qn("w:fldCharType")) for f in paragraph._p.iter(qn("w:fldChar"))] == \
        ["begin", "separate", "end"]
    assert paragraph.text.startswith("— ") and paragraph.text.endswith(" —"), paragraph._p.xml
    assert all(r.font.size == Pt(14) for r in paragraph.runs)


def test_footer_page_numbers_at_the_outer_edge_one_character_in():
    """GB/T 9704-2012 §7.5: 单页码居右空一字，双页码居左空一字; “— 1 —” in 4号."""
    document = _open(export_docx(DRAFT))
    assert document.settings.odd_and_even_pages_header_footer
    section = document.sections[0]
    odd = section.footer.paragraphs[0]
    even = section.even_page_footer.paragraphs[0]
    _page_number_runs(odd)
    _page_number_runs(even)
    assert odd.alignment == WD_ALIGN_PARAGRAPH.RIGHT and odd.paragraph_format.right_indent == Pt(14)
    assert even.alignment == WD_ALIGN_PARAGRAPH.LEFT and even.paragraph_format.left_indent == Pt(14)
    for p in (odd, even):
        assert p.paragraph_format.first_line_indent == Pt(0)


def test_font_table_names_fallbacks():
    data = export_docx(DRAFT)
    document = _open(data)
    font_part = next(rel.target_part for rel in document.part.rels.values()
                     if rel.reltype.endswith("/fontTable"))
    xml = font_part.blob.decode("utf-8")
    for name, alt in (("仿宋_GB2312", "仿宋"), ("楷体_GB2312", "楷体"), ("方正小标宋简体", "华文中宋"),
                      ("黑体", "SimHei")):
        assert f'w:name="{name}"' in xml
        assert f'<w:altName w:val="{alt}"/>' in xml


def test_common_font_set_uses_stock_names():
    document = _open(export_docx(DRAFT, font_set="common"))
    body = _by_text(document, "2024年，在县委")
    assert _east_asia(body.runs[0], body) == "仿宋"
    assert _east_asia(document.paragraphs[0].runs[0], document.paragraphs[0]) == "华文中宋"


def test_title_from_argument_when_draft_has_none():
    blocks = parse_draft("（一）免疫规划扎实推进。全县接种率95%以上。", title="主要工作及成效")
    assert [b.kind for b in blocks] == ["title", "h2"]
    assert blocks[0].text == "主要工作及成效"
    # A first line that is a sentence is body text, never a title.
    assert parse_draft("今年以来，我局扎实推进各项工作。\n一、主要工作")[0].kind == "para"


def test_salutation_flush_left_only_at_the_start():
    blocks = parse_draft("述职报告\n各位领导、各位同志：\n一年来，我认真履职。\n具体如下：")
    assert [b.kind for b in blocks] == ["title", "salutation", "para", "para"]


def test_markdown_and_text():
    md = export_markdown(DRAFT)
    assert md.startswith("# 青山县卫生健康局2024年工作总结\n\n")
    assert "\n## 一、主要工作及成效\n" in md
    assert "**（一）免疫规划扎实推进。**全县适龄儿童" in md
    txt = export_text(DRAFT)
    lines = txt.splitlines()
    assert lines[0] == "青山县卫生健康局2024年工作总结" and lines[1] == ""
    assert lines[2].startswith("\u3000\u30002024年")
    assert "\u3000\u3000（一）免疫规划扎实推进。全县适龄儿童" in txt
    # Every character of the draft survives in both (nothing dropped).
    body = "".join(DRAFT.split())
    assert "".join(txt.replace("\u3000", "").split()) == body


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
_PT_PER_MM = 72 / 25.4


def _assert_page_numbers_on_paper(pdf: Path, pages: int) -> None:
    """“— N —” under the text area: odd pages end one 14 pt character left of the right margin,
    even pages start one character right of the left margin."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    page_html = html.split("<page ")[1:]
    assert len(page_html) == pages
    text_bottom = (297 - 35) * _PT_PER_MM
    for n, body in enumerate(page_html, 1):
        footer = [(float(x0), float(y0), float(x1), word) for x0, y0, x1, _y1, word in _WORD.findall(body)
                  if float(y0) > text_bottom]
        assert [w for *_, w in footer] == ["—", str(n), "—"], footer
        left, right = footer[0][0], footer[-1][2]
        if n % 2:
            assert right == pytest.approx(210 * _PT_PER_MM - 26 * _PT_PER_MM - 14, abs=2.5), footer
        else:
            assert left == pytest.approx(28 * _PT_PER_MM + 14, abs=2.5), footer
        # its top about 7 mm below the text area (the glyph box starts a little under the line top)
        assert 5 * _PT_PER_MM < footer[1][1] - text_bottom < 10 * _PT_PER_MM, footer


def _libreoffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(_libreoffice() is None, reason="LibreOffice 未安装，跳过 PDF 排版检查")
def test_pdf_rendering_a4_22_lines_of_28_chars(tmp_path: Path):
    if shutil.which("pdfinfo") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils（pdfinfo/pdftotext）未安装，跳过 PDF 排版检查")
    # Three full pages of body text: 2 indent + 28 × 22 × 3 − 2 characters.
    per_page = LINES_PER_PAGE * CHARS_PER_LINE
    docx_path = tmp_path / "grid.docx"
    docx_path.write_bytes(export_docx("国" * (per_page * 3 - 2)))
    subprocess.run([_libreoffice(), "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(docx_path)],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "grid.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True,
                          text=True).stdout
    assert "Pages:           3" in info, info
    assert "595.3" in info and "841.89" in info  # A4 in points
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    lines = [ln for ln in text.splitlines() if "国" in ln]
    assert len(lines) == 3 * LINES_PER_PAGE
    assert all(len(ln) == CHARS_PER_LINE for ln in lines[1:]), {len(ln) for ln in lines}
    assert len(lines[0]) == CHARS_PER_LINE - 2  # first-line indent of two characters
    _assert_page_numbers_on_paper(pdf, pages=3)
    # One character more spills onto a fourth page: the grid is full, not loose.
    docx_path.write_bytes(export_docx("国" * (per_page * 3 - 1)))
    subprocess.run([_libreoffice(), "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(docx_path)],
                   check=True, capture_output=True, timeout=180)
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True,
                          text=True).stdout
    assert "Pages:           4" in info, info
