"""Evaluate: an iteration's model answers a LonGen-format benchmark; lengths are scored, quality optionally judged.

The job answers each item with the generate stage's prompt and the run's sampling settings, each item
with its own seed, so an item's answer does not depend on which other items are answered in the same
run: a cancelled or killed evaluation re-run with the same arguments answers only the missing items and
ends where an uninterrupted run would. Every batch is stored in its own short transaction, so curators
keep reviewing while a checkpoint is evaluated.

With a judge, every answered item not yet judged by that judge model is then scored (greedy decoding)
on seven 1-10 dimensions; output the parser cannot read is stored with its reason and counted as failed.
"""

from __future__ import annotations

from pathlib import Path

from selflengthen.backends import GenerationParams, create_backend
from selflengthen.backends.models import check_model, looks_like_path
from selflengthen.config import BACKEND_NAMES, BackendConfig, RunConfig
from selflengthen.errors import InputError
from selflengthen.evaluation.benchmark import Benchmark, load_benchmark, select_items
from selflengthen.evaluation.judge import DIMENSIONS, JudgeParseError, build_judge_prompt, parse_judge_output
from selflengthen.evaluation.metrics import bucket_order, is_answered, score_response, summarize
from selflengthen.jobs.commands import cli_command, shown
from selflengthen.jobs.runner import JobReporter, run_as_job
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.words import count_words
from selflengthen.shapes import Run, Store
from selflengthen.stages.common import batches, derive_seed, generate_wave, sampling_params
from selflengthen.stages.pipeline import default_backend_factory, planned_iteration

ROLES = ("generator", "extender")
RUN_ROLES = ("base", "final")  # the run's base model and its final model: evaluated beside an iteration's
JUDGE_MAX_NEW_TOKENS = 512  # seven scores as JSON need ~100 tokens; the rest is room for a judge that talks first
JUDGE_PARAMS = GenerationParams(max_new_tokens=JUDGE_MAX_NEW_TOKENS, temperature=0.0, top_p=1.0, top_k=0,
                                repetition_penalty=1.0)


def judge_settings(model: str | None, backend: str = "openai", base_url: str | None = None) -> dict | None:
    """The judge as {"model", "backend", "base_url"}; None without a model.

    >>> judge_settings(None) is None
    True
    >>> judge_settings("qwen-judge", base_url="http://127.0.0.1:8000/v1")["backend"]
    'openai'
    >>> judge_settings("qwen-judge")
    Traceback (most recent call last):
    ...
    selflengthen.errors.InputError: an openai judge needs --judge-base-url (its server, e.g. http://127.0.0.1:8000/v1)
    """
    if not (model or "").strip():
        if base_url:
            raise InputError("--judge-base-url needs --judge-model (the judge model's name on that server)")
        return None
    if backend not in BACKEND_NAMES:
        raise InputError(f"unknown --judge-backend {backend!r} (choose from: {', '.join(BACKEND_NAMES)})")
    # The openai backend finds its server only through base_url (no environment default): refuse now, not mid-job.
    if backend == "openai" and not (base_url or "").strip():
        raise InputError("an openai judge needs --judge-base-url (its server, e.g. http://127.0.0.1:8000/v1)")
    return {"model": check_model(model.strip(), backend), "backend": backend,
            "base_url": (base_url or "").strip() or None}


def eval_model(store: Store, run: Run, iteration_idx: int, role: str) -> str:
    """The model iteration `iteration_idx` uses for `role`, including the one training opened next; for
    `base`, the run's own base model; for `final`, the run's final model (`train --final`)."""
    if role not in ROLES + RUN_ROLES:
        raise InputError(f"unknown role {role!r} (choose from: {', '.join(ROLES + RUN_ROLES)})")
    if role == "base":
        return run["generator_model"]
    if role == "final":
        final = store.final_model(run["id"])
        if final is None:
            raise InputError(f"run '{run['name']}' has no final model yet: run `finalize`, then `train --final`")
        return final["path"]
    iteration = store.get_iteration(run["id"], iteration_idx)
    if iteration is not None:
        return iteration[f"{role}_checkpoint"]
    plan = planned_iteration(store, run)
    if plan["new"] and plan["idx"] == iteration_idx:
        return plan[role]
    have = ", ".join(str(it["idx"]) for it in store.list_iterations(run["id"]))
    raise InputError(f"run '{run['name']}' has no iteration {iteration_idx} (it has: {have})")


