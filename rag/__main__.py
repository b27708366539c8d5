"""Command line: python -m rag {build-corpus,ingest,search,draft,model} …

A thin shell over the stage functions; every user-facing message is Chinese, and a
user error exits with status 2 and one clear line instead of a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rag.config import PROJECT_ROOT, get_settings
from rag.errors import run_cli
from rag.schema import GENRES, ROLES


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_build_corpus(args: argparse.Namespace) -> int:
    from rag.corpus import build_corpus, check_corpus
    raw, out = Path(args.raw), Path(args.out)
    if args.check:
        diffs = check_corpus(raw, out)
        for d in diffs:
            print(d)
        print("语料与原始文件一致。" if not diffs else f"语料有 {len(diffs)} 处与重新生成的结果不同。")
        return 1 if diffs else 0
    result = build_corpus(raw, out)
    print(f"已生成 {len(result.articles)} 篇文章、{len(result.chunks)} 个段落，"
          f"审计记录 {len(result.audit)} 条，写入 {out}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.ingest import ingest_paths
    report = ingest_paths([Path(p) for p in args.paths], get_settings(), progress=_progress,
                          delete=args.delete)
    print(report.summary())
    return 1 if report.errors and not (report.added or report.replaced or report.unchanged
                                       or report.deleted) else 0


def cmd_search(args: argparse.Namespace) -> int:
    from rag.retrieve import retrieve_exemplars
    hits = retrieve_exemplars(args.query, genre=args.genre, role=args.role, k=args.k,
                              settings=get_settings())
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return 0
    if not hits:
        print("没有找到匹配的范文段落。")
    for i, h in enumerate(hits, 1):
        print(f"[{i}] {h.score:.4f}  {h.genre}·{h.role}  《{h.title}》 {h.section}  ({h.source})")
        print(f"    {h.text[:160]}{'…' if len(h.text) > 160 else ''}")
    return 0


# Exit status of `rag draft`: 0 a draft, 1 no draft (facts missing), 2 an error with nothing
# written, 3 a partial draft (a fault mid-way; the finished parts are printed and can be resumed).
EXIT_PARTIAL = 3


def _load_json_file(path: str, what: str) -> Any:
    from rag.errors import RequestError
    from rag.textio import read_text_file
    try:
        return json.loads(read_text_file(path))
    except json.JSONDecodeError as e:
        raise RequestError(f"{what}文件 {path} 不是合法的 JSON（第 {e.lineno} 行第 {e.colno} 列）。") from None


def cmd_plan(args: argparse.Namespace) -> int:
    from rag.draft import plan_draft
    from rag.normalize import load_request
    loaded = load_request(args.request)
    plan, sheet = plan_draft(loaded.request, get_settings())
    sheet.notices[:0] = loaded.notices
    if args.json:
        print(json.dumps({"plan": plan.to_dict(), "facts": sheet.to_dict()}, ensure_ascii=False, indent=1))
    else:
        for f in sheet.facts:
            print(f"[{f.id}] （{f.kind}→{f.part}）{f.text}")
        for n in sheet.notices:
            print(f"· {n}")
        print(plan.describe(loaded.request))
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    from rag.draft import DraftResult
    from rag.plan import ReportPlan
    from rag.schema import DraftRequest
    from rag.service import draft_from_request
    data = DraftRequest.read_json(args.request)
    plan = None
    if args.plan:
        plan_data = _load_json_file(args.plan, "提纲")
        plan = ReportPlan.from_dict(plan_data.get("plan", plan_data) if isinstance(plan_data, dict) else plan_data)
    resume = DraftResult.from_json(_load_json_file(args.resume, "未完成草稿")) if args.resume else None
    hints = {"plan": f"请用 rag plan --request {args.request} --json 重新生成提纲。",
             "resume": f"请不带 --resume 重新起草：rag draft --request {args.request}。"}
    stream = None if args.json else (lambda t: print(t, end="", flush=True))
    result = draft_from_request(data, get_settings(), on_token=stream, progress=_progress, plan=plan,
                                resume=resume, hints=hints, facts_only=args.facts_only)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    else:
        print("\n\n" + result.summary())
    if result.partial:
        return EXIT_PARTIAL
    return 0 if result.draft else 1


def cmd_fill(args: argparse.Namespace) -> int:
    """补充材料 from the command line: one paragraph of a drafted result rewritten with the
    user's material; prints the new result (with its request) as JSON."""
    from rag.draft import DraftResult, fill_paragraph
    from rag.normalize import load_request
    saved = _load_json_file(args.draft, "草稿")
    result = DraftResult.from_json(saved)
    request = load_request(args.request).request
    text = args.text if args.text is not None else sys.stdin.read()
    filled = fill_paragraph(request, result.draft, args.at, text, get_settings(), blocks=result.blocks or None,
                            plan=result.plan, on_token=None if args.json else (lambda t: print(t, end="", flush=True)))
    if args.json:
        print(json.dumps(filled.to_json(), ensure_ascii=False, indent=1))
    else:
        print("\n\n" + filled.draft + "\n\n" + filled.summary())
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from rag.local_model import ensure_model_file, serve_forever
    path = ensure_model_file(get_settings(), progress=_progress)
    print(f"模型文件就绪：{path}")
    if args.serve:
        serve_forever(get_settings(), progress=_progress)
    return 0


