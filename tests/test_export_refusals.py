"""Export refusals and failures: each leaves the disk as it was (no half export, no temporary folder, an
existing export untouched); a push that cannot reach the hub keeps the complete local export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from curated import curated_store, siblings, snapshot, snapshot_names
from selflengthen.errors import InputError, SelfLengthenError
from selflengthen.export import writer as export
from selflengthen.export.writer import export_dataset, export_rows, resolve_export_dir


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """(store, ids, None): exports only read the store, so one is shared by the module."""
    store, ids = curated_store(tmp_path_factory.mktemp("curated") / "studio.db")
    return store, ids, None  # the shape test_export.py's fixture has


# --- refusals ---------------------------------------------------------------------------------------

def test_unknown_iteration_lists_the_runs_iterations(curated, tmp_path):
    store, _, _ = curated
    with pytest.raises(InputError, match=r"run 'r' has no iteration 5 \(its iterations: 0, 1\)"):
        export_dataset(store, "r", iterations=[0, 5], fmt="messages", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs, message", [({"fmt": "chatml"}, "unknown export format 'chatml'"),
                                             ({"fmt": "messages", "output": "csv"}, "unknown export output 'csv'")])
def test_unknown_format_or_output_is_refused(curated, tmp_path, kwargs, message):
    store, _, _ = curated
    with pytest.raises(InputError, match=message):
        export_dataset(store, "r", out_dir=tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_nothing_accepted_is_refused(tmp_path, store):
    from scripted import reviewed_run

    run = reviewed_run(store, "fresh")
    iteration = store.latest_iteration(run["id"])
    first = store.iteration_samples(iteration["id"])[0]["id"]
    store.record_decision(first, "reject", reasons=["other"])
    with pytest.raises(InputError, match=r"nothing to export: no accepted samples in iteration\(s\) 0 of run 'fresh'"):
        export_dataset(store, "fresh", fmt="messages", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_dpo_without_any_pair_is_refused(curated, tmp_path, store):
    from scripted import reviewed_run

    run = reviewed_run(store, "fresh")
    sample = store.iteration_samples(store.latest_iteration(run["id"])["id"])[0]
    store.save_samples([{**sample, "final_expansion": None, "final_words": None, "rounds": 0}])
    store.record_decision(sample["id"], "accept")
    with pytest.raises(InputError, match="nothing to export as dpo"):
        export_dataset(store, "fresh", fmt="dpo", out_dir=tmp_path / "out")
    assert export_rows(store, "fresh", None, "messages")[1]["rows"] == 1


def test_an_existing_export_is_refused_without_overwrite_and_replaced_with_it(curated, tmp_path):
    store, _, _ = curated
    out = tmp_path / "out"
    export_dataset(store, "r", fmt="alpaca", out_dir=out)
    before = snapshot(out)
    with pytest.raises(InputError, match=f"{out} already exists; pass --overwrite to replace it"):
        export_dataset(store, "r", fmt="messages", out_dir=out)
    assert snapshot(out) == before
    result = export_dataset(store, "r", fmt="dpo", out_dir=out, output="parquet", overwrite=True, license="mit")
    assert snapshot_names(out) == result["files"] == ["README.md", "data.parquet"]
    assert 'license: "mit"' in (out / "README.md").read_text(encoding="utf-8")
    assert siblings(out) == []


def test_overwrite_never_replaces_a_folder_that_is_not_an_export(curated, tmp_path):
    store, _, _ = curated
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="is not an export .*'notes.txt'"):
        export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "home", overwrite=True)
    assert snapshot(tmp_path / "home") == {"notes.txt": b"keep me"}


def test_an_empty_folder_is_filled(curated, tmp_path):
    store, _, _ = curated
    (tmp_path / "empty").mkdir()
    assert export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "empty")["files"] == ["README.md",
                                                                                             "data.jsonl"]


def test_out_dir_that_is_a_file_is_refused(curated, tmp_path):
    store, _, _ = curated
    (tmp_path / "out").write_text("a file")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="is a file, not an export directory"):
            export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "out", overwrite=overwrite)
    assert (tmp_path / "out").read_text() == "a file" and siblings(tmp_path / "out") == []


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../../x", "", "  ", ".", "a/.."])
def test_resolve_export_dir_refuses_names_that_leave_the_root(tmp_path, name):
    with pytest.raises(InputError, match=str(tmp_path / "exports")):
        resolve_export_dir(tmp_path / "exports", name)


def test_resolve_export_dir_refuses_a_symlink_leading_out(tmp_path):
    root = tmp_path / "exports"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="must stay inside"):
        resolve_export_dir(root, "link")
    with pytest.raises(InputError, match="must stay inside"):
        resolve_export_dir(root, "link/sub")


def test_export_with_a_root_writes_inside_it(curated, tmp_path):
    store, _, _ = curated
    root = tmp_path / "exports"
    assert resolve_export_dir(root, "team/a/../v1") == (root / "team" / "v1").resolve()
    result = export_dataset(store, "r", fmt="messages", out_dir="team/v1", root=root)
    assert result["path"] == str((root / "team" / "v1").resolve()) and (root / "team" / "v1" / "data.jsonl").is_file()
    with pytest.raises(InputError, match="must stay inside"):
        export_dataset(store, "r", fmt="messages", out_dir="../v2", root=root)
    assert not (tmp_path / "v2").exists()


def _no_space(rows, path):
    Path(path).write_text("half a fi")
    raise OSError(28, "No space left on device")


def test_a_failed_write_leaves_no_trace(curated, tmp_path, monkeypatch):
    store, _, _ = curated
    monkeypatch.setattr(export, "write_jsonl", _no_space)
    out = tmp_path / "out"
    with pytest.raises(SelfLengthenError) as error:
        export_dataset(store, "r", fmt="messages", out_dir=out)
    assert str(error.value) == f"cannot write the export to {out}: [Errno 28] No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_overwrite_leaves_the_old_export(curated, tmp_path, monkeypatch):
    store, _, _ = curated
    out = tmp_path / "out"
    export_dataset(store, "r", fmt="sharegpt", out_dir=out)
    before = snapshot(out)
    monkeypatch.setattr(export, "write_jsonl", _no_space)
    with pytest.raises(SelfLengthenError, match="No space left on device"):
        export_dataset(store, "r", fmt="messages", out_dir=out, overwrite=True)
    assert snapshot(out) == before and siblings(out) == []


def test_a_failed_card_also_leaves_no_trace(curated, tmp_path, monkeypatch):
    store, _, _ = curated

    def broken_card(**kwargs):
        raise RuntimeError("card failed")

    monkeypatch.setattr(export, "build_card", broken_card)
    with pytest.raises(RuntimeError, match="card failed"):
        export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "out", output="parquet")
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_working_folders_of_dead_processes_are_cleaned(curated, tmp_path):
    store, _, _ = curated
    dead = _dead_pid()
    stale = tmp_path / f".out.tmp-{dead}-0badc0de"
    live = tmp_path / f".out.tmp-{os.getpid()}-0123abcd"  # an export running in this process right now
    stale.mkdir()
    live.mkdir()
    (stale / "data.jsonl").write_text("half")
    export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "out")
    assert not stale.exists() and live.exists()


def test_an_overwrite_killed_between_its_renames_gets_the_old_export_back(curated, tmp_path):
    store, _, _ = curated
    export_dataset(store, "r", fmt="alpaca", out_dir=tmp_path / "old")
    before = snapshot(tmp_path / "old")
    (tmp_path / "old").rename(tmp_path / f".out.old-{_dead_pid()}-feedf00d")
    with pytest.raises(InputError, match="already exists"):
        export_dataset(store, "r", fmt="messages", out_dir=tmp_path / "out")
    assert snapshot(tmp_path / "out") == before and siblings(tmp_path / "out") == []


# --- the hub ---------------------------------------------------------------------------------------

def test_push_offline_fails_clearly_after_a_complete_local_export(curated, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, at import
    store, _, _ = curated
    out = tmp_path / "out"
    with pytest.raises(SelfLengthenError) as error:
        export_dataset(store, "r", fmt="messages", out_dir=out, push_to_hub="me/sea", token="hf_x")
    message = str(error.value)
    assert message.startswith("could not push to the hub repo me/sea: ") and "offline mode is enabled" in message
    assert message.endswith(f"; the local export in {out} is complete, nothing was uploaded")
    assert "\n" not in message and snapshot_names(out) == ["README.md", "data.jsonl"]
