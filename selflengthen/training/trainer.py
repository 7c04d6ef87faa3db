"""Fine-tune the generator or the extender on an iteration's accepted samples (trl SFT, full or LoRA).

The caller writes the training rows (`generator_rows` / `extender_rows` -> `write_training_data`) and a
`TrainSpec`, then starts `build_command(spec_path)` as a subprocess. The subprocess (`main`) writes durable
progress and metrics to the job row, stops cooperatively when the job's cancel flag is set (saving a
trainer checkpoint first), resumes from its last complete checkpoint when re-run after a crash or
`kill -9`, and registers the trained model for the next iteration.

torch, transformers, trl, peft and the store are imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import threading
from pathlib import Path

from selflengthen.errors import SelfLengthenError
from selflengthen.shapes import Store
from selflengthen.training.config import TrainConfig, TrainSpec
from selflengthen.training.data import read_training_data, split_eval
from selflengthen.training.progress import progress_callback

EXIT_DONE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2


def use_bf16(setting: str) -> bool:
    import torch

    if setting != "auto":
        return setting == "true"
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def shared_args(config: TrainConfig, output_dir, has_eval: bool, run_name: str = "") -> dict:
    """The arguments every trainer here shares (SFT and the preference trainers): schedule, batches, checkpoints
    every `save_steps` (what a killed job resumes from), eval at the same steps, and the experiment tracker."""
    import torch

    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir), seed=config.seed, report_to=config.report_to, run_name=run_name or None,
        disable_tqdm=True, use_cpu=not cuda, dataloader_pin_memory=cuda, bf16=use_bf16(config.bf16), fp16=False,
        learning_rate=config.learning_rate, num_train_epochs=config.epochs, lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # transformers 5: a value below 1 is a share of the steps
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation, max_length=config.max_length,
        logging_steps=config.logging_steps, logging_first_step=True,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval else "no", eval_steps=config.save_steps if has_eval else None,
    )


def sft_config(config: TrainConfig, output_dir, has_eval: bool, run_name: str = ""):
    """The one place trl's SFTConfig is built from a TrainConfig.

    Checkpoints (model, optimizer, scheduler, RNG, trainer state) every `save_steps` are what a killed job
    resumes from; eval, when there is an eval split, runs at the same steps and at the end.
    """
    import torch
    from trl import SFTConfig

    return SFTConfig(
        **shared_args(config, output_dir, has_eval, run_name), packing=config.packing,
        activation_checkpointing=torch.cuda.is_available(),  # trl: on by default
        completion_only_loss=True,  # the loss is on the answer only (the default for prompt/completion rows)
    )


def make_preference_trainer(config: TrainConfig, model, tokenizer, train_rows: list[dict], eval_rows: list[dict],
                            output_dir, peft_config=None, callbacks=(), run_name: str = ""):
    """trl's DPO, ORPO or KTO trainer (config.preference_method) over conversational rows: prompt / chosen /
    rejected pairs, or prompt / completion / label for KTO. DPO and KTO compare with a frozen copy of the
    starting model (with LoRA: the model with its adapter off); ORPO needs none."""
    from datasets import Dataset
    from transformers import PrinterCallback

    method, args = config.preference_method, shared_args(config, output_dir, bool(eval_rows), run_name)
    if method == "dpo":
        from trl import DPOConfig as Config, DPOTrainer as Trainer
    elif method == "kto":
        from trl import KTOConfig as Config, KTOTrainer as Trainer
    else:
        from trl.experimental.orpo import ORPOConfig as Config, ORPOTrainer as Trainer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    trainer = Trainer(model=model, args=Config(**args, beta=config.preference_beta), processing_class=tokenizer,
                      train_dataset=Dataset.from_list(train_rows),
                      eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
                      peft_config=peft_config, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)
    return trainer


def load_model(config: TrainConfig, base_model: str, init_adapter: str | None, log=print):
    """(model, peft_config): the base model, wrapped in the previous adapter when LoRA continues from one."""
    import torch
    from transformers import AutoModelForCausalLM

    # LoRA keeps the frozen base in bf16 where training runs in bf16; a full fine-tune keeps fp32 master weights.
    dtype = torch.bfloat16 if config.method == "lora" and use_bf16(config.bf16) else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    if config.method == "full":
        return model, None
    if config.continue_adapter and init_adapter:
        from peft import PeftModel

        if not Path(init_adapter).is_dir():
            raise SelfLengthenError(f"the adapter to continue from does not exist: {init_adapter}")
        log(f"continuing the adapter {init_adapter}")
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True), None
    from peft import LoraConfig

    return model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                             target_modules=config.lora_target_modules, task_type="CAUSAL_LM")


def make_trainer(config: TrainConfig, model, tokenizer, train_rows: list[dict], eval_rows: list[dict], output_dir,
                 peft_config=None, callbacks=(), run_name: str = ""):
    """An SFTTrainer over prompt/completion rows (tokenized, labels built, prompts masked)."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    trainer = SFTTrainer(
        model=model, args=sft_config(config, output_dir, has_eval=bool(eval_rows), run_name=run_name),
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(train_rows), eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        peft_config=peft_config, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; the job's callback prints lines
    return trainer


