"""Fine-tuning as jobs: the generator and the extender learn from the iteration's accepted samples.

Each role trains in a subprocess (`python -m selflengthen.training.trainer SPEC`, or through `accelerate launch`)
from a saved spec; the subprocess writes durable progress, metrics and the checkpoint to the store.
This module prepares the data and the spec, runs the command, follows its output and checks the result.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from selflengthen.config import RunConfig
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.jobs.commands import shown
from selflengthen.shapes import AcceptedSample, Iteration, Run, Store

ROLES = ("generator", "extender")


def parse_roles(role: str) -> list[str]:
    """'both' -> ['generator', 'extender'].

    >>> parse_roles("extender")
    ['extender']
    """
    if role == "both":
        return list(ROLES)
    if role not in ROLES:
        raise InputError(f"unknown role '{role}' (choose generator, extender or both)")
    return [role]


def training_dir(db_path: str | Path, run_name: str, iteration_idx: int, role: str) -> Path:
    """Where a role's training of an iteration writes its data, spec, trainer checkpoints and model."""
    return Path(db_path).resolve().parent / "checkpoints" / run_name / f"iteration-{iteration_idx}" / role


def starting_point(store: Store, run: Run, iteration: Iteration, role: str, config) -> tuple[str, str | None]:
    """(base model, adapter to continue) for a role: with LoRA and continue_adapter, the previous
    iteration's adapter on its own base model; otherwise the model the iteration used."""
    model = iteration[f"{role}_checkpoint"]
    if config.method == "lora" and config.continue_adapter and iteration["idx"] > 0:
        previous = store.get_iteration(run["id"], iteration["idx"] - 1)
        checkpoint = store.iteration_checkpoints(previous["id"]).get(role)
        if checkpoint and checkpoint.get("adapter_path"):
            return checkpoint["base_model"], checkpoint["adapter_path"]
    return model, None


def check_model_on_disk(model: str, what: str) -> None:
    if Path(model).is_absolute() and not Path(model).exists():
        raise InputError(f"{what} is missing on disk: {model}")


def prepare_spec(store: Store, db_path, run: Run, iteration: Iteration, role: str, config,
                 samples: list[AcceptedSample], job_id: int):
    """Write the role's training data and spec; returns (spec path, spec)."""
    from selflengthen.training.config import TrainSpec
    from selflengthen.training.data import extender_rows, generator_rows, write_training_data

    out = training_dir(db_path, run["name"], iteration["idx"], role)
    out.mkdir(parents=True, exist_ok=True)
    templates = RunConfig.from_dict(iteration["config"]).prompts.resolved()
    rows = generator_rows(samples, templates) if role == "generator" else extender_rows(
        samples, line_keep=config.extender_line_keep, seed=config.seed,
        drop_blank_lines=config.extender_drop_blank_lines, templates=templates)
    write_training_data(rows, out / "data.jsonl")
    base_model, adapter = starting_point(store, run, iteration, role, config)
    check_model_on_disk(base_model, f"the {role} checkpoint")
    if adapter:
        check_model_on_disk(adapter, f"the previous {role} adapter")
    spec = TrainSpec(db=str(Path(db_path).resolve()), run_id=run["id"], iteration_id=iteration["id"], job_id=job_id,
                     role=role, base_model=base_model, init_adapter=adapter, output_dir=str(out),
                     train=config.to_dict(), data_file=str(out / "data.jsonl"), data_size=len(rows),
                     run_name=f"{run['name']}-iteration-{iteration['idx']}-{role}")
    spec.save(out / "spec.json")
    return out / "spec.json", spec


