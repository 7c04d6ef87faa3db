"""Export a run's curated samples as a training dataset, with a dataset card, optionally pushed to the hub.

Only accepted samples go out (an edit wins over the model's text), from the chosen iterations, in one of
FORMATS, written as JSONL, Parquet or a `datasets` folder; or the iterations' preference data (`pairs`, `kto`:
see export.pairs); or, with `final`, the run's final set (`finalize`, see export.final) in the same way. An
export is built in a temporary sibling directory and renamed into place, so a reader never sees half of one
and a failure changes nothing.

datasets, pyarrow and huggingface_hub are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.export.card import build_card, build_final_card, llamafactory_info
from selflengthen.export.final import check_final_request, final_rows_for_export
from selflengthen.export.formats import FORMATS as SAMPLE_FORMATS
from selflengthen.export.formats import build_rows, is_pair, iteration_stats, provenance
from selflengthen.export.pairs import PAIR_FORMATS, build_pairs_card, pair_rows_for_export
from selflengthen.inputs import parse_iterations
from selflengthen.jobs.commands import cli_command, pid_alive, shown
from selflengthen.shapes import Run, Store

__all__ = ["FORMATS", "OUTPUTS", "export_command", "export_dataset", "export_rows", "export_summary",
           "parse_iterations", "resolve_export_dir"]

OUTPUTS = ("jsonl", "parquet", "hf")
FORMATS = SAMPLE_FORMATS + PAIR_FORMATS
# What the card's YAML points the hub's loader at, per output.
DATA_FILES = {"jsonl": "data.jsonl", "parquet": "data.parquet", "hf": "data/*.arrow"}
# Everything an export directory may hold: --overwrite replaces only a directory made of these.
EXPORT_ENTRIES = {"README.md", "dataset_info.json", "data.jsonl", "data.parquet", "data"}


# --- arguments ----------------------------------------------------------------------------------

def resolve_export_dir(root: str | Path, name: str) -> Path:
    """The export folder `name` (as typed in the dashboard) inside `root`, symlinks resolved.

    >>> resolve_export_dir("/srv/exports", "sea/v1").as_posix()
    '/srv/exports/sea/v1'
    >>> resolve_export_dir("/srv/exports", "../etc")
    Traceback (most recent call last):
    selflengthen.errors.InputError: the export folder must stay inside /srv/exports (got '../etc')
    """
    root = Path(root).expanduser()
    name = (name or "").strip()
    if not name:
        raise InputError(f"give the export a folder name (it is created inside {root})")
    if Path(name).is_absolute():
        raise InputError(f"the export folder must be a name inside {root}, not an absolute path (got {name!r})")
    real_root = root.resolve()
    target = (real_root / name).resolve()  # follows symlinks, so one that leads out is caught below
    if target == real_root or not target.is_relative_to(real_root):
        raise InputError(f"the export folder must stay inside {root} (got {name!r})")
    return target


def export_command(db, run_name: str, *, iterations=None, fmt: str, out_dir, output: str = "jsonl",
                   overwrite: bool = False, license: str = "other", push_to_hub: str | None = None,
                   final: bool = False) -> list[str]:
    """The `python -m selflengthen export` twin of an export (`iterations`: a list or "0,2").

    >>> shown(export_command("s.db", "r", iterations=[0, 2], fmt="dpo", out_dir="out", output="parquet"))
    'python -m selflengthen export --db s.db --name r --iterations 0,2 --format dpo --out out --as parquet'
    >>> shown(export_command("s.db", "r", fmt="messages", out_dir="out", license="mit"))
    'python -m selflengthen export --db s.db --name r --format messages --out out --as jsonl --license mit'
    >>> shown(export_command("s.db", "r", fmt="alpaca", out_dir="out", final=True))
    'python -m selflengthen export --db s.db --name r --final --format alpaca --out out --as jsonl'
    """
    args = ["export", "--db", str(db), "--name", run_name] + (["--final"] if final else [])
    if iterations:
        args += ["--iterations", iterations if isinstance(iterations, str) else ",".join(map(str, iterations))]
    args += ["--format", fmt, "--out", str(out_dir), "--as", output]  # the output always said: it names the files
    args += ["--overwrite"] if overwrite else []
    args += ["--license", license] if license != "other" else []
    args += ["--push-to-hub", push_to_hub] if push_to_hub else []
    return cli_command(*args)


# --- rows -----------------------------------------------------------------------------------------

def _chosen_iterations(store: Store, run: Run, iterations: list[int] | None) -> list[dict]:
    known = store.list_iterations(run["id"])
    if iterations is None:
        return known
    by_idx = {it["idx"]: it for it in known}
    unknown = [idx for idx in iterations if idx not in by_idx]
    if unknown:
        raise InputError(f"run '{run['name']}' has no iteration {unknown[0]} "
                         f"(its iterations: {', '.join(str(it['idx']) for it in known)})")
    return [by_idx[idx] for idx in sorted(set(iterations))]


def _collect(store: Store, run_name: str, iterations: list[int] | None, fmt: str) -> tuple[list[dict], dict, dict]:
    """(rows, stats, {run, iterations, languages}): one store query per iteration."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format '{fmt}' (formats: {', '.join(FORMATS)})")
    if fmt in PAIR_FORMATS:
        return pair_rows_for_export(store, run_name, iterations, fmt)
    run = store.require_run(run_name)
    chosen = _chosen_iterations(store, run, iterations)
    rows, per_iteration, languages = [], {}, set()
    for iteration in chosen:
        samples = store.export_samples(iteration["id"], gates_as_json=True)
        exported = [s for s in samples if is_pair(s)] if fmt == "dpo" else samples
        for row, sample in zip(build_rows(fmt, exported), exported):
            row["provenance"] = provenance(run["name"], iteration, sample)
            rows.append(row)
        per_iteration[iteration["idx"]] = iteration_stats(exported, len(samples) - len(exported))
        languages.update(s["language"] for s in exported)
    where = f"iteration(s) {', '.join(str(it['idx']) for it in chosen)} of run '{run['name']}'"
    if not any(s["rows"] + s["skipped"] for s in per_iteration.values()):
        raise InputError(f"nothing to export: no accepted samples in {where}")
    if not rows:
        raise InputError(f"nothing to export as dpo: every accepted sample in {where} is its initial response "
                         "(no expansion to prefer)")
    stats = {"rows": len(rows), "skipped": sum(s["skipped"] for s in per_iteration.values()),
             "per_iteration": per_iteration}
    return rows, stats, {"run": run, "iterations": [it["idx"] for it in chosen], "languages": sorted(languages)}


