"""Settings from config files: the library's and the user's.

Two TOML files (read with tomllib), each optional:

- the user's, `$XDG_CONFIG_HOME/photoorganiser/config.toml` (default
  `~/.config/photoorganiser/config.toml`);
- the library's, `LIBRARY/.photoorganiser/config.toml`: a state file, so it is never
  read through a symbolic link (the state folder's or its own), as library/lock.py
  never writes through one.

Each holds top-level settings (for every command that has the option) and sections
named after commands (`[import]`, `[find-duplicates]`, `[watch]`...), whose settings
win over the file's top-level ones for that command. `watch` also takes the import's
rules (`BORROWS`: mode, template, timezone, workers, no_mtime, prefer) from `[import]`
when `[watch]` does not set them: its batches are imports. A command line option wins
over the library's file, which wins over the user's, which wins over the built-in default.

The keys are the options they stand for (`KEYS`): `template`, `timezone`, `workers`,
`settle`, `prefer` (a list of folders, as `--prefer`), `report_dir`, `mode` (`move` or
`copy`) and `no_mtime`. An unknown key or section, a value of the wrong type, a key in
the section of a command without that option: `ConfigError`, one line naming the file
and the key, before anything is touched. So is a value the command's own checks refuse
(a `prefer` folder that is not there, an unknown `timezone`, a `template` that cannot
name files): cli.py runs those checks (runs/settings.py) on the values that came from a
file (`check_settings`; `refusals` for `photoorganiser config`), and a command's refusal
naming an option that a file gave says where it came from (`blamed`).

The command line's glue (cli.py): `mark_defaults(parser)` before parsing wraps the
defaults of the options `KEYS` names, so that after parsing an option still holding
its wrapped default was not given; `apply_config(args, command, options)` then gives
it the files' value or its built-in default, and keeps every setting's source in
`args.settings` (`setting(args, name, default)` reads one).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .lock import STATE_DIR, refuse_link  # not .catalog: no sqlite3 to read a config

CONFIG_NAME = "config.toml"


class ConfigError(Exception):
    """A config file that cannot be used: one line, exit status 2."""


class Source(Enum):
    BUILTIN = "built-in"
    USER = "user file"
    LIBRARY = "library file"
    COMMAND_LINE = "command line"


# --- the keys ---------------------------------------------------------------------


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError("a whole number, 1 or more")
    return value


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
        raise TypeError("a number of seconds, 0 or more")
    return float(value)


def _folder(value: object) -> Path:
    if not isinstance(value, str) or not value:
        raise TypeError("a folder's path (a string)")
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        raise TypeError("an absolute path (or one starting with ~)")
    return path


def _folders(value: object) -> list[Path]:
    if not isinstance(value, list):
        raise TypeError("a list of folders' paths")
    return [_folder(v) for v in value]


def _mode(value: object) -> str:
    if value not in ("move", "copy"):
        raise TypeError('"move" or "copy"')
    return str(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


@dataclass(frozen=True, slots=True)
class Key:
    """A setting: the option's `dest` it stands for, how a file's value is checked and
    converted, and whether its meaning is the option's inverse (`no_mtime`)."""

    dest: str
    convert: Callable[[object], Any]
    option: str
    inverted: bool = False


KEYS: Mapping[str, Key] = {
    "template": Key("template", _text, "--template"),
    "timezone": Key("timezone", _text, "--timezone"),
    "workers": Key("workers", _whole, "--workers"),
    "settle": Key("settle", _seconds, "--settle"),
    "prefer": Key("prefer", _folders, "--prefer"),
    "report_dir": Key("report_dir", _folder, "--report-dir"),
    "mode": Key("mode", _mode, "--move/--copy"),
    "no_mtime": Key("use_mtime", _flag, "--no-mtime", inverted=True),
}
_BY_DEST = {k.dest: name for name, k in KEYS.items()}


# --- the files ---------------------------------------------------------------------


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "photoorganiser" / CONFIG_NAME


