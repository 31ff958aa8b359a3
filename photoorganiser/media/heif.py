"""Pillow opens HEIF/HEIC (and AVIF) files through pillow-heif: registered once per process."""

from __future__ import annotations

_registered = False


def register_heif() -> None:
    """Let Pillow open HEIF/HEIC files (once per process; nothing if pillow-heif is missing)."""
    global _registered
    if not _registered:
        from PIL import Image

        Image.init()  # every plugin: Image.open(formats=...) names them
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except Exception:  # pragma: no cover - pillow-heif missing
            pass
        _registered = True
