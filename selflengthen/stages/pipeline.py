"""One Self-Lengthen iteration, up to human review: augment -> generate -> expand -> filter.

The caller passes the store (see `selflengthen.shapes.Store`; the library never imports the storage package)
and may pass a backend factory (tests pass scripted backends). Every step is
resumable, so running the iteration again after a crash does only the missing work.
"""

from __future__ import annotations

import json

from dataclasses import replace
from pathlib import Path
from typing import Callable

from selflengthen.backends import Backend, create_backend
from selflengthen.config import BackendConfig, RunConfig, merge
from selflengthen.errors import InputError
from selflengthen.shapes import Iteration, Run, Store
from selflengthen.stages.augment import run_augment
from selflengthen.stages.expand import backend_failures, run_expand
from selflengthen.stages.filter import run_filter
from selflengthen.stages.generate import run_generate
from selflengthen.stages.reporter import Reporter
from selflengthen.stages.select import run_select

STEPS = ("augment", "generate", "expand", "filter")
BackendFactory = Callable[[str, str, RunConfig], Backend]


def parse_steps(text: str | None) -> list[str]:
    """'augment,generate' -> ['augment', 'generate'] (in pipeline order); None -> all steps.

    >>> parse_steps("filter,augment")
    ['augment', 'filter']
    """
    if not text:
        return list(STEPS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STEPS]
    if unknown:
        raise InputError(f"unknown step '{unknown[0]}' (steps: {', '.join(STEPS)})")
    return [s for s in STEPS if s in names]


def served_name(role: str, model: str, backend: BackendConfig) -> str:
    """The model name a role's requests carry to an OpenAI-compatible server: `served_<role>` (the role's LoRA
    module when both roles are adapters of one served base), else `served_model`, else the model itself.
    The augmenter writes with the run's base model, so it has no name of its own.

    >>> b = BackendConfig(name="openai", served_model="base", served_extender="extender")
    >>> [served_name(r, "/ck/m", b) for r in ("augmenter", "generator", "extender")]
    ['base', 'base', 'extender']
    >>> served_name("generator", "/ck/m", BackendConfig(name="openai"))
    '/ck/m'
    """
    own = {"generator": backend.served_generator, "extender": backend.served_extender}.get(role)
    return own or backend.served_model or model


def default_backend_factory(role: str, model: str, config: RunConfig) -> Backend:
    backend = config.backend
    if backend.name == "openai":
        backend = replace(backend, served_model=served_name(role, model, backend))
    return create_backend(backend.name, model, backend)


class Backends:
    """Generator and extender, created on first use; one instance when both use the same model (and, on a
    server, the same served name: in iteration 0 both roles may be the base, served under two names)."""

    def __init__(self, run: Run, iteration: Iteration, config: RunConfig, factory: BackendFactory):
        # New instructions come from the run's base generator: a checkpoint fine-tuned on long answers
        # is a worse instruction writer and judge, and the pool should not drift with it.
        self.models = {"augmenter": run["generator_model"], "generator": iteration["generator_checkpoint"],
                       "extender": iteration["extender_checkpoint"]}
        self.config, self.factory, self._made, self._used = config, factory, {}, {}

    def get(self, role: str) -> Backend:
        model = self.models[role]
        backend = self.config.backend
        key = (model, served_name(role, model, backend) if backend.name == "openai" else None)
        if key not in self._made:
            made = self.factory(role, model, self.config)
            for other in self._made.values():  # two served names of one server: its slots are counted once
                if hasattr(made, "share_endpoints"):
                    made.share_endpoints(other)
            self._made[key] = made
        self._used[role] = key
        return self._made[key]

    def describe(self) -> dict[str, dict]:
        """{role: its backend's describe()} for the roles used so far (the served name included, on a server)."""
        return {role: self._made[key].describe() for role, key in self._used.items()}

    def close(self) -> None:
        for backend in self._made.values():
            backend.close()


def planned_iteration(store: Store, run: Run) -> dict:
    """The iteration `iterate` would work on now: the latest, or the one that training it would open.

    Returns {"idx", "new", "status", "steps_done", "generator", "extender", "config"}; for a new
    iteration the models are the latest's trained checkpoints (a role not trained keeps its model)
    and the config is the run's, exactly as `current_iteration` creates it.
    """
    latest = store.latest_iteration(run["id"])
    if latest["status"] != "trained":
        return {"idx": latest["idx"], "new": False, "status": latest["status"], "steps_done": latest["steps_done"],
                "generator": latest["generator_checkpoint"], "extender": latest["extender_checkpoint"],
                "config": latest["config"]}
    trained = store.iteration_checkpoints(latest["id"])
    models = {role: trained[role]["path"] if role in trained else latest[f"{role}_checkpoint"]
              for role in ("generator", "extender")}
    return {"idx": latest["idx"] + 1, "new": True, "status": "created", "steps_done": [], **models,
            "config": run["config"], "previous_generator": latest["generator_checkpoint"],
            "previous_extender": latest["extender_checkpoint"]}


