"""Export a run's preference data: the `pairs` format (trl's prompt / chosen / rejected, every kind of pair that
`training.pairs` makes from curator decisions and expansion attempts) and the `kto` format (prompt / completion /
label, each decided sample once). Rows are built by `training.pairs.collect_pairs`, the same rows `pairs --out`
writes and the preference step trains on; here they get the export's provenance column and dataset card.
"""

from __future__ import annotations

import json

from selflengthen.errors import InputError
from selflengthen.export.card import _licence, _table, fenced, front_matter, md
from selflengthen.export.formats import word_stats
from selflengthen.shapes import Store
from selflengthen.training.pairs import PAIR_KINDS, collect_pairs, turn_words

PAIR_FORMATS = ("pairs", "kto")
PAIR_COLUMNS = {
    "pairs": {"prompt": "the request both texts answer, as a message list (the generator's prompt; for `attempt` "
                        "pairs the extender's expansion prompt)",
              "chosen": "the preferred text (assistant turn)", "rejected": "the other text (assistant turn)"},
    "kto": {"prompt": "the generator's request, as a message list",
            "completion": "a text a curator decided on (assistant turn; an edit wins over the model's text)",
            "label": "true when the curator accepted it, false when they rejected it"},
}
PAIR_KIND_HELP = {
    "expansion": "the sample's final expansion over its initial response (a sample a curator rejected gives none)",
    "edit": "a curator's edit over the model's text it replaced",
    "verdict": "an accepted text over a rejected one answering the same instruction",
    "attempt": "an expansion attempt that was kept over one that failed on the same text (the extender's prompt)",
}
PAIR_PROVENANCE_HELP = {
    "run": "the run's name", "iteration": "the iteration index", "kind": "why one text is preferred (below)",
    "language": "the instruction's language", "instruction_id": "the instruction both texts answer",
    "chosen_sample": "the sample of the chosen text", "rejected_sample": "the sample of the rejected text",
    "sample_id": "the decided sample",
}
PAIR_PROVENANCE_KEYS = {"pairs": ("run", "iteration", "kind", "language", "instruction_id", "chosen_sample",
                                  "rejected_sample"),
                        "kto": ("run", "iteration", "language", "instruction_id", "sample_id")}


def pair_rows_for_export(store: Store, run_name: str, iterations: list[int] | None, fmt: str) -> tuple:
    """(rows, stats, meta) of a `pairs` or `kto` export; refuses one with nothing in it."""
    made, counts = collect_pairs(store, run_name, iterations, PAIR_KINDS, kto=fmt == "kto")
    run = store.require_run(run_name)
    keys, columns = PAIR_PROVENANCE_KEYS[fmt], list(PAIR_COLUMNS[fmt])
    rows = [{**{c: row[c] for c in columns}, "provenance": {k: row.get(k) for k in keys} | {"run": run["name"]}}
            for row in made]
    chosen = sorted(counts) if iterations is None else sorted(set(iterations))
    if not rows:
        where = f"iteration(s) {', '.join(map(str, chosen))} of run '{run['name']}'"
        what = "decided samples" if fmt == "kto" else "pairs (decisions, edits or expansions to compare)"
        raise InputError(f"nothing to export as {fmt}: no {what} in {where}")
    per_iteration = {idx: _iteration_stats(fmt, [r for r in made if r["iteration"] == idx], counts[idx])
                     for idx in chosen}
    stats = {"rows": len(rows), "skipped": 0, "per_iteration": per_iteration}
    meta = {"run": run, "iterations": chosen, "languages": sorted({r["language"] for r in made}), "pairs": fmt}
    return rows, stats, meta


def _iteration_stats(fmt: str, made: list[dict], counts: dict) -> dict:
    if fmt == "kto":
        return {"rows": len(made), "desirable": counts["desirable"], "undesirable": len(made) - counts["desirable"],
                "words": word_stats([turn_words(r["completion"]) for r in made])}
    return {"rows": len(made), "kinds": counts, "chosen_words": word_stats([turn_words(r["chosen"]) for r in made]),
            "rejected_words": word_stats([turn_words(r["rejected"]) for r in made])}


def preview_table(fmt: str, per_iteration: dict) -> tuple[list[str], list[list]]:
    """(header, rows) of the per-iteration counts a preview or a card shows."""
    if fmt == "kto":
        return (["iteration", "rows", "desirable", "undesirable", "words mean"],
                [[idx, s["rows"], s["desirable"], s["undesirable"], s["words"]["mean"]]
                 for idx, s in per_iteration.items()])
    return (["iteration", "rows", *PAIR_KINDS, "chosen words mean", "rejected words mean"],
            [[idx, s["rows"], *(s["kinds"].get(k, 0) for k in PAIR_KINDS), s["chosen_words"]["mean"],
              s["rejected_words"]["mean"]] for idx, s in per_iteration.items()])


def build_pairs_card(*, meta: dict, fmt: str, output: str, stats: dict, license: str, data_files: str | None,
                     command: str, exported_at: str) -> str:
    """The README.md of a `pairs` or `kto` export."""
    run = meta["run"]
    what = ("pairs of texts answering the same request, the chosen one preferred for the reason its `kind` names"
            if fmt == "pairs" else "every curator-decided sample once, labelled by its verdict (for KTO)")
    kinds = "\n".join(f"- `{kind}`: {PAIR_KIND_HELP[kind]}" for kind in PAIR_KINDS)
    columns = [f"- `{name}`: {help}" for name, help in PAIR_COLUMNS[fmt].items()]
    origin = [f"  - `{key}`: {PAIR_PROVENANCE_HELP[key]}" for key in PAIR_PROVENANCE_KEYS[fmt]]
    sections = [
        front_matter(license=license, languages=meta["languages"], rows=stats["rows"], data_files=data_files),
        f"# Self-Lengthen run {md(run['name'])}: {md(fmt)} export",
        f"Preference data of the Self-Lengthen run {md(run['name'])} (iterations "
        f"{md(', '.join(map(str, meta['iterations'])))}): {what}; saved as {md(output)}, {stats['rows']} rows, "
        f"exported {md(exported_at)}. The columns are the ones trl's preference trainers read.",
        "## Rows per iteration", _table(*preview_table(fmt, stats["per_iteration"])),
        *(["## Kinds of pairs", kinds] if fmt == "pairs" else []),
        "## Columns", "\n".join(columns + ["- `provenance`: where the row came from, with the keys", *origin]),
        "## Run config", fenced(json.dumps(run.get("config", {}), indent=2, ensure_ascii=False, sort_keys=True),
                                "json"),
        "## Export command", fenced(command, "bash"),
        "## Licence", _licence(license, run),
    ]
    return "\n\n".join(sections) + "\n"
