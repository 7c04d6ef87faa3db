"""Shared fixtures: the demo model is built once per test session (offline, deterministic)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from paths import ROOT

sys.path.insert(0, str(ROOT))
pytest_plugins = ["reviewing"]  # the Review tests' `reviewed` and `crafted` stores
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def store(tmp_path):
    """A new store in a real SQLite file (WAL, migrations applied) under the test's folder, closed afterwards.

    A file, not ":memory:": jobs, the dashboard and the CLI open the same database from other threads and
    processes. Tests that need a populated store override this fixture and ask for it by the same name.
    """
    from storage import Store

    opened = Store(tmp_path / "studio.db")
    yield opened
    opened.close()


@pytest.fixture
def studio(store):
    """The dashboard's context (store, database path, job worker) around the `store` fixture."""
    from studios import studio_for

    return studio_for(store)


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory) -> Path:
    """The real demo model, built once per test session (set SELFLENGTHEN_DEMO_MODEL to reuse a built one)."""
    from selflengthen.demo.model import build_demo_model

    prebuilt = os.environ.get("SELFLENGTHEN_DEMO_MODEL")
    if prebuilt and (Path(prebuilt) / "config.json").exists():
        return Path(prebuilt)
    return build_demo_model(tmp_path_factory.mktemp("demo-model"))


@pytest.fixture(scope="session")
def untrained_model_dir(tmp_path_factory) -> Path:
    """A tiny model with the demo tokenizer and random weights: fast, for backend plumbing tests."""
    from selflengthen.demo.model import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("untrained-model"), steps=0)
