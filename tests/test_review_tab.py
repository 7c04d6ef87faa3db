"""The Review tab's handlers on a real SQLite store (scripted backend), and through a real Gradio server."""

import re
from types import SimpleNamespace

import pytest
from gradio_client import Client

import app
from scripted import reviewed_run
from storage import StoreError
from studios import studio_for
from ui import review_handlers as review
from ui.hotkeys import HEAD, KEYS

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def value(output):
    """The value a handler gave a component (a plain value, or the value of a gr.update)."""
    return output.get("value") if isinstance(output, dict) and output.get("__type__") == "update" else output


class Session:
    """One curator's browser tab: keeps the states Gradio keeps and feeds them back into each handler."""

    def __init__(self, store, user="", run="r", diff_on=False):
        self.studio, self.store, self.run, self.diff_on = studio_for(store), store, run, diff_on
        self.request = SimpleNamespace(username=user)
        self.bulk = {}
        self.take(review.load_run(self.studio, run, diff_on, self.request), review.LOAD_FIELDS)

    def take(self, outputs, fields=review.VIEW_FIELDS):
        self.view = dict(zip(fields, outputs))
        if "ids" in fields and isinstance(self.view["ids"], list):
            self.ids = self.view["ids"]
        self.cursor = self.view["cursor"]
        if "bulk" in fields and isinstance(self.view["bulk"], dict) and "__type__" not in self.view["bulk"]:
            self.bulk = self.view["bulk"]
        return self.view

    @property
    def sample_id(self):
        return self.cursor["sample_id"]

    @property
    def message(self):
        return self.view["message"]

    def nav(self):
        return self.studio, self.run, self.ids, self.cursor

    def accept(self, note=""):
        return self.take(review.accept(*self.nav(), note, self.diff_on, self.request))

    def reject(self, reasons, note=""):
        return self.take(review.reject(*self.nav(), reasons, note, self.diff_on, self.request))

    def save_edit(self, text):
        return self.take(review.save_edit(*self.nav(), text, "", self.diff_on, self.request))

    def undo(self):
        return self.take(review.undo(*self.nav(), self.diff_on, self.request))

    def next(self):
        return self.take(review.go_next(*self.nav(), self.diff_on, self.request))

    def prev(self):
        return self.take(review.go_prev(*self.nav(), self.diff_on))

    def open(self, sample_id):
        return self.take(review.open_sample(self.studio, self.ids, self.cursor, sample_id, self.diff_on))

    def apply(self, **filters):
        form = {"verdict": "all", "status": "all", "gate": "all", "language": "all", "min_words": None,
                "max_words": None, "min_growth": None, "max_growth": None, "search": "", **filters}
        iteration = filters.pop("iteration", 0)
        outputs = review.apply_filters(self.studio, self.run, iteration, *[form[f] for f in review.FILTER_FIELDS],
                                       self.ids, self.cursor, self.diff_on, self.request)
        return self.take(outputs, review.APPLY_FIELDS)

    def bulk_ask(self, verdict, reasons=()):
        outputs = review.ask_bulk_accept(self.studio, self.ids) if verdict == "accept" else \
            review.ask_bulk_reject(self.studio, self.ids, reasons)
        self.bulk = outputs[0]
        return dict(zip(review.BULK_FIELDS, outputs))

    def bulk_confirm(self):
        outputs = review.confirm_bulk(*self.nav(), self.bulk, "", self.diff_on, self.request)
        return self.take(outputs, review.VIEW_FIELDS + review.BULK_FIELDS)


@pytest.fixture
def reviewed(store):
    """Run 'r' with one iteration ready for review: 8 samples, 4 kept and 4 dropped by the drop-short filter."""
    reviewed_run(store, seeds=(f"Write about {XSS} and the sea.", "Explain how cities grow over the centuries."))
    return store


CRAFTED = [  # language, status, reject_reason, initial words, final words, growth, final text
    ("en", "kept", None, 10, 30, 3.0, f"A CALM sea at 100% dawn. {XSS}"),
    ("en", "dropped_short", "filter/drop_short", 10, 15, 1.5, "Short sea text."),
    ("en", "failed_generation", "generate/no_repeated_ngram", 40, None, None, None),
    ("zh", "kept", None, 20, 80, 4.0, "春天来了。"),
    ("zh", "failed_expansion", "expand/growth", 20, 22, 1.1, "春天。"),
]


