"""Where the tests find the project and their data: everything inside the repository, nothing beside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SEEDS_EN = DATA / "seeds_en.jsonl"
SEEDS_ZH = DATA / "seeds_zh.jsonl"
LONGEN = DATA / "LonGen.jsonl"
