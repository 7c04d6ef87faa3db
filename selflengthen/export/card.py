"""The dataset card (README.md) written beside an export (of iteration samples, or of the final set), and
LLaMA-Factory's dataset_info.json.

Run names, config values and licence ids are user text: the YAML front matter quotes every string (a JSON
string is a valid YAML double-quoted scalar), markdown text is escaped, and code blocks are fenced with
more backticks than they contain, so no value can end a block or add a table column.
"""

from __future__ import annotations

import json
import re

from selflengthen.export.final import FINAL_COLUMNS, FINAL_PROVENANCE_KEYS, LONGEN_FIELDS
from selflengthen.export.formats import COLUMNS, PROVENANCE_KEYS
from selflengthen.shapes import Run

PROVENANCE_HELP = {
    "run": "the run's name", "iteration": "the iteration index the sample was generated in",
    "sample_id": "the sample's id in the run's database",
    "generator_checkpoint": "the generator model of that iteration",
    "extender_checkpoint": "the extender model of that iteration",
    "gates": "the sample's gate results, as a JSON string",
    "curator": "the curator whose decision counts", "decided_at": "when that decision was made (UTC)",
    "edited": "true when a curator's edited text replaced the model's text",
}
FINAL_PROVENANCE_HELP = {
    "run": "the run's name", "key": "the final row's key in the run (`<sample id>:<source>`)",
    "iteration": "the iteration the text was generated in",
    "source": "which text of the curated sample: `initial` (the response) or `final` (the expansion)",
    "sample_id": "the sample's id in the run's database", "type": "the constraint's type",
    "constraint": "the length constraint written into the query",
    "target": "the word interval [low, high] that meets the constraint (LonGen's interval)",
    "words": "the response's words (each CJK character counts as one)",
    "edited": "true when a curator's edit replaced the query or the response",
    "curator": "the curator who decided the row (empty when undecided)",
    "decided_at": "when that decision was made (UTC; empty when undecided)",
}
LONGEN_HELP = {"type": "about, range, above or below", "constraint": "the length constraint, in LonGen's short form",
               "query": "the constrained query", "response": "the response", "language": "en or zh"}
# Inline text never starts a line here, so only the characters that act mid-line need escaping.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


def md(text) -> str:
    """Text safe inside a markdown paragraph or table cell: specials escaped, on one line.

    >>> md("a|b *c*")
    'a\\\\|b \\\\*c\\\\*'
    >>> md("two\\nlines")
    'two lines'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def fenced(text: str, info: str = "") -> str:
    """A fenced code block that its content cannot close (the fence is longer than any backtick run in it).

    >>> fenced("x = 1", "python")
    '```python\\nx = 1\\n```'
    >>> fenced("```", "")[:4]
    '````'
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def size_category(n: int) -> str:
    """The hub's size bucket for n rows.

    >>> size_category(10), size_category(1000), size_category(250_000)
    ('n<1K', '1K<n<10K', '100K<n<1M')
    """
    buckets = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
               (10_000_000, "1M<n<10M")]
    return next((name for limit, name in buckets if n < limit), "10M<n<100M")


