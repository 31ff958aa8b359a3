"""What `--no-verify` would save: photoorganiser's CLI with the copy's read-back left out.

    python bench/noverify.py import --input IN --output LIB --copy ...

For measuring only (bench_import.py runs it beside the real import): the copy is written,
flushed and its bytes hashed on the way (a changed source is still caught), but it is not
read back from the disk before it gets its name. Not an option of photoorganiser: a copy
that the disk or its controller damaged on the way would be named, and the source of a move
removed, without anyone knowing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _no_read_back() -> None:
    import threading

    from photoorganiser.importing import execute

    expected = threading.local()  # each copy thread's copy in hand
    real = execute._copy_verified

    def copy_unverified(source, tmp, expected_hash, st):
        expected.hash = expected_hash  # the read-back "agrees" without reading
        return real(source, tmp, expected_hash, st)

    execute.hash_file = lambda fd: expected.hash
    execute._copy_verified = copy_unverified


if __name__ == "__main__":
    _no_read_back()
    from photoorganiser.cli import main

    sys.exit(main(sys.argv[1:]))