def last_checkpoint(output_dir) -> Path | None:
    """The newest complete trainer checkpoint (trainer_state.json is written last); None when there is none."""
    found = [(int(p.name.split("-")[1]), p) for p in Path(output_dir).glob("checkpoint-*")
             if re.fullmatch(r"checkpoint-\d+", p.name) and (p / "trainer_state.json").is_file()]
    return max(found)[1] if found else None


def _remove_partial_checkpoints(output_dir) -> None:
    """A process killed while saving leaves a checkpoint without trainer_state.json: never resume from it."""
    for p in Path(output_dir).glob("checkpoint-*"):
        if p.is_dir() and not (p / "trainer_state.json").is_file():
            shutil.rmtree(p, ignore_errors=True)


def _save_tokenizer(tokenizer, out_dir: Path, base_model: str) -> None:
    """Save the tokenizer, keeping the base model's tokenizer_class (transformers 5 writes its own
    'TokenizersBackend', which transformers 4, and so vLLM, does not know)."""
    tokenizer.save_pretrained(out_dir)
    source, target = Path(base_model) / "tokenizer_config.json", out_dir / "tokenizer_config.json"
    if source.is_file() and target.is_file():
        original = json.loads(source.read_text(encoding="utf-8")).get("tokenizer_class")
        saved = json.loads(target.read_text(encoding="utf-8"))
        if original and saved.get("tokenizer_class") != original:
            saved["tokenizer_class"] = original
            target.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- the subprocess ---------------------------------------------------------------------------------

def train(spec: TrainSpec, store: Store, log=print) -> str:
    """Train one spec; returns 'done' or 'cancelled'. `store` is None on the non-main processes."""
    config = spec.config
    rows = read_training_data(spec.data_file)
    if not rows:
        raise SelfLengthenError(f"no training rows in {spec.data_file}")
    tokenizer, model, peft_config = _load_tokenizer_and_model(spec, config, log)
    preference = spec.stage == "preference"
    usable = rows if preference else _fitting_rows(rows, tokenizer, config.max_length, log, config.overlong)
    train_rows, eval_rows = split_eval(usable, config.eval_fraction, config.seed)
    what = f"{config.preference_method} preference step" if preference else f"{config.method} fine-tune"
    log(f"train:{spec.role}: {len(train_rows)} training rows, {len(eval_rows)} eval rows, {what} of {spec.base_model}")
    if store is not None:
        _remove_partial_checkpoints(spec.output_dir)
    resume = last_checkpoint(spec.output_dir)
    if resume is not None:
        log(f"resuming from {resume}")
    progress = progress_callback(store, spec.job_id, log)
    build = make_preference_trainer if preference else make_trainer
    trainer = build(config, model, tokenizer, train_rows, eval_rows, spec.output_dir, peft_config, [progress],
                    run_name=spec.run_name)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if progress.cancelled:
        return "cancelled"
    path, kind, adapter = _save_result(trainer, tokenizer, config, spec)
    if store is not None:
        train_loss, eval_loss = final_losses(trainer.state.log_history)
        fields = dict(run_id=spec.run_id, path=str(path), base_model=spec.base_model, kind=kind, adapter_path=adapter,
                      data_size=spec.data_size, train_loss=train_loss, eval_loss=eval_loss, job_id=spec.job_id,
                      config={"train": config.to_dict(), "init_adapter": spec.init_adapter, "stage": spec.stage,
                              "train_rows": len(train_rows), "eval_rows": len(eval_rows)})
        if spec.role == "final":  # the run's model, not an iteration's
            store.register_final_model(**fields)
        else:
            store.register_checkpoint(iteration_id=spec.iteration_id, role=spec.role, **fields)
        log(f"registered the {spec.role} checkpoint {path} ({kind})")
    return "done"


