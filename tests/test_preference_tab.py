"""The Train tab's preference panel through its handlers: the pair counts before anything starts, the refusals,
the command it launches, and the rewards chart of a finished step."""

import pytest

from curated import make_store_with_accepted_samples
from studios import studio_for
from ui.preference import pair_rows, reward_figure, start_preference
from ui.train import FORM_FIELDS, run_preset


def curated_studio(tmp_path):
    store, run, iteration = make_store_with_accepted_samples(tmp_path / "studio.db", n_instructions=3, model="m")
    samples = store.iteration_samples(iteration["id"])
    store.record_decisions([{"sample_id": samples[1]["id"], "verdict": "reject", "reasons": ["too_short"]}],
                           user="ann")
    return studio_for(store)


def form_values(studio):
    preset = run_preset(studio.store.get_run("r")).to_dict()
    return [preset[name] for name in FORM_FIELDS]


def test_the_counts_show_what_each_role_would_learn_from(tmp_path):
    studio = curated_studio(tmp_path)
    rows, line = pair_rows(studio, "r", "generator", "dpo", ["expansion", "edit", "verdict", "attempt"])
    assert dict(map(tuple, rows)) == {"expansion": 5, "edit": 0, "verdict": 1}
    assert line == "Iteration 0: 6 rows for the generator's DPO step."
    rows, line = pair_rows(studio, "r", "generator", "kto", ["expansion"])
    assert dict(map(tuple, rows)) == {"kto": 6, "desirable": 5} and line.endswith("6 rows for the generator's KTO step.")
    assert pair_rows(studio, "r", "extender", "dpo", ["edit"]) == ([], "The extender learns from attempt pairs.")
    assert pair_rows(studio, None, "generator", "dpo", ["edit"]) == ([], "Pick a run.")


@pytest.mark.slow  # the launched command starts (and fails on the missing model)
def test_a_start_without_pairs_is_refused_and_one_with_pairs_launches_the_cli_twin(tmp_path):
    studio = curated_studio(tmp_path)
    message, command = start_preference(studio, "r", "extender", "dpo", ["attempt"], *form_values(studio))
    assert message.startswith("**Not started:** no pairs to learn from.") and command == ""
    assert studio.worker.state()["label"] == ""
    message, command = start_preference(studio, "r", "generator", "orpo", ["expansion", "verdict"],
                                        *form_values(studio))
    assert message.startswith("Started the generator's ORPO step.")
    assert "train --db" in command and "--stage preference --role generator --method orpo" in command
    assert "--kinds expansion,verdict" in command
    studio.worker.wait(120)  # the model "m" does not exist: the command fails, and says so
    assert studio.worker.state()["returncode"] != 0


def test_the_rewards_chart_draws_the_held_out_accuracy_and_margin(tmp_path):
    studio = curated_studio(tmp_path)
    store = studio.store
    job = store.start_job("train:generator", run_id=1, iteration_id=1)
    store.update_job(job, stage="preference:generator")
    store.record_metrics(job, step=2, eval_loss=0.6, eval_reward_accuracy=0.75, eval_reward_margin=0.3)
    store.record_metrics(job, step=2, train_loss=0.5, reward_accuracy=1.0, reward_margin=0.4)
    figure = reward_figure(store, [store.get_job(job)])
    assert sorted(t.name for t in figure.data) == sorted(
        f"{label} (job {job})" for label in ("held-out accuracy", "held-out margin", "train accuracy", "train margin"))
    assert list(next(t for t in figure.data if t.name.startswith("held-out accuracy")).y) == [0.75]
    assert not reward_figure(store, []).data
