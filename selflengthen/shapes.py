"""The shapes that travel between the store, the library and the dashboard, and what the library needs from
the store.

Rows come back from storage as plain dicts; the TypedDicts below name their keys and types, so a signature
says what arrives (`sample: Sample`). JSON columns arrive decoded (a run's `config` is a dict, a sample's
`gates` a dict). Queries that join or compute add keys of their own (`Sample` read for review carries its
`instruction` text and decision `history`): those are marked NotRequired.

`Store` is the contract: every method of the storage package that the library calls, with its signature. The
library is handed a store by its callers (app, CLI, trainer subprocess) and never imports the storage package;
tests/test_boundaries.py checks that `storage.Store` still provides everything listed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict


class Run(TypedDict):
    id: int
    name: str
    generator_model: str
    extender_model: str
    backend: str
    preset: str
    config: dict[str, Any]  # RunConfig.to_dict()
    guidelines: str
    overlap: int  # how many curators should decide each sample
    created_at: str


class Iteration(TypedDict):
    id: int
    run_id: int
    idx: int  # 0, 1, 2, ... within the run
    status: str  # created, running, review, trained
    generator_checkpoint: str
    extender_checkpoint: str
    config: dict[str, Any]  # the RunConfig snapshot this iteration runs with
    steps_done: list[str]
    stats: dict[str, Any]
    created_at: str
    updated_at: str


class Instruction(TypedDict):
    id: int
    run_id: int
    iteration_id: int
    key: str  # "seed:3", "aug:1:17": what makes a re-run upsert instead of duplicate
    text: str
    language: str  # en or zh
    source: str  # seed or augmented
    parents: list[int]  # the pool instructions shown as examples
    judge: str | None  # yes, no, unparsed
    judge_output: str | None
    status: str  # accepted, rejected, pending
    reject_reason: str | None
    created_at: str


class Sample(TypedDict):
    """One initial response and what its expansion made of it."""

    id: int
    run_id: int
    iteration_id: int
    instruction_id: int
    slot: int  # which of the instruction's responses
    language: str
    status: str  # generated, failed_generation, expanded, failed_expansion, kept, dropped_short
    reject_reason: str | None  # "<step>/<gate>", e.g. "expand/stage2_longer", "filter/drop_short"
    initial_response: str
    initial_words: int
    initial_attempts: int
    first_half: str | None
    stage1_expansion: str | None
    final_expansion: str | None
    final_words: int | None
    growth: float | None  # final words / initial words
    rounds: int
    expand_attempts: int
    response_of: int | None  # expand.per_response > 1: the sample whose initial response this one expands again
    gates: dict[str, Any]  # step -> the gate results of that step
    rejections: dict[str, int]  # gate -> rejections over every attempt
    created_at: str
    updated_at: str
    instruction: NotRequired[str]  # review_sample: the instruction's text
    history: NotRequired[list[Decision]]  # review_sample: every decision on it, oldest first
    latest_per_curator: NotRequired[list[Decision]]  # review_sample: each curator's latest decision
    siblings: NotRequired[list[int]]  # review_sample: the other samples expanding the same initial response


class Decision(TypedDict):
    """One curator decision row: append-only; 'pending' withdraws the curator's earlier verdict."""

    id: int
    sample_id: int
    iteration_id: int
    verdict: str  # accept, reject, pending
    reasons: list[str]
    note: str
    edited_text: str | None  # a curator's version of the final text (accepts the sample)
    user: str
    created_at: str


class AcceptedSample(TypedDict):
    """A sample as training and export read it: the text that counts, with where it came from."""

    sample_id: int
    language: str
    instruction: str
    initial_response: str
    final_expansion: str | None
    final_text: str  # curation.rules.final_text: the latest edit, else the expansion, else the response
    final_words: int
    initial_words: int
    edited: bool
    gates: dict[str, Any] | str  # a dict; the stored JSON text when asked for (export)
    curator: str
    decided_at: str


class Job(TypedDict):
    id: int
    run_id: int | None
    iteration_id: int | None
    kind: str  # iterate, train:generator, train:extender, compare, eval
    status: str  # running, done, failed, cancelled, interrupted
    stage: str
    done: int
    total: int
    command: str  # as a user would type it
    pid: int | None
    log: str
    error: str | None
    cancel_requested: int
    metrics: str  # JSON of the trainer's latest metrics
    created_at: str
    started_at: str | None
    heartbeat_at: str | None
    finished_at: str | None
    stage_started_at: str | None
    stage_start_done: int
    run_name: NotRequired[str | None]  # live_jobs: the run's name


