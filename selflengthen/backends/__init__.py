"""Model backends: one small interface (`base.Backend.generate(prompts, params) -> completions`), a name -> class
registry imported lazily (torch, vllm and httpx load only when chosen), chat templates and prefill (`chat`),
model references (`models`: a local directory or a hub id), and a scripted backend for tests (`fake`).

May import: `selflengthen.config` and `selflengthen.errors`.
"""

from __future__ import annotations

import importlib

from selflengthen.backends.base import Backend, Completion, GenerationParams, Prompt
from selflengthen.errors import BackendError

REGISTRY = {
    "transformers": "selflengthen.backends.hf:TransformersBackend",
    "vllm": "selflengthen.backends.vllm_backend:VLLMBackend",
    "openai": "selflengthen.backends.openai_backend:OpenAIBackend",
    "fake": "selflengthen.backends.fake:ScriptedBackend",
}

__all__ = ["Backend", "Completion", "GenerationParams", "Prompt", "REGISTRY", "create_backend"]


def backend_class(name: str) -> type[Backend]:
    if name not in REGISTRY:
        raise BackendError(f"unknown backend '{name}' (choose from: {', '.join(REGISTRY)})")
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(name: str, model: str, config=None, adapter: str | None = None) -> Backend:
    """Build backend `name` for `model` (hub id or local path) with a BackendConfig.

    `adapter` is an optional LoRA adapter directory applied on top of `model`.
    """
    from selflengthen.config import BackendConfig

    return backend_class(name)(model=model, config=config or BackendConfig(), adapter=adapter)
