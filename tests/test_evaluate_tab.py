"""Evaluate tab: the CLI twin launched through the job worker on a real tiny model, the results drawn from the
store (table, per-bucket bars and the three length scores side by side, words vs target per range,
length-vs-target scatter, items), uploads checked before they are kept, and bad input refused before anything
starts."""

import json
import math
import time

import gradio as gr
import pytest

from paths import LONGEN
from selflengthen.backends.base import Completion
from selflengthen.backends.fake import ScriptedBackend
from selflengthen.config import preset_config
from selflengthen.evaluation.job import run_eval_job
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
    progress, key, table, buckets, bucket_table, lengths, chosen, scatter, items = tab.poll(
        studio, "r", "longen", "type", None, [])
    assert "eval · done · stage answer 4/4" in progress.replace("\\", "")
    assert table.values.tolist()[0][1:6] == [0, "generator", "LonGen", "4/4", "done"]
    assert 0 <= table["LonGen"][0] <= 1 and 0 <= table["S_l"][0] <= 100 and 0 < table["LIFEBench"][0] <= 100
    [evaluation] = studio.store.list_evaluations(studio.store.get_run("r")["id"])
    answered = studio.store.eval_items(evaluation["id"])
    # A limit draws the items across LonGen's groups: 4 items of 4 different (language, type, range) groups.
    assert len({(i["language"], i["type"], i["length_range"]) for i in answered}) == 4
    assert bucket_table.values.tolist()[0][1] == "iteration 0 · generator · LonGen"
    assert set(lengths.data[0].x) == {i["length_range"] for i in answered} and lengths.data[1].name == "target"
    assert chosen["value"] == evaluation["id"] and chosen["choices"][0][1] == evaluation["id"]
    assert [t.name for t in buckets.data] == ["iteration 0 · generator · LonGen"]
    assert set(buckets.data[0].x) == {i["type"] for i in answered}
    assert [t.name for t in scatter.data][0] == "target interval" and scatter.data[-1].name == "output = target"
    assert items["words"].tolist() == [i["words"] for i in answered]
    assert items.shape[0] == 4
    by_language, _ = tab.bucket_views(studio, "r", "sl", "language")
    languages = list(by_language.data[0].x)
    assert set(languages) <= {i["language"] for i in answered}
    assert by_language.data[0].y[0] == evaluation["summary"]["sl"]["by_language"][languages[0]]
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
                  "summary": {"longen": {"by_language": {"<script>x</script>": 0.5}},
                              "length_by_range": {"<i>2-4k</i>": {"words": 10.0, "target": 20.0, "n": 1}}}}
    fig = charts.bucket_figure([evaluation], "longen", "language")
    assert fig.data[0].name == "iteration 0 · generator · &lt;b&gt;mine&lt;/b&gt;"
    assert list(fig.data[0].x) == ["&lt;script&gt;x&lt;/script&gt;"]
    lengths = charts.lengths_figure([evaluation])
    assert lengths.data[0].name == fig.data[0].name and list(lengths.data[0].x) == ["&lt;i&gt;2-4k&lt;/i&gt;"]
    assert "no scored evaluation yet" in json.dumps(charts.bucket_figure([evaluation], "sl", "type").to_dict())
    assert "no scored evaluation yet" in json.dumps(charts.bucket_figure([evaluation], "lifebench", "type").to_dict())
    assert "no answered item yet" in json.dumps(charts.scatter_figure(None, []).to_dict())
    assert "no answered evaluation yet" in json.dumps(charts.lengths_figure([{**evaluation, "summary": {}}]).to_dict())
    # An evaluation summarized before LIFEBench: its LonGen shows, its LIFEBench is empty, nothing breaks.
    assert charts.bucket_rows([evaluation], "language").values.tolist() == [
        ["<script>x</script>", "iteration 0 · generator · <b>mine</b>", 0.5, None, None]]
    assert charts.bucket_rows([evaluation], "type").empty


