"""Reading user files: encodings common in Chinese offices, with Chinese error messages.

Decoding is total: a file either decodes (perhaps lossily, with a notice saying so) or is refused
with a Chinese `InputFileError`; no `UnicodeDecodeError` escapes. Order of trust: a BOM (UTF-32,
UTF-8, UTF-16), UTF-16 without BOM told by where its NUL bytes fall, UTF-8, then the legacy
two-byte encodings GB18030 and Big5, between which the decoding with the larger share of common
characters wins (each decodes the other's bytes into rare or unrelated characters).

A user's report (`load_document`) is also freed of filler: a run of one short unit repeated many
times (“（” × 100,000 after a real report, a file of “卫生、” × 30,000) is cut out with a notice, and
a file that is nothing but such runs is refused. A .docx is measured before it is parsed: its
members' declared sizes and count, so a zip bomb is refused without being inflated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import InputFileError

MAX_FILE_BYTES = 20 * 1024 * 1024  # a report is tens of KB; anything this big is not one
# A .docx is a zip: a 657 KB file held a 158 MB document.xml, and python-docx inflates every part.
# A long report's XML is a few MB; media parts are stored already compressed, so a genuine file
# of at most MAX_FILE_BYTES stays far below these.
MAX_DOCX_XML_BYTES = 20 * 1024 * 1024
MAX_DOCX_TOTAL_BYTES = 100 * 1024 * 1024
MAX_DOCX_MEMBERS = 2000
# Filler: one unit of up to REPEAT_UNIT_MAX characters said again and again over a run of at least
# REPEAT_RUN_CHARS characters and REPEAT_RUN_TIMES times. No report says anything that way; a rule
# of “—” or “=” under a heading is well under REPEAT_RUN_CHARS.
REPEAT_UNIT_MAX = 16
REPEAT_RUN_CHARS = 200
REPEAT_RUN_TIMES = 10

_BOMS = (  # longest first: the UTF-32LE BOM begins with the UTF-16LE one
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"), (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"), (b"\xfe\xff", "utf-16-be", "UTF-16"),
)
SNIFF_BYTES = 4096
# UTF-16 without BOM: ASCII characters put their NUL byte on one parity only (odd offsets in LE).
# Han characters ending in 00 (U+4E00, U+5000…) put a few on the other, hence a ratio, not zero.
NUL_PARITY_RATIO = 4
MIN_PLAUSIBLE = 0.8     # share of ordinary characters a guessed decoding must reach
UTF8_MAX_BAD_SHARE = 0.01


@dataclass
class DecodedText:
    text: str
    encoding: str                                   # codec name as Python spells it
    notices: list[str] = field(default_factory=list)  # Chinese, for the user: lossy decoding etc.


@lru_cache(maxsize=1)
def common_hanzi() -> frozenset[str]:
    """The everyday characters of both scripts: GB2312 level 1 (3,755 simplified, rows B0–D7) and
    Big5 常用字 (5,401 traditional, A440–C67E), read out of the codecs themselves."""
    chars: set[str] = set()
    for codec, leads, trails in (("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF)),
                                 ("cp950", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)])):
        for lead in leads:
            for trail in trails:
                try:
                    ch = bytes((lead, trail)).decode(codec)
                except UnicodeDecodeError:
                    continue
                if "\u4e00" <= ch <= "\u9fff":
                    chars.add(ch)
    return frozenset(chars)


def plausibility(text: str) -> float:
    """Share of non-blank characters that are ordinary in a Chinese document: common Han
    characters, printable ASCII, CJK and full-width punctuation. 0.0 for blank text."""
    common = common_hanzi()
    total = good = 0
    for ch in text:
        if ch.isspace():
            continue
        total += 1
        if (ch in common or " " < ch < "\x7f" or "\u3000" <= ch <= "\u303f" or "\uff01" <= ch <= "\uff5e"
                or "\u2010" <= ch <= "\u2027" or ch in "…—·×√①②③④⑤⑥⑦⑧⑨⑩"):
            good += 1
    return good / total if total else 0.0


def _lossy_notice(name: str, label: str, bad: int) -> str:
    return (f"{name} 按 {label} 读取时有 {bad} 处字节无法解码（文件末尾不完整或含有损坏的字符），"
            "已用“\ufffd”代替，请核对原文。")


def _decode(data: bytes, codec: str, name: str, label: str) -> DecodedText:
    """Strict when possible; otherwise with replacement characters and a notice."""
    try:
        return DecodedText(data.decode(codec), codec)
    except UnicodeDecodeError:
        text = data.decode(codec, errors="replace")
        return DecodedText(text, codec, [_lossy_notice(name, label, text.count("\ufffd"))])


def _strict_or_truncated(data: bytes, codec: str, name: str, label: str) -> DecodedText | None:
    """The decoding if the bytes are valid in `codec` except for a cut-off last character."""
    try:
        return DecodedText(data.decode(codec), codec)
    except UnicodeDecodeError as e:
        if e.start < len(data) - 3:
            return None
        try:
            head = data[:e.start].decode(codec)
        except UnicodeDecodeError:
            return None
        return DecodedText(head + "\ufffd", codec, [_lossy_notice(name, label, 1)])


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the NUL bytes of the head sit (almost) all on one parity."""
    head = data[:SNIFF_BYTES]
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    if odd > even and odd >= NUL_PARITY_RATIO * even:
        return "utf-16-le"
    if even > odd and even >= NUL_PARITY_RATIO * odd:
        return "utf-16-be"
    return None


