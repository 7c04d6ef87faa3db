"""Curation as pure functions (suggested verdicts, gate tables, the word diff, effective verdicts, kappas, filters),
and the store's SQL applying the same effective-verdict rule."""

import time

import pytest

from scripted import reviewed_run
from selflengthen.curation.agreement import Agreement, cohen_kappa, curator_agreement, fleiss_kappa
from selflengthen.curation.decisions import conflict_message
from selflengthen.curation.display import gate_rows, headline, progress_line, word_diff, word_tokens
from selflengthen.curation.filters import ReviewFilter
from selflengthen.curation.rules import (
    check_reasons, effective_decision, latest_per_curator, needs_decision, reason_for_gate, suggested_verdict)
from selflengthen.errors import InputError


# -- suggested verdicts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, reject_reason, expected", [
    ("kept", None, "accept"),
    ("dropped_short", "filter/drop_short", "reject (too_short)"),
    ("failed_generation", "generate/no_repeated_ngram", "reject (repetitive)"),
    ("failed_generation", "generate/not_truncated", "reject (truncated)"),
    ("failed_generation", "generate/ends_with_punctuation", "reject (formatting)"),
    ("failed_generation", "generate/non_empty", "reject (too_short)"),
    ("failed_expansion", "expand/stage1_no_repeated_ngram", "reject (repetitive)"),
    ("failed_expansion", "expand/stage2_not_truncated", "reject (truncated)"),
    ("failed_expansion", "expand/stage2_longer", "reject (too_short)"),
    ("failed_expansion", "expand/growth", "reject (too_short)"),
    ("failed_expansion", "expand/some_new_gate", "reject (other)"),
    ("expanded", None, "reject (other)"),
])
def test_suggested_verdict_follows_the_failed_gate(status, reject_reason, expected):
    assert str(suggested_verdict({"status": status, "reject_reason": reject_reason})) == expected


def test_every_suggested_reason_is_a_curator_reason():
    from selflengthen.curation.rules import REJECT_REASONS

    gates = ["filter/drop_short", "expand/growth", "generate/non_empty", "generate/ends_with_punctuation", "x/y"]
    assert {reason_for_gate(g) for g in gates} <= set(REJECT_REASONS)


def test_gate_rows_list_every_gate_in_pipeline_order():
    gates = {
        "filter": {"kept": False, "rank": 0, "r": 1.0, "keep_probability": -1.0},
        "growth": {"gate": "growth", "passed": True, "reason": "2.15x (needs 1.2x)"},
        "expand_round_2": [{"gate": "stage2_longer", "passed": False, "reason": "9 -> 8 words"}],
        "expand_round_1": [{"gate": "stage1_non_empty", "passed": True, "reason": ""}],
        "generate": [{"gate": "non_empty", "passed": True, "reason": ""},
                     {"gate": "no_repeated_ngram", "passed": False, "reason": "repeats 'a b c'"}],
    }
    assert gate_rows(gates) == [
        ["generate", "non_empty", "pass", ""],
        ["generate", "no_repeated_ngram", "FAIL", "repeats 'a b c'"],
        ["expand round 1", "stage1_non_empty", "pass", ""],
        ["expand round 2", "stage2_longer", "FAIL", "9 -> 8 words"],
        ["growth", "growth", "pass", "2.15x (needs 1.2x)"],
        ["filter", "drop_short", "FAIL", "rank 0, r 1.0, keep probability -1.0"],
    ]
    disabled = gate_rows({"filter": {"kept": True, "disabled": True}})
    assert disabled == [["filter", "drop_short", "pass", "filter disabled"]]


# -- word diff ---------------------------------------------------------------------------------------------

def test_word_tokens_keep_their_trailing_whitespace_and_split_cjk():
    assert word_tokens("Hi  there,\nyou") == ["Hi  ", "there,\n", "you"]
    assert word_tokens("春天 spring来了") == ["春", "天 ", "spring", "来", "了"]
    text = "  leading space, two\n\nparagraphs 和中文。 end "
    assert "".join(word_tokens(text)) == text


def test_word_diff_marks_added_and_removed_words():
    assert word_diff("The sea is calm tonight.", "The sea is very calm tonight.") == [
        ("The sea is ", None), ("very ", "added"), ("calm tonight.", None)]
    assert word_diff("The sea is calm.", "The sea is calm now.") == [
        ("The sea is ", None), ("calm.", "removed"), ("calm now.", "added")]  # words keep their punctuation
    assert word_diff("", "New text.") == [("New text.", "added")]
    assert word_diff("Same words.", "Same words.") == [("Same words.", None)]