def current_iteration(store: Store, run: Run) -> dict:
    """The iteration `iterate` works on: the latest, or, once that one is trained, a new one that uses
    the checkpoints trained on it (a role not trained keeps the model it had)."""
    plan = planned_iteration(store, run)
    if not plan["new"]:
        return store.latest_iteration(run["id"])
    for role in ("generator", "extender"):
        if plan[role] != plan[f"previous_{role}"] and not Path(plan[role]).exists():
            raise InputError(f"the {role} checkpoint of iteration {plan['idx'] - 1} is missing on disk: {plan[role]}")
    return store.create_iteration(run["id"], plan["idx"], plan["generator"], plan["extender"], plan["config"])


def iteration_config(iteration: Iteration, n_instructions: int | None) -> RunConfig:
    """The iteration's config snapshot, with an optional new instruction target."""
    data = iteration["config"]
    if n_instructions is not None:
        data = merge(data, {"augment": {"n_instructions": n_instructions}})
    return RunConfig.from_dict(data)


def fuses(config: RunConfig, steps: list[str]) -> bool:
    """Whether generate carries each answer straight on to its expansion (on a streaming backend): when both
    steps run and nothing between them needs every answer first -- no drop of short initial responses, which
    ranks them all, and one expansion per response (the copies are made from the stored answers).

    >>> from selflengthen.config import preset_config
    >>> fuses(preset_config("default"), ["generate", "expand"])
    True
    >>> fuses(preset_config("paper"), list(STEPS))
    False
    """
    return ("generate" in steps and "expand" in steps and not config.filter.drop_short_initial
            and config.expand.per_response == 1)


def run_iteration(store: Store, run: Run, iteration: Iteration, steps: list[str], reporter: Reporter | None = None,
                  n_instructions: int | None = None, factory: BackendFactory = default_backend_factory) -> dict:
    """Run `steps` of the iteration; returns the refreshed iteration row."""
    reporter = reporter or Reporter()
    config = iteration_config(iteration, n_instructions)
    store.update_iteration(iteration["id"], status="running", config=config.to_dict())
    backends = Backends(run, iteration, config, factory)
    # Expansions the backend fails on in this job's fused generate are not asked again by its expand step (a
    # prompt that failed after its retries fails again; the next iterate asks): only earlier jobs' failures are.
    retry = backend_failures(store, iteration) if "generate" in steps and fuses(config, steps) else None
    try:
        for step in steps:
            reporter.log(f"step {step} started")
            if step == "augment":
                run_augment(store, run, iteration, backends.get("augmenter"), config, reporter)
            elif step == "generate":
                extender = backends.get("extender") if fuses(config, steps) else None
                run_generate(store, run, iteration, backends.get("generator"), config, reporter, extender)
            elif step == "expand":
                run_select(store, iteration, config, reporter)
                run_expand(store, run, iteration, backends.get("extender"), config, reporter, retry)
            else:
                run_filter(store, run, iteration, config, reporter)
            store.mark_step_done(iteration["id"], step)
            reporter.log(f"step {step} done")
    finally:
        if backends.describe():  # which model (and, on a server, which served name) each role used
            reporter.log(f"backends: {json.dumps(backends.describe(), sort_keys=True)}")
        backends.close()
        # Whatever happened, the stored work stands: the iteration is ready for review or can be resumed.
        done = store.iteration_by_id(iteration["id"])["steps_done"]
        status = "review" if all(s in done for s in STEPS) else "created"
        store.update_iteration(iteration["id"], status=status, stats=collect_stats(store, iteration["id"]))
    return store.iteration_by_id(iteration["id"])


def collect_stats(store: Store, iteration_id: int) -> dict:
    """Counts of every gate's rejections and of every sample status, derived from stored rows."""
    return {
        "instructions": store.instruction_counts(iteration_id),
        "samples": store.sample_status_counts(iteration_id),
        "rejections": store.rejection_counts(iteration_id),
    }
