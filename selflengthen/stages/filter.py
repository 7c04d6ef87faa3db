"""Stage 4, drop-short: among expanded samples, randomly drop the shorter ones (the rule is
`selflengthen.method.filter.drop_short`).

The RNG is seeded by the run seed and the iteration, and every item draws in rank order, so a re-run gives the
same result (the stage is idempotent). With `filter.drop_short` off every expanded sample is kept.
"""

from __future__ import annotations

from selflengthen.method.filter import drop_short
from selflengthen.shapes import Iteration, Run, Store
from selflengthen.stages.common import derive_seed, stable_order
from selflengthen.stages.reporter import Reporter

FILTERABLE = ("expanded", "kept", "dropped_short")


def run_filter(store: Store, run: Run, iteration: Iteration, config, reporter: Reporter) -> None:
    samples = store.iteration_samples(iteration["id"], FILTERABLE)
    reporter.stage("filter", total=len(samples))
    if config.filter.drop_short:
        verdicts = drop_short([(s["id"], s["final_words"]) for s in sorted(samples, key=stable_order)],
                              derive_seed(config.seed, iteration["idx"], "filter"))
    else:
        verdicts = {s["id"]: {"kept": True, "disabled": True} for s in samples}
    updates = {}
    for s in samples:
        kept = verdicts[s["id"]]["kept"]
        updates[s["id"]] = ("kept" if kept else "dropped_short", None if kept else "filter/drop_short",
                            {**s["gates"], "filter": verdicts[s["id"]]})
    store.update_sample_statuses(updates)
    reporter.advance(len(samples))
