"""Reading user files: encodings common in Chinese offices, with Chinese error messages."""
from __future__ import annotations

from pathlib import Path

from rag.errors import InputFileError

MAX_FILE_BYTES = 20 * 1024 * 1024  # a report is tens of KB; anything this big is not one


def decode_bytes(data: bytes, name: str = "文件") -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (superset of GBK/GB2312)."""
    if not data.strip():
        raise InputFileError(f"{name} 是空文件。")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(f"{name} 看起来是二进制文件，不是文本，已跳过。")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise InputFileError(
            f"{name} 的编码无法识别（不是 UTF-8，也不是 GBK/GB18030）。请用记事本或 WPS 另存为 UTF-8 后重试。"
        ) from None


def _check_readable_file(p: Path) -> None:
    if not p.exists():
        raise InputFileError(f"找不到文件：{p}")
    if p.is_dir():
        raise InputFileError(f"{p} 是文件夹，不是文件。")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputFileError(f"{p.name} 太大（{size / 1024 / 1024:.1f} MB），超过 {MAX_FILE_BYTES // 1024 // 1024} MB 上限。")


def read_text_file(path: str | Path) -> str:
    p = Path(path)
    _check_readable_file(p)
    return decode_bytes(p.read_bytes(), p.name)


DOCUMENT_SUFFIXES = (".txt", ".md", ".docx")


def _read_docx(p: Path) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table

    try:
        document = docx.Document(str(p))
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError):
        raise InputFileError(f"{p.name} 不是有效的 Word 文档（.docx），可能已损坏或其实是旧版 .doc。"
                             "请用 Word/WPS 另存为 .docx 后重试。") from None
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


def read_document(path: str | Path) -> str:
    """Text of a user's report: .txt/.md decoded like read_text_file, .docx paragraphs and tables."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        raise InputFileError(f"不支持的文件类型：{p.name}（只支持 {'、'.join(DOCUMENT_SUFFIXES)}）。")
    if suffix != ".docx":
        return read_text_file(p)
    _check_readable_file(p)
    return _read_docx(p)