@pytest.fixture
def crafted(store):
    """Run 'c': five samples of varied language, status, length and growth (ids 1-5 in CRAFTED's order)."""
    run = store.create_run("c", "m", "m", "transformers", "demo", {},
                           [{"text": "Write about the sea.", "language": "en"},
                            {"text": "写一篇关于春天的文章。", "language": "zh"}])
    iteration = store.latest_iteration(run["id"])
    instructions = {i["language"]: i["id"] for i in store.iteration_instructions(iteration["id"])}
    store.save_samples([
        {"run_id": run["id"], "iteration_id": iteration["id"], "instruction_id": instructions[lang], "slot": slot,
         "language": lang, "status": status, "reject_reason": reason, "initial_response": f"Initial {XSS} words.",
         "initial_words": initial, "initial_attempts": 1, "final_expansion": final, "final_words": words,
         "growth": growth, "rounds": 1 if final else 0}
        for slot, (lang, status, reason, initial, words, growth, final) in enumerate(CRAFTED)])
    return store


# -- loading and showing ---------------------------------------------------------------------------------------

def test_load_opens_the_first_pending_sample_with_its_gates_and_suggestion(reviewed):
    s = Session(reviewed, "alice")
    v = s.view
    assert s.ids == list(range(1, 9)) and s.sample_id == 1
    assert v["info"].startswith("Sample 1 · 1 of 8 · verdict: pending")
    assert v["progress"] == "0 of 8 decided · 0 accepted · 0 rejected"
    assert value(v["iteration"]) == 0 and v["verdict"] == "all" and value(v["gate"]) == "all"
    assert v["gate"]["choices"] == ["all", "filter/drop_short"] and v["language"]["choices"] == ["all", "en"]
    status = reviewed.get_sample(1)["status"]
    assert v["suggested"] == ("suggested: accept" if status == "kept" else "suggested: reject (too_short)")
    gates = v["gates"].values.tolist()
    assert ["generate", "non_empty", "pass", ""] in gates and gates[-1][:2] == ["filter", "drop_short"]
    assert len(value(v["listing"])) == 8 and list(value(v["listing"]).columns)[:3] == ["id", "status", "verdict"]
    assert v["guidelines"] == review.NO_GUIDELINES and v["overlap"] == 1
    assert v["agreement"] == "Agreement in iteration 0: needs two curators (no decisions yet)"
    assert v["diff"]["visible"] is False and v["save_edit"]["visible"] is False


def test_model_text_comes_back_as_plain_text(crafted):
    s = Session(crafted, run="c")
    assert s.view["instruction"] == "Write about the sea."
    assert XSS in value(s.view["initial"]) and XSS in value(s.view["final"])
    assert value(s.view["final"]).startswith("A CALM sea")
    hostile = Session(crafted, XSS, run="c")
    hostile.accept()
    s.open(1)
    assert "<img" not in s.view["info"] and "&lt;img src=x onerror=alert(2)&gt;" in s.view["info"]


def test_opening_the_tab_loads_what_is_new_and_otherwise_changes_nothing(reviewed):
    first = dict(zip(review.LOAD_FIELDS, review.open_tab(studio_for(reviewed), "r", [], review.new_cursor(), False)))
    assert first["ids"] == list(range(1, 9)) and first["info"].startswith("Sample 1 · 1 of 8")
    unchanged = review.open_tab(studio_for(reviewed), "r", first["ids"], first["cursor"], False)
    assert all(x == {"__type__": "update"} for x in unchanged)
    run = reviewed.require_run("r")
    reviewed.create_iteration(run["id"], 1, "m", "m", {})
    newer = dict(zip(review.LOAD_FIELDS, review.open_tab(studio_for(reviewed), "r", first["ids"], first["cursor"], False)))
    assert value(newer["iteration"]) == 1 and newer["ids"] == []
    # A late change event for the run the tab shows already changes nothing; another run loads.
    assert all(x == {"__type__": "update"} for x in review.run_changed(studio_for(reviewed), "r", newer["cursor"], False))
    assert dict(zip(review.LOAD_FIELDS, review.run_changed(studio_for(reviewed), None, newer["cursor"], False)))["ids"] == []


def test_unknown_run_and_empty_iteration_show_a_message(store, reviewed):
    assert dict(zip(review.LOAD_FIELDS, review.load_run(studio_for(store), "nope", False)))["message"] == "Pick a run to review."
    store.create_run("empty", "m", "m", "transformers", "demo", {}, [{"text": "Write.", "language": "en"}])
    s = Session(store, run="empty")
    assert s.ids == [] and s.view["info"] == "No sample to show." and "No sample matches" in s.message
    assert s.accept()["message"] == "no sample is open"


