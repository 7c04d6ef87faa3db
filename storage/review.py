"""Curation queries for the Review tab (placeholder)."""

from __future__ import annotations


class ReviewMixin:
    pass
