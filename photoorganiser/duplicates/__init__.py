"""find-duplicates: exact and near duplicates, the file to keep, and the report.

- values.py    the frozen values shared by all: candidates, file facts, reasons, groups
- stage.py     the stage protocol: (groups, ctx) -> groups, counted after each stage
- exact.py     the exact stages: by size, inode, head+tail sample, whole content
- describe.py  a file's pixels, date, camera and format (headers, then Pillow)
- keep.py      the keep policy: which file of a group to keep, and why
- similar.py   near duplicates: the perceptual hash, its index and search
- find.py      the run: scan, exact stages, describe, keep, look-alikes
- report.py    the CSV/JSON report, reasons rendered to text, the summary
"""
