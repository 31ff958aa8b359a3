"""The command line: a thin client over the library.

`photoorganiser import ...`, `photoorganiser find-duplicates ...`, and the original
scripts' names `import.py` and `find_duplicates.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import logging
import os
import re
import shlex
import signal
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands' own modules are imported when they run
    from .runs.undo_rows import UndoRows

EXIT_OK = 0
EXIT_FILE_ERRORS = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the library; cron may simply try again


class UsageError(Exception):
    """Bad usage: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit 2, never a traceback
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _path(text: str) -> Path:
    """A path argument; an empty one (an unset shell variable: `--input "$INBOX"`) is
    refused, never taken as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "an empty path (an unset variable?): name a folder or file"
        )
    return Path(text)


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


def _setup_logging(debug: bool, quiet: bool, log_file: Path | None = None) -> None:
    """Warnings (errors with --quiet, everything with --debug) on stderr; --log-file
    gets a timestamped record of the run at INFO (or DEBUG)."""
    logger = logging.getLogger("photoorganiser")
    for handler in [h for h in logger.handlers if getattr(h, "_photoorganiser", False)]:
        logger.removeHandler(handler)
        handler.close()
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING))
    terminal.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handlers: list[logging.Handler] = [terminal]
    if log_file is not None:
        to_file = _QuietHandler(_open_log(log_file))
        to_file.setLevel(logging.DEBUG if debug else logging.INFO)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        handlers.append(to_file)
    for handler in handlers:
        handler._photoorganiser = True
        logger.addHandler(handler)
    logger.setLevel(min(h.level for h in handlers))


class _QuietHandler(logging.StreamHandler):
    """The --log-file handler: a log that cannot be written (a full disk) is said once on
    stderr, never with logging's traceback, and never stops the run."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if not self.failed:
            self.failed = True
            print("photoorganiser: the log file cannot be written (disk full?)", file=sys.stderr)


_LOG_LINE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ [A-Z]+ ")


def _open_log(path: Path):
    """--log-file, opened only as a log: a new file, or one whose first line is a line of
    our log. Never a photo given by a typo, never through a symbolic link."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        why = "is a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise UsageError(f"cannot open the log file {path}: {why}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"--log-file {path} is not a regular file")
        if st.st_size:
            head = os.pread(fd, 64, 0)
            if not _LOG_LINE.match(head):
                raise UsageError(
                    f"--log-file {path} exists and is not a photoorganiser log; refusing to"
                    " append to it"
                )
    except BaseException:
        os.close(fd)
        raise
    return open(fd, "a", encoding="utf-8", errors="backslashreplace")


# --- import ---------------------------------------------------------------------


def add_import_arguments(parser: argparse.ArgumentParser) -> None:

    parser.add_argument(
        "--input",
        action="append",
        required=True,
        type=_path,
        metavar="DIR",
        help="a folder to import from (repeatable); scanned recursively",
    )
    parser.add_argument(
        "--output", required=True, type=_path, metavar="LIBRARY", help="the library folder"
    )
    parser.add_argument(
        "--dryrun",
        "--dry-run",
        dest="dryrun",
        nargs="?",
        const=True,
        default=False,
        type=_bool_flag,
        metavar="true|false",
        help="plan everything and write the report, change nothing",
    )
    _add_import_rules(parser, examples=True)
    _add_report_arguments(parser)
    parser.add_argument(
        "--settle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="leave files modified in the last SECONDS for the next run (still syncing in)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="read files again that failed before and have not changed since (known failures)",
    )
    _add_run_arguments(parser)
    parser.add_argument(
        "--debug",
        nargs="?",
        const=True,
        default=False,
        type=_bool_flag,
        metavar="true|false",
        help="log every decision",
    )


def _add_import_rules(parser: argparse.ArgumentParser, examples: bool = False) -> None:
    """The rules of an import that `import` and `watch` share: how files travel, where
    they go, how they are dated, which copy is taken, what is left."""
    from .core.parallel import default_workers
    from .importing.paths import DEFAULT_TEMPLATE, FIELDS

    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--move",
        dest="mode",
        action="store_const",
        const="move",
        help="move files into the library (the default)",
    )
    mode.add_argument(
        "--copy",
        dest="mode",
        action="store_const",
        const="copy",
        help="copy files into the library, leaving the inputs as they are",
    )
    parser.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        help=f"destination inside the library (default {DEFAULT_TEMPLATE}); fields: "
        + " ".join("{" + f + "}" for f in FIELDS)
        + ". The file name part needs {stem}, {hash8} or a time down to {second};"
        " {ext} is added when it does not end with it. No %%Y or YYYY: write {year}."
        + (" Examples below." if examples else ""),
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="processes reading files (default: the number of CPUs)",
    )
    parser.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone for UTC video times without their own zone (default: this machine's)",
    )
    parser.add_argument(
        "--no-mtime",
        dest="use_mtime",
        action="store_false",
        help="file undatable files under undated/ instead of dating them by modification time",
    )
    parser.add_argument(
        "--prefer",
        action="append",
        default=[],
        type=_path,
        metavar="DIR",
        help="among copies of one photo, import the one under DIR (repeatable, in order)",
    )
    parser.add_argument(
        "--leave-damaged",
        action="store_true",
        help="leave damaged but recognisable files (a truncated JPEG...) in the inbox instead"
        " of importing them as they are, marked damaged in the report",
    )
    parser.add_argument(
        "--reimport-deleted",
        action="store_true",
        help="import files again that were imported before and removed from the library"
        " since (by default they are skip-deleted: what you deleted stays deleted)",
    )


def _import_rules(args: argparse.Namespace) -> dict[str, object]:
    """ImportOptions' fields that `import` and `watch` take from the same options."""
    from .core.values import TransferMode

    return {
        "inputs": tuple(args.input),
        "library": args.output,
        "mode": TransferMode(args.mode or "move"),
        "dry_run": args.dryrun,
        "template": args.template,
        "workers": args.workers,
        "timezone": args.timezone,
        "use_mtime": args.use_mtime,
        "settle": args.settle,
        "command": shlex.join(args.argv),
        "prefer": tuple(args.prefer),
        "leave_damaged": args.leave_damaged,
        "reimport_deleted": args.reimport_deleted,
    }


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", type=_path, metavar="FILE", help="write the CSV report here")
    parser.add_argument(
        "--report-dir",
        type=_path,
        default=Path("reports"),
        metavar="DIR",
        help="folder for the timestamped CSV report (default: reports/)",
    )


def _run_fields(args: argparse.Namespace) -> dict[str, object]:
    """The options of `_add_report_arguments` and `_add_run_arguments`, as the fields every
    run's options share: where the report goes, progress unless --quiet, --wait."""
    return {
        "report": args.report,
        "report_dir": args.report_dir,
        "progress": not args.quiet,
        "wait": args.wait,
    }


