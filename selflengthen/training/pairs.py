"""Preference data from what an iteration already holds: pairs of texts for the same prompt, the better one
first, in trl's conversational `prompt` / `chosen` / `rejected` columns, and unpaired verdicts for KTO
(`prompt` / `completion` / `label`). Pure data: the store's rows in (`Store.preference_samples`,
`Store.expansion_attempts`), rows out.

The kinds of pair, each the method's or a curator's own signal:
- expansion: the final expansion ≻ the initial response it grew from (what the loop selects for), unless a
  curator rejected the sample;
- edit: a curator's edit ≻ the model's text it replaced;
- verdict: an accepted sample ≻ a rejected one answering the same instruction (never across instructions);
- attempt: a kept expansion attempt ≻ a failed one made from the same text (the extender's prompt, segment
  level; the `paper` preset's attempts keep the failed ones).
Every row names its kind, iteration, instruction and samples, so a pair can be traced back to what made it.
"""

from __future__ import annotations

from collections import defaultdict

from selflengthen.curation.rules import final_text
from selflengthen.errors import InputError
from selflengthen.method.expand import build_expand_prompt
from selflengthen.method.generate import build_response_prompt
from selflengthen.method.words import count_words

PAIR_KINDS = ("expansion", "edit", "verdict", "attempt")


def check_kinds(kinds) -> tuple[str, ...]:
    """The asked kinds, in PAIR_KINDS order; an unknown one is refused by name.

    >>> check_kinds(["edit", "expansion"])
    ('expansion', 'edit')
    """
    unknown = sorted(set(kinds) - set(PAIR_KINDS))
    if unknown or not kinds:
        raise InputError(f"unknown pair kind {', '.join(unknown)} (choose from {', '.join(PAIR_KINDS)})" if unknown
                         else f"choose at least one pair kind ({', '.join(PAIR_KINDS)})")
    return tuple(k for k in PAIR_KINDS if k in kinds)


def parse_kinds(text: str) -> tuple[str, ...]:
    """Kinds written as a comma-separated list (a config field, a flag), checked.

    >>> parse_kinds(" verdict, expansion ,")
    ('expansion', 'verdict')
    """
    return check_kinds([k.strip() for k in text.split(",") if k.strip()])


def kinds_for_role(kinds, role: str) -> list[str]:
    """The kinds a role learns from: the extender its own attempts (made on its prompt), the generator the rest.

    >>> kinds_for_role(PAIR_KINDS, "extender"), kinds_for_role(["edit", "attempt"], "generator")
    (['attempt'], ['edit'])
    """
    return [k for k in kinds if (k == "attempt") == (role == "extender")]


def preference_pairs(samples: list[dict], attempts: list[dict] = (), kinds=PAIR_KINDS,
                     templates: dict[str, str] | None = None) -> list[dict]:
    """Every pair of the asked kinds from one iteration's samples (and expansion attempts), kind by kind."""
    builders = {"expansion": _expansion_pairs, "edit": _edit_pairs, "verdict": _verdict_pairs}
    pairs = []
    for kind in check_kinds(kinds):
        pairs += (_attempt_pairs(samples, attempts, templates) if kind == "attempt"
                  else builders[kind](samples, templates))
    return pairs


def kto_rows(samples: list[dict], templates: dict[str, str] | None = None) -> list[dict]:
    """Each decided sample once, unpaired: the text that counts with label True (accepted) or False (rejected).

    >>> rows = kto_rows([{"sample_id": 1, "iteration_id": 1, "instruction_id": 1, "language": "en",
    ...                   "instruction": "Tea?", "initial_response": "Tea.", "final_expansion": None,
    ...                   "edited_text": None, "verdict": "reject"}])
    >>> rows[0]["completion"], rows[0]["label"]
    ([{'role': 'assistant', 'content': 'Tea.'}], False)
    """
    return [{"prompt": _generator_prompt(s, templates), "completion": _answer(final_text(s, s["edited_text"])),
             "label": s["verdict"] == "accept", "kind": "kto", "iteration_id": s["iteration_id"],
             "instruction_id": s["instruction_id"], "language": s.get("language") or "en", "sample_id": s["sample_id"]}
            for s in samples if s["verdict"] in ("accept", "reject")]


def pair_counts(pairs: list[dict]) -> dict[str, int]:
    """{kind: pairs} for every kind, zeros included.

    >>> pair_counts([{"kind": "edit"}, {"kind": "edit"}])
    {'expansion': 0, 'edit': 2, 'verdict': 0, 'attempt': 0}
    """
    return {kind: sum(p["kind"] == kind for p in pairs) for kind in PAIR_KINDS}


