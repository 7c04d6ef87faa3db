"""Insights: distinct-n known answers, chart data from a real store, the figures, and the tab's refresh handler."""

import json
import statistics

import pytest
from gradio_client import Client

import app
from scripted import scripted_backend
from selflengthen.config import preset_config
from selflengthen.runs import insights
from selflengthen.stages.pipeline import STEPS, run_iteration
from storage import Store
from studios import studio_for
from ui.insights import FIGURES, insights_view, reasons_figure

XSS_REASON = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize("texts, expected", [
    (["the cat sat on the mat"], 1.0),                  # 5 bigrams, all different
    (["a b a b"], round(2 / 3, 4)),                     # (a b) (b a) (a b)
    (["a b", "b a"], 1.0),                              # no bigram across two texts
    (["a b", "a b"], 0.5),
    (["你好你好"], round(2 / 3, 4)),                     # each character is a word: 你好 好你 你好
    (["春天来了。春天来了。"], round(5 / 9, 4)),          # 10 characters, 9 bigrams, 5 distinct (。春 once)
    (["GPT-4 写了 GPT-4 写了"], round(3 / 5, 4)),       # GPT-4 写 了 GPT-4 写 了: 5 bigrams, 3 distinct
    (["one"], None), ([], None), ([""], None),
])
def test_distinct_2_known_answers(texts, expected):
    assert insights.distinct_n(texts, 2) == expected


def test_distinct_n_for_other_n_counts_the_words_count_words_counts():
    from selflengthen.method.words import count_words, split_words

    assert insights.distinct_n(["a b c a b c"], 3) == 0.75  # abc bca cab abc
    assert insights.distinct_n(["a a a"], 1) == round(1 / 3, 4)
    text = "Mixed 中文 text，with punctuation。 and 300字"
    assert split_words(text) == ["Mixed", "中", "文", "text", "，", "with", "punctuation", "。", "and", "300", "字"]
    assert count_words(text) == len(split_words(text)) == 11
    assert insights.distinct_n([text], 1) == 1.0


def _iteration(store, run, idx, **responder):
    iteration = store.latest_iteration(run["id"]) if idx == 0 else store.create_iteration(
        run["id"], idx, f"model-{idx}", f"model-{idx}", run["config"])
    backend = scripted_backend(**responder)
    run_iteration(store, run, iteration, list(STEPS), factory=lambda *a: backend)
    return iteration


@pytest.fixture
def store(store):
    """A run with two scripted iterations (the second writes longer answers) and some curator decisions."""
    config = preset_config("demo", {"augment": {"n_instructions": 4}})
    run = store.create_run("r", "m", "m", "transformers", "demo", config.to_dict(),
                           [{"text": "Write about the sea.", "language": "en"},
                            {"text": "Explain how cities grow.", "language": "en"}])
    first = _iteration(store, run, 0)
    _iteration(store, run, 1, response_suffix=", and then a much longer closing with many more words in it.")
    ids = [s["id"] for s in store.iteration_samples(first["id"])]
    store.record_decisions([
        {"sample_id": ids[0], "verdict": "accept"}, {"sample_id": ids[1], "verdict": "accept"},
        {"sample_id": ids[2], "verdict": "reject", "reasons": ["too_short", "repetitive"]},
        {"sample_id": ids[3], "verdict": "reject", "reasons": ["too_short"]},
        {"sample_id": ids[4], "verdict": "reject", "reasons": [XSS_REASON]},
        {"sample_id": ids[5], "verdict": "reject"},
        {"sample_id": ids[5], "verdict": "pending"},  # undone: back to pending, its reasons no longer count
    ], user="tester")
    return store


def test_chart_data_agrees_with_the_store(store):
    run = store.get_run("r")
    data = insights.gather(store, "r")
    assert [d["iteration"] for d in data] == [0, 1]
    for item, iteration in zip(data, store.list_iterations(run["id"])):
        samples = store.iteration_samples(iteration["id"])
        stats = store.word_stats(iteration["id"])
        assert item["samples"] == len(samples) == 8
        assert item["initial_words"] == [s["initial_words"] for s in samples]
        assert (item["initial_mean"], item["final_mean"]) == (stats["initial_words_mean"], stats["final_words_mean"])
        assert (item["initial_median"], item["final_median"]) == (stats["initial_words_median"],
                                                                  stats["final_words_median"])
        assert item["passed"] == sum(s["status"] == "kept" for s in samples)
        reasons = [s["reject_reason"] for s in samples if s["reject_reason"]]
        assert item["gate_reasons"] == {r: reasons.count(r) for r in set(reasons)}
        texts = [s["initial_response"] for s in samples]
        assert item["distinct2_initial"] == insights.distinct_n(texts)
    first, second = data
    assert (first["accepted"], first["rejected"], first["pending"]) == (2, 3, 3)
    assert first["curator_reasons"] == {"too_short": 2, "repetitive": 1, XSS_REASON: 1}
    assert second["initial_mean"] > first["initial_mean"]  # the scripted second generator writes longer answers
    assert second["curator_reasons"] == {} and second["pending"] == 8


