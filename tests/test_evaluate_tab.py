"""Evaluate tab: the CLI twin launched through the job worker on a real tiny model, the results drawn from the
store (table, per-bucket bars, length-vs-target scatter, items), uploads checked before they are kept, and
bad input refused before anything starts."""

import json
import time

import gradio as gr
import pytest

from paths import LONGEN
from selflengthen.config import preset_config
from storage import Store
from studios import studio_for
from ui import eval_charts as charts
from ui import evaluate as tab
from ui.common import Studio

NO_JUDGE = ("", "openai", "")


def make_studio(tmp_path, model: str) -> Studio:
    store = Store(tmp_path / "studio.db")
    config = preset_config("demo", {"backend": {"batch_size": 4, "device": "cpu"}})
    store.create_run("r", model, model, "transformers", "demo", config.to_dict(),
                     [{"text": "Write about the sea.", "language": "en"}])
    return studio_for(store)


@pytest.fixture
def studio(tmp_path):
    return make_studio(tmp_path, "no-such-model")


@pytest.mark.slow
def test_an_evaluation_runs_as_its_cli_twin_and_the_tab_draws_it(tmp_path, untrained_model_dir):
    studio = make_studio(tmp_path, str(untrained_model_dir))
    iteration, benchmark = tab.refresh_inputs(studio, "r")
    assert iteration["choices"] == [0] and iteration["value"] == 0 and benchmark["choices"] == ["LonGen"]
    status, command = tab.start_eval(studio, "r", 0, "generator", "LonGen", 4, 16, *NO_JUDGE)
    assert status.startswith("Started"), status
    assert command == (f"python -m selflengthen eval --db {studio.db_path} --name r --iteration 0 --role generator "
                       "--limit 4 --max-new-tokens 16")
    key, outputs, deadline = [], None, time.monotonic() + 120
    while time.monotonic() < deadline:
        outputs = tab.poll(studio, "r", "longen", "type", None, key)
        key = outputs[1]
        job = studio.store.latest_job(studio.store.get_run("r")["id"], "eval")
        if job and job["status"] != "running" and not studio.worker.state()["running"]:
            break
        time.sleep(0.5)
    assert studio.worker.wait(30)
    progress, key, table, buckets, chosen, scatter, items = tab.poll(studio, "r", "longen", "type", None, [])
    assert "eval · done · stage answer 4/4" in progress.replace("\\", "")
    assert table.values.tolist()[0][1:6] == [0, "generator", "LonGen", "4/4", "done"]
    assert 0 <= table["LonGen"][0] <= 1 and 0 <= table["S_l"][0] <= 100
    [evaluation] = studio.store.list_evaluations(studio.store.get_run("r")["id"])
    assert chosen["value"] == evaluation["id"] and chosen["choices"][0][1] == evaluation["id"]
    # The first 4 LonGen items are Chinese 'about' items of the 2-4k range.
    assert [t.name for t in buckets.data] == ["iteration 0 · generator · LonGen"]
    assert list(buckets.data[0].x) == ["about"]
    assert [t.name for t in scatter.data] == ["target interval", "about", "output = target"]
    assert items["words"].tolist() == [i["words"] for i in studio.store.eval_items(chosen["value"])]
    assert items.shape[0] == 4
    by_language = tab.bucket_chart(studio, "r", "sl", "language")
    assert list(by_language.data[0].x) == ["zh"]
    assert by_language.data[0].y[0] == evaluation["summary"]["sl"]["by_language"]["zh"]
    first = studio.store.eval_items(evaluation["id"])[0]
    evt = gr.SelectData(None, {"index": [0, 0], "value": 0, "row_value": items.values.tolist()[0]})
    assert tab.item_texts(studio, evaluation["id"], evt) == (first["query"], first["response"])
    unchanged = tab.poll(studio, "r", "longen", "type", evaluation["id"], key)
    assert unchanged[1] == key and all(isinstance(x, type(gr.skip())) for x in unchanged[2:])


