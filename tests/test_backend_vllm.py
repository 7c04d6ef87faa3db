"""The vllm backend without vllm: the clear error when it is missing, and its mapping against a stand-in module."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field

import pytest

from selflengthen.backends import GenerationParams, Prompt, create_backend
from selflengthen.config import BackendConfig
from selflengthen.errors import BackendError


def test_missing_vllm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(BackendError, match="needs a CUDA machine and `pip install -r requirements-gpu.txt`"):
        create_backend("vllm", "some/model")


@dataclass
class FakeSample:
    text: str
    finish_reason: str
    token_ids: list = field(default_factory=list)


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text, add_special_tokens):
        assert add_special_tokens is False
        return [ord(c) for c in text]


class FakeLLM:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls, self.bars = [], []

    def get_tokenizer(self):
        return FakeTokenizer()

    def generate(self, inputs, sampling, lora_request=None, use_tqdm=True):
        self.calls.append((inputs, sampling, lora_request))
        self.bars.append(use_tqdm)
        outputs = [types.SimpleNamespace(outputs=[FakeSample(f"answer {i}", "length" if i else "stop", [1, 2, 3])])
                   for i in range(len(inputs))]
        if callable(use_tqdm):  # what vLLM's engine loop does with a bar factory, request by request
            bar = use_tqdm(total=len(inputs), desc="Processed prompts", dynamic_ncols=True, postfix="est. speed")
            for _ in outputs:
                bar.postfix = f"est. speed input: {1 / max(bar.format_dict['elapsed'], 1e-6):.2f} toks/s"
                bar.update(1)
                if bar.n == len(inputs):
                    bar.refresh()
            bar.close()
        return outputs


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kwargs: kwargs
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, int_id, path: (name, int_id, path)
    for name, module in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return vllm


def test_prompts_sampling_and_outputs_are_mapped(fake_vllm):
    backend = create_backend("vllm", "org/model", BackendConfig(name="vllm", max_model_len=4096))
    out = backend.generate([Prompt.user("hi"), Prompt.user("go", prefill="Go!", seed=9)],
                           GenerationParams(top_k=0, seed=5, max_new_tokens=64))
    assert [(c.text, c.finish_reason, c.n_tokens) for c in out] == [("answer 0", "stop", 3), ("answer 1", "length", 3)]
    inputs, sampling, lora = backend.llm.calls[0]
    assert "".join(map(chr, inputs[1]["prompt_token_ids"])) == "<user>go<assistant>Go!"
    assert [(s["top_k"], s["seed"], s["max_tokens"], s["stop"]) for s in sampling] == [(-1, 5, 64, []), (-1, 9, 64, [])]
    backend.generate([Prompt.user("hi")], GenerationParams(stop=("---", "\n\n\n")))
    assert backend.llm.calls[1][1][0]["stop"] == ["---", "\n\n\n"]  # vLLM ends there and leaves it out
    assert lora is None and backend.llm.kwargs["max_model_len"] == 4096 and not backend.llm.kwargs["enable_lora"]


def test_adapter_becomes_a_lora_request(fake_vllm, tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 48}))
    backend = create_backend("vllm", "org/model", adapter=str(tmp_path))
    assert backend.llm.kwargs["enable_lora"] and backend.llm.kwargs["max_lora_rank"] == 64
    backend.generate([Prompt.user("hi")], GenerationParams())
    assert backend.llm.calls[0][2] == ("adapter", 1, str(tmp_path))


def test_a_stage_hands_vllm_every_ready_prompt_at_once(fake_vllm, tmp_path, monkeypatch):
    """Generate with batch_size 2 still sends all 12 prompts in one call: vLLM's own scheduler fills the GPU."""
    from scripted import make_responder
    from selflengthen.config import preset_config
    from selflengthen.stages.generate import run_generate
    from selflengthen.stages.reporter import Reporter
    from storage import Store

    respond = make_responder()
    monkeypatch.setattr(FakeLLM, "generate", lambda self, inputs, sampling, lora_request=None, use_tqdm=True: (
        self.calls.append(len(inputs)) or [types.SimpleNamespace(outputs=[FakeSample(
            respond(Prompt.user("Write an essay.")), "stop", [1])]) for _ in inputs]))
    store = Store(tmp_path / "v.db")
    config = preset_config("demo", {"backend": {"name": "vllm", "batch_size": 2}})
    run = store.create_run("r", "m", "m", "vllm", "demo", config.to_dict(),
                           [{"text": f"Write about thing {i}.", "language": "en"} for i in range(6)])
    backend = create_backend("vllm", "org/model", config.backend)
    run_generate(store, run, store.latest_iteration(run["id"]), backend, config, Reporter())
    assert backend.llm.calls == [12] and len(store.iteration_samples(store.latest_iteration(run["id"])["id"])) == 12
    store.close()


def test_finished_requests_are_told_through_the_progress_bar_hook(fake_vllm, capsys):
    backend = create_backend("vllm", "org/model", BackendConfig(name="vllm"))
    told = []
    out = backend.generate([Prompt.user(w) for w in ("a", "b", "c")], GenerationParams(), written=told.append)
    assert told == [1, 2, 3] and len(out) == 3
    assert capsys.readouterr().err == ""  # the bar draws nothing
    backend.generate([Prompt.user("a")], GenerationParams())  # without a listener: vLLM's bar stays off
    assert callable(backend.llm.bars[0]) and backend.llm.bars[1] is False
