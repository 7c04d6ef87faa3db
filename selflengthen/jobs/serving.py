"""Serving both roles from one OpenAI-compatible server: after LoRA training the generator and the extender are two
adapters of one base model, and one `vllm serve --enable-lora` serves the base and both adapters side by side, each
under its own name (backend.served_generator / served_extender; see `stages.pipeline.served_name`).

Here: the `vllm serve` command that serves the models an iteration will use, or the reason no single command can
(full fine-tunes, merged models without their adapter, adapters of different bases). Everything only reads the
store; nothing starts a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from selflengthen.config import BackendConfig, RunConfig
from selflengthen.errors import InputError
from selflengthen.jobs.commands import shown
from selflengthen.shapes import Run, Store
from selflengthen.stages.pipeline import planned_iteration, served_name

ROLES = ("generator", "extender")
# vLLM accepts only these --max-lora-rank values (vllm/config/lora.py, MaxLoRARanks); its default is 16.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServingError(InputError):
    """The planned models cannot be served as adapters of one base by one server; the message says why."""


class RoleModel(NamedTuple):
    """What one role's model is to a server: its base, and the LoRA adapter on it (None: the base itself)."""

    role: str
    served: str  # the name the role's requests carry
    base: str
    adapter: str | None = None
    rank: int | None = None


def vllm_lora_rank(rank: int) -> int:
    """The smallest --max-lora-rank vLLM accepts that holds a LoRA of rank `rank`.

    >>> vllm_lora_rank(8), vllm_lora_rank(12), vllm_lora_rank(64)
    (8, 16, 64)
    """
    for allowed in VLLM_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise ServingError(f"LoRA rank {rank} is above vLLM's largest --max-lora-rank ({VLLM_LORA_RANKS[-1]})")


def serve_command(base: str, adapters: dict[str, str], lora_rank: int | None, served_model: str | None = None,
                  tensor_parallel: int = 1, port: int | None = None, host: str | None = None,
                  aliases: tuple[str, ...] = ()) -> list[str]:
    """`vllm serve` of `base` with the LoRA modules {served name: adapter dir}; `aliases` are more names for the
    base itself (a role that is the base, as both are in iteration 0). The base answers to `served_model`, else to
    its own reference, as vLLM names it by default.

    >>> serve_command("Qwen/Qwen2.5-7B-Instruct", {"generator": "/ck/gen", "extender": "/ck/ext"}, 8)[2:]
    ['Qwen/Qwen2.5-7B-Instruct', '--enable-lora', '--max-lora-rank', '8', '--lora-modules', 'generator=/ck/gen', \
'extender=/ck/ext']
    >>> " ".join(serve_command("/m/base", {"generator": "/ck/gen"}, 12, served_model="base", tensor_parallel=2,
    ...                        port=8001, host="127.0.0.1", aliases=("extender",)))
    'vllm serve /m/base --served-model-name base extender --enable-lora --max-lora-rank 16 --lora-modules \
generator=/ck/gen --tensor-parallel-size 2 --host 127.0.0.1 --port 8001'
    >>> serve_command("/m/base", {}, None, aliases=("generator", "extender"))
    ['vllm', 'serve', '/m/base', '--served-model-name', '/m/base', 'generator', 'extender']
    """
    command = ["vllm", "serve", base]
    if served_model or aliases:
        command += ["--served-model-name", served_model or base, *aliases]
    if adapters:
        command.append("--enable-lora")
        if lora_rank:
            command += ["--max-lora-rank", str(vllm_lora_rank(lora_rank))]
        command += ["--lora-modules", *(f"{name}={path}" for name, path in adapters.items())]
    if tensor_parallel > 1:
        command += ["--tensor-parallel-size", str(tensor_parallel)]
    if host:
        command += ["--host", host]
    if port:
        command += ["--port", str(port)]
    return command


def endpoint(base_url) -> tuple[str | None, int | None]:
    """(host, port) for `vllm serve` from a single server URL: the host only when it is this machine (elsewhere
    the server binds every interface, its default); (None, None) for a list of several URLs.

    >>> endpoint("http://127.0.0.1:8001/v1"), endpoint("http://gpu-3:8000/v1"), endpoint(["http://a:1", "http://b:2"])
    (('127.0.0.1', 8001), (None, 8000), (None, None))
    """
    urls = list(base_url) if isinstance(base_url, (list, tuple)) else [base_url] if base_url else []
    if len(urls) != 1:
        return None, None
    parts = urlsplit(str(urls[0]))
    try:
        port = parts.port
    except ValueError:  # not a number: the server's own default then
        port = None
    return (parts.hostname if parts.hostname in LOOPBACK else None), port