def _add_library_arguments(parser: argparse.ArgumentParser, output_help: str) -> None:
    """What `apply` and `sync` share: the library, the pool, the report, cron options."""
    from .core.parallel import default_workers

    parser.add_argument("--output", required=True, type=_path, metavar="LIBRARY", help=output_help)
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N")
    _add_report_arguments(parser)
    _add_run_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="log in detail")


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What every command that writes the library takes: cron-friendliness."""
    parser.add_argument("--quiet", action="store_true", help="print only errors; no progress")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="if another run holds the library, wait for it instead of exiting with status 75",
    )
    parser.add_argument("--log-file", type=_path, metavar="FILE", help="append a log of the run")


def cmd_import(args: argparse.Namespace) -> int:
    from .runs.importer import ImportOptions, ImportUsageError, run_import

    _setup_logging(args.debug, args.quiet, args.log_file)
    options = ImportOptions(
        **_import_rules(args),
        **_run_fields(args),
        retry_failed=args.retry_failed,
    )
    try:
        result = run_import(options)
    except ImportUsageError as exc:
        raise UsageError(str(exc)) from None
    return _print_result(result, args.quiet)


# --- apply ------------------------------------------------------------------------


def add_apply_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", type=_path, metavar="REPORT.csv", help="a reviewed dry-run report")
    _add_library_arguments(parser, "the library it plans for")
    parser.add_argument(
        "--rebase",
        action="store_true",
        help="the plan was made for another library: put its files in --output instead",
    )


def cmd_apply(args: argparse.Namespace) -> int:
    from .runs.apply import ApplyOptions, ApplyUsageError, run_apply

    _setup_logging(args.debug, args.quiet, args.log_file)
    options = ApplyOptions(
        plan=args.plan,
        library=args.output,
        workers=args.workers,
        **_run_fields(args),
        rebase=args.rebase,
        command=shlex.join(args.argv),
    )
    try:
        result = run_apply(options)
    except ApplyUsageError as exc:
        raise UsageError(str(exc)) from None
    return _print_result(result, args.quiet)


# --- dedupe -----------------------------------------------------------------------


def add_dedupe_arguments(parser: argparse.ArgumentParser) -> None:
    from .core.parallel import default_workers

    parser.add_argument(
        "source", type=_path, metavar="REPORT", help="a reviewed find-duplicates report (CSV/JSON)"
    )
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--quarantine",
        type=_path,
        metavar="DIR",
        help="move each duplicate under DIR, in folders mirroring its absolute path",
    )
    how.add_argument("--trash", action="store_true", help="move each duplicate to the trash")
    how.add_argument(
        "--hardlink",
        action="store_true",
        help="replace each exact duplicate by a hard link to its keeper (same file system)",
    )
    how.add_argument("--delete", action="store_true", help="delete exact duplicates (with --yes)")
    how.add_argument(
        "--reflink",
        action="store_true",
        help="replace each exact duplicate by a reflink of its keeper: a copy sharing its"
        " blocks (btrfs, XFS; other file systems leave the duplicate alone)",
    )
    parser.add_argument("--yes", action="store_true", help="confirm --delete")
    parser.add_argument("--dryrun", action="store_true", help="plan and report; touch nothing")
    parser.add_argument(
        "--reference",
        type=_path,
        action="append",
        default=[],
        metavar="DIR",
        help="files under DIR are never touched (repeatable)",
    )
    parser.add_argument(
        "--keep-copies",
        type=int,
        default=1,
        metavar="N",
        help="leave at least N copies of each content, in different folders first",
    )
    parser.add_argument(
        "--same-folder",
        action="store_true",
        help="act only on duplicates in the same folder as their keeper",
    )
    parser.add_argument(
        "--sidecars-to-keeper",
        action="store_true",
        help="an exact duplicate's sidecar its keeper has none of the kind of moves beside"
        " the keeper, under its name (default: such a duplicate is left alone)",
    )
    parser.add_argument(
        "--journal",
        type=_path,
        metavar="DIR",
        help="where the run's journal and lock live without --quarantine"
        " (default: $XDG_STATE_HOME/photoorganiser/dedupe)",
    )
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N")
    _add_report_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="print only errors; no progress")


def cmd_dedupe(args: argparse.Namespace) -> int:
    from .duplicates.report import human_bytes
    from .runs.dedupe import DedupeBusy, DedupeOptions, DedupeUsageError, How, run_dedupe

    how = (
        How.QUARANTINE
        if args.quarantine is not None
        else How.TRASH
        if args.trash
        else How.HARDLINK
        if args.hardlink
        else How.REFLINK
        if args.reflink
        else How.DELETE
    )
    options = DedupeOptions(
        source=args.source,
        how=how,
        quarantine=args.quarantine,
        yes=args.yes,
        dry_run=args.dryrun,
        report=args.report,
        report_dir=args.report_dir,
        reference=tuple(args.reference),
        keep_copies=args.keep_copies,
        same_folder=args.same_folder,
        sidecars_to_keeper=args.sidecars_to_keeper,
        journal=args.journal,
        workers=args.workers,
        progress=not args.quiet,
        command=shlex.join(args.argv),
    )
    try:
        result = run_dedupe(options)
    except DedupeUsageError as exc:
        raise UsageError(str(exc)) from None
    except DedupeBusy as exc:
        print(f"photoorganiser dedupe: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    verb = "would be reclaimed" if result.dry_run else "reclaimed"
    if not args.quiet:
        for status in ("kept", "planned", "done", "left-alone", "failed", "not-done"):
            n = result.count(status)
            if n:
                print(f"{status:>11}: {n}")
        print(f"Space {verb}: {human_bytes(result.reclaimed)} ({result.reclaimed} bytes)")
        print(f"Report: {result.report_path}")
    elif result.failed:
        print(f"{result.failed} file(s) failed; see {result.report_path}", file=sys.stderr)
    if result.interrupted is not None:
        print("photoorganiser: interrupted; files not reached are untouched", file=sys.stderr)
        return 128 + result.interrupted
    return EXIT_FILE_ERRORS if result.failed else EXIT_OK


SHOWN_FAILURES = 50


def _print_failures(result) -> None:
    """A dry run names the files that would fail (the report has them all)."""
    from .core.values import Status

    failed = [o for o in result.outcomes if o.status is Status.FAILED]
    print(f"These {len(failed)} file(s) would fail:")
    for o in failed[:SHOWN_FAILURES]:
        print(f"  {o.decision.source}: {o.error or ''}")
    if len(failed) > SHOWN_FAILURES:
        print(f"  ... and {len(failed) - SHOWN_FAILURES} more (see the report)")


def _print_result(result, quiet: bool) -> int:
    """The summary table and the report's name (or, quiet, only what failed)."""
    from rich.console import Console

    from .core.reportfile import summary_table

    for note in result.notes:
        print(f"photoorganiser: {note}", file=sys.stderr)
    if quiet:
        if result.failed:
            print(f"{result.failed} file(s) failed; see {result.report_path}", file=sys.stderr)
    else:
        Console(highlight=False).print(summary_table(result.summary, result.title))
        if result.dry_run and result.failed:
            _print_failures(result)
        print(f"Report: {result.report_path}")
    if result.interrupted is not None:
        from .core.signals import Stopped

        stop = Stopped(result.interrupted)
        print(
            f"photoorganiser: stopped by {stop.name}; files not reached are untouched (see"
            f" the report)",
            file=sys.stderr,
        )
        if quiet:
            print(f"Report: {result.report_path}", file=sys.stderr)
        return stop.exit_status
    return EXIT_FILE_ERRORS if result.failed else EXIT_OK


