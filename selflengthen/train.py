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
import dataclasses
import json
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from selflengthen.config import _f, build_dataclass, merge, validate_fields
from selflengthen.errors import ConfigError, SelfLengthenError
from selflengthen.expansion import build_expand_prompt
from selflengthen.instructions import build_response_prompt

ROLES = ("generator", "extender")
# Schedulers that need no extra arguments (transformers' SchedulerType values).
LR_SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial",
                 "inverse_sqrt")
EXIT_DONE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 2


@dataclass
class TrainConfig:
    preset: str = _f("paper", "Preset this config started from.")
    method: str = _f("lora", "'lora' trains low-rank adapters (peft); 'full' trains every weight.",
                     choices=("lora", "full"))
    learning_rate: float = _f(1e-4, "Peak learning rate.", min=1e-9, max=1.0)
    epochs: float = _f(4.0, "Passes over the training data (fractions allowed).", min=0.01, max=1000.0)
    batch_size: int = _f(1, "Rows per device per forward pass.", min=1)
    gradient_accumulation: int = _f(1, "Forward passes whose gradients are summed into one optimizer step.", min=1)
    max_length: int = _f(16384, "Tokens per row (prompt + answer); longer rows are cut at the end.", min=16)
    packing: bool = _f(False, "Pack several rows into each max_length sequence (trl 'bfd'; best with flash attention).")
    lora_r: int = _f(8, "LoRA rank.", min=1)
    lora_alpha: int = _f(16, "LoRA scale numerator (the update is scaled by alpha / r).", min=1)
    lora_dropout: float = _f(0.0, "Dropout on the LoRA branch.", min=0.0, max=0.9)
    lora_target_modules: str | list[str] = _f(
        "all-linear", "Modules that get adapters: 'all-linear' (every linear layer but the output head) or a list "
        "of module names such as ['q_proj', 'v_proj'].")
    warmup_ratio: float = _f(0.1, "Share of the optimizer steps spent warming the learning rate up.", min=0.0, max=0.9)
    lr_scheduler: str = _f("cosine", "Learning-rate schedule after warm-up.", choices=LR_SCHEDULERS)
    seed: int = _f(0, "Seed of weight init (LoRA), data order, the eval split and line dropping.")
    eval_fraction: float = _f(0.0, "Share of the rows held out to measure eval loss (0 = no eval split).",
                              min=0.0, max=0.5)
    bf16: str = _f("auto", "bfloat16 mixed precision: 'auto' = on where the hardware has it (CUDA with bf16).",
                   choices=("auto", "true", "false"))
    extender_line_keep: float = _f(
        0.8, "Extender data: keep each line of the initial response with this probability (1.0 = keep all); the "
        "reference implementation drops lines so the extender learns to restore and add content.", min=0.01, max=1.0)
    continue_adapter: bool = _f(True, "LoRA: start from the previous iteration's adapter when there is one.")
    merge: bool = _f(True, "LoRA: also save the base model with the adapter merged in, for the next iteration.")
    save_steps: int = _f(500, "Optimizer steps between trainer checkpoints (what a re-run resumes from).", min=1)
    save_total_limit: int = _f(2, "Trainer checkpoints kept on disk (older ones are deleted).", min=1)
    logging_steps: int = _f(10, "Optimizer steps between progress and metrics records.", min=1)

    def __post_init__(self):
        validate_fields(self)
        targets = self.lora_target_modules
        if isinstance(targets, list) and (not targets or not all(isinstance(t, str) and t for t in targets)):
            raise ConfigError("lora_target_modules must be 'all-linear' or a non-empty list of module names")
        if isinstance(targets, str) and not targets.strip():
            raise ConfigError("lora_target_modules must not be empty")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return build_dataclass(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"training config is not valid JSON: {e}") from None
        return cls.from_dict(data)


# The reference run: LoRA on every linear layer, lr 1e-4, 4 epochs of batch 1, cosine with 10 % warm-up
# (the dataclass defaults). The demo: a full fine-tune of the tiny demo model in seconds on a CPU, and
# checkpoints every 2 steps, so a killed job has something to resume from. An iteration accepts only ~16
# samples, so the prototype's single epoch at batch 4 (4 steps) taught the generator too little (iteration
# 2 / 0 of initial-response words 1.3); 2 epochs at batch 2 (~14 steps, lr 5e-4) gives 2.4-3.7 over seeds
# 0-3 with every iteration-2 sample still passing the generate gates. Stronger (3 epochs, or lr 1e-3) makes
# the generator run into the token limit far more often (it starts to stop stopping); lr 3e-4 grows too little.
_DEMO = {
    "preset": "demo", "method": "full", "learning_rate": 5e-4, "epochs": 2.0, "batch_size": 2, "max_length": 1024,
    "warmup_ratio": 0.0, "lr_scheduler": "linear", "eval_fraction": 0.1, "extender_line_keep": 1.0,
    "continue_adapter": False, "merge": False, "save_steps": 2, "logging_steps": 1,
}
TRAIN_PRESETS = {"paper": {"preset": "paper"}, "demo": _DEMO}


