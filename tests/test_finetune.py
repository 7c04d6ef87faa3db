"""Training jobs around the trainer: refusals, and chaining — iteration t+1 really uses what t trained."""

import json

import pytest

from commands import cli
from paths import SEEDS_EN
from scripted import scripted_backend
from selflengthen.config import preset_config
from selflengthen.curation.decisions import review
from selflengthen.errors import InputError
from selflengthen.jobs.runner import run_iterate_job
from selflengthen.stages.pipeline import current_iteration, default_backend_factory
from selflengthen.training.job import parse_roles, run_train_job, training_dir
from storage import Store, StoreError

SEEDS = [{"text": "Write an essay about the sea and its tides.", "language": "en"},
         {"text": "Explain how cities grow over the centuries.", "language": "en"}]


@pytest.fixture
def reviewed(store, tmp_path):
    """A run whose iteration 0 ran on a scripted model; its models are a folder on disk (training is refused
    before any model is loaded, so none needs weights)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    config = preset_config("demo", {"augment": {"n_instructions": 4}})
    run = store.create_run("r", str(model), str(model), "transformers", "demo", config.to_dict(), SEEDS)
    backend = scripted_backend()
    run_iterate_job(store, "r", factory=lambda *a: backend)
    return store, run, store.path


def test_roles():
    assert parse_roles("both") == ["generator", "extender"]
    with pytest.raises(InputError, match="unknown role"):
        parse_roles("critic")


def test_training_without_accepted_samples_is_refused(reviewed):
    store, run, db = reviewed
    with pytest.raises(InputError, match="no accepted samples: review first"):
        run_train_job(store, db, "r")
    assert store.list_jobs(run["id"])[-1]["kind"] == "iterate"  # no training job was started


def test_training_while_a_job_runs_is_refused(reviewed):
    store, run, db = reviewed
    review(store, "r", accept_passing=True)
    store.start_job("iterate", run_id=run["id"])  # this process is alive: the job counts as running
    with pytest.raises(StoreError, match="already running"):
        run_train_job(store, db, "r")


def test_training_from_a_checkpoint_missing_on_disk_is_refused(reviewed, tmp_path):
    store, run, db = reviewed
    review(store, "r", accept_passing=True)
    iteration = store.latest_iteration(run["id"])
    store.update_iteration(iteration["id"], status="trained")
    store.register_checkpoint(run_id=run["id"], iteration_id=iteration["id"], role="generator",
                              path=str(tmp_path / "gone"), base_model="x", kind="full", data_size=1)
    with pytest.raises(InputError, match="generator checkpoint of iteration 0 is missing on disk"):
        current_iteration(store, run)
    assert len(store.list_iterations(run["id"])) == 1


@pytest.mark.slow
def test_cli_refusal_is_one_line(reviewed):
    store, run, db = reviewed
    result = cli("train", "--db", db, "--name", "r")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "error: iteration 0 of run 'r' has no accepted samples: review first"]


@pytest.mark.slow
def test_iteration_one_generates_with_the_checkpoint_iteration_zero_trained(tmp_path, demo_model_dir):
    db = tmp_path / "chain.db"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"augment": {"n_instructions": 12}}))
    cli("init", "--db", db, "--name", "chain", "--model", demo_model_dir, "--seeds", SEEDS_EN,
        "--config", config, check=True)
    cli("iterate", "--db", db, "--name", "chain", "--quiet", check=True)
    cli("review", "--db", db, "--name", "chain", "--accept-passing", check=True)
    cli("train", "--db", db, "--name", "chain", "--quiet", check=True, timeout=600)

    store = Store(db)
    run = store.require_run("chain")
    trained = store.iteration_checkpoints(store.get_iteration(run["id"], 0)["id"])
    assert set(trained) == {"generator", "extender"}
    assert trained["generator"]["path"].startswith(str(training_dir(db, "chain", 0, "generator")))
    built = {}

    def recording_factory(role, model, cfg):
        built[role] = default_backend_factory(role, model, cfg)
        return built[role]

    iteration = run_iterate_job(store, "chain", steps="augment,generate", factory=recording_factory)
    assert iteration["idx"] == 1
    assert iteration["generator_checkpoint"] == trained["generator"]["path"]
    assert iteration["extender_checkpoint"] == trained["extender"]["path"]
    assert built["generator"].describe()["model"] == trained["generator"]["path"]
    assert built["augmenter"].describe()["model"] == str(demo_model_dir)  # new instructions: the base model
    assert len(store.iteration_samples(iteration["id"])) == 24
    status = json.loads(cli("status", "--db", db, "--name", "chain", "--json", check=True).stdout)
    assert [it["status"] for it in status["iterations"]] == ["trained", "created"]
    assert status["iterations"][0]["trained"]["generator"]["data_size"] > 0