def find_checkpoint(store: Store, run: Run, model: str) -> dict | None:
    """The registered checkpoint (with its "iteration" index) that `model` is, latest first; None for a model this
    run did not train."""
    for iteration in reversed(store.list_iterations(run["id"])):
        for checkpoint in store.iteration_checkpoints(iteration["id"]).values():
            if checkpoint["path"] == model:
                return {**checkpoint, "iteration": iteration["idx"]}
    return None


def role_model(store: Store, run: Run, role: str, model: str, backend: BackendConfig) -> RoleModel:
    """The role's model as a server sees it; refused for a checkpoint that is not a LoRA adapter on a plain model."""
    served = served_name(role, model, backend)
    checkpoint = find_checkpoint(store, run, model)
    if checkpoint is None:
        return RoleModel(role, served, model)
    where = f"the {role} checkpoint of iteration {checkpoint['iteration']} ({model})"
    if not checkpoint.get("adapter_path"):
        what = "a full fine-tune" if checkpoint["kind"] == "full" else f"a {checkpoint['kind']} model with no adapter"
        raise ServingError(f"{where} is {what}, not a LoRA adapter: it needs a server of its own")
    base = checkpoint["base_model"]
    if (Path(base) / "adapter_config.json").exists():
        raise ServingError(f"{where} was trained on top of another adapter ({base}): vLLM serves an adapter only on "
                           "its plain base model (train with continue_adapter)")
    rank = (checkpoint.get("config") or {}).get("train", {}).get("lora_r")
    return RoleModel(role, served, base, checkpoint["adapter_path"], rank)


def uses_adapters(store: Store, run: Run, plan: dict) -> bool:
    """Whether a role of the planned iteration loads a LoRA adapter this run trained (merged ones included)."""
    return any((find_checkpoint(store, run, plan[role]) or {}).get("adapter_path") for role in ROLES)


def serving_command(store: Store, run: Run, plan: dict, backend: BackendConfig) -> list[str]:
    """The `vllm serve` command that serves the planned iteration's generator and extender (and the augmenter's
    base) from one server, under the names their requests carry; ServingError says why there is none."""
    roles = [role_model(store, run, role, plan[role], backend) for role in ROLES]
    bases = {r.base for r in roles}
    if len(bases) > 1:
        on = ", ".join(f"the {r.role} on {r.base}" for r in roles)
        raise ServingError(f"the generator and the extender are not adapters of one base ({on}): one server "
                           "cannot serve both (LoRA with continue_adapter keeps both on the run's base)")
    base = bases.pop()
    base_name = backend.served_model or base
    adapters: dict[str, str] = {}
    aliases: list[str] = []
    for r in roles:
        if r.adapter is None:
            if r.served != base_name and r.served not in aliases:
                aliases.append(r.served)
        elif r.served == base_name:
            raise ServingError(f"the {r.role} is a LoRA adapter ({r.adapter}) but its requests would go to the base "
                               f"model ({base_name}): set backend.served_{r.role} to the name of its LoRA module")
        elif adapters.setdefault(r.served, r.adapter) != r.adapter:
            raise ServingError(f"the generator and the extender are different adapters but both requests go to "
                               f"'{r.served}': set backend.served_generator and served_extender to two names")
    if set(aliases) & set(adapters):
        raise ServingError(f"'{min(set(aliases) & set(adapters))}' names both the base model and an adapter: "
                           "give the roles different served names")
    rank = max((r.rank for r in roles if r.adapter and r.rank), default=None)
    host, port = endpoint(backend.base_url)
    return serve_command(base, adapters, rank, backend.served_model, backend.tensor_parallel_size, port, host,
                         tuple(aliases))


def next_serve_command(store: Store, run_name: str) -> str:
    """The shown `vllm serve` command for the iteration `iterate` would work on now (the CLI's `serve-command`)."""
    run = store.require_run(run_name)
    plan = planned_iteration(store, run)
    return shown(serving_command(store, run, plan, RunConfig.from_dict(plan["config"]).backend))