def run_train_job(store: Store, db_path, run_name: str, *, role: str = "both", config_overrides: dict | None = None,
                  accelerate_config: str | None = None, show_output: bool = True) -> list[dict]:
    """Train the requested roles on the latest iteration's accepted samples; returns their checkpoints."""
    from selflengthen.training.config import build_command, train_preset

    run = store.require_run(run_name)
    iteration = store.latest_iteration(run["id"])
    roles = parse_roles(role)
    config = train_preset(run["preset"], config_overrides)
    samples = store.accepted_samples(iteration["id"])
    if not samples:
        raise InputError(f"iteration {iteration['idx']} of run '{run_name}' has no accepted samples: review first")
    if accelerate_config and not Path(accelerate_config).exists():
        raise InputError(f"accelerate config not found: {accelerate_config}")
    for r in roles:
        check_model_on_disk(iteration[f"{r}_checkpoint"], f"the {r} checkpoint")
    checkpoints = []
    for r in roles:
        job_id = store.start_job(f"train:{r}", run_id=run["id"], iteration_id=iteration["id"])
        try:
            spec_path, _ = prepare_spec(store, db_path, run, iteration, r, config, samples, job_id)
        except BaseException as e:
            store.finish_job(job_id, "failed", str(e))
            raise
        command = build_command(str(spec_path), accelerate_config)
        store.update_job(job_id, command=shown(command))
        print(f"training the {r} (job {job_id}): {shown(command)}", file=sys.stderr, flush=True)
        _follow(store, job_id, command, show_output)
        checkpoints.append(store.iteration_checkpoints(iteration["id"])[r])
    store.update_iteration(iteration["id"], status="trained")
    return checkpoints


PAIR_COLUMNS = ("prompt", "chosen", "rejected")
KTO_COLUMNS = ("prompt", "completion", "label")


def run_preference_job(store: Store, db_path, run_name: str, *, role: str = "generator",
                       config_overrides: dict | None = None, accelerate_config: str | None = None,
                       show_output: bool = True) -> dict:
    """The latest iteration's preference step for one role (DPO, ORPO or KTO: `preference_method`) on the pairs
    its samples and decisions make (`preference_kinds`; the extender learns from attempt pairs, made on its own
    prompt, the generator from the others). It starts from the role's checkpoint trained on this iteration when
    there is one (SFT first), else from the model the iteration used, and replaces that checkpoint: the next
    iteration uses the preference-tuned model. Returns the registered checkpoint."""
    from selflengthen.training.config import TrainSpec, build_command, train_preset
    from selflengthen.training.data import write_training_data
    from selflengthen.training.pairs import collect_pairs, kinds_for_role, parse_kinds

    if role not in ROLES:
        raise InputError(f"unknown role '{role}' for a preference step (choose generator or extender)")
    run = store.require_run(run_name)
    iteration = store.latest_iteration(run["id"])
    config = train_preset(run["preset"], config_overrides)
    kto = config.preference_method == "kto"
    kinds = kinds_for_role(parse_kinds(config.preference_kinds), role)
    if not kinds or (kto and role == "extender"):
        raise InputError(f"no pairs for the {role}: it learns from " + ("attempt pairs (DPO or ORPO)" if role ==
                         "extender" else "expansion, edit or verdict pairs") + f" (asked: {config.preference_kinds})")
    rows, counts = collect_pairs(store, run_name, [iteration["idx"]], kinds, kto=kto)
    if not rows or (kto and len({r["label"] for r in rows}) < 2):
        what = "verdicts (KTO needs accepted and rejected ones)" if kto else "pairs"
        raise InputError(f"iteration {iteration['idx']} has too few {what} for a preference step: "
                         f"{counts[iteration['idx']]}")
    trained = store.iteration_checkpoints(iteration["id"]).get(role)
    if trained and (trained["config"] or {}).get("stage") == "preference":
        base_model = trained["base_model"]  # another preference step replaces that one, from the same start
    else:
        base_model = trained["path"] if trained else iteration[f"{role}_checkpoint"]
    check_model_on_disk(base_model, f"the {role} model")
    out = training_dir(db_path, run["name"], iteration["idx"], f"{role}-{config.preference_method}")
    out.mkdir(parents=True, exist_ok=True)
    columns = KTO_COLUMNS if kto else PAIR_COLUMNS
    write_training_data([{c: r[c] for c in columns} for r in rows], out / "data.jsonl")
    job_id = store.start_job(f"train:{role}", run_id=run["id"], iteration_id=iteration["id"])
    spec = TrainSpec(db=str(Path(db_path).resolve()), run_id=run["id"], iteration_id=iteration["id"], job_id=job_id,
                     role=role, base_model=base_model, output_dir=str(out), train=config.to_dict(),
                     data_file=str(out / "data.jsonl"), data_size=len(rows), stage="preference",
                     run_name=f"{run['name']}-iteration-{iteration['idx']}-{role}-{config.preference_method}")
    command = build_command(str(spec.save(out / "spec.json")), accelerate_config)
    store.update_job(job_id, command=shown(command), stage=f"preference:{role}")
    print(f"preference step of the {role} ({config.preference_method}, job {job_id}, "
          f"{len(rows)} rows: {counts[iteration['idx']]}): {shown(command)}", file=sys.stderr, flush=True)
    _follow(store, job_id, command, show_output)
    store.update_iteration(iteration["id"], status="trained")
    return store.iteration_checkpoints(iteration["id"])[role]


