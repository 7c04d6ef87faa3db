"""Compare: one instruction answered by two iterations' generators, side by side.

The clearest way to see what Self-Lengthen did to a model is to ask the iteration-0 generator and a later
one the same thing. Both answers use the generate stage's prompt (the instruction as the user turn) and
the run's sampling settings with one seed, so they differ only by the model. One model is loaded at a
time (load, generate, close): two large models need not fit in memory together.
"""

from __future__ import annotations

from selflengthen.config import RunConfig
from selflengthen.errors import InputError
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.jobs.runner import JobReporter, run_as_job
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.words import count_words
from selflengthen.shapes import Run, Store
from selflengthen.stages.common import derive_seed, sampling_params
from selflengthen.stages.pipeline import default_backend_factory

MAX_INSTRUCTION_CHARS = 20_000  # far below the operating system's limit on one command-line argument


def parse_iteration_pair(text: str) -> tuple[int, int]:
    """Two different iteration indexes from 'A,B'.

    >>> parse_iteration_pair(" 0, 2")
    (0, 2)
    >>> parse_iteration_pair("2,2")
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: --iterations needs two different iterations (got 2 twice)
    """
    parts = [p.strip() for p in str(text or "").split(",")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InputError(f"--iterations needs two iteration indexes like 0,2 (got {text!r})")
    a, b = int(parts[0]), int(parts[1])
    if a == b:
        raise InputError(f"--iterations needs two different iterations (got {a} twice)")
    return a, b


def check_instruction(instruction: str) -> str:
    """The instruction, stripped; refuses an empty or oversized one."""
    text = (instruction or "").strip()
    if not text:
        raise InputError("the instruction is empty")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise InputError(f"the instruction is too long ({len(text)} characters; at most {MAX_INSTRUCTION_CHARS})")
    return text


def compare_models(store: Store, run: Run, indexes: tuple[int, int]) -> dict[int, str]:
    """{iteration index: its generator checkpoint}; refuses an index the run does not have."""
    models = {}
    for idx in indexes:
        iteration = store.get_iteration(run["id"], idx)
        if iteration is None:
            have = ", ".join(str(it["idx"]) for it in store.list_iterations(run["id"]))
            raise InputError(f"run '{run['name']}' has no iteration {idx} (it has: {have})")
        models[idx] = iteration["generator_checkpoint"]
    return models


def compare_command(db: str, run_name: str, a: int, b: int, instruction: str,
                    max_new_tokens: int | None = None) -> list[str]:
    """The CLI twin of one comparison (the instruction as --instruction=TEXT, so a leading '-' is safe)."""
    args = ["compare", "--db", str(db), "--name", run_name, "--iterations", f"{a},{b}", f"--instruction={instruction}"]
    if max_new_tokens is not None:
        args += ["--max-new-tokens", str(max_new_tokens)]
    return cli_command(*args)


def run_compare_job(store: Store, run_name: str, iteration_a: int, iteration_b: int, instruction: str, *,
                    max_new_tokens: int | None = None, factory=None) -> dict:
    """Answer `instruction` with both iterations' generators as a job; returns the stored comparison row."""
    run = store.require_run(run_name)
    if iteration_a == iteration_b:
        raise InputError(f"pick two different iterations (got {iteration_a} twice)")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise InputError(f"--max-new-tokens must be at least 1 (got {max_new_tokens})")
    text = check_instruction(instruction)
    models = compare_models(store, run, (iteration_a, iteration_b))
    config = RunConfig.from_dict(run["config"])
    command = shown(compare_command(getattr(store, "path", ""), run_name, iteration_a, iteration_b, text,
                                    max_new_tokens))
    job_id = store.start_job("compare", run_id=run["id"], command=command)
    reporter = JobReporter(store, job_id)

    def work() -> int:
        responses = _answer_all(models, text, config, max_new_tokens or config.generate.max_new_tokens,
                                derive_seed(config.seed, "compare", job_id), factory or default_backend_factory,
                                reporter)
        return store.save_comparison(_comparison_row(run, job_id, text, models, responses))

    return store.get_comparison(run_as_job(store, job_id, reporter, work))


def _answer_all(models: dict[int, str], instruction: str, config: RunConfig, max_new_tokens: int, seed: int,
                factory, reporter: JobReporter) -> dict[int, str]:
    """{iteration index: answer}, loading each distinct model once and closing it before the next."""
    reporter.stage("compare", total=len(models))
    reporter.log(f"seed {seed}, at most {max_new_tokens} new tokens")
    params = sampling_params(config, max_new_tokens, seed)
    template = config.prompts.resolved()["generate"]
    answers = {}
    for model in dict.fromkeys(models.values()):
        reporter.check_cancel()
        reporter.log(f"loading {model}")
        backend = factory("generator", model, config)
        try:
            for idx in (i for i, m in models.items() if m == model):
                [out] = backend.generate([build_response_prompt(instruction, template=template)], params)
                answers[idx] = out.text.strip()
                cut = " (cut off at the token limit)" if out.truncated else ""
                reporter.log(f"iteration {idx}: {count_words(answers[idx])} words{cut}")
                reporter.advance(1)
        finally:
            backend.close()
    return answers


def _comparison_row(run: Run, job_id: int, instruction: str, models: dict[int, str],
                    answers: dict[int, str]) -> dict:
    (a, model_a), (b, model_b) = models.items()
    return {
        "run_id": run["id"], "job_id": job_id, "instruction": instruction, "iteration_a": a, "iteration_b": b,
        "model_a": model_a, "model_b": model_b, "response_a": answers[a], "response_b": answers[b],
        "words_a": count_words(answers[a]), "words_b": count_words(answers[b]),
    }
