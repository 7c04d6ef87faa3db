"""Comparisons: one instruction answered by two iterations' generators (placeholder)."""

from __future__ import annotations


class ComparisonsMixin:
    pass
