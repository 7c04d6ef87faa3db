"""Shared fixtures: the demo model is built once per test session (offline, deterministic)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory) -> Path:
    """The real demo model, built once per test session (set SELFLENGTHEN_DEMO_MODEL to reuse a built one)."""
    from selflengthen.demo_model import build_demo_model

    prebuilt = os.environ.get("SELFLENGTHEN_DEMO_MODEL")
    if prebuilt and (Path(prebuilt) / "config.json").exists():
        return Path(prebuilt)
    return build_demo_model(tmp_path_factory.mktemp("demo-model"))


@pytest.fixture(scope="session")
def untrained_model_dir(tmp_path_factory) -> Path:
    """A tiny model with the demo tokenizer and random weights: fast, for backend plumbing tests."""
    from selflengthen.demo_model import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("untrained-model"), steps=0)