def _utf8(data: bytes, name: str) -> DecodedText | None:
    """UTF-8, tolerating a cut-off tail or a rare corrupt byte in an otherwise UTF-8 file."""
    found = _strict_or_truncated(data, "utf-8", name, "UTF-8")
    if found:
        return found
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7f) - bad
    if bad <= UTF8_MAX_BAD_SHARE * multibyte:
        return DecodedText(text, "utf-8", [_lossy_notice(name, "UTF-8", bad)])
    return None


def _legacy_cjk(data: bytes, name: str) -> DecodedText | None:
    """GB18030 or Big5 (cp950), whichever decodes to more common characters."""
    candidates = [found for codec, label in (("gb18030", "GBK/GB18030"), ("cp950", "Big5"))
                  if (found := _strict_or_truncated(data, codec, name, label))]
    if not candidates:
        return None
    # Ties go to GB18030 (listed first): a mainland office file is the likelier one.
    return max(candidates, key=lambda d: plausibility(d.text))


def decode_text(data: bytes, name: str = "文件") -> DecodedText:
    """Decode a user's text file; see the module docstring for the order of guesses."""
    if not data.strip():
        raise InputFileError(f"{name} 是空文件。")
    decoded = None
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            decoded = _decode(data[len(bom):], codec, name, label)
            break
    if decoded is None and b"\x00" in data[:SNIFF_BYTES]:
        codec = _utf16_without_bom(data)
        if codec:
            guess = _decode(data, codec, name, "UTF-16")
            if plausibility(guess.text) >= MIN_PLAUSIBLE or not guess.text.strip():  # blanks: 空文件 below
                decoded = guess
        if decoded is None:
            raise InputFileError(f"{name} 看起来是二进制文件，不是文本，已跳过。")
    decoded = decoded or _utf8(data, name) or _legacy_cjk(data, name)
    if decoded is None:
        raise InputFileError(
            f"{name} 的编码无法识别（不是 UTF-8、UTF-16，也不是 GBK/GB18030 或 Big5）。"
            "请用记事本或 WPS 另存为 UTF-8 后重试。")
    if not decoded.text.replace("\ufeff", "").strip():
        raise InputFileError(f"{name} 是空文件（只有空白字符）。")
    return decoded


def decode_bytes(data: bytes, name: str = "文件") -> str:
    """The text of `decode_text`, for callers that show no notices."""
    return decode_text(data, name).text


def _check_readable_file(p: Path) -> None:
    if not p.exists():
        raise InputFileError(f"找不到文件：{p}")
    if p.is_dir():
        raise InputFileError(f"{p} 是文件夹，不是文件。")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputFileError(f"{p.name} 太大（{size / 1024 / 1024:.1f} MB），超过 {MAX_FILE_BYTES // 1024 // 1024} MB 上限。")


@dataclass(frozen=True)
class RepeatedRun:
    start: int
    end: int
    unit: str     # the shortest unit the run repeats

    @property
    def times(self) -> int:
        return (self.end - self.start) // len(self.unit)


