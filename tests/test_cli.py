"""The command line says what the tool is for, what each command does, and its version;
every option the README names exists (docs and --help are checked, not trusted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from photoorganiser import __version__, cli
from photoorganiser.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def help_of(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_says_what_the_tool_is_for(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_of(capsys=capsys)
    assert "one clean" in out and "dry run" in out
    for command in (
        "import", "apply", "sync", "failures", "find-duplicates", "dedupe", "runs", "undo",
        "verify", "watch", "export", "config", "serve",
    ):  # fmt: skip
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command  # listed with its purpose


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert (
        done.value.code == 0 and capsys.readouterr().out.strip() == f"photoorganiser {__version__}"
    )


def test_every_option_the_readme_names_exists() -> None:
    """`--option` in the README's text must be an option of some command."""
    parser = build_parser()
    known: set[str] = {"--help", "--version"}
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for sub in subparsers.choices.values():
        for action in sub._actions:
            known.update(action.option_strings)
    text = README.read_text()
    # prose, and the tool's own command lines in code blocks (not the benchmarks', ruff's...)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    command = r"(?<![\w/.])(?:photoorganiser|import\.py|find_duplicates\.py) [^\n`#]*"
    ours = re.findall(command, text)
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", prose + "\n".join(ours)))
    assert named - known == set()


def test_every_file_the_readme_shows_exists() -> None:
    """Screenshots and other files the README links to are in the repository."""
    linked = re.findall(r"\]\(((?:docs|bench|tests)/[^)\s]+)\)", README.read_text())
    assert linked, "the README shows no screenshots"
    missing = [p for p in linked if not (README.parent / p).exists()]
    assert missing == []


def test_serve_help_says_it_is_local_and_how_to_reach_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = help_of("serve", capsys=capsys)
    assert "--output" in out and "--port" in out and "127.0.0.1" in out


def test_a_command_alone_parses_as_in_the_whole_command_line() -> None:
    """main() builds only the command it runs (start-up time): that command's options,
    defaults and help are exactly those of the whole parser, for every command."""
    from photoorganiser.library import config

    def described(parser, name: str) -> list[tuple]:
        sub = config._subparsers(parser)[name]
        return [
            (tuple(a.option_strings), a.dest, repr(a.default), a.help, repr(a.choices))
            for a in sub._actions
        ] + [sub.format_help()]

    whole = cli.build_parser()
    assert tuple(config._subparsers(whole)) == cli.COMMANDS
    for name in cli.COMMANDS:
        alone = cli.build_parser(only=name)
        assert described(alone, name) == described(whole, name), name
        others = [n for n in cli.COMMANDS if n != name]
        assert all(len(config._subparsers(alone)[n]._actions) == 1 for n in others)  # -h only


def test_another_commands_config_section_is_still_checked(tmp_path, capsys) -> None:
    """With only `import` built, a config file is checked against every command's options:
    a valid [find-duplicates] section is accepted, an unknown key refused."""
    from media import make_jpeg

    make_jpeg(tmp_path / "in" / "a.jpg", "2021:06:07 08:09:10", seed=1)
    library = tmp_path / "lib"
    state = library / ".photoorganiser"
    state.mkdir(parents=True)
    (state / "config.toml").write_text('[find-duplicates]\nprefer = ["/mnt"]\nworkers = 1\n')
    args = ["import", "--input", str(tmp_path / "in"), "--output", str(library), "--dryrun"]
    assert cli.main([*args, "--report", str(tmp_path / "r.csv"), "--quiet"]) == 0
    (state / "config.toml").write_text('[find-duplicates]\ntemplate = "{stem}"\n')
    assert cli.main([*args, "--report", str(tmp_path / "r2.csv")]) == 2
    assert "find-duplicates has no --template option" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["import", "--input", "", "--output", "LIB"], "--input"),
        (["import", "--input", "IN", "--output", ""], "--output"),
        (["find-duplicates", "--input", ""], "--input"),
        (["dedupe", "REPORT", "--quarantine", ""], "--quarantine"),
        (["verify", "--output", ""], "--output"),
    ],
)
def test_an_empty_path_is_refused_never_taken_as_the_current_folder(
    args: list[str], option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`--input "$INBOX"` with INBOX unset: one line, exit 2, and the current folder (a
    home folder, say) is left as it was, not imported."""
    from media import make_jpeg

    monkeypatch.chdir(tmp_path)
    photo = make_jpeg(tmp_path / "desk.jpg", "2020:01:02 03:04:05")
    (tmp_path / "IN").mkdir()
    given = [
        a.replace("LIB", str(tmp_path / "lib")).replace("IN", str(tmp_path / "IN")) for a in args
    ]
    with pytest.raises(SystemExit) as stopped:  # refused by the parser, as any bad option
        main([*given, "--quiet"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"argument {option}: an empty path" in err[0], err
    assert photo.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["IN", "desk.jpg"]


def test_a_folder_to_prefer_or_to_guard_must_exist(tmp_path: Path, capsys) -> None:
    """A typo in --prefer (import, find-duplicates) or --reference (dedupe) is refused
    with one line, not silently ignored: a --reference that guards nothing would let
    dedupe act on the files it was meant to keep."""
    from media import make_jpeg

    make_jpeg(tmp_path / "in" / "a.jpg", "2020:01:02 03:04:05")
    typo = str(tmp_path / "labtop")
    runs = [
        ["import", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "lib"),
         "--prefer", typo, "--dryrun"],
        ["find-duplicates", "--input", str(tmp_path / "in"), "--prefer", typo,
         "--report", str(tmp_path / "d.csv")],
    ]  # fmt: skip
    for args in runs:
        assert main([*args, "--quiet"]) == 2
        assert f"--prefer {typo} is not a folder" in capsys.readouterr().err
    assert main(["find-duplicates", "--input", str(tmp_path / "in"), "--report",
                 str(tmp_path / "d.csv"), "--quiet"]) == 0  # fmt: skip
    args = ["dedupe", str(tmp_path / "d.csv"), "--quarantine", str(tmp_path / "q")]
    assert main([*args, "--reference", typo, "--quiet"]) == 2
    assert f"--reference {typo} is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "lib").exists() and not (tmp_path / "q").exists()


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path) -> None:
    """`photoorganiser failures ... | head -1`: the pipe closed before the output is
    written ends the command as SIGPIPE would (141), without an 'internal error' line."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "photoorganiser", "failures", "--output", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""