def test_word_diff_rebuilds_both_texts_and_is_fast_on_3000_words():
    words = [f"w{i % 997}" for i in range(3000)]
    before = " ".join(words[:1500])
    after = " ".join(w if i % 9 else "inserted word" for i, w in enumerate(words))
    start = time.perf_counter()
    spans = word_diff(before, after)
    elapsed = time.perf_counter() - start
    assert "".join(t for t, c in spans if c != "removed") == after
    before_again = "".join(t for t, c in spans if c != "added")
    assert before_again.split() == before.split() and {c for _, c in spans} == {None, "added", "removed"}
    assert sum(len(t.split()) for t, c in spans if c is None) > 1000  # most of the shared words are matched
    assert elapsed < 0.5  # about 12 ms on the reference machine


# -- effective verdicts and the queue ------------------------------------------------------------------------

def rows(*decisions):
    """Decision rows (id, user, verdict) in the order given."""
    return [{"id": i + 1, "user": user, "verdict": verdict} for i, (user, verdict) in enumerate(decisions)]


EFFECTIVE_CASES = [
    ([], None),
    ([("ann", "accept")], "accept"),
    ([("ann", "accept"), ("ann", "pending")], "pending"),
    ([("ann", "accept"), ("bob", "reject"), ("ann", "pending")], "reject"),
    ([("ann", "reject"), ("bob", "accept"), ("bob", "pending")], "reject"),
    ([("ann", "accept"), ("bob", "reject"), ("bob", "pending"), ("ann", "pending")], "pending"),
    ([("ann", "accept"), ("bob", "reject"), ("ann", "accept")], "accept"),
    ([("ann", "accept"), ("ann", "reject")], "reject"),
]


@pytest.mark.parametrize("history, expected", EFFECTIVE_CASES)
def test_effective_verdict_is_the_newest_standing_verdict_among_each_curators_latest(history, expected):
    decision = effective_decision(latest_per_curator(rows(*history)))
    assert (decision and decision["verdict"]) == expected


@pytest.mark.parametrize("history", [h for h, _ in EFFECTIVE_CASES])
def test_the_stores_sql_applies_the_same_rule(tmp_path, history, store):
    """The store computes effective verdicts in SQL for whole iterations; it must agree with the rule above."""
    run = reviewed_run(store)
    iteration = store.latest_iteration(run["id"])["id"]
    sample = store.iteration_samples(iteration)[0]["id"]
    for user, verdict in history:
        store.record_decision(sample, verdict, reasons=["other"] if verdict == "reject" else (), user=user)
    expected = effective_decision(latest_per_curator(rows(*history)))
    standing = store.current_decisions(iteration).get(sample)
    wanted = expected["verdict"] if expected and expected["verdict"] != "pending" else None
    assert (standing["verdict"] if standing else None) == wanted
    counts = store.verdict_counts(iteration)
    assert counts == ({expected["verdict"]: 1} if expected else {})
    store.close()


def test_needs_decision_under_overlap():
    one = latest_per_curator(rows(("ann", "accept")))
    two = latest_per_curator(rows(("ann", "accept"), ("bob", "reject")))
    undone = latest_per_curator(rows(("ann", "accept"), ("ann", "pending")))
    assert needs_decision([], "ann", 1)
    assert not needs_decision(one, "bob", 1) and needs_decision(one, "bob", 2) and not needs_decision(one, "ann", 2)
    assert not needs_decision(two, "carol", 2) and needs_decision(two, "carol", 3)
    assert needs_decision(undone, "ann", 1) and needs_decision(undone, "bob", 1)


# -- agreement -----------------------------------------------------------------------------------------------

def pairs(yes_yes, yes_no, no_yes, no_no):
    return [("y", "y")] * yes_yes + [("y", "n")] * yes_no + [("n", "y")] * no_yes + [("n", "n")] * no_no


@pytest.mark.parametrize("table, kappa", [
    ((20, 5, 10, 15), 0.4),  # p_o 0.70, p_e 0.50
    ((45, 15, 25, 15), 0.1304),  # p_o 0.60, p_e 0.54
    ((25, 35, 5, 35), 0.2593),  # p_o 0.60, p_e 0.46
    ((10, 0, 0, 10), 1.0),
])
def test_cohen_kappa_textbook_tables(table, kappa):
    assert cohen_kappa(pairs(*table)) == pytest.approx(kappa, abs=1e-4)


def test_cohen_kappa_undefined_cases():
    assert cohen_kappa([]) is None
    assert cohen_kappa(pairs(5, 0, 0, 0)) is None  # chance agreement is 1


