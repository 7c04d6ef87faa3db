"""The Review tab's navigation, word diff, filters and bulk decisions (handlers on a real store), its keyboard
shortcuts, and its endpoints through a real Gradio server."""

import pytest
from gradio_client import Client

import app
from reviewing import Session, value
from storage import StoreError
from studios import studio_for
from ui import review_handlers as review
from ui.hotkeys import HEAD, KEYS


# -- navigation, diff, filters, bulk ---------------------------------------------------------------------------------

def test_next_skips_decided_samples_and_prev_steps_back(reviewed):
    s = Session(reviewed)
    assert s.prev()["message"] == "this is the first sample of the filter"
    s.open(2)
    s.accept()
    assert s.sample_id == 3
    s.open(1)
    assert s.next()["info"].startswith("Sample 3") and s.prev()["info"].startswith("Sample 2")
    s.open(8)
    assert s.next()["message"] == "this is the last sample of the filter"
    assert s.open(99)["message"] == "sample 99 is not in the filtered list" and s.sample_id == 8


def test_word_diff_shows_only_when_toggled(reviewed):
    s = Session(reviewed, diff_on=True)
    spans = value(s.view["diff"])
    sample = reviewed.get_sample(1)
    assert s.view["diff"]["visible"] is True
    assert "".join(t for t, c in spans if c != "removed") == sample["final_expansion"]
    assert review.show_diff(studio_for(reviewed), s.cursor, False) == {"__type__": "update", "visible": False}
    assert review.show_diff(studio_for(reviewed), s.cursor, True)["value"] == spans


@pytest.mark.parametrize("filters, expected", [
    ({}, [1, 2, 3, 4, 5]),
    ({"status": "passed"}, [1, 4]),
    ({"status": "failed gates"}, [2, 3, 5]),
    ({"status": "dropped_short"}, [2]),
    ({"gate": "expand/growth"}, [5]),
    ({"language": "zh"}, [4, 5]),
    ({"min_words": 20, "max_words": 40}, [1, 3, 5]),  # final words, else initial words
    ({"min_growth": 1.2, "max_growth": 3.5}, [1, 2]),
    ({"search": "calm"}, [1]),
    ({"search": "sea"}, [1, 2, 3]),  # the instruction's text counts too
    ({"search": "100%"}, [1]),
    ({"search": "_"}, []),  # LIKE wildcards are literal
    ({"language": "en", "status": "passed", "min_words": 25}, [1]),
])
def test_filters_select_in_sql(crafted, filters, expected):
    s = Session(crafted, run="c")
    s.apply(**filters)
    assert s.ids == expected and s.message == f"{len(expected)} samples match"
    assert (s.sample_id == expected[0]) if expected else s.view["info"] == "No sample to show."


def test_decision_filter_follows_effective_verdicts_and_bad_ranges_change_nothing(crafted):
    s = Session(crafted, "ann", run="c")
    s.accept()
    s.reject(["too_short"])
    assert s.apply(verdict="accept") and s.ids == [1]
    assert s.apply(verdict="reject") and s.ids == [2]
    assert s.apply(verdict="pending") and s.ids == [3, 4, 5]
    s.apply(min_words=50, max_words=10)
    assert s.message == "minimum words (50) is more than maximum words (10)" and s.ids == [3, 4, 5]


def test_bulk_accept_and_reject_the_filtered_set_after_a_confirmation(reviewed):
    s = Session(reviewed, "alice")
    s.apply(status="passed")
    kept = [x["id"] for x in reviewed.iteration_samples(1, ("kept",))]
    assert s.ids == kept
    asked = s.bulk_ask("accept")
    assert asked["bulk_message"] == f"Accept {len(kept)} filtered samples?" and asked["bulk_confirm"]["visible"]
    assert reviewed.decision_history(kept[0]) == []
    v = s.bulk_confirm()
    assert v["message"] == f"accepted {len(kept)} samples; {len(kept)} samples match the filters now"
    assert v["bulk_confirm"]["visible"] is False
    assert reviewed.verdict_counts(1) == {"accept": len(kept)} and s.bulk == {}
    assert {d["user"] for i in kept for d in reviewed.decision_history(i)} == {"alice"}
    assert s.bulk_ask("reject")["bulk_message"] == "choose at least one reason to reject"
    rejecting = s.bulk_ask("reject", ["repetitive"])["bulk_message"]
    assert rejecting.startswith(f"Reject {len(kept)} filtered samples as repetitive?")
    assert f"{len(kept)} of them already have the other verdict, which this replaces" in rejecting
    assert review.cancel_bulk()[1:3] == ("Bulk action cancelled.", {"__type__": "update", "visible": False})
    s.apply(search="no such text anywhere")
    assert s.bulk_ask("accept")["bulk_message"] == "No sample matches the filters."


