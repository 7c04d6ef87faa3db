"""Self-Lengthen: teach a model to write longer by expanding its own answers.

The method as a library: plain data in, plain data out. It never imports gradio or sqlite_utils;
the store is passed in by the caller (see ``selflengthen.stages.pipeline``).
"""

import os

# OpenMP threads that spin while waiting starve each other on small CPU machines: measured here, 16
# prompts x 192 tokens on the demo model took 25.5 s with the default policy and 0.25 s with PASSIVE.
# torch is imported lazily, after this line, so the setting takes effect; a user's own value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