class Store(Protocol):
    """What the library needs from storage (implemented by `storage.Store`)."""

    path: Path

    # runs, iterations, instructions
    def create_run(self, name: str, generator_model: str, extender_model: str, backend: str, preset: str,
                   config: dict, seeds: list[dict]) -> Run: ...
    def get_run(self, name: str) -> Run | None: ...
    def require_run(self, name: str) -> Run: ...
    def set_curation(self, run_id: int, *, guidelines: str | None = None, overlap: int | None = None) -> None: ...
    def create_iteration(self, run_id: int, idx: int, generator: str, extender: str, config: dict) -> Iteration: ...
    def get_iteration(self, run_id: int, idx: int) -> Iteration | None: ...
    def iteration_by_id(self, iteration_id: int) -> Iteration | None: ...
    def latest_iteration(self, run_id: int) -> Iteration | None: ...
    def list_iterations(self, run_id: int) -> list[Iteration]: ...
    def update_iteration(self, iteration_id: int, **fields) -> None: ...
    def mark_step_done(self, iteration_id: int, step: str) -> None: ...
    def save_instructions(self, run_id: int, rows: list[dict]) -> None: ...
    def iteration_instructions(self, iteration_id: int, status: str | None = "accepted") -> list[Instruction]: ...
    def instruction_pool(self, run_id: int) -> list[Instruction]: ...
    def instruction_counts(self, iteration_id: int) -> dict: ...

    # samples and their expansion
    def save_samples(self, rows: list[dict]) -> None: ...
    def save_expansion(self, samples: list[dict], rounds: list[dict]) -> None: ...
    def update_sample_statuses(self, updates: dict[int, tuple[str, str | None, dict]]) -> None: ...
    def save_selection(self, iteration_id: int, dropped: dict[int, tuple[str, str | None, dict]],
                       copies: list[dict], mark: str) -> None: ...
    def iteration_samples(self, iteration_id: int, statuses: tuple[str, ...] | None = None) -> list[Sample]: ...
    def sample_at(self, instruction_id: int, slot: int) -> Sample | None: ...
    def sample_slots(self, iteration_id: int) -> set[tuple[int, int]]: ...
    def sample_status_counts(self, iteration_id: int) -> dict[str, int]: ...
    def rejection_counts(self, iteration_id: int) -> dict[str, int]: ...
    def word_stats(self, iteration_id: int) -> dict: ...
    def insight_samples(self, run_id: int) -> list[dict]: ...
    def insight_texts(self, iteration_id: int, limit: int = 300) -> list[dict]: ...

    # curator decisions
    def record_decisions(self, rows: list[dict], user: str = "") -> int: ...
    def record_unless_overtaken(self, rows: list[dict], seen: dict[int, int], user: str = "") -> Decision | None: ...
    def current_decisions(self, iteration_id: int) -> dict[int, Decision]: ...
    def last_decision_id(self, iteration_ids: list[int]) -> int: ...
    def verdict_counts(self, iteration_id: int) -> dict[str, int]: ...
    def export_samples(self, iteration_id: int, gates_as_json: bool = False) -> list[AcceptedSample]: ...
    def accepted_samples(self, iteration_id: int) -> list[AcceptedSample]: ...
    def preference_samples(self, iteration_id: int) -> list[dict]: ...
    def expansion_attempts(self, iteration_id: int) -> list[dict]: ...

    # jobs
    def start_job(self, kind: str, *, run_id: int, iteration_id: int | None = None, command: str = "") -> int: ...
    def get_job(self, job_id: int) -> Job | None: ...
    def update_job(self, job_id: int, **fields) -> None: ...
    def log_job(self, job_id: int, line: str) -> None: ...
    def finish_job(self, job_id: int, status: str, error: str | None = None) -> None: ...
    def request_cancel(self, job_id: int) -> None: ...
    def cancel_requested(self, job_id: int) -> bool: ...
    def live_jobs(self) -> list[Job]: ...
    def running_jobs(self, run_id: int) -> list[Job]: ...
    def record_metrics(self, job_id: int, *, step: int, train_loss=None, eval_loss=None, learning_rate=None,
                       tokens_per_second=None, reward_accuracy=None, reward_margin=None, eval_reward_accuracy=None,
                       eval_reward_margin=None) -> None: ...

    # the final stage
    def save_final_rows(self, run_id: int, rows: list[dict], settings: dict, stats: dict) -> None: ...
    def final_rows(self, run_id: int, verdicts: tuple | None = None) -> list[dict]: ...
    def finalization(self, run_id: int) -> dict | None: ...
    def get_final_row(self, run_id: int, row_id: int) -> dict: ...
    def decide_final_row(self, row_id: int, verdict: str, user: str, *, query: str | None = None,
                         response: str | None = None) -> None: ...
    def register_final_model(self, *, run_id: int, path: str, base_model: str, kind: str, data_size: int,
                             adapter_path: str | None = None, train_loss: float | None = None,
                             eval_loss: float | None = None, job_id: int | None = None,
                             config: dict | None = None) -> None: ...
    def final_model(self, run_id: int) -> dict | None: ...

    # checkpoints, comparisons, evaluations
    def register_checkpoint(self, *, run_id: int, iteration_id: int, role: str, path: str, base_model: str,
                            kind: str, data_size: int, adapter_path: str | None = None,
                            train_loss: float | None = None, eval_loss: float | None = None,
                            job_id: int | None = None, config: dict | None = None) -> None: ...
    def iteration_checkpoints(self, iteration_id: int) -> dict[str, dict]: ...
    def save_comparison(self, row: dict) -> int: ...
    def get_comparison(self, comparison_id: int) -> dict | None: ...
    def find_or_create_evaluation(self, *, run_id: int, iteration_idx: int, role: str, model: str, benchmark: str,
                                  digest: str, total: int, max_new_tokens: int, seed: int,
                                  job_id: int | None) -> dict: ...
    def get_evaluation(self, evaluation_id: int) -> dict | None: ...
    def eval_items(self, evaluation_id: int) -> list[dict]: ...
    def save_eval_items(self, evaluation_id: int, rows: list[dict]) -> None: ...
    def save_judgements(self, evaluation_id: int, judged: dict[int, dict]) -> None: ...
    def set_evaluation_summary(self, evaluation_id: int, summary: dict, status: str) -> None: ...