BENCH = [{"language": "en", "range": "2-4k", "type": "about", "constraint": "around 20 words", "query": "Q1"},
         {"language": "zh", "range": "4-6k", "type": "range", "constraint": "20字至40字", "query": "Q2"},
         {"language": "en", "range": "4-6k", "type": "below", "constraint": "less than 20 words", "query": "Q3"}]


def scripted_words(role: str, model: str, config) -> ScriptedBackend:
    """The 'base' generator answers in 10 words, the 'final' extender in 20."""
    words = 10 if role == "generator" else 20
    return ScriptedBackend(model, responder=lambda prompt: Completion("word " * words))


def test_base_and_final_models_show_their_three_scores_and_lengths_side_by_side(studio, tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in BENCH), encoding="utf-8")
    for role in ("generator", "extender"):
        run_eval_job(studio.store, "r", 0, role=role, benchmark=str(bench), factory=scripted_words)
    table, buckets, bucket_table, lengths, chosen, scatter, items = tab.results(studio, "r", "lifebench", "range",
                                                                                None)
    base, final = f"iteration 0 · generator · {bench}", f"iteration 0 · extender · {bench}"
    # 10 words: about 20 -> LD -0.5; range 20-40 -> T 30, LD -2/3; at most 20 -> met. 20 words: LD 0, -1/3, met.
    base_scores = [100 * math.exp(-2.5), 100 * math.exp(-10 / 3), 100.0]
    final_scores = [100.0, 100 * math.exp(-5 / 3), 100.0]
    assert table["LIFEBench"].tolist() == [round(sum(base_scores) / 3, 1), round(sum(final_scores) / 3, 1)]
    assert table.columns.tolist()[6:9] == ["LonGen", "S_l", "LIFEBench"]
    assert bucket_table.values.tolist() == [  # range, evaluation, LonGen, S_l (about and range only), LIFEBench
        ["2-4k", base, 0.25, 50.0, round(base_scores[0], 1)],
        ["2-4k", final, 1.0, 100.0, 100.0],
        ["4-6k", base, 0.5, 0.0, round((base_scores[1] + 100) / 2, 1)],
        ["4-6k", final, 1.0, 75.0, round((final_scores[1] + 100) / 2, 1)]]
    assert [t.name for t in buckets.data] == [base, final] and list(buckets.data[0].x) == ["2-4k", "4-6k"]
    assert [t.name for t in lengths.data] == [base, "target", final, "target"]
    assert [list(t.y) for t in lengths.data] == [[10.0, 10.0], [20.0, 25.0], [20.0, 20.0], [20.0, 25.0]]
    assert [t.showlegend for t in lengths.data[1::2]] == [True, False]
    assert chosen["value"] == max(e["id"] for e in studio.store.list_evaluations(studio.store.get_run("r")["id"]))
    assert items["LIFEBench"].tolist() == [round(s, 1) for s in final_scores]
    figure, by_type = tab.bucket_views(studio, "r", "lifebench", "type")
    assert by_type["bucket"].tolist() == ["about", "about", "range", "range", "below", "below"]
    assert figure.layout.yaxis.range == (0, 105)


def test_the_runs_base_and_final_models_can_be_evaluated_from_the_tab(studio):
    base = tab.command_preview(studio, "r", 0, "base", "LonGen", 3, None, *NO_JUDGE)
    assert base.endswith("--iteration 0 --role base --limit 3")
    final = tab.command_preview(studio, "r", 0, "final", "LonGen", 3, None, *NO_JUDGE)
    assert final.startswith("(not ready:") and "no final model yet" in final


def test_the_next_iteration_can_be_evaluated_once_the_latest_is_trained(studio):
    run = studio.store.get_run("r")
    iteration = studio.store.latest_iteration(run["id"])
    studio.store.register_checkpoint(run_id=run["id"], iteration_id=iteration["id"], role="generator",
                                     path="/ckpt/generator", base_model="no-such-model", kind="full", data_size=3)
    studio.store.update_iteration(iteration["id"], status="trained")
    assert tab.iteration_choices(studio.store, "r") == [0, 1]
    assert tab.iteration_choices(studio.store, None) == []
