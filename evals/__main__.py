"""Command line: python -m evals {check,run}.

  python -m evals check DRAFT --request REQUEST.json [--json] [--judge] [--no-copy]
  python -m evals run [--cases DIR] [--no-copy]

A user error (missing or malformed request, empty or undecodable draft) prints one Chinese
line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from rag.errors import RequestError, run_cli
from rag.textio import read_text

USAGE_ERROR = 2


class ChineseArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"参数错误：{message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def _copy_index(args: argparse.Namespace):
    if args.no_copy:
        return None
    from rag.config import get_settings
    from evals.copy_index import load_copy_index
    return load_copy_index(get_settings())


def format_evaluation(evaluation) -> str:
    from evals.registry import SEVERITY_LABELS
    head = "结论：通过" if evaluation.passed else "结论：未通过（有阻断或严重问题）"
    lines = [f"{head}　得分 {evaluation.score:g}/100"]
    if not evaluation.violations:
        lines.append("未发现问题。")
    for v in evaluation.violations:
        where = f"第{v.start}—{v.end}字" if v.end > v.start else "全文"
        lines.append(f"[{SEVERITY_LABELS[v.severity]}] {v.rule} {v.message}")
        lines.append(f"    位置：{where}　原文：{v.evidence}")
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    from rag.config import get_settings
    from rag.normalize import load_request
    from rag.service import check_draft
    if not args.request:
        raise RequestError("缺少请求文件：请用 --request 指定一个 JSON 文件（字段同 cases.jsonl）。")
    loaded = load_request(args.request)
    for notice in loaded.notices:
        print(f"提示：{notice}", file=sys.stderr)
    decoded = read_text(args.draft)
    for notice in decoded.notices:   # a lossy decode (truncated UTF-16, unpaired surrogates) is said
        print(f"提示：{notice}", file=sys.stderr)
    evaluation = check_draft(decoded.text, loaded.request, get_settings(), copy=not args.no_copy,
                             judge=args.judge)
    if args.json:
        print(json.dumps(evaluation.to_json(), ensure_ascii=False, indent=1))
    else:
        print(format_evaluation(evaluation))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from evals.labelled import DEFAULT_CASES_DIR, format_report, run_labelled
    results = run_labelled(Path(args.cases) if args.cases else DEFAULT_CASES_DIR, _copy_index(args))
    print(format_report(results))
    return 0 if all(r.ok for r in results) else 1


DESCRIPTION = "公文草稿检查（eval-rules.md 的各条规则）"


def add_check_command(sub) -> None:
    """`check`, added to `sub` (an argparse subparsers object): also `gongwen check`."""
    c = sub.add_parser("check", help="检查一篇草稿")
    c.add_argument("draft", help="草稿文件（.txt/.md，UTF-8 或 GBK）")
    c.add_argument("--request", help="请求 JSON 文件（字段同 cases.jsonl）")
    c.add_argument("--json", action="store_true", help="输出 JSON")
    c.add_argument("--judge", action="store_true", help="另请大模型复核 FACT-06、LANG-04（默认关闭）")
    c.add_argument("--no-copy", action="store_true", help="不做 COPY-01 抄袭检查")
    c.set_defaults(func=cmd_check)


def add_commands(sub) -> None:
    """The commands of `python -m evals`, added to `sub`: this parser's and `gongwen evals`."""
    add_check_command(sub)
    r = sub.add_parser("run", help="在标注样本上评估检查器")
    r.add_argument("--cases", help="样本目录（含 cases.jsonl 和 drafts/），默认 evals/cases")
    r.add_argument("--no-copy", action="store_true", help="不做 COPY-01 抄袭检查")
    r.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    p = ChineseArgumentParser(prog="python -m evals", description=DESCRIPTION)
    add_commands(p.add_subparsers(dest="command", required=True, parser_class=ChineseArgumentParser))
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
