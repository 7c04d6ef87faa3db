"""Checks made before an iteration starts, so a job does not die minutes in on something knowable now.

Everything here only reads: `stages.pipeline.planned_iteration` says which iteration `iterate` would work on and with
which models and config *without* creating it (``pipeline.current_iteration`` creates the next iteration
once the latest is trained), so the dashboard can preview it on every refresh.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple

from selflengthen.backends.models import check_model
from selflengthen.config import BackendConfig
from selflengthen.errors import SelfLengthenError
from selflengthen.jobs.commands import shown
from selflengthen.jobs.serving import ServingError, serving_command, uses_adapters
from selflengthen.shapes import Run, Store
from selflengthen.stages.pipeline import STEPS, iteration_config, planned_iteration

MB = 1024 * 1024
DISK_WARN_BYTES = 1024 * MB
DISK_FAIL_BYTES = 100 * MB


class Check(NamedTuple):
    """One pre-flight check: `ok` False blocks the start; `warning` marks an ok worth reading; `command`, a command
    line to run first (shown as code)."""

    name: str
    ok: bool
    message: str
    warning: bool = False
    command: str = ""


def run_preflight(store: Store, run: Run, db_path: str | Path, busy_reason: str | None,
                  n_instructions: int | None = None) -> list[Check]:
    """Every check before `iterate`: plan, config, both models (and, on a server, how to serve them), seed pool,
    no live job, disk space."""
    plan = planned_iteration(store, run)
    checks = [iteration_check(plan)]
    try:
        config = iteration_config(plan, n_instructions)
        checks.append(Check("config", True, f"{config.preset} preset, {config.augment.n_instructions} instructions,"
                                              f" {config.backend.name} backend"))
        backend = config.backend.name
    except SelfLengthenError as e:
        checks.append(Check("config", False, str(e)))
        config, backend = None, run["backend"]
    checks += [model_check(f"{role} model", plan[role], backend) for role in ("generator", "extender")]
    serving = serving_check(store, run, plan, config.backend) if config else None
    checks += [serving] if serving else []
    checks.append(pool_check(store, run))
    checks.append(Check("jobs", busy_reason is None, busy_reason or "no job is running"))
    checks.append(disk_check(Path(db_path).parent))
    return checks


def iteration_check(plan: dict) -> Check:
    """What starting would do: open a new iteration, resume one, or redo a finished one's missing work."""
    idx = plan["idx"]
    if plan["new"]:
        return Check("iteration", True, f"iteration {idx} (new, on the checkpoints trained in iteration {idx - 1})")
    done = [s for s in STEPS if s in plan["steps_done"]]
    if len(done) == len(STEPS):
        return Check("iteration", True, f"iteration {idx} is already waiting for review: running it again only"
                                        " fills in missing work (review and train it to start the next)", True)
    resumed = f" (resumes after: {', '.join(done)})" if done else ""
    return Check("iteration", True, f"iteration {idx}{resumed}")


def model_check(name: str, model: str, backend: str) -> Check:
    """A local model must exist with its config.json; a hub id is only warned about when offline."""
    try:
        resolved = check_model(model, backend)
    except SelfLengthenError as e:
        return Check(name, False, str(e))
    if Path(resolved).exists():
        return Check(name, True, resolved)
    if backend == "openai":
        return Check(name, True, f"{model} (served by the OpenAI-compatible server)")
    if in_hub_cache(model):
        return Check(name, True, f"{model} (hub id, found in the local cache)")
    if hub_offline():
        return Check(name, True, f"{model} is a hub id that is not in the local cache and the hub is offline "
                                 "(HF_HUB_OFFLINE): loading it will fail", True)
    return Check(name, True, f"{model} (hub id, downloaded on first use)")


def serving_check(store: Store, run: Run, plan: dict, backend: BackendConfig) -> Check | None:
    """On the openai backend with per-role served names or trained adapters: the `vllm serve` command that serves
    the base and both roles' adapters from one server, or a warning saying why none can. None: nothing to say."""
    if backend.name != "openai":
        return None
    named = bool(backend.served_generator or backend.served_extender)
    if not named and not uses_adapters(store, run, plan):
        return None
    try:
        command = shown(serving_command(store, run, plan, backend))
    except ServingError as e:
        return Check("serving", True, f"no single vllm command serves both roles: {e}", True)
    where = "each server" if isinstance(backend.base_url, (list, tuple)) and len(backend.base_url) > 1 else "the server"
    if plan["new"]:
        return Check("serving", True, f"iteration {plan['idx']} uses the adapters trained in iteration "
                                      f"{plan['idx'] - 1}: restart {where} with them", True, command)
    return Check("serving", True, f"{where} must serve both roles under their names", False, command)


def pool_check(store: Store, run: Run) -> Check:
    """The instruction pool (seeds and accepted augmented ones) must not be empty."""
    pool = sum(store.instruction_counts(it["id"])["accepted"] for it in store.list_iterations(run["id"]))
    if pool == 0:
        return Check("seed pool", False, "the instruction pool is empty: create the run with seed instructions")
    return Check("seed pool", True, f"{pool} instructions in the pool")


def disk_check(folder: Path, warn_below: int = DISK_WARN_BYTES, fail_below: int = DISK_FAIL_BYTES) -> Check:
    """Free space where the database (and by default the checkpoints) live."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError as e:
        return Check("disk space", False, f"cannot read the free space of {folder}: {e.strerror or e}")
    text = f"{free / MB:,.0f} MB free in {folder}"
    if free < fail_below:
        return Check("disk space", False, f"only {text} (need at least {fail_below // MB} MB)")
    if free < warn_below:
        return Check("disk space", True, f"only {text}: checkpoints may not fit", True)
    return Check("disk space", True, text)


def hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def in_hub_cache(model: str) -> bool:
    """Whether the hub id's config.json is in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(model, "config.json")
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


def blocking(checks: list[Check]) -> list[Check]:
    """The checks that stop a start."""
    return [c for c in checks if not c.ok]
