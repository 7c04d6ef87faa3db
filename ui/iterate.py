"""Iterate tab (placeholder until built)."""

from __future__ import annotations

import gradio as gr


def build_tab(studio, run) -> None:
    with gr.Tab("Iterate", id="iterate"):
        gr.Markdown("Coming soon.")