def export_rows(store: Store, run_name: str, iterations: list[int] | None, fmt: str) -> tuple[list[dict], dict]:
    """(rows, stats) of an export: the rows of `fmt` with their provenance, and per-iteration counts and
    length statistics. Refuses an unknown format or iteration, and an export with nothing in it."""
    rows, stats, _ = _collect(store, run_name, iterations, fmt)
    return rows, stats


# --- writing --------------------------------------------------------------------------------------

def write_jsonl(rows: list[dict], path: Path) -> None:
    import orjson  # UTF-8 bytes directly, ~5x the standard encoder: JSON encoding was half of a big export

    dumps, newline = orjson.dumps, b"\n"
    with open(path, "wb", buffering=1 << 20) as f:
        for row in rows:
            f.write(dumps(row) + newline)


def write_parquet(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def write_hf(rows: list[dict], path: Path) -> None:
    from datasets import Dataset

    # One shard: LLaMA-Factory's dataset_info.json names a single data file.
    Dataset.from_list(rows).save_to_disk(str(path), num_shards=1)


def _write_data(output: str, rows: list[dict], folder: Path) -> str:
    """Write the rows into `folder`; returns the data file's name relative to it (looked up at call time,
    so a test can replace a writer)."""
    writer = {"jsonl": write_jsonl, "parquet": write_parquet, "hf": write_hf}[output]
    writer(rows, folder / DATA_FILES[output].split("/")[0])
    if output == "hf":
        return next(p.relative_to(folder).as_posix() for p in sorted((folder / "data").glob("*.arrow")))
    return DATA_FILES[output]


def _card(stats: dict, meta: dict, *, fmt: str, output: str, license: str, command: str) -> str:
    """The dataset card of an export of iteration samples, or of the final set (meta["final"])."""
    common = {"fmt": fmt, "output": output, "stats": stats, "license": license, "data_files": DATA_FILES[output],
              "command": command, "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if meta.get("final"):
        return build_final_card(meta=meta, **common)
    if meta.get("pairs"):
        return build_pairs_card(meta=meta, **common)
    return build_card(run=meta["run"], iterations=meta["iterations"], languages=meta["languages"], **common)


def _write_export(folder: Path, rows: list[dict], stats: dict, meta: dict, *, fmt: str, output: str,
                  license: str, command: str, name: str) -> None:
    data_file = _write_data(output, rows, folder)
    card = _card(stats, meta, fmt=fmt, output=output, license=license, command=command)
    (folder / "README.md").write_text(card, encoding="utf-8")
    if fmt in ("alpaca", "sharegpt"):
        info = llamafactory_info(name, fmt, data_file)
        (folder / "dataset_info.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")


# --- the directory --------------------------------------------------------------------------------

def _sibling(target: Path, kind: str) -> Path:
    """A hidden working directory next to the target, named after this process (see _remove_stale)."""
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _remove_stale(target: Path) -> None:
    """Remove the working directories that dead processes left next to the target. An `old` one whose
    target is gone is an export replaced halfway (killed between its two renames): it is put back."""
    if not target.parent.is_dir():
        return
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(\d+)-[0-9a-f]{{8}}")
    for entry in target.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if not match or pid_alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and not os.path.lexists(target):
            entry.rename(target)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _occupied(target: Path) -> bool:
    return target.is_dir() and any(target.iterdir())


def _refuse_existing(target: Path, overwrite: bool) -> None:
    if os.path.lexists(target) and not target.is_dir():
        raise InputError(f"{target} is a file, not an export directory")
    if not _occupied(target):
        return  # absent, or an empty directory: the export takes its place
    if not overwrite:
        raise InputError(f"{target} already exists; pass --overwrite to replace it")
    stray = sorted(p.name for p in target.iterdir() if p.name not in EXPORT_ENTRIES)
    if stray or not (target / "README.md").is_file():
        found = f"it holds {stray[0]!r}" if stray else "it has no README.md"
        raise InputError(f"{target} is not an export ({found}); refusing to replace it, choose another folder")


def _prepare_target(target: Path, overwrite: bool) -> None:
    """Clear dead processes' leftovers, then refuse a target that must not be replaced."""
    try:
        _remove_stale(target)
        _refuse_existing(target, overwrite)
    except OSError as e:  # an unreadable parent folder, say
        raise SelfLengthenError(f"cannot write the export to {target}: {e}") from None


def _move_into_place(folder: Path, target: Path) -> None:
    """Rename the finished export onto the target; an old export is set aside first, removed after."""
    if not _occupied(target):
        os.rename(folder, target)  # an empty directory is replaced by the rename
        return
    old = _sibling(target, "old")
    os.rename(target, old)
    try:
        os.rename(folder, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_atomically(target: Path, build) -> list[str]:
    """Run build(folder) in a temporary sibling directory, then move it onto the target; the files written
    (relative names, sorted). Any failure removes the temporary directory and leaves the target as it was."""
    folder = _sibling(target, "tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
        build(folder)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        _move_into_place(folder, target)
        return files
    except OSError as e:
        raise SelfLengthenError(f"cannot write the export to {target}: {e}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # gone already after a successful rename


# --- the export -------------------------------------------------------------------------------------

def _push(folder: Path, repo_id: str, private: bool, token: str | None) -> str:
    """Upload the finished export as one commit, so the hub never holds half of one."""
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                          commit_message="Self-Lengthen export")
    except Exception as e:  # offline mode, no network, bad token, bad repo id: all end the same way
        reason = " ".join(str(e).split())[:300] or type(e).__name__
        raise SelfLengthenError(f"could not push to the hub repo {repo_id}: {reason}; the local export in "
                                f"{folder} is complete, nothing was uploaded") from None
    return repo_id


def export_dataset(store: Store, run_name: str, *, iterations: list[int] | None = None, fmt: str, out_dir,
                   output: str = "jsonl", overwrite: bool = False, license: str = "other",
                   push_to_hub: str | None = None, private: bool = False, token: str | None = None,
                   root=None, final: bool = False) -> dict:
    """Write the export (data, README.md card, dataset_info.json for alpaca/sharegpt) into `out_dir` (a
    folder name inside `root` when root is given), then push it when `push_to_hub` names a repo.

    With `final`, the export is the run's final set instead of its iteration samples (export.final).
    Returns {path, files, rows, skipped, format, output, pushed} with per_iteration, or with `types` and
    `final` for the final set.
    """
    if output not in OUTPUTS:
        raise InputError(f"unknown export output '{output}' (outputs: {', '.join(OUTPUTS)})")
    if fmt not in FORMATS:
        raise InputError(f"unknown export format '{fmt}' (formats: {', '.join(FORMATS)})")
    if final:
        check_final_request(fmt, iterations)
    license = " ".join((license or "").split()) or "other"
    target = resolve_export_dir(root, out_dir) if root is not None else Path(out_dir).expanduser().resolve()
    _prepare_target(target, overwrite)
    rows, stats, meta = (final_rows_for_export(store, run_name, fmt) if final else
                         _collect(store, run_name, iterations, fmt))
    command = shown(export_command(store.path, run_name, iterations=iterations, fmt=fmt,
                                   out_dir=target if root is not None else out_dir, output=output,
                                   overwrite=overwrite, license=license, push_to_hub=push_to_hub,
                                   final=final))
    files = _write_atomically(target, lambda folder: _write_export(
        folder, rows, stats, meta, fmt=fmt, output=output, license=license, command=command, name=target.name))
    pushed = _push(target, push_to_hub, private, token) if push_to_hub else None
    detail = {"types": stats["types"], "final": True} if final else {"per_iteration": stats["per_iteration"]}
    return {"path": str(target), "files": files, "rows": stats["rows"], "skipped": stats["skipped"], **detail,
            "format": fmt, "output": output, "pushed": pushed}


def export_summary(result: dict) -> str:
    """The one line the CLI prints after an export.

    >>> export_summary({"rows": 3, "path": "/x/out", "files": ["README.md", "data.jsonl"], "final": True})
    '3 final rows written to /x/out (README.md, data.jsonl)'
    """
    what = "final rows" if result.get("final") else "rows"
    return f"{result['rows']} {what} written to {result['path']} ({', '.join(result['files'])})"