# -- decisions --------------------------------------------------------------------------------------------------

def test_accept_records_the_user_and_moves_to_the_next_pending_sample(reviewed):
    s = Session(reviewed, "alice")
    v = s.accept(note="fine")
    assert v["message"] == "accepted sample 1" and s.sample_id == 2
    assert v["info"].startswith("Sample 2 · 2 of 8")
    assert v["progress"] == "1 of 8 decided · 1 accepted · 0 rejected"
    [row] = reviewed.decision_history(1)
    assert (row["verdict"], row["user"], row["note"]) == ("accept", "alice", "fine")
    assert value(v["listing"]).iloc[0].tolist()[:3] == [1, reviewed.get_sample(1)["status"], "accept"]


def test_reject_needs_a_reason_and_records_the_chosen_ones(reviewed):
    s = Session(reviewed, "alice")
    assert s.reject([])["message"] == "choose at least one reason to reject"
    assert reviewed.decision_history(1) == [] and s.sample_id == 1
    assert s.reject(["too_short", "repetitive"], note="meh")["message"] == "rejected sample 1 (too_short, repetitive)"
    [row] = reviewed.decision_history(1)
    assert (row["verdict"], row["reasons"], row["note"]) == ("reject", ["too_short", "repetitive"], "meh")
    assert s.view["progress"] == "1 of 8 decided · 0 accepted · 1 rejected" and s.view["reasons"] == []


def test_edit_keeps_both_versions_and_training_uses_the_edit(reviewed):
    s = Session(reviewed, "alice")
    original = reviewed.get_sample(1)["final_expansion"]
    final, save, message = review.start_edit(s.cursor)
    assert final["interactive"] is True and save["visible"] is True and "editing sample 1" in message
    assert s.save_edit(original)["message"] == "the text is unchanged: edit it first, or press Accept"
    assert s.save_edit("   ")["message"].startswith("the edited text is empty")
    assert s.save_edit(original + " One more line.")["message"] == "accepted sample 1 with your edit"
    assert reviewed.get_sample(1)["final_expansion"] == original
    [row] = reviewed.accepted_samples(1)
    assert (row["sample_id"], row["final_text"], row["edited"]) == (1, original + " One more line.", True)
    s.open(1)
    assert value(s.view["final"]) == original + " One more line." and "edited" in s.view["final"]["label"]
    assert "final text edited by alice" in s.view["info"] and s.view["final"]["interactive"] is False


def test_undo_withdraws_the_last_decisions_one_by_one(reviewed):
    s = Session(reviewed, "alice")
    s.accept()
    s.reject(["other"])
    assert s.sample_id == 3
    assert s.undo()["message"] == "undo: your reject of sample 2 is withdrawn · its verdict is now pending"
    assert s.sample_id == 2 and s.view["progress"] == "1 of 8 decided · 1 accepted · 0 rejected"
    assert s.undo()["message"] == "undo: your accept of sample 1 is withdrawn · its verdict is now pending"
    assert s.sample_id == 1 and s.view["progress"] == "0 of 8 decided · 0 accepted · 0 rejected"
    assert s.undo()["message"] == "undo: you have no decision to withdraw here"
    assert [(d["verdict"], d["user"]) for d in reviewed.decision_history(2)] == [("reject", "alice"),
                                                                                ("pending", "alice")]


def test_effective_verdict_an_undo_withdraws_only_its_own_curators_verdict(reviewed):
    alice, bob = Session(reviewed, "alice"), Session(reviewed, "bob")
    alice.accept()
    bob.open(1)  # bob sees alice's accept, so his reject is no conflict
    bob.reject(["off_topic"])
    alice.open(1)
    alice.undo()
    assert reviewed.verdict_counts(1) == {"reject": 1}
    assert reviewed.current_decisions(1)[1]["user"] == "bob" and reviewed.accepted_samples(1) == []
    assert "verdict: reject by bob" in alice.view["info"]
    bob.open(1)
    bob.undo()
    assert reviewed.verdict_counts(1) == {"pending": 1} and reviewed.current_decisions(1) == {}
    solo = Session(reviewed, "carol")
    solo.open(2)
    solo.accept()
    solo.open(2)
    solo.undo()
    assert reviewed.verdict_counts(1) == {"pending": 2}