def train_preset(name: str, overrides: dict | None = None) -> TrainConfig:
    """The named preset, optionally with a (partial) override dict merged on top."""
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown training preset '{name}' (choose from: {', '.join(TRAIN_PRESETS)})")
    return TrainConfig.from_dict(merge(TRAIN_PRESETS[name], overrides or {}))


# --- training data ----------------------------------------------------------------------------------

def generator_rows(samples: list[dict]) -> list[dict]:
    """Prompt/completion rows that teach the generator to answer an instruction with the accepted text.

    >>> generator_rows([{"instruction": " Write about tea. ", "final_text": "Tea is old."}])
    [{'prompt': [{'role': 'user', 'content': 'Write about tea.'}],
      'completion': [{'role': 'assistant', 'content': 'Tea is old.'}]}]
    """
    return [{"prompt": list(build_response_prompt(s["instruction"]).messages),
             "completion": [{"role": "assistant", "content": s["final_text"]}]} for s in samples]


def extender_rows(samples: list[dict], line_keep: float = 1.0, seed: int = 0) -> list[dict]:
    """Rows that teach the extender to turn the initial response (some lines dropped) into the accepted text.

    The prompt is the pipeline's own expansion prompt; with `line_keep` < 1 each line of the initial
    response stays with that probability (one seeded RNG over the samples in order).

    >>> row = extender_rows([{"instruction": "Write about tea.", "language": "en",
    ...                       "initial_response": "Tea is old.", "final_text": "Tea is very old."}])[0]
    >>> "Answer:\\nTea is old.\\n" in row["prompt"][0]["content"], row["completion"][0]["content"]
    (True, 'Tea is very old.')
    """
    rng = random.Random(seed)
    rows = []
    for s in samples:
        text = drop_lines(s["initial_response"], line_keep, rng)
        prompt = build_expand_prompt(s["instruction"], text, s.get("language") or "en")
        rows.append({"prompt": list(prompt.messages),
                     "completion": [{"role": "assistant", "content": s["final_text"]}]})
    return rows


def drop_lines(text: str, keep: float, rng: random.Random) -> str:
    """Keep each non-blank line with probability `keep`, never dropping all of them; blank lines stay,
    so paragraphs stay paragraphs.

    >>> drop_lines("a\\n\\nb\\nc", 0.5, random.Random(3))
    'a\\n\\nc'
    >>> drop_lines("only one line", 0.01, random.Random(0))
    'only one line'
    """
    if keep >= 1.0:
        return text
    lines = text.split("\n")
    content = [i for i, line in enumerate(lines) if line.strip()]
    kept = {i for i in content if rng.random() < keep}
    if content and not kept:
        kept = {rng.choice(content)}
    out = "\n".join(line for i, line in enumerate(lines) if i in kept or not line.strip())
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def split_eval(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, eval): a seeded share of the rows held out, at least one when fraction > 0 and there are
    two rows or more, never all of them.

    >>> split_eval(list(range(10)), 0.2, seed=0)
    ([0, 1, 2, 3, 4, 5, 7, 8], [6, 9])
    >>> split_eval([1], 0.5, seed=0)
    ([1], [])
    """
    if fraction <= 0 or len(rows) < 2:
        return list(rows), []
    n_eval = min(len(rows) - 1, max(1, round(fraction * len(rows))))
    held = set(random.Random(seed).sample(range(len(rows)), n_eval))
    return ([r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held])


def write_training_data(rows: list[dict], path) -> Path:
    """Write rows as JSONL (the subprocess trains on this file, not on the store's current state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_training_data(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- the job spec and the command -------------------------------------------------------------------

@dataclass
class TrainSpec:
    """Everything one training subprocess needs, saved as JSON next to its output."""

    db: str
    run_id: int
    iteration_id: int
    job_id: int
    role: str
    base_model: str  # the model this role used in the iteration; with an init_adapter, that adapter's base
    output_dir: str
    data_file: str
    data_size: int
    train: dict = field(default_factory=dict)  # TrainConfig.to_dict()
    init_adapter: str | None = None  # the previous iteration's adapter dir (LoRA with continue_adapter)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)} (got {self.role!r})")
        build_dataclass(TrainConfig, self.train, "train.")  # a bad training config is refused before anything starts

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path) -> "TrainSpec":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read training spec {path}: {e}") from None
        try:
            return build_dataclass(cls, data)
        except TypeError as e:  # a missing field
            raise ConfigError(f"training spec {path}: {e}") from None


