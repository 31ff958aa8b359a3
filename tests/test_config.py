"""The config files: the library's LIBRARY/.photoorganiser/config.toml and the user's
$XDG_CONFIG_HOME/photoorganiser/config.toml, their precedence, their checks, and
`photoorganiser config`. Real imports and find-duplicates runs on real files."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import tree_state
from media import make_jpeg

from photoorganiser import cli
from photoorganiser.library import config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config folder ($XDG_CONFIG_HOME/photoorganiser)."""
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    (xdg / "photoorganiser").mkdir(parents=True)
    return xdg / "photoorganiser"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    make_jpeg(tmp_path / "inbox" / "IMG_0001.jpg", "2021:06:07 08:09:10", seed=1)
    return tmp_path / "inbox"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def library_file(library: Path, text: str) -> Path:
    return write(library / ".photoorganiser" / "config.toml", text)


def import_rows(inbox: Path, library: Path, tmp_path: Path, *extra: str) -> list[dict]:
    report = tmp_path / "import.csv"
    report.unlink(missing_ok=True)
    args = ["import", "--input", str(inbox), "--output", str(library), "--report", str(report)]
    assert cli.main([*args, "--quiet", *extra]) == 0
    lines = report.read_text(encoding="utf-8").splitlines()
    return list(csv.DictReader(lines[1:]))


def destination(rows: list[dict], library: Path) -> str:
    (row,) = [r for r in rows if r["source"].endswith("IMG_0001.jpg")]
    return str(Path(row["destination"]).relative_to(library))


def effective(library: Path | None, command: str = "import") -> dict[str, dict]:
    args = ["config", "--command", command, "--format", "json"]
    if library is not None:
        args += ["--output", str(library)]
    return json.loads(run_out(args))["commands"][command]


def run_out(args: list[str]) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(args) == 0
    return out.getvalue()


