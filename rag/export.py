"""Export a draft as .docx (GB/T 9704-2012 layout), Markdown or plain text.

The .docx follows GB/T 9704-2012 for an ordinary printed report:
A4; margins top 37 mm, bottom 35 mm, left (binding) 28 mm, right 26 mm, so the text area
is 156 mm × 225 mm; title 2号 (22 pt) 方正小标宋简体 centred; body 3号 (16 pt) 仿宋_GB2312
with a two-character first-line indent; 22 lines of 28 characters per page; headings
一、 黑体, （一） 楷体_GB2312, 1. and （1） 仿宋_GB2312 at body size; page numbers
4号 (14 pt) as “— 1 —” at the outer edge (§7.5: “单页码居右空一字，双页码居左空一字”, the number
between two 一字线, their top 7 mm below the text area): odd pages right, even pages left, one
character (one 4号 character, 14 pt) in from the text area's edge.

Fonts. Government offices install the GB fonts (仿宋_GB2312, 楷体_GB2312, 方正小标宋简体);
a stock Windows or WPS install has 仿宋 / 楷体 / 黑体 / 宋体 instead. Runs name the GB font
in w:eastAsia (what a reviewer expects to see), and the font table gives each one an
alternate name (w:altName) and family hints, so Word and LibreOffice fall back to the
nearest stock face: 仿宋_GB2312 → 仿宋 (FangSong), 楷体_GB2312 → 楷体 (KaiTi),
方正小标宋简体 → 华文中宋 (STZhongsong; 宋体 where that is absent too), 黑体 → SimHei.
`font_set="common"` writes the stock names directly for users without the GB fonts.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import Literal

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, Twips
from lxml import etree

from rag.text import REMINDER_RE
from rag.headings import parse_heading

# --- Page geometry (GB/T 9704-2012 §5.2) -------------------------------------------------
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGIN_TOP_MM, MARGIN_BOTTOM_MM = 37, 35
MARGIN_LEFT_MM, MARGIN_RIGHT_MM = 28, 26
LINES_PER_PAGE, CHARS_PER_LINE = 22, 28
BODY_PT, TITLE_PT, PAGE_NUMBER_PT = 16, 22, 14

_PT_PER_MM = 72 / 25.4
TEXT_HEIGHT_PT = (PAGE_HEIGHT_MM - MARGIN_TOP_MM - MARGIN_BOTTOM_MM) * _PT_PER_MM  # 637.80 pt
TEXT_WIDTH_PT = (PAGE_WIDTH_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM) * _PT_PER_MM   # 442.20 pt
# 637.80 pt / 22 = 28.99 pt. Rounded *down* to whole twips (579 tw = 28.95 pt) so 22 lines
# always fit: 580 tw × 22 = 638 pt would overflow the 637.80 pt text area by 0.2 pt.
LINE_PITCH_TWIPS = int(TEXT_HEIGHT_PT * 20 / LINES_PER_PAGE)
# 442.20 pt / 28 = 15.79 pt per character: 3号 characters (16 pt) are condensed by
# 0.25 pt (w:spacing −5 twentieths), giving 28 × 15.75 = 441 pt ≤ 442.20 pt. Word's own
# character grid (docGrid linesAndChars + charSpace) would do the same in Word and WPS, but
# LibreOffice then gives every 16 pt character two 15.79 pt grid cells (14 per line).
CHAR_PITCH_PT = TEXT_WIDTH_PT / CHARS_PER_LINE
CHAR_CONDENSE_TWENTIETHS = math.floor((CHAR_PITCH_PT - BODY_PT) * 20)  # −4.1 → −5
# Page number: its top edge 7 mm below the text area (GB/T 9704 §7.5); the footer distance
# is measured from the page's bottom edge to the bottom of the footer line.
FOOTER_DISTANCE_MM = MARGIN_BOTTOM_MM - 7 - PAGE_NUMBER_PT / _PT_PER_MM

FontSet = Literal["gb", "common"]
FONT_SETS: dict[str, dict[str, str]] = {
    # role → East-Asian font name
    "gb": {"title": "方正小标宋简体", "body": "仿宋_GB2312", "h1": "黑体", "h2": "楷体_GB2312",
           "page": "宋体"},
    "common": {"title": "华文中宋", "body": "仿宋", "h1": "黑体", "h2": "楷体", "page": "宋体"},
}
LATIN_FONT = "Times New Roman"  # digits and Latin letters, as most provincial 公文 rules ask

# Font-table entries for fallback: name → (alternate name, panose, w:family, w:pitch).
_FONT_TABLE: dict[str, tuple[str, str, str]] = {
    "方正小标宋简体": ("华文中宋", "02000000000000000000", "script"),
    "华文中宋": ("宋体", "02010600040101010101", "auto"),
    "仿宋_GB2312": ("仿宋", "02010609030101010101", "modern"),
    "仿宋": ("FangSong", "02010609060101010101", "modern"),
    "楷体_GB2312": ("楷体", "02010609030101010101", "modern"),
    "楷体": ("KaiTi", "02010609060101010101", "modern"),
    "黑体": ("SimHei", "02010609060101010101", "modern"),
    "宋体": ("SimSun", "02010600030101010101", "auto"),
}

# --- Draft structure ---------------------------------------------------------------------
_SALUTATION = re.compile(r"^[^。；，]{2,30}：$")
_DATE_LINE = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$")
_TITLE_END = re.compile(r"[。；，：！？、]$")
_MARKUP = re.compile(r"^#{1,6}\s*|\*\*")
_SENTENCE_END = "。；！？"

BlockKind = Literal["title", "h1", "h2", "h3", "h4", "para", "salutation", "date"]


@dataclass
class Block:
    kind: BlockKind
    text: str
    heading: str = ""   # for h1/h2 written run-in: the heading sentence; `text` is the rest


def _split_run_in_heading(line: str) -> tuple[str, str]:
    """“（一）加强免疫规划。全县……” → ("（一）加强免疫规划。", "全县……")."""
    for i, ch in enumerate(line):
        if ch in _SENTENCE_END and i + 1 < len(line):
            return line[: i + 1], line[i + 1:]
    return line, ""


def heading_kind(line: str) -> BlockKind | None:
    """“一、” → h1, “（一）” → h2, “1.” → h3, “（1）” → h4 (variants such as “(一)” too), else None."""
    h = parse_heading(line)
    return f"h{h.rank}" if h and h.rank <= 4 else None  # type: ignore[return-value]


def looks_like_title(line: str) -> bool:
    return 0 < len(line) <= 40 and not _TITLE_END.search(line) and heading_kind(line) is None


def parse_draft(draft: str, title: str | None = None) -> list[Block]:
    """Lines of a draft → typed blocks. The first line is the title when it reads like one;
    otherwise `title` (if given) is used."""
    lines = [_MARKUP.sub("", ln).strip().strip("\u3000") for ln in draft.splitlines()]
    lines = [ln for ln in lines if ln]
    blocks: list[Block] = []
    if lines and looks_like_title(lines[0]) and len(lines) > 1:
        blocks.append(Block("title", lines.pop(0)))
    elif title:
        blocks.append(Block("title", title.strip()))
    for line in lines:
        kind = heading_kind(line)
        if kind in ("h1", "h2"):
            head, rest = _split_run_in_heading(line)
            blocks.append(Block(kind, rest, heading=head))
        elif kind:
            blocks.append(Block(kind, line))
        elif _SALUTATION.match(line) and all(b.kind == "title" for b in blocks):
            blocks.append(Block("salutation", line))
        elif _DATE_LINE.match(line):
            blocks.append(Block("date", line))
        else:
            blocks.append(Block("para", line))
    return blocks


# --- .docx ---------------------------------------------------------------------------------
# Paragraph styles: (style name, font role, size, outline level). Outline levels make the
# headings show in Word's navigation pane.
STYLE_NAMES = {"title": "公文标题", "h1": "公文一级标题", "h2": "公文二级标题",
               "h3": "公文三级标题", "h4": "公文四级标题"}
_STYLE_SPECS = {"title": ("title", TITLE_PT, None), "h1": ("h1", BODY_PT, 0),
                "h2": ("h2", BODY_PT, 1), "h3": ("body", BODY_PT, 2), "h4": ("body", BODY_PT, 3)}


def _set_east_asian_font(rpr_owner, east_asia: str) -> None:
    rfonts = rpr_owner.get_or_add_rPr().get_or_add_rFonts()
    for theme_attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(theme_attr), None)  # a theme font would override the names below
    rfonts.set(qn("w:ascii"), LATIN_FONT)
    rfonts.set(qn("w:hAnsi"), LATIN_FONT)
    rfonts.set(qn("w:eastAsia"), east_asia)


def _set_run_font(run, east_asia: str, size_pt: float) -> None:
    run.font.size = Pt(size_pt)
    _set_east_asian_font(run._r, east_asia)


def _set_doc_defaults(document, body_font: str) -> None:
    """Document defaults: 16 pt, Chinese language (line-breaking rules), no theme fonts,
    no paragraph spacing."""
    defaults = document.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    rfonts = rpr.find(qn("w:rFonts"))
    for attr in list(rfonts.attrib):
        del rfonts.attrib[attr]
    for attr, val in (("w:ascii", LATIN_FONT), ("w:hAnsi", LATIN_FONT), ("w:eastAsia", body_font),
                      ("w:cs", LATIN_FONT)):
        rfonts.set(qn(attr), val)
    for tag in ("w:sz", "w:szCs"):
        rpr.find(qn(tag)).set(qn("w:val"), str(BODY_PT * 2))
    lang = rpr.find(qn("w:lang"))
    lang.set(qn("w:eastAsia"), "zh-CN")
    spacing = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr")).find(qn("w:spacing"))
    spacing.set(qn("w:after"), "0")


_RPR_AFTER_SPACING = ("w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u",
                      "w:effect", "w:bdr", "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs",
                      "w:em", "w:lang", "w:eastAsianLayout", "w:specVanish", "w:oMath")


def _condense_characters(rpr_owner) -> None:
    """w:spacing in the schema's place inside w:rPr (Word rejects out-of-order children)."""
    rpr = rpr_owner.get_or_add_rPr()
    spacing = OxmlElement("w:spacing")
    spacing.set(qn("w:val"), str(CHAR_CONDENSE_TWENTIETHS))
    successor = next((child for child in rpr if child.tag in {qn(t) for t in _RPR_AFTER_SPACING}),
                     None)
    if successor is None:
        rpr.append(spacing)
    else:
        successor.addprevious(spacing)