def _load_tokenizer_and_model(spec: TrainSpec, config: TrainConfig, log):
    import datasets
    import transformers

    datasets.disable_progress_bars()  # the job log gets one line per event, not progress bars
    transformers.utils.logging.disable_progress_bar()
    transformers.set_seed(config.seed)  # LoRA weights are initialised before the trainer seeds anything
    tokenizer = transformers.AutoTokenizer.from_pretrained(spec.base_model)
    model, peft_config = load_model(config, spec.base_model, spec.init_adapter, log)
    return tokenizer, model, peft_config


def _fitting_rows(rows: list[dict], tokenizer, max_length: int, log, overlong: str = "drop") -> list[dict]:
    """The rows to train on. With overlong "drop", those whose prompt and answer fit in max_length tokens: a cut
    answer would lose its end token and teach the model not to stop, the failure the generation gates reject. With
    "truncate" (the reference), every row; the trainer cuts the long ones at the end."""
    lengths = [len(tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)["input_ids"])
               for row in rows]
    if overlong == "truncate":
        cut = sum(n > max_length for n in lengths)
        if cut:
            log(f"{cut} of {len(rows)} rows are longer than max_length {max_length}: cut at the end")
        return rows
    kept = [row for row, n in zip(rows, lengths) if n <= max_length]
    if len(kept) < len(rows):
        log(f"left out {len(rows) - len(kept)} of {len(rows)} rows longer than max_length {max_length} "
            f"(longest: {max(lengths)} tokens)")
    if not kept:
        raise SelfLengthenError(f"every training row is longer than max_length ({max_length} tokens)")
    return kept


def final_losses(log_history: list[dict]) -> tuple[float | None, float | None]:
    """(last training loss, last eval loss) of a trainer's log history (kept across resumes).

    >>> final_losses([{"loss": 2.0}, {"eval_loss": 3.0}, {"loss": 1.5}, {"train_loss": 1.7}])
    (1.5, 3.0)
    """
    def last(key):
        return next((entry[key] for entry in reversed(log_history) if key in entry), None)

    return last("loss"), last("eval_loss")


def _save_result(trainer, tokenizer, config: TrainConfig, spec: TrainSpec) -> tuple[Path, str, str | None]:
    """Save what the next iteration loads; (path, kind, adapter_path)."""
    output = Path(spec.output_dir)
    main_process = trainer.is_world_process_zero()
    if config.method == "full":
        trainer.save_model(str(output / "final"))
        if main_process:
            _save_tokenizer(tokenizer, output / "final", spec.base_model)
        return output / "final", "full", None
    trainer.save_model(str(output / "adapter"))
    if main_process:
        _save_tokenizer(tokenizer, output / "adapter", spec.base_model)
    if not config.merge:
        return output / "adapter", "adapter", str(output / "adapter")
    if main_process:
        trainer.model.merge_and_unload().save_pretrained(output / "merged")
        _save_tokenizer(tokenizer, output / "merged", spec.base_model)
    return output / "merged", "merged", str(output / "adapter")


def _open_store(spec: TrainSpec):
    """The store, on the main process only (under accelerate every process runs main)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    from storage import Store

    store = Store(spec.db)
    stage = "preference" if spec.stage == "preference" else "train"
    store.update_job(spec.job_id, pid=os.getpid(), stage=f"{stage}:{spec.role}", status="running")
    return store


def _finish(store: Store, spec: TrainSpec, status: str, error: str | None = None) -> None:
    if store is not None:
        store.finish_job(spec.job_id, status, error)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return (text if isinstance(error, SelfLengthenError) else f"{type(error).__name__}: {text}")[:500]


def _print(line: str) -> None:
    print(line, flush=True)  # the caller may tee stdout into the job log


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selflengthen.training.trainer",
                                     description="Fine-tune one role on an iteration's accepted samples.")
    parser.add_argument("spec", help="training spec JSON (written by the caller, see TrainSpec)")
    args = parser.parse_args(argv)
    try:
        spec = TrainSpec.load(args.spec)
    except SelfLengthenError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    store = _open_store(spec)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)  # a plain `kill` ends the job as 'interrupted'
    try:
        status = train(spec, store, _print)
    except KeyboardInterrupt as e:
        _finish(store, spec, "interrupted", f"{_one_line(e)}; a re-run resumes from the last checkpoint")
        _print(f"interrupted: {e}")
        return EXIT_FAILED
    except Exception as e:
        _finish(store, spec, "failed", _one_line(e))
        print(f"error: {_one_line(e)}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    saved = last_checkpoint(spec.output_dir)
    _finish(store, spec, status, None if status == "done" else f"cancelled; {saved} is kept for a new job to resume")
    _print(f"train:{spec.role}: {status}")
    return EXIT_DONE if status == "done" else EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