def test_each_level_wins_over_the_one_below(home: Path, inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    # built-in
    rows = import_rows(inbox, library, tmp_path, "--dryrun")
    assert destination(rows, library) == "2021/06/20210607_080910_IMG_0001.jpg"
    assert effective(library)["template"]["source"] == "built-in"
    # the user's file (a section over its top level)
    write(home / "config.toml", 'template = "{year}/{stem}{ext}"\n')
    rows = import_rows(inbox, library, tmp_path, "--dryrun")
    assert destination(rows, library) == "2021/IMG_0001.jpg"
    write(home / "config.toml", 'template = "x/{stem}"\n[import]\ntemplate = "u/{year}/{stem}"\n')
    assert destination(import_rows(inbox, library, tmp_path, "--dryrun"), library) == (
        "u/2021/IMG_0001.jpg"
    )
    got = effective(library)["template"]
    assert got == {"value": "u/{year}/{stem}", "source": "user file",
                   "path": str(home / "config.toml"), "section": "import",
                   "refused": None}  # fmt: skip
    # the library's file over the user's
    lib_file = library_file(library, 'template = "l/{month}/{stem}"\n')
    assert destination(import_rows(inbox, library, tmp_path, "--dryrun"), library) == (
        "l/06/IMG_0001.jpg"
    )
    assert effective(library)["template"]["path"] == str(lib_file)
    # the command line over both
    rows = import_rows(inbox, library, tmp_path, "--dryrun", "--template", "c/{stem}")
    assert destination(rows, library) == "c/IMG_0001.jpg"


def test_mode_and_no_mtime_from_the_library_file(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library_file(library, 'workers = 1\n[import]\nmode = "copy"\nno_mtime = true\n')
    undated = inbox / "scan.jpg"
    make_jpeg(undated, seed=2)
    before = tree_state(inbox)
    rows = import_rows(inbox, library, tmp_path)
    assert tree_state(inbox) == before  # copied, not moved
    by_name = {Path(r["source"]).name: r for r in rows}
    assert by_name["IMG_0001.jpg"]["action"] == "copy"
    assert Path(by_name["scan.jpg"]["destination"]).parent.name == "undated"
    assert (library / "2021" / "06" / "20210607_080910_IMG_0001.jpg").is_file()
    # the command line's --move wins
    other = tmp_path / "other"
    library_file(other, '[import]\nmode = "copy"\n')
    rows = import_rows(inbox, other, tmp_path, "--move", "--dryrun")
    assert {r["action"] for r in rows if r["source"].endswith("IMG_0001.jpg")} == {"move"}


def test_find_duplicates_prefer_from_the_user_file(home: Path, tmp_path: Path) -> None:
    a = make_jpeg(tmp_path / "in" / "a" / "photo.jpg", seed=3)
    (tmp_path / "in" / "b").mkdir()
    b = shutil.copy2(a, tmp_path / "in" / "b" / "photo.jpg")
    report = tmp_path / "dups.csv"

    def kept(*extra: str) -> str:
        args = ["find-duplicates", "--input", str(tmp_path / "in"), "--report", str(report)]
        assert cli.main([*args, "--quiet", *extra]) == 0
        rows = list(csv.DictReader(report.read_text().splitlines()[1:]))
        return next(r["path"] for r in rows if r["keep"] == "yes")

    assert kept() == str(a)  # built-in: the shorter path, then the first
    write(home / "config.toml", f'[find-duplicates]\nprefer = ["{b.parent}"]\nworkers = 1\n')
    assert kept() == str(b)
    assert kept("--prefer", str(a.parent)) == str(a)  # the command line wins
    write(home / "config.toml", f'prefer = ["{b.parent}"]\n')  # top level: every command
    assert kept() == str(b)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('tempalte = "{stem}"\n', "tempalte: unknown key"),
        ("workers = 'four'\n", "workers: must be a whole number, 1 or more, not 'four'"),
        ("workers = 0\n", "workers: must be a whole number"),
        ("[import]\nsettle = true\n", "[import] settle: must be a number of seconds"),
        ('[import]\nprefer = "/mnt"\n', "[import] prefer: must be a list of folders"),
        ('[import]\nprefer = ["relative"]\n', "prefer: must be an absolute path"),
        ('[import]\nmode = "link"\n', 'mode: must be "move" or "copy"'),
        ('[find-duplicates]\ntemplate = "{stem}"\n', "find-duplicates has no --template option"),
        ("[imports]\nworkers = 2\n", "unknown section [imports]"),
        ("workers = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_and_touches_nothing(
    text: str, says: str, inbox: Path, tmp_path: Path, capsys
) -> None:
    library = tmp_path / "lib"
    path = library_file(library, text)
    before, lib_before = tree_state(inbox), tree_state(library)
    report = tmp_path / "r.csv"
    args = ["import", "--input", str(inbox), "--output", str(library), "--report", str(report)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and says in err, err
    assert tree_state(inbox) == before and tree_state(library) == lib_before
    assert not report.exists()
    assert cli.main(["config", "--output", str(library)]) == 2  # config says the same
    assert says in capsys.readouterr().err


def test_a_bad_user_file_names_it(home: Path, tmp_path: Path, capsys) -> None:
    path = write(home / "config.toml", "[find-duplicates]\nworkers = -2\n")
    (tmp_path / "in").mkdir()
    args = ["find-duplicates", "--input", str(tmp_path / "in"), "--report", str(tmp_path / "r")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert f"{path}: [find-duplicates] workers: must be a whole number" in err
    assert not (tmp_path / "r").exists()


def test_the_library_file_is_never_read_through_a_link(
    home: Path, inbox: Path, tmp_path: Path, capsys
) -> None:
    library = tmp_path / "lib"
    (library / ".photoorganiser").mkdir(parents=True)
    elsewhere = write(tmp_path / "elsewhere.toml", 'template = "{stem}"\n')
    (library / ".photoorganiser" / "config.toml").symlink_to(elsewhere)
    before = tree_state(inbox)
    args = ["import", "--input", str(inbox), "--output", str(library), "--dryrun"]
    assert cli.main([*args, "--report", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "config.toml is a symbolic link; refusing to read it" in err
    assert tree_state(inbox) == before and not (tmp_path / "r.csv").exists()
    # nor through a linked state folder
    shutil.rmtree(library / ".photoorganiser")
    (tmp_path / "state").mkdir()
    write(tmp_path / "state" / "config.toml", "workers = 1\n")
    (library / ".photoorganiser").symlink_to(tmp_path / "state")
    assert cli.main(["config", "--output", str(library)]) == 2
    assert ".photoorganiser is a symbolic link; refusing" in capsys.readouterr().err
    # the user's own file may be a link (dotfile managers make them)
    (library / ".photoorganiser").unlink()
    (home / "config.toml").symlink_to(elsewhere)
    assert effective(library)["template"]["value"] == "{stem}"


def test_the_user_file_defaults_to_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path / ".config" / "photoorganiser" / "config.toml", "settle = 2.5\n")
    assert config.user_config_path() == path
    assert effective(None)["settle"] == {
        "value": 2.5,
        "source": "user file",
        "path": str(path),
        "section": None,
        "refused": None,
    }


def test_config_prints_every_setting_and_whence(home: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    user = write(home / "config.toml", 'workers = 3\nreport_dir = "~/reports"\n')
    lib = library_file(library, "[import]\nno_mtime = true\n")
    text = run_out(["config", "--output", str(library)])
    assert f"read: {user}" in text and f"read: {lib}" in text
    assert "[import]" in text and "[find-duplicates]" in text and "[dedupe]" in text
    section = text.split("[import]\n")[1].split("\n[")[0]  # the import section's lines
    lines = {line.split("=")[0].strip(): line for line in section.splitlines()}
    assert lines["no_mtime"].endswith(f"# library file {lib} ([import])")
    assert lines["workers"].endswith(f"# user file {user}")
    assert lines["template"].endswith("# built-in")
    doc = json.loads(run_out(["config", "--output", str(library), "--format", "json"]))
    imp = doc["commands"]["import"]
    assert imp["workers"] == {"value": 3, "source": "user file", "path": str(user),
                              "section": None, "refused": None}  # fmt: skip
    assert imp["report_dir"]["value"] == os.path.expanduser("~/reports")
    assert imp["no_mtime"]["value"] is True and imp["template"]["source"] == "built-in"
    assert doc["commands"]["dedupe"]["workers"]["value"] == 3
    assert "template" not in doc["commands"]["find-duplicates"]
    assert doc["files"] == [{"path": str(user), "exists": True}, {"path": str(lib), "exists": True}]


def test_setting_reads_a_command_line_file_or_default(home: Path, tmp_path: Path) -> None:
    """The helper a command uses (`setting(args, key, default)`), with the sources kept."""
    library = tmp_path / "lib"
    library_file(library, "settle = 7\n[import]\nno_mtime = true\n")
    parser = cli.build_parser()
    config.mark_defaults(parser)
    args = parser.parse_args(["import", "--input", "x", "--output", str(library), "--workers", "2"])
    cli._apply_config(parser, args)
    assert args.settle == 7.0 and args.use_mtime is False and args.workers == 2
    assert config.setting(args, "settle", 5) == 7.0
    assert config.setting(args, "no_mtime", False) is True
    assert args.settings["workers"].source is config.Source.COMMAND_LINE
    assert args.settings["settle"].source is config.Source.LIBRARY
    assert args.settings["template"].source is config.Source.BUILTIN
    bare = argparse.Namespace()
    assert config.setting(bare, "settle", 5) == 5


def test_the_original_script_reads_the_config_too(inbox: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib"
    library_file(library, '[import]\ntemplate = "old/{stem}"\nmode = "copy"\n')
    report = tmp_path / "r.csv"
    args = ["--input", str(inbox), "--output", str(library), "--dryrun", "--report", str(report)]
    assert cli.legacy_import_main(args) == 0
    rows = list(csv.DictReader(report.read_text(encoding="utf-8").splitlines()[1:]))
    assert destination(rows, library) == "old/IMG_0001.jpg"
    assert {r["action"] for r in rows} == {"copy"}


def failing(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("prefer", "{tmp}/nonexistent", "{tmp}/nonexistent is not a folder (no such folder)"),
        ("timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("template", "%Y/%m", "strftime patterns are not supported"),
    ],
)
def test_a_file_value_the_command_refuses_names_the_file_and_key(
    key: str, value: str, says: str, inbox: Path, tmp_path: Path, capsys
) -> None:
    """A value that reads well but that the command's checks refuse is the file's and the
    key's, not an option's the user never typed; `config` runs the same checks."""
    value, says = value.replace("{tmp}", str(tmp_path)), says.replace("{tmp}", str(tmp_path))
    library = tmp_path / "lib"
    toml = f'["{value}"]' if key == "prefer" else f'"{value}"'
    path = library_file(library, f"[import]\n{key} = {toml}\n")
    said = f"photoorganiser: error: {path}: [import] {key}: "
    before, lib_before = tree_state(inbox), tree_state(library)
    report = tmp_path / "r.csv"
    for command in ("import", "watch"):  # watch takes [import]'s rules
        args = [command, "--input", str(inbox), "--output", str(library), "--dryrun"]
        if command == "import":
            args += ["--report", str(report)]
        code, _, err = failing(args, capsys)
        assert code == 2, err
        assert err.startswith(said) and says in err and err.count("\n") == 1, err
        assert f"--{key}" not in err
        assert tree_state(inbox) == before and tree_state(library) == lib_before
        assert not report.exists() and not (tmp_path / "reports").exists()
    # config says so too: the setting listed, refused, and exit 2
    code, out, err = failing(["config", "--output", str(library), "--command", "import"], capsys)
    assert code == 2 and err.startswith(said) and says in err and err.count("\n") == 1
    (line,) = [x for x in out.splitlines() if x.strip().startswith(key)]
    assert f"# library file {path} ([import]); refused: " in line and says in line
    code, out, err = failing(["config", "--output", str(library), "--format", "json"], capsys)
    assert code == 2 and err.count("\n") == 1  # the file's key once, not once per command
    doc = json.loads(out)["commands"]
    assert says in doc["import"][key]["refused"] and says in doc["watch"][key]["refused"]
    assert doc["import"]["workers"]["refused"] is None
    # typed on the command line, it is the option's, as before
    args = ["import", "--input", str(inbox), "--output", str(tmp_path / "o"), "--dryrun"]
    code, _, err = failing([*args, f"--{key}", value], capsys)
    assert code == 2 and says in err and str(path) not in err


def test_other_commands_check_a_file_value_too(home: Path, tmp_path: Path, capsys) -> None:
    """A top-level value counts for every command with the option: each checks it as its
    own option, and names the file (sync with an unknown zone was an internal error)."""
    library = tmp_path / "lib"
    library.mkdir()
    (tmp_path / "in").mkdir()
    user = write(home / "config.toml", f'prefer = ["{tmp_path}/gone"]\ntimezone = "Mars/Olympus"\n')
    args = ["find-duplicates", "--input", str(tmp_path / "in"), "--report", str(tmp_path / "d")]
    code, _, err = failing(args, capsys)
    assert code == 2 and err == (
        f"photoorganiser: error: {user}: prefer: {tmp_path}/gone is not a folder (no such folder)\n"
    )
    assert not (tmp_path / "d").exists()
    code, _, err = failing(["sync", "--output", str(library), "--quiet"], capsys)
    assert code == 2 and err.startswith(f"photoorganiser: error: {user}: timezone: unknown time")
    assert os.listdir(library) == []
    # a command without the option is not held up by it
    assert cli.main(["runs", "--output", str(library)]) == 0
    # sync's own --timezone is checked as import's is: one line, exit 2
    code, _, err = failing(["sync", "--output", str(library), "--timezone", "Mars/Olympus"], capsys)
    assert code == 2 and err.startswith("photoorganiser: error: unknown time zone 'Mars/Olympus'")


def test_a_refusal_naming_an_option_a_file_gave_says_where_it_came_from(
    tmp_path: Path, capsys
) -> None:
    library = tmp_path / "lib"
    path = library_file(library, "[watch]\nsettle = 100\n")
    (tmp_path / "inbox").mkdir()
    args = ["watch", "--input", str(tmp_path / "inbox"), "--output", str(library)]
    code, _, err = failing(args, capsys)
    assert code == 2
    assert err == (
        "photoorganiser: error: --max-wait must be at least the --settle time"
        f" (--settle comes from {path}: [watch] settle = 100.0)\n"
    )
    code, _, err = failing([*args, "--settle", "100"], capsys)  # typed: as it was
    assert code == 2 and err.endswith("--max-wait must be at least the --settle time\n")


def test_watch_takes_the_import_rules_from_the_import_section(tmp_path: Path) -> None:
    """Each watch batch is an import: [import]'s mode, template, timezone, workers,
    no_mtime and prefer count for watch unless [watch] sets them; its own --settle and
    --report-dir do not come from [import]."""
    library = tmp_path / "lib"
    (tmp_path / "old").mkdir()
    path = library_file(
        library,
        '[import]\nmode = "copy"\ntemplate = "{year}/{stem}"\ntimezone = "Europe/Paris"\n'
        f'workers = 1\nno_mtime = true\nprefer = ["{tmp_path}/old"]\nsettle = 900\n'
        'report_dir = "/nowhere"\n',
    )
    watch = effective(library, "watch")
    for key, value in [("mode", "copy"), ("template", "{year}/{stem}"), ("workers", 1),
                       ("timezone", "Europe/Paris"), ("no_mtime", True),
                       ("prefer", [f"{tmp_path}/old"])]:  # fmt: skip
        assert watch[key] == {"value": value, "source": "library file", "path": str(path),
                              "section": "import", "refused": None}, key  # fmt: skip
    assert watch["settle"]["source"] == watch["report_dir"]["source"] == "built-in"
    assert watch["settle"]["value"] == 5.0
    text = run_out(["config", "--output", str(library), "--command", "watch"])
    assert "mode       = copy" in text and f"# library file {path} ([import])" in text
    # [watch] wins over [import]; the top level is below both
    library_file(library, 'mode = "copy"\n[import]\nmode = "copy"\nworkers = 1\n'
                 '[watch]\nmode = "move"\n')  # fmt: skip
    watch = effective(library, "watch")
    assert (watch["mode"]["value"], watch["mode"]["section"]) == ("move", "watch")
    assert (watch["workers"]["value"], watch["workers"]["section"]) == (1, "import")
    # apply carries out a plan as it was made: [import] is not its section
    library_file(library, "[import]\nworkers = 1\n")
    assert effective(library, "apply")["workers"]["source"] == "built-in"
