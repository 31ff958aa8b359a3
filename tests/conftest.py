from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/media.py

REPO = Path(__file__).resolve().parents[1]
# The real-file corpus: one setting for tests and benchmarks (README, "Development").
CORPUS = Path(os.environ.get("PHOTOORGANISER_CORPUS", REPO.parent / "shared" / "corpus" / "real"))


def tree_state(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below root: its bytes and mtime (to prove nothing changed)."""
    state = {}
    if not root.exists():
        return state
    for path in sorted(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            st = path.lstat()
            data = path.read_bytes() if path.is_file() else os.readlink(path).encode()
            state[str(path.relative_to(root))] = (data, st.st_mtime_ns)
        else:
            state[str(path.relative_to(root)) + "/"] = (b"", 0)
    return state


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "manifest.csv").exists():
        pytest.skip(f"real corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def small_fs(tmp_path: Path):
    """Mount a small tmpfs (root only; skipped elsewhere)."""
    mounts: list[Path] = []

    def make(size: str) -> Path:
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip("cannot mount a small file system here (needs root)")
        mounts.append(point)
        return point

    yield make
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser is downloaded).

    Installed by `tests/install-browser` (the README's test command runs it); skipped
    only where neither it nor Playwright is present."""
    from web import chromium

    executable = chromium()
    if executable is None:
        pytest.skip("no chromium: run tests/install-browser (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # the page's own script errors: a test can assert there are none
    yield page
    context.close()


@pytest.fixture(autouse=True, scope="session")
def _no_personal_config(tmp_path_factory):
    """A person's own ~/.config/photoorganiser/config.toml never changes what a test sees
    (tests of the config file set XDG_CONFIG_HOME themselves)."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    yield
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before


@pytest.fixture(autouse=True)
def _own_state_folder(tmp_path_factory, monkeypatch):
    """Each test has its own $XDG_STATE_HOME and $XDG_DATA_HOME: the dedupe journal and its
    lock, the reports kept there and the trash are never shared by two tests running at
    once, nor left in ~."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
