"""In-process vLLM: the fast path on a CUDA machine (`pip install -r requirements-gpu.txt`).

vLLM schedules the whole list of prompts itself (continuous batching), so there is no batching here:
render every prompt with the model's chat template, give each its own sampling params and seed, and
map the outputs, which vLLM returns in the order of the prompts. `written` hears of each finished request
through vLLM's own progress bar hook (`use_tqdm` takes a bar factory).
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt
from selflengthen.backends.chat import first_line, render_prompt, request_seed
from selflengthen.errors import BackendError

ENGINE_SEED = 0  # the engine's own seed; requests carry their own seeds on top


class VLLMBackend(Backend):
    name = "vllm"
    whole_stage = True  # stages hand over every ready prompt at once: its continuous batching fills the GPU

    def __init__(self, model: str, config=None, adapter: str | None = None):
        try:
            import vllm
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise BackendError("the vllm backend needs a CUDA machine and "
                               "`pip install -r requirements-gpu.txt`") from None
        from selflengthen.config import BackendConfig

        self.vllm = vllm
        self.config = config or BackendConfig(name="vllm")
        self.model_name, self.adapter = model, adapter
        self.lora = LoRARequest("adapter", 1, adapter) if adapter else None
        self.llm = self._load(model, adapter)
        self.tokenizer = self.llm.get_tokenizer()

    def _load(self, model: str, adapter: str | None):
        kwargs = dict(model=model, tensor_parallel_size=self.config.tensor_parallel_size,
                      gpu_memory_utilization=self.config.gpu_memory_utilization,
                      max_model_len=self.config.max_model_len, seed=ENGINE_SEED, enable_lora=bool(adapter))
        if adapter:
            kwargs["max_lora_rank"] = lora_rank(adapter)
        try:
            return self.vllm.LLM(**kwargs)
        except Exception as e:  # vllm raises many types for "this model cannot run here"
            raise BackendError(f"vllm cannot load model '{model}': {first_line(e)}") from None

    def generate(self, prompts: list[Prompt], params: GenerationParams, written=None) -> list[Completion]:
        if self.llm is None:
            raise BackendError("the vllm backend was closed")
        # Token ids, not text: vLLM would otherwise tokenize with special tokens and could double a BOS.
        inputs = [{"prompt_token_ids": self.tokenizer.encode(render_prompt(self.tokenizer, p),
                                                             add_special_tokens=False)} for p in prompts]
        sampling = [self._sampling(params, request_seed(p, params, i)) for i, p in enumerate(prompts)]
        outputs = self.llm.generate(inputs, sampling, lora_request=self.lora,
                                    use_tqdm=False if written is None else written_bar(written))
        return [to_completion(out) for out in outputs]

    def _sampling(self, params: GenerationParams, seed: int | None):
        return self.vllm.SamplingParams(
            temperature=params.temperature, top_p=params.top_p,
            top_k=params.top_k or -1,  # ours: 0 = no limit; vllm: -1 = no limit
            repetition_penalty=params.repetition_penalty, max_tokens=params.max_new_tokens, seed=seed,
            stop=list(params.stop))  # vLLM leaves the stop string out of the text, as the other backends do

    def close(self) -> None:
        if getattr(self, "llm", None) is None:
            return
        self.llm = None
        gc.collect()

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_name, "adapter": self.adapter,
                "tensor_parallel_size": self.config.tensor_parallel_size}


def written_bar(written):
    """A progress bar factory for vLLM's `use_tqdm`: the bars draw nothing and tell `written(count)` how many
    requests are finished each time vLLM counts more."""
    from tqdm import tqdm

    class WrittenBar(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": _Nowhere(), "disable": False})

        def update(self, n=1):
            shown = super().update(n)
            written(int(self.n))
            return shown

    return WrittenBar


class _Nowhere:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def to_completion(output) -> Completion:
    """vLLM's RequestOutput -> Completion (first sample; 'length' when cut off, else 'stop')."""
    sample = output.outputs[0]
    return Completion(text=sample.text, finish_reason="length" if sample.finish_reason == "length" else "stop",
                      n_tokens=len(sample.token_ids))


def lora_rank(adapter: str) -> int:
    """The max_lora_rank vLLM needs for `adapter`: its rank rounded up to a power of two, at least 16."""
    config_path = Path(adapter) / "adapter_config.json"
    try:
        rank = int(json.loads(config_path.read_text())["r"])
    except (OSError, ValueError, KeyError) as e:
        raise BackendError(f"cannot read the LoRA rank from {config_path}: {first_line(e)}") from None
    return max(16, 1 << (rank - 1).bit_length())