def eval_command(db, run_name: str, iteration: int, *, role: str = "generator", benchmark: str | None = None,
                 limit: int | None = None, max_new_tokens: int | None = None, judge_model: str | None = None,
                 judge_backend: str = "openai", judge_base_url: str | None = None,
                 language: str | None = None) -> list[str]:
    """The CLI twin of one evaluation (free text that starts with '-' as --flag=value, see `option`).

    >>> eval_command("s.db", "r", 1, limit=5)[3:]
    ['eval', '--db', 's.db', '--name', 'r', '--iteration', '1', '--role', 'generator', '--limit', '5']
    """
    args = ["eval", *option("--db", str(db)), *option("--name", run_name), "--iteration", str(iteration),
            "--role", role]
    if benchmark:
        args += option("--benchmark", benchmark)
    if limit is not None:
        args += ["--limit", str(limit)]
    if language:
        args += option("--language", language)
    if max_new_tokens is not None:
        args += ["--max-new-tokens", str(max_new_tokens)]
    if judge_model:
        args += [*option("--judge-model", judge_model), "--judge-backend", judge_backend]
        if judge_base_url:
            args += option("--judge-base-url", judge_base_url)
    return cli_command(*args)


def option(flag: str, value: str) -> list[str]:
    """A flag and its value as two arguments, or as one `--flag=value` when the value would read as a flag.

    >>> option("--name", "my run"), option("--name", "-x")
    (['--name', 'my run'], ['--name=-x'])
    """
    return [f"{flag}={value}"] if value.startswith("-") else [flag, value]


def run_eval_job(store: Store, run_name: str, iteration: int | None, *, role: str = "generator",
                 benchmark: str | None = None, limit: int | None = None, max_new_tokens: int | None = None,
                 judge: dict | None = None, show_progress: bool = False, factory=None,
                 language: str | None = None) -> dict:
    """Evaluate iteration `iteration`'s `role` model as a job; returns the stored evaluation with its summary.
    The run's base and final models are filed under the latest iteration when `iteration` is None.

    Everything is checked before the job starts: a refused request leaves no job and no evaluation behind.
    """
    run = store.require_run(run_name)
    if iteration is None and role not in RUN_ROLES:
        raise InputError(f"--iteration is required for the {role}")
    if iteration is None:
        latest = store.latest_iteration(run["id"])
        iteration = latest["idx"] if latest else 0
    plan = _checked_plan(store, run, iteration, role, benchmark, limit, max_new_tokens, judge, language)
    command = eval_command(getattr(store, "path", ""), run_name, iteration, role=role, benchmark=benchmark,
                           limit=limit, max_new_tokens=max_new_tokens, judge_model=judge and judge["model"],
                           judge_backend=(judge or {}).get("backend", "openai"),
                           judge_base_url=(judge or {}).get("base_url"), language=language)
    existing = store.get_iteration(run["id"], iteration)
    job_id = store.start_job("eval", run_id=run["id"], iteration_id=existing and existing["id"],
                             command=shown(command))
    reporter = JobReporter(store, job_id, show_progress)
    return run_as_job(store, job_id, reporter, lambda: _evaluate(store, plan, job_id, reporter, factory))