# --- sync -------------------------------------------------------------------------


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    _add_library_arguments(parser, "the library folder")
    parser.add_argument("--timezone", metavar="ZONE", help="as for import")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="set the catalog aside (kept, never deleted) and make a new one from the library;"
        " for a damaged catalog",
    )
    parser.add_argument(
        "--reread",
        action="store_true",
        help="read every file again, not only changed ones: after an upgrade, the catalog"
        " learns what newer readers find (GPS positions, better dates); reads the whole library",
    )


def cmd_sync(args: argparse.Namespace) -> int:
    from .library.sync import Change
    from .runs.sync import SyncOptions, SyncUsageError, run_sync

    _setup_logging(args.debug, args.quiet, args.log_file)
    options = SyncOptions(
        library=args.output,
        workers=args.workers,
        timezone=args.timezone,
        **_run_fields(args),
        rebuild=args.rebuild,
        reread=args.reread,
    )
    try:
        result, report = run_sync(options)
    except SyncUsageError as exc:
        raise UsageError(str(exc)) from None
    failed = result.count(Change.FAILED)
    if result.rebuilt:
        kept = f"; the old one is kept as {result.set_aside}" if result.set_aside else ""
        print(f"Catalog rebuilt from the library{kept}")
    if not args.quiet:
        counts = ", ".join(f"{c.value} {result.count(c)}" for c in Change)
        print(f"Catalog synced: unchanged {result.unchanged}, {counts}")
        print(f"Report: {report}")
    elif failed:
        print(f"{failed} file(s) could not be read; see {report}", file=sys.stderr)
    return EXIT_FILE_ERRORS if failed else EXIT_OK


# --- verify -----------------------------------------------------------------------


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    _add_library_arguments(parser, "the library whose files to read again")
    parser.add_argument(
        "--older-than",
        type=float,
        metavar="DAYS",
        help="skip files verified ok within the last DAYS (default: verify every file; a"
        " stopped verify of every file is resumed)",
    )
    parser.add_argument(
        "--sample",
        type=float,
        metavar="PERCENT",
        help="verify a random PERCENT of the files, the least recently verified most likely",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="the --sample's random seed (default: a new one)"
    )
    parser.add_argument(
        "--max-duration",
        metavar="TIME",
        help="stop reading after TIME (2h, 90m, 1h30m, 3600 seconds), the least recently"
        " verified files first; the next verify goes on from there (a nightly job's window)",
    )
    parser.add_argument(
        "--manifest",
        type=_path,
        metavar="FILE",
        help="write a sha256sum -c compatible manifest of every ok file (paths relative to"
        " the library: cd LIBRARY && sha256sum -c FILE)",
    )


def cmd_verify(args: argparse.Namespace) -> int:
    from .runs.verify import (
        VerifyOptions,
        VerifyUsageError,
        parse_duration,
        run_verify,
        summary_lines,
    )

    _setup_logging(args.debug, args.quiet, args.log_file)
    try:
        options = VerifyOptions(
            library=args.output,
            sample=args.sample,
            older_than=args.older_than,
            seed=args.seed,
            manifest=args.manifest,
            workers=args.workers,
            **_run_fields(args),
            command=shlex.join(args.argv),
            max_duration=None if args.max_duration is None else parse_duration(args.max_duration),
        )
        result = run_verify(options)
    except VerifyUsageError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        for label, count in summary_lines(result):
            print(f"{label:>32}: {count:,}")
        print(f"Read {result.bytes_read / 1e6:,.1f} MB at {result.mb_per_s:,.1f} MB/s")
        if result.manifest is not None:
            print(f"Manifest: {result.manifest} ({result.manifest_files:,} files)")
        print(f"Report: {result.report}")
    elif result.problems:
        print(
            f"{result.problems} file(s) are not as catalogued; see {result.report}", file=sys.stderr
        )
    if result.interrupted is not None:
        print("photoorganiser: interrupted; the next verify resumes", file=sys.stderr)
        return 128 + result.interrupted
    return EXIT_FILE_ERRORS if result.problems else EXIT_OK


# --- repair ------------------------------------------------------------------------


def add_repair_arguments(parser: argparse.ArgumentParser) -> None:
    _add_library_arguments(parser, "the library whose damaged or missing files to bring back")
    parser.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        type=_path,
        metavar="DIR",
        help="a folder holding good copies (a backup, an old drive; repeatable): found by"
        " their content, whatever their names",
    )
    parser.add_argument(
        "--dryrun", action="store_true", help="find the copies and report; change nothing"
    )


def cmd_repair(args: argparse.Namespace) -> int:
    from .runs.repair import RepairOptions, RepairUsageError, run_repair, summary_lines

    _setup_logging(args.debug, args.quiet, args.log_file)
    try:
        result = run_repair(
            RepairOptions(
                library=args.output,
                sources=tuple(args.sources),
                dry_run=args.dryrun,
                workers=args.workers,
                **_run_fields(args),
                command=shlex.join(args.argv),
            )
        )
    except RepairUsageError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        title = "Repair (dry run: nothing was changed)" if result.dry_run else "Repair"
        print(title)
        for label, count in summary_lines(result) or [("nothing to repair", 0)]:
            print(f"{label:>20}: {count:,}")
        print(f"Report: {result.report}")
    elif result.problems:
        print(f"{result.problems} file(s) not repaired; see {result.report}", file=sys.stderr)
    return EXIT_FILE_ERRORS if result.problems else EXIT_OK


# --- failures ----------------------------------------------------------------------


def add_failures_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, type=_path, metavar="LIBRARY")
    parser.add_argument(
        "--report", type=_path, metavar="FILE", help="write the CSV here (default: print it)"
    )
    parser.add_argument(
        "--wait", action="store_true", help="if another run holds the library, wait for it"
    )


def cmd_failures(args: argparse.Namespace) -> int:
    from .runs.failures import FailuresUsageError, run_failures

    try:
        failures = run_failures(args.output, args.report, wait=args.wait)
    except FailuresUsageError as exc:
        raise UsageError(str(exc)) from None
    if args.report is not None:
        print(f"{len(failures)} known failure(s); report: {args.report}")
    return EXIT_OK