def _indent_two_chars(paragraph_format, element) -> None:
    paragraph_format.first_line_indent = Pt(2 * BODY_PT)
    # firstLineChars makes Word measure the indent on the character grid (exactly 2 chars).
    element.get_or_add_pPr().find(qn("w:ind")).set(qn("w:firstLineChars"), "200")


def _no_indent(paragraph_format, element) -> None:
    paragraph_format.first_line_indent = Pt(0)
    element.get_or_add_pPr().find(qn("w:ind")).set(qn("w:firstLineChars"), "0")


def _define_styles(document, fonts: dict[str, str]) -> None:
    normal = document.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    normal.font.bold = False
    _set_east_asian_font(normal.element, fonts["body"])
    _condense_characters(normal.element)
    pf = normal.paragraph_format
    pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.line_spacing = Twips(LINE_PITCH_TWIPS)
    pf.space_before = pf.space_after = Pt(0)
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    pf.widow_control = False  # keeps every page at exactly 22 lines
    _indent_two_chars(pf, normal.element)

    for kind, (font_role, size, outline) in _STYLE_SPECS.items():
        style = document.styles.add_style(STYLE_NAMES[kind], WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = normal
        style.quick_style = True
        style.font.size = Pt(size)
        style.font.bold = False
        _set_east_asian_font(style.element, fonts[font_role])
        if outline is not None:
            lvl = OxmlElement("w:outlineLvl")
            lvl.set(qn("w:val"), str(outline))
            style.element.get_or_add_pPr().append(lvl)
    title_pf = document.styles[STYLE_NAMES["title"]].paragraph_format
    title_pf.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _no_indent(title_pf, document.styles[STYLE_NAMES["title"]].element)


def _set_doc_grid(section) -> None:
    sect_pr = section._sectPr
    grid = sect_pr.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        sect_pr.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(LINE_PITCH_TWIPS))
    grid.attrib.pop(qn("w:charSpace"), None)


