"""Errors the user can act on. Their message is Chinese and is shown as is (CLI, UI)."""


class UserFacingError(Exception):
    """Base for problems the user can fix: bad input, a server that is down, a missing file."""


class RequestError(UserFacingError, ValueError):
    """A malformed drafting request."""


class InputFileError(UserFacingError, ValueError):
    """A file the product cannot read or use."""


class LLMError(UserFacingError):
    """The language model endpoint failed (down, slow, refused, or answered garbage)."""


def run_cli(parser, argv: list[str] | None = None) -> int:
    """Run an argparse command whose `func` does the work: a UserFacingError becomes one Chinese
    line on stderr and exit status 2, Ctrl+C exit status 130, never a traceback."""
    import sys

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserFacingError as e:
        print(f"错误：{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130
