"""Keyboard shortcuts for the Review tab (placeholder)."""

HEAD = ""