def _checked_plan(store: Store, run: Run, iteration: int, role: str, benchmark: str | None, limit: int | None,
                  max_new_tokens: int | None, judge: dict | None, language: str | None = None) -> dict:
    """Every argument checked and resolved: the model, the benchmark, the item count, the token limit."""
    for flag, value in (("--limit", limit), ("--max-new-tokens", max_new_tokens)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be at least 1 (got {value})")
    if judge is not None and not judge.get("model"):
        raise InputError("the judge needs a model (see judge_settings)")
    model = _checked_model(store, run, iteration, role)
    config = RunConfig.from_dict(run["config"])
    bench = select_items(load_benchmark(benchmark), limit, config.seed, language)
    return {"run": run, "iteration": iteration, "role": role, "model": model, "benchmark": bench,
            "total": min(limit or len(bench.items), len(bench.items)), "config": config, "judge": judge,
            "max_new_tokens": max_new_tokens or config.generate.max_new_tokens}


def _checked_model(store: Store, run: Run, iteration: int, role: str) -> str:
    model = eval_model(store, run, iteration, role)
    if looks_like_path(model) and not Path(model).expanduser().exists():
        raise InputError(f"the {role} model of iteration {iteration} is missing on disk: {model}")
    return model


def _evaluate(store: Store, plan: dict, job_id: int, reporter: JobReporter, factory) -> dict:
    """The job's work: find or create the evaluation, answer, judge, store the summary (also when stopped)."""
    run, bench, config = plan["run"], plan["benchmark"], plan["config"]
    evaluation = store.find_or_create_evaluation(
        run_id=run["id"], iteration_idx=plan["iteration"], role=plan["role"], model=plan["model"],
        benchmark=bench.name, digest=bench.digest, total=plan["total"], max_new_tokens=plan["max_new_tokens"],
        seed=config.seed, job_id=job_id)
    reporter.log(f"evaluation {evaluation['id']}: {plan['model']} on {bench.name}, {plan['total']} items, "
                 f"at most {plan['max_new_tokens']} new tokens")
    judge = plan["judge"]
    try:
        _answer_missing(store, evaluation["id"], plan, reporter, factory or default_backend_factory)
        if judge:
            _judge_missing(store, evaluation["id"], judge, config, reporter, factory)
    finally:  # a stopped evaluation still shows what it has
        rows = store.eval_items(evaluation["id"])
        store.set_evaluation_summary(evaluation["id"], summarize(rows, judge and judge["model"]),
                                     _status(rows, plan["total"], judge))
    return store.get_evaluation(evaluation["id"])


def _status(rows: list[dict], total: int, judge: dict | None) -> str:
    """'done' when all `total` items are answered (and, with a judge, judged by it); else 'incomplete'."""
    answered = len(rows) == total and all(is_answered(r) for r in rows)
    judged = judge is None or all(_judged_by(r, judge["model"]) for r in rows)
    return "done" if answered and judged else "incomplete"


def _answer_missing(store: Store, evaluation_id: int, plan: dict, reporter: JobReporter, factory) -> None:
    """Answer the first `total` items not answered yet, one stored batch at a time."""
    bench: Benchmark = plan["benchmark"]
    config: RunConfig = plan["config"]
    stored = {r["item_idx"]: r for r in store.eval_items(evaluation_id)}
    missing = [item for item in bench.items[:plan["total"]] if not is_answered(stored.get(item["idx"]))]
    reporter.stage("answer", total=plan["total"], done=plan["total"] - len(missing))
    if not missing:
        reporter.log("every item is answered already")
        return
    reporter.log(f"loading {plan['model']} to answer {len(missing)} items")
    # No call-wide seed: each prompt carries its own, which the backends then use (see backends.chat).
    params = sampling_params(config, plan["max_new_tokens"], None)
    backend = factory(plan["role"], plan["model"], config)
    template = config.prompts.resolved()["generate"]
    try:
        for batch in _aligned_batches(missing, config.backend.batch_size):
            reporter.check_cancel()
            prompts = [build_response_prompt(item["query"], seed=_item_seed(plan, item), template=template)
                       for item in batch]
            rows = [_item_row(item, out) for item, out in zip(batch, generate_wave(backend, prompts, params, reporter))]
            store.save_eval_items(evaluation_id, rows)
            answered = sum(1 for r in rows if r["error"] is None)
            reporter.advance(answered)
            if answered < len(rows):
                reporter.log(f"{len(rows) - answered} item(s) failed: {next(r['error'] for r in rows if r['error'])}")
    finally:
        backend.close()


def _aligned_batches(items: list[dict], size: int) -> list[list[dict]]:
    """Batches of items that share idx // size: after a stop, the rest is batched as an uninterrupted run
    batches it (a backend that samples a whole batch from one seed then gives the same answers)."""
    groups: dict[int, list[dict]] = {}
    for item in items:
        groups.setdefault(item["idx"] // size, []).append(item)
    return list(groups.values())


def _item_seed(plan: dict, item: dict) -> int:
    return derive_seed(plan["config"].seed, "eval", plan["iteration"], plan["role"], item["idx"])


def _item_row(item: dict, out) -> dict:
    """The stored row of one answer (or of the backend's error on it)."""
    row = {"item_idx": item["idx"], "language": item["language"], "length_range": item["range"],
           "type": item["type"], "constraint_text": item["constraint"], "query": item["query"],
           "n_tokens": out.n_tokens, "error": out.error}
    if out.error is not None:
        return {**row, "response": None, "words": None, "truncated": False}
    text = out.text.strip()
    words = count_words(text)
    return {**row, "response": text, "words": words, "truncated": out.truncated, **score_response(item, words)}


def _judged_by(row: dict, model: str) -> bool:
    """Judged by `model`: it replied, readable or not (a reply without output was a backend error: retried)."""
    return row["judge_model"] == model and row["judge_output"] is not None


def _judge_missing(store: Store, evaluation_id: int, judge: dict, config: RunConfig, reporter: JobReporter,
                   factory) -> None:
    """Score every answered item the judge has not replied on yet, one stored batch at a time."""
    rows = [r for r in store.eval_items(evaluation_id) if is_answered(r)]
    todo = [r for r in rows if not _judged_by(r, judge["model"])]
    reporter.stage("judge", total=len(rows), done=len(rows) - len(todo))
    if not todo:
        return
    reporter.log(f"loading judge {judge['model']} for {len(todo)} items")
    backend = factory("judge", judge["model"], config) if factory else create_backend(
        judge["backend"], judge["model"], BackendConfig(name=judge["backend"], base_url=judge["base_url"],
                                                        batch_size=config.backend.batch_size))
    template = config.prompts.resolved().get("quality_judge")
    try:
        for batch in batches(todo, config.backend.batch_size):
            reporter.check_cancel()
            prompts = [build_judge_prompt(r["query"], r["response"], template) for r in batch]
            outputs = generate_wave(backend, prompts, JUDGE_PARAMS, reporter)
            verdicts = {r["item_idx"]: _verdict(judge["model"], out) for r, out in zip(batch, outputs)}
            store.save_judgements(evaluation_id, verdicts)
            reporter.advance(len(batch))
            failed = [v["judge_error"] for v in verdicts.values() if v["judge_error"]]
            if failed:
                reporter.log(f"judge: {len(failed)} of {len(batch)} unreadable ({failed[0]})")
    finally:
        backend.close()


def _verdict(model: str, out) -> dict:
    """The stored judgement of one judge reply: scores, or why there are none."""
    if out.error is not None:
        return {"judge_model": model, "judge_scores": None, "judge_error": f"backend: {out.error}",
                "judge_output": None}
    try:
        scores, error = parse_judge_output(out.text), None
    except JudgeParseError as e:
        scores, error = None, str(e) + (" (cut off at the token limit)" if out.truncated else "")
    return {"judge_model": model, "judge_scores": scores, "judge_error": error, "judge_output": out.text}


def format_summary(evaluation: dict) -> str:
    """The evaluation as a few readable lines for the terminal."""
    s = evaluation.get("summary") or {}
    words = s.get("words") or {}
    lines = [f"evaluation {evaluation['id']}: iteration {evaluation['iteration_idx']} {evaluation['role']} "
             f"({evaluation['model']}) on {evaluation['benchmark']}: {evaluation['status']}, "
             f"{evaluation.get('answered', s.get('items', 0))}/{evaluation['total']} answered",
             f"items: {s.get('items', 0)} answered, {s.get('errors', 0)} errors, "
             f"{s.get('truncated', 0)} cut off at the token limit",
             f"words: mean {_number(words.get('mean'), 1)}, median {_number(words.get('median'), 1)}; "
             f"4-word runs repeated within an answer: {_number(s.get('repeats'), 3)} (mean share)"]
    lines += _score_lines("LonGen length score (0-1)", s.get("longen") or {}, 3)
    sl = s.get("sl") or {}
    lines += _score_lines(f"S_l length score (0-100, {sl.get('n', 0)} items with one target)", sl, 1)
    lines += _score_lines("LIFEBench length score (0-100)", s.get("lifebench") or {}, 1)
    judge = s.get("judge")
    if judge:
        lines.append(f"judge {judge['model']}: {judge['scored']} scored, {judge['failed']} failed; "
                     f"mean {_number(judge['overall'], 2)}")
        if judge["by_dimension"]:
            lines.append("  " + ", ".join(f"{d} {_number(judge['by_dimension'].get(d), 2)}" for d in DIMENSIONS))
    return "\n".join(lines)


def _score_lines(title: str, scores: dict, digits: int) -> list[str]:
    lines = [f"{title}: {_number(scores.get('overall'), digits)}"]
    for key, label in (("by_type", "type"), ("by_language", "language"), ("by_range", "range")):
        if scores.get(key):
            ordered = sorted(scores[key].items(), key=lambda kv: bucket_order(kv[0]))
            lines.append(f"  by {label}: " + ", ".join(f"{k} {_number(v, digits)}" for k, v in ordered))
    return lines


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