def test_bad_requests_are_refused_before_anything_starts(studio):
    for args, message in [((None, "generator", "LonGen", None, None), "pick the iteration"),
                          ((0, "generator", "LonGen", 2.5, None), "item limit must be a whole number"),
                          ((0, "generator", "LonGen", None, 0), "max new tokens must be a whole number"),
                          ((7, "generator", "LonGen", None, None), "has no iteration 7")]:
        status, _ = tab.start_eval(studio, "r", *args, *NO_JUDGE)
        assert status.startswith("**Not started**") and message in status, status
    assert tab.start_eval(studio, None, 0, "generator", "", None, None, *NO_JUDGE)[0] == (
        "**Not started**: pick a run first")
    assert studio.worker.state()["label"] == "" and studio.store.list_jobs(studio.store.get_run("r")["id"]) == []
    assert tab.command_preview(studio, "r", None, "generator", "", None, None, *NO_JUDGE).startswith("(not ready:")
    judged = tab.command_preview(studio, "r", 0, "extender", "quanshr/LonGen", None, None, "judge-m", "openai",
                                 "http://127.0.0.1:9/v1")
    assert "--role extender" in judged and "quanshr/LonGen" in judged and "judge-m" in judged
    assert "http://127.0.0.1:9/v1" in judged
    assert tab.progress_markdown(studio, "r") == "No evaluation yet for this run."


def test_an_uploaded_benchmark_is_checked_then_kept_and_offered(studio, tmp_path):
    good = tmp_path / "mine.jsonl"
    good.write_text("".join(line for line in LONGEN.open(encoding="utf-8").readlines()[:3]),
                    encoding="utf-8")
    message, picker = tab.upload_benchmark(studio, str(good))
    assert message == "Benchmark kept: 3 items checked."
    kept = picker["value"]
    assert kept.startswith(str(tab.benchmark_dir(studio))) and kept in picker["choices"]
    assert open(kept, encoding="utf-8").read() == good.read_text(encoding="utf-8")
    assert f"--benchmark {kept}" in tab.command_preview(studio, "r", 0, "generator", kept, None, None, *NO_JUDGE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "about", "constraint": "around 300 words", "query": "Write."}\n{"type": "sideways"}\n',
                   encoding="utf-8")
    message, picker = tab.upload_benchmark(studio, str(bad))
    assert message.startswith("**Upload refused**") and ":2:" in message and isinstance(picker, type(gr.skip()))
    assert sorted(p.name for p in tab.benchmark_dir(studio).iterdir()) == [kept.rsplit("/", 1)[1]]
    assert tab.upload_benchmark(studio, None) == ("", gr.skip())


def test_charts_escape_benchmark_labels_and_say_when_empty():
    evaluation = {"id": 1, "iteration_idx": 0, "role": "generator", "benchmark": "<b>mine</b>",
                  "summary": {"longen": {"by_language": {"<script>x</script>": 0.5}}}}
    fig = charts.bucket_figure([evaluation], "longen", "language")
    assert fig.data[0].name == "iteration 0 · generator · &lt;b&gt;mine&lt;/b&gt;"
    assert list(fig.data[0].x) == ["&lt;script&gt;x&lt;/script&gt;"]
    assert "no scored evaluation yet" in json.dumps(charts.bucket_figure([evaluation], "sl", "type").to_dict())
    assert "no answered item yet" in json.dumps(charts.scatter_figure(None, []).to_dict())


def test_the_next_iteration_can_be_evaluated_once_the_latest_is_trained(studio):
    run = studio.store.get_run("r")
    iteration = studio.store.latest_iteration(run["id"])
    studio.store.register_checkpoint(run_id=run["id"], iteration_id=iteration["id"], role="generator",
                                     path="/ckpt/generator", base_model="no-such-model", kind="full", data_size=3)
    studio.store.update_iteration(iteration["id"], status="trained")
    assert tab.iteration_choices(studio.store, "r") == [0, 1]
    assert tab.iteration_choices(studio.store, None) == []