def final_rows_for_training(store: Store, run: Run) -> list[dict]:
    """The final set as generator rows: each constrained query (an edit wins) answered by its response."""
    from selflengthen.finalize.review import final_query, final_response

    rows = store.final_rows(run["id"], verdicts=(None, "accept"))
    if not rows:
        raise InputError(f"run '{run['name']}' has no final rows: run `finalize` first")
    return [{"instruction": final_query(r), "final_text": final_response(r)} for r in rows]


def run_final_train_job(store: Store, db_path, run_name: str, *, base: str | None = None,
                        config_overrides: dict | None = None, accelerate_config: str | None = None,
                        show_output: bool = True) -> dict:
    """Fine-tune the run's final model on its final set; returns the registered final model. The base is the
    run's own base model by default (as the reference trains its final model)."""
    from selflengthen.training.config import TrainSpec, build_command, train_preset
    from selflengthen.training.data import generator_rows, write_training_data

    run = store.require_run(run_name)
    config = train_preset(run["preset"], config_overrides)
    samples = final_rows_for_training(store, run)
    base_model = base or run["generator_model"]
    check_model_on_disk(base_model, "the final model's base")
    if accelerate_config and not Path(accelerate_config).exists():
        raise InputError(f"accelerate config not found: {accelerate_config}")
    iteration = store.latest_iteration(run["id"])
    out = Path(db_path).resolve().parent / "checkpoints" / run["name"] / "final"
    out.mkdir(parents=True, exist_ok=True)
    job_id = store.start_job("train:final", run_id=run["id"], iteration_id=iteration["id"])
    templates = RunConfig.from_dict(run["config"]).prompts.resolved()
    rows = generator_rows(samples, templates)
    write_training_data(rows, out / "data.jsonl")
    spec = TrainSpec(db=str(Path(db_path).resolve()), run_id=run["id"], iteration_id=iteration["id"], job_id=job_id,
                     role="final", base_model=base_model, output_dir=str(out), train=config.to_dict(),
                     data_file=str(out / "data.jsonl"), data_size=len(rows))
    command = build_command(str(spec.save(out / "spec.json")), accelerate_config)
    store.update_job(job_id, command=shown(command))
    print(f"training the final model (job {job_id}): {shown(command)}", file=sys.stderr, flush=True)
    _follow(store, job_id, command, show_output)
    return store.final_model(run["id"])


def _follow(store: Store, job_id: int, command: list[str], show_output: bool) -> None:
    """Run the training command, mirror its output, and turn its outcome into an error if it failed."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    store.update_job(job_id, pid=proc.pid)
    for line in proc.stdout:
        if show_output:
            sys.stderr.write(line)
        store.log_job(job_id, line.rstrip("\n"))
    code = proc.wait()
    job = store.get_job(job_id)
    if job["status"] == "running":  # the process died before it could say how it ended
        store.finish_job(job_id, "failed", f"training process exited with code {code}")
        job = store.get_job(job_id)
    if job["status"] == "cancelled":
        raise SelfLengthenError("training cancelled; its last checkpoint is kept and `train` resumes from it")
    if job["status"] != "done":
        raise SelfLengthenError(f"training failed: {job['error']}")