def library_config_path(library: Path) -> Path:
    return Path(library) / STATE_DIR / CONFIG_NAME


def any_config_file(library: Path | None) -> bool:
    """Whether a config file may be there (the user's, the library's): anything at either
    name counts, a link or a folder included, so that reading it says what is wrong."""
    paths = [user_config_path()] + ([library_config_path(library)] if library else [])
    return any(os.path.lexists(p) for p in paths)


def _read_library_file(path: Path) -> bytes | None:
    """The library's config file's bytes, None when there is none. Opened without
    following a link at either level (the state folder, the file)."""
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path.parent):
            refuse_link(path.parent, folder=True)  # the state folder: as every state file
        if exc.errno == errno.ENOTDIR:
            return None  # the library (or its state folder) is a file: the command says so
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        fd = os.open(path.name, os.O_RDONLY | nofollow | os.O_NONBLOCK, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{path} is a symbolic link; refusing to read it") from None
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(folder)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ConfigError(f"{path} is not a regular file; refusing to read it")
        return f.read(1 << 20)


def _read_user_file(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError(f"{path} is not a regular file")
            return f.read(1 << 20)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """One file's settings, checked: top level and per command, converted values."""

    path: Path
    source: Source
    top: Mapping[str, Any]
    sections: Mapping[str, Mapping[str, Any]]


def parse_config(
    data: bytes, path: Path, source: Source, commands: Mapping[str, Iterable[str]]
) -> ConfigFile:
    """Check a file's text. `commands`: each command's option dests (a key in a command's
    section must be one of its options)."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for name, value in doc.items():
        if isinstance(value, dict):
            if name not in commands:
                known = ", ".join(f"[{c}]" for c in sorted(commands))
                raise ConfigError(f"{path}: unknown section [{name}] (sections: {known})")
            dests = set(commands[name])
            sections[name] = {}
            for key, v in value.items():
                where = f"{path}: [{name}] {key}"
                checked = _checked(key, v, where)
                if KEYS[key].dest not in dests:
                    raise ConfigError(f"{where}: {name} has no {KEYS[key].option} option")
                sections[name][key] = checked
        else:
            top[name] = _checked(name, value, f"{path}: {name}")
    return ConfigFile(path, source, top, sections)


def _checked(key: str, value: object, where: str) -> Any:
    if key not in KEYS:
        raise ConfigError(f"{where}: unknown key (keys: {', '.join(KEYS)})")
    try:
        return KEYS[key].convert(value)
    except TypeError as exc:
        raise ConfigError(f"{where}: must be {exc}, not {value!r}") from None


def load_files(library: Path | None, commands: Mapping[str, Iterable[str]]) -> list[ConfigFile]:
    """The user's file, then the library's (the later wins), those that exist."""
    files = []
    user = user_config_path()
    data = _read_user_file(user)
    if data is not None:
        files.append(parse_config(data, user, Source.USER, commands))
    if library is not None:
        path = library_config_path(library)
        data = _read_library_file(path)
        if data is not None:
            files.append(parse_config(data, path, Source.LIBRARY, commands))
    return files


# --- the effective settings --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """A setting's effective value and where it came from (`path`: the file's; `section`:
    the file's section that set it, None for its top level)."""

    key: str
    value: Any
    source: Source
    path: Path | None = None
    section: str | None = None

    @property
    def from_file(self) -> bool:
        return self.path is not None

    @property
    def where(self) -> str:
        """The file and key, as a config file's errors name them."""
        if self.section is None:
            return f"{self.path}: {self.key}"
        return f"{self.path}: [{self.section}] {self.key}"

    @property
    def origin(self) -> str:
        if self.path is None:
            return self.source.value
        section = f" ([{self.section}])" if self.section else ""
        return f"{self.source.value} {self.path}{section}"


@dataclass(frozen=True, slots=True)
class Borrowed:
    """Settings a command takes from another command's section when its own does not set
    them: `watch`'s batches are imports, so `[import]`'s rules count for it."""

    section: str
    keys: frozenset[str]


# the rules `import` and `watch` share (cli's _add_import_rules), not their own
# --settle (watch: unchanged for so long; import: modified in the last...) or
# --report-dir (each its own default place)
BORROWS: Mapping[str, Borrowed] = {
    "watch": Borrowed(
        "import", frozenset({"mode", "template", "timezone", "workers", "no_mtime", "prefer"})
    ),
}


def sections_for(command: str, key: str) -> tuple[str, ...]:
    """The sections that set `key` for `command`, the first that does wins (in a file)."""
    borrowed = BORROWS.get(command)
    if borrowed is not None and key in borrowed.keys:
        return (command, borrowed.section)
    return (command,)


def from_files(files: Iterable[ConfigFile], command: str, key: str) -> Setting | None:
    """The files' value of `key` for `command`: the last file that sets it wins; in a
    file, the command's section, then the section it borrows the key from (`BORROWS`),
    then its top level."""
    found = None
    names = sections_for(command, key)
    for f in files:
        for name in names:
            section = f.sections.get(name, {})
            if key in section:
                found = Setting(key, section[key], f.source, f.path, name)
                break
        else:
            if key in f.top:
                found = Setting(key, f.top[key], f.source, f.path)
    return found


# --- a file's value, checked as the command checks it --------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """A value from a config file that the command's checks refuse (`detail`: what is
    wrong with it, in one line): said as the file's and key's, not as an option's."""

    setting: Setting
    detail: str

    def line(self) -> str:
        return f"{self.setting.where}: {self.detail}"


def refusals(
    settings: Iterable[Setting], checks: Mapping[str, Callable[[Any], None]]
) -> list[Refusal]:
    """The file values among `settings` that `checks` (by key; each raises ValueError with
    one line) refuse, each file's key once."""
    out: dict[tuple[Path | None, str | None, str], Refusal] = {}
    for s in settings:
        check = checks.get(s.key)
        if check is None or not s.from_file or (s.path, s.section, s.key) in out:
            continue
        try:
            check(s.value)
        except ValueError as exc:
            out[(s.path, s.section, s.key)] = Refusal(s, str(exc))
    return list(out.values())


def check_settings(args: Any, checks: Mapping[str, Callable[[Any], None]]) -> None:
    """After `apply_config`: the first value a file gave that `checks` refuse is a
    `ConfigError` naming the file and the key."""
    found = refusals(getattr(args, "settings", {}).values(), checks)
    if found:
        raise ConfigError(found[0].line())


def any_from_a_file(args: Any) -> bool:
    return any(s.from_file for s in getattr(args, "settings", {}).values())


def blamed(args: Any, message: str) -> str:
    """A command's one-line refusal, with where each option it names came from when a
    config file gave it (a check of several options: `--max-wait must be at least the
    --settle time`, the settle from `[watch] settle`): the user never typed it."""
    notes = []
    for s in getattr(args, "settings", {}).values():
        if not s.from_file:
            continue
        for option in KEYS[s.key].option.split("/"):
            if re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", message):
                notes.append(f"{option} comes from {s.where} = {shown(s.key, s.value)}")
                break
    return f"{message} ({'; '.join(notes)})" if notes else message


# --- the command line's glue -----------------------------------------------------------


class Default:
    """An option's built-in default, wrapped before parsing: still there after parsing,
    the option was not given."""

    __slots__ = ("value", "type")

    def __init__(self, value: Any, type_: Callable[[str], Any] | None) -> None:
        self.value = value
        self.type = type_

    def builtin(self) -> Any:
        if isinstance(self.value, str) and self.type is not None:
            return self.type(self.value)  # as argparse converts a string default
        return self.value


class DefaultList(list):
    """A wrapped list default (an `append` option): argparse copies it before appending,
    and the copy is a plain list, so an option given is told from one not given."""

    __slots__ = ("type",)

    def __init__(self, value: Iterable[Any], type_: Callable[[str], Any] | None) -> None:
        super().__init__(value)
        self.type = type_

    def __copy__(self) -> list:
        return list(self)

    def builtin(self) -> list:
        return list(self)


def _subparsers(parser: Any) -> Mapping[str, Any]:
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return {}


def command_options(parser: Any) -> dict[str, list[str]]:
    """Each command's option dests (for a parser without commands: "" -> its own)."""
    commands = _subparsers(parser)
    if not commands:
        return {"": [a.dest for a in parser._actions]}
    return {name: [a.dest for a in p._actions] for name, p in commands.items()}


def mark_defaults(parser: Any) -> None:
    """Wrap the defaults of the options a config file may set (every command's)."""
    parsers = list(_subparsers(parser).values()) or [parser]
    for p in parsers:
        for action in p._actions:
            if action.dest in _BY_DEST and not isinstance(action.default, Default | DefaultList):
                if isinstance(action.default, list):
                    action.default = DefaultList(action.default, action.type)
                else:
                    action.default = Default(action.default, action.type)


def library_of(args: Any) -> Path | None:
    """The library a command works on: `--output LIBRARY`, or find-duplicates'
    `--library`."""
    for name in ("output", "library"):
        value = getattr(args, name, None)
        if isinstance(value, str | Path) and value:
            return Path(value)
    return None


def apply_config(args: Any, command: str, options: Mapping[str, Iterable[str]]) -> None:
    """Give every option not on the command line the files' value, else its built-in
    default; record every setting's source in `args.settings`."""
    wrapped = {
        dest: value
        for dest, value in vars(args).items()
        if dest in _BY_DEST and isinstance(value, Default | DefaultList)
    }
    given = [dest for dest in _BY_DEST if hasattr(args, dest) and dest not in wrapped]
    files = load_files(library_of(args), options)
    settings: dict[str, Setting] = {}
    for dest in given:
        key = _BY_DEST[dest]
        value = getattr(args, dest)
        settings[key] = Setting(key, _as_key(key, value), Source.COMMAND_LINE)
    for dest, default in wrapped.items():
        key = _BY_DEST[dest]
        found = from_files(files, command, key)
        if found is None:
            setattr(args, dest, default.builtin())
            settings[key] = Setting(key, _as_key(key, default.builtin()), Source.BUILTIN)
        else:
            value = not found.value if KEYS[key].inverted else found.value
            setattr(args, dest, value)
            settings[key] = found
    args.settings = settings
    args.config_files = (tuple(files), command)


def _as_key(key: str, value: Any) -> Any:
    """An option's value in its key's terms (`no_mtime` is `--no-mtime`'s use_mtime, negated)."""
    return (not value) if KEYS[key].inverted else value


def setting(args: Any, key: str, default: Any) -> Any:
    """A setting's effective value for this run, in its key's terms: the option's
    (command line, library file, user file, built-in) when the command has the option,
    else `default`."""
    found = getattr(args, "settings", {}).get(key)
    if found is None:
        files, command = getattr(args, "config_files", ((), ""))
        found = from_files(files, command, key)
    return found.value if found is not None else default


def shown(key: str, value: Any) -> str:
    """A setting's value as `photoorganiser config` prints it."""
    if value is None:
        return {"mode": "move", "timezone": "(this machine's)"}.get(key, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def effective(
    library: Path | None,
    command: str,
    defaults: Mapping[str, Any],
    options: Mapping[str, Iterable[str]],
) -> list[Setting]:
    """`photoorganiser config`: every setting `command` has, its value and source.
    `defaults`: the command's built-in defaults by option dest."""
    files = load_files(library, options)
    out = []
    for key, k in KEYS.items():
        if k.dest not in defaults:
            continue
        found = from_files(files, command, key)
        if found is None:
            out.append(Setting(key, _as_key(key, defaults[k.dest]), Source.BUILTIN))
        else:
            out.append(found)
    return out