def test_after_a_bulk_action_the_list_keeps_only_the_samples_that_still_match(reviewed):
    s = Session(reviewed, "alice")
    s.apply(verdict="pending", status="passed")
    kept = list(s.ids)
    s.bulk_ask("accept")
    v = s.bulk_confirm()
    assert s.ids == [] and v["message"] == f"accepted {len(kept)} samples; 0 samples match the filters now"
    assert reviewed.verdict_counts(1) == {"accept": len(kept)}
    s.apply(verdict="pending")
    left = list(s.ids)
    s.bulk_ask("reject", ["repetitive"])
    s.bulk_confirm()
    assert left and s.ids == [] and reviewed.verdict_counts(1) == {"accept": len(kept), "reject": len(left)}


def test_a_batch_with_an_unknown_sample_writes_nothing(reviewed):
    with pytest.raises(StoreError, match="no sample with id 999"):
        reviewed.record_decisions([{"sample_id": 1, "verdict": "accept"}, {"sample_id": 999, "verdict": "accept"}])
    assert reviewed.decision_history(1) == []


def test_bulk_and_quick_decisions_in_a_large_iteration_are_all_recorded(store):
    """Speed at scale is measured by bench/review_scale.py; here: nothing is lost or doubled."""
    run = store.create_run("big", "m", "m", "transformers", "demo", {}, [{"text": "Write.", "language": "en"}])
    iteration = store.latest_iteration(run["id"])
    instruction = store.iteration_instructions(iteration["id"])[0]["id"]
    store.save_samples([{"run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": instruction,
                         "slot": i, "language": "en", "status": "kept", "initial_response": "Some words here.",
                         "initial_words": 3, "initial_attempts": 1} for i in range(3000)])
    s = Session(store, "alice", run="big")
    s.bulk_ask("accept")
    s.bulk_confirm()
    assert store.verdict_counts(iteration["id"]) == {"accept": 3000}
    s.apply(verdict="accept")
    for i in range(40):  # reject, undo that very reject (it reopens the sample), reject it again, ...
        s.undo() if i % 2 else s.reject(["other"])
    assert store.verdict_counts(iteration["id"]) == {"accept": 2999, "pending": 1}  # undo withdraws, never restores
    assert store.one("SELECT count(*) AS n FROM decisions")["n"] == 3040
    assert s.undo()["message"] == "undo: you have no decision to withdraw here"


# -- keyboard and the real server -------------------------------------------------------------------------------

def test_the_shortcut_script_maps_keys_to_the_tab_buttons():
    assert HEAD.startswith("<style>") and HEAD.endswith("</script>") and app.launch_options()["head"].startswith(HEAD)
    assert "#review-help-text { position: fixed" in HEAD and 'event.key === "Escape"' in HEAD
    for key, elem_id in KEYS.items():
        assert f'"{key}": "{elem_id}"' in HEAD
    for needed in ("review-save-edit", "#review-reasons input[type=checkbox]", "#review-final textarea",
                   "window.__selflengthenReviewKeys", "event.ctrlKey || event.metaKey || event.altKey"):
        assert needed in HEAD


@pytest.mark.slow
def test_review_endpoints_on_a_real_server_record_the_logged_in_curator(reviewed):
    demo = app.build_app(reviewed, auth=True)
    demo.launch(prevent_thread_lock=True, auth=[("alice", "pw")], **app.launch_options())
    try:
        client = Client(demo.local_url, auth=("alice", "pw"), verbose=False)
        endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert {"/review_load", "/review_accept", "/review_reject"} <= set(endpoints)
        loaded = client.predict("r", False, api_name="/review_load")
        assert any(isinstance(x, str) and x.startswith("Sample 1 · 1 of 8") for x in loaded)
        accepted = client.predict("r", "via the API", False, api_name="/review_accept")
        assert "accepted sample 1" in accepted and "1 of 8 decided · 1 accepted · 0 rejected" in accepted
        refused = client.predict("r", [], "", False, api_name="/review_reject")
        assert "choose at least one reason to reject" in refused
    finally:
        demo.close()
    [row] = reviewed.decision_history(1)
    assert (row["verdict"], row["user"], row["note"]) == ("accept", "alice", "via the API")
