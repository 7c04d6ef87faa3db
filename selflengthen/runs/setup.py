"""Everything `init` needs, validated before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass

from selflengthen.backends.models import check_model
from selflengthen.config import RunConfig, load_config_file, merge, preset_config
from selflengthen.errors import ConfigError


@dataclass
class PreparedRun:
    config: RunConfig
    generator_model: str
    extender_model: str
    seeds: list


def prepare_run(*, preset: str | None, config_file: str | None, backend: str | None, model: str,
                extender_model: str | None, seeds_file: str) -> PreparedRun:
    """Preset + config file + backend override, checked model references and parsed seeds."""
    from selflengthen.runs.seeds import load_seeds

    overrides = load_config_file(config_file) if config_file else {}
    named = overrides.get("preset")
    if preset and named and named != preset:
        raise ConfigError(f"the config file says preset '{named}' but --preset is '{preset}'")
    if backend:
        overrides = merge(overrides, {"backend": {"name": backend}})
    config = preset_config(preset or named or "demo", overrides)
    generator = check_model(model, config.backend.name)
    extender = check_model(extender_model, config.backend.name) if extender_model else generator
    return PreparedRun(config, generator, extender, load_seeds(seeds_file))