def test_a_conflicting_decision_is_held_back_until_pressed_again(reviewed):
    alice, bob = Session(reviewed, "alice"), Session(reviewed, "bob")
    assert alice.sample_id == bob.sample_id == 1
    alice.accept()
    v = bob.reject(["too_short"])
    assert re.fullmatch(r"sample 1 was accepted by alice at \d\d:\d\d after you opened it — press again to override",
                        v["message"])
    assert [d["user"] for d in reviewed.decision_history(1)] == ["alice"]
    assert value(v["reasons"]) is None and bob.sample_id == 1  # the ticked reasons stay for the second press
    assert bob.reject(["too_short"])["message"] == "rejected sample 1 (too_short)"
    assert [(d["user"], d["verdict"]) for d in reviewed.decision_history(1)] == [("alice", "accept"),
                                                                                ("bob", "reject")]
    assert reviewed.current_decisions(1)[1]["verdict"] == "reject"
    assert alice.sample_id == bob.sample_id == 2
    alice.accept()
    assert bob.accept()["message"] == "accepted sample 2"  # the same verdict is no conflict


def test_overlap_queues_each_sample_for_k_curators_and_measures_agreement(reviewed):
    assert review.save_curation(studio_for(reviewed), "r", "Reject anything off topic.", 2)[0] == "Reject anything off topic."
    alice, bob = Session(reviewed, "alice"), Session(reviewed, "bob")
    assert alice.view["overlap"] == 2 and alice.view["guidelines"] == "Reject anything off topic."
    for verdicts in (("accept", "accept"), ("reject", "accept"), ("reject", "reject")):
        for session, verdict in zip((alice, bob), verdicts):
            session.accept() if verdict == "accept" else session.reject(["other"])
    assert alice.sample_id == bob.sample_id == 4  # no conflict under overlap: each curator decides alone
    carol = Session(reviewed, "carol")
    assert carol.sample_id == 4  # samples 1-3 have their two curators
    alice.open(1)
    assert alice.next()["info"].startswith("Sample 4")  # alice decided 2 and 3 already
    kappa = review.agreement_text(reviewed, reviewed.iteration_by_id(1))
    assert kappa == "Agreement in iteration 0: Cohen's kappa 0.40 over 3 samples (alice, bob)"
    carol.open(2)
    carol.reject(["other"])
    carol.apply()
    assert re.fullmatch(r"Agreement in iteration 0: Fleiss' kappa -?\d\.\d\d over 3 samples \(alice, bob, carol\)",
                        carol.view["agreement"])


def test_guidelines_and_overlap_refuse_bad_values(reviewed):
    assert review.save_curation(studio_for(reviewed), "r", "# Rules", 0)[1] == "overlap must be a whole number from 1 to 10 (got 0)"
    assert "whole number" in review.save_curation(studio_for(reviewed), "r", "# Rules", 2.5)[1]
    assert "whole number" in review.save_curation(studio_for(reviewed), "r", "# Rules", None)[1]
    assert "whole number" in review.save_curation(studio_for(reviewed), "r", "# Rules", "two")[1]
    assert review.save_curation(studio_for(reviewed), "nope", "# Rules", 1)[1].startswith("no run named 'nope'")
    run = reviewed.require_run("r")
    assert (run["guidelines"], run["overlap"]) == ("", 1)
    assert review.save_curation(studio_for(reviewed), "r", "", 3) == (review.NO_GUIDELINES,
                                                          "saved the guidelines and overlap 3 of run r")


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
    assert v["message"] == f"accepted {len(kept)} samples" and v["bulk_confirm"]["visible"] is False
    assert reviewed.verdict_counts(1) == {"accept": len(kept)} and s.bulk == {}
    assert {d["user"] for i in kept for d in reviewed.decision_history(i)} == {"alice"}
    assert s.bulk_ask("reject")["bulk_message"] == "choose at least one reason to reject"
    rejecting = s.bulk_ask("reject", ["repetitive"])["bulk_message"]
    assert rejecting.startswith(f"Reject {len(kept)} filtered samples as repetitive?")
    assert f"{len(kept)} of them already have the other verdict, which this replaces" in rejecting
    assert review.cancel_bulk()[1:3] == ("Bulk action cancelled.", {"__type__": "update", "visible": False})
    s.apply(search="no such text anywhere")
    assert s.bulk_ask("accept")["bulk_message"] == "No sample matches the filters."


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
    assert HEAD.startswith("<script>") and HEAD.endswith("</script>") and app.launch_options()["head"] == HEAD
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