def test_gate_pass_rates_count_the_samples_that_reached_each_check(store):
    first = insights.gather(store, "r")[0]
    samples = store.iteration_samples(store.get_iteration(store.get_run("r")["id"], 0)["id"])
    gates = first["gates"]
    assert list(gates)[:4] == ["generate/non_empty", "generate/not_truncated", "generate/ends_with_punctuation",
                               "generate/no_repeated_ngram"]
    assert gates["generate/non_empty"] == {"passed": 8, "seen": 8, "rate": 1.0}
    expanded = [s for s in samples if s["status"] in ("kept", "dropped_short")]
    assert gates["filter/drop_short"]["seen"] == len(expanded)
    assert gates["filter/drop_short"]["passed"] == sum(s["status"] == "kept" for s in samples)
    assert gates["expand/growth"]["passed"] == len(expanded)


def test_figures_plot_the_stored_numbers(store):
    data = insights.gather(store, "r")
    *figures, table = insights_view(studio_for(store), "r")
    words, growth, acceptance, reasons, gates, distinct = figures
    assert [t.name for t in words.data] == ["initial response", "final expansion"]
    box = words.data[0]  # boxes drawn from each iteration's statistics, not from every sample's count
    assert list(box.x) == [f"iteration {d['iteration']}" for d in data]
    assert list(box.median) == [statistics.median(d["initial_words"]) for d in data]
    assert list(box.mean) == [round(statistics.fmean(d["initial_words"]), 1) for d in data]
    assert all(lo <= q1 <= med <= q3 <= hi for lo, q1, med, q3, hi in
               zip(box.lowerfence, box.q1, box.median, box.q3, box.upperfence))
    means = {t.name: list(t.y) for t in growth.data}
    assert means["initial response (mean)"] == [d["initial_mean"] for d in data]
    assert means["final expansion (median)"] == [d["final_median"] for d in data]
    shares = {t.name: list(t.y) for t in acceptance.data}
    assert shares == {"accepted": [25.0, 0.0], "rejected": [37.5, 0.0], "pending": [37.5, 100.0]}
    labels = set(reasons.data[0].y)
    assert {"curator: too_short", "curator: repetitive", "gate: filter/drop_short"} <= labels
    assert "curator: &lt;img src=x onerror=alert(1)&gt;" in labels and not any("<img" in y for y in labels)
    assert [t.name for t in gates.data] == ["iteration 0", "iteration 1"]
    assert dict(zip(gates.data[0].y, gates.data[0].x))["generate/non_empty"] == 100.0
    assert [list(t.y) for t in distinct.data] == [[d[key] for d in data] for key in (
        "distinct2_initial", "repeats_initial", "distinct2_final", "repeats_final")]
    assert all(0 <= d["repeats_initial"] <= 1 for d in data)
    assert table.values.tolist()[0][:4] == [0, 8, data[0]["passed"], 2]
    assert list(table.columns) == insights.SUMMARY_COLUMNS


def _annotation_texts(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def test_an_empty_or_unknown_run_gives_no_data_figures(tmp_path):
    store = Store(tmp_path / "studio.db")
    store.create_run("empty", "m", "m", "transformers", "demo", preset_config("demo").to_dict(),
                     [{"text": "Write about the sea.", "language": "en"}])
    for name in ("empty", "missing", None):
        *figures, _ = insights_view(studio_for(store), name)
        assert len(figures) == len(FIGURES)
        assert all(_annotation_texts(f) == ["no data yet"] and not f.data for f in figures)
    assert insights_view(studio_for(store), "empty")[-1].values.tolist() == [[0, 0, 0, 0, None, None, None, None]]
    assert insights_view(studio_for(store), "missing")[-1].empty


def test_reasons_figure_says_when_nothing_was_rejected():
    item = {"iteration": 0, "samples": 3, "curator_reasons": {}, "gate_reasons": {}}
    assert _annotation_texts(reasons_figure([item])) == ["no rejections yet"]


@pytest.mark.slow
def test_refresh_handler_through_a_real_gradio_server(store):
    demo = app.build_app(store)
    demo.launch(prevent_thread_lock=True)
    try:
        client = Client(demo.local_url, verbose=False)
        result = client.predict("r", api_name="/insights_refresh")
        *plots, table = result
        assert len(plots) == len(FIGURES)
        growth = json.loads(plots[1]["plot"])
        assert growth["data"][0]["name"] == "initial response (mean)"
        assert table["data"][0][:2] == [0, 8] and table["headers"] == insights.SUMMARY_COLUMNS
        empty = client.predict(None, api_name="/insights_refresh")  # no run picked yet
        assert "no data yet" in empty[0]["plot"]
    finally:
        demo.close()


def test_the_view_is_drawn_again_only_when_the_run_changed_and_never_on_a_hidden_tab(store):
    studio = studio_for(store)
    first = insights_view(studio, "r")
    assert insights_view(studio, "r") is first  # nothing changed: the drawn view is reused
    assert all(out == gr_skip() for out in insights_view(studio, "r", shown=False))  # another tab is shown
    iteration = store.latest_iteration(store.require_run("r")["id"])
    sample = store.iteration_samples(iteration["id"])[0]
    store.record_decision(sample["id"], "reject", reasons=["off_topic"], user="ann")
    again = insights_view(studio, "r")
    assert again is not first and again[-1].equals(insights_view(studio, "r")[-1])
    rejected = {t.name: list(t.y) for t in again[2].data}["rejected"]
    assert rejected[-1] > 0  # the new decision is in the redrawn acceptance chart


def gr_skip():
    import gradio as gr

    return gr.skip()
