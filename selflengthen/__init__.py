"""Self-Lengthen: teach a model to write longer by expanding its own answers.

The method as a library: plain data in, plain data out. It never imports gradio or the storage package; the
store is handed in by the entry points (app.py, the CLI, the trainer subprocess) and `shapes.Store` says what
the library needs from it. The rooms, in the order of the loop:

    method/      the pure pieces: words, gates, split, ROUGE, and each stage's prompts with their parsers
    stages/      one runner per stage (augment, generate, expand, filter) and the iteration pipeline
    backends/    transformers, vLLM, OpenAI-compatible servers, and a scripted fake for tests
    runs/        a run's setup (preset, seeds), its status and its insights
    curation/    the rules of a curator's decision and the one service that records them
    training/    training data, the trainer subprocess, its job, and chat with a checkpoint
    evaluation/  LonGen benchmarks, length scores, the LLM judge, the eval and compare jobs
    export/      trainers' formats, the dataset card, the atomic writer
    jobs/        long work as a job: runner, pre-flight checks, progress, command lines
    demo/        the offline demo model and its corpus
    config.py, errors.py, inputs.py, shapes.py, cli.py

A script's entry points are importable from here (loaded on first use, so `import selflengthen` stays cheap):

    >>> from selflengthen import preset_config
    >>> preset_config("demo").preset
    'demo'
"""

import importlib
import os

# OpenMP threads that spin while waiting starve each other on small CPU machines: measured here, 16
# prompts x 192 tokens on the demo model took 25.5 s with the default policy and 0.25 s with PASSIVE.
# torch is imported lazily, after this line, so the setting takes effect; a user's own value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# name -> the module that defines it
ENTRY_POINTS = {
    "RunConfig": "selflengthen.config", "preset_config": "selflengthen.config",
    "Store": "selflengthen.shapes", "SelfLengthenError": "selflengthen.errors",
    "create_backend": "selflengthen.backends", "prepare_run": "selflengthen.runs.setup",
    "run_iteration": "selflengthen.stages.pipeline", "current_iteration": "selflengthen.stages.pipeline",
    "run_iterate_job": "selflengthen.jobs.runner", "decide": "selflengthen.curation.decisions",
    "review": "selflengthen.curation.decisions", "run_train_job": "selflengthen.training.job",
    "run_eval_job": "selflengthen.evaluation.job", "export_dataset": "selflengthen.export.writer",
    "build_demo_model": "selflengthen.demo.model",
}
__all__ = sorted(ENTRY_POINTS)


def __getattr__(name: str):
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module 'selflengthen' has no attribute {name!r}")
    return getattr(importlib.import_module(ENTRY_POINTS[name]), name)