# --- runs and undo -------------------------------------------------------------------


def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, type=_path, metavar="LIBRARY")
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument(
        "--wait", action="store_true", help="if another run holds the library, wait for it"
    )


def cmd_runs(args: argparse.Namespace) -> int:
    import csv
    import dataclasses
    import json

    from .core.textsafe import display_text
    from .runs.undo import UndoUsageError, library_runs

    try:
        runs = library_runs(args.output, wait=args.wait)
    except UndoUsageError as exc:
        raise UsageError(str(exc)) from None
    rows = [
        {k: display_text(v) if isinstance(v, str) else v for k, v in dataclasses.asdict(r).items()}
        | {"kind": r.kind}
        for r in runs
    ]
    try:
        if args.format == "json":
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        else:
            from .library.runlog import RunInfo

            columns = [f.name for f in dataclasses.fields(RunInfo)] + ["kind"]
            writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        sys.stdout.flush()
    except BrokenPipeError:  # `runs ... | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def add_undo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run",
        nargs="?",
        metavar="RUN",
        help="the run to undo (its id, see `runs`); default: the last finished import,"
        " apply or undo",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", type=_path, metavar="LIBRARY", help="undo a run of this library")
    where.add_argument(
        "--quarantine",
        type=_path,
        metavar="DIR",
        help="undo a dedupe that quarantined into DIR (its last run by default)",
    )
    where.add_argument(
        "--journal",
        nargs="?",
        const="",
        metavar="DIR",
        help="undo a dedupe whose journal is in DIR (--trash, --hardlink, --delete: the"
        " dedupe's --journal; without DIR, the user's state folder, where they are kept"
        " by default)",
    )
    where.add_argument(
        "--export",
        type=_path,
        metavar="DIR",
        help="undo the last export into DIR: the files it created are removed (checked first)",
    )
    parser.add_argument(
        "--dryrun", action="store_true", help="only report what would be undone; change nothing"
    )
    _add_report_arguments(parser)
    _add_run_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="log in detail")


def cmd_undo(args: argparse.Namespace) -> int:
    from .runs.undo import UndoOptions, UndoUsageError, run_undo

    _setup_logging(args.debug, args.quiet, args.log_file)
    if args.export is not None:
        return _undo_export(args)
    if args.output is None:
        return _undo_dedupe(args)
    options = UndoOptions(
        library=args.output,
        run=args.run,
        dry_run=args.dryrun,
        **_run_fields(args),
        command=shlex.join(args.argv),
    )
    try:
        result = run_undo(options)
    except UndoUsageError as exc:
        raise UsageError(str(exc)) from None
    return _print_result(result, args.quiet)


def _undo_export(args: argparse.Namespace) -> int:
    """`undo --export DIR`: remove what the last export into DIR created."""
    from .runs.undo_export import UndoExportOptions, UndoExportUsageError, run_undo_export

    options = UndoExportOptions(
        to=args.export,
        run=args.run,
        dry_run=args.dryrun,
        report=args.report,
        report_dir=args.report_dir,
        wait=args.wait,
        command=shlex.join(args.argv),
    )
    try:
        result = run_undo_export(options)
    except UndoExportUsageError as exc:
        raise UsageError(str(exc)) from None
    return _print_undo_rows(result, args, "export", "remove", "left (changed)", "left")


def _undo_dedupe(args: argparse.Namespace) -> int:
    """`undo --quarantine DIR` / `undo --journal DIR`: reverse a dedupe run."""
    from .runs.dedupe import DedupeBusy
    from .runs.undo_dedupe import (
        UndoDedupeOptions,
        UndoDedupeUsageError,
        journal_folder_of,
        run_undo_dedupe,
    )

    journal = Path(args.journal) if args.journal else None  # "": the default state folder
    folder = journal_folder_of(args.quarantine, journal)
    options = UndoDedupeOptions(
        folder=folder,
        run=args.run,
        dry_run=args.dryrun,
        report=args.report,
        report_dir=args.report_dir,
        command=shlex.join(args.argv),
    )
    try:
        result = run_undo_dedupe(options)
    except UndoDedupeUsageError as exc:
        raise UsageError(str(exc)) from None
    except DedupeBusy as exc:
        print(f"photoorganiser undo: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    return _print_undo_rows(result, args, "dedupe", "restore", "not", "not restored")


def _print_undo_rows(
    result: UndoRows, args: argparse.Namespace, kind: str, verb: str, rest: str, quiet_rest: str
) -> int:
    """An undo of a dedupe or an export, in a line (`kind` run, what `verb` did), or with
    --quiet only the files it could not take back (`quiet_rest`) on stderr."""
    done = result.count("planned" if args.dryrun else "done")
    did = f"would {verb}" if args.dryrun else f"{verb}d"
    if not args.quiet:
        print(f"{kind} run {result.run_id}: {did} {done} file(s), {result.failed} {rest}")
        for note in result.notes:
            print(note)
        print(f"Report: {result.report_path}")
    elif result.failed:
        print(f"{result.failed} file(s) {quiet_rest}; see {result.report_path}", file=sys.stderr)
    return EXIT_FILE_ERRORS if result.failed else EXIT_OK


# --- export -----------------------------------------------------------------------


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    from .core.parallel import default_workers

    parser.add_argument(
        "--output", required=True, type=_path, metavar="LIBRARY", help="the library (only read)"
    )
    parser.add_argument(
        "--to",
        required=True,
        type=_path,
        metavar="DIR",
        help="where the copies go (not inside the library); the library's folder layout is kept",
    )
    parser.add_argument(
        "--format", choices=["jpeg", "webp", "avif"], default="jpeg", help="default: jpeg"
    )
    parser.add_argument(
        "--max-size", metavar="WxH", help="fit photos inside W x H pixels (never enlarged)"
    )
    parser.add_argument("--quality", type=int, default=80, metavar="Q", help="1-100 (default 80)")
    parser.add_argument(
        "--min-size",
        type=float,
        default=0,
        metavar="MB",
        help="photos smaller than MB megabytes are copied as they are (default 0: none)",
    )
    ratio = parser.add_mutually_exclusive_group()
    ratio.add_argument(
        "--keep-ratio",
        dest="keep_ratio",
        action="store_true",
        default=True,
        help="fit inside --max-size, keeping the ratio (the default)",
    )
    ratio.add_argument(
        "--no-ratio",
        dest="keep_ratio",
        action="store_false",
        help="exactly --max-size: the photo fills it and is centre-cropped (never stretched)",
    )
    parser.add_argument("--strip-gps", action="store_true", help="leave GPS out of the copies")
    parser.add_argument(
        "--video-transcode",
        action="store_true",
        help="make videos H.264 MP4s with ffmpeg (fitted in --max-size; quality as --quality)"
        " instead of copying them",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="remove earlier exports of files that left the library (stale; checked first)",
    )
    parser.add_argument("--dryrun", action="store_true", help="plan and report; write nothing")
    parser.add_argument("--workers", type=int, default=default_workers(), metavar="N")
    _add_report_arguments(parser)
    _add_run_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="log in detail")