def test_fleiss_kappa_textbook_table():
    """Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories: kappa 0.210."""
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    items = [{str(j): n for j, n in enumerate(row) if n} for row in table]
    assert round(fleiss_kappa(items), 3) == 0.210


def test_fleiss_kappa_with_varying_raters():
    # P_i: 1, (4 + 1 - 3) / 6 = 1/3, 1 -> mean 7/9; p_accept = 5/8, p_reject = 3/8 -> P_e = 34/64.
    items = [{"accept": 3}, {"accept": 2, "reject": 1}, {"reject": 2}]
    expected = (7 / 9 - 34 / 64) / (1 - 34 / 64)
    assert fleiss_kappa(items) == pytest.approx(expected)
    assert fleiss_kappa(items + [{"reject": 1}]) == pytest.approx(expected)  # one rating: left out
    assert fleiss_kappa([{"accept": 1}]) is None and fleiss_kappa([{"accept": 2}, {"accept": 3}]) is None


def test_curator_agreement_picks_cohen_for_two_and_fleiss_for_more():
    verdicts = {1: {"ann": "accept", "bob": "accept"}, 2: {"ann": "reject", "bob": "accept"},
                3: {"ann": "reject", "bob": "reject"}, 4: {"ann": "accept"}}
    two = curator_agreement(verdicts)
    assert (two.method, two.samples, two.curators) == ("cohen", 3, ("ann", "bob"))
    assert two.kappa == pytest.approx(cohen_kappa([("accept", "accept"), ("reject", "accept"), ("reject", "reject")]))
    assert str(two) == f"Cohen's kappa {two.kappa:.2f} over 3 samples (ann, bob)"
    verdicts[4]["cy"] = "accept"
    three = curator_agreement(verdicts)
    assert (three.method, three.samples) == ("fleiss", 4) and str(three).startswith("Fleiss' kappa")
    assert str(curator_agreement({1: {"ann": "accept"}})) == "needs two curators (only ann)"
    assert str(curator_agreement({})) == "needs two curators (no decisions yet)"
    assert "no sample decided by two curators" in str(Agreement("cohen", None, 0, ("ann", "bob")))


# -- filters and one-line texts ------------------------------------------------------------------------------------

def test_review_filter_validates_and_normalises():
    f = ReviewFilter(3, min_words="", max_words=200.0, min_growth=None, search="  sea  ", gate=None)
    assert (f.min_words, f.max_words, f.search, f.gate) == (None, 200.0, "sea", "all")
    with pytest.raises(InputError, match=r"^minimum words \(500\) is more than maximum words \(100\)$"):
        ReviewFilter(3, min_words=500, max_words=100)
    with pytest.raises(InputError, match=r"minimum growth \(2\.5\) is more than maximum growth \(1\.5\)"):
        ReviewFilter(3, min_growth=2.5, max_growth=1.5)
    with pytest.raises(InputError, match="cannot be negative"):
        ReviewFilter(3, min_words=-1)
    with pytest.raises(InputError, match="must be a number"):
        ReviewFilter(3, max_growth="lots")
    with pytest.raises(InputError, match="verdict filter must be one of all, pending, accept, reject"):
        ReviewFilter(3, verdict="maybe")
    with pytest.raises(InputError, match="status filter"):
        ReviewFilter(3, status="great")


def test_progress_conflict_and_reason_texts():
    assert progress_line(40, {"accept": 10, "reject": 2}) == "12 of 40 decided · 10 accepted · 2 rejected"
    assert progress_line(0, {}) == "0 of 0 decided · 0 accepted · 0 rejected"
    newer = {"verdict": "reject", "user": "bob", "created_at": "2026-01-02T10:02:33.120+00:00"}
    assert conflict_message(12, newer) == \
        "sample 12 was rejected by bob at 10:02 after you opened it — press again to override"
    assert check_reasons(("too_short", "other")) == ["too_short", "other"]
    with pytest.raises(InputError, match="^choose at least one reason to reject$"):
        check_reasons([])
    with pytest.raises(InputError, match="unknown reason 'boring'"):
        check_reasons(["boring"])


def test_headline_names_position_verdict_and_curators():
    sample = {"id": 12, "status": "kept", "language": "en", "growth": None,
              "latest_per_curator": rows(("ann", "accept"), ("", "pending"))}
    assert headline(sample, 2, 40) == "Sample 12 · 3 of 40 · verdict: accept by ann · status kept · en"
    sample["latest_per_curator"] = rows(("", "pending"))
    assert headline(sample, 0, 1, edited_by="") == \
        "Sample 12 · 1 of 1 · verdict: pending · status kept · en · final text edited by anonymous"
