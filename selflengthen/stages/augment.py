"""Stage 1, instruction augmentation (self-instruct).

For each missing instruction: two random pool instructions of one language are shown as examples, the
generator writes a new one, length bounds apply, the model judges it (yes/no), and near-duplicates of the
pool (ROUGE-L) are dropped. Every candidate is stored with its verdict; accepted ones join the pool at
once. A candidate whose request the backend gave up on is stored as rejected with reason 'backend' and
does not count against the attempt budget. Resumable: candidates are numbered, so a re-run continues the
count and only fills what is missing.
"""

from __future__ import annotations

import random
from dataclasses import replace

from selflengthen.method.augment import (build_judge_prompt, build_new_instruction_prompt, next_number_stop,
                                         parse_judgement, parse_judgement_strictly, parse_new_instruction)
from selflengthen.method.rouge import NearDuplicateIndex
from selflengthen.method.words import count_words, detect_language
from selflengthen.shapes import Iteration, Run, Store
from selflengthen.stages.common import derive_seed, generate_wave, log_backend_errors, sampling_params
from selflengthen.stages.reporter import Reporter

BACKEND_FAILURE = "backend"  # the reject reason of a candidate whose request the backend gave up on


def pick_parents(pool: list[dict], k: int, rng: random.Random) -> list[dict]:
    """k pool instructions of one language (the language of a first random pick)."""
    first = rng.choice(pool)
    same = [p for p in pool if p["language"] == first["language"] and p["id"] != first["id"]]
    return [first] + rng.sample(same, min(k - 1, len(same)))


def length_reason(text: str, min_words: int, max_words: int) -> str | None:
    words = count_words(text)
    if words == 0:
        return "empty"
    if words < min_words:
        return "too_short"
    if words > max_words:
        return "too_long"
    return None


def run_augment(store: Store, run: Run, iteration: Iteration, backend, config, reporter: Reporter) -> None:
    cfg = config.augment
    counts = store.instruction_counts(iteration["id"])
    seeds_here = sum(1 for i in store.iteration_instructions(iteration["id"]) if i["source"] == "seed")
    answered_seeds = seeds_here if cfg.answer_seeds else 0  # seeds that count toward n_instructions
    accepted = counts["accepted"] - seeds_here + answered_seeds
    missing = cfg.n_instructions - accepted
    # Candidates the backend failed on are no fault of the model's writing: they do not spend the budget.
    budget = (cfg.n_instructions - answered_seeds) * cfg.max_attempts_per_instruction + \
        counts["reasons"].get(BACKEND_FAILURE, 0)
    reporter.stage("augment", total=max(cfg.n_instructions, accepted), done=accepted)
    pool = few_shot_pool(store, run, iteration, cfg)
    if missing <= 0:
        return
    if not pool:
        raise ValueError("the instruction pool is empty: add seed instructions first")
    index = NearDuplicateIndex([p["text"] for p in store.instruction_pool(run["id"])]) if cfg.dedup else None
    attempt = counts["candidates"]
    while missing > 0 and attempt < budget:
        reporter.check_cancel()
        size = min(missing, config.backend.batch_size, budget - attempt)
        rows = _augment_batch(backend, config, run, iteration, pool, index, attempt, size, reporter)
        store.save_instructions(run["id"], rows)
        errors = [r.get("error") for r in rows]
        log_backend_errors(reporter, "augment", errors)
        budget += sum(1 for e in errors if e)
        new = [r for r in rows if r["status"] == "accepted"]
        pool = few_shot_pool(store, run, iteration, cfg)
        missing -= len(new)
        attempt += size
        reporter.advance(len(new))
    if missing > 0:
        reporter.log(f"augment: gave up after {attempt} candidates, {missing} instructions short")


def few_shot_pool(store: Store, run: Run, iteration: Iteration, cfg) -> list[dict]:
    """The instructions examples are drawn from: the run's whole pool, or (the reference) its seeds and the
    instructions accepted in this iteration's current batch of `pool_batch`."""
    pool = store.instruction_pool(run["id"])
    if cfg.pool == "run":
        return pool
    seeds = [p for p in pool if p["source"] == "seed"]
    batch = [p for p in pool if p["source"] == "augmented" and p["iteration_id"] == iteration["id"]]
    return seeds + batch[len(batch) - len(batch) % cfg.pool_batch:]


def _augment_batch(backend, config, run, iteration, pool, index, first_attempt, size, reporter) -> list[dict]:
    cfg, templates = config.augment, config.prompts.resolved()
    rows, prompts = [], []
    for attempt in range(first_attempt, first_attempt + size):
        rng = random.Random(derive_seed(config.seed, iteration["idx"], "augment", attempt))
        parents = pick_parents(pool, cfg.few_shot, rng)
        language = parents[0]["language"]
        prompts.append(build_new_instruction_prompt([p["text"] for p in parents], language,
                                                    template=templates[f"self_instruct_{language}"]))
        rows.append({"key": f"aug:{iteration['idx']}:{attempt}", "iteration_id": iteration["id"],
                     "source": "augmented", "language": language, "parents": [p["id"] for p in parents]})
    seed = derive_seed(config.seed, iteration["idx"], "augment-batch", first_attempt)
    # A completion-style prompt ends on a numbered label: the model writes one instruction and stops at the next.
    # A batch mixes languages, and so labels; each one's stop is harmless to text in the other language.
    params = sampling_params(config, cfg.max_new_tokens, seed)
    if cfg.repetition_penalty is not None:
        params = replace(params, repetition_penalty=cfg.repetition_penalty)
    labels = tuple(dict.fromkeys(stop for prompt in prompts for stop in next_number_stop(prompt)))
    outputs = generate_wave(backend, prompts, replace(params, stop=params.stop + labels), reporter)
    for row, out in zip(rows, outputs):
        row["text"] = parse_new_instruction(out.text)
        if out.error is not None:
            row.update(status="rejected", reject_reason=BACKEND_FAILURE, error=out.error)
            continue
        reason = "truncated" if out.truncated else length_reason(row["text"], cfg.min_words, cfg.max_words)
        if reason is None and cfg.language_check and detect_language(row["text"]) != row["language"]:
            reason = "language_mismatch"
        row.update(status="rejected" if reason else "pending", reject_reason=reason)
    if cfg.judge:
        _judge(backend, config, iteration, [r for r in rows if r["status"] == "pending"], seed, reporter)
    for row in rows:
        if row["status"] == "pending":
            if index is not None and index.is_near_duplicate(row["text"], cfg.rouge_threshold):
                row.update(status="rejected", reject_reason="near_duplicate")
            else:
                row["status"] = "accepted"
                if index is not None:
                    index.add(row["text"])
    return rows


def _judge(backend, config, iteration, rows: list[dict], seed: int, reporter) -> None:
    if not rows:
        return
    templates = config.prompts.resolved()
    prompts = [build_judge_prompt(r["text"], r["language"], template=templates[f"judge_{r['language']}"])
               for r in rows]
    outputs = generate_wave(backend, prompts, sampling_params(config, 16, seed + 1), reporter)
    parse = parse_judgement_strictly if config.augment.judge_strict else parse_judgement
    for row, out in zip(rows, outputs):
        if out.error is not None:
            row.update(status="rejected", reject_reason=BACKEND_FAILURE, error=out.error)
            continue
        verdict = parse(out.text)
        row["judge_output"] = out.text
        row["judge"] = {True: "yes", False: "no", None: "unparsed"}[verdict]
        if verdict is not True:
            row.update(status="rejected", reject_reason=f"judge_{row['judge']}")