def cmd_export(args: argparse.Namespace) -> int:
    from .media.convert import ConvertSpec, OutFormat
    from .runs.export import ExportOptions, ExportUsageError, parse_size, run_export

    _setup_logging(args.debug, args.quiet, args.log_file)
    try:
        max_size = parse_size(args.max_size) if args.max_size else None
    except ValueError:
        raise UsageError(f"--max-size {args.max_size}: give WIDTHxHEIGHT, e.g. 2048x2048") from None
    if not args.keep_ratio and max_size is None:
        raise UsageError("--no-ratio needs --max-size WxH")
    if args.min_size < 0:
        raise UsageError("--min-size cannot be negative")
    spec = ConvertSpec(OutFormat(args.format), args.quality, max_size, args.keep_ratio,
                       args.strip_gps)  # fmt: skip
    options = ExportOptions(
        library=args.output,
        to=args.to,
        spec=spec,
        min_size=int(args.min_size * 1_000_000),
        prune=args.prune,
        video_transcode=args.video_transcode,
        dry_run=args.dryrun,
        workers=args.workers,
        **_run_fields(args),
        command=shlex.join(args.argv),
    )
    try:
        result = run_export(options)
    except ExportUsageError as exc:
        raise UsageError(str(exc)) from None
    return _print_export(result, args.quiet)


def _print_export(result, quiet: bool) -> int:
    """The summary, bytes in and out, the files that failed or were refused, the report."""
    from rich.console import Console

    from .core.reportfile import summary_table
    from .core.signals import Stopped

    problems = [r for r in result.rows if r.status in ("failed", "refused")]
    if quiet:
        if problems:
            print(
                f"{len(problems)} file(s) not exported; see {result.report_path}", file=sys.stderr
            )
    else:
        Console(highlight=False).print(summary_table(result.summary, result.title))
        print(result.bytes_line(), end="")
        for row in problems[:SHOWN_FAILURES]:
            print(f"  {row.status}: {row.path}: {row.reason}")
        if len(problems) > SHOWN_FAILURES:
            print(f"  ... and {len(problems) - SHOWN_FAILURES} more (see the report)")
        print(f"Report: {result.report_path}")
    if result.interrupted is not None:
        stop = Stopped(result.interrupted)
        print(f"photoorganiser: stopped by {stop.name}; see the report", file=sys.stderr)
        return stop.exit_status
    return EXIT_FILE_ERRORS if problems else EXIT_OK


# --- find-duplicates ------------------------------------------------------------
# (owned by the find-duplicates work: add_find_duplicates_arguments / cmd_find_duplicates)


def add_find_duplicates_arguments(parser: argparse.ArgumentParser) -> None:
    from .core.parallel import default_workers

    parser.add_argument(
        "--input",
        action="append",
        required=True,
        type=_path,
        metavar="DIR",
        help="folder to search (repeatable); nothing in it is changed",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--report", metavar="FILE", help="write the report here")
    out.add_argument("--output", dest="report", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="folder for duplicates-YYYYmmdd-HHMMSS.<format> when --report is not given "
        "(default: reports)",
    )
    parser.add_argument(
        "--format",
        choices=["csv", "json"],
        default=None,
        help="report format (default: from the --report suffix, else csv)",
    )
    parser.add_argument(
        "--similar",
        action="store_true",
        help="also find near duplicates: resized, recompressed, converted, rotated, mirrored",
    )
    parser.add_argument(
        "--hash-size",
        type=int,
        default=8,
        metavar="N",
        help="perceptual hash size: N*N bits (default: 8)",
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=None,
        metavar="BITS",
        help="largest perceptual hash distance in bits still similar "
        "(default: 6 for --hash-size 8, scaled with N*N)",
    )
    parser.add_argument(
        "--include-empty", action="store_true", help="report empty files as duplicates too"
    )
    parser.add_argument(
        "--include-bursts",
        action="store_true",
        help="group look-alike shots taken seconds apart (bursts) as similar too",
    )
    parser.add_argument(
        "--prefer",
        action="append",
        default=[],
        type=_path,
        metavar="DIR",
        help="keep files under DIR first (repeatable, in order of preference)",
    )
    parser.add_argument(
        "--library",
        metavar="LIBRARY",
        help="compare the inputs with this library: its copy is always the one kept, and "
        "every input file it holds is reported against it (the library is only read)",
    )
    parser.add_argument(
        "--unique",
        action="store_true",
        help="with --library: report the input files the library lacks, instead of the "
        "duplicates (is everything on this drive in the library?)",
    )
    _add_picture_checks(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="parallel processes (default: CPU count)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the report's path")
    parser.add_argument("--debug", action="store_true", help="log every stage in detail")


def _add_picture_checks(parser: argparse.ArgumentParser) -> None:
    """find-duplicates' checks of each picture on its own (duplicates/quality.py)."""
    from .duplicates.values import BLANK_THRESHOLD, BLUR_THRESHOLD, DARK_THRESHOLD

    checks = parser.add_argument_group(
        "blank and poor pictures (one row each; dedupe acts on them)"
    )
    checks.add_argument(
        "--blanks",
        action="store_true",
        help="report near-uniform frames: black, white, lens cap, pocket shots",
    )
    checks.add_argument("--dark", action="store_true", help="report very dark pictures")
    checks.add_argument("--blurred", action="store_true", help="report very blurred pictures")
    checks.add_argument(
        "--blank-threshold",
        type=float,
        metavar="GREY",
        help="blank: the 32x32 grey picture's standard deviation is under GREY levels"
        f" (0-255; default {BLANK_THRESHOLD:g})",
    )
    checks.add_argument(
        "--dark-threshold",
        type=float,
        metavar="GREY",
        help=f"dark: the mean grey level is under GREY (0-255; default {DARK_THRESHOLD:g})",
    )
    checks.add_argument(
        "--blur-threshold",
        type=float,
        metavar="VAR",
        help="blurred: the variance of the Laplacian of the 256x256 grey picture is under"
        f" VAR (default {BLUR_THRESHOLD:g}; pictures under 256 pixels a side are not judged)",
    )


def _picture_check_options(args: argparse.Namespace) -> dict[str, object]:
    """--blanks/--dark/--blurred and their thresholds as FindOptions fields; a threshold
    without its check, or a negative one, is bad usage."""
    from .duplicates import values

    out: dict[str, object] = {"blanks": args.blanks, "dark": args.dark, "blurred": args.blurred}
    for check, name, default in (
        ("blanks", "blank_threshold", values.BLANK_THRESHOLD),
        ("dark", "dark_threshold", values.DARK_THRESHOLD),
        ("blurred", "blur_threshold", values.BLUR_THRESHOLD),
    ):
        given = getattr(args, name)
        option = "--" + name.replace("_", "-")
        if given is not None and not getattr(args, check):
            raise UsageError(f"{option} needs --{check}")
        if given is not None and not (given >= 0 and given < float("inf")):
            raise UsageError(f"{option} must be a number, 0 or more")
        out[name] = default if given is None else given
    return out


def cmd_find_duplicates(args: argparse.Namespace) -> int:
    import logging
    from datetime import datetime
    from pathlib import Path

    from .core.reportfile import ReportHeader, check_place, fallback_dirs
    from .duplicates import report as dupreport
    from .duplicates.find import find_duplicates
    from .duplicates.values import FindOptions

    inputs = tuple(Path(p) for p in args.input)
    for folder in inputs:
        if not folder.exists():
            raise UsageError(f"input folder not found: {folder}")
        if not folder.is_dir():
            raise UsageError(f"input {folder} is not a folder")
    for folder in args.prefer:
        if not os.path.isdir(folder):  # a typo would be ignored silently otherwise
            raise UsageError(f"--prefer {folder} is not a folder (no such folder)")
    if not 4 <= args.hash_size <= 32:
        raise UsageError("--hash-size must be between 4 and 32")
    if args.threshold is not None and not 0 <= args.threshold < args.hash_size**2:
        raise UsageError(f"--threshold must be between 0 and {args.hash_size**2 - 1}")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    library = Path(args.library) if args.library else None
    if library is not None and not library.is_dir():
        raise UsageError(f"library folder not found: {library}")
    if args.unique and library is None:
        raise UsageError("--unique needs --library LIBRARY: the library to compare with")
    checks = _picture_check_options(args)
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
    report = Path(os.path.abspath(report))
    check_place(report)
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
        library=library,
        unique=args.unique,
        **checks,
    )
    result = find_duplicates(options)
    header = ReportHeader(
        "duplicates",
        library=os.path.abspath(library) if library is not None else "",
        inputs=tuple(os.path.abspath(p) for p in inputs),
        command=shlex.join(args.argv),
        created=datetime.now().isoformat(timespec="seconds"),
    )
    try:
        dupreport.write_result(result, report, fmt, header)
    except OSError as exc:  # the place failed since it was checked: write it elsewhere
        for folder in fallback_dirs(None, dry_run=True):
            moved = folder / report.name
            try:
                dupreport.write_result(result, moved, fmt, header)
            except OSError:
                continue
            print(
                f"{report} could not be written ({exc.strerror or exc}); the report is {moved}",
                file=sys.stderr,
            )
            report = moved
            break
        else:
            raise UsageError(f"cannot write the report {report}: {exc.strerror or exc}") from None
    if args.quiet:
        print(f"Report: {report}")
    else:
        dupreport.print_summary(result, report, sys.stdout)
    return EXIT_FILE_ERRORS if result.failures else EXIT_OK


