"""The Review tab's handlers on a real SQLite store (scripted backend): loading, showing and deciding."""

import re

from selflengthen.curation.filters import ReviewFilter


from reviewing import XSS, Session, value
from studios import studio_for
from ui import review_handlers as review


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
    assert ["generate", "non_empty", "pass", ""] in gates and gates[-2][:2] == ["filter", "drop_short"]
    assert gates[-1][:3] == ["padding", "no_padding", "off"] and gates[-1][3].startswith("4-word runs repeated ")
    assert v["listing"] == {"__type__": "update"}  # folded away: not drawn
    v = s.show_list()
    assert len(value(v["listing"])) == 8 and list(value(v["listing"]).columns) == [
        "id", "instruction", "final text", "words", "growth", "pipeline", "verdict", "language"]
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
    s.show_list()
    v = s.accept(note="fine")
    assert v["message"] == "accepted sample 1" and s.sample_id == 2
    assert v["info"].startswith("Sample 2 · 2 of 8")
    assert v["progress"] == "1 of 8 decided · 1 accepted · 0 rejected"
    [row] = reviewed.decision_history(1)
    assert (row["verdict"], row["user"], row["note"]) == ("accept", "alice", "fine")
    row = value(v["listing"]).iloc[0].tolist()
    assert row[0] == 1 and row[5].startswith(reviewed.get_sample(1)["status"]) and row[6].startswith("accept · ")


def test_the_list_is_drawn_only_while_it_is_unfolded(reviewed):
    s = Session(reviewed, "alice")
    assert s.accept()["listing"] == {"__type__": "update"}  # folded: each step leaves the table alone
    assert len(value(s.show_list()["listing"])) == 8
    v = s.accept()
    assert value(v["listing"]).iloc[1].tolist()[6].startswith("accept · ")  # unfolded: it follows every decision
    assert len(value(s.apply(verdict="pending")["listing"])) == 6  # a filter keeps it unfolded
    changed = dict(zip(review.LOAD_FIELDS, review.change_iteration(s.studio, "r", 0, False, s.cursor, s.request)))
    assert len(value(changed["listing"])) == 8 and changed["cursor"]["list_open"]
    s.show_list(False)
    assert s.next()["listing"] == {"__type__": "update"}


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


def test_an_edit_is_measured_as_the_text_that_counts_and_a_shrinking_one_asks_first(reviewed):
    s = Session(reviewed, "alice", diff_on=True)
    sample = reviewed.get_sample(1)
    initial = len(sample["initial_response"].split())
    short = " ".join(sample["initial_response"].split()[:2]) + "."
    asked = s.save_edit(short)["message"]
    assert f"check this edit: it has 2 words, fewer than the initial response ({initial})" in asked
    assert "Press Save edit again to keep it" in asked and reviewed.decision_history(1) == []
    assert s.save_edit(short)["message"] == "accepted sample 1 with your edit"  # the same text again: kept
    s.open(1)
    growth = f"{2 / initial:.2f}x"
    assert growth in s.view["final"]["label"] and f"growth {growth}" in s.view["info"]
    spans = value(s.view["diff"])
    assert "".join(t for t, c in spans if c != "removed") == short  # the diff shows the edit ...
    assert "".join(t for t, c in spans if c != "added") == sample["final_expansion"]  # ... against the original
    assert "the edit by alice" in s.view["diff"]["label"]
    longer = sample["final_expansion"] + " And one more sentence to close."
    assert s.save_edit(longer)["message"] == "accepted sample 1 with your edit"  # nothing to confirm


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
    assert (alice.sample_id, bob.sample_id) == (1, 2)  # each curator their own sample: alice holds sample 1
    bob.open(1)  # ... but bob opens it on purpose
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
    assert (alice.sample_id, bob.sample_id) == (2, 3)  # sample 2 went to alice first: bob gets the next one
    bob.open(2)
    alice.accept()
    assert bob.accept()["message"] == "accepted sample 2"  # the same verdict is no conflict


def test_next_hands_each_curator_a_sample_nobody_else_holds(reviewed):
    alice, bob = Session(reviewed, "alice"), Session(reviewed, "bob")
    seen = {"alice": [alice.sample_id], "bob": [bob.sample_id]}
    for _ in range(3):
        for name, session in (("alice", alice), ("bob", bob)):
            session.accept()
            seen[name].append(session.sample_id)
    decided = [d["sample_id"] for d in reviewed.query("SELECT sample_id FROM decisions")]
    assert len(decided) == len(set(decided)) == 6  # no sample decided twice
    assert not set(seen["alice"]) & set(seen["bob"])  # two disjoint streams
    reviewed.hold(seen["bob"][-1], "bob", seconds=-1)  # bob's hold ran out (he left): his sample is free again
    dave = Session(reviewed, "dave")
    assert dave.sample_id == seen["bob"][-1]
    anonymous = Session(reviewed, "")  # without names curators cannot be told apart: no holds, the old queue
    assert anonymous.sample_id == min(set(reviewed.filter_sample_ids(ReviewFilter(1))) - set(decided))


def test_overlap_queues_each_sample_for_k_curators_and_measures_agreement(reviewed):
    assert review.save_curation(studio_for(reviewed), "r", "Reject anything off topic.", 2)[0] == "Reject anything off topic."
    alice, bob = Session(reviewed, "alice"), Session(reviewed, "bob")
    assert alice.view["overlap"] == 2 and alice.view["guidelines"] == "Reject anything off topic."
    for verdicts in (("accept", "accept"), ("reject", "accept"), ("reject", "reject")):
        for session, verdict in zip((alice, bob), verdicts):
            session.accept() if verdict == "accept" else session.reject(["other"])
    assert alice.sample_id == bob.sample_id == 4  # no conflict under overlap: each curator decides alone
    carol = Session(reviewed, "carol")
    assert carol.sample_id == 5  # samples 1-3 have their two curators, and sample 4 is open with two
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


def test_guidelines_show_no_image_and_no_html_from_a_curator(reviewed):
    pixel = 'Accept **on topic** ![t](http://tracker.example/p.gif) <img src="http://tracker.example/q.gif">'
    shown, message = review.save_curation(studio_for(reviewed), "r", pixel, 1)
    assert message.startswith("saved the guidelines")
    assert "![" not in shown and "<img" not in shown and "**on topic**" in shown
    assert "[image: t](http://tracker.example/p.gif)" in shown  # a link to follow on purpose, nothing loads by itself
    assert reviewed.require_run("r")["guidelines"] == pixel  # stored as written: the editor shows it unchanged


def test_without_a_login_a_display_name_from_the_browser_names_the_decisions(reviewed):
    from types import SimpleNamespace

    from ui.common import CURATOR_COOKIE, user_of

    named = Session(reviewed, "")
    named.request = SimpleNamespace(username=None, cookies={CURATOR_COOKIE: "Ann%20Lee"})
    named.accept()
    assert reviewed.decision_history(1)[-1]["user"] == "Ann Lee"
    login_wins = SimpleNamespace(username="alice", cookies={CURATOR_COOKIE: "Mallory"})
    assert user_of(login_wins) == "alice" and user_of(SimpleNamespace(username=None, cookies={})) == ""
    assert user_of(SimpleNamespace(username=None, cookies={CURATOR_COOKIE: "x" * 90})) == "x" * 40
