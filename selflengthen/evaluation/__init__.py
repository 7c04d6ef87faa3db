"""Measuring a model: how well it follows length constraints, and how two iterations differ.

- `benchmark`: LonGen-format benchmarks, loaded and checked item by item (the bundled LonGen, a file, a hub id).
- `longen`: LonGen's length-following score of one answer and of a file (what `score` runs).
- `metrics`: per-answer scores (LonGen, LongBench-Write's S_l, LIFEBench) and their summaries per type, language,
  range. `parsers`: the `eval` command's flags.
- `judge`: the optional LLM judge's prompt and its forgiving parser.
- `job`: the resumable evaluation job (what `eval` runs). `compare`: one instruction, two iterations' answers.

May import: `selflengthen.method`, `selflengthen.backends`, `selflengthen.stages`, `selflengthen.jobs`,
`selflengthen.runs`, `selflengthen.config`, `selflengthen.inputs`, `selflengthen.errors`, `selflengthen.shapes`.
"""