# --- parser and entry points ---------------------------------------------------


DESCRIPTION = """\
Turn photos and videos scattered over old laptops, phones and drives into one clean
library, filed by the date each was taken, with every duplicate found and nothing lost.
Start with a dry run: `import --dryrun` plans everything and writes a report, changing
nothing; review it, then run the import (or `apply` the reviewed report)."""

IMPORT_EXAMPLES = """\
templates (--template; the library folder is LIBRARY):
  {year}/{month}/{year}{month}{day}_{hour}{minute}{second}_{stem}{ext}
      the default: LIBRARY/2004/12/20041224_183005_IMG_0001.jpg
  {year}/{month}/{stem}{ext}
      LIBRARY/2004/12/IMG_0001.jpg
  {year}/{date}/{hour}{minute}{second}_{stem}{ext}
      LIBRARY/2004/2004-12-24/183005_IMG_0001.jpg
  {make}/{model}/{year}/{stem}{ext}
      LIBRARY/Canon/Canon EOS 5D/2004/IMG_0001.jpg
  Undated files go to LIBRARY/undated/ when the template uses a date field;
  a second file wanting a name gets _1, _2...

examples:
  photoorganiser import --input /media/card --output ~/Photos --dryrun
  photoorganiser import --input ~/Inbox --output ~/Photos --template '{year}/{month}/{stem}{ext}'
"""


# --- watch ------------------------------------------------------------------------


# runs/watch.py's DEFAULT_SETTLE, DEFAULT_MAX_WAIT and DEFAULT_RESCAN, repeated so that
# building the parser does not import the whole import machinery (~0.1 s on every
# command); tests/test_duplicates.py checks that they still match.
WATCH_DEFAULTS = (5.0, 60.0, 600.0)


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    DEFAULT_SETTLE, DEFAULT_MAX_WAIT, DEFAULT_RESCAN = WATCH_DEFAULTS
    DEFAULT_DAMAGED_WAIT = 300.0  # runs/watch.py's, repeated as WATCH_DEFAULTS are

    parser.add_argument(
        "--input",
        action="append",
        required=True,
        type=_path,
        metavar="INBOX",
        help="a folder to watch and import from (repeatable)",
    )
    parser.add_argument(
        "--output", required=True, type=_path, metavar="LIBRARY", help="the library folder"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE,
        metavar="SECONDS",
        help=f"a file is ready when unchanged for SECONDS (default {DEFAULT_SETTLE:g})",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=DEFAULT_MAX_WAIT,
        metavar="SECONDS",
        help="import a burst that never settles after this long, leaving the files still"
        f" changing for the next batch (default {DEFAULT_MAX_WAIT:g})",
    )
    parser.add_argument(
        "--rescan",
        type=float,
        default=DEFAULT_RESCAN,
        metavar="SECONDS",
        help=f"look at the inbox anyway this often, for missed events (default {DEFAULT_RESCAN:g})",
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll the disk instead of inotify (network file systems)",
    )
    parser.add_argument(
        "--damaged-wait",
        type=float,
        default=DEFAULT_DAMAGED_WAIT,
        metavar="SECONDS",
        help="a file that reads as damaged (a truncated photo: maybe a transfer that stalled)"
        " stays in the inbox until unchanged for SECONDS, then is imported as it is"
        f" (default {DEFAULT_DAMAGED_WAIT:g})",
    )
    parser.add_argument(
        "--dryrun",
        "--dry-run",
        dest="dryrun",
        action="store_true",
        help="plan each batch and write its report, change nothing",
    )
    _add_import_rules(parser)
    parser.add_argument(
        "--report-dir",
        type=_path,
        metavar="DIR",
        help="folder for each batch's timestamped report (default: LIBRARY/.photoorganiser/"
        "reports, where serve finds them; reports/ for a dry run)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only failures")
    parser.add_argument("--log-file", type=_path, metavar="FILE", help="append a log")
    parser.add_argument("--debug", action="store_true", help="log every decision")


