"""Each stage, one at a time, on the real demo model through the transformers backend."""

import pytest

from paths import SEEDS_EN
from selflengthen.backends.hf import TransformersBackend
from selflengthen.config import preset_config
from selflengthen.method.gates import check_text, passed
from selflengthen.runs.seeds import load_seeds
from selflengthen.stages.pipeline import default_backend_factory, run_iteration
from storage import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def staged(tmp_path_factory, demo_model_dir):
    """A store, its run, and a factory that records the backends it built."""
    store = Store(tmp_path_factory.mktemp("stages") / "t.db")
    config = preset_config("demo", {"augment": {"n_instructions": 12}, "backend": {"batch_size": 16}})
    seeds = [s.to_dict() for s in load_seeds(SEEDS_EN)]
    run = store.create_run("stages", str(demo_model_dir), str(demo_model_dir), "transformers", "demo",
                           config.to_dict(), seeds)
    built = []

    def factory(role, model, cfg):
        built.append(default_backend_factory(role, model, cfg))
        return built[-1]

    def step(name):
        return run_iteration(store, run, store.latest_iteration(run["id"]), [name], factory=factory)

    return store, step, built, str(demo_model_dir)


def test_augment(staged):
    store, step, built, model = staged
    iteration = step("augment")
    assert isinstance(built[-1], TransformersBackend) and built[-1].describe()["model"] == model
    new = [i for i in store.iteration_instructions(iteration["id"]) if i["source"] == "augmented"]
    assert len(new) == 2
    pool = {i["id"]: i for i in store.instruction_pool(iteration["run_id"])}
    assert all(len(i["parents"]) == 2 and all(p in pool for p in i["parents"]) for i in new)
    assert all(i["judge"] == "yes" and 4 <= len(i["text"].split()) <= 499 for i in new)


def test_generate(staged):
    store, step, _, _ = staged
    iteration = step("generate")
    samples = store.iteration_samples(iteration["id"])
    assert len(samples) == 24 and len({(s["instruction_id"], s["slot"]) for s in samples}) == 24
    good = [s for s in samples if s["status"] == "generated"]
    assert len(good) >= 12
    assert all(passed(check_text(s["initial_response"], "en")) for s in good)
    failed = [s for s in samples if s["status"] == "failed_generation"]
    assert all(s["reject_reason"].startswith("generate/") and s["initial_attempts"] == 4 for s in failed)


def test_expand(staged):
    store, step, _, _ = staged
    iteration = step("expand")
    samples = store.iteration_samples(iteration["id"])
    assert not [s for s in samples if s["status"] == "generated"]  # every sample finished
    expanded = [s for s in samples if s["status"] == "expanded"]
    assert expanded, "the demo extender should expand some answers by 1.2x"
    for s in expanded:
        [round_] = store.expansion_rounds(s["id"])
        assert round_["kept"] and round_["source_text"] == s["initial_response"]
        # stage 2 goes on from the stage-1 text and the separator (or stops right there)
        assert (s["final_expansion"] == s["stage1_expansion"]
                or s["final_expansion"].startswith(s["stage1_expansion"] + round_["separator"]))
        assert s["final_words"] >= 1.2 * s["initial_words"] and s["growth"] >= 1.2


def test_filter(staged):
    store, step, _, _ = staged
    iteration = step("filter")
    statuses = store.sample_status_counts(iteration["id"])
    assert "expanded" not in statuses and statuses.get("kept", 0) + statuses.get("dropped_short", 0) > 0
    assert iteration["status"] == "review"
    assert iteration["stats"]["samples"] == statuses
