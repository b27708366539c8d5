"""Hostile files: cleaner rules on adversarial lines, every decoder path, a folder of bad files."""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import textwrap

import opencc
import pytest

from chroma_server import copy_data_dir, seed_data_dir
from rag import clean
from rag.config import PROJECT_ROOT
from rag.errors import InputFileError
from rag.ingest import ingest_paths
from rag.store import open_collection
from rag.textio import decode_text, plausibility

# ---------------------------------------------------------------- cleaner rules

# The child runs every pattern of rag/clean.py (found by walking the module, so a new rule is
# covered without editing this file) over 2–5 kB lines built from the pattern's own characters,
# then the whole cleaner over the same lines. An exponential rule never returns; the timeout
# below only detects that hang, it is not a speed requirement.
FUZZ_CHILD = textwrap.dedent(r'''
    import json, random, re, sys
    from rag import clean

    def patterns():
        found = {}
        def visit(name, value):
            if isinstance(value, (re.Pattern, clean._BreadcrumbLine)):
                found[name] = value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    visit(f"{name}[{i}]", item)
        for name, value in vars(clean).items():
            visit(name, value)
        return found

    def alphabet(pattern):
        source = pattern.pattern
        chars = {c for c in source if not c.isascii() or c in "()>.:;,*_%/-xX2mM"}
        return sorted(chars | set(" \u3000\t1a汉"))

    def lines(pattern, rng):
        chars = alphabet(pattern)
        out = []
        for size in (2000, 5000):
            for c in chars:
                out.append(c * size)
                for d in rng.sample(chars, min(6, len(chars))):
                    out.append((c + d) * (size // 2))          # alternating items: "a>a>a>…"
                    out.append((c + " " + d + " ") * (size // 4))
                    out.append(c + " " * size + d)              # one long blank run inside
            out.append("".join(rng.choice(chars) for _ in range(size)))
        return out

    rng = random.Random(11)
    done = 0
    for name, pattern in patterns().items():
        for line in lines(pattern, rng):
            pattern.search(line)
            if isinstance(pattern, re.Pattern):
                pattern.sub("", line)
                pattern.findall(line)
            done += 1
    whole = 0
    for line in ("首页>" * 1500, "a >" * 1500 + "!", "篇1：" + " " * 4000 + "x", "（" + "\ufffd" * 3000 + "（",
                 "由网友“" * 1200, "(" * 4000 + "精选", "汉" + " " * 4000 + "汉", "XX" * 2000 + "a"):
        articles = clean.split_document(line + "\n" + line, clean.Auditor("fuzz"))
        for art in articles:
            clean.clean_body(art.lines, clean.Auditor("fuzz"))
        whole += 1
    print(json.dumps({"patterns": len(patterns()), "runs": done, "documents": whole}))
''')


def test_every_cleaner_rule_finishes_on_long_adversarial_lines():
    done = subprocess.run([sys.executable, "-c", FUZZ_CHILD], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout)
    assert counts["patterns"] >= 35 and counts["runs"] > 5000 and counts["documents"] == 8



# Every check of a draft at the size limit, on drafts made to be slow: random marks and digits,
# eight characters without digits, a run of one numeral, a run of “【”, and “卫生、” repeated
# against a copy index holding a junk file of it. They took minutes (REPEAT-01 compared every
# pair of sentences, COPY-01 scanned 30,000 places of one gram per position, FACT-03b and
# CLEAN-01 scanned a run once per character); as above, the timeout only detects such growth.
CHECK_CHILD = textwrap.dedent(r'''
    import json, random
    from evals.check import MAX_DRAFT_CHARS, evaluate
    from evals.copy_index import CopyIndex, committed_corpus_docs
    from rag.schema import DraftRequest

    request = DraftRequest(genre="工作总结", section="全文", unit="桐溪县卫生健康局", year=2024,
                           facts=["全年开展义诊活动12场"], length_chars=(1500, 2200))
    index = CopyIndex.build(committed_corpus_docs() + [("junk.txt", "卫生、" * 30000)])
    rng = random.Random(20)
    n = MAX_DRAFT_CHARS - 1000
    drafts = {"marks": "".join(rng.choice("（）、一二三是，。；：“”0123456789") for _ in range(n)),
              "few": "".join(rng.choice("一二三是五六七八，。") for _ in range(n)),
              "junk": ("卫生、" * n)[:n], "numerals": "一" * n, "brackets": "【" * n}
    print(json.dumps({name: sorted(evaluate(d, request, index).rule_ids()) for name, d in drafts.items()}))
''')