def _genre(value: str) -> str:
    if value not in GENRES:
        raise argparse.ArgumentTypeError(f"未知文种“{value}”，可选：{'、'.join(GENRES)}")
    return value


def _role(value: str) -> str:
    if value not in ROLES:
        raise argparse.ArgumentTypeError(f"未知段落角色“{value}”，可选：{'、'.join(ROLES)}")
    return value


DESCRIPTION = "公文起草助手：语料、检索与起草"


def add_commands(sub) -> None:
    """The commands of `python -m rag`, added to `sub` (an argparse subparsers object): this
    parser's and the `gongwen` command's."""
    b = sub.add_parser("build-corpus", help="从 corpus/raw 重新生成清洗后的语料（JSONL）")
    b.add_argument("--raw", default=str(PROJECT_ROOT / "corpus" / "raw"))
    b.add_argument("--out", default=str(PROJECT_ROOT / "corpus"))
    b.add_argument("--check", action="store_true", help="只检查提交的语料能否逐字节重现")
    b.set_defaults(func=cmd_build_corpus)

    i = sub.add_parser("ingest", help="把自己的范文（.txt/.md/.docx 或文件夹）加入语料库")
    i.add_argument("paths", nargs="+")
    i.add_argument("--delete", action="store_true", help="从语料库中删除这些文件")
    i.set_defaults(func=cmd_ingest)

    s = sub.add_parser("search", help="按文种检索范文段落")
    s.add_argument("query")
    s.add_argument("--genre", required=True, type=_genre, help="、".join(GENRES))
    s.add_argument("--role", type=_role, default=None, help="、".join(ROLES))
    s.add_argument("-k", type=int, default=5)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    d = sub.add_parser("draft", help="根据请求文件起草")
    d.add_argument("--request", required=True)
    d.add_argument("--json", action="store_true")
    d.add_argument("--plan", help="按这个提纲起草（rag plan --json 的输出，可先修改）")
    d.add_argument("--resume", help="继续起草：上次 --json 输出的未完成草稿")
    d.add_argument("--facts-only", action="store_true", help="只写事实，不写扩写（事实之外的做法、原因和成效）")
    d.set_defaults(func=cmd_draft)

    pl = sub.add_parser("plan", help="只拟提纲：事实分类、分组、小标题和字数安排")
    pl.add_argument("--request", required=True)
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plan)

    f = sub.add_parser("fill", help="补充材料：把几句话写进草稿的一段（如回答“【待补充】”）")
    f.add_argument("--request", required=True, help="请求文件（JSON）")
    f.add_argument("--draft", required=True, help="rag draft --json 输出的草稿文件")
    f.add_argument("--at", default="", help="哪一段：小标题编号（如“（二）”）、小标题文字或部分名称；不写则为第一处【待补充】")
    f.add_argument("--text", help="补充的内容；不写则从标准输入读")
    f.add_argument("--json", action="store_true", help="输出 JSON（含新的请求）")
    f.set_defaults(func=cmd_fill)
    m = sub.add_parser("model", help="准备内置模型（拼接并校验），可选启动服务")
    m.add_argument("--serve", action="store_true")
    m.set_defaults(func=cmd_model)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag", description=DESCRIPTION)
    add_commands(p.add_subparsers(dest="command", required=True))
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
