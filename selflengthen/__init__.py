"""Self-Lengthen: teach a model to write longer by expanding its own answers.

The method as a library: plain data in, plain data out. It never imports gradio or sqlite_utils;
the store is passed in by the caller (see ``selflengthen.pipeline``).
"""

__version__ = "0.1.0"
