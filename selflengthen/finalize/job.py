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


def run_finalize(store: Store, run_name: str, spec: ConstraintSpec, *, iterations: list[int] | None = None,
                 sources: tuple[str, ...] = SOURCES, way: str = "template", rewrite_model: str | None = None,
                 floor: float = 0.6, factory=None) -> tuple[list[dict], dict]:
    """Build and save the run's final rows; returns (rows, stats). `factory(model, config)` makes the
    rewriting backend (default: the run's backend with `rewrite_model`, else the run's generator model)."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise InputError(f"sources must be some of: {', '.join(SOURCES)}")
    run = store.require_run(run_name)
    config = RunConfig.from_dict(run["config"])
    samples = [{**s, "iteration": it["idx"]} for it in chosen_iterations(store, run["id"], iterations)
               for s in store.export_samples(it["id"])]
    pool = pool_rows(samples, sources)
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
    settings = {"spec": asdict(spec), "iterations": [it["idx"] for it in chosen_iterations(
        store, run["id"], iterations)], "sources": list(sources), "way": way, "floor": floor,
        "rewrite_model": rewrite_model if way == "model" else None}
    store.save_final_rows(run["id"], rows, settings, stats)
    return rows, stats