def _yaml(value: str) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def front_matter(*, license: str, languages: list[str], rows: int, data_files: str | None) -> str:
    """The card's YAML header: what the hub indexes and how it finds the data files."""
    lines = ["---", f"license: {_yaml(license)}", "language:", *[f"- {_yaml(code)}" for code in languages],
             "task_categories:", "- text-generation", "tags:", "- self-lengthen", "- long-form-generation",
             "size_categories:", f"- {_yaml(size_category(rows))}"]
    if data_files:
        lines += ["configs:", "- config_name: default", "  data_files:", "  - split: train",
                  f"    path: {_yaml(data_files)}"]
    return "\n".join(lines + ["---"])


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md("–" if cell is None else cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _counts_table(per_iteration: dict) -> str:
    return _table(["iteration", "rows", "edited", "skipped"],
                  [[idx, s["rows"], s["edited"], s["skipped"]] for idx, s in per_iteration.items()])


def _lengths_table(per_iteration: dict) -> str:
    rows = [[idx, *(s[key][stat] for key in ("words", "initial_words") for stat in ("mean", "median", "min", "max"))]
            for idx, s in per_iteration.items()]
    return _table(["iteration", "words mean", "median", "min", "max",
                   "initial mean", "median", "min", "max"], rows)


def _columns(fmt: str) -> str:
    data = [f"- `{name}`: {help}" for name, help in COLUMNS[fmt].items()]
    origin = [f"  - `{key}`: {PROVENANCE_HELP[key]}" for key in PROVENANCE_KEYS]
    return "\n".join(data + ["- `provenance`: where the row came from, with the keys", *origin])


def _licence(license: str, run: Run) -> str:
    return (f"License: {md(license)}. The texts were written by the run's models "
            f"({md(run.get('generator_model', ''))}, {md(run.get('extender_model', ''))}); check their licences too.")


def build_card(*, run: Run, fmt: str, output: str, iterations: list[int], stats: dict, license: str,
               languages: list[str], data_files: str | None, command: str, exported_at: str) -> str:
    """The whole README.md of an export."""
    note = {"extender": "\n\nThe expansion prompts keep every line of the initial response (no lines were "
                        "dropped, unlike the training default).",
            "dpo": f"\n\n{stats['skipped']} accepted samples were left out because their accepted text is their "
                   "initial response (no expansion, so no preference to learn)."}.get(fmt, "")
    sections = [
        front_matter(license=license, languages=languages, rows=stats["rows"], data_files=data_files),
        f"# Self-Lengthen run {md(run['name'])}: {md(fmt)} export",
        f"Curator-accepted samples of the Self-Lengthen run {md(run['name'])} (iterations "
        f"{md(', '.join(map(str, iterations)))}), in the `{fmt}` format, saved as {md(output)}; "
        f"{stats['rows']} rows, exported {md(exported_at)}. Where a curator edited a sample, the edited text "
        f"is the one exported.{note}",
        "## Rows per iteration", _counts_table(stats["per_iteration"]),
        "## Length per iteration",
        "Words of the trained text (the accepted expansion or edit) and of the model's initial response; "
        "each CJK character counts as one word.", _lengths_table(stats["per_iteration"]),
        "## Columns", _columns(fmt),
        "## Run config", fenced(json.dumps(run.get("config", {}), indent=2, ensure_ascii=False, sort_keys=True),
                                "json"),
        "## Export command", fenced(command, "bash"),
        "## Licence", _licence(license, run),
    ]
    return "\n\n".join(sections) + "\n"


def _final_columns(fmt: str) -> str:
    data = [f"- `{name}`: {help}" for name, help in FINAL_COLUMNS[fmt].items()]
    longen = [f"- `{name}`: {LONGEN_HELP[name]} (a LonGen field)" for name in LONGEN_FIELDS]
    origin = [f"  - `{key}`: {FINAL_PROVENANCE_HELP[key]}" for key in FINAL_PROVENANCE_KEYS]
    return "\n".join(data + longen + ["- `provenance`: where the row came from, with the keys", *origin])


def _settings_table(settings: dict, finalize_stats: dict) -> str:
    """The finalize settings a reader needs to judge the set: bounds, type mix, how constraints were written."""
    spec = settings["spec"]
    way = settings["way"] + (f" ({settings['rewrite_model']})" if settings.get("rewrite_model") else "")
    dropped = ", ".join(f"{why} {n}" for why, n in finalize_stats["dropped"].items()) or "none"
    rows = [["length bounds", f"{spec['min_words']} to under {spec['max_words']} words"],
            ["rounding unit", f"{spec['unit']} words"],
            ["type mix", ", ".join(f"{t} {w:g}" for t, w in spec["mix"].items())],
            ["way", way], ["sources", ", ".join(settings["sources"])],
            ["iterations", ", ".join(map(str, settings["iterations"]))], ["seed", spec["seed"]],
            ["pooled / kept", f"{finalize_stats['pooled']} / {finalize_stats['kept']} (dropped: {dropped})"]]
    return _table(["setting", "value"], rows)


def _types_table(per_type: dict) -> str:
    return _table(["type", "rows", "edited", "words mean", "median", "min", "max"],
                  [[t, s["rows"], s["edited"], *(s["words"][k] for k in ("mean", "median", "min", "max"))]
                   for t, s in per_type.items()])


def build_final_card(*, meta: dict, fmt: str, output: str, stats: dict, license: str, data_files: str | None,
                     command: str, exported_at: str) -> str:
    """The README.md of a final export (`meta`: final_rows_for_export's run, settings, finalize_stats,
    languages)."""
    run = meta["run"]
    sections = [
        front_matter(license=license, languages=meta["languages"], rows=stats["rows"], data_files=data_files),
        f"# Self-Lengthen run {md(run['name'])}: the final length-constrained set, {md(fmt)} export",
        f"The final (length-constrained) set of the Self-Lengthen run {md(run['name'])}: curated texts, each "
        f"query given a length constraint its own response meets, in the `{fmt}` format, saved as {md(output)}; "
        f"{stats['rows']} rows ({stats['edited']} edited), exported {md(exported_at)}. Rows a curator rejected "
        "are left out; where a curator edited a query or a response, the edit is the one exported. Every row "
        "also carries LonGen's fields, so `python -m selflengthen score` reads the JSONL as it is.",
        "## Finalize settings", _settings_table(meta["settings"], meta["finalize_stats"]),
        fenced(json.dumps(meta["settings"], indent=2, ensure_ascii=False, sort_keys=True), "json"),
        "## Constraint types",
        "Rows and words of the response per constraint type; each CJK character counts as one word.",
        _types_table(stats["per_type"]),
        "## Columns", _final_columns(fmt),
        "## Export command", fenced(command, "bash"),
        "## Licence", _licence(license, run),
    ]
    return "\n\n".join(sections) + "\n"


def llamafactory_info(name: str, fmt: str, file_name: str) -> dict:
    """LLaMA-Factory's dataset_info.json entry for an alpaca or sharegpt export.

    >>> llamafactory_info("r_alpaca", "alpaca", "data.jsonl")["r_alpaca"]["columns"]
    {'prompt': 'instruction', 'query': 'input', 'response': 'output'}
    """
    if fmt == "alpaca":
        entry = {"file_name": file_name, "formatting": "alpaca",
                 "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    else:
        entry = {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"},
                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}}
    return {name: entry}
