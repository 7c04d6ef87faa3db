"""The decision service: every caller records through it, so the reasons check and the conflict rule hold for
the dashboard and the CLI alike. Real SQLite store, scripted pipeline."""

from __future__ import annotations

import re

import pytest

from commands import cli, dump
from scripted import reviewed_run
from selflengthen.curation import decisions
from selflengthen.errors import InputError

HELD_BACK = re.compile(r"sample \d+ was rejected by bob at \d\d:\d\d after you opened it — press again to override")


@pytest.fixture
def ids(store):
    """Sample ids of run 'r' (overlap 1), iteration 0."""
    run = reviewed_run(store)
    return [s["id"] for s in store.iteration_samples(store.latest_iteration(run["id"])["id"])]


def history(store, sample_id):
    return [(d["user"], d["verdict"]) for d in store.decision_history(sample_id)]


def test_a_decision_overtaken_since_it_was_seen_is_held_back_then_recorded_knowingly(store, ids):
    sid = ids[0]
    decisions.decide(store, sid, "reject", user="bob", overlap=1, seen_id=0, reasons=["off_topic"])
    with pytest.raises(decisions.DecisionConflict, match=HELD_BACK) as held:
        decisions.decide(store, sid, "accept", user="ann", overlap=1, seen_id=0)
    assert held.value.newer["user"] == "bob" and history(store, sid) == [("bob", "reject")]
    seen = store.decision_history(sid)[-1]["id"]  # ann is shown bob's reject, and presses again
    decisions.decide(store, sid, "accept", user="ann", overlap=1, seen_id=seen)
    assert history(store, sid) == [("bob", "reject"), ("ann", "accept")]


def test_the_same_verdict_or_ones_own_earlier_decision_is_no_conflict(store, ids):
    decisions.decide(store, ids[0], "accept", user="bob", overlap=1, seen_id=0)
    decisions.decide(store, ids[0], "accept", user="ann", overlap=1, seen_id=0)
    assert history(store, ids[0]) == [("bob", "accept"), ("ann", "accept")]
    decisions.decide(store, ids[1], "accept", user="ann", overlap=1, seen_id=0)
    decisions.decide(store, ids[1], "reject", user="ann", overlap=1, seen_id=0, reasons=["other"])
    assert history(store, ids[1]) == [("ann", "accept"), ("ann", "reject")]


def test_with_overlap_two_every_curator_records_their_own_verdict(store, ids):
    decisions.decide(store, ids[0], "reject", user="bob", overlap=2, seen_id=0, reasons=["too_short"])
    decisions.decide(store, ids[0], "accept", user="ann", overlap=2, seen_id=0)
    assert history(store, ids[0]) == [("bob", "reject"), ("ann", "accept")]


def test_a_checked_batch_is_all_or_nothing(store, ids):
    decisions.decide(store, ids[1], "accept", user="bob", overlap=1)
    rows = [decisions.decision_row(i, "reject", reasons=["repetitive"]) for i in ids[:3]]
    with pytest.raises(decisions.DecisionConflict, match=f"sample {ids[1]} was accepted by bob"):
        decisions.record(store, rows, user="ann", overlap=1, seen={i: 0 for i in ids[:3]})
    assert [history(store, i) for i in ids[:3]] == [[], [("bob", "accept")], []]


@pytest.mark.parametrize("reasons, message", [([], "choose at least one reason to reject"),
                                               (["boring"], "unknown reason 'boring'")])
def test_a_reject_needs_known_reasons_whoever_records_it(store, ids, reasons, message):
    with pytest.raises(InputError, match=message):
        decisions.decide(store, ids[0], "reject", user="ann", overlap=2, reasons=reasons)
    with pytest.raises(InputError, match=message):
        decisions.review(store, "r", reject=[ids[0]], reasons=reasons, user="ann")
    assert history(store, ids[0]) == []


def test_the_cli_review_follows_the_conflict_rule_unless_told_to_override(store, ids):
    decisions.decide(store, ids[0], "reject", user="bob", overlap=1, reasons=["off_topic"])
    with pytest.raises(decisions.DecisionConflict, match="rejected by bob at .* add --override to record yours"):
        decisions.review(store, "r", accept=[ids[2], ids[0]], user="ann")
    assert history(store, ids[2]) == []  # the whole command recorded nothing
    assert decisions.review(store, "r", accept=[ids[2], ids[0]], user="ann", override=True) == 2
    assert history(store, ids[0]) == [("bob", "reject"), ("ann", "accept")]
    store.set_curation(store.get_run("r")["id"], overlap=2)  # several verdicts per sample are wanted
    assert decisions.review(store, "r", reject=[ids[0]], reasons=["other"], user="cy") == 1


def test_accept_passing_touches_only_undecided_passing_samples(store, ids):
    decisions.decide(store, ids[0], "reject", user="bob", overlap=1, reasons=["off_topic"])
    passing = {s["id"] for s in store.iteration_samples(1) if s["status"] == "kept"}
    recorded = decisions.review(store, "r", accept_passing=True, user="auto-accept")
    assert recorded == len(passing - {ids[0]}) > 0
    assert history(store, ids[0]) == [("bob", "reject")]


@pytest.mark.slow
def test_the_command_line_names_the_conflict_and_stores_nothing(store, ids):
    decisions.decide(store, ids[0], "accept", user="bob", overlap=1)
    before = dump(store.path)
    held = cli("review", "--db", store.path, "--name", "r", "--reject", ids[0], "--reason", "other", "--user", "ann")
    assert held.returncode == 1 and re.fullmatch(
        rf"error: sample {ids[0]} was accepted by bob at \d\d:\d\d — add --override to record yours anyway\n", held.stderr)
    assert dump(store.path) == before
    cli("review", "--db", store.path, "--name", "r", "--reject", ids[0], "--reason", "other", "--user", "ann",
        "--override", check=True)
    assert history(store, ids[0]) == [("bob", "accept"), ("ann", "reject")]
