"""`finalize`: the run's final dataset built from its curated iterations and saved in one transaction.

The whole set is computed first (constraints, insertion, a model's rewrites where asked) and written at
once, so a kill at any point leaves either the previous set or the new one; the same command again gives
the same rows (every draw is seeded) and upserts them by key, never twice.
"""

from __future__ import annotations

from dataclasses import asdict

from selflengthen.backends import GenerationParams, create_backend
from selflengthen.config import RunConfig
from selflengthen.errors import InputError
from selflengthen.finalize.constraints import ConstraintSpec
from selflengthen.finalize.pool import SOURCES, build_final_rows, pool_rows
from selflengthen.shapes import Store

TOP_UP_STEPS = ("augment", "generate")

# Length bounds per preset: the paper's 2,000-8,000 words; the demo model writes tens to hundreds of words.
PRESET_BOUNDS = {"demo": {"min_words": 40, "max_words": 400, "unit": 20}}
REWRITE_TOKENS = 512  # a rewritten query is the query plus a phrase


def preset_spec(preset: str, **overrides) -> ConstraintSpec:
    """The constraint spec of a preset, with the caller's overrides (None values ignored).

    >>> preset_spec("demo", seed=3).min_words, preset_spec("paper").max_words
    (40, 8000)
    """
    fields = {**PRESET_BOUNDS.get(preset, {}), **{k: v for k, v in overrides.items() if v is not None}}
    return ConstraintSpec(**fields)


def chosen_iterations(store: Store, run_id: int, indexes: list[int] | None) -> list[dict]:
    iterations = store.list_iterations(run_id)
    if indexes is None:
        return iterations
    unknown = sorted(set(indexes) - {it["idx"] for it in iterations})
    if unknown:
        raise InputError(f"the run has no iteration {unknown[0]} (it has {len(iterations)})")
    return [it for it in iterations if it["idx"] in indexes]


def top_up(store: Store, run_name: str, n: int, *, show_progress: bool = False, factory=None) -> dict:
    """Answer `n` more instructions with the last trained generator (the reference's run_collect_data.sh:
    self-instruct and initial responses, no expansion), through the same gates: the steps augment and
    generate of the iteration that `iterate` would open next, as an iterate job. Returns that iteration.

    Refused when the latest iteration is not trained and went past those steps (its instructions belong to
    a curated iteration); a top-up already under way resumes (augment fills up to `n`, never beyond)."""
    from selflengthen.jobs.runner import run_iterate_job
    from selflengthen.stages.pipeline import planned_iteration

    if n < 1:
        raise InputError(f"--top-up must be at least 1 (got {n})")
    run = store.require_run(run_name)
    plan = planned_iteration(store, run)
    beyond = [s for s in plan["steps_done"] if s not in TOP_UP_STEPS]
    if not plan["new"] and beyond:
        raise InputError(f"iteration {plan['idx']} is not trained and has run {', '.join(beyond)}: a top-up answers "
                         "new instructions with the last trained generator, so train it first")
    return run_iterate_job(store, run_name, steps=",".join(TOP_UP_STEPS), n_instructions=n,
                           show_progress=show_progress, **({"factory": factory} if factory else {}))


def top_up_samples(store: Store, iteration: dict) -> list[dict]:
    """The top-up iteration's answers that passed the generate gates (and no curator rejected), as pool input."""
    decisions = store.current_decisions(iteration["id"])
    texts = {i["id"]: i["text"] for i in store.iteration_instructions(iteration["id"], status=None)}
    return [{"sample_id": s["id"], "iteration": iteration["idx"], "language": s["language"],
             "instruction": texts[s["instruction_id"]], "initial_response": s["initial_response"], "final_text": None}
            for s in store.iteration_samples(iteration["id"], ("generated",))
            if decisions.get(s["id"], {}).get("verdict") != "reject"]


def run_finalize(store: Store, run_name: str, spec: ConstraintSpec, *, iterations: list[int] | None = None,
                 sources: tuple[str, ...] = SOURCES, way: str = "template", rewrite_model: str | None = None,
                 floor: float = 0.6, top_up_n: int | None = None, factory=None,
                 top_up_factory=None) -> tuple[list[dict], dict]:
    """Build and save the run's final rows; returns (rows, stats). `factory(model, config)` makes the
    rewriting backend (default: the run's backend with `rewrite_model`, else the run's generator model).
    With `top_up_n`, first answer that many more instructions with the last generator (`top_up`) and pool
    the answers that passed the gates as source "topup"."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise InputError(f"sources must be some of: {', '.join(SOURCES)}")
    run = store.require_run(run_name)
    config = RunConfig.from_dict(run["config"])
    chosen = chosen_iterations(store, run["id"], iterations)
    topped = top_up(store, run_name, top_up_n, factory=top_up_factory) if top_up_n else None
    samples = [{**s, "iteration": it["idx"]} for it in chosen for s in store.export_samples(it["id"])]
    pool = pool_rows(samples, sources)
    if topped is not None:
        pool += pool_rows(top_up_samples(store, topped), ("initial",), source_name="topup")
    backend, params = None, GenerationParams()
    if way == "model":
        model = rewrite_model or run["generator_model"]
        backend = factory(model, config) if factory else create_backend(config.backend.name, model, config.backend)
        params = GenerationParams(max_new_tokens=REWRITE_TOKENS, temperature=0, seed=spec.seed)
    try:
        rows, stats = build_final_rows(pool, spec, way=way, backend=backend, params=params, floor=floor)
    finally:
        if backend is not None:
            backend.close()
    settings = {"spec": asdict(spec), "iterations": [it["idx"] for it in chosen], "sources": list(sources),
                "way": way, "floor": floor, "rewrite_model": rewrite_model if way == "model" else None,
                "top_up": None if topped is None else {"iteration": topped["idx"], "instructions": top_up_n}}
    store.save_final_rows(run["id"], rows, settings, stats)
    return rows, stats