def turn_words(turn: list[dict]) -> int:
    """Words of a one-message answer as pairs hold it (each CJK character one word).

    >>> turn_words([{"role": "assistant", "content": "Tea is old. 茶"}])
    4
    """
    return count_words(turn[0]["content"])


def _expansion_pairs(samples, templates) -> list[dict]:
    return [_pair("expansion", s, _generator_prompt(s, templates), s["final_expansion"], s["initial_response"])
            for s in samples if s["final_expansion"] and s["verdict"] != "reject"
            and s["final_expansion"].strip() != s["initial_response"].strip()]


def _edit_pairs(samples, templates) -> list[dict]:
    model_text = {s["sample_id"]: s["final_expansion"] or s["initial_response"] for s in samples}
    return [_pair("edit", s, _generator_prompt(s, templates), s["edited_text"], model_text[s["sample_id"]])
            for s in samples if s["edited_text"] and s["edited_text"].strip() != model_text[s["sample_id"]].strip()]


def _verdict_pairs(samples, templates) -> list[dict]:
    by_instruction = defaultdict(list)
    for s in samples:
        by_instruction[(s["iteration_id"], s["instruction_id"])].append(s)
    pairs = []
    for siblings in by_instruction.values():
        accepted = [s for s in siblings if s["verdict"] == "accept"]
        rejected = [s for s in siblings if s["verdict"] == "reject"]
        for good in accepted:
            for bad in rejected:
                pair = _pair("verdict", good, _generator_prompt(good, templates), final_text(good, good["edited_text"]),
                             final_text(bad, bad["edited_text"]))
                pairs.append({**pair, "rejected_sample": bad["sample_id"]})
    return pairs


def _attempt_pairs(samples, attempts, templates) -> list[dict]:
    by_id = {s["sample_id"]: s for s in samples}
    groups = defaultdict(list)
    for a in attempts:
        if a["sample_id"] in by_id:
            groups[(a["sample_id"], a["source_text"])].append(a)
    pairs = []
    for (sample_id, source), tries in groups.items():
        s = by_id[sample_id]
        language = s.get("language") or "en"
        prompt = build_expand_prompt(s["instruction"], source, language,
                                     template=(templates or {}).get(f"expand_{language}"))
        for kept in (a for a in tries if a["kept"]):
            for failed in (a for a in tries if not a["kept"] and a["result"] != kept["result"]):
                pairs.append({**_pair("attempt", s, list(prompt.messages), kept["result"], failed["result"]),
                              "chosen_round": kept["round"], "rejected_round": failed["round"]})
    return pairs


def _pair(kind: str, sample: dict, prompt: list[dict], chosen: str, rejected: str) -> dict:
    return {"prompt": prompt, "chosen": _answer(chosen), "rejected": _answer(rejected), **_source(sample, kind),
            "rejected_sample": sample["sample_id"]}


def _source(sample: dict, kind: str) -> dict:
    return {"kind": kind, "iteration_id": sample["iteration_id"], "instruction_id": sample["instruction_id"],
            "language": sample.get("language") or "en", "chosen_sample": sample["sample_id"]}


def _generator_prompt(sample: dict, templates) -> list[dict]:
    return list(build_response_prompt(sample["instruction"], template=(templates or {}).get("generate")).messages)


def _answer(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def collect_pairs(store, run_name: str, iterations: list[int] | None = None, kinds=PAIR_KINDS,
                  kto: bool = False) -> tuple[list[dict], dict]:
    """(rows, counts) over the run's iterations (all when None), each iteration with its own prompt templates:
    pairs of the asked kinds, or with `kto` the unpaired verdicts. counts: {iteration index: {kind: n}}."""
    from selflengthen.config import RunConfig

    kinds = check_kinds(kinds)
    run = store.require_run(run_name)
    chosen = store.list_iterations(run["id"])
    if iterations is not None:
        known = {it["idx"] for it in chosen}
        missing = sorted(set(iterations) - known)
        if missing:
            raise InputError(f"run '{run_name}' has no iteration {', '.join(map(str, missing))}")
        chosen = [it for it in chosen if it["idx"] in iterations]
    rows, counts = [], {}
    for iteration in chosen:
        templates = RunConfig.from_dict(iteration["config"]).prompts.resolved()
        samples = store.preference_samples(iteration["id"])
        if kto:
            made = kto_rows(samples, templates)
            counts[iteration["idx"]] = {"kto": len(made), "desirable": sum(r["label"] for r in made)}
        else:
            attempts = store.expansion_attempts(iteration["id"]) if "attempt" in kinds else []
            made = preference_pairs(samples, attempts, kinds, templates)
            counts[iteration["idx"]] = {k: v for k, v in pair_counts(made).items() if k in kinds}
        rows += [{**row, "iteration": iteration["idx"]} for row in made]
    return rows, counts