def _add_page_number_footers(document, section, font: str) -> None:
    """Odd pages: “— N —” right, one character in; even pages: left, one character in."""
    document.settings.odd_and_even_pages_header_footer = True
    _add_page_number(section.footer, font, WD_ALIGN_PARAGRAPH.RIGHT)
    _add_page_number(section.even_page_footer, font, WD_ALIGN_PARAGRAPH.LEFT)


def _add_page_number(footer, font: str, alignment) -> None:
    """“— N —”, N a PAGE field, at the outer edge one character in."""
    footer.is_linked_to_previous = False
    p = footer.paragraphs[0]
    p.alignment = alignment
    p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    _no_indent(p.paragraph_format, p._p)
    if alignment == WD_ALIGN_PARAGRAPH.RIGHT:
        p.paragraph_format.right_indent = Pt(PAGE_NUMBER_PT)
    else:
        p.paragraph_format.left_indent = Pt(PAGE_NUMBER_PT)

    def add_run(text: str = ""):
        run = p.add_run(text)
        _set_run_font(run, font, PAGE_NUMBER_PT)
        return run

    add_run("— ")
    for piece in ("begin", " PAGE ", "separate", "1", "end"):
        run = add_run()
        if piece in ("begin", "separate", "end"):
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), piece)
            run._r.append(fld)
        elif piece == " PAGE ":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = piece
            run._r.append(instr)
        else:
            run.text = piece  # shown until the field is updated
    add_run(" —")


