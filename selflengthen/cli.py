"""Command line: thin commands over the library and the store. `--help` is instant (heavy imports are lazy)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from selflengthen.errors import SelfLengthenError
from selflengthen.evaluation.parsers import add_eval_parser
from selflengthen.finalize.parsers import add_finalize_parsers
from selflengthen.training.parsers import add_pairs_parser, add_train_parser


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m selflengthen",
                                description="Self-Lengthen: iteratively teach a model to write longer.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("demo-model", help="build the offline tiny demo model into DIR")
    c.add_argument("dir")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--steps", type=int, default=None, help="training steps (0 = random weights)")

    c = sub.add_parser("init", help="create a run from seed instructions")
    _db_name(c)
    c.add_argument("--model", required=True, help="generator model: local directory or hub id")
    c.add_argument("--extender-model", help="extender model (default: the generator model)")
    c.add_argument("--seeds", help="JSONL with an 'instruction' field, or one instruction per line (default: the "
                                  "bundled English seeds; with --preset paper, English and Chinese)")
    c.add_argument("--preset", help="demo or paper (default: the config file's, else demo)")
    c.add_argument("--config", help="JSON file merged over the preset")
    c.add_argument("--backend", help="transformers, vllm or openai (default: the config's)")

    c = sub.add_parser("iterate", help="run the current iteration up to human review")
    _db_name(c)
    c.add_argument("--steps", help="comma-separated subset of augment,generate,expand,filter")
    c.add_argument("--n-instructions", type=int, help="instructions for this iteration (overrides the config)")
    c.add_argument("--quiet", action="store_true", help="no progress bars")

    c = sub.add_parser("review", help="record curator decisions on the current iteration's samples")
    _db_name(c)
    what = c.add_mutually_exclusive_group(required=True)
    what.add_argument("--accept-passing", action="store_true", help="accept every undecided sample that passed")
    what.add_argument("--accept", type=int, nargs="+", metavar="ID")
    what.add_argument("--reject", type=int, nargs="+", metavar="ID")
    what.add_argument("--undo", type=int, nargs="+", metavar="ID", help="withdraw your verdict on these samples")
    what.add_argument("--edit", type=int, metavar="ID", help="accept this sample with --text-file as its final text")
    c.add_argument("--text-file", help="the edited final text (with --edit)")
    c.add_argument("--reason", action="append", default=[], help="reject reason (repeatable)")
    c.add_argument("--note", default="")
    c.add_argument("--user", default=None, help="curator name (default: the login name)")
    c.add_argument("--override", action="store_true",
                   help="record even where another curator decided the sample differently (overlap 1)")

    add_train_parser(sub, _db_name)

    c = sub.add_parser("loop", help="run K whole iterations unattended: iterate, accept what passed, train")
    _db_name(c)
    c.add_argument("--iterations", type=int, required=True)
    c.add_argument("--auto-accept", action="store_true", required=True,
                   help="accept every sample that passed the gates, in place of a curator")
    c.add_argument("--config", help="JSON file of training settings merged over the run's preset")
    c.add_argument("--quiet", action="store_true")

    c = sub.add_parser("curation", help="show or set a run's curation guidelines (markdown) and overlap")
    _db_name(c)
    c.add_argument("--guidelines", metavar="FILE", help="markdown file curators see beside each sample")
    c.add_argument("--overlap", type=int, help="how many curators see each sample (1-10)")

    c = sub.add_parser("cancel", help="ask the run's running jobs to stop (finished work and checkpoints are kept)")
    _db_name(c)

    c = sub.add_parser("status", help="per-iteration counts, curation and word statistics")
    _db_name(c)
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("compare", help="answer one instruction with two iterations' generators, side by side")
    _db_name(c)
    c.add_argument("--iterations", required=True, help="two iteration indexes, e.g. 0,2")
    c.add_argument("--instruction", required=True)
    c.add_argument("--max-new-tokens", type=int, help="default: the run's generate.max_new_tokens")
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("chat", help="one reply from a model or checkpoint (local directory or hub id)")
    c.add_argument("--model", required=True)
    c.add_argument("--message", required=True, action="append",
                   help="repeat for a conversation: yours, the model's, yours, ... (the reply answers the last)")
    c.add_argument("--max-new-tokens", type=int, default=256)
    c.add_argument("--temperature", type=float, default=0.7)
    c.add_argument("--seed", type=int, default=0)

    add_eval_parser(sub, _db_name)

    c = sub.add_parser("serve-command", help="the vllm serve command that serves the next iteration's models "
                                             "(both roles' LoRA adapters on one base)")
    _db_name(c)

    c = sub.add_parser("export", help="write the accepted samples as a training dataset (with a dataset card)")
    _db_name(c)
    c.add_argument("--iterations", help="comma-separated iteration indexes (default: every iteration)")
    c.add_argument("--final", action="store_true", help="export the run's final set (`finalize`), not its samples")
    c.add_argument("--format", required=True,
                   choices=("messages", "prompt-completion", "alpaca", "sharegpt", "extender", "dpo", "pairs", "kto"))
    c.add_argument("--out", required=True, help="the export directory (created; refused if it exists)")
    c.add_argument("--as", dest="output", default="jsonl", choices=("jsonl", "parquet", "hf"))
    c.add_argument("--overwrite", action="store_true", help="replace an existing export in --out")
    c.add_argument("--license", default="other", help="licence id written in the dataset card (e.g. apache-2.0)")
    c.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the export to this hub dataset repo")
    c.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("config", help="print a preset's fully resolved configuration (every field)")
    c.add_argument("--preset", help="demo or paper (default: the config file's, else demo)")
    c.add_argument("--config", help="JSON file merged over the preset")
    c.add_argument("--json", action="store_true")

    c = sub.add_parser("gates", help="every gate's verdict and reason on each text of a JSONL file")
    c.add_argument("file", help="JSONL: 'text', optional 'language' (en/zh; detected when absent) and 'stage' "
                                "(generate, stage1 or expand; default generate)")
    c.add_argument("--preset", help="demo or paper (default: the config file's, else demo)")
    c.add_argument("--config", help="JSON file merged over the preset")
    c.add_argument("--json", action="store_true", help="one JSON object per input line")

    add_finalize_parsers(sub, _db_name)
    add_pairs_parser(sub, _db_name)
    return p


def _db_name(c: argparse.ArgumentParser) -> None:
    c.add_argument("--db", required=True, help="SQLite database file")
    c.add_argument("--name", required=True, help="run name")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = globals()[f"cmd_{args.command.replace('-', '_')}"]
    try:
        return command(args) or 0
    except SelfLengthenError as e:  # includes the store's StoreError
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`config | head`): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _open_store(path: str, must_exist: bool = True):
    from storage import Store

    if must_exist and not Path(path).exists():
        raise SelfLengthenError(f"database not found: {path}")
    return Store(path)


def cmd_demo_model(args) -> None:
    from selflengthen.demo.model import build_demo_model

    out = build_demo_model(Path(args.dir), seed=args.seed, steps=args.steps)
    print(f"demo model written to {out}")


def cmd_init(args) -> None:
    from selflengthen.runs.setup import prepare_run

    run = prepare_run(preset=args.preset, config_file=args.config, backend=args.backend, model=args.model,
                      extender_model=args.extender_model, seeds_file=args.seeds)
    store = _open_store(args.db, must_exist=False)
    created = store.create_run(args.name, run.generator_model, run.extender_model, run.config.backend.name,
                               run.config.preset, run.config.to_dict(),
                               [{"text": s.text, "language": s.language} for s in run.seeds])
    print(f"run '{created['name']}' created with {len(run.seeds)} seed instructions ({run.config.preset} preset)")


def cmd_iterate(args) -> None:
    from selflengthen.jobs.commands import cli_command, shown
    from selflengthen.jobs.runner import run_iterate_job

    store = _open_store(args.db)
    command = shown(cli_command(*sys.argv[1:]))
    iteration = run_iterate_job(store, args.name, steps=args.steps, n_instructions=args.n_instructions,
                                command=command, show_progress=not args.quiet)
    print(f"iteration {iteration['idx']}: {iteration['status']}")


def cmd_review(args) -> None:
    from selflengthen.curation.decisions import review

    store = _open_store(args.db)
    user = args.user or os.environ.get("SELFLENGTHEN_USER") or getpass.getuser()
    edited = _read_markdown(args.text_file) if args.text_file else None
    n = review(store, args.name, accept_passing=args.accept_passing, accept=args.accept, reject=args.reject,
               undo=args.undo, edit=args.edit, edited_text=edited, reasons=args.reason, note=args.note, user=user,
               override=args.override)
    print(f"{n} decisions recorded")


def _train_overrides(path: str | None) -> dict | None:
    from selflengthen.config import load_config_file

    return load_config_file(path) if path else None


def cmd_train(args) -> None:
    from selflengthen.training.job import run_final_train_job, run_train_job

    store, settings = _open_store(args.db), dict(config_overrides=_train_overrides(args.config),
                                                 accelerate_config=args.accelerate_config, show_output=not args.quiet)
    if args.base and not args.final:
        raise SelfLengthenError("--base goes with --final (an iteration's roles start from the iteration's models)")
    if args.stage == "preference":
        from selflengthen.training.parsers import preference_step

        checkpoints = preference_step(store, args, settings)
    else:
        checkpoints = ([run_final_train_job(store, args.db, args.name, base=args.base, **settings)] if args.final
                       else run_train_job(store, args.db, args.name, role=args.role, **settings))
    for ck in checkpoints:
        print(f"{ck.get('role', 'final')}: {ck['path']} ({ck['kind']}, {ck['data_size']} rows, train loss "
              f"{ck['train_loss']})")


def cmd_loop(args) -> None:
    from selflengthen.training.job import run_train_job
    from selflengthen.jobs.runner import run_iterate_job
    from selflengthen.curation.decisions import review

    if args.iterations < 1:
        raise SelfLengthenError("--iterations must be at least 1")
    store = _open_store(args.db)
    overrides = _train_overrides(args.config)
    for _ in range(args.iterations):
        iteration = run_iterate_job(store, args.name, show_progress=not args.quiet)
        accepted = review(store, args.name, accept_passing=True, user="auto-accept")
        print(f"iteration {iteration['idx']}: {accepted} samples accepted", flush=True)
        run_train_job(store, args.db, args.name, config_overrides=overrides, show_output=not args.quiet)
        print(f"iteration {iteration['idx']}: trained", flush=True)


def _read_markdown(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SelfLengthenError(f"cannot read {path}: {e}") from None


def cmd_curation(args) -> None:
    store = _open_store(args.db)
    run = store.require_run(args.name)
    guidelines = _read_markdown(args.guidelines) if args.guidelines else None
    store.set_curation(run["id"], guidelines=guidelines, overlap=args.overlap)
    run = store.require_run(args.name)
    print(f"overlap: {run['overlap']} curator(s) per sample")
    print(run["guidelines"] or "(no guidelines)")


def cmd_cancel(args) -> None:
    store = _open_store(args.db)
    jobs = store.running_jobs(store.require_run(args.name)["id"])
    for job in jobs:
        store.request_cancel(job["id"])
        print(f"asked job {job['id']} ({job['kind']}, pid {job['pid']}) to stop")
    if not jobs:
        print("no running job")


def cmd_status(args) -> None:
    from selflengthen.runs.status import format_status, run_status

    store = _open_store(args.db)
    status = run_status(store, store.require_run(args.name))
    print(json.dumps(status, indent=2, ensure_ascii=False) if args.json else format_status(status))


def cmd_compare(args) -> None:
    from selflengthen.evaluation.compare import parse_iteration_pair, run_compare_job

    store = _open_store(args.db)
    a, b = parse_iteration_pair(args.iterations)
    row = run_compare_job(store, args.name, a, b, args.instruction, max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(row, ensure_ascii=False))
        return
    for side in ("a", "b"):
        print(f"--- iteration {row['iteration_' + side]} ({row['words_' + side]} words; {row['model_' + side]})")
        print(row["response_" + side])


def cmd_chat(args) -> None:
    from selflengthen.training.chat import alternating_turns, chat_reply

    print(chat_reply(args.model, alternating_turns(args.message), max_new_tokens=args.max_new_tokens,
                     temperature=args.temperature, seed=args.seed))


def _resolved_config(preset: str | None, config_file: str | None):
    from selflengthen.config import load_config_file, resolve_config

    return resolve_config(preset, load_config_file(config_file) if config_file else {})


def cmd_config(args) -> None:
    from selflengthen.config import flat_fields

    config = _resolved_config(args.preset, args.config)
    if args.json:
        print(config.to_json())
        return
    for name, value, help in flat_fields(config):
        shown = ", ".join(value) if name == "prompts.text" else json.dumps(value, ensure_ascii=False)
        print(f"{name} = {shown}  # {help}")


def cmd_gates(args) -> None:
    from selflengthen.inputs import json_records
    from selflengthen.stages.common import gate_verdicts

    config = _resolved_config(args.preset, args.config)
    for where, record in json_records(args.file, 16_000_000):
        verdict = gate_verdicts(*_gate_input(where, record), config)
        if args.json:
            print(json.dumps(verdict, ensure_ascii=False))
            continue
        failed = [g for g in verdict["gates"] if not g["passed"]]
        print(f"{where}: " + ("pass" if not failed else "; ".join(f"{g['gate']}: {g['reason']}" for g in failed)))


def _gate_input(where: str, record: dict) -> tuple[str, str, str]:
    """(text, language, stage) of one line of a `gates` file, each field checked."""
    from selflengthen.method.words import detect_language
    from selflengthen.stages.common import STAGES_GATED

    text, stage = record.get("text"), record.get("stage", "generate")
    if not isinstance(text, str):
        raise SelfLengthenError(f"{where}: field 'text' must be a string")
    language = record.get("language") or detect_language(text)
    if language not in ("en", "zh"):
        raise SelfLengthenError(f"{where}: field 'language' must be en or zh (got {language!r:.40})")
    if stage not in STAGES_GATED:
        raise SelfLengthenError(f"{where}: field 'stage' must be one of {', '.join(STAGES_GATED)} (got {stage!r:.40})")
    return text, language, stage


def cmd_score(args) -> None:
    from selflengthen.evaluation.parsers import score_command

    score_command(args)


def cmd_pairs(args) -> None:
    from selflengthen.training.parsers import pairs_command

    pairs_command(_open_store(args.db), args)


def cmd_finalize(args) -> None:
    from selflengthen.finalize.commands import finalize

    finalize(_open_store(args.db), args)


def cmd_final_decide(args) -> None:
    from selflengthen.finalize.commands import final_decide

    final_decide(_open_store(args.db), args)


def cmd_serve_command(args) -> None:
    from selflengthen.jobs.serving import next_serve_command

    print(next_serve_command(_open_store(args.db), args.name))


def cmd_eval(args) -> None:
    from selflengthen.evaluation.job import format_summary, judge_settings, run_eval_job

    store = _open_store(args.db)
    judge = judge_settings(args.judge_model, args.judge_backend, args.judge_base_url)
    evaluation = run_eval_job(store, args.name, args.iteration, role=args.role, benchmark=args.benchmark,
                              limit=args.limit, max_new_tokens=args.max_new_tokens, judge=judge,
                              show_progress=not args.quiet, language=args.language)
    print(json.dumps(evaluation, ensure_ascii=False) if args.json else format_summary(evaluation))


def cmd_export(args) -> None:
    from selflengthen.export.writer import export_dataset, export_summary, parse_iterations

    result = export_dataset(_open_store(args.db), args.name, iterations=parse_iterations(args.iterations),
                            fmt=args.format, out_dir=args.out, output=args.output, overwrite=args.overwrite,
                            license=args.license, push_to_hub=args.push_to_hub, private=args.private,
                            final=args.final)
    print(json.dumps(result, ensure_ascii=False) if args.json else export_summary(result))
