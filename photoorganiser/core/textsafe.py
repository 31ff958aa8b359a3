"""Text made safe for where it is stored or shown, reversibly where it must be read back.

Two problems, two reversible encodings:

- **CSV formula injection** (OWASP): a spreadsheet runs a cell that starts with
  `=`, `+`, `-`, `@`, tab or CR as a formula, so a file named `=HYPERLINK(...).jpg`
  could act when a report is opened. `csv_cell` prefixes such a cell with `'`
  (which spreadsheets hide); a value that itself starts with `'` is prefixed too,
  so `from_csv_cell` can always undo it exactly.
- **File names that are not UTF-8.** POSIX names are bytes; Python shows a byte
  that is not UTF-8 as a lone surrogate (U+DC80..U+DCFF, `surrogateescape`), and
  a lone surrogate cannot be written as UTF-8 (CSV, JSON, SQLite): one such name
  from an old FAT card or a Windows zip would stop every run. `path_text` writes
  such a byte as `\\xNN` and a backslash as `\\\\`, so the text is always valid
  UTF-8 and `text_path` gives back exactly the name the file system has. A name
  without backslashes or undecodable bytes (nearly every name) is unchanged, so
  text written before this scheme reads back the same.

`display_text` is the one-way variant for messages meant only for people.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

# What makes a spreadsheet treat a cell as a formula (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"
_QUOTED_START = (*_FORMULA_START, _QUOTE)

_ESCAPE = "\\"
# What path_text must rewrite: a backslash, or any lone surrogate.
_NEEDS_ESCAPE = re.compile("[\\\\\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# What text_path reads back. `\xNN` only for 80..ff: a byte below 0x80 is ASCII and
# is never undecodable, so `\x41` in old text is left as the four characters it is.
_ESCAPED = re.compile(r"\\(?:(\\)|x([89a-fA-F][0-9a-fA-F])|u([dD][89a-fA-F][0-9a-fA-F]{2}))")


def csv_cell(value: str) -> str:
    """`value` as a CSV cell no spreadsheet runs as a formula; `from_csv_cell` undoes it."""
    if value.startswith(_QUOTED_START):
        return _QUOTE + value
    return value


# a cell csv_cell would change, found in a row's cells joined by NUL (a NUL then its start)
_ROW_MAY_QUOTE = re.compile("\0[" + re.escape("".join(_QUOTED_START)) + "]")


def csv_row(row: Sequence[str]) -> Sequence[str]:
    """`csv_cell` of each cell of `row`; a row with no cell it would change (one search
    over its joined cells) is given back as it is."""
    if _ROW_MAY_QUOTE.search("\0" + "\0".join(row)):
        return [csv_cell(c) for c in row]
    return row


def from_csv_cell(text: str) -> str:
    """The value `csv_cell` was given: one leading `'` removed where `csv_cell` added it."""
    if text.startswith(_QUOTE) and text[1:].startswith(_QUOTED_START):
        return text[1:]
    return text


def path_text(path: str | bytes | os.PathLike) -> str:
    """A path as valid UTF-8 text that `text_path` turns back into exactly that path.

    A backslash is written `\\\\`, an undecodable byte `\\xNN` (lower-case hex), any
    other lone surrogate (an unpaired UTF-16 half from a Windows name) `\\uNNNN`;
    everything else as it is."""
    text = os.fspath(path)
    if type(text) is not str:  # (os.fsdecode, without its Python call for a str)
        text = os.fsdecode(text)
    if text.isascii() and _ESCAPE not in text:
        return text  # the common case, without a regex
    return _NEEDS_ESCAPE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char == _ESCAPE:
        return _ESCAPE + _ESCAPE
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def text_path(text: str) -> str:
    """The path `path_text` was given (as `str`, surrogates and all: pass it to open/Path).

    Text not written by `path_text` (a catalog from before it) reads back as it is,
    except where it holds one of the escapes; a backslash before anything else stays."""
    if _ESCAPE not in text:
        return text
    return _ESCAPED.sub(_unescape_one, text)


def _unescape_one(match: re.Match[str]) -> str:
    backslash, byte, unit = match.groups()
    if backslash:
        return _ESCAPE
    if byte:
        return chr(0xDC00 + int(byte, 16))
    return chr(int(unit, 16))


def display_text(value: str) -> str:
    """`value` for a message or a free-text cell: lone surrogates shown as `\\xNN`.

    One way (backslashes are left alone, so a Windows path reads naturally); use
    `path_text` where the text must be read back as a path."""
    if value.isascii():
        return value
    return _SURROGATE.sub(_escape_one, value)