def _add_font_fallbacks(document, names: set[str]) -> None:
    """Give each East-Asian font an alternate name and family hints in word/fontTable.xml."""
    font_part = next(rel.target_part for rel in document.part.rels.values()
                     if rel.reltype == RT.FONT_TABLE)
    root = etree.fromstring(font_part.blob)
    existing = {f.get(qn("w:name")) for f in root.findall(qn("w:font"))}
    for name in sorted(names - existing):
        alt, panose, family = _FONT_TABLE[name]
        font = etree.SubElement(root, qn("w:font"))
        font.set(qn("w:name"), name)
        for tag, val in (("w:altName", alt), ("w:panose1", panose), ("w:charset", "86"),
                         ("w:family", family), ("w:pitch", "variable")):
            etree.SubElement(font, qn(tag)).set(qn("w:val"), val)
    font_part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                     standalone=True)


VERIFY_SPLIT = re.compile(f"({REMINDER_RE.pattern})")
# Elaboration to confirm (扩写（请核实）) stands out in another colour than the reminders.
ELABORATION_COLOR = WD_COLOR_INDEX.BRIGHT_GREEN


def _pieces(text: str, marked: tuple[str, ...]) -> list[tuple[str, str]]:
    """(piece, kind) of a body text: "reminder" for 【待核实】/【待补充：…】, "elaboration" for the
    marked stretches, "" for the rest."""
    spans = [(m.start(), m.end(), "reminder") for m in REMINDER_RE.finditer(text)]
    for t in marked:
        at = text.find(t) if t else -1
        if at != -1 and not any(a < at + len(t) and at < b for a, b, _k in spans):
            spans.append((at, at + len(t), "elaboration"))
    out, pos = [], 0
    for a, b, kind in sorted(spans):
        if a > pos:
            out.append((text[pos:a], ""))
        out.append((text[a:b], kind))
        pos = b
    if pos < len(text):
        out.append((text[pos:], ""))
    return out


