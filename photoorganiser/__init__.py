"""photoorganiser: one clean, dated, duplicate-free library from scattered photos and videos."""

__version__ = "0.1.0"
