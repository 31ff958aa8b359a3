"""The command line: a thin client over the library.

`photoorganiser import ...`, `photoorganiser find-duplicates ...`, and the original
scripts' names `import.py` and `find_duplicates.py`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FILE_ERRORS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad usage: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2, never a traceback
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _bool_flag(value: str | None) -> bool:
    """The original scripts' `--dryrun true|false` form (and bare `--dryrun`)."""
    if value is None:
        return True
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


# --- find-duplicates ------------------------------------------------------------
# (owned by the find-duplicates work: add_find_duplicates_arguments / cmd_find_duplicates)


def add_find_duplicates_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", action="append", required=True, metavar="DIR")


def cmd_find_duplicates(args: argparse.Namespace) -> int:
    raise UsageError("find-duplicates is not available yet")


# --- parser and entry points ---------------------------------------------------


def build_parser(prog: str = "photoorganiser") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    dup = sub.add_parser(
        "find-duplicates", help="report exact and near duplicates; changes nothing"
    )
    add_find_duplicates_arguments(dup)
    dup.set_defaults(func=cmd_find_duplicates)
    return parser


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return _run(build_parser(), argv)


def legacy_find_duplicates_main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="find_duplicates.py", description="Report duplicate photos.")
    add_find_duplicates_arguments(parser)
    parser.set_defaults(func=cmd_find_duplicates)
    return _run(parser, argv)
