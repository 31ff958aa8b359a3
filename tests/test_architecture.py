"""The layout is the architecture: imports keep to ARCHITECTURE.md, and nothing is circular."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import photoorganiser

PACKAGE = Path(photoorganiser.__file__).parent
DOC = PACKAGE.parent / "ARCHITECTURE.md"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The package's modules (or packages) that `path` imports, as dotted names."""
    me = module_name(path)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "photoorganiser":
                target = node.module
            else:
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                is_module = (PACKAGE.parent / (full.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / full.replace(".", "/")
                ).is_dir()
                found.add(full if is_module else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "photoorganiser"}
    return found


def area(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return parts[1]  # a top-level module: cli, __main__


def allowed() -> dict[str, set[str]]:
    """The table of ARCHITECTURE.md: area -> the areas it may import."""
    rules: dict[str, set[str]] = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `([a-z_.]+?)/?` \|.*\| (.+) \|$", line)
        if not m:
            continue
        name = m.group(1).removesuffix(".py")
        text = m.group(2)
        if "nothing else" in text:
            rules[name] = set()
        elif "everything" in text or "all of the above" in text:
            rules[name] = {"*"}
        else:
            rules[name] = set(re.findall(r"`([a-z_]+)`", text))
    return rules


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_the_doc_names_every_area() -> None:
    areas = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    rules = allowed()
    assert areas <= set(rules), f"areas missing from ARCHITECTURE.md: {areas - set(rules)}"
    assert {"core", "media", "library", "importing", "duplicates", "runs", "cli"} <= set(rules)


def test_imports_keep_to_the_architecture() -> None:
    rules = allowed()
    rules["__main__"] = {"cli"}
    wrong = []
    for module, targets in sorted(graph().items()):
        mine = area(module)
        if mine == "root":
            continue
        may = rules.get(mine)
        assert may is not None, f"{module} is in an area ARCHITECTURE.md does not describe"
        for target in sorted(targets):
            theirs = area(target)
            if theirs in (mine, "root") or "*" in may or theirs in may:
                continue
            wrong.append(f"{module} -> {target} ({mine} may not import {theirs})")
    assert not wrong, "imports leave the architecture:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    edges = graph()
    modules = set(edges)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if target not in modules or target == node:
                continue
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_check_itself_catches_a_wrong_arrow(tmp_path: Path) -> None:
    """core importing the library must be caught (a test that cannot fail is a defect)."""
    bad = PACKAGE / "core" / "_architecture_probe.py"
    bad.write_text("from ..library import catalog\n")
    try:
        rules = allowed()
        targets = imports(bad)
        assert "photoorganiser.library.catalog" in targets
        assert area("photoorganiser.library.catalog") not in rules["core"]
    finally:
        bad.unlink()
