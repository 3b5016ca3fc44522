"""The project's shape: folders by role, no import circle, small modules, streamlit and TensorFlow kept
where they belong, benchmarks on the public API, pages thin, the session package free of widgets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted(p for p in (ROOT / "ranking").rglob("*.py"))
ROLES = {"data", "prep", "stages", "evaluation", "viz", "online"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module a file imports (absolute dotted names, relative ones resolved; strings passed to
    ``import_module``/``importorskip``/``__import__`` count too), with the column of the import."""
    found: list[tuple[str, int]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.col_offset) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((module, node.col_offset))
            found += [(f"{module}.{a.name}", node.col_offset) for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "importorskip", "__import__"):
                found.append((node.args[0].value, node.col_offset))
    return found


def _library_edges() -> dict[str, set[str]]:
    modules = {_module(p) for p in LIBRARY}
    edges: dict[str, set[str]] = {}
    for p in LIBRARY:
        me = _module(p)
        targets = {m for m, _ in _imports(p) if m in modules and m != me}
        # a package's face (__init__) re-exports its modules; importing it is not importing its siblings
        edges[me] = targets
    return edges


def test_the_library_is_laid_out_by_role():
    folders = {p.parent.name for p in LIBRARY if p.parent != ROOT / "ranking"}
    assert folders == ROLES
    top = sorted(p.name for p in (ROOT / "ranking").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "config.py", "curve.py", "errors.py", "names.py",
                   "pipeline.py", "progress.py", "scoring.py", "study.py"]


def test_no_import_circle_in_the_library():
    edges = _library_edges()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith(node + "."):
                continue  # a package's face importing its own modules
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
                raise AssertionError("import circle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_no_import_circle_between_the_library_packages():
    """Folders by role depend one way (e.g. evaluation may use stages, never the reverse): a circle between
    packages is one even when no two modules import each other."""
    def role(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 2 and parts[1] in ROLES else None

    graph: dict[str, set[str]] = {r: set() for r in ROLES}
    for me, targets in _library_edges().items():
        for t in targets:
            a, b = role(me), role(t)
            if a and b and a != b:
                graph[a].add(b)
    for a in sorted(graph):
        for b in sorted(graph[a]):
            assert a not in _reachable(graph, b), f"packages import each other: {a} → {b} → … → {a}"


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small_enough_to_read_in_one_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines (limit 400, aim 300)"


def test_the_library_never_imports_streamlit():
    offenders = [f"{p.relative_to(ROOT)}:{mod}" for p in LIBRARY for mod, _ in _imports(p)
                 if mod.split(".")[0] == "streamlit"]
    assert not offenders


def test_the_session_package_draws_nothing():
    offenders = [f"{p.relative_to(ROOT)}:{mod}" for p in sorted((ROOT / "pages" / "session").glob("*.py"))
                 for mod, _ in _imports(p) if mod.split(".")[0] == "streamlit" or mod.startswith("pages.ui")]
    assert not offenders


def test_tensorflow_is_imported_only_inside_functions():
    top_level = [str(p.relative_to(ROOT)) for p in LIBRARY
                 for mod, col in _imports(p) if mod.split(".")[0] in ("tensorflow", "keras") and col == 0]
    assert not top_level


def test_benchmarks_use_the_public_api_only():
    private = [f"{p.name}:{mod}" for p in sorted((ROOT / "benchmarks").glob("*.py")) for mod, _ in _imports(p)
               if mod.startswith("ranking") and any(part.startswith("_") for part in mod.split("."))]
    assert not private
    assert not any(p.stem in ("bench", "naive") for p in LIBRARY), "the benchmark lives outside the library"


def test_one_stage_chain():
    """Only ranking/pipeline.py orders the stages: nobody else fits one stage's model on another's output."""
    callers = []
    for path in [*LIBRARY, *sorted((ROOT / "pages").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        if path.name in ("pipeline.py", "contract.py") or path.parts[-2] == "stages":
            continue
        if any(name in text for name in ("GBDTRanker(", "NeuralReranker(", "CandidateGenerator(")):
            callers.append(str(path.relative_to(ROOT)))
    assert callers in ([], ["benchmarks/bench.py"]), callers  # the bench times stage 1 alone against the notebook


def test_importing_the_whole_library_does_not_load_tensorflow():
    modules = sorted(_module(p) for p in LIBRARY if p.stem != "__main__")
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
            "assert 'streamlit' not in sys.modules, 'streamlit imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_pages_are_short_scripts():
    for page in sorted((ROOT / "pages").glob("*.py")):
        lines = len(page.read_text(encoding="utf-8").splitlines())
        assert lines <= 160, f"{page.name} has {lines} lines: move logic into ranking/ or pages/session/"