def build_command(spec_path, accelerate_config=None, python: str = sys.executable) -> list[str]:
    """The command that trains one spec: plain Python, or `accelerate launch` with a config file
    (accelerate's `-m` flag makes the script argument a module name, like `python -m`)."""
    if accelerate_config is None:
        return [python, "-m", "selflengthen.train", str(spec_path)]
    return [python, "-m", "accelerate.commands.launch", "--config_file", str(accelerate_config),
            "-m", "selflengthen.train", str(spec_path)]


# --- trl ----------------------------------------------------------------------------------------

def use_bf16(setting: str) -> bool:
    import torch

    if setting != "auto":
        return setting == "true"
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def sft_config(config: TrainConfig, output_dir, has_eval: bool):
    """The one place trl's SFTConfig is built from a TrainConfig.

    Checkpoints (model, optimizer, scheduler, RNG, trainer state) every `save_steps` are what a killed job
    resumes from; eval, when there is an eval split, runs at the same steps and at the end.
    """
    import torch
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(output_dir), seed=config.seed, report_to="none", disable_tqdm=True,
        use_cpu=not cuda, dataloader_pin_memory=cuda, activation_checkpointing=cuda,  # trl: on by default
        bf16=use_bf16(config.bf16), fp16=False,
        learning_rate=config.learning_rate, num_train_epochs=config.epochs, lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # transformers 5: a value below 1 is a share of the steps
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        max_length=config.max_length, packing=config.packing,
        completion_only_loss=True,  # the loss is on the answer only (the default for prompt/completion rows)
        logging_steps=config.logging_steps, logging_first_step=True,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval else "no", eval_steps=config.save_steps if has_eval else None,
    )


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
                 peft_config=None, callbacks=()):
    """An SFTTrainer over prompt/completion rows (tokenized, labels built, prompts masked)."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    trainer = SFTTrainer(
        model=model, args=sft_config(config, output_dir, has_eval=bool(eval_rows)), processing_class=tokenizer,
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


# --- progress -------------------------------------------------------------------------------------

class TrainingProgress:
    """The latest training metrics of a job (what its row shows) and the line printed for each trainer log.

    >>> clock = iter([0.0, 10.0, 20.0]).__next__
    >>> progress = TrainingProgress(clock)
    >>> progress.start(step=0)
    >>> progress.update({"loss": 2.0, "learning_rate": 1e-4, "num_tokens": 500}, step=5, total=20)
    {'step': 5, 'total': 20, 'train_loss': 2.0, 'eval_loss': None, 'learning_rate': 0.0001,
     'tokens_per_second': 50.0, 'eta_seconds': 30.0}
    >>> progress.line()
    'step 5/20 loss 2 lr 0.0001 tokens/s 50 eta 30s'
    >>> progress.update({"eval_loss": 2.5}, step=5, total=20)["train_loss"]
    2.0
    """

    def __init__(self, clock=time.monotonic):
        self.clock, self.metrics, self.logs, self.rate = clock, {}, {}, None
        self.first_step, self.t0, self.tokens, self.t_tokens = 0, 0.0, 0, 0.0

    def start(self, step: int) -> None:
        self.first_step, self.t0 = step, self.clock()
        self.tokens, self.t_tokens = 0, self.t0  # trl counts the tokens trained by this process only

    def update(self, logs: dict, step: int, total: int) -> dict:
        """Take one trainer log; a value a log lacks (an eval log has no training loss) keeps its last one."""
        now, self.logs, self.rate = self.clock(), logs, None
        if "num_tokens" in logs:
            self.rate = (logs["num_tokens"] - self.tokens) / max(now - self.t_tokens, 1e-9)
            self.tokens, self.t_tokens = logs["num_tokens"], now
        latest = {"train_loss": logs.get("loss"), "eval_loss": logs.get("eval_loss"),
                  "learning_rate": logs.get("learning_rate"), "tokens_per_second": self.rate}
        done = step - self.first_step
        self.metrics = {"step": step, "total": total,
                        **{k: self.metrics.get(k) if v is None else v for k, v in latest.items()},
                        "eta_seconds": (now - self.t0) / done * (total - step) if done > 0 else None}
        return self.metrics

    def line(self) -> str:
        m, logs = self.metrics, self.logs
        shown = [("loss", logs.get("loss")), ("eval_loss", logs.get("eval_loss")), ("lr", logs.get("learning_rate"))]
        return (f"step {m['step']}/{m['total']}" + "".join(f" {k} {v:.4g}" for k, v in shown if v is not None)
                + (f" tokens/s {self.rate:.0f}" if self.rate is not None else "")
                + (f" eta {m['eta_seconds']:.0f}s" if m["eta_seconds"] is not None else ""))


def _progress_callback(store, job_id: int, log=print):
    """A TrainerCallback that writes durable progress and metrics and honours the job's cancel flag."""
    from transformers import TrainerCallback

    class JobProgress(TrainerCallback):
        def __init__(self):
            self.progress, self.cancelled, self.last_write = TrainingProgress(), False, 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress.start(state.global_step)
            if state.global_step:
                log(f"resumed at step {state.global_step}/{state.max_steps}")
            self._write(done=state.global_step, total=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if self._cancel_requested(args):
                self.cancelled = control.should_save = control.should_training_stop = True
                log(f"cancel requested: saving a checkpoint at step {state.global_step} and stopping")
            if time.monotonic() - self.last_write >= 1.0:
                self._write(done=state.global_step, total=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if store is None or not {"loss", "eval_loss"} & set(logs or {}):
                return  # another rank, or the end-of-training summary
            metrics = self.progress.update(logs, state.global_step, state.max_steps)
            store.record_metrics(job_id, step=state.global_step, train_loss=logs.get("loss"),
                                 eval_loss=logs.get("eval_loss"), learning_rate=logs.get("learning_rate"),
                                 tokens_per_second=self.progress.rate)
            self._write(done=state.global_step, total=state.max_steps, metrics=metrics)
            log(self.progress.line())

        def _cancel_requested(self, args) -> bool:
            flag = store is not None and store.cancel_requested(job_id)
            if args.world_size > 1:  # every process must stop at the same step
                from accelerate.utils import broadcast_object_list

                flag = broadcast_object_list([flag])[0]
            return flag

        def _write(self, **fields) -> None:
            if store is not None:
                store.update_job(job_id, **fields)
                self.last_write = time.monotonic()

    return JobProgress()


# --- the subprocess ---------------------------------------------------------------------------------

def train(spec: TrainSpec, store, log=print) -> str:
    """Train one spec; returns 'done' or 'cancelled'. `store` is None on the non-main processes."""
    config = spec.config
    rows = read_training_data(spec.data_file)
    if not rows:
        raise SelfLengthenError(f"no training rows in {spec.data_file}")
    tokenizer, model, peft_config = _load_tokenizer_and_model(spec, config, log)
    train_rows, eval_rows = split_eval(_fitting_rows(rows, tokenizer, config.max_length, log),
                                       config.eval_fraction, config.seed)
    log(f"train:{spec.role}: {len(train_rows)} training rows, {len(eval_rows)} eval rows, {config.method} "
        f"fine-tune of {spec.base_model}")
    if store is not None:
        _remove_partial_checkpoints(spec.output_dir)
    resume = last_checkpoint(spec.output_dir)
    if resume is not None:
        log(f"resuming from {resume}")
    progress = _progress_callback(store, spec.job_id, log)
    trainer = make_trainer(config, model, tokenizer, train_rows, eval_rows, spec.output_dir, peft_config, [progress])
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if progress.cancelled:
        return "cancelled"
    path, kind, adapter = _save_result(trainer, tokenizer, config, spec)
    if store is not None:
        train_loss, eval_loss = final_losses(trainer.state.log_history)
        store.register_checkpoint(
            run_id=spec.run_id, iteration_id=spec.iteration_id, role=spec.role, path=str(path),
            base_model=spec.base_model, kind=kind, adapter_path=adapter, data_size=spec.data_size,
            train_loss=train_loss, eval_loss=eval_loss, job_id=spec.job_id,
            config={"train": config.to_dict(), "init_adapter": spec.init_adapter, "train_rows": len(train_rows),
                    "eval_rows": len(eval_rows)})
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


def _fitting_rows(rows: list[dict], tokenizer, max_length: int, log) -> list[dict]:
    """The rows whose prompt and answer fit in max_length tokens. A cut answer would lose its end token and
    teach the model not to stop, the failure the generation gates reject; so longer rows are left out."""
    lengths = [len(tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)["input_ids"])
               for row in rows]
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
    store.update_job(spec.job_id, pid=os.getpid(), stage=f"train:{spec.role}", status="running")
    return store


def _finish(store, spec: TrainSpec, status: str, error: str | None = None) -> None:
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
    parser = argparse.ArgumentParser(prog="python -m selflengthen.train",
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
