"""`selflengthen/` is the method as a library: it never imports gradio or sqlite_utils, and holds no SQL."""

import re
import subprocess
import sys

from conftest import ROOT

LIBRARY = ROOT / "selflengthen"


def test_library_modules_import_neither_gradio_nor_sqlite_utils():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in LIBRARY.rglob("*.py")
        if p.name != "__main__.py" and "vllm" not in p.name
    )
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(k for k in ('gradio', 'sqlite_utils', 'storage') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
    assert len(modules) > 20


def test_no_sql_in_the_library():
    sql = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|CREATE TABLE)\b")
    offenders = [p.name for p in LIBRARY.rglob("*.py") if sql.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
