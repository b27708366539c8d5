"""The `gongwen` command (pyproject [project.scripts]): the commands of `python -m rag` and
`python -m evals` under one name, with the same arguments.

  gongwen draft|plan|search|ingest|model|build-corpus …   same as  python -m rag …
  gongwen check DRAFT --request REQUEST.json …            same as  python -m evals check …
  gongwen evals run|check …                               same as  python -m evals …
"""
from __future__ import annotations

import sys

from rag.errors import run_cli

PROG = "gongwen"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("gongwen-drafter")
    except PackageNotFoundError:     # run from a checkout that was never installed
        return "未安装"


def build_parser():
    import evals.__main__ as evals_cli
    import rag.__main__ as rag_cli
    parser_class = evals_cli.ChineseArgumentParser
    p = parser_class(prog=PROG, description="公文起草助手：起草、拟提纲、检索范文、管理范文库、检查草稿。"
                     "各命令的参数：gongwen <命令> --help（如 gongwen draft --help）。")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=parser_class, metavar="命令")
    rag_cli.add_commands(sub)
    evals_cli.add_check_command(sub)
    e = sub.add_parser("evals", help="草稿检查器：check 检查一篇草稿，run 在标注样本上评估检查器",
                       description=evals_cli.DESCRIPTION)
    evals_cli.add_commands(e.add_subparsers(dest="evals_command", required=True, parser_class=parser_class,
                                            metavar="命令"))
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()
        return 0
    return run_cli(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
