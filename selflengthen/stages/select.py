"""Between generate and expand: which initial responses are expanded, and how many times.

1. With `filter.drop_short_initial` (the reference), the short initial responses are dropped the way the filter
   drops short expansions (`method.filter.drop_short`, ranked by words, a seeded RNG): status `dropped_initial`,
   reason `filter/drop_short_initial`, never expanded.
2. With `expand.per_response` k > 1 (the reference: 2), every remaining initial response gets k - 1 copies, each
   a sample of its own (slot + j x responses_per_instruction, `response_of` naming the original), so the k
   expansions of one response are separate samples a curator sees side by side.

It runs once per iteration, first thing in the expand step: the selection is marked done in the iteration's
steps ("select"), and copies are only ever added, never rewritten, so a resumed expand step changes nothing
here.
"""

from __future__ import annotations

from selflengthen.method.filter import drop_short
from selflengthen.shapes import Iteration, Sample, Store
from selflengthen.stages.common import derive_seed, stable_order
from selflengthen.stages.reporter import Reporter

DROPPED = "dropped_initial"
REASON = "filter/drop_short_initial"
MARK = "select"  # in steps_done once the selection ran (a marker, not a pipeline step of its own)
_COPIED = ("run_id", "iteration_id", "instruction_id", "language", "initial_response", "initial_words",
           "initial_attempts", "gates", "rejections")


def run_select(store: Store, iteration: Iteration, config, reporter: Reporter) -> None:
    if MARK in store.iteration_by_id(iteration["id"])["steps_done"]:
        return
    n = config.generate.responses_per_instruction
    originals = [s for s in store.iteration_samples(iteration["id"], ("generated",)) if s["slot"] < n]
    dropped = {}
    if config.filter.drop_short_initial and originals:
        verdicts = drop_short([(s["id"], s["initial_words"]) for s in sorted(originals, key=stable_order)],
                              derive_seed(config.seed, iteration["idx"], "filter-initial"))
        dropped = {s["id"]: (DROPPED, REASON, {**s["gates"], "filter_initial": verdicts[s["id"]]})
                   for s in originals if not verdicts[s["id"]]["kept"]}
        reporter.log(f"select: {len(dropped)} of {len(originals)} initial responses dropped as short")
    kept = [s for s in originals if s["id"] not in dropped]
    copies = [copy for s in kept for copy in response_copies(s, config.expand.per_response, n)]
    if copies:
        reporter.log(f"select: {len(copies)} more expansions of {len(kept)} initial responses")
    store.save_selection(iteration["id"], dropped, copies, MARK)


def response_copies(sample: Sample, per_response: int, responses_per_instruction: int) -> list[dict]:
    """The k - 1 extra samples that expand `sample`'s initial response again.

    >>> sample = {"id": 7, "slot": 1, "run_id": 1, "iteration_id": 1, "instruction_id": 3, "language": "en",
    ...           "initial_response": "Hi.", "initial_words": 1, "initial_attempts": 1, "gates": {}, "rejections": {}}
    >>> [(c["slot"], c["response_of"], c["status"]) for c in response_copies(sample, 3, 2)]
    [(3, 7, 'generated'), (5, 7, 'generated')]
    """
    base = {key: sample[key] for key in _COPIED}
    return [{**base, "slot": sample["slot"] + j * responses_per_instruction, "status": "generated",
             "response_of": sample["id"]} for j in range(1, per_response)]
