"""The Gradio dashboard: one builder per tab, plain handlers over the library and the store."""
