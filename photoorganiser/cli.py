"""The command line: a thin client over the library.

`photoorganiser import ...`, `photoorganiser find-duplicates ...`, and the original
scripts' names `import.py` and `find_duplicates.py`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

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


def _setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("photoorganiser").setLevel(level)


# --- import ---------------------------------------------------------------------


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    from .parallel import default_workers
    from .paths import DEFAULT_TEMPLATE, FIELDS

    parser.add_argument(
        "--input", action="append", required=True, type=Path, metavar="DIR",
        help="a folder to import from (repeatable); scanned recursively",
    )
    parser.add_argument(
        "--output", required=True, type=Path, metavar="LIBRARY", help="the library folder"
    )
    parser.add_argument(
        "--dryrun", "--dry-run", dest="dryrun", nargs="?", const=True, default=False,
        type=_bool_flag, metavar="true|false",
        help="plan everything and write the report, change nothing",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--move", dest="mode", action="store_const", const="move",
        help="move files into the library (the default)",
    )
    mode.add_argument(
        "--copy", dest="mode", action="store_const", const="copy",
        help="copy files into the library, leaving the inputs as they are",
    )
    parser.add_argument(
        "--template", default=DEFAULT_TEMPLATE,
        help=f"destination inside the library (default {DEFAULT_TEMPLATE}); fields: "
        + " ".join("{" + f + "}" for f in FIELDS),
    )
    parser.add_argument(
        "--workers", type=int, default=default_workers(), metavar="N",
        help="processes reading files (default: the number of CPUs)",
    )
    parser.add_argument(
        "--timezone", metavar="ZONE",
        help="IANA zone for UTC video times without their own zone (default: this machine's)",
    )
    parser.add_argument(
        "--no-mtime", dest="use_mtime", action="store_false",
        help="file undatable files under undated/ instead of dating them by modification time",
    )
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the CSV report here")
    parser.add_argument(
        "--report-dir", type=Path, default=Path("reports"), metavar="DIR",
        help="folder for the timestamped CSV report (default: reports/)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors; no progress")
    parser.add_argument(
        "--debug", nargs="?", const=True, default=False, type=_bool_flag, metavar="true|false",
        help="log every decision",
    )


def cmd_import(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .importer import ImportOptions, ImportUsageError, run_import
    from .model import TransferMode
    from .report import summary_table

    _setup_logging(args.debug, args.quiet)
    options = ImportOptions(
        inputs=tuple(args.input),
        library=args.output,
        mode=TransferMode(args.mode or "move"),
        dry_run=args.dryrun,
        template=args.template,
        workers=args.workers,
        timezone=args.timezone,
        use_mtime=args.use_mtime,
        report=args.report,
        report_dir=args.report_dir,
        progress=not args.quiet,
    )
    try:
        result = run_import(options)
    except ImportUsageError as exc:
        raise UsageError(str(exc)) from None
    if args.quiet:
        if result.failed:
            print(f"{result.failed} file(s) failed; see {result.report_path}", file=sys.stderr)
    else:
        Console(highlight=False).print(summary_table(result.summary, result.title))
        print(f"Report: {result.report_path}")
    return EXIT_FILE_ERRORS if result.failed else EXIT_OK


# --- find-duplicates ------------------------------------------------------------
# (owned by the find-duplicates work: add_find_duplicates_arguments / cmd_find_duplicates)


def add_find_duplicates_arguments(parser: argparse.ArgumentParser) -> None:
    from .parallel import default_workers

    parser.add_argument(
        "--input", action="append", required=True, metavar="DIR",
        help="folder to search (repeatable); nothing in it is changed",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--report", metavar="FILE", help="write the report here")
    out.add_argument("--output", dest="report", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument(
        "--report-dir", default="reports", metavar="DIR",
        help="folder for duplicates-YYYYmmdd-HHMMSS.<format> when --report is not given "
        "(default: reports)",
    )
    parser.add_argument(
        "--format", choices=["csv", "json"], default=None,
        help="report format (default: from the --report suffix, else csv)",
    )
    parser.add_argument(
        "--similar", action="store_true",
        help="also find near duplicates: resized, recompressed, converted, rotated, mirrored",
    )
    parser.add_argument(
        "--hash-size", type=int, default=8, metavar="N",
        help="perceptual hash size: N*N bits (default: 8)",
    )
    parser.add_argument(
        "--threshold", type=int, default=None, metavar="BITS",
        help="largest perceptual hash distance in bits still similar "
        "(default: 10 for --hash-size 8, scaled with N*N)",
    )
    parser.add_argument(
        "--include-empty", action="store_true", help="report empty files as duplicates too"
    )
    parser.add_argument(
        "--include-bursts", action="store_true",
        help="group look-alike shots taken seconds apart (bursts) as similar too",
    )
    parser.add_argument(
        "--prefer", action="append", default=[], metavar="DIR",
        help="keep files under DIR first (repeatable, in order of preference)",
    )
    parser.add_argument(
        "--workers", type=int, default=default_workers(), metavar="N",
        help="parallel processes (default: CPU count)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the report's path")
    parser.add_argument("--debug", action="store_true", help="log every stage in detail")


def cmd_find_duplicates(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from . import dupreport
    from .duplicates import FindOptions, find_duplicates

    inputs = tuple(Path(p) for p in args.input)
    for folder in inputs:
        if not folder.is_dir():
            raise UsageError(f"input folder not found: {folder}")
    if not 4 <= args.hash_size <= 32:
        raise UsageError("--hash-size must be between 4 and 32")
    if args.threshold is not None and not 0 <= args.threshold < args.hash_size**2:
        raise UsageError(f"--threshold must be between 0 and {args.hash_size**2 - 1}")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.format is not None:
        fmt = dupreport.ReportFormat(args.format)
    elif args.report and args.report.lower().endswith(".json"):
        fmt = dupreport.ReportFormat.JSON
    else:
        fmt = dupreport.ReportFormat.CSV
    if args.report:
        report = Path(args.report)
        if report.is_dir():
            raise UsageError(f"--report is a folder: {report}")
    else:
        report = dupreport.default_report_path(Path(args.report_dir), fmt)
    if args.debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger = logging.getLogger("photoorganiser")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    options = FindOptions(
        inputs=inputs,
        similar=args.similar,
        hash_size=args.hash_size,
        threshold=args.threshold,
        include_empty=args.include_empty,
        include_bursts=args.include_bursts,
        prefer=tuple(Path(p) for p in args.prefer),
        workers=args.workers,
        show_progress=not args.quiet,
    )
    result = find_duplicates(options)
    dupreport.write_report(dupreport.rows_of(result), report, fmt)
    if args.quiet:
        print(f"Report: {report}")
    else:
        dupreport.print_summary(result, report, sys.stdout)
    return EXIT_FILE_ERRORS if result.failures else EXIT_OK


# --- parser and entry points ---------------------------------------------------


def build_parser(prog: str = "photoorganiser") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    imp = sub.add_parser("import", help="file photos and videos into the library by capture date")
    add_import_arguments(imp)
    imp.set_defaults(func=cmd_import)
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
    except KeyboardInterrupt as exc:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        result = getattr(exc, "result", None)
        if result is not None:
            print(f"Report: {result.report_path}")
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return _run(build_parser(), argv)


def legacy_import_main(argv: Sequence[str] | None = None) -> int:
    """`import.py --input X --output Y [--dryrun [true]] [--debug [true]]`: the original script."""
    parser = _Parser(prog="import.py", description="Import photos and videos into a library.")
    add_import_arguments(parser)
    parser.set_defaults(func=cmd_import)
    return _run(parser, argv)


def legacy_find_duplicates_main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="find_duplicates.py", description="Report duplicate photos.")
    add_find_duplicates_arguments(parser)
    parser.set_defaults(func=cmd_find_duplicates)
    return _run(parser, argv)
