"""Everything `init` needs, validated before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass

from selflengthen.backends.models import check_model
from selflengthen.config import RunConfig, load_config_file, merge, resolve_config


@dataclass
class PreparedRun:
    config: RunConfig
    generator_model: str
    extender_model: str
    seeds: list


def prepare_run(*, preset: str | None, config_file: str | None, backend: str | None, model: str,
                extender_model: str | None, seeds_file: str | None) -> PreparedRun:
    """Preset + config file + backend override, checked model references and parsed seeds (without a seed file,
    the bundled seeds of the preset)."""
    from selflengthen.runs.seeds import bundled_seeds, load_seeds

    overrides = load_config_file(config_file) if config_file else {}
    if backend:
        overrides = merge(overrides, {"backend": {"name": backend}})
    config = resolve_config(preset, overrides)
    generator = check_model(model, config.backend.name)
    extender = check_model(extender_model, config.backend.name) if extender_model else generator
    seeds = load_seeds(seeds_file) if seeds_file else bundled_seeds(config.preset)
    return PreparedRun(config, generator, extender, seeds)
