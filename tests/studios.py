"""The dashboard's context for handler tests: a Studio around a real store, its worker running commands in the
project's folder (where `python -m selflengthen` resolves)."""

from __future__ import annotations

from paths import ROOT
from ui.common import Studio
from ui.worker import Worker


def studio_for(store) -> Studio:
    return Studio(store=store, db_path=store.path, worker=Worker(store, cwd=str(ROOT)))