def cmd_watch(args: argparse.Namespace) -> int:
    from .core.signals import Stopped
    from .runs.importer import ImportOptions
    from .runs.watch import Watch, WatchOptions, WatchUsageError, check_watch_options

    _setup_logging(args.debug, args.quiet, args.log_file)
    report_dir = args.report_dir or (
        Path("reports") if args.dryrun else args.output / ".photoorganiser" / "reports"
    )
    options = WatchOptions(
        ImportOptions(
            **_import_rules(args),
            report_dir=report_dir,
            progress=not args.quiet and sys.stderr.isatty(),
            wait=True,  # a nightly run holds the library: the watch waits for it
        ),
        settle=args.settle,
        max_wait=args.max_wait,
        rescan=args.rescan,
        poll=args.poll,
        damaged_wait=args.damaged_wait,
    )
    try:
        check_watch_options(options)
    except WatchUsageError as exc:
        raise UsageError(str(exc)) from None

    def said(summary) -> None:
        for note in summary.result.notes:
            print(f"photoorganiser: {note}", file=sys.stderr, flush=True)
        if summary.failed and args.quiet:
            print(summary.line(), file=sys.stderr, flush=True)
        elif summary.eventful and not args.quiet:
            print(summary.line(), flush=True)

    def ready(how: str) -> None:
        if not args.quiet:
            inboxes = ", ".join(str(p) for p in args.input)
            print(
                f"watching {inboxes} ({how}; settle {args.settle:g} s) -> {args.output};"
                " Ctrl-C or SIGTERM to stop",
                flush=True,
            )

    result = Watch(options, said).run(ready)
    if result.stopped_by is not None:  # a requested stop is how a watch ends: status 0
        print(
            f"photoorganiser watch: stopped by {Stopped(result.stopped_by).name} after"
            f" {result.batches} batch(es)",
            file=sys.stderr,
            flush=True,
        )
    return EXIT_OK


COMMANDS = (
    "import", "apply", "sync", "verify", "repair", "failures", "runs", "undo",
    "find-duplicates", "dedupe", "watch", "export", "config", "serve",
)  # fmt: skip