def test_every_check_finishes_on_hostile_drafts_at_the_size_limit():
    done = subprocess.run([sys.executable, "-c", CHECK_CHILD], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert set(found) == {"marks", "few", "junk", "numerals", "brackets"}
    assert "COPY-01" in found["junk"] and "REPEAT-01" in found["few"]

# The original expressions of the rules that were rewritten for linear time. On short lines they
# finish, and the rewrite must decide every line exactly as they did (the corpus depends on it).
ORIGINAL_N05 = re.compile(r"^\s*\S+(?:\s*>\s*\S+){2,}\s*$")
ORIGINAL_N01 = re.compile(r"由网友“[^”]*”投稿提供")
ORIGINAL_N07 = re.compile(r"[（(]+(?:精选|通用)\d+篇[)）]+")
ORIGINAL_SEPARATORS = (re.compile(r"^篇(\d+)[:：]\s*(.+?)\s*$"), re.compile(r"^\s*(\S.*?)\s+篇(\d+)\s*$"))
ORIGINAL_STRAY = re.compile(f"(?<=[{clean.HAN},，。])[ \u3000]+(?=[{clean.HAN}\\d])|(?<=\\d) +(?=[{clean.HAN}])"
                            r"|[ \u3000]+(?=[,，。;；:：、!?！？])")
ORIGINAL_EDGE = re.compile(r"^[ \t\u3000\xa0]+|[ \t\u3000\xa0]+$")
ORIGINAL_MOJIBAKE = re.compile(r"[（(][^（）()\n]*\ufffd[^（）()\n]*[)）]")


def _original_separator(text: str):
    m = ORIGINAL_SEPARATORS[0].match(text)
    if m:
        return int(m.group(1)), m.group(2)
    m = ORIGINAL_SEPARATORS[1].match(text)
    return (int(m.group(2)), m.group(1).strip()) if m else None


def _random_lines(alphabet: str, count: int, longest: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


def test_rewritten_rules_decide_like_the_original_expressions():
    rules = {rid: rx for rid, rx, _ in clean.HEADER_RULES}
    for rid, original, alphabet in (("N05", ORIGINAL_N05, "a>\u3000 b"),
                                    ("N01", ORIGINAL_N01, "由网友“”投稿提供x"),
                                    ("N07", ORIGINAL_N07, "（(精选通用1篇)）x")):
        for line in _random_lines(alphabet, 30000, 12, seed=len(rid)):
            assert bool(rules[rid].search(line)) == bool(original.search(line)), (rid, line)
    for line in _random_lines("篇1：: a\u3000x", 30000, 10, seed=3):
        assert clean._separator(line) == _original_separator(line), line
    for line in _random_lines("汉1 \u3000，,;a\t\xa0（()）\ufffd", 30000, 12, seed=4):
        assert clean._STRAY_SPACE.sub("", line) == ORIGINAL_STRAY.sub("", line), line
        assert line.strip(clean._EDGE_BLANKS) == ORIGINAL_EDGE.sub("", line), line
        mojibake = clean._BRACKETED.sub(lambda m: "" if "\ufffd" in m.group(0) else m.group(0), line)
        assert mojibake == ORIGINAL_MOJIBAKE.sub("", line), line


def test_breadcrumb_rule_on_typical_lines():
    rule = next(rx for rid, rx, _ in clean.HEADER_RULES if rid == "N05")
    assert rule.search("首页 > 工作总结 > 卫生局工作总结")
    assert rule.search("  首页>范文>总结  ")
    assert not rule.search("首页 > 工作总结")                    # two items only
    assert not rule.search("血压 > 140 的患者 > 3 千人")          # a blank inside an item
    assert rule.search("x>" * 40 + "x")                          # the line that used to hang


# ---------------------------------------------------------------- decoders

REPORT = ("星河县卫生健康局2025年上半年工作总结\n\n今年以来，我局坚持以人民健康为中心，扎实推进基本公共卫生服务，"
          "为全县65岁以上老年人开展健康体检1.2万人次，家庭医生签约服务覆盖重点人群。\n")


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_with_bom_and_a_cut_off_tail_is_read_with_a_notice(codec, bom):
    data = bom + REPORT.encode(codec)
    assert decode_text(data).text == REPORT and not decode_text(data).notices
    cut = decode_text(data[:-1], "半截.txt")
    assert cut.text.startswith(REPORT[:-1]) and cut.text.endswith("\ufffd")
    assert cut.notices and "半截.txt" in cut.notices[0] and "无法解码" in cut.notices[0]


def test_utf16_unpaired_surrogate_is_replaced_with_a_notice():
    lone_high = "\ud83d".encode("utf-16-le", "surrogatepass")
    data = b"\xff\xfe" + REPORT[:20].encode("utf-16-le") + lone_high + REPORT[20:].encode("utf-16-le")
    decoded = decode_text(data, "代理.txt")
    assert decoded.text.replace("\ufffd", "") == REPORT and decoded.notices


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_told_from_binary_by_its_nul_bytes(codec):
    decoded = decode_text(REPORT.encode(codec))
    assert (decoded.encoding, decoded.text) == (codec, REPORT)
    with pytest.raises(InputFileError, match="二进制"):
        decode_text(bytes(random.Random(5).randrange(256) for _ in range(3000)) + b"\x00\x00")


def test_utf32_bom_and_utf8_cut_off_tail():
    assert decode_text(b"\xff\xfe\x00\x00" + REPORT.encode("utf-32-le")).text == REPORT
    cut = decode_text(REPORT.encode("utf-8") + "健".encode("utf-8")[:2])
    assert cut.text == REPORT + "\ufffd" and cut.encoding == "utf-8" and cut.notices


def test_big5_and_gbk_are_chosen_by_common_characters():
    simplified = "我局扎实推进基本公共卫生服务工作"
    traditional = opencc.OpenCC("s2tw").convert(REPORT)  # Taiwan forms: all in Big5
    gbk, big5 = simplified.encode("gbk"), traditional.encode("big5")
    # The GBK bytes are valid Big5 too, and the Big5 bytes valid GB18030: only the score tells them apart.
    as_big5, as_gb = gbk.decode("cp950"), big5.decode("gb18030")
    assert plausibility(simplified) > plausibility(as_big5) + 0.3
    assert plausibility(traditional) > plausibility(as_gb) + 0.3
    assert decode_text(gbk).text == simplified
    assert (decode_text(big5).encoding, decode_text(big5).text) == ("cp950", traditional)
    assert decode_text(REPORT.encode("gb18030")).text == REPORT


@pytest.mark.parametrize("data", [b"", b" \r\n\t ", "\u3000\u3000\n".encode("utf-8"), b"\xef\xbb\xbf",
                                  b"\xff\xfe" + " \n\u3000".encode("utf-16-le"), "\n\n".encode("utf-16-be")])
def test_a_file_of_blanks_is_an_empty_file(data):
    with pytest.raises(InputFileError, match="空文件"):
        decode_text(data, "空白.txt")


def test_undecodable_bytes_are_a_chinese_error_not_an_exception():
    with pytest.raises(InputFileError, match="编码无法识别"):
        decode_text(bytes(range(0x80, 0x100)) * 20)


# ---------------------------------------------------------------- a folder of hostile files

GOOD = ("月湖区卫生健康局2025年工作计划\n\n为做好2025年卫生健康工作，结合我区实际，制定本计划。\n\n"
        "一、目标任务\n全区居民健康素养水平提高到30%，月湖区社区智慧药柜覆盖全部社区卫生服务站。\n\n"
        "二、重点工作\n（一）做实家庭医生签约服务。组建签约团队40个，为重点人群提供上门随访。\n"
        "（二）加强疾病预防控制。开展适龄儿童免疫规划疫苗查漏补种，接种率保持在95%以上。\n\n"
        "三、保障措施\n加强组织领导，落实工作责任，确保各项任务按期完成。\n")


@pytest.fixture
def hostile_folder(tmp_path):
    folder = tmp_path / "范文"
    folder.mkdir()
    (folder / "a_空白.txt").write_bytes("\u3000 \n\n".encode("utf-8"))
    (folder / "b_二进制.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 300)
    (folder / "c_导航炸弹.txt").write_text("x>" * 60 + "x\n" + GOOD.replace("月湖区", "星湖区"), encoding="utf-8")
    (folder / "d_半截utf16.txt").write_bytes(b"\xff\xfe" + GOOD.replace("月湖区", "云湖区").encode("utf-16-le")[:-1])
    (folder / "e_无BOM的utf16.txt").write_bytes(GOOD.replace("月湖区", "雪湖区").encode("utf-16-le"))
    (folder / "f_乱码.md").write_bytes(bytes(range(0x80, 0x100)) * 20)
    (folder / "g_正常.txt").write_text(GOOD, encoding="utf-8")
    return folder


def test_folder_ingest_reports_each_bad_file_and_adds_the_good_ones(tmp_path_factory, tmp_path, hostile_folder):
    settings = copy_data_dir(seed_data_dir(tmp_path_factory), tmp_path / "data")
    report = ingest_paths([hostile_folder], settings)
    failed = {os.path.basename(path): message for path, message in report.errors}
    assert set(failed) == {"a_空白.txt", "b_二进制.txt", "f_乱码.md"}
    assert "空文件" in failed["a_空白.txt"] and "二进制" in failed["b_二进制.txt"]
    assert "编码无法识别" in failed["f_乱码.md"]
    assert report.added == 4
    assert any("d_半截utf16.txt" in message and "无法解码" in message for _, message in report.notices)
    sources = {m["source"] for m in open_collection(settings).get(where={"origin": "user"})["metadatas"]}
    assert sources == {"c_导航炸弹.txt", "d_半截utf16.txt", "e_无BOM的utf16.txt", "g_正常.txt"}
    stored = open_collection(settings).get(where={"source": "c_导航炸弹.txt"})["documents"]
    assert not any("x>x" in text for text in stored)  # the breadcrumb line was dropped as page noise


def _cli_ingest(paths, data_dir):
    env = {**os.environ, "GONGWEN_DATA_DIR": str(data_dir), "OMP_WAIT_POLICY": "passive"}
    return subprocess.run([sys.executable, "-m", "rag", "ingest", *map(str, paths)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_folder_ingest_prints_a_line_per_failure_and_exits_by_what_was_added(tmp_path_factory, tmp_path,
                                                                                 hostile_folder):
    settings = copy_data_dir(seed_data_dir(tmp_path_factory), tmp_path / "data")
    done = _cli_ingest([hostile_folder], settings.data_dir)
    assert done.returncode == 0, done.stderr
    assert "新增 4 个" in done.stdout and "3 个文件未处理" in done.stdout
    for name in ("a_空白.txt", "b_二进制.txt", "f_乱码.md"):
        assert re.search(rf"^  - {re.escape(name)}", done.stdout, re.M), done.stdout
    assert "Traceback" not in done.stderr

    only_bad = tmp_path / "坏文件"
    only_bad.mkdir()
    (only_bad / "空.txt").write_bytes(b"   ")
    (only_bad / "乱.txt").write_bytes(bytes(range(0x80, 0x100)) * 4)
    done = _cli_ingest([only_bad], settings.data_dir)
    assert done.returncode == 1 and "2 个文件未处理" in done.stdout and "Traceback" not in done.stderr
