"""Fine-tuning, the plain-data side: the training config and presets, the spec a training subprocess runs
from, and the command that starts it. Cheap to import (the rows each role learns from are `data`'s).

The trainer itself (trl, the subprocess's `main`) lives in `selflengthen.training.trainer`, its progress in
`selflengthen.training.progress`, the preference pairs in `selflengthen.training.pairs`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from selflengthen.config import JsonConfig, _f, build_dataclass, merge, validate_fields
from selflengthen.errors import ConfigError

STAGES = ("sft", "preference")  # fine-tuning on accepted texts, then (optionally) on pairs of texts
ROLES = ("generator", "extender", "final")  # final: the run's length-controlled model (`train --final`)
# Schedulers that need no extra arguments (transformers' SchedulerType values).
LR_SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial",
                 "inverse_sqrt")


@dataclass
class TrainConfig(JsonConfig):
    preset: str = _f("default", "Preset this config started from.")
    method: str = _f("lora", "'lora' trains low-rank adapters (peft); 'full' trains every weight.",
                     choices=("lora", "full"))
    learning_rate: float = _f(1e-4, "Peak learning rate.", min=1e-9, max=1.0)
    epochs: float = _f(4.0, "Passes over the training data (fractions allowed).", min=0.01, max=1000.0)
    batch_size: int = _f(1, "Rows per device per forward pass.", min=1)
    gradient_accumulation: int = _f(1, "Forward passes whose gradients are summed into one optimizer step.", min=1)
    max_length: int = _f(16384, "Tokens per row (prompt + answer); what happens to longer rows is `overlong`'s.",
                         min=16)
    overlong: str = _f("drop", "Rows longer than max_length: drop (a cut answer loses its end token and teaches the "
                               "model not to stop) or truncate at the end (the reference, as LLaMA-Factory's cutoff).",
                       choices=("drop", "truncate"))
    packing: bool = _f(False, "Pack several rows into each max_length sequence (trl 'bfd'). Best with flash "
                       "attention: without it a packed batch attends over its whole length, so on CPU the gain is "
                       "small (bench/training_packing.py).")
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
    extender_drop_blank_lines: bool = _f(
        False, "Extender data: keep only the non-blank lines of the initial response (each with extender_line_keep) "
        "and set each apart with a blank line, as the reference does; off: blank lines stay where they were.")
    continue_adapter: bool = _f(True, "LoRA: start from the previous iteration's adapter when there is one.")
    merge: bool = _f(True, "LoRA: also save the base model with the adapter merged in, for the next iteration.")
    save_steps: int = _f(500, "Optimizer steps between trainer checkpoints (what a re-run resumes from).", min=1)
    save_total_limit: int = _f(2, "Trainer checkpoints kept on disk (older ones are deleted).", min=1)
    logging_steps: int = _f(10, "Optimizer steps between progress and metrics records.", min=1)
    report_to: str = _f("none", "Experiment tracker the trainer reports to, with the run and iteration as its run "
                        "name: none, tensorboard, wandb, mlflow or trackio (the tracker's package must be "
                        "installed).", choices=("none", "tensorboard", "wandb", "mlflow", "trackio"))
    preference_method: str = _f("dpo", "Preference step (`train --stage preference`): dpo, orpo (no reference "
                                "model) or kto (unpaired accept / reject verdicts).", choices=("dpo", "orpo", "kto"))
    preference_beta: float = _f(0.1, "Preference step: beta, how far the model may move from the reference "
                                "(DPO, KTO) or the weight of the odds-ratio term (ORPO).", min=1e-4, max=10.0)
    preference_kinds: str = _f("expansion,edit,verdict,attempt", "Preference step: the kinds of pairs it learns "
                               "from (training.pairs: expansion, edit, verdict, attempt).")

    def __post_init__(self):
        validate_fields(self)
        targets = self.lora_target_modules
        if isinstance(targets, list) and (not targets or not all(isinstance(t, str) and t for t in targets)):
            raise ConfigError("lora_target_modules must be 'all-linear' or a non-empty list of module names")
        if isinstance(targets, str) and not targets.strip():
            raise ConfigError("lora_target_modules must not be empty")
        from selflengthen.errors import InputError
        from selflengthen.training.pairs import parse_kinds

        try:
            parse_kinds(self.preference_kinds)
        except InputError as e:
            raise ConfigError(f"preference_kinds: {e}") from None


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
# The reference's data handling: long rows cut at the end, the extender's input as lines kept with p = 0.8.
_PAPER = {"preset": "paper", "overlong": "truncate", "extender_line_keep": 0.8, "extender_drop_blank_lines": True}
TRAIN_PRESETS = {"default": {"preset": "default"}, "paper": _PAPER, "demo": _DEMO}


def train_preset(name: str, overrides: dict | None = None) -> TrainConfig:
    """The named preset, optionally with a (partial) override dict merged on top."""
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown training preset '{name}' (choose from: {', '.join(TRAIN_PRESETS)})")
    return TrainConfig.from_dict(merge(TRAIN_PRESETS[name], overrides or {}))


# --- training data ----------------------------------------------------------------------------------


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
    stage: str = "sft"  # sft, or preference (the data file holds pairs, or KTO rows)
    run_name: str = ""  # the experiment tracker's run name

    def __post_init__(self):
        if self.role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)} (got {self.role!r})")
        if self.stage not in STAGES:
            raise ConfigError(f"stage must be one of {', '.join(STAGES)} (got {self.stage!r})")
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
        return [python, "-m", "selflengthen.training.trainer", str(spec_path)]
    return [python, "-m", "accelerate.commands.launch", "--config_file", str(accelerate_config),
            "-m", "selflengthen.training.trainer", str(spec_path)]


# --- trl ----------------------------------------------------------------------------------------