def repeated_runs(text: str) -> list[RepeatedRun]:
    """Runs of filler (see REPEAT_UNIT_MAX): for each period p, the stretches where every
    character equals the one p places on, found with array comparisons (linear per period).
    Runs of blanks are left to the cleaner."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    spans: list[tuple[int, int, int]] = []
    for p in range(1, min(REPEAT_UNIT_MAX, len(codes) - 1) + 1):
        same = np.concatenate(([False], codes[:-p] == codes[p:], [False])).astype(np.int8)
        edges = np.diff(same)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        long_enough = ends - starts + p >= max(REPEAT_RUN_CHARS, REPEAT_RUN_TIMES * p)
        spans += [(int(a), int(b) + p, p) for a, b in zip(starts[long_enough], ends[long_enough])]
    runs: list[RepeatedRun] = []
    for a, b, p in sorted(spans):
        if runs and a < runs[-1].end:       # the same run seen with a multiple of its period
            last = runs[-1]
            unit = last.unit if len(last.unit) <= p else text[last.start:last.start + p]
            runs[-1] = RepeatedRun(last.start, max(last.end, b), unit)
        else:
            runs.append(RepeatedRun(a, b, text[a:a + p]))
    return [r for r in runs if text[r.start:r.end].strip()]


def cut_repeated_runs(text: str, name: str = "文件") -> DecodedText:
    """The text without its filler runs, with a notice saying what was cut; InputFileError when
    nothing else is left."""
    runs = repeated_runs(text)
    if not runs:
        return DecodedText(text, "")
    kept, at = [], 0
    for r in runs:
        kept.append(text[at:r.start])
        at = r.end
    kept.append(text[at:])
    biggest = max(runs, key=lambda r: r.end - r.start)
    example = f"“{biggest.unit.strip() or biggest.unit}”连续出现 {biggest.times:,} 次"
    cut = sum(r.end - r.start for r in runs)
    rest = "".join(kept)
    if not rest.strip():
        raise InputFileError(f"{name} 全是同一段文字的反复重复（{example}），不是工作材料，已跳过。")
    return DecodedText(rest, "", [f"{name} 中有 {len(runs)} 处同一段文字的大量重复（如{example}），"
                                  f"已删去这 {cut:,} 个字符，其余内容照常使用。"])


def read_text(path: str | Path) -> DecodedText:
    p = Path(path)
    _check_readable_file(p)
    return decode_text(p.read_bytes(), p.name)


def read_text_file(path: str | Path) -> str:
    return read_text(path).text


DOCUMENT_SUFFIXES = (".txt", ".md", ".docx")


def _not_docx(p: Path) -> InputFileError:
    return InputFileError(f"{p.name} 不是有效的 Word 文档（.docx），可能已损坏或其实是旧版 .doc。"
                          "请用 Word/WPS 另存为 .docx 后重试。")


def _check_docx_members(p: Path) -> None:
    """Refuse a .docx whose parts would inflate beyond the limits, from the sizes its zip
    directory declares (zipfile stops reading a member at its declared size, so a member that
    lies about it fails its checksum instead of growing)."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _not_docx(p) from None
    xml = sum(m.file_size for m in members if m.filename.lower().endswith((".xml", ".rels")))
    total = sum(m.file_size for m in members)
    mb = 1024 * 1024
    if len(members) > MAX_DOCX_MEMBERS:
        raise InputFileError(f"{p.name} 里有 {len(members):,} 个内部文件，超过 {MAX_DOCX_MEMBERS:,} 个的上限，"
                             "不像正常的 Word 文档，已跳过。")
    if xml > MAX_DOCX_XML_BYTES or total > MAX_DOCX_TOTAL_BYTES:
        raise InputFileError(f"{p.name} 解压后有 {total / mb:,.0f} MB（其中文字部分 {xml / mb:,.0f} MB），超过上限"
                             f"（文字部分 {MAX_DOCX_XML_BYTES // mb} MB、全部 {MAX_DOCX_TOTAL_BYTES // mb} MB），"
                             "可能是损坏或恶意构造的文件，已跳过。")


def _read_docx(p: Path) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table

    _check_docx_members(p)
    try:
        document = docx.Document(str(p))
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError):
        raise _not_docx(p) from None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                if cells:
                    lines.append("  ".join(cells))
        else:
            lines.append(block.text)
    text = "\n".join(lines)
    if not text.strip():
        raise InputFileError(f"{p.name} 里没有文字。")
    return text


def load_document(path: str | Path) -> DecodedText:
    """A user's report: .txt/.md decoded like read_text, .docx paragraphs and tables; filler
    runs cut out (cut_repeated_runs)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        raise InputFileError(f"不支持的文件类型：{p.name}（只支持 {'、'.join(DOCUMENT_SUFFIXES)}）。")
    if suffix != ".docx":
        decoded = read_text(p)
    else:
        _check_readable_file(p)
        decoded = DecodedText(_read_docx(p), "docx")
    cut = cut_repeated_runs(decoded.text, p.name)
    return DecodedText(cut.text, decoded.encoding, decoded.notices + cut.notices)


def read_document(path: str | Path) -> str:
    """Text of a user's report (see load_document), without its decoding notices."""
    return load_document(path).text
