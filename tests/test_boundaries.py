"""The architecture as tests: what each part of the project may import, read from the source (imports inside
functions included), the store contract, and a repository that needs nothing beside it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from paths import ROOT

LIBRARY = ROOT / "selflengthen"

# What each room of the library may import from the rest of it (README's "Layout" says the same in words).
MAY_IMPORT = {
    "errors": set(), "shapes": set(), "inputs": {"errors"}, "config": {"errors", "inputs", "method"},
    "method": {"errors", "backends"},
    "backends": {"errors", "config"},
    "stages": {"method", "backends", "config", "errors", "shapes"},
    "runs": {"method", "backends", "config", "inputs", "errors", "shapes"},
    "curation": {"method", "errors", "shapes"},
    "jobs": {"stages", "runs", "backends", "config", "errors", "shapes"},
    "training": {"method", "curation", "backends", "jobs", "config", "finalize", "inputs", "errors", "shapes"},
    "evaluation": {"method", "backends", "stages", "jobs", "runs", "config", "inputs", "errors", "shapes"},
    "export": {"curation", "training", "finalize", "runs", "jobs", "inputs", "errors", "shapes"},
    "demo": {"method", "backends"},
    "finalize": {"method", "evaluation", "backends", "stages", "jobs", "errors", "config", "inputs", "shapes"},
    "cli": {"*"}, "__init__": {"*"}, "__main__": {"cli"},
}
# Packages outside the library that no library module imports; the entry points that open the store are named.
FORBIDDEN = ("gradio", "sqlite_utils", "storage", "ui", "app")
ENTRY_POINTS = {"selflengthen/cli.py": {"storage"}, "selflengthen/training/trainer.py": {"storage"}}


def imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in the source, at any depth: inside functions, classes, try blocks.

    >>> imports("import os\\ndef f():\\n    from gradio import Blocks\\n")
    [(1, 'os'), (3, 'gradio')]
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "selflengthen":  # `from selflengthen import chat` names a module
                found += [(node.lineno, f"selflengthen.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return sorted(found)


def room(path: Path) -> str:
    """The part of the library a file belongs to: its subpackage, or its own name at the top level."""
    parts = path.relative_to(LIBRARY).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def violations(path: Path, source: str) -> list[str]:
    """Why the file breaks the boundaries, one line each (empty when it keeps them)."""
    name, own = path.relative_to(ROOT).as_posix(), room(path)
    allowed, allowed_outside = MAY_IMPORT[own], ENTRY_POINTS.get(path.relative_to(ROOT).as_posix(), set())
    found = []
    for line, module in imports(source):
        top = module.split(".")[0]
        if top in FORBIDDEN and top not in allowed_outside:
            found.append(f"{name}:{line} imports {module}")
        elif top == "selflengthen" and "." in module:
            target = module.split(".")[1]
            if target != own and target not in allowed and "*" not in allowed:
                found.append(f"{name}:{line} imports {module} ({own} may import {', '.join(sorted(allowed))})")
    return found


def library_files() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def test_every_room_keeps_to_what_it_may_import():
    assert len(library_files()) > 40
    assert [v for path in library_files() for v in violations(path, path.read_text(encoding="utf-8"))] == []


@pytest.mark.parametrize("planted, why", [
    ("def build():\n    import gradio as gr\n", "imports gradio"),
    ("def open_store(path):\n    from storage import Store\n    return Store(path)\n", "imports storage"),
    ("def start():\n    from ui.worker import Worker\n", "imports ui.worker"),
    ("from selflengthen.stages.pipeline import run_iteration\n", "imports selflengthen.stages.pipeline (method may"),
])
def test_a_planted_import_inside_a_function_is_caught(planted, why):
    path = LIBRARY / "method" / "words.py"
    source = path.read_text(encoding="utf-8") + "\n\n" + planted
    assert any(why in v for v in violations(path, source))


def test_every_room_of_the_library_has_its_rules_and_no_module_is_long():
    rooms = sorted(p.name for p in LIBRARY.iterdir() if not p.name.startswith(("_", ".")) and p.name != "data")
    assert set(MAY_IMPORT) - {"__init__", "__main__"} == {name.removesuffix(".py") for name in rooms}
    folders = ("storage", "ui", "tests", "bench")
    sources = [*library_files(), ROOT / "app.py", *(p for folder in folders for p in (ROOT / folder).glob("*.py"))]
    long = {p.relative_to(ROOT).as_posix(): n for p in sources if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_every_library_package_says_what_lives_there_and_what_it_may_import():
    for init in LIBRARY.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, init


def test_no_sql_in_the_library():
    sql = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|CREATE TABLE)\b")
    offenders = [p.name for p in library_files() if sql.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_storage_and_the_library_never_import_the_dashboard():
    for path in [*(ROOT / "storage").glob("*.py"), *library_files()]:
        dashboard = [m for _, m in imports(path.read_text(encoding="utf-8")) if m.split(".")[0] in ("ui", "gradio")]
        assert dashboard == [], path


def test_the_store_provides_everything_the_library_asks_for():
    from selflengthen.shapes import Store as Contract
    from storage import Store

    wanted = {name for name in vars(Contract) if not name.startswith("_") and callable(getattr(Contract, name))}
    assert len(wanted) > 40
    for name in sorted(wanted):
        promised = list(inspect.signature(getattr(Contract, name)).parameters)
        actual = list(inspect.signature(getattr(Store, name)).parameters)
        assert actual == promised, name


def test_nothing_in_the_repository_reads_beside_it():
    """A clone runs on its own: no path into a folder next to the checkout (../shared and the like)."""
    beside = re.compile(r"\.\./shared|[\"']shared[\"']\s*/|parents\[2\]")
    folders = [ROOT / name for name in ("selflengthen", "storage", "ui", "tests", "bench", ".ci")]
    candidates = [*ROOT.glob("*.*"), *(p for folder in folders for p in folder.rglob("*"))]
    tracked = [p for p in candidates if p.is_file() and p.suffix in {".py", ".md", ".ini", ".txt", ".sh", ""}
               and "__pycache__" not in p.parts]
    assert len(tracked) > 50
    here = Path(__file__).resolve()
    readers = [p.relative_to(ROOT).as_posix() for p in tracked
               if p != here and beside.search(p.read_text(errors="ignore"))]
    assert readers == []


def test_the_entry_points_a_script_uses_are_importable_from_the_package():
    import selflengthen

    assert all(callable(getattr(selflengthen, name)) for name in selflengthen.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        selflengthen.nothing_here  # noqa: B018