def _add_body_text(p, text: str, east_asia: str | None = None, marked: tuple[str, ...] = ()) -> None:
    """Body text as runs; a reminder (【待核实】, 【待补充：…】) is highlighted so it cannot be missed
    before filing, and so is elaboration still to confirm (in its own colour)."""
    for piece, kind in _pieces(text, marked):
        run = p.add_run(piece)
        if east_asia:
            _set_run_font(run, east_asia, BODY_PT)
        if kind == "reminder":
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW
        elif kind == "elaboration":
            run.font.highlight_color = ELABORATION_COLOR


def export_docx(draft: str, title: str | None = None, font_set: FontSet = "gb",
                elaboration: tuple[str, ...] = ()) -> bytes:
    """A draft → .docx bytes laid out per GB/T 9704-2012. `elaboration` are the stretches still to
    confirm, highlighted (rag.document.export_text gives the draft without them instead)."""
    fonts = FONT_SETS[font_set]
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
    section.top_margin, section.bottom_margin = Mm(MARGIN_TOP_MM), Mm(MARGIN_BOTTOM_MM)
    section.left_margin, section.right_margin = Mm(MARGIN_LEFT_MM), Mm(MARGIN_RIGHT_MM)
    section.gutter = Mm(0)
    section.footer_distance = Mm(FOOTER_DISTANCE_MM)
    section.header_distance = Mm(15)
    _set_doc_grid(section)
    _set_doc_defaults(document, fonts["body"])
    _define_styles(document, fonts)

    for block in parse_draft(draft, title):
        if block.kind == "title":
            document.add_paragraph(block.text, style=STYLE_NAMES["title"])
            document.add_paragraph()  # one blank line between title and body
        elif block.kind in ("h1", "h2"):
            p = document.add_paragraph(block.heading, style=STYLE_NAMES[block.kind])
            if block.text:  # run-in heading: the rest of the paragraph is body text
                _add_body_text(p, block.text, fonts["body"], elaboration)
        elif block.kind in ("h3", "h4"):
            document.add_paragraph(block.text, style=STYLE_NAMES[block.kind])
        elif block.kind == "salutation":
            p = document.add_paragraph(block.text)
            _no_indent(p.paragraph_format, p._p)
        elif block.kind == "date":
            p = document.add_paragraph(block.text)
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            _no_indent(p.paragraph_format, p._p)
            p.paragraph_format.right_indent = Pt(4 * BODY_PT)
        else:
            _add_body_text(document.add_paragraph(), block.text, marked=elaboration)

    _add_page_number_footers(document, section, fonts["page"])
    _add_font_fallbacks(document, set(fonts.values()))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


# --- Markdown and plain text -------------------------------------------------------------
def export_markdown(draft: str, title: str | None = None, elaboration: tuple[str, ...] = ()) -> str:
    """Markdown; elaboration still to confirm is wrapped in <mark> (rendered highlighted)."""
    out: list[str] = []
    for block in parse_draft(draft, title):
        if elaboration:
            block.text = "".join(f"<mark>{p}</mark>" if k == "elaboration" else p
                                 for p, k in _pieces(block.text, elaboration))
        if block.kind == "title":
            out.append(f"# {block.text}")
        elif block.kind in ("h1", "h2") and block.text:  # run-in heading stays in its paragraph
            out.append(f"**{block.heading}**{block.text}")
        elif block.kind in ("h1", "h2"):
            out.append(f"{'##' if block.kind == 'h1' else '###'} {block.heading}")
        else:
            out.append(block.text)
    return "\n\n".join(out) + "\n"


def export_text(draft: str, title: str | None = None) -> str:
    """Plain text as typed in WPS: title, blank line, paragraphs indented with two
    full-width spaces. (The app adds a BOM when saving so old Notepad reads it as UTF-8.)"""
    out: list[str] = []
    for block in parse_draft(draft, title):
        if block.kind == "title":
            out += [block.text, ""]
        elif block.kind in ("salutation", "date"):
            out.append(block.text)
        else:
            out.append("\u3000\u3000" + block.heading + block.text)
    return "\n".join(out) + "\n"