def build_parser(prog: str = "photoorganiser", only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. With `only` (a command's name), only that command's
    options are built: the others keep their name and help line, and building their
    options (and importing what their defaults come from) is left out of start-up."""
    from . import __version__

    parser = _Parser(
        prog=prog,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    imp = sub.add_parser(
        "import",
        help="file photos and videos into the library by capture date",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=IMPORT_EXAMPLES,
    )
    if only in (None, "import"):
        add_import_arguments(imp)
    imp.set_defaults(func=cmd_import)
    app = sub.add_parser("apply", help="carry out a reviewed dry-run report, exactly")
    if only in (None, "apply"):
        add_apply_arguments(app)
    app.set_defaults(func=cmd_apply)
    syn = sub.add_parser("sync", help="make the library's catalog match the disk")
    if only in (None, "sync"):
        add_sync_arguments(syn)
    syn.set_defaults(func=cmd_sync)
    ver = sub.add_parser("verify", help="read the library again: bit rot, changed or missing files")
    if only in (None, "verify"):
        add_verify_arguments(ver)
    ver.set_defaults(func=cmd_verify)
    rep = sub.add_parser(
        "repair", help="bring back damaged or missing files verify found, from good copies"
    )
    if only in (None, "repair"):
        add_repair_arguments(rep)
    rep.set_defaults(func=cmd_repair)
    fai = sub.add_parser(
        "failures", help="list the known failures: files that failed and have not changed since"
    )
    if only in (None, "failures"):
        add_failures_arguments(fai)
    fai.set_defaults(func=cmd_failures)
    rns = sub.add_parser("runs", help="list the library's runs and what each changed")
    if only in (None, "runs"):
        add_runs_arguments(rns)
    rns.set_defaults(func=cmd_runs)
    und = sub.add_parser(
        "undo", help="reverse one run: files moved go back, copies are removed (checked first)"
    )
    if only in (None, "undo"):
        add_undo_arguments(und)
    und.set_defaults(func=cmd_undo)
    dup = sub.add_parser(
        "find-duplicates", help="report exact and near duplicates; changes nothing"
    )
    if only in (None, "find-duplicates"):
        add_find_duplicates_arguments(dup)
    dup.set_defaults(func=cmd_find_duplicates)
    ded = sub.add_parser(
        "dedupe", help="act on a reviewed find-duplicates report: quarantine, trash, link, delete"
    )
    if only in (None, "dedupe"):
        add_dedupe_arguments(ded)
    ded.set_defaults(func=cmd_dedupe)
    wat = sub.add_parser("watch", help="import what lands in an inbox as it lands (a service)")
    if only in (None, "watch"):
        add_watch_arguments(wat)
    wat.set_defaults(func=cmd_watch)
    exp = sub.add_parser("export", help="smaller copies of the library's photos, incremental")
    if only in (None, "export"):
        add_export_arguments(exp)
    exp.set_defaults(func=cmd_export)
    cfg = sub.add_parser("config", help="show the settings each command runs with, and whence")
    if only in (None, "config"):
        add_config_arguments(cfg)
    cfg.set_defaults(func=cmd_config)
    srv = sub.add_parser(
        "serve", help="review duplicates and plans, browse the library, run jobs: in a browser"
    )
    if only in (None, "serve"):
        add_serve_arguments(srv)
    srv.set_defaults(func=cmd_serve)
    return parser


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        type=_path,
        metavar="LIBRARY",
        help="the library whose .photoorganiser/config.toml counts too",
    )
    parser.add_argument(
        "--command", metavar="NAME", help="only this command's settings (default: every command)"
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")


def cmd_config(args: argparse.Namespace) -> int:
    """The effective settings of each command and where each came from."""
    import json

    from .library import config
    from .runs.settings import CHECKS  # a file's values checked as each command checks them

    parser = build_parser()
    options = config.command_options(parser)
    commands = {name: p for name, p in config._subparsers(parser).items() if name != "config"}
    if args.command is not None and args.command not in commands:
        raise UsageError(f"--command {args.command}: not a command")
    files = [config.user_config_path()]
    if args.output is not None:
        files.append(config.library_config_path(args.output))
    shown: dict[str, list] = {}
    for name, sub in commands.items():
        if args.command not in (None, name):
            continue
        defaults = {a.dest: a.default for a in sub._actions}
        settings = config.effective(args.output, name, defaults, options)
        if settings:
            shown[name] = settings
    refused = config.refusals((s for settings in shown.values() for s in settings), CHECKS)
    why = {(r.setting.path, r.setting.section, r.setting.key): r.detail for r in refused}

    def refusal(s: config.Setting) -> str | None:
        return why.get((s.path, s.section, s.key))

    def refusing() -> int:  # after the settings: each refused value, one line, exit 2
        for r in refused:
            print(f"{parser.prog}: error: {r.line()}", file=sys.stderr)
        return EXIT_USAGE if refused else EXIT_OK

    if args.format == "json":

        def plain(value: object) -> object:
            if isinstance(value, list):
                return [plain(v) for v in value]
            return str(value) if isinstance(value, Path) else value

        document = {
            "files": [{"path": str(f), "exists": f.is_file()} for f in files],
            "commands": {
                name: {
                    s.key: {
                        "value": plain(s.value),
                        "source": s.source.value,
                        "path": str(s.path) if s.path else None,
                        "section": s.section,
                        "refused": refusal(s),
                    }
                    for s in settings
                }
                for name, settings in shown.items()
            },
        }
        print(json.dumps(document, indent=1, ensure_ascii=False))
        return refusing()
    for f in files:
        print(f"{'read' if f.is_file() else 'none'}: {f}")
    for name, settings in shown.items():
        print(f"[{name}]")
        for s in settings:
            note = f"; refused: {refusal(s)}" if refusal(s) else ""
            print(f"  {s.key:<10} = {config.shown(s.key, s.value):<36}  # {s.origin}{note}")
    return refusing()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", type=_path, required=True, metavar="LIBRARY", help="the library"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on (0: a free one; default 8765)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--reports",
        type=_path,
        action="append",
        default=[],
        metavar="DIR",
        help="another folder of reports to review (repeatable; the library's own"
        " LIBRARY/.photoorganiser/reports always is one)",
    )
    parser.add_argument("--open", action="store_true", help="open the page in a browser")


def cmd_serve(args: argparse.Namespace) -> int:
    from .web.server import ServeError, serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number (0-65535)")
    try:
        return serve(
            args.output,
            host=args.host,
            port=args.port,
            report_dirs=list(args.reports),
            open_browser=args.open,
        )
    except ServeError as exc:
        raise UsageError(str(exc)) from None


def _apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options not on the command line get the library's config file's value, else the
    user's, else their built-in default (library/config.py)."""
    from .library import config

    command = getattr(args, "command", None)
    if command is None:  # the original scripts' parsers: import.py, find_duplicates.py
        command = args.func.__name__.removeprefix("cmd_").replace("_", "-")
        parser = build_parser()
    if getattr(parser, "partial", False) and config.any_config_file(config.library_of(args)):
        parser = build_parser()  # a config file is checked against every command's options
    config.apply_config(args, command, config.command_options(parser))
    if config.any_from_a_file(args):  # its values checked as the command checks an option's
        from .runs.settings import CHECKS

        config.check_settings(args, CHECKS)


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    from .core.reportfile import ReportUnwritable
    from .library import config
    from .library.lock import LibraryLocked, LockUnavailable, UnsafeStateFile

    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8: its own bytes
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="surrogateescape")
    config.mark_defaults(parser)  # options not given are told apart: the config files fill them
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _apply_config(parser, args)
        return args.func(args)
    except (UsageError, ReportUnwritable, config.ConfigError) as exc:
        said = str(exc) if isinstance(exc, config.ConfigError) else config.blamed(args, str(exc))
        print(f"{parser.prog}: error: {said}", file=sys.stderr)
        return EXIT_USAGE
    except LibraryLocked as exc:
        print(f"{parser.prog}: {exc}; try later, or use --wait", file=sys.stderr)
        return EXIT_LOCKED
    # a catalog damaged or newer, a link in the library
    except (_raised_by("library.catalog", "CatalogError"), UnsafeStateFile) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # a read-only library, a full disk
    except (_raised_by("library.catalog", "CatalogUnavailable"), LockUnavailable) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_FILE_ERRORS
    except _raised_by("core.parallel", "WorkerDied") as exc:  # killed, out of memory
        print(f"{parser.prog}: error: {exc}; the run stopped there", file=sys.stderr)
        return EXIT_FILE_ERRORS
    except BrokenPipeError:  # `... | head`: the reader has gone, as a SIGPIPE would end it
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(
            f"{parser.prog}: internal error: {type(exc).__name__}: {exc}"
            " (run again with --debug for the details)",
            file=sys.stderr,
        )
        return 70  # EX_SOFTWARE


class _NeverRaised(Exception):
    """Stands for the exceptions of a module that was never imported: none was raised."""


def _raised_by(module: str, name: str) -> type[Exception]:
    """The exception class `name` of the package's `module`, for one of `_run`'s except
    clauses (Python evaluates one only when an exception reaches it), without importing
    the module: a command that never opened a catalog does not import its module and
    sqlite3 (~15 ms of start-up). When `module` was never imported, nothing raised can be
    one of its exceptions."""
    loaded = sys.modules.get(f"{__package__}.{module}")
    return _NeverRaised if loaded is None else getattr(loaded, name)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    command = given[0] if given else None
    if command not in COMMANDS:
        return _entry("photoorganiser", build_parser, argv)

    def partial() -> argparse.ArgumentParser:
        parser = build_parser(only=command)  # start-up: only this command's options are built
        parser.partial = True
        return parser

    return _entry("photoorganiser", partial, argv)


def legacy_import_main(argv: Sequence[str] | None = None) -> int:
    """`import.py --input X --output Y [--dryrun [true]] [--debug [true]]`: the original script."""

    def parser() -> argparse.ArgumentParser:
        parser = _Parser(prog="import.py", description="Import photos and videos into a library.")
        add_import_arguments(parser)
        parser.set_defaults(func=cmd_import)
        return parser

    return _entry("import.py", parser, argv)


def legacy_find_duplicates_main(argv: Sequence[str] | None = None) -> int:
    def parser() -> argparse.ArgumentParser:
        parser = _Parser(prog="find_duplicates.py", description="Report duplicate photos.")
        add_find_duplicates_arguments(parser)
        parser.set_defaults(func=cmd_find_duplicates)
        return parser

    return _entry("find_duplicates.py", parser, argv)


def _entry(
    prog: str, parser: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None
) -> int:
    """A command line run, with Ctrl-C, SIGTERM and SIGHUP handled from the first moment
    (while the options are parsed and the command's modules load, before anything is
    touched): a stop is one line and 128+N, never a traceback nor a death by the signal."""
    from .core import signals

    signals.install()
    try:
        return _exiting(_run(parser(), argv), argv)
    except KeyboardInterrupt as exc:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _exiting(code: int, argv: Sequence[str] | None) -> int:
    """`code`; for the process's own command line (`argv` None: `python -m photoorganiser`,
    the console scripts), which exits next, the objects left are first frozen out of the
    cyclic garbage collector, so the interpreter's last collections at exit need not walk
    them all again (10-20 ms for find-duplicates on 20,000 files). Nothing is skipped:
    files are still closed and flushed, atexit handlers run. (A caller passing `argv`,
    e.g. a test, goes on running: it is left alone.)"""
    if argv is None:
        gc.freeze()
    return code
