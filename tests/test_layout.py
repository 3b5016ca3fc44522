"""The project's shape: the library never imports streamlit, TensorFlow only lazily, pages stay thin."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[tuple[str, int]]:
    """Top-level module names imported anywhere in a file, with the nesting depth of the import."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], node.col_offset) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], node.col_offset))
    return found


def test_the_library_never_imports_streamlit():
    offenders = [f"{p.name}:{mod}" for p in sorted((ROOT / "ranking").glob("*.py"))
                 for mod, _ in _imports(p) if mod == "streamlit"]
    assert not offenders


def test_tensorflow_is_imported_only_inside_functions():
    top_level = [f"{p.name}" for p in sorted((ROOT / "ranking").glob("*.py"))
                 for mod, col in _imports(p) if mod in ("tensorflow", "keras") and col == 0]
    assert not top_level


def test_importing_the_whole_library_does_not_load_tensorflow():
    code = ("import importlib, pathlib, sys\n"
            "for p in sorted(pathlib.Path('ranking').glob('*.py')):\n"
            "    if p.stem != '__main__': importlib.import_module('ranking.' + p.stem)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
            "assert 'streamlit' not in sys.modules, 'streamlit imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_pages_are_short_scripts():
    for page in sorted((ROOT / "pages").glob("*.py")):
        lines = len(page.read_text(encoding="utf-8").splitlines())
        assert lines <= 160, f"{page.name} has {lines} lines: move logic into ranking/ or pages/ui/"
