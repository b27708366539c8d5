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


def read_text_file(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"找不到文件：{p}")
    if p.is_dir():
        raise InputFileError(f"{p} 是文件夹，不是文件。")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputFileError(f"{p.name} 太大（{size / 1024 / 1024:.1f} MB），超过 {MAX_FILE_BYTES // 1024 // 1024} MB 上限。")
    return decode_bytes(p.read_bytes(), p.name)
