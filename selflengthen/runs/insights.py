"""Insights: the numbers behind the dashboard's charts, as plain data built from plain rows.

Per iteration: word-count lists (initial responses and final expansions), their means and medians (the
method's headline growth curve), acceptance, why samples were lost (curator reasons and gate rejections),
pass rates of the recorded checks, and distinct-2, a diversity measure that shows whether longer answers
are merely repetitive ones.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable

from selflengthen.method.padding import repeated_ngram_share
from selflengthen.method.words import split_words
from selflengthen.shapes import Store

DISTINCT_SAMPLE = 300  # texts per iteration that distinct-n reads: a fixed subset keeps refreshes cheap
NO_REASON = "(no reason given)"
SUMMARY_COLUMNS = ["iteration", "samples", "passed", "accepted", "mean initial words", "mean final words",
                   "distinct-2 initial", "distinct-2 final"]


def distinct_n(texts: Iterable[str], n: int = 2) -> float | None:
    """Unique n-grams / all n-grams over the texts (an n-gram never spans two texts); None when there are none.

    >>> distinct_n(["a b a b"])  # bigrams: (a b), (b a), (a b)
    0.6667
    >>> distinct_n(["你好你好"])  # each character is a word: 你好, 好你, 你好
    0.6667
    """
    seen, total = set(), 0
    for text in texts:
        tokens = split_words(text)
        grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return round(len(seen) / total, 4) if total else None


def mean_repeats(texts: Iterable[str]) -> float | None:
    """The padding guard's measure over texts: the mean share of each text's 4-word runs that repeat earlier ones
    in it (does growth come with more repetition?); None for no text.

    >>> mean_repeats(["The sea is calm. The sea is calm.", "A b c d e f."])
    0.1
    """
    shares = [repeated_ngram_share(t) for t in texts]
    return round(sum(shares) / len(shares), 4) if shares else None


def mean_median(values: list[int]) -> tuple[float | None, float | None]:
    """(mean rounded to 0.1, median) of word counts; (None, None) for none.

    >>> mean_median([10, 20, 60])
    (30.0, 20)
    """
    if not values:
        return None, None
    return round(statistics.fmean(values), 1), statistics.median(values)


def gate_checks(gates: dict) -> list[tuple[str, bool]]:
    """(check, passed) pairs recorded on one sample: the generation gates of its last attempt, the growth
    check after expansion, and the drop-short filter.

    >>> gate_checks({"generate": [{"gate": "non_empty", "passed": True}], "filter": {"kept": False}})
    [('generate/non_empty', True), ('filter/drop_short', False)]
    """
    checks = [(f"generate/{g['gate']}", bool(g["passed"])) for g in gates.get("generate", [])
              if isinstance(g, dict) and "gate" in g]
    growth = gates.get("growth")
    if isinstance(growth, dict) and "passed" in growth:
        checks.append(("expand/growth", bool(growth["passed"])))
    kept = gates.get("filter")
    if isinstance(kept, dict) and "kept" in kept:
        checks.append(("filter/drop_short", bool(kept["kept"])))
    return checks


def gate_pass_counts(samples: list[dict]) -> dict[str, dict]:
    """{check: {passed, seen, rate}} over the samples that reached each check, in pipeline order."""
    counts: dict[str, list[int]] = {}
    for sample in samples:
        for check, ok in gate_checks(sample.get("gates") or {}):
            tally = counts.setdefault(check, [0, 0])
            tally[0] += ok
            tally[1] += 1
    return {check: {"passed": p, "seen": s, "rate": round(p / s, 4)} for check, (p, s) in counts.items()}


def curator_reasons(decisions: dict[int, dict]) -> dict[str, int]:
    """{reason: samples} over current reject verdicts; a reject without a reason counts as NO_REASON."""
    counts: Counter = Counter()
    for decision in decisions.values():
        if decision.get("verdict") == "reject":
            counts.update(decision.get("reasons") or [NO_REASON])
    return dict(counts.most_common())


def gate_reasons(samples: list[dict]) -> dict[str, int]:
    """{reason: samples} of samples the pipeline gave up on (failed a gate, too little growth, dropped short)."""
    return dict(Counter(s["reject_reason"] for s in samples if s.get("reject_reason")).most_common())


def iteration_insight(idx: int, samples: list[dict], verdicts: dict[str, int], decisions: dict[int, dict],
                      texts: list[dict]) -> dict:
    """Everything the charts show about one iteration, from its sample rows, verdict counts and decisions."""
    initial = [s["initial_words"] for s in samples]
    final = [s["final_words"] for s in samples if s["final_words"] is not None and s["rounds"] > 0]
    accepted, rejected = verdicts.get("accept", 0), verdicts.get("reject", 0)
    (initial_mean, initial_median), (final_mean, final_median) = mean_median(initial), mean_median(final)
    return {
        "iteration": idx, "samples": len(samples), "passed": sum(s["status"] == "kept" for s in samples),
        "accepted": accepted, "rejected": rejected, "pending": max(len(samples) - accepted - rejected, 0),
        "initial_words": initial, "final_words": final,
        "initial_mean": initial_mean, "initial_median": initial_median,
        "final_mean": final_mean, "final_median": final_median,
        "distinct2_initial": distinct_n(t["initial_response"] for t in texts),
        "distinct2_final": distinct_n(t["final_expansion"] for t in texts if t["final_expansion"]),
        "repeats_initial": mean_repeats(t["initial_response"] for t in texts),
        "repeats_final": mean_repeats(t["final_expansion"] for t in texts if t["final_expansion"]),
        "gates": gate_pass_counts(samples), "gate_reasons": gate_reasons(samples),
        "curator_reasons": curator_reasons(decisions),
        "languages": dict(Counter(s["language"] for s in samples)),
    }


def gather(store: Store, run_name: str | None, text_sample: int = DISTINCT_SAMPLE) -> list[dict]:
    """`iteration_insight` of every iteration of the run, oldest first; [] for no run or an unknown one."""
    run = store.get_run(run_name) if run_name else None
    if run is None:
        return []
    by_iteration: dict[int, list[dict]] = {}
    for sample in store.insight_samples(run["id"]):
        by_iteration.setdefault(sample["iteration"], []).append(sample)
    return [
        iteration_insight(it["idx"], by_iteration.get(it["idx"], []), store.verdict_counts(it["id"]),
                          store.current_decisions(it["id"]), store.insight_texts(it["id"], text_sample))
        for it in store.list_iterations(run["id"])
    ]


def has_samples(insights: list[dict]) -> bool:
    return any(item["samples"] for item in insights)


def summary_rows(insights: list[dict]) -> list[list]:
    """One table row per iteration, in SUMMARY_COLUMNS order (None where there is nothing to measure)."""
    return [[item["iteration"], item["samples"], item["passed"], item["accepted"], item["initial_mean"],
             item["final_mean"], item["distinct2_initial"], item["distinct2_final"]] for item in insights]
