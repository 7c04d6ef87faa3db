"""In-process generation with transformers: batched, left-padded, longest prompts first.

Sorting by length before batching keeps padding (wasted compute) small; completions are put back in
the caller's order. While a batch runs, `written` is told each time another of its rows ends (its eos, or the
padding transformers puts after a row that reached a stop string). torch, transformers and peft are imported
only when this backend is created.
"""

from __future__ import annotations

import gc
from pathlib import Path

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt
from selflengthen.backends.chat import batch_seed, cut_at_stop, first_line, render_prompt
from selflengthen.backends.models import looks_like_path
from selflengthen.errors import BackendError


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, model: str, config=None, adapter: str | None = None):
        import torch

        from selflengthen.config import BackendConfig

        self.torch = torch
        self.config = config or BackendConfig(name="transformers")
        self.model_name, self.adapter = model, adapter
        self.device = pick_device(torch, self.config.device)
        self.dtype = pick_dtype(torch, self.config.dtype, self.device)
        source = resolve_model(model)
        self.tokenizer = load_tokenizer(source)
        self.model = load_model(source, adapter, self.dtype, self.device)

    def generate(self, prompts: list[Prompt], params: GenerationParams, written=None) -> list[Completion]:
        if self.model is None:
            raise BackendError("the transformers backend was closed")
        ids = [self.tokenizer(render_prompt(self.tokenizer, p), add_special_tokens=False)["input_ids"]
               for p in prompts]
        # Longest first: the slowest batch runs first, and each batch holds prompts of similar length.
        order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))
        size = self.config.batch_size
        results: list[Completion | None] = [None] * len(prompts)
        told = [0]

        def tell_once(done: int) -> None:  # each count once, growing (a batch's end repeats its last one)
            if done > told[0]:
                told[0] = done
                written(done)

        for n, start in enumerate(range(0, len(order), size)):
            chunk = order[start:start + size]
            seed = batch_seed([prompts[i] for i in chunk], params, n)
            tell = None if written is None else (lambda done, before=start: tell_once(before + done))
            for i, completion in zip(chunk, self._generate_batch([ids[i] for i in chunk], params, seed, tell)):
                results[i] = completion
        return results

    def _generate_batch(self, ids: list[list[int]], params: GenerationParams, seed: int | None,
                        written=None) -> list[Completion]:
        torch = self.torch
        batch = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        kwargs = self._generate_kwargs(params)
        if written is not None:
            ends = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
            kwargs["stopping_criteria"] = _rows_ended(torch, len(ids), ends, written)
        if seed is not None:
            torch.manual_seed(seed)  # seeds CPU and CUDA generators: same prompts + seed -> same samples
        with torch.inference_mode():
            out = self.model.generate(**batch, **kwargs)
        if written is not None:
            written(len(ids))
        new_tokens = out[:, batch["input_ids"].shape[1]:]  # left padding: every prompt ends at the same column
        return [self._completion(row.tolist(), params.stop) for row in new_tokens]

    def _generate_kwargs(self, params: GenerationParams) -> dict:
        kwargs = {
            "max_new_tokens": params.max_new_tokens,
            "eos_token_id": self.tokenizer.eos_token_id,
            "pad_token_id": self.tokenizer.pad_token_id,
            "repetition_penalty": params.repetition_penalty,
            "do_sample": not params.greedy,
        }
        if not params.greedy:
            # top_k 0 means "no limit" both here and in transformers (which skips the filter for 0)
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        if params.stop:  # ends a row once it holds a stop string; the text is cut there afterwards
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        return kwargs

    def _completion(self, new_ids: list[int], stop: tuple[str, ...] = ()) -> Completion:
        """Cut a generated row after its eos (what follows is padding), decode it, and cut the text before its
        first stop string (a row that reached one ended by itself, whatever followed)."""
        eos = self.tokenizer.eos_token_id
        finished = eos in new_ids
        if finished:
            new_ids = new_ids[:new_ids.index(eos) + 1]
        text, stopped = cut_at_stop(self.tokenizer.decode(new_ids, skip_special_tokens=True), stop)
        return Completion(text=text, finish_reason="stop" if finished or stopped else "length",
                          n_tokens=len(new_ids))

    def close(self) -> None:
        if getattr(self, "model", None) is None:
            return
        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_name, "adapter": self.adapter,
                "device": self.device, "dtype": str(self.dtype).removeprefix("torch.")}


def _rows_ended(torch, rows: int, ends: set[int], written):
    """A stopping criterion that stops nothing: after each step it counts the rows whose last token ends them (eos,
    or the padding that follows a row transformers stopped) and calls `written(count)` when the count grows."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class RowsEnded(StoppingCriteria):
        def __init__(self):
            self.ended, self.ends, self.reported = None, None, 0

        def __call__(self, input_ids, scores, **kwargs):
            if self.ends is None:
                self.ends = torch.tensor(sorted(ends), device=input_ids.device)
                self.ended = torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
            self.ended |= torch.isin(input_ids[:, -1], self.ends)
            count = int(self.ended.sum())
            if count > self.reported:
                self.reported = count
                written(count)
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([RowsEnded()])


def pick_device(torch, device: str) -> str:
    """'auto' -> cuda when available, else cpu; an explicit device must exist."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise BackendError(f"unknown device '{device}' (use auto, cpu, cuda or cuda:N)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device '{device}' requested but CUDA is not available here (use auto or cpu)")
    return device


def pick_dtype(torch, dtype: str, device: str):
    """'auto' -> bfloat16 on GPUs that support it (else float16), float32 on CPU."""
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_model(model: str) -> str:
    """A local directory as an absolute path; anything shaped like a path must exist; else a hub id."""
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve())
    if looks_like_path(model):
        raise BackendError(f"model path not found: {model}")
    return model  # "org/name": a hub id, loaded (or refused) by transformers


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as e:  # OSError, ValueError, hub errors...: all mean "cannot use this model"
        raise BackendError(f"cannot load the tokenizer of '{source}': {first_line(e)}") from None
    if tokenizer.eos_token_id is None:
        raise BackendError(f"the tokenizer of '{source}' has no eos token, so generation could never stop")
    tokenizer.padding_side = "left"  # generation appends on the right: prompts must end at the same column
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(source: str, adapter: str | None, dtype, device: str):
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except Exception as e:
        raise BackendError(f"cannot load model '{source}': {first_line(e)}") from None
    if adapter:
        model = apply_adapter(model, adapter)
    return model.to(device).eval()


def apply_adapter(model, adapter: str):
    """Load a LoRA adapter directory on top of `model` and merge it (faster generation, same outputs)."""
    if not (Path(adapter) / "adapter_config.json").exists():
        raise BackendError(f"adapter not found: {adapter} (expected a directory with adapter_config.json)")
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, adapter).merge_and_unload()
    except Exception as e:
        raise BackendError(f"cannot load adapter '{adapter}': {first_line(e)}") from None
