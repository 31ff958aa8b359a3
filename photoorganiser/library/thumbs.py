"""(temporary stand-in until the thumbnail cache lands)"""

from __future__ import annotations

from pathlib import Path


class ThumbCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, content_hash: str, path: Path, size: int = 320) -> bytes | None:
        return None
