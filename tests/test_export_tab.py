"""Export tab: a preview of what would be written, an export into a folder under the export root, and the
refusals (a folder leading out of the root, an existing export without consent, nothing ticked)."""

import json
import re

import pytest

from scripted import reviewed_run
from studios import studio_for
from ui import export as tab

EDIT = "An edited answer, <script>alert(1)</script> kept as text."


@pytest.fixture
def studio(store):
    reviewed_run(store)
    iteration = store.latest_iteration(store.get_run("r")["id"])
    samples = store.iteration_samples(iteration["id"])
    store.record_decision(samples[0]["id"], "accept", edited_text=EDIT, user="alice")
    store.record_decision(samples[1]["id"], "accept", user="bob")
    store.record_decision(samples[2]["id"], "reject", reasons=["too_short"], user="bob")
    return studio_for(store)


def plain(markdown: str) -> str:
    """A message as it reads on the page (markdown escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


FIELDS = ("messages", "jsonl", "first", False, "apache-2.0", "")


def test_preview_then_export_into_the_root(studio):
    iterations, exports = tab.refresh(studio, "r")
    assert iterations["choices"] == [("iteration 0", 0)] and iterations["value"] == [0] and exports.empty
    stats, sample, counts = tab.preview(studio, "r", [0], "messages")
    assert counts == "2 rows." and stats.values.tolist()[0][:4] == [0, 2, 1, 0]
    first = json.loads(sample.split("\n}\n")[0] + "\n}")
    assert first["messages"][-1] == {"role": "assistant", "content": EDIT}
    command = tab.command_preview(studio, "r", [0], *FIELDS)
    root = tab.export_root(studio)
    assert command == (f"python -m selflengthen export --db {studio.db_path} --name r --iterations 0 --format "
                       f"messages --out {root / 'first'} --as jsonl --license apache-2.0")
    message, exports = tab.run_export(studio, "r", [0], *FIELDS, False, "")
    assert message.startswith(f"Exported 2 rows to `{root / 'first'}`"), message
    assert exports["folder"].tolist() == ["first"] and "data.jsonl" in exports["files"][0]
    rows = [json.loads(line) for line in (root / "first" / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["provenance"]["curator"] for r in rows] == ["alice", "bob"] and rows[0]["provenance"]["edited"]
    assert "apache-2.0" in (root / "first" / "README.md").read_text(encoding="utf-8")


def test_refusals_leave_the_disk_as_it_was(studio, tmp_path):
    assert tab.run_export(studio, "r", [0], *FIELDS, False, "")[0].startswith("Exported")
    before = (tab.export_root(studio) / "first" / "data.jsonl").read_bytes()
    again, _ = tab.run_export(studio, "r", [0], "dpo", "jsonl", "first", False, "other", "", False, "")
    assert again.startswith("**Not exported**") and "already exists" in again and "overwrite" in again
    assert (tab.export_root(studio) / "first" / "data.jsonl").read_bytes() == before
    for folder in ("../outside", "/tmp/elsewhere", "a/../../outside"):
        message, _ = tab.run_export(studio, "r", [0], "messages", "jsonl", folder, False, "other", "", False, "")
        assert message.startswith("**Not exported**") and str(tab.export_root(studio)) in plain(message), message
    assert not (tmp_path / "outside").exists()
    assert tab.run_export(studio, "r", [], *FIELDS, False, "")[0] == "**Not exported**: tick at least one iteration"
    assert tab.run_export(studio, "r", [0], "messages", "jsonl", " ", False, "other", "", False, "")[0] == (
        "**Not exported**: name the export folder")
    assert tab.command_preview(studio, None, [0], *FIELDS) == "(not ready: pick a run first)"
    stats, sample, counts = tab.preview(studio, "r", [], "messages")
    assert stats.empty and sample == "" and counts.startswith("**Nothing to preview**")
    replaced, _ = tab.run_export(studio, "r", [0], "dpo", "parquet", "first", True, "other", "", False, "")
    assert replaced.startswith("Exported"), replaced
    assert sorted(p.name for p in (tab.export_root(studio) / "first").iterdir()) == ["README.md", "data.parquet"]
